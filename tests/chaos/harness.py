"""Chaos harness: real tessera-shard processes, each in its own network namespace on a private
bridge, a tessera-gateway in the hub namespace, nemeses injecting faults while many clients
record a history through the gateway, and the checkers on that history.

Run one scenario by hand (root):
  /usr/bin/python3 tests/chaos/harness.py --scenario partition --seconds 60
A failing run keeps its directory (history.json, nemesis.log, every process log) and prints
  replay: /usr/bin/python3 tests/chaos/checker.py <dir>/history.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402
import redis  # noqa: E402  (Debian python3-redis)

log = logging.getLogger("chaos")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GROUPS = (1, 2)
REDIS_PORT = 6379
METRICS_PORT = 9100
GATEWAY_PORT = 6380
ADMIN_TOKEN = "chaos-admin-token"


def binary(name: str) -> str:
    """tessera-<name>: $TESSERA_<NAME>_BIN, else next to $TESSERA_SHARD_BIN, else build/bin."""
    env = os.environ.get(f"TESSERA_{name.upper()}_BIN")
    if env:
        return env
    shard = os.environ.get("TESSERA_SHARD_BIN")
    if shard:
        return os.path.join(os.path.dirname(shard), f"tessera-{name}")
    return os.path.join(REPO, "build", "bin", f"tessera-{name}")


class Deadline:
    """The run's total time limit: every wait is capped by what remains of it."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, timeout: float) -> float:
        left = self.left()
        if left <= 0:
            raise TimeoutError("the chaos run's total deadline passed")
        return min(timeout, left)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             deadline: Deadline | None = None, interval: float = 0.1) -> Any:
    if deadline is not None:
        timeout = deadline.cap(timeout)
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - a node may be starting, paused or gone
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what} (last: {last!r})")


@dataclass
class Node:
    slot: int
    raft_id: str
    data_dir: str
    log_path: str
    proc: subprocess.Popen | None = None
    paused: bool = False
    learner_join: bool = False  # started with --raftJoinAsLearner
    incarnation: int = 0

    @property
    def ip(self) -> str:
        return netns.Network.address(self.slot)

    def listener(self, group: int) -> str:
        return f"{self.ip}:{7000 + group}"

    @property
    def redis_address(self) -> str:
        return f"{self.ip}:{REDIS_PORT}"


@dataclass
class AdminResult:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def json(self) -> Any:
        return json.loads(self.out)


class Cluster:
    """3 voters (slots 1..3) × 2 groups, spare slots for learners, a gateway in the hub."""

    def __init__(self, root: str, net: netns.Network, deadline: Deadline, voters: int = 3,
                 snapshot_count: int = 2000, log_retain: int = 500):
        self.root = root
        self.net = net
        self.deadline = deadline
        self.shard_bin = binary("shard")
        self.gateway_bin = binary("gateway")
        self.admin_bin = binary("admin")
        for b in (self.shard_bin, self.gateway_bin, self.admin_bin):
            if not os.access(b, os.X_OK):
                raise FileNotFoundError(f"binary not found: {b} (build first)")
        self.snapshot_count = snapshot_count
        self.log_retain = log_retain
        self.token_file = os.path.join(root, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        os.chmod(self.token_file, 0o600)
        self.nodes: dict[int, Node] = {}  # slot -> node living there now
        self.retired: list[Node] = []
        self.lock = threading.RLock()
        for s in range(1, voters + 1):
            self.nodes[s] = self._new_node(s, f"n{s}")
        self.initial_peers = ";".join(
            f"{g}=" + ",".join(f"{n.raft_id}@{n.listener(g)}" for n in self.nodes.values())
            for g in GROUPS)
        self.gateway: subprocess.Popen | None = None
        self.gateway_log = os.path.join(root, "gateway.log")
        self.gateway_restarts = 0

    def _new_node(self, slot: int, raft_id: str) -> Node:
        return Node(slot, raft_id, os.path.join(self.root, raft_id),
                    os.path.join(self.root, f"{raft_id}.log"))

    def redis_map(self) -> str:
        # Every slot, spare ones too: a node joining later must already be in every map.
        return ",".join(f"{netns.Network.address(s)}:{7000 + g}="
                        f"{netns.Network.address(s)}:{REDIS_PORT}"
                        for s in self.net.slots for g in GROUPS)

    # ---- shards ----

    def shard_args(self, node: Node) -> list[str]:
        args = [
            self.shard_bin,
            "--raftId", node.raft_id,
            "--raftGroups", ",".join(f"{g}={node.listener(g)}" for g in GROUPS),
            "--raftRedisMap", self.redis_map(),
            "--dataDir", node.data_dir,
            "--redisAddress", node.redis_address,
            "--metricsAddress", f"{node.ip}:{METRICS_PORT}",
            "--adminTokenFile", self.token_file,
            "--tickMs", "50",
            "--electionTickMs", "1000",
            "--raftSnapshotCount", str(self.snapshot_count),
            "--raftLogRetainEntries", str(self.log_retain),
        ]
        if node.learner_join:
            args.append("--raftJoinAsLearner")
        else:
            args += ["--raftGroupPeers", self.initial_peers]
        return args

    def start(self, node: Node) -> None:
        with self.lock:
            if node.proc is not None and node.proc.poll() is None:
                return
            node.incarnation += 1
            with open(node.log_path, "a") as logf:
                logf.write(f"\n=== chaos: start #{node.incarnation} at {time.time():.3f} ===\n")
                logf.flush()
                node.proc = subprocess.Popen(
                    self.net.exec_args(self.net.ns(node.slot), self.shard_args(node)),
                    stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
            node.paused = False

    def kill(self, node: Node, sig: int = signal.SIGKILL) -> int | None:
        with self.lock:
            p = node.proc
            if p is None:
                return None
            if node.paused:
                p.send_signal(signal.SIGCONT)
                node.paused = False
            try:
                p.send_signal(sig)
                code = p.wait(timeout=20 if sig != signal.SIGKILL else 10)
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait(timeout=10)
            node.proc = None
            return code

    def pause(self, node: Node) -> bool:
        with self.lock:
            if node.proc is None or node.proc.poll() is not None:
                return False
            node.proc.send_signal(signal.SIGSTOP)
            node.paused = True
            return True

    def resume(self, node: Node) -> None:
        with self.lock:
            if node.proc is not None and node.paused:
                node.proc.send_signal(signal.SIGCONT)
            node.paused = False

    def running(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]

    def check_alive(self) -> list[str]:
        """Nodes that exited on their own (a crash), with their exit codes. Under the lock: a
        node being killed on purpose (kill() reaps it, then clears proc) is not a crash."""
        dead = []
        with self.lock:
            for n in self.nodes.values():
                if n.proc is not None and n.proc.poll() is not None:
                    dead.append(f"{n.raft_id} exited with {n.proc.returncode}")
        return dead

    # ---- gateway ----

    def start_gateway(self) -> None:
        seeds = ",".join(n.listener(GROUPS[0]) for n in self.nodes.values())
        args = [self.gateway_bin, "--listen", f"127.0.0.1:{GATEWAY_PORT}", "--shards", seeds,
                "--raftRedisMap", self.redis_map(), "--threads", "2",
                "--requestTimeoutMs", "4000", "--retryBudgetMs", "3000",
                "--metricsAddress", f"127.0.0.1:{GATEWAY_PORT + 1}"]
        with open(self.gateway_log, "a") as logf:
            self.gateway = subprocess.Popen(self.net.exec_args(self.net.hub, args), stdout=logf,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def stop_gateway(self) -> int | None:
        if self.gateway is None:
            return None
        self.gateway.send_signal(signal.SIGTERM)
        try:
            code = self.gateway.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.gateway.kill()
            code = self.gateway.wait(timeout=10)
        self.gateway = None
        return code

    def client(self, timeout: float = 6.0):
        return redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=HubConnection, netns_name=self.net.hub, host="127.0.0.1",
            port=GATEWAY_PORT, socket_timeout=timeout, socket_connect_timeout=timeout,
            decode_responses=True, max_connections=4))

    # ---- admin ----

    def admin(self, listener: str, *args: str, timeout_ms: int = 5000,
              json_out: bool = False) -> AdminResult:
        argv = [self.admin_bin, f"--token-file={self.token_file}", f"--timeout-ms={timeout_ms}"]
        if json_out:
            argv.append("--json")
        argv += ["raft", listener] + list(args)
        try:
            p = subprocess.run(self.net.exec_args(self.net.hub, argv), capture_output=True,
                               text=True, timeout=timeout_ms / 1000 + 10)
        except subprocess.TimeoutExpired:
            return AdminResult(3, "", "tessera-admin did not return")
        return AdminResult(p.returncode, p.stdout, p.stderr)

    def leader(self, group: int) -> Node | None:
        """The node leading `group` per any reachable running member, or None."""
        for n in list(self.nodes.values()):
            if n.proc is None or n.paused:
                continue
            r = self.admin(n.listener(group), "leader", timeout_ms=1500, json_out=True)
            if not r.ok:
                continue
            try:
                address = r.json().get("leader_address", "")
            except ValueError:
                continue
            for m in self.nodes.values():
                if m.listener(group) == address:
                    return m
        return None

    def status(self, node: Node, group: int) -> dict | None:
        r = self.admin(node.listener(group), "status", timeout_ms=1500, json_out=True)
        if not r.ok:
            return None
        try:
            return r.json()
        except ValueError:
            return None

    def config(self, group: int) -> dict | None:
        leader = self.leader(group)
        if leader is None:
            return None
        r = self.admin(leader.listener(group), "config", timeout_ms=2000, json_out=True)
        return r.json() if r.ok else None

    def wait_leaders(self, timeout: float = 30) -> dict[int, Node]:
        return wait_for(lambda: (lambda ls: ls if all(ls.values()) else None)(
            {g: self.leader(g) for g in GROUPS}), timeout, "a leader in every group",
            self.deadline, interval=0.2)

    def wait_gateway_serving(self, timeout: float = 30) -> None:
        c = self.client(timeout=3)
        probe = f"chaos:probe:{random.getrandbits(32)}"
        wait_for(lambda: c.set(probe, "1"), timeout, "a write through the gateway",
                 self.deadline, interval=0.2)

    def start_all(self) -> None:
        for n in self.nodes.values():
            self.start(n)
        self.wait_leaders(40)
        self.start_gateway()
        self.wait_gateway_serving(40)

    def stop_all(self) -> None:
        try:
            self.stop_gateway()
        except Exception as e:  # noqa: BLE001 - teardown continues whatever happens
            log.warning("gateway stop: %s", e)
        for n in list(self.nodes.values()):
            try:
                self.kill(n, signal.SIGKILL)
            except Exception as e:  # noqa: BLE001
                log.warning("kill %s: %s", n.raft_id, e)

    def log_paths(self) -> list[str]:
        paths = [self.gateway_log] + [n.log_path for n in self.nodes.values()]
        paths += [n.log_path for n in self.retired]
        return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


class HubConnection(redis.Connection):
    """A redis-py connection whose socket is created inside the hub namespace, so the test
    process reaches the gateway's 127.0.0.1 listener there without any route from the host."""

    def __init__(self, netns_name: str = "", **kw):
        self.netns_name = netns_name
        super().__init__(**kw)

    def _connect(self):
        with netns.in_namespace(self.netns_name):
            return super()._connect()


# ---- scenarios ----

SCENARIOS: dict[str, dict] = {
    "calm": {"faults": [], "membership": False},  # no faults: the negative controls' baseline
    "kill": {"faults": ["kill", "pause"], "membership": False},
    "partition": {"faults": ["partition-leader", "partition-halves", "partition-bridge",
                             "partition-oneway", "partition-link", "loss", "slow"],
                  "membership": False},
    "membership": {"faults": ["kill", "pause", "partition-halves", "partition-leader"],
                   "membership": True},
    "all": {"faults": None, "membership": True},  # None: every fault in nemesis.FAULTS
}


@dataclass
class Result:
    scenario: str
    ok: bool
    operations: int = 0
    checked: int = 0
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    directory: str = ""
    replay: str = ""
    skipped_faults: dict[str, str] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        status = "ok" if self.ok else "FAILED"
        return (f"chaos {self.scenario}: {status}: {self.operations} operations "
                f"({self.summary}); events {self.events}; {self.seconds:.0f}s"
                + (f"; problems: {self.problems[:5]}" if self.problems else ""))


class _Terminated(BaseException):
    pass


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Terminated(f"signal {signum}")


def heal_all(cluster: Cluster, deadline: Deadline) -> None:
    """Undoes every fault: network healed, paused processes continued, dead members restarted,
    the gateway restarted if it died; waits for leaders and a write through the gateway."""
    cluster.net.heal()
    with cluster.lock:
        nodes = list(cluster.nodes.values())
    for n in nodes:
        cluster.resume(n)
        if n.proc is None or n.proc.poll() is not None:
            n.proc = None
            cluster.start(n)
    if cluster.gateway is None or cluster.gateway.poll() is not None:
        cluster.gateway = None
        cluster.start_gateway()
    cluster.wait_leaders(60)
    cluster.wait_gateway_serving(60)


def run_scenario(scenario: str, seconds: float, clients: int, seed: int | None = None,
                 keep: bool = False, out_dir: str | None = None, shards_slots: int = 5,
                 key_window: float = 10.0, bug: str | None = None) -> Result:
    import checker
    from nemesis import FAULTS, Events, FaultNemesis, MembershipNemesis
    from workload import Recorder, Workload

    spec = SCENARIOS[scenario]
    seed = seed if seed is not None else random.randrange(1 << 30)
    started = time.monotonic()
    deadline = Deadline(seconds + 300)
    netns.cleanup_stale()
    base = out_dir or os.environ.get("TESSERA_CHAOS_DIR") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix=f"tessera-chaos-{scenario}-", dir=base)
    result = Result(scenario, False, directory=root)
    problems = result.problems
    handler_installed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if handler_installed else None
    net = netns.Network(shards_slots)
    cluster: Cluster | None = None
    rec = Recorder()
    events = Events(rec)
    workload = fault = member = None
    final: dict = {}
    log.info("chaos %s: seed %d, %ss, %d clients, dir %s", scenario, seed, seconds, clients, root)
    try:
        net.setup()
        cluster = Cluster(root, net, deadline)
        cluster.start_all()
        leaders = [(g, n.raft_id) for g, n in cluster.wait_leaders().items()]
        events("cluster-up", f"leaders {leaders}; firewall={net.firewall} netem={net.netem} "
                             f"tbf={net.tbf}")
        # More clients, more keys: each key's history (and search) stays about the same size.
        workload = Workload(lambda: cluster.client(), rec, clients, seed, key_window=key_window,
                            keys_per_family=max(4, clients // 3), bug=bug)
        workload.start()
        faults = list(FAULTS) if spec["faults"] is None else spec["faults"]
        fault = FaultNemesis(cluster, events, faults, seed)
        result.skipped_faults = dict(fault.skipped)
        fault.start()
        if spec["membership"]:
            member = MembershipNemesis(cluster, events, seed)
            member.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            deadline.cap(1)
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            for crash in cluster.check_alive():
                problems.append(f"crash: {crash}")
                events("crash", crash)
                with cluster.lock:
                    for n in cluster.nodes.values():
                        if n.proc is not None and n.proc.poll() is not None:
                            n.proc = None  # reported once; heal restarts it
        fault.finish(30)
        if member is not None:
            member.finish(90)
        if cluster.gateway is not None and cluster.gateway.poll() is not None:
            problems.append(f"crash: gateway exited with {cluster.gateway.returncode}")
        events("heal-all")
        heal_all(cluster, deadline)
        events("healed")
        time.sleep(3)  # clients run a little against the healed cluster
        stuck = workload.finish(30)
        if stuck:
            problems.append(f"client threads did not stop: {stuck}")
        final, missing = workload.final_reads(cluster.client(timeout=5),
                                              timeout=deadline.cap(60))
        if missing:
            problems.append(f"unavailable after heal: {len(missing)} keys unreadable, e.g. "
                            f"{missing[:3]}")
    except _Terminated as e:
        problems.append(f"terminated by {e}")
    except TimeoutError as e:
        problems.append(f"timeout: {e}")
    except Exception as e:  # noqa: BLE001 - recorded, the run is failed and its dir kept
        log.exception("chaos run")
        problems.append(f"harness error: {type(e).__name__}: {e}")
    finally:
        for part in (workload, fault, member):
            if part is not None:
                try:
                    part.finish(10)
                except Exception:  # noqa: BLE001
                    pass
        if cluster is not None:
            cluster.stop_all()
        net.teardown()
        if handler_installed:
            signal.signal(signal.SIGTERM, previous)

    # ---- check ----
    if workload is not None:
        problems += [f"anomaly: {a}" for a in workload.anomalies]
        problems += [f"client error: {e}" for e in workload.errors[:5]]
    history_path = os.path.join(root, "history.json")
    doc = {"meta": {"scenario": scenario, "seed": seed, "seconds": seconds, "clients": clients,
                    "bug": bug,
                    "firewall": net.firewall, "netem": net.netem, "tbf": net.tbf,
                    "skipped_faults": result.skipped_faults},
           "history": rec.ops, "final": final, "nemesis": events.items}
    with open(history_path, "w") as f:
        json.dump(doc, f)
    with open(os.path.join(root, "nemesis.log"), "w") as f:
        for e in events.items:
            f.write(f"{e['time']:10.3f} {e['action']} {e['detail']}\n")
    ops = [checker.Op.from_json(d) for d in rec.ops]
    verdicts = checker.check_history(ops, final or None) if ops else []
    bad = [v for v in verdicts if not v.ok]
    problems += [str(v) for v in bad]
    result.operations = len(ops)
    result.checked = len(verdicts)
    result.summary = rec.summary()
    result.events = {a: events.count(a) for a in ("kill", "pause", "partition", "loss", "slow",
                                                  "add_learner", "promote_learner",
                                                  "remove_server", "transfer_leadership",
                                                  "member-wipe", "membership-error")
                     if events.count(a)}
    result.seconds = time.monotonic() - started
    if len(ops) == 0:
        problems.append("no operations recorded")
    result.ok = not problems
    result.replay = f"/usr/bin/python3 {os.path.join(HERE, 'checker.py')} {history_path}"
    with open(os.path.join(root, "result.txt"), "w") as f:
        f.write(result.line() + "\n")
        for p in problems:
            f.write(p + "\n")
    if result.ok and not keep:
        shutil.rmtree(root, ignore_errors=True)
        result.directory = ""
    else:
        print(f"chaos {scenario}: history, nemesis.log and logs kept in {root}")
        print(f"replay: {result.replay}")
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="kill")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", action="store_true", help="keep the run directory on success")
    parser.add_argument("--out-dir", help="where run directories go (default $TMPDIR)")
    parser.add_argument("--bug", choices=["stale-read", "lost-ack"],
                        help="plant a client-side safety bug (negative control: must FAIL)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    ok, why = netns.available()
    if not ok:
        print(f"chaos: skipped: {why}")
        return 0
    r = run_scenario(args.scenario, args.seconds, args.clients, args.seed, args.keep,
                     args.out_dir, bug=args.bug)
    print(r.line())
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
