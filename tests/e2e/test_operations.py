"""Operations against the agents directly: concurrency, auth, errors, stopped peers."""

import json
import os
import pwd
import signal
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.e2e


def start_pair(cluster):
    cluster.ok("pg-node01", "DELETE", "instance/all")
    assert cluster.ok("pg-node01", "POST", "instance/all") == \
        {"pg-node01": "master", "pg-node02": "slave"}


def test_health_needs_no_token_and_everything_else_does(cluster):
    status, body = cluster.call("pg-node01", "GET", "health", token=None)
    assert status == 200 and body["node"] == "pg-node01"
    status, body = cluster.call("pg-node01", "GET", "instance/current", token=None)
    assert status == 401 and body["code"] == 10
    status, body = cluster.call("pg-node01", "GET", "instance/current", token="wrong")
    assert status == 401


def test_bad_input_gets_json_errors(cluster):
    start_pair(cluster)
    for path, want in [("instance/nonsense", 404), ("walFile/..%2Fpg_hba.conf", 400),
                       ("walFile/00000001000000000000000g", 400), ("validLsn/x/0/1", 400),
                       ("walFiles/1/0/zz", 400), ("validLsn/1/0/1?record=0/2C&crc=0badcafe", 400),
                       ("validLsn/1/0/1?record=0/28", 400)]:
        status, body = cluster.call("pg-node01", "GET", path)
        assert status == want, (path, status, body)
        assert body["code"] != 0 and body["msg"]


def test_nodes_env_refuses_what_decides_who_may_call_the_agent_or_what_it_runs(cluster):
    config = cluster.nodes["pg-node01"]["config"]
    with open(config) as f:
        before = f.read()
    for field, value in [("auth_disabled", True), ("bindir", "/tmp"), ("os_user", "root"),
                         ("api_token", "chosen"), ("api_token_file", "/tmp/token"),
                         ("listen_address", "0.0.0.0"), ("tls_insecure_skip_verify", True),
                         ("tls_cert_file", "/tmp/agent.crt")]:
        status, body = cluster.call("pg-node01", "POST", "nodes/env", body={field: value})
        assert status == 400 and body["code"] == 1 and f'"{field}"' in body["msg"], (field, body)
    with open(config) as f:
        assert f.read() == before
    assert cluster.call("pg-node01", "GET", "instance/current", token=None)[0] == 401


def test_internal_routes_answer_malformed_bodies_with_400(cluster):
    holder = "pg-node02/e2e-malformed/1"
    lease = {"operation": "e2e malformed bodies", "holder": holder, "ttl_ms": 60000}
    assert cluster.ok("pg-node01", "POST", "internal/lease", body=lease)["granted"], lease
    node = {"name": "pg-node02", "agent_url": cluster.nodes["pg-node02"]["agent_url"],
            "pg_host": "127.0.0.1", "pg_port": cluster.nodes["pg-node02"]["pg_port"]}
    cases = [
        ("internal/start?as=slave", b"{not json"), ("internal/start?as=slave", {}),
        ("internal/start?as=slave", []), ("internal/start?as=slave", {"upstream": "pg-node02"}),
        ("internal/start?as=slave", {"upstream": dict(node, pg_port="5432")}),
        ("internal/pull-wal", {}), ("internal/pull-wal", {"from": node}),
        ("internal/pull-wal", {"from": node, "file": 1, "md5": "x"}),
        ("internal/pull-wal", {"from": [], "file": "x", "md5": "x"}),
        ("internal/rewind", {"source": None}), ("internal/rewind", "source"),
        ("internal/slots/take", []), ("internal/slots/take", {"slots": "cdc"}),
        ("internal/slots/take", {"slots": [{"slot": 1}]}),
        ("internal/slots/master", []), ("internal/slots/master", {"standby": 5}),
        ("internal/slots/master", {"standby": "pg-node02", "ensure_physical_slot": "yes"}),
        ("internal/slots/master", {"standby": "pg-node02", "hold": "cdc"}),
        ("internal/lease", {}), ("internal/lease", []),
        ("internal/lease", dict(lease, holder=7)), ("internal/lease", dict(lease, ttl_ms="1m")),
    ]
    try:
        for path, body in cases:
            status, answer = cluster.call("pg-node01", "POST", path, body=body,
                                          headers={"X-Pgha-Lease": holder})
            assert status == 400 and answer["code"] == 1, (path, body, status, answer)
    finally:
        cluster.ok("pg-node01", "DELETE", "internal/lease?holder=" + holder.replace("/", "%2F"))
    assert cluster.ok("pg-node01", "GET", "instance/current") == {"pg-node01": "master"}


def test_wal_routes(cluster):
    start_pair(cluster)
    lsn = cluster.ok("pg-node01", "GET", "lsn/all")
    facts = lsn["pg-node01"]
    assert set(facts) == {"chkPoint", "chkRedoPoint", "walFile", "timeLineID", "lastLsn"}
    assert lsn["pg-node02"]["timeLineID"] == facts["timeLineID"]
    tl, (hi, lo) = facts["timeLineID"], facts["chkRedoPoint"].split("/")
    files = cluster.ok("pg-node01", "GET", f"walFiles/{tl}/{hi}/{lo}")
    assert files and all(len(f["md5"]) == 32 for f in files)
    valid = cluster.ok("pg-node01", "GET", f"validLsn/{tl}/{hi}/{lo}")
    assert valid["code"] == 0 and int(valid["cnt"]) >= 1
    # The redo point's record, named with a CRC it does not have, as the last record of a
    # node that ends at the master's flush position: 5, record differs.
    end_hi, end_lo = facts["lastLsn"].split("/")
    differs = cluster.ok("pg-node01", "GET", f"validLsn/{tl}/{end_hi}/{end_lo}?record="
                         f"{facts['chkRedoPoint']}&crc=0badcafe")
    assert differs["code"] == 5 and "record differs" in differs["msg"], differs
    assert cluster.ok("pg-node01", "GET", "in_recovery") == {"in_recovery": "f"}
    assert cluster.ok("pg-node02", "GET", "in_recovery") == {"in_recovery": "t"}


def test_concurrent_operations_get_409(cluster):
    start_pair(cluster)
    barrier = threading.Barrier(6)
    results = []

    def fire(node, path):
        barrier.wait()
        results.append(cluster.call(node, "POST", path))

    threads = [threading.Thread(target=fire, args=(node, "instance/switchover/masterSlave"))
               for node in ("pg-node01", "pg-node02") for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    statuses = sorted(s for s, _ in results)
    assert len(statuses) == 6 and set(statuses) <= {200, 409}, results
    assert statuses.count(409) >= 1, results
    assert all(b["code"] == 4 and "running" in b["msg"] for s, b in results if s == 409)
    states = cluster.ok("pg-node01", "GET", "instance/all")
    assert sorted(states.values()) == ["master", "slave"], states


def agent_pid(cluster, node):
    return cluster.nodes[node]["agent_pid"]


def restart_agent(cluster, node):
    n = cluster.nodes[node]
    argv = [str(cluster.dir / "bin" / "pgha-agent"), "--config", n["config"]]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    env = dict(os.environ, PGHA_API_TOKEN_FILE=cluster.info["token_file"])
    with open(n["agent_log"], "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd="/",
                                start_new_session=True)
    # runuser may fork: `local down` needs the agent's own pid, found by its command line.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _port_open(n):
        time.sleep(0.05)
    assert cluster.call(node, "GET", "health", token=None)[0] == 200
    info = json.loads((cluster.dir / "cluster.json").read_text())
    for m in info["nodes"]:
        if m["name"] == node:
            m["agent_pid"] = _agent_pid_for(n["config"]) or proc.pid
    (cluster.dir / "cluster.json").write_text(json.dumps(info, indent=2))
    cluster.reload()


def _port_open(n):
    import socket
    port = int(n["agent_url"].rsplit(":", 1)[1])
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _agent_pid_for(config):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"pgha-agent") and config.encode() in cmd:
            return int(pid)
    return None


def test_operation_with_a_stopped_peer_agent_fails_cleanly_or_is_forced(cluster):
    start_pair(cluster)
    cluster.ok("pg-node01", "DELETE", "instance/current")
    os.kill(agent_pid(cluster, "pg-node02"), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _port_open(cluster.nodes["pg-node02"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        status, body = cluster.call("pg-node01", "POST", "instance/master")
        assert status == 503 and body["code"] == 6 and "pg-node02" in body["msg"], body
        assert cluster.ok("pg-node01", "GET", "instance/current") == {"pg-node01": "inactive"}
        body = cluster.ok("pg-node01", "POST", "instance/master?force=true")
        assert body == {"pg-node01": "single", "pg-node02": "unreachable"}
    finally:
        restart_agent(cluster, "pg-node02")
    # pg-node02's PostgreSQL kept running as a standby without its agent: it streams again.
    states = cluster.ok("pg-node01", "GET", "instance/all")
    assert states["pg-node02"] in ("slave", "recovery"), states


def _slot_active(cluster, node, slot):
    """pg_replication_slots.active of `slot` on `node` (None: no such slot)."""
    import psycopg2
    n = cluster.nodes[node]
    with psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                          dbname="postgres", connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
        return None if row is None else row[0]


def test_slave_first_start_when_the_master_lost_the_slaves_slot(cluster):
    """Seed case 04's POST instance/all/slaveMaster after a slave-first stop, when the master
    last ran as a standby (whose agent drops the physical slots a former master keeps): the
    slave, started while its master is down, must stream through its slot once the master is
    up. It was configured with a slot the master no longer had and never streamed: the
    operation waited for it until its deadline (the CI flake of seed case 04, step 02)."""
    start_pair(cluster)
    slot = "pgha_pg_node02"
    assert _slot_active(cluster, "pg-node01", slot) is True
    body = cluster.ok("pg-node01", "POST", "instance/switchover/masterSlave")
    assert body == {"pg-node01": "slave", "pg-node02": "master"}
    deadline = time.monotonic() + 30
    while _slot_active(cluster, "pg-node01", slot) is not None:
        assert time.monotonic() < deadline, "pg-node01 (a standby) kept pg-node02's slot"
        time.sleep(0.1)
    cluster.ok("pg-node01", "DELETE", "instance/slaveMaster")
    started = time.monotonic()
    status, body = cluster.call("pg-node01", "POST", "instance/all/slaveMaster")
    took = time.monotonic() - started
    assert status == 200 and body == {"pg-node01": "master", "pg-node02": "slave"}, \
        (status, body, f"{took:.1f} s")
    assert _slot_active(cluster, "pg-node01", slot) is True
