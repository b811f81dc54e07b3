"""The conf/ examples: every key is a real tessera-shard (or, in gateway.toml, tessera-gateway)
flag of the right TOML type, the cluster layouts agree across their files, and the examples
start a real shard and a real gateway."""
import glob
import os
import re
import signal
import subprocess
import tomllib

import pytest
import redis

from shard_cluster import free_port, wait_for

BINARY = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(REPO, "conf")
GATEWAY_BINARY = os.path.join(os.path.dirname(BINARY), "tessera-gateway")
ALL_FILES = sorted(glob.glob(os.path.join(CONF, "**", "*.toml"), recursive=True))
GATEWAY_EXAMPLES = [p for p in ALL_FILES if os.path.basename(p) == "gateway.toml"]
EXAMPLES = [p for p in ALL_FILES if p not in GATEWAY_EXAMPLES]  # shard files
CLUSTERS = ["local-3x2", "production"]  # folders holding one file per node
INTEGER_VALUE_NAMES = {"N", "MS", "BYTES", "UINT", "INT"}  # CLI11 value names, numeric flags


def shard_flags():
    """{flag: (value name or None for a boolean flag, required)} from `tessera-shard --help`,
    without --help and --config (the file cannot name itself)."""
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    flags = {}
    for line in out.splitlines():
        m = re.match(r"\s+(?:-\w,)?--(\w+)(?: ([A-Z][A-Z|:]*|[a-z]+(?:\|[a-z]+)+))?(?:\s|$)", line)
        if m and m.group(1) not in ("help", "config"):
            flags[m.group(1)] = (m.group(2), "(required)" in line)
    assert {"raftId", "raftGroups", "dataDir", "redisAddress", "raftBootstrap"} <= set(flags), out
    return flags


@pytest.fixture(scope="module")
def flags():
    return shard_flags()


def load(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def gateway_flags():
    """{flag: value name} from `tessera-gateway --help`, without --help and --config."""
    out = subprocess.run([GATEWAY_BINARY, "--help"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flags = {}
    for line in out.splitlines():
        m = re.match(r"\s+(?:-\w,)?--(\w+)(?: ([A-Z]+)(?:=\S*)?)?(?:\s|$)", line)
        if m and m.group(1) not in ("help", "config"):
            flags[m.group(1)] = m.group(2)
    assert {"listen", "shards", "raftRedisMap", "threads"} <= set(flags), out
    return flags


def test_the_examples_exist():
    names = {os.path.relpath(p, CONF) for p in EXAMPLES}
    expected = {"single-node.toml"} | {f"{c}/n{i}.toml" for c in CLUSTERS for i in (1, 2, 3)}
    assert expected <= names, names
    assert {os.path.relpath(p, CONF) for p in GATEWAY_EXAMPLES} == \
        {f"{c}/gateway.toml" for c in CLUSTERS}


@pytest.mark.parametrize("path", GATEWAY_EXAMPLES, ids=lambda p: os.path.relpath(p, CONF))
def test_gateway_example_matches_its_cluster(path):
    """Every key is a tessera-gateway flag of its type; the gateway's raftRedisMap is the
    shards' own and every seed in `shards` is a raft listener of the cluster."""
    flags = gateway_flags()
    table = load(path)
    for key, value in table.items():
        assert key in flags, f"{path}: '{key}' is not a flag of tessera-gateway --help"
        if flags[key] in INTEGER_VALUE_NAMES:
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, \
                f"{path}: {key} must be a non-negative TOML integer"
        else:
            assert isinstance(value, str), f"{path}: {key} must be a TOML string"
    shard = load(os.path.join(os.path.dirname(path), "n1.toml"))
    assert table["raftRedisMap"] == shard["raftRedisMap"]
    listeners = {a for m in parse_peers(shard["raftGroupPeers"]).values() for a in m.values()}
    assert set(table["shards"].split(",")) <= listeners


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.relpath(p, CONF))
def test_every_key_is_a_shard_flag_of_its_type(path, flags):
    table = load(path)
    for key, value in table.items():
        assert key in flags, f"{path}: '{key}' is not a flag of tessera-shard --help"
        value_name, _ = flags[key]
        if value_name is None:
            assert isinstance(value, bool), f"{path}: {key} must be a TOML boolean"
        elif value_name in INTEGER_VALUE_NAMES:
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, \
                f"{path}: {key} must be a non-negative TOML integer"
        else:
            assert isinstance(value, str), f"{path}: {key} must be a TOML string"
            if "|" in value_name:  # an enumeration such as sync|nosync
                assert value in value_name.split("|"), f"{path}: {key}={value!r}"
    missing = [f for f, (_, required) in flags.items() if required and f not in table]
    assert not missing, f"{path}: required flags absent: {missing}"


def parse_peers(text):
    """raftGroupPeers -> {gid: {raft_id: addr}}."""
    groups = {}
    for entry in text.split(";"):
        gid, members = entry.split("=", 1)
        groups[int(gid)] = dict(m.split("@", 1) for m in members.split(","))
    return groups


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_cluster_files_agree(cluster):
    """The shared keys are identical, each node's raftGroups is its own entry of
    raftGroupPeers, and raftRedisMap maps every member listener to its node's redisAddress."""
    files = sorted(glob.glob(os.path.join(CONF, cluster, "n*.toml")))
    tables = [load(p) for p in files]
    for key in ("raftGroupPeers", "raftRedisMap", "tickMs", "electionTickMs"):
        assert len({t[key] for t in tables}) == 1, f"{cluster}: {key} differs between nodes"
    peers = parse_peers(tables[0]["raftGroupPeers"])
    redis_map = dict(e.split("=", 1) for e in tables[0]["raftRedisMap"].split(","))
    assert sorted(t["raftId"] for t in tables) == sorted(peers[min(peers)])
    assert len({t["redisAddress"] for t in tables}) == len(tables)
    for t in tables:
        own = dict(e.split("=", 1) for e in t["raftGroups"].split(","))
        assert {int(g): a for g, a in own.items()} == \
            {g: members[t["raftId"]] for g, members in peers.items()}, t["raftId"]
        for addr in own.values():
            assert redis_map[addr] == t["redisAddress"], (t["raftId"], addr)
    members = {a for m in peers.values() for a in m.values()}
    assert set(redis_map) == members


def test_single_node_example_serves_redis(tmp_path):
    """The shard starts from conf/single-node.toml with only the data directory and ports
    moved on the command line (the command line wins over the file), elects itself in
    both groups and answers PING, SET and GET; a gateway started from
    conf/local-3x2/gateway.toml, with its addresses moved the same way, serves them too."""
    table = load(os.path.join(CONF, "single-node.toml"))
    gids = [int(e.split("=")[0]) for e in table["raftGroups"].split(",")]
    raft = {g: f"127.0.0.1:{free_port()}" for g in gids}
    redis_addr = f"127.0.0.1:{free_port()}"
    args = [
        BINARY, "--config", os.path.join(CONF, "single-node.toml"),
        "--dataDir", str(tmp_path / "data"),
        "--raftGroups", ",".join(f"{g}={a}" for g, a in raft.items()),
        "--redisAddress", redis_addr,
        "--raftRedisMap", ",".join(f"{a}={redis_addr}" for a in raft.values()),
        "--metricsAddress", f"127.0.0.1:{free_port()}",
    ]
    log_path = tmp_path / "shard.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=int(redis_addr.split(":")[1]),
                             socket_timeout=5, decode_responses=True)
        assert wait_for(lambda: proc.poll() is None and client.ping(), 20, "PONG")
        # Keys in both halves of the slot space, so both groups have elected this node.
        for key in ("a", "b", "c", "k1", "k2"):
            wait_for(lambda: client.set(key, f"v-{key}"), 20, f"SET {key}")
            assert client.get(key) == f"v-{key}"
        assert f"tessera-shard {table['raftId']} serving {len(gids)} group(s)" in \
            log_path.read_text()
        gateway_served(tmp_path, raft, redis_addr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text()


def gateway_served(tmp_path, raft, redis_addr):
    """tessera-gateway --config conf/local-3x2/gateway.toml in front of the single shard."""
    port = free_port()
    args = [
        GATEWAY_BINARY, "--config", os.path.join(CONF, "local-3x2", "gateway.toml"),
        "--listen", f"127.0.0.1:{port}", "--metricsAddress", f"127.0.0.1:{free_port()}",
        "--shards", ",".join(raft.values()),
        "--raftRedisMap", ",".join(f"{a}={redis_addr}" for a in raft.values()),
    ]
    log_path = tmp_path / "gateway.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5,
                             decode_responses=True)
        assert wait_for(lambda: proc.poll() is None and client.ping(), 20, "gateway PONG")
        for key in ("a", "b", "c", "k1", "k2"):
            assert wait_for(lambda: client.get(key) == f"v-{key}", 20, f"GET {key}")
        assert client.set("via-gateway", "1")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text()


@pytest.mark.parametrize("line, complaint", [
    ('raftID = "n1"', 'unknown key "raftID"'),
    ('raftMaxSnapshotBytes = "16GiB"', 'key "raftMaxSnapshotBytes" must be a non-negative integer'),
])
def test_a_bad_key_stops_the_shard(tmp_path, line, complaint):
    """What conf/README.md promises: a typo or a wrong type is an error naming the key."""
    path = tmp_path / "bad.toml"
    path.write_text(open(os.path.join(CONF, "single-node.toml")).read() + line + "\n")
    proc = subprocess.run([BINARY, "--config", str(path), "--dataDir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert complaint in proc.stdout + proc.stderr


@pytest.mark.parametrize("line, complaint", [
    ('listn = "127.0.0.1:1"', 'unknown key "listn"'),
    ('maxBulkLength = "4"', 'key "maxBulkLength" must be a non-negative integer'),
    ('requirepass = 5051', 'key "requirepass" must be a string'),
])
def test_a_bad_key_stops_the_gateway(tmp_path, line, complaint):
    path = tmp_path / "bad.toml"
    path.write_text(open(os.path.join(CONF, "local-3x2", "gateway.toml")).read() + line + "\n")
    proc = subprocess.run([GATEWAY_BINARY, "--config", str(path)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert complaint in proc.stdout + proc.stderr
