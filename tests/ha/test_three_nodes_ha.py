"""Automatic failover with three nodes on etcd (docs/ha.md): the master's host dies, one
standby takes over, and the other, whose upstream is gone, is re-pointed at the new leader by
its own loop (it rejoins by the manual path's rules); the old master, back, follows too."""

import time

import psycopg2
import pytest

from conftest import cluster_fixture, writing
from harness import wait_for
from test_auto_failover import TAKEOVER_BOUND_S, cluster_json, writable

pytestmark = pytest.mark.ha


trio = cluster_fixture(3)


def all_follow(c, via=None, timeout: float = 120) -> str:
    """Waits until one member leads as master and every other streams; returns the leader."""
    def check():
        try:
            j = cluster_json(c, via)
        except AssertionError:
            return None
        states = {m["name"]: m["state"] for m in j["members"]}
        if j["leader"] and len(states) == len(c.names) and states.get(j["leader"]) == "master" \
                and all(s == "slave" for n, s in states.items() if n != j["leader"]):
            return j["leader"]
        return None
    return wait_for(check, timeout, "one leader and every other member streaming")


def upstream_of(c, node):
    """The member `node` streams from now (None when it does not, or is restarting)."""
    try:
        rows = c.sql(node, "SELECT sender_port FROM pg_stat_wal_receiver "
                           "WHERE status = 'streaming'")
    except psycopg2.Error:
        return None
    port = rows[0][0] if rows else None
    return next((n for n in c.names if int(c.nodes[n]["pg_port"]) == port), None)


def new_leader(c, candidates):
    """The member of `candidates` that one of them says leads and that accepts writes."""
    for n in candidates:
        try:
            j = cluster_json(c, n)
        except AssertionError:
            continue
        if j["leader"] in candidates and writable(c, j["leader"]):
            return j["leader"]
    return None


def test_the_third_node_follows_the_new_leader(trio, report):
    c = trio
    master = all_follow(c)
    others = [n for n in c.names if n != master]
    assert all(upstream_of(c, n) == master for n in others)
    with writing(c, "pgha_ha_trio"):
        t0 = time.monotonic()
        c.kill_agent(master)
        c.kill_postmaster(master)
        successor = wait_for(lambda: new_leader(c, others), TAKEOVER_BOUND_S,
                             "a standby to lead and accept writes")
        report(f"ha trio: {successor} writable {time.monotonic() - t0:.2f} s after the loss")
        third = next(n for n in others if n != successor)
        wait_for(lambda: upstream_of(c, third) == successor, 120,
                 f"{third} to stream from {successor}")
        report(f"ha trio: {third} streams from {successor} "
               f"{time.monotonic() - t0:.2f} s after the loss")
    c.restart_agent(master)
    assert all_follow(c) == successor
    assert upstream_of(c, master) == successor


def test_a_second_failover_elects_on_the_new_timelines_history(trio, report):
    """The leader now runs on a timeline above 1: the election reads its history file on the
    standbys (pg_wal/<TL>.history) and every standby on that history is a candidate."""
    c = trio
    master = all_follow(c)
    timeline = next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == master)
    assert timeline > 1
    others = [n for n in c.names if n != master]
    c.kill_agent(master)
    c.kill_postmaster(master)
    successor = wait_for(lambda: new_leader(c, others), TAKEOVER_BOUND_S,
                         "a standby to lead and accept writes")
    c.restart_agent(master)
    assert all_follow(c) == successor
    after = next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == successor)
    assert after == timeline + 1
    report(f"ha trio: {successor} took over from timeline {timeline} to {after}")
