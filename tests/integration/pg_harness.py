"""Real PostgreSQL servers for integration tests.

A PgServer lives in a temporary directory, listens on a loopback port below 32768 that the
harness finds free, and runs as the `postgres` OS account when the tests run as root
(PostgreSQL refuses to run as root). `servers()` is a context manager that stops every server
it handed out, also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Callable, Iterator, List, Optional, Sequence

PG_BINDIR = pathlib.Path(os.environ.get("PGHA_PG_BINDIR", "/usr/lib/postgresql/15/bin"))


def server_major(bindir: pathlib.Path = PG_BINDIR) -> int:
    """The major of bindir's postgres ("postgres (PostgreSQL) 17.10" -> 17)."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split(") ", 1)[1].split(".")[0])
PG_USER = "postgres"


def _as_pg_user() -> bool:
    return os.geteuid() == 0


def run_as_pg(argv: Sequence[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Runs argv (never through a shell) as the postgres account when we are root."""
    full = (["runuser", "-u", PG_USER, "--"] if _as_pg_user() else []) + [str(a) for a in argv]
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    # PostgreSQL's programs fail when they cannot resolve the current directory, and the
    # checkout may sit where the postgres account cannot enter: run them from "/".
    kw.setdefault("cwd", "/")
    res = subprocess.run(full, capture_output=True, text=True, env=env, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def give_to_pg_user(path: pathlib.Path) -> None:
    if _as_pg_user():
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(rng: random.Random = random.Random()) -> int:
    """A loopback port below the kernel's ephemeral range (32768-60999) that is free now."""
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if port_is_free(port):
            return port
    raise RuntimeError("no free loopback port found in 20000-32000")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Polls predicate() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class PgServer:
    """One PostgreSQL data directory and the server on it."""

    def __init__(self, base: pathlib.Path, name: str = "n1"):
        self.name = name
        self.dir = base / name
        self.dir.mkdir(parents=True)
        give_to_pg_user(self.dir)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0

    # ---- life cycle -----------------------------------------------------------------------
    def init(self, wal_segsize_mb: Optional[int] = None, conf: Optional[dict] = None) -> "PgServer":
        argv = [PG_BINDIR / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                "--no-locale", "-E", "UTF8"]
        if wal_segsize_mb:
            argv.append(f"--wal-segsize={wal_segsize_mb}")
        run_as_pg(argv)
        settings = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.dir}'",
                    "wal_level": "logical", "max_wal_senders": "10", "max_replication_slots": "10",
                    "fsync": "off", "logging_collector": "off"}
        settings.update(conf or {})
        self.append_conf(settings)
        return self

    def append_conf(self, settings: dict) -> None:
        # Appending keeps the file's owner (postgres) whoever we are.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))

    def start(self) -> "PgServer":
        for _ in range(5):
            self.port = free_port()
            res = run_as_pg([PG_BINDIR / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                             "-o", f"-p {self.port}", "start"], check=False)
            if res.returncode == 0:
                return self
            if "Address already in use" not in self.log_tail():
                raise RuntimeError(f"pg_ctl start failed:\n{res.stdout}{res.stderr}\n{self.log_tail()}")
        raise RuntimeError("could not find a free port to start on")

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            run_as_pg([PG_BINDIR / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        res = run_as_pg([PG_BINDIR / "pg_ctl", "-D", self.data, "status"], check=False)
        return res.returncode == 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    # ---- queries ---------------------------------------------------------------------------
    def sql(self, query: str, db: str = "postgres") -> str:
        """Runs one SQL string with psql; returns unaligned, tuples-only output."""
        res = run_as_pg([PG_BINDIR / "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                         "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                         "-c", query])
        return res.stdout.strip()

    def controldata(self) -> str:
        return run_as_pg([PG_BINDIR / "pg_controldata", "-D", self.data]).stdout

    def waldump(self, *args: str) -> subprocess.CompletedProcess:
        return run_as_pg([PG_BINDIR / "pg_waldump", *args], check=False)

    @property
    def wal_dir(self) -> pathlib.Path:
        return self.data / "pg_wal"


ServerFactory = Callable[..., PgServer]


@contextlib.contextmanager
def servers() -> Iterator[ServerFactory]:
    """Hands out PgServers in one temp dir; stops them all and removes the dir at the end."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-it-"))
    os.chmod(base, 0o755)
    give_to_pg_user(base)
    made: List[PgServer] = []

    def factory(name: Optional[str] = None) -> PgServer:
        s = PgServer(base, name or f"n{len(made) + 1}")
        made.append(s)
        return s

    try:
        yield factory
    finally:
        for s in made:
            with contextlib.suppress(Exception):
                s.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)

