"""Synchronous mode on etcd (docs/ha.md, "Synchronous mode"): `pghactl local up --etcd
--synchronous`, real agents, PostgreSQL 15 servers and three etcd members.

- The leader names its standby in synchronous_standby_names and records it in the store only
  once it has every commit; only a recorded standby may take over.
- The master's host dies (agent and postmaster killed) under a writer: the synchronous
  standby takes over with every acknowledged row, goes on asynchronously alone (and says so in
  GET cluster), and the old master, back, becomes its synchronous standby again.
- Strict: with the standby gone, commits wait (seen in pg_stat_activity) rather than being
  acknowledged without it; its return releases them.
"""

import json
import subprocess
import threading
import time

import psycopg2
import pytest

from conftest import cluster_fixture, writing
from harness import BIN, Writer, wait_for
from test_auto_failover import TAKEOVER_BOUND_S, cluster_json, healthy, writable

pytestmark = pytest.mark.ha


sync_cluster = cluster_fixture(2, "--synchronous")


def synchronous_standby(c) -> str:
    """Waits until the leader has recorded its standby as synchronous; returns the leader."""
    def check():
        j = cluster_json(c)
        leader = j["leader"]
        if leader and j["replication"] == "synchronous" and \
                j["synchronous_standbys"] == [c.other(leader)]:
            return leader
        return None
    master = healthy(c)
    got = wait_for(check, 60, "the standby on record as synchronous")
    assert got == master
    return master


def test_the_synchronous_standby_takes_over_with_every_acknowledged_row(sync_cluster, report):
    c = sync_cluster
    master = synchronous_standby(c)
    standby = c.other(master)
    assert c.sql(master, "SHOW synchronous_standby_names") == [(f'ANY 1 ("{standby}")',)]
    j = cluster_json(c)
    assert j["synchronous_mode"] is True and j["synchronous_mode_strict"] is False, j
    shown = subprocess.run([str(BIN / "pghactl"), "list", str(c.dir)], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert "synchronous mode: synchronous" in shown.splitlines()[0], shown
    assert any(standby in line and "Sync Standby" in line for line in shown.splitlines()), shown
    with writing(c, "pgha_ha_sync_writer", min_rows=200) as writer:
        t0 = time.monotonic()
        c.kill_agent(master)
        c.kill_postmaster(master)
        wait_for(lambda: writable(c, standby) and cluster_json(c, standby)["leader"] == standby,
                 TAKEOVER_BOUND_S, f"{standby} to lead and accept writes")
        report(f"ha sync: {standby} writable {time.monotonic() - t0:.2f} s after the loss")
        # Alone, it goes on asynchronously and says so; nobody is on record.
        j = wait_for(lambda: (lambda j: j if j["replication"].startswith("asynchronous")
                              else None)(cluster_json(c, standby)),
                     30, "GET cluster to say the leader runs asynchronously")
        assert j["synchronous_standbys"] == [], j
        t_alone = time.monotonic()
        wait_for(lambda: any(n == standby and t > t_alone for _, n, t in writer.acked_at),
                 30, "a row acknowledged by the new master alone")
    lost = writer.lost_on(standby)
    report(f"ha sync: {len(writer.acked)} rows acknowledged, {len(lost)} lost")
    assert lost == [], f"synchronous mode lost acknowledged rows: {lost[:10]}"
    # The old master comes back, rejoins and is the new synchronous standby.
    c.restart_agent(master)
    assert synchronous_standby(c) == standby
    assert c.sql(standby, "SHOW synchronous_standby_names") == [(f'ANY 1 ("{master}")',)]


def backend_waits_for_sync_rep(c, node, table) -> bool:
    rows = c.sql(node, "SELECT wait_event FROM pg_stat_activity WHERE query LIKE %s",
                 (f"INSERT INTO {table}%",))
    return any(r[0] == "SyncRep" for r in rows)


def test_strict_mode_holds_commits_while_no_standby_confirms(sync_cluster, report):
    c = sync_cluster
    master = synchronous_standby(c)
    standby = c.other(master)
    for bad in (b'{"ttl": true}', b'{"synchronous_mode_strict": 1}', b'[]'):
        status, answer = c.call(master, "POST", "cluster/config", body=bad)
        assert status == 400, (bad, status, answer)
    body = json.dumps({"synchronous_mode_strict": True}).encode()
    assert c.ok(master, "POST", "cluster/config", body=body)["synchronous_mode_strict"] is True
    c.sql(master, "CREATE TABLE IF NOT EXISTS pgha_ha_strict (id int)")
    done = threading.Event()
    errors = []

    def insert():
        try:
            c.sql(master, "INSERT INTO pgha_ha_strict VALUES (1)")
        except psycopg2.Error as e:
            errors.append(e)
        done.set()

    try:
        c.kill_agent(standby)
        c.kill_postmaster(standby)
        j = wait_for(lambda: (lambda j: j if j["replication"].startswith("blocked")
                              else None)(cluster_json(c, master)),
                     30, "GET cluster to say commits wait (strict)")
        assert j["synchronous_standbys"] == [standby], j
        t = threading.Thread(target=insert, daemon=True)
        t.start()
        wait_for(lambda: backend_waits_for_sync_rep(c, master, "pgha_ha_strict"), 30,
                 "the insert to wait for a synchronous standby")
        assert not done.is_set()
        # The standby's return (its agent rejoins it) releases the commit.
        c.restart_agent(standby)
        wait_for(done.is_set, 120, "the waiting commit to be acknowledged")
        assert errors == []
        assert synchronous_standby(c) == master
        report("ha sync strict: a commit waited while no standby confirmed, and was "
               "acknowledged once the standby was back")
    finally:
        c.call(master, "POST", "cluster/config",
               body=json.dumps({"synchronous_mode_strict": False}).encode())


def test_with_nobody_on_record_the_last_leader_comes_back_itself(sync_cluster, report):
    """The standby is lost: the master goes on asynchronously (nobody on record). Then the
    master's host dies too, and the standby's comes back first: it lacks what the master
    acknowledged alone and must not lead. The old master's return brings it back as the
    master by itself (the last leader on record), and the standby follows it: nothing lost."""
    c = sync_cluster
    master = synchronous_standby(c)
    standby = c.other(master)
    c.kill_agent(standby)
    c.kill_postmaster(standby)
    wait_for(lambda: cluster_json(c, master)["replication"].startswith("asynchronous"), 30,
             "the master to go on asynchronously")
    writer = Writer(c, table="pgha_ha_sync_alone")
    writer.start(min_rows=100)  # acknowledged by the master alone
    writer.stop()
    c.kill_agent(master)
    c.kill_postmaster(master)
    c.restart_agent(standby)

    def standby_verdict():
        status, body = c.call(standby, "GET", "cluster", timeout=3)
        return body if status == 200 and body["leader"] is None else None
    j = wait_for(standby_verdict, 30, "GET cluster from the standby")
    assert j["synchronous_standbys"] == [], j
    assert not writable(c, standby)
    c.restart_agent(master)
    assert synchronous_standby(c) == master
    assert writer.lost_on(master) == []
    wait_for(lambda: writer.rows_on(standby) == writer.rows_on(master), 60,
             "the standby to have every row")
    report(f"ha sync: {len(writer.acked)} rows acknowledged by the master alone; the standby "
           f"did not lead without them, the master came back by itself")
