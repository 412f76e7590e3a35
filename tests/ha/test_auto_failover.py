"""Automatic failover on etcd with real agents, real PostgreSQL 15 servers, three real etcd
members and a writer throughout (docs/ha.md). Each test takes the master down one way, and
checks, while a monitor samples every node every 20 ms: at most one node accepts writes at any
moment; no row is acknowledged by the old master once the new one accepts writes; the other
node takes over (or, for a crash with the agent alive, the master restarts in place); the old
master comes back as a streaming standby without a person; in asynchronous mode at most the
tail of what was acknowledged before the loss is lost. The figures are printed; speed targets
live in bench/.
"""

import os
import signal
import time

import pytest

from harness import (Monitor, Writer, async_tail_rule, process_gone, wait_for)

pytestmark = pytest.mark.ha

TAKEOVER_BOUND_S = 60  # a correctness bound for a loaded 2-core machine, not a target


def cluster_json(c, first=None) -> dict:
    """GET cluster of the first agent that answers (`first` asked first: a frozen agent
    would hold every poll for the call's timeout)."""
    for n in sorted(c.names, key=lambda n: n != first):
        status, body = c.call(n, "GET", "cluster", timeout=3)
        if status == 200:
            return body
    raise AssertionError("no agent answers GET cluster")


def leader(c, first=None):
    return cluster_json(c, first)["leader"]


def healthy(c, timeout: float = 120) -> str:
    """Waits until one node leads and is master and every other streams from it; the leader."""
    def check():
        try:
            j = cluster_json(c)
        except AssertionError:
            return None
        states = {m["name"]: m["state"] for m in j["members"]}
        if j["leader"] and states.get(j["leader"]) == "master" and len(states) == len(c.names) \
                and all(s == "slave" for n, s in states.items() if n != j["leader"]):
            return j["leader"]
        return None
    return wait_for(check, timeout, "one master leading and every other node streaming")


def writable(c, name: str) -> bool:
    try:
        return bool(c.sql(name, "SELECT NOT pg_is_in_recovery()")[0][0])
    except Exception:  # noqa: BLE001 (any failure: not writable now)
        return False


def server_pids(c, name: str) -> list:
    """Every postgres process working in `name`'s data directory."""
    target = os.path.realpath(c.data_dir(name))
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == target:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def acked_by_after(writer: Writer, node: str, moment: float) -> list:
    return [r for r, n, t in writer.acked_at if n == node and t > moment]


def run_loss(c, report, what: str, take_down, expect_takeover: bool = True) -> None:
    """The frame every test shares: healthy cluster, writer and monitor, `take_down(master)`,
    then the checks above."""
    master = healthy(c)
    other = c.other(master)
    synchronous = cluster_json(c)["synchronous_mode"]
    if synchronous:
        # The standby on record first: only then is every acknowledged commit on it.
        wait_for(lambda: cluster_json(c)["synchronous_standbys"] == [other], 60,
                 f"{other} on record as the synchronous standby")
    writer = Writer(c, table="pgha_ha_writer")
    writer.start()
    monitor = Monitor(c)
    monitor.start()
    try:
        t0 = time.monotonic()
        after = take_down(master)
        successor = other if expect_takeover else master
        wait_for(lambda: writable(c, successor) and leader(c, successor) == successor,
                 TAKEOVER_BOUND_S,
                 f"{successor} to lead and accept writes after {what}")
        t_writable = time.monotonic()
        report(f"ha: {what}: {successor} writable {t_writable - t0:.2f} s after the loss")
        wait_for(lambda: any(n == successor and t > t_writable for _, n, t in writer.acked_at),
                 30, "the writer's first row on the new master")
        if after:
            after()
        if expect_takeover and not c.agent_alive(master):
            c.restart_agent(master)
        assert healthy(c) == successor
    finally:
        writer.stop()
        figures = monitor.finish()
    report(f"ha: {what}: monitor {figures}")
    assert figures["two_primaries_samples"] == 0, figures
    late = acked_by_after(writer, master, t_writable) if expect_takeover else []
    assert late == [], f"the old master acknowledged rows after {successor} took over: {late[:10]}"
    lost = writer.lost_on(successor)
    if synchronous:
        assert lost == [], f"synchronous mode lost acknowledged rows: {lost[:10]}"
    elif expect_takeover:
        # Asynchronous: at most the tail of what the old master acknowledged (before it was
        # fenced: nothing later, checked above) never reached the standby.
        async_tail_rule([(r, t) for r, n, t in writer.acked_at if n == master])(lost)
    else:
        assert lost == [], f"a restart in place lost rows: {lost[:10]}"
    report(f"ha: {what}: {len(writer.acked)} rows acknowledged, {len(lost)} lost")
    standby = c.other(successor)

    def standby_has_all():
        present = set(writer.rows_on(standby))
        return all(r in present for r in writer.acked if r not in lost)
    wait_for(standby_has_all, 60, "the standby to have every row the master has")


def test_kill_of_the_masters_agent_and_postmaster(ha_cluster, report):
    c = ha_cluster

    def down(master):
        pm = c.postmaster_pid(master)
        c.kill_agent(master)
        if pm:
            os.kill(pm, signal.SIGKILL)
        return None

    run_loss(c, report, "kill -9 of agent and postmaster", down)


def test_kill_of_the_postmaster_alone_restarts_it_in_place(ha_cluster, report):
    c = ha_cluster
    master = healthy(c)
    tl = next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == master)
    run_loss(c, report, "kill -9 of the postmaster alone", lambda m: c.kill_postmaster(m) and None,
             expect_takeover=False)
    assert next(m["timeline"] for m in cluster_json(c)["members"] if m["name"] == master) == tl


def test_kill_of_the_agent_alone_lets_the_guard_fence(ha_cluster, report):
    c = ha_cluster

    def down(master):
        c.kill_agent(master)  # PostgreSQL runs on: only the fence guard can stop it

        def fenced():
            wait_for(lambda: not server_pids(c, master), 30, f"{master}'s server to be fenced")
        return fenced

    run_loss(c, report, "kill -9 of the agent alone", down)


def test_freeze_of_the_masters_agent_postmaster_and_backends(ha_cluster, report):
    c = ha_cluster
    frozen = []

    def down(master):
        pids = [c.agent_pid(master)] + server_pids(c, master)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        frozen.extend(pids)

        def thaw():
            for pid in frozen:
                if not process_gone(pid):
                    os.kill(pid, signal.SIGCONT)
        return thaw

    run_loss(c, report, "SIGSTOP of agent, postmaster and backends, then SIGCONT", down)


# ---- the store's own failures -------------------------------------------------------------

def etcd_leader(c):
    """The name of the etcd member that leads, asked of every member's status (the JSON
    gateway), or None when they do not agree yet."""
    import json
    import urllib.request
    leaders, own = set(), {}
    for m in c.info["etcd"]["members"]:
        try:
            req = urllib.request.Request(m["client_url"] + "/v3/maintenance/status", data=b"{}",
                                         method="POST")
            with urllib.request.urlopen(req, timeout=2) as r:
                st = json.loads(r.read())
        except OSError:
            continue
        if "leader" not in st:  # the gateway leaves out zero values: no leader seen yet
            return None
        leaders.add(st["leader"])
        own[st.get("header", {}).get("member_id")] = m["name"]
    if len(leaders) != 1:
        return None
    return own.get(next(iter(leaders)))


def etcd_member(c, name):
    return next(m for m in c.info["etcd"]["members"] if m["name"] == name)


def local_start(c, name, check=True):
    import subprocess
    from harness import BIN
    res = subprocess.run([str(BIN / "pghactl"), "local", "start", str(c.dir), name],
                         capture_output=True, text=True, timeout=120)
    if check:
        assert res.returncode == 0, res.stderr
    c.reload()


def test_losing_the_etcd_leader_member_demotes_no_one(ha_cluster, report):
    c = ha_cluster
    master = healthy(c)
    writer = Writer(c, table="pgha_ha_writer")
    writer.start()
    monitor = Monitor(c)
    monitor.start()
    try:
        victim = wait_for(lambda: etcd_leader(c), 30, "an etcd leader")
        pid = int(etcd_member(c, victim)["pid"])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: process_gone(pid), 30, f"etcd member {victim} to exit")
        killed = time.monotonic()
        wait_for(lambda: etcd_leader(c) not in (None, victim), 30, "a new etcd leader")
        # Several leases long, the master keeps leading and writing: quorum was kept.
        while time.monotonic() - killed < 10:
            assert writable(c, master), f"{master} stopped accepting writes"
            assert leader(c, master) == master
            time.sleep(0.2)
        local_start(c, victim)
        wait_for(lambda: etcd_leader(c) is not None, 30, "all members agreeing on a leader")
    finally:
        writer.stop()
        figures = monitor.finish()
    assert figures["two_primaries_samples"] == 0, figures
    assert writer.lost_on(master) == []
    assert not [t for _, n, t in writer.acked_at if n != master]
    assert healthy(c) == master
    report(f"ha: etcd leader member {victim} killed: {master} kept leading, "
           f"{len(writer.acked)} rows, none lost")


def test_losing_every_etcd_member_stops_writes_and_their_return_restores_a_master(ha_cluster,
                                                                               report):
    """No store, no proof of leadership: the master fences itself before its lease could
    have expired (pgha has no failsafe mode, docs/ha.md), so no node writes while etcd is
    gone; once the members are back, the cluster elects a master and the other node follows."""
    c = ha_cluster
    master = healthy(c)
    writer = Writer(c, table="pgha_ha_writer")
    writer.start()
    monitor = Monitor(c)
    monitor.start()
    try:
        pids = [int(m["pid"]) for m in c.info["etcd"]["members"]]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(process_gone(p) for p in pids), 30, "every etcd member to exit")
        gone_at = time.monotonic()
        wait_for(lambda: not writable(c, master) and not writable(c, c.other(master)), 30,
                 "the master to fence itself")
        fenced_after = time.monotonic() - gone_at
        # Nothing writes while the store is gone.
        while time.monotonic() - gone_at < fenced_after + 5:
            assert not any(writable(c, n) for n in c.names)
            time.sleep(0.2)
        last_ack = max(t for _, _, t in writer.acked_at)
        # A member alone has no quorum, so `local start` of the first ones reports it not
        # ready; it runs, and the next ones make the quorum.
        for m in c.info["etcd"]["members"]:
            local_start(c, m["name"], check=False)
        wait_for(lambda: etcd_leader(c) is not None, 60, "the etcd members to elect a leader")
        new_master = healthy(c)
    finally:
        writer.stop()
        figures = monitor.finish()
    assert figures["two_primaries_samples"] == 0, figures
    assert last_ack - gone_at < fenced_after + 0.5
    lost = writer.lost_on(new_master)
    if cluster_json(c)["synchronous_mode"]:
        assert lost == [], f"synchronous mode lost acknowledged rows: {lost[:10]}"
    else:
        async_tail_rule([(r, t) for r, n, t in writer.acked_at if n == master])(lost)
    report(f"ha: every etcd member killed: {master} fenced itself {fenced_after:.2f} s later; "
           f"{new_master} leads after their return")
