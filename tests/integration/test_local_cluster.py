"""tools/local/tessera-local, as a new user drives it: `up` on free ports in a temporary
directory, redis-cli through the gateway, `status`, promtool on live /metrics, a crash and a
restart of a group leader, and `down` leaving nothing running."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from shard_cluster import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "local", "tessera-local")
BIN_DIR = os.path.dirname(os.path.abspath(
    os.environ.get("TESSERA_SHARD_BIN", os.path.join(REPO, "build", "bin", "tessera-shard"))))
PORTS_PER_CLUSTER = 40  # tessera-local --port-base B uses B..B+39


def port_free(port, reuse=False):
    """True when 127.0.0.1:port can be bound; with `reuse`, when nothing listens on it (connections
    lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base():
    """A base B with B..B+39 all free on 127.0.0.1 (outside the ephemeral range)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000, 50)
        if all(port_free(p) for p in range(base, base + PORTS_PER_CLUSTER)):
            return base
    raise AssertionError("no free block of 40 ports")


class Local:
    """Runs tessera-local against one directory."""

    def __init__(self, root):
        self.dir = root
        self.env = dict(os.environ, TESSERA_BIN_DIR=BIN_DIR, TESSERA_LOCAL_TIMEOUT="60")
        for k in ("TESSERA_LOCAL_DIR", "TESSERA_LOCAL_PORT_BASE", "TESSERA_GATEWAY_PORT"):
            self.env.pop(k, None)

    def run(self, *args, check=True, timeout=120):
        proc = subprocess.run(["/usr/bin/python3", TOOL, "--dir", self.dir, *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"tessera-local {args}: {proc.stdout}{proc.stderr}"
        return proc

    def status(self):
        return json.loads(self.run("status", "--json").stdout)

    def pids(self):
        return {p["node"]: p["pid"] for p in self.status()["processes"]}


def running(pid):
    """True while pid is a live process (a zombie waiting for its reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def redis_cli(port, *args):
    proc = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def promtool_check(text):
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def groups_by_id(status):
    return {g["group"]: g for g in status["groups"]}


@pytest.fixture
def local(tmp_path):
    lc = Local(str(tmp_path / "local"))
    yield lc
    # Whatever a failed test left: stop it through the tool, then by the recorded pids.
    lc.run("down", "--stop-timeout", "5", check=False)
    run_dir = os.path.join(lc.dir, "run")
    if os.path.isdir(run_dir):
        for name in os.listdir(run_dir):
            if name.endswith(".pid"):
                with open(os.path.join(run_dir, name)) as f:
                    pid = int(f.read())
                if running(pid):
                    os.kill(pid, signal.SIGKILL)


def test_up_status_failover_down(local):
    base = free_port_base()
    gateway_port = base

    # A port taken by someone else: clear error naming the way out, nothing started.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", gateway_port))
        squatter.listen(1)
        proc = local.run("--port-base", str(base), "up", check=False)
        assert proc.returncode == 1
        assert "--gateway-port" in proc.stderr and f"127.0.0.1:{gateway_port}" in proc.stderr
    assert not any(local.pids().values())

    up = local.run("--port-base", str(base), "up")
    assert f"redis-cli -p {gateway_port}" in up.stdout
    assert f"http://127.0.0.1:{base + 1}/metrics" in up.stdout
    assert "down" in up.stdout
    pids = local.pids()
    assert all(running(pid) for pid in pids.values()), pids

    # The acceptance: redis-cli through the gateway.
    assert redis_cli(gateway_port, "set", "k", "v") == "OK"
    assert redis_cli(gateway_port, "get", "k") == "v"

    status = local.status()
    groups = groups_by_id(status)
    assert sorted(groups) == [1, 2]
    for g in groups.values():
        assert g["leader"] in ("n1", "n2", "n3"), g
        assert g["voters"] == 3 and g["learners"] == 0, g
        assert sorted(m["id"] for m in g["members"]) == ["n1", "n2", "n3"]
    text = local.run("status").stdout
    for gid in (1, 2):
        assert f"group {gid}: leader {groups[gid]['leader']}, 3 voters, 0 learners" in text

    # Live expositions of the gateway and of a shard pass promtool.
    for port in (base + 1, base + 11):  # the gateway's and n1's metrics
        text = http_get(f"http://127.0.0.1:{port}/metrics")
        promtool_check(text)
        # The standard process metrics, with a start time from this test's lifetime.
        start = re.search(r"^process_start_time_seconds (\S+)$", text, re.M)
        assert start and time.time() - 600 < float(start.group(1)) <= time.time(), text[:2000]
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds"):
            assert re.search(rf"^{name} \d", text, re.M), name

    # `up` again changes nothing.
    again = local.run("up")
    assert again.stdout.count("already running") == 4, again.stdout
    assert local.pids() == pids

    # Crash group 1's leader: another member takes over, the gateway hides it.
    victim = groups[1]["leader"]
    killed = local.run("kill", victim)
    assert "SIGKILL" in killed.stdout
    assert not running(pids[victim])
    assert local.pids()[victim] is None

    def new_leader():
        g = groups_by_id(local.status()).get(1)
        return g and g["leader"] not in (None, victim) and g["leader"]
    wait_for(new_leader, 30, "a new leader of group 1")
    assert redis_cli(gateway_port, "set", "k2", "after-failover") == "OK"
    assert redis_cli(gateway_port, "get", "k") == "v"

    # Restart it: it runs again and catches up in both groups.
    local.run("restart", victim)
    assert running(local.pids()[victim])

    def caught_up():
        gs = groups_by_id(local.status())
        for g in gs.values():
            me = next(m for m in g["members"] if m["id"] == victim)
            if not g["leader"] or me["applied"] is None or me["applied"] < g["commit"]:
                return False
        return True
    wait_for(caught_up, 30, f"{victim} to catch up")
    assert redis_cli(gateway_port, "get", "k2") == "after-failover"

    logs = local.run("logs", victim, "-n", "5").stdout
    assert logs.strip(), "no log lines"

    # `down` stops exactly what it started and leaves nothing running.
    final = local.pids()
    down = local.run("down")
    for node in ("n1", "n2", "n3", "gateway"):
        assert f"{node}: stopped" in down.stdout
    for node, pid in final.items():
        assert not running(pid), f"{node} (pid {pid}) still runs"
    assert not any(local.pids().values())
    assert all(port_free(p, reuse=True) for p in range(base, base + PORTS_PER_CLUSTER))
    assert "nothing running" in local.run("down").stdout


def test_down_never_signals_a_process_it_did_not_start(local, tmp_path):
    """A pid file naming some other process (a recycled pid) is ignored and removed."""
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        run_dir = os.path.join(local.dir, "run")
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "n1.pid"), "w") as f:
            f.write(f"{stranger.pid}\n")
        with open(os.path.join(run_dir, "n1.cmdline"), "wb") as f:
            f.write(os.path.join(BIN_DIR, "tessera-shard").encode() + b"\0")
        assert local.pids()["n1"] is None
        assert "nothing running" in local.run("down").stdout
        assert stranger.poll() is None
        assert not os.path.exists(os.path.join(run_dir, "n1.pid"))
    finally:
        stranger.kill()
        stranger.wait(timeout=10)


def test_shard_ports_of_an_existing_directory_cannot_move(local):
    os.makedirs(local.dir)
    with open(os.path.join(local.dir, "cluster.json"), "w") as f:
        json.dump({"version": 1, "shards": {}, "gateway": {"redis": 1, "metrics": 2}}, f)
    proc = local.run("--port-base", str(free_port_base()), "up", check=False)
    assert proc.returncode == 1 and "other shard ports" in proc.stderr
