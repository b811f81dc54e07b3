#!/usr/bin/python3
"""Throughput cost of encryption at rest, measured in one run: two local clusters (3 shards x 2
groups, each behind a tessera-gateway), one plain and one with every phase on (storage and raft
envelopes), driven alternately by redis-benchmark; medians of the rounds and their ratio.
redis-benchmark's fixed key makes every GET hit an existing (so, encrypted: decrypted) value.

usage: scripts/encryption_throughput.py [--bin build/bin] [--rounds 3] [--requests 20000]
                                        [--clients 50]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

KEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # a throwaway key for the measurement


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=50)
    args = ap.parse_args()
    shard = os.path.abspath(os.path.join(args.bin, "tessera-shard"))
    os.environ["TESSERA_SHARD_BIN"] = shard
    os.environ["TESSERA_GATEWAY_BIN"] = os.path.abspath(os.path.join(args.bin, "tessera-gateway"))
    os.environ["TESSERA_ADMIN_BIN"] = os.path.abspath(os.path.join(args.bin, "tessera-admin"))
    os.environ["TESSERA_KEK_BASE64"] = KEK
    # Imported after the environment is set: the helpers read their binaries from it.
    from shard_cluster import ShardCluster, wait_for
    from test_encryption import EncryptedCluster, at_leader, enc
    from test_gateway import Gateway
    from test_shard_cluster import wait_leaders

    class Measured(EncryptedCluster):
        """The encrypted cluster without the test's small snapshot interval."""

        def args(self, node, peers=None):
            return ShardCluster.args(self, node, peers) + [
                "--encryption-enabled", "--encryptionSidecarPath",
                os.path.join(node.data_dir, "encryption", "keys.json")]

    root = tempfile.mkdtemp(prefix="tessera-enc-bench-")
    plain = ShardCluster(shard, os.path.join(root, "plain"))
    sealed = Measured(shard, os.path.join(root, "sealed"))
    gateways = []
    try:
        for c in (plain, sealed):
            os.makedirs(c.root, exist_ok=True)
            c.start_all()
            wait_leaders(c, 30)
        at_leader(sealed, 1, "bootstrap")
        at_leader(sealed, 1, "enable-storage-envelope")
        code, out, err = enc(sealed.nodes[0], 1, "enable-raft-envelope", "--all-groups",
                             check=False)
        assert code == 0, err
        for c in (plain, sealed):
            g = Gateway(c, c.root)
            gateways.append(g)
            wait_for(lambda g=g: g.client().set("warmup", "1"), 30, "gateway warm-up")
        results = {"plain": {"SET": [], "GET": []}, "sealed": {"SET": [], "GET": []}}
        for r in range(args.rounds):
            for name, g in (("plain", gateways[0]), ("sealed", gateways[1])):
                p = subprocess.run(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(g.port), "-t", "set,get",
                     "-n", str(args.requests), "-c", str(args.clients), "-d", "100", "-q"],
                    capture_output=True, text=True, timeout=600)
                for line in p.stdout.replace("\r", "\n").splitlines():
                    m = re.match(r"(SET|GET): ([\d.]+) requests per second", line.strip())
                    if m:
                        results[name][m.group(1)].append(float(m.group(2)))
                print(f"round {r + 1} {name}: "
                      f"{ {k: v[-1] if v else None for k, v in results[name].items()} }",
                      flush=True)
        for op in ("SET", "GET"):
            p = statistics.median(results["plain"][op])
            s = statistics.median(results["sealed"][op])
            print(f"{op}: plain {p:.0f} req/s, encrypted {s:.0f} req/s, ratio {s / p:.2f}")
    finally:
        for g in gateways:
            g.stop()
        for c in (plain, sealed):
            c.stop_all()


if __name__ == "__main__":
    main()
