"""Two pgha agents and PostgreSQL 15 servers on two "hosts" (network namespaces, netns.py),
configured with the seed's own environment variables, and a client for their REST API (the
e2e suite's `Cluster`, whose URLs are the hosts' access addresses 198.51.100.x:8079).

docs/hosts.md describes the layout. Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import pathlib
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Callable, Dict, List, Optional

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import netns  # noqa: E402


def _load_e2e_conftest():
    """tests/e2e/conftest.py as a module of its own name (`Cluster`, `_keep_logs`, ...): its
    fixtures are not registered here, only its code is reused."""
    path = HERE.parent / "e2e" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pgha_e2e_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_e2e_conftest()
BIN = e2e.BIN
LOG_ROOT = e2e.LOG_ROOT

# The seed's defaults: inside each namespace the agent listens on 8079, PostgreSQL on 5432.
AGENT_PORT = 8079
PG_PORT = 5432
DATABASE = "datasync"
REPLICATE_USER = "replicate"
REWIND_USER = "pgha_rewind"
PG_USER = "postgres"  # the OS account and the superuser
START_DEADLINE_S = 30
STOP_DEADLINE_S = 15


def _pg_bindir() -> pathlib.Path:
    env = os.environ.get("PGHA_PG_BINDIR")
    if env:
        return pathlib.Path(env)
    debian = pathlib.Path("/usr/lib/postgresql/15/bin")
    if (debian / "postgres").exists():
        return debian
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


PG_BINDIR = _pg_bindir()


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real agents and PostgreSQL servers (slow)")
    config.addinivalue_line("markers", "slow: takes minutes")


def require_namespaces() -> None:
    """Skips (or, with PGHA_HOSTS_REQUIRED=1, fails) when namespaces cannot be made here."""
    reason = netns.unavailable()
    if reason is None:
        return
    if os.environ.get("PGHA_HOSTS_REQUIRED") == "1":
        pytest.fail("PGHA_HOSTS_REQUIRED=1 but " + reason, pytrace=False)
    pytest.skip(reason)


def wait_for(what: str, predicate: Callable[[], object], timeout: float = 60,
             interval: float = 0.05):
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


class Secrets:
    """The random passwords of a pair and the files the agents read them from (mode 0600)."""

    NAMES = ("replicate", "superuser", "rewind", "db", "api_token")

    def __init__(self, directory: pathlib.Path):
        self.values: Dict[str, str] = {}
        self.files: Dict[str, pathlib.Path] = {}
        for name in self.NAMES:
            # Letters and digits only, and a prefix no file or log otherwise holds.
            value = f"pw{name[:3]}{secrets.token_hex(12)}"
            path = directory / f"{name}.secret"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value + "\n")
            _give_to_postgres(path)  # the agents run as postgres
            self.values[name] = value
            self.files[name] = path

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


class Pair(e2e.Cluster):
    """pg-node01 on host A and pg-node02 on host B, each agent started inside its namespace
    with the seed's environment; `call` / `ok` as in the e2e suite."""

    NODES = ("pg-node01", "pg-node02")

    def __init__(self, base: pathlib.Path, topology: netns.Topology):
        self.base = base
        self.topology = topology
        self.secrets = Secrets(base)
        self.procs: Dict[str, subprocess.Popen] = {}
        nodes = []
        for name in self.NODES:
            host = topology.host(name)
            node_dir = base / name
            node_dir.mkdir(mode=0o700)
            _give_to_postgres(node_dir)  # initdb makes data/ in it; the sockets go there too
            nodes.append({"name": name, "agent_url": f"http://{host.access_address}:{AGENT_PORT}",
                          # The host name, which resolves inside the namespaces only: nothing in
                          # the root namespace may connect to 203.0.113.0/24 (docs/hosts.md).
                          "pg_host": name, "pg_port": PG_PORT, "ns": host.ns,
                          "address": host.address, "data_dir": str(node_dir / "data"),
                          "config": str(node_dir / "agent.json"),
                          "agent_log": str(node_dir / "agent.log")})
        info = {"dir": str(base), "api_token": self.secrets.api_token,
                "token_file": str(self.secrets.files["api_token"]), "nodes": nodes}
        (base / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")
        os.chmod(base / "cluster.json", 0o600)
        super().__init__(base)

    # -- where things are --------------------------------------------------------------
    def host(self, node: str) -> netns.Host:
        return self.topology.host(node)

    def other(self, node: str) -> str:
        return next(n for n in self.NODES if n != node)

    def node_dir(self, node: str) -> pathlib.Path:
        return self.base / node

    def data_dir(self, node: str) -> pathlib.Path:
        return self.node_dir(node) / "data"

    def server_log(self, node: str) -> pathlib.Path:
        return self.node_dir(node) / "data.log"  # the agent's default: <pgdata>.log

    def agent_log(self, node: str) -> pathlib.Path:
        return self.node_dir(node) / "agent.log"

    def passfile(self, node: str) -> pathlib.Path:
        return pathlib.Path(str(self.data_dir(node)) + ".pgpass")  # PGHA_PASSFILE's default

    # -- the agents --------------------------------------------------------------------
    def agent_env(self, node: str) -> Dict[str, str]:
        """The seed's variables (docker-compose's environment) and pgha's own."""
        s = self.secrets
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "LOCAL_NODE": node,
            "REMOTE_NODE": self.other(node),
            "LISTENING_PORT": str(AGENT_PORT),
            "SUBNET": str(netns.REPLICATION_NET.network_address),
            "MASK": str(netns.REPLICATION_NET.prefixlen),
            "REPLICATE_USER": REPLICATE_USER,
            "PGDATA": str(self.data_dir(node)),
            "DATABASE": DATABASE,
            "DB_USER": DATABASE,
            "DB_PASSWD": s.db,
            "PGHA_LISTEN_ADDRESS": "0.0.0.0",
            "PGHA_API_TOKEN_FILE": str(s.files["api_token"]),
            "PGHA_PG_PORT": str(PG_PORT),
            "PGHA_PG_BINDIR": str(PG_BINDIR),
            # The password support (docs/hosts.md, "Passwords").
            "PGHA_REPLICATE_PASSWORD_FILE": str(s.files["replicate"]),
            "PGHA_SUPERUSER_PASSWORD_FILE": str(s.files["superuser"]),
            "PGHA_REWIND_USER": REWIND_USER,
            "PGHA_REWIND_PASSWORD_FILE": str(s.files["rewind"]),
            "PGHA_LOCAL_TRUST": "false",
            # No periodic slot sync: its round holds the local node's lock across its call to
            # the master (LocalNode::SyncSlotsFrom), and a round in flight when the link is cut
            # waits for the call's timeout (operation_timeout, 120 s) with no answer: a
            # failover on the slave meanwhile waits for the lock and misses its deadline (504).
            # The operations still carry the slots.
            "PGHA_SLOT_SYNC_INTERVAL_MS": "0",
        }

    def agent_config(self, node: str) -> dict:
        # Nothing that places the nodes: LOCAL_NODE with a REMOTE_NODE puts the local node on
        # its own name (http://pg-node01:8079, PostgreSQL listening on pg-node01:5432), and
        # REMOTE_NODE the peer on its name (agent_config.cpp, ApplyEnv).
        return {}

    def start_agent(self, node: str) -> None:
        config = pathlib.Path(self.nodes[node]["config"])
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.agent_config(node), f, indent=2)
        _give_to_postgres(config)  # POST nodes/env rewrites it
        env = self.agent_env(node)
        env["HOME"] = pwd.getpwnam(PG_USER).pw_dir
        with open(self.agent_log(node), "ab") as log:
            # The agent refuses to run as root: it runs as the postgres account, which owns
            # the data directory. setpriv execs it (runuser would fork, and SIGKILL it 2 s
            # after passing on a SIGTERM), so the Popen's pid is the agent's.
            self.procs[node] = self.host(node).popen(
                "setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups", "--",
                str(self.agent_binary), "--config", str(config), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                cwd=str(self.node_dir(node)), start_new_session=True)

    def wait_healthy(self, node: str) -> None:
        proc = self.procs[node]
        deadline = time.monotonic() + START_DEADLINE_S
        last = None
        while True:
            try:
                status, body = self.call(node, "GET", "health", token=None, timeout=2)
                if status == 200:
                    assert body["node"] == node, body
                    return
                last = (status, body)
            except OSError as e:  # refused while it starts
                last = e
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = self.agent_log(node).read_text(errors="replace").splitlines()[-15:]
                pytest.fail(f"agent {node} did not come up (exit {proc.poll()}, last {last}):\n"
                            + "\n".join(tail), pytrace=False)
            time.sleep(0.05)  # poll period

    def start(self) -> None:
        self.agent_binary = _agent_binary_for_postgres(self.base)
        for node in self.NODES:
            self.start_agent(node)
        for node in self.NODES:
            self.wait_healthy(node)

    def call(self, node, method, path, token="default", timeout=300, body=None, headers=None):
        """Refuses a call that would not go over the node's access link: an address outside
        198.51.100.0/24, or a link that is gone (the packets would take the root namespace's
        default route)."""
        url = urllib.parse.urlsplit(self.nodes[node]["agent_url"])
        assert ipaddress.ip_address(url.hostname) in netns.ACCESS_NET, url
        link = self.host(node).root_link
        assert pathlib.Path(f"/sys/class/net/{link}").exists(), f"{link} is gone"
        return super().call(node, method, path, token=token, timeout=timeout, body=body,
                            headers=headers)

    def stop(self) -> List[str]:
        """DELETE instance/all, then the agents (SIGTERM, SIGKILL after a bound), then any
        PostgreSQL left running (pg_ctl stop -m immediate, SIGKILL after a bound). Returns
        what went wrong."""
        problems = []
        for node in self.NODES:
            if self.procs.get(node) is None or self.procs[node].poll() is not None:
                continue
            try:
                status, body = self.call(node, "DELETE", "instance/all", timeout=120)
                if status == 200:
                    break
                problems.append(f"DELETE instance/all on {node}: {status} {body}")
            except OSError as e:
                problems.append(f"DELETE instance/all on {node}: {e}")
        for node, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    problems.append(f"agent {node} ignored SIGTERM for {STOP_DEADLINE_S} s")
                    proc.kill()
                    proc.wait(STOP_DEADLINE_S)
        for node in self.NODES:
            if self.stop_postgres(node):
                problems.append(f"PostgreSQL of {node} was still running after its agent")
        return problems

    def postmaster_pid(self, node: str) -> Optional[int]:
        try:
            pid = int((self.data_dir(node) / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if netns._pid_alive(pid) else None

    def stop_postgres(self, node: str) -> bool:
        """Stops a PostgreSQL left running on `node` (True when there was one)."""
        pid = self.postmaster_pid(node)
        if pid is None:
            return False
        subprocess.run(["runuser", "-u", PG_USER, "--", str(PG_BINDIR / "pg_ctl"), "-D",
                        str(self.data_dir(node)), "stop", "-m", "immediate", "-w", "-t", "30"],
                       capture_output=True, timeout=60, cwd="/")
        deadline = time.monotonic() + STOP_DEADLINE_S
        while netns._pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # poll period
        if netns._pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        return True

    # -- PostgreSQL, from inside the hosts ---------------------------------------------
    def psql(self, node: str, sql: str, *, user: str = PG_USER, password: Optional[str] = "",
             via: Optional[str] = None, dbname: str = "postgres",
             replication: Optional[str] = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """psql run inside `via`'s host (default: `node`'s) as the postgres OS account,
        connecting over TCP to `node`'s replication address as `user`. `password`: "" for the
        one of `user` this pair knows, None for none at all; no passfile is ever read."""
        if password == "":
            password = {PG_USER: self.secrets.superuser, REPLICATE_USER: self.secrets.replicate,
                        REWIND_USER: self.secrets.rewind, DATABASE: self.secrets.db}[user]
        conninfo = (f"host={self.host(node).address} port={PG_PORT} user={user} "
                    f"dbname={dbname} connect_timeout=5 application_name=pgha-hosts-test")
        if replication:
            conninfo += f" replication={replication}"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "PGPASSFILE": "/nonexistent/pgha-hosts-test"}
        if password is not None:
            env["PGPASSWORD"] = password  # runuser keeps the environment
        argv = ["runuser", "-u", PG_USER, "--", str(PG_BINDIR / "psql"), "-X", "-w", "-At",
                "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql]
        return self.host(via or node).run(*argv, env=env, timeout=timeout)

    def sql(self, node: str, query: str, **kw) -> List[tuple]:
        res = self.psql(node, query, **kw)
        assert res.returncode == 0, f"psql on {node}: {query}: {res.stderr.strip()}"
        return [tuple(line.split("\t")) for line in res.stdout.splitlines()]


def _give_to_postgres(path: pathlib.Path) -> None:
    pw = pwd.getpwnam(PG_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _agent_binary_for_postgres(base: pathlib.Path) -> pathlib.Path:
    """build/bin/pgha-agent when the postgres account may run it there, else a copy in
    `base`/bin (a build tree in a home it cannot enter)."""
    agent = (BIN / "pgha-agent").resolve()
    probe = subprocess.run(["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}",
                            "--init-groups", "--", "test", "-x", str(agent)], timeout=30)
    if probe.returncode == 0:
        return agent
    (base / "bin").mkdir(mode=0o755)
    copy = base / "bin" / "pgha-agent"
    shutil.copy2(agent, copy)
    os.chmod(copy, 0o755)
    return copy


# What a failed module keeps besides e2e's KEPT files (agent and server logs, pgha.conf,
# postgresql.auto.conf, agent.json): the access rules.
EXTRA_KEPT = ("data/pg_hba.conf", "data/pg_ident.conf")


def keep_logs(request, base: pathlib.Path) -> None:
    e2e._keep_logs(request, base)
    dest = LOG_ROOT / request.module.__name__
    for node_dir in sorted(p for p in base.glob("pg-node*") if p.is_dir()):
        for name in EXTRA_KEPT:
            src = node_dir / name
            if src.is_file():
                target = dest / node_dir.name / pathlib.Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(src.read_bytes())


@pytest.fixture(scope="session")
def namespaces_available():
    """Skips (fails with PGHA_HOSTS_REQUIRED=1) where network namespaces cannot be made."""
    require_namespaces()


@pytest.fixture(scope="module")
def topology(namespaces_available):
    """Two hosts for a module (netns.Topology), removed at its end whatever happened; a
    killed earlier run's leftovers are removed first."""
    netns.cleanup_leftovers()
    topo = netns.Topology()
    topo.create()
    try:
        yield topo
    finally:
        errors = topo.destroy()
        left = topo.leftovers()
        assert not errors and not left, (errors, left)


@pytest.fixture(scope="module")
def pair(request, topology):
    """Both agents started in their hosts and healthy; nothing set up yet. Stopped at the
    end of the module (also on failure), its logs kept in build/e2e-logs/<module>/ when a
    test failed."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-hosts-"))
    os.chmod(base, 0o755)  # the postgres account enters it
    failed_before = request.session.testsfailed
    ok = False
    p = None
    try:
        p = Pair(base, topology)
        p.start()
        yield p
        ok = True
    finally:
        problems = p.stop() if p is not None else []
        if not ok or request.session.testsfailed > failed_before or problems:
            keep_logs(request, base)
        shutil.rmtree(base, ignore_errors=True)
        if problems:
            reporter = request.config.pluginmanager.getplugin("terminalreporter")
            for line in problems:
                reporter.write_line("hosts: " + line)
