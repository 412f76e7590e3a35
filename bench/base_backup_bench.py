#!/usr/bin/env python3
"""pgha's own base backup against pg_basebackup, measured in the same run (docs/benchmarks.md).

A primary gets a table of --size-mb MB; then, --runs times and alternating, a new standby
directory is made from it by Instance.sync(method="pg_basebackup") (when the bindir has it:
Debian's 15) and by Instance.sync(method="pgha") (BASE_BACKUP over the replication protocol).
Both include the WAL, take a fast checkpoint, write into a temporary directory and flush it
before the rename. Printed: per method the median, min and max seconds and the MB/s of the
median, and the ratio pgha / pg_basebackup of the medians.

    PYTHONPATH=build/python python3 bench/base_backup_bench.py [--size-mb 512] [--runs 5]
        [--bindir DIR]

Run as root (the servers as the postgres account) or as a user who may run PostgreSQL.
"""

import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tests" / "integration"))

import pg_harness  # noqa: E402  (free_port, give_to_pg_user)
import pgha  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bindir", default=os.environ.get("PGHA_PG_BINDIR",
                                                       "/usr/lib/postgresql/15/bin"))
    args = ap.parse_args()
    if not 1 <= args.runs <= 50 or not 16 <= args.size_mb <= 65536:
        ap.error("--runs 1..50, --size-mb 16..65536")
    methods = ["pgha"]
    if (pathlib.Path(args.bindir) / "pg_basebackup").exists():
        methods.insert(0, "pg_basebackup")

    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-bb-bench-"))
    os.chmod(base, 0o755)
    pg_harness.give_to_pg_user(base)
    made = []

    def instance(name):
        inst = pgha.Instance(str(base / name), pg_harness.free_port(), bindir=args.bindir,
                             timeout=3600.0)
        made.append(inst)
        return inst

    try:
        p = instance("primary")
        p.init(replicate_password="bench", settings={"max_wal_size": "1GB"})
        p.start()
        rows = args.size_mb * 1024 * 1024 // 1100  # ~1 kB a row with its overhead
        p.query("CREATE TABLE filler (id bigint, pad text)")
        p.query(f"INSERT INTO filler SELECT g, repeat(md5(g::text), 30) "
                f"FROM generate_series(1, {rows}) g")
        p.query("CHECKPOINT")
        size = int(p.query("SELECT pg_database_size('postgres')")[0][0])
        version = p.query("SHOW server_version")[0][0]
        print(f"base backup benchmark: PostgreSQL {version}, database {size / 2**20:.0f} MB, "
              f"{args.runs} runs per method, alternating: {', '.join(methods)}")
        seconds = {m: [] for m in methods}
        sent = {m: [] for m in methods}
        for run in range(args.runs):
            for m in methods:
                s = instance(f"standby-{m}-{run}")
                t0 = time.monotonic()
                report = s.sync("127.0.0.1", p.port, user="replicate", password="bench",
                                method=m)
                seconds[m].append(time.monotonic() - t0)
                data = pathlib.Path(s.data_dir)
                sent[m].append(sum(f.stat().st_size for f in data.rglob("*") if f.is_file()))
                assert report["method"] == m, report
                shutil.rmtree(data, ignore_errors=True)
                print(f"  run {run + 1} {m}: {seconds[m][-1]:.2f} s, "
                      f"{sent[m][-1] / 2**20:.0f} MB on disk")
        print()
        print(f"{'method':<14} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7}")
        for m in methods:
            med = statistics.median(seconds[m])
            mb = statistics.median(sent[m]) / 2**20
            print(f"{m:<14} {med:>9.2f} {min(seconds[m]):>7.2f} {max(seconds[m]):>7.2f} "
                  f"{mb / med:>7.0f}")
        if len(methods) == 2:
            ratio = statistics.median(seconds["pgha"]) / statistics.median(seconds["pg_basebackup"])
            print(f"ratio pgha / pg_basebackup (median seconds): {ratio:.2f}")
    finally:
        for inst in made:
            try:
                inst.stop("immediate", timeout=30)
            except Exception:
                pass
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
