"""GET /metrics: Prometheus' text format, checked by promtool (Debian's prometheus package),
with values read back against what PostgreSQL and the agents say."""

import shutil
import subprocess
import urllib.request

import psycopg2
import pytest

pytestmark = pytest.mark.e2e


def scrape(cluster, node: str) -> str:
    req = urllib.request.Request(cluster.nodes[node]["agent_url"] + "/metrics")  # no token
    with urllib.request.urlopen(req, timeout=30, context=cluster.ssl_context) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def samples(text: str) -> dict:
    """{(name, frozenset of labels but node): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = [p.split("=", 1) for p in labels.rstrip("}").split(",") if p]
        out[(name, frozenset((k, v.strip('"')) for k, v in pairs if k != "node"))] = float(value)
    return out


def sql(cluster, node: str, query: str):
    n = cluster.nodes[node]
    with psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                          dbname="postgres", connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


def test_metrics_pass_promtool_and_say_what_postgres_says(cluster):
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed: scripts/install-deps.sh"
    texts = {n: scrape(cluster, n) for n in cluster.names}
    for node, text in texts.items():
        res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, (node, res.stdout, res.stderr, text)
    m, s = samples(texts["pg-node01"]), samples(texts["pg-node02"])
    assert m[("pgha_role", frozenset({("role", "master")}))] == 1
    assert m[("pgha_state", frozenset({("state", "master")}))] == 1
    assert s[("pgha_role", frozenset({("role", "replica")}))] == 1
    assert s[("pgha_state", frozenset({("state", "slave")}))] == 1
    assert m[("pgha_up", frozenset())] == 1
    tl = int(sql(cluster, "pg-node01", "SELECT timeline_id FROM pg_control_checkpoint()"))
    assert m[("pgha_timeline", frozenset())] == tl
    # The master's flush position is at least what it was before the scrape, and the
    # standby's lag is reported under its application name.
    flushed = float(sql(cluster, "pg-node01",
                        "SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')"))
    assert 0 < m[("pgha_wal_position_bytes", frozenset({("kind", "flush")}))] <= flushed
    assert ("pgha_standby_lag_bytes", frozenset({("standby", "pg-node02"), ("kind", "replay")})) in m
    assert s[("pgha_wal_position_bytes", frozenset({("kind", "replay")}))] > 0
    assert m[("pgha_ha_enabled", frozenset())] == 0
    # The last operation: a refused one, then one that worked.
    status, _ = cluster.call("pg-node02", "POST", "instance/failover/promote")
    assert status == 409  # its master runs
    failed = samples(scrape(cluster, "pg-node02"))
    assert failed[("pgha_last_operation_info",
                   frozenset({("operation", "POST instance/failover/promote"),
                              ("result", "failed")}))] == 1
    cluster.ok("pg-node01", "POST", "instance/all")
    done = samples(scrape(cluster, "pg-node01"))
    assert done[("pgha_last_operation_info",
                 frozenset({("operation", "POST instance/all"), ("result", "ok")}))] == 1
    assert done[("pgha_last_operation_timestamp_seconds", frozenset())] > 1.7e9
