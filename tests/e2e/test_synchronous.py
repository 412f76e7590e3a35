"""Synchronous replication as an option (`pghactl local up --synchronous`).

In synchronous mode every node's pgha.conf names the other node in synchronous_standby_names,
so the master acknowledges a commit only once the slave has flushed it. The proof: a writer
commits numbered rows on the master; the master's host dies (its postmaster and its agent are
killed with SIGKILL, so nothing can be copied from it); failover promote on the slave (forced:
the old master cannot be asked); every acknowledged row is on the new master. The same crash
with asynchronous replication may lose rows, and then only the tail the slave had not received:
how many depends on timing (shown), the bound of docs/reliability.md is asserted (a tail of
rows all acknowledged within ASYNC_TAIL_WINDOW_S of the last one).
"""

import contextlib
import os
import signal
import threading
import time

import psycopg2
import pytest

pytestmark = pytest.mark.e2e

DEADLINE_S = 60
ROWS_BEFORE_CRASH = 300
# docs/reliability.md, "What asynchronous replication can lose" (tests/reliability/harness.py).
ASYNC_TAIL_WINDOW_S = 3.0


def connect(cluster, node):
    n = cluster.nodes[node]
    conn = psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                            dbname="postgres", connect_timeout=5)
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
    """Inserts 1, 2, 3, ... one autocommit INSERT at a time; a number is in `acked` once the
    server answered its COMMIT. Stops at the first error (the server went away)."""

    def __init__(self, cluster, node, table):
        super().__init__(daemon=True)
        self.conn = connect(cluster, node)
        self.table = table
        self.acked = []
        self.acked_at = []  # time.monotonic() of each acknowledgement, as `acked`
        self.error = None

    def run(self):
        try:
            with self.conn.cursor() as cur:
                n = 0
                while True:
                    n += 1
                    cur.execute(f"INSERT INTO {self.table}(id) VALUES (%s)", (n,))
                    self.acked.append(n)
                    self.acked_at.append(time.monotonic())
        except psycopg2.Error as e:
            self.error = e


def kill_master(cluster, node, host_dies):
    """SIGKILL of the node's postmaster, and when `host_dies` of its agent too."""
    data_dir = cluster.nodes[node]["data_dir"]
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    os.kill(postmaster, signal.SIGKILL)
    if host_dies:
        os.kill(cluster.nodes[node]["agent_pid"], signal.SIGKILL)


def crash_and_fail_over(cluster, table, host_dies=True):
    """Writer on pg-node01, crash of its PostgreSQL (and of its whole host when `host_dies`),
    failover promote on pg-node02. Returns the acknowledged numbers, those of them missing
    on the new master, and how long before the last acknowledgement the first missing one was
    acknowledged (0 when none is missing)."""
    sql(cluster, "pg-node01", f"CREATE TABLE {table} (id int PRIMARY KEY)")
    writer = Writer(cluster, "pg-node01", table)
    writer.start()
    wait_for("acknowledged rows", lambda: len(writer.acked) >= ROWS_BEFORE_CRASH or
             not writer.is_alive())
    assert writer.is_alive(), writer.error
    kill_master(cluster, "pg-node01", host_dies)
    writer.join(DEADLINE_S)
    assert not writer.is_alive() and writer.error is not None

    if host_dies:
        # The old master cannot be asked whether it still runs: refused unless forced.
        status, body = cluster.call("pg-node02", "POST", "instance/failover/promote")
        assert status == 503 and body["code"] == 6, body
        body = cluster.ok("pg-node02", "POST", "instance/failover/promote?force=true")
        assert body == {"pg-node01": "unreachable", "pg-node02": "single"}, body
    else:
        # Its agent answers: the WAL on its disk that the slave lacks is copied first.
        body = cluster.ok("pg-node02", "POST", "instance/failover/promote")
        assert body == {"pg-node01": "inactive", "pg-node02": "single"}, body

    present = {r[0] for r in sql(cluster, "pg-node02", f"SELECT id FROM {table}")}
    missing = [n for n in writer.acked if n not in present]
    # Whatever is lost is the tail: one writer commits in order, the slave's WAL is a prefix.
    span = 0.0
    if missing:
        assert missing == writer.acked[-len(missing):], missing
        span = writer.acked_at[-1] - writer.acked_at[-len(missing)]
    return writer.acked, missing, span


def wait_for_quorum(cluster, master, slave):
    # A walsender shows "streaming" a moment before it counts as a synchronous standby (its
    # sync_state is "async" until then; a commit in between waits for it).
    wait_for(slave + " as a synchronous standby of " + master, lambda: sql(
        cluster, master, "SELECT application_name, sync_state FROM pg_stat_replication")
        == [(slave, "quorum")])


def test_every_node_names_the_other_and_a_switchover_keeps_it(sync_cluster):
    c = sync_cluster
    assert sql(c, "pg-node01", "SHOW synchronous_standby_names") == [('ANY 1 ("pg-node02")',)]
    assert sql(c, "pg-node02", "SHOW synchronous_standby_names") == [('ANY 1 ("pg-node01")',)]
    wait_for_quorum(c, "pg-node01", "pg-node02")
    for order in ("masterSlave", "slaveMaster"):
        new_master, new_slave = ("pg-node02", "pg-node01") if order == "masterSlave" \
            else ("pg-node01", "pg-node02")
        assert c.ok("pg-node01", "POST", "instance/switchover/" + order) == \
            {new_master: "master", new_slave: "slave"}
        wait_for_quorum(c, new_master, new_slave)
        sql(c, new_master, "CREATE TABLE IF NOT EXISTS after_switchover (id int)")
        sql(c, new_master, "INSERT INTO after_switchover VALUES (1)")  # a slave confirms it


def test_no_acknowledged_row_is_lost_when_the_master_host_dies(report, sync_cluster):
    c = sync_cluster
    assert c.ok("pg-node01", "GET", "instance/all") == {"pg-node01": "master",
                                                        "pg-node02": "slave"}
    acked, missing, _ = crash_and_fail_over(c, "sync_rows")
    report(f"synchronous mode, master host killed: {len(acked)} rows acknowledged, "
                    f"{len(missing)} missing after failover promote")
    assert missing == []


def test_with_no_slave_writes_wait_until_synchronous_mode_is_switched_off(sync_cluster):
    c = sync_cluster
    # pg-node02 is the master now and its only slave is gone: a commit waits for it.
    assert sql(c, "pg-node02", "SHOW synchronous_standby_names") == [('ANY 1 ("pg-node01")',)]
    waiting = threading.Thread(
        target=lambda: sql(c, "pg-node02", "INSERT INTO sync_rows VALUES (-1)"), daemon=True)
    waiting.start()
    wait_for("a commit waiting for a synchronous standby", lambda: sql(
        c, "pg-node02", "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        == [(1,)])
    assert waiting.is_alive()
    # Switching synchronous mode off (the operator's way out) releases it.
    c.ok("pg-node02", "POST", "nodes/env", body={"synchronous_mode": False})
    waiting.join(DEADLINE_S)
    assert not waiting.is_alive()
    assert sql(c, "pg-node02", "SHOW synchronous_standby_names") == [("",)]
    assert sql(c, "pg-node02", "SELECT count(*) FROM sync_rows WHERE id = -1") == [(1,)]


def test_async_mode_loses_at_most_the_unreplicated_tail(report, cluster):
    assert sql(cluster, "pg-node01", "SHOW synchronous_standby_names") == [("",)]
    assert cluster.ok("pg-node01", "GET", "instance/all") == {"pg-node01": "master",
                                                              "pg-node02": "slave"}
    acked, missing, span = crash_and_fail_over(cluster, "async_rows")
    report(f"asynchronous mode, master host killed: {len(acked)} rows acknowledged, "
           f"{len(missing)} missing after failover promote (the unreplicated tail, "
           f"acknowledged over the last {span:.3f} s)")
    assert span <= ASYNC_TAIL_WINDOW_S, (len(missing), span)


def test_async_failover_takes_the_crashed_masters_wal_when_its_agent_answers(report, fresh_pair):
    acked, missing, _ = crash_and_fail_over(fresh_pair, "crash_rows", host_dies=False)
    report(f"asynchronous mode, master's PostgreSQL killed, its agent up: {len(acked)} rows "
           f"acknowledged, {len(missing)} missing after failover promote")
    assert missing == []
