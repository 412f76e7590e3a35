"""pgha's own base backup (Instance.sync(method="pgha"): BASE_BACKUP over a replication
connection, no pg_basebackup) against real servers: PostgreSQL 15 by default, any major 10-18
with PGHA_PG_BINDIR (scripts/test-matrix.sh runs this module on each). Nothing here needs a
client program of the server's major: what the standby holds is compared with the primary by
SQL.

The backup runs while a writer inserts, switches WAL segments and checkpoints on a primary
that keeps no WAL beyond its slots (wal_keep_size 0). The standby's slot was made before, so
it holds the WAL from then on; the segments the backup sends are held by the backup's own
temporary slot too, which goes with its session.
"""

import pathlib
import threading
import time

import pytest

import pg_harness
import pgha
from test_instance_pg import caught_up, lsn_int, nodes  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

REPL_PASSWORD = "rep 'pw\\"
SETTINGS = {"fsync": "off", "max_wal_size": "32MB", "min_wal_size": "32MB"}


def primary(nodes):
    p = nodes.new("n1")
    p.init(replicate_password=REPL_PASSWORD, settings=SETTINGS, wal_keep_mb=0)
    p = nodes.start(p)
    p.query("CREATE TABLE t (id bigserial PRIMARY KEY, pad text)")
    p.query("INSERT INTO t (pad) SELECT repeat('x', 200) FROM generate_series(1, 50000)")
    return p


class Writer(threading.Thread):
    """Inserts rows, switches WAL segments and checkpoints until stopped (bounded)."""

    def __init__(self, p):
        super().__init__(daemon=True)
        self.p, self.stop, self.rounds, self.error = p, threading.Event(), 0, None

    def run(self):
        try:
            while not self.stop.is_set() and self.rounds < 5000:
                self.p.query("INSERT INTO t (pad) SELECT repeat('y', 200) "
                             "FROM generate_series(1, 200)")
                if self.rounds % 40 == 0:
                    self.p.query("SELECT pg_switch_wal()")
                if self.rounds % 20 == 0:
                    self.p.query("CHECKPOINT")
                self.rounds += 1
                self.stop.wait(0.02)  # pacing: a steady load, not a flood of segments
        except Exception as e:  # reported by the test
            self.error = e


def test_own_base_backup_under_writes_makes_a_standby_with_every_row(nodes):
    p = primary(nodes)
    p.ensure_physical_slot("n2")  # keeps the WAL after the backup's end for the standby
    s = nodes.new("n2")
    writer = Writer(p)
    writer.start()
    try:
        pg_harness.wait_for(lambda: writer.rounds >= 2 or writer.error, 60, "the writer to run")
        started = time.monotonic()
        # 16 MB/s over ~30 MB: the backup lasts seconds while the writer recycles WAL.
        report = s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD,
                        application_name="n2", slot_name="n2", method="pgha",
                        max_rate_kb=16384)
        elapsed = time.monotonic() - started
        rounds_during = writer.rounds
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.error is None, writer.error
    print(f"base backup: {report} in {elapsed:.1f} s, {rounds_during} writer rounds")
    assert report["method"] == "pgha"
    assert report["bytes"] > 10 << 20
    assert report["start_lsn"] is not None and report["end_lsn"] is not None
    assert lsn_int(str(report["end_lsn"])) > lsn_int(str(report["start_lsn"]))
    # MAX_RATE held the server back: what was sent took at least bytes / rate.
    assert elapsed >= 0.8 * report["bytes"] / (16384 * 1024), (elapsed, report["bytes"])
    assert rounds_during >= 2, "the writer did not run during the backup"
    data = pathlib.Path(s.data_dir)
    assert (data / "backup_label").is_file() and (data / "standby.signal").is_file()
    assert not list(data.parent.glob(".n2.pgha-*")), "a temporary directory was left"
    assert s.control_data().state == "in production"  # the primary's, as copied

    s = nodes.start(s)
    pg_harness.wait_for(lambda: s.state() == "slave", 60, "n2 to run as a standby")
    pg_harness.wait_for(lambda: caught_up(p, s), 60, "n2 to replay n1's WAL")
    want = p.query("SELECT count(*), sum(id) FROM t")
    assert s.query("SELECT count(*), sum(id) FROM t") == want
    assert int(want[0][0]) == 50000 + 200 * writer.rounds
    ob = s.observe()
    assert ob.receiver.status == "streaming" and ob.receiver.sender_port == p.port
    # The backup's temporary slot went with its session.
    assert p.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE "
                   "'pgha_base_backup_%'") == [("0",)]


def test_own_base_backup_that_fails_leaves_the_data_directory_as_it_was(nodes):
    p = primary(nodes)
    s = nodes.new("n2")
    s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, method="pgha")
    data = pathlib.Path(s.data_dir)
    label = (data / "backup_label").read_bytes()

    with pytest.raises(pgha.PostgresFailedError, match="does not exist"):
        s.sync("127.0.0.1", p.port, user="no_such_role", password="x", method="pgha",
               replace=True)
    with pytest.raises(pgha.BadInputError, match="32 to 1048576"):
        s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, method="pgha",
               replace=True, max_rate_kb=8)
    with pytest.raises(pgha.BadInputError, match="auto, pg_basebackup or pgha"):
        s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, method="rsync",
               replace=True)

    # A tablespace is refused before anything is written.
    space = data.parent / "space"
    space.mkdir()
    pg_harness.give_to_pg_user(space)
    p.query(f"CREATE TABLESPACE extra LOCATION '{space}'")
    with pytest.raises(pgha.WrongStateError, match="tablespace"):
        s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, method="pgha",
               replace=True)
    assert (data / "backup_label").read_bytes() == label
    assert not list(data.parent.glob(".n2.pgha-*")), "a temporary directory was left"
    p.query("DROP TABLESPACE extra")

    # Without replace, a data directory is never overwritten.
    with pytest.raises(pgha.WrongStateError, match="not empty"):
        s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, method="pgha")
    assert (data / "backup_label").read_bytes() == label


def test_auto_takes_the_bindirs_pg_basebackup_only_when_there_is_one(nodes):
    p = primary(nodes)
    s = nodes.new("n2")
    report = s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD)
    has_own = (pg_harness.PG_BINDIR / "pg_basebackup").exists()
    assert report["method"] == ("pg_basebackup" if has_own else "pgha")
    if not has_own:
        with pytest.raises(pgha.NotFoundError, match="pg_basebackup"):
            s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD,
                   method="pg_basebackup", replace=True)
