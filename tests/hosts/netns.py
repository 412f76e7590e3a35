"""Two "hosts" on one machine: Linux network namespaces joined by veth pairs.

    root namespace (the test process)
      198.51.100.(8s+1)/30 ── veth ── 198.51.100.(8s+2)/30  host A  (pgha-<pid>-<k>a)
      198.51.100.(8s+5)/30 ── veth ── 198.51.100.(8s+6)/30  host B  (pgha-<pid>-<k>b)
    host A 203.0.113.1/24 ──────── veth "repl0" ──────── 203.0.113.2/24 host B

203.0.113.0/24 is the replication network (the seed's SUBNET/MASK); each host reaches the other
only there. The root namespace reaches each host only on that host's own /30 (slot s, the
first one no other topology of this machine uses), so no IP forwarding is needed and no
sysctl of the root namespace is touched. No other address exists: the veths are made with
`addrgenmode none` (no IPv6 link-local address), and each namespace has only `lo` besides.

Name resolution is the seed's docker network: /etc/netns/<ns>/hosts, which `ip netns exec`
bind-mounts over /etc/hosts, names pg-node01 and pg-node02 (and localhost) in both hosts.

Topology is a context manager: everything it made (processes in the namespaces, veths,
namespaces, /etc/netns/<ns>) is removed on exit, also after a failure; cleanup_leftovers()
removes what a killed earlier run left (names with this module's prefix whose pid is dead).
`cut()` / `restore()` take the replication link down and up (a partition).

Nothing here waits by sleeping: every loop polls a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import itertools
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Sequence

NETNS_ETC = pathlib.Path("/etc/netns")
REPLICATION_NET = ipaddress.ip_network("203.0.113.0/24")
ACCESS_NET = ipaddress.ip_network("198.51.100.0/24")
REPL_LINK = "repl0"    # the A-B link's name inside each namespace
ACCESS_LINK = "host0"  # each namespace's end of its link to the root namespace
DEFAULT_HOSTS = (("pg-node01", "203.0.113.1"), ("pg-node02", "203.0.113.2"))

# Namespaces: pgha-<pid>-<k><letter>; their root-namespace veths: pgh<pid>x<k><letter> (at
# most 15 characters: IFNAMSIZ).
_NS_RE = re.compile(r"^pgha-(\d+)-(\d+)([a-z])$")
_LINK_RE = re.compile(r"^pgh(\d+)x(\d+)([a-z])$")
_counter = itertools.count(1)

CMD_TIMEOUT = 30  # seconds for one `ip` command


class TopologyError(RuntimeError):
    pass


def _run(argv: Sequence[str], check: bool = True, timeout: float = CMD_TIMEOUT,
         **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise TopologyError(f"{' '.join(argv)}: exit {res.returncode}: {res.stderr.strip()}")
    return res


def _pid_alive(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"  # a zombie runs no more code


def unavailable() -> Optional[str]:
    """Why namespaces cannot be made here (None when they can): not root, no `ip`, or the
    kernel refusing `ip netns add` (no CAP_SYS_ADMIN, no network namespaces)."""
    if os.geteuid() != 0:
        return "network namespaces need root (the test runs as uid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "no `ip` command (Debian package iproute2)"
    probe = f"pgha-{os.getpid()}-0z"
    res = _run(["ip", "netns", "add", probe], check=False)
    if res.returncode != 0:
        return f"`ip netns add` failed: {res.stderr.strip()}"
    _run(["ip", "netns", "del", probe], check=False)
    return None


def namespaces() -> List[str]:
    res = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def root_links() -> List[str]:
    res = _run(["ip", "-o", "link", "show"], check=False)
    names = []
    for line in res.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def _root_addresses() -> List[ipaddress.IPv4Address]:
    res = _run(["ip", "-4", "-o", "addr", "show"], check=False)
    out = []
    for line in res.stdout.splitlines():
        m = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", line)
        if m:
            out.append(ipaddress.ip_address(m.group(1)))
    return out


def _kill_namespace_processes(ns: str, deadline_s: float = 10) -> List[int]:
    """SIGKILLs every process in `ns` and waits (bounded) until none is left."""
    killed: List[int] = []
    deadline = time.monotonic() + deadline_s
    while True:
        res = _run(["ip", "netns", "pids", ns], check=False)
        pids = [int(p) for p in res.stdout.split() if p.isdigit() and _pid_alive(int(p))]
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.05)  # poll period: the kernel reaps asynchronously


def _remove_namespace(ns: str) -> List[str]:
    """Kills what runs in `ns`, deletes it and its /etc/netns directory; the errors met."""
    errors = []
    if ns in namespaces():
        _kill_namespace_processes(ns)
        res = _run(["ip", "netns", "del", ns], check=False)
        if res.returncode != 0:
            errors.append(f"ip netns del {ns}: {res.stderr.strip()}")
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
    with contextlib.suppress(OSError):
        NETNS_ETC.rmdir()  # only when empty: other users' entries stay
    return errors


def cleanup_leftovers() -> List[str]:
    """Removes namespaces, root-namespace veths and /etc/netns entries with this module's
    names whose owner pid no longer runs (a run that was killed). Returns what it removed."""
    removed = []
    for ns in namespaces():
        m = _NS_RE.match(ns)
        if m and not _pid_alive(int(m.group(1))):
            _remove_namespace(ns)
            removed.append(ns)
    for link in root_links():
        m = _LINK_RE.match(link)
        if m and not _pid_alive(int(m.group(1))):
            _run(["ip", "link", "del", link], check=False)
            removed.append(link)
    if NETNS_ETC.is_dir():
        for entry in NETNS_ETC.iterdir():
            m = _NS_RE.match(entry.name)
            if m and not _pid_alive(int(m.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
        with contextlib.suppress(OSError):
            NETNS_ETC.rmdir()
    return removed


@dataclasses.dataclass
class Host:
    """One host: a namespace with a replication address and an access link to the root
    namespace."""
    hostname: str                       # pg-node01: its name in every host's /etc/hosts
    ns: str                             # the namespace
    address: str                        # on the replication network (203.0.113.x)
    access_address: str                 # its end of the access /30: what the tests call
    root_address: str                   # the root namespace's end of that /30
    root_link: str                      # the root namespace's veth

    def argv(self, *argv: str) -> List[str]:
        """`argv` run inside this host."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, *argv: str, timeout: float = 60, check: bool = False,
            env: Optional[Dict[str, str]] = None, **kw) -> subprocess.CompletedProcess:
        res = subprocess.run(self.argv(*argv), capture_output=True, text=True, timeout=timeout,
                             env=env, cwd=kw.pop("cwd", "/"), **kw)
        if check and res.returncode != 0:
            raise TopologyError(f"[{self.hostname}] {' '.join(argv)}: exit {res.returncode}: "
                                f"{res.stderr.strip()}")
        return res

    def popen(self, *argv: str, **kw) -> subprocess.Popen:
        """Starts `argv` inside this host. `ip netns exec` execs the command itself (it does
        not fork), so the Popen's pid is the command's."""
        return subprocess.Popen(self.argv(*argv), **kw)


class Topology:
    """Two (or more) hosts, made by create() / __enter__ and removed by destroy() /
    __exit__ (whatever happened in between)."""

    def __init__(self, hosts: Iterable[Sequence[str]] = DEFAULT_HOSTS,
                 owner_pid: Optional[int] = None):
        self.owner_pid = owner_pid or os.getpid()
        self.index = next(_counter)
        self.spec = [tuple(h) for h in hosts]
        if not 2 <= len(self.spec) <= 4:
            raise ValueError("2 to 4 hosts")
        self.hosts: List[Host] = []
        self.created: List[str] = []  # namespaces and root links made so far
        self._cut = False

    # -- naming ------------------------------------------------------------------------
    def _ns_name(self, i: int) -> str:
        return f"pgha-{self.owner_pid}-{self.index}{chr(ord('a') + i)}"

    def _link_name(self, i: int) -> str:
        name = f"pgh{self.owner_pid}x{self.index}{chr(ord('a') + i)}"
        if len(name) > 15:
            raise TopologyError(f"interface name {name} is longer than 15 characters")
        return name

    def _free_slot(self) -> int:
        """The first block of 8 addresses of 198.51.100.0/24 that no interface of the root
        namespace uses (each host takes one /30 of it)."""
        used = {a for a in _root_addresses() if a in ACCESS_NET}
        base = int(ACCESS_NET.network_address)
        for slot in range(ACCESS_NET.num_addresses // 8):
            block = {ipaddress.ip_address(base + 8 * slot + j) for j in range(8)}
            if not block & used:
                return slot
        raise TopologyError("no free block of 198.51.100.0/24 in the root namespace")

    def host(self, hostname: str) -> Host:
        for h in self.hosts:
            if h.hostname == hostname:
                return h
        raise KeyError(hostname)

    # -- making and removing -----------------------------------------------------------
    def hosts_file(self) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{address}\t{name}" for name, address in self.spec]
        return "\n".join(lines) + "\n"

    def create(self) -> "Topology":
        if len(self.spec) != 2:
            raise TopologyError("create() makes two hosts joined by one veth")
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise
        return self

    def _create(self) -> None:
        slot = self._free_slot()
        base = int(ACCESS_NET.network_address) + 8 * slot
        for i, (hostname, address) in enumerate(self.spec):
            if ipaddress.ip_address(address) not in REPLICATION_NET:
                raise TopologyError(f"{address} is not in {REPLICATION_NET}")
            ns = self._ns_name(i)
            root_address = str(ipaddress.ip_address(base + 4 * i + 1))
            access_address = str(ipaddress.ip_address(base + 4 * i + 2))
            h = Host(hostname, ns, address, access_address, root_address, self._link_name(i))
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
            self.hosts.append(h)
            etc = NETNS_ETC / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(self.hosts_file())
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            # The access link: made in the root namespace, its peer moved into the host.
            _run(["ip", "link", "add", h.root_link, "type", "veth", "peer", "name", ACCESS_LINK,
                  "netns", ns])
            self.created.append(h.root_link)
            self._no_ipv6(None, h.root_link)
            self._no_ipv6(ns, ACCESS_LINK)
            _run(["ip", "addr", "add", f"{root_address}/30", "dev", h.root_link])
            _run(["ip", "-n", ns, "addr", "add", f"{access_address}/30", "dev", ACCESS_LINK])
            _run(["ip", "link", "set", h.root_link, "up"])
            _run(["ip", "-n", ns, "link", "set", ACCESS_LINK, "up"])
        a, b = self.hosts
        # The replication link: made in A, its peer directly in B.
        _run(["ip", "-n", a.ns, "link", "add", REPL_LINK, "type", "veth", "peer", "name",
              REPL_LINK, "netns", b.ns])
        for h in self.hosts:
            self._no_ipv6(h.ns, REPL_LINK)
            _run(["ip", "-n", h.ns, "addr", "add", f"{h.address}/{REPLICATION_NET.prefixlen}",
                  "dev", REPL_LINK])
            _run(["ip", "-n", h.ns, "link", "set", REPL_LINK, "up"])
        self.wait_connected()

    @staticmethod
    def _no_ipv6(ns: Optional[str], link: str) -> None:
        # An interface attribute (not a sysctl): no IPv6 link-local address is generated. A
        # kernel without IPv6 refuses it, and then there is no such address anyway.
        prefix = ["ip"] if ns is None else ["ip", "-n", ns]
        _run(prefix + ["link", "set", "dev", link, "addrgenmode", "none"], check=False)

    def destroy(self) -> List[str]:
        """Removes everything create() made; returns the errors met (it goes on past them)."""
        errors: List[str] = []
        for name in reversed(self.created):
            if _NS_RE.match(name):
                errors += _remove_namespace(name)
            elif name in root_links():
                res = _run(["ip", "link", "del", name], check=False)
                if res.returncode != 0 and name in root_links():
                    errors.append(f"ip link del {name}: {res.stderr.strip()}")
        self.created.clear()
        self.hosts.clear()
        return errors

    def __enter__(self) -> "Topology":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.destroy()

    def leftovers(self) -> List[str]:
        """What of this topology still exists (nothing after destroy())."""
        names = {self._ns_name(i) for i in range(len(self.spec))}
        links = {self._link_name(i) for i in range(len(self.spec))}
        left = [n for n in namespaces() if n in names] + [n for n in root_links() if n in links]
        left += [str(NETNS_ETC / n) for n in names if (NETNS_ETC / n).exists()]
        return left

    # -- the replication link ----------------------------------------------------------
    def cut(self) -> None:
        """Takes the replication link down on both ends: neither host reaches the other
        (connections fail at once: no route), each still reaches its own addresses and the
        root namespace still reaches both."""
        for h in self.hosts:
            _run(["ip", "-n", h.ns, "link", "set", REPL_LINK, "down"])
        self._cut = True

    def restore(self) -> None:
        """Brings the replication link up again and waits until each host reaches the
        other."""
        for h in self.hosts:
            _run(["ip", "-n", h.ns, "link", "set", REPL_LINK, "up"])
        self._cut = False
        self.wait_connected()

    @contextlib.contextmanager
    def partition(self):
        """The replication link cut for the `with` block, restored after it (also on error)."""
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def link_up(self, host: Host) -> bool:
        res = _run(["ip", "-n", host.ns, "-o", "link", "show", REPL_LINK], check=False)
        return res.returncode == 0 and "state UP" in res.stdout

    def wait_connected(self, timeout: float = 20) -> None:
        """Polls until every host's replication link is UP (carrier on both ends) and the
        neighbour answers ARP: then a TCP connection to the other host gets through."""
        deadline = time.monotonic() + timeout
        for h in self.hosts:
            while not self.link_up(h):
                if time.monotonic() > deadline:
                    raise TopologyError(f"{REPL_LINK} of {h.ns} is not up after {timeout} s")
                time.sleep(0.02)  # poll period
        for h in self.hosts:
            for other in self.hosts:
                if other is h:
                    continue
                while True:
                    # An ARP probe (arping is not always installed: ping is iputils-ping,
                    # not installed either): a TCP connect to a closed port of the peer is
                    # refused (RST) only once the peer is reachable.
                    res = h.run("python3", "-c", _REACH, other.address, timeout=10)
                    if res.returncode == 0:
                        break
                    if time.monotonic() > deadline:
                        raise TopologyError(f"{h.hostname} does not reach {other.address}: "
                                            f"{res.stdout.strip()} {res.stderr.strip()}")
                    time.sleep(0.05)  # poll period


# Exit 0 when a TCP connection to ADDRESS:9 (discard, nothing listens) is answered at all:
# refused (the host is there) or accepted.
_REACH = """
import errno, socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], 9))
except ConnectionRefusedError:
    sys.exit(0)
except OSError as e:
    print(e); sys.exit(1)
sys.exit(0)
"""


@contextlib.contextmanager
def two_hosts(hosts: Iterable[Sequence[str]] = DEFAULT_HOSTS):
    """A Topology for a `with` block, after removing a killed run's leftovers."""
    cleanup_leftovers()
    topo = Topology(hosts)
    topo.create()
    try:
        yield topo
    finally:
        topo.destroy()
