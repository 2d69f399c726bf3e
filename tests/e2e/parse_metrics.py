#!/usr/bin/python3
"""Parses Prometheus text (stdin) with prometheus_client's own parser, the format's reference
implementation in Python (Debian: python3-prometheus-client), and prints one line per sample,
`name{label="value",...} value`, labels sorted, so a shell test can grep them. Exits 1 with
the parser's complaint when the text is not valid exposition format. Also checks what the
parser tolerates but a Prometheus server would not accept: a TYPE per family, no repeated
family, histogram buckets ending with +Inf and cumulative."""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and friends
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)

seen = set()
for f in families:
    if f.name in seen:
        print(f"family {f.name} appears twice", file=sys.stderr)
        sys.exit(1)
    seen.add(f.name)
    if f.type == "unknown":
        print(f"family {f.name} has no TYPE", file=sys.stderr)
        sys.exit(1)
    if f.type == "histogram":
        buckets = [s for s in f.samples if s.name.endswith("_bucket")]
        if not buckets or buckets[-1].labels.get("le") != "+Inf":
            print(f"histogram {f.name}: buckets do not end with +Inf", file=sys.stderr)
            sys.exit(1)
        values = [s.value for s in buckets]
        if values != sorted(values):
            print(f"histogram {f.name}: buckets not cumulative", file=sys.stderr)
            sys.exit(1)
    for s in f.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        v = s.value
        # Whole numbers as integers (timestamps keep every digit), others as Python writes them.
        text = str(int(v)) if math.isfinite(v) and v == int(v) else repr(v)
        print(f"{s.name}{{{labels}}} {text}")
