#!/usr/bin/python3
# Generates docs/configuration.md from the --help of tessera-shard, tessera-gateway and
# tessera-admin, so the reference cannot drift from the binaries (checked by a test).
"""Writes docs/configuration.md from `--help` of every Tessera binary.

usage: tools/gen_configuration_doc.py [--bin-dir DIR] [--check] [--output FILE]

The flag tables and the verbatim help blocks come from the binaries; the prose around them
lives here. --check compares instead of writing and exits 1 when the file differs
(tests/integration/test_configuration_doc.py does the same). Edit a flag's help text in its
source (shard/config/shard_flags.cc, gateway/options.cc, tools/admin/cli.cc), rebuild, and
run this script.
"""

import argparse
import difflib
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
DOC = os.path.join(REPO, "docs", "configuration.md")

# tessera-admin prints a usage synopsis without descriptions; these say what its flags and
# subcommands do. The generator refuses a flag or subcommand of --help missing here, and a
# note for something --help no longer names, so the table stays complete and true.
ADMIN_FLAG_NOTES = {
    "--json": ("", "print the answer as JSON (protobuf JSON mapping; 64-bit numbers are strings)"),
    "--token-file": ("FILE", "file holding the admin token, sent as `authorization: Bearer "
                             "<token>`; needed for shards listening outside loopback "
                             "(`--adminTokenFile`)"),
    "--timeout-ms": ("N", "deadline of the call in milliseconds (default 30000)"),
    "--to": ("ID[@ADDR]", "`transfer_leadership`: the voter to hand leadership to"),
    "--candidates": ("ID,ID", "`transfer_leadership`: voters to try in order; the first "
                              "eligible one wins"),
    "--gated": ("", "`transfer_leadership`: only to a target that replicates and lags at most "
                    "`--max-lag` entries"),
    "--max-lag": ("N", "`transfer_leadership --gated`: entries the target may lag (default "
                       "1024)"),
    "--data-dir": ("DIR", "`wipe-group`: the stopped shard's `--dataDir`"),
    "--group": ("GID", "`wipe-group`: the group whose state to delete"),
    "--confirm-data-loss": ("", "`wipe-group`: also when the group's log holds client entries"),
}
# Accepted by tessera-admin but not shown by its --help (kept until --help names them).
ADMIN_FLAGS_NOT_IN_HELP = {
    "raft --group": ("GID", "after the listener: the group to act on when the listener hosts "
                            "several (default 0: the listener's own group)"),
}
ADMIN_SUBCOMMAND_NOTES = {
    "status": "this member's view of the group: role, term, commit and applied index, last "
              "snapshot; on the leader, every peer's replication progress (`MATCH`, `NEXT`, "
              "state, inflight, pending snapshot). A learner is caught up when its `MATCH` "
              "reaches `commit_index`",
    "leader": "the group's leader as this member knows it",
    "config": "members with suffrage and the configuration index",
    "overview": "every group on every member the listener's node knows: role, suffrage, leader, "
                "term, commit and applied index, reachability",
    "add_voter": "add a voter (prefer a learner first, then `promote_learner`); "
                 "`previous_index` is a compare-and-set on the configuration index",
    "add_learner": "add a non-voting member that receives the log (and snapshots)",
    "promote_learner": "make a caught-up learner a voter; refused unless its match index "
                       "reaches `min_applied_index` (take it from the leader's `status`) or "
                       "`skip_min_applied_check` is true",
    "remove_server": "remove a voter or a learner",
    "transfer_leadership": "move leadership to another voter",
    "wipe-group": "offline, on a stopped shard: delete one group's rows and snapshot files, "
                  "keeping its other groups, to recover a node bootstrapped with a wrong peer "
                  "list; refused outside the bootstrap era (docs/raft_learner_operations.md)",
}

INTRO = """\
# Configuration reference

Every flag of every Tessera binary, generated from their `--help` by
`tools/gen_configuration_doc.py`; `tests/integration/test_configuration_doc.py` fails when this
file and the binaries disagree. To change a flag's text, edit it in its source
(`shard/config/shard_flags.cc`, `gateway/options.cc`, `tools/admin/cli.cc`), rebuild, and run
`tools/gen_configuration_doc.py`.

Addresses are `host:port` (IPv4). Sizes are bytes, durations milliseconds unless the flag says
otherwise. Worked examples: [`conf/`](../conf/) (TOML files for a dev shard, the local 3 x 2
cluster and a three-machine layout), [`deploy/`](../deploy/) and
[`docs/deployment.md`](deployment.md) (systemd, Docker, Kubernetes), and
[`docs/quickstart.md`](quickstart.md) (`scripts/run.sh` and `tools/local/tessera-local`).
"""

SECTIONS = {
    "tessera-shard": """\
A shard process hosts replicas of one or more Raft groups. Every flag can also come from a TOML
file given with `--config FILE`: the key is the flag name without dashes (`raftId = "n1"`),
strings are TOML strings, numbers TOML integers, `raftBootstrap` / `raftJoinAsLearner` /
`adminInsecure` TOML booleans; an unknown key or a wrong type stops the shard with an error
naming the key. A flag on the command line wins over the file. `raftGroupPeers` and
`raftRedisMap` must be identical on every node; membership rules are in
[`docs/raft_learner_operations.md`](raft_learner_operations.md), snapshot settings in
[`docs/snapshots.md`](snapshots.md).
""",
    "tessera-gateway": """\
A gateway is stateless: it holds no data and needs only the shards to watch the topology from.
Every flag can also come from a TOML file given with `--config FILE`, keyed by the flag name
without dashes (`listen = "0.0.0.0:6379"`), numbers as TOML integers, the rest as TOML strings;
an unknown key or a wrong type stops the gateway with an error naming the key, and a flag on
the command line wins over the file. Examples: `conf/local-3x2/gateway.toml`,
`conf/production/gateway.toml` (read by `deploy/systemd/tessera-gateway.service`). What it
does with each command is in [`docs/gateway.md`](gateway.md).
""",
    "tessera-admin": """\
The operator's CLI for membership and leadership: one RaftAdmin gRPC call on a raft listener
of the group to act on (changes are sent on to the leader), printed as a table or JSON. The
runbook is [`docs/raft_learner_operations.md`](raft_learner_operations.md). Exit status: 0 done,
1 the call failed (the error is printed), 2 usage error, 3 the listener is unreachable.
""",
}

BINARIES = ["tessera-shard", "tessera-gateway", "tessera-admin"]


class GenError(Exception):
    pass


def run_help(bin_dir, name):
    path = os.path.join(bin_dir, name)
    if not os.access(path, os.X_OK):
        raise GenError(f"{path} not found: build it first (cmake --build build)")
    proc = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, COLUMNS="100"))
    if proc.returncode != 0:
        raise GenError(f"{name} --help exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.rstrip("\n")


def parse_cli11_options(help_text):
    """[(flag, value, default, description)] from CLI11's `Options:` block."""
    options = []
    in_options = False
    for line in help_text.splitlines():
        if line.strip() == "Options:":
            in_options = True
            continue
        if not in_options or not line.strip():
            continue
        if re.match(r"^\S", line):  # another block
            in_options = False
            continue
        m = re.match(r"^\s{1,4}(-\S+)(?: (\S+))?(?:\s{2,}(.*))?$", line)
        if m and m.group(1).startswith("-"):
            flag = m.group(1).split(",")[-1]
            value = m.group(2) or ""
            default = ""
            if "=" in value:
                value, default = value.split("=", 1)
            options.append([flag, value, default, (m.group(3) or "").strip()])
        elif options:
            options[-1][3] = (options[-1][3] + " " + line.strip()).strip()
        else:
            raise GenError(f"cannot parse help line: {line!r}")
    for o in options:
        if not o[2]:
            d = re.search(r"\(default ([^)]*)\)", o[3])
            if d:
                o[2] = d.group(1)
    if not options:
        raise GenError("no options found in the help text")
    return options


def md_escape(text):
    return text.replace("|", "\\|")


def code(text):
    return f"`{text}`" if text else ""


def cli11_table(help_text):
    rows = ["| flag | value | default | meaning |", "|---|---|---|---|"]
    for flag, value, default, desc in parse_cli11_options(help_text):
        if flag == "--help":
            continue
        rows.append(f"| `{flag}` | {md_escape(code(value))} | {md_escape(code(default))} | "
                    f"{md_escape(desc)} |")
    return "\n".join(rows)


def admin_tables(help_text):
    flags = []
    for m in re.finditer(r"\[?(--[a-z][a-z-]*)(?:=([^\]\s]+))?\]?", help_text):
        if m.group(1) not in flags:
            flags.append(m.group(1))
    missing = [f for f in flags if f not in ADMIN_FLAG_NOTES]
    stale = [f for f in ADMIN_FLAG_NOTES if f not in flags]
    if missing or stale:
        raise GenError(f"tessera-admin --help and ADMIN_FLAG_NOTES differ: describe {missing}, "
                       f"drop {stale} (tools/gen_configuration_doc.py)")
    subcommands = []
    for line in help_text.splitlines():
        m = re.match(r"^  (?:tessera-admin raft )?([a-z][a-z_-]*)\b(.*)$", line)
        if m:
            subcommands.append((m.group(1), (m.group(2) or "").strip()))
    names = [s for s, _ in subcommands]
    missing = [s for s in names if s not in ADMIN_SUBCOMMAND_NOTES]
    stale = [s for s in ADMIN_SUBCOMMAND_NOTES if s not in names]
    if missing or stale:
        raise GenError(f"tessera-admin --help and ADMIN_SUBCOMMAND_NOTES differ: describe "
                       f"{missing}, drop {stale} (tools/gen_configuration_doc.py)")
    out = ["| subcommand | arguments | what it does |", "|---|---|---|"]
    for name, args in subcommands:
        out.append(f"| `{name}` | {md_escape(code(args))} | "
                   f"{md_escape(ADMIN_SUBCOMMAND_NOTES[name])} |")
    out += ["", "| flag | value | meaning |", "|---|---|---|"]
    for f in flags:
        value, note = ADMIN_FLAG_NOTES[f]
        out.append(f"| `{f}` | {code(value)} | {md_escape(note)} |")
    for f, (value, note) in ADMIN_FLAGS_NOT_IN_HELP.items():
        out.append(f"| `{f}` | {code(value)} | {md_escape(note)} (not shown by `--help`) |")
    return "\n".join(out)


def generate(bin_dir):
    parts = [INTRO]
    for name in BINARIES:
        help_text = run_help(bin_dir, name)
        table = admin_tables(help_text) if name == "tessera-admin" else cli11_table(help_text)
        parts.append(f"## {name}\n\n{SECTIONS[name]}\n{table}\n\n"
                     f"<details><summary><code>{name} --help</code></summary>\n\n"
                     f"```text\n{help_text}\n```\n\n</details>\n")
    return "\n".join(parts)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", default=os.environ.get("TESSERA_BIN_DIR",
                                                       os.path.join(REPO, "build", "bin")))
    p.add_argument("--output", default=DOC)
    p.add_argument("--check", action="store_true",
                   help="compare with --output instead of writing; exit 1 on a difference")
    args = p.parse_args(argv)
    try:
        text = generate(args.bin_dir)
    except GenError as e:
        print(f"gen_configuration_doc: {e}", file=sys.stderr)
        return 2
    if args.check:
        try:
            with open(args.output) as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), args.output, "generated"))
            print(f"{args.output} is out of date: run tools/gen_configuration_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
