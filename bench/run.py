#!/usr/bin/python3
# The benchmark suite: Tessera beside redis-server, nutcracker and etcd on this machine in one
# run, plus restart, memory and idle-CPU figures; writes the generated table of docs/benchmarks.md.
"""bench/run.py: Tessera against its peers on this machine, in one bounded run.

Starts on 127.0.0.1 (everything stopped at the end, also on error or Ctrl-C):
  redis        redis-server, no persistence
  redis-aof    redis-server, appendonly yes + appendfsync always
  twemproxy    nutcracker in front of its own redis-server (no persistence)
  tessera      tools/local/tessera-local: 3 tessera-shard x 2 Raft groups + tessera-gateway
  etcd         a 3-member etcd cluster (etcd-server), data in a temp dir
and runs
  matrix       redis-benchmark SET/GET/INCR/LPUSH/HSET x -c 1/50/200 x -P 1/16 x 16 B / 1 KiB
               against every Redis-protocol target; each cell sized (-n) to last about
               --cell-seconds, targets interleaved per cell and rotated per round, the median
               of --rounds rounds reported (rps, p50, p99 each separately)
  kv           the same small Python client doing put/get against etcd (JSON gateway) and
               SET/GET against the Tessera gateway, plus `etcdctl check perf` (full run only)
  restart      one single-node shard holding --keys keys: restart-to-serving through the
               cold-start skip path, and through a forced full restore (the durable applied
               index deleted with RocksDB's `ldb`, so the gate falls back: missing_meta)
  memory       that shard's RSS before/after loading the keys, against redis-server with the
               same keys
  idle         CPU seconds over --idle-seconds of idle shards hosting 64 groups each (3 nodes),
               of the 2-group shards and of redis-server

Missing Debian packages (redis-server redis-tools nutcracker etcd-server etcd-client
rocksdb-tools) are installed with apt-get (needs root); missing binaries are built with the
normal build (cmake + ninja -j2, targets tessera-shard tessera-gateway tessera-admin).

The generated section of --doc (default docs/benchmarks.md, between the markers) is replaced;
the rest of the file is kept. --json writes every raw figure.
"""
import argparse
import base64
import datetime
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import report  # noqa: E402

TESTS = ("SET", "GET", "INCR", "LPUSH", "HSET")
CLIENTS = (1, 50, 200)
PIPELINES = (1, 16)
SIZES = (16, 1024)
KEYSPACE = 100000  # redis-benchmark -r; GET cells read keys the fill wrote
KV_KEYS = 2000  # keys of the etcd / Tessera put-get cells

PACKAGES = {  # command -> Debian package
    "redis-server": "redis-server", "redis-cli": "redis-tools",
    "redis-benchmark": "redis-tools", "nutcracker": "nutcracker", "etcd": "etcd-server",
    "etcdctl": "etcd-client", "ldb": "rocksdb-tools"}


class Abort(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------------

_GIVEN_PORTS = set()


def free_port():
    """A free loopback port not handed out before in this run (the kernel may return the same
    ephemeral port twice once the probing socket is closed)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base(width=40):
    """A base B with B..B+width-1 all free (tessera-local --port-base)."""
    for base in range(20000, 32000, width + 10):  # below the kernel's ephemeral range
        block = range(base, base + width)
        if not _GIVEN_PORTS.intersection(block) and all(port_free(p) for p in block):
            _GIVEN_PORTS.update(block)
            return base
    raise Abort("no free block of ports for tessera-local")


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError, RespError) as e:
            last = e
        time.sleep(0.02)
    raise Abort(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Procs:
    """Every process this run started; stop_all() ends them (SIGTERM, then SIGKILL)."""

    def __init__(self, root):
        self.root = root
        self.procs = {}  # name -> Popen
        self.local_dirs = []  # tessera-local --dir to `down`

    def start(self, name, argv, cwd=None):
        logf = open(os.path.join(self.root, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, cwd=cwd,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        self.procs[name] = p
        return p

    def stop(self, name, sig=signal.SIGTERM, timeout=30):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)

    def stop_all(self, args):
        for d in self.local_dirs:
            try:
                subprocess.run([local_tool(), "--dir", d, "--timeout", "20", "down"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            except (subprocess.SubprocessError, OSError):
                pass
        for name in list(self.procs):
            self.stop(name, timeout=15)


def local_tool():
    return os.path.join(ROOT, "tools", "local", "tessera-local")


# --- a minimal RESP client (the same cost model for every target) --------------------------------

class RespError(Exception):
    pass


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError(f"unexpected reply {line[:50]!r}")

    def call(self, *args):
        self.sock.sendall(resp_command(*args))
        return self.read()


def resp_call(port, *args, timeout=5):
    c = Resp(port, timeout)
    try:
        return c.call(*args)
    finally:
        c.close()


def info_text(port):
    v = resp_call(port, "INFO")
    return v.decode() if isinstance(v, bytes) else str(v)


def info_groups(text):
    """Shard INFO -> {gid: {field: value}} from its '# Replication group N' sections."""
    groups, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"# Replication group (\d+)", line)
        if m:
            cur = groups.setdefault(int(m.group(1)), {})
        elif line.startswith("#"):
            cur = None
        elif cur is not None and ":" in line:
            k, v = line.split(":", 1)
            cur[k] = v.strip()
    return groups


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Abort(f"no VmRSS for pid {pid}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        return report.proc_cpu_seconds(f.read(), os.sysconf("SC_CLK_TCK"))


# --- setup ---------------------------------------------------------------------------------------

def ensure_packages():
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise Abort("missing packages (run as root, or install them): apt-get install "
                    + " ".join(missing))
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    if subprocess.run(cmd, env=env, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, timeout=900, check=True)
        subprocess.run(cmd, env=env, timeout=900, check=True)


def ensure_binaries(bin_dir, may_build):
    wanted = ("tessera-shard", "tessera-gateway", "tessera-admin")
    if all(os.access(os.path.join(bin_dir, b), os.X_OK) for b in wanted):
        return
    if not may_build:
        raise Abort(f"{bin_dir} lacks {', '.join(wanted)}; build first or drop --bin-dir")
    build = os.path.dirname(bin_dir)
    log(f"building {', '.join(wanted)} into {bin_dir} (cmake + ninja -j2)")
    env = dict(os.environ)
    env.setdefault("CCACHE_BASEDIR", os.path.dirname(ROOT))
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True, env=env, timeout=1800)
    subprocess.run(["cmake", "--build", build, "-j2", "--target", *wanted], check=True, env=env,
                   timeout=7200)


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kib = 0

    def version(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {"cores": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "commit": commit,
            "redis": version(["redis-server", "--version"]),
            "nutcracker": version(["nutcracker", "--version"]),
            "etcd": version(["etcd", "--version"]),
            "loadavg_start": os.getloadavg()}


# --- targets -------------------------------------------------------------------------------------

def start_redis(procs, name, persist):
    port = free_port()
    d = os.path.join(procs.root, name)
    os.makedirs(d, exist_ok=True)
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
            "--save", "", "--daemonize", "no", "--protected-mode", "no"]
    argv += (["--appendonly", "yes", "--appendfsync", "always"] if persist
             else ["--appendonly", "no"])
    procs.start(name, argv)
    wait_for(lambda: resp_call(port, "PING") == "PONG", 30, f"{name} on {port}")
    return port


def start_nutcracker(procs, backend_port):
    port = free_port()
    conf = os.path.join(procs.root, "nutcracker.yml")
    with open(conf, "w") as f:
        f.write(f"bench:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n"
                f"  distribution: ketama\n  redis: true\n  servers:\n"
                f"   - 127.0.0.1:{backend_port}:1\n")
    procs.start("twemproxy", ["nutcracker", "-c", conf, "-s", str(free_port()),
                              "-a", "127.0.0.1"])
    wait_for(lambda: resp_call(port, "SET", "warm", "1") == "OK", 30, "nutcracker")
    return port


def start_tessera_local(procs, bin_dir, timeout):
    d = os.path.join(procs.root, "tessera-local")
    base = free_base()
    procs.local_dirs.append(d)
    out = subprocess.run([local_tool(), "--dir", d, "--port-base", str(base), "--bin-dir", bin_dir,
                          "--timeout", str(timeout), "up"], capture_output=True, text=True,
                         timeout=timeout + 60)
    if out.returncode != 0:
        raise Abort(f"tessera-local up failed:\n{out.stdout}\n{out.stderr}")
    with open(os.path.join(d, "cluster.json")) as f:
        layout = json.load(f)
    layout = layout.get("layout", layout)
    port = layout["gateway"]["redis"]
    wait_for(lambda: resp_call(port, "SET", "warm", "1") == "OK", 60, "tessera gateway")
    pids = {}
    for name in ("n1", "n2", "n3", "gateway"):
        with open(os.path.join(d, "run", name + ".pid")) as f:
            pids[name] = int(f.read().split()[0])
    return port, pids


def start_etcd(procs, n=3):
    client = [free_port() for _ in range(n)]
    peer = [free_port() for _ in range(n)]
    cluster = ",".join(f"e{i + 1}=http://127.0.0.1:{peer[i]}" for i in range(n))
    for i in range(n):
        procs.start(f"etcd{i + 1}", [
            "etcd", "--name", f"e{i + 1}", "--data-dir", os.path.join(procs.root, f"etcd{i + 1}"),
            "--listen-client-urls", f"http://127.0.0.1:{client[i]}",
            "--advertise-client-urls", f"http://127.0.0.1:{client[i]}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer[i]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer[i]}",
            "--initial-cluster", cluster, "--initial-cluster-token", "tessera-bench",
            "--initial-cluster-state", "new"])
    endpoints = ",".join(f"127.0.0.1:{p}" for p in client)

    def healthy():
        out = subprocess.run(["etcdctl", "--endpoints", endpoints, "endpoint", "health"],
                             capture_output=True, text=True, timeout=20)
        return out.returncode == 0
    wait_for(healthy, 60, "etcd cluster health")
    return client, endpoints


# --- the redis-benchmark matrix ------------------------------------------------------------------

def pipeline(port, commands, window=500, timeout=120):
    """Sends encoded commands `window` at a time, reading every reply; fails on an error reply.
    (redis-cli --pipe ends with ECHO, which nutcracker does not proxy.)"""
    conn = Resp(port, timeout)
    try:
        for start in range(0, len(commands), window):
            part = commands[start:start + window]
            conn.sock.sendall(b"".join(part))
            for _ in part:
                conn.read()
    except RespError as e:
        raise Abort(f"pipelined writes to port {port} failed: {e}")
    finally:
        conn.close()


def fill(port, size, keys=KEYSPACE):
    """SET key:%012d for every key redis-benchmark's -r draws, so GET cells hit."""
    value = b"x" * size
    pipeline(port, [resp_command("SET", b"key:%012d" % i, value) for i in range(keys)])


def redis_benchmark(port, test, n, clients, pipeline, size, timeout):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test.lower(),
            "-n", str(n), "-c", str(clients), "-P", str(pipeline), "-d", str(size),
            "-r", str(KEYSPACE), "--csv"]
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    if out.returncode != 0:
        raise ValueError(f"redis-benchmark exit {out.returncode}: {out.stderr[-300:]}")
    return report.parse_benchmark_csv(out.stdout)[test], elapsed


class Matrix:
    def __init__(self, args, targets):
        self.args = args
        self.targets = targets  # [(name, port)]
        self.estimate = {}  # (target, cell) -> rps of the last run
        self.runs = {}  # cell -> target -> [result]
        self.errors = []

    def cell_once(self, name, port, cell):
        """One run of `cell` sized to last about --cell-seconds: the last run's rate sizes -n; a
        first run starts with a probe small enough for the slowest target and grows."""
        test, c, p, d = report.split_cell_key(cell)
        seconds = self.args.cell_seconds
        floor, cap = max(c * p * 2, 100), 5_000_000
        tmo = max(60, seconds * 30)
        est = self.estimate.get((name, cell))
        n = floor if est is None else min(cap, max(floor, int(est * seconds)))
        for _ in range(5):
            res, elapsed = redis_benchmark(port, test, n, c, p, d, tmo)
            finite = math.isfinite(res["rps"]) and res["rps"] > 0
            if finite:
                self.estimate[(name, cell)] = res["rps"]
                if elapsed >= seconds * 0.6 or n >= cap:
                    return res
            # redis-benchmark reports inf for a run shorter than its millisecond clock.
            grown = int(res["rps"] * seconds * 1.1) if finite else n * 10
            n = min(cap, max(floor, grown, n + 1))
        if not finite:
            raise ValueError(f"no finite rate after growing -n to {n}")
        return res

    def run(self, cells, rounds):
        total = len(cells) * rounds * len(self.targets)
        done = 0
        for r in range(rounds):
            for i, cell in enumerate(cells):
                test, _, _, _ = report.split_cell_key(cell)
                k = (r + i) % len(self.targets)
                for name, port in self.targets[k:] + self.targets[:k]:
                    for attempt in (1, 2):  # one retry: a lone disconnect is not a result
                        try:
                            res = self.cell_once(name, port, cell)
                            self.runs.setdefault(cell, {}).setdefault(name, []).append(res)
                            break
                        except (ValueError, subprocess.TimeoutExpired) as e:
                            err = " ".join(str(e).split())
                            log(f"  {name} {cell} attempt {attempt}: {err}")
                            if attempt == 2:
                                self.errors.append(f"{name} {cell} round {r + 1}: {err}")
                            time.sleep(1)
                    done += 1
                    if test in ("LPUSH", "HSET"):  # keep the one list/hash from growing
                        for key in ("mylist", "myhash"):
                            try:
                                resp_call(port, "DEL", key, timeout=60)
                            except (OSError, RespError):
                                pass
                log(f"  round {r + 1}/{rounds} {cell}: {done}/{total}")

    def medians(self):
        return {cell: {t: report.median_cell(rs) for t, rs in per.items()}
                for cell, per in self.runs.items()}


# --- etcd / Tessera small KV client --------------------------------------------------------------

class HttpConn:
    """Keep-alive HTTP/1.1 POSTs with a minimal response reader (Content-Length or chunked)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        self.buf += chunk

    def post(self, path, body):
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                          b"application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (path, len(body), body))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m:
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif re.search(rb"(?i)transfer-encoding:\s*chunked", head):
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            raise ValueError("response without length")
        if status != 200:
            raise ValueError(f"HTTP {status}: {body[:200]!r}")
        return body


def b64(b):
    return base64.b64encode(b)


def kv_worker(kind, port, op, size, stop_at, lat, errors):
    rnd = random.Random()
    value = b"x" * size
    try:
        if kind == "etcd":
            conn = HttpConn(port)
            while time.monotonic() < stop_at:
                key = b"kv:%06d" % rnd.randrange(KV_KEYS)
                if op == "put":
                    body = b'{"key":"%s","value":"%s"}' % (b64(key), b64(value))
                    path = b"/v3/kv/put"
                else:
                    body = b'{"key":"%s"}' % b64(key)
                    path = b"/v3/kv/range"
                t0 = time.perf_counter()
                conn.post(path, body)
                lat.append(time.perf_counter() - t0)
        else:
            conn = Resp(port)
            while time.monotonic() < stop_at:
                key = b"kv:%06d" % rnd.randrange(KV_KEYS)
                t0 = time.perf_counter()
                if op == "put":
                    conn.call("SET", key, value)
                else:
                    conn.call("GET", key)
                lat.append(time.perf_counter() - t0)
    except (OSError, ValueError, RespError) as e:
        errors.append(f"{kind} {op}: {e}")


def kv_bench(kind, ports, op, clients, size, seconds):
    stop_at = time.monotonic() + seconds
    lats = [[] for _ in range(clients)]
    errors = []
    threads = [threading.Thread(target=kv_worker, daemon=True,
                                args=(kind, ports[i % len(ports)], op, size, stop_at, lats[i],
                                      errors)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.monotonic() - t0
    all_lat = sorted(x for part in lats for x in part)
    if errors or not all_lat:
        raise ValueError("; ".join(errors[:3]) or "no operation completed")
    return {"rps": len(all_lat) / elapsed, "p50": report.percentile(all_lat, 50) * 1000,
            "p99": report.percentile(all_lat, 99) * 1000}


def run_kv(args, etcd_ports, tessera_port, endpoints):
    cells = [(op, c, 16) for op in ("put", "get") for c in ((50,) if args.quick else (1, 50))]
    seconds = max(1.0, args.cell_seconds * 2)
    runs = {}
    # The keys every put/get cell draws from, written on both first (16 B values).
    def prefill(kind, port, part):
        value = b"x" * 16
        conn = HttpConn(port) if kind == "etcd" else Resp(port)
        for i in range(part, KV_KEYS, 8):
            key = b"kv:%06d" % i
            if kind == "etcd":
                conn.post(b"/v3/kv/put", b'{"key":"%s","value":"%s"}' % (b64(key), b64(value)))
            else:
                conn.call("SET", key, value)
    fills = [threading.Thread(target=prefill, args=(kind, port, part), daemon=True)
             for kind, port in (("etcd", etcd_ports[0]), ("tessera", tessera_port))
             for part in range(8)]
    for t in fills:
        t.start()
    for t in fills:
        t.join(timeout=300)
    for r in range(args.rounds):
        for i, (op, c, size) in enumerate(cells):
            order = [("etcd", etcd_ports), ("tessera", [tessera_port])]
            if (r + i) % 2:
                order.reverse()
            for kind, ports in order:
                try:
                    res = kv_bench(kind, ports, op, c, size, seconds)
                    runs.setdefault((op, c, size), {}).setdefault(kind, []).append(res)
                except ValueError as e:
                    log(f"  kv {kind} {op} c{c}: {e}")
    kv = {f"{op}|c{c}|d{size}": {k: report.median_cell(v) for k, v in per.items()}
          for (op, c, size), per in runs.items()}
    perf = None
    if not args.quick and not args.no_check_perf:
        log("etcdctl check perf --load=s (60 s)")
        out = subprocess.run(["etcdctl", "--endpoints", endpoints, "check", "perf", "--load=s"],
                             capture_output=True, text=True, timeout=300)
        perf = report.parse_check_perf(out.stdout + out.stderr)
        perf["load"] = "s"
    return kv, perf


# --- restart, memory -----------------------------------------------------------------------------

def load_keys(port, keys, size, batch=1000):
    """MSET batches of `batch` keys k:%09d, piped (one Raft entry per MSET on a shard)."""
    value = b"v" * size
    commands = []
    for start in range(0, keys, batch):
        args = ["MSET"]
        for i in range(start, min(keys, start + batch)):
            args += [b"k:%09d" % i, value]
        commands.append(resp_command(*args))
    pipeline(port, commands, window=16, timeout=600)


class SingleShard:
    def __init__(self, procs, bin_dir, snapshot_count):
        self.procs = procs
        self.bin = os.path.join(bin_dir, "tessera-shard")
        self.dir = os.path.join(procs.root, "restart-shard")
        self.raft, self.redis, self.metrics = free_port(), free_port(), free_port()
        self.snapshot_count = snapshot_count
        self.logpath = os.path.join(procs.root, "restart-shard.log")

    def start(self):
        return self.procs.start("restart-shard", [
            self.bin, "--raftId", "n1", "--raftGroups", f"1=127.0.0.1:{self.raft}",
            "--raftBootstrap", "--raftRedisMap",
            f"127.0.0.1:{self.raft}=127.0.0.1:{self.redis}", "--dataDir", self.dir,
            "--redisAddress", f"127.0.0.1:{self.redis}",
            "--metricsAddress", f"127.0.0.1:{self.metrics}",
            "--raftSnapshotCount", str(self.snapshot_count)])

    def stop(self):
        self.procs.stop("restart-shard", timeout=60)

    def group(self):
        return info_groups(info_text(self.redis)).get(1, {})


def restart_to_serving(shard, probe_key, probe_value, timeout):
    t0 = time.monotonic()
    wall0 = datetime.datetime.now()
    p = shard.start()

    def serving():
        if p.poll() is not None:
            raise Abort(f"shard exited during restart, see {shard.logpath}")
        return resp_call(shard.redis, "GET", probe_key, timeout=2) == probe_value
    wait_for(serving, timeout, "the restarted shard to serve")
    elapsed = time.monotonic() - t0
    # When the cold-start decision was logged, relative to the spawn (log clock, ms).
    decided = None
    with open(shard.logpath, errors="replace") as f:
        for line in f:
            m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]"
                         r".*restore_snapshot_state", line)
            if m:
                ts = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                if ts >= wall0 - datetime.timedelta(milliseconds=5):
                    decided = (ts - wall0).total_seconds()
    return elapsed, decided, p.pid


def delete_applied_index(shard):
    """Removes meta:applied_index of group 1 offline: the cold-start gate then reads the index as
    absent and falls back to a full restore (spec: missing_meta), a documented path."""
    key = "0x" + (1).to_bytes(8, "big").hex() + b"applied_index".hex()
    out = subprocess.run(["ldb", f"--db={os.path.join(shard.dir, 'rocksdb')}",
                          "--column_family=meta", "delete", "--key_hex", key],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or "OK" not in out.stdout:
        raise Abort(f"ldb delete failed: {out.stdout} {out.stderr}")


def run_restart_memory(args, procs, bin_dir):
    keys, size = args.keys, 16
    batches = (keys + 999) // 1000
    shard = SingleShard(procs, bin_dir, snapshot_count=max(10, batches // 4))
    p = shard.start()
    wait_for(lambda: resp_call(shard.redis, "SET", "warm", "1") == "OK", 60, "single shard")
    time.sleep(1)
    rss0 = rss_kib(p.pid)
    log(f"restart: loading {keys} keys into one single-group shard")
    t0 = time.monotonic()
    load_keys(shard.redis, keys, size)
    load_s = time.monotonic() - t0
    applied = int(shard.group()["applied_index"])
    # A snapshot covering every key, so the skip path verifies a file with all of them.
    for _ in range(shard.snapshot_count + 5):
        if int(shard.group()["snapshot_index"]) >= applied:
            break
        resp_call(shard.redis, "SET", "filler", "1")
    wait_for(lambda: int(shard.group()["snapshot_index"]) >= applied, 120, "a snapshot of all keys")
    time.sleep(2)
    rss1 = rss_kib(p.pid)
    probe_key, probe_value = b"k:%09d" % (keys - 1), b"v" * size
    fsm = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(shard.dir, "snapshots"))
           for f in fs if f.endswith(".fsm")]
    fsm_bytes = max((os.path.getsize(f) for f in fsm), default=0)
    skip, full, skip_decided, full_decided, rss_after = [], [], [], [], {}
    restored_lines = []
    for rep in range(args.restarts):
        shard.stop()
        el, dec, pid = restart_to_serving(shard, probe_key, probe_value, 300)
        outcome = shard.group().get("cold_start")
        if outcome != "skipped":
            raise Abort(f"restart {rep + 1}: expected the skip path, INFO says {outcome}")
        skip.append(el)
        skip_decided.append(dec)
        rss_after["skip"] = rss_kib(pid)
        shard.stop()
        delete_applied_index(shard)
        el, dec, pid = restart_to_serving(shard, probe_key, probe_value, 600)
        outcome = shard.group().get("cold_start")
        if outcome != "fallback":
            raise Abort(f"restart {rep + 1}: expected a full restore, INFO says {outcome}")
        full.append(el)
        full_decided.append(dec)
        rss_after["full"] = rss_kib(pid)
        log(f"restart {rep + 1}/{args.restarts}: skip {skip[-1]:.2f}s, full {full[-1]:.2f}s")
    with open(shard.logpath, errors="replace") as f:
        restored_lines = [line.strip() for line in f if "restored" in line and "rows" in line]
    dbsize = resp_call(shard.redis, "DBSIZE")
    shard.stop()

    # redis-server with the same keys.
    rport = start_redis(procs, "redis-mem", persist=False)
    rpid = procs.procs["redis-mem"].pid
    time.sleep(0.5)
    r0 = rss_kib(rpid)
    load_keys(rport, keys, size)
    time.sleep(1)
    r1 = rss_kib(rpid)
    used = int(re.search(r"used_memory:(\d+)", info_text(rport)).group(1))
    procs.stop("redis-mem")
    return {
        "keys": keys, "value_bytes": size, "load_seconds": load_s, "fsm_bytes": fsm_bytes,
        "snapshot_count": shard.snapshot_count, "dbsize_after": dbsize,
        "skip_s": skip, "full_s": full, "skip_decided_s": skip_decided,
        "full_decided_s": full_decided,
        "skip_median": statistics.median(skip), "full_median": statistics.median(full),
        "restored_log": restored_lines[-1] if restored_lines else "",
        "shard_rss_kib": [rss0, rss1], "shard_rss_after_restart_kib": rss_after,
        "redis_rss_kib": [r0, r1], "redis_used_memory": used}


# --- idle CPU ------------------------------------------------------------------------------------

def start_multi_group(procs, bin_dir, groups, nodes=3):
    bin_ = os.path.join(bin_dir, "tessera-shard")
    gids = list(range(1, groups + 1))
    raft = {(i, g): free_port() for i in range(1, nodes + 1) for g in gids}
    redis_ports = {i: free_port() for i in range(1, nodes + 1)}
    peers = ";".join(f"{g}=" + ",".join(f"n{i}@127.0.0.1:{raft[(i, g)]}"
                                        for i in range(1, nodes + 1)) for g in gids)
    rmap = ",".join(f"127.0.0.1:{raft[(i, g)]}=127.0.0.1:{redis_ports[i]}"
                    for i in range(1, nodes + 1) for g in gids)
    pids, started = {}, []
    for i in range(1, nodes + 1):
        p = procs.start(f"idle-n{i}", [
            bin_, "--raftId", f"n{i}",
            "--raftGroups", ",".join(f"{g}=127.0.0.1:{raft[(i, g)]}" for g in gids),
            "--raftGroupPeers", peers, "--raftRedisMap", rmap,
            "--dataDir", os.path.join(procs.root, f"idle-n{i}"),
            "--redisAddress", f"127.0.0.1:{redis_ports[i]}",
            "--metricsAddress", f"127.0.0.1:{free_port()}"])
        pids[f"n{i}"] = p.pid
        started.append(p)

    def all_led():
        if any(p.poll() is not None for p in started):
            raise Abort(f"a {groups}-group shard exited; see idle-n*.log in {procs.root}")
        led = set()
        for i in range(1, nodes + 1):
            for g, f in info_groups(info_text(redis_ports[i])).items():
                if f.get("role") == "leader":
                    led.add(g)
        return len(led) == groups
    wait_for(all_led, 180, f"a leader in each of {groups} groups")
    return pids


def sample_cpu(pids, seconds):
    """{label: cpu seconds over `seconds` of wall time} for every (label, pid), sampled together."""
    t0 = time.monotonic()
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    time.sleep(seconds)
    after = {k: cpu_seconds(p) for k, p in pids.items()}
    wall = time.monotonic() - t0
    return {k: {"cpu_s": after[k] - before[k], "wall_s": wall,
                "pct": 100 * (after[k] - before[k]) / wall} for k in pids}


# --- the document --------------------------------------------------------------------------------

def render(results):
    m = results["machine"]
    lines = []
    lines.append(f"Generated by `bench/run.py{' --quick' if results['quick'] else ''}` on "
                 f"{results['date']} at commit {m['commit']}: {m['cores']} cores ({m['cpu']}), "
                 f"{m['mem_gib']} GiB, Linux {m['kernel']}; {m['redis']}; {m['nutcracker']}; "
                 f"{m['etcd'].splitlines()[0]}. Load average at start "
                 f"{m['loadavg_start'][0]:.1f}, at end {m['loadavg_end'][0]:.1f}"
                 f"{'; ' + results['note'] if results.get('note') else ''}.")
    if results["matrix"]:
        lines.append("")
        lines.append(f"Every process (servers, proxies, clients) shares the same cores. Each cell "
                     f"is one `redis-benchmark -t <test> -c <c> -P <P> -d <size> "
                     f"-r {KEYSPACE} --csv` "
                     f"sized to last about {results['cell_seconds']} s; targets are interleaved "
                     f"within each cell and rotated between rounds; the figures are the median of "
                     f"{results['rounds']} rounds, each metric separately. GET reads keys a fill "
                     f"wrote before (value of the cell's size). Tessera: "
                     f"`tools/local/tessera-local` "
                     f"(3 shards × 2 groups, gateway `--threads 2`); a write is committed on a "
                     f"majority with fsync. Ratios are Tessera's throughput over the peer's.")
        lines.append("")
        lines.append("Targets: " + "; ".join(f"`{t}` = {report.LABELS[t]}"
                                             for t in results["targets"]) + ".")
        lines.append("")
        lines.append("### Throughput ratio Tessera / peer, geometric mean over -c and value size")
        lines.append("")
        lines.append(report.ratio_summary(results["matrix"], results["targets"]))
        lines.append("")
        lines.append("### Every cell (rps; p50 / p99 latency in ms)")
        lines.append("")
        lines.append(report.matrix_table(results["matrix"], results["targets"]))
        if results.get("errors"):
            lines.append("")
            lines.append(f"{len(results['errors'])} cell run(s) failed and are left out: "
                         + "; ".join(results["errors"][:5]))
    kv = results.get("kv")
    if kv:
        lines.append("")
        lines.append("### etcd (3 members) beside Tessera, same client")
        lines.append("")
        lines.append("One small Python client (threads, raw sockets, one request in flight per "
                     "connection) doing etcd v3 `put`/`range` through etcd's JSON gateway "
                     "(`/v3/kv/put`, `/v3/kv/range`, linearizable) spread over the 3 members, "
                     "and `SET`/`GET` against the Tessera gateway; 16 B values, random keys of "
                     f"{KV_KEYS}, all written before. The client itself is a limit (it shares "
                     "the cores and the interpreter lock), the same for both.")
        lines.append("")
        rows = []
        for key in sorted(kv, key=lambda k: (k.split("|")[0] != "put", int(k.split("|")[1][1:]))):
            op, c, _ = key.split("|")
            e, t = kv[key].get("etcd"), kv[key].get("tessera")
            rows.append([op, c[1:], report.fmt_rps(e and e["rps"]),
                         f"{report.fmt_ms(e and e['p50'])} / {report.fmt_ms(e and e['p99'])}",
                         report.fmt_rps(t and t["rps"]),
                         f"{report.fmt_ms(t and t['p50'])} / {report.fmt_ms(t and t['p99'])}",
                         report.fmt_ratio(t and t["rps"], e and e["rps"])])
        lines.append(report.simple_table(
            ["op", "clients", "etcd rps", "etcd p50/p99 ms", "tessera rps",
             "tessera p50/p99 ms", "tessera/etcd"], rows))
    perf = results.get("check_perf")
    if perf:
        lines.append("")
        lines.append(f"`etcdctl check perf --load={perf['load']}` on the 3 members: "
                     f"{perf['verdict']}; throughput {perf['throughput']} writes/s, slowest "
                     f"request {perf['slowest_s']} s, stddev {perf['stddev_s']} s (the load is "
                     f"rate-limited at 150 writes/s: a pass/fail check, not a maximum).")
    rm = results.get("restart")
    if rm:
        mib = lambda kib: kib / 1024  # noqa: E731
        sr0, sr1 = rm["shard_rss_kib"]
        rr0, rr1 = rm["redis_rss_kib"]
        per_m = 1e6 / rm["keys"]
        lines.append("")
        lines.append(f"### Restart and memory: one single-node, single-group shard, "
                     f"{rm['keys']:,} keys")
        lines.append("")
        lines.append(f"Keys `k:%09d` with {rm['value_bytes']} B values, loaded with `MSET` of 1000 "
                     f"keys (one Raft entry each) in {rm['load_seconds']:.1f} s; "
                     f"`--raftSnapshotCount {rm['snapshot_count']}`, so the last snapshot holds "
                     f"every key (.fsm file {rm['fsm_bytes'] / 2**20:.1f} MiB). "
                     f"Restart-to-serving is from spawning the process to the first `GET` of the "
                     f"last key answered, default tick (100 ms) and election timeout (1 s), so it "
                     f"includes the single voter's election. A forced full restore: with the shard "
                     f"stopped, `ldb ... --column_family=meta delete` removes the group's "
                     f"`applied_index`, so the cold-start gate reads it as absent and falls back "
                     f"(`missing_meta`), rewriting the group from the snapshot. "
                     f"{len(rm['skip_s'])} restart(s) of each kind, alternating; medians. `DBSIZE` "
                     f"after the last full restore: {rm['dbsize_after']:,} (the keys plus the "
                     f"`warm` and `filler` keys of the setup).")
        lines.append("")
        sd = [x for x in rm["skip_decided_s"] if x is not None]
        fd = [x for x in rm["full_decided_s"] if x is not None]
        lines.append(report.simple_table(
            ["", "skip path", "forced full restore", "full / skip"],
            [["restart to serving, s", f"{rm['skip_median']:.2f}", f"{rm['full_median']:.2f}",
              f"{rm['full_median'] / rm['skip_median']:.1f}"],
             ["cold start done (decision logged), s after spawn",
              f"{statistics.median(sd):.2f}" if sd else "—",
              f"{statistics.median(fd):.2f}" if fd else "—", ""],
             ["every run, s", ", ".join(f"{x:.2f}" for x in rm["skip_s"]),
              ", ".join(f"{x:.2f}" for x in rm["full_s"]), ""],
             ["shard RSS after restart, MiB",
              f"{mib(rm['shard_rss_after_restart_kib'].get('skip', 0)):.0f}",
              f"{mib(rm['shard_rss_after_restart_kib'].get('full', 0)):.0f}", ""]]))
        if rm.get("restored_log"):
            lines.append("")
            text = re.sub(r"^\[[^]]*\] \[info\] ", "", rm["restored_log"])
            text = re.sub(r"/\S*/snapshots/", "<dataDir>/snapshots/", text)
            lines.append(f"The shard's log of the last full restore: `{text}`")
        lines.append("")
        lines.append(report.simple_table(
            ["", "RSS empty, MiB", f"RSS with {rm['keys']:,} keys, MiB", "growth per 1M keys, MiB"],
            [["tessera-shard", f"{mib(sr0):.0f}", f"{mib(sr1):.0f}",
              f"{mib(sr1 - sr0) * per_m:.0f}"],
             ["redis-server", f"{mib(rr0):.0f}", f"{mib(rr1):.0f}",
              f"{mib(rr1 - rr0) * per_m:.0f} (INFO used_memory with the keys: "
              f"{rm['redis_used_memory'] / 2**20:.0f} MiB)"]]))
    idle = results.get("idle")
    if idle:
        lines.append("")
        lines.append(f"### Idle CPU over {idle['seconds']:.0f} s")
        lines.append("")
        lines.append("No client traffic; CPU seconds (user + system, `/proc/<pid>/stat`) of "
                     "each process over the same window. 64 groups: 3 tessera-shard processes, "
                     "each a voter in 64 groups, default tick (100 ms) and election timeout, "
                     "leaders spread by election. 2 groups: the tessera-local cluster of the "
                     "matrix.")
        lines.append("")
        rows = []
        for label, v in idle["procs"].items():
            rows.append([label, f"{v['cpu_s']:.2f}", f"{v['pct']:.2f}"])
        lines.append(report.simple_table(["process", "CPU s", "CPU %"], rows))
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny matrix (SET/GET, -c 50, 16 B), 1 round, 100k keys, 5 s idle")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                    help="Markdown file whose generated section is replaced "
                         "(default docs/benchmarks.md)")
    ap.add_argument("--no-doc", action="store_true", help="print the section, write no doc")
    ap.add_argument("--json", help="write every raw figure to this file")
    ap.add_argument("--bin-dir", help="tessera binaries (default build/bin, built if missing)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    ap.add_argument("--cell-seconds", type=float, help="target length of one cell (default 1.0)")
    ap.add_argument("--keys", type=int, help="keys for restart/memory (default 1000000)")
    ap.add_argument("--restarts", type=int, help="restarts of each kind (default 3, quick 1)")
    ap.add_argument("--idle-seconds", type=float, help="idle CPU window (default 30, quick 5)")
    ap.add_argument("--idle-groups", type=int, default=64)
    ap.add_argument("--only", default="matrix,kv,restart,idle",
                    help="comma list of parts to run (matrix,kv,restart,idle)")
    ap.add_argument("--no-check-perf", action="store_true", help="skip etcdctl check perf")
    ap.add_argument("--note", default="", help="a remark for the doc (e.g. 'under build load')")
    ap.add_argument("--max-seconds", type=int, default=5400,
                    help="abort (and clean up) after this long (default 5400)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    args = ap.parse_args()
    q = args.quick
    args.rounds = args.rounds or (1 if q else 3)
    args.cell_seconds = args.cell_seconds or (0.5 if q else 1.0)
    args.keys = args.keys or (100_000 if q else 1_000_000)
    args.restarts = args.restarts or (1 if q else 3)
    args.idle_seconds = args.idle_seconds or (5.0 if q else 30.0)
    parts = set(args.only.split(","))
    bin_dir = os.path.abspath(args.bin_dir or os.path.join(ROOT, "build", "bin"))

    def on_signal(signum, _frame):
        raise Abort(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(
        Abort(f"--max-seconds {args.max_seconds} exceeded")))
    signal.alarm(args.max_seconds)

    ensure_packages()
    ensure_binaries(bin_dir, may_build=args.bin_dir is None)
    root = tempfile.mkdtemp(prefix="tessera-bench-")
    procs = Procs(root)
    results = {"quick": q, "rounds": args.rounds, "cell_seconds": args.cell_seconds,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": machine_info(), "note": args.note}
    ok = False
    try:
        log(f"work dir {root}")
        targets = []
        tessera_port = local_pids = None
        if parts & {"matrix", "kv", "idle"}:
            targets.append(("redis", start_redis(procs, "redis", persist=False)))
            if "matrix" in parts:
                targets.append(("redis-aof", start_redis(procs, "redis-aof", persist=True)))
                backend = start_redis(procs, "redis-twemproxy-backend", persist=False)
                targets.append(("twemproxy", start_nutcracker(procs, backend)))
            tessera_port, local_pids = start_tessera_local(procs, bin_dir, 120)
            targets.append(("tessera", tessera_port))
        results["targets"] = [t for t, _ in targets]
        if "matrix" in parts:
            tests = ("SET", "GET") if q else TESTS
            clients = (50,) if q else CLIENTS
            sizes = (16,) if q else SIZES
            cells = []
            matrix = Matrix(args, targets)
            for d in sizes:
                log(f"fill: {KEYSPACE} keys of {d} B into every target")
                for _, port in targets:
                    fill(port, d)
                block = [report.cell_key(t, c, p, d) for t in tests for p in PIPELINES
                         for c in clients]
                cells += block
                matrix.run(block, args.rounds)
            results["matrix"] = matrix.medians()
            results["matrix_runs"] = {c: v for c, v in matrix.runs.items()}
            results["errors"] = matrix.errors
        else:
            results["matrix"] = {}
        if "kv" in parts:
            etcd_ports, endpoints = start_etcd(procs)
            kv, perf = run_kv(args, etcd_ports, tessera_port, endpoints)
            results["kv"], results["check_perf"] = kv, perf
            for i in range(1, 4):
                procs.stop(f"etcd{i}")
        for name in ("redis-aof", "twemproxy", "redis-twemproxy-backend"):
            procs.stop(name)
        if "restart" in parts:
            results["restart"] = run_restart_memory(args, procs, bin_dir)
        if "idle" in parts:
            log(f"idle: {args.idle_groups} groups x 3 shards")
            pids = {f"tessera-shard, {args.idle_groups} groups ({k})": v for k, v in
                    start_multi_group(procs, bin_dir, args.idle_groups).items()}
            for k in ("n1", "n2", "n3"):
                pids[f"tessera-shard, 2 groups ({k})"] = local_pids[k]
            pids["tessera-gateway (2 threads)"] = local_pids["gateway"]
            pids["redis-server"] = procs.procs["redis"].pid
            time.sleep(5)  # let elections and the first lease rounds settle
            results["idle"] = {"seconds": args.idle_seconds,
                               "procs": sample_cpu(pids, args.idle_seconds)}
        results["machine"]["loadavg_end"] = os.getloadavg()
        ok = True
    finally:
        signal.alarm(0)
        log("stopping every process")
        procs.stop_all(args)
        if not args.keep and ok:
            shutil.rmtree(root, ignore_errors=True)
        elif not ok:
            log(f"logs kept in {root}")
    section = render(results)
    print(section)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if not args.no_doc:
        with open(args.doc) as f:
            doc = f.read()
        with open(args.doc, "w") as f:
            f.write(report.replace_generated(doc, section))
        log(f"wrote the generated section of {args.doc}")


if __name__ == "__main__":
    try:
        main()
    except Abort as e:
        print(f"bench/run.py: {e}", file=sys.stderr)
        sys.exit(1)
