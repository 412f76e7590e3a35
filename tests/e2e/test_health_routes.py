"""The load balancers' routes (Patroni's names: /primary, /replica, /read-only, ...): no token,
200 or 503 with the node's JSON, HEAD and OPTIONS with the status only, `?lag=` with units and
`?replication_state=streaming`; the answers follow the roles across a switchover."""

import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


def check(cluster, node: str, path: str, method: str = "GET"):
    """(status, body bytes) of a route outside /api/pg/v1, sent without a token."""
    req = urllib.request.Request(cluster.nodes[node]["agent_url"] + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30, context=cluster.ssl_context) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


EXPECTED = {  # route: (master, slave)
    "/primary": (200, 503), "/read-write": (200, 503), "/master": (200, 503),
    "/replica": (503, 200), "/read-only": (200, 200), "/health": (200, 200),
    "/readiness": (200, 200), "/asynchronous": (503, 200), "/synchronous": (503, 503),
    "/replica?replication_state=streaming": (503, 200), "/replica?lag=16MB": (503, 200),
    "/replica?lag=1024": (503, 200), "/liveness": (200, 200),
}


def roles(cluster):
    states = cluster.ok("pg-node01", "GET", "instance/all")
    master = next(n for n, s in states.items() if s == "master")
    return master, next(n for n in states if n != master)


def test_routes_answer_by_role_without_a_token(cluster):
    for _ in range(2):  # as it is, and after a switchover
        master, slave = roles(cluster)
        for path, (want_master, want_slave) in EXPECTED.items():
            got = (check(cluster, master, path)[0], check(cluster, slave, path)[0])
            assert got == (want_master, want_slave), (path, master, got)
        status, body = check(cluster, master, "/primary")
        assert b'"role":"master"' in body and b'"state":"master"' in body, body
        status, body = check(cluster, slave, "/replica?lag=16MB")
        assert b'"lag_bytes":' in body, body
        for method in ("HEAD", "OPTIONS"):
            assert check(cluster, master, "/primary", method) == (200, b"")
            assert check(cluster, slave, "/primary", method) == (503, b"")
        cluster.ok(master, "POST", "instance/switchover/masterSlave")
    assert check(cluster, "pg-node01", "/replica?lag=lots")[0] == 400


def test_a_stopped_node_passes_no_check_but_liveness(cluster):
    master, slave = roles(cluster)
    cluster.ok(slave, "DELETE", "instance/current")
    try:
        for path in ("/replica", "/read-only", "/health", "/readiness", "/primary"):
            assert check(cluster, slave, path)[0] == 503, path
        assert check(cluster, slave, "/liveness")[0] == 200
        assert check(cluster, master, "/primary")[0] == 200
    finally:
        cluster.ok(master, "POST", "instance/all")
