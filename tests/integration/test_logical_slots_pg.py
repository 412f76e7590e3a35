"""Logical slots kept on a standby (pgha.sync_logical_slots and friends) on real PostgreSQL 15
(or PGHA_PG_BINDIR's major).

A test_decoding consumer reads from the master; the copies pgha keeps on the standby must let
it continue from the standby after promotion with nothing skipped. What the slots hold is
read back from PostgreSQL (pg_replication_slots, pg_logical_slot_get_changes, pg_wal).
"""
import os
import re

import pytest

import pg_harness
import pgha
from test_instance_pg import FAST, REPL_PASSWORD, caught_up, lsn_int, nodes  # noqa: F401

pytestmark = pytest.mark.integration

# The standby's feedback reaches the master every second instead of every ten.
STANDBY_SETTINGS = {"wal_receiver_status_interval": "1s"}


def pair(nodes, **settings):  # noqa: F811
    """n1 primary with table t, n2 its standby through physical slot pgha_n2."""
    p = nodes.new("n1")
    p.init(replicate_password=REPL_PASSWORD, settings={**FAST, **STANDBY_SETTINGS, **settings})
    p = nodes.start(p)
    p.ensure_physical_slot(pgha.standby_slot_name("n2"))
    p.query("CREATE TABLE t (id int PRIMARY KEY)")
    s = nodes.new("n2")
    s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD,
           slot_name=pgha.standby_slot_name("n2"), application_name="n2")
    s = nodes.start(s)
    pg_harness.wait_for(lambda: s.state() == "slave", 30, "n2 streaming")
    return p, s


def insert(node, first, last):
    node.query(f"INSERT INTO t SELECT generate_series({first}, {last})")


def consume(node, slot):
    """Reads and confirms every change of `slot`; returns the inserted ids."""
    rows = node.query(f"SELECT data FROM pg_logical_slot_get_changes('{slot}', NULL, NULL)")
    return [int(m.group(1)) for (d,) in rows if (m := re.search(r"INSERT: id\[integer\]:(\d+)", d))]


def slot_names(node, kind="logical"):
    return sorted(r[0] for r in node.query(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_type = $1", [kind]))


def status(report, slot):
    found = [st for st in report.slots if st.slot == slot]
    assert len(found) == 1, report.slots
    return found[0]


def test_copy_is_installed_held_advanced_and_dropped(nodes):  # noqa: F811
    p, s = pair(nodes)
    p.query("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')")
    insert(p, 1, 10)
    assert consume(p, "cdc") == list(range(1, 11))
    master = lambda changes: pgha.read_master_slots(p, "n2", changes)  # noqa: E731

    first = pgha.sync_logical_slots(s, master, node="n2")
    st = status(first, "cdc")
    assert first.restarted and st.installed and st.action == "installed"
    assert slot_names(s) == ["cdc"]
    # Until the standby's feedback keeps the copy's catalog rows, a hold does on the master.
    if not st.safe:
        assert "feedback" in st.reason
        assert any(n.startswith("pgha_h_") for n in slot_names(p))

    def safe_round():
        r = pgha.sync_logical_slots(s, master, node="n2")
        return r if status(r, "cdc").safe else None
    pg_harness.wait_for(safe_round, 30, "the copy to be safe")
    assert slot_names(p) == ["cdc"], "the round that found the copy safe drops the hold"
    phys = p.query("SELECT catalog_xmin FROM pg_replication_slots WHERE slot_name = 'pgha_n2'")
    copy_xmin = s.query("SELECT catalog_xmin FROM pg_replication_slots WHERE slot_name = 'cdc'")
    assert phys[0][0] is not None and int(phys[0][0]) <= int(copy_xmin[0][0])

    # Consumed on the master: the copy follows without a restart.
    insert(p, 11, 20)
    assert consume(p, "cdc") == list(range(11, 21))
    target = p.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'cdc'")[0][0]
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay")
    r = pgha.sync_logical_slots(s, master, node="n2")
    st = status(r, "cdc")
    assert not r.restarted and st.action == "advanced" and st.safe
    assert str(st.confirmed_flush) == target == str(st.master_confirmed_flush)

    # Dropped on the master: dropped on the standby.
    p.query("SELECT pg_drop_replication_slot('cdc')")
    r = pgha.sync_logical_slots(s, master, node="n2")
    assert r.dropped == ["cdc"] and r.slots == [] and slot_names(s) == []


def test_slot_whose_wal_the_standby_lost_is_reported_not_installed(nodes):  # noqa: F811
    keep = "wal_keep_size" if pg_harness.server_major() >= 13 else "wal_keep_segments"
    p, s = pair(nodes, **{keep: "0"})  # pgha's init keeps 1 GB
    p.query("SELECT pg_create_logical_replication_slot('late', 'test_decoding')")
    restart = p.query("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'late'")[0][0]
    # The standby recycles the segments before the slot's restart_lsn at its restartpoints.
    for i in range(4):
        insert(p, i * 10 + 1, i * 10 + 10)
        p.query("SELECT pg_switch_wal()")
    p.query("CHECKPOINT")
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay")
    s.query("CHECKPOINT")
    segment = f"00000001{lsn_int(restart) >> 32:08X}{(lsn_int(restart) & 0xFFFFFFFF) >> 24:08X}"
    assert not os.path.exists(os.path.join(s.data_dir, "pg_wal", segment)), "WAL still there"

    master = lambda changes: pgha.read_master_slots(p, "n2", changes)  # noqa: E731
    r = pgha.sync_logical_slots(s, master, node="n2")
    st = status(r, "late")
    assert not st.installed and not st.safe and not r.restarted
    assert "no longer has restart_lsn " + restart in st.reason
    assert slot_names(s) == [] and not os.path.exists(os.path.join(s.data_dir, "pg_replslot", "late"))
    assert slot_names(p) == ["late"], "the hold must be dropped"
    # Reporting only changes nothing.
    r = pgha.sync_logical_slots(s, master, node="n2", apply=False)
    assert not status(r, "late").safe


def test_standby_started_before_its_stopped_master_streams_through_its_slot(nodes):  # noqa: F811
    """instance/all/slaveMaster: the standby starts before its master, which no longer has the
    standby's slot (it ran as a standby since, and its agent dropped the slot). Asked to ensure
    the slot while stopped, the master gets it in its files; once it starts, the standby
    streams through it (configured with a missing slot it never would)."""
    p, s = pair(nodes)
    slot = pgha.standby_slot_name("n2")
    s.stop("fast")
    p.query("SELECT pg_drop_replication_slot($1)", [slot])
    p.stop("fast")
    assert not pgha.read_master_slots(p, "n2").physical_slot_exists
    m = pgha.read_master_slots(p, "n2", ensure_physical_slot=True)
    assert m.physical_slot_exists and not m.running
    again = pgha.read_master_slots(p, "n2", ensure_physical_slot=True)  # kept, not rewritten
    assert again.physical_slot_exists
    s = nodes.start(s)
    p = nodes.start(p)
    pg_harness.wait_for(lambda: s.state() == "slave" and p.state() == "master", 30,
                        "n2 streaming through its slot")
    assert p.query("SELECT active, restart_lsn IS NOT NULL FROM pg_replication_slots "
                   "WHERE slot_name = $1", [slot]) == [("t", "t")]
    insert(p, 1, 10)
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay")


def test_stopped_master_slots_installed_before_the_standby_starts_as_master(nodes):  # noqa: F811
    """The switchover path: the consumer continues on the new master, nothing skipped."""
    p, s = pair(nodes)
    p.query("SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')")
    insert(p, 1, 10)
    assert consume(p, "cdc") == list(range(1, 11))
    insert(p, 11, 20)  # not consumed before the switchover
    p.stop("fast")
    pg_harness.wait_for(lambda: lsn_int(s.lsn_facts()["lastLsn"]) >= lsn_int(p.lsn_facts()["lastLsn"]),
                        30, "n2 to receive the shutdown checkpoint")
    s.stop("fast")

    slots = pgha.read_logical_slots(p)  # from the stopped master's files
    size = {10: 176, 11: 176, 12: 176, 13: 184}.get(pg_harness.server_major(), 200)  # per layout
    assert [x.name for x in slots] == ["cdc"] and len(slots[0].state) == size
    r = pgha.install_logical_slots(s, slots)
    st = status(r, "cdc")
    assert st.safe and st.action == "installed" and str(st.confirmed_flush) == str(slots[0].confirmed_flush)
    assert r.dropped == [pgha.standby_slot_name("n2")] or r.dropped == []
    s.remove_standby_config()
    s.start()
    insert(s, 21, 30)
    assert consume(s, "cdc") == list(range(11, 31))

    # A copy never moves back: installing older positions keeps the newer copy.
    s.stop("fast")
    again = pgha.install_logical_slots(s, slots)
    assert status(again, "cdc").action == "" and status(again, "cdc").confirmed_flush > slots[0].confirmed_flush
