#!/usr/bin/env bash
# THE run command: installs packages, builds, and starts a local Tessera cluster (3 shards x 2
# Raft groups and a gateway on 127.0.0.1) in the background through tools/local/tessera-local.
# Run with --help for details.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/run.sh [--help] [--gateway-port PORT] [--port-base B] [--dir DIR]
       scripts/run.sh --sim [simulator args...]

Installs Debian packages (scripts/setup.sh), builds in build/, then starts a local cluster
in the background: 3 tessera-shard processes (n1, n2, n3), each a voter in Raft groups 1
and 2, started from conf/local-3x2/, and one tessera-gateway in front of them, all on
127.0.0.1. Data, logs and pid files go to ./local/ (kept across runs; `down` and delete it
to start from scratch). Running it again while the cluster runs is safe: it starts only
what is not running.

  the gateway         127.0.0.1:6379, so a bare `redis-cli` talks to the cluster
  shards' Redis       127.0.0.1:6381 (n1), :6382 (n2), :6383 (n3)
  metrics             http://127.0.0.1:9110/metrics (gateway), :9101-9103 (shards)

When it returns it prints how to connect, where the metrics are and how to stop:
  tools/local/tessera-local status | logs [node] | kill <node> | restart <node> | down

  --gateway-port PORT  the gateway's Redis port, when 6379 is taken (e.g. by a redis-server);
                       then connect with `redis-cli -p PORT`. Env: TESSERA_GATEWAY_PORT
  --port-base B        every port moved to B..B+39 (a fresh --dir). Env: TESSERA_LOCAL_PORT_BASE
  --dir DIR            data, logs and pid files (default ./local). Env: TESSERA_LOCAL_DIR
  --sim [args]         instead of the cluster, run the deterministic Raft simulator
                       (default args: --seeds 200 --start-seed 1 --ticks 3000)
USAGE
}

MODE=cluster
SIM_ARGS=()
LOCAL_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --sim) MODE=sim; shift; SIM_ARGS=("$@"); break ;;
    --gateway-port|--port-base|--dir)
      [[ $# -ge 2 ]] || { echo "run.sh: $1 needs a value (try --help)" >&2; exit 2; }
      LOCAL_ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $MODE == sim && ${#SIM_ARGS[@]} -eq 0 ]]; then
  SIM_ARGS=(--seeds 200 --start-seed 1 --ticks 3000)
fi

CALLER_DIR="$(pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

echo "==> setup: Debian packages"
timeout -k 30 "${TESSERA_SETUP_TIMEOUT:-1800}" scripts/setup.sh

echo "==> build (build/)"
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" \
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
TARGETS=(tessera-shard tessera-gateway tessera-admin)
[[ $MODE == sim ]] && TARGETS=(tessera-raft-sim)
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" cmake --build build -j2 --target "${TARGETS[@]}"

if [[ $MODE == sim ]]; then
  echo "==> build/bin/tessera-raft-sim ${SIM_ARGS[*]}"
  exec build/bin/tessera-raft-sim "${SIM_ARGS[@]}"
fi

echo "==> start the local cluster (tools/local/tessera-local up)"
# From the caller's directory: relative --dir / TESSERA_LOCAL_DIR and the commands it prints
# are then relative to where the user stands.
cd "$CALLER_DIR"
exec /usr/bin/python3 "$ROOT/tools/local/tessera-local" "${LOCAL_ARGS[@]}" up
