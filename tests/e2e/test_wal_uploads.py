"""WAL uploads (PUT/POST walFile) and copies with the cluster's segment size.

An upload is refused (409) while the node's server runs (it owns pg_wal) or while another
operation holds the node's lease, and nothing is left in pg_wal. Segments larger than 16 MiB
are uploaded and copied streamed (never held in memory whole): a pair made with 64 MiB
segments switches over in the seed's slaveMaster order (the stopped slave copies the old
master's last segment before it starts as master) without losing a row.
"""

import contextlib
import hashlib
import os
import time
import urllib.error
import urllib.request

import psycopg2
import pytest

pytestmark = pytest.mark.e2e


def start_pair(cluster):
    cluster.ok("pg-node01", "DELETE", "instance/all")
    assert cluster.ok("pg-node01", "POST", "instance/all") == \
        {"pg-node01": "master", "pg-node02": "slave"}


def raw(cluster, node, method, path, data=None, headers=()):
    """(status, body bytes) of a request whose body is `data` as it is."""
    req = urllib.request.Request(cluster.nodes[node]["agent_url"] + "/api/pg/v1/" + path,
                                 method=method, data=data)
    req.add_header("Authorization", "Bearer " + cluster.token)
    for name, value in headers:
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=300, context=cluster.ssl_context) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def last_segment(cluster, node):
    """(name, bytes) of the newest segment `node` lists from its redo point."""
    facts = cluster.ok(node, "GET", "lsn/current")[node]
    hi, lo = facts["chkRedoPoint"].split("/")
    files = cluster.ok(node, "GET", f"walFiles/{facts['timeLineID']}/{hi}/{lo}")
    name = [f["file"] for f in files if len(f["file"]) == 24][-1]
    status, data = raw(cluster, node, "GET", "walFile/" + name)
    assert status == 200, (status, data[:200])
    return name, data


def pg_wal_names(cluster, node):
    return sorted(os.listdir(os.path.join(cluster.nodes[node]["data_dir"], "pg_wal")))


def test_upload_into_a_running_server_or_under_another_lease_is_409(cluster):
    start_pair(cluster)
    name, data = last_segment(cluster, "pg-node01")
    before = pg_wal_names(cluster, "pg-node02")
    status, body = raw(cluster, "pg-node02", "PUT", "walFile/" + name, data)
    assert status == 409 and b"running" in body, (status, body)
    assert pg_wal_names(cluster, "pg-node02") == before

    # Stopped, but another operation holds pg-node02's lease: 409 naming it; with that
    # operation's lease header, the upload runs (the file is there already: same MD5).
    cluster.ok("pg-node01", "DELETE", "instance/all")
    name, data = last_segment(cluster, "pg-node02")
    # Not a peer's holder: no agent can say it is gone (LeaseTable's holder check).
    holder = "pg-node09/e2e-upload-test"
    lease = cluster.ok("pg-node02", "POST", "internal/lease",
                       body={"operation": "e2e-op", "holder": holder, "ttl_ms": 60000})
    assert lease == {"granted": True}
    try:
        before = pg_wal_names(cluster, "pg-node02")
        status, body = raw(cluster, "pg-node02", "PUT", "walFile/" + name, data)
        assert status == 409 and b"e2e-op is running" in body, (status, body)
        assert pg_wal_names(cluster, "pg-node02") == before
        status, body = raw(cluster, "pg-node02", "PUT", "walFile/" + name, data,
                           [("X-Pgha-Lease", holder)])
        assert status == 200, (status, body)
    finally:
        cluster.ok("pg-node02", "DELETE", "internal/lease?holder=" + holder)
    assert pg_wal_names(cluster, "pg-node02") == before
    start_pair(cluster)


def connect(cluster, node):
    n = cluster.nodes[node]
    conn = psycopg2.connect(host=n["pg_host"], port=n["pg_port"], user="postgres",
                            dbname="postgres", connect_timeout=5)
    conn.autocommit = True
    return conn


def sql(cluster, node, query):
    with contextlib.closing(connect(cluster, node)) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall() if cur.description else None


def test_switchover_slave_master_with_64_mib_segments(big_segment_pair):
    c = big_segment_pair
    assert sql(c, "pg-node01", "SHOW wal_segment_size") == [("64MB",)]
    sql(c, "pg-node01", "CREATE TABLE big_seg(id int PRIMARY KEY, pad text)")
    sql(c, "pg-node01", "INSERT INTO big_seg SELECT g, repeat('x', 500) FROM "
                        "generate_series(1, 20000) g")
    assert c.ok("pg-node01", "POST", "instance/switchover/slaveMaster") == \
        {"pg-node01": "slave", "pg-node02": "master"}
    assert sql(c, "pg-node02", "SELECT count(*), max(id) FROM big_seg") == [(20000, 20000)]
    # The old master streams from the new one.
    sql(c, "pg-node02", "INSERT INTO big_seg VALUES (20001, 'after')")
    deadline = time.monotonic() + 60
    while sql(c, "pg-node01", "SELECT count(*) FROM big_seg")[0][0] != 20001:
        assert time.monotonic() < deadline, "the old master does not replay the new one's WAL"
        time.sleep(0.05)
    assert c.ok("pg-node01", "GET", "instance/all") == {"pg-node01": "slave",
                                                          "pg-node02": "master"}

    # A whole 64 MiB segment uploaded (PUT, then multipart POST) into a stopped node that has
    # it: accepted as already there, nothing else left in pg_wal.
    c.ok("pg-node02", "DELETE", "instance/all")
    name, data = last_segment(c, "pg-node01")
    assert len(data) == 64 << 20
    before = pg_wal_names(c, "pg-node01")
    md5 = hashlib.md5(data).hexdigest()
    status, body = raw(c, "pg-node01", "PUT", f"walFile/{name}?md5={md5}", data)
    assert status == 200, (status, body)
    boundary = "pgha-e2e-boundary"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; "
                 f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, body = raw(c, "pg-node01", "POST", "walFile/" + name, multipart,
                       [("Content-Type", "multipart/form-data; boundary=" + boundary)])
    assert status == 200, (status, body)
    assert pg_wal_names(c, "pg-node01") == before
