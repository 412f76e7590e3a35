#!/usr/bin/env python3
"""pgha against Patroni, side by side (issue 13): the driver of bench/compare_patroni.sh.

Brings up, per mode, three clusters on loopback ports below 32768, each with an etcd member of
its own and two PostgreSQL 15 nodes: pgha (`pghactl local up --etcd`), Patroni with its
defaults, Patroni tuned (ttl 10, loop_wait 2, retry_timeout 4). Then, run by run, the three
systems taking turns, it runs each scenario with the same writer and prints the medians with
the ratios pgha / Patroni, then the targets of issue 12. Standard library, psycopg2 and yaml
only. Every process it starts is recorded in TMP/pids (pid and start time) and stopped by pid.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg2
import yaml

ARGS = None
PIDS_FILE = None
STARTED = []  # subprocess.Popen objects this driver started (stopped by pid at the end)


def log(msg):
    print("[compare_patroni.py %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


def now():
    return time.monotonic()


# --- processes ------------------------------------------------------------------------------

def proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def record_pid(pid):
    st = proc_start_time(pid)
    if st is not None:
        with open(PIDS_FILE, "a") as f:
            f.write("%d %s\n" % (pid, st))


def as_postgres():
    """argv prefix that runs a program as the postgres account when we are root."""
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    return []


def spawn(argv, logfile, cwd="/", env=None):
    out = open(logfile, "ab")
    p = subprocess.Popen(as_postgres() + argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                         env=env, start_new_session=True)
    out.close()
    STARTED.append(p)
    record_pid(p.pid)
    return p


def stop_proc(p, timeout=10.0):
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    except ProcessLookupError:
        pass


def chown_postgres(path):
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", path], check=True)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def children(pid):
    """pids whose parent is pid (the backends of a postmaster)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def postmaster_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
        return pid if alive(pid) else None
    except (OSError, ValueError):
        return None


def free_ports(n, taken):
    """n loopback ports below the ephemeral range that nothing listens on."""
    ports = []
    for _ in range(2000):
        if len(ports) == n:
            return ports
        p = random.randint(20000, 32000)
        if p in taken or p in ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(p)
    raise RuntimeError("no free loopback ports")


TAKEN_PORTS = set()


def ports(n):
    ps = free_ports(n, TAKEN_PORTS)
    TAKEN_PORTS.update(ps)
    return ps


def http(method, url, body=None, headers=None, timeout=30.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def run_cmd(argv, timeout=120.0):
    t = now()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           cwd="/")
        return p.returncode, p.stdout.decode(errors="replace"), now() - t
    except subprocess.TimeoutExpired:
        return -1, "timed out after %.0f s" % timeout, now() - t


# --- PostgreSQL, seen from outside -----------------------------------------------------------

def pg_connect(port, timeout=2):
    return psycopg2.connect(host="127.0.0.1", port=port, dbname="postgres", user="postgres",
                            connect_timeout=timeout, options="-c statement_timeout=2000")


def pg_role(port):
    """'primary', 'streaming' (a standby whose WAL receiver streams), 'standby', or None."""
    try:
        c = pg_connect(port)
    except psycopg2.Error:
        return None
    try:
        c.autocommit = True
        cur = c.cursor()
        cur.execute("SELECT pg_is_in_recovery(), "
                    "(SELECT status FROM pg_stat_wal_receiver LIMIT 1)")
        rec, status = cur.fetchone()
        if not rec:
            return "primary"
        return "streaming" if status == "streaming" else "standby"
    except psycopg2.Error:
        return None
    finally:
        c.close()


# --- the writer ------------------------------------------------------------------------------

class Writer(threading.Thread):
    """One libpq connection string naming both nodes with target_session_attrs=read-write;
    reconnects after each failure (the host list rotated each time, so that a hung first host
    does not delay every try); inserts numbered rows at about `rate` rows/s. An INSERT that
    hangs longer than `hang_s` (a frozen server) has its socket shut down from a watchdog."""

    def __init__(self, ports_, first_id, rate=500.0, hang_s=1.0):
        super().__init__(daemon=True)
        self.ports = list(ports_)
        self.next_id = first_id
        self.first_id = first_id
        self.interval = 1.0 / rate
        self.hang_s = hang_s
        # (id, monotonic time of the ack, port of the node that acked, when that session began,
        #  when the INSERT was sent)
        self.acks = []
        self.errors = 0
        self.stop_flag = threading.Event()
        self.pending_since = None
        self.conn = None
        self.lock = threading.Lock()

    def dsn(self, rot):
        ps = self.ports[rot % len(self.ports):] + self.ports[:rot % len(self.ports)]
        return ("host=%s port=%s dbname=postgres user=postgres connect_timeout=2 "
                "target_session_attrs=read-write" % (",".join("127.0.0.1" for _ in ps),
                                                    ",".join(str(p) for p in ps)))

    def watchdog(self):
        while not self.stop_flag.is_set():
            time.sleep(0.05)
            with self.lock:
                t, c = self.pending_since, self.conn
                if t is not None and c is not None and now() - t > self.hang_s:
                    try:
                        s = socket.socket(fileno=os.dup(c.fileno()))
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    except OSError:
                        pass
                    self.pending_since = None

    def run(self):
        threading.Thread(target=self.watchdog, daemon=True).start()
        rot = 0
        nxt = now()
        while not self.stop_flag.is_set():
            if self.conn is None:
                try:
                    c = psycopg2.connect(self.dsn(rot))
                    c.autocommit = True
                    port = int(c.info.port)
                    with self.lock:
                        self.conn, self.port, self.conn_at = c, port, now()
                except psycopg2.Error:
                    rot += 1
                    time.sleep(0.005)
                    continue
            rid = self.next_id
            self.next_id += 1
            try:
                t_sent = now()
                with self.lock:
                    self.pending_since = t_sent
                self.conn.cursor().execute("INSERT INTO bench_rows (id) VALUES (%s)", (rid,))
                t = now()
                with self.lock:
                    self.pending_since = None
                self.acks.append((rid, t, self.port, self.conn_at, t_sent))
            except (psycopg2.Error, OSError):
                with self.lock:
                    self.pending_since = None
                    c, self.conn = self.conn, None
                try:
                    c.close()
                except Exception:
                    pass
                self.errors += 1
                rot += 1
                time.sleep(0.005)
                continue
            nxt += self.interval
            d = nxt - now()
            if d > 0:
                time.sleep(d)
            else:
                nxt = now()
        with self.lock:
            c, self.conn = self.conn, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    def stop(self):
        self.stop_flag.set()
        self.join(10)


class StaleClient(threading.Thread):
    """A client pinned to one node (no target_session_attrs): what an application that kept
    its session to the old master would see. Inserts ids from its own range, never times out
    (so an INSERT sent before a freeze is answered, or not, when the server resumes)."""

    def __init__(self, port, first_id):
        super().__init__(daemon=True)
        self.port, self.next_id = port, first_id
        self.acks = []
        self.stop_flag = threading.Event()

    def run(self):
        conn = None
        for _ in range(100000):
            if self.stop_flag.is_set():
                break
            try:
                if conn is None:
                    conn = psycopg2.connect(host="127.0.0.1", port=self.port, dbname="postgres",
                                            user="postgres", connect_timeout=2)
                    conn.autocommit = True
                rid = self.next_id
                self.next_id += 1
                t_sent = now()
                conn.cursor().execute("INSERT INTO bench_rows (id) VALUES (%s)", (rid,))
                self.acks.append((rid, now(), self.port, 0.0, t_sent))
            except (psycopg2.Error, OSError):
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_flag.set()
        self.join(30)


# --- the systems -----------------------------------------------------------------------------

class Node:
    def __init__(self, name, pg_port, data_dir):
        self.name, self.pg_port, self.data_dir = name, pg_port, data_dir


class System:
    label = "?"
    ttl = None

    def master(self, timeout=60.0, strict=True):
        """The one primary, once the other node streams from it (None after timeout); strict:
        also ready for the next run (Patroni in sync mode: its sync_standby named)."""
        end = now() + timeout
        while now() < end:
            roles = {n.name: pg_role(n.pg_port) for n in self.nodes}
            prim = [k for k, v in roles.items() if v == "primary"]
            if len(prim) == 1 and all(v == "streaming" for k, v in roles.items() if k != prim[0]) \
                    and (not strict or self.ready(self.node(prim[0]))):
                return self.node(prim[0])
            time.sleep(0.2)
        return None

    def ready(self, master):
        return True

    def node(self, name):
        return [n for n in self.nodes if n.name == name][0]

    def other(self, n):
        return [m for m in self.nodes if m.name != n.name][0]


class Pgha(System):
    label = "pgha"

    def __init__(self, base, mode):
        self.dir = os.path.join(base, "pgha")
        self.mode = mode
        self.nodes = []

    def up(self):
        argv = [ARGS.pghactl, "local", "up", self.dir, "--etcd", "--etcd-members", "1"]
        if self.mode == "sync":
            argv.append("--synchronous")
        rc, out, _ = run_cmd(argv, timeout=300)
        if rc != 0:
            raise RuntimeError("pghactl local up failed:\n" + out[-3000:])
        self.reload()
        for n in self.nodes:
            TAKEN_PORTS.add(n.pg_port)
        # The lease and loop local up gave the agents (docs/store.md: 3 s and 250 ms).
        cfg = {}
        p = os.path.join(self.dir, self.nodes[0].name, "agent.json")
        if os.path.exists(p):
            cfg = json.load(open(p))
        self.ttl = cfg.get("ha_ttl_s")
        self.loop_ms = cfg.get("ha_loop_ms")

    def reload(self):
        self.cluster = json.load(open(os.path.join(self.dir, "cluster.json")))
        self.token = self.cluster["api_token"]
        self.nodes = [Node(n["name"], n["pg_port"], n["data_dir"]) for n in self.cluster["nodes"]]

    def down(self):
        if os.path.exists(os.path.join(self.dir, "cluster.json")):
            run_cmd([ARGS.pghactl, "local", "down", self.dir], timeout=180)

    def url(self, n):
        self.reload()
        return [m for m in self.cluster["nodes"] if m["name"] == n.name][0]["agent_url"]

    def api(self, n, path):
        return self.url(n) + "/api/pg/v1/" + path

    def auth(self):
        return {"Authorization": "Bearer " + self.token}

    def ha_pid(self, n):
        self.reload()
        return [m for m in self.cluster["nodes"] if m["name"] == n.name][0]["agent_pid"]

    def paused_everywhere(self, want):
        for n in self.nodes:
            st, body = http("GET", self.api(n, "cluster"), headers=self.auth(), timeout=5)
            try:
                if st != 200 or json.loads(body).get("paused") is not want:
                    return False
            except ValueError:
                return False
        return True

    def set_pause(self, on):
        route = "cluster/pause" if on else "cluster/resume"
        for n in self.nodes:
            st, body = http("POST", self.api(n, route), headers=self.auth(), timeout=10)
            if st == 200:
                break
        end = now() + 30
        while now() < end and not self.paused_everywhere(on):
            time.sleep(0.05)

    def _maybe_paused(self, call):
        """call() -> (status, text). On a 409 that asks to pause: pause, call again, resume."""
        t0 = now()
        st, text = call()
        if st == 409 and "paus" in text:
            self.set_pause(True)
            t0 = now()
            st, text = call()
            self.set_pause(False)
            return t0, st, text, "409 unpaused: run paused"
        return t0, st, text, ""

    def switchover_cli(self, master, replica):
        def call():
            rc, out, _ = run_cmd([ARGS.pghactl, "switchover", self.dir, "--node", master.name,
                                  "--order", "masterSlave"], timeout=300)
            return (200 if rc == 0 else (409 if "409" in out or "pause" in out else 500)), out
        return self._maybe_paused(call)

    def switchover_rest(self, master, replica):
        def call():
            return http("POST", self.api(master, "instance/switchover/masterSlave"),
                        headers=self.auth(), timeout=300)
        return self._maybe_paused(call)

    def manual_failover(self, master, replica):
        # Stopping a node is a role change too: refused (409) while the loop runs.
        st, text = http("DELETE", self.api(master, "instance/master"), headers=self.auth(),
                        timeout=120)
        note = ""
        paused = False
        if st == 409 and "paus" in text:
            self.set_pause(True)
            paused = True
            note = "409 unpaused: run paused"
            st, text = http("DELETE", self.api(master, "instance/master"), headers=self.auth(),
                            timeout=120)
        if st != 200:
            if paused:
                self.set_pause(False)
            return now(), st, "stopping the master: " + text, note
        t0 = now()
        rc, out, _ = run_cmd([ARGS.pghactl, "failover", self.dir, "--node", replica.name,
                              "--method", "promote"], timeout=300)
        if rc != 0 and ("409" in out or "pause" in out) and not paused:
            self.set_pause(True)
            paused = True
            note = "409 unpaused: run paused"
            t0 = now()
            rc, out, _ = run_cmd([ARGS.pghactl, "failover", self.dir, "--node", replica.name,
                                  "--method", "promote"], timeout=300)
        if paused:
            self.set_pause(False)
        return t0, (200 if rc == 0 else 500), out, note

    def restart_ha(self, n):
        rc, out, _ = run_cmd([ARGS.pghactl, "local", "start", self.dir, n.name], timeout=120)
        if rc != 0:
            log("pghactl local start %s: %s" % (n.name, out[-500:]))
        self.reload()

    def ha_alive(self, n):
        return alive(self.ha_pid(n))

    def rest_routes(self, master):
        return [("state GET instance/current", self.api(master, "instance/current"),
                 self.auth()),
                ("health GET /api/pg/v1/health", self.api(master, "health"), {})]

    def cli_argv(self):
        return [ARGS.pghactl, "list", self.dir]


class Patroni(System):
    def __init__(self, base, mode, tuned):
        self.tuned = tuned
        self.label = "patroni-tuned" if tuned else "patroni-default"
        self.dir = os.path.join(base, self.label)
        self.mode = mode
        self.ttl = 10 if tuned else 30
        self.procs = {}
        self.etcd = None

    def up(self):
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        ec, ep, p1, p2, r1, r2 = ports(6)
        self.etcd_url = "http://127.0.0.1:%d" % ec
        etcd_dir = os.path.join(self.dir, "etcd")
        os.makedirs(etcd_dir)
        chown_postgres(self.dir)
        token = "%s-%d-%d" % (self.label, os.getpid(), random.randint(0, 1 << 30))
        # The same etcd settings as pghactl local up --etcd gives pgha's member.
        self.etcd = spawn(["etcd", "--name", "e1", "--data-dir", os.path.join(etcd_dir, "data"),
                           "--listen-client-urls", self.etcd_url,
                           "--advertise-client-urls", self.etcd_url,
                           "--listen-peer-urls", "http://127.0.0.1:%d" % ep,
                           "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % ep,
                           "--initial-cluster", "e1=http://127.0.0.1:%d" % ep,
                           "--initial-cluster-state", "new", "--initial-cluster-token", token,
                           "--heartbeat-interval", "50", "--election-timeout", "500"],
                          os.path.join(etcd_dir, "etcd.log"))
        end = now() + 30
        while now() < end:
            st, body = http("GET", self.etcd_url + "/health", timeout=2)
            if st == 200 and '"true"' in body:
                break
            if self.etcd.poll() is not None:
                raise RuntimeError("etcd exited: see " + etcd_dir)
            time.sleep(0.1)
        else:
            raise RuntimeError("etcd not healthy")
        dcs = {"postgresql": {"use_pg_rewind": True, "use_slots": True}}
        if self.tuned:
            dcs.update({"ttl": 10, "loop_wait": 2, "retry_timeout": 4})
        if self.mode == "sync":
            dcs["synchronous_mode"] = True
        self.nodes = []
        self.cfg = {}
        self.rest = {}
        for name, pg_port, rest_port in (("node1", p1, r1), ("node2", p2, r2)):
            nd = os.path.join(self.dir, name)
            os.makedirs(nd)
            cfg = {
                "scope": "bench", "namespace": "/service/", "name": name,
                "log": {"dir": nd, "level": "INFO"},
                "restapi": {"listen": "127.0.0.1:%d" % rest_port,
                            "connect_address": "127.0.0.1:%d" % rest_port},
                "etcd3": {"hosts": ["127.0.0.1:%d" % ec]},
                "bootstrap": {"dcs": dcs, "initdb": [{"encoding": "UTF8"}]},
                "postgresql": {
                    "listen": "127.0.0.1:%d" % pg_port,
                    "connect_address": "127.0.0.1:%d" % pg_port,
                    "data_dir": os.path.join(nd, "data"),
                    "bin_dir": ARGS.pg_bindir,
                    "pgpass": os.path.join(nd, "pgpass"),
                    "authentication": {
                        "superuser": {"username": "postgres", "password": "bench"},
                        "replication": {"username": "replicator", "password": "bench"},
                    },
                    "parameters": {"unix_socket_directories": nd},
                    "pg_hba": ["local all all trust",
                               "host all all 127.0.0.1/32 trust",
                               "host replication all 127.0.0.1/32 trust"],
                },
            }
            path = os.path.join(nd, "patroni.yml")
            with open(path, "w") as f:
                yaml.safe_dump(cfg, f, default_flow_style=False)
            self.cfg[name] = path
            self.rest[name] = "http://127.0.0.1:%d" % rest_port
            self.nodes.append(Node(name, pg_port, os.path.join(nd, "data")))
        chown_postgres(self.dir)
        self.start_patroni(self.nodes[0])
        end = now() + 120
        while now() < end and pg_role(self.nodes[0].pg_port) != "primary":
            time.sleep(0.3)
        self.start_patroni(self.nodes[1])
        if self.master(timeout=180) is None:
            raise RuntimeError(self.label + ": no primary with a streaming replica")

    def ready(self, master):
        """In synchronous mode, Patroni also has to have named the replica its synchronous
        standby (its switchover refuses another candidate until then)."""
        if self.mode != "sync":
            return True
        st, body = http("GET", self.rest[master.name] + "/cluster", timeout=5)
        try:
            members = json.loads(body).get("members", []) if st == 200 else []
        except ValueError:
            return False
        other = self.other(master).name
        return any(m.get("name") == other and m.get("role") == "sync_standby" for m in members)

    def start_patroni(self, n):
        nd = os.path.dirname(n.data_dir)
        env = {"PATH": "/usr/bin:/bin", "HOME": nd, "LC_ALL": "C.UTF-8"}
        self.procs[n.name] = spawn(["/usr/bin/patroni", self.cfg[n.name]],
                                   os.path.join(nd, "patroni.out"), cwd=nd, env=env)

    def ctl(self, *args, timeout=120):
        return run_cmd(["patronictl", "-c", self.cfg["node1"]] + list(args), timeout=timeout)

    def down(self):
        for p in self.procs.values():
            stop_proc(p, timeout=60)
        for n in getattr(self, "nodes", []):
            pid = postmaster_pid(n.data_dir)
            if pid:
                os.kill(pid, signal.SIGKILL)
        stop_proc(self.etcd)

    def switchover_cli(self, master, replica):
        t0 = now()
        rc, out, _ = self.ctl("switchover", "--leader", master.name, "--candidate", replica.name,
                              "--force", timeout=300)
        return t0, (200 if rc == 0 else 500), out, ""

    def switchover_rest(self, master, replica):
        t0 = now()
        st, text = http("POST", self.rest[master.name] + "/switchover",
                        {"leader": master.name, "candidate": replica.name}, timeout=300)
        return t0, st, text, ""

    def manual_failover(self, master, replica):
        # "Master stopped": in pause (else Patroni starts it again at once), PostgreSQL stopped.
        self.ctl("pause", "--wait", timeout=120)
        subprocess.run(as_postgres() + [os.path.join(ARGS.pg_bindir, "pg_ctl"), "stop", "-m",
                                        "fast", "-D", master.data_dir, "-w", "-t", "60"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        t0 = now()
        rc, out, _ = self.ctl("failover", "--candidate", replica.name, "--force", timeout=300)
        self.ctl("resume", "--wait", timeout=120)
        return t0, (200 if rc == 0 else 500), out, "run paused (Patroni restarts a stopped master otherwise)"

    def ha_pid(self, n):
        return self.procs[n.name].pid

    def ha_alive(self, n):
        return self.procs[n.name].poll() is None

    def restart_ha(self, n):
        p = self.procs.get(n.name)
        if p is not None and p.poll() is None:
            return
        if p is not None:
            p.wait(5)
        self.start_patroni(n)

    def rest_routes(self, master):
        return [("state GET /patroni", self.rest[master.name] + "/patroni", {}),
                ("health GET /health", self.rest[master.name] + "/health", {})]

    def cli_argv(self):
        return ["patronictl", "-c", self.cfg["node1"], "list"]


# --- scenarios -------------------------------------------------------------------------------

NEXT_ID = [1]


def ids(n=10 ** 7):
    first = NEXT_ID[0]
    NEXT_ID[0] += n
    return first


def lost_rows(system, acked_ids, timeout=60.0):
    """Acknowledged ids that the current master does not have (None: no master to ask)."""
    m = system.master(timeout=timeout, strict=False)
    if m is None:
        return None
    lo, hi = min(acked_ids), max(acked_ids)
    c = pg_connect(m.pg_port)
    try:
        cur = c.cursor()
        cur.execute("SELECT id FROM bench_rows WHERE id BETWEEN %s AND %s", (lo, hi))
        have = {r[0] for r in cur.fetchall()}
    finally:
        c.close()
    return len(set(acked_ids) - have)


def watch_streaming(node, t0, deadline, out):
    end = t0 + deadline
    while now() < end:
        if pg_role(node.pg_port) == "streaming":
            out["streaming"] = now() - t0
            return
        time.sleep(0.05)


def max_gap(acks, t_from, t_to):
    ts = [a[1] for a in acks if t_from <= a[1] <= t_to]
    if len(ts) < 2:
        return None
    return max(b - a for a, b in zip(ts, ts[1:]))


def first_ack(acks, t0, port=None):
    """Seconds from t0 to the first row acknowledged over a session opened after t0 (a
    backend of a killed postmaster may still answer for some milliseconds on the old one)."""
    for _, t, p, conn_at, _ in acks:
        if t >= t0 and conn_at >= t0 and (port is None or p == port):
            return t - t0
    return None


def scenario_role_change(system, kind):
    """switchover (CLI or REST) and manual failover."""
    m = system.master()
    if m is None:
        return {"error": "no healthy cluster before the run"}
    r = system.other(m)
    w = Writer([n.pg_port for n in system.nodes], ids())
    w.start()
    time.sleep(1.0)
    stream = {}
    watcher = None
    if kind == "switchover":
        t0, st, text, note = system.switchover_cli(m, r)
    elif kind == "switchover-rest":
        t0, st, text, note = system.switchover_rest(m, r)
    else:
        t0, st, text, note = system.manual_failover(m, r)
    t_ret = now() - t0
    watcher = threading.Thread(target=watch_streaming,
                               args=(m, t0, 120.0 if st == 200 else 1.0, stream))
    watcher.start()
    end = now() + (90 if st == 200 else 1)
    while now() < end and first_ack(w.acks, t0, r.pg_port) is None:
        time.sleep(0.05)
    watcher.join(125)
    time.sleep(0.5)
    w.stop()
    res = {"writable": first_ack(w.acks, t0, r.pg_port), "streaming": stream.get("streaming"),
           "gap": max_gap(w.acks, t0 - 1.0, now()), "returns": t_ret, "note": note}
    if st != 200:
        res["error"] = "call answered %s: %s" % (st, text.strip()[-300:])
    res["lost"] = lost_rows(system, [a[0] for a in w.acks]) if w.acks else 0
    return res


def freeze_pids(system, m):
    pm = postmaster_pid(m.data_dir)
    pids = [system.ha_pid(m)]
    if pm:
        pids += [pm] + children(pm)
    return pids, pm


def scenario_loss(system, kind):
    """node-loss, freeze, crash."""
    m = system.master()
    if m is None:
        return {"error": "no healthy cluster before the run"}
    r = system.other(m)
    w = Writer([n.pg_port for n in system.nodes], ids())
    stale = StaleClient(m.pg_port, ids()) if kind == "freeze" else None
    w.start()
    if stale:
        stale.start()
    time.sleep(1.5)
    # How long to wait for the other node: twice the lease and 10 s more (pgha 16 s, Patroni
    # tuned 30 s, default 70 s); a killed HA process is started again after that at the latest.
    ttl = system.ttl or 30
    bound = 2 * ttl + 10
    res = {"note": ""}
    if kind == "node-loss":
        ha = system.ha_pid(m)
        pm = postmaster_pid(m.data_dir)
        t0 = now()
        for pid in (ha, pm):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        t_killed = now()
        end = now() + bound
        while now() < end and first_ack(w.acks, t0, r.pg_port) is None:
            time.sleep(0.05)
        t_restart = None
        if first_ack(w.acks, t0, r.pg_port) is None:
            t_restart = now()
            res["note"] = ("other node not writable within %d s of the loss; old node's HA "
                           "process started again then" % bound)
        system.restart_ha(m)
        end = now() + 60
        while now() < end and first_ack(w.acks, t0, r.pg_port) is None:
            time.sleep(0.05)
        t_resume = None
    elif kind == "freeze":
        t_restart = None
        pids, pm = freeze_pids(system, m)
        t0 = now()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        end = now() + bound
        while now() < end and first_ack(w.acks, t0, r.pg_port) is None:
            time.sleep(0.05)
        if first_ack(w.acks, t0, r.pg_port) is None:
            t_restart = now()
            res["note"] = ("other node not writable within %d s of the freeze; resumed then" %
                           bound)
        time.sleep(0.5)
        t_resume = now()
        # Backends the postmaster forked before the freeze, and any forked since (none: frozen).
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        time.sleep(5.0)
        res["freeze_s"] = t_resume - t0
    else:  # crash
        t_restart = None
        pm = postmaster_pid(m.data_dir)
        t0 = now()
        os.kill(pm, signal.SIGKILL)
        end = now() + bound
        while now() < end and first_ack(w.acks, t0) is None:
            time.sleep(0.05)
        t_resume = None
    time.sleep(1.0)
    w.stop()
    if stale:
        stale.stop()
    if kind == "crash":
        res["writable"] = first_ack(w.acks, t0)
        fa = [a[2] for a in w.acks if a[1] >= t0 and a[3] >= t0]
        res["note"] = ("restarted in place" if fa and fa[0] == m.pg_port else
                       "failed over" if fa else "not writable")
    else:
        res["writable"] = first_ack(w.acks, t0, r.pg_port)
        if t_restart is not None and res["writable"] is not None:
            # Writable only once the lost node was back: not a failover; counted as not writable.
            res["writable_after_return"] = res["writable"]
            res["writable"] = None
    acks = w.acks + (stale.acks if stale else [])
    res["gap"] = max_gap(w.acks, t0 - 1.0, now())
    # Rows the old node acknowledged after the event (for a freeze: after it resumed; the
    # writer's own session to it was cut after 1 s, the stale client's was not).
    if kind == "node-loss":
        # Answers read after the kill, some for INSERTs in flight at the kill (committed before
        # it, or by a backend that has not yet seen its postmaster die) ...
        res["old_acked_any"] = sum(1 for a in acks if a[2] == m.pg_port and a[1] > t0)
        # ... and, unambiguous, INSERTs sent after the kill that the old node acknowledged.
        res["old_acked"] = sum(1 for a in acks if a[2] == m.pg_port and a[4] > t_killed)
    if kind == "freeze":
        res["old_acked"] = sum(1 for a in acks if a[2] == m.pg_port and a[1] > t_resume)
    if kind in ("node-loss", "freeze"):
        # ... and those after the other node had taken its first write: two masters.
        if res["writable"] is not None:
            res["old_acked_late"] = sum(1 for a in acks if a[2] == m.pg_port and
                                        a[1] > t0 + res["writable"])
    # Bring the old node back (an HA process killed is started again; a frozen one resumed).
    if not system.ha_alive(m):
        system.restart_ha(m)
    before = [a[0] for a in acks if a[1] < t0]
    every = [a[0] for a in acks]
    lost_all = lost_rows(system, every, timeout=180) if every else 0
    lost_before = lost_rows(system, before, timeout=30) if before else 0
    res["lost"] = lost_all
    res["lost_before"] = lost_before
    fm = system.master(timeout=5, strict=False)
    if fm is not None and fm.name == m.name and kind != "crash":
        res["note"] = (res["note"] + "; " if res["note"] else "") + "the old master ended as master"
    if lost_all is None:
        res["error"] = "the cluster did not come back to a master with a streaming replica"
    return res


def wrk(url, headers, seconds):
    argv = ["wrk", "-t2", "-c16", "-d%ds" % seconds, "--latency"]
    for k, v in headers.items():
        argv += ["-H", "%s: %s" % (k, v)]
    rc, out, _ = run_cmd(argv + [url], timeout=seconds + 30)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if not rps or not p99:
        return None, None, out[-300:]
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(rps.group(1)), float(p99.group(1)) * scale, (
        "%s non-2xx" % non2xx.group(1) if non2xx else "")


def scenario_rest(system):
    m = system.master()
    if m is None:
        return {"error": "no healthy cluster"}
    res = {}
    for label, url, headers in system.rest_routes(m):
        kind = label.split()[0]
        rps, p99, note = wrk(url, headers, ARGS.wrk_seconds)
        res[kind + "_rps"], res[kind + "_p99"] = rps, p99
        if note:
            res["note"] = (res.get("note", "") + " " + kind + ": " + note).strip()
        res[kind + "_route"] = label.split(" ", 1)[1]
    return res


def scenario_cli(system):
    argv = system.cli_argv()
    run_cmd(argv, timeout=30)
    ts = []
    for _ in range(5):
        rc, out, dt = run_cmd(argv, timeout=30)
        if rc != 0:
            return {"error": "%s: %s" % (" ".join(argv[:2]), out[-300:])}
        ts.append(dt * 1000)
    return {"ms": statistics.median(ts)}


def run_scenario(system, sc):
    try:
        if sc in ("switchover", "switchover-rest", "failover"):
            return scenario_role_change(system, sc)
        if sc in ("node-loss", "freeze", "crash"):
            return scenario_loss(system, sc)
        if sc == "rest":
            return scenario_rest(system)
        return scenario_cli(system)
    except Exception as e:  # a run that could not be measured is reported, not fatal
        return {"error": "%s: %s" % (type(e).__name__, e)}


# --- report ----------------------------------------------------------------------------------

METRICS = {
    "switchover": [("writable", "call -> first write on the new master", "s"),
                   ("streaming", "call -> old master streaming again", "s"),
                   ("gap", "longest gap between acknowledged writes", "s"),
                   ("lost", "acknowledged rows lost", "rows")],
    "failover": [("writable", "failover call -> first write on the new master", "s"),
                 ("streaming", "failover call -> old master streaming again", "s"),
                 ("gap", "longest gap between acknowledged writes", "s"),
                 ("lost", "acknowledged rows lost", "rows")],
    "node-loss": [("writable", "kill -9 -> writable on the other node", "s"),
                  ("writable_after_return", "kill -9 -> writable, only after the lost node came back", "s"),
                  ("gap", "longest gap between acknowledged writes", "s"),
                  ("lost_before", "rows acknowledged before the kill, missing after", "rows"),
                  ("lost", "acknowledged rows lost (all)", "rows"),
                  ("old_acked_any", "rows acknowledged by the old node after the kill (answers read after it)", "rows"),
                  ("old_acked", "... of INSERTs sent after the kill", "rows"),
                  ("old_acked_late", "... of them after the other node's first write", "rows")],
    "freeze": [("writable", "SIGSTOP -> writable on the other node", "s"),
               ("writable_after_return", "SIGSTOP -> writable, only after the old node resumed", "s"),
               ("gap", "longest gap between acknowledged writes", "s"),
               ("lost_before", "rows acknowledged before the freeze, missing after", "rows"),
               ("lost", "acknowledged rows lost (all)", "rows"),
               ("old_acked", "rows the old master acknowledged after it resumed", "rows"),
               ("old_acked_late", "... after the other node's first write (all of them)", "rows")],
    "crash": [("writable", "kill -9 postmaster -> writable", "s"),
              ("lost", "acknowledged rows lost", "rows")],
    "rest": [("state_rps", "state route, req/s", "req/s"),
             ("state_p99", "state route, p99", "ms"),
             ("health_rps", "health route, req/s", "req/s"),
             ("health_p99", "health route, p99", "ms")],
    "cli": [("ms", "list, whole process, median of 5", "ms")],
}
METRICS["switchover-rest"] = METRICS["switchover"]
TITLES = {"switchover": "switchover, CLI (pghactl switchover / patronictl switchover --force)",
          "switchover-rest": "switchover, REST (POST instance/switchover/masterSlave / POST /switchover)",
          "failover": "manual failover (master stopped, then pghactl failover / patronictl failover)",
          "node-loss": "node loss (kill -9 of the master's HA process and postmaster)",
          "freeze": "freeze (SIGSTOP of the master's HA process, postmaster and backends until the other node is writable, then SIGCONT)",
          "crash": "postgres crash (kill -9 of the master's postmaster only)",
          "rest": "REST (wrk -t2 -c16 on the master's node)",
          "cli": "CLI (pghactl list / patronictl list)"}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return "%.2f" % v
    if unit == "ms":
        return "%.1f" % v
    if unit == "req/s":
        return "%.0f" % v
    return "%d" % v if float(v).is_integer() else "%.1f" % v


def summary(vals):
    xs = [v for v in vals if v is not None]
    if not xs:
        return None, None, None, 0
    return statistics.median(xs), min(xs), max(xs), len(xs)


def ratio(a, b):
    if a is None or b is None:
        return "-"
    if b == 0:
        return "-" if a != 0 else "="
    return "%.2f" % (a / b)


def report(mode, results, systems, scenarios, out):
    """results[label][scenario] = list of per-run dicts."""
    p = lambda s="": print(s, file=out, flush=True)
    p()
    p("== mode %s: %d run(s) per figure; median (min..max, n = runs measured); ratio = pgha / Patroni" %
      (mode, ARGS.runs))
    ttls = ", ".join("%s ttl %s s" % (s.label, s.ttl) for s in systems)
    p("   leases: %s; pgha loop %s ms; Patroni default loop_wait 10 s, retry_timeout 10 s; tuned 2 s, 4 s" %
      (ttls, getattr(systems[0], "loop_ms", "?")))
    for sc in scenarios:
        p()
        p("-- " + TITLES[sc])
        notes = set()
        for s in systems:
            for r in results[s.label][sc]:
                if r.get("note"):
                    notes.add("%s: %s" % (s.label, r["note"]))
                if r.get("error"):
                    notes.add("%s: ERROR %s" % (s.label, r["error"]))
        for key, title, unit in METRICS[sc]:
            cols = []
            meds = {}
            for s in systems:
                med, lo, hi, n = summary([r.get(key) for r in results[s.label][sc]])
                meds[s.label] = med
                if key in ("lost", "lost_before", "old_acked", "old_acked_any", "old_acked_late"):
                    tot = sum(r.get(key) or 0 for r in results[s.label][sc])
                    cols.append("%-16s %6s (%s..%s, total %s, n=%d)" % (
                        s.label, fmt(med, unit), fmt(lo, unit), fmt(hi, unit), fmt(tot, unit), n))
                else:
                    cols.append("%-16s %8s (%s..%s, n=%d)" % (
                        s.label, fmt(med, unit), fmt(lo, unit), fmt(hi, unit), n))
            p("  %s [%s]" % (title, unit))
            for c in cols:
                p("    " + c)
            p("    ratio pgha/tuned %s, pgha/default %s" % (
                ratio(meds.get("pgha"), meds.get("patroni-tuned")),
                ratio(meds.get("pgha"), meds.get("patroni-default"))))
        for n in sorted(notes):
            p("  note: " + n)


def targets(all_results, out):
    p = lambda s: print(s, file=out, flush=True)
    p("")
    for mode, (results, systems) in all_results.items():
        nl = results.get("pgha", {}).get("node-loss")
        if nl is not None:
            med, _, _, n = summary([r.get("writable") for r in nl])
            tmed, _, _, _ = summary([r.get("writable") for r in results.get("patroni-tuned", {}).get("node-loss", [])])
            ok = med is not None and n == len(nl) and med <= 5.0 and tmed is not None and med <= tmed / 2
            p("target: node loss -> writable <= 5 s median and <= 1/2 of tuned Patroni (%s): %s (pgha %s s, tuned Patroni %s s, ratio %s%s)" % (
                mode, "PASS" if ok else "MISS", fmt(med, "s"), fmt(tmed, "s"),
                ratio(med, tmed), "" if n == len(nl) else ", %d of %d runs writable" % (n, len(nl))))
        cr = results.get("pgha", {}).get("crash")
        if cr is not None:
            med, _, _, n = summary([r.get("writable") for r in cr])
            ok = med is not None and n == len(cr) and med <= 2.0
            p("target: postgres crash with the agent alive -> writable <= 2 s median (%s): %s (pgha %s s%s)" % (
                mode, "PASS" if ok else "MISS", fmt(med, "s"),
                "" if n == len(cr) else ", %d of %d runs writable" % (n, len(cr))))
        fenced = [r for sc in ("node-loss", "freeze") for r in results.get("pgha", {}).get(sc, [])]
        if fenced:
            tot = sum(r.get("old_acked") or 0 for r in fenced)
            unknown = sum(1 for r in fenced if r.get("old_acked") is None)
            ok = tot == 0 and unknown == 0
            p("target: zero rows acknowledged by a fenced master, node loss and freeze (%s): %s (%d rows in %d runs%s)" % (
                mode, "PASS" if ok else "MISS", tot, len(fenced),
                "" if not unknown else ", %d runs not measured" % unknown))
        if mode == "sync":
            runs = [r for sc, rs in results.get("pgha", {}).items() if sc not in ("rest", "cli") for r in rs]
            tot = sum(r.get("lost") or 0 for r in runs)
            unknown = sum(1 for r in runs if r.get("lost") is None)
            ok = runs and tot == 0 and unknown == 0
            p("target: zero acknowledged rows lost in synchronous mode (every scenario): %s (%d rows in %d runs%s)" % (
                "PASS" if ok else "MISS", tot, len(runs),
                "" if not unknown else ", %d runs not measured" % unknown))


def create_table(system):
    m = system.master(timeout=120)
    if m is None:
        raise RuntimeError(system.label + ": no master")
    c = pg_connect(m.pg_port)
    c.autocommit = True
    c.cursor().execute("CREATE TABLE IF NOT EXISTS bench_rows (id bigint PRIMARY KEY, "
                       "at timestamptz DEFAULT now())")
    c.close()
    end = now() + 30
    while now() < end:
        try:
            c = pg_connect(system.other(m).pg_port)
            cur = c.cursor()
            cur.execute("SELECT to_regclass('bench_rows') IS NOT NULL")
            ok = cur.fetchone()[0]
            c.close()
            if ok:
                return
        except psycopg2.Error:
            pass
        time.sleep(0.2)


def main():
    global ARGS, PIDS_FILE
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--pghactl", required=True)
    ap.add_argument("--pg-bindir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scenarios", default="switchover,switchover-rest,failover,node-loss,freeze,crash,rest,cli")
    ap.add_argument("--mode", default="async")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--systems", default="pgha,patroni-default,patroni-tuned",
                    help="for debugging: a subset of the three")
    ARGS = ap.parse_args()
    PIDS_FILE = os.path.join(ARGS.tmp, "pids")
    scenarios = ARGS.scenarios.split(",")
    modes = ["async", "sync"] if ARGS.mode == "both" else [ARGS.mode]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    all_results = {}
    rc = 0
    for mode in modes:
        base = os.path.join(ARGS.tmp, mode)
        os.makedirs(base)
        os.chmod(base, 0o755)
        systems = [Pgha(base, mode), Patroni(base, mode, tuned=False), Patroni(base, mode, tuned=True)]
        systems = [s for s in systems if s.label in ARGS.systems.split(",")]
        try:
            for s in systems:
                log("%s (%s): bringing the cluster up" % (s.label, mode))
                t = now()
                s.up()
                create_table(s)
                log("%s up in %.1f s" % (s.label, now() - t))
            results = {s.label: {sc: [] for sc in scenarios} for s in systems}
            for run in range(1, ARGS.runs + 1):
                for sc in scenarios:
                    for s in systems:
                        t = now()
                        r = run_scenario(s, sc)
                        results[s.label][sc].append(r)
                        log("%s run %d %s %s: %s (%.1f s)" % (mode, run, sc, s.label,
                                                              json.dumps(r, default=str), now() - t))
            all_results[mode] = (results, systems)
            report(mode, results, systems, scenarios, sys.stdout)
        except Exception as e:
            log("mode %s failed: %s: %s" % (mode, type(e).__name__, e))
            rc = 1
        finally:
            for s in systems:
                try:
                    s.down()
                except Exception as e:
                    log("%s down: %s" % (s.label, e))
            for p in STARTED:
                stop_proc(p, timeout=5)
    targets(all_results, sys.stdout)
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for p in STARTED:
            try:
                stop_proc(p, timeout=5)
            except Exception:
                pass
