#!/usr/bin/env bash
# Installs every build, test and demo dependency of tartan from Debian's packages.
# Idempotent: packages already present are left alone; safe to run on every CI start.
set -euo pipefail

packages=(
  # toolchain and build
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy libclang-rt-dev
  # libraries
  nlohmann-json3-dev libcli11-dev libmnl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # services and tools the tests and the demo drive
  etcd-server etcd-client openssl iproute2 iptables nftables iputils-ping iperf3 procps
  netcat-openbsd curl socat python3
  # the reference CNI plugins (bridge, host-local, portmap, bandwidth) tartan-cni delegates to
  containernetworking-plugins
  # a real runtime for the CNI plugin test (podman, CNI backend, runc; a static busybox rootfs)
  podman runc busybox-static
  # tests/e2e/ctl.sh parses /metrics with the reference Python parser
  python3-prometheus-client
  # tests/e2e/doctor.sh plants TX checksum offload on flannel.1 (and runs doctor's fix)
  ethtool
  # packaging: man pages from --help, the .deb's checks, systemd-analyze verify of the unit
  help2man lintian dpkg-dev systemd man-db gzip
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian enables and starts etcd as a system service on install; the tests start their own
# members on free loopback ports, so a packaged instance is not needed. Leave it as it is.
echo "install-deps: all dependencies present"
