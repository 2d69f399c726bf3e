#!/usr/bin/env bash
# CI's packaging stage (scripts/test.sh): what a packager or an operator does, checked.
#   1. configure without presets in every build type (g++) and with clang++: must succeed, and
#      warnings must not be errors there (-Werror is for the presets and CI only)
#   2. one plain build without presets (CMake's default Release, g++ -O3: where -Werror used to
#      break), of what gets installed (-DTARTAN_BUILD_TESTS=OFF), prefix /usr
#   3. cmake --install into a staging directory; cpack -> tartan_<version>_amd64.deb
#   4. dpkg-deb --info/--contents, the expected files; lintian without errors
#   5. systemd-analyze verify of the packaged unit (works without systemd as PID 1)
# Building all four types and clang fully would take longer than the rest of CI on 2 cores;
# configuring them catches what differs between them in CMake, the compilers' warnings are
# kept at zero by the -Werror presets (g++) and the fuzz build (clang).
# TARTAN_BUILD_LOCK=<file>: run the build under flock <file> (a machine shared by builders).
# Prints one "ok"/"FAIL" line per check and "packaging: N passed, N failed"; exits 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

build=build/pkg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }

# 1. configure-only
for cfg in "g++ Debug" "g++ RelWithDebInfo" "g++ MinSizeRel" "clang++ Release"; do
  read -r cxx type <<<"$cfg"
  dir=$work/configure-$cxx-$type
  if ! CXX=$cxx cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >"$dir.log" 2>&1; then
    cat "$dir.log" >&2
    bad "configure ($cxx, $type)"
  elif grep -q -- '-Werror' "$dir/compile_commands.json"; then
    bad "configure ($cxx, $type): -Werror is on without a preset"
  else
    ok "configure ($cxx, $type), warnings not errors"
  fi
done

# 2. the build that gets packaged. By hand: a plain build (fresh, no preset: a packager starts
# from a clean tree). In CI (TARTAN_PKG_BUILD_DIR=build/release): the release preset's build,
# configured again for prefix /usr (which no compile line holds: nothing is recompiled), and
# CMake's default configuration checked without building it a second time on 2 cores.
log=$work/build.log
if [ -n "${TARTAN_PKG_BUILD_DIR:-}" ]; then
  build=$TARTAN_PKG_BUILD_DIR
  dir=$work/configure-default
  if ! cmake -S . -B "$dir" >"$dir.log" 2>&1; then
    cat "$dir.log" >&2
    bad "configure (CMake's default)"
  elif grep -q -- '-Werror' "$dir/compile_commands.json"; then
    bad "configure (CMake's default): -Werror is on without a preset"
  else
    ok "configure (CMake's default), warnings not errors"
  fi
  if cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
       -DTARTAN_SYSTEMD_UNITDIR=/usr/lib/systemd/system >"$log" 2>&1 &&
     cmake --build "$build" -j "$(nproc)" >>"$log" 2>&1; then
    ok "build for the package ($build, prefix /usr)"
  else
    tail -n 50 "$log" >&2
    bad "build for the package ($build)"
    echo "packaging: $pass passed, $((fail + 1)) failed"
    exit 1
  fi
else
rm -rf "$build"
if cmake -S . -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DTARTAN_BUILD_TESTS=OFF >"$log" 2>&1 &&
   ${TARTAN_BUILD_LOCK:+flock "$TARTAN_BUILD_LOCK" nice} cmake --build "$build" -j "$(nproc)" >>"$log" 2>&1; then
  ok "plain build (Release, g++, no preset): $(grep -c 'warning:' "$log") compiler warnings"
else
  tail -n 50 "$log" >&2
  bad "plain build (Release, g++, no preset)"
  echo "packaging: $pass passed, $((fail + 1)) failed"
  exit 1
fi
fi
# The last configure's (a commit during the build re-runs it).
version=$(sed -n 's/^-- tartan version: \([^ ]*\) (Debian: \([^)]*\))$/\1 \2/p' "$log" | tail -n1)
read -r version deb_version <<<"$version"
for bin in tartand tartanctl; do
  got=$("$build/src/cmd/$bin" --version)
  [ "$got" = "$bin v$version" ] && ok "$bin --version: $got" || bad "$bin --version: '$got', want '$bin v$version'"
done

# 3. install rules and the package
stage=$work/stage
if DESTDIR=$stage cmake --install "$build" >"$work/install.log" 2>&1; then
  missing=()
  for f in usr/bin/tartand usr/bin/tartanctl usr/lib/systemd/system/tartand.service \
           etc/default/tartan usr/share/man/man8/tartand.8.gz usr/share/man/man1/tartanctl.1.gz \
           usr/lib/cni/tartan-cni usr/lib/cni/flannel; do
    [ -e "$stage/$f" ] || missing+=("$f")
  done
  ((${#missing[@]} == 0)) && ok "cmake --install: binaries, unit, environment file, man pages" ||
    bad "cmake --install: missing ${missing[*]}"
else
  cat "$work/install.log" >&2
  bad "cmake --install"
fi
rm -f "$build"/tartan_*.deb
deb=$build/tartan_${deb_version}_amd64.deb
if (cd "$build" && cpack -G DEB) >"$work/cpack.log" 2>&1 && [ -f "$deb" ]; then
  ok "cpack: $(basename "$deb")"
else
  cat "$work/cpack.log" >&2
  bad "cpack: no $deb"
  echo "packaging: $pass passed, $fail failed"
  exit 1
fi

# 4. inspect it
echo "== dpkg-deb --info $(basename "$deb")"
dpkg-deb --info "$deb"
echo "== dpkg-deb --contents $(basename "$deb")"
dpkg-deb --contents "$deb" | tee "$work/contents"
control=$(dpkg-deb --field "$deb" Depends Recommends)
grep -q '^Depends:.*libc6' <<<"$control" && grep -q '^Depends:.*iptables' <<<"$control" &&
  grep -q '^Recommends:.*iproute2' <<<"$control" && ok "dependencies: ${control//$'\n'/; }" ||
  bad "dependencies: $control"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/default/tartan ] &&
  ok "conffiles: /etc/default/tartan" || bad "conffiles"
echo "== lintian"
if lintian --fail-on error --info "$deb" 2>&1 | tee "$work/lintian.log"; then
  ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings)"
else
  bad "lintian reported errors"
fi

# 5. the unit as packaged. verify needs no running systemd; it checks that ExecStart= is an
# executable and that the Documentation= man page exists, so both point into the package.
root=$work/root
dpkg-deb -x "$deb" "$root"
mkdir -p "$work/unit"
sed "s|/usr/bin/tartand|$root/usr/bin/tartand|" "$root/usr/lib/systemd/system/tartand.service" \
  >"$work/unit/tartand.service"
out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$work/unit/tartand.service" 2>&1)
rc=$?
# Unknown keys and other mistakes are only warnings to verify: any message counts.
if [ "$rc" = 0 ] && [ -z "$out" ]; then
  ok "systemd-analyze verify tartand.service"
else
  echo "$out" >&2
  bad "systemd-analyze verify tartand.service (exit $rc)"
fi

echo "packaging: $pass passed, $fail failed"
[ "$fail" = 0 ]
