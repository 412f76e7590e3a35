"""Concurrency soak: many clients fire operations at both agents at once.

PGHA_SOAK_THREADS threads (default 16) make requests back to back for PGHA_SOAK_SECONDS
(default 60; at most 100 000 requests each), chosen at random (fixed seeds) among switchovers
in both orders, failovers (refused while the master runs), POST instance/all and
instance/slave, and the state and position reads, on a random node, all starting together. A writer inserts rows throughout and a monitor asks both
PostgreSQL servers every 20 ms whether they accept writes.

Checks: every request is answered within its deadline (nothing deadlocks); a 409 is either
"another operation is running" or a refusal of the operation in this state; the only other
answer allowed is a read (GET instance/all, lsn/all) answering 503 with Retry-After (code 11,
unavailable) because a server it asks stops or starts at that moment, never 500; the monitor
(harness.Monitor) never sees two nodes answer "primary" in one sample, and at most
MAX_BLIND_SHARE of its samples are blind (a node that errors is never counted as not writable
while a process works in its data directory); each successful switchover swapped the roles
exactly once (the
final master is the first one iff an even number succeeded), which two operations running
at once could not ensure; the cluster ends sound with no acknowledged row lost. Figures:
concurrency.json.
"""

import os
import random
import threading
import time

import pytest

from harness import Figures, Monitor, Recovery, Writer, check_sound

pytestmark = pytest.mark.reliability

REQUESTS = [
    ("POST", "instance/switchover/masterSlave"),
    ("POST", "instance/switchover/slaveMaster"),
    ("POST", "instance/failover/restart"),
    ("POST", "instance/failover/promote"),
    ("POST", "instance/all"),
    ("POST", "instance/slave"),
    ("GET", "instance/all"),
    ("GET", "lsn/all"),
]
MUTATING = {p for m, p in REQUESTS if m == "POST"}
CLIENT_TIMEOUT = 300
MAX_REQUESTS_PER_CLIENT = 100_000  # bounds each client's loop whatever the clock does
# The largest share of the monitor's samples that may be blind (harness.Monitor: a node that
# errors while a process still works in its data directory is "unknown", never "not
# primary", and a sample whose primaries plus unknowns reach two could hide two primaries).
# Servers start and stop all through the soak, so some samples are blind; a monitor blind
# for more than this proves too little.
MAX_BLIND_SHARE = 0.25


def classify(method, status, body) -> str:
    if status == 200:
        return "ok"
    msg = body.get("msg", "") if isinstance(body, dict) else str(body)
    if method == "GET" and status == 503 and isinstance(body, dict) and body.get("code") == 11:
        return "503 read while a server starts or stops"
    if status == 409 and msg.startswith("cannot run ") and " is running" in msg:
        return "409 busy"
    if status == 409:
        return "409 refused"
    return f"{status}"


def test_many_clients_on_both_agents(cluster):
    threads_n = int(os.environ.get("PGHA_SOAK_THREADS", "16"))
    seconds = float(os.environ.get("PGHA_SOAK_SECONDS", "60"))
    figures = Figures("concurrency", {"threads": threads_n, "seconds": seconds})
    Recovery(cluster).run()
    first_master = next(n for n, s in cluster.states().items() if s == "master")
    writer = Writer(cluster)
    writer.start()
    monitor = Monitor(cluster)
    monitor.start()
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_n)

    def client(seed):
        rng = random.Random(seed)
        barrier.wait()
        end = time.monotonic() + seconds
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= end:
                break
            method, path = rng.choice(REQUESTS)
            node = rng.choice(cluster.names)
            t0 = time.monotonic()
            status, body = cluster.call(node, method, path, timeout=CLIENT_TIMEOUT)
            took = time.monotonic() - t0
            with lock:
                results.append({"method": method, "path": path, "node": node,
                                "status": status, "class": classify(method, status, body),
                                "msg": body.get("msg", "")[:200] if isinstance(body, dict)
                                else "", "seconds": round(took, 3)})

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(1000 + i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 2 * CLIENT_TIMEOUT)
    wall = time.monotonic() - started
    hung = sum(t.is_alive() for t in threads)
    watched = monitor.finish()
    recovery = Recovery(cluster)
    recovery.run()
    writer.stop()
    sound = check_sound(cluster, writer)

    by_class = {}
    for r in results:
        key = f"{r['method']} {r['path']}"
        by_class.setdefault(key, {}).setdefault(r["class"], 0)
        by_class[key][r["class"]] += 1
    switchovers_ok = sum(1 for r in results
                         if r["path"].startswith("instance/switchover") and r["class"] == "ok")
    failovers_ok = sum(1 for r in results
                       if r["path"].startswith("instance/failover") and r["class"] == "ok")
    final_master = sound["master"]
    parity_ok = (final_master == first_master) == (switchovers_ok % 2 == 0)
    expected = ("ok", "409 busy", "409 refused", "503 read while a server starts or stops")
    unexpected = [r for r in results if r["class"] not in expected]
    summary = {
        "requests": len(results), "wall_seconds": round(wall, 1), "hung_threads": hung,
        "max_seconds": max(r["seconds"] for r in results),
        "mutating_requests": sum(1 for r in results if r["path"] in MUTATING
                                 and r["method"] == "POST"),
        "ok": sum(1 for r in results if r["class"] == "ok"),
        "busy_409": sum(1 for r in results if r["class"] == "409 busy"),
        "refused_409": sum(1 for r in results if r["class"] == "409 refused"),
        "read_unavailable": sum(1 for r in results if r["class"].startswith("503 read")),
        "other": len(unexpected), "other_samples": unexpected[:10],
        "switchovers_ok": switchovers_ok, "failovers_ok": failovers_ok,
        "first_master": first_master, "final_master": final_master, "parity_ok": parity_ok,
        **watched,
        "by_request": by_class, "recovery": recovery.calls,
        "acknowledged": sound["acknowledged"], "lost": sound["lost"],
    }
    figures.set("summary", summary)
    assert hung == 0
    assert watched["two_primaries_samples"] == 0, watched
    # A monitor that cannot see proves nothing.
    assert monitor.samples > 0 and monitor.blind_share() <= MAX_BLIND_SHARE, watched
    assert failovers_ok == 0, "a failover succeeded while the master ran"
    assert parity_ok, summary
    assert not unexpected, unexpected[:5]
    assert recovery.calls == [], recovery.calls
    assert sound["lost"] == 0, sound
