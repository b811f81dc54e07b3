"""Integration: 3 tessera-shard processes x 2 groups and tessera-gateway in front, driven
with redis-py and raw RESP sockets. The client sees one keyspace across groups; leader
changes are hidden behind the gateway's retries."""
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from shard_cluster import ShardCluster, free_port, wait_for
from test_shard_cluster import key_in_group, keys_in_group, wait_leaders

SHARD = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
GATEWAY = os.environ.get(
    "TESSERA_GATEWAY_BIN", os.path.join(os.path.dirname(SHARD), "tessera-gateway"))


class Gateway:
    def __init__(self, cluster, root, extra=()):
        self.port = free_port()
        self.http_port = free_port()
        known = cluster.map_nodes or cluster.nodes  # the nodes the gateway is configured with
        seeds = ",".join(f"127.0.0.1:{n.group_ports[cluster.groups[0]]}" for n in known)
        self.log_path = os.path.join(root, f"gateway-{self.port}.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [GATEWAY, "--listen", f"127.0.0.1:{self.port}", "--shards", seeds,
             "--raftRedisMap", cluster.redis_map(known), "--threads", "2",
             "--metricsAddress", f"127.0.0.1:{self.http_port}"] + list(extra),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10,
                           decode_responses=True, **kw)

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def log_has(self, text):
        with open(self.log_path) as f:
            return text in f.read()

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=20)
        self.proc = None
        return code


@pytest.fixture
def cluster(tmp_path):
    c = ShardCluster(SHARD, str(tmp_path))
    c.start_all()
    yield c
    c.stop_all(signal.SIGKILL)


@pytest.fixture
def gateway(cluster, tmp_path):
    g = Gateway(cluster, str(tmp_path))
    try:
        wait_leaders(cluster, 15)
        wait_for(lambda: g.client().set("warmup", "1"), 20, "a write through the gateway")
        yield g
    finally:
        code = g.stop()  # also when the setup failed: no gateway outlives its test
    assert code == 0


def raw(port, payload, expect_replies, timeout=10):
    """Sends raw RESP and returns the bytes of `expect_replies` replies (counted by a
    redis-py-free reader good enough for the shapes used here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data += s.recv(65536)
            if count_replies(data) >= expect_replies:
                return data
        raise AssertionError(f"timed out; got {data!r}")


def count_replies(data):
    n, pos = 0, 0
    while True:
        end = skip_reply(data, pos)
        if end is None:
            return n
        n, pos = n + 1, end


def skip_reply(data, pos):
    line_end = data.find(b"\r\n", pos)
    if line_end < 0:
        return None
    kind, body = data[pos:pos + 1], data[pos + 1:line_end]
    pos = line_end + 2
    if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
        return pos
    if kind in (b"$", b"="):
        length = int(body)
        if length < 0:
            return pos
        return pos + length + 2 if len(data) >= pos + length + 2 else None
    if kind in (b"*", b"~", b">", b"%"):
        count = int(body) * (2 if kind == b"%" else 1)
        for _ in range(max(count, 0)):
            pos = skip_reply(data, pos)
            if pos is None:
                return None
        return pos
    raise AssertionError(f"unknown reply type {kind!r}")


def test_keys_of_both_groups_read_back_through_the_gateway(cluster, gateway):
    c = gateway.client()
    for g in cluster.groups:
        key = key_in_group(cluster, g, prefix=f"one{g}-")
        assert c.set(key, f"v{g}") is True
        assert c.get(key) == f"v{g}"
    # The shards agree: the key lives at its group's leader.
    leaders = wait_leaders(cluster, 15)
    key = key_in_group(cluster, 2, prefix="one2-")
    assert leaders[2].client().get(key) == "v2"


def test_publish_through_the_gateway_reaches_subscribers_at_the_channels_leader(cluster, gateway):
    c = gateway.client()
    for g in cluster.groups:
        channel = key_in_group(cluster, g, prefix=f"chan{g}-")

        # A subscriber at the leader of the channel's group hears a PUBLISH sent through the
        # gateway. An election in between (a loaded machine) moves the channel: then subscribe
        # at the new leader and try again.
        def delivered():
            sub = wait_leaders(cluster, 15)[g].client().pubsub()
            try:
                sub.subscribe(channel)
                if not sub.get_message(timeout=5):
                    return False
                if c.publish(channel, f"hello{g}") != 1:
                    return False
                message = sub.get_message(timeout=5)
                return message is not None and message["channel"] == channel and \
                    message["data"] == f"hello{g}"
            finally:
                sub.close()
        wait_for(delivered, 60, f"a message published through the gateway in group {g}")
    with pytest.raises(redis.ResponseError, match="not served through the gateway yet"):
        c.execute_command("PUBSUB", "NUMPAT")


def next_message(sub, timeout=10):
    """The next message (or pmessage) of a redis-py PubSub, skipping confirmations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = sub.get_message(timeout=max(0.01, deadline - time.monotonic()))
        if m is not None and m["type"] in ("message", "pmessage"):
            return m
    return None


def confirmations(sub, n, timeout=10):
    """Reads n (p)(un)subscribe confirmations: the gateway sends them once the shards hold the
    subscriptions."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        m = sub.get_message(timeout=max(0.01, deadline - time.monotonic()))
        if m is not None:
            assert m["type"] not in ("message", "pmessage"), m
            got.append((m["type"], m["channel"], m["data"]))
    assert len(got) == n, got
    return got


def read_replies(s, data, n, timeout=10):
    deadline = time.monotonic() + timeout
    while count_replies(data) < n and time.monotonic() < deadline:
        data += s.recv(65536)
    assert count_replies(data) >= n, data
    return data


def test_subscribe_through_the_gateway_hears_both_groups_and_counts_like_one_redis(
        cluster, gateway, tmp_path):
    """SUBSCRIBE and PSUBSCRIBE through one gateway, PUBLISH through another: channels of both
    groups and a pattern spanning them are heard exactly once; confirmations count the
    client's subscriptions; UNSUBSCRIBE stops delivery; a subscribed RESP2 client may only
    (un)subscribe, PING, QUIT and RESET; RESP3 clients get pushes."""
    other = Gateway(cluster, str(tmp_path))
    try:
        wait_for(lambda: other.client().ping(), 20, "the second gateway")
        publisher = other.client()
        a = key_in_group(cluster, 1, prefix="news.a")
        b = key_in_group(cluster, 2, prefix="news.b")

        # Confirmations count the client's channels and patterns, across groups.
        data = raw(gateway.port, f"SUBSCRIBE {a} {b}\r\nPSUBSCRIBE news.*\r\n".encode(), 3)
        assert data == (f"*3\r\n$9\r\nsubscribe\r\n${len(a)}\r\n{a}\r\n:1\r\n"
                        f"*3\r\n$9\r\nsubscribe\r\n${len(b)}\r\n{b}\r\n:2\r\n"
                        "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:3\r\n").encode()

        sub = gateway.client().pubsub()
        sub.subscribe(a, b)
        sub.psubscribe("news.*")
        assert confirmations(sub, 3) == [("subscribe", a, 1), ("subscribe", b, 2),
                                         ("psubscribe", "news.*", 3)]
        # Once confirmed, a message published through another gateway is heard: once per
        # channel subscription and once per pattern, whichever group leads the channel.
        for channel in (a, b):
            assert publisher.publish(channel, f"hi-{channel}") >= 1
            heard = sorted((m["type"], m["channel"], m["data"])
                           for m in (next_message(sub), next_message(sub)))
            assert heard == [("message", channel, f"hi-{channel}"),
                             ("pmessage", channel, f"hi-{channel}")]
        assert publisher.publish("news.other", "p-only") >= 1
        m = next_message(sub)
        assert (m["type"], m["pattern"], m["channel"], m["data"]) == \
            ("pmessage", "news.*", "news.other", "p-only")
        assert next_message(sub, timeout=0.5) is None  # nothing twice
        # A subscribed RESP2 connection carries only Pub/Sub commands.
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
            s.sendall(f"SUBSCRIBE {a}\r\nGET x\r\nPING\r\nPING hi\r\n".encode())
            data = read_replies(s, b"", 4)
            assert b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE" in data
            assert data.endswith(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
                                 b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n")
            # UNSUBSCRIBE with no names is answered from the client's set.
            s.sendall(b"UNSUBSCRIBE\r\nUNSUBSCRIBE\r\nGET x\r\n")
            data = read_replies(s, b"", 3)
            assert data == (f"*3\r\n$11\r\nunsubscribe\r\n${len(a)}\r\n{a}\r\n:0\r\n"
                            "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n$-1\r\n").encode()
        # RESP3: pushes, and other commands keep working while subscribed.
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
            s.sendall(f"HELLO 3\r\nSUBSCRIBE {b}\r\n".encode())
            data = read_replies(s, b"", 2)
            assert data.endswith(f">3\r\n$9\r\nsubscribe\r\n${len(b)}\r\n{b}\r\n:1\r\n"
                                 .encode())
            assert publisher.publish(b, "pushed") >= 1
            data = read_replies(s, b"", 1)
            assert data == f">3\r\n$7\r\nmessage\r\n${len(b)}\r\n{b}\r\n$6\r\npushed\r\n" \
                .encode()
            s.sendall(b"ECHO after\r\n")
            assert read_replies(s, b"", 1) == b"$5\r\nafter\r\n"
            s.sendall(b"CLIENT INFO\r\n")
            assert b" sub=1 psub=0 " in read_replies(s, b"", 1)
        # Unsubscribed channels and patterns are no longer heard.
        assert [m["type"] for m in (next_message(sub), next_message(sub))] == \
            ["message", "pmessage"]  # the RESP3 client's "pushed" reached sub too
        sub.unsubscribe(a)
        sub.punsubscribe("news.*")
        assert confirmations(sub, 2) == [("unsubscribe", a, 2), ("punsubscribe", "news.*", 1)]
        publisher.publish(a, "gone")
        assert publisher.publish(b, "still") >= 1
        m = next_message(sub)
        assert (m["type"], m["channel"], m["data"]) == ("message", b, "still")
        assert next_message(sub, timeout=0.5) is None
        sub.close()
        # Inside MULTI a subscription is refused (it would hold a shard connection).
        c = gateway.client()
        with pytest.raises(redis.ResponseError, match="inside MULTI is not allowed"):
            p = c.pipeline(transaction=True)
            p.execute_command("SUBSCRIBE", a)
            p.execute()
        with pytest.raises(redis.ResponseError, match="not served through the gateway yet"):
            c.execute_command("PUBSUB", "CHANNELS")
    finally:
        assert other.stop() == 0


def test_subscriptions_follow_the_leader_of_their_group(cluster, gateway):
    """kill -9 the leader of a subscribed channel's group: the gateway subscribes again at the
    new leader on its own, and the subscriber hears later messages without doing anything
    (what is published in between may be lost, at-most-once as in Redis)."""
    for g in cluster.groups:
        channel = key_in_group(cluster, g, prefix=f"fo{g}-")
        sub = gateway.client().pubsub()
        sub.subscribe(channel)
        sub.psubscribe(f"fo{g}-*")
        confirmations(sub, 2)
        publisher = gateway.client()
        assert publisher.publish(channel, "before") >= 1
        assert sorted(next_message(sub)["type"] for _ in range(2)) == ["message", "pmessage"]
        victim = wait_leaders(cluster, 15)[g]
        cluster.stop(victim, signal.SIGKILL)

        def heard_after():
            while sub.get_message(timeout=0.1) is not None:
                pass  # what earlier tries published
            if publisher.publish(channel, "after") < 1:
                return False
            got = [m for m in (next_message(sub, 3), next_message(sub, 3)) if m]
            return sorted(m["type"] for m in got) == ["message", "pmessage"]
        wait_for(heard_after, 60, f"a message after group {g}'s leader was killed")
        cluster.start(victim)
        wait_leaders(cluster, 20)
        sub.close()
    assert gateway.log_has("subscribe again")


def test_multi_key_commands_split_across_groups_and_merge_in_key_order(cluster, gateway):
    c = gateway.client()
    a = keys_in_group(cluster, 1, 5, "ma")
    b = keys_in_group(cluster, 2, 5, "mb")
    mixed = [k for pair in zip(a, b) for k in pair]
    assert c.mset({k: f"val-{k}" for k in mixed}) is True
    assert c.mget(mixed + ["missing"]) == [f"val-{k}" for k in mixed] + [None]
    assert c.exists(*mixed, "missing") == 10
    assert c.touch(*mixed) == 10
    assert c.delete(a[0], b[0], "missing") == 2
    assert c.unlink(a[1], b[1]) == 2
    assert c.mget(a[0], b[0], a[2], b[2]) == [None, None, f"val-{a[2]}", f"val-{b[2]}"]
    # A command that must stay in one group is refused across groups.
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        c.rename(a[2], b[2])


def test_keyless_commands_fan_out_to_every_group(cluster, gateway):
    """KEYS, DBSIZE, SCAN, RANDOMKEY and FLUSHDB through the gateway cover both groups, whether
    or not one shard leads both (each part names its group with TESSERA.INGROUP)."""
    c = gateway.client()
    c.delete("warmup")
    a = keys_in_group(cluster, 1, 30, "ka")
    b = keys_in_group(cluster, 2, 30, "kb")
    assert c.mset({k: "v" for k in a + b}) is True
    assert c.dbsize() == 60
    assert sorted(c.keys("*")) == sorted(a + b)
    assert sorted(c.keys("ka*")) == sorted(a)
    # A full SCAN walks group 1 then group 2 and returns every key exactly once.
    seen, cursor, rounds = [], 0, 0
    while True:
        cursor, batch = c.scan(cursor=cursor, count=7)
        seen.extend(batch)
        rounds += 1
        assert rounds < 200
        if cursor == 0:
            break
    assert sorted(seen) == sorted(a + b)
    assert sorted(c.scan_iter(match="kb*", count=5)) == sorted(b)
    assert all(c.randomkey() in set(a + b) for _ in range(10))
    # The shard itself only answers keyless commands for a group it is asked about.
    leaders = wait_leaders(cluster, 15)
    assert leaders[2].client().execute_command("TESSERA.INGROUP", 2, "DBSIZE") == 30
    assert c.flushdb() is True
    assert c.dbsize() == 0
    assert c.keys("*") == []
    assert c.randomkey() is None
    assert list(c.scan_iter()) == []


def test_cross_group_multi_is_refused_and_one_group_multi_runs(cluster, gateway):
    c = gateway.client()
    a = key_in_group(cluster, 1, prefix="tx1-")
    b = key_in_group(cluster, 2, prefix="tx2-")
    p = c.pipeline(transaction=True)
    p.set("{tag}x", 1)
    p.incr("{tag}x")
    p.get("{tag}x")
    assert p.execute() == [True, 2, "2"]
    p = c.pipeline(transaction=True)
    p.set(a, 1)
    p.set(b, 1)
    with pytest.raises(redis.ResponseError) as e:
        p.execute()
    assert "CROSSSLOT" in str(e.value) or "EXECABORT" in str(e.value)
    assert c.get(a) is None and c.get(b) is None


def test_watch_through_the_gateway_aborts_exec_after_another_clients_write(cluster, gateway):
    """WATCH as in Redis through the gateway's shared shard connections: a write by another
    client (through a second connection) between WATCH and EXEC makes EXEC answer nil; an
    untouched watch runs; UNWATCH and DISCARD end the watch; keys of two groups are
    CROSSSLOT; a pipelined WATCH ... EXEC is discarded rather than run unwatched."""
    mine, theirs = gateway.client(), gateway.client()
    a = key_in_group(cluster, 1, prefix="w1-")
    b = key_in_group(cluster, 2, prefix="w2-")
    for key in (a, b):  # each group: the watch entry and the EXEC go to its own leader
        assert mine.execute_command("WATCH", key) is True
        theirs.set(key, "theirs")
        p = mine.pipeline(transaction=True)
        p.set(key, "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
        assert mine.get(key) == "theirs"
        # redis-py's optimistic-locking helper: WATCH, read, MULTI ... EXEC, untouched.
        with mine.pipeline() as p:
            p.watch(key)
            value = p.get(key)
            p.multi()
            p.set(key, value + "+1")
            assert p.execute() == [True]
        assert mine.get(key) == "theirs+1"
    # UNWATCH ends the watch: the write in between no longer matters.
    mine.execute_command("WATCH", a)
    theirs.set(a, "x")
    assert mine.execute_command("UNWATCH") is True
    p = mine.pipeline(transaction=True)
    p.set(a, "after-unwatch")
    assert p.execute() == [True]
    # A watched EXEC with nothing queued still checks.
    mine.execute_command("WATCH", a)
    theirs.set(a, "y")
    assert mine.execute_command("MULTI") == "OK"
    assert mine.execute_command("EXEC") is None
    # Refusals.
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        mine.execute_command("WATCH", a, b)
    mine.execute_command("WATCH", a)
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        mine.execute_command("WATCH", b)
    mine.execute_command("UNWATCH")
    reply = raw(gateway.port, b"WATCH " + a.encode() + b"\r\nMULTI\r\nSET " + a.encode() +
                b" z\r\nEXEC\r\n", 4)
    assert b"EXECABORT" in reply and b"WATCH" in reply, reply
    assert mine.get(a) == "y"


def test_concurrent_optimistic_increments_through_the_gateway_lose_nothing(cluster, gateway):
    """Four clients increment one counter with WATCH/GET/MULTI/SET/EXEC, retrying on
    WatchError: the final value counts every successful EXEC exactly once."""
    key = key_in_group(cluster, 2, prefix="counter-")
    gateway.client().set(key, 0)
    per_client = 25
    errors = []

    def worker():
        c = gateway.client()
        try:
            for _ in range(per_client):
                for _attempt in range(200):
                    with c.pipeline() as p:
                        try:
                            p.watch(key)
                            value = int(p.get(key))
                            p.multi()
                            p.set(key, value + 1)
                            p.execute()
                            break
                        except redis.WatchError:
                            continue
                else:
                    errors.append("too many WatchErrors")
        except Exception as e:  # reported by the assertion below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert int(gateway.client().get(key)) == 4 * per_client


def test_proxy_protocol_names_the_client_behind_the_balancer(cluster, tmp_path):
    """--proxyProtocol: a v1 or v2 header sets the address CLIENT INFO shows, the commands after
    it in the same packet are served, and a connection without a header is closed while the
    gateway keeps serving."""
    g = Gateway(cluster, str(tmp_path), extra=["--proxyProtocol"])
    try:
        wait_leaders(cluster, 15)
        v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 6379\r\n"
        wait_for(lambda: b"+OK" in raw(g.port, v1 + b"SET pp 1\r\n", 1), 20, "a write")
        reply = raw(g.port, v1 + b"CLIENT INFO\r\nGET pp\r\n", 2)
        assert b"addr=192.0.2.7:56324" in reply and reply.endswith(b"$1\r\n1\r\n"), reply
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([198, 51, 100, 9, 10, 0, 0, 1])
              + (40000).to_bytes(2, "big") + (6379).to_bytes(2, "big"))
        reply = raw(g.port, v2 + b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n", 1)
        assert b"addr=198.51.100.9:40000" in reply, reply
        # The header may arrive in pieces.
        with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
            for piece in (v1[:3], v1[3:20], v1[20:], b"PING\r\n"):
                s.sendall(piece)
                time.sleep(0.01)  # separate segments, not a synchronization
            assert s.recv(100) == b"+PONG\r\n"
        # No header: closed without a reply; a bad one too.
        for payload in (b"PING\r\n", b"PROXY TCP4 nonsense\r\nPING\r\n"):
            with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
                s.sendall(payload)
                assert s.recv(100) == b"", payload
        assert b"+OK" in raw(g.port, v1 + b"SET pp 2\r\n", 1)
    finally:
        assert g.stop() == 0


def test_pipeline_of_1000_mixed_commands_comes_back_in_order(cluster, gateway):
    c = gateway.client()
    p = c.pipeline(transaction=False)
    expected = []
    for i in range(1000):
        key = f"p{i % 37}"
        kind = i % 4
        if kind == 0:
            p.set(key, i)
            expected.append(True)
        elif kind == 1:
            p.incr(f"ctr{i % 5}")
            expected.append(None)  # checked below
        elif kind == 2:
            p.ping()
            expected.append(True)
        else:
            p.echo(f"e{i}")
            expected.append(f"e{i}")
    replies = p.execute()
    assert len(replies) == 1000
    counters = {}
    for i, (got, want) in enumerate(zip(replies, expected)):
        if i % 4 == 1:
            counters[i % 5] = counters.get(i % 5, 0) + 1
            assert got == counters[i % 5], (i, got)
        else:
            assert got == want, (i, got, want)


def test_large_values_are_forwarded_intact(cluster, gateway):
    """Commands of 16 KiB and more are forwarded from the client's input buffer without a copy,
    and an 8 MiB command is more than the shard socket takes at once (the rest waits for
    writability): values of every size come back byte for byte, pipelined with small ones."""
    c = redis.Redis(host="127.0.0.1", port=gateway.port, socket_timeout=30)
    sizes = [10, 16 * 1024 - 40, 16 * 1024, 20_000, 64 * 1024 + 3, 1 << 20, 8 << 20]
    values = {f"big{n}": os.urandom(n) for n in sizes}
    p = c.pipeline(transaction=False)
    for k, v in values.items():
        p.set(k, v)
        p.get(f"missing-{k}")
    assert p.execute() == [True, None] * len(values)
    p = c.pipeline(transaction=False)
    for k in values:
        p.get(k)
        p.strlen(k)
    got = p.execute()
    for i, (k, v) in enumerate(values.items()):
        assert got[2 * i] == v, k
        assert got[2 * i + 1] == len(v)


def test_hello_3_shapes(cluster, gateway):
    h = key_in_group(cluster, 1, prefix="h")
    z = key_in_group(cluster, 2, prefix="z")
    s = key_in_group(cluster, 2, prefix="s")
    payload = (f"HELLO 3\r\nHSET {h} f v\r\nHGETALL {h}\r\nGET nosuch\r\n"
               f"ZADD {z} 1.5 m\r\nZSCORE {z} m\r\nSADD {s} x\r\nSMEMBERS {s}\r\n"
               f"MGET {h}-none {z}-none\r\nPING\r\n").encode()
    data = raw(gateway.port, payload, 10)
    assert data.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in data
    rest = data[skip_reply(data, 0):]
    assert rest == (b":1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n:1\r\n,1.5\r\n:1\r\n~1\r\n$1\r\nx\r\n"
                    b"*2\r\n_\r\n_\r\n+PONG\r\n")
    # RESP2 clients see the RESP2 shapes.
    c = gateway.client()
    assert c.hgetall(h) == {"f": "v"}
    assert raw(gateway.port, f"ZSCORE {z} m\r\n".encode(), 1) == b"$3\r\n1.5\r\n"


def test_local_commands_and_health(cluster, gateway):
    c = gateway.client()
    assert c.ping() is True
    assert c.echo("hi") == "hi"
    assert c.client_setname("me") is True
    assert c.client_getname() == "me"
    assert c.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        c.execute_command("SELECT", 1)
    assert c.command_count() > 100  # answered by a shard from the shared table
    info = c.info()
    assert info["tessera_role"] == "gateway"
    assert info["topology_known"] == 1
    status, body = gateway.http("/healthz")
    assert status == 200
    status, body = gateway.http("/metrics")
    assert status == 200
    assert "tessera_gateway_commands_total" in body
    assert "tessera_gateway_topology_version 1" in body


def test_requirepass_is_enforced(cluster, tmp_path):
    g = Gateway(cluster, str(tmp_path), extra=["--requirepass", "secret"])
    try:
        wait_leaders(cluster, 15)
        c = g.client()
        wait_for(lambda: socket.create_connection(("127.0.0.1", g.port)).close() or True, 10,
                 "gateway listening")
        with pytest.raises(redis.AuthenticationError):
            c.set("k", "v")
        with pytest.raises((redis.ResponseError, redis.AuthenticationError), match="WRONGPASS"):
            c.execute_command("AUTH", "wrong")
        authed = g.client(password="secret")
        wait_for(lambda: authed.set("k", "v"), 20, "authenticated write")
        assert authed.get("k") == "v"
    finally:
        assert g.stop() == 0


def test_protocol_error_and_limits_keep_the_gateway_serving(cluster, gateway):
    # A 1 GiB bulk header is refused (over proto-max-bulk-len) and the connection closed.
    data = raw(gateway.port, b"*2\r\n$3\r\nGET\r\n$1073741824\r\n", 1)
    assert data == b"-ERR Protocol error: invalid bulk length\r\n"
    assert gateway.client().ping() is True


def test_leader_kill_is_hidden_from_clients(cluster, gateway):
    """kill -9 each group's leader in turn while a client writes through the gateway: the
    client sees no MOVED, only the documented outcome-unknown error for a write in flight,
    and every acknowledged write reads back."""
    c = gateway.client()
    acked = {}
    errors = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            key = f"fw{i}"
            try:
                if c.set(key, f"v{i}"):
                    acked[key] = f"v{i}"
            except redis.ResponseError as e:
                errors.append(str(e))
            except redis.ConnectionError as e:
                errors.append(f"connection: {e}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for g in cluster.groups:
            leaders = wait_leaders(cluster, 15)
            before = len(acked)
            cluster.stop(leaders[g], signal.SIGKILL)
            # Writes to every group keep being acknowledged after the election.
            wait_for(lambda: len(acked) > before + 50, 30, f"writes after group {g} failover")
            victim = leaders[g]
            cluster.start(victim)
            wait_leaders(cluster, 20)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not [e for e in errors if "MOVED" in e], errors
    unexpected = [e for e in errors if not e.startswith("OUTCOMEUNKNOWN")]
    assert not unexpected, unexpected
    check = gateway.client()
    keys = list(acked)
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        assert check.mget(chunk) == [acked[k] for k in chunk]


def test_sigterm_drains_and_exits_zero(cluster, tmp_path):
    g = Gateway(cluster, str(tmp_path))
    try:
        wait_leaders(cluster, 15)
        wait_for(lambda: g.client().set("d", "1"), 20, "gateway up")
    except BaseException:
        g.stop()
        raise
    assert g.stop() == 0


def test_slow_reader_is_cut_off_and_others_keep_being_served(cluster, tmp_path):
    g = Gateway(cluster, str(tmp_path), extra=["--maxOutputBuffer", str(1 << 20)])
    try:
        wait_leaders(cluster, 15)
        c = g.client()
        wait_for(lambda: c.set("big", "x" * 100_000), 20, "gateway up")
        slow = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # 400 replies of 100 KB, never read: far over the 1 MiB output limit.
        slow.sendall(b"GET big\r\n" * 400)

        def closed():
            try:
                slow.setblocking(False)
                while True:
                    chunk = slow.recv(1 << 20)
                    if not chunk:
                        return True  # EOF: the gateway closed it
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True
            finally:
                slow.setblocking(True)

        # Reading only after the gateway gave up: drain until EOF.
        wait_for(lambda: g.log_has("over --maxOutputBuffer"), 20, "the slow reader cut off")
        wait_for(closed, 20, "EOF on the slow reader")
        assert c.ping() is True
        assert len(c.get("big")) == 100_000
    finally:
        assert g.stop() == 0


ADMIN = os.path.join(os.path.dirname(SHARD), "tessera-admin")


def slots_cli(listener, *args):
    p = subprocess.run([ADMIN, "--json", "--timeout-ms=15000", "slots", listener] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_slot_range_reassignment_needs_an_empty_range_and_every_replica_agrees(cluster, gateway):
    """The routing table lives in the default group: `tessera-admin slots assign` refuses a
    range that still holds keys, then moves an emptied range to the other group; every shard
    serves the same new version, the gateway follows, and the key goes to its new group; moved
    back, the first group serves it again."""
    import json
    from test_shard_cluster import crc16_slot
    c = gateway.client()
    key = key_in_group(cluster, 1, prefix="mv")
    slot = crc16_slot(key)
    listeners = [f"127.0.0.1:{n.group_ports[cluster.groups[-1]]}" for n in cluster.nodes]
    code, out, err = slots_cli(listeners[0], "show")
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    assert c.set(key, "v") is True
    # Refused while the key is there (counted on group 1's leader, wherever it is).
    code, out, err = slots_cli(listeners[1], "assign", str(slot), str(slot), "2")
    assert code == 1, (out, err)
    assert f"hold 1 key(s) in group 1" in err
    assert c.delete(key) == 1
    code, out, err = slots_cli(listeners[2], "assign", str(slot), str(slot), "2")
    assert code == 0, err
    table = json.loads(out)
    assert table["version"] == 2
    assert {"first": slot, "last": slot, "group": 2} in table["ranges"]
    # A stale expected version is refused.
    code, out, err = slots_cli(listeners[0], "assign", "0", "0", "2", "--expected-version=1")
    assert code == 1 and "version 2" in err, (out, err)

    # Every replica applied the same table.
    def agreed():
        shown = [slots_cli(l, "show") for l in listeners]
        return all(code == 0 for code, _, _ in shown) and \
            all(json.loads(o) == table for _, o, _ in shown)
    wait_for(agreed, 15, "every shard serving routing table version 2")
    wait_for(lambda: c.info("cluster")["routing_table_version"] == 2, 15,
             "the gateway on version 2")
    # The key now lives in group 2, through the gateway and at the shards.
    assert c.set(key, "moved") is True
    leaders = wait_leaders(cluster, 15)
    assert key in leaders[2].client().execute_command("TESSERA.INGROUP", 2, "KEYS", "*")
    assert key not in leaders[1].client().execute_command("TESSERA.INGROUP", 1, "KEYS", "*")
    assert leaders[2].client().get(key) == "moved"
    follower = next(n for n in cluster.nodes if n is not leaders[2])
    with pytest.raises(redis.ResponseError, match=f"MOVED {slot} "):
        follower.client().get(key)
    status, body = gateway.http("/metrics")
    assert "tessera_gateway_topology_version 2" in body
    # Group 1 fenced the slot when it gave it away (a writer with the old table gets TRYAGAIN,
    # tested at apply in KvStateMachineTest); moving it back lifts that fence: group 1 serves
    # the key again.
    assert c.delete(key) == 1
    code, out, err = slots_cli(listeners[1], "assign", str(slot), str(slot), "1")
    assert code == 0, err
    wait_for(lambda: c.info("cluster")["routing_table_version"] == 3, 15,
             "the gateway on version 3")
    assert c.set(key, "back") is True
    leaders = wait_leaders(cluster, 15)
    assert key in leaders[1].client().execute_command("TESSERA.INGROUP", 1, "KEYS", "*")
    assert c.get(key) == "back"


def test_retry_budget_exhaustion_is_an_error_and_counted(cluster, tmp_path):
    g = Gateway(cluster, str(tmp_path), extra=["--retryBudgetMs", "300"])
    try:
        wait_leaders(cluster, 15)
        c = g.client()
        wait_for(lambda: c.set("b", "1"), 20, "gateway up")
        # Two of three nodes gone: no group can elect a leader.
        for n in cluster.nodes[:2]:
            cluster.stop(n, signal.SIGKILL)
        # A surviving leader may still serve reads until its lease runs out (CheckQuorum then
        # makes it step down); after that every attempt ends in an error once the budget is
        # spent.
        def get_fails():
            try:
                c.get("b")
            except redis.RedisError:
                return True
            return False

        wait_for(get_fails, 8, "GET answered with an error without a quorum")
        status, body = g.http("/metrics")
        count = [float(line.split()[1]) for line in body.splitlines()
                 if line.startswith("tessera_gateway_retry_budget_exhausted_total ")]
        assert count and count[0] >= 1, body
    finally:
        assert g.stop() == 0


def test_two_gateways_serve_one_keyspace_and_one_survives_the_others_death(cluster, tmp_path):
    g1 = Gateway(cluster, str(tmp_path))
    g2 = Gateway(cluster, str(tmp_path))
    try:
        wait_leaders(cluster, 15)
        c1, c2 = g1.client(), g2.client()
        wait_for(lambda: c1.set("two", "1") and c2.get("two") == "1", 20, "both gateways up")
        a = keys_in_group(cluster, 1, 20, "tg1")
        b = keys_in_group(cluster, 2, 20, "tg2")
        assert c1.mset({k: f"1:{k}" for k in a + b}) is True
        assert c2.mget(a + b) == [f"1:{k}" for k in a + b]
        p = c2.pipeline(transaction=False)
        for k in b:
            p.incr(f"{k}-n")
        p.execute()
        assert c1.mget([f"{k}-n" for k in b]) == ["1"] * len(b)
        assert c1.dbsize() == c2.dbsize() == 1 + 2 * len(a) + len(b)
        # kill -9 the first gateway: the second keeps serving everything, old data included.
        g1.proc.kill()
        g1.proc.wait(timeout=10)
        g1.proc = None
        assert c2.mget(a + b) == [f"1:{k}" for k in a + b]
        assert c2.set("after", "x") is True and c2.get("after") == "x"
        assert sorted(c2.keys("tg1*")) == sorted(a)
    finally:
        g1.stop()
        assert g2.stop() == 0
