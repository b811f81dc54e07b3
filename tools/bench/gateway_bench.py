#!/usr/bin/python3
"""redis-benchmark through tessera-gateway (in front of 3 shards x 2 groups), through
twemproxy (nutcracker, in front of one redis-server) and against redis-server directly, in
one run on this machine. Prints a markdown table of rps, p50 and p99 per target and test.

usage: tools/bench/gateway_bench.py [--build build] [--requests 100000] [--clients 50]
"""
import argparse
import csv
import io
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from shard_cluster import ShardCluster, free_port, wait_for  # noqa: E402
import redis  # noqa: E402


def bench(port, requests, clients, pipeline):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set,get", "-n",
         str(requests), "-c", str(clients), "-P", str(pipeline), "-r", "100000", "--csv"],
        capture_output=True, text=True, timeout=600, check=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = (float(row["rps"]), float(row["p50_latency_ms"]),
                             float(row["p99_latency_ms"]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="gateway --threads")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="tessera-bench-")
    procs = []
    cluster = None
    try:
        redis_port = free_port()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL))
        proxy_port = free_port()
        conf = os.path.join(root, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write(f"bench:\n  listen: 127.0.0.1:{proxy_port}\n  hash: fnv1a_64\n"
                    f"  distribution: ketama\n  redis: true\n  servers:\n"
                    f"   - 127.0.0.1:{redis_port}:1\n")
        procs.append(subprocess.Popen(["nutcracker", "-c", conf, "-s", str(free_port())],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cluster = ShardCluster(os.path.join(args.build, "bin", "tessera-shard"), root)
        cluster.start_all()
        gw_port = free_port()
        seeds = ",".join(f"127.0.0.1:{n.group_ports[1]}" for n in cluster.nodes)
        procs.append(subprocess.Popen(
            [os.path.join(args.build, "bin", "tessera-gateway"), "--listen",
             f"127.0.0.1:{gw_port}", "--shards", seeds, "--raftRedisMap", cluster.redis_map(),
             "--threads", str(args.threads)],
            stdout=open(os.path.join(root, "gateway.log"), "w"), stderr=subprocess.STDOUT))
        for port in (redis_port, proxy_port, gw_port):
            c = redis.Redis(port=port, socket_timeout=5)
            wait_for(lambda: c.set("warm", "1"), 30, f"port {port} ready")
        targets = [("redis-server", redis_port), ("twemproxy", proxy_port),
                   ("tessera-gateway", gw_port)]
        results = {}
        for pipeline in (1, 16):
            for name, port in targets:
                results[(name, pipeline)] = bench(port, args.requests, args.clients, pipeline)
        print(f"redis-benchmark -n {args.requests} -c {args.clients} -r 100000; "
              f"gateway --threads {args.threads}; {os.cpu_count()} cores\n")
        print("| target | -P | SET rps | SET p50 ms | SET p99 ms | GET rps | GET p50 ms | "
              "GET p99 ms |")
        print("|---|---|---|---|---|---|---|---|")
        for (name, pipeline), rows in results.items():
            s, g = rows["SET"], rows["GET"]
            print(f"| {name} | {pipeline} | {s[0]:.0f} | {s[1]:.3f} | {s[2]:.3f} | {g[0]:.0f} | "
                  f"{g[1]:.3f} | {g[2]:.3f} |")
        for pipeline in (1, 16):
            gw = results[("tessera-gateway", pipeline)]["GET"][0]
            tw = results[("twemproxy", pipeline)]["GET"][0]
            print(f"\nGET gateway/twemproxy ratio at -P {pipeline}: {gw / tw:.2f}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if cluster is not None:
            cluster.stop_all(signal.SIGKILL)


if __name__ == "__main__":
    main()
