"""Nemeses: the faults a chaos run injects into a live cluster, one at a time, each healed before
the next (process kills and pauses, partitions, packet loss, slow links), and a membership
nemesis that keeps replacing voters (learner → promote → transfer → remove → wipe → re-add as
a learner) while the faults go on.

Every action is logged with the history's clock (the `events` list lands in history.json and
nemesis.log), so a violation can be lined up with what the cluster was going through.
A nemesis whose kernel feature is missing (no nftables, no netem/tbf) is skipped with a logged
reason instead of failing the run.
"""

from __future__ import annotations

import logging
import random
import re
import shutil
import signal
import threading
import time
from typing import Callable

from harness import GROUPS, Cluster, Node
from netns import NetnsError
from workload import Recorder

log = logging.getLogger("chaos.nemesis")

FAULTS = ("kill", "pause", "partition-leader", "partition-halves", "partition-bridge",
          "partition-oneway", "partition-link", "loss", "slow")


class _Stopped(Exception):
    """The run ended in the middle of a membership step."""


class Events:
    def __init__(self, rec: Recorder):
        self.rec = rec
        self.items: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, action: str, detail: str = "") -> None:
        e = {"time": self.rec.now(), "action": action, "detail": detail}
        with self.lock:
            self.items.append(e)
        log.info("t=%.2f %s %s", e["time"], action, detail)

    def count(self, action: str) -> int:
        with self.lock:
            return sum(1 for e in self.items if e["action"] == action)


class FaultNemesis:
    """Applies one random fault from `faults`, holds it `hold` seconds, heals, rests `rest`."""

    def __init__(self, cluster: Cluster, events: Events, faults: list[str], seed: int,
                 hold: tuple[float, float] = (3, 8), rest: tuple[float, float] = (2, 5)):
        self.c = cluster
        self.net = cluster.net
        self.events = events
        self.rng = random.Random(seed)
        self.hold = hold
        self.rest = rest
        self.stop = threading.Event()
        self.skipped: dict[str, str] = {}
        self.faults = []
        for f in faults:
            reason = self._unsupported(f)
            if reason:
                self.skipped[f] = reason
                events("skip", f"{f}: {reason}")
            else:
                self.faults.append(f)
        self.thread = threading.Thread(target=self._loop, name="nemesis", daemon=True)
        self.heal_fn: Callable[[], None] | None = None

    def _unsupported(self, fault: str) -> str:
        if fault not in FAULTS:
            return "unknown fault"
        if fault.startswith("partition") and fault != "partition-link" \
                and not self.net.can_partition():
            return "no nftables and no blackhole routes in this kernel"
        if fault == "loss" and not self.net.can_lose():
            return "random packet loss needs nftables (numgen); not available"
        if fault == "slow" and not (self.net.netem or self.net.tbf):
            return "neither the netem nor the tbf qdisc is available"
        return ""

    def start(self) -> None:
        if self.faults:
            self.thread.start()

    def finish(self, timeout: float = 30) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    # ---- helpers ----

    def voters_up(self) -> list[Node]:
        with self.c.lock:
            return [n for n in self.c.nodes.values() if n.proc is not None and not n.paused]

    def target(self) -> Node | None:
        """The leader of a random group half the time, else a random running node."""
        nodes = self.voters_up()
        if not nodes:
            return None
        if self.rng.random() < 0.5:
            leader = self.c.leader(self.rng.choice(GROUPS))
            if leader is not None and leader in nodes:
                return leader
        return self.rng.choice(nodes)

    def slots(self) -> list[int]:
        with self.c.lock:
            return sorted(n.slot for n in self.c.nodes.values() if n.proc is not None)

    # ---- faults: each returns its heal action ----

    def kill(self) -> Callable[[], None] | None:
        n = self.target()
        if n is None:
            return None
        self.c.kill(n, signal.SIGKILL)
        self.events("kill", f"{n.raft_id} (slot {n.slot}) SIGKILL")

        def heal():
            if n.slot in self.c.nodes and self.c.nodes[n.slot] is n:
                self.c.start(n)
                self.events("restart", n.raft_id)
        return heal

    def pause(self) -> Callable[[], None] | None:
        n = self.target()
        if n is None or not self.c.pause(n):
            return None
        self.events("pause", f"{n.raft_id} SIGSTOP")

        def heal():
            self.c.resume(n)
            self.events("resume", f"{n.raft_id} SIGCONT")
        return heal

    def _leader_slot(self) -> tuple[int, int] | None:
        g = self.rng.choice(GROUPS)
        leader = self.c.leader(g)
        return (g, leader.slot) if leader is not None else None

    def partition_leader(self):
        found = self._leader_slot()
        if found is None:
            return None
        g, s = found
        others = [x for x in self.slots() if x != s]
        self.net.partition([s], others)
        self.events("partition", f"isolate group {g}'s leader slot {s} from {others} "
                                 f"(the gateway still reaches it)")
        return self.net.heal

    def partition_halves(self):
        slots = self.slots()
        self.rng.shuffle(slots)
        minority = slots[:max(1, (len(slots) - 1) // 2)]
        majority = slots[len(minority):]
        self.net.partition(minority, majority)
        self.events("partition", f"minority {sorted(minority)} | majority {sorted(majority)}")
        return self.net.heal

    def partition_bridge(self):
        slots = self.slots()
        if len(slots) < 3:
            return None
        self.rng.shuffle(slots)
        bridge, rest = slots[0], slots[1:]
        half = len(rest) // 2
        self.net.partition(rest[:half], rest[half:])
        self.events("partition", f"bridge: {sorted(rest[:half])} and {sorted(rest[half:])} "
                                 f"see only slot {bridge}")
        return self.net.heal

    def partition_oneway(self):
        found = self._leader_slot()
        if found is None:
            return None
        g, s = found
        others = [x for x in self.slots() if x != s]
        if self.rng.random() < 0.5:
            for o in others:
                self.net.block(s, o)
            what = f"group {g}'s leader slot {s} receives nothing from {others} (it still sends)"
        else:
            for o in others:
                self.net.block(o, s)
            what = f"{others} receive nothing from group {g}'s leader slot {s} (it still hears)"
        self.events("partition", "one-way: " + what)
        return self.net.heal

    def partition_link(self):
        n = self.target()
        if n is None:
            return None
        self.net.link(n.slot, False)
        self.events("partition", f"slot {n.slot} ({n.raft_id}) link down: cut from peers and "
                                 "gateway")
        return self.net.heal

    def loss(self):
        pct = self.rng.choice((10, 25, 40))
        for s in self.slots():
            self.net.lose(s, pct)
        self.events("loss", f"{pct}% of packets into every shard dropped")
        return self.net.heal

    def slow(self):
        found = self._leader_slot()
        if found is None:
            return None
        g, s = found
        what = self.net.slow(s, 150)
        self.events("slow", f"group {g}'s leader slot {s}: {what}")
        return self.net.heal

    # ---- loop ----

    def heal(self) -> None:
        fn, self.heal_fn = self.heal_fn, None
        if fn is not None:
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - heal_all at the end repairs the rest
                self.events("heal-error", repr(e))
            self.events("heal")

    def _loop(self) -> None:
        self.stop.wait(self.rng.uniform(*self.rest))
        while not self.stop.is_set():
            fault = self.rng.choice(self.faults)
            try:
                self.heal_fn = getattr(self, fault.replace("-", "_"))()
            except (NetnsError, OSError) as e:
                self.events("fault-error", f"{fault}: {e}")
                self.heal_fn = self.net.heal
            except Exception as e:  # noqa: BLE001 - keep the run going; logged
                self.events("fault-error", f"{fault}: {type(e).__name__}: {e}")
            self.stop.wait(self.rng.uniform(*self.hold))
            self.heal()
            self.stop.wait(self.rng.uniform(*self.rest))
        self.heal()


class MembershipNemesis:
    """Cycles voters out and fresh learners in, through tessera-admin, while faults go on:
    start a node on a free slot (empty data dir, new raft id, --raftJoinAsLearner) →
    add_learner in every group → wait until caught up → promote_learner → transfer leadership
    to it → pick a victim (any other voter, preferring a leader; a node added at runtime is as
    routable a leader as a declared one) → move leadership off it → remove_server →
    SIGKILL it and wipe its data dir, which frees its slot for the next cycle's learner (same
    address, new id)."""

    def __init__(self, cluster: Cluster, events: Events, seed: int, step_timeout: float = 25):
        self.c = cluster
        self.events = events
        self.rng = random.Random(seed + 77)
        self.stop = threading.Event()
        self.step_timeout = step_timeout
        self.next_id = max(int(n.raft_id[1:]) for n in cluster.nodes.values()) + 1
        self.thread = threading.Thread(target=self._loop, name="membership", daemon=True)
        self.cycles = 0
        self.changes = 0
        self.newcomer: Node | None = None  # started, not yet a voter everywhere
        self.victim: Node | None = None  # chosen for removal, not yet gone everywhere

    def start(self) -> None:
        self.thread.start()

    def finish(self, timeout: float = 60) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    # ---- admin against the leader, following kNotLeader hints ----

    def on_leader(self, group: int, *args: str, timeout_ms: int = 5000):
        end = time.monotonic() + self.step_timeout
        last = None
        target = None
        while time.monotonic() < end and not self.stop.is_set():
            if target is None:
                leader = self.c.leader(group)
                target = leader.listener(group) if leader else None
            if target is None:
                self.stop.wait(0.3)
                continue
            r = self.c.admin(target, *args, timeout_ms=timeout_ms, json_out=True)
            if r.ok:
                return r
            last = r
            hint = re.search(r"leader's listener is (\S+)", r.err)
            target = hint.group(1) if hint else None
            if any(code in r.err for code in ("kAlreadyMember", "kUnknownServer",
                                              "kLearnerIsVoter", "kPromoteLearnerNotLearner")):
                return r  # already in the wanted state (an earlier attempt applied)
            self.stop.wait(0.3)
        if self.stop.is_set():
            raise _Stopped()
        raise TimeoutError(f"group {group}: {' '.join(args)} did not succeed: "
                           f"{last.err.strip() if last else 'no leader'}")

    def members(self, group: int) -> dict[str, str]:
        conf = self.c.config(group)
        if conf is None:
            raise TimeoutError(f"group {group}: no configuration (no reachable leader)")
        return {s["id"]: s["suffrage"] for s in conf.get("servers", [])}

    def caught_up(self, group: int, raft_id: str) -> int | None:
        leader = self.c.leader(group)
        st = self.c.status(leader, group) if leader else None
        if not st or st.get("state") != "LEADER":
            return None
        commit = int(st["commit_index"])
        for p in st.get("peers", []):
            if p["raft_id"] == raft_id and int(p["match"]) >= commit and \
                    p["state"] == "REPLICATE":
                return commit
        return None

    # ---- one cycle, resumable: a step that failed under faults is taken up again ----

    def free_slot(self) -> int | None:
        with self.c.lock:
            used = set(self.c.nodes)
        free = [s for s in self.c.net.slots if s not in used]
        return self.rng.choice(free) if free else None

    def spawn(self) -> Node:
        slot = self.free_slot()
        if slot is None:
            raise RuntimeError("no free slot for a learner")
        raft_id = f"n{self.next_id}"
        self.next_id += 1
        node = self.c._new_node(slot, raft_id)
        node.learner_join = True
        shutil.rmtree(node.data_dir, ignore_errors=True)
        with self.c.lock:
            self.c.nodes[slot] = node
        self.c.start(node)
        self.events("member-start", f"{raft_id} on slot {slot} with an empty data dir as learner")
        return node

    def cycle(self) -> None:
        if self.victim is not None:
            self.retire(self.victim)
        if self.newcomer is None:
            self.newcomer = self.spawn()
        node = self.newcomer
        raft_id = node.raft_id
        for g in GROUPS:
            if raft_id not in self.members(g):
                r = self.on_leader(g, "add_learner", raft_id, node.listener(g))
                self.changes += 1
                self.events("add_learner", f"group {g}: {raft_id} -> "
                                           f"{r.out.strip() or r.err.strip()}")
        for g in GROUPS:
            if self.members(g).get(raft_id) != "learner":
                continue
            commit = self._wait(lambda: self.caught_up(g, raft_id), f"{raft_id} caught up in {g}")
            r = self.on_leader(g, "promote_learner", raft_id, "0", str(commit))
            self.changes += 1
            self.events("promote_learner", f"group {g}: {raft_id} at {commit} -> "
                                           f"{r.out.strip() or r.err.strip()}")
        self.newcomer = None
        g = self.rng.choice(GROUPS)
        try:
            r = self.on_leader(g, "transfer_leadership", f"--to={raft_id}")
            self.events("transfer_leadership", f"group {g} to {raft_id}: {r.out.strip()}")
        except TimeoutError as e:
            self.events("membership-error", f"transfer to {raft_id}: {e}")
        # The victim: a voter other than the newcomer, preferring a current leader.
        with self.c.lock:
            candidates = [n for n in self.c.nodes.values() if n is not node]
        leaders = [self.c.leader(g2) for g2 in GROUPS]
        lead = [n for n in candidates if n in leaders]
        self.victim = self.rng.choice(lead or candidates)
        self.retire(self.victim)
        self.cycles += 1

    def retire(self, victim: Node) -> None:
        """Moves leadership off `victim`, removes it from every group, stops it and wipes its
        data dir, which frees its slot for the next learner."""
        for g in GROUPS:
            if victim.raft_id not in self.members(g):
                continue
            if self.c.leader(g) is victim:
                others = [n.raft_id for n in self.c.nodes.values() if n is not victim]
                try:
                    r = self.on_leader(g, "transfer_leadership", f"--candidates={','.join(others)}")
                    self.events("transfer_leadership", f"group {g} away from {victim.raft_id}: "
                                                       f"{r.out.strip()}")
                except TimeoutError as e:  # removing a leader works too, with an election
                    self.events("membership-error", f"transfer away: {e}")
            r = self.on_leader(g, "remove_server", victim.raft_id)
            self.changes += 1
            self.events("remove_server", f"group {g}: {victim.raft_id} -> "
                                         f"{r.out.strip() or r.err.strip()}")
        with self.c.lock:
            self.c.kill(victim, signal.SIGKILL)
            if self.c.nodes.get(victim.slot) is victim:
                del self.c.nodes[victim.slot]
            self.c.retired.append(victim)
        shutil.rmtree(victim.data_dir, ignore_errors=True)
        self.events("member-wipe", f"{victim.raft_id} stopped, data dir wiped; slot "
                                   f"{victim.slot} is free for a new learner")
        self.victim = None

    def _wait(self, fn, what: str):
        end = time.monotonic() + self.step_timeout * 2
        while time.monotonic() < end and not self.stop.is_set():
            try:
                v = fn()
                if v:
                    return v
            except Exception:  # noqa: BLE001 - a paused / partitioned member
                pass
            self.stop.wait(0.3)
        if self.stop.is_set():
            raise _Stopped()
        raise TimeoutError(f"timed out waiting for {what}")

    def _loop(self) -> None:
        self.stop.wait(3)
        while not self.stop.is_set():
            try:
                self.cycle()
            except _Stopped:
                break
            except Exception as e:  # noqa: BLE001 - faults make steps fail; the next cycle goes on
                self.events("membership-error", f"{type(e).__name__}: {e}")
            self.stop.wait(self.rng.uniform(2, 5))
