#!/usr/bin/env python3
"""pgha-agent benchmark driver: bench/run_agent.sh brings up the cluster and nginx, then runs
this. It times, on the running `pghactl local` pair, each HA operation from the call to the
moment the new master accepts an INSERT (a writer inserting numbered rows into whichever node
accepts writes finds that moment and counts the acknowledged rows that are missing at the
end), the same moves done by hand with PostgreSQL's own tools, GET instance/current under 16
clients (wrk), the walFile download next to nginx serving the same segment, and `pghactl list`
as a whole process. It prints figures and PASS/MISS lines; the exit status only says whether
the benchmark could run. See docs/benchmarks.md.

Only the standard library and psycopg2 (python3-psycopg2).
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import psycopg2

WRITER_TABLE = "pgha_bench_writer"
WRITER_PAUSE_S = 0.002       # after an acknowledged INSERT
RETRY_PAUSE_S = 0.005        # after a round in which no node took the row
SETTLE_S = 0.25              # writer rows before each operation and after it
WRITABLE_TIMEOUT_S = 30.0
STREAM_TIMEOUT_S = 15.0
STATE_POLL_S = 0.05          # how often the old master's agent is asked for its state
DOWNLOAD_ROUNDS = 15
DOWNLOADS_PER_ROUND = 8      # 128 MiB per server and round, over one connection

PATRONI_SWITCHOVER_S = 2.16
PATRONI_STREAMING_S = "4.3-4.9"
PATRONI_HEALTH_RPS = 980


def log(msg):
    print(f"[agent_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def median(values):
    return statistics.median(values) if values else float("nan")


# --- the agents -------------------------------------------------------------------------------

class Agents:
    """The cluster of cluster.json and a client for its agents' REST API."""

    def __init__(self, cluster_dir):
        with open(os.path.join(cluster_dir, "cluster.json")) as f:
            info = json.load(f)
        self.dir = cluster_dir
        self.token = info["api_token"]
        self.nodes = {n["name"]: n for n in info["nodes"]}
        self.names = [n["name"] for n in info["nodes"]]

    def url(self, node, path):
        return self.nodes[node]["agent_url"] + "/api/pg/v1/" + path

    def call(self, node, method, path, timeout=180.0):
        """(HTTP status, parsed JSON body or text) of one request to `node`'s agent."""
        u = urllib.parse.urlsplit(self.url(node, path))
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            conn.request(method, u.path, headers={"Authorization": "Bearer " + self.token})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(body or b"null")
        except ValueError:
            return resp.status, body.decode(errors="replace")

    def ok(self, node, method, path):
        status, body = self.call(node, method, path)
        if status != 200:
            raise BenchError(f"{method} {path} on {node}: HTTP {status}: {body}")
        return body

    def states(self):
        for node in self.names:
            try:
                status, body = self.call(node, "GET", "instance/all", timeout=30)
            except OSError:
                continue
            if status == 200:
                return body
        raise BenchError("no agent answers GET instance/all")

    def timeline(self, node):
        return int(self.ok(node, "GET", "lsn/current")[node]["timeLineID"])

    def ensure_pair(self):
        """Brings the cluster to one master and one streaming slave; returns (master, slave)."""
        states = {}
        for _ in range(4):
            states = self.states()
            masters = [n for n, s in states.items() if s in ("master", "single")]
            if len(masters) == 1:
                others = [n for n in self.names if n != masters[0]]
                if all(states[n] == "slave" for n in others):
                    return masters[0], others[0]
                for n in others:
                    if states[n] != "slave":
                        self.call(n, "POST", "instance/slave")
            elif not masters:
                status, _ = self.call(self.names[0], "POST", "instance/all")
                if status != 200:
                    self.call(self.names[1], "POST", "instance/all")
            else:
                raise BenchError(f"several masters: {states}")
        raise BenchError(f"cannot bring the cluster to a master and a slave: {states}")


# --- the writer -------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Inserts numbered rows into whichever node accepts writes, one at a time; remembers every
    acknowledged row with its node and the time of the acknowledgement. Keeps one connection per
    node so that a standby's refusal costs no reconnection; an id is never reused, whatever
    became of the INSERT that carried it."""

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes = nodes              # name -> (host, port)
        self.order = list(nodes)
        self.conns = {}
        self.acks = []                  # (id, node, monotonic time)
        self.cond = threading.Condition()
        self.stopping = False
        self.next_id = 1
        self.errors = 0

    def connect(self, node):
        host, port = self.nodes[node]
        conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="datasync",
                                connect_timeout=2, application_name="pgha_bench_writer")
        conn.autocommit = True
        return conn

    def try_insert(self, node):
        row_id = self.next_id
        self.next_id += 1
        try:
            if node not in self.conns:
                self.conns[node] = self.connect(node)
            with self.conns[node].cursor() as cur:
                cur.execute(f"INSERT INTO {WRITER_TABLE} (id, node) VALUES (%s, %s)",
                            (row_id, node))
        except psycopg2.Error as e:
            self.errors += 1
            if e.pgcode != "25006":   # read_only_sql_transaction: a standby, keep its session
                self.drop(node)
            return False
        with self.cond:
            self.acks.append((row_id, node, time.monotonic()))
            self.cond.notify_all()
        return True

    def drop(self, node):
        conn = self.conns.pop(node, None)
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass

    def run(self):
        while not self.stopping:
            wrote = False
            for node in list(self.order):
                if self.try_insert(node):
                    self.order.remove(node)   # the node that took the last row goes first
                    self.order.insert(0, node)
                    wrote = True
                    break
            time.sleep(WRITER_PAUSE_S if wrote else RETRY_PAUSE_S)
        for node in list(self.conns):
            self.drop(node)

    def stop(self):
        self.stopping = True
        self.join(10)

    def mark(self):
        with self.cond:
            return len(self.acks)

    def wait_ack(self, node, since, timeout):
        """Monotonic time of the first row acknowledged by `node` at or after `since`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = 0
            while True:
                for row_id, n, t in self.acks[seen:]:
                    if n == node and t >= since:
                        return t
                seen = len(self.acks)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def lost_since(self, mark, master):
        """(acknowledged, missing on `master`) for the rows acknowledged since `mark`."""
        with self.cond:
            acked = [row_id for row_id, _, _ in self.acks[mark:]]
        if not acked:
            return 0, 0
        host, port = self.nodes[master]
        conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="datasync",
                                connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT id FROM {WRITER_TABLE} WHERE id >= %s", (min(acked),))
                present = {r[0] for r in cur.fetchall()}
        finally:
            conn.close()
        return len(acked), sum(1 for i in acked if i not in present)


def create_writer_table(agents, master):
    n = agents.nodes[master]
    conn = psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                            dbname="datasync", connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {WRITER_TABLE} (id bigint PRIMARY KEY, "
                    "node text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    conn.close()


# --- one timed move ---------------------------------------------------------------------------

class StateWatch(threading.Thread):
    """Asks `node`'s agent for its own state every STATE_POLL_S until it is `want`."""

    def __init__(self, agents, node, want, since):
        super().__init__(daemon=True)
        self.agents, self.node, self.want, self.since = agents, node, want, since
        self.reached = None
        self.done = threading.Event()

    def run(self):
        deadline = self.since + STREAM_TIMEOUT_S
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                status, body = self.agents.call(self.node, "GET", "instance/current", timeout=5)
                if status == 200 and body.get(self.node) == self.want:
                    self.reached = time.monotonic()
                    return
            except (OSError, http.client.HTTPException, AttributeError):
                pass
            time.sleep(STATE_POLL_S)


class Result:
    def __init__(self, kind):
        self.kind = kind
        self.writable = []     # s from the call to the first INSERT acknowledged by the new master
        self.returned = []     # s from the call to its return (HTTP answer, or the last tool)
        self.streaming = []    # s from the call to the old master's "slave" (switchover)
        self.rejoin = []       # s of the POST instance/slave that put the old master back
        self.acked = 0
        self.lost = 0
        self.failures = []
        self.notes = []


def pg_prefix():
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def pg_tool(bindir, *args):
    """Runs a PostgreSQL program (as postgres when root, from /); raises on failure."""
    cmd = pg_prefix() + [os.path.join(bindir, args[0])] + list(args[1:])
    r = subprocess.run(cmd, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(args[:3])}... failed: {r.stdout.strip()[-300:]}")


def finish_run(res, agents, writer, mark, t0, new_master, old_master):
    """Waits for the new master's first acknowledged row, then puts the old master back as its
    slave when needed and counts the rows acknowledged since `mark` that are missing."""
    t_w = writer.wait_ack(new_master, t0, WRITABLE_TIMEOUT_S)
    if t_w is None:
        res.failures.append(f"{new_master} took no row within {WRITABLE_TIMEOUT_S:.0f} s")
    else:
        res.writable.append(t_w - t0)
    time.sleep(SETTLE_S)
    states = agents.states()
    if states.get(old_master) != "slave":
        t1 = time.monotonic()
        status, body = agents.call(old_master, "POST", "instance/slave")
        if status != 200:
            res.failures.append(f"POST instance/slave on {old_master}: {status} {body}")
        else:
            res.rejoin.append(time.monotonic() - t1)
    acked, lost = writer.lost_since(mark, new_master)
    res.acked += acked
    res.lost += lost


def run_switchover(agents, writer, order, res):
    master, slave = agents.ensure_pair()
    mark = writer.mark()
    time.sleep(SETTLE_S)
    t0 = time.monotonic()
    watch = StateWatch(agents, master, "slave", t0)
    watch.start()
    status, body = agents.call(master, "POST", "instance/switchover/" + order)
    res.returned.append(time.monotonic() - t0)
    if status != 200:
        watch.done.set()
        res.failures.append(f"switchover {order}: HTTP {status}: {body}")
        return
    watch.join(STREAM_TIMEOUT_S + 1)
    if watch.reached is None:
        res.failures.append(f"{master} not streaming within {STREAM_TIMEOUT_S:.0f} s")
    else:
        res.streaming.append(watch.reached - t0)
    finish_run(res, agents, writer, mark, t0, slave, master)


def run_failover(agents, writer, how, res):
    master, slave = agents.ensure_pair()
    mark = writer.mark()
    time.sleep(SETTLE_S)
    tl_before = agents.timeline(slave)
    stopped = agents.ok(master, "DELETE", "instance/master")
    if stopped.get(slave) != "recovery":
        res.notes.append(f"after DELETE instance/master: {stopped}")
    t0 = time.monotonic()
    status, body = agents.call(slave, "POST", "instance/failover/" + how)
    res.returned.append(time.monotonic() - t0)
    if status != 200:
        res.failures.append(f"failover {how}: HTTP {status}: {body}")
        agents.ensure_pair()
        return
    finish_run(res, agents, writer, mark, t0, slave, master)
    tl_after = agents.timeline(slave)
    if (tl_after == tl_before) != (how == "restart"):
        res.failures.append(f"failover {how}: timeline {tl_before} -> {tl_after}")


def standby_start_options(data_dir):
    """The -c options the agent started this server with (postmaster.opts)."""
    with open(os.path.join(data_dir, "postmaster.opts")) as f:
        words = re.findall(r'"([^"]*)"', f.read())
    opts = []
    for i, w in enumerate(words[:-1]):
        if w == "-c":
            opts += ["-c", words[i + 1]]
    return " ".join(shlex.quote(o) for o in opts)


def run_by_hand(agents, writer, bindir, variant, res):
    """PostgreSQL's own tools, as a person would type them (pg_ctl waits by default)."""
    master, slave = agents.ensure_pair()
    mdata = agents.nodes[master]["data_dir"]
    sdata = agents.nodes[slave]["data_dir"]
    start_opts = standby_start_options(sdata)
    mark = writer.mark()
    time.sleep(SETTLE_S)
    t0 = time.monotonic()
    pg_tool(bindir, "pg_ctl", "-D", mdata, "-m", "fast", "stop")
    if variant == "promote":
        pg_tool(bindir, "pg_ctl", "-D", sdata, "promote")
    else:
        pg_tool(bindir, "pg_ctl", "-D", sdata, "-m", "fast", "stop")
        subprocess.run(pg_prefix() + ["rm", "-f", os.path.join(sdata, "standby.signal")],
                       cwd="/", check=True)
        log_file = os.path.join(os.path.dirname(sdata), "by-hand.log")
        pg_tool(bindir, "pg_ctl", "-D", sdata, "-l", log_file, "-o", start_opts, "start")
    res.returned.append(time.monotonic() - t0)
    finish_run(res, agents, writer, mark, t0, slave, master)


# --- HTTP figures -----------------------------------------------------------------------------

def parse_wrk(text):
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errs = re.search(r"Socket errors: (.*)", text)
    if not rps or not p50 or not p99 or not done:
        raise BenchError("cannot read wrk's output:\n" + text)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    secs = float(done.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    return {"rps": float(rps.group(1)), "p50_ms": float(p50.group(1)) * scale[p50.group(2)],
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)],
            "requests": int(done.group(1)), "seconds": secs,
            "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errs.group(1) if errs else ""}


def run_wrk(url, token, threads, conns, seconds):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", "Authorization: Bearer " + token]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=seconds + 60)
    if r.returncode != 0:
        raise BenchError("wrk failed:\n" + r.stdout)
    return parse_wrk(r.stdout)


def download_md5(url, headers):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request("GET", u.path, headers=headers)
        resp = conn.getresponse()
        h = hashlib.md5()
        size = 0
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
        return resp.status, size, h.hexdigest()
    finally:
        conn.close()


def curl_transfers(url, headers, count):
    """Per-transfer (seconds, bytes) of `count` downloads of `url` by one curl process over one
    kept-alive connection."""
    cmd = ["curl", "-s", "--fail", "-w", "%{time_total} %{size_download} %{http_code}\n"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    for _ in range(count):
        cmd += ["-o", "/dev/null", url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=120)
    if r.returncode != 0:
        raise BenchError(f"curl {url} failed (exit {r.returncode})")
    out = []
    for line in r.stdout.strip().splitlines():
        t, size, code = line.split()
        if code != "200":
            raise BenchError(f"curl {url}: HTTP {code}")
        out.append((float(t), int(size)))
    return out


# --- the phases -------------------------------------------------------------------------------

def bench_list(pghactl, cluster_dir, runs):
    subprocess.run([pghactl, "list", cluster_dir], cwd="/", stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([pghactl, "list", cluster_dir], cwd="/", stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise BenchError("pghactl list failed: " + r.stderr.strip())
    return times


def bench_download(agents, node, segment, nginx_url, rounds, per_round, wrk_rounds):
    """The same segment from the agent and from nginx: first a check that both send the same
    bytes, then one client (a curl process downloading the file `per_round` times over one
    kept-alive connection, per server and round) and 4 clients (wrk, 2 s per server and
    round). The servers take turns within each round, the first one alternating, so that a
    slow moment of this shared machine hits both alike."""
    auth = {"Authorization": "Bearer " + agents.token}
    ours = agents.url(node, "walFile/" + segment)
    theirs = nginx_url.rstrip("/") + "/" + segment
    s1, n1, md5_ours = download_md5(ours, auth)
    s2, n2, md5_theirs = download_md5(theirs, {})
    if s1 != 200 or s2 != 200 or md5_ours != md5_theirs or n1 != n2:
        raise BenchError(f"the two servers do not serve the same bytes: pgha {s1} {n1} "
                         f"{md5_ours}, nginx {s2} {n2} {md5_theirs}")
    servers = [("pgha", ours, auth), ("nginx", theirs, {})]
    single = {"pgha": [], "nginx": []}   # MB/s of each round's batch of downloads
    for r in range(rounds):
        for name, url, headers in (servers if r % 2 == 0 else servers[::-1]):
            transfers = curl_transfers(url, headers, per_round)
            single[name].append(sum(n for _, n in transfers) / sum(t for t, _ in transfers) / 1e6)
    parallel = {"pgha": {"requests": 0, "seconds": 0.0}, "nginx": {"requests": 0, "seconds": 0.0}}
    for r in range(wrk_rounds):
        for name, url, headers in (servers if r % 2 == 0 else servers[::-1]):
            w = run_wrk(url, agents.token if headers else None, 2, 4, 2)
            parallel[name]["requests"] += w["requests"]
            parallel[name]["seconds"] += w["seconds"]
    return n1, md5_ours, single, parallel


# --- output -----------------------------------------------------------------------------------

def fmt_s(values):
    if not values:
        return "      -          "
    return f"{median(values):6.3f} ({min(values):.3f}..{max(values):.3f})"


def print_ops(results, runs):
    print(f"\nHA operations on the pair, {runs} runs each; seconds from the call, "
          "median (fastest..slowest):")
    print(f"{'operation':<46} {'call -> writable':<24} {'call returns':<24} "
          f"{'old master streams':<24} lost rows")
    for r in results:
        print(f"{r.kind:<46} {fmt_s(r.writable):<24} {fmt_s(r.returned):<24} "
              f"{fmt_s(r.streaming):<24} {r.lost} of {r.acked}")
    for r in results:
        if r.rejoin:
            print(f"  {r.kind}: old master back as slave (POST instance/slave) in "
                  f"{median(r.rejoin):.3f} s median")
        for f in r.failures:
            print(f"  FAILED {r.kind}: {f}")
        for n in r.notes:
            print(f"  note {r.kind}: {n}")


def verdict(ok):
    return "PASS" if ok else "MISS"


def print_http(current, health, wrk_seconds):
    print(f"\nGET instance/current, wrk -t2 -c16 -d{wrk_seconds}s: {current['rps']:.0f} req/s, "
          f"p50 {current['p50_ms']:.2f} ms, p99 {current['p99_ms']:.2f} ms, "
          f"{current['non2xx']} non-2xx"
          + (f", socket errors {current['socket_errors']}" if current["socket_errors"] else ""))
    print(f"GET health (no token),  wrk -t2 -c16 -d5s: {health['rps']:.0f} req/s, "
          f"p50 {health['p50_ms']:.2f} ms, p99 {health['p99_ms']:.2f} ms, "
          f"{health['non2xx']} non-2xx")


def print_download(segment, dl):
    """Prints the download figures; returns (one-client ratio, 4-client ratio) of pgha-agent's
    throughput to nginx's. The one-client ratio is the median of the rounds' ratios."""
    size, md5, single, parallel = dl
    rounds = len(single["pgha"])
    ratio_1 = median([a / b for a, b in zip(single["pgha"], single["nginx"])])
    print(f"\nwalFile/{segment} ({size} bytes, md5 {md5}, the same file for both), "
          "MB/s (10^6 bytes):")
    print(f"  one client (curl, one connection), {rounds} rounds of {DOWNLOADS_PER_ROUND} "
          "downloads per server, median (slowest..fastest round):")
    for name, label in (("pgha", "pgha-agent"), ("nginx", "nginx")):
        v = single[name]
        print(f"    {label:<10} {median(v):6.0f} ({min(v):.0f}..{max(v):.0f})")
    print(f"    pgha-agent / nginx, median of the rounds' ratios: {100 * ratio_1:.0f} %")
    par = {k: v["requests"] * size / v["seconds"] / 1e6 for k, v in parallel.items()}
    print(f"  4 clients (wrk -t2 -c4, 3 x 2 s per server), whole responses: pgha-agent "
          f"{par['pgha']:.0f}, nginx {par['nginx']:.0f} -> "
          f"{100 * par['pgha'] / par['nginx']:.0f} %")
    return ratio_1, par["pgha"] / par["nginx"]


def print_comparison(by, health):
    hand_p = median(by["by hand: stop master, pg_ctl promote"].writable)
    hand_r = median(by["by hand: stop both, start slave as master"].writable)
    print("\ncomparison:")
    print(f"  quoted by the issue (Patroni 3.0.2 + etcd on this kind of machine, not this run): "
          f"patronictl switchover -> writable {PATRONI_SWITCHOVER_S} s (about 0.6 s of it the "
          f"CLI starting), old master streaming after {PATRONI_STREAMING_S} s, "
          f"GET /health about {PATRONI_HEALTH_RPS} req/s")
    print("  quoted by the issue: PostgreSQL's tools by hand 0.23 s (stop master, promote), "
          "0.36-0.49 s (stop both, start the slave as master)")
    print(f"  measured in this run, same cluster: by hand {hand_p:.3f} s (stop master, promote), "
          f"{hand_r:.3f} s (stop both, start the slave as master); pgha switchover "
          f"{median(by['switchover masterSlave'].writable):.3f} s (masterSlave), "
          f"{median(by['switchover slaveMaster'].writable):.3f} s (slaveMaster), failover "
          f"promote {median(by['failover promote (master stopped first)'].writable):.3f} s; "
          f"pgha-agent GET health {health['rps']:.0f} req/s")


def print_targets(by, runs, current, download_ratio, list_ms):
    print()
    for order in ("masterSlave", "slaveMaster"):
        r = by["switchover " + order]
        w, s = median(r.writable), median(r.streaming)
        slowest = max(r.streaming or [float("nan")])
        ok = (not r.failures and w <= 0.7 and r.lost == 0 and len(r.streaming) == runs
              and slowest <= 2.0)
        print(f"target: switchover {order} call -> writable <= 0.7 s median, 0 lost rows, old "
              f"master streaming within 2 s: {verdict(ok)} ({w:.3f} s, {r.lost} lost, streaming "
              f"after {s:.3f} s median, {slowest:.3f} s at most)")
    r = by["failover promote (master stopped first)"]
    w = median(r.writable)
    print(f"target: failover promote call -> writable <= 0.5 s median: "
          f"{verdict(not r.failures and w <= 0.5)} ({w:.3f} s, {r.lost} lost)")
    ok = current["rps"] >= 10000 and current["p99_ms"] <= 5 and not current["non2xx"]
    print(f"target: GET instance/current >= 10000 req/s with p99 <= 5 ms: {verdict(ok)} "
          f"({current['rps']:.0f} req/s, p99 {current['p99_ms']:.2f} ms)")
    one, four = download_ratio
    print(f"target: walFile download >= 80 % of nginx's throughput: {verdict(one >= 0.8)} "
          f"({100 * one:.0f} % with one client; {100 * four:.0f} % with 4)")
    print(f"target: pghactl list <= 50 ms: {verdict(list_ms <= 50)} ({list_ms:.1f} ms median)")


def run_operations(agents, pg_bindir, runs):
    """The timed HA moves, `runs` of each, with the writer running throughout."""
    master, _ = agents.ensure_pair()
    create_writer_table(agents, master)
    nodes = {n: (agents.nodes[n]["pg_host"], agents.nodes[n]["pg_port"]) for n in agents.names}
    writer = Writer(nodes)
    writer.start()
    plan = [
        ("switchover masterSlave", lambda r: run_switchover(agents, writer, "masterSlave", r)),
        ("switchover slaveMaster", lambda r: run_switchover(agents, writer, "slaveMaster", r)),
        ("failover restart (master stopped first)",
         lambda r: run_failover(agents, writer, "restart", r)),
        ("failover promote (master stopped first)",
         lambda r: run_failover(agents, writer, "promote", r)),
        ("by hand: stop master, pg_ctl promote",
         lambda r: run_by_hand(agents, writer, pg_bindir, "promote", r)),
        ("by hand: stop both, start slave as master",
         lambda r: run_by_hand(agents, writer, pg_bindir, "restart", r)),
    ]
    results = []
    try:
        for kind, step in plan:
            res = Result(kind)
            for i in range(runs):
                log(f"{kind}: run {i + 1}/{runs}")
                step(res)
            results.append(res)
    finally:
        writer.stop()
    return results, writer.errors


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cluster", required=True, help="the `pghactl local up` directory")
    ap.add_argument("--pghactl", required=True)
    ap.add_argument("--pg-bindir", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--nginx-url", required=True, help="nginx's URL of the pg_wal directory")
    ap.add_argument("--segment", required=True, help="the segment both servers serve")
    ap.add_argument("--segment-node", required=True, help="the node whose pg_wal nginx serves")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--list-runs", type=int, default=20)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    return ap.parse_args()


def main():
    a = parse_args()
    agents = Agents(a.cluster)
    master, slave = agents.ensure_pair()
    print("cluster: " + ", ".join(f"{n} (agent {agents.nodes[n]['agent_url']}, PostgreSQL port "
                                  f"{agents.nodes[n]['pg_port']})" for n in agents.names)
          + f"; {master} master, {slave} slave", flush=True)
    log(f"pghactl list x {a.list_runs}")
    list_times = bench_list(a.pghactl, a.cluster, a.list_runs)
    log(f"wrk GET instance/current, {a.wrk_seconds} s")
    current = run_wrk(agents.url(master, "instance/current"), agents.token, 2, 16, a.wrk_seconds)
    log("wrk GET health, 5 s")   # Patroni's figure is of its /health
    health = run_wrk(agents.url(master, "health"), None, 2, 16, 5)
    log(f"walFile/{a.segment} from pgha-agent and nginx")
    dl = bench_download(agents, a.segment_node, a.segment, a.nginx_url, DOWNLOAD_ROUNDS,
                        DOWNLOADS_PER_ROUND, 3)
    results, refused = run_operations(agents, a.pg_bindir, a.runs)

    print_ops(results, a.runs)
    print(f"  writer: {sum(r.acked for r in results)} rows acknowledged in the timed runs, "
          f"{refused} refused INSERTs (standby, stopped or restarting node); "
          f"states at the end: {json.dumps(agents.states())}")
    print_http(current, health, a.wrk_seconds)
    ratio = print_download(a.segment, dl)
    list_ms = median(list_times) * 1e3
    print(f"\npghactl list, whole process, {len(list_times)} runs: median {list_ms:.1f} ms "
          f"({min(list_times) * 1e3:.1f}..{max(list_times) * 1e3:.1f})")
    by = {r.kind: r for r in results}
    print_comparison(by, health)
    print_targets(by, a.runs, current, ratio, list_ms)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
