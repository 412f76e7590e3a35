"""A `pghactl local` cluster driven for the reliability suites: REST calls, agents killed and
restarted, PostgreSQL observed directly, a writer that counts acknowledged rows, the recovery
procedure of docs/reliability.md, and the checks that a recovered cluster is sound.

Every wait is a poll of a condition with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Dict, List, Optional, Tuple

import psycopg2

BIN = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin"))
# The PostgreSQL the clusters run: PGHA_PG_BINDIR (scripts/test-matrix.sh sets it to each
# major's), else `pghactl local up`'s default (pg_config's, Debian's 15).
BINDIR_ARGS = ("--bindir", os.environ["PGHA_PG_BINDIR"]) if os.environ.get("PGHA_PG_BINDIR") else ()
PG_USER = "postgres"
PRIMARY = ("master", "single")
STANDBY = ("slave", "recovery")


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 0.05):
    """Polls predicate() until it returns a truthy value; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---- orphans --------------------------------------------------------------------------
# A postmaster whose agent was killed is re-parented to init; when it is killed in turn, init
# reaps it. Where init does not reap (a container whose PID 1 is not an init, as on the CI
# machine), it stays a zombie, and PostgreSQL then refuses to start on its data directory
# ("lock file postmaster.pid already exists": kill(pid, 0) succeeds on a zombie). The suites
# make their pytest process the reaper of its orphans instead, as a normal init would be.

_REAPED = {"postgres", "pgha-agent"}
OWN_CHILDREN: set = set()  # pids a Popen object waits for itself


def become_subreaper() -> bool:
    """Makes this process the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER) and
    starts a thread that reaps the postmasters and agents among them once they exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        return False
    threading.Thread(target=_reap_orphans, daemon=True).start()
    return True


def _reap_orphans() -> None:
    me = os.getpid()
    while True:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in OWN_CHILDREN:
                continue
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            comm = stat[stat.find("(") + 1:stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[0] == "Z" and int(fields[1]) == me and comm in _REAPED:
                try:
                    os.waitpid(int(entry), os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(0.1)  # a scan period, not a wait for a state


def process_gone(pid: int) -> bool:
    """True when `pid` does not exist or is a zombie (it runs no more code)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


class Figures:
    """One JSON file of figures in $PGHA_FIGURES_DIR (when set), rewritten after each record so
    that an interrupted run still leaves what it measured."""

    def __init__(self, name: str, meta: Optional[dict] = None):
        directory = os.environ.get("PGHA_FIGURES_DIR")
        self.path = pathlib.Path(directory) / f"{name}.json" if directory else None
        self.data = {"producer": name, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                 time.gmtime()),
                     "meta": meta or {}, "records": []}

    def record(self, entry: dict) -> None:
        self.data["records"].append(entry)
        self.flush()

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.flush()

    def flush(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def report_agent_logs(request, directory: pathlib.Path) -> None:
    """Shows the last lines of every agent's log of the cluster in `directory` in pytest's
    output (after a failure)."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    for log in sorted(directory.glob("*/agent.log")):
        lines = log.read_text(errors="replace").splitlines()[-40:]
        reporter.write_line(f"---- {log} (last {len(lines)} lines)")
        for line in lines:
            reporter.write_line(line)


class LocalCluster:
    """Two (or more) nodes brought up by `pghactl local up`, with every agent started with
    PGHA_FAULT_FILE pointing at one spec file (inert until a test writes it)."""

    def __init__(self, nodes: int = 2, up_args: Tuple[str, ...] = ()):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-rel-"))
        os.chmod(self.base, 0o755)
        self.dir = self.base / "cluster"
        self.fault_file = self.dir / "fault"
        self.procs: Dict[str, subprocess.Popen] = {}
        env = dict(os.environ, PGHA_FAULT_FILE=str(self.fault_file))
        res = subprocess.run([str(BIN / "pghactl"), "local", "up", str(self.dir),
                              "--nodes", str(nodes), *BINDIR_ARGS, *up_args], capture_output=True, text=True,
                             timeout=600, env=env)
        if res.returncode != 0:
            self.down()
            raise RuntimeError("pghactl local up failed: " + res.stderr[-2000:])
        self.reload()

    # ---- configuration -------------------------------------------------------------------

    def reload(self) -> None:
        self.info = json.loads((self.dir / "cluster.json").read_text())
        self.token = self.info["api_token"]
        self.nodes = {n["name"]: n for n in self.info["nodes"]}
        self.names = [n["name"] for n in self.info["nodes"]]

    def other(self, name: str) -> str:
        return next(n for n in self.names if n != name)

    def data_dir(self, name: str) -> pathlib.Path:
        return pathlib.Path(self.nodes[name]["data_dir"])

    def down(self) -> None:
        """Stops everything this cluster started (also after a failure), removes its files."""
        if (self.dir / "cluster.json").exists():
            subprocess.run([str(BIN / "pghactl"), "local", "down", str(self.dir)],
                           capture_output=True, text=True, timeout=300)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        for name in getattr(self, "names", []):
            pid = self.postmaster_pid(name)
            if pid:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)

    # ---- REST ----------------------------------------------------------------------------

    def call(self, node: str, method: str, path: str, token: Optional[str] = "default",
             body: Optional[bytes] = None, headers: Optional[dict] = None,
             timeout: float = 300) -> Tuple[Optional[int], object]:
        """(status, parsed JSON body) of one request; (None, error text) when the agent could
        not be reached or closed the connection."""
        url = self.nodes[node]["agent_url"] + "/api/pg/v1/" + path
        req = urllib.request.Request(url, method=method, data=body)
        tok = self.token if token == "default" else token
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, _json_or_text(raw)
        except urllib.error.HTTPError as e:
            return e.code, _json_or_text(e.read())
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
            return None, f"{type(e).__name__}: {e}"

    def ok(self, node: str, method: str, path: str, **kw):
        status, body = self.call(node, method, path, **kw)
        if status != 200:
            raise AssertionError(f"{method} {node} {path}: {status} {body}")
        return body

    def states(self) -> Dict[str, str]:
        """Each node's state as its own agent observes it now ("down" when the agent is down).
        internal/state, not instance/current, which may be the observer's cached state."""
        out = {}
        for n in self.names:
            status, body = self.call(n, "GET", "internal/state", timeout=30)
            out[n] = body[n] if status == 200 else "down"
        return out

    def lsn(self, node: str) -> Optional[dict]:
        status, body = self.call(node, "GET", "lsn/current", timeout=60)
        return body[node] if status == 200 else None

    # ---- processes -----------------------------------------------------------------------

    def agent_pid(self, name: str) -> int:
        return int(self.nodes[name]["agent_pid"])

    def agent_alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is not None:
            return False
        return not process_gone(self.agent_pid(name))

    def kill_agent(self, name: str) -> None:
        pid = self.agent_pid(name)
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self.agent_alive(name), 30, f"agent {name} to die")

    def restart_agent(self, name: str) -> None:
        """Starts the agent of `name` again as pghactl did (same config, token, fault file)."""
        n = self.nodes[name]
        old = self.procs.pop(name, None)
        if old is not None:
            old.wait(timeout=30)
        argv = [str(self.dir / "bin" / "pgha-agent"), "--config", n["config"]]
        env = dict(os.environ, PGHA_API_TOKEN_FILE=self.info["token_file"],
                   PGHA_FAULT_FILE=str(self.fault_file))
        kw = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_USER)
            kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                      env=dict(env, HOME=pw.pw_dir, USER=PG_USER, LOGNAME=PG_USER))
        else:
            kw = dict(env=env)
        with open(n["agent_log"], "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd="/",
                                    start_new_session=True, **kw)
        self.procs[name] = proc
        OWN_CHILDREN.add(proc.pid)
        info = json.loads((self.dir / "cluster.json").read_text())
        for m in info["nodes"]:
            if m["name"] == name:
                m["agent_pid"] = proc.pid
        (self.dir / "cluster.json").write_text(json.dumps(info, indent=2))
        self.reload()
        wait_for(lambda: self.call(name, "GET", "health", token=None, timeout=5)[0] == 200
                 or proc.poll() is not None, 30, f"agent {name} to answer")
        if proc.poll() is not None:
            raise RuntimeError(f"agent {name} exited: see {n['agent_log']}")

    def ensure_agent(self, name: str) -> bool:
        """Starts `name`'s agent again unless it answers its health check; True when it had to.
        (An agent killed a moment ago may still be exiting: its connections close before
        its process is gone.)"""
        if self.agent_alive(name) and \
                self.call(name, "GET", "health", token=None, timeout=5)[0] == 200:
            return False
        try:
            wait_for(lambda: not self.agent_alive(name), 10, f"agent {name} to exit")
        except TimeoutError:
            self.kill_agent(name)  # alive but not answering: what a hung agent gets
        self.restart_agent(name)
        return True

    def postmaster_pid(self, name: str) -> Optional[int]:
        """The live postmaster of `name`'s data directory, if any."""
        try:
            first = (self.data_dir(name) / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
        except (OSError, ValueError):
            return None
        return None if process_gone(pid) else pid

    def kill_postmaster(self, name: str) -> bool:
        """SIGKILL to `name`'s postmaster only (its children notice and exit, as they do when
        a postmaster crashes); waits until the postmaster and every child are gone."""
        pid = self.postmaster_pid(name)
        if pid is None:
            return False
        children = _children_of(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: process_gone(pid) and all(process_gone(c) for c in children), 30,
                 f"postmaster {pid} of {name} and its children to exit")
        return True

    # ---- the fault hook ------------------------------------------------------------------

    def arm(self, point: str, target: str) -> None:
        """Arms the agents' fault point (src/core/fault_point.hpp)."""
        self.disarm()
        tmp = self.fault_file.with_suffix(".tmp")
        tmp.write_text(point + "\n" + target + "\n")
        _give_to_pg(tmp)
        os.replace(tmp, self.fault_file)

    def disarm(self) -> Optional[dict]:
        """Removes the spec; returns what the fired file says (None when it did not fire)."""
        fired = pathlib.Path(str(self.fault_file) + ".fired")
        report = None
        if fired.exists():
            report = dict(line.split("=", 1) for line in fired.read_text().splitlines()
                          if "=" in line)
            fired.unlink()
        if self.fault_file.exists():
            self.fault_file.unlink()
        return report

    def agent_target(self, victim: str, coordinator: str) -> str:
        return "self" if victim == coordinator else f"pid:{self.agent_pid(victim)}"

    def postmaster_target(self, name: str) -> str:
        return f"postmaster:{self.data_dir(name)}"

    # ---- SQL -----------------------------------------------------------------------------

    def connect(self, name: str, timeout: int = 3):
        conn = psycopg2.connect(host="127.0.0.1", port=self.nodes[name]["pg_port"],
                                user=PG_USER, dbname="postgres", connect_timeout=timeout,
                                application_name="pgha-reliability",
                                options="-c statement_timeout=10000")
        conn.autocommit = True
        return conn

    def sql(self, name: str, query: str, params=()) -> list:
        conn = self.connect(name)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def primary(self) -> Optional[str]:
        """The node that accepts writes now, asked of PostgreSQL directly."""
        for n in self.names:
            try:
                if self.sql(n, "SELECT NOT pg_is_in_recovery()")[0][0]:
                    return n
            except psycopg2.Error:
                continue
        return None


def _json_or_text(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _give_to_pg(path: pathlib.Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _children_of(pid: int) -> List[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


class Writer:
    """Inserts numbered rows into whichever node accepts writes, from a thread, and remembers
    every insert the server acknowledged (autocommit: the COMMIT returned)."""

    MAX_ROWS = 1_000_000  # bounds the loop whatever happens
    RETRY_PAUSE = 0.02    # between connection attempts, not a wait for a state

    def __init__(self, cluster: LocalCluster, table: str = "pgha_rel_writer"):
        self.cluster = cluster
        self.table = table
        self.acked: List[int] = []
        # (row, node that acknowledged it, time.monotonic() of the acknowledgement)
        self.acked_at: List[Tuple[int, str, float]] = []
        self.node: Optional[str] = None  # the node the writer is connected to
        self.attempted = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, min_rows: int = 20) -> None:
        primary = self.cluster.primary()
        assert primary, "the writer found no node that accepts writes"
        self.cluster.sql(primary, f"DROP TABLE IF EXISTS {self.table}")
        self.cluster.sql(primary, f"CREATE TABLE {self.table} (id bigint PRIMARY KEY)")
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        wait_for(lambda: len(self.acked) >= min_rows, 30, "the writer's first rows")

    def _connect(self):
        for n in self.cluster.names:
            try:
                conn = self.cluster.connect(n, timeout=2)
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    if not cur.fetchone()[0]:
                        self.node = n
                        return conn
                conn.close()
            except psycopg2.Error:
                continue
        return None

    def _loop(self) -> None:
        conn = None
        next_id = 1
        while not self._stop.is_set() and next_id <= self.MAX_ROWS:
            if conn is None:
                conn = self._connect()
                if conn is None:
                    self._stop.wait(self.RETRY_PAUSE)
                    continue
            row = next_id
            next_id += 1
            self.attempted += 1
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (row,))
                self.acked.append(row)
                self.acked_at.append((row, self.node, time.monotonic()))
            except psycopg2.Error:
                self.errors += 1
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
                conn = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            assert not self._thread.is_alive(), "the writer did not stop"

    def rows_on(self, node: str) -> List[int]:
        return [r[0] for r in self.cluster.sql(node, f"SELECT id FROM {self.table} ORDER BY id")]

    def lost_on(self, node: str) -> List[int]:
        present = set(self.rows_on(node))
        return [i for i in self.acked if i not in present]


# ---- recovery and checks ---------------------------------------------------------------

def wal_position(facts: Optional[dict]) -> Tuple[int, int]:
    """(timeline, lastLsn as a number) of an lsn/current answer; (0, 0) when unknown."""
    if not facts:
        return (0, 0)
    hi, lo = facts["lastLsn"].split("/")
    return (int(facts["timeLineID"]), (int(hi, 16) << 32) | int(lo, 16))


class Recovery:
    """The recovery procedure of docs/reliability.md, with every call it made recorded."""

    def __init__(self, cluster: LocalCluster):
        self.c = cluster
        self.calls: List[str] = []

    def _post(self, node: str, path: str):
        status, body = self.c.call(node, "POST", path)
        self.calls.append(f"POST {path} on {node} -> {status}")
        return status, body

    def run(self, deadline_s: float = 240) -> None:
        c = self.c
        deadline = time.monotonic() + deadline_s
        for name in c.names:
            if c.ensure_agent(name):
                self.calls.append(f"restart agent {name}")
        for _ in range(6):  # bounded: each round makes one decision
            if time.monotonic() > deadline:
                break
            states = c.states()
            primaries = [n for n, s in states.items() if s in PRIMARY]
            if len(primaries) > 1:
                raise AssertionError(f"two primaries after the fault: {states}")
            if len(primaries) == 1:
                master = primaries[0]
                lagging = [n for n in c.names if n != master and states[n] != "slave"]
                if not lagging and states[master] == "master":
                    return
                for n in lagging:
                    if states[n] == "recovery" and self._streams_soon(n):
                        continue
                    status, body = self._post(n, "instance/slave")
                    if status != 200:
                        self._resync(n, body)
                if not lagging:  # a single master whose slave runs: wait for the sender
                    self._wait_master(master)
                continue
            candidate = self._candidate()
            if states[candidate] in STANDBY:
                status, body = self._post(candidate, "instance/failover/restart")
            else:
                status, body = self._post(candidate, "instance/all")
            if status == 409 and isinstance(body, dict) and "instead" in body.get("msg", ""):
                other = c.other(candidate)
                self._post(other, "instance/all")
        raise AssertionError(f"the cluster did not converge: {c.states()}; calls {self.calls}")

    def _candidate(self) -> str:
        """The node with the newest timeline, then the most WAL: it has every write the
        others acknowledged (on a tie of both, the first configured)."""
        positions = {n: wal_position(self.c.lsn(n)) for n in self.c.names}
        return max(self.c.names, key=lambda n: (positions[n], -self.c.names.index(n)))

    def _streams_soon(self, node: str) -> bool:
        try:
            wait_for(lambda: self.c.states()[node] == "slave", 15, f"{node} to stream")
            return True
        except TimeoutError:
            return False

    def _wait_master(self, master: str) -> None:
        try:
            wait_for(lambda: self.c.states()[master] == "master", 15, f"{master} as master")
        except TimeoutError:
            pass

    def _resync(self, node: str, why) -> None:
        """The last resort of the procedure: a fresh copy of the master (pg/sync)."""
        self.c.call(node, "DELETE", "instance/current")
        self.calls.append(f"DELETE instance/current on {node} (slave refused: {_msg(why)})")
        status, body = self._post(node, "pg/sync/postgres")
        if status == 200:
            self._post(node, "instance/slave")


def _msg(body) -> str:
    if isinstance(body, dict):
        return str(body.get("msg", ""))[:300]
    return str(body)[:300]


def check_sound(c: LocalCluster, writer: Optional[Writer],
                may_lose: Optional[Callable[[List[int]], None]] = None) -> dict:
    """The recovered cluster: exactly one master, every other node a streaming slave on the
    master's timeline whose position the master's validLsn accepts, and the same rows on
    every node once the slaves replayed the master's last write. No acknowledged row of
    `writer` may be missing on the master, unless `may_lose` is given: it is called with
    the lost rows (acknowledged order) and raises AssertionError when the scenario does not
    allow them (e.g. `async_tail_rule`). Returns the figures."""
    states = c.states()
    masters = [n for n, s in states.items() if s == "master"]
    assert len(masters) == 1, states
    master = masters[0]
    assert all(s == "slave" for n, s in states.items() if n != master), states
    marker = c.sql(master, "SELECT pg_current_wal_lsn()::text")[0][0]
    c.sql(master, "CREATE TABLE IF NOT EXISTS pgha_rel_marker (at text)")
    c.sql(master, "INSERT INTO pgha_rel_marker VALUES (%s)", (marker,))
    target = c.sql(master, "SELECT pg_current_wal_lsn()::text")[0][0]
    master_tl = wal_position(c.lsn(master))[0]
    out = {"master": master, "timeline": master_tl}
    for n in c.names:
        if n == master:
            continue
        wait_for(lambda: c.sql(n, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                               (target,))[0][0], 60, f"{n} to replay {target}")
        tl = wal_position(c.lsn(n))[0]
        assert tl == master_tl, (n, tl, master_tl)
        # The end of the last record replayed: a record boundary, unlike the receive position.
        replayed = c.sql(n, "SELECT pg_last_wal_replay_lsn()::text")[0][0]
        hi, lo = replayed.split("/")
        valid = c.ok(master, "GET", f"validLsn/{tl}/{hi}/{lo}")
        assert valid["code"] == 0, (n, valid)
        receiver = c.sql(n, "SELECT status FROM pg_stat_wal_receiver")
        assert receiver and receiver[0][0] == "streaming", (n, receiver)
        if writer is not None:
            assert writer.rows_on(n) == writer.rows_on(master), f"{n} diverged from {master}"
    if writer is not None:
        lost = writer.lost_on(master)
        out.update(acknowledged=len(writer.acked), attempted=writer.attempted,
                   lost=len(lost), lost_sample=lost[:5])
        if may_lose is None:
            assert not lost, f"{len(lost)} acknowledged rows lost on {master}: {lost[:10]}"
        else:
            may_lose(lost)
    return out


# What a forced failover in asynchronous mode may lose (docs/reliability.md, "What
# asynchronous replication can lose"): the rows the old master acknowledged in its last
# moments, those whose WAL the slave had not received yet. The writer commits one row at a
# time as fast as the master allows, so a count of rows says little (it grows with the rate
# and with the slave's lag on a loaded machine); the bound is in time: every lost row was
# acknowledged at most this many seconds before the old master's last acknowledgement. On
# loopback the slave lags by milliseconds; the bound leaves room for a busy 2-core machine.
ASYNC_TAIL_WINDOW_S = 3.0


def async_tail_rule(acked: List[Tuple[int, float]]) -> Callable[[List[int]], None]:
    """A `may_lose` for check_sound. `acked`: (row, time.monotonic() of its acknowledgement)
    of every row the old master acknowledged, in order. The lost rows must be the last ones
    of them (the slave's WAL is a prefix of the master's), every one acknowledged within
    ASYNC_TAIL_WINDOW_S of the old master's last acknowledgement; nothing acknowledged later,
    by the new master, may be lost."""
    def check(lost: List[int]) -> None:
        if not lost:
            return
        rows = [r for r, _ in acked]
        tail = rows[-len(lost):]
        assert lost == tail, (f"lost rows {lost[:10]} are not the tail {tail[:10]} of the "
                              f"{len(rows)} the old master acknowledged")
        last = acked[-1][1]
        oldest = acked[-len(lost)][1]
        assert last - oldest <= ASYNC_TAIL_WINDOW_S, (
            f"{len(lost)} rows lost, acknowledged over {last - oldest:.2f} s before the old "
            f"master's last acknowledgement: more than the bound of {ASYNC_TAIL_WINDOW_S} s")
    return check


class Monitor(threading.Thread):
    """Asks every node, about every 20 ms (all nodes of a sample at once, each with a short
    timeout), whether it accepts writes: `SELECT NOT pg_is_in_recovery()`.

    Each node's answer in a sample is "primary", "standby", "down" or "unknown". An error
    (refused, timed out, starting up, shutting down) by itself proves nothing — a backend of
    a killed or stopping postmaster may still commit — so it is never counted as "not
    primary": it is "down" only when, after the error, no process at all has the node's
    data directory as its working directory (PostgreSQL's postmaster and every backend run
    there, orphans of a killed postmaster too), and "unknown" otherwise. `two_primaries`
    counts the samples in which two or more nodes answered "primary" (a failure wherever it
    is checked); `unknown_samples` those with a node unknown, and `blind_samples` those in
    which primaries plus unknowns reach two, where a two-primaries moment could hide;
    `blind_share()` is their share of all samples."""

    INTERVAL = 0.02
    PROBE_TIMEOUT_S = 2          # libpq's smallest connect_timeout
    STATEMENT_TIMEOUT_MS = 1000
    MAX_SAMPLES = 1_000_000      # bounds the loop whatever happens

    def __init__(self, cluster: LocalCluster):
        super().__init__(daemon=True)
        self.c = cluster
        self.stop = threading.Event()
        self.samples = 0
        self.two_primaries = 0
        self.unknown_samples = 0
        self.blind_samples = 0
        self.longest_blind_s = 0.0
        self.first_two_primaries: Optional[dict] = None
        self.unknown_why: Dict[str, int] = {}  # error text -> how many unknown answers
        self.pg_uid = pwd.getpwnam(PG_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
        self.lock = threading.Lock()

    def probe(self, node: str) -> str:
        try:
            conn = psycopg2.connect(
                host="127.0.0.1", port=self.c.nodes[node]["pg_port"], user=PG_USER,
                dbname="postgres", connect_timeout=self.PROBE_TIMEOUT_S,
                application_name="pgha-monitor",
                options=f"-c statement_timeout={self.STATEMENT_TIMEOUT_MS}")
        except psycopg2.Error as e:
            return self.failed(node, e)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT NOT pg_is_in_recovery()")
                return "primary" if cur.fetchone()[0] else "standby"
        except psycopg2.Error as e:
            return self.failed(node, e)
        finally:
            conn.close()

    def failed(self, node: str, error: psycopg2.Error) -> str:
        answer = "unknown" if self.data_dir_in_use(node) else "down"
        if answer == "unknown":
            lines = [x.strip() for x in str(error).splitlines() if x.strip()]
            why = re.sub(r"port \d+", "port N", lines[-1] if lines else type(error).__name__)
            with self.lock:
                self.unknown_why[why[:120]] = self.unknown_why.get(why[:120], 0) + 1
        return answer

    def data_dir_in_use(self, node: str) -> bool:
        """True unless no process of the account PostgreSQL runs as works in `node`'s data
        directory (one of them whose working directory cannot be read counts as working
        there)."""
        target = os.path.realpath(self.c.data_dir(node))
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid != self.pg_uid:
                    continue
                if os.readlink(f"/proc/{entry}/cwd") == target:
                    return True
            except PermissionError:
                return True
            except OSError:
                continue  # it exited meanwhile
        return False

    def run(self) -> None:
        blind_since = None
        while not self.stop.wait(self.INTERVAL) and self.samples < self.MAX_SAMPLES:
            answers: Dict[str, str] = {}
            probes = [threading.Thread(target=lambda n=n: answers.__setitem__(n, self.probe(n)))
                      for n in self.c.names]
            for t in probes:
                t.start()
            for t in probes:
                t.join()
            now = time.monotonic()
            primaries = sum(1 for a in answers.values() if a == "primary")
            unknown = sum(1 for a in answers.values() if a == "unknown")
            self.samples += 1
            if primaries >= 2:
                self.two_primaries += 1
                if self.first_two_primaries is None:
                    self.first_two_primaries = dict(answers)
            if unknown:
                self.unknown_samples += 1
            if primaries + unknown >= 2:
                self.blind_samples += 1
                blind_since = now if blind_since is None else blind_since
                self.longest_blind_s = max(self.longest_blind_s, now - blind_since)
            else:
                blind_since = None

    def finish(self) -> dict:
        """Stops the monitor and returns its figures."""
        self.stop.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the monitor did not stop"
        return {"monitor_samples": self.samples, "two_primaries_samples": self.two_primaries,
                "unknown_samples": self.unknown_samples, "blind_samples": self.blind_samples,
                "longest_blind_seconds": round(self.longest_blind_s, 2),
                "first_two_primaries": self.first_two_primaries,
                "unknown_why": dict(sorted(self.unknown_why.items(), key=lambda kv: -kv[1])[:8])}

    def blind_share(self) -> float:
        return 0.0 if self.samples == 0 else self.blind_samples / self.samples
