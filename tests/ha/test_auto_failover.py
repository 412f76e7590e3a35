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
    if expect_takeover:
        # Asynchronous: at most the tail of what the old master acknowledged (before it was
        # fenced: nothing later, checked above) never reached the standby.
        async_tail_rule([r for r, n, _ in writer.acked_at if n == master])(lost)
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
