"""The load balancers' routes behind a real HAProxy (Debian's): a write port checked with
`option httpchk GET /primary`, a read port with `GET /replica`. A writer that only knows the
write port reaches the master across a switchover each way and a failover (the seed's: the
master stopped, the slave promoted, the old master rejoining); every row acknowledged through
it is on the final master; what a write sent to a standby would be (PostgreSQL refuses it:
read-only) is counted and must not happen once HAProxy has seen the new roles. The outage the
writer sees at each event is printed; bench/run_haproxy.sh repeats the events and prints their
medians."""

import os
import pathlib
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import psycopg2
import pytest

pytestmark = pytest.mark.e2e

# Rounds of (switchover, switchover back, failover): 1 here; bench/run_haproxy.sh asks more.
ROUNDS = int(os.environ.get("PGHA_HAPROXY_ROUNDS", "1"))


def free_port(taken: set) -> int:
    for _ in range(200):
        port = random.randrange(20000, 32000)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free port below 32768")


def haproxy_config(cluster, write_port: int, read_port: int) -> str:
    servers = []
    for n in cluster.names:
        node = cluster.nodes[n]
        agent_port = int(node["agent_url"].rsplit(":", 1)[1])
        servers.append((n, node["pg_port"], agent_port))

    def backend(name, port, check):
        lines = [f"listen {name}", f"  bind 127.0.0.1:{port}", "  mode tcp",
                 "  option httpchk", f"  http-check send meth GET uri {check}",
                 "  http-check expect status 200",
                 "  default-server inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions"]
        lines += [f"  server {n} 127.0.0.1:{pg} check port {agent}" for n, pg, agent in servers]
        return "\n".join(lines)

    return "\n".join([
        "global", "  maxconn 256",
        "defaults", "  mode tcp", "  timeout connect 2s", "  timeout client 60s",
        "  timeout server 60s", "  timeout check 1s",
        backend("pg_write", write_port, "/primary"), backend("pg_read", read_port, "/replica"),
        ""])


class Writer(threading.Thread):
    MAX_ROWS = 200_000

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.acked = []  # (row, time)
        self.read_only_refusals = []  # times
        self.errors = 0

    def run(self):
        conn = None
        row = 0
        while not self.stop.is_set() and row < self.MAX_ROWS:
            try:
                if conn is None:
                    conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                            dbname="postgres", connect_timeout=2)
                    conn.autocommit = True
                row += 1
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO pgha_lb VALUES (%s)", (row,))
                self.acked.append((row, time.monotonic()))
            except psycopg2.Error as e:
                if "read-only" in str(e):
                    self.read_only_refusals.append(time.monotonic())
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.02)  # a pause between attempts, not a wait for a state


def test_a_writer_behind_haproxy_follows_the_master(cluster, report):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert pathlib.Path(haproxy).exists(), "haproxy is needed: scripts/install-deps.sh"
    taken = set()
    write_port, read_port = free_port(taken), free_port(taken)
    work = pathlib.Path(tempfile.mkdtemp(prefix="pgha-haproxy-"))
    cfg = work / "haproxy.cfg"
    cfg.write_text(haproxy_config(cluster, write_port, read_port))
    proc = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        deadline = time.monotonic() + 30
        while True:  # HAProxy routes the write port once its checks have run
            try:
                with psycopg2.connect(host="127.0.0.1", port=write_port, user="postgres",
                                      dbname="postgres", connect_timeout=2) as conn, \
                        conn.cursor() as cur:
                    cur.execute("SELECT NOT pg_is_in_recovery()")
                    if cur.fetchone()[0]:
                        cur.execute("DROP TABLE IF EXISTS pgha_lb")
                        cur.execute("CREATE TABLE pgha_lb (id bigint PRIMARY KEY)")
                        conn.commit()
                        break
            except psycopg2.Error:
                pass
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "HAProxy never routed the write port"
            time.sleep(0.05)
        # HAProxy takes a server as up until its first check fails: both ports settle once
        # the checks have run, which three standbys in a row on the read port show.
        def recovery_via(port):
            """True/False: the server the port reached is/is not a standby; None: cut off
            (HAProxy shuts a session down when it marks its server down)."""
            try:
                with psycopg2.connect(host="127.0.0.1", port=port, user="postgres",
                                      dbname="postgres", connect_timeout=2) as conn, \
                        conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    return cur.fetchone()[0]
            except psycopg2.Error:
                return None
        streak = 0
        while streak < 3:
            streak = streak + 1 if recovery_via(read_port) is True else 0
            assert time.monotonic() < deadline, "the read port never settled on the standby"
        assert [recovery_via(write_port) for _ in range(5)] == [False] * 5, \
            "the write port did not settle on the master"
        writer = Writer(write_port)
        writer.start()
        settle = []
        outages = []  # (event, seconds between the last write before it and the first after)
        for _ in range(ROUNDS):
            for event in ("switchover", "switchover", "failover"):
                count = len(writer.acked)
                states = cluster.ok("pg-node01", "GET", "instance/all")
                master = next(n for n, s in states.items() if s == "master")
                slave = next(n for n in states if n != master)
                begun = time.monotonic()
                if event == "switchover":
                    cluster.ok(master, "POST", "instance/switchover/masterSlave")
                else:
                    # The seed's failover: the master stopped, the slave promoted; then the old
                    # master rejoins (rewound: it is behind the new timeline's switch point).
                    cluster.ok(master, "DELETE", "instance/current")
                    cluster.ok(slave, "POST", "instance/failover/promote")
                done = time.monotonic()
                settle.append(done)
                deadline = done + 60
                while len(writer.acked) < count + 50 or writer.acked[-1][1] < done:
                    assert time.monotonic() < deadline, f"no write reached the new master ({event})"
                    time.sleep(0.05)
                before = max((t for _, t in writer.acked if t < begun), default=begun)
                after = min(t for _, t in writer.acked if t > done)
                outages.append((event, after - before))
                if event == "failover":
                    cluster.ok(master, "POST", "instance/slave")
        writer.stop.set()
        writer.join(timeout=60)
        states = cluster.ok("pg-node01", "GET", "instance/all")
        master = next(n for n, s in states.items() if s == "master")
        n = cluster.nodes[master]
        with psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                              dbname="postgres") as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM pgha_lb")
            present = {r[0] for r in cur.fetchall()}
        missing = [r for r, _ in writer.acked if r not in present]
        assert missing == [], missing[:10]
        # Once HAProxy has checked the new roles (a few check intervals after the switchover
        # answered), the write port never reaches a standby.
        late = [t for t in writer.read_only_refusals if not any(0 <= t - s <= 2.0 for s in settle)]
        assert late == [], f"{len(late)} writes reached a standby after HAProxy had settled"
        for event, seconds in outages:
            report(f"haproxy: {event}: the writer on the write port saw no acknowledgement "
                   f"for {seconds:.3f} s")
        report(f"haproxy: {len(writer.acked)} rows through the write port over "
               f"{len(outages)} events, {len(writer.read_only_refusals)} writes refused by a "
               f"standby while HAProxy caught up")
    finally:
        if writer is not None:
            writer.stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
