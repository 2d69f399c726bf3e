#!/usr/bin/env bash
# The README's test command: installs the dependencies, builds, and runs every suite.
#   scripts/test.sh            everything: unit, integration (real etcd), kernel and e2e
#                              (root; private network namespaces), sanitizer build, fuzzers,
#                              packaging (plain cmake builds, .deb, lintian, systemd unit)
#   TARTAN_TEST_QUICK=1        unit tests of the release build only
#   TARTAN_FUZZ_SECONDS=N      seconds per fuzz target (default 10; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

jobs=$(nproc)
summary=()
failed=0

run_ctest() {  # run_ctest <name> <build dir> [ctest args...]
  local name=$1 dir=$2
  shift 2
  echo "== ctest ($name)"
  local log
  log=$(mktemp)
  if ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$jobs" "$@" 2>&1 | tee "$log"; then :; fi
  local line
  line=$(grep -E '^[0-9]+% tests passed' "$log" | tail -n1 || true)
  if [ -z "$line" ] || ! grep -q ' 0 tests failed' <<<"$line"; then
    failed=1
  fi
  summary+=("$name: ${line:-no summary (ctest did not run)}")
  if [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    total_fail=$((total_fail + BASH_REMATCH[1]))
    total_pass=$((total_pass + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  rm -f "$log"
}
total_pass=0
total_fail=0

echo "== build (release)"
# The package's prefix is /usr. No debug info here: it costs a third of the compile time and
# neither the suites nor the package need it (the preset keeps -g for developers).
cmake --preset release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" >/dev/null
cmake --build build/release -j "$jobs"

if [ "${TARTAN_TEST_QUICK:-0}" = 1 ]; then
  run_ctest unit build/release -L unit
else
  # The sanitizer and fuzzer builds run niced in the background while the release suites run:
  # those mostly wait on namespaces, etcd and timers, and the agents under test keep their CPU
  # share (nice 19 gets what is left). Line tables (-g1) are all the sanitizer reports need.
  fuzz_on=1
  [ "${TARTAN_FUZZ_SECONDS:-10}" != 0 ] || fuzz_on=0
  cmake --preset asan -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1 >/dev/null
  [ "$fuzz_on" = 0 ] || cmake --preset fuzz >/dev/null
  bg_log=$(mktemp)
  (
    nice -n 19 cmake --build build/asan -j "$jobs" --target unit_tests &&
      if [ "$fuzz_on" = 1 ]; then nice -n 19 cmake --build build/fuzz -j "$jobs" --target fuzzers; fi
  ) >"$bg_log" 2>&1 &
  bg_pid=$!
  echo "== sanitizer and fuzzer builds started in the background (pid $bg_pid)"

  run_ctest "release: all suites" build/release

  echo "== build (address+undefined sanitizers, fuzzers): waiting for the background build"
  if wait "$bg_pid"; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run_ctest "asan: unit" build/asan -L unit

    if [ "$fuzz_on" = 1 ]; then
      echo "== fuzz"
      if bash scripts/fuzz.sh "${TARTAN_FUZZ_SECONDS:-10}"; then
        summary+=("fuzz: all targets ran clean")
      else
        summary+=("fuzz: a target FAILED")
        failed=1
      fi
    fi
  else
    tail -n 80 "$bg_log"
    summary+=("asan and fuzz: the build FAILED (its log's end is above); their suites did not run")
    total_fail=$((total_fail + 1))
    failed=1
  fi
  rm -f "$bg_log"

  # Plain cmake (no presets) configures in every build type and with clang; the release build
  # is installed and packaged: the .deb is inspected and linted, the systemd unit verified.
  echo "== packaging"
  pkg_log=$(mktemp)
  TARTAN_PKG_BUILD_DIR=build/release bash packaging/check.sh 2>&1 | tee "$pkg_log" || true
  pkg_line=$(grep -E '^packaging: [0-9]+ passed, [0-9]+ failed$' "$pkg_log" | tail -n1 || true)
  summary+=("${pkg_line:-packaging: no summary (packaging/check.sh did not finish)}")
  if [[ $pkg_line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    total_pass=$((total_pass + BASH_REMATCH[1]))
    total_fail=$((total_fail + BASH_REMATCH[2]))
    [ "${BASH_REMATCH[2]}" = 0 ] || failed=1
  else
    total_fail=$((total_fail + 1))
    failed=1
  fi
  rm -f "$pkg_log"
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "tests: $total_pass passed, $total_fail failed"
exit "$failed"
