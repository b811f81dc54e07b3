"""deploy/: the systemd units (systemd-analyze verify and its offline security score), the
Dockerfile (static checks: Debian bookworm stages, packages that exist, runtime libraries
that cover what the binaries link; it is not built here, there is no network), and the
Kubernetes manifests (YAML structure, cross-references, and the start script that derives
every pod's flags, run against stubs and against the real tessera-shard)."""
import glob
import os
import re
import shutil
import stat
import subprocess
import tomllib

import pytest
import yaml

from test_conf_examples import shard_flags

BINARY = os.environ.get("TESSERA_SHARD_BIN", "build/bin/tessera-shard")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
SYSTEMD = os.path.join(DEPLOY, "systemd")
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
K8S = os.path.join(DEPLOY, "kubernetes")
UNITS = ["tessera-shard.service", "tessera-gateway.service"]
IMAGE_UID = 10001

# scripts/setup.sh packages the image's build stage leaves out on purpose: compilers and
# tools for tests, fuzzing and formatting, benchmark, and the test peers.
NOT_NEEDED_TO_BUILD = {
    "ccache", "clang", "libclang-rt-14-dev", "clang-format", "git", "libbenchmark-dev",
    "redis-tools", "redis-server", "python3-redis", "python3-pytest", "prometheus",
    "nutcracker", "nftables",
}


# ---------------------------------------------------------------------------- systemd

def unit_entries(path):
    """{section: {key: [values]}}; systemd allows a key several times."""
    sections, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                current = sections.setdefault(m.group(1), {})
                continue
            key, value = line.split("=", 1)
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_hardened(unit):
    service = unit_entries(os.path.join(SYSTEMD, unit))["Service"]
    one = {k: v[-1] for k, v in service.items()}
    assert one["User"] == "tessera" and one["Group"] == "tessera"
    assert one["ProtectSystem"] == "strict"
    assert one["NoNewPrivileges"] == "true"
    assert one["Restart"] == "on-failure"
    assert int(one["LimitNOFILE"]) >= 65536
    assert one["CapabilityBoundingSet"] == ""
    assert one["ProtectHome"] == "true" and one["PrivateTmp"] == "true"
    program = unit.removesuffix(".service")
    assert one["ExecStart"].startswith(f"/usr/local/bin/{program} "), one["ExecStart"]
    if program == "tessera-gateway":
        assert "--config /etc/tessera/gateway.toml" in one["ExecStart"]
    if program == "tessera-shard":
        # The state directory is the dataDir of conf/production/.
        assert one["StateDirectory"] == "tessera"
        assert "--config /etc/tessera/shard.toml" in one["ExecStart"]
        for path in glob.glob(os.path.join(REPO, "conf", "production", "n*.toml")):
            with open(path, "rb") as f:
                assert tomllib.load(f)["dataDir"] == "/var/lib/tessera", path


def units_with_runnable_exec(tmp_path):
    """Copies of the units whose ExecStart points at programs that exist here:
    `systemd-analyze verify` checks the command is executable."""
    stub = tmp_path / "tessera-gateway"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    programs = {"tessera-shard": os.path.abspath(BINARY), "tessera-gateway": str(stub)}
    paths = []
    for unit in UNITS:
        text = open(os.path.join(SYSTEMD, unit)).read()
        for name, real in programs.items():
            text = text.replace(f"/usr/local/bin/{name} ", f"{real} ")
        path = tmp_path / unit
        path.write_text(text)
        paths.append(str(path))
    return paths


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path):
    """Exit status 0 is not enough: unknown keys and bad values are only warnings."""
    paths = units_with_runnable_exec(tmp_path)
    proc = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True,
                          timeout=60)
    complaints = [l for l in (proc.stdout + proc.stderr).splitlines()
                  if any(os.path.basename(p) in l for p in paths)]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("unit", UNITS)
def test_systemd_security_exposure_is_low(tmp_path, unit):
    path = next(p for p in units_with_runnable_exec(tmp_path) if p.endswith(unit))
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", path],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    if m is None:
        pytest.skip(f"systemd-analyze security --offline unsupported: {proc.stderr.strip()}")
    assert float(m.group(1)) <= 2.0, proc.stdout


# ---------------------------------------------------------------------------- Dockerfile

def dockerfile_stages():
    """[(stage name, base image, [instructions])], ARG defaults substituted in FROM."""
    text = open(DOCKERFILE).read().replace("\\\n", " ")
    args, stages = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            m = re.fullmatch(r"(\S+)(?: AS (\S+))?", rest, re.I)
            image = re.sub(r"\$\{(\w+)\}", lambda a: args[a.group(1)], m.group(1))
            stages.append((m.group(2), image, []))
        else:
            stages[-1][2].append((word, rest))
    return stages


def apt_packages(instructions):
    pkgs = []
    for word, rest in instructions:
        if word == "RUN" and "apt-get install" in rest:
            tail = rest.split("apt-get install", 1)[1].split("&&")[0]
            pkgs += [t for t in tail.split() if not t.startswith("-")]
            assert "rm -rf /var/lib/apt/lists/*" in rest, "apt lists must not stay in a layer"
    return pkgs


def setup_sh_packages():
    text = open(os.path.join(REPO, "scripts", "setup.sh")).read()
    block = re.search(r"PACKAGES=\((.*?)\n\)", text, re.S).group(1)
    return [l.split("#")[0].strip() for l in block.splitlines() if l.split("#")[0].strip()]


def test_dockerfile_is_multi_stage_debian_bookworm():
    stages = dockerfile_stages()
    assert [s[0] for s in stages] == ["build", "runtime"]
    for name, image, _ in stages:
        assert re.fullmatch(r"debian:bookworm(-slim)?", image), (name, image)
    text = open(DOCKERFILE).read()
    assert not re.search(r"\b(curl|wget|pip3?|git clone|go get|npm)\b", text), \
        "only Debian packages through apt; nothing downloaded otherwise"
    build = " ".join(rest for word, rest in stages[0][2] if word == "RUN")
    assert "-G Ninja" in build and "cmake --build" in build


def test_dockerfile_runtime_runs_as_non_root_with_only_runtime_packages():
    _, _, runtime = dockerfile_stages()[1]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] == str(IMAGE_UID)
    assert any(f"--uid {IMAGE_UID}" in rest for word, rest in runtime if word == "RUN")
    pkgs = apt_packages(runtime)
    assert pkgs
    tools = {"build-essential", "cmake", "ninja-build", "pkg-config", "protobuf-compiler"}
    assert not [p for p in pkgs if p.endswith("-dev") or p in tools], pkgs
    # Only the build stage's output and the example configurations are copied in.
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert all(c.startswith("--from=build ") or c.startswith("conf/") for c in copies), copies


def test_dockerfile_build_stage_has_what_setup_sh_builds_with():
    pkgs = set(apt_packages(dockerfile_stages()[0][2]))
    wanted = set(setup_sh_packages()) - NOT_NEEDED_TO_BUILD
    assert wanted <= pkgs, f"add to the Dockerfile build stage (or NOT_NEEDED_TO_BUILD): " \
                           f"{sorted(wanted - pkgs)}"


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="no apt-cache")
def test_dockerfile_packages_exist_in_debian():
    """apt-cache reads this machine's (bookworm) package lists: no network needed."""
    pkgs = {p for _, _, instructions in dockerfile_stages() for p in apt_packages(instructions)}
    proc = subprocess.run(["apt-cache", "show", "--no-all-versions", *sorted(pkgs)],
                          capture_output=True, text=True, timeout=120)
    known = set(re.findall(r"^Package: (\S+)$", proc.stdout, re.M))
    assert pkgs <= known, f"not Debian packages here: {sorted(pkgs - known)}"


def needed_packages(binary):
    """Debian packages holding the shared libraries `binary` links directly."""
    needed = re.findall(r"\(NEEDED\).*\[(.+?)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                                       check=True, timeout=60).stdout)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True,
                           timeout=60).stdout
    pkgs = {}
    for lib in needed:
        m = re.search(rf"^\s*{re.escape(lib)} \(.*x86-64.*\) => (\S+)$", cache, re.M) or \
            re.search(rf"^\s*{re.escape(lib)} .*=> (\S+)$", cache, re.M)
        assert m, f"{lib} not in the linker cache"
        real = os.path.realpath(m.group(1))
        # dpkg records a library under /lib or /usr/lib, whichever its package ships.
        bare = real.removeprefix("/usr")
        candidates = [real, bare, "/usr" + bare]
        for path in candidates:
            proc = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                pkgs[lib] = proc.stdout.split(":")[0]
                break
        else:
            raise AssertionError(f"no Debian package holds {real}")
    return pkgs


@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("readelf") is None,
                    reason="needs dpkg and readelf")
def test_dockerfile_runtime_has_the_libraries_the_binaries_link():
    runtime = set(apt_packages(dockerfile_stages()[1][2]))
    in_base_image = {"libc6", "libgcc-s1"}
    bin_dir = os.path.dirname(os.path.abspath(BINARY))
    binaries = [p for p in (os.path.join(bin_dir, n) for n in
                            ("tessera-shard", "tessera-gateway", "tessera-admin"))
                if os.path.exists(p)]
    for binary in binaries:
        for lib, pkg in needed_packages(binary).items():
            assert pkg in runtime | in_base_image, \
                f"{os.path.basename(binary)} links {lib} from {pkg}, missing in the runtime stage"


# ---------------------------------------------------------------------------- Kubernetes

def k8s_objects():
    objs = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        if path.endswith("kustomization.yaml"):
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                for key in ("apiVersion", "kind", "metadata"):
                    assert key in doc, f"{path}: a document without {key}"
                objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def cluster_settings():
    return k8s_objects()[("ConfigMap", "tessera-cluster")]["data"]


def k8s_file(name):
    return k8s_objects()[("ConfigMap", "tessera-files")]["data"][name]


def test_manifests_parse_and_live_in_one_namespace():
    objs = k8s_objects()
    kinds = sorted(k for k, _ in objs)
    assert kinds == sorted(["Namespace", "ConfigMap", "ConfigMap", "Service", "Service", "Service",
                            "StatefulSet", "Deployment", "PodDisruptionBudget",
                            "PodDisruptionBudget"]), kinds
    for (kind, name), doc in objs.items():
        if kind != "Namespace":
            assert doc["metadata"].get("namespace") == "tessera", (kind, name)
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "tessera", (kind, name)
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    listed = set(kustomization["resources"])
    on_disk = {os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.yaml"))}
    assert listed == on_disk - {"kustomization.yaml"}


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def container_ports(obj):
    return {p["name"]: p["containerPort"] for p in pod_spec(obj)["containers"][0]["ports"]}


def test_shard_statefulset_has_stable_identities():
    objs = k8s_objects()
    sts = objs[("StatefulSet", "tessera-shard")]
    settings = cluster_settings()
    svc = objs[("Service", sts["spec"]["serviceName"])]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert settings["TESSERA_SHARD_STATEFULSET"] == sts["metadata"]["name"]
    assert settings["TESSERA_SHARD_SERVICE"] == svc["metadata"]["name"]
    assert int(settings["TESSERA_SHARD_REPLICAS"]) == sts["spec"]["replicas"]
    assert 2 <= int(settings["TESSERA_BOOTSTRAP_VOTERS"]) <= sts["spec"]["replicas"]
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    container = pod_spec(sts)["containers"][0]
    assert container["command"][-2:] == ["/etc/tessera/tessera-k8s.sh", "shard"]
    fields = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert fields == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace",
                      "POD_IP": "status.podIP"}
    # Every listener the script and shard.toml configure is a named port of the pod and
    # of the headless Service (Prometheus finds "metrics" by its SRV record).
    toml = tomllib.loads(k8s_file("shard.toml"))
    base = int(settings["TESSERA_RAFT_BASE_PORT"])
    wanted = {f"raft-g{g}": base + int(g) for g in settings["TESSERA_GROUPS"].split()}
    wanted["redis"] = int(settings["TESSERA_SHARD_REDIS_PORT"])
    wanted["metrics"] = int(toml["metricsAddress"].rsplit(":", 1)[1])
    assert container_ports(sts) == wanted
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == wanted
    # The data volume is the dataDir, and the image's user owns it (fsGroup).
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    assert mounts["data"] == toml["dataDir"] and mounts["files"] == "/etc/tessera"
    security = pod_spec(sts)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["fsGroup"] == IMAGE_UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    pdb = objs[("PodDisruptionBudget", "tessera-shard")]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_gateways_are_a_deployment_behind_a_service():
    objs = k8s_objects()
    dep = objs[("Deployment", "tessera-gateway")]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = objs[("Service", "tessera-gateway")]
    assert svc["spec"]["selector"].items() <= labels.items()
    ports = container_ports(dep)
    for p in svc["spec"]["ports"]:
        assert p["targetPort"] in ports, p
    assert [p["port"] for p in svc["spec"]["ports"]] == [6379]
    pods = objs[("Service", "tessera-gateway-pods")]
    assert pods["spec"]["clusterIP"] == "None"
    assert pods["spec"]["selector"].items() <= labels.items()
    assert [p["name"] for p in pods["spec"]["ports"]] == ["metrics"]
    container = pod_spec(dep)["containers"][0]
    assert container["command"][-2:] == ["/etc/tessera/tessera-k8s.sh", "gateway"]
    args = container["args"]
    assert args[args.index("--listen") + 1] == f"0.0.0.0:{ports['redis']}"
    assert args[args.index("--metricsAddress") + 1] == f"0.0.0.0:{ports['metrics']}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod_spec(dep)["securityContext"]["runAsUser"] == IMAGE_UID


def test_shard_toml_of_the_configmap_uses_real_flags():
    flags = shard_flags()
    toml = tomllib.loads(k8s_file("shard.toml"))
    assert set(toml) <= set(flags), set(toml) - set(flags)
    # The script sets the per-pod flags; the file must not fight it.
    assert not set(toml) & {"raftId", "raftGroups", "raftGroupPeers", "redisAddress",
                            "raftRedisMap", "raftJoinAsLearner", "raftBootstrap"}


@pytest.fixture
def script(tmp_path):
    """The ConfigMap's start script, a stub getent (shard k resolves to 10.1.0.(10+k)) and
    stub programs that print their arguments one per line."""
    path = tmp_path / "tessera-k8s.sh"
    path.write_text(k8s_file("tessera-k8s.sh"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "getent").write_text(
        '#!/bin/sh\n[ "$1" = ahostsv4 ] || exit 2\n'
        'case "$2" in tessera-shard-*.tessera-shard.tessera.svc.cluster.local)\n'
        '  k=${2#tessera-shard-}; k=${k%%.*}; echo "10.1.0.$((k + 10))  STREAM $2";;\n'
        '*) exit 2;; esac\n')
    for name in ("tessera-shard", "tessera-gateway"):
        (bin_dir / name).write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return path, bin_dir


def run_script(script, role, pod, extra_env=None, bin_dir=None, args=()):
    path, stubs = script
    env = {"PATH": os.environ["PATH"], "POD_NAME": pod, "POD_NAMESPACE": "tessera",
           "TESSERA_BIN_DIR": str(bin_dir or stubs), "TESSERA_GETENT": str(stubs / "getent"),
           "TESSERA_RESOLVE_TIMEOUT": "5"}
    env.update(cluster_settings())
    if role == "shard":
        env["POD_IP"] = f"10.1.0.{10 + int(pod.rsplit('-', 1)[1])}"
    env.update(extra_env or {})
    return subprocess.run(["sh", str(path), role, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def flag_values(stdout):
    words = stdout.splitlines()
    out, i = {}, 0
    while i < len(words):
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[words[i]] = words[i + 1]
            i += 2
        else:
            out[words[i]] = True
            i += 1
    return out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck")
def test_start_script_passes_shellcheck(script):
    proc = subprocess.run(["shellcheck", "-s", "sh", str(script[0])], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def test_start_script_derives_identities_from_pod_names(script):
    settings = cluster_settings()
    groups = settings["TESSERA_GROUPS"].split()
    replicas = int(settings["TESSERA_SHARD_REPLICAS"])
    host = "tessera-shard-{k}.tessera-shard.tessera.svc.cluster.local"
    expected_map = ",".join(f"{host.format(k=k)}:{5050 + int(g)}=10.1.0.{10 + k}:6380"
                            for k in range(replicas) for g in groups)
    peers = set()
    for k in range(replicas):
        proc = run_script(script, "shard", f"tessera-shard-{k}", args=["--tickMs", "50"])
        assert proc.returncode == 0, proc.stderr
        f = flag_values(proc.stdout)
        assert f["--raftId"] == f"tessera-shard-{k}"
        assert f["--raftGroups"] == ",".join(f"{g}={host.format(k=k)}:{5050 + int(g)}"
                                             for g in groups)
        assert f["--redisAddress"] == f"10.1.0.{10 + k}:6380"
        assert f["--raftRedisMap"] == expected_map
        assert f["--config"] == "/etc/tessera/shard.toml"
        assert f["--tickMs"] == "50"  # extra arguments pass through
        assert "--raftJoinAsLearner" not in f
        peers.add(f["--raftGroupPeers"])
    assert len(peers) == 1, "every bootstrap voter must declare the identical list"
    assert peers.pop() == ";".join(
        f"{g}=" + ",".join(f"tessera-shard-{k}@{host.format(k=k)}:{5050 + int(g)}"
                           for k in range(replicas)) for g in groups)
    gw = run_script(script, "gateway", "tessera-gateway-5d9f-abcde",
                    args=["--listen", "0.0.0.0:6379"])
    assert gw.returncode == 0, gw.stderr
    f = flag_values(gw.stdout)
    assert f["--raftRedisMap"] == expected_map
    assert f["--shards"] == ",".join(f"{host.format(k=k)}:5051" for k in range(replicas))
    assert f["--listen"] == "0.0.0.0:6379"


def test_start_script_pods_beyond_the_voters_join_as_learners(script):
    proc = run_script(script, "shard", "tessera-shard-3", {"TESSERA_SHARD_REPLICAS": "4"})
    assert proc.returncode == 0, proc.stderr
    f = flag_values(proc.stdout)
    assert f["--raftJoinAsLearner"] is True and "--raftGroupPeers" not in f
    assert f["--raftRedisMap"].count("=") == 4 * len(cluster_settings()["TESSERA_GROUPS"].split())


@pytest.mark.parametrize("pod, env, complaint", [
    ("tessera-shard-0", {"TESSERA_BOOTSTRAP_VOTERS": "1"}, "TESSERA_BOOTSTRAP_VOTERS >= 2"),
    ("tessera-shard-0", {"TESSERA_SHARD_REPLICAS": "2"}, "TESSERA_BOOTSTRAP_VOTERS >= 2"),
    ("tessera-shard-3", {}, "pod ordinal 3 >= TESSERA_SHARD_REPLICAS"),
    ("other-0", {}, "is not tessera-shard-<ordinal>"),
    ("tessera-shard-0", {"TESSERA_GROUPS": "1 x"}, "bad group id 'x'"),
    ("tessera-shard-0", {"TESSERA_SHARD_SERVICE": "nowhere"}, "did not resolve"),
])
def test_start_script_refuses_bad_settings(script, pod, env, complaint):
    env = dict(env, TESSERA_RESOLVE_TIMEOUT="1")
    proc = run_script(script, "shard", pod, env)
    assert proc.returncode != 0 and complaint in proc.stderr, proc.stderr


def test_start_script_flags_pass_the_shards_validation(script, tmp_path):
    """The real tessera-shard accepts the derived flags: each of the three pods bootstraps
    every group with 3 voters, all with the same bootstrap list hash. It then stops at the
    raft listener: the pods' DNS names do not resolve on this machine (they resolve, to the
    pod itself, inside Kubernetes)."""
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(os.path.abspath(BINARY), real / "tessera-shard")
    settings = cluster_settings()
    hashes = {}
    for k in range(int(settings["TESSERA_BOOTSTRAP_VOTERS"])):
        conf = tmp_path / f"shard-{k}.toml"
        token = tmp_path / "admin-token"
        token.write_text("t0ken\n")
        token.chmod(0o600)
        toml = k8s_file("shard.toml").replace('"/var/lib/tessera"', f'"{tmp_path}/data-{k}"')
        toml = toml.replace('"/etc/tessera-admin/token"', f'"{token}"')
        conf.write_text(re.sub(r'(?m)^metricsAddress = .*$', "", toml))
        proc = run_script(script, "shard", f"tessera-shard-{k}",
                          {"TESSERA_SHARD_CONFIG": str(conf)}, bin_dir=real)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "cannot listen on" in out, out
        for g in settings["TESSERA_GROUPS"].split():
            m = re.search(rf"group {g}: bootstrapped with 3 voters, bootstrap_list_hash (\w+)", out)
            assert m, out
            hashes.setdefault(g, set()).add(m.group(1))
    assert all(len(h) == 1 for h in hashes.values()), hashes


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl")
def test_kustomize_renders_every_object():
    proc = subprocess.run([KUBECTL, "kustomize", K8S], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(k8s_objects())


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl")
def test_kubectl_client_dry_run(tmp_path):
    proc = subprocess.run(
        [KUBECTL, "apply", "--dry-run=client", "--validate=false", "-f", K8S],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, KUBECONFIG=str(tmp_path / "none")))
    if proc.returncode != 0 and re.search(r"connection refused|unable to recognize|"
                                          r"couldn't get current server API", proc.stderr):
        pytest.skip("kubectl apply --dry-run=client still asks an API server for its resource "
                    "types, and there is none offline (kubectl kustomize and the YAML checks "
                    "above cover the manifests)")
    assert proc.returncode == 0, proc.stderr


def test_deployment_doc_covers_every_deploy_file():
    with open(os.path.join(REPO, "docs", "deployment.md")) as f:
        text = f.read()
    for path in glob.glob(os.path.join(DEPLOY, "**", "*"), recursive=True):
        if os.path.isfile(path):
            rel = os.path.relpath(path, REPO)
            assert rel in text or os.path.basename(path) in text, f"docs/deployment.md: {rel}"
