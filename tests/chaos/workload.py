"""Chaos workloads: many client threads drive registers (SET/GET/INCR), counters (INCR/GET) and
list-append transactions (MULTI RPUSH LRANGE EXEC, plus plain LRANGE) through the gateway and
record every operation in the checker's history format (tests/chaos/checker.py).

Outcomes: a reply is "ok"; a refusal that guarantees no effect (MOVED, TRYAGAIN, CROSSSLOT,
EXECABORT, CLUSTERDOWN, WRONGTYPE) is "fail"; anything else a write meets (timeout, lost
connection, -OUTCOMEUNKNOWN, -TIMEOUT, any other error) is "unknown". A read that got no value
had no effect, so it is "fail" (dropped by the checker).

Keys rotate: every `key_window` seconds each family moves to fresh keys, which bounds the
history per key (and so the linearizability search) however long a run lasts.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any, Callable

import redis

log = logging.getLogger("chaos.workload")

NO_EFFECT = ("MOVED", "TRYAGAIN", "CROSSSLOT", "EXECABORT", "CLUSTERDOWN", "WRONGTYPE", "NOAUTH")
REDIRECTS = ("MOVED", "TRYAGAIN")

# The gateway retries a write it deems idempotent (SET without NX/XX/GET, MSET, ...) after losing
# the shard connection *after sending it*, and when the retry budget runs out it answers the last
# retry's error, e.g. "-TRYAGAIN the connection to the group's leader failed", although the first
# attempt may have been applied (chaos runs saw such a SET's value read back later). Until the
# gateway answers OUTCOMEUNKNOWN there, a redirect error on an idempotent write is "unknown".
# TESSERA_CHAOS_STRICT=1 keeps the documented contract (a redirect means no effect) to reproduce.
STRICT = os.environ.get("TESSERA_CHAOS_STRICT") == "1"


def classify(exc: BaseException, write: bool, gateway_retries: bool = False) -> str:
    """'fail' when `exc` guarantees the operation had no effect, else 'unknown' (writes).
    `gateway_retries`: the gateway resends this write after a lost connection (see STRICT)."""
    if isinstance(exc, redis.exceptions.ExecAbortError):
        return "fail"
    if isinstance(exc, redis.ResponseError):
        head = str(exc).split(" ", 1)[0].upper()
        if head in REDIRECTS and write and gateway_retries and not STRICT:
            return "unknown"
        if head in NO_EFFECT:
            return "fail"
    return "unknown" if write else "fail"


class Recorder:
    """Thread-safe history of operations, times in seconds since the run began."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.ops: list[dict] = []
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 6)

    def add(self, op: dict) -> None:
        with self.lock:
            self.ops.append(op)
            key = f"{op['f']}:{op['outcome']}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self) -> str:
        with self.lock:
            return " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))


class Workload:
    FAMILIES = (("register", 0.45), ("counter", 0.2), ("list", 0.35))

    BUGS = ("stale-read", "lost-ack")

    def __init__(self, make_client: Callable[[], redis.Redis], recorder: Recorder, clients: int,
                 seed: int, key_window: float = 10.0, keys_per_family: int = 4,
                 think_ms: float = 15.0, bug: str | None = None):
        """`bug` plants a deliberate client-side safety bug, the negative control that shows a
        green run means something: "stale-read" answers register and counter GETs from a
        replica-like cache refreshed every 0.5 s (a read served by a lagging follower);
        "lost-ack" acknowledges one SET in 20 without ever sending it (an ack before commit
        that never commits)."""
        if bug is not None and bug not in self.BUGS:
            raise ValueError(f"unknown bug {bug!r}; one of {self.BUGS}")
        self.bug = bug
        self.cache: dict[str, Any] = {}
        self.make_client = make_client
        self.rec = recorder
        self.clients = clients
        self.seed = seed
        self.key_window = key_window
        self.keys_per_family = keys_per_family
        self.think_ms = think_ms
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.keys: dict[str, set[str]] = {"register": set(), "counter": set(), "list": set()}
        self.keys_lock = threading.Lock()
        self.errors: list[str] = []  # harness problems (a client thread crashed)
        self.anomalies: list[str] = []  # consistency problems seen inside one reply

    # ---- keys ----

    def key(self, family: str, rng: random.Random) -> str:
        epoch = int(self.rec.now() / self.key_window)
        k = f"{family[0]}:{self.seed}:{epoch}:{rng.randrange(self.keys_per_family)}"
        with self.keys_lock:
            self.keys[family].add(k)
        return k

    # ---- one operation ----

    def call(self, client_id: int, key: str, f: str, value: Any, write: bool,
             fn: Callable[[], Any], decode: Callable[[Any], Any] = lambda r: r,
             gateway_retries: bool = False) -> Any:
        op = {"client": client_id, "key": key, "f": f, "value": value, "result": None,
              "invoke": self.rec.now(), "complete": None, "outcome": "ok"}
        try:
            op["result"] = decode(fn())
            op["complete"] = self.rec.now()
        except (redis.RedisError, OSError) as e:
            op["outcome"] = classify(e, write, gateway_retries)
            op["error"] = f"{type(e).__name__}: {e}"[:200]
            if op["outcome"] == "fail":
                op["complete"] = self.rec.now()
        self.rec.add(op)
        return op

    def one(self, client_id: int, r: redis.Redis, rng: random.Random, seq: int) -> None:
        family = rng.choices([f for f, _ in self.FAMILIES], [w for _, w in self.FAMILIES])[0]
        key = self.key(family, rng)
        x = rng.random()
        get = (lambda: r.get(key)) if self.bug != "stale-read" else \
            (lambda: self.cache.get(key))
        if family == "register":
            if x < 0.4:
                v = str(client_id * 10_000_000 + seq)
                send = (lambda: r.set(key, v))
                if self.bug == "lost-ack" and seq % 20 == 0:
                    send = (lambda: True)  # acknowledged, never sent: a lost write
                self.call(client_id, key, "write", v, True, send,
                          lambda _: None, gateway_retries=True)
            elif x < 0.85:
                self.call(client_id, key, "read", None, False, get)
            else:
                self.call(client_id, key, "incr", 1, True, lambda: r.incr(key))
        elif family == "counter":
            if x < 0.6:
                self.call(client_id, key, "incr", 1, True, lambda: r.incr(key))
            else:
                self.call(client_id, key, "read", None, False, get)
        else:
            if x < 0.6:
                v = f"{client_id}.{seq}"

                def txn():
                    p = r.pipeline(transaction=True)
                    p.rpush(key, v)
                    p.lrange(key, 0, -1)
                    return p.execute()

                op = self.call(client_id, key, "append", v, True, txn, lambda res: res)
                if op["outcome"] == "ok":
                    self._txn_read(op, op["result"])
            else:
                self.call(client_id, key, "read_list", None, False,
                          lambda: r.lrange(key, 0, -1), list)

    def _txn_read(self, op: dict, res: list) -> None:
        """The transaction's LRANGE joins the history as a read with the append's interval (they
        are atomic); it must end with the value just appended, at the length RPUSH returned."""
        op["result"] = None
        length, values = res[0], list(res[1])
        if length != len(values) or not values or values[-1] != op["value"]:
            self.anomalies.append(f"MULTI/EXEC on {op['key']!r} by client {op['client']}: RPUSH "
                                  f"{op['value']!r} returned {length} but LRANGE saw {values}")
        self.rec.add({"client": op["client"], "key": op["key"], "f": "read_list", "value": None,
                      "result": list(res[1]), "invoke": op["invoke"],
                      "complete": op["complete"], "outcome": "ok"})

    def loop(self, client_id: int) -> None:
        rng = random.Random(self.seed * 1000 + client_id)
        r = self.make_client()
        seq = 0
        while not self.stop.is_set():
            seq += 1
            try:
                self.one(client_id, r, rng, seq)
            except Exception as e:  # noqa: BLE001 - a client bug must not hang the run
                self.errors.append(f"client {client_id}: {type(e).__name__}: {e}")
                log.exception("client %d", client_id)
                time.sleep(0.1)
            if self.think_ms:
                time.sleep(rng.random() * self.think_ms / 1000)
        try:
            r.close()
        except Exception:  # noqa: BLE001
            pass

    def _lagging_replica(self) -> None:
        """The "stale-read" bug's follower: copies every key's value every 0.5 s."""
        r = self.make_client()
        while not self.stop.wait(0.5):
            with self.keys_lock:
                keys = list(self.keys["register"] | self.keys["counter"])
            for k in keys:
                try:
                    self.cache[k] = r.get(k)
                except redis.RedisError:
                    pass

    def start(self) -> None:
        if self.bug == "stale-read":
            t = threading.Thread(target=self._lagging_replica, name="replica", daemon=True)
            t.start()
            self.threads.append(t)
        for i in range(self.clients):
            t = threading.Thread(target=self.loop, args=(i + 1,), name=f"client-{i + 1}",
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self, timeout: float = 30) -> list[str]:
        """Stops the clients; returns the names of threads still stuck after `timeout`."""
        self.stop.set()
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]

    # ---- after heal ----

    def final_reads(self, client: redis.Redis, timeout: float = 60) -> tuple[dict, list[str]]:
        """Reads every key once the cluster is healed; the reads join the history (client 0).
        Returns ({key: value}, keys that could not be read in time)."""
        final: dict[str, Any] = {}
        missing: list[str] = []
        end = time.monotonic() + timeout
        with self.keys_lock:
            keys = {f: sorted(ks) for f, ks in self.keys.items()}
        for family, ks in keys.items():
            for k in ks:
                while True:
                    if family == "list":
                        op = self.call(0, k, "read_list", None, False,
                                       lambda: client.lrange(k, 0, -1), list)
                    else:
                        op = self.call(0, k, "read", None, False, lambda: client.get(k))
                    if op["outcome"] == "ok":
                        final[k] = op["result"]
                        break
                    if time.monotonic() > end:
                        missing.append(k)
                        break
                    time.sleep(0.2)
        return final, missing
