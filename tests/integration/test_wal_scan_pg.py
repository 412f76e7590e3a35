"""pgha's end-of-WAL scan agrees with pg_waldump (PostgreSQL 15) on real WAL.

pg_waldump is the oracle: the scan must find the same first record, the same number of
records, the same last valid record, the same end of WAL and the same reason for stopping,
also when the tail of the WAL is torn.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import tempfile
from typing import List, Optional

import pytest

import pgha
from pg_harness import give_to_pg_user

pytestmark = pytest.mark.integration

SEG = 1 << 20
RECORD_RE = re.compile(r"^rmgr: .*len \(rec/tot\):\s*\d+/\s*(\d+), .*lsn: ([0-9A-F]+/[0-9A-F]+),")
ERROR_RE = re.compile(r"error in WAL record at ([0-9A-F]+/[0-9A-F]+): (.*)$")


class Dump:
    """What pg_waldump -p DIR -s START printed: the records and the error that ended it."""

    def __init__(self, stdout: str, stderr: str):
        self.records: List[pgha.Lsn] = []
        self.lengths: List[int] = []
        for line in stdout.splitlines():
            m = RECORD_RE.match(line)
            if m:
                self.lengths.append(int(m.group(1)))
                self.records.append(pgha.Lsn.parse(m.group(2)))
        errors = [ERROR_RE.search(line) for line in stderr.splitlines()]
        errors = [m for m in errors if m]
        assert errors, f"pg_waldump ended without a WAL error:\n{stderr}"
        self.last_good = pgha.Lsn.parse(errors[-1].group(1))
        self.reason = errors[-1].group(2).strip()
        # The end of WAL is the last LSN the message names ("... at X/Y[: detail]").
        self.end = pgha.Lsn.parse(re.findall(r"at ([0-9A-F]+/[0-9A-F]+)", self.reason)[-1])


def waldump(server, wal_dir: pathlib.Path, start: pgha.Lsn) -> Dump:
    res = server.waldump("-p", str(wal_dir), "-s", str(start))
    return Dump(res.stdout, res.stderr)


def segment_files(wal_dir: pathlib.Path) -> List[str]:
    names = sorted(p.name for p in wal_dir.iterdir() if re.fullmatch(r"[0-9A-F]{24}", p.name))
    return [str(wal_dir / n) for n in names]


def assert_same(scan, dump: Dump, start: Optional[pgha.Lsn] = None) -> None:
    assert dump.records, "pg_waldump printed no record"
    if start is not None:
        assert scan.start == start
    assert scan.start == dump.records[0]
    assert scan.records == len(dump.records)
    assert scan.last_record == dump.records[-1] == dump.last_good
    assert scan.end == dump.end
    assert scan.stop_reason == dump.reason


def make_wal(server) -> None:
    """Ordinary records, an XLOG_SWITCH, and records longer than a 1 MiB segment."""
    server.sql("CREATE TABLE t (id int PRIMARY KEY, v text)")
    server.sql("INSERT INTO t SELECT g, repeat(md5(g::text), 5) FROM generate_series(1, 20000) g")
    server.sql("SELECT pg_switch_wal()")
    for size in (3 * SEG // 2, 2 * SEG + 12345, 5000, 100):
        server.sql(f"SELECT pg_logical_emit_message(false, 'pgha', repeat('x', {size}))")
    server.sql("UPDATE t SET v = v || 'y' WHERE id % 7 = 0")
    server.sql("CHECKPOINT")
    server.sql("DELETE FROM t WHERE id % 3 = 0")


def copy_wal(src: pathlib.Path) -> pathlib.Path:
    dst = pathlib.Path(tempfile.mkdtemp(prefix="pgha-wal-copy-"))
    give_to_pg_user(dst)
    for name in segment_files(src):
        target = dst / pathlib.Path(name).name
        shutil.copyfile(name, target)
        give_to_pg_user(target)
    return dst


def flip_byte(wal_dir: pathlib.Path, lsn: pgha.Lsn, timeline: int = 1) -> None:
    path = wal_dir / pgha.wal_segment_name(timeline, lsn, SEG)
    with open(path, "r+b") as f:
        f.seek(int(lsn) % SEG)
        byte = f.read(1)[0]
        f.seek(int(lsn) % SEG)
        f.write(bytes([byte ^ 0x5A]))


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
def test_scan_matches_pg_waldump(pg, stop_mode):
    server = pg().init(wal_segsize_mb=1, conf={"wal_keep_size": "'256MB'"}).start()
    sysid = int(server.sql("SELECT system_identifier FROM pg_control_system()"))
    make_wal(server)
    server.stop(stop_mode)
    wal = server.wal_dir
    files = segment_files(wal)

    scan = pgha.scan_wal_files(files)
    first_segment = pgha.WalFileName.parse(pathlib.Path(files[0]).name, SEG).start_lsn
    dump = waldump(server, wal, first_segment)
    assert_same(scan, dump)
    assert scan.postgres_major == 15 and scan.page_magic == 0xD110
    assert scan.system_identifier == sysid and scan.segment_size == SEG and scan.timeline == 1
    assert scan.bytes_read >= int(scan.end) - int(scan.start)

    by_dir = pgha.scan_wal_directory(str(wal), 1, system_identifier=sysid)
    assert (by_dir.start, by_dir.end, by_dir.records) == (scan.start, scan.end, scan.records)

    # Counting from chosen records: after the switch, a record spanning three segments, the
    # one after it, and the last one.
    spanning = [lsn for lsn, tot in zip(dump.records, dump.lengths) if tot > SEG]
    assert len(spanning) == 2, "expected two logical messages longer than a segment"
    after_span = dump.records[dump.records.index(spanning[1]) + 1]
    for start in (dump.records[len(dump.records) // 3], spanning[1], after_span, dump.records[-1]):
        first = pgha.wal_segment_name(1, start, SEG)
        from_start = pgha.scan_wal_files([f for f in files if pathlib.Path(f).name >= first],
                                         start=start)
        assert_same(from_start, waldump(server, wal, start), start)


def test_torn_tail_matches_pg_waldump(pg):
    server = pg().init(wal_segsize_mb=1, conf={"wal_keep_size": "'256MB'"}).start()
    make_wal(server)
    server.stop("fast")
    files = segment_files(server.wal_dir)
    clean = pgha.scan_wal_files(files)
    dump = waldump(server, server.wal_dir, clean.start)
    assert_same(clean, dump)

    # A byte inside the last record tears the tail: the 8 bytes before the end of WAL start
    # with the last record's final bytes (records are MAXALIGNed), never with a page header.
    last = dump.records[-1]
    copy = copy_wal(server.wal_dir)
    try:
        flip_byte(copy, clean.end - 8)
        torn = pgha.scan_wal_files(segment_files(copy))
        assert torn.end == last
        assert torn.last_record == dump.records[-2]
        assert torn.records == clean.records - 1
        assert torn.stop_reason == f"incorrect resource manager data checksum in record at {last}"
        assert_same(torn, waldump(server, copy, clean.start))
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    # A byte in the second segment of a record that spans three: the CRC streamed across
    # segments catches it, and the WAL ends where that record starts.
    big = [lsn for lsn, tot in zip(dump.records, dump.lengths) if tot > 2 * SEG][0]
    copy = copy_wal(server.wal_dir)
    try:
        inside = int(big) + SEG + 4096 + 100
        if inside % 8192 < 40:  # step over a page header
            inside += 40
        flip_byte(copy, pgha.Lsn(inside))
        torn = pgha.scan_wal_files(segment_files(copy))
        assert torn.end == big
        assert_same(torn, waldump(server, copy, clean.start))
    finally:
        shutil.rmtree(copy, ignore_errors=True)
