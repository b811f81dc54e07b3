"""The chaos checkers on hand-made histories: each violation they must catch (stale read, lost
write, impossible counter, duplicated / lost / reordered appends) and the legal interleavings
they must accept, including outcome-unknown operations."""

import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

import checker  # noqa: E402
from checker import Op, check_history, check_lists, check_lost_writes, linearizable, register_step  # noqa: E402


def op(f, value=None, result=None, invoke=0.0, complete=1.0, outcome="ok", key="k", client=0):
    return Op(client, key, f, value, result, invoke,
              checker.INFINITY if outcome == "unknown" else complete, outcome)


def lin(ops):
    return linearizable(ops, register_step)[0]


def test_sequential_register_history_is_linearizable():
    assert lin([op("write", "1", None, 0, 1), op("read", None, "1", 2, 3),
                op("write", "2", None, 4, 5), op("read", None, "2", 6, 7)])


def test_stale_read_after_a_completed_write_is_caught():
    ok, why = linearizable([op("write", "1", None, 0, 1), op("write", "2", None, 2, 3),
                            op("read", None, "1", 4, 5)], register_step)
    assert not ok
    assert "read" in why


def test_concurrent_write_may_be_seen_or_not():
    # A read overlapping a write may return the old or the new value ...
    assert lin([op("write", "1", None, 0, 1), op("write", "2", None, 2, 6),
                op("read", None, "1", 3, 4)])
    assert lin([op("write", "1", None, 0, 1), op("write", "2", None, 2, 6),
                op("read", None, "2", 3, 4)])
    # ... but two sequential reads cannot go back in time.
    assert not lin([op("write", "1", None, 0, 1), op("write", "2", None, 2, 10),
                    op("read", None, "2", 3, 4), op("read", None, "1", 5, 6)])


def test_unknown_write_may_or_may_not_take_effect():
    base = [op("write", "1", None, 0, 1), op("write", "2", None, 2, 3, outcome="unknown")]
    assert lin(base + [op("read", None, "1", 4, 5)])
    assert lin(base + [op("read", None, "2", 4, 5)])
    # Once seen it stays: a later read cannot see the older value again.
    assert not lin(base + [op("read", None, "2", 4, 5), op("read", None, "1", 6, 7)])


def test_failed_write_never_takes_effect():
    assert not lin([op("write", "1", None, 0, 1), op("write", "2", None, 2, 3, outcome="fail"),
                    op("read", None, "2", 4, 5)])


def test_counter_increments():
    assert lin([op("incr", 1, 1, 0, 1), op("incr", 1, 2, 0, 1), op("read", None, "2", 2, 3)])
    assert not lin([op("incr", 1, 1, 0, 1), op("incr", 1, 1, 2, 3)])  # a lost increment
    assert lin([op("incr", 1, None, 0, 1, outcome="unknown"), op("incr", 1, 2, 2, 3)])


def test_large_concurrent_history_is_decided():
    # Five clients, 400 operations, produced by a real sequential register with overlaps.
    rng = random.Random(7)
    ops, value, t = [], None, 0.0
    for i in range(400):
        t += 1
        start, end = t - rng.random() * 3, t + rng.random() * 3
        if rng.random() < 0.5:
            value = str(i)
            ops.append(op("write", value, None, start, end, client=i % 5))
        else:
            ops.append(op("read", None, value, start, end, client=i % 5))
    ok, why = linearizable(ops, register_step)
    assert ok, why


def test_list_append_checks():
    appends = [op("append", "a", None, 0, 1, key="l"), op("append", "b", None, 2, 3, key="l"),
               op("append", "c", None, 4, 5, key="l", outcome="unknown")]
    good = appends + [op("read_list", None, ["a"], 1.5, 1.6, key="l"),
                      op("read_list", None, ["a", "b"], 6, 7, key="l")]
    assert all(v.ok for v in check_lists(good))
    assert all(v.ok for v in check_lists(good, {"l": ["a", "b", "c"]}))

    def problem(history, final=None):
        verdicts = check_lists(history, final)
        assert len(verdicts) == 1
        return verdicts[0].detail if not verdicts[0].ok else None

    assert "duplicates" in problem(appends + [op("read_list", None, ["a", "a"], 6, 7, key="l")])
    assert "never appended" in problem(appends + [op("read_list", None, ["a", "z"], 6, 7, key="l")])
    assert "prefix" in problem(appends + [op("read_list", None, ["b"], 6, 7, key="l")],
                               {"l": ["a", "b"]})
    assert "lost" in problem(appends, {"l": ["a"]})
    assert "comes after" in problem(appends, {"l": ["b", "a"]})


def test_lost_write_checks():
    writes = [op("write", "1", None, 0, 1), op("write", "2", None, 2, 3),
              op("write", "3", None, 2.5, 4, outcome="unknown")]
    assert all(v.ok for v in check_lost_writes(writes, {"k": "2"}))
    assert all(v.ok for v in check_lost_writes(writes, {"k": "3"}))
    assert not check_lost_writes(writes, {"k": "1"})[0].ok  # overwritten by an acked write
    incrs = [op("incr", 1, 1, 0, 1, key="c"), op("incr", 1, None, 0, 1, key="c",
                                                  outcome="unknown")]
    assert check_lost_writes(incrs, {"c": "1"})[0].ok
    assert check_lost_writes(incrs, {"c": "2"})[0].ok
    assert not check_lost_writes(incrs, {"c": "0"})[0].ok
    assert not check_lost_writes(incrs, {"c": "3"})[0].ok


def test_command_line_replays_a_saved_history(tmp_path):
    bad = {"history": [
        {"client": 1, "key": "k", "f": "write", "value": "1", "invoke": 0, "complete": 1,
         "outcome": "ok"},
        {"client": 2, "key": "k", "f": "read", "result": None, "invoke": 2, "complete": 3,
         "outcome": "ok"}], "final": {"k": "1"}}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(bad))
    script = os.path.join(os.path.dirname(__file__), "checker.py")
    run = subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    assert "linearizable" in run.stdout and "VIOLATION" in run.stdout
    bad["history"][1]["result"] = "1"
    path.write_text(json.dumps(bad))
    run = subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout


def test_check_history_combines_every_check():
    ops = [op("write", "1", None, 0, 1), op("read", None, "1", 2, 3),
           op("append", "x", None, 0, 1, key="l"), op("read_list", None, ["x"], 2, 3, key="l")]
    verdicts = check_history(ops, {"k": "1", "l": ["x"]})
    assert {v.check for v in verdicts} == {"linearizable", "list-append", "lost-write"}
    assert all(v.ok for v in verdicts)
