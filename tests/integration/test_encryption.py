"""Integration: encryption at rest on a 3-node x 2-group cluster of real tessera-shard
processes, driven only through tessera-admin (docs/encryption.md runbook): bootstrap, storage
cutover, raft cutover per group, DEK rotations, restart of every node; every acknowledged
value reads back, and a raw scan of every data directory (RocksDB files, WAL, snapshots)
finds none of the values written after the cutovers."""
import os
import subprocess

import pytest

from shard_cluster import ShardCluster, wait_for
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
