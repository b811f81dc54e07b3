# Pure helpers of the benchmark suite (bench/run.py): parsing tool output, medians over rounds,
# Markdown tables and the generated section of docs/benchmarks.md. No processes, no I/O here.
"""Parsing and table logic of bench/run.py, kept apart so it can be tested without a run."""
import csv
import io
import math
import re
import statistics

BEGIN_MARKER = "<!-- bench/run.py: generated section begin (do not edit by hand) -->"
END_MARKER = "<!-- bench/run.py: generated section end -->"

# The Redis-protocol targets in table order; the last one is Tessera, the others its peers.
TESSERA = "tessera"
PEERS = ("redis", "redis-aof", "twemproxy")
LABELS = {
    "redis": "redis-server (no persistence)",
    "redis-aof": "redis-server (AOF, appendfsync always)",
    "twemproxy": "nutcracker -> redis-server",
    "tessera": "tessera-gateway -> 3 shards x 2 groups",
}


def parse_benchmark_csv(text):
    """redis-benchmark --csv output -> {test: {"rps", "p50", "p99"}} (latencies in ms).

    redis-benchmark 7.0 prints one header line and one quoted row per test:
    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    An empty or header-only output (a failed run) raises ValueError."""
    rows = {}
    for row in csv.DictReader(io.StringIO(text)):
        try:
            rows[row["test"]] = {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
                                 "p99": float(row["p99_latency_ms"])}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"unexpected redis-benchmark csv row {row!r}") from e
    if not rows:
        raise ValueError(f"no rows in redis-benchmark output {text[:200]!r}")
    return rows


def parse_check_perf(text):
    """`etcdctl check perf` (etcd 3.4) output -> {"verdict", "throughput", "slowest_s",
    "stddev_s"}; fields the output lacks are None."""
    def grab(pattern, cast=float):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    verdict = None
    for line in reversed(lines):
        if line in ("PASS", "FAIL"):
            verdict = line
            break
    return {"verdict": verdict,
            "throughput": grab(r"Throughput is (\d+(?:\.\d+)?) writes/s"),
            "slowest_s": grab(r"Slowest request took (\d+(?:\.\d+)?)s"),
            "stddev_s": grab(r"Stddev is (\d+(?:\.\d+)?)s")}


def proc_cpu_seconds(stat_line, ticks_per_second):
    """utime + stime of one /proc/<pid>/stat line, in seconds. The command name (field 2) may
    hold spaces and parentheses, so fields are counted from the last ')'."""
    rest = stat_line[stat_line.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / ticks_per_second


def median_cell(rounds):
    """Several rounds' {"rps","p50","p99"} -> the median of each metric separately."""
    return {k: statistics.median(r[k] for r in rounds) for k in ("rps", "p50", "p99")}


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in [0, 100]) of an already sorted, non-empty list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def cell_key(test, clients, pipeline, size):
    return f"{test}|c{clients}|P{pipeline}|d{size}"


def split_cell_key(key):
    test, c, p, d = key.split("|")
    return test, int(c[1:]), int(p[1:]), int(d[1:])


def fmt_rps(v):
    return f"{v:,.0f}" if v is not None else "—"


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def fmt_ratio(a, b):
    if a is None or not b:
        return "—"
    return f"{a / b:.2f}"


def size_label(size):
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def matrix_table(results, targets):
    """results: {cell_key: {target: {"rps","p50","p99"}}} -> Markdown rows, one per cell:
    each target's rps and p50/p99, then Tessera's throughput over each peer's."""
    peers = [t for t in targets if t != TESSERA]
    head = ["test", "-c", "-P", "value"]
    head += [f"{t} rps" for t in targets]
    head += [f"{t} p50/p99 ms" for t in targets]
    if TESSERA in targets:
        head += [f"tessera/{p}" for p in peers]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(results, key=_cell_order):
        test, c, p, d = split_cell_key(key)
        row = results[key]
        cols = [test, str(c), str(p), size_label(d)]
        cols += [fmt_rps(row[t]["rps"]) if t in row else "—" for t in targets]
        cols += [f"{fmt_ms(row[t]['p50'])} / {fmt_ms(row[t]['p99'])}" if t in row else "—"
                 for t in targets]
        if TESSERA in targets:
            mine = row.get(TESSERA, {}).get("rps")
            cols += [fmt_ratio(mine, row.get(p, {}).get("rps")) for p in peers]
        out.append("| " + " | ".join(cols) + " |")
    return "\n".join(out)


TEST_ORDER = ("SET", "GET", "INCR", "LPUSH", "HSET")


def _cell_order(key):
    test, c, p, d = split_cell_key(key)
    t = TEST_ORDER.index(test) if test in TEST_ORDER else len(TEST_ORDER)
    return (t, test, d, p, c)


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ratio_summary(results, targets):
    """Per test: the geometric mean over all cells of Tessera's rps / each peer's rps, split
    by pipelining (the two regimes differ by an order of magnitude)."""
    peers = [t for t in targets if t != TESSERA]
    if TESSERA not in targets or not peers:
        return ""
    head = ["test", "-P"] + [f"tessera/{p} (geomean)" for p in peers]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tests = sorted({split_cell_key(k)[0] for k in results},
                   key=lambda t: TEST_ORDER.index(t) if t in TEST_ORDER else 99)
    pipes = sorted({split_cell_key(k)[2] for k in results})
    for test in tests:
        for pipe in pipes:
            cols = [test, str(pipe)]
            for peer in peers:
                ratios = []
                for key, row in results.items():
                    t, _, p, _ = split_cell_key(key)
                    if t == test and p == pipe and TESSERA in row and peer in row and \
                            row[peer]["rps"]:
                        ratios.append(row[TESSERA]["rps"] / row[peer]["rps"])
                g = geomean(ratios)
                cols.append(f"{g:.2f}" if g is not None else "—")
            out.append("| " + " | ".join(cols) + " |")
    return "\n".join(out)


def simple_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def replace_generated(doc, section):
    """Puts `section` between the markers of `doc`; appends markers and section when absent.
    Everything outside the markers is kept byte for byte."""
    block = f"{BEGIN_MARKER}\n{section.rstrip()}\n{END_MARKER}"
    start = doc.find(BEGIN_MARKER)
    end = doc.find(END_MARKER)
    if start == -1 and end == -1:
        return doc.rstrip("\n") + "\n\n" + block + "\n"
    if start == -1 or end == -1 or end < start:
        raise ValueError("docs: one generated-section marker without the other")
    return doc[:start] + block + doc[end + len(END_MARKER):]
