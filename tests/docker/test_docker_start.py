"""The seed's "Docker start" against packaging/docker (conftest.py, docs/docker.md):

1. The seed's setup procedure: `docker-compose up -d` and `POST nodes/env` on pg-node01, the
   same on pg-node02, `pg/init/datasync` on pg-node01, `pg/sync/datasync` on pg-node02,
   `POST instance/all`: the state map says master/slave, and a row written on the master is
   read on the slave.
2. One switchover (`instance/switchover/masterSlave`): the states swapped, and a row written
   on the new master is read on the new slave.
3. No password or token in the containers' logs, the servers' logs or their environment.
4. `docker-compose stop` stops PostgreSQL cleanly (the entrypoint's fast shutdown).
5. The entrypoint refuses a PGDATA the agent could not run with (the seed's /data, the image's
   volume), a node name that is no host name, a secret file that is missing.

The tests run in this order on one pair (module scope).
"""

import json

import pytest

from conftest import IMAGE, NODES, wait_for

pytestmark = [pytest.mark.docker]

N1, N2 = NODES
DATABASE = "datasync"


@pytest.fixture(scope="module")
def ready(pair):
    """The seed's setup procedure, once, in the seed's order. Returns the answers; a step that
    fails stops here (every test of the module then reports that step)."""
    answers = {}

    def step(node, method, path):
        status, body = pair.call(node, method, path)
        answers[(node, path)] = body
        if status != 200:
            pytest.fail(f"setup: {method} {path} on {node}: {status} {json.dumps(body)[:600]}\n"
                        + "\n".join(pair.logs(node).splitlines()[-20:]), pytrace=False)

    pair.up(N1)
    step(N1, "POST", "nodes/env")
    pair.up(N2)
    step(N2, "POST", "nodes/env")
    step(N1, "POST", f"pg/init/{DATABASE}")
    step(N2, "POST", f"pg/sync/{DATABASE}")
    step(N1, "POST", "instance/all")
    return answers


def streaming(pair, master, slave):
    rows = pair.psql(master, "SELECT application_name, state FROM pg_stat_replication")
    return rows == [f"{slave}|streaming"]


def test_the_seed_setup_procedure_gives_master_and_slave(pair, ready):
    assert ready[(N1, "nodes/env")]["local_node"] == N1
    assert ready[(N1, "nodes/env")]["remote_node"] == N2
    assert ready[(N2, "nodes/env")]["local_node"] == N2
    assert ready[(N2, "nodes/env")]["remote_node"] == N1
    assert ready[(N1, "instance/all")] == {N1: "master", N2: "slave"}
    # Both agents see the same.
    assert pair.ok(N2, "GET", "instance/all") == {N1: "master", N2: "slave"}
    wait_for(f"{N2} streaming from {N1}", lambda: streaming(pair, N1, N2))


def test_a_row_written_on_the_master_is_read_on_the_slave(pair, ready):
    pair.psql(N1, "CREATE TABLE seed_docker (id int PRIMARY KEY, note text)")
    pair.psql(N1, "INSERT INTO seed_docker VALUES (1, 'written on pg-node01')")
    wait_for("the row on the slave", lambda: pair.psql(
        N2, "SELECT note FROM seed_docker WHERE id = 1") == ["written on pg-node01"])
    assert pair.psql(N2, "SELECT pg_is_in_recovery()") == ["t"]


def test_a_switchover_swaps_the_roles(pair, ready):
    assert pair.ok(N1, "POST", "instance/switchover/masterSlave") == {N1: "slave", N2: "master"}
    assert pair.ok(N2, "GET", "instance/all") == {N1: "slave", N2: "master"}
    wait_for(f"{N1} streaming from {N2}", lambda: streaming(pair, N2, N1))
    pair.psql(N2, "INSERT INTO seed_docker VALUES (2, 'written on pg-node02')")
    wait_for("the row on the new slave", lambda: pair.psql(
        N1, "SELECT note FROM seed_docker ORDER BY id") == ["written on pg-node01",
                                                           "written on pg-node02"])


def test_no_password_in_logs_or_environment(pair, ready):
    for node in NODES:
        inspect = pair.dockerd.docker("inspect", pair.container(node)).stdout.decode()
        texts = {"docker logs": pair.logs(node), "server log": pair.server_log(node),
                 "docker inspect": inspect}
        for where, text in texts.items():
            for name, value in pair.secrets.items():
                assert value not in text, f"{name} is in {node}'s {where}"
        # What the agent runs (PostgreSQL, pg_ctl, ...) gets no secret in its environment,
        # and the agent's own first environment block (/proc/PID/environ) has DB_PASSWD, the
        # one secret the entrypoint passes that way, wiped at start.
        for process in ("postgres", "pgha-agent"):
            env = environ(pair, node, process)
            assert env, (node, process)
            for name, value in pair.secrets.items():
                assert value not in env, f"{name} is in {node}'s {process} environment"


def environ(pair, node, process):
    """The environment of `node`'s oldest process named `process`, read as postgres (root in
    a container has no CAP_SYS_PTRACE to read another account's)."""
    return pair.dockerd.docker(
        "exec", "-u", "postgres", pair.container(node), "sh", "-c",
        f"tr '\\0' '\\n' < /proc/$(pgrep -xo {process})/environ").stdout.decode()


def test_docker_compose_stop_shuts_postgres_down_cleanly(pair, ready):
    for node in (N1, N2):  # pg-node01 is the slave since the switchover: it stops first
        pair.compose(node, "stop", "--timeout", "90")
    for node in NODES:
        assert "stopping PostgreSQL" in pair.logs(node), pair.logs(node)[-2000:]
        res = pair.dockerd.docker("run", "--rm", "--network", "none", "-v",
                                  f"{pair.project(node)}_pgdata:/data", "--entrypoint",
                                  "pg_controldata", "-u", "postgres", IMAGE,
                                  "/data/pgdata")
        state = [line for line in res.stdout.decode().splitlines()
                 if line.startswith("Database cluster state:")]
        assert state and ("shut down" in state[0]), (node, state)


@pytest.mark.parametrize("env, message", [
    # The seed's PGDATA=/data is the image's volume: a rename cannot replace it.
    ("PGDATA=/data", "PGDATA=/data is a mount point"),
    ("PGDATA=/pgdata", "needs a directory of its own around PGDATA"),
    ("LOCAL_NODE=pg node", 'LOCAL_NODE="pg node" is not a host name'),
    ("PGHA_API_TOKEN_FILE=/run/secrets/none", 'PGHA_API_TOKEN_FILE="/run/secrets/none" does'),
])
def test_the_entrypoint_refuses_what_the_agent_could_not_run_with(dockerd, image, env, message):
    res = dockerd.docker("run", "--rm", "--network", "none", "-e", env, image, check=False,
                         timeout=120)
    assert res.returncode == 1, (env, res)
    assert message in res.stderr.decode(), (env, res.stderr)
