"""The seed's Docker start for real (docs/docker.md): a dockerd of the test's own, a Debian 12
base image made offline with debootstrap, pgha's image built from this source tree by
packaging/docker/Dockerfile, and two nodes started by packaging/docker/docker-compose.yml with
host networking on loopback ports.

Needs root, Debian's docker.io and docker-compose, and debootstrap; skipped without them
(PGHA_DOCKER_REQUIRED=1 makes that a failure). Everything it makes (the daemon's data and
exec roots, the rootfs, the secrets) is in one temporary directory, removed at the end, also
on failure, with what dockerd left outside it (/etc/docker/key.json, /run/docker, its cgroups)
when it was not there before. Every wait polls a condition with a deadline.

Environment: PGHA_DOCKER_MIRROR (the Debian mirror for debootstrap; default: this machine's
apt source), PGHA_DOCKER_KEEP=1 (keep the temporary directory: the stopped daemon's data root
with its images, and the containers' logs in logs/). A failed run keeps the logs (dockerd's,
debootstrap's, the build's, docker-compose's, each container's with its server log) in
build/e2e-logs/docker/.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Optional

import pytest

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
COMPOSE_FILE = SOURCE / "packaging" / "docker" / "docker-compose.yml"
COMPOSE_TEST_FILE = HERE / "docker-compose.test.yml"
DOCKERFILE = SOURCE / "packaging" / "docker" / "Dockerfile"
BASE_IMAGE = "pgha-base:test"
IMAGE = "pgha:test"
SUITE = "bookworm"
NODES = ("pg-node01", "pg-node02")
SECRET_NAMES = ("api_token", "db_password", "replicate_password", "superuser_password",
                "rewind_password")

# Phases and how long they took, printed at the end of the session.
TIMINGS: Dict[str, float] = {}
# Where a failed run's logs go: build/e2e-logs/docker/ under CTest (its working directory).
LOG_ROOT = pathlib.Path(os.environ.get("PGHA_E2E_LOG_DIR", pathlib.Path.cwd() / "e2e-logs"))


def pytest_configure(config):
    config.addinivalue_line("markers", "docker: a dockerd of its own, images, containers (slow)")


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line(
            "docker timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in TIMINGS.items()))


class timed:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        TIMINGS[self.name] = time.monotonic() - self.start


def wait_for(what: str, predicate: Callable[[], object], timeout: float = 60,
             interval: float = 0.2):
    """Polls predicate() until it returns something truthy (returned); fails after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}", pytrace=False)
        time.sleep(interval)


# -- what the test needs ------------------------------------------------------------------------

def _docker_client() -> Optional[str]:
    """Debian's docker client, next to its dockerd (a `docker` earlier on PATH may be another
    build)."""
    dockerd = shutil.which("dockerd")
    if dockerd:
        for candidate in (pathlib.Path(dockerd).resolve().parent / "docker",
                          pathlib.Path("/usr/bin/docker")):
            if candidate.exists():
                return str(candidate)
    return shutil.which("docker")


def unavailable() -> Optional[str]:
    if os.geteuid() != 0:
        return "the docker test needs root (its own dockerd, debootstrap)"
    missing = [p for p in ("dockerd", "containerd", "runc", "docker-compose", "debootstrap")
               if shutil.which(p) is None]
    if _docker_client() is None:
        missing.append("docker")
    if missing:
        return ("missing " + ", ".join(missing) +
                " (apt-get install docker.io docker-compose debootstrap)")
    return None


def require_docker() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("PGHA_DOCKER_REQUIRED") == "1":
        pytest.fail("PGHA_DOCKER_REQUIRED=1 but " + reason, pytrace=False)
    pytest.skip(reason)


def debian_mirror() -> str:
    """PGHA_DOCKER_MIRROR, else the first Debian (not security) archive of this machine's apt
    sources, deb822 or one-line style."""
    env = os.environ.get("PGHA_DOCKER_MIRROR")
    if env:
        return env
    files = [pathlib.Path("/etc/apt/sources.list")]
    files += sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.sources"))
    files += sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*.list"))
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
                suites = fields.get("suites", [])
                if "deb" in fields.get("types", []) and SUITE in suites:
                    for uri in fields.get("uris", []):
                        if "security" not in uri:
                            return uri
        else:
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and not parts[1].startswith("["):
                    if parts[2] == SUITE and "security" not in parts[1]:
                        return parts[1]
    return "http://deb.debian.org/debian"


def free_ports(count: int) -> List[int]:
    """`count` distinct TCP ports free on 127.0.0.1, below 32768 (the kernel's ephemeral
    range starts there: a port found with bind(0) could be taken by any outgoing
    connection)."""
    found: List[int] = []
    rng = random.Random()
    while len(found) < count:
        port = rng.randrange(20000, 32000)
        if port in found:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


def run(argv, *, env=None, timeout=600, check=True, input=None, log=None):
    """Runs argv; on failure (check) the test fails with its output's last lines."""
    res = subprocess.run(argv, env=env, timeout=timeout, input=input, capture_output=True)
    if log is not None:
        with open(log, "ab") as f:
            f.write(b"$ " + " ".join(map(str, argv)).encode() + b"\n" + res.stdout + res.stderr)
    if check and res.returncode != 0:
        tail = (res.stdout + res.stderr).decode(errors="replace").splitlines()[-40:]
        pytest.fail(f"{' '.join(map(str, argv))}: exit {res.returncode}\n" + "\n".join(tail),
                    pytrace=False)
    return res


# -- the daemon -----------------------------------------------------------------------------------

def _mounts_under(root: pathlib.Path) -> List[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == str(root) or point.startswith(str(root) + "/"):
                out.append(point)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_pid(pid: int, grace: float) -> bool:
    """SIGTERM, SIGKILL after `grace` s. True when it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not _pid_alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


class Docker:
    """A dockerd of this test's own: data and exec roots in `base`, a unix socket there, no
    bridge and no iptables rules (containers use the host's network)."""

    # What dockerd makes outside its roots when missing: removed afterwards if it did.
    OUTSIDE = [pathlib.Path("/etc/docker/key.json"), pathlib.Path("/etc/docker"),
               pathlib.Path("/run/docker/plugins"), pathlib.Path("/run/docker")]

    def __init__(self, base: pathlib.Path):
        self.base = base
        self.data_root = base / "d"
        self.exec_root = base / "e"
        self.pidfile = base / "dockerd.pid"
        self.sock = base / "docker.sock"
        self.log = base / "dockerd.log"
        self.client = _docker_client()
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self.proc: Optional[subprocess.Popen] = None
        self.namespace = "pghatest-" + base.name.rsplit("-", 1)[-1]
        self.existed = {p: p.exists() for p in self.OUTSIDE}
        self.cgroups_before = set(self._docker_cgroups())

    @staticmethod
    def _docker_cgroups() -> List[pathlib.Path]:
        return [p for p in pathlib.Path("/sys/fs/cgroup").glob("*/docker") if p.is_dir()] + \
            [p for p in [pathlib.Path("/sys/fs/cgroup/docker")] if p.is_dir()]

    def start(self) -> None:
        self.data_root.mkdir()
        self.exec_root.mkdir()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.data_root), "--exec-root",
                 str(self.exec_root), "--pidfile", str(self.pidfile), "--host",
                 f"unix://{self.sock}", "--bridge=none", "--iptables=false",
                 "--ip6tables=false",
                 # Where a system containerd runs, dockerd uses it: namespaces of this
                 # daemon's own keep its containers apart from a system dockerd's ("moby").
                 "--containerd-namespace", self.namespace,
                 "--containerd-plugins-namespace", self.namespace + "-plugins"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-20:]
                pytest.fail(f"dockerd exited ({self.proc.returncode}):\n" + "\n".join(tail),
                            pytrace=False)
            return self.sock.exists() and self.docker("version", check=False).returncode == 0

        wait_for("dockerd to answer", up, timeout=60)

    def docker(self, *args, check=True, timeout=600, input=None):
        return run([self.client, *args], env=self.env, check=check, timeout=timeout,
                   input=input)

    def stop(self) -> List[str]:
        """Stops every container, then the daemon by its pid (and its containerd), unmounts
        what is left under `base`. Returns what went wrong."""
        problems: List[str] = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=60).stdout.split()
            if ids:
                self.docker("rm", "-f", *[i.decode() for i in ids], check=False, timeout=120)
        containerd_pid = None
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        try:
            containerd_pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            pass
        if self.proc.poll() is None:
            if _stop_pid(self.proc.pid, 30):
                problems.append("dockerd ignored SIGTERM for 30 s: killed")
            self.proc.wait(30)
        if containerd_pid is not None and _pid_alive(containerd_pid):
            if _stop_pid(containerd_pid, 15):
                problems.append("containerd outlived dockerd: killed")
        for point in sorted(_mounts_under(self.base), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=60)
        for path in self.OUTSIDE:
            if self.existed[path] or not path.exists():
                continue
            try:
                if path.is_dir():
                    path.rmdir()  # only when empty: something else may use it now
                else:
                    path.unlink()
            except OSError:
                pass
        for cg in self._docker_cgroups():
            if cg not in self.cgroups_before:
                try:
                    cg.rmdir()
                except OSError:
                    pass
        return problems


def _remove_tree(path: pathlib.Path) -> None:
    """rm -rf that does not cross into a mount left behind."""
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=60)
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True,
                   timeout=600)


def _report(request, lines: List[str]) -> None:
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    for line in lines:
        reporter.write_line("docker: " + line)


def _keep_logs(request, base: pathlib.Path) -> None:
    """After a failure: the daemon's, debootstrap's, the build's and compose's logs and the
    containers' (logs/) in build/e2e-logs/docker/, as the e2e suite keeps its own."""
    dest = LOG_ROOT / "docker"
    dest.mkdir(parents=True, exist_ok=True)
    for src in list(base.glob("*.log")) + list((base / "logs").glob("*.log")):
        shutil.copy2(src, dest / src.name)
    _report(request, [f"logs kept in {dest}"])


@pytest.fixture(scope="session")
def workdir(request):
    require_docker()
    # Short: containerd's sockets live under the exec root (108 bytes for a socket path).
    base = pathlib.Path(tempfile.mkdtemp(prefix="pghadk-", dir="/tmp"))
    os.chmod(base, 0o711)
    try:
        yield base
    finally:
        if request.session.testsfailed:
            _keep_logs(request, base)
        if os.environ.get("PGHA_DOCKER_KEEP") == "1":
            _report(request, [f"kept {base}"])
        else:
            _remove_tree(base)


@pytest.fixture(scope="session")
def dockerd(request, workdir):
    d = Docker(workdir)
    try:
        with timed("dockerd start"):
            d.start()
        yield d
    finally:
        problems = d.stop()
        if problems:
            _report(request, problems)


@pytest.fixture(scope="session")
def base_image(dockerd, workdir):
    """Debian 12 debootstrapped from this machine's mirror, imported as pgha-base:test."""
    rootfs = workdir / "rootfs"
    mirror = debian_mirror()
    with timed("debootstrap"):
        run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror],
            timeout=1800, log=workdir / "debootstrap.log")
    with timed("docker import"):
        subprocess.run(f"tar -C {rootfs} -c . | {dockerd.client} import - {BASE_IMAGE}",
                       shell=True, check=True, env=dockerd.env, capture_output=True,
                       timeout=600)
    _remove_tree(rootfs)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def image(dockerd, base_image, workdir):
    """pgha's image, built from this source tree (apt over the host's network)."""
    with timed("docker build"):
        run([dockerd.client, "build", "--network", "host", "--build-arg", f"BASE={base_image}",
             "-f", str(DOCKERFILE), "-t", IMAGE, str(SOURCE)],
            env=dockerd.env, timeout=3600, log=workdir / "build.log")
    return IMAGE


class Pair:
    """pg-node01 and pg-node02, each a docker-compose project of packaging/docker with host
    networking: the agents on 127.0.0.1 at ports of their own, PostgreSQL likewise, the node
    names resolving to 127.0.0.1 inside the containers (docker-compose.test.yml)."""

    def __init__(self, dockerd: Docker, workdir: pathlib.Path):
        self.dockerd = dockerd
        self.dir = workdir
        agent_ports = free_ports(4)
        self.agent_port = dict(zip(NODES, agent_ports[:2]))
        self.pg_port = dict(zip(NODES, agent_ports[2:]))
        self.secrets_dir = workdir / "secrets"
        self.secrets_dir.mkdir(mode=0o700)
        self.secrets: Dict[str, str] = {}
        for name in SECRET_NAMES:
            value = f"pw{name[:3]}{secrets.token_hex(12)}"
            fd = os.open(self.secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value + "\n")
            self.secrets[name] = value
        self.token = self.secrets["api_token"]
        self.env_file = workdir / "empty.env"  # no packaging/docker/.env of a developer's
        self.env_file.write_text("")
        self.started: List[str] = []

    def other(self, node: str) -> str:
        return NODES[1 - NODES.index(node)]

    def project(self, node: str) -> str:
        return "pghatest-" + node

    def compose_env(self, node: str) -> Dict[str, str]:
        other = self.other(node)
        return dict(self.dockerd.env,
                    PGHA_IMAGE=IMAGE, PGHA_SECRETS=str(self.secrets_dir),
                    LOCAL_NODE=node, REMOTE_NODE=other,
                    LISTENING_PORT=str(self.agent_port[node]),
                    REMOTE_LISTENING_PORT=str(self.agent_port[other]),
                    PGHA_PG_PORT=str(self.pg_port[node]),
                    REMOTE_PG_PORT=str(self.pg_port[other]),
                    PGHA_LISTEN_ADDRESS="127.0.0.1",
                    SUBNET="127.0.0.1", MASK="32",
                    REPLICATE_USER="replicate", PGDATA="/data/pgdata",
                    DATABASE="datasync", DB_USER="datasync")

    def compose(self, node: str, *args, check=True, timeout=300):
        return run(["docker-compose", "--env-file", str(self.env_file), "-p",
                    self.project(node), "-f", str(COMPOSE_FILE), "-f", str(COMPOSE_TEST_FILE),
                    *args], env=self.compose_env(node), check=check, timeout=timeout,
                   log=self.dir / "compose.log")

    def up(self, node: str) -> None:
        self.started.append(node)
        self.compose(node, "up", "-d", "--no-build")
        wait_for(f"{node}'s agent to answer GET health", lambda: self.healthy(node),
                 timeout=60)

    def container(self, node: str) -> str:
        out = self.compose(node, "ps", "-q", "pg").stdout.decode().split()
        assert len(out) == 1, out
        return out[0]

    def healthy(self, node: str) -> bool:
        try:
            status, body = self.call(node, "GET", "health", token=None, timeout=2)
        except OSError:
            state = self.dockerd.docker("inspect", "-f", "{{.State.Status}}",
                                        self.container(node), check=False).stdout.strip()
            if state not in (b"running", b"created"):
                pytest.fail(f"{node}'s container is {state.decode()}:\n" + self.logs(node),
                            pytrace=False)
            return False
        return status == 200 and body.get("node") == node

    def call(self, node: str, method: str, path: str, token: Optional[str] = "default",
             timeout=300, body=None):
        url = f"http://127.0.0.1:{self.agent_port[node]}/api/pg/v1/{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, method=method, data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        tok = self.token if token == "default" else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def ok(self, node: str, method: str, path: str, body=None):
        status, answer = self.call(node, method, path, body=body)
        assert status == 200, (node, method, path, status, answer)
        return answer

    def psql(self, node: str, sql: str) -> List[str]:
        """psql inside `node`'s container, as postgres over the unix socket (beside PGDATA)."""
        res = self.dockerd.docker(
            "exec", "-u", "postgres", self.container(node), "psql", "-X", "-At", "-v",
            "ON_ERROR_STOP=1", "-h", "/data", "-p", str(self.pg_port[node]), "-d", "datasync",
            "-c", sql, check=False, timeout=60)
        assert res.returncode == 0, (node, sql, res.stderr.decode(errors="replace"))
        return res.stdout.decode().splitlines()

    def logs(self, node: str) -> str:
        res = self.dockerd.docker("logs", self.container(node), check=False, timeout=60)
        return (res.stdout + res.stderr).decode(errors="replace")

    def server_log(self, node: str) -> str:
        res = self.dockerd.docker("exec", self.container(node), "cat", "/data/pgdata.log",
                                  check=False, timeout=60)
        return res.stdout.decode(errors="replace")

    def down(self) -> List[str]:
        problems = []
        for node in reversed(self.started):
            res = self.compose(node, "down", "-v", "--timeout", "90", check=False, timeout=300)
            if res.returncode != 0:
                problems.append(f"docker-compose down of {node}: "
                                + res.stderr.decode(errors="replace")[-400:])
        return problems


@pytest.fixture(scope="module")
def pair(request, dockerd, image, workdir):
    """Both nodes' images ready, nothing started (the test follows the seed's order). Brought
    down at the end of the module (containers, volumes), also on failure; the containers'
    logs are kept in the work directory's logs/ when PGHA_DOCKER_KEEP=1."""
    p = Pair(dockerd, workdir)
    try:
        yield p
    finally:
        if os.environ.get("PGHA_DOCKER_KEEP") == "1" or request.session.testsfailed:
            keep = workdir / "logs"  # copied to build/e2e-logs/docker/ on failure
            keep.mkdir(exist_ok=True)
            for node in p.started:
                (keep / f"{node}.log").write_text(p.logs(node) + "\n--- server log\n" +
                                                  p.server_log(node))
            if request.session.testsfailed:
                for node in p.started:
                    _report(request, [f"{node}'s container log (last lines):"] +
                            p.logs(node).splitlines()[-30:])
        with timed("docker-compose down"):
            problems = p.down()
        if problems:
            _report(request, problems)
