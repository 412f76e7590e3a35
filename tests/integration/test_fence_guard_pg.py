"""The fence guard (`pgha-agent --fence-guard DATA_DIR`), the process that fences a leader's
PostgreSQL when the agent that should renew the leader lease is gone or frozen: it kills the
postmaster and every backend at the moment it was given, unless disarmed first; a guard whose
agent is gone still fences at that moment; a guard that was itself stopped past the moment
fences as soon as it runs again. A server it fences acknowledges nothing afterwards.
"""

import os
import pathlib
import select
import signal
import subprocess
import threading
import time

import psycopg2
import pytest

import pg_harness

pytestmark = pytest.mark.integration

AGENT = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin")) / "pgha-agent"


def server_pids(server) -> list:
    """The postgres processes running in the server's data directory (found by their cwd)."""
    data = os.path.realpath(server.data)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") == data and \
                    os.readlink(f"/proc/{entry}/exe").endswith("/postgres"):
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(entry))
        except OSError:
            continue
    return pids


def gone(server) -> None:
    """SIGKILL is delivered at once, but a process is gone only once the kernel reaped it."""
    pg_harness.wait_for(lambda: server_pids(server) == [], 10, "the server's processes to go")


def guard(server) -> subprocess.Popen:
    return subprocess.Popen([str(AGENT), "--fence-guard", str(server.data)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def order(g: subprocess.Popen, line: str) -> None:
    g.stdin.write(line + "\n")
    g.stdin.flush()


def wait_for_line(g: subprocess.Popen, text: str, timeout: float = 20) -> None:
    """Reads the guard's stderr until a line holds `text`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the guard never said '{text}'"
        ready, _, _ = select.select([g.stderr], [], [], left)
        if ready:
            line = g.stderr.readline()
            assert line, f"the guard exited before saying '{text}'"
            if text in line:
                return


def running_server(pg):
    s = pg().init().start()
    conn = psycopg2.connect(host="127.0.0.1", port=s.port, user="postgres", dbname="postgres")
    conn.autocommit = True
    conn.cursor().execute("CREATE TABLE t (i int)")
    return s, conn


def test_an_armed_guard_fences_at_its_moment_and_nothing_is_acknowledged_after(pg):
    s, conn = running_server(pg)
    before = server_pids(s)
    assert len(before) >= 3  # postmaster, checkpointer, walwriter, ... and our backend
    g = guard(s)
    moment = time.monotonic_ns() + 700_000_000  # the agent's clock is the same CLOCK_MONOTONIC
    order(g, f"arm {moment}")
    cur = conn.cursor()
    acknowledged_after = []
    i = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        i += 1
        try:
            cur.execute("INSERT INTO t VALUES (%s)", (i,))
        except psycopg2.Error:
            break
        if time.monotonic_ns() > moment + 50_000_000:
            acknowledged_after.append(i)
    assert g.wait(timeout=20) == 0
    assert "killed postmaster" in g.stderr.read()
    gone(s)
    # The guard fences within a few scheduling rounds of its moment: any commit acknowledged
    # later than 50 ms past it would be one a new leader could not have.
    assert acknowledged_after == [], acknowledged_after
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=s.port, user="postgres", dbname="postgres",
                         connect_timeout=2)


def test_a_guard_whose_agent_is_gone_still_fences(pg):
    s, _ = running_server(pg)
    g = guard(s)
    moment = time.monotonic_ns() + 500_000_000
    order(g, f"arm {moment}")
    g.stdin.close()  # the agent died (kill -9): its end of the pipe is closed
    assert g.wait(timeout=20) == 0
    assert time.monotonic_ns() >= moment
    gone(s)


def test_a_disarmed_guard_and_a_later_moment_spare_the_server(pg):
    s, conn = running_server(pg)
    g = guard(s)
    order(g, f"arm {time.monotonic_ns() + 400_000_000}")
    order(g, f"arm {time.monotonic_ns() + 60_000_000_000}")  # renewed: a minute later
    order(g, "disarm")
    g.stdin.close()  # disarmed and the agent gone: nothing to guard
    assert g.wait(timeout=20) == 0
    conn.cursor().execute("INSERT INTO t VALUES (1)")  # the server still runs
    assert len(server_pids(s)) >= 3
    g = guard(s)
    order(g, f"arm {time.monotonic_ns() + 300_000_000}")
    order(g, "exit")  # the agent stops cleanly
    assert g.wait(timeout=20) == 0
    conn.cursor().execute("INSERT INTO t VALUES (2)")


def test_a_guard_stopped_past_its_moment_fences_as_soon_as_it_runs(pg):
    s, _ = running_server(pg)
    g = guard(s)
    order(g, f"arm {time.monotonic_ns() + 300_000_000}")
    os.kill(g.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    while time.monotonic() - stopped_at < 1.0:  # frozen well past the moment
        assert len(server_pids(s)) >= 3
        time.sleep(0.05)
    os.kill(g.pid, signal.SIGCONT)
    assert g.wait(timeout=20) == 0
    gone(s)


def test_an_armed_guard_kills_what_a_dead_postmaster_left_running(pg):
    """kill -9 of the postmaster leaves its backends running until they notice, and one busy
    with a statement finishes it and acknowledges the commit. The armed guard watches the
    postmaster (a pidfd) and kills them the moment it dies, long before its lease moment."""
    s, conn = running_server(pg)
    g = guard(s)
    order(g, f"arm {time.monotonic_ns() + 60_000_000_000}")
    pm = int((pathlib.Path(s.data) / "postmaster.pid").read_text().split("\n", 1)[0])
    answer = []
    busy = conn.cursor()

    def long_insert():
        try:
            busy.execute("INSERT INTO t SELECT g FROM generate_series(1, 20000000) g")
            answer.append("acknowledged")
        except psycopg2.Error as e:
            answer.append(type(e).__name__)

    t = threading.Thread(target=long_insert, daemon=True)
    t.start()
    watcher = psycopg2.connect(host="127.0.0.1", port=s.port, user="postgres", dbname="postgres")
    watcher.autocommit = True
    def inserting():
        with watcher.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity "
                        "WHERE query LIKE 'INSERT INTO t SELECT%' AND state = 'active'")
            return cur.fetchone()[0] == 1
    pg_harness.wait_for(inserting, 10, "the insert to run")
    watcher.close()
    # The guard watches from its first round after the arm (the agent arms it when it takes
    # the lease, long before a kill): wait for it to say so.
    wait_for_line(g, f"watching postmaster {pm}")
    os.kill(pm, signal.SIGKILL)
    t.join(60)
    assert not t.is_alive()
    assert answer and answer[0] != "acknowledged", answer
    gone(s)
    assert g.poll() is None  # still armed: its moment is far away
    order(g, "exit")
    assert g.wait(timeout=20) == 0
