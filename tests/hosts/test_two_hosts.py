"""pgha on two real hosts: each node in its own network namespace with its own address
(netns.py, conftest.py, docs/hosts.md), set up by the seed's procedure with the seed's
environment (SUBNET=203.0.113.0 MASK=24, LOCAL_NODE/REMOTE_NODE host names, ports 8079/5432),
with passwords: every TCP connection between the hosts uses scram-sha-256.

1. The seed's setup procedure gives master/slave, and pg-node02 streams from 203.0.113.1.
2. The seed's six test cases, then a switchover each way with rows written before.
3. Security: no `trust` in pg_hba.conf, replication refused without the password, the
   passfile, and no password in any log, settings file or GET answer.
4. A rewind runs as the rewind role (no superuser, only pg_rewind's function grants).

The tests run in this order on one pair (module scope).
"""

import json
import pwd
import stat

import pytest

from conftest import (DATABASE, PG_USER, REPLICATE_USER, REWIND_USER, wait_for)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N1, N2 = "pg-node01", "pg-node02"
CASES = ["testCase01", "testCase02", "testCase03", "testCase04", "testCase05", "testCase06"]


@pytest.fixture(scope="module")
def ready(pair):
    """The seed's setup procedure, once: POST nodes/env on each, pg/init/datasync on
    pg-node01, pg/sync/datasync on pg-node02, POST instance/all. Returns the answers; a step
    that fails stops here (every test of the module then reports that step)."""
    answers = {}
    for node, method, path in [(N1, "POST", "nodes/env"), (N2, "POST", "nodes/env"),
                               (N1, "POST", f"pg/init/{DATABASE}"),
                               (N2, "POST", f"pg/sync/{DATABASE}"),
                               (N1, "POST", "instance/all")]:
        status, body = pair.call(node, method, path)
        answers[(node, path)] = body
        if status != 200:  # reported by every test of the module: the first 600 characters
            pytest.fail(f"setup: {method} {path} on {node}: {status} {json.dumps(body)[:600]}",
                        pytrace=False)
    return answers


def replication_rows(pair, master):
    return pair.sql(master, "SELECT application_name, client_addr, state "
                            "FROM pg_stat_replication ORDER BY 1")


def wait_streaming(pair, master, slave):
    """Polls until `slave` streams from `master` over the replication network."""
    other = pair.host(slave).address
    wait_for(f"{slave} streaming from {master}",
             lambda: replication_rows(pair, master) == [(slave, other, "streaming")])


def start_pair(pair):
    pair.ok(N1, "DELETE", "instance/all")
    assert pair.ok(N1, "POST", "instance/all") == {N1: "master", N2: "slave"}
    wait_streaming(pair, N1, N2)


def timeline(pair, node):
    return int(pair.ok(node, "GET", "lsn/current")[node]["timeLineID"])


# -- 1. the seed's setup procedure -----------------------------------------------------------

def test_the_seed_setup_procedure_makes_a_pair_that_streams_across_hosts(pair, ready):
    assert ready[(N1, "nodes/env")]["local_node"] == N1
    assert ready[(N1, "nodes/env")]["remote_node"] == N2
    assert ready[(N2, "nodes/env")]["local_node"] == N2
    assert ready[(N2, "nodes/env")]["remote_node"] == N1
    # What the seed's variables made of each configuration (POST nodes/env persisted it):
    # the peer from REMOTE_NODE, the pg_hba.conf network from SUBNET/MASK.
    for node in (N1, N2):
        config = json.loads((pair.node_dir(node) / "agent.json").read_text())
        peer = pair.other(node)
        assert {(n["name"], n["agent_url"], n["pg_host"], n["pg_port"])
                for n in config["nodes"]} == {(node, f"http://{node}:8079", node, 5432),
                                              (peer, f"http://{peer}:8079", peer, 5432)}
        assert (config["subnet"], config["mask"], config["listen_port"]) == ("203.0.113.0", 24, 8079)
    assert ready[(N1, "instance/all")] == {N1: "master", N2: "slave"}
    assert pair.ok(N2, "GET", "instance/all") == {N1: "master", N2: "slave"}
    # pg-node01 sees pg-node02's walsender connection come from 203.0.113.2 ...
    wait_streaming(pair, N1, N2)
    # ... and pg-node02's walreceiver streams from pg-node01, i.e. 203.0.113.1 (the host name
    # of primary_conninfo, resolved by /etc/hosts inside the namespace).
    rows = pair.sql(N2, "SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver")
    assert len(rows) == 1 and rows[0][0] == "streaming" and rows[0][2] == "5432", rows
    sender = rows[0][1]
    if sender != "203.0.113.1":
        assert sender == N1, rows
        resolved = pair.host(N2).run("getent", "hosts", sender, check=True).stdout.split()[0]
        assert resolved == "203.0.113.1"
    # PostgreSQL listens beyond loopback (the walsender connection above came over TCP from
    # the other host).
    for node in (N1, N2):
        listen = pair.sql(node, "SHOW listen_addresses")[0][0]
        assert listen not in ("", "localhost", "127.0.0.1"), (node, listen)
    # A row written on the master is read on the slave: the stream carries data.
    pair.sql(N1, "CREATE TABLE hosts_setup (id int PRIMARY KEY)")
    pair.sql(N1, "INSERT INTO hosts_setup SELECT generate_series(1, 100)")
    wait_for("the rows on pg-node02",
             lambda: pair.psql(N2, "SELECT count(*) FROM hosts_setup").stdout.strip() == "100")


# -- 2. the seed's test cases and switchovers ------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_seed_case(pair, ready, case):
    body = pair.ok(N1, "POST", "test/" + case)
    steps = {k: v for k, v in body.items() if isinstance(v, dict) and "cmd" in v}
    failed = {k: v for k, v in steps.items() if not v["pass"]}
    assert not failed, json.dumps(failed, indent=1)
    assert body["result"] == "pass", body
    writer = body["writer"]
    assert writer["acknowledged"] > 0 and writer["lost"] == 0, writer
    for step in steps.values():
        assert step["states"] == step["expected"]
        # Every step's call went to a node by its host name (the seed's curl calls).
        assert "http://pg-node0" in step["cmd"], step
    if case in ("testCase05", "testCase06"):
        tl = next(s["timeline"] for s in steps.values() if "timeline" in s)
        assert tl["after"] == tl["before"] + (1 if case == "testCase06" else 0)


def test_switchover_both_ways_keeps_every_row(pair, ready):
    start_pair(pair)
    pair.sql(N1, "DROP TABLE IF EXISTS hosts_switch; "
                 "CREATE TABLE hosts_switch (id int PRIMARY KEY, node text)")
    pair.sql(N1, "INSERT INTO hosts_switch SELECT g, 'pg-node01' FROM generate_series(1, 500) g")
    expected = 500
    for order, new_master, new_slave in [("masterSlave", N2, N1), ("slaveMaster", N1, N2)]:
        assert pair.ok(N1, "POST", "instance/switchover/" + order) == \
            {new_master: "master", new_slave: "slave"}
        assert pair.sql(new_master, "SELECT count(*), max(id) FROM hosts_switch") == \
            [(str(expected), str(expected))]
        wait_streaming(pair, new_master, new_slave)
        pair.sql(new_master, f"INSERT INTO hosts_switch SELECT g, '{new_master}' "
                             f"FROM generate_series({expected + 1}, {expected + 500}) g")
        expected += 500
        wait_for(f"the rows on {new_slave}", lambda: pair.sql(
            new_slave, "SELECT count(*) FROM hosts_switch") == [(str(expected),)])
    assert pair.sql(N1, "SELECT node, count(*) FROM hosts_switch GROUP BY 1 ORDER BY 1") == \
        [(N1, "1000"), (N2, "500")]


# -- 3. security ---------------------------------------------------------------------------

def hba_rules(pair, node):
    text = (pair.data_dir(node) / "pg_hba.conf").read_text()
    return [line.split() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_pg_hba_has_no_trust_and_tcp_uses_scram(pair, ready):
    for node in (N1, N2):
        rules = hba_rules(pair, node)
        assert rules, f"{node}: pg_hba.conf has no rule"
        assert not [r for r in rules if "trust" in r], (node, rules)
        host_rules = [r for r in rules if r[0].startswith("host")]
        assert host_rules and all(r[-1] == "scram-sha-256" for r in host_rules), \
            (node, host_rules)
        assert ["host", "replication", f'"{REPLICATE_USER}"', "203.0.113.0/24",
                "scram-sha-256"] in rules or \
            ["host", "replication", REPLICATE_USER, "203.0.113.0/24", "scram-sha-256"] in rules, \
            (node, rules)
        # The roles have scram verifiers; the rewind role is no superuser.
        rows = pair.sql(node, "SELECT rolname, rolsuper, rolreplication, "
                              "rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                              f"WHERE rolname IN ('{PG_USER}', '{REPLICATE_USER}', "
                              f"'{REWIND_USER}') ORDER BY 1")
        assert rows == [(REWIND_USER, "f", "f", "t"), (PG_USER, "t", "t", "t"),
                        (REPLICATE_USER, "f", "t", "t")], (node, rows)


def test_replication_across_hosts_needs_the_password(pair, ready):
    start_pair(pair)
    for target, source in ((N1, N2), (N2, N1)):
        # From the other host, as the replicate role, without a password: refused.
        res = pair.psql(target, "IDENTIFY_SYSTEM", user=REPLICATE_USER, password=None,
                        via=source, replication="true")
        assert res.returncode != 0, res.stdout
        assert "no password supplied" in res.stderr or \
            "password authentication failed" in res.stderr, res.stderr
        # With a wrong one: refused too.
        res = pair.psql(target, "IDENTIFY_SYSTEM", user=REPLICATE_USER, password="wrong",
                        via=source, replication="true")
        assert res.returncode != 0 and "password authentication failed" in res.stderr, \
            res.stderr
        # With the password: a replication session (the system identifier of pg_control).
        res = pair.psql(target, "IDENTIFY_SYSTEM", user=REPLICATE_USER, via=source,
                        replication="true")
        assert res.returncode == 0, res.stderr
        sysid = pair.sql(target, "SELECT system_identifier FROM pg_control_system()")[0][0]
        assert res.stdout.split("\t")[0] == sysid, res.stdout
        # The superuser over TCP without a password: refused as well (no trust anywhere).
        res = pair.psql(target, "SELECT 1", password=None, via=source)
        assert res.returncode != 0 and ("no password supplied" in res.stderr or
                                        "password authentication failed" in res.stderr)


def test_the_passfile_is_the_postgres_accounts_alone(pair, ready):
    pg = pwd.getpwnam(PG_USER)
    for node in (N1, N2):
        path = pair.passfile(node)
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (pg.pw_uid, pg.pw_gid), (path, st.st_uid)
        # The replication stream uses it: primary_conninfo names no password.
        conf = (pair.data_dir(node) / "pgha.conf")
        if conf.exists():
            assert "password=" not in conf.read_text()


GET_ROUTES = ["health", "instance/current", "instance/all", "lsn/current", "lsn/all",
              "in_recovery", "internal/facts", "internal/state", "internal/slots/status",
              "slots", "nodes/env"]


def test_no_password_is_written_anywhere(pair, ready):
    start_pair(pair)
    s = pair.secrets
    secrets_ = {"replicate password": s.replicate, "superuser password": s.superuser,
                "rewind password": s.rewind, "DB_PASSWD": s.db, "API token": s.api_token}
    places = {}
    for node in (N1, N2):
        for path in [pair.agent_log(node), pair.server_log(node),
                     pair.node_dir(node) / "agent.json"] + \
                sorted(pair.data_dir(node).glob("*.conf")) + \
                sorted(pair.data_dir(node).glob("*.signal")):
            places[str(path)] = path.read_text(errors="replace")
        for route in GET_ROUTES:
            status, body = pair.call(node, "GET", route)
            places[f"GET {route} on {node} ({status})"] = json.dumps(body)
    assert any("postgresql.auto.conf" in p for p in places) and \
        any("pgha.conf" in p for p in places), sorted(places)
    # DB_PASSWD is a field of the configuration file (the seed's variable, which POST
    # nodes/env persists there): not a leak in agent.json, one anywhere else.
    leaks = [(what, where) for what, value in secrets_.items()
             for where, text in places.items() if value in text
             and not (what == "DB_PASSWD" and where.endswith("agent.json"))]
    assert not leaks, leaks


# -- 4. the rewind role ----------------------------------------------------------------------

def test_a_rewind_runs_as_the_rewind_role(pair, ready, topology):
    """pg-node02 is promoted while the replication link is cut (forced failover), pg-node01
    goes on writing as a master of the old timeline, then stops and rejoins as a slave:
    validLsn says it diverged (4), so its agent runs pg_rewind from pg-node02, which must
    connect as the rewind role."""
    start_pair(pair)
    for node in (N1, N2):  # the rewind source logs the connections it authorizes
        pair.sql(node, "ALTER SYSTEM SET log_connections = on")
        pair.sql(node, "SELECT pg_reload_conf()")
        wait_for(f"log_connections on {node}",
                 lambda: pair.sql(node, "SHOW log_connections") == [("on",)])
    tl = timeline(pair, N2)
    with topology.partition():
        status, body = pair.call(N2, "POST", "instance/failover/promote")
        assert status == 503 and body["code"] == 6, body  # the old master cannot be asked
        assert pair.ok(N2, "POST", "instance/failover/promote?force=true") == \
            {N1: "unreachable", N2: "single"}
        assert timeline(pair, N2) == tl + 1
        # pg-node01 still runs as a master of timeline `tl`: its WAL diverges.
        pair.sql(N1, "CREATE TABLE hosts_diverged AS SELECT generate_series(1, 1000) AS id")
    assert timeline(pair, N1) == tl
    log_offset = pair.server_log(N2).stat().st_size
    assert pair.ok(N1, "DELETE", "instance/current")[N1] == "inactive"
    status, body = pair.call(N1, "POST", "instance/slave")
    assert status == 200 and body == {N1: "slave", N2: "master"}, (status, body)
    wait_streaming(pair, N2, N1)
    # Rewound, not copied again: it follows the new timeline, and what it wrote after the
    # switch point is gone.
    assert timeline(pair, N1) == tl + 1
    assert pair.sql(N1, "SELECT to_regclass('hosts_diverged') IS NULL") == [("t",)]
    with open(pair.server_log(N2), "rb") as f:
        f.seek(log_offset)
        log = f.read().decode(errors="replace")
    # Besides the agent's own sessions (application_name=pgha), this test's and the
    # replication connection, pg-node02 saw the rewind's: pg_rewind's and the CHECKPOINT
    # before it (application_name=pgha_rewind). Each must be the rewind role's.
    authorized = [line for line in log.splitlines()
                  if "connection authorized:" in line and "replication connection" not in line]
    rewind = [line for line in authorized
              if "application_name=pgha " not in line + " "
              and "application_name=pgha-hosts-test" not in line]
    assert rewind, authorized
    assert all(f"connection authorized: user={REWIND_USER} " in line + " " for line in rewind), \
        rewind
    # The role: no superuser, and EXECUTE on exactly the functions pg_rewind calls.
    assert pair.sql(N2, f"SELECT rolsuper, rolcanlogin FROM pg_roles "
                        f"WHERE rolname = '{REWIND_USER}'") == [("f", "t")]
    for fn in ("pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)",
               "pg_read_binary_file(text)", "pg_read_binary_file(text, bigint, bigint, boolean)"):
        assert pair.sql(N2, f"SELECT has_function_privilege('{REWIND_USER}', '{fn}', "
                            "'EXECUTE')") == [("t",)], fn
