"""`pghactl inspect` on real PostgreSQL files: its JSON equals what PostgreSQL reported.
`pghactl list` against a fake agent: the cluster store's table, and the fallback without one.
`pghactl local up` refusing bad --etcd options before it starts anything."""

import http.server
import json
import os
import pathlib
import socket
import subprocess
import threading

import pytest

PGHACTL = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin")) / "pghactl"


def inspect(path):
    res = subprocess.run([str(PGHACTL), "inspect", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("major", range(10, 19))
def test_slot_files(fixtures, major):
    d = fixtures / f"pg{major}" / "slots"
    sides = sorted(d.glob("*.json"))
    assert len(sides) == len(list(d.glob("*.state"))) >= 4
    for side in sides:
        expected = json.loads(side.read_text())
        got = inspect(side.with_suffix(".state"))
        assert got["type"] == "slot_state"
        for key in ("slot_name", "slot_type", "plugin", "datoid", "restart_lsn",
                    "confirmed_flush_lsn", "catalog_xmin", "xmin"):
            assert got[key] == expected[key], (side.name, key)
        assert (got["persistency"] == "temporary") == expected["temporary"]


def test_history_file(fixtures):
    path = fixtures / "pg15" / "timelines" / "00000003.history"
    side = json.loads(path.with_name(path.name + ".json").read_text())
    got = inspect(path)
    assert got["type"] == "timeline_history" and got["timeline"] == side["timeline"]
    assert [(e["timeline"], e["end"]) for e in got["entries"][:-1]] == \
        [(e["parent_tli"], e["switchpoint"]) for e in side["entries"]]


def test_controldata(fixtures):
    path = fixtures / "pg15" / "controldata" / "promoted_running.txt"
    side = json.loads(path.with_suffix(".json").read_text())
    got = inspect(path)
    assert got["type"] == "control_data"
    assert got["checkpoint"] == side["expected"]["Latest checkpoint location"]
    assert got["current_timeline"] == side["live"]["insert_timeline"]


@pytest.mark.parametrize("major", range(10, 19))
def test_pg_control_files(fixtures, major, tmp_path):
    paths = sorted((fixtures / f"pg{major}" / "control").glob("*.pg_control"))
    assert len(paths) == (4 if major >= 11 else 3)
    for path in paths:
        side = json.loads(path.with_suffix(".json").read_text())
        got = inspect(path)
        assert got["type"] == "pg_control"
        assert got["cluster_state"] == side["state"]
        assert got["pg_control_version"] == side["sql"]["system"]["pg_control_version"]
        assert got["system_identifier"] == str(side["sql"]["system"]["system_identifier"])
        assert got["checkpoint"] == side["sql"]["checkpoint"]["checkpoint_lsn"]
        assert got["redo_wal_file"] == side["sql"]["checkpoint"]["redo_wal_file"]
        assert got["checkpoint_time"] == side["sql"]["epoch"]["checkpoint_time"]
        assert got["wal_segment_size"] == side["sql"]["init"]["bytes_per_wal_segment"]
    # named pg_control, a damaged file is decoded and its CRC error told
    damaged = tmp_path / "global" / "pg_control"
    damaged.parent.mkdir()
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    damaged.write_bytes(bytes(data))
    res = subprocess.run([str(PGHACTL), "inspect", str(damaged)], capture_output=True, text=True)
    assert res.returncode == 1 and "CRC-32C mismatch" in res.stderr


def test_refuses_other_files(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a postgres file")
    res = subprocess.run([str(PGHACTL), "inspect", str(junk)], capture_output=True, text=True)
    assert res.returncode == 1 and "is not a slot state file" in res.stderr
    res = subprocess.run([str(PGHACTL), "inspect"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr


# What a fake agent answers: path -> (status, body).
STATES = {"pg-node01": "master", "pg-node02": "slave"}
LSNS = {n: {"timeLineID": "1", "lastLsn": "0/3000060", "walFile": "000000010000000000000003"}
        for n in STATES}
VIEW = {"cluster": "pgha", "leader": "pg-node01", "leader_lease_ms": 2400, "paused": False,
        "members": [
            {"name": "pg-node02", "role": "replica", "state": "slave", "timeline": 1,
             "received": "0/3000060", "replayed": "0/3000000", "lag_bytes": 3 << 20,
             "agent_url": "http://127.0.0.1:8002", "nofailover": True, "priority": 0},
            {"name": "pg-node01", "role": "master", "state": "master", "timeline": 1,
             "received": "0/3000060", "replayed": "0/3000060", "lag_bytes": 0,
             "agent_url": "http://127.0.0.1:8001", "nofailover": False, "priority": 0},
            {"name": "pg-node03", "role": "", "state": "inactive", "timeline": None,
             "received": None, "replayed": None, "lag_bytes": None,
             "agent_url": "http://127.0.0.1:8003", "nofailover": False, "priority": 2}]}


@pytest.fixture
def fake_agent():
    """An HTTP server on loopback answering GET /api/pg/v1/<route> from `routes` (a dict the
    test fills), with the bearer token "t" required; yields (url, routes)."""
    routes = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            route = self.path.removeprefix("/api/pg/v1/")
            if self.headers.get("Authorization") != "Bearer t":
                status, body = 401, {"code": 10, "msg": "unauthorized"}
            else:
                status, body = routes.get(route, (404, {"code": 2, "msg": "no route " + route}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", routes
    finally:
        server.shutdown()
        server.server_close()


def pghactl(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("PGHA_API_TOKEN", "PGHA_TLS_CA_FILE")}
    return subprocess.run([str(PGHACTL), *args], capture_output=True, text=True, timeout=60,
                          env=env)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_list_without_a_store_says_so_and_shows_the_states(fake_agent):
    url, routes = fake_agent
    routes.update({"instance/all": (200, STATES), "lsn/all": (200, LSNS),
                   "slots": (200, {"slots": []})})
    res = pghactl("list", "--url", url, "--token", "t")
    assert res.returncode == 0, res.stderr
    assert "404" in res.stderr and "no cluster store" in res.stderr
    assert "pg-node01    master" in res.stdout and "pg-node02    slave" in res.stdout
    res = pghactl("list", "--url", url, "--token", "t", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == STATES


def test_list_shows_the_store_view_like_patronictl(fake_agent):
    url, routes = fake_agent
    routes.update({"cluster": (200, VIEW), "slots": (200, {"slots": []})})
    res = pghactl("list", "--url", url, "--token", "t")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "Cluster: pgha, leader pg-node01 (lease 2.4 s left)", res.stdout
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines
             if line.startswith("|")]
    assert cells[0] == ["Member", "Host", "Role", "State", "TL", "Lag in MB", "Tags"]
    assert cells[1:] == [
        ["pg-node01", "127.0.0.1:8001", "Leader", "master", "1", "", ""],
        ["pg-node02", "127.0.0.1:8002", "Replica", "slave", "1", "3", "nofailover"],
        ["pg-node03", "127.0.0.1:8003", "", "inactive", "", "unknown", "priority=2"]]
    res = pghactl("list", "--url", url, "--token", "t", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == VIEW


def test_list_asks_the_next_agent_and_names_hosts_from_the_cluster_file(fake_agent, tmp_path):
    url, routes = fake_agent
    view = dict(VIEW, leader=None, leader_lease_ms=None, paused=True)
    del view["cluster"]
    routes.update({"cluster": (200, view), "slots": (200, {"slots": []})})
    nodes = [{"name": "pg-node01", "agent_url": f"http://127.0.0.1:{closed_port()}",
              "pg_host": "127.0.0.1", "pg_port": 5433},
             {"name": "pg-node02", "agent_url": url, "pg_host": "127.0.0.1", "pg_port": 5434}]
    (tmp_path / "cluster.json").write_text(json.dumps(
        {"api_token": "t", "nodes": nodes, "etcd": {"cluster_name": "local", "members": []}}))
    res = pghactl("list", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "Cluster: local, no leader, paused: no automatic failover"
    assert "| pg-node01 | 127.0.0.1:5433 | Master " in res.stdout, res.stdout
    assert "| pg-node02 | 127.0.0.1:5434 | Replica " in res.stdout, res.stdout
    routes.clear()
    routes["cluster"] = (500, {"code": 9, "msg": "the store is unreachable"})
    res = pghactl("list", str(tmp_path))
    assert res.returncode == 1 and "the store is unreachable" in res.stderr


def test_list_names_every_agent_when_none_answers(tmp_path):
    nodes = [{"name": f"pg-node0{i}", "agent_url": f"http://127.0.0.1:{closed_port()}",
              "pg_host": "127.0.0.1", "pg_port": 5432 + i} for i in (1, 2)]
    (tmp_path / "cluster.json").write_text(json.dumps({"api_token": "t", "nodes": nodes}))
    res = pghactl("list", str(tmp_path))
    assert res.returncode == 1 and "no agent answered" in res.stderr
    assert all(n["agent_url"] in res.stderr for n in nodes), res.stderr


@pytest.mark.parametrize("options, message", [
    (["--etcd", "--etcd-members", "6"], "--etcd-members 6 is not from 1 to 5"),
    (["--etcd", "--etcd-members", "0"], "--etcd-members 0 is not from 1 to 5"),
    (["--etcd-members", "3"], "--etcd-members, --ha-ttl and --ha-loop-ms go with --etcd"),
    (["--ha-ttl", "5"], "go with --etcd"),
    (["--etcd", "--ha-ttl", "1"], "--ha-ttl 1 is not from 2 to 3600"),
    (["--etcd", "--ha-ttl", "3", "--ha-loop-ms", "1500"], "under a third of --ha-ttl"),
    (["--etcd", "--ha-loop-ms", "20"], "--ha-loop-ms 20 is not from 50 to 60000"),
])
def test_local_up_refuses_bad_etcd_options_before_starting_anything(tmp_path, options, message):
    res = pghactl("local", "up", str(tmp_path / "c"), *options)
    assert res.returncode == 1 and message in res.stderr, res.stderr
    assert not (tmp_path / "c").exists()


def test_local_start_needs_a_cluster_and_a_name(tmp_path):
    res = pghactl("local", "start", str(tmp_path))
    assert res.returncode == 2 and "usage" in res.stderr
    res = pghactl("local", "start", str(tmp_path), "etcd1")
    assert res.returncode == 1 and "cluster.json missing" in res.stderr
