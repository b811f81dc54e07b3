#!/usr/bin/env bash
# THE run command. Until the shard exists this installs packages, builds, and runs
# the deterministic Raft simulator. Run with --help for details.
set -euo pipefail

DEFAULT_ARGS=(--seeds 200 --start-seed 1 --ticks 3000)

usage() {
  cat <<USAGE
usage: scripts/run.sh [--help] [--] [simulator args...]

Installs Debian packages (scripts/setup.sh), builds the plain build in build/, then
runs the deterministic Raft simulator:
  build/bin/tessera-raft-sim ${DEFAULT_ARGS[*]}
Any arguments replace those defaults and go to the simulator unchanged, e.g.
  scripts/run.sh --seeds 1 --start-seed 42 --ticks 3000
Use '--' to pass an argument the script itself would take (scripts/run.sh -- --help).
The simulator prints '<N> seeds, <V> violations' last and exits non-zero on a violation.

A local Tessera cluster (shards + gateway) arrives with the shard in a later issue.
USAGE
}

if [[ $# -gt 0 ]]; then
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --) shift ;;
  esac
fi

SIM_ARGS=("$@")
if [[ ${#SIM_ARGS[@]} -eq 0 ]]; then
  SIM_ARGS=("${DEFAULT_ARGS[@]}")
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> setup: Debian packages"
timeout -k 30 "${TESSERA_SETUP_TIMEOUT:-1800}" scripts/setup.sh

echo "==> build (build/)"
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" \
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" cmake --build build -j2

echo "==> build/bin/tessera-raft-sim ${SIM_ARGS[*]}"
rc=0
build/bin/tessera-raft-sim "${SIM_ARGS[@]}" || rc=$?

echo
echo "note: only the Raft simulator runs for now; the local cluster (shards + gateway)" \
  "arrives with the shard in a later issue."
exit "$rc"
