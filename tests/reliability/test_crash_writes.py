"""Crash-safe writes on real agents: the agent is SIGKILLed by its own fault point at each
stage of each file it writes (src/core/fault_point.hpp), and the file must then be the old
one or the new one, whole; the agent restarts with it and the cluster recovers.

Writers covered: the agent's configuration (POST nodes/env -> AgentConfig::Save), the
standby configuration (pgha.conf and standby.signal, written when a node becomes a slave and
rewritten when it becomes master), a WAL upload (PUT walFile on a stopped node), and the data
directory swap of pg/sync. Figures: crash_writes.json.
"""

import hashlib
import json
import pathlib

import pytest

from harness import Figures, Recovery, check_sound, wait_for

pytestmark = pytest.mark.reliability

STAGES = ["temp-written", "temp-synced", "renamed", "dir-synced"]
RENAMED = {"temp-written": False, "temp-synced": False, "renamed": True, "dir-synced": True}
UPLOAD_STAGES = ["temp-written", "temp-synced", "placed", "done"]
UPLOAD_PLACED = {"temp-written": False, "temp-synced": False, "placed": True, "done": True}


@pytest.fixture(scope="module")
def figures():
    return Figures("crash_writes")


def read(path: pathlib.Path):
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def temps_of(path: pathlib.Path):
    return sorted(p.name for p in path.parent.glob(path.name + ".pgha-tmp.*"))


def verdict(now, old, new):
    if now == new and now != old:
        return "new"
    if now == old and now != new:
        return "old"
    if now == old == new:
        return "unchanged"
    return "missing" if now is None else "torn"


def kill_during(cluster, node, point, method, path, body=None, victim=None):
    """Arms `point` so that the agent reaching it (`victim`, default `node`) kills itself,
    makes the call to `node`, and returns the fired report (None when the point was not
    reached) once the victim is known dead."""
    victim = victim or node
    cluster.arm(point, "self")
    status, answer = cluster.call(node, method, path, body=body)
    fired = cluster.disarm()
    if fired is not None:
        wait_for(lambda: not cluster.agent_alive(victim), 30, f"agent {victim} to die")
    return fired, status, answer


def test_agent_configuration(cluster, figures):
    node = cluster.names[0]
    path = pathlib.Path(cluster.nodes[node]["config"])
    original = json.loads(path.read_text())["operation_timeout_ms"]
    for i, stage in enumerate(STAGES):
        old = read(path)
        wanted = original + 1000 * (i + 1)
        fired, status, _ = kill_during(cluster, node, f"write:{stage}:{path}", "POST",
                                       "nodes/env",
                                       body=json.dumps({"operation_timeout_ms": wanted}).encode())
        assert fired and fired["result"] == "killed", (stage, status, fired)
        now = read(path)
        parsed = json.loads(now)  # whole: it parses
        value = parsed["operation_timeout_ms"]
        assert value == (wanted if RENAMED[stage] else json.loads(old)["operation_timeout_ms"])
        left = temps_of(path)
        cluster.restart_agent(node)  # starts with the file as it is
        cluster.ok(node, "POST", "nodes/env",
                   body=json.dumps({"operation_timeout_ms": original}).encode())
        cleaned = temps_of(path) == []
        figures.record({"writer": "agent configuration (POST nodes/env)", "file": path.name,
                        "stage": stage, "killed": True,
                        "content": "new" if value == wanted else "old",
                        "expected": "new" if RENAMED[stage] else "old",
                        "temp_left": len(left), "temp_removed_by_next_write": cleaned,
                        "recovered": True})
        assert cleaned, temps_of(path)


def _flip(cluster):
    """Stops both nodes, then starts the former slave as master and the other as its slave:
    the former slave's standby settings are removed, the former master's written."""
    states = cluster.states()
    master = next(n for n, s in states.items() if s == "master")
    slave = cluster.other(master)
    cluster.ok(master, "DELETE", "instance/all")
    return master, slave


def _standby_files(cluster, name):
    d = cluster.data_dir(name)
    return {"pgha.conf": read(d / "pgha.conf"), "standby.signal": read(d / "standby.signal")}


def test_standby_configuration(cluster, figures):
    Recovery(cluster).run()
    # The contents each node's files have as master and as slave, from two fault-free flips.
    as_role = {}
    for _ in range(2):
        master, slave = _flip(cluster)
        cluster.ok(slave, "POST", "instance/all")
        as_role[(slave, "master")] = _standby_files(cluster, slave)
        as_role[(master, "slave")] = _standby_files(cluster, master)
    cases = [("new master", "pgha.conf"), ("new slave", "pgha.conf"),
             ("new slave", "standby.signal")]
    for role, fname in cases:
        for stage in STAGES:
            Recovery(cluster).run()
            master, slave = _flip(cluster)
            writer_node = slave if role == "new master" else master
            new_role = "master" if role == "new master" else "slave"
            path = cluster.data_dir(writer_node) / fname
            old = read(path)
            new = as_role[(writer_node, new_role)][fname]
            fired, status, _ = kill_during(cluster, slave, f"write:{stage}:{path}", "POST",
                                           "instance/all", victim=writer_node)
            assert fired and fired["result"] == "killed", (role, fname, stage, status, fired)
            now = read(path)
            seen = verdict(now, old, new)
            expected = "new" if RENAMED[stage] else "old"
            left = temps_of(path)
            recovery = Recovery(cluster)
            recovery.run()
            check_sound(cluster, None)
            figures.record({"writer": f"standby configuration ({role})", "file": fname,
                            "stage": stage, "killed": True, "content": seen,
                            "expected": expected, "temp_left": len(left),
                            "temp_removed_by_next_write": temps_of(path) == [],
                            "recovered": True, "recovery": recovery.calls})
            assert seen in (expected, "unchanged"), (role, fname, stage, seen)


def test_wal_upload(cluster, figures):
    for stage in UPLOAD_STAGES:
        Recovery(cluster).run()
        states = cluster.states()
        master = next(n for n, s in states.items() if s == "master")
        slave = cluster.other(master)
        cluster.ok(slave, "DELETE", "instance/current")
        # Two segments the stopped slave does not have.
        for _ in range(2):
            cluster.sql(master, "CREATE TABLE IF NOT EXISTS pgha_rel_fill (x int)")
            cluster.sql(master, "INSERT INTO pgha_rel_fill VALUES (1)")
            cluster.sql(master, "SELECT pg_switch_wal()")
        tl = cluster.lsn(master)["timeLineID"]
        slave_facts = cluster.lsn(slave)
        hi, lo = slave_facts["lastLsn"].split("/")
        files = cluster.ok(master, "GET", f"walFiles/{slave_facts['timeLineID']}/{hi}/{lo}")
        wal_dir = cluster.data_dir(slave) / "pg_wal"
        missing = [f for f in files if not (wal_dir / f["file"]).exists()
                   and not f["file"].endswith(".history")]
        assert missing, (files, tl)
        ref = missing[0]
        status, data = _download(cluster, master, ref["file"])
        assert status == 200 and hashlib.md5(data).hexdigest() == ref["md5"]
        path = wal_dir / ref["file"]
        fired, status, _ = kill_during(cluster, slave, f"upload:{stage}:{path}", "PUT",
                                       f"walFile/{ref['file']}?md5={ref['md5']}", body=data)
        assert fired and fired["result"] == "killed", (stage, status, fired)
        now = read(path)
        seen = "new" if now == data else ("missing" if now is None else "torn")
        expected = "new" if UPLOAD_PLACED[stage] else "missing"
        left = sorted(p.name for p in wal_dir.glob(".pgha-upload.*"))
        cluster.restart_agent(slave)
        cluster.ok(slave, "PUT", f"walFile/{ref['file']}?md5={ref['md5']}", body=data)
        cleaned = not list(wal_dir.glob(".pgha-upload.*"))
        recovery = Recovery(cluster)
        recovery.run()
        check_sound(cluster, None)
        figures.record({"writer": "WAL upload (PUT walFile)", "file": "pg_wal/<segment>",
                        "stage": stage, "killed": True, "content": seen, "expected": expected,
                        "temp_left": len(left), "temp_removed_by_next_write": cleaned,
                        "recovered": True, "recovery": recovery.calls})
        assert seen == expected and cleaned, (stage, seen, left)


def _download(cluster, node, name):
    import urllib.request
    url = cluster.nodes[node]["agent_url"] + "/api/pg/v1/walFile/" + name
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Bearer " + cluster.token)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, resp.read()


def test_sync_directory_swap(cluster, figures):
    for stage in ["backed-up", "exchanged"]:
        Recovery(cluster).run()
        states = cluster.states()
        master = next(n for n, s in states.items() if s == "master")
        slave = cluster.other(master)
        cluster.ok(slave, "DELETE", "instance/current")
        data = cluster.data_dir(slave)
        before = (data / "global" / "pg_control").read_bytes()
        fired, status, _ = kill_during(cluster, slave, f"sync:{stage}:{data}", "POST",
                                       "pg/sync/postgres")
        assert fired and fired["result"] == "killed", (stage, status, fired)
        control = read(data / "global" / "pg_control")
        whole = control is not None and (data / "PG_VERSION").exists()
        seen = ("new" if control != before else "old") if whole else "missing"
        siblings = sorted(p.name for p in data.parent.glob(f".{data.name}.pgha-*"))
        cluster.restart_agent(slave)
        cluster.ok(slave, "POST", "pg/sync/postgres")
        cleaned = not list(data.parent.glob(f".{data.name}.pgha-*"))
        recovery = Recovery(cluster)
        recovery.run()
        check_sound(cluster, None)
        expected = "new" if stage == "exchanged" else "old"
        figures.record({"writer": "data directory swap (pg/sync)", "file": "data/",
                        "stage": stage, "killed": True, "content": seen, "expected": expected,
                        "temp_left": len(siblings), "temp_removed_by_next_write": cleaned,
                        "recovered": True, "recovery": recovery.calls})
        assert seen == expected and cleaned, (stage, seen, siblings)
