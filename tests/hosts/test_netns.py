"""The two-host topology itself (netns.py): addresses, names, the partition helpers, and that
nothing is left behind, also by a run that was killed. Seconds; no agent."""

import ipaddress
import subprocess
import sys

import pytest

import netns

pytestmark = pytest.mark.e2e


def addresses(host):
    out = host.run("ip", "-o", "addr", "show", check=True).stdout
    return sorted(line.split()[3] for line in out.splitlines())


def reaches(host, address):
    return host.run("python3", "-c", netns._REACH, address, timeout=10).returncode == 0


def test_each_host_has_its_addresses_and_names_only(topology):
    a, b = topology.host("pg-node01"), topology.host("pg-node02")
    assert (a.address, b.address) == ("203.0.113.1", "203.0.113.2")
    for h in (a, b):
        access = ipaddress.ip_interface(h.access_address + "/30")
        assert access.network.subnet_of(netns.ACCESS_NET)
        assert ipaddress.ip_address(h.root_address) in access.network
        # lo, the replication link, the access link: nothing else (no IPv6 link-local).
        assert addresses(h) == sorted(["127.0.0.1/8", "::1/128", f"{h.address}/24",
                                       f"{h.access_address}/30"])
        hosts = h.run("getent", "hosts", "pg-node01", "pg-node02", check=True).stdout.split()
        assert hosts == ["203.0.113.1", "pg-node01", "203.0.113.2", "pg-node02"]
        # What the test process reaches: the host's access address, on its own link.
        route = subprocess.run(["ip", "-o", "route", "get", h.access_address],
                               capture_output=True, text=True, check=True).stdout
        assert f"dev {h.root_link}" in route, route
    assert reaches(a, b.address) and reaches(b, a.address)


def test_cut_and_restore_the_replication_link(topology):
    a, b = topology.hosts
    topology.cut()
    try:
        assert not reaches(a, b.address) and not reaches(b, a.address)
        assert reaches(a, a.address)  # its own address still answers inside the host
        assert all(reaches_from_root(h) for h in (a, b))
    finally:
        topology.restore()
    assert reaches(a, b.address) and reaches(b, a.address)
    with topology.partition():
        assert not reaches(a, b.address)
    assert reaches(b, a.address)


def reaches_from_root(host):
    """The root namespace reaches `host` on its access address (a TCP connect refused)."""
    res = subprocess.run([sys.executable, "-c", netns._REACH, host.access_address],
                         capture_output=True, text=True, timeout=10)
    return res.returncode == 0


def test_everything_is_removed_also_what_a_killed_run_left(namespaces_available):
    # A run that was killed: its topology made under a pid that no longer lives.
    dead = subprocess.Popen(["true"])
    dead.wait()
    topo = netns.Topology(owner_pid=dead.pid)
    topo.create()
    sleeper = topo.hosts[0].popen("sleep", "600")
    left = set(topo.leftovers())
    assert len(left) == 6, left  # 2 namespaces, 2 root veths, 2 /etc/netns entries
    removed = netns.cleanup_leftovers()
    assert {h.ns for h in topo.hosts} <= set(removed), removed
    assert topo.leftovers() == []
    assert sleeper.wait(10) == -9  # what ran in it was killed
    # A live owner's topology is not touched; destroy() removes it.
    with netns.Topology() as mine:
        assert netns.cleanup_leftovers() == []
        assert len(mine.leftovers()) == 6
    assert mine.leftovers() == []
