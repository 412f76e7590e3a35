"""Manual switchover and failover while automatic failover is in charge (docs/ha.md, "Manual
operations"): the seed's routes take the store's operation lock, hold every agent's loop,
and move the leader key to the new master before the loops go on, so that a person and the
loop never fight. Real agents, PostgreSQL 15 servers and three etcd members, a writer and a
monitor throughout.
"""

import threading
import time

import pytest

from conftest import writing
from harness import wait_for
from test_auto_failover import TAKEOVER_BOUND_S, cluster_json, healthy, writable

pytestmark = pytest.mark.ha


def test_switchover_both_ways_moves_the_leader_key_with_the_master(ha_cluster, report):
    c = ha_cluster
    master = healthy(c)
    tl = next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == master)
    with writing(c, "pgha_ha_manual") as writer:
        for order in ("masterSlave", "slaveMaster"):
            slave = c.other(master)
            t0 = time.monotonic()
            body = c.ok(master, "POST", f"instance/switchover/{order}")
            report(f"ha manual: switchover/{order} answered in {time.monotonic() - t0:.2f} s")
            assert body == {master: "slave", slave: "master"}, body
            # The key moved before the answer: no election, no fencing of the new master.
            j = cluster_json(c)
            assert j["leader"] == slave, j
            assert not j["paused"], j
            assert healthy(c) == slave
            master = slave
            wait_for(lambda: any(n == master and t > t0 for _, n, t in writer.acked_at), 30,
                     f"a row acknowledged by {master}")
    assert writer.lost_on(master) == []
    # A switchover stops the master cleanly: the same timeline, nothing to elect.
    assert next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == master) == tl
    assert healthy(c) == master


def test_two_operations_at_once_one_is_refused(ha_cluster):
    c = ha_cluster
    master = healthy(c)
    answers = []

    def switchover(node):
        answers.append(c.call(node, "POST", "instance/switchover/masterSlave"))

    threads = [threading.Thread(target=switchover, args=(n,)) for n in c.names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    statuses = sorted(s for s, _ in answers)
    assert statuses == [200, 409], answers
    new_master = healthy(c)
    assert new_master == c.other(master)
    assert cluster_json(c)["leader"] == new_master


def test_forced_failover_with_the_masters_host_gone(ha_cluster, report):
    """The master's agent and postmaster are killed; a person forces the failover on the
    standby at once, before the loop would have elected it. The operation waits for the old
    leader's lease to run out (its fence guard would have stopped a server still running),
    promotes, and moves the key; the old host, back, rejoins by itself."""
    c = ha_cluster
    master = healthy(c)
    standby = c.other(master)
    with writing(c, "pgha_ha_manual_failover") as writer:
        c.kill_agent(master)
        c.kill_postmaster(master)
        t0 = time.monotonic()
        status, body = c.call(standby, "POST", "instance/failover/promote?force=true")
        report(f"ha manual: forced failover answered {status} in {time.monotonic() - t0:.2f} s")
        assert status == 200, body
        assert body == {master: "unreachable", standby: "single"}, body
        assert cluster_json(c, standby)["leader"] == standby
        wait_for(lambda: writable(c, standby), TAKEOVER_BOUND_S, f"{standby} to accept writes")
        t_new = time.monotonic()
        wait_for(lambda: any(n == standby and t > t_new for _, n, t in writer.acked_at), 30,
                 f"a row acknowledged by {standby}")
    c.restart_agent(master)
    assert healthy(c) == standby
