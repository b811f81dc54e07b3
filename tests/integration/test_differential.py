"""Differential test: random command sequences against a real redis-server and a single-node
tessera-shard, replies compared. The default run is bounded; TESSERA_DIFF_SEQUENCES raises it
(scripts/test.sh --soak sets a large value).

Replies are compared exactly, except where the two servers legitimately differ (documented in
docs/compatibility.md): TTL/PTTL/EXPIRETIME values (compared as classes: missing, persistent,
expiring), RANDOMKEY (compared as "some existing key" / nil), SCAN (compared as the full set of
keys one complete iteration returns) and KEYS (compared as sets).
"""
import os
import random
import signal
import subprocess
import time

import pytest
import redis

from shard_cluster import free_port, wait_for

BINARY = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
SEQUENCES = int(os.environ.get("TESSERA_DIFF_SEQUENCES", "150"))
COMMANDS_PER_SEQUENCE = 40


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("diff")
    redis_port, shard_port, raft_port = free_port(), free_port(), free_port()
    ref = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(root / "shard.log", "w")
    shard = subprocess.Popen(
        [BINARY, "--raftId", "n1", "--raftGroups", f"1=127.0.0.1:{raft_port}",
         "--raftBootstrap", "--dataDir", str(root / "n1"),
         "--redisAddress", f"127.0.0.1:{shard_port}", "--tickMs", "50",
         "--electionTickMs", "500"],
        stdout=log, stderr=subprocess.STDOUT)
    a = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5)
    b = redis.Redis(host="127.0.0.1", port=shard_port, socket_timeout=5)

    def ready():
        a.ping()
        b.set("__ready", "1")
        b.delete("__ready")
        return True
    wait_for(ready, 20, "redis-server and tessera-shard to serve")
    yield a, b
    for p in (ref, shard):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=20)
    log.close()


KEYS = ["a", "b", "c", "{t}d", "n"]
VALUES = ["", "0", "1", "-7", "10", "3.5", "hello", "x" * 30, "9223372036854775807",
          "-9223372036854775808", "1e3", " 5", "abc\x00def"]


def random_command(rng):
    k = rng.choice(KEYS)
    v = rng.choice(VALUES)
    n = str(rng.choice([-3, -1, 0, 1, 2, 5, 100, 9999999999, "x"]))
    # TTLs are either already past or far away: a TTL that runs out between two commands
    # would race the two servers' clocks.
    ttl = rng.choice(["-3", "-1", "0", "100000", "9999999", "x"])
    choices = [
        ["SET", k, v],
        ["SET", k, v, rng.choice(["NX", "XX", "GET", "KEEPTTL"])],
        ["SET", k, v, rng.choice(["EX", "PX"]), rng.choice(["100000", "0", "-1", "abc"])],
        ["SET", k, v, "NX", "XX"],
        ["GET", k], ["GETSET", k, v], ["GETDEL", k], ["STRLEN", k], ["APPEND", k, v],
        ["GETEX", k], ["GETEX", k, "PERSIST"], ["GETEX", k, "EX", "100000"],
        ["SETNX", k, v], ["SETEX", k, ttl, v], ["PSETEX", k, ttl + "000", v],
        ["MGET"] + rng.sample(KEYS, 3), ["MSET", k, v, rng.choice(KEYS), v],
        ["MSETNX", k, v, rng.choice(KEYS), v],
        ["INCR", k], ["DECR", k], ["INCRBY", k, n], ["DECRBY", k, n],
        ["INCRBYFLOAT", k, rng.choice(["1.5", "-0.25", "1e2", "abc", "0", "10.00"])],
        ["GETRANGE", k, n, str(rng.randint(-5, 5))], ["SETRANGE", k, str(rng.randint(-1, 8)), v],
        ["DEL"] + rng.sample(KEYS, 2), ["UNLINK", k], ["EXISTS", k, k, rng.choice(KEYS)],
        ["TYPE", k], ["RENAME", k, rng.choice(KEYS)], ["RENAMENX", k, rng.choice(KEYS)],
        ["EXPIRE", k, ttl], ["PEXPIRE", k, ttl + "000", rng.choice(["NX", "XX", "GT", "LT"])],
        ["EXPIRE", k, "100", "NX", "XX"], ["PERSIST", k], ["TTL", k], ["PTTL", k],
        ["EXPIRETIME", k], ["TOUCH", k, rng.choice(KEYS)], ["DBSIZE"], ["KEYS", "*"],
        ["KEYS", rng.choice(["a*", "?", "[ab]", "{t}*", "*\\*"])], ["RANDOMKEY"],
        ["SCAN", "0"], ["GET"], ["SET", k], ["INCRBY", k], ["NOSUCHCOMMAND", k],
    ]
    return rng.choice(choices)


def classify_ttl(value):
    if isinstance(value, int):
        return value if value < 0 else "expiring"
    return value


def run(client, argv):
    try:
        return ("ok", client.execute_command(*argv))
    except redis.ResponseError as e:
        return ("error", str(e))


def normalize(argv, result, client):
    kind, value = result
    name = argv[0].upper()
    if kind == "ok" and name in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
        return kind, classify_ttl(value)
    if kind == "ok" and name == "RANDOMKEY":
        return kind, value is None
    if kind == "ok" and name == "KEYS":
        return kind, sorted(value)
    if kind == "ok" and name == "SCAN":
        keys, cursor = set(value[1]), value[0]
        for _ in range(1000):
            if int(cursor) == 0:
                break
            cursor, more = client.execute_command("SCAN", cursor)
            keys.update(more)
        return kind, sorted(keys)
    if kind == "error" and name == "NOSUCHCOMMAND":
        return kind, value.split(",")[0]
    return kind, value


def test_random_sequences_match_redis(servers):
    ref, shard = servers
    rng = random.Random(int(os.environ.get("TESSERA_DIFF_SEED", "20261123")))
    compared = 0
    for seq in range(SEQUENCES):
        ref.flushdb()
        shard.execute_command("FLUSHDB")
        history = []
        for _ in range(COMMANDS_PER_SEQUENCE):
            argv = random_command(rng)
            history.append(argv)
            want = normalize(argv, run(ref, argv), ref)
            got = normalize(argv, run(shard, argv), shard)
            assert got == want, (f"sequence {seq}: {argv!r}: tessera {got!r}, redis {want!r}; "
                                 f"history {history!r}")
            compared += 1
    print(f"differential: {SEQUENCES} sequences, {compared} commands compared")


def test_command_info_matches_redis(servers):
    """COMMAND (rendered from routing/'s table) against Redis's own COMMAND INFO, for every
    command Tessera lists; containers differ only by the subcommands Tessera leaves out."""
    ref, shard = servers
    ours = shard.command()
    assert len(ours) == shard.command_count()
    compared = 0
    for name, info in ours.items():
        theirs = ref.execute_command("COMMAND", "INFO", name)
        assert name in theirs, name
        want = dict(theirs[name])
        got = dict(info)
        if name in ("client", "config", "command"):
            want.pop("subcommands", None)
            got.pop("subcommands", None)
        assert got == want, (name, got, want)
        compared += 1
    assert compared > 100
