"""`pghactl local up --etcd`: etcd members started before the agents, named in their
configurations; `local start` of a killed member or agent; `local down` of everything.

The agents' HA loop is not what is tested here (that is the failover suites' work): only that
`local up` sets the cluster up through it (paused for the seed's setup, then resumed with the
master as the leader) and `local down` stops it."""

import json
import os
import pwd
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import local_cluster

pytestmark = pytest.mark.e2e

MEMBERS = 3


@pytest.fixture(scope="module")
def etcd_cluster(request):
    yield from local_cluster(request, "--etcd", "--etcd-members", str(MEMBERS),
                             "--ha-ttl", "4", "--ha-loop-ms", "300")


def wait_for(condition, timeout, what):
    """condition()'s first truthy value, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def gone(pid):
    """True when `pid` has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def healthy(client_url):
    try:
        with urllib.request.urlopen(client_url + "/health", timeout=2) as r:
            return json.loads(r.read()).get("health") == "true"
    except OSError:
        return False


def etcdctl(endpoints, *args, check=True):
    res = subprocess.run(["etcdctl", "--endpoints=" + ",".join(endpoints), *args],
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, ETCDCTL_API="3"))
    if check:
        assert res.returncode == 0, res.stderr
    return res


def one_leader(etcd):
    """The leader's member name when every member answers and reports the same leader, else
    None."""
    res = etcdctl(etcd["endpoints"], "endpoint", "status", "-w", "json", check=False)
    if res.returncode != 0:
        return None
    status = json.loads(res.stdout)
    ids = {s["Status"]["leader"] for s in status}
    own = {s["Status"]["header"]["member_id"]: s["Endpoint"] for s in status}
    if len(ids) != 1 or next(iter(ids)) not in own:
        return None
    url = own[next(iter(ids))]
    return next(m["name"] for m in etcd["members"] if m["client_url"] == url)


def test_members_are_up_with_one_leader_and_named_in_every_agent_configuration(etcd_cluster):
    c = etcd_cluster
    etcd = c.info["etcd"]
    assert len(etcd["members"]) == MEMBERS
    assert etcd["endpoints"] == [m["client_url"] for m in etcd["members"]]
    postgres = pwd.getpwnam("postgres")
    for m in etcd["members"]:
        assert {"name", "pid", "client_url", "peer_url", "data_dir"} <= m.keys(), m
        assert m["client_url"].startswith("http://127.0.0.1:")
        assert int(m["client_url"].rsplit(":", 1)[1]) < 32768
        assert healthy(m["client_url"]), m
        st = os.stat(m["data_dir"])
        assert st.st_mode & 0o777 == 0o700
        if os.geteuid() == 0:
            assert st.st_uid == postgres.pw_uid  # etcd runs as the postgres account
            with open(f"/proc/{m['pid']}/status") as f:
                uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
            assert int(uid) == postgres.pw_uid
    assert wait_for(lambda: one_leader(etcd), 10, "one leader")
    for n in c.info["nodes"]:
        assert not gone(n["agent_pid"])
        config = json.loads(open(n["config"]).read())
        assert config["etcd_endpoints"] == etcd["endpoints"]
        assert config["cluster_name"] == etcd["cluster_name"]
        assert config["etcd_prefix"] == etcd["prefix"]
        assert (config["ha_ttl_s"], config["ha_loop_ms"]) == (4, 300)  # --ha-ttl, --ha-loop-ms


def test_a_killed_leader_member_comes_back_and_rejoins(etcd_cluster):
    c = etcd_cluster
    etcd = c.info["etcd"]
    name = wait_for(lambda: one_leader(etcd), 10, "one leader")
    member = next(m for m in etcd["members"] if m["name"] == name)
    os.kill(member["pid"], signal.SIGKILL)
    wait_for(lambda: gone(member["pid"]), 10, f"{name} to exit")
    others = [m["client_url"] for m in etcd["members"] if m["name"] != name]
    # The two left keep a quorum: they elect a leader and take writes.
    wait_for(lambda: all(healthy(u) for u in others), 15, "a new leader among the others")
    etcdctl(others, "put", "/pgha-test/while-down", "written")

    res = c.pghactl("local", "start", str(c.dir), name)
    assert "healthy" in res.stderr, res.stderr
    c.reload()
    back = next(m for m in c.info["etcd"]["members"] if m["name"] == name)
    assert back["pid"] != member["pid"] and not gone(back["pid"])
    assert healthy(back["client_url"])
    # It has the write made while it was down, read from its own copy (serializable).
    wait_for(lambda: etcdctl([back["client_url"]], "get", "/pgha-test/while-down",
                             "--print-value-only", "--consistency=s").stdout.strip() == "written",
             10, f"{name} to catch up")
    assert wait_for(lambda: one_leader(c.info["etcd"]), 10, "one leader that all members see")


def test_local_start_refuses_what_runs_and_names_it_does_not_know(etcd_cluster):
    c = etcd_cluster
    before = (c.dir / "cluster.json").read_text()
    for name in ("etcd1", "pg-node01"):
        res = c.pghactl("local", "start", str(c.dir), name, check=False)
        assert res.returncode == 1 and f"{name} runs already" in res.stderr, res.stderr
    res = c.pghactl("local", "start", str(c.dir), "etcd9", check=False)
    assert res.returncode == 1 and "no agent or etcd member named \"etcd9\"" in res.stderr
    assert (c.dir / "cluster.json").read_text() == before


def test_a_killed_agent_comes_back(etcd_cluster):
    c = etcd_cluster
    node = c.nodes["pg-node02"]
    os.kill(node["agent_pid"], signal.SIGKILL)
    wait_for(lambda: gone(node["agent_pid"]), 10, "the agent to exit")
    c.pghactl("local", "start", str(c.dir), "pg-node02")
    c.reload()
    assert c.nodes["pg-node02"]["agent_pid"] != node["agent_pid"]
    assert c.ok("pg-node02", "GET", "instance/current")


def test_list_answers_with_or_without_the_ha_loop(etcd_cluster):
    c = etcd_cluster
    res = c.pghactl("list", str(c.dir))
    if "404" in res.stderr:  # no GET cluster yet: the agents' states
        assert "pg-node01    master" in res.stdout, res.stdout
    else:  # the HA loop: local up resumed it once pg-node01 held the leader key
        assert res.stdout.startswith("Cluster: pgha, leader pg-node01"), res.stdout
        row = next(line for line in res.stdout.splitlines() if line.startswith("| pg-node01 "))
        assert [cell.strip() for cell in row.strip("|").split("|")][2:4] == ["Leader", "master"]


def test_local_down_stops_every_member_and_agent(etcd_cluster):
    c = etcd_cluster
    c.reload()
    postmasters = [int(open(os.path.join(n["data_dir"], "postmaster.pid")).readline())
                   for n in c.info["nodes"]]
    pids = [m["pid"] for m in c.info["etcd"]["members"]] + \
        [n["agent_pid"] for n in c.info["nodes"]] + postmasters
    c.pghactl("local", "down", str(c.dir))
    # local down returns once they have exited; only reaping may lag behind.
    wait_for(lambda: all(gone(p) for p in pids), 5, "every process to be gone")
    for m in c.info["etcd"]["members"]:
        assert not healthy(m["client_url"])
    res = c.pghactl("local", "down", str(c.dir))  # again: nothing left to stop
    assert "stopped" not in res.stderr, res.stderr
