"""Logical slots survive switchover and failover, on real agents and PostgreSQL 15 servers.

A test_decoding slot on the master, a writer inserting rows the whole time, and a consumer
that reads and confirms part of the stream (pg_logical_slot_get_changes) before each
operation. After a switchover, a failover restart and a failover promote (the last with the
old master's agent stopped, so only the copy the standby's agent kept is there), the consumer
reconnects to the new master and must receive every change after its confirmed position: at
the end every row the writer had acknowledged was received. A change before the confirmed
position may come again (docs/slots.md); duplicates are allowed, gaps are not.
"""

import os
import re
import signal
import threading
import time

import psycopg2
import pytest

from test_operations import _port_open, agent_pid, restart_agent

pytestmark = pytest.mark.e2e

SLOT = "cdc"
INSERT = re.compile(r"table public\.cdc_t: INSERT: id\[integer\]:(\d+)")


def connect(cluster, node):
    n = cluster.nodes[node]
    conn = psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                            dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    return conn


def sql(cluster, node, query, params=None):
    with connect(cluster, node) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


def master_of(cluster):
    states = cluster.ok(cluster.names[0], "GET", "instance/all")
    masters = [n for n, s in states.items() if s in ("master", "single")]
    assert len(masters) == 1, states
    return masters[0]


def other(cluster, node):
    return next(n for n in cluster.names if n != node)


class Writer(threading.Thread):
    """Inserts increasing ids into whichever node is master; keeps the acknowledged ones."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acknowledged = []
        self.stop = threading.Event()
        self.next_id = 1

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self._connect_master()
                    if conn is None:
                        self.stop.wait(0.05)  # pacing while no master accepts writes
                        continue
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO cdc_t VALUES (%s)", (self.next_id,))
                self.acknowledged.append(self.next_id)
                self.next_id += 1
                self.stop.wait(0.005)  # pacing, ~200 rows/s
            except psycopg2.Error:
                conn = None
                self.next_id += 1  # an unacknowledged id is never reused

    def _connect_master(self):
        for node in self.cluster.names:
            try:
                conn = connect(self.cluster, node)
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    if not cur.fetchone()[0]:
                        return conn
                conn.close()
            except psycopg2.Error:
                pass
        return None


class Consumer:
    """Reads and confirms the slot's changes from the current master."""

    def __init__(self):
        self.received = set()

    def consume(self, cluster, node):
        rows = sql(cluster, node, "SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL)",
                   (SLOT,))
        ids = [int(m.group(1)) for (d,) in rows if (m := INSERT.search(d))]
        self.received.update(ids)
        return ids


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def copy_on(cluster, standby):
    """The standby's copy of SLOT in GET slots (asked on the standby's agent), or None; also
    None while the standby restarts to load new copies (503: retry, docs/errors.md)."""
    status, view = cluster.call(standby, "GET", "slots")
    if status == 503:
        return None
    assert status == 200, (standby, status, view)
    for s in view["slots"]:
        if s["slot"] == SLOT:
            return next((c for c in s["copies"] if c["node"] == standby), None)
    return None


def safe_copy(cluster, standby):
    c = copy_on(cluster, standby)
    return c if c and c["safe"] else None


def rejoin(cluster, node):
    """`node` (stopped) back as a slave of the master; rewound when it diverged."""
    body = cluster.ok(node, "POST", "instance/slave")
    assert body[node] == "slave", body


def test_slot_follows_switchover_and_failovers_with_nothing_skipped(cluster):
    cluster.ok("pg-node01", "DELETE", "instance/all")
    cluster.ok("pg-node01", "POST", "instance/all")
    master = master_of(cluster)
    sql(cluster, master, "CREATE TABLE cdc_t (id int PRIMARY KEY)")
    sql(cluster, master, "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (SLOT,))
    created = time.monotonic()
    # It appears on the standby within a sync interval (2 s) plus the restart that loads it.
    def installed():
        c = copy_on(cluster, other(cluster, master))
        return c if c and c["installed"] else None
    wait_until(installed, 15, "the copy on the slave")
    appeared = time.monotonic() - created
    wait_until(lambda: safe_copy(cluster, other(cluster, master)), 30, "the copy to be safe")
    listing = cluster.pghactl("list", str(cluster.dir)).stdout
    row = next(line for line in listing.splitlines() if line.startswith(SLOT + " "))
    assert row.split()[1:5] == ["test_decoding", row.split()[2], other(cluster, master), "yes"], listing

    writer = Writer(cluster)
    consumer = Consumer()
    writer.start()
    try:
        wait_until(lambda: len(writer.acknowledged) > 50, 30, "the writer")
        # 1. switchover: the stopped master's final slot files go to the new master.
        consumer.consume(cluster, master)
        body = cluster.ok(master, "POST", "instance/switchover/masterSlave")
        new = other(cluster, master)
        assert body[new] == "master" and body[master] == "slave", body
        carried = [s for s in body["slots"] if s["slot"] == SLOT]
        assert carried and carried[0]["safe"] and carried[0]["node"] == new, body
        master = new
        wait_until(lambda: len(writer.acknowledged) > 150, 30, "writes on the new master")
        before = set(writer.acknowledged)
        consumer.consume(cluster, master)
        assert before <= consumer.received, sorted(before - consumer.received)[:10]

        # 2. failover restart: the master is stopped, its agent answers.
        wait_until(lambda: safe_copy(cluster, other(cluster, master)), 30, "a safe copy")
        consumer.consume(cluster, master)
        cluster.ok(master, "DELETE", "instance/current")
        slave = other(cluster, master)
        body = cluster.ok(slave, "POST", "instance/failover/restart")
        assert body[slave] in ("master", "single"), body
        assert any(s["slot"] == SLOT and s["safe"] for s in body["slots"]), body
        old, master = master, slave
        rejoin(cluster, old)
        wait_until(lambda: len(writer.acknowledged) > 250, 30, "writes on the new master")
        before = set(writer.acknowledged)
        consumer.consume(cluster, master)
        assert before <= consumer.received, sorted(before - consumer.received)[:10]

        # 3. failover promote with the old master's agent gone: the copy the standby's agent
        # kept is all there is.
        wait_until(lambda: safe_copy(cluster, other(cluster, master)), 30, "a safe copy")
        consumer.consume(cluster, master)
        acknowledged_before_stop = len(writer.acknowledged)
        cluster.ok(master, "DELETE", "instance/current")
        old = master
        os.kill(agent_pid(cluster, old), signal.SIGTERM)
        wait_until(lambda: not _port_open(cluster.nodes[old]), 30, "the agent to stop")
        try:
            slave = other(cluster, old)
            body = cluster.ok(slave, "POST", "instance/failover/promote?force=true")
            assert body[slave] in ("master", "single") and body[old] == "unreachable", body
            assert any(s["slot"] == SLOT and s["installed"] for s in body["slots"]), body
            master = slave
        finally:
            restart_agent(cluster, old)
        rejoin(cluster, old)
        wait_until(lambda: len(writer.acknowledged) > acknowledged_before_stop + 100, 30,
                   "writes on the new master")
    finally:
        writer.stop.set()
        writer.join(30)
    consumer.consume(cluster, master)
    missing = sorted(set(writer.acknowledged) - consumer.received)
    assert not missing, f"{len(missing)} acknowledged rows never reached the consumer: {missing[:10]}"
    print(f"slot appeared on the slave after {appeared:.2f} s; "
          f"{len(writer.acknowledged)} rows acknowledged, all received")

    # A slot dropped on the master is dropped on the slave.
    standby = other(cluster, master)
    wait_until(lambda: sql(cluster, standby, "SELECT count(*) FROM pg_replication_slots "
                                             "WHERE slot_name = %s", (SLOT,))[0][0] == 1,
               30, "the copy on the rejoined slave")
    sql(cluster, master, "SELECT pg_drop_replication_slot(%s)", (SLOT,))
    wait_until(lambda: sql(cluster, standby, "SELECT count(*) FROM pg_replication_slots "
                                             "WHERE slot_type = 'logical'")[0][0] == 0,
               15, "the copy to be dropped")
    assert cluster.ok(master, "GET", "slots")["slots"] == []
    leftovers = sql(cluster, master, "SELECT slot_name FROM pg_replication_slots "
                                     "WHERE slot_name LIKE 'pgha\\_h\\_%%'")
    assert leftovers == [], leftovers
