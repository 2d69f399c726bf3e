#!/usr/bin/env bash
# Makes cmake/tartand-steady-functions.txt: the functions tartand runs once it has started and
# settled, which the build places together in its code (cmake/TartanLayout.cmake,
# docs/adr/0020). Run it after changes that move the steady state's work to other functions;
# a stale list costs memory, never correctness (functions it does not name keep the default
# layout, names it has that no longer exist are ignored).
#   sudo bench/layout.sh            (needs valgrind; builds nothing: uses build/release's tartand)
# How: bench/footprint.sh's scenario (100 host-gw peers with plain HTTP etcd, then with TLS and
# client certificates; 100 vxlan peers with TLS) with tartand under callgrind, its instrumentation off until tartand has settled
# after start-up, then on for the idle window (periodic passes, firewall checks, store checks
# every 10 s; profile dumped after it) and 100 lease events through the watch (dumped again).
# Every function that ran in that time is listed: first those of the idle window, then those
# of the events, each the most run first (the idle steady state needs the fewest pages).
# KEEP=<dir> keeps the profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TARTAND_BIN:=$PWD/build/release/src/cmd/tartand}"
: "${IDLE:=40}"
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  echo "needs valgrind (apt-get install valgrind)" >&2
  exit 1
fi
[ -x "$TARTAND_BIN" ] || { echo "build tartand first (cmake --preset release && cmake --build build/release)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/tartand" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --compress-strings=no --compress-pos=no --demangle=no \\
  --callgrind-out-file=$work/callgrind.%p "$TARTAND_BIN" "\$@"
WRAP
chmod +x "$work/tartand"
# dump <pid>: writes the profile so far (callgrind.<pid>.<n>) and zeroes the counters.
cat >"$work/dump" <<'DUMP'
#!/bin/sh
callgrind_control -d "$1" >/dev/null
DUMP
chmod +x "$work/dump"
profile() {  # profile <backend> <schemes>
  TARTAND="$work/tartand" SETTLED_HOOK="callgrind_control -i on" DETAIL="$work" \
    HOOK="$work/dump" END_HOOK="$work/dump" IDLE="$IDLE" BACKEND=$1 SCHEMES=$2 \
    bash bench/footprint.sh 100 >&2
}
profile host-gw "http https"
profile vxlan https  # the backend's own periodic work (the transport's is the same)
ls "$work"/callgrind.*.2 >/dev/null
[ -z "${KEEP:-}" ] || cp "$work"/callgrind.* "$KEEP"/
# Each profile (<file>.1: idle window, .2: events): "fn=<symbol>" opens a function's cost
# lines ("<line> <instructions>"); a "calls=" line is followed by the call's inclusive cost,
# which is the callee's, not counted. Functions of tartand only (ob= names the binary).
python3 - "$TARTAND_BIN" "$work"/callgrind.*.[12] >cmake/tartand-steady-functions.txt <<'PY'
import collections, os, re, sys
binary = os.path.realpath(sys.argv[1])
cost = [collections.Counter(), collections.Counter()]  # idle window, lease events
for path in sys.argv[2:]:
    phase = cost[int(path.rsplit(".", 1)[1]) - 1]
    ob = fn = None
    after_calls = False
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            ob = os.path.realpath(line[3:].strip())
        elif line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("calls="):
            after_calls = True
        elif line[:1].isdigit():
            if after_calls:
                after_calls = False
            elif fn and ob == binary:
                parts = line.split()
                if len(parts) >= 2:
                    phase[fn] += int(parts[1])
print("# tartand's steady-state functions, most run first (bench/layout.sh; see cmake/TartanLayout.cmake).")
seen = set()
for name, c in cost[0].most_common() + cost[1].most_common():
    if c <= 0:
        continue
    name = re.sub(r"'[0-9]+$", "", name)  # callgrind's mark of a recursion level
    # A constructor's or destructor's variants share one section, named after either.
    twins = [name] + [re.sub(a, b, name, count=1) for a, b in
                      (("C1([EI])", r"C2\1"), ("C2([EI])", r"C1\1"),
                       ("D1([EI])", r"D2\1"), ("D2([EI])", r"D1\1"))
                      if re.search(a, name)]
    for n in twins:
        if n not in seen:
            seen.add(n)
            print(n)
PY
echo "cmake/tartand-steady-functions.txt: $(grep -vc '^#' cmake/tartand-steady-functions.txt) functions" >&2
