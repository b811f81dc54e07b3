"""Consistency checkers for chaos histories: linearizability of per-key registers and counters
(Wing & Gong's search with Lowe's state cache, partitioned by key as Porcupine does), list-append
integrity, and lost acknowledged writes.

A history is a JSON list of operations, each one client call:
  {"client": 3, "key": "r1", "f": "write"|"read"|"incr"|"append"|"read_list",
   "value": <argument or null>, "result": <reply or null>,
   "invoke": <seconds>, "complete": <seconds or null>, "outcome": "ok"|"fail"|"unknown"}
"fail" means the operation certainly did not take effect (the server refused it); "unknown"
(a timeout, a dropped connection, an outcome-unknown error) means it may or may not have, at any
time after its invocation.

Replay a saved history:
  /usr/bin/python3 tests/chaos/checker.py HISTORY.json
exits 0 when every check passes, 1 with the first violation of each check otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

INFINITY = float("inf")


@dataclass(frozen=True)
class Op:
    client: int
    key: str
    f: str
    value: Any
    result: Any
    invoke: float
    complete: float  # INFINITY when the outcome is unknown
    outcome: str

    @staticmethod
    def from_json(d: dict) -> "Op":
        outcome = d.get("outcome", "ok")
        complete = d.get("complete")
        if outcome == "unknown" or complete is None:
            complete = INFINITY
        return Op(d.get("client", 0), str(d["key"]), d["f"], d.get("value"), d.get("result"),
                  float(d["invoke"]), float(complete), outcome)


@dataclass
class Verdict:
    ok: bool
    check: str
    key: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f" key={self.key!r}" if self.key is not None else ""
        return f"{self.check}:{where} {'ok' if self.ok else 'VIOLATION'} {self.detail}".rstrip()


# ---- Models: step(state, op) -> (legal, new_state). State must be hashable. ----

def register_step(state: Any, op: Op) -> tuple[bool, Any]:
    """A Redis string register: SET (write), GET (read) and INCR/INCRBY (incr) on one key."""
    if op.f == "write":
        return True, str(op.value)
    if op.f == "read":
        if op.outcome == "unknown":
            return True, state  # its reply never arrived: any value
        return (op.result == state), state
    if op.f == "incr":
        try:
            current = int(state) if state is not None else 0
        except ValueError:
            return (op.outcome == "unknown" or op.result is None), state  # INCR on non-integer errs
        new = current + int(op.value if op.value is not None else 1)
        if op.outcome == "unknown":
            return True, str(new)
        return (op.result is not None and int(op.result) == new), str(new)
    raise ValueError(f"register model has no operation {op.f!r}")


def linearizable(ops: list[Op], step: Callable[[Any, Op], tuple[bool, Any]],
                 initial: Any = None, max_states: int = 5_000_000) -> tuple[bool, str]:
    """Wing & Gong's search over one key's operations with Lowe's cache of (linearized set,
    state) pairs already explored. Failed operations are dropped. Returns (ok, explanation)."""
    ops = [o for o in ops if o.outcome != "fail"]
    if not ops:
        return True, "empty"
    # Events: (time, kind, op index); a return sorts after a call at the same instant only when
    # it is another operation's, so that touching intervals count as concurrent.
    events = []
    for i, o in enumerate(ops):
        events.append((o.invoke, 0, i))
        events.append((o.complete, 1, i))
    events.sort()
    # Doubly linked list of events.
    n = len(events)
    nxt: list[int | None] = list(range(1, n)) + [None]
    prv: list[int | None] = [None] + list(range(0, n - 1))
    head = 0 if n else None
    # Each call event knows the index of its return event.
    return_of = {}
    for idx, (_, kind, i) in enumerate(events):
        if kind == 1:
            return_of[i] = idx
    seen: set[tuple[int, Any]] = set()
    linearized = 0  # bitmask over op indexes
    state = initial
    stack: list[tuple[int, Any, int]] = []  # (call event index, previous state, op index)
    entry = head
    explored = 0
    best = 0  # most operations linearized at once, for the explanation
    stuck: Op | None = None  # the operation that could not be placed after the deepest prefix
    stuck_depth = -1

    def lift(call: int) -> None:
        nonlocal head
        for e in (call, return_of[events[call][2]]):
            p, q = prv[e], nxt[e]
            if p is None:
                head = q
            else:
                nxt[p] = q
            if q is not None:
                prv[q] = p

    def unlift(call: int) -> None:
        nonlocal head
        for e in (return_of[events[call][2]], call):
            p, q = prv[e], nxt[e]
            if p is None:
                head = e
            else:
                nxt[p] = e
            if q is not None:
                prv[q] = e

    while head is not None:
        explored += 1
        if explored > max_states:
            return False, f"search gave up after {max_states} steps (undecided)"
        if entry is None:
            entry = head
        _, kind, i = events[entry]
        if kind == 0:
            legal, new_state = step(state, ops[i])
            key = (linearized | (1 << i), new_state)
            if legal and key not in seen:
                seen.add(key)
                stack.append((entry, state, i))
                state = new_state
                linearized |= 1 << i
                best = max(best, bin(linearized).count("1"))
                lift(entry)
                entry = head
            else:
                entry = nxt[entry]
        else:
            # A return reached before its call was linearized: backtrack.
            if len(stack) > stuck_depth:
                stuck, stuck_depth = ops[i], len(stack)
            if not stack:
                o = stuck or ops[i]
                return False, (f"no linearization: operation {o.f}({o.value!r}) -> {o.result!r} "
                               f"by client {o.client} at [{o.invoke}, {o.complete}] cannot be "
                               f"placed ({best} of {len(ops)} operations linearized at best)")
            call, state, j = stack.pop()
            linearized &= ~(1 << j)
            unlift(call)
            entry = nxt[call]
    return True, f"{len(ops)} operations linearized"


def check_registers(history: Iterable[Op]) -> list[Verdict]:
    by_key: dict[str, list[Op]] = {}
    for o in history:
        if o.f in ("write", "read", "incr"):
            by_key.setdefault(o.key, []).append(o)
    verdicts = []
    for key, ops in sorted(by_key.items()):
        ok, why = linearizable(ops, register_step)
        verdicts.append(Verdict(ok, "linearizable", key, why))
    return verdicts


def check_lists(history: Iterable[Op], final: dict[str, list] | None = None) -> list[Verdict]:
    """List-append (RPUSH inside MULTI/EXEC + LRANGE): reads never contain duplicates or values
    nobody appended, every read is a prefix of the final list, every acknowledged append is in
    the final list, and appends ordered in real time appear in that order."""
    appends: dict[str, list[Op]] = {}
    reads: dict[str, list[Op]] = {}
    for o in history:
        if o.f == "append":
            appends.setdefault(o.key, []).append(o)
        elif o.f == "read_list" and o.outcome == "ok":
            reads.setdefault(o.key, []).append(o)
    verdicts = []
    for key in sorted(set(appends) | set(reads)):
        attempted = {str(o.value) for o in appends.get(key, []) if o.outcome != "fail"}
        acked = [o for o in appends.get(key, []) if o.outcome == "ok"]
        key_reads = sorted(reads.get(key, []), key=lambda o: o.complete)
        final_list = None
        if final is not None and key in final:
            final_list = [str(v) for v in final[key]]
        elif key_reads:
            final_list = [str(v) for v in max(key_reads, key=lambda o: len(o.result)).result]
        problem = None
        for r in key_reads:
            values = [str(v) for v in r.result]
            if len(set(values)) != len(values):
                problem = f"read by client {r.client} has duplicates: {values}"
            elif not set(values) <= attempted:
                problem = f"read by client {r.client} has values never appended: " \
                          f"{sorted(set(values) - attempted)}"
            elif final_list is not None and values != final_list[:len(values)]:
                problem = f"read by client {r.client} {values} is not a prefix of {final_list}"
            if problem:
                break
        if problem is None and final_list is not None:
            position = {v: i for i, v in enumerate(final_list)}
            lost = [str(o.value) for o in acked if str(o.value) not in position]
            if lost:
                problem = f"acknowledged appends lost: {lost}"
            else:
                for a in acked:
                    for b in acked:
                        if a.complete < b.invoke and position[str(a.value)] > position[str(b.value)]:
                            problem = (f"append {a.value!r} completed before {b.value!r} began but "
                                       f"comes after it")
                            break
                    if problem:
                        break
        verdicts.append(Verdict(problem is None, "list-append", key,
                                problem or f"{len(acked)} acknowledged appends, "
                                           f"{len(key_reads)} reads"))
    return verdicts


def check_lost_writes(history: Iterable[Op], final: dict[str, Any]) -> list[Verdict]:
    """Registers and counters after heal: the final value must be one some write could leave
    (an acknowledged or unknown write not followed in real time by an acknowledged write), and a
    counter must hold at least its acknowledged increments and at most those plus the unknown."""
    by_key: dict[str, list[Op]] = {}
    for o in history:
        if o.f in ("write", "incr"):
            by_key.setdefault(o.key, []).append(o)
    verdicts = []
    for key, ops in sorted(by_key.items()):
        if key not in final:
            continue
        value = final[key]
        writes = [o for o in ops if o.f == "write" and o.outcome != "fail"]
        incrs = [o for o in ops if o.f == "incr" and o.outcome != "fail"]
        problem = None
        if incrs and not writes:
            low = sum(int(o.value or 1) for o in incrs if o.outcome == "ok")
            high = low + sum(int(o.value or 1) for o in incrs if o.outcome == "unknown")
            got = int(value) if value is not None else 0
            if not low <= got <= high:
                problem = f"counter is {got}, acknowledged increments need {low}..{high}"
        elif writes and not incrs:
            acked = [o for o in writes if o.outcome == "ok"]
            candidates = {str(o.value) for o in writes
                          if not any(a.invoke > o.complete for a in acked)}
            if acked and str(value) not in candidates:
                problem = f"final value {value!r} is none of the possible last writes " \
                          f"{sorted(candidates)[:10]}"
        verdicts.append(Verdict(problem is None, "lost-write", key, problem or f"final {value!r}"))
    return verdicts


def check_history(ops: list[Op], final: dict[str, Any] | None = None) -> list[Verdict]:
    verdicts = check_registers(ops)
    list_final = {k: v for k, v in (final or {}).items() if isinstance(v, list)}
    verdicts += check_lists(ops, list_final or None)
    if final:
        verdicts += check_lost_writes(ops, {k: v for k, v in final.items()
                                            if not isinstance(v, list)})
    return verdicts


def load(path: str) -> tuple[list[Op], dict[str, Any] | None]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if isinstance(doc, list):
        return [Op.from_json(d) for d in doc], None
    return [Op.from_json(d) for d in doc["history"]], doc.get("final")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check a chaos history (see module doc).")
    parser.add_argument("history", help="JSON history: a list of operations, or "
                                        "{\"history\": [...], \"final\": {key: value}}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every verdict")
    args = parser.parse_args(argv)
    ops, final = load(args.history)
    verdicts = check_history(ops, final)
    bad = [v for v in verdicts if not v.ok]
    for v in verdicts if args.verbose else bad:
        print(v)
    print(f"{len(ops)} operations, {len(verdicts)} checks, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
