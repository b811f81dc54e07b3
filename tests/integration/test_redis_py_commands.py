"""Acceptance: every command of issue 4 through redis-py's high-level API, against the leader
of the key's group in a 3-node x 2-group tessera-shard cluster (and the keyless commands on a
3-node x 1-group cluster, which answers them itself). RESP3 shapes are checked on raw sockets:
redis-py 4.x (Debian's python3-redis) speaks RESP2 only.

TESSERA_REDIS_PY_REFERENCE=1 runs the same assertions against a redis-server 7.0 started by
the test, to check that they state Redis's behaviour; tests about the cluster itself (MOVED,
keyless refusal, raft INFO) skip in that mode with a reason.

Blocking commands wait on the leader (parked until a push, their timeout or a leadership
change); WATCH goes through the replicated watch rows.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis

from shard_cluster import ShardCluster, free_port, wait_for
from test_shard_cluster import crc16_slot, group_of_slot


def key_slot(key):
    """Redis Cluster's slot: CRC16 of the {hash tag} when the key has a non-empty one."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16_slot(key)

BINARY = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
REFERENCE = os.environ.get("TESSERA_REDIS_PY_REFERENCE") == "1"
PASSWORD = "s3cret"

CLUSTER_ONLY = pytest.mark.skipif(REFERENCE, reason="about the tessera cluster, not Redis")


# ---------------------------------------------------------------------------------------------
# Targets: where each key's commands go.

def raw_info(client, *sections):
    client = redis.Redis(connection_pool=client.connection_pool)
    client.set_response_callback("INFO", lambda raw, **kw: raw)
    text = client.execute_command("INFO", *sections)
    return text.decode() if isinstance(text, bytes) else text


def group_roles(client):
    """{group: role} from INFO replication's '# Replication group N' subsections."""
    roles, current = {}, None
    for line in raw_info(client, "replication").splitlines():
        m = re.match(r"# Replication group (\d+)", line)
        if m:
            current = int(m.group(1))
        elif current is not None and line.startswith("role:"):
            roles[current] = line.split(":", 1)[1]
    return roles


class ClusterTarget:
    """A running cluster; clients connect to the leader of a key's group."""

    def __init__(self, cluster, password=None):
        self.cluster = cluster
        self.password = password
        self.leaders = {}

    def node_client(self, node, **kw):
        kw.setdefault("decode_responses", True)
        return redis.Redis(host="127.0.0.1", port=node.redis_port, socket_timeout=10,
                           password=self.password, **kw)

    def find_leaders(self):
        views = {}
        for n in self.cluster.nodes:
            for g, role in group_roles(self.node_client(n)).items():
                if role == "leader":
                    views.setdefault(g, set()).add(n)
        if any(len(views.get(g, ())) != 1 for g in self.cluster.groups):
            return None
        self.leaders = {g: next(iter(views[g])) for g in self.cluster.groups}
        return self.leaders

    def group_of(self, key):
        return group_of_slot(self.cluster.groups, key_slot(key))

    def leader_node(self, key):
        # Asked afresh each time: a long apply elsewhere in the module may have moved a leader.
        wait_for(self.find_leaders, 20, "one leader per group")
        return self.leaders[self.group_of(key)]

    def client(self, key, **kw):
        return self.node_client(self.leader_node(key), **kw)

    def follower_client(self, key):
        leader = self.leader_node(key)
        return self.node_client(next(n for n in self.cluster.nodes if n is not leader))

    def address(self, key):
        n = self.leader_node(key)
        return ("127.0.0.1", n.redis_port)


class ReferenceTarget:
    """redis-server 7.0: every key on the one server."""

    def __init__(self, port, password=None):
        self.port = port
        self.password = password

    def client(self, key, **kw):
        kw.setdefault("decode_responses", True)
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10,
                           password=self.password, **kw)

    def address(self, key):
        return ("127.0.0.1", self.port)


def start_reference(root, password=None):
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(root)]
    if password:
        args += ["--requirepass", password]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = ReferenceTarget(port, password)
    wait_for(lambda: target.client("x").ping(), 20, "redis-server to serve")
    return proc, target


def stop_process(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """3 nodes x 2 groups (or redis-server in reference mode)."""
    root = tmp_path_factory.mktemp("pycmds")
    if REFERENCE:
        proc, t = start_reference(root)
        yield t
        stop_process(proc)
        return
    c = ShardCluster(BINARY, str(root))
    c.start_all()
    t = ClusterTarget(c)
    try:
        wait_for(t.find_leaders, 30, "one leader per group")
        yield t
    finally:
        c.stop_all(signal.SIGKILL)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """3 nodes x 1 group with --requirepass: keyless commands and AUTH."""
    root = tmp_path_factory.mktemp("pycmds1")
    if REFERENCE:
        proc, t = start_reference(root, PASSWORD)
        yield t
        stop_process(proc)
        return
    c = ShardCluster(BINARY, str(root), groups=(1,), extra_args=["--requirepass", PASSWORD])
    c.start_all()
    t = ClusterTarget(c, PASSWORD)
    try:
        wait_for(t.find_leaders, 30, "a leader")
        yield t
    finally:
        c.stop_all(signal.SIGKILL)


def tag_for_group(group, groups=(1, 2)):
    for i in range(10000):
        tag = f"t{i}"
        if group_of_slot(list(groups), crc16_slot(tag)) == group:
            return tag
    raise AssertionError(group)


@pytest.fixture(params=[1, 2], ids=["group1", "group2"])
def k(request):
    """Key names for one test, all in one hash slot of the parametrized group."""
    tag = tag_for_group(request.param)
    prefix = re.sub(r"\W", "_", request.node.name)
    return lambda name: f"{{{tag}}}{prefix}:{name}"


@pytest.fixture
def r(target, k):
    return target.client(k(""))


# ---------------------------------------------------------------------------------------------
# Strings

def test_strings(r, k):
    s, t, n = k("s"), k("t"), k("n")
    assert r.set(s, "v") is True
    assert r.get(s) == "v"
    assert r.set(s, "w", nx=True) is None
    assert r.set(s, "w", xx=True) is True
    assert r.set(t, "x", xx=True) is None
    assert r.set(s, "y", get=True) == "w"
    assert r.set(s, "z", ex=100) is True
    assert 0 < r.ttl(s) <= 100
    assert r.set(s, "z2", keepttl=True) is True
    assert 0 < r.ttl(s) <= 100
    assert r.set(s, "z3", px=100000) is True
    assert 0 < r.pttl(s) <= 100000
    now = int(time.time())
    assert r.set(s, "z4", exat=now + 1000) is True
    assert 900 < r.ttl(s) <= 1000
    assert r.set(s, "z5", pxat=(now + 1000) * 1000) is True
    assert 900 < r.ttl(s) <= 1000
    assert r.setnx(t, "1") is True
    assert r.setnx(t, "2") is False
    assert r.setex(t, 100, "3") is True
    assert 0 < r.ttl(t) <= 100
    assert r.psetex(t, 100000, "4") is True
    assert 0 < r.pttl(t) <= 100000
    assert r.getset(t, "5") == "4"
    assert r.ttl(t) == -1  # GETSET drops the TTL
    assert r.getdel(t) == "5"
    assert r.get(t) is None
    assert r.getdel(t) is None
    r.set(t, "6")
    assert r.getex(t, ex=50) == "6"
    assert 0 < r.ttl(t) <= 50
    assert r.getex(t, persist=True) == "6"
    assert r.ttl(t) == -1
    assert r.mset({s: "a", t: "b"}) is True
    assert r.mget([s, t, k("missing")]) == ["a", "b", None]
    assert r.msetnx({k("m1"): "1", k("m2"): "2"}) is True
    assert r.msetnx({k("m2"): "x", k("m3"): "3"}) is False
    assert r.get(k("m3")) is None
    assert r.append(s, "bc") == 3
    assert r.strlen(s) == 3
    assert r.incr(n) == 1
    assert r.incrby(n, 10) == 11
    assert r.decr(n) == 10
    assert r.decrby(n, 4) == 6
    assert r.incrbyfloat(n, 1.5) == 7.5
    assert r.get(n) == "7.5"
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.incr(n)
    r.set(s, "Hello World")
    assert r.getrange(s, 0, 4) == "Hello"
    assert r.getrange(s, -5, -1) == "World"
    assert r.setrange(s, 6, "Redis") == 11
    assert r.get(s) == "Hello Redis"
    assert r.setrange(k("pad"), 3, "x") == 4
    assert r.get(k("pad")) == "\x00\x00\x00x"


def test_wrongtype_and_syntax_errors_use_redis_texts(r, k):
    r.hset(k("h"), "f", "v")
    with pytest.raises(redis.ResponseError,
                       match="^WRONGTYPE Operation against a key holding the wrong kind of value$"):
        r.get(k("h"))
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("SET", k("x"), "v", "NX", "XX")


# ---------------------------------------------------------------------------------------------
# Keys

def test_keys(r, k):
    a, b, c = k("a"), k("b"), k("c")
    r.mset({a: "1", b: "2"})
    assert r.exists(a, b, c) == 2
    assert r.type(a) == "string"
    assert r.type(c) == "none"
    assert r.touch(a, b, c) == 2
    assert r.delete(a, c) == 1
    assert r.unlink(b) == 1
    assert r.exists(a, b) == 0
    r.set(a, "x")
    assert r.rename(a, b) is True
    assert r.get(b) == "x"
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.rename(a, c)
    r.set(a, "y")
    assert r.renamenx(a, b) is False
    assert r.renamenx(a, c) is True
    # EXPIRE and friends, with NX XX GT LT.
    assert r.expire(b, 100) is True
    assert r.expire(b, 200, nx=True) is False
    assert r.expire(b, 200, xx=True) is True
    assert r.expire(b, 50, gt=True) is False
    assert r.expire(b, 50, lt=True) is True
    assert 0 < r.ttl(b) <= 50
    assert r.pexpire(b, 100000) is True
    assert 50000 < r.pttl(b) <= 100000
    at = int(time.time()) + 1000
    assert r.expireat(b, at) is True
    assert r.expiretime(b) == at
    assert r.pexpireat(b, at * 1000 + 5) is True
    assert r.pexpiretime(b) == at * 1000 + 5
    assert r.persist(b) is True
    assert r.persist(b) is False
    assert r.ttl(b) == -1
    assert r.pttl(b) == -1
    assert r.expiretime(b) == -1
    assert r.pexpiretime(b) == -1
    assert r.ttl(k("missing")) == -2
    assert r.pttl(k("missing")) == -2
    assert r.expiretime(k("missing")) == -2
    assert r.pexpiretime(k("missing")) == -2
    # A past time deletes the key.
    assert r.pexpire(c, -1) is True
    assert r.exists(c) == 0


def test_expired_key_disappears(r, k):
    assert r.set(k("e"), "v", px=100) is True
    wait_for(lambda: r.get(k("e")) is None, 10, "the key to expire")
    assert r.exists(k("e")) == 0


def test_keyless_commands_on_a_single_group_cluster(single):
    r = single.client("any")
    assert r.flushall() is True
    assert r.dbsize() == 0
    assert r.randomkey() is None
    r.mset({"ka": "1", "kb": "2", "other": "3"})
    r.hset("hk", "f", "v")
    r.expire("ka", 1000)
    assert r.dbsize() == 4
    assert sorted(r.keys("k*")) == ["ka", "kb"]
    assert sorted(r.keys()) == ["hk", "ka", "kb", "other"]
    assert r.randomkey() in {"hk", "ka", "kb", "other"}
    seen, cursor = set(), 0
    while True:
        cursor, batch = r.scan(cursor, match="*", count=2)
        seen.update(batch)
        if cursor == 0:
            break
    assert seen == {"hk", "ka", "kb", "other"}
    assert sorted(r.scan(0, count=100, _type="hash")[1]) == ["hk"]
    assert sorted(r.scan(0, match="k?", count=100)[1]) == ["ka", "kb"]
    assert list(sorted(r.scan_iter(count=1))) == ["hk", "ka", "kb", "other"]
    info = r.info("keyspace")
    assert info["db0"]["keys"] == 4
    assert info["db0"]["expires"] == 1
    assert r.flushdb() is True
    assert r.dbsize() == 0
    r.set("x", "1")
    assert r.flushdb(asynchronous=True) is True
    assert r.flushall(asynchronous=False) is True
    assert r.dbsize() == 0


@CLUSTER_ONLY
def test_keyless_commands_on_a_multi_group_shard(target, k):
    """A node that leads every group it hosts answers them over all groups; another refuses
    them, and SCAN (whose cursor cannot walk several groups here) is always refused."""
    r = target.client(k(""))
    leads_all = raw_info(r, "replication").count("role:leader") == 2
    calls = [(r.dbsize, "dbsize"), (r.keys, "keys"), (r.randomkey, "randomkey"),
             (r.flushdb, "flushdb"), (r.flushall, "flushall")]
    if leads_all:
        r.set(k("a"), "1")
        assert r.dbsize() >= 1
        keys = [x.decode() if isinstance(x, bytes) else x for x in r.keys("*")]
        assert k("a") in keys
        assert r.randomkey() is not None
        assert r.flushdb() is True
        assert r.dbsize() == 0
        calls = []
    calls.append((r.scan, "scan"))
    for call, name in calls:
        with pytest.raises(redis.ResponseError,
                           match=f"^'{name}' covers every group of the cluster; send it "
                                 "through a gateway$"):
            call()


@CLUSTER_ONLY
def test_follower_answers_moved_to_the_leader(target, k):
    key = k("m")
    with pytest.raises(redis.ResponseError) as moved:
        target.follower_client(key).get(key)
    host, port = target.address(key)
    assert str(moved.value) == f"MOVED {key_slot(key)} {host}:{port}"


@CLUSTER_ONLY
def test_deleted_big_hash_is_collected_on_every_replica(target, k):
    """DEL answers at once; the leader's TESSERA.GC entries then delete the 20k sub-key rows
    on every replica (INFO memory's lazyfree_pending_objects counts the queued versions)."""
    h = k("big")
    r = target.client(h)
    for chunk in range(4):
        fields = {f"f{chunk}-{i}": "v" for i in range(5000)}
        assert r.hset(h, mapping=fields) == 5000
    assert r.hlen(h) == 20_000
    started = time.monotonic()
    assert r.delete(h) == 1
    assert time.monotonic() - started < 2
    assert r.exists(h) == 0
    nodes = [target.node_client(n) for n in target.cluster.nodes]
    wait_for(lambda: all(c.info("memory")["lazyfree_pending_objects"] == 0 for c in nodes), 60,
             "every replica to collect the hash's rows")


# ---------------------------------------------------------------------------------------------
# Hashes

def test_hashes(r, k):
    h = k("h")
    assert r.hset(h, "f1", "v1") == 1
    assert r.hset(h, mapping={"f2": "v2", "f3": "v3"}) == 2
    assert r.hset(h, "f1", "v1b") == 0
    assert r.hsetnx(h, "f1", "x") == 0
    assert r.hsetnx(h, "f4", "v4") == 1
    assert r.hget(h, "f1") == "v1b"
    assert r.hget(h, "nope") is None
    assert r.hmget(h, ["f1", "nope", "f2"]) == ["v1b", None, "v2"]
    with pytest.warns(DeprecationWarning):
        assert r.hmset(h, {"f5": "v5"}) is True
    assert r.hdel(h, "f5", "nope") == 1
    assert r.hexists(h, "f1") is True
    assert r.hexists(h, "nope") is False
    assert r.hlen(h) == 4
    assert r.hstrlen(h, "f1") == 3
    assert sorted(r.hkeys(h)) == ["f1", "f2", "f3", "f4"]
    assert sorted(r.hvals(h)) == ["v1b", "v2", "v3", "v4"]
    assert r.hgetall(h) == {"f1": "v1b", "f2": "v2", "f3": "v3", "f4": "v4"}
    assert r.hgetall(k("missing")) == {}
    assert r.hincrby(h, "n", 5) == 5
    assert r.hincrby(h, "n", -2) == 3
    assert r.hincrbyfloat(h, "x", 1.25) == 1.25
    assert r.hincrbyfloat(h, "x", 0.5) == 1.75
    with pytest.raises(redis.ResponseError, match="^hash value is not an integer$"):
        r.hincrby(h, "f1", 1)
    fields, cursor = {}, 0
    while True:
        cursor, batch = r.hscan(h, cursor, count=2)
        fields.update(batch)
        if cursor == 0:
            break
    assert fields == r.hgetall(h)
    assert r.hscan(h, 0, match="f*", count=100)[1] == {
        "f1": "v1b", "f2": "v2", "f3": "v3", "f4": "v4"}
    assert r.hrandfield(h) in fields
    three = r.hrandfield(h, 3)
    assert len(set(three)) == 3 and set(three) <= fields.keys()
    assert len(r.hrandfield(h, -10)) == 10
    pairs = r.hrandfield(h, 2, withvalues=True)
    assert len(pairs) == 4 and fields[pairs[0]] == pairs[1]
    assert r.hrandfield(k("missing")) is None


# ---------------------------------------------------------------------------------------------
# Lists

def test_lists(r, k):
    lst, dst = k("l"), k("d")
    assert r.lpushx(lst, "x") == 0
    assert r.rpushx(lst, "x") == 0
    assert r.rpush(lst, "a", "b", "c") == 3
    assert r.lpush(lst, "z") == 4
    assert r.lpushx(lst, "y") == 5
    assert r.rpushx(lst, "d") == 6
    assert r.lrange(lst, 0, -1) == ["y", "z", "a", "b", "c", "d"]
    assert r.llen(lst) == 6
    assert r.lindex(lst, 2) == "a"
    assert r.lindex(lst, -1) == "d"
    assert r.lindex(lst, 100) is None
    assert r.lset(lst, 0, "Y") is True
    with pytest.raises(redis.ResponseError, match="^index out of range$"):
        r.lset(lst, 100, "x")
    assert r.lpop(lst) == "Y"
    assert r.rpop(lst) == "d"
    assert r.lpop(lst, 2) == ["z", "a"]
    assert r.rpop(lst, 5) == ["c", "b"]
    assert r.lpop(lst) is None
    assert r.lpop(lst, 2) is None
    r.rpush(lst, "a", "b", "a", "c", "a")
    assert r.lrem(lst, 2, "a") == 2
    assert r.lrange(lst, 0, -1) == ["b", "c", "a"]
    assert r.linsert(lst, "before", "c", "x") == 4
    assert r.linsert(lst, "after", "c", "y") == 5
    assert r.linsert(lst, "after", "nope", "y") == -1
    assert r.lrange(lst, 0, -1) == ["b", "x", "c", "y", "a"]
    assert r.lpos(lst, "c") == 2
    assert r.lpos(lst, "nope") is None
    r.rpush(lst, "c")
    assert r.lpos(lst, "c", rank=2) == 5
    assert r.lpos(lst, "c", count=0) == [2, 5]
    assert r.lpos(lst, "b", rank=-1, maxlen=3) is None
    assert r.ltrim(lst, 1, -2) is True
    assert r.lrange(lst, 0, -1) == ["x", "c", "y", "a"]
    assert r.lmove(lst, dst, "LEFT", "RIGHT") == "x"
    assert r.lmove(lst, dst, "RIGHT", "LEFT") == "a"
    assert r.rpoplpush(lst, dst) == "y"
    assert r.lrange(dst, 0, -1) == ["y", "a", "x"]
    assert r.lmove(k("missing"), dst) is None


def test_blocking_list_commands_answer_when_data_is_there(r, k):
    a, b = k("a"), k("b")
    r.rpush(a, "1", "2")
    assert r.blpop([k("empty"), a], timeout=1) == (a, "1")
    assert r.brpop([a], timeout=1) == (a, "2")
    r.rpush(a, "3")
    assert r.blmove(a, b, 1, "LEFT", "RIGHT") == "3"
    assert r.lrange(b, 0, -1) == ["3"]


def test_blocking_list_commands_time_out_with_nil(r, k):
    started = time.monotonic()
    assert r.blpop([k("none")], timeout=0.2) is None
    assert r.brpop([k("none")], timeout=0.2) is None
    assert r.blmove(k("none"), k("dst"), 0.2) is None
    assert time.monotonic() - started < 5


def push_later(client, key, *values, delay=0.3):
    def run():
        time.sleep(delay)
        client.rpush(key, *values)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_blpop_waits_for_a_push(target, k):
    key = k("q")
    waiter, pusher = target.client(key), target.client(key)
    t = push_later(pusher, key, "late")
    try:
        assert waiter.blpop([key], timeout=5) == (key, "late")
    finally:
        t.join()


def test_brpop_waits_for_a_push(target, k):
    key = k("q")
    waiter, pusher = target.client(key), target.client(key)
    t = push_later(pusher, key, "x", "late")
    try:
        assert waiter.brpop([key], timeout=5) == (key, "late")
    finally:
        t.join()


def test_blmove_waits_for_a_push(target, k):
    key, dst = k("q"), k("dst")
    waiter, pusher = target.client(key), target.client(key)
    t = push_later(pusher, key, "late")
    try:
        assert waiter.blmove(key, dst, 5, "LEFT", "LEFT") == "late"
        assert waiter.lrange(dst, 0, -1) == ["late"]
    finally:
        t.join()


def test_blocking_timeout_is_served_on_the_leader(target, k):
    started = time.monotonic()
    assert target.client(k("q")).blpop([k("q")], timeout=0.5) is None
    assert time.monotonic() - started >= 0.45


# ---------------------------------------------------------------------------------------------
# Sets

def test_sets(r, k):
    s1, s2, s3, d = k("s1"), k("s2"), k("s3"), k("d")
    assert r.sadd(s1, "a", "b", "c") == 3
    assert r.sadd(s1, "a") == 0
    assert r.sadd(s2, "b", "c", "d") == 3
    assert r.srem(s1, "c", "nope") == 1
    assert r.smembers(s1) == {"a", "b"}
    assert r.smembers(k("missing")) == set()
    assert r.sismember(s1, "a") is True
    assert r.sismember(s1, "z") is False
    assert r.smismember(s1, ["a", "z", "b"]) == [True, False, True]
    assert r.scard(s1) == 2
    assert r.smove(s1, s2, "a") is True
    assert r.smove(s1, s2, "nope") is False
    assert r.smembers(s2) == {"a", "b", "c", "d"}
    r.sadd(s1, "c", "x")
    assert r.sinter([s1, s2]) == {"b", "c"}
    assert r.sunion([s1, s2]) == {"a", "b", "c", "d", "x"}
    assert r.sdiff([s2, s1]) == {"a", "d"}
    assert r.sinterstore(d, [s1, s2]) == 2
    assert r.smembers(d) == {"b", "c"}
    assert r.sunionstore(d, [s1, s2]) == 5
    assert r.sdiffstore(d, [s2, s1]) == 2
    assert r.smembers(d) == {"a", "d"}
    assert r.sintercard(2, [s1, s2]) == 2
    assert r.sintercard(2, [s1, s2], limit=1) == 1
    members, cursor = set(), 0
    while True:
        cursor, batch = r.sscan(s2, cursor, count=2)
        members.update(batch)
        if cursor == 0:
            break
    assert members == {"a", "b", "c", "d"}
    assert sorted(r.sscan(s2, 0, match="[ab]", count=100)[1]) == ["a", "b"]
    assert r.srandmember(s2) in members
    assert len(r.srandmember(s2, 3)) == 3
    assert len(r.srandmember(s2, -6)) == 6
    assert r.srandmember(k("missing")) is None
    popped = r.spop(s2)
    assert popped in members
    assert set(r.spop(s2, 2)) <= members - {popped}
    assert r.scard(s2) == 1
    assert r.spop(k("missing")) is None


# ---------------------------------------------------------------------------------------------
# Sorted sets

def test_sorted_sets(r, k):
    z, z2, d = k("z"), k("z2"), k("d")
    assert r.zadd(z, {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd(z, {"a": 10}, nx=True) == 0
    assert r.zadd(z, {"a": 1.5, "n": 9}, xx=True, ch=True) == 1
    assert r.zadd(z, {"a": 0.5}, gt=True, ch=True) == 0
    assert r.zadd(z, {"a": 0.5}, lt=True, ch=True) == 1
    assert r.zadd(z, {"a": 2}, incr=True) == 2.5
    assert r.zadd(z, {"a": -1}, xx=True, incr=True, gt=True) is None
    assert r.zcard(z) == 3
    assert r.zscore(z, "a") == 2.5
    assert r.zscore(z, "nope") is None
    assert r.zmscore(z, ["a", "nope", "c"]) == [2.5, None, 3.0]
    assert r.zincrby(z, -0.5, "a") == 2.0
    assert r.zrank(z, "a") == 0  # a=2 and b=2: equal scores order by member
    assert r.zrevrank(z, "c") == 0
    assert r.zrank(z, "nope") is None
    assert r.zcount(z, 2, 3) == 3
    assert r.zcount(z, "(2", "+inf") == 1
    assert r.zrem(z, "b", "nope") == 1
    r.zadd(z, {"b": 2, "d": 4, "e": 5})
    # Same-score members for the lex commands.
    r.zadd(z2, {"a": 0, "b": 0, "c": 0, "d": 0, "e": 0})
    assert r.zlexcount(z2, "[b", "(d") == 2
    assert r.zrangebylex(z2, "-", "(c") == ["a", "b"]
    assert r.zrangebylex(z2, "[b", "+", start=1, num=2) == ["c", "d"]
    assert r.zrevrangebylex(z2, "+", "[c") == ["e", "d", "c"]
    assert r.zrevrangebylex(z2, "(d", "-", start=1, num=1) == ["b"]
    assert r.zrange(z, 0, -1) == ["a", "b", "c", "d", "e"]
    assert r.zrange(z, 0, 1, withscores=True) == [("a", 2.0), ("b", 2.0)]
    assert r.zrange(z, 0, 1, desc=True) == ["e", "d"]
    assert r.zrange(z, 2, 4, byscore=True) == ["a", "b", "c", "d"]
    assert r.zrange(z, "(2", 5, byscore=True, offset=1, num=2) == ["d", "e"]
    assert r.zrange(z2, "[b", "[c", bylex=True) == ["b", "c"]
    assert r.zrange(z, 5, 3, byscore=True, desc=True, withscores=True) == [
        ("e", 5.0), ("d", 4.0), ("c", 3.0)]
    assert r.zrangebyscore(z, 3, "+inf") == ["c", "d", "e"]
    assert r.zrangebyscore(z, "-inf", "+inf", start=1, num=2, withscores=True) == [
        ("b", 2.0), ("c", 3.0)]
    assert r.zrevrangebyscore(z, 4, 2) == ["d", "c", "b", "a"]
    assert r.zrevrangebyscore(z, "+inf", "-inf", start=0, num=1, withscores=True) == [
        ("e", 5.0)]
    assert r.zrevrange(z, 0, 1) == ["e", "d"]
    assert r.zrevrange(z, 0, 0, withscores=True) == [("e", 5.0)]
    assert r.zremrangebyrank(z, 0, 0) == 1
    assert r.zremrangebyscore(z, 4, "(5") == 1
    assert r.zremrangebylex(z2, "[a", "[b") == 2
    assert r.zrange(z, 0, -1, withscores=True) == [("b", 2.0), ("c", 3.0), ("e", 5.0)]
    assert r.zpopmin(z) == [("b", 2.0)]
    assert r.zpopmax(z, 2) == [("e", 5.0), ("c", 3.0)]
    assert r.zpopmin(z) == []
    r.zadd(z, {"x": 1, "y": 2, "w": 3})
    assert r.zrandmember(z) in {"x", "y", "w"}
    assert sorted(r.zrandmember(z, 3)) == ["w", "x", "y"]
    assert len(r.zrandmember(z, -5)) == 5
    pairs = r.zrandmember(z, 1, withscores=True)
    assert len(pairs) == 2 and float(pairs[1]) == {"x": 1, "y": 2, "w": 3}[pairs[0]]
    assert r.zrandmember(k("missing")) is None
    r.zadd(z2, {"x": 10, "q": 1})
    assert r.zunionstore(d, [z, z2]) == 7
    assert r.zscore(d, "x") == 11.0
    assert r.zunionstore(d, {z: 2, z2: 1}, aggregate="MAX") == 7
    assert r.zscore(d, "x") == 10.0
    assert r.zinterstore(d, [z, z2]) == 1
    assert r.zrange(d, 0, -1, withscores=True) == [("x", 11.0)]
    assert r.zinterstore(d, [z, z2], aggregate="MIN") == 1
    assert r.zscore(d, "x") == 1.0
    members, cursor = {}, 0
    while True:
        cursor, batch = r.zscan(z2, cursor, count=2)
        members.update(dict(batch))
        if cursor == 0:
            break
    assert members == {"c": 0.0, "d": 0.0, "e": 0.0, "x": 10.0, "q": 1.0}
    assert r.zscan(z2, 0, match="[xq]")[1] == [("q", 1.0), ("x", 10.0)]


def test_blocking_zset_commands_answer_when_data_is_there(r, k):
    z = k("z")
    r.zadd(z, {"a": 1, "b": 2})
    assert r.bzpopmin([k("empty"), z], timeout=1) == (z, "a", 1.0)
    assert r.bzpopmax([z], timeout=1) == (z, "b", 2.0)
    assert r.bzpopmin([z], timeout=0.2) is None
    assert r.bzpopmax([z], timeout=0.2) is None


def zadd_later(client, key, delay=0.3):
    def run():
        time.sleep(delay)
        client.zadd(key, {"late": 7})
    t = threading.Thread(target=run)
    t.start()
    return t


def test_bzpopmin_waits_for_a_zadd(target, k):
    key = k("z")
    t = zadd_later(target.client(key), key)
    try:
        assert target.client(key).bzpopmin([key], timeout=5) == (key, "late", 7.0)
    finally:
        t.join()


def test_bzpopmax_waits_for_a_zadd(target, k):
    key = k("z")
    t = zadd_later(target.client(key), key)
    try:
        assert target.client(key).bzpopmax([key], timeout=5) == (key, "late", 7.0)
    finally:
        t.join()


# ---------------------------------------------------------------------------------------------
# Transactions

def test_multi_exec_is_atomic_and_in_order(r, k):
    a, b = k("a"), k("b")
    with r.pipeline(transaction=True) as p:
        p.set(a, "1").incr(a).rpush(b, "x").lrange(b, 0, -1).get(a)
        assert p.execute() == [True, 2, 1, ["x"], "2"]


def test_multi_exec_reports_command_errors_in_place(r, k):
    a = k("a")
    with r.pipeline(transaction=True) as p:
        p.set(a, "x").incr(a).get(a)
        result = p.execute(raise_on_error=False)
    assert result[0] is True and result[2] == "x"
    assert isinstance(result[1], redis.ResponseError)


def test_discard_drops_the_queue(target, k):
    a = k("a")
    r = target.client(a, single_connection_client=True)
    r.set_response_callback("SET", lambda reply, **kw: reply)  # keep QUEUED as it came
    assert r.execute_command("MULTI") == "OK"
    assert r.execute_command("SET", a, "queued") == "QUEUED"
    assert r.execute_command("DISCARD") == "OK"
    assert r.get(a) is None
    with pytest.raises(redis.ResponseError, match="^DISCARD without MULTI$"):
        r.execute_command("DISCARD")


@CLUSTER_ONLY
def test_transaction_across_groups_is_refused(target):
    a, b = f"{{{tag_for_group(1)}}}x", f"{{{tag_for_group(2)}}}x"
    r = target.client(a)
    with r.pipeline(transaction=True) as p:
        p.set(a, "1").set(b, "2")
        with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
            p.execute()


def test_watch_aborts_exec_when_the_key_changed(target, k):
    a = k("a")
    r, other = target.client(a), target.client(a)
    r.set(a, "0")
    with r.pipeline(transaction=True) as p:
        p.watch(a)
        other.set(a, "changed")
        p.multi()
        p.set(a, "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get(a) == "changed"


def test_watch_then_unwatch_lets_exec_run(target, k):
    a = k("a")
    r = target.client(a)
    with r.pipeline(transaction=True) as p:
        p.watch(a)  # redis-py 4.x sends WATCH/UNWATCH only from a pipeline
        target.client(a).set(a, "changed")
        assert p.unwatch() is True
        p.multi()
        p.set(a, "mine")
        assert p.execute() == [True]
    assert r.get(a) == "mine"


def test_watch_unchanged_key_exec_runs(target, k):
    a = k("a")
    r = target.client(a)
    with r.pipeline(transaction=True) as p:
        p.watch(a)
        p.multi()
        p.set(a, "v")
        assert p.execute() == [True]


# ---------------------------------------------------------------------------------------------
# Pub/Sub: served by the leader of the channel's group (the channel hashes like a key)

def next_message(p):
    """The next Pub/Sub message, waiting up to 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = p.get_message(timeout=max(0.0, deadline - time.monotonic()))
        if m is not None:
            return m
    return None


def test_pubsub(target, k):
    channel, pattern = k("ch"), k("c?")
    r = target.client(channel)
    p = r.pubsub()
    p.subscribe(channel)
    assert next_message(p) == {"type": "subscribe", "pattern": None, "channel": channel,
                               "data": 1}
    p.psubscribe(pattern)
    assert next_message(p) == {"type": "psubscribe", "pattern": None, "channel": pattern,
                               "data": 2}
    assert r.publish(channel, "hello") == 2
    assert next_message(p) == {"type": "message", "pattern": None, "channel": channel,
                               "data": "hello"}
    assert next_message(p) == {"type": "pmessage", "pattern": pattern, "channel": channel,
                               "data": "hello"}
    assert r.pubsub_numsub(channel) == [(channel, 1)]
    assert channel in r.pubsub_channels()
    assert r.pubsub_numpat() >= 1
    p.unsubscribe()
    assert next_message(p) == {"type": "unsubscribe", "pattern": None, "channel": channel,
                               "data": 1}
    p.punsubscribe()
    assert next_message(p) == {"type": "punsubscribe", "pattern": None, "channel": pattern,
                               "data": 0}
    p.close()
    assert r.publish(channel, "nobody") == 0
    assert r.pubsub_numsub(channel) == [(channel, 0)]


@CLUSTER_ONLY
def test_pubsub_follower_answers_moved(target, k):
    channel = k("ch")
    host, port = target.address(channel)
    with pytest.raises(redis.ResponseError) as moved:
        target.follower_client(channel).publish(channel, "x")
    assert str(moved.value) == f"MOVED {key_slot(channel)} {host}:{port}"


# ---------------------------------------------------------------------------------------------
# Server and connection

def test_connection_commands(target, k):
    r = target.client(k(""), single_connection_client=True)
    assert r.ping() is True
    assert r.echo("hi") == "hi"
    assert r.select(0) is True
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.select(16)
    secs, micros = r.time()
    assert abs(secs - time.time()) < 60 and 0 <= micros < 1_000_000
    hello = r.execute_command("HELLO", "2")  # redis-py 4.x has no hello()
    fields = dict(zip(hello[::2], hello[1::2]))
    assert fields["proto"] == 2 and fields["server"] == "redis"
    assert fields["version"].startswith("7.0.")
    assert r.client_setname("pyclient") is True
    assert r.client_getname() == "pyclient"
    cid = r.client_id()
    assert isinstance(cid, int)
    info = r.client_info()
    assert info["name"] == "pyclient" and int(info["id"]) == cid
    assert any(c["name"] == "pyclient" for c in r.client_list())
    assert r.reset() == "RESET"
    assert r.client_getname() is None
    assert r.quit() is True


def test_client_kill(target, k):
    r = target.client(k(""), single_connection_client=True)
    victim = target.client(k(""), single_connection_client=True)
    victim.client_setname("victim")
    vid = victim.client_id()
    addr = next(c["addr"] for c in r.client_list() if c["name"] == "victim")
    assert r.client_kill_filter(_id=vid) == 1
    victim2 = target.client(k(""), single_connection_client=True)
    victim2.client_setname("victim2")
    addr = next(c["addr"] for c in r.client_list() if c["name"] == "victim2")
    assert r.client_kill(addr) is True
    with pytest.raises(redis.ResponseError, match="^No such client$"):
        r.client_kill("127.0.0.1:1")


def test_auth_with_requirepass(single):
    host, port = single.address("x")
    anon = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
    with pytest.raises(redis.AuthenticationError):
        anon.get("x")
    with pytest.raises(redis.ResponseError, match="^WRONGPASS"):
        anon.auth("wrong")
    anon = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10,
                       single_connection_client=True)
    assert anon.auth(PASSWORD) is True
    assert anon.ping() is True
    assert anon.auth(PASSWORD, username="default") is True


def test_config_get_and_command(r):
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_get("maxmemory-p*") == {"maxmemory-policy": "noeviction"}
    commands = r.command()
    assert commands["get"]["arity"] == 2
    assert commands["zrevrangebylex"]["arity"] == -4
    assert r.command_count() == len(commands)
    # redis-py 4.x has no command_info()/command_docs(), and its COMMAND callback would parse
    # these replies as the full table.
    r.set_response_callback("COMMAND", lambda reply, **kw: reply)
    info = r.execute_command("COMMAND", "INFO", "zrevrangebylex", "nosuch")
    assert info[0][:6] == ["zrevrangebylex", -4, ["readonly"], 1, 1, 1]
    assert info[1] is None
    docs = r.execute_command("COMMAND", "DOCS", "get")
    assert docs[0] == "get" and "summary" in docs[1]
    assert r.command_getkeys("MSET", "a", "1", "b", "2") == ["a", "b"]


def test_info_sections(r, k):
    r.set(k("counted"), "v", ex=1000)
    everything = r.info()
    for field in ("redis_version", "connected_clients", "used_memory", "total_commands_processed",
                  "instantaneous_ops_per_sec", "total_connections_received",
                  "rejected_connections", "used_cpu_sys", "role"):
        assert field in everything, field
    assert r.info("default").keys() == everything.keys()
    assert r.info("all").keys() >= everything.keys()
    server = r.info("server")
    assert "redis_version" in server and "connected_clients" not in server
    both = r.info("server", "clients")
    assert "redis_version" in both and "connected_clients" in both and "used_memory" not in both
    assert r.info("nosuch") == {}
    stats = r.info("stats")
    assert stats["total_commands_processed"] > 0
    assert r.info("memory")["used_memory"] > 0
    ks = r.info("keyspace")
    assert ks["db0"]["keys"] >= 1 and ks["db0"]["expires"] >= 1


@CLUSTER_ONLY
def test_info_replication_reports_raft_per_group(target, k):
    key = k("")
    r = target.client(key)
    text = raw_info(r, "replication")
    assert text.startswith("# Replication\r\nrole:master\r\n")
    group = target.group_of(key)
    section = text.split(f"# Replication group {group}\r\n", 1)[1]
    fields = dict(line.split(":", 1) for line in section.split("\r\n\r\n")[0].splitlines())
    assert fields["role"] == "leader"
    assert fields["suffrage"] == "voter"
    assert int(fields["term"]) >= 1
    assert int(fields["commit_index"]) >= int(fields["applied_index"]) - 0 >= 1
    assert fields["voters"] == "3"
    ks = raw_info(r, "keyspace")
    assert re.search(rf"^group{group}:keys=\d+,expires=\d+,avg_ttl=\d+,role=leader\r$", ks, re.M)


# ---------------------------------------------------------------------------------------------
# RESP3 shapes on a raw socket (redis-py 4.x cannot speak RESP3)

class Resp3:
    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        """(type byte, value) with nested values decoded the same way."""
        line = self.line()
        t, rest = chr(line[0]), line[1:].decode()
        if t in "+-":
            return (t, rest)
        if t == ":":
            return (t, int(rest))
        if t == ",":
            return (t, rest)
        if t == "_":
            return (t, None)
        if t == "#":
            return (t, rest == "t")
        if t in "$=":
            n = int(rest)
            return (t, None if n < 0 else self.exact(n).decode())
        if t in "*~>":
            n = int(rest)
            return (t, None if n < 0 else [self.read() for _ in range(n)])
        if t == "%":
            return (t, [(self.read(), self.read()) for _ in range(int(rest))])
        raise AssertionError(f"unknown RESP type {line!r}")


def test_resp3_shapes(target, k):
    h, s, z, g = k("h"), k("s"), k("z"), k("g")
    c = Resp3(target.address(h))
    try:
        t, hello = c.call("HELLO", "3")
        assert t == "%"
        hello = {key[1]: value for key, value in hello}
        assert hello["proto"] == (":", 3)
        assert c.call("HSET", h, "f", "v") == (":", 1)
        assert c.call("HGETALL", h) == ("%", [(("$", "f"), ("$", "v"))])
        assert c.call("SADD", s, "m") == (":", 1)
        assert c.call("SMEMBERS", s) == ("~", [("$", "m")])
        assert c.call("ZADD", z, "1.5", "a") == (":", 1)
        assert c.call("ZSCORE", z, "a") == (",", "1.5")
        assert c.call("ZRANGE", z, "0", "-1", "WITHSCORES") == (
            "*", [("*", [("$", "a"), (",", "1.5")])])
        assert c.call("ZPOPMIN", z) == ("*", [("$", "a"), (",", "1.5")])
        assert c.call("GET", g) == ("_", None)
        assert c.call("HGET", h, "nope") == ("_", None)
        assert c.call("ZINCRBY", z, "2", "b") == (",", "2")
        assert c.call("SISMEMBER", s, "m") == (":", 1)
        t, info = c.call("INFO", "server")
        assert t == "=" and info.startswith("txt:# Server\r\n")
        t, config = c.call("CONFIG", "GET", "maxmemory")
        assert (t, config) == ("%", [(("$", "maxmemory"), ("$", "0"))])
        assert c.call("HELLO", "2")[0] == "*"
        assert c.call("HGETALL", h) == ("*", [("$", "f"), ("$", "v")])
        assert c.call("GET", g) == ("$", None)
    finally:
        c.close()
