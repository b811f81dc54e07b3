# Tests of bench/report.py: the parsing, medians, tables and doc-section logic of bench/run.py.
# Pure functions only; nothing here starts a server or runs a benchmark.
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

CSV = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
       '"p99_latency_ms","max_latency_ms"\n'
       '"SET","63492.06","11.357","0.424","9.679","27.759","35.775","35.999"\n'
       '"GET","77220.08","8.351","0.192","7.831","22.511","32.191","32.335"\n')


def test_parse_benchmark_csv_reads_rps_p50_p99():
    rows = report.parse_benchmark_csv(CSV)
    assert rows["SET"] == {"rps": 63492.06, "p50": 9.679, "p99": 35.775}
    assert rows["GET"]["p99"] == 32.191


def test_parse_benchmark_csv_rejects_empty_and_garbage():
    with pytest.raises(ValueError):
        report.parse_benchmark_csv("")
    with pytest.raises(ValueError):
        report.parse_benchmark_csv(CSV.splitlines()[0] + "\n")
    with pytest.raises(ValueError):
        report.parse_benchmark_csv('"test","rps"\n"SET","fast"\n')


def test_parse_check_perf():
    out = (" 60 / 60 Boooooo! 100.00% 1m0s\nPASS: Throughput is 151 writes/s\n"
           "PASS: Slowest request took 0.087832s\nPASS: Stddev is 0.011084s\nPASS\n")
    assert report.parse_check_perf(out) == {"verdict": "PASS", "throughput": 151.0,
                                            "slowest_s": 0.087832, "stddev_s": 0.011084}
    failed = "FAIL: Throughput too low: 90 writes/s\nPASS: Stddev is 0.1s\nFAIL\n"
    got = report.parse_check_perf(failed)
    assert got["verdict"] == "FAIL" and got["throughput"] is None and got["stddev_s"] == 0.1


def test_proc_cpu_seconds_counts_fields_after_the_command_name():
    # A command name with a space and a ')' must not shift the fields.
    fields = ["S"] + ["0"] * 10 + ["250", "50"] + ["0"] * 30
    line = "1234 (odd) name) " + " ".join(fields)
    assert report.proc_cpu_seconds(line, 100) == 3.0


def test_median_cell_takes_each_metric_separately():
    rounds = [{"rps": 10, "p50": 1, "p99": 9}, {"rps": 30, "p50": 3, "p99": 1},
              {"rps": 20, "p50": 2, "p99": 5}]
    assert report.median_cell(rounds) == {"rps": 20, "p50": 2, "p99": 5}


def test_percentile_nearest_rank():
    v = list(range(1, 101))
    assert report.percentile(v, 50) == 50
    assert report.percentile(v, 99) == 99
    assert report.percentile(v, 100) == 100
    assert report.percentile([7], 99) == 7
    with pytest.raises(ValueError):
        report.percentile([], 50)


def results_two_cells():
    return {
        report.cell_key("GET", 50, 1, 16): {
            "redis": {"rps": 100000.0, "p50": 0.4, "p99": 1.0},
            "tessera": {"rps": 50000.0, "p50": 0.8, "p99": 2.5}},
        report.cell_key("SET", 50, 16, 1024): {
            "redis": {"rps": 200000.0, "p50": 1.0, "p99": 3.0},
            "tessera": {"rps": 20000.0, "p50": 30.0, "p99": 150.0}},
    }


def test_matrix_table_rows_ratios_and_order():
    table = report.matrix_table(results_two_cells(), ["redis", "tessera"])
    lines = table.splitlines()
    assert lines[0] == ("| test | -c | -P | value | redis rps | tessera rps | redis p50/p99 ms | "
                        "tessera p50/p99 ms | tessera/redis |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    # SET sorts before GET (test order of the suite), whatever the dict order.
    assert lines[2] == ("| SET | 50 | 16 | 1 KiB | 200,000 | 20,000 | 1.00 / 3.00 | "
                        "30.00 / 150 | 0.10 |")
    assert lines[3] == ("| GET | 50 | 1 | 16 B | 100,000 | 50,000 | 0.40 / 1.00 | 0.80 / 2.50 | "
                        "0.50 |")


def test_matrix_table_marks_missing_target():
    results = results_two_cells()
    del results[report.cell_key("GET", 50, 1, 16)]["tessera"]
    line = report.matrix_table(results, ["redis", "tessera"]).splitlines()[3]
    assert line.endswith("| — | 0.40 / 1.00 | — | — |")


def test_ratio_summary_geomean_per_test_and_pipeline():
    results = results_two_cells()
    results[report.cell_key("GET", 200, 1, 16)] = {
        "redis": {"rps": 100.0, "p50": 1, "p99": 1}, "tessera": {"rps": 200.0, "p50": 1, "p99": 1}}
    lines = report.ratio_summary(results, ["redis", "tessera"]).splitlines()
    assert lines[0] == "| test | -P | tessera/redis (geomean) |"
    # GET -P 1: ratios 0.5 and 2.0 -> geometric mean 1.0; no GET -P 16 cell.
    assert "| GET | 1 | 1.00 |" in lines
    assert "| GET | 16 | — |" in lines
    assert "| SET | 16 | 0.10 |" in lines


def test_replace_generated_keeps_everything_outside_the_markers():
    doc = (f"# T\n\nintro\n\n{report.BEGIN_MARKER}\nold table\n{report.END_MARKER}\n\n"
           "## Later\ntext\n")
    out = report.replace_generated(doc, "new table\n")
    assert out == (f"# T\n\nintro\n\n{report.BEGIN_MARKER}\nnew table\n{report.END_MARKER}\n\n"
                   "## Later\ntext\n")
    assert report.replace_generated(out, "new table") == out


def test_replace_generated_appends_when_absent_and_rejects_half_markers():
    out = report.replace_generated("# T\n", "table")
    assert out == f"# T\n\n{report.BEGIN_MARKER}\ntable\n{report.END_MARKER}\n"
    with pytest.raises(ValueError):
        report.replace_generated(f"# T\n{report.BEGIN_MARKER}\n", "table")
    with pytest.raises(ValueError):
        report.replace_generated(f"{report.END_MARKER}\n{report.BEGIN_MARKER}\n", "table")
