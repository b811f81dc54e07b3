#!/usr/bin/env bash
# Side-by-side: redis-benchmark SET/GET against the leader of one Raft group of a local
# 3-node tessera-shard cluster, and against redis-server with appendfsync always (every
# write fsynced, like a committed raft entry). Same machine, same client settings.
# usage: tools/bench/shard_vs_redis.sh [requests per test, default 20000]
set -euo pipefail
N="${1:-20000}"
CLIENTS=50
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARD="$ROOT/build/bin/tessera-shard"
WORK="$(mktemp -d /tmp/tessera-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PEERS="1=n1@127.0.0.1:25101,n2@127.0.0.1:25201,n3@127.0.0.1:25301"
PEERS+=";2=n1@127.0.0.1:25102,n2@127.0.0.1:25202,n3@127.0.0.1:25302"
MAP=""
for i in 1 2 3; do for g in 1 2; do MAP+="${MAP:+,}127.0.0.1:25${i}0${g}=127.0.0.1:2638${i}"; done; done
for i in 1 2 3; do
  "$SHARD" --raftId "n$i" --raftGroups "1=127.0.0.1:25${i}01,2=127.0.0.1:25${i}02" \
    --raftGroupPeers "$PEERS" --raftRedisMap "$MAP" --dataDir "$WORK/n$i" \
    --redisAddress "127.0.0.1:2638$i" >"$WORK/n$i.log" 2>&1 &
  PIDS+=("$!")
done
redis-server --port 26390 --bind 127.0.0.1 --dir "$WORK" --save "" --appendonly yes \
  --appendfsync always --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")

# The node leading group 1, and a hash tag whose slot the even spread gives to group 1.
LEADER=""
for _ in $(seq 1 150); do
  for i in 1 2 3; do
    if redis-cli -p "2638$i" INFO 2>/dev/null | awk '/^# Replication group 1/{g=1} g&&/^role:/{print; exit}' | grep -q leader; then
      LEADER="2638$i"
    fi
  done
  [[ -n $LEADER ]] && break
  sleep 0.1
done
[[ -n $LEADER ]] || { echo "no leader for group 1" >&2; exit 1; }
LEADER2=""
for _ in $(seq 1 150); do
  for i in 1 2 3; do
    if redis-cli -p "2638$i" INFO 2>/dev/null | awk '/^# Replication group 2/{g=1} g&&/^role:/{print; exit}' | grep -q leader; then
      LEADER2="2638$i"
    fi
  done
  [[ -n $LEADER2 ]] && break
  sleep 0.1
done
[[ -n $LEADER2 ]] || { echo "no leader for group 2" >&2; exit 1; }
TAG2=$(/usr/bin/python3 -c '
def slot(k):
    c = 0
    for ch in k.encode():
        c ^= ch << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c % 16384
print(next(f"t{i}" for i in range(1000) if slot(f"t{i}") >= 8192))')
TAG=$(/usr/bin/python3 -c '
def slot(k):
    c = 0
    for ch in k.encode():
        c ^= ch << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c % 16384
print(next(f"t{i}" for i in range(1000) if slot(f"t{i}") < 8192))')

run() {  # port label
  local port=$1 label=$2 set get
  set=$(redis-benchmark -p "$port" -c $CLIENTS -n "$N" -r 100000 -q SET "{$TAG}:__rand_int__" v | grep -o '[0-9.]* requests per second' | cut -d' ' -f1)
  get=$(redis-benchmark -p "$port" -c $CLIENTS -n "$N" -r 100000 -q GET "{$TAG}:__rand_int__" | grep -o '[0-9.]* requests per second' | cut -d' ' -f1)
  echo "$label SET $set GET $get"
}
before=$(redis-cli -p "$LEADER" INFO | tr -d '\r' | awk -F: '/^raft_log_syncs|^raft_entries_persisted/{print $2}' | paste -sd' ')
T0=$(date +%s.%N)
run "$LEADER" tessera
T1=$(date +%s.%N)
after=$(redis-cli -p "$LEADER" INFO | tr -d '\r' | awk -F: '/^raft_log_syncs|^raft_entries_persisted/{print $2}' | paste -sd' ')
run 26390 redis-aof-always
read -r s0 e0 <<<"$before"; read -r s1 e1 <<<"$after"
echo "tessera leader: $((s1 - s0)) log fsyncs, $((e1 - e0)) entries persisted over $(echo "$T1 - $T0" | bc) s"

# Both groups at once: one redis-benchmark per group leader, side by side, against the same
# two concurrent loads on redis-server; req/s summed.
run_pair() {  # port1 port2 label
  local op out1 out2 total
  for op in SET GET; do
    out1=$(mktemp "$WORK/b.XXXX"); out2=$(mktemp "$WORK/b.XXXX")
    local args=()
    [[ $op == SET ]] && args=(v)
    redis-benchmark -p "$1" -c $CLIENTS -n "$N" -r 100000 -q $op "{$TAG}:__rand_int__" "${args[@]}" >"$out1" 2>/dev/null &
    local p1=$!
    redis-benchmark -p "$2" -c $CLIENTS -n "$N" -r 100000 -q $op "{$TAG2}:__rand_int__" "${args[@]}" >"$out2" 2>/dev/null &
    local p2=$!
    wait $p1 $p2
    total=$(cat "$out1" "$out2" | grep -o '[0-9.]* requests per second' | cut -d' ' -f1 | paste -sd+ | bc)
    printf '%s %s %s ' "$3" "$op" "$total"
  done
  echo
}
echo "both groups (leaders on ports $LEADER and $LEADER2, $CLIENTS clients each):"
run_pair "$LEADER" "$LEADER2" tessera
run_pair 26390 26390 redis-aof-always
