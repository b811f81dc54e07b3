"""Integration: 3 tessera-shard processes x 2 groups on loopback, bootstrapped with
--raftGroupPeers, driven with a real Redis client (redis-py)."""
import os
import re
import shutil
import signal
import subprocess

import pytest
import redis

from shard_cluster import ShardCluster, wait_for

BINARY = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")


def info_groups(client):
    """INFO as {group_id: {field: value}}, one entry per '# Replication group' section."""
    client.set_response_callback("INFO", lambda raw, **kw: raw)
    text = client.execute_command("INFO")
    if isinstance(text, bytes):
        text = text.decode()
    groups, current = {}, None
    for line in text.splitlines():
        m = re.match(r"# Replication group (\d+)", line)
        if m:
            current = groups.setdefault(int(m.group(1)), {})
        elif current is not None and ":" in line:
            k, v = line.split(":", 1)
            current[k] = v
    return groups


def leaders(cluster):
    """{group: leader Node}, only when every live node agrees on one leader per group."""
    views = {}
    for n in cluster.nodes:
        if n.proc is None:
            continue
        for g, f in info_groups(n.client()).items():
            if f.get("role") == "leader":
                views.setdefault(g, set()).add(n.raft_id)
    result = {}
    for g in cluster.groups:
        ids = views.get(g, set())
        if len(ids) != 1:
            return None
        result[g] = next(n for n in cluster.nodes if n.raft_id in ids)
    return result


def wait_leaders(cluster, timeout):
    return wait_for(lambda: leaders(cluster), timeout, "one leader per group")


def group_of_slot(groups, slot):
    """routing::RoutingTable::EvenSpread: contiguous ranges in id order, the first
    16384 % n groups one slot larger."""
    groups = sorted(groups)
    base, extra = divmod(16384, len(groups))
    start = 0
    for i, g in enumerate(groups):
        count = base + (1 if i < extra else 0)
        if slot < start + count:
            return g
        start += count
    raise AssertionError(slot)


def key_in_group(cluster, group, prefix="k"):
    """The first key `prefix<i>` the shard routes to `group`."""
    for i in range(10000):
        key = f"{prefix}{i}"
        if group_of_slot(cluster.groups, crc16_slot(key)) == group:
            return key
    raise AssertionError(f"no key for group {group}")


def crc16_slot(key):
    crc = 0
    for ch in key.encode():
        crc ^= ch << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % 16384


@pytest.fixture
def cluster(tmp_path):
    c = ShardCluster(BINARY, str(tmp_path))
    c.start_all()
    yield c
    c.stop_all(signal.SIGKILL)


def test_every_group_elects_a_leader(cluster):
    found = wait_leaders(cluster, 15)
    assert set(found) == {1, 2}
    for n in cluster.nodes:
        groups = info_groups(n.client())
        for g in (1, 2):
            assert groups[g]["role"] in ("leader", "follower")
            assert groups[g].get("voters") == "3", groups[g]


def test_write_to_follower_is_moved_then_succeeds_at_leader(cluster):
    found = wait_leaders(cluster, 15)
    for g in (1, 2):
        key = key_in_group(cluster, g)
        leader = found[g]
        follower = next(n for n in cluster.nodes if n is not leader)
        with pytest.raises(redis.ResponseError) as moved:
            follower.client().set(key, "v1")
        m = re.match(r"MOVED (\d+) (\S+)", str(moved.value))
        assert m, str(moved.value)
        assert int(m.group(1)) == crc16_slot(key)
        assert m.group(2) == leader.redis_address
        host, port = m.group(2).split(":")
        target = redis.Redis(host=host, port=int(port), decode_responses=True)
        assert target.set(key, "v1") is True
        assert target.get(key) == "v1"


def test_leader_killed_new_leader_and_acknowledged_writes_survive(cluster):
    found = wait_leaders(cluster, 15)
    acked = {}
    for g in (1, 2):
        for i in range(20):
            key = key_in_group(cluster, g, prefix=f"g{g}x{i}-")
            assert found[g].client().set(key, f"val{i}") is True
            acked[key] = (g, f"val{i}")
    victim = found[1]
    cluster.stop(victim, signal.SIGKILL)
    # Three election timeouts, plus the time the survivors need to notice.
    new = wait_for(lambda: leaders(cluster), 3 * cluster.ELECTION_MS / 1000 + 3,
                   "a new leader after kill -9")
    assert new[1] is not victim
    for key, (g, value) in acked.items():
        assert new[g].client().get(key) == value, key


def test_restart_all_keeps_data_and_never_rebootstraps(cluster):
    found = wait_leaders(cluster, 15)
    key = key_in_group(cluster, 1)
    assert found[1].client().set(key, "durable") is True
    codes = cluster.stop_all(signal.SIGTERM)
    assert codes == [0, 0, 0], codes
    cluster.start_all()
    found = wait_leaders(cluster, 15)
    assert found[1].client().get(key) == "durable"
    for n in cluster.nodes:
        log = cluster.log(n)
        assert log.count("bootstrapped with 3 voters") == 2, "one bootstrap per group, ever"
        assert "group already initialized; bootstrap declaration ignored" in log


def test_restart_with_edited_bootstrap_list_fails_clearly(cluster):
    wait_leaders(cluster, 15)
    cluster.stop_all(signal.SIGTERM)
    node = cluster.nodes[0]
    # The same flags, except that n3 is no longer declared.
    edited = cluster.group_peers(cluster.nodes[:2])
    proc = subprocess.run(cluster.args(node, peers=edited), capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "kClusterMismatch" in out
    assert "group 1" in out


SNAPSHOT_ARGS = ["--raftSnapshotCount", "10", "--raftLogRetainEntries", "2"]


@pytest.fixture
def snapshot_cluster(tmp_path):
    c = ShardCluster(BINARY, str(tmp_path), extra_args=SNAPSHOT_ARGS)
    c.start_all()
    yield c
    c.stop_all(signal.SIGKILL)


def keys_in_group(cluster, group, count, prefix):
    keys, i = [], 0
    while len(keys) < count:
        key = f"{prefix}{i}"
        if group_of_slot(cluster.groups, crc16_slot(key)) == group:
            keys.append(key)
        i += 1
    return keys


def write_keys(cluster, count, prefix):
    """SETs `count` keys per group at the group's leader; returns {key: value}."""
    written = {}
    for g in cluster.groups:
        for key in keys_in_group(cluster, g, count, prefix):
            def set_at_leader(key=key, g=g):
                found = leaders(cluster)
                return found and found[g].client().set(key, f"v-{key}")
            wait_for(set_at_leader, 15, f"SET {key}")
            written[key] = f"v-{key}"
    return written


def metric_value(text, name, **labels):
    """The sample of `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        body, value = line.rsplit(" ", 1)
        have = dict(re.findall(r'(\w+)="([^"]*)"', body))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def test_restart_with_snapshots_skips_the_restore(snapshot_cluster):
    """ColdStartIntegrationTest.RestartSkipsWithSmallSnapshotCount."""
    cluster = snapshot_cluster
    wait_leaders(cluster, 15)
    written = write_keys(cluster, 25, "snap")

    def snapshotted():
        for n in cluster.nodes:
            for g, f in info_groups(n.client()).items():
                if int(f["snapshot_index"]) < 20 or f["applied_index"] != f["commit_index"]:
                    return False
        return True
    wait_for(snapshotted, 20, "a snapshot of every group on every node")
    assert cluster.stop_all(signal.SIGTERM) == [0, 0, 0]
    cluster.start_all()
    found = wait_leaders(cluster, 15)
    for n in cluster.nodes:
        text = cluster.metrics(n)
        for g in cluster.groups:
            assert metric_value(text, "tessera_fsm_cold_start_restore_total", group=str(g),
                                outcome="skipped") == 1, (n.raft_id, g, text)
            assert metric_value(text, "tessera_fsm_cold_start_restore_total", group=str(g),
                                outcome="executed") in (None, 0)
        for g, f in info_groups(n.client()).items():
            assert f["cold_start"] == "skipped", (n.raft_id, g, f)
    for key, value in written.items():
        g = group_of_slot(cluster.groups, crc16_slot(key))
        assert found[g].client().get(key) == value


def test_wiped_node_catches_up_through_a_snapshot(snapshot_cluster):
    cluster = snapshot_cluster
    found = wait_leaders(cluster, 15)
    written = write_keys(cluster, 15, "before")
    victim = next(n for n in cluster.nodes if n is not found[1])
    cluster.stop(victim, signal.SIGKILL)
    shutil.rmtree(victim.data_dir)
    written.update(write_keys(cluster, 15, "after"))

    def compacted():
        found = leaders(cluster)
        return found and all(
            int(info_groups(found[g].client())[g]["first_log_index"]) > 4 for g in cluster.groups)
    wait_for(compacted, 20, "leaders' logs compacted past the bootstrap entries")

    cluster.start(victim)  # identical flags on an empty directory

    def caught_up():
        found = leaders(cluster)
        if not found:
            return False
        mine = info_groups(victim.client())
        return all(int(mine[g]["applied_index"]) >=
                   int(info_groups(found[g].client())[g]["commit_index"]) and
                   mine[g]["voters"] == "3" for g in cluster.groups)
    wait_for(caught_up, 30, "the wiped node to catch up")
    text = cluster.metrics(victim)
    for g in cluster.groups:
        assert metric_value(text, "tessera_raft_snapshots_installed_total", group=str(g)) >= 1
    # The wiped node is a working voter: with the third node down, writes need its ack.
    found = wait_leaders(cluster, 15)
    third = next(n for n in cluster.nodes if n is not victim and n is not found[1])
    cluster.stop(third, signal.SIGKILL)
    key = keys_in_group(cluster, 1, 1, "quorum")[0]
    wait_for(lambda: (leaders(cluster) or {}).get(1) and
             leaders(cluster)[1].client().set(key, "acked"), 20, "a write acked by the wiped node")
    written[key] = "acked"
    for k, value in written.items():
        g = group_of_slot(cluster.groups, crc16_slot(k))
        if g == 1:
            assert wait_leaders(cluster, 15)[1].client().get(k) == value



SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_exposition(text):
    """Strict Prometheus text format 0.0.4: returns {family: (type, [(name, labels, value)])},
    failing on any line the format does not allow."""
    families, helps, seen = {}, set(), set()
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helps, f"second HELP for {name}"
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name in helps, f"TYPE before HELP for {name}"
            assert name not in families, f"second TYPE for {name}"
            families[name] = (kind, [])
            continue
        assert not line.startswith("#"), f"unexpected comment: {line!r}"
        m = SAMPLE.match(line)
        assert m, f"malformed sample line: {line!r}"
        name, label_text, value = m.group(1), m.group(3) or "", m.group(4)
        labels, pos = {}, 0
        while pos < len(label_text):
            lm = LABEL.match(label_text, pos)
            assert lm, f"malformed labels in {line!r}"
            assert lm.group(1) not in labels, f"duplicate label in {line!r}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        float(value)  # raises on anything but a number, +Inf, -Inf, NaN
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in families and \
                    families[name[:-len(suffix)]][0] == "histogram":
                family = name[:-len(suffix)]
        assert family in families, f"sample {name} before its TYPE"
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"duplicate series {key}"
        seen.add(key)
        families[family][1].append((name, labels, float(value)))
    for family, (kind, samples) in families.items():
        if kind != "histogram":
            continue
        series = {}
        for name, labels, value in samples:
            base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            series.setdefault(base, {"buckets": [], "count": None})
            if name.endswith("_bucket"):
                series[base]["buckets"].append((float(labels["le"]), value))
            elif name.endswith("_count"):
                series[base]["count"] = value
        for base, s in series.items():
            bounds = [b for b, _ in s["buckets"]]
            counts = [c for _, c in s["buckets"]]
            assert bounds == sorted(bounds) and bounds[-1] == float("inf"), (family, base)
            assert counts == sorted(counts), f"{family}{base}: buckets not cumulative"
            assert counts[-1] == s["count"], f"{family}{base}: +Inf bucket != _count"
    return families


def promtool_check(text):
    """`promtool check metrics` (Debian package prometheus, installed by scripts/setup.sh):
    exit 0 and no lint complaint, else the test fails with promtool's output."""
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_metrics_exposition_is_well_formed(cluster):
    found = wait_leaders(cluster, 15)
    for g in cluster.groups:
        key = key_in_group(cluster, g, prefix="metrics")
        assert found[g].client().set(key, "x") is True
    for n in cluster.nodes:
        promtool_check(cluster.metrics(n))
        families = parse_exposition(cluster.metrics(n))
        for name in ("tessera_raft_term", "tessera_raft_commit_index",
                     "tessera_raft_applied_index", "tessera_raft_state",
                     "tessera_raft_snapshot_index"):
            groups = {labels["group"] for _, labels, _ in families[name][1]}
            assert groups == {str(g) for g in cluster.groups}, (name, groups)
        # Exactly one current leader per group, named by its full 64-bit id.
        current = [labels for _, labels, v in families["tessera_raft_leader"][1] if v == 1]
        assert sorted(l["group"] for l in current) == [str(g) for g in cluster.groups]
        assert all(re.fullmatch(r"[0-9a-f]{16}", l["leader_id"]) for l in current)
        for name in ("tessera_raft_log_fsync_seconds", "tessera_raft_apply_seconds",
                     "tessera_raft_proposal_seconds"):
            assert families[name][0] == "histogram"


def test_ttl_keeps_its_deadline_across_failover(cluster):
    """A key's deadline is the leader's write time plus its TTL, stored absolute and identical
    on every replica: a new leader reports the same PEXPIRETIME and expires it on time."""
    found = wait_leaders(cluster, 15)
    key = key_in_group(cluster, 1, prefix="ttl")
    short = key_in_group(cluster, 1, prefix="short")
    old = found[1]
    assert old.client().set(key, "v", px=120000) is True
    assert old.client().set(short, "v", px=1500) is True
    deadline = old.client().execute_command("PEXPIRETIME", key)
    assert deadline > 0
    cluster.stop(old, signal.SIGKILL)
    new = wait_for(lambda: (leaders(cluster) or {}).get(1), 15, "a new leader for group 1")
    assert new is not old
    assert new.client().execute_command("PEXPIRETIME", key) == deadline
    assert 0 < new.client().pttl(key) <= 120000
    assert new.client().get(key) == "v"
    # The short key expires on the new leader by the deadline the old one set.
    wait_for(lambda: new.client().get(short) is None, 15, "the short TTL to run out")
    assert new.client().execute_command("PEXPIRETIME", short) == -2


def test_every_type_through_redis_py_survives_a_failover(cluster):
    """Strings, hashes, lists, sets and sorted sets written with redis-py at a group leader are
    read back identically from the next leader after a kill -9."""
    found = wait_leaders(cluster, 15)
    g = 1
    keys = keys_in_group(cluster, g, 5, "type")
    c = found[g].client()
    assert c.set(keys[0], "v", ex=1000) is True
    assert c.hset(keys[1], mapping={"f1": "a", "f2": "b"}) == 2
    assert c.rpush(keys[2], "x", "y", "z") == 3
    assert c.sadd(keys[3], "m1", "m2") == 2
    assert c.zadd(keys[4], {"a": 1.5, "b": -2}) == 2
    before = {
        "string": c.get(keys[0]),
        "hash": c.hgetall(keys[1]),
        "list": c.lrange(keys[2], 0, -1),
        "set": c.smembers(keys[3]),
        "zset": c.zrange(keys[4], 0, -1, withscores=True),
        "types": [c.type(k) for k in keys],
    }
    assert before["types"] == ["string", "hash", "list", "set", "zset"]
    cluster.stop(found[g], signal.SIGKILL)
    new = wait_for(lambda: (leaders(cluster) or {}).get(g), 15, "a new leader").client()
    after = {
        "string": new.get(keys[0]),
        "hash": new.hgetall(keys[1]),
        "list": new.lrange(keys[2], 0, -1),
        "set": new.smembers(keys[3]),
        "zset": new.zrange(keys[4], 0, -1, withscores=True),
        "types": [new.type(k) for k in keys],
    }
    assert after == before
    assert before["zset"] == [("b", -2.0), ("a", 1.5)]
