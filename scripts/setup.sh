#!/usr/bin/env bash
# Installs every Debian package Tessera needs to build and test. Idempotent and
# non-interactive: when everything is already installed it only checks and exits.
# Nothing is downloaded except Debian packages through apt.
set -euo pipefail

PACKAGES=(
  build-essential
  cmake
  ninja-build
  ccache
  clang
  libclang-rt-14-dev
  clang-format
  googletest
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  libabsl-dev
  git
  pkg-config
  # shard, gateway and tools
  librocksdb-dev
  libgrpc++-dev
  protobuf-compiler-grpc
  libprotobuf-dev
  protobuf-compiler
  libuv1-dev
  libhiredis-dev
  libsodium-dev
  libspdlog-dev
  libfmt-dev
  libcli11-dev
  libtomlplusplus-dev
  nlohmann-json3-dev
  libcivetweb-dev
  # real Redis peers for integration tests and side-by-side benchmarks
  redis-tools
  redis-server
  # twemproxy, the side-by-side baseline of tools/bench/gateway_bench.sh
  nutcracker
  python3-redis
  python3-pytest
  # promtool: the integration tests check every /metrics exposition with it
  prometheus
  # nft: the chaos tests' partitions and packet loss inside network namespaces
  nftables
)

case "${1:-}" in
  -h|--help)
    echo "usage: scripts/setup.sh"
    echo "Installs the Debian packages Tessera needs (apt-get; sudo when not root)."
    echo "Runs 'apt-get update' only when a package is missing; a no-op otherwise."
    exit 0
    ;;
  "") ;;
  *) echo "setup.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

is_installed() {
  local status
  status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
  [[ "$status" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup: not root and sudo not available; missing: ${missing[*]}" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)

echo "setup: installing ${missing[*]}"
"${APT[@]}" update
"${APT[@]}" install -y --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "setup: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "setup: done"
