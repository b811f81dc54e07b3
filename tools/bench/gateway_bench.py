#!/usr/bin/python3
"""redis-benchmark through tessera-gateway and twemproxy (nutcracker), side by side, in one
run on this machine. Prints markdown tables of rps, p50 and p99 per target and test, and the
ratios docs/benchmarks.md reports.

Two setups:
  cluster   the issue's comparison: the gateway in front of 3 shards x 2 groups, twemproxy in
            front of one redis-server, and redis-server directly.
  isolated  each proxy's own cost: one single-node, single-group tessera-shard measured
            directly, through the gateway and through twemproxy; one redis-server directly,
            through twemproxy and through the gateway (its --raftRedisMap sends the shard's
            group to redis-server). Same backend on both sides of each ratio.

usage: tools/bench/gateway_bench.py [--setup cluster|isolated|both] [--build build]
       [--requests 100000] [--clients 50] [--threads 1] [--rounds 3] [--perf SECONDS]
       [--baseline-gateway PATH]
--perf records `perf record -g` of the gateway during the isolated -P 16 GET run and prints
the top of `perf report` (needs perf and permission to profile).
"""
import argparse
import csv
import io
import os
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from shard_cluster import ShardCluster, free_port, wait_for  # noqa: E402
import redis  # noqa: E402


def bench(port, requests, clients, pipeline, tests="set,get"):
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests, "-n",
         str(requests), "-c", str(clients), "-P", str(pipeline), "-r", "100000", "--csv"],
        capture_output=True, text=True, timeout=900, check=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = (float(row["rps"]), float(row["p50_latency_ms"]),
                             float(row["p99_latency_ms"]))
    return rows


class SingleNodeCluster(ShardCluster):
    """One shard bootstrapping its groups as single voters (--raftBootstrap alone)."""

    def args(self, node, peers=None):
        args = super().args(node, peers)
        at = args.index("--raftGroupPeers")
        return args[:at] + ["--raftBootstrap"] + args[at + 2:]


class Procs:
    """Every process the run started, stopped at the end."""

    def __init__(self, root):
        self.root = root
        self.procs = []
        self.clusters = []

    def redis_server(self):
        port = free_port()
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL))
        return port

    def nutcracker(self, backend_port, name):
        port = free_port()
        conf = os.path.join(self.root, f"nutcracker-{name}.yml")
        with open(conf, "w") as f:
            f.write(f"bench:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n"
                    f"  distribution: ketama\n  redis: true\n  servers:\n"
                    f"   - 127.0.0.1:{backend_port}:1\n")
        self.procs.append(subprocess.Popen(["nutcracker", "-c", conf, "-s", str(free_port())],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        return port

    def cluster(self, build, nodes, groups):
        kind = SingleNodeCluster if nodes == 1 else ShardCluster
        c = kind(os.path.join(build, "bin", "tessera-shard"), tempfile.mkdtemp(dir=self.root),
                 nodes=nodes, groups=groups)
        c.start_all()
        self.clusters.append(c)
        return c

    def gateway(self, build, cluster, threads, binary=None, redis_map=None):
        port = free_port()
        seeds = ",".join(f"127.0.0.1:{n.group_ports[cluster.groups[0]]}" for n in cluster.nodes)
        p = subprocess.Popen(
            [binary or os.path.join(build, "bin", "tessera-gateway"), "--listen",
             f"127.0.0.1:{port}", "--shards", seeds, "--raftRedisMap",
             redis_map or cluster.redis_map(), "--threads", str(threads)],
            stdout=open(os.path.join(self.root, f"gateway-{port}.log"), "w"),
            stderr=subprocess.STDOUT)
        self.procs.append(p)
        return port, p

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for c in self.clusters:
            c.stop_all(signal.SIGKILL)


def ready(port):
    c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    wait_for(lambda: c.set("warm", "1"), 30, f"port {port} ready")


def measure(targets, args):
    """Every target at -P 1 and 16, interleaved over --rounds rounds (the machine's load drifts
    between runs); the median round per target and test."""
    runs = {}
    for _ in range(args.rounds):
        for pipeline in (1, 16):
            for name, port in targets:
                runs.setdefault((name, pipeline), []).append(
                    bench(port, args.requests, args.clients, pipeline))
    results = {}
    for key, rounds in runs.items():
        results[key] = {test: sorted(r[test] for r in rounds)[len(rounds) // 2]
                        for test in rounds[0]}
    return results


def table(results):
    print("| target | -P | SET rps | SET p50 ms | SET p99 ms | GET rps | GET p50 ms | "
          "GET p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, pipeline), rows in results.items():
        s, g = rows["SET"], rows["GET"]
        print(f"| {name} | {pipeline} | {s[0]:.0f} | {s[1]:.3f} | {s[2]:.3f} | {g[0]:.0f} | "
              f"{g[1]:.3f} | {g[2]:.3f} |")


def ratio(results, a, b, pipeline, test="GET"):
    return results[(a, pipeline)][test][0] / results[(b, pipeline)][test][0]


def run_cluster(args, procs):
    redis_port = procs.redis_server()
    proxy_port = procs.nutcracker(redis_port, "redis")
    cluster = procs.cluster(args.build, 3, (1, 2))
    gw_port, _ = procs.gateway(args.build, cluster, args.threads)
    for port in (redis_port, proxy_port, gw_port):
        ready(port)
    targets = [("redis-server", redis_port), ("twemproxy", proxy_port),
               ("tessera-gateway", gw_port)]
    results = measure(targets, args)
    print(f"\n### cluster: redis-benchmark -n {args.requests} -c {args.clients} -r 100000; "
          f"median of {args.rounds} interleaved rounds; gateway --threads {args.threads} in front of 3 shards x 2 groups; "
          f"{os.cpu_count()} cores\n")
    table(results)
    for pipeline in (1, 16):
        print(f"\nGET gateway/twemproxy at -P {pipeline}: "
              f"{ratio(results, 'tessera-gateway', 'twemproxy', pipeline):.2f}")


def run_isolated(args, procs):
    redis_port = procs.redis_server()
    redis_proxy = procs.nutcracker(redis_port, "redis")
    shard = procs.cluster(args.build, 1, (1,))
    shard_port = shard.nodes[0].redis_port
    shard_proxy = procs.nutcracker(shard_port, "shard")
    gw_port, gw = procs.gateway(args.build, shard, args.threads)
    # The gateway's own --raftRedisMap wins over the topology's addresses: pointing the shard's
    # raft listener at redis-server makes the gateway forward to it (the topology still comes
    # from the shard), the same backend twemproxy has.
    node = shard.nodes[0]
    gw_redis_port, _ = procs.gateway(
        args.build, shard, args.threads,
        redis_map=f"127.0.0.1:{node.group_ports[1]}=127.0.0.1:{redis_port}")
    for port in (redis_port, redis_proxy, shard_port, shard_proxy, gw_port, gw_redis_port):
        ready(port)
    targets = [("redis-server", redis_port), ("twemproxy -> redis-server", redis_proxy),
               ("tessera-gateway -> redis-server", gw_redis_port),
               ("tessera-shard", shard_port), ("twemproxy -> tessera-shard", shard_proxy),
               ("tessera-gateway -> tessera-shard", gw_port)]
    if args.baseline_gateway:
        base_port, _ = procs.gateway(args.build, shard, args.threads, args.baseline_gateway)
        ready(base_port)
        targets.append(("baseline gateway -> tessera-shard", base_port))
    results = measure(targets, args)
    print(f"\n### isolated: redis-benchmark -n {args.requests} -c {args.clients} -r 100000; "
          f"median of {args.rounds} interleaved rounds; gateway --threads {args.threads}; one single-group tessera-shard; "
          f"{os.cpu_count()} cores\n")
    table(results)
    print()
    for pipeline in (1, 16):
        for test in ("GET", "SET"):
            print(f"-P {pipeline} {test}: gateway/shard-direct "
                  f"{ratio(results, 'tessera-gateway -> tessera-shard', 'tessera-shard', pipeline, test):.2f}, "
                  f"twemproxy/shard-direct "
                  f"{ratio(results, 'twemproxy -> tessera-shard', 'tessera-shard', pipeline, test):.2f}, "
                  f"twemproxy/redis-direct "
                  f"{ratio(results, 'twemproxy -> redis-server', 'redis-server', pipeline, test):.2f}, "
                  f"gateway/twemproxy (same shard) "
                  f"{ratio(results, 'tessera-gateway -> tessera-shard', 'twemproxy -> tessera-shard', pipeline, test):.2f}, "
                  f"gateway/redis-direct "
                  f"{ratio(results, 'tessera-gateway -> redis-server', 'redis-server', pipeline, test):.2f}, "
                  f"gateway/twemproxy (same redis-server) "
                  f"{ratio(results, 'tessera-gateway -> redis-server', 'twemproxy -> redis-server', pipeline, test):.2f}")
    if args.perf:
        data = os.path.join(procs.root, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-g", "-o", data, "-p", str(gw.pid), "--",
                                "sleep", str(args.perf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        bench(gw_port, args.requests * 4, args.clients, 16, tests="get")
        rec.wait(timeout=args.perf + 60)
        report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                                 "--percent-limit", "1.5", "-g", "none"],
                                capture_output=True, text=True, timeout=300).stdout
        print("\n### perf report (gateway, -P 16 GET)\n")
        print("\n".join(line for line in report.splitlines() if line and line[0] != "#"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setup", choices=("cluster", "isolated", "both"), default="both")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="gateway --threads")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown")
    ap.add_argument("--perf", type=int, default=0, help="seconds of perf record (isolated)")
    ap.add_argument("--baseline-gateway", help="another tessera-gateway binary to compare "
                    "(isolated setup), e.g. one built from an earlier commit")
    args = ap.parse_args()
    procs = Procs(tempfile.mkdtemp(prefix="tessera-bench-"))
    try:
        if args.setup in ("isolated", "both"):
            run_isolated(args, procs)
        if args.setup in ("cluster", "both"):
            run_cluster(args, procs)
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
