"""Integration: encryption at rest on a 3-node x 2-group cluster of real tessera-shard
processes, driven only through tessera-admin (docs/encryption.md runbook): bootstrap, storage
cutover, raft cutover per group, DEK rotations, restart of every node; every acknowledged
value reads back, and a raw scan of every data directory (RocksDB files, WAL, snapshots)
finds none of the values written after the cutovers. The rollout also runs with a learner and
with load going through a tessera-gateway process the whole time, and an incapable learner
makes the cutover refuse naming it."""
import os
import signal
import subprocess
import threading
import time

import pytest
import redis

from shard_cluster import ShardCluster, wait_for
from test_gateway import Gateway
from test_shard_cluster import keys_in_group, leaders, wait_leaders

SHARD = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
ADMIN = os.environ.get("TESSERA_ADMIN_BIN",
                       os.path.join(os.path.dirname(SHARD), "tessera-admin"))
KEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # tests only


class EncryptedCluster(ShardCluster):
    """Every node encryption-capable, its sidecar under its own data dir."""

    def args(self, node, peers=None):
        return super().args(node, peers) + [
            "--encryption-enabled",
            "--encryptionSidecarPath", os.path.join(node.data_dir, "encryption", "keys.json"),
            "--raftSnapshotCount", "40", "--raftLogRetainEntries", "10",
        ]


def enc(node, group, *args, check=True):
    cmd = [ADMIN, "encryption", f"--addr=127.0.0.1:{node.group_ports[group]}",
           "--timeout-ms=10000"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.returncode, p.stdout, p.stderr


def at_leader(cluster, group, *args):
    """Runs an encryption subcommand on the group's current leader, retrying elections."""
    result = {}

    def attempt():
        found = leaders(cluster)
        if not found:
            return None
        code, out, err = enc(found[group], group, *args, check=False)
        if code == 0:
            result["out"] = out
            return True
        if "not leader" in err or "UNAVAILABLE" in err:
            return None
        raise AssertionError(err)
    wait_for(attempt, 30, f"encryption {' '.join(args)} on group {group}")
    return result["out"]


def write(cluster, count, prefix, marker):
    written = {}
    for g in cluster.groups:
        for key in keys_in_group(cluster, g, count, prefix):
            value = f"{marker}-{key}"

            def set_at_leader(key=key, g=g, value=value):
                found = leaders(cluster)
                try:
                    return found and found[g].client().set(key, value)
                except Exception as e:  # the barrier of a raft cutover refuses briefly
                    if "cutover in progress" in str(e):
                        return None
                    raise
            wait_for(set_at_leader, 15, f"SET {key}")
            written[key] = value
    return written


def raw_hits(root, needle):
    hits = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                if needle.encode() in fh.read():
                    hits.append(path)
    return hits


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_KEK_BASE64", KEK)
    c = EncryptedCluster(SHARD, str(tmp_path))
    c.start_all()
    wait_leaders(c, 20)
    yield c
    c.stop_all()


def test_three_phase_rollout_rotation_and_restart(cluster):
    before = write(cluster, 10, "a", "CLEARTEXT")
    out = at_leader(cluster, 1, "bootstrap")
    assert "was_already_bootstrapped: false" in out, out
    assert out.count("reachable=true capable=true") == 3, out
    # Sent to group 2's listener, a default-group mutator is refused.
    found = wait_for(lambda: leaders(cluster), 15, "leaders")
    code, _, err = enc(found[2], 2, "bootstrap", check=False)
    assert code == 1 and "must be sent to the default group (1) leader" in err, err
    mid = write(cluster, 10, "b", "MIDWINDOW")
    out = at_leader(cluster, 1, "enable-storage-envelope")
    assert "was_already_active: false" in out, out
    out = at_leader(cluster, 1, "enable-storage-envelope")
    assert "was_already_active: true" in out, out
    sealed = write(cluster, 30, "c", "STORAGESEALED")
    for g in cluster.groups:
        out = at_leader(cluster, g, "enable-raft-envelope")
        assert "applied_index:" in out, out
    raft_sealed = write(cluster, 30, "d", "RAFTSEALED")
    at_leader(cluster, 1, "rotate-dek", "--purpose=storage")
    at_leader(cluster, 1, "rotate-dek", "--purpose=raft")
    rotated = write(cluster, 30, "e", "ROTATEDSEALED")

    cluster.stop_all()
    cluster.start_all()
    wait_leaders(cluster, 30)
    everything = {**before, **mid, **sealed, **raft_sealed, **rotated}
    for g in cluster.groups:
        for key, value in everything.items():
            if key not in keys_in_group(cluster, g, 30, key[0]):
                continue
            got = wait_for(lambda key=key, g=g: leaders(cluster) and leaders(cluster)[g].client().get(key),
                           15, f"GET {key}")
            assert got == value, (key, got)
    out = enc(cluster.nodes[0], 1, "status")[1]
    assert "storage_envelope_active: true" in out, out
    assert "keys: 4" in out, out
    cluster.stop_all()
    for node in cluster.nodes:
        # Values written after both cutovers appear nowhere on disk; earlier ones still do.
        assert raw_hits(node.data_dir, "RAFTSEALED") == [], node.raft_id
        assert raw_hits(node.data_dir, "ROTATEDSEALED") == [], node.raft_id
    assert any(raw_hits(n.data_dir, "CLEARTEXT") for n in cluster.nodes)


def test_disabling_encryption_later_refuses_to_start(cluster):
    at_leader(cluster, 1, "bootstrap")
    node = cluster.nodes[0]
    cluster.stop(node)
    plain = ShardCluster(SHARD, cluster.root)
    plain.nodes = cluster.nodes
    plain.groups = cluster.groups
    plain.start(node)
    assert node.proc.wait(timeout=30) != 0
    node.proc = None
    assert "kSidecarPresentWithoutFlag" in cluster.log(node)


def start_joiner(cluster, node, encrypted):
    """Starts `node` with --raftJoinAsLearner (no bootstrap list): capable or not."""
    args = (cluster.args(node) if encrypted else ShardCluster.args(cluster, node))
    i = args.index("--raftGroupPeers")
    del args[i:i + 2]
    args.append("--raftJoinAsLearner")
    if encrypted:
        args.append("--encryption-resync-sidecar")  # the joiner runbook (docs/encryption.md)
    log = open(node.log_path, "a")
    node.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    log.close()


def raft_admin(listener, *args, check=True):
    cmd = [ADMIN, "--timeout-ms=10000", "raft", listener] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.returncode, p.stdout, p.stderr


def add_learner(cluster, group, node):
    def attempt():
        found = leaders(cluster)
        if not found:
            return None
        code, out, err = raft_admin(f"127.0.0.1:{found[group].group_ports[group]}",
                                    "add_learner", node.raft_id,
                                    f"127.0.0.1:{node.group_ports[group]}", check=False)
        if code == 0:
            return True
        if "kNotLeader" in err or "UNAVAILABLE" in err:
            return None
        raise AssertionError(err)
    wait_for(attempt, 30, f"add_learner {node.raft_id} to group {group}")


class Bootstrapped:
    """The bootstrapping voters only, as a cluster view for leaders()/wait_leaders()."""

    def __init__(self, cluster, count=3):
        self.nodes = cluster.nodes[:count]
        self.groups = cluster.groups


class GatewayLoad:
    """SETs unique keys through the gateway until stopped, retrying each write (same value)
    until acknowledged; records every acknowledged write. `phase` is stamped into each value,
    so the raw scan can tell values written after the cutovers."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.phase = "BEFORE"
        self.acked = {}
        self.given_up = []
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        client = self.gateway.client()
        i = 0
        while not self.stop.is_set():
            key, value = f"gw-{i}", f"{self.phase}-{i}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.set(key, value) is True:
                        self.acked[key] = value
                        break
                except (redis.ResponseError, redis.ConnectionError, redis.TimeoutError):
                    self.errors += 1
                    client = self.gateway.client()
                if time.monotonic() > deadline:
                    self.given_up.append(key)
                    break
                time.sleep(0.05)
            i += 1

    def acked_count(self, phase):
        return sum(1 for v in list(self.acked.values()) if v.startswith(phase + "-"))

    def advance(self, phase, at_least=20):
        """Switches the marker, then waits until `at_least` writes of it were acknowledged."""
        self.phase = phase
        wait_for(lambda: self.acked_count(phase) >= at_least, 60, f"{at_least} {phase} writes")


@pytest.fixture
def four(tmp_path, monkeypatch):
    """n1..n3 bootstrap both groups; n4 is known to the Redis map and joins later."""
    monkeypatch.setenv("TESSERA_KEK_BASE64", KEK)
    c = EncryptedCluster(SHARD, str(tmp_path), nodes=4)
    peers = c.group_peers(c.nodes[:3])
    for n in c.nodes[:3]:
        c.start(n, peers=peers)
    c.bootstrap_peers = peers
    wait_leaders(Bootstrapped(c), 20)
    yield c
    c.stop_all(signal.SIGKILL)


def test_rollout_under_gateway_load_with_a_learner(four, tmp_path):
    cluster = four
    n4 = cluster.nodes[3]
    start_joiner(cluster, n4, encrypted=True)
    wait_for(lambda: enc(n4, 1, "status", check=False)[0] == 0, 20, "n4 serving")
    for g in cluster.groups:
        add_learner(cluster, g, n4)
    gateway = Gateway(cluster, str(tmp_path))
    try:
        wait_for(lambda: gateway.client().set("warmup", "1"), 30, "a write through the gateway")
        load = GatewayLoad(gateway)
        load.thread.start()
        load.advance("BEFORE")

        out = at_leader(cluster, 1, "bootstrap")
        assert out.count("reachable=true capable=true") == 4, out  # the learner included
        load.advance("MIDWINDOW")
        at_leader(cluster, 1, "enable-storage-envelope")
        load.advance("STORAGESEALED")
        # Every group at its own leader, found through the cluster overview (CLI --all-groups).
        code, out, err = enc(cluster.nodes[0], 1, "enable-raft-envelope", "--all-groups",
                             check=False)
        assert code == 0, err
        for g in cluster.groups:
            assert f"group {g}:" in out, out
        load.advance("RAFTSEALED")
        at_leader(cluster, 1, "rotate-dek", "--purpose=storage")
        at_leader(cluster, 1, "rotate-dek", "--purpose=raft")
        load.advance("ROTATEDSEALED")

        # Restart every node, the learner included, while the gateway keeps writing.
        for n in cluster.nodes:
            cluster.stop(n)
        for n in cluster.nodes[:3]:
            cluster.start(n, peers=cluster.bootstrap_peers)
        start_joiner(cluster, n4, encrypted=True)
        wait_leaders(cluster, 30)
        load.advance("RESTARTED")
        load.stop.set()
        load.thread.join(timeout=60)
        assert not load.thread.is_alive()
        assert load.given_up == [], load.given_up

        client = gateway.client()
        for key, value in load.acked.items():
            got = wait_for(lambda key=key: client.get(key), 15, f"GET {key}")
            assert got == value, (key, got)
        code, out, err = enc(n4, 1, "status", check=False)
        assert code == 0, err
        assert "storage_envelope_active: true" in out and "keys: 4" in out, out
        code, out, err = enc(cluster.nodes[0], 1, "status", "--all", check=False)
        assert code == 0, err + out
        assert out.count("storage_envelope_active: true") == 4, out
    finally:
        gateway.stop()
    cluster.stop_all()
    for node in cluster.nodes:
        # Values written after both cutovers appear nowhere on disk, on voters and learner.
        for marker in ("RAFTSEALED", "ROTATEDSEALED", "RESTARTED"):
            assert raw_hits(node.data_dir, marker) == [], (node.raft_id, marker)
    assert any(raw_hits(n.data_dir, "BEFORE-") for n in cluster.nodes)


def test_incapable_learner_refuses_the_cutover_naming_it(four):
    cluster = four
    at_leader(Bootstrapped(cluster), 1, "bootstrap")
    n4 = cluster.nodes[3]
    start_joiner(cluster, n4, encrypted=False)
    # Serving (so the refusal says "not capable", not "unreachable") before it joins.
    wait_for(lambda: enc(n4, 2, "status", check=False)[0] == 0, 20, "n4 serving")
    add_learner(Bootstrapped(cluster), 2, n4)  # group 2 only: it never meets a key op
    found = wait_leaders(Bootstrapped(cluster), 15)
    code, _, err = enc(found[1], 1, "enable-storage-envelope", check=False)
    assert code == 1, err
    assert "FAILED_PRECONDITION" in err and "capability check refused cutover" in err, err
    assert f"@127.0.0.1:{n4.group_ports[2]}: not capable" in err, err
    out = enc(found[1], 1, "status")[1]
    assert "storage_envelope_active: false" in out, out
    code, out, _ = enc(found[1], 1, "capability", "--all", check=False)
    assert code == 1 and "capable=false" in out, out
