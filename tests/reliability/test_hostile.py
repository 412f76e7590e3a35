"""Hostile REST input, table-driven, against a real agent whose PostgreSQL is stopped.

Each row is one request (path traversal in WAL names, bad LSN and timeline grammar, bad
tokens, wrong methods, internal routes without the lease, bad configuration, bad multipart,
uploads that are not this cluster's WAL, oversized and malformed HTTP, slow and idle
clients). Its answer is recorded and checked against the statuses the row allows; after each
row the node's directory (data directory, pg_wal, agent configuration), the cluster
directory and its parent must be exactly as before (names, sizes, modification times, and
the bytes of small files), and PostgreSQL must still be stopped. Figures: hostile.json.
"""

import base64
import hashlib
import json
import os
import pathlib
import socket
import time

import pytest

from harness import Figures, Recovery, wait_for

pytestmark = pytest.mark.reliability

SMALL = 1 << 20


def snapshot(trees, flat):
    """{path: (size, mtime_ns, sha1 of small files)} of everything under the directories
    `trees` and directly in the directories `flat`, minus the agents' logs."""
    out = {}

    def add(p: pathlib.Path):
        if p.name == "agent.log" or p.is_symlink():
            return
        st = p.stat()
        digest = ""
        if p.is_file() and st.st_size <= SMALL:
            digest = hashlib.sha1(p.read_bytes()).hexdigest()
        out[str(p)] = (st.st_size, st.st_mtime_ns if p.is_file() else 0, digest)

    for root in trees:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames + dirnames:
                add(pathlib.Path(dirpath) / name)
    for d in flat:
        for p in pathlib.Path(d).iterdir():
            add(p)
    return out


def diff(before, after):
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    return {"added": sorted(after.keys() - before.keys())[:5],
            "removed": sorted(before.keys() - after.keys())[:5], "changed": changed[:5]}


def raw_request(host, port, data: bytes, timeout=10.0, close_after_send=False):
    """Sends bytes as they are; returns the status of the answer (None if the connection was
    closed without one)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        if close_after_send:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
    line = buf.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


class Rows:
    def __init__(self, cluster, node, figures):
        self.c = cluster
        self.node = node
        self.figures = figures
        n = cluster.nodes[node]
        self.host = "127.0.0.1"
        self.port = int(n["agent_url"].rsplit(":", 1)[1])
        # The stopped node's directory whole; the cluster directory and its parent (where a
        # traversal would land) by their entries. The running master's files change by
        # themselves and are not watched.
        self.trees = [str(cluster.dir / node)]
        self.flat = [str(cluster.dir), str(cluster.base)]
        self.failures = []

    def check(self, category, name, expected, send):
        before = snapshot(self.trees, self.flat)
        t0 = time.monotonic()
        status = send()
        took = round(time.monotonic() - t0, 3)
        after = snapshot(self.trees, self.flat)
        changes = diff(before, after)
        written = any(changes.values())
        running = self.c.postmaster_pid(self.node) is not None
        alive = self.c.agent_alive(self.node)
        ok = status in expected and not written and not running and alive
        entry = {"category": category, "request": name, "status": status,
                 "expected": sorted(x for x in expected if x is not None) +
                 (["closed"] if None in expected else []),
                 "nothing_written": not written, "still_stopped": not running,
                 "agent_alive": alive, "seconds": took, "ok": ok}
        if written:
            entry["changes"] = changes
        self.figures.record(entry)
        if not ok:
            self.failures.append(entry)

    def http(self, method, path, token="default", body=None, headers=None):
        return lambda: self.c.call(self.node, method, path, token=token, body=body,
                                   headers=headers, timeout=60)[0]

    def raw(self, data, **kw):
        return lambda: raw_request(self.host, self.port, data, **kw)


def _segment_from(cluster, master):
    """The name and bytes of the master's last complete segment (switched just now)."""
    cluster.sql(master, "CREATE TABLE IF NOT EXISTS pgha_rel_fill (x int)")
    cluster.sql(master, "INSERT INTO pgha_rel_fill VALUES (1)")
    name = cluster.sql(master, "SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0]
    cluster.sql(master, "SELECT pg_switch_wal()")
    return name, (cluster.data_dir(master) / "pg_wal" / name).read_bytes()


def _multipart(name, content, boundary="pghaBoundary"):
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    return body + content + f"\r\n--{boundary}--\r\n".encode(), boundary


def test_hostile_requests(cluster):
    figures = Figures("hostile")
    Recovery(cluster).run()
    states = cluster.states()
    master = next(n for n, s in states.items() if s == "master")
    node = cluster.other(master)
    seg_name, seg = _segment_from(cluster, master)
    cluster.ok(node, "DELETE", "instance/current")
    wait_for(lambda: cluster.postmaster_pid(node) is None, 60, f"{node} to stop")
    own = sorted(p.name for p in (cluster.data_dir(node) / "pg_wal").iterdir()
                 if len(p.name) == 24)
    existing = own[0]
    tli = int(seg_name[:8], 16)
    future = f"{tli:08X}{0:08X}{0x7F:08X}"
    md5 = hashlib.md5(seg).hexdigest()
    r = Rows(cluster, node, figures)
    token = cluster.token

    # --- authentication -----------------------------------------------------------------
    for name, tok in [("no token", None), ("wrong token", "wrong"),
                      ("the token's first half", token[: len(token) // 2]),
                      ("the token plus one character", token + "x"),
                      ("the token in another case", token.upper()),
                      ("a 10 KB token", "a" * 10240)]:
        r.check("auth", f"GET instance/current, {name}", {401, 431},
                r.http("GET", "instance/current", token=tok))
    r.check("auth", "POST instance/all without a token", {401},
            r.http("POST", "instance/all", token=None))
    r.check("auth", "PUT walFile without a token", {401},
            r.http("PUT", f"walFile/{seg_name}", token=None, body=seg))
    r.check("auth", "Basic instead of Bearer", {401},
            r.http("GET", "instance/current", token=None,
                   headers={"Authorization": "Basic " + base64.b64encode(
                       b"postgres:" + token.encode()).decode()}))
    r.check("auth", "empty Bearer", {401},
            r.http("GET", "instance/current", token=None, headers={"Authorization": "Bearer "}))

    # --- WAL file names -----------------------------------------------------------------
    for name, path in [("encoded ../ in walFile", "walFile/..%2F..%2Fglobal%2Fpg_control"),
                       ("encoded .. segment", "walFile/%2e%2e"),
                       ("NUL in a name", "walFile/000000010000000000000001%00"),
                       ("not a WAL name", "walFile/pg_control"),
                       ("lower-case hex", "walFile/00000001000000000000000a"),
                       ("25 characters", "walFile/0000000100000000000000010"),
                       ("backup label name", "walFile/000000010000000000000002.00000028.backup"),
                       ("walFiles with ../", "walFiles/..%2Fpostgresql.conf")]:
        r.check("WAL names", f"GET {name}", {400, 404}, r.http("GET", path))
    r.check("WAL names", "raw GET with ../ in the path", {400, 404},
            r.raw(b"GET /api/pg/v1/walFile/../../global/pg_control HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\n"))
    for name, path in [("upload to ../postgresql.conf", "walFile/..%2Fpostgresql.conf"),
                       ("upload to pg_control", "walFile/pg_control"),
                       ("upload of a .backup file",
                        "walFile/000000010000000000000002.00000028.backup")]:
        r.check("WAL names", f"PUT {name}", {400}, r.http("PUT", path, body=seg))

    # --- uploads that are not this cluster's WAL ------------------------------------------
    wrong_sysid = bytearray(seg)
    wrong_sysid[24:32] = (int.from_bytes(seg[24:32], "little") ^ 1).to_bytes(8, "little")
    uploads = [
        ("16 MiB of zeros", future, bytes(len(seg)), {400}),
        ("10 bytes", future, b"0123456789", {400}),
        ("a segment under another segment's name", future, seg, {400}),
        ("another system identifier", seg_name, bytes(wrong_sysid), {400}),
        ("one byte more than a segment", seg_name, seg + b"x", {400, 413}),
        ("a different file over an existing segment", existing, seg, {400, 409}),
        ("a history file that does not parse", "00000009.history", b"garbage\n", {400}),
        ("a history file for timeline 1", "00000001.history", b"", {400}),
        ("a well-formed history of a timeline that forked before this node's start",
         f"{tli + 1:08X}.history", b"1\t0/1000000\tno recovery target specified\n", {400}),
        ("a well-formed history whose parent is not this node's timeline",
         f"{tli + 2:08X}.history",
         "".join(f"{t}\t0/{0x1000000 * t:X}\tx\n" for t in range(1, tli + 2)).encode(), {400}),
    ]
    for name, target, data, expected in uploads:
        r.check("uploads", f"PUT {name}", expected, r.http("PUT", f"walFile/{target}", body=data))
    r.check("uploads", "PUT the right segment with a wrong md5", {400},
            r.http("PUT", f"walFile/{seg_name}?md5={'0' * 32}", body=seg))
    r.check("uploads", "PUT with a malformed md5", {400},
            r.http("PUT", f"walFile/{seg_name}?md5=xyz", body=seg))
    r.check("uploads", "PUT with a wrong Content-MD5", {400},
            r.http("PUT", f"walFile/{seg_name}", body=seg,
                   headers={"Content-MD5": base64.b64encode(b"\0" * 16).decode()}))
    r.check("uploads", "PUT with a malformed Content-MD5", {400},
            r.http("PUT", f"walFile/{seg_name}", body=seg, headers={"Content-MD5": "!!"}))
    body, boundary = _multipart(seg_name, seg)
    for name, ctype, data in [
            ("multipart without a boundary", "multipart/form-data", body),
            ("multipart with another boundary", "multipart/form-data; boundary=other", body),
            ("multipart cut in the middle", f"multipart/form-data; boundary={boundary}",
             body[: len(body) // 2]),
            ("multipart without a part", f"multipart/form-data; boundary={boundary}",
             f"--{boundary}--\r\n".encode()),
            ("multipart with a wrong md5 in the query",
             f"multipart/form-data; boundary={boundary}", body)]:
        path = f"walFile/{seg_name}" + ("?md5=" + "1" * 32 if "md5" in name else "")
        r.check("uploads", f"POST {name}", {400},
                r.http("POST", path, body=data, headers={"Content-Type": ctype}))

    # --- LSN and timeline grammar -------------------------------------------------------
    for path in ["validLsn/x/0/1", "validLsn/0/0/1", "validLsn/4294967296/0/1",
                 "validLsn/-1/0/1", "validLsn/1/G/1", "validLsn/1/0/123456789",
                 "validLsn/1/%20/1", "validLsn/99999999999999999999/0/1",
                 "validLsn/1/0/1?record=0/28", "validLsn/1/0/1?crc=0badcafe",
                 "validLsn/1/0/1?record=0/2C&crc=0badcafe", "validLsn/1/0/1?record=x&crc=0badcafe",
                 "validLsn/1/0/1?record=0/28&crc=badcafe", "validLsn/1/0/1?record=0/28&crc=0xbadcaf",
                 "walFiles/1/0/zz", "walFiles/1/0x0/0", "walFiles/1/+0/0"]:
        r.check("LSN and timeline", f"GET {path}", {400}, r.http("GET", path))

    # --- routes, methods, internal primitives without the lease --------------------------
    for method, path, expected in [
            ("DELETE", f"walFile/{existing}", {405}),
            ("PATCH", "instance/current", {400, 405, 501}),
            ("GET", "instance/..%2F..%2Fetc%2Fpasswd", {400}),
            ("GET", "instance/nonsense", {404}),
            ("POST", "instance/failover/now", {404}),
            ("POST", "instance/switchover/sideways", {400, 404}),
            ("POST", "test/testCase99", {400, 404}),
            ("POST", "pg/sync/..%2F..%2Ftmp", {400}),
            ("POST", "pg/init/x", {409}),
            ("POST", "internal/start?as=master", {409}),
            ("POST", "internal/stop", {409}),
            ("POST", "internal/promote", {409}),
            ("POST", "internal/rewind", {400, 409}),
            ("POST", "internal/pull-wal", {400, 409}),
            ("POST", "node/promote", {409}),
            ("POST", "instance/failover/restart", {409}),
            ("POST", "instance/switchover/masterSlave", {409})]:
        r.check("routes", f"{method} {path}", expected, r.http(method, path))
    r.check("routes", "POST internal/lease with a body that is not JSON", {400},
            r.http("POST", "internal/lease", body=b"{not json"))
    r.check("routes", "POST internal/start with a lease header nobody holds", {409},
            r.http("POST", "internal/start?as=master", headers={"X-Pgha-Lease": "x/1/1"}))

    # --- configuration (POST nodes/env) -------------------------------------------------
    for name, payload in [("not JSON", b"{"), ("a JSON array", b"[]"),
                          ("another local node", b'{"local_node": "intruder"}'),
                          ("another data directory", b'{"pgdata": "/tmp/elsewhere"}'),
                          ("port 70000", b'{"listen_port": 70000}'),
                          ("mask 99", b'{"mask": 99}'),
                          ("a replication user with a double quote",
                           b'{"replicate_user": "x\\"y"}'),
                          ("a subnet that is not an address", b'{"subnet": "10.0.0.0/8; all"}'),
                          ("an apply delay with a command", b'{"apply_delay": "1; rm -rf /"}'),
                          ("a database name with a newline", b'{"database": "a\\nb"}'),
                          ("an agent URL that is a file",
                           json.dumps({"nodes": [{"name": node, "agent_url": "file:///etc/passwd",
                                                  "pg_host": "127.0.0.1", "pg_port": 1}]})
                           .encode()),
                          ("a wrong field type", b'{"operation_timeout_ms": "soon"}'),
                          ("a negative segment size", b'{"wal_segment_size_mb": -1}'),
                          ("authentication switched off", b'{"auth_disabled": true}'),
                          ("another bindir", b'{"bindir": "/tmp"}'),
                          ("a token chosen by the caller", b'{"api_token": "mine"}'),
                          ("another listen address", b'{"listen_address": "0.0.0.0"}')]:
        r.check("configuration", f"POST nodes/env, {name}", {400},
                r.http("POST", "nodes/env", body=payload))

    # --- HTTP framing and limits --------------------------------------------------------
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    r.check("HTTP", "Content-Length of 1 GiB on PUT walFile", {413},
            r.raw(b"PUT /api/pg/v1/walFile/" + seg_name.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                  auth + b"Content-Length: 1073741824\r\n\r\n"))
    r.check("HTTP", "a 20 KB header", {431},
            r.raw(b"GET /api/pg/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20480 +
                  b"\r\n\r\n"))
    r.check("HTTP", "two Content-Length headers", {400, None},
            r.raw(b"PUT /api/pg/v1/walFile/" + seg_name.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                  auth + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"))
    r.check("HTTP", "a chunk size of 2^60", {400, 413, None},
            r.raw(b"PUT /api/pg/v1/walFile/" + seg_name.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
                  auth + b"Transfer-Encoding: chunked\r\n\r\n1000000000000000\r\nabc"))
    r.check("HTTP", "not HTTP at all", {400, None}, r.raw(b"GARBAGE\r\n\r\n"))
    r.check("HTTP", "HTTP/2.0 request line", {400, 505, None},
            r.raw(b"GET /api/pg/v1/health HTTP/2.0\r\nHost: x\r\n\r\n"))
    r.check("HTTP", "bytes 0x80-0xFF in the path", {400, 401, 404},
            r.raw(b"GET /api/pg/v1/walFile/\xff\xfe HTTP/1.1\r\nHost: x\r\n" + auth +
                  b"Connection: close\r\n\r\n"))

    # Slow and idle clients must not hold the server: 40 idle connections and one upload
    # trickling its body, while health and a real request are answered at once.
    def slow_clients():
        idle = [socket.create_connection((r.host, r.port), timeout=5) for _ in range(40)]
        trickle = socket.create_connection((r.host, r.port), timeout=60)
        trickle.sendall(b"PUT /api/pg/v1/walFile/" + seg_name.encode() + b" HTTP/1.1\r\n"
                        b"Host: x\r\n" + auth + f"Content-Length: {len(seg)}\r\n\r\n".encode())
        t0 = time.monotonic()
        answered = []
        for i in range(20):
            trickle.sendall(b"x")
            t = time.monotonic()
            status = cluster.call(node, "GET", "instance/current", timeout=5)[0]
            answered.append((status, time.monotonic() - t))
        worst = max(s for _, s in answered)
        # The trickling upload is cut at the server's read deadline (30 s), not held open.
        trickle.settimeout(60)
        cut = None
        try:
            while True:
                chunk = trickle.recv(4096)
                if not chunk:
                    break
                cut = chunk
        except OSError:
            pass
        held = time.monotonic() - t0
        for s in idle:
            s.close()
        trickle.close()
        r.figures.record({"category": "HTTP", "request": "detail: 40 idle connections and a "
                          "trickled upload", "worst_seconds_for_other_requests": round(worst, 3),
                          "trickled_upload_held_seconds": round(held, 1)})
        ok = all(s == 200 for s, _ in answered) and worst < 2 and held < 45
        return 200 if ok else 0

    r.check("HTTP", "40 idle connections and an upload sent one byte at a time", {200},
            slow_clients)

    # The cluster is still sound afterwards.
    cluster.ok(node, "POST", "instance/slave")
    Recovery(cluster).run()
    figures.set("summary", {"requests": len(figures.data["records"]) - 1,
                            "failures": len(r.failures)})
    assert not r.failures, json.dumps(r.failures, indent=1)[:4000]
