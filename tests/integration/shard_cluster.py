"""A local cluster of real tessera-shard processes on loopback, for integration tests.

Ports are picked free below the kernel's ephemeral range (free_port); data lives in a
temporary directory; every wait polls a condition against a deadline.
"""
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request

import redis


# Ports for servers come from below the kernel's ephemeral range (32768 and up by default):
# a port the kernel hands out as free there can be taken by any outgoing connection (a peer
# stream, a client) before the server binds it. Each test process walks its own slice, chosen
# by its pid, so test files running in parallel rarely meet.
_PORT_LOW, _PORT_HIGH, _PORT_SLICES = 20000, 32000, 6
_given_ports = set()
_next_port = None


def free_port():
    global _next_port
    slice_size = (_PORT_HIGH - _PORT_LOW) // _PORT_SLICES
    base = _PORT_LOW + (os.getpid() % _PORT_SLICES) * slice_size
    if _next_port is None:
        _next_port = base + random.randrange(slice_size)
    for _ in range(slice_size):
        port = _next_port
        _next_port = base + (_next_port - base + 1) % slice_size
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (redis.RedisError, OSError) as e:  # a node may be starting or gone
            last = e
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Node:
    def __init__(self, raft_id, group_ports, redis_port, metrics_port, data_dir):
        self.raft_id = raft_id
        self.group_ports = group_ports  # gid -> raft port
        self.redis_port = redis_port
        self.metrics_port = metrics_port
        self.data_dir = data_dir
        self.proc = None
        self.log_path = os.path.join(data_dir + ".log")

    @property
    def redis_address(self):
        return f"127.0.0.1:{self.redis_port}"

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5,
                           decode_responses=True)


class ShardCluster:
    TICK_MS = 50
    ELECTION_MS = 500

    def __init__(self, binary, root, nodes=3, groups=(1, 2), extra_args=()):
        self.binary = binary
        self.root = root
        self.groups = list(groups)
        self.extra_args = list(extra_args)
        # Whose Redis addresses --raftRedisMap lists (None: every node's). A node added at
        # runtime is in no one's map: the others learn its address from the node itself.
        self.map_nodes = None
        self.nodes = []
        for i in range(1, nodes + 1):
            ports = {g: free_port() for g in self.groups}
            self.nodes.append(Node(f"n{i}", ports, free_port(), free_port(),
                                   os.path.join(root, f"n{i}")))

    def group_peers(self, nodes=None):
        nodes = nodes or self.nodes
        return ";".join(
            f"{g}=" + ",".join(f"{n.raft_id}@127.0.0.1:{n.group_ports[g]}" for n in nodes)
            for g in self.groups)

    def redis_map(self, nodes=None):
        return ",".join(f"127.0.0.1:{n.group_ports[g]}={n.redis_address}"
                        for n in (nodes or self.nodes) for g in self.groups)

    def args(self, node, peers=None):
        return [
            self.binary,
            "--raftId", node.raft_id,
            "--raftGroups", ",".join(f"{g}=127.0.0.1:{node.group_ports[g]}" for g in self.groups),
            "--raftGroupPeers", peers or self.group_peers(),
            "--raftRedisMap", self.redis_map(self.map_nodes),
            "--dataDir", node.data_dir,
            "--redisAddress", node.redis_address,
            "--tickMs", str(self.TICK_MS),
            "--electionTickMs", str(self.ELECTION_MS),
            "--metricsAddress", f"127.0.0.1:{node.metrics_port}",
        ] + self.extra_args

    def start(self, node, peers=None):
        log = open(node.log_path, "a")
        node.proc = subprocess.Popen(self.args(node, peers), stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start_all(self):
        for n in self.nodes:
            self.start(n)

    def stop(self, node, sig=signal.SIGTERM):
        if node.proc is None:
            return None
        node.proc.send_signal(sig)
        try:
            code = node.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            code = node.proc.wait(timeout=20)
        node.proc = None
        return code

    def stop_all(self, sig=signal.SIGTERM):
        return [self.stop(n, sig) for n in self.nodes]

    def log(self, node):
        with open(node.log_path) as f:
            return f.read()

    def metrics(self, node):
        """The node's /metrics text."""
        url = f"http://127.0.0.1:{node.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
