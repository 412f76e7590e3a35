"""A writer and a monitor for the hosts suite, run inside one host (network namespace), where
the nodes' addresses are reachable (the root namespace never connects to them).

    python3 ha_probe.py OUT TABLE HOST:ADDRESS...

Until SIGTERM (or a bound on its rounds): the writer inserts 1, 2, 3, ... into TABLE through
one libpq connection string naming every node with target_session_attrs=read-write,
reconnecting after each failure, and writes `{"ack": n, "node": name, "t": monotonic}` for
each acknowledged insert; the monitor asks every node `SELECT NOT pg_is_in_recovery()` about
every 50 ms and writes `{"sample": {name: "primary" | "standby" | "error"}, "t": monotonic}`.
Lines go to OUT as they happen. The password is PGPASSWORD's; the user is postgres.
CLOCK_MONOTONIC is the machine's, not the namespace's, so the times compare with the test's.
"""

import json
import signal
import sys
import threading
import time

import psycopg2

MAX_ROWS = 1_000_000
MAX_SAMPLES = 100_000
SAMPLE_PERIOD = 0.05
RETRY_PAUSE = 0.05  # between connection attempts of the writer, not a wait for a state


def main() -> int:
    out_path, table = sys.argv[1], sys.argv[2]
    nodes = dict(arg.split(":", 1) for arg in sys.argv[3:])  # name -> address
    by_address = {address: name for name, address in nodes.items()}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    out = open(out_path, "a", buffering=1)

    def emit(record):
        with lock:
            out.write(json.dumps(record) + "\n")

    def writer():
        hosts = ",".join(nodes.values())
        dsn = (f"host={hosts} port=5432 user=postgres dbname=postgres connect_timeout=2 "
               "target_session_attrs=read-write application_name=pgha-probe")
        conn, node, n = None, None, 0
        while not stop.is_set() and n < MAX_ROWS:
            if conn is None:
                try:
                    conn = psycopg2.connect(dsn)
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        cur.execute("SELECT host(inet_server_addr())")
                        node = by_address.get(cur.fetchone()[0], "?")
                except psycopg2.Error:
                    conn = None
                    stop.wait(RETRY_PAUSE)
                    continue
            n += 1
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {table} (id) VALUES (%s)", (n,))
                emit({"ack": n, "node": node, "t": time.monotonic()})
            except psycopg2.Error:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
                conn = None

    def ask(address):
        try:
            conn = psycopg2.connect(host=address, port=5432, user="postgres", dbname="postgres",
                                    connect_timeout=2, options="-c statement_timeout=1000")
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT NOT pg_is_in_recovery()")
                    return "primary" if cur.fetchone()[0] else "standby"
            finally:
                conn.close()
        except psycopg2.Error:
            return "error"

    def monitor():
        for _ in range(MAX_SAMPLES):
            if stop.is_set():
                return
            answers = {}
            threads = [threading.Thread(target=lambda n=n, a=a: answers.__setitem__(n, ask(a)))
                       for n, a in nodes.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            emit({"sample": answers, "t": time.monotonic()})
            stop.wait(SAMPLE_PERIOD)

    threads = [threading.Thread(target=writer), threading.Thread(target=monitor)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
