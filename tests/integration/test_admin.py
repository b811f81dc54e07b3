"""Integration: grow a running 3-node x 2-group cluster with a 4th tessera-shard started with
--raftJoinAsLearner, through tessera-admin only (the runbook of docs/raft_learner_operations.md):
add_learner -> wait for catch-up -> promote_learner -> config -> transfer_leadership to it ->
data written before is readable from the new node -> remove_server an original node; and a group
led by a node added at runtime, in no one's --raftRedisMap, is reachable through a gateway."""
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest

import redis

from shard_cluster import ShardCluster, wait_for
from test_gateway import Gateway
from test_shard_cluster import key_in_group, wait_leaders

SHARD = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
ADMIN = os.environ.get("TESSERA_ADMIN_BIN",
                       os.path.join(os.path.dirname(SHARD), "tessera-admin"))


def admin(listener, *args, json_out=False, check=True):
    """Runs tessera-admin; returns (exit code, stdout, stderr)."""
    cmd = [ADMIN, "--timeout-ms=10000"] + (["--json"] if json_out else []) + \
        ["raft", listener] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.returncode, p.stdout, p.stderr


def listener(node, group):
    return f"127.0.0.1:{node.group_ports[group]}"


def status(node, group):
    return json.loads(admin(listener(node, group), "status", json_out=True)[1])


def leader_of(cluster, group):
    """The node whose status says LEADER for `group` and that the others agree on."""
    def find():
        for n in cluster.nodes:
            if n.proc is None:
                continue
            try:
                st = status(n, group)
            except AssertionError:
                continue
            if st["state"] == "LEADER":
                return n
        return None
    return wait_for(find, 15, f"a leader of group {group}")


@pytest.fixture
def cluster(tmp_path):
    # Four nodes known to the Redis map everywhere; only n1..n3 bootstrap.
    c = ShardCluster(SHARD, str(tmp_path), nodes=4)
    c.peers = c.group_peers(c.nodes[:3])
    for n in c.nodes[:3]:
        c.start(n, peers=c.peers)
    yield c
    c.stop_all(signal.SIGKILL)


def start_joiner(cluster, node):
    args = cluster.args(node, peers="x")
    i = args.index("--raftGroupPeers")
    del args[i:i + 2]
    args.append("--raftJoinAsLearner")
    log = open(node.log_path, "a")
    node.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    log.close()


def test_grow_with_learner_promote_and_transfer(cluster):
    n4 = cluster.nodes[3]
    found = wait_leaders(_Three(cluster), 15)
    written = {}
    for g in cluster.groups:
        for i in range(30):
            key = key_in_group(cluster, g, prefix=f"before{g}-{i}-")
            assert found[g].client().set(key, f"v{i}") is True
            written[key] = (g, f"v{i}")

    load = Load(cluster)
    load.thread.start()
    start_joiner(cluster, n4)
    for g in cluster.groups:
        leader = leader_of(cluster, g)
        # A follower refuses with the leader's address (exit 1, FAILED_PRECONDITION).
        follower = next(n for n in cluster.nodes[:3] if n is not leader)
        code, _, err = admin(listener(follower, g), "add_learner", "n4", listener(n4, g),
                             check=False)
        assert code == 1, err
        assert "FAILED_PRECONDITION: kNotLeader" in err and listener(leader, g) in err, err

        _, out, _ = admin(listener(leader, g), "add_learner", "n4", listener(n4, g))
        assert re.fullmatch(r"index: \d+\n", out), out

        # Catch-up: the leader's progress for n4 reaches its commit index.
        def caught_up():
            st = status(leader, g)
            peer = next(p for p in st["peers"] if p["raft_id"] == "n4")
            return int(peer["match"]) >= int(st["commit_index"]) and int(st["commit_index"])
        commit = wait_for(caught_up, 20, f"n4 catching up in group {g}")

        # promote_learner needs min_applied_index or the explicit skip.
        code, _, err = admin(listener(leader, g), "promote_learner", "n4", check=False)
        assert code == 2 and "min_applied_index is required" in err, err
        _, out, _ = admin(listener(leader, g), "promote_learner", "n4", "0", str(commit))
        assert re.fullmatch(r"index: \d+\n", out), out

        conf = json.loads(admin(listener(leader, g), "config", json_out=True)[1])
        suffrage = {m["id"]: m["suffrage"] for m in conf["servers"]}
        assert suffrage == {"n1": "voter", "n2": "voter", "n3": "voter", "n4": "voter"}, conf

        _, out, _ = admin(listener(leader, g), "transfer_leadership", "--to=n4", "--gated")
        assert out == "transferee: n4\n", out
        wait_for(lambda: status(n4, g)["state"] == "LEADER", 10, f"n4 leading group {g}")

    # Everything written before the expansion reads back from the new node, now the leader.
    client = n4.client()
    for key, (g, value) in written.items():
        assert client.get(key) == value, key
    # Promotion after catching up is the intended path: no alarm.
    metrics = cluster.metrics(n4)
    violations = [l for l in metrics.splitlines()
                  if l.startswith("tessera_raft_join_role_violation_total")]
    assert all(l.endswith(" 0") for l in violations), violations

    # Shrink back to three voters: remove n1 from both groups (n4 leads them).
    for g in cluster.groups:
        _, out, _ = admin(listener(n4, g), "remove_server", "n1")
        assert re.fullmatch(r"index: \d+\n", out), out
        conf = json.loads(admin(listener(n4, g), "config", json_out=True)[1])
        assert sorted(m["id"] for m in conf["servers"]) == ["n2", "n3", "n4"], conf
    key = key_in_group(cluster, 1, prefix="after-")
    assert n4.client().set(key, "x") is True

    _, out, _ = admin(listener(n4, 1), "overview")
    for name in ("n2", "n3", "n4"):
        assert re.search(rf"^{name}\s", out, re.M), out

    # The load saw no failed write, and every acknowledged one is there.
    wait_for(lambda: len(load.acked) >= 20, 20, "the load to make progress")
    load.stop.set()
    load.thread.join(timeout=30)
    assert not load.failed, load.failed[:10]
    for key, value in load.acked.items():
        assert load.read(key) == value, key


@pytest.fixture
def bootstrap_only_maps(tmp_path):
    """n1..n3 bootstrap with a --raftRedisMap naming only themselves, as deployed before any
    expansion; n4 will be added at runtime and is in no one's map."""
    c = ShardCluster(SHARD, str(tmp_path), nodes=4)
    c.map_nodes = c.nodes[:3]
    c.peers = c.group_peers(c.nodes[:3])
    for n in c.nodes[:3]:
        c.start(n, peers=c.peers)
    yield c
    c.stop_all(signal.SIGKILL)


def moved_target(node, key):
    """The address a shard's -MOVED names for `key`, or None when it serves it / TRYAGAIN."""
    try:
        node.client().get(key)
    except redis.ResponseError as e:
        m = re.match(r"MOVED \d+ (\S+)", str(e))
        return m.group(1) if m else None
    return None


def test_group_led_by_a_node_added_at_runtime_is_reachable_through_the_gateway(
        bootstrap_only_maps, tmp_path):
    cluster = bootstrap_only_maps
    n4 = cluster.nodes[3]
    wait_leaders(_Three(cluster), 15)
    gw = Gateway(cluster, str(tmp_path))
    wait_for(lambda: gw.client().set("warmup", "1"), 20, "a write through the gateway")
    load = GatewayLoad(gw)
    load.thread.start()
    try:
        start_joiner(cluster, n4)
        for g in cluster.groups:
            leader = leader_of(cluster, g)
            admin(listener(leader, g), "add_learner", "n4", listener(n4, g))
            # Under a steady load the commit index moves on: catch up to the index it had once
            # the learner was added (the runbook's "recent leader commit index").
            commit = int(status(leader, g)["commit_index"])

            def caught_up():
                st = status(leader, g)
                peer = next(p for p in st["peers"] if p["raft_id"] == "n4")
                return int(peer["match"]) >= commit
            wait_for(caught_up, 20, f"n4 catching up in group {g}")
            admin(listener(leader, g), "promote_learner", "n4", "0", str(commit))
            _, out, _ = admin(listener(leader, g), "transfer_leadership", "--to=n4", "--gated")
            assert out == "transferee: n4\n", out
            wait_for(lambda: status(n4, g)["state"] == "LEADER", 10, f"n4 leading group {g}")

        # Every original shard names n4's Redis address in MOVED, though no map lists it.
        for g in cluster.groups:
            key = key_in_group(cluster, g, prefix=f"moved{g}-")
            for n in cluster.nodes[:3]:
                wait_for(lambda: moved_target(n, key) == n4.redis_address, 10,
                         f"{n.raft_id} redirecting group {g} to n4")
        # And the gateway, configured with n1..n3 only, reaches both groups led by n4.
        client = gw.client()
        for g in cluster.groups:
            for i in range(20):
                key = key_in_group(cluster, g, prefix=f"gw{g}-{i}-")
                assert client.set(key, f"v{i}") is True
                assert client.get(key) == f"v{i}"
        # Shrink back to three voters under the same load: n1 leaves both groups.
        for g in cluster.groups:
            _, out, _ = admin(listener(n4, g), "remove_server", "n1")
            assert re.fullmatch(r"index: \d+\n", out), out
        _, out, _ = admin(listener(n4, 1), "overview")
        for g in cluster.groups:
            conf = json.loads(admin(listener(n4, g), "config", json_out=True)[1])
            assert sorted(m["id"] for m in conf["servers"]) == ["n2", "n3", "n4"], conf
        for name in ("n2", "n3", "n4"):
            assert re.search(rf"^{name}\s", out, re.M), out
        for g in cluster.groups:
            key = key_in_group(cluster, g, prefix=f"after{g}-")
            assert wait_for(lambda: client.set(key, "x") is True, 20, f"a write to group {g}")
        wait_for(lambda: len(load.acked) >= 50, 30, "the gateway load to make progress")
    finally:
        load.stop.set()
        load.thread.join(timeout=60)
    assert not load.failed, load.failed[:10]
    client = gw.client()
    for key, value in load.acked.items():
        assert client.get(key) == value, key
    assert gw.stop() == 0


class GatewayLoad:
    """Unique-key SETs through the gateway (at most 20 000), each retried on an error or a
    timeout until acknowledged or 20 s have passed; records every acknowledged write."""

    def __init__(self, gateway, limit=20000):
        self.gateway = gateway
        self.limit = limit
        self.acked = {}
        self.failed = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        client = self.gateway.client()
        for i in range(self.limit):
            if self.stop.is_set():
                return
            key, value = f"gwload-{i}", f"value-{i}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.set(key, value) is True:
                        self.acked[key] = value
                        break
                except redis.RedisError:
                    pass
                if time.monotonic() >= deadline:
                    self.failed.append(key)
                    break
                time.sleep(0.05)


class Load:
    """Writes unique keys through any shard, following MOVED like a cluster client, and records
    every acknowledged write; an unacknowledged one is retried until acknowledged or given up."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = {}
        self.failed = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def client(self, address):
        host, port = address.split(":")
        return redis.Redis(host=host, port=int(port), socket_timeout=2, decode_responses=True)

    def write(self, key, value):
        deadline = time.monotonic() + 15
        live = [n for n in self.cluster.nodes if n.proc is not None]
        target = random.choice(live).redis_address
        while time.monotonic() < deadline:
            try:
                if self.client(target).set(key, value) is True:
                    return True
            except redis.ResponseError as e:
                m = re.match(r"MOVED \d+ (\S+)", str(e))
                if m:
                    target = m.group(1)
                    continue
                time.sleep(0.05)  # TRYAGAIN / NOTLEADER during an election or transfer
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
            target = random.choice(live).redis_address
        return False

    def run(self):
        i = 0
        while not self.stop.is_set():
            key, value = f"load-{i}", f"value-{i}"
            if self.write(key, value):
                self.acked[key] = value
            else:
                self.failed.append(key)
            i += 1

    def read(self, key):
        target = self.cluster.nodes[3].redis_address
        for _ in range(10):
            try:
                return self.client(target).get(key)
            except redis.ResponseError as e:
                m = re.match(r"MOVED \d+ (\S+)", str(e))
                if not m:
                    raise
                target = m.group(1)
        raise AssertionError(f"too many redirects reading {key}")


class _Three:
    """The first three nodes as a cluster view for wait_leaders (n4 has no groups yet)."""
    def __init__(self, cluster):
        self.nodes = cluster.nodes[:3]
        self.groups = cluster.groups
