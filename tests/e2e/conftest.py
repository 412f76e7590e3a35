import json
import os
import random
import socket
import pathlib
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest

BIN = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin"))
# The PostgreSQL the clusters run: PGHA_PG_BINDIR (scripts/test-matrix.sh sets it to each
# major's), else `pghactl local up`'s default (pg_config's, Debian's 15).
BINDIR_ARGS = ("--bindir", os.environ["PGHA_PG_BINDIR"]) if os.environ.get("PGHA_PG_BINDIR") else ()


def free_port(address: str = "127.0.0.1") -> int:
    """A port below the ephemeral range (32768-60999 here) that nothing holds at `address`."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind((address, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below 32768")


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real agents and PostgreSQL servers (slow)")


class Cluster:
    """A `pghactl local` cluster and a small client for its agents' REST API."""

    def __init__(self, directory: pathlib.Path):
        self.dir = directory
        self.reload()

    def reload(self):
        self.info = json.loads((self.dir / "cluster.json").read_text())
        self.token = self.info["api_token"]
        ca = self.info.get("tls_ca_file")
        # https clusters (`local up --tls`): verify the agents against the cluster's CA.
        self.ssl_context = ssl.create_default_context(cafile=ca) if ca else None
        self.nodes = {n["name"]: n for n in self.info["nodes"]}
        self.names = [n["name"] for n in self.info["nodes"]]

    def call(self, node: str, method: str, path: str, token: str = "default", timeout=300,
             body=None, headers=None):
        """(status, parsed JSON body) of one request to `node`'s agent; `body` is sent as
        JSON (bytes as they are), with `headers` (a dict) added."""
        url = self.nodes[node]["agent_url"] + "/api/pg/v1/" + path
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(url, method=method, data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        tok = self.token if token == "default" else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read()
            return e.code, json.loads(body) if body else None

    def ok(self, node: str, method: str, path: str, body=None):
        status, answer = self.call(node, method, path, body=body)
        assert status == 200, (method, path, status, answer)
        return answer

    def pghactl(self, *args, check=True):
        res = subprocess.run([str(BIN / "pghactl"), *args], capture_output=True, text=True,
                             timeout=600)
        if check:
            assert res.returncode == 0, res.stderr
        return res


# Where a failed module's logs are kept: next to the binaries' directory, i.e. the build tree
# (CTest runs the suite there with PGHA_BIN_DIR=<build>/bin), or PGHA_E2E_LOG_DIR.
LOG_ROOT = pathlib.Path(os.environ.get("PGHA_E2E_LOG_DIR", BIN.resolve().parent / "e2e-logs"))

# A node directory's files worth keeping: the agent's log, the server's log, the standby
# settings pgha wrote and the agent's configuration (which holds no API token: the agents
# read it from the cluster's token file).
KEPT = ("agent.log", "data.log", "data/pgha.conf", "data/postgresql.auto.conf", "agent.json")


def _keep_logs(request, directory: pathlib.Path) -> None:
    """After a failure, copies the agents' and servers' logs of the cluster in `directory` into
    LOG_ROOT/<module>[/<test>]/<node>/ (the temporary directory is removed) and shows where,
    with the tail of every agent's log."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    dest = LOG_ROOT / request.module.__name__
    if request.scope == "function":
        dest = dest / "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
    shutil.rmtree(dest, ignore_errors=True)
    for node_dir in sorted(p for p in directory.glob("*") if p.is_dir() and p.name != "bin"):
        for name in KEPT:
            src = node_dir / name
            if not src.is_file():
                continue
            target = dest / node_dir.name / pathlib.Path(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            # The files belong to the PostgreSQL account; the copies to whoever runs the tests.
            target.write_bytes(src.read_bytes())
    for log in sorted(directory.glob("etcd/*.log")):  # `local up --etcd`'s members
        target = dest / "etcd" / log.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(log.read_bytes())
    for log in sorted(dest.glob("*/agent.log")):
        lines = log.read_text(errors="replace").splitlines()[-40:]
        reporter.write_line(f"---- {log} (last {len(lines)} lines)")
        for line in lines:
            reporter.write_line(line)
    reporter.write_line(f"e2e: logs of the agents and servers kept in {dest}")


def local_cluster(request, *up_options):
    """Two nodes brought up by `pghactl local up [up_options]`, brought down (also on failure)
    at the end: a generator for a fixture. When a test using it failed (or the cluster did not
    come up), the logs are kept (_keep_logs)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-e2e-"))
    os.chmod(base, 0o755)
    directory = base / "cluster"
    failed_before = request.session.testsfailed
    ok = False
    try:
        res = subprocess.run([str(BIN / "pghactl"), "local", "up", str(directory), *BINDIR_ARGS,
                              *up_options],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == {"pg-node01": "master", "pg-node02": "slave"}
        yield Cluster(directory)
        ok = True
    finally:
        if (directory / "cluster.json").exists():
            subprocess.run([str(BIN / "pghactl"), "local", "down", str(directory)],
                           capture_output=True, text=True, timeout=300)
        if not ok or request.session.testsfailed > failed_before:
            _keep_logs(request, directory)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(request):
    """The default pair (asynchronous replication)."""
    yield from local_cluster(request)


@pytest.fixture
def fresh_pair(request):
    """A new asynchronous pair for one test."""
    yield from local_cluster(request)


@pytest.fixture(scope="module")
def sync_cluster(request):
    """A pair with synchronous replication (`pghactl local up --synchronous`)."""
    yield from local_cluster(request, "--synchronous")


@pytest.fixture
def big_segment_pair(request):
    """A pair made with 64 MiB WAL segments (`pghactl local up --wal-segsize 64`)."""
    yield from local_cluster(request, "--wal-segsize", "64")


@pytest.fixture
def report(request):
    """Shows a line in pytest's output (figures a test measures but does not assert)."""
    return request.config.pluginmanager.getplugin("terminalreporter").write_line
