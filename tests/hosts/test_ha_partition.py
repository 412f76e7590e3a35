"""Automatic failover across real hosts: the master cut off from the store (docs/ha.md,
"When etcd itself fails"; docs/hosts.md, "The store").

An etcd member runs in the root namespace on the store address 198.51.100.254, which each host
reaches over its own access link; the agents run in automatic mode (PGHA_ETCD_ENDPOINTS, TTL
3 s). The seed's setup procedure makes the pair (paused, then resumed). Then host A, the
master, loses its route to the store: packets to it go to a gateway nobody answers for, so
the agent's calls time out as in a real partition, while the replication network and the
test's access links stay up. A writer and a monitor run inside host B (ha_probe.py).

The master must fence itself before its lease can have expired (nothing acknowledged by it
once B accepts writes, never two nodes answering as primary in one sample), B must take over,
and once the route is back A must rejoin B as a streaming standby by itself. Asynchronous
mode: what A acknowledged in its last moments may be missing on B (the bound of
docs/reliability.md: within 3 s of A's last acknowledgement); here the standby streams
throughout, so usually nothing is.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

import netns
from conftest import DATABASE, Pair, e2e, keep_logs, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N1, N2 = "pg-node01", "pg-node02"
STORE_ADDRESS = "198.51.100.254"
NOWHERE = "198.51.100.253"  # a gateway no host answers ARP for: packets to it are dropped
TTL_S = 3
ASYNC_TAIL_WINDOW_S = 3.0  # tests/reliability/harness.py
HERE = pathlib.Path(__file__).resolve().parent


class Store:
    """One etcd member in the root namespace, listening on STORE_ADDRESS only, which each
    host reaches through a /32 route over its access link."""

    def __init__(self, topology: netns.Topology, base: pathlib.Path):
        self.topology = topology
        self.data = base / "etcd"
        self.proc = None
        self.added = []

    def start(self) -> None:
        assert STORE_ADDRESS not in [str(a) for a in netns._root_addresses()], \
            f"{STORE_ADDRESS} exists already in the root namespace"
        for h in self.topology.hosts:
            # Removed with the veth and the namespace when the topology goes.
            netns._run(["ip", "addr", "add", f"{STORE_ADDRESS}/32", "dev", h.root_link])
            self.added.append(h.root_link)
            netns._run(["ip", "-n", h.ns, "route", "add", f"{STORE_ADDRESS}/32", "dev",
                        netns.ACCESS_LINK])
        client = e2e.free_port(STORE_ADDRESS)
        peer = e2e.free_port()
        self.url = f"http://{STORE_ADDRESS}:{client}"
        self.log = open(self.data.parent / "etcd.log", "ab")
        self.proc = subprocess.Popen(
            ["etcd", "--name", "store", "--data-dir", str(self.data),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"store=http://127.0.0.1:{peer}",
             "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

        def healthy():
            assert self.proc.poll() is None, "etcd exited: see etcd.log"
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    return b'"true"' in r.read()
            except OSError:
                return False
        wait_for("etcd to answer", healthy, timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        if self.proc is not None:
            self.log.close()

    def cut(self, node: str) -> None:
        """`node`'s host loses the store: its packets to it go nowhere (no error, no answer)."""
        h = self.topology.host(node)
        netns._run(["ip", "-n", h.ns, "route", "replace", f"{STORE_ADDRESS}/32", "via",
                    NOWHERE, "dev", netns.ACCESS_LINK, "onlink"])

    def restore(self, node: str) -> None:
        h = self.topology.host(node)
        netns._run(["ip", "-n", h.ns, "route", "replace", f"{STORE_ADDRESS}/32", "dev",
                    netns.ACCESS_LINK])


class HaPair(Pair):
    def __init__(self, base, topology, store: Store):
        self.store = store
        super().__init__(base, topology)

    def agent_env(self, node):
        env = super().agent_env(node)
        env.update({"PGHA_ETCD_ENDPOINTS": self.store.url, "PGHA_CLUSTER_NAME": "hosts",
                    "PGHA_HA_TTL_S": str(TTL_S), "PGHA_HA_LOOP_MS": "250"})
        return env


@pytest.fixture(scope="module")
def ha_pair(request, topology):
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-hosts-ha-"))
    os.chmod(base, 0o755)
    failed_before = request.session.testsfailed
    store = Store(topology, base)
    p = None
    ok = False
    try:
        store.start()
        p = HaPair(base, topology, store)
        p.start()
        yield p
        ok = True
    finally:
        problems = []
        if p is not None:
            for node in (N1, N2):
                store.restore(node)
            # The seed's DELETE instance/all is a manual operation: paused first.
            p.call(N2, "POST", "cluster/pause", timeout=30)
            problems = p.stop()
        store.stop()
        if not ok or request.session.testsfailed > failed_before or problems:
            keep_logs(request, base)
        shutil.rmtree(base, ignore_errors=True)


def cluster(pair, node):
    status, body = pair.call(node, "GET", "cluster", timeout=5)
    return body if status == 200 else None


def healthy(pair, leader, via):
    """Polls `via`'s GET cluster until `leader` leads as master and the other node streams."""
    def check():
        j = cluster(pair, via)
        if not j or j["leader"] != leader:
            return None
        states = {m["name"]: m["state"] for m in j["members"]}
        return states == {leader: "master", pair.other(leader): "slave"}
    wait_for(f"{leader} leading and the other node streaming", check, timeout=120)


def read_probe(path: pathlib.Path):
    acks, samples = [], []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "ack" in r:
            acks.append((r["ack"], r["node"], r["t"]))
        else:
            samples.append(r["sample"])
    return acks, samples


def test_the_master_cut_off_from_the_store_fences_itself_and_the_standby_takes_over(
        ha_pair, report):
    p = ha_pair
    # The seed's setup, paused (the loop would otherwise refuse the manual routes).
    p.ok(N1, "POST", "cluster/pause")
    for node, path in [(N1, "nodes/env"), (N2, "nodes/env"), (N1, f"pg/init/{DATABASE}"),
                       (N2, f"pg/sync/{DATABASE}"), (N1, "instance/all")]:
        p.ok(node, "POST", path)
    p.ok(N1, "POST", "cluster/resume")
    healthy(p, N1, N1)
    p.sql(N1, "CREATE TABLE pgha_hosts_writer (id bigint PRIMARY KEY)")

    out = p.base / "probe.jsonl"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PGPASSWORD": p.secrets.superuser, "PGPASSFILE": "/nonexistent/pgha-hosts-test"}
    probe = p.host(N2).popen(
        sys.executable, str(HERE / "ha_probe.py"), str(out), "pgha_hosts_writer",
        f"{N1}:{p.host(N1).address}", f"{N2}:{p.host(N2).address}",
        env=env, stdout=subprocess.DEVNULL, stderr=open(p.base / "probe.err", "wb"))
    try:
        wait_for("the writer's first rows on the master",
                 lambda: out.exists() and sum(1 for a in read_probe(out)[0] if a[1] == N1) >= 50)
        t_cut = time.monotonic()
        p.store.cut(N1)

        def n2_writable():
            j = cluster(p, N2)
            return j and j["leader"] == N2 and \
                p.sql(N2, "SELECT NOT pg_is_in_recovery()") == [("t",)]
        wait_for(f"{N2} to lead and accept writes", n2_writable, timeout=60)
        t_writable = time.monotonic()
        report(f"hosts ha: {N2} writable {t_writable - t_cut:.2f} s after {N1} lost the store")
        wait_for(f"{N1}'s server to be fenced", lambda: p.postmaster_pid(N1) is None, timeout=30)
        wait_for(f"a row acknowledged by {N2}",
                 lambda: any(n == N2 and t > t_writable for _, n, t in read_probe(out)[0]))
    finally:
        probe.send_signal(signal.SIGTERM)
        probe.wait(30)
    acks, samples = read_probe(out)
    both = [s for s in samples if list(s.values()).count("primary") > 1]
    assert samples and not both, f"{len(both)} samples with two primaries: {both[:3]}"
    late = [r for r, n, t in acks if n == N1 and t > t_writable]
    assert late == [], f"{N1} acknowledged rows after {N2} took over: {late[:10]}"

    # The route back: A rejoins B by itself (rewound if it diverged).
    p.store.restore(N1)
    healthy(p, N2, N2)
    present = {int(r[0]) for r in p.sql(N2, "SELECT id FROM pgha_hosts_writer")}
    lost = [r for r, _, _ in acks if r not in present]
    old = [(r, t) for r, n, t in acks if n == N1]
    if lost:
        assert lost == [r for r, _ in old[-len(lost):]], lost[:10]
        assert old[-1][1] - old[-len(lost)][1] <= ASYNC_TAIL_WINDOW_S, lost[:10]
    report(f"hosts ha: {len(acks)} rows acknowledged, {len(lost)} lost, {len(samples)} "
           f"samples, none with two primaries; {N1} rejoined {N2}")


@pytest.fixture
def report(request):
    return request.config.pluginmanager.getplugin("terminalreporter").write_line
