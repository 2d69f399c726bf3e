#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a short budget on a scratch copy
# of its seed corpus (fuzz/corpus/<name>/). A crash leaves its reproducer in build/fuzz/crashes.
#   scripts/fuzz.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}

cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target fuzzers

mkdir -p build/fuzz/crashes
status=0
for corpus in fuzz/corpus/*/; do
  name=$(basename "$corpus")
  bin=$(find build/fuzz -type f -name "fuzz_$name" -perm -u+x | head -n1)
  [ -x "$bin" ] || { echo "fuzz: no target for corpus $name" >&2; status=1; continue; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "$corpus". "$work/"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix=build/fuzz/crashes/"$name"- "$work" >"build/fuzz/$name.log" 2>&1; then
    echo "fuzz: $name ran ${seconds}s clean ($(grep -oE '#[0-9]+' "build/fuzz/$name.log" | tail -n1 | tr -d '#') inputs)"
  else
    echo "fuzz: $name FAILED; see build/fuzz/$name.log" >&2
    tail -n 30 "build/fuzz/$name.log" >&2
    status=1
  fi
  rm -rf "$work"
  trap - EXIT
done
exit "$status"
