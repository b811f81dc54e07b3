#!/usr/bin/env bash
# THE run command: installs packages, builds, and runs a local Tessera cluster of three
# tessera-shard processes hosting two Raft groups on loopback, in the foreground.
# Run with --help for details.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/run.sh [--help] [--sim [simulator args...]]

Installs Debian packages (scripts/setup.sh), builds in build/, then starts a local
cluster in the foreground: 3 tessera-shard processes (n1, n2, n3) x 2 Raft groups on
127.0.0.1, data under ./local/ (kept across runs; delete it to start from scratch).

  Redis listeners   127.0.0.1:6381 (n1), :6382 (n2), :6383 (n3)
  raft listeners    127.0.0.1:1510x (n1), :1520x (n2), :1530x (n3); x = group 1 or 2
  logs              ./local/n1.log, n2.log, n3.log

Connect with `redis-cli -c -p 6381`: -c follows the MOVED redirects a shard answers for
groups it does not lead (the stateless gateway that hides them comes with a later issue).
Ctrl-C (or SIGTERM) stops the three processes it started, gracefully.

  --sim [args]   instead of the cluster, run the deterministic Raft simulator
                 (default args: --seeds 200 --start-seed 1 --ticks 3000)
USAGE
}

MODE=cluster
SIM_ARGS=()
if [[ $# -gt 0 ]]; then
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --sim) MODE=sim; shift; SIM_ARGS=("$@") ;;
    *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
fi
if [[ $MODE == sim && ${#SIM_ARGS[@]} -eq 0 ]]; then
  SIM_ARGS=(--seeds 200 --start-seed 1 --ticks 3000)
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

echo "==> setup: Debian packages"
timeout -k 30 "${TESSERA_SETUP_TIMEOUT:-1800}" scripts/setup.sh

echo "==> build (build/)"
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" \
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
timeout -k 30 "${TESSERA_BUILD_TIMEOUT:-5400}" cmake --build build -j2

if [[ $MODE == sim ]]; then
  echo "==> build/bin/tessera-raft-sim ${SIM_ARGS[*]}"
  exec build/bin/tessera-raft-sim "${SIM_ARGS[@]}"
fi

DATA="$ROOT/local"
mkdir -p "$DATA"
PEERS="1=n1@127.0.0.1:15101,n2@127.0.0.1:15201,n3@127.0.0.1:15301"
PEERS+=";2=n1@127.0.0.1:15102,n2@127.0.0.1:15202,n3@127.0.0.1:15302"
MAP=""
for i in 1 2 3; do
  for g in 1 2; do MAP+="${MAP:+,}127.0.0.1:15${i}0${g}=127.0.0.1:638${i}"; done
done

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped; data kept in $DATA"
}
trap stop_all INT TERM EXIT

for i in 1 2 3; do
  build/bin/tessera-shard --raftId "n$i" \
    --raftGroups "1=127.0.0.1:15${i}01,2=127.0.0.1:15${i}02" \
    --raftGroupPeers "$PEERS" --raftRedisMap "$MAP" \
    --dataDir "$DATA/n$i" --redisAddress "127.0.0.1:638$i" >>"$DATA/n$i.log" 2>&1 &
  PIDS+=("$!")
done

echo "==> waiting for a leader in each group"
for _ in $(seq 1 100); do
  leaders=0
  for i in 1 2 3; do
    n=$(redis-cli -p "638$i" INFO 2>/dev/null | grep -c '^role:leader' || true)
    leaders=$((leaders + n))
  done
  [[ $leaders -ge 2 ]] && break
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a shard exited; see $DATA/n*.log" >&2; exit 1; }
  done
  sleep 0.2
done

cat <<EOF

Tessera is running: 3 shards x 2 Raft groups on 127.0.0.1 (data in $DATA).

  redis-cli -c -p 6381          # -c follows MOVED to the group's leader
  redis-cli -p 6381 INFO        # role, leader, term, commit/applied index per group
  tail -f $DATA/n1.log

Try failover: kill one shard's process (pids ${PIDS[*]}); the others elect a new leader
within a few seconds. Ctrl-C stops the cluster.
EOF
wait
