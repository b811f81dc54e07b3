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
The operator's CLI for membership, leadership, the routing table and encryption: one admin gRPC
call on a raft listener (changes are sent on to the leader), printed as a table or JSON. The
tables below are read from its `--help`. The runbooks are in
[`docs/raft_learner_operations.md`](raft_learner_operations.md), encryption in
[`docs/encryption.md`](encryption.md).
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
    """The commands and options of `tessera-admin --help`: an option is "  --flag[=VALUE]  text"
    (a long one has its text on the next line), a command "  name args" with its description
    on the following lines indented by six spaces. Every --flag the text uses must be one of
    its options, so the table cannot miss one."""
    lines = help_text.splitlines()
    options, commands = {}, []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^  (--[a-z][a-z-]*)(?:=(\S+))?(?:\s{2,}(\S.*))?$", line)
        if m:
            text = [m.group(3)] if m.group(3) else []
            while i + 1 < len(lines) and re.match(r"^ {21}\S", lines[i + 1]):
                i += 1
                text.append(lines[i].strip())
            options[m.group(1)] = (m.group(2) or "", " ".join(text))
        else:
            m = re.match(r"^  ([a-z][a-z_-]*)\b(.*)$", line)
            if m:
                text = []
                while i + 1 < len(lines) and lines[i + 1].startswith("      "):
                    i += 1
                    text.append(lines[i].strip())
                if not text:
                    raise GenError(f"tessera-admin --help: command without a description: {line}")
                commands.append((m.group(1), m.group(2).strip(), " ".join(text)))
        i += 1
    # camelCase ones (--dataDir) are tessera-shard flags the text refers to
    used = set(re.findall(r"(--[a-z][a-z-]*)(?![A-Za-z])", help_text))
    undescribed = sorted(used - set(options))
    if undescribed:
        raise GenError(f"tessera-admin --help uses {undescribed} without describing them in "
                       "its options section (tools/admin/cli.cc)")
    out = ["| command | arguments | what it does |", "|---|---|---|"]
    for name, args, text in commands:
        out.append(f"| `{name}` | {md_escape(code(args))} | {md_escape(text)} |")
    out += ["", "| flag | value | meaning |", "|---|---|---|"]
    for flag, (value, text) in options.items():
        out.append(f"| `{flag}` | {code(value)} | {md_escape(text)} |")
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
