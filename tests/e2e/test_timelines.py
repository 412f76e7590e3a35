"""Timelines across operations: a failover by restart on a standby that follows a promoted
master keeps the new timeline, and no acknowledged write is lost.

A standby that followed a promoted master reads the old timeline in its pg_control until its
first restartpoint; what it reports (`lsn/*` `timeLineID`, and the timeline the failover
checks) is the timeline it receives or replays (docs/instance.md, Observe).
"""

import contextlib
import threading
import time

import psycopg2
import pytest

pytestmark = pytest.mark.e2e

DEADLINE_S = 60


def connect(cluster, node, timeout=2):
    n = cluster.nodes[node]
    conn = psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                            dbname="postgres", connect_timeout=timeout)
    conn.autocommit = True
    return conn


def sql(cluster, node, query, params=None):
    with contextlib.closing(connect(cluster, node)) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


def wait_for(what, pred):
    deadline = time.monotonic() + DEADLINE_S
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


class Writer(threading.Thread):
    """Inserts 1, 2, 3, ... one autocommit INSERT at a time into whichever node accepts
    writes, reconnecting after an error; a number is in `acked` once its COMMIT returned."""

    MAX_ROWS = 1_000_000  # bounds the loop whatever happens

    def __init__(self, cluster, table):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.table = table
        self.acked = []
        self.stop = threading.Event()

    def _primary(self):
        for node in self.cluster.names:
            try:
                conn = connect(self.cluster, node)
            except psycopg2.Error:
                continue
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                if not cur.fetchone()[0]:
                    return conn
            conn.close()
        return None

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set() and n < self.MAX_ROWS:
            try:
                conn = conn or self._primary()
                if conn is None:
                    self.stop.wait(0.02)  # nobody accepts writes yet: ask again
                    continue
                n += 1
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {self.table}(id) VALUES (%s)", (n,))
                self.acked.append(n)
            except psycopg2.Error:
                with contextlib.suppress(psycopg2.Error, AttributeError):
                    conn.close()
                conn = None

    def wait_rows(self, more):
        target = len(self.acked) + more
        wait_for(f"{more} more acknowledged rows", lambda: len(self.acked) >= target)


def timeline(cluster, node):
    return int(cluster.ok(node, "GET", "lsn/current")[node]["timeLineID"])


def test_failover_restart_on_a_standby_that_followed_a_promoted_master(fresh_pair):
    c = fresh_pair
    assert timeline(c, "pg-node01") == 1
    sql(c, "pg-node01", "CREATE TABLE tl_rows (id int PRIMARY KEY)")
    writer = Writer(c, "tl_rows")
    writer.start()
    try:
        writer.wait_rows(100)
        # Failover promote: the master stops cleanly, the slave takes a new timeline.
        c.ok("pg-node01", "DELETE", "instance/current")
        assert c.ok("pg-node02", "POST", "instance/failover/promote") == \
            {"pg-node01": "inactive", "pg-node02": "single"}
        assert timeline(c, "pg-node02") == 2
        writer.wait_rows(100)
        # The old master rejoins as a slave of the new one: it follows a promoted master.
        assert c.ok("pg-node01", "POST", "instance/slave") == \
            {"pg-node01": "slave", "pg-node02": "master"}
        writer.wait_rows(100)
        facts = c.ok("pg-node01", "GET", "lsn/current")["pg-node01"]
        assert facts["timeLineID"] == "2" and facts["walFile"].startswith("00000002"), facts
        # The new master stops cleanly; the standby that followed it takes over by restart.
        c.ok("pg-node02", "DELETE", "instance/current")
        assert c.ok("pg-node01", "GET", "instance/current") in ({"pg-node01": "recovery"},
                                                                {"pg-node01": "slave"})
        facts = c.ok("pg-node01", "GET", "lsn/current")["pg-node01"]
        assert facts["timeLineID"] == "2" and facts["walFile"].startswith("00000002"), facts
        status, body = c.call("pg-node01", "POST", "instance/failover/restart")
        assert status == 200, body
        assert body == {"pg-node01": "single", "pg-node02": "inactive"}, body
        assert timeline(c, "pg-node01") == 2
        assert sql(c, "pg-node01", "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") \
            == [("00000002",)]
        writer.wait_rows(100)  # on the restarted node
    finally:
        writer.stop.set()
        writer.join(DEADLINE_S)
    assert not writer.is_alive()
    present = {r[0] for r in sql(c, "pg-node01", "SELECT id FROM tl_rows")}
    lost = [n for n in writer.acked if n not in present]
    assert lost == [], f"{len(lost)} of {len(writer.acked)} acknowledged rows lost: {lost[:10]}"
    # The old new master rejoins the timeline it started.
    assert c.ok("pg-node02", "POST", "instance/slave") == \
        {"pg-node01": "master", "pg-node02": "slave"}
    assert timeline(c, "pg-node02") == 2
