"""Network namespaces for chaos runs: a private hub namespace holding a bridge (and the gateway),
one namespace per shard slot joined to the bridge by a veth pair, and the network faults the
nemeses inject (nftables drop rules, blackhole routes as a fallback, tc qdiscs).

Every run names its namespaces `tsr<pid>x<rand>-...`, so concurrent runs never collide, and the
subnet lives only inside the run's own namespaces: the hub has no uplink and no default route,
so no chaos packet can leave the machine whatever state a run dies in. `cleanup_stale()` removes
what a killed run (SIGKILL, no finally) left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

log = logging.getLogger("chaos.netns")

SUBNET = "10.99.0"  # only inside this run's namespaces; see the module doc
HUB_ADDRESS = f"{SUBNET}.254"
CLONE_NEWNET = 0x40000000
NAME_RE = re.compile(r"^tsr(\d+)x[0-9a-f]+-")

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    pass


def run(cmd: list[str], timeout: float = 15, check: bool = True) -> subprocess.CompletedProcess:
    """Runs a short command with a deadline; raises NetnsError with its stderr on failure."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise NetnsError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def available() -> tuple[bool, str]:
    """Whether this process can create namespaces, veths and bridges; (ok, reason)."""
    if os.geteuid() != 0:
        return False, "chaos tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return False, "iproute2 `ip` not found"
    probe = f"tsr{os.getpid()}x{random.getrandbits(16):x}-probe"
    try:
        run(["ip", "netns", "add", probe])
        try:
            run(["ip", "-n", probe, "link", "add", "pb0", "type", "bridge"])
            run(["ip", "-n", probe, "link", "add", "pv0", "type", "veth", "peer", "name", "pv1"])
        finally:
            run(["ip", "netns", "del", probe], check=False)
    except NetnsError as e:
        return False, f"network namespaces unavailable: {e}"
    return True, ""


def pids_in(ns: str) -> list[int]:
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cleanup_stale() -> list[str]:
    """Deletes namespaces (and kills their processes) of chaos runs whose process is gone."""
    p = run(["ip", "netns", "list"], check=False)
    removed = []
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NAME_RE.match(name)
        if not m or _alive(int(m.group(1))):
            continue
        for pid in pids_in(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", name], check=False)
        removed.append(name)
    if removed:
        log.info("removed namespaces of dead runs: %s", removed)
    return removed


class _InNamespace:
    """Context manager: the calling *thread* enters a network namespace and comes back. Sockets
    created inside stay in that namespace; other threads are not affected (setns is per
    thread)."""

    def __init__(self, ns: str):
        self.path = f"/var/run/netns/{ns}"

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                os.close(self.home)
                raise OSError(err, f"setns({self.path}): {os.strerror(err)}")
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                # A thread stuck in the wrong namespace would corrupt later connections.
                raise OSError(err, f"setns back home failed: {os.strerror(err)}")
        finally:
            os.close(self.home)
        return False


def in_namespace(ns: str) -> _InNamespace:
    return _InNamespace(ns)


class Network:
    """One hub (bridge + gateway) and `slots` shard namespaces, slot i at 10.99.0.i."""

    def __init__(self, slots: int):
        self.run_id = f"tsr{os.getpid()}x{random.getrandbits(24):06x}"
        self.hub = f"{self.run_id}-hub"
        self.slots = list(range(1, slots + 1))
        self.created: list[str] = []
        self.firewall = "none"  # "nft", "route" (blackhole routes) or "none"
        self.netem = False
        self.tbf = False
        self._lock = threading.Lock()
        self._blocked: set[tuple[int, int]] = set()  # (receiver slot, sender slot or 0 = hub)
        self._routes: set[tuple[int, str]] = set()
        self._shaped: set[int] = set()
        self._loss: dict[int, int] = {}

    def ns(self, slot: int) -> str:
        return f"{self.run_id}-n{slot}"

    @staticmethod
    def address(slot: int) -> str:
        return f"{SUBNET}.{slot}"

    # ---- lifecycle ----

    def setup(self) -> None:
        self._add_ns(self.hub)
        run(["ip", "-n", self.hub, "link", "set", "lo", "up"])
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "addr", "add", f"{HUB_ADDRESS}/24", "dev", "br0"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        for s in self.slots:
            ns = self.ns(s)
            self._add_ns(ns)
            run(["ip", "-n", self.hub, "link", "add", f"vn{s}", "type", "veth",
                 "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", self.hub, "link", "set", f"vn{s}", "master", "br0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{self.address(s)}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        self._probe_features()

    def _add_ns(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self.created.append(name)

    def _probe_features(self) -> None:
        s = self.slots[0]
        if shutil.which("nft"):
            try:
                for slot in self.slots:
                    self._nft(slot, "add table inet chaos")
                    self._nft(slot, "add chain inet chaos input "
                                    "{ type filter hook input priority 0 ; policy accept ; }")
                self.firewall = "nft"
            except NetnsError as e:
                log.warning("nftables unusable (%s); partitions fall back to blackhole routes", e)
        if self.firewall == "none":
            try:
                run(["ip", "-n", self.ns(s), "route", "add", "blackhole", "192.0.2.77/32"])
                run(["ip", "-n", self.ns(s), "route", "del", "blackhole", "192.0.2.77/32"])
                self.firewall = "route"
            except NetnsError as e:
                log.warning("blackhole routes unusable (%s); partition nemeses are skipped", e)
        probe = run(["tc", "-n", self.ns(s), "qdisc", "add", "dev", "eth0", "root", "netem",
                     "delay", "1ms"], check=False)
        if probe.returncode == 0:
            self.netem = True
            run(["tc", "-n", self.ns(s), "qdisc", "del", "dev", "eth0", "root"], check=False)
        probe = run(["tc", "-n", self.ns(s), "qdisc", "add", "dev", "eth0", "root", "tbf",
                     "rate", "10mbit", "burst", "32kbit", "latency", "100ms"], check=False)
        if probe.returncode == 0:
            self.tbf = True
            run(["tc", "-n", self.ns(s), "qdisc", "del", "dev", "eth0", "root"], check=False)
        log.info("network %s: firewall=%s netem=%s tbf=%s", self.run_id, self.firewall,
                 self.netem, self.tbf)

    def teardown(self) -> None:
        """Kills every process left in the run's namespaces and deletes them (idempotent)."""
        for ns in reversed(self.created):
            for pid in pids_in(ns):
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(pids_in(ns) for ns in self.created):
            time.sleep(0.05)
        for ns in reversed(self.created):
            run(["ip", "netns", "del", ns], check=False)
        self.created.clear()

    # ---- commands inside namespaces ----

    def exec_args(self, ns: str, argv: list[str]) -> list[str]:
        # `ip netns exec` execs in place (no fork), so Popen's pid is the program's pid.
        return ["ip", "netns", "exec", ns] + argv

    def _nft(self, slot: int, command: str) -> None:
        run(["ip", "netns", "exec", self.ns(slot), "nft", command])

    # ---- faults ----

    def can_partition(self) -> bool:
        return self.firewall != "none"

    def can_lose(self) -> bool:
        return self.firewall == "nft"

    def block(self, receiver: int, sender: int) -> None:
        """Packets from `sender` (a slot, or 0 for the hub/gateway) to `receiver` are dropped."""
        with self._lock:
            if (receiver, sender) in self._blocked:
                return
            src = HUB_ADDRESS if sender == 0 else self.address(sender)
            if self.firewall == "nft":
                self._nft(receiver, f"add rule inet chaos input ip saddr {src} drop")
            elif self.firewall == "route":
                # The sender cannot route to the receiver: its packets are dropped at the source.
                if sender == 0:
                    raise NetnsError("route fallback cannot block the hub")
                run(["ip", "-n", self.ns(sender), "route", "add", "blackhole",
                     f"{self.address(receiver)}/32"])
                self._routes.add((sender, self.address(receiver)))
            else:
                raise NetnsError("no firewall mechanism available")
            self._blocked.add((receiver, sender))

    def cut(self, a: int, b: int) -> None:
        self.block(a, b)
        self.block(b, a)

    def partition(self, *sides: list[int]) -> None:
        """No traffic between slots of different sides (the hub still reaches everyone)."""
        for i, x in enumerate(sides):
            for y in sides[i + 1:]:
                for a in x:
                    for b in y:
                        self.cut(a, b)

    def lose(self, slot: int, percent: int) -> None:
        """Drops `percent`% of the packets `slot` receives, from anyone."""
        with self._lock:
            if self.firewall != "nft":
                raise NetnsError("random loss needs nftables")
            self._nft(slot, f"add rule inet chaos input numgen random mod 100 < {percent} drop")
            self._loss[slot] = percent

    def slow(self, slot: int, delay_ms: int = 100) -> str:
        """Delays (netem) or throttles (tbf: a 1 Mbit/s link queues, so it delays) the slot's
        outgoing packets. Returns what was applied."""
        with self._lock:
            if self.netem:
                run(["tc", "-n", self.ns(slot), "qdisc", "replace", "dev", "eth0", "root", "netem",
                     "delay", f"{delay_ms}ms", f"{delay_ms // 4}ms"])
                what = f"netem delay {delay_ms}ms"
            elif self.tbf:
                run(["tc", "-n", self.ns(slot), "qdisc", "replace", "dev", "eth0", "root", "tbf",
                     "rate", "1mbit", "burst", "4kbit", "latency", f"{max(delay_ms, 50)}ms"])
                what = f"tbf 1mbit latency {max(delay_ms, 50)}ms"
            else:
                raise NetnsError("neither netem nor tbf qdiscs available")
            self._shaped.add(slot)
            return what

    def link(self, slot: int, up: bool) -> None:
        """Takes the slot's veth down (total isolation, also from the gateway) or back up."""
        run(["ip", "-n", self.ns(slot), "link", "set", "eth0", "up" if up else "down"])

    def heal(self) -> None:
        with self._lock:
            if self.firewall == "nft":
                for slot in {r for r, _ in self._blocked} | set(self._loss):
                    self._nft(slot, "flush chain inet chaos input")
            for sender, dst in self._routes:
                run(["ip", "-n", self.ns(sender), "route", "del", "blackhole", f"{dst}/32"],
                    check=False)
            for slot in self._shaped:
                run(["tc", "-n", self.ns(slot), "qdisc", "del", "dev", "eth0", "root"],
                    check=False)
            self._blocked.clear()
            self._routes.clear()
            self._shaped.clear()
            self._loss.clear()
        for s in self.slots:
            run(["ip", "-n", self.ns(s), "link", "set", "eth0", "up"], check=False)
