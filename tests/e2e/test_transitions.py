"""Reads and configuration changes while servers stop, start and are re-created.

Reads during a normal transition answer 200, or 503 with Retry-After (code 11, unavailable):
never 500. The WAL routes and POST nodes/env run beside pg/sync and operations (the WAL
catalogue is replaced, the configuration republished); scripts/test.sh runs this module under
ThreadSanitizer too, where a data race there fails the run.
"""

import threading
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

READS = [("pg-node01", "lsn/all"), ("pg-node01", "instance/all"), ("pg-node02", "lsn/all"),
         ("pg-node02", "instance/all"), ("pg-node01", "instance/current")]
MAX_READS_PER_THREAD = 20_000  # bounds each reader's loop whatever the clock does


def call_with_headers(cluster, node, method, path, timeout=120):
    """(status, Retry-After header or None, body bytes) of one request."""
    req = urllib.request.Request(cluster.nodes[node]["agent_url"] + "/api/pg/v1/" + path,
                                 method=method)
    req.add_header("Authorization", "Bearer " + cluster.token)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=cluster.ssl_context) as resp:
            return resp.status, resp.headers.get("Retry-After"), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Retry-After"), e.read()


class Readers:
    """Threads that send `requests` round-robin, back to back, until stopped; each answer is
    recorded as (node, path, status, Retry-After, body)."""

    def __init__(self, cluster, requests, threads=4):
        self.cluster = cluster
        self.requests = requests
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def _run(self, offset):
        for i in range(MAX_READS_PER_THREAD):
            if self.stop.is_set():
                return
            node, path = self.requests[(offset + i) % len(self.requests)]
            status, retry_after, body = call_with_headers(self.cluster, node, "GET", path)
            with self.lock:
                self.answers.append((node, path, status, retry_after, body[:300]))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in self.threads), "a reader did not finish"

    def count(self):
        with self.lock:
            return len(self.answers)

    def wait_for_more(self, seen, deadline_s=60):
        """Waits (bounded) until readers answered more than `seen` requests."""
        deadline = time.monotonic() + deadline_s
        while self.count() <= seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.count() > seen, "the readers got no answer"


def test_reads_during_stop_and_start_answer_200_or_503(cluster):
    cluster.ok("pg-node01", "DELETE", "instance/all")
    cluster.ok("pg-node01", "POST", "instance/all")
    with Readers(cluster, READS) as readers:
        for _ in range(3):
            before = readers.count()
            assert cluster.ok("pg-node01", "DELETE", "instance/all") == \
                {"pg-node01": "inactive", "pg-node02": "inactive"}
            readers.wait_for_more(before)
            before = readers.count()
            assert cluster.ok("pg-node01", "POST", "instance/all") == \
                {"pg-node01": "master", "pg-node02": "slave"}
            readers.wait_for_more(before)
    answers = readers.answers
    statuses = {}
    for _, path, status, _, _ in answers:
        statuses.setdefault(path, {}).setdefault(status, 0)
        statuses[path][status] += 1
    bad = [a for a in answers if a[2] not in (200, 503)]
    assert not bad, (statuses, bad[:5])
    unavailable = [a for a in answers if a[2] == 503]
    assert all(a[3] == "1" and b'"code":11' in a[4] for a in unavailable), unavailable[:5]
    assert len(answers) >= 12, statuses


def test_wal_routes_and_config_changes_beside_sync_and_operations(cluster):
    """The slave's WAL routes are read while it is re-created by pg/sync (its WAL catalogue
    replaced), and both agents republish their configuration throughout."""
    cluster.ok("pg-node01", "DELETE", "instance/all")
    cluster.ok("pg-node01", "POST", "instance/all")
    facts = cluster.ok("pg-node02", "GET", "lsn/current")["pg-node02"]
    tl, (hi, lo) = facts["timeLineID"], facts["chkRedoPoint"].split("/")
    segment = cluster.ok("pg-node02", "GET", f"walFiles/{tl}/{hi}/{lo}")[0]["file"]
    wal_reads = [("pg-node02", f"walFiles/{tl}/{hi}/{lo}"), ("pg-node02", f"validLsn/{tl}/{hi}/{lo}"),
                 ("pg-node02", f"walFiles/{segment}"), ("pg-node02", f"walFile/{segment}"),
                 ("pg-node01", f"walFiles/{tl}/{hi}/{lo}")]
    env_answers = []
    stop_env = threading.Event()

    def republish():
        for _ in range(10_000):
            if stop_env.is_set():
                return
            for node in cluster.names:
                env_answers.append(cluster.call(node, "POST", "nodes/env",
                                                body={"synchronous_mode": False})[0])

    env_thread = threading.Thread(target=republish, daemon=True)
    env_thread.start()
    try:
        with Readers(cluster, wal_reads, threads=3) as readers:
            before = readers.count()
            cluster.ok("pg-node02", "DELETE", "instance/current")
            cluster.ok("pg-node02", "POST", "pg/sync/postgres")
            readers.wait_for_more(before)
            before = readers.count()
            assert cluster.ok("pg-node01", "POST", "instance/all") == \
                {"pg-node01": "master", "pg-node02": "slave"}
            assert cluster.ok("pg-node01", "POST", "instance/switchover/masterSlave") == \
                {"pg-node01": "slave", "pg-node02": "master"}
            readers.wait_for_more(before)
    finally:
        stop_env.set()
        env_thread.join(timeout=300)
    assert not env_thread.is_alive()
    assert env_answers and set(env_answers) == {200}, env_answers[:20]
    # Both agents are alive and their catalogues describe the new pg_wal.
    for node in cluster.names:
        assert cluster.call(node, "GET", "health", token=None)[0] == 200
    facts = cluster.ok("pg-node02", "GET", "lsn/current")["pg-node02"]
    tl, (hi, lo) = facts["timeLineID"], facts["chkRedoPoint"].split("/")
    assert cluster.ok("pg-node02", "GET", f"walFiles/{tl}/{hi}/{lo}")
    assert cluster.ok("pg-node01", "POST", "instance/switchover/slaveMaster") == \
        {"pg-node01": "master", "pg-node02": "slave"}
