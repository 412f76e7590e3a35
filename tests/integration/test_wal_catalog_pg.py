"""The WAL catalogue on real PostgreSQL 15 data directories (1 MiB segments).

Oracles: `md5sum` for every MD5, the history file and the directory for the catch-up set of a
promoted standby, pg_waldump for record boundaries and counts, and a running server that still
works with what the catalogue installs or leaves in its pg_wal.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
from typing import Dict, List

import pytest

import pgha
from pg_harness import PG_BINDIR, run_as_pg, wait_for

pytestmark = pytest.mark.integration

SEG = 1 << 20
SEGMENT_RE = re.compile(r"[0-9A-F]{24}")
RECORD_RE = re.compile(r"^rmgr: .*lsn: ([0-9A-F]+/[0-9A-F]+),")


def md5sum(paths: List[pathlib.Path]) -> Dict[str, str]:
    out = subprocess.run(["md5sum", *map(str, paths)], check=True, capture_output=True, text=True)
    return {pathlib.Path(line.split(None, 1)[1].strip()).name: line.split()[0]
            for line in out.stdout.splitlines()}


def snapshot(wal_dir: pathlib.Path) -> Dict[str, str]:
    """Every file under pg_wal (hidden ones and archive_status/ included) with its MD5."""
    files = sorted(p for p in wal_dir.rglob("*") if p.is_file())
    return md5sum(files) if files else {}


def write_wal(server, rows: int = 20000) -> None:
    server.sql("CREATE TABLE IF NOT EXISTS t (id int, v text)")
    server.sql(f"INSERT INTO t SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, {rows}) g")
    server.sql("SELECT pg_switch_wal()")
    server.sql("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g")


def segno(lsn: pgha.Lsn) -> int:
    return int(lsn) // SEG


def seg_name(tli: int, segment: int) -> str:
    return pgha.wal_segment_name(tli, pgha.Lsn(segment * SEG), SEG)


def end_of_wal(wal_dir: pathlib.Path, history: pgha.TimelineHistory) -> pgha.Lsn:
    return pgha.scan_wal_directory(str(wal_dir), history, segment_size=SEG).end


def waldump_records(server, wal_dir: pathlib.Path, tli: int, start: pgha.Lsn) -> List[pgha.Lsn]:
    res = server.waldump("-p", str(wal_dir), "-t", str(tli), "-s", str(start))
    return [pgha.Lsn.parse(m.group(1)) for m in map(RECORD_RE.match, res.stdout.splitlines()) if m]


def test_list_md5_equals_md5sum_and_leaves_out_recycled(pg):
    server = pg().init(wal_segsize_mb=1, conf={"wal_keep_size": "'64MB'"}).start()
    write_wal(server)
    server.stop("fast")
    wal = server.wal_dir
    history = pgha.TimelineHistory(1)
    end = pgha.WalPosition(history, end_of_wal(wal, history))
    last = segno(end.end_of_wal - 1)
    # What recycling does: an old segment renamed to a future name.
    oldest = min(p.name for p in wal.iterdir() if SEGMENT_RE.fullmatch(p.name))
    shutil.copyfile(wal / oldest, wal / seg_name(1, last + 3))

    catalog = pgha.WalCatalog(str(wal), SEG)
    files = catalog.list(end)
    expected = sorted(p.name for p in wal.iterdir() if SEGMENT_RE.fullmatch(p.name)
                      and pgha.WalFileName.parse(p.name, SEG).segment <= last)
    assert [f.name for f in files] == expected
    assert seg_name(1, last + 3) not in [f.name for f in files]
    sums = md5sum([wal / f.name for f in files])
    for f in files:
        assert f.md5 == sums[f.name], f.name
        assert f.size == SEG and f.kind == "segment" and f.timeline == 1
    assert catalog.hashes_computed == len(files)
    assert [f.md5 for f in catalog.list(end)] == [f.md5 for f in files]


def make_promoted_standby(pg):
    """A primary on timeline 1, a standby made with pg_basebackup -R and promoted to 2.
    Returns (old primary, new primary, an LSN on timeline 1 the standby had replayed)."""
    primary = pg("primary").init(wal_segsize_mb=1, conf={"wal_keep_size": "'64MB'"}).start()
    write_wal(primary, 5000)
    standby = pg("standby")
    run_as_pg([PG_BINDIR / "pg_basebackup", "-D", standby.data, "-R", "-X", "stream", "-c", "fast",
               "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"])
    standby.append_conf({"unix_socket_directories": f"'{standby.dir}'"})
    standby.start()
    wait_for(lambda: primary.sql("SELECT count(*) FROM pg_stat_replication "
                                 "WHERE state = 'streaming'") == "1", 60, "the standby to stream")
    write_wal(primary, 8000)
    position = pgha.Lsn.parse(primary.sql("SELECT pg_current_wal_lsn()"))
    wait_for(lambda: standby.sql(f"SELECT pg_last_wal_replay_lsn() >= '{position}'") == "t", 60,
             "the standby to replay")
    primary.stop("fast")
    run_as_pg([PG_BINDIR / "pg_ctl", "-D", standby.data, "-w", "-t", "60", "promote"])
    wait_for(lambda: standby.sql("SELECT pg_is_in_recovery()") == "f", 60, "the promotion")
    write_wal(standby, 3000)
    standby.stop("fast")
    return primary, standby, position


def expected_from(wal: pathlib.Path, history: pgha.TimelineHistory, tli: int, lsn: pgha.Lsn,
                  end: pgha.Lsn) -> List[str]:
    """The catch-up set by the rule of docs/wal-catalogue.md, from the history and pg_wal."""
    present = {p.name for p in wal.iterdir()}
    entries = history.entries
    out: List[str] = []
    start = [e.timeline for e in entries].index(tli)
    for i, e in enumerate(entries[start:], start):
        stop = e.end if e.end is not None else end
        first = segno(lsn) if i == start else segno(e.begin)
        if i != start:
            out.append(f"{e.timeline:08X}.history")
        for s in range(first, segno(stop - 1) + 1):
            name = seg_name(e.timeline, s)
            last, shared = s == segno(stop - 1), int(stop) % SEG != 0 and e.end is not None
            if name in present:
                out.append(name)
            elif last and name + ".partial" in present:
                out.append(name + ".partial")
            else:
                assert last and shared, f"{name} is missing"
    return out


def test_catch_up_set_after_promotion_and_valid_lsn(pg):
    old, new, position = make_promoted_standby(pg)
    wal = new.wal_dir
    history = pgha.TimelineHistory.read(str(wal / "00000002.history"))
    switch = history.switch_point(1)
    assert position <= switch
    end = pgha.WalPosition(history, end_of_wal(wal, history))
    catalog = pgha.WalCatalog(str(wal), SEG)

    files = catalog.from_position(1, position, end)
    assert [f.name for f in files] == expected_from(wal, history, 1, position, end.end_of_wal)
    assert "00000002.history" in [f.name for f in files]
    assert files[-1].name == seg_name(2, segno(end.end_of_wal - 1))
    sums = md5sum([wal / f.name for f in files])
    assert all(f.md5 == sums[f.name] for f in files)
    listed = [f.name for f in catalog.list(end)]
    assert [f.name for f in files] == [n for n in listed if n in {f.name for f in files}]
    first = pgha.wal_segment_name(1, position, SEG)
    assert [f.name for f in catalog.from_file(first, end)] == \
        expected_from(wal, history, 1, pgha.WalFileName.parse(first, SEG).start_lsn, end.end_of_wal)

    # validLsn on real WAL, with pg_waldump as the oracle for boundaries and counts.
    records = waldump_records(new, wal, 2, switch)
    assert records and records[0] >= switch
    mid = records[len(records) // 2]
    r = catalog.valid_lsn(2, mid, end)
    assert (r.code, r.msg) == (0, "Valid lsn")
    assert r.cnt == len(waldump_records(new, wal, 2, mid))
    assert catalog.valid_lsn(2, mid + 8, end).code == 2
    assert catalog.valid_lsn(2, end.end_of_wal, end).code == 0
    assert catalog.valid_lsn(2, end.end_of_wal + 8, end).code == 3
    assert catalog.valid_lsn(3, mid, end).code == 3
    at_position = catalog.valid_lsn(1, position, end)  # where the next record started
    assert at_position.code == 0 and at_position.cnt > r.cnt
    assert catalog.valid_lsn(1, switch + 8, end).code == 4

    # The old primary writes on timeline 1 past the switch point: diverged.
    old.start()
    write_wal(old, 2000)
    old.stop("fast")
    old_end = end_of_wal(old.wal_dir, pgha.TimelineHistory(1))
    assert old_end > switch
    diverged = catalog.valid_lsn(1, old_end, end)
    assert diverged.code == 4 and str(switch) in diverged.msg
    with pytest.raises(pgha.WrongStateError, match=str(switch)):
        catalog.from_position(1, old_end, end)


def test_uploads_to_a_stopped_server(pg):
    mine = pg("mine").init(wal_segsize_mb=1).start()
    other = pg("other").init(wal_segsize_mb=1).start()
    for s in (mine, other):
        write_wal(s, 3000)
        s.stop("fast")
    wal = mine.wal_dir
    catalog = pgha.WalCatalog(str(wal), SEG)  # identity learned from mine's segments
    before = snapshot(wal)
    name = min(p.name for p in wal.iterdir() if SEGMENT_RE.fullmatch(p.name))
    own = (wal / name).read_bytes()
    foreign_name = min(p.name for p in other.wal_dir.iterdir() if SEGMENT_RE.fullmatch(p.name))
    foreign = (other.wal_dir / foreign_name).read_bytes()

    with pytest.raises(pgha.BadInputError, match="system identifier"):
        catalog.install(foreign_name, foreign)
    with pytest.raises(pgha.BadInputError):
        catalog.install("../" + name, own)
    with pytest.raises(pgha.BadInputError, match="MD5"):
        catalog.install(name, own, md5="0" * 32)
    with pytest.raises(pgha.BadInputError, match="more than"):
        catalog.install(name, own + b"\0")
    assert snapshot(wal) == before

    r = catalog.install(name, own, md5=md5sum([wal / name])[name].upper())
    assert r.already_present
    assert snapshot(wal) == before

    # A new file gets pg_wal's owner and mode 0600; PostgreSQL ignores an upload in progress.
    history = b"1\t0/1000028\tno recovery target specified\n"
    placed = catalog.install("00000002.history", history)
    st = os.stat(placed.path)
    assert (st.st_uid, st.st_gid) == (wal.stat().st_uid, wal.stat().st_gid)
    assert st.st_mode & 0o777 == 0o600
    os.unlink(placed.path)
    upload = catalog.begin_install(seg_name(1, 0x7F))
    upload.write(own[:32])  # not yet a whole page header: nothing checked yet
    temp = [p.name for p in wal.iterdir() if p.name.startswith(".pgha-upload.")]
    assert len(temp) == 1
    mine.start()
    mine.sql("CHECKPOINT")
    mine.sql("SELECT pg_switch_wal()")
    mine.sql("CHECKPOINT")
    mine.stop("fast")
    assert (wal / temp[0]).exists()
    upload.abort()
    assert not (wal / temp[0]).exists()
