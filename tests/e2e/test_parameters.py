"""Server parameters in the agent's configuration (`parameters`, as Patroni's): written at
every start over pgha's defaults, applied by POST nodes/env at once (reload) with the ones that
wait for a restart named, refused whole when PostgreSQL refuses a value, and shown by
GET parameters."""

import time

import psycopg2
import pytest

pytestmark = pytest.mark.e2e


def show(cluster, node: str, name: str) -> str:
    n = cluster.nodes[node]
    with psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                          dbname="postgres", connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting(%s)", (name,))
        return cur.fetchone()[0]


def wait_setting(cluster, node: str, name: str, value: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while show(cluster, node, name) != value:
        assert time.monotonic() < deadline, f"{node}: {name} never became {value}"
        time.sleep(0.05)


def test_defaults_reload_pending_restart_and_refusal(cluster):
    major = int(show(cluster, "pg-node01", "server_version_num")) // 10000
    for node in cluster.names:
        got = cluster.ok(node, "GET", "parameters")
        assert got["parameters"]["wal_log_hints"] == "on"
        assert got["pending_restart"] == []
        if major < 13:  # no such setting before 13: pgha does not write it
            assert "max_slot_wal_keep_size" not in got["parameters"]
            continue
        assert got["parameters"]["max_slot_wal_keep_size"] == "8GB"
        # Written at the start: a dead standby's slot cannot fill the master's disk.
        assert show(cluster, node, "max_slot_wal_keep_size") == "8GB"

    body = {"parameters": {"work_mem": "9MB", "max_connections": 150}}
    answer = cluster.ok("pg-node01", "POST", "nodes/env", body=body)
    assert answer["pending_restart"] == ["max_connections"]
    wait_setting(cluster, "pg-node01", "work_mem", "9MB")
    assert show(cluster, "pg-node01", "max_connections") == "100"
    assert cluster.ok("pg-node01", "GET", "parameters")["pending_restart"] == ["max_connections"]
    cluster.ok("pg-node02", "POST", "nodes/env", body=body)

    # A value PostgreSQL refuses: 400, and the configuration and the server keep the last one.
    status, err = cluster.call("pg-node01", "POST", "nodes/env",
                               body={"parameters": {"work_mem": "lots"}})
    assert status == 400 and "work_mem" in err["msg"], err
    assert cluster.ok("pg-node01", "GET", "parameters")["parameters"]["work_mem"] == "9MB"
    status, err = cluster.call("pg-node01", "POST", "nodes/env",
                               body={"parameters": {"primary_conninfo": "host=elsewhere"}})
    assert status == 400, err
    assert show(cluster, "pg-node01", "work_mem") == "9MB"

    # The seed's stop and start in order: every node restarts with the new values.
    cluster.ok("pg-node01", "DELETE", "instance/all")
    assert cluster.ok("pg-node01", "POST", "instance/all") == \
        {"pg-node01": "master", "pg-node02": "slave"}
    for node in cluster.names:
        assert show(cluster, node, "max_connections") == "150"
        assert cluster.ok(node, "GET", "parameters")["pending_restart"] == []
