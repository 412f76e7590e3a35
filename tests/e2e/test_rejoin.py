"""An old master whose WAL diverged rejoins as a slave: by pg_rewind when the bindir has the
pg_rewind of its major (Debian's 15), by a fresh copy of the new master otherwise (the npm
builds of 12-18 ship none; scripts/test-matrix.sh runs this module on each). Either way it
never starts into the diverged state: what it wrote after the switch is gone, what the new
master wrote is there, and it follows the new timeline. A fresh copy is said in the answer
("fresh_copies"), a rewind is not (the seed's answer shape).
"""

import os
import pathlib
import signal
import time

import pytest

from test_operations import agent_pid, restart_agent, start_pair, _port_open
from test_timelines import sql, timeline, wait_for

pytestmark = pytest.mark.e2e

N1, N2 = "pg-node01", "pg-node02"
BINDIR = os.environ.get("PGHA_PG_BINDIR", "/usr/lib/postgresql/15/bin")


def test_a_diverged_old_master_rejoins_by_rewind_or_by_a_fresh_copy(fresh_pair):
    c = fresh_pair
    start_pair(c)
    sql(c, N1, "CREATE TABLE rejoin_rows (id int PRIMARY KEY, side text)")
    sql(c, N1, "INSERT INTO rejoin_rows SELECT g, 'both' FROM generate_series(1, 100) g")
    wait_for("pg-node02 to replay the first rows",
             lambda: sql(c, N2, "SELECT count(*) FROM rejoin_rows") == [(100,)])
    tl = timeline(c, N1)
    # pg-node01's agent goes away; its server goes on as a master of timeline `tl`.
    os.kill(agent_pid(c, N1), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _port_open(c.nodes[N1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert c.ok(N2, "POST", "instance/failover/promote?force=true") == \
            {N1: "unreachable", N2: "single"}
        assert timeline(c, N2) == tl + 1
        sql(c, N2, "INSERT INTO rejoin_rows SELECT g, 'new master' FROM generate_series(101, 200) g")
        # Both accept writes now: pg-node01's are on a timeline nobody will follow.
        sql(c, N1, "INSERT INTO rejoin_rows SELECT g, 'old master' FROM generate_series(101, 5000) g")
    finally:
        restart_agent(c, N1)
    assert c.ok(N1, "DELETE", "instance/current")[N1] == "inactive"
    status, body = c.call(N1, "POST", "instance/slave")
    assert status == 200, body
    copies = body.pop("fresh_copies", None)
    assert body == {N1: "slave", N2: "master"}, body
    if (pathlib.Path(BINDIR) / "pg_rewind").exists():
        assert copies is None, copies
    else:
        assert copies and [x["node"] for x in copies] == [N1], copies
        assert copies[0]["instead_of"] == "pg_rewind"
        assert copies[0]["detail"].startswith("fresh copy: no pg_rewind of PostgreSQL"), copies
    assert timeline(c, N1) == tl + 1
    sql(c, N2, "INSERT INTO rejoin_rows VALUES (201, 'after the rejoin')")
    wait_for("pg-node01 to replay the new master's rows",
             lambda: sql(c, N1, "SELECT count(*) FROM rejoin_rows") == [(201,)])
    assert sql(c, N1, "SELECT side, count(*) FROM rejoin_rows GROUP BY side ORDER BY side") == \
        [("after the rejoin", 1), ("both", 100), ("new master", 100)]
    assert c.ok(N2, "GET", "instance/all") == {N1: "slave", N2: "master"}
