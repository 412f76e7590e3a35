"""Kill -9 at every step of switchover (both orders) and failover (both methods).

For each operation, each step index i that the operation records (Cluster::Run::Step), and
each target, the agents' fault point "op:<operation>:<i>:begin" SIGKILLs the target exactly
when the coordinating agent begins step i (src/core/fault_point.hpp); one more point is the
end of the last step. Targets: the master's postmaster, the slave's postmaster, the
coordinating agent and the other agent (failover: the master's postmaster is what failed, so
the others only). A writer inserts rows throughout. Afterwards the recovery procedure of
docs/reliability.md runs (restart killed agents, then the documented calls), and the cluster
must be sound: one master, the other a streaming slave on its timeline, validLsn 0 for the
slave's position, the same rows on both, and no acknowledged row missing on the master: every
operation here promises none (a switchover; a failover copies the WAL of the killed master
from its pg_wal while its agent answers, and stops with 503 when that agent stops answering).
A monitor (harness.Monitor) samples both servers from before the operation until the cluster
is sound: no sample may have two nodes answering "primary"; its unknown samples are recorded.
The agents run with a 30 s operation deadline, so that a step waiting for a state the kill
made impossible fails in 30 s rather than 120 s.

Selection (for a shorter run): PGHA_FAULT_OPS (comma-separated operation names),
PGHA_FAULT_TARGETS (target names), PGHA_FAULT_STEPS (indices). Figures: faults.json.
"""

import json
import os
import time
import traceback

import pytest

from harness import (Figures, LocalCluster, Monitor, Recovery, Writer, async_tail_rule,
                     check_sound, wal_position)

pytestmark = pytest.mark.reliability

OPERATIONS = {
    "switchover masterSlave": "instance/switchover/masterSlave",
    "switchover slaveMaster": "instance/switchover/slaveMaster",
    "failover restart": "instance/failover/restart",
    "failover promote": "instance/failover/promote",
}
SWITCHOVER_TARGETS = ["master postmaster", "slave postmaster", "coordinator agent", "peer agent"]
FAILOVER_TARGETS = ["slave postmaster", "coordinator agent", "peer agent"]
MAX_STEPS = 60  # bounds the walk over step indices


def _selected(variable, default):
    text = os.environ.get(variable, "").strip()
    return [x.strip() for x in text.split(",") if x.strip()] if text else default


def _target_spec(c: LocalCluster, target: str, master: str, slave: str, coordinator: str):
    if target == "master postmaster":
        return c.postmaster_target(master)
    if target == "slave postmaster":
        return c.postmaster_target(slave)
    if target == "coordinator agent":
        return c.agent_target(coordinator, coordinator)
    return c.agent_target(c.other(coordinator), coordinator)


OPERATION_TIMEOUT_MS = 30000  # a step waiting for a state that cannot come fails sooner


def _new_cluster() -> LocalCluster:
    c = LocalCluster()
    for n in c.names:
        c.ok(n, "POST", "nodes/env",
             body=json.dumps({"operation_timeout_ms": OPERATION_TIMEOUT_MS}).encode())
    return c


class Trials:
    def __init__(self):
        self.c = _new_cluster()
        self.figures = Figures("faults", {"operations": list(OPERATIONS),
                                          "operation_timeout_ms": OPERATION_TIMEOUT_MS})
        self.failures = []

    def rebuild(self):
        self.c.down()
        self.c = _new_cluster()

    def run(self, op: str, index: int, when: str, target: str) -> dict:
        c = self.c
        started = time.monotonic()
        entry = {"operation": op, "index": index, "when": when, "target": target}
        writer = None
        monitor = None
        try:
            Recovery(c).run()
            states = c.states()
            master = next(n for n, s in states.items() if s == "master")
            slave = c.other(master)
            failover = op.startswith("failover")
            coordinator = slave if failover else master
            entry["roles"] = {master: "master", slave: "slave"}
            entry["timeline_before"] = wal_position(c.lsn(master))[0]
            writer = Writer(c)
            writer.start()
            monitor = Monitor(c)
            monitor.start()
            if failover:
                assert c.kill_postmaster(master), "no master postmaster to kill"
            c.arm(f"op:{op}:{index}:{when}", _target_spec(c, target, master, slave,
                                                          coordinator))
            status, body = c.call(coordinator, "POST", OPERATIONS[op])
            fired = c.disarm()
            entry["answer"] = status
            entry["answer_msg"] = (body.get("msg") if isinstance(body, dict) and "msg" in body
                                   else body if status != 200 else "")
            entry["fired"] = fired is not None
            if fired:
                entry["step"] = fired.get("detail", "")
                entry["kill"] = fired.get("result", "")
            recovery = Recovery(c)
            recovery.run()
            entry["recovery"] = recovery.calls
            writer.stop()
            entry.update(monitor.finish())
            monitor = None
            assert entry["two_primaries_samples"] == 0, entry["first_two_primaries"]
            sound = check_sound(c, writer)
            entry.update(sound)
            entry["ok"] = True
        except Exception as e:  # recorded, and the cluster rebuilt for the next trial
            entry["ok"] = False
            entry["error"] = f"{type(e).__name__}: {e}"[:2000]
            entry["trace"] = traceback.format_exc()[-3000:]
            if writer is not None:
                writer.stop()
            if monitor is not None:
                entry.update(monitor.finish())
            self.failures.append(entry)
            c.disarm()
            self.rebuild()
        entry["seconds"] = round(time.monotonic() - started, 1)
        self.figures.record(entry)
        return entry


def test_kill_at_every_step():
    ops = _selected("PGHA_FAULT_OPS", list(OPERATIONS))
    steps = _selected("PGHA_FAULT_STEPS", None)
    trials = Trials()
    try:
        for op in ops:
            targets = SWITCHOVER_TARGETS if op.startswith("switchover") else FAILOVER_TARGETS
            targets = [t for t in targets if t in _selected("PGHA_FAULT_TARGETS", targets)]
            last = None
            for index in range(MAX_STEPS):
                if steps is not None and str(index) not in steps:
                    if index > max(int(s) for s in steps):
                        break
                    continue
                reached = False
                for target in targets:
                    entry = trials.run(op, index, "begin", target)
                    reached = reached or entry.get("fired", False) or not entry["ok"]
                if not reached:
                    break  # the operation has no step `index`
                last = index
            if last is not None and steps is None:
                for target in targets:
                    trials.run(op, last, "end", target)
    finally:
        trials.c.down()
    summary = [f"{f['operation']} {f['index']}:{f['when']} {f['target']}: {f['error']}"
               for f in trials.failures]
    assert not trials.failures, "\n".join(summary)


def test_failover_when_the_old_masters_host_is_gone():
    """What asynchronous replication loses: the master's postmaster and its agent are killed
    together while the writer runs (its host is gone: nobody can copy its last WAL), the
    failover is forced on the slave, and later the old host comes back (its agent restarted)
    and the recovery procedure runs. What may be lost is bounded (harness.async_tail_rule):
    a tail of the rows acknowledged before the kill, all of them within ASYNC_TAIL_WINDOW_S of
    the last one; every row acknowledged after it must be there. PGHA_ASYNC_ROUNDS rounds per method (default 5).
    Figures: async_loss.json."""
    rounds = int(os.environ.get("PGHA_ASYNC_ROUNDS", "5"))
    figures = Figures("async_loss", {"rounds": rounds})
    failures = []
    c = _new_cluster()
    try:
        for method in ("restart", "promote"):
            for i in range(rounds):
                entry = {"method": method, "round": i + 1}
                writer = None
                try:
                    Recovery(c).run()
                    master = next(n for n, s in c.states().items() if s == "master")
                    slave = c.other(master)
                    entry["timeline_before"] = wal_position(c.lsn(master))[0]
                    writer = Writer(c)
                    writer.start(min_rows=200)
                    c.kill_agent(master)
                    c.kill_postmaster(master)
                    acked_at_kill = [(r, t) for r, n, t in writer.acked_at if n == master]
                    entry["acknowledged_at_kill"] = len(acked_at_kill)
                    status, body = c.call(slave, "POST", f"instance/failover/{method}?force=true")
                    entry["answer"] = status
                    if status != 200:
                        entry["answer_msg"] = body.get("msg") if isinstance(body, dict) else body
                    recovery = Recovery(c)
                    recovery.run()
                    entry["recovery"] = recovery.calls
                    writer.stop()
                    entry.update(check_sound(c, writer, async_tail_rule(acked_at_kill)))
                    # A diverged old master is refused at once (409), never started to sit in
                    # recovery until the deadline (504).
                    stuck = [call for call in recovery.calls
                             if "instance/slave" in call and call.endswith("-> 504")]
                    assert not stuck, f"a node was started and never streamed: {stuck}"
                    entry["ok"] = True
                except Exception as e:
                    entry["ok"] = False
                    entry["error"] = f"{type(e).__name__}: {e}"[:2000]
                    if writer is not None:
                        writer.stop()
                    failures.append(entry)
                    c.down()
                    c = _new_cluster()
                figures.record(entry)
    finally:
        c.down()
    assert not failures, "\n".join(f"{f['method']} {f['round']}: {f['error']}" for f in failures)
