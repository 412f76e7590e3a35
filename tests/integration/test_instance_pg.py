"""pgha.Instance against real PostgreSQL 15 servers: init, start/stop, standbys, promote, rewind.

Every Instance a test makes is stopped at the end (immediate), also when the test fails. The
expected values come from PostgreSQL itself (pg_controldata, pg_waldump, SQL), parsed here
without pgha.
"""

import contextlib
import os
import pathlib
import re
import shutil
import signal
import tempfile

import pytest

import pg_harness
import pgha

pytestmark = pytest.mark.integration

FAST = {"fsync": "off"}  # what is written does not change; only durability, which no test needs
REPL_PASSWORD = "rep 'pw\\"


class Nodes:
    """Makes Instances in one temporary directory and stops them all at the end."""

    def __init__(self, base: pathlib.Path):
        self.base = base
        self.made = []

    def new(self, name: str, port: int = 0) -> pgha.Instance:
        inst = pgha.Instance(str(self.base / name), port or pg_harness.free_port(),
                             bindir=str(pg_harness.PG_BINDIR), timeout=60.0)
        self.made.append(inst)
        return inst

    def start(self, inst: pgha.Instance) -> pgha.Instance:
        """Starts `inst`; on a port taken meanwhile, the same data directory on another port."""
        for _ in range(5):
            try:
                inst.start()
                return inst
            except pgha.PostgresFailedError as e:
                if "Address already in use" not in str(e):
                    raise
                inst = self.new(pathlib.Path(inst.data_dir).name)
        raise RuntimeError("no free port to start on")

    def stop_all(self) -> None:
        for inst in self.made:
            with contextlib.suppress(Exception):
                inst.stop("immediate", timeout=30)


@pytest.fixture
def nodes():
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-inst-"))
    os.chmod(base, 0o755)
    pg_harness.give_to_pg_user(base)
    made = Nodes(base)
    try:
        yield made
    finally:
        made.stop_all()
        leftovers = [i.data_dir for i in made.made if i.is_running()]
        shutil.rmtree(base, ignore_errors=True)
        assert not leftovers, f"servers still running: {leftovers}"


# ---- independent readers of PostgreSQL's own output ------------------------------------------

def controldata(inst) -> dict:
    out = pg_harness.run_as_pg([pg_harness.PG_BINDIR / "pg_controldata", "-D", inst.data_dir]).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def waldump_end(inst, start: str, timeline: int = 1) -> int:
    """The end of WAL as pg_waldump reports it: "invalid record length at X"."""
    res = pg_harness.run_as_pg([pg_harness.PG_BINDIR / "pg_waldump", "-p",
                                os.path.join(inst.data_dir, "pg_wal"), "-t", str(timeline),
                                "-s", start], check=False)
    m = re.search(r"invalid record length at ([0-9A-F]+/[0-9A-F]+)", res.stderr)
    assert m, f"unexpected pg_waldump output: {res.stderr}"
    return lsn_int(m.group(1))


def segment_name(timeline: int, lsn: int, segment_size: int) -> str:
    return f"{timeline:08X}{lsn >> 32:08X}{(lsn & 0xFFFFFFFF) // segment_size:08X}"


def caught_up(primary, standby) -> bool:
    target = lsn_int(primary.query("SELECT pg_current_wal_flush_lsn()")[0][0])
    replay = standby.query("SELECT pg_last_wal_replay_lsn()")[0][0]
    return replay is not None and lsn_int(replay) >= target


def primary_and_standby(nodes, settings=FAST):
    """n1 (primary, slot "n2") and n2 made from it by Instance.sync, both running."""
    p = nodes.new("n1")
    p.init(replicate_password=REPL_PASSWORD, settings=settings)
    p = nodes.start(p)
    p.ensure_physical_slot("n2")
    p.ensure_physical_slot("n2")  # idempotent
    s = nodes.new("n2")
    s.sync("127.0.0.1", p.port, user="replicate", password=REPL_PASSWORD, slot_name="n2",
           application_name="n2")
    assert s.has_standby_config()
    s = nodes.start(s)
    pg_harness.wait_for(lambda: p.state() == "master" and s.state() == "slave", 30,
                        "n1 master and n2 slave")
    return p, s


# ---- tests -----------------------------------------------------------------------------------

def test_init_start_write_stop_lsn_facts(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    assert not n.is_running() and n.state() == "inactive"
    n = nodes.start(n)
    assert n.is_running() and n.state() == "single" and not n.in_recovery()
    settings = dict(n.query("SELECT name, setting FROM pg_settings WHERE name = ANY($1)",
                            ["{wal_level,hot_standby,wal_log_hints,listen_addresses,port}"]))
    assert settings == {"wal_level": "logical", "hot_standby": "on", "wal_log_hints": "on",
                        "listen_addresses": "127.0.0.1", "port": str(n.port)}
    roles = dict(n.query("SELECT rolname, rolreplication::text FROM pg_roles "
                         "WHERE rolname IN ('replicate', 'datasync')"))
    assert roles == {"replicate": "true", "datasync": "false"}
    assert n.query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                   ["datasync"]) == [("datasync",)]

    n.query("CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g")
    running = n.lsn_facts()
    sql = n.query("SELECT checkpoint_lsn::text, redo_lsn::text, timeline_id::text "
                  "FROM pg_control_checkpoint()")[0]
    assert (running["chkPoint"], running["chkRedoPoint"], running["timeLineID"]) == sql
    assert lsn_int(running["lastLsn"]) <= lsn_int(n.query("SELECT pg_current_wal_flush_lsn()")[0][0])

    n.stop("fast")
    assert not n.is_running()
    assert not os.path.exists(os.path.join(n.data_dir, "postmaster.pid"))
    facts = n.lsn_facts()
    cd = controldata(n)
    assert cd["Database cluster state"] == "shut down"
    assert facts["chkPoint"] == cd["Latest checkpoint location"]
    assert facts["chkRedoPoint"] == cd["Latest checkpoint's REDO location"]
    assert facts["timeLineID"] == cd["Latest checkpoint's TimeLineID"] == "1"
    end = waldump_end(n, facts["chkRedoPoint"])
    assert lsn_int(facts["lastLsn"]) == end
    assert n.end_of_wal() == pgha.Lsn(end)
    assert facts["walFile"] == segment_name(1, end, int(cd["Bytes per WAL segment"]))
    assert n.control_data().checkpoint == pgha.Lsn(cd["Latest checkpoint location"])
    assert n.history().timeline == 1


def test_sync_makes_a_streaming_standby(nodes):
    p, s = primary_and_standby(nodes)
    ob = s.observe()
    assert ob.running and ob.in_recovery and ob.state == "slave"
    assert ob.receiver.status == "streaming" and ob.receiver.sender_port == p.port
    assert ob.receiver.received_timeline == 1 == ob.timeline
    pob = p.observe()
    assert [(x.application_name, x.state) for x in pob.standbys] == [("n2", "streaming")]
    assert p.query("SELECT active::text FROM pg_replication_slots WHERE slot_name = 'n2'") == [("true",)]

    p.query("CREATE TABLE t AS SELECT generate_series(1, 1000) AS g")
    written = lsn_int(p.query("SELECT pg_current_wal_flush_lsn()")[0][0])
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay n1's WAL")
    assert s.query("SELECT count(*) FROM t") == [("1000",)]
    facts = s.lsn_facts()
    assert facts["timeLineID"] == "1"
    assert lsn_int(facts["lastLsn"]) >= written
    assert facts["walFile"] == segment_name(1, lsn_int(facts["lastLsn"]), 16 << 20)
    with pytest.raises(pgha.WrongStateError):
        s.sync("127.0.0.1", p.port)  # running
    s.stop()
    with pytest.raises(pgha.WrongStateError):
        s.sync("127.0.0.1", p.port)  # not empty, no replace


def test_synchronous_standbys_in_pgha_conf(nodes):
    p, s = primary_and_standby(nodes)
    show = "SHOW synchronous_standby_names"
    # On the standby: written, loaded, and in effect the moment it is promoted.
    s.set_synchronous_standbys(["n1"])
    pg_harness.wait_for(lambda: s.query(show) == [('ANY 1 ("n1")',)], 30, "the reload on n2")
    # On the primary: its commits wait for n2, which confirms them.
    p.set_synchronous_standbys(["n2", "other node"])
    p.set_synchronous_standbys(["n2", "other node"])  # unchanged: nothing written
    pg_harness.wait_for(lambda: p.query(show) == [('ANY 1 ("n2", "other node")',)], 30,
                        "the reload on n1")
    pg_harness.wait_for(lambda: p.query(
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'n2'") ==
        [("quorum",)], 30, "n2 counted as synchronous")
    p.query("CREATE TABLE synced AS SELECT 1 AS x")
    # A setting read after pgha.conf (ALTER SYSTEM) is refused, naming the file.
    p.query("ALTER SYSTEM SET synchronous_standby_names = ''")
    with pytest.raises(pgha.WrongStateError, match="postgresql.auto.conf"):
        p.set_synchronous_standbys(["n2"])
    p.query("ALTER SYSTEM RESET synchronous_standby_names")
    p.set_synchronous_standbys(["n2"])
    # Off: pgha's line goes, other settings of pgha.conf stay.
    p.set_synchronous_standbys([])
    pg_harness.wait_for(lambda: p.query(show) == [("",)], 30, "the reload on n1")
    conf = pathlib.Path(p.data_dir, "pgha.conf").read_text()
    assert "synchronous_standby_names" not in conf
    with pytest.raises(pgha.BadInputError):
        p.set_synchronous_standbys(["n2"], count=2)
    with pytest.raises(pgha.BadInputError):
        p.set_synchronous_standbys(['a"b'])
    # A stopped node takes it at its next start; standby settings are kept.
    s.stop()
    s.set_synchronous_standbys(["n3"])
    assert s.has_standby_config()
    s = nodes.start(s)
    assert s.query(show) == [('ANY 1 ("n3")',)]
    assert s.state() in ("slave", "recovery")


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
def test_promote_then_rewind_the_diverged_old_master(nodes, stop_mode):
    """Also when the old master was killed (immediate: not shut down cleanly), as a failover
    leaves it: pg_rewind 13+ completes its crash recovery first."""
    p, s = primary_and_standby(nodes)
    p.query("CREATE TABLE t (i int)")
    p.query("INSERT INTO t VALUES (1)")
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay n1's WAL")

    s.promote()
    assert not s.in_recovery() and not s.has_standby_config()
    assert os.path.exists(os.path.join(s.data_dir, "pg_wal", "00000002.history"))
    assert s.lsn_facts()["timeLineID"] == "2"
    assert controldata(s)["Latest checkpoint's TimeLineID"] == "2"  # CHECKPOINT after promotion
    history = s.history()
    assert history.timeline == 2 and [e.timeline for e in history.entries] == [1, 2]

    # The old master keeps writing on timeline 1 past the switch point.
    p.query("INSERT INTO t SELECT generate_series(2, 5000)")
    p.stop(stop_mode)
    old = p.lsn_facts()
    assert old["timeLineID"] == "1"
    check = history.can_follow(1, old["lastLsn"])
    assert check.verdict == "diverged", check.detail
    assert pgha.Lsn(old["lastLsn"]) > check.switch_point

    p.rewind("127.0.0.1", s.port, user="postgres")
    assert p.has_standby_config()  # never comes up as a second primary
    s.ensure_physical_slot("n1")
    p.write_standby_config("127.0.0.1", s.port, user="replicate", password=REPL_PASSWORD,
                           application_name="n1", slot_name="n1")
    p = nodes.start(p)
    pg_harness.wait_for(lambda: p.state() == "slave" and s.state() == "master", 30,
                        "rewound n1 streaming from n2")
    s.query("INSERT INTO t VALUES (42)")
    pg_harness.wait_for(lambda: caught_up(s, p), 30, "n1 to replay n2's WAL")
    assert p.query("SELECT array_agg(i ORDER BY i)::text FROM t") == [("{1,42}",)]
    assert p.lsn_facts()["timeLineID"] == "2"
    assert p.observe().receiver.sender_port == s.port


def control_timelines(inst) -> tuple:
    cd = controldata(inst)
    return (int(cd["Latest checkpoint's TimeLineID"]), int(cd["Min recovery ending loc's timeline"]))


def test_a_standby_that_follows_a_promoted_primary_reports_the_new_timeline(nodes):
    """pg_control keeps the old timeline on a standby until its first restartpoint (or a page
    write that moves minRecoveryPoint): the timeline it reports is the one it receives, or,
    not streaming, the one of its newest history that holds its WAL's end. Restartpoints and
    background writes are kept away (checkpoint_timeout, bgwriter_lru_maxpages) so the test
    sees the moment before them, which it checks with pg_controldata."""
    quiet = dict(FAST, checkpoint_timeout="1d", bgwriter_lru_maxpages="0")
    p, s = primary_and_standby(nodes, settings=quiet)
    p.query("CREATE TABLE t AS SELECT generate_series(1, 100) AS g")
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay n1's WAL")
    p.stop("fast")  # n2 receives the shutdown checkpoint: n1 can follow n2 as it is
    old_end = pgha.Lsn(p.lsn_facts()["lastLsn"])
    pg_harness.wait_for(lambda: s.end_of_wal() >= old_end, 30, "n2 to receive n1's end")
    s.promote()
    s.ensure_physical_slot("n1")
    p.write_standby_config("127.0.0.1", s.port, user="replicate", password=REPL_PASSWORD,
                           application_name="n1", slot_name="n1")
    p = nodes.start(p)
    pg_harness.wait_for(lambda: p.state() == "slave", 30, "n1 streaming from n2")
    s.query("INSERT INTO t SELECT generate_series(101, 200)")
    pg_harness.wait_for(lambda: caught_up(s, p), 30, "n1 to replay n2's WAL")
    segment_size = int(controldata(p)["Bytes per WAL segment"])

    def reports_timeline_2(phase: str) -> None:
        assert max(control_timelines(p)) == 1, f"{phase}: a restartpoint came first"
        assert p.observe().timeline == 2, phase
        facts = p.lsn_facts()
        assert facts["timeLineID"] == "2", phase
        assert facts["walFile"] == segment_name(2, lsn_int(facts["lastLsn"]), segment_size), phase
        assert p.history().timeline == 2, phase

    reports_timeline_2("streaming")
    s.stop("fast")  # n1 receives n2's shutdown checkpoint, then streams no more
    pg_harness.wait_for(lambda: p.state() == "recovery", 30, "n1 without its upstream")
    assert p.observe().receiver is None or p.observe().receiver.status != "streaming"
    reports_timeline_2("not streaming")
    # What a restart of n1 as a primary keeps (failover/restart), read back by PostgreSQL.
    p.stop("fast")
    p.remove_standby_config()
    p = nodes.start(p)
    assert p.query("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") == [("00000002",)]
    assert p.lsn_facts()["timeLineID"] == "2"
    assert p.query("SELECT count(*) FROM t") == [("200",)]


def test_start_failure_reports_the_log_tail(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    with open(os.path.join(n.data_dir, "postgresql.conf"), "a") as conf:  # keeps its owner
        conf.write("shared_buffers = 'lots'\n")
    with pytest.raises(pgha.PostgresFailedError) as err:
        n.start()
    assert 'invalid value for parameter "shared_buffers"' in str(err.value)
    assert not n.is_running()


def test_stop_modes_and_restart(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    n = nodes.start(n)
    with pytest.raises(pgha.WrongStateError):
        n.start()
    n.query("CREATE TABLE t (i int)")
    expected = {"smart": "shut down", "fast": "shut down", "immediate": "in production"}
    for i, mode in enumerate(["smart", "fast", "immediate"]):
        n.query("INSERT INTO t VALUES ($1)", [str(i)])
        n.stop(mode)
        assert not n.is_running() and n.postmaster_pid() is None
        assert not os.path.exists(os.path.join(n.data_dir, "postmaster.pid"))
        assert controldata(n)["Database cluster state"] == expected[mode]
        n.stop(mode)  # nothing runs: a no-op
        n = nodes.start(n)
        assert n.query("SELECT count(*) FROM t") == [(str(i + 1),)]
    pid = n.postmaster_pid()
    n.restart()
    assert n.is_running() and n.postmaster_pid() != pid
    with pytest.raises(pgha.WrongStateError):
        n.rewind("127.0.0.1", n.port)
    with pytest.raises(pgha.WrongStateError):
        n.promote()  # not a standby
    n.stop()
    with pytest.raises(pgha.WrongStateError):
        n.query("SELECT 1")
    with pytest.raises(pgha.WrongStateError):
        n.init()


def test_state_keeps_one_session_and_none_across_a_stop(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    n = nodes.start(n)
    others = ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
              "AND pid <> pg_backend_pid()")
    assert n.state() == "single"
    kept = n.query(others)
    assert len(kept) == 1  # the session State() reuses
    assert n.state() == "single" and n.query(others) == kept
    n.stop("smart")  # returns: no idle session holds the smart shutdown
    assert n.state() == "inactive"
    # Started through another handle (as by hand): State() keeps a session again.
    other = pgha.Instance(n.data_dir, n.port, bindir=str(pg_harness.PG_BINDIR), timeout=60.0)
    nodes.made.append(other)
    other.start()
    assert n.state() == "single"
    kept = n.query(others)
    assert len(kept) == 1
    assert n.state() == "single" and n.query(others) == kept


def test_kill_9_is_seen_and_start_recovers(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    n = nodes.start(n)
    n.query("CREATE TABLE t AS SELECT generate_series(1, 10000) AS g")
    pid = n.postmaster_pid()
    os.kill(pid, signal.SIGKILL)
    pg_harness.wait_for(lambda: not n.is_running(), 30, "the killed postmaster to be seen dead")
    assert os.path.exists(os.path.join(n.data_dir, "postmaster.pid"))  # stale, left behind
    assert n.state() == "inactive"
    facts = n.lsn_facts()  # from pg_control and a scan of pg_wal
    cd = controldata(n)
    assert cd["Database cluster state"] == "in production"
    assert facts["chkRedoPoint"] == cd["Latest checkpoint's REDO location"]
    assert lsn_int(facts["lastLsn"]) == waldump_end(n, facts["chkRedoPoint"])
    # The killed postmaster's children notice its death and exit; then it starts again.
    pg_harness.wait_for(lambda: _start_ok(n), 30, "a start after kill -9")
    assert n.query("SELECT count(*) FROM t") == [("10000",)]


def _start_ok(n) -> bool:
    try:
        n.start()
        return True
    except pgha.PostgresFailedError as e:
        if "still in use" in str(e):  # shared memory of the old children not yet released
            return False
        raise


def test_standby_config_files_and_bad_input(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    assert not n.has_standby_config()
    n.write_standby_config("10.0.0.9", 5433, user="replicate", password="it's",
                           slot_name="n1_slot", apply_delay="5min")
    assert n.has_standby_config()
    conf = pathlib.Path(n.data_dir, "pgha.conf").read_text()
    assert "primary_slot_name = 'n1_slot'" in conf
    assert "recovery_min_apply_delay = '5min'" in conf
    assert "primary_conninfo = 'host=''10.0.0.9'' port=''5433'' user=''replicate'' " \
           "password=''it\\\\''s'''" in conf
    assert os.stat(os.path.join(n.data_dir, "pgha.conf")).st_uid == os.stat(n.data_dir).st_uid
    n.remove_standby_config()
    assert not n.has_standby_config()
    assert "primary_" not in pathlib.Path(n.data_dir, "pgha.conf").read_text()

    with pytest.raises(pgha.BadInputError):
        n.write_standby_config("10.0.0.9", 5433, slot_name="Bad-Slot")
    with pytest.raises(pgha.BadInputError):
        n.write_standby_config("10.0.0.9 host=evil", 5433)
    with pytest.raises(pgha.BadInputError):
        n.write_standby_config("10.0.0.9", 5433, apply_delay="5 minutes")
    with pytest.raises(pgha.BadInputError):
        pgha.Instance(n.data_dir, 0)
    with pytest.raises(pgha.NotFoundError):
        pgha.Instance(n.data_dir, 5432, bindir="/nonexistent/bin")
    with pytest.raises(pgha.WrongStateError):
        n.init()  # not empty
    with pytest.raises(pgha.BadInputError):
        nodes.new("n2").init(subnet="10.0.0.0", mask=33)
    assert not os.path.exists(os.path.join(nodes.base, "n2"))


def test_valid_lsn_sees_an_old_master_diverged_on_its_own_timeline(nodes):
    """A failover by restart keeps timeline 1: WAL the old master wrote and never sent, and
    the new master's WAL, sit at the same positions of one timeline. Timeline and record
    boundaries cannot tell them apart; the old master's last record (start and xl_crc, from
    its own pg_wal) compared on the new master can (code 5), and the new master's own records
    stay valid."""
    p, s = primary_and_standby(nodes)
    p.query("CREATE TABLE t (i int, who text)")
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay n1's WAL")
    s.stop("fast")
    p.query("INSERT INTO t SELECT g, 'old master' FROM generate_series(1, 2000) g")
    p.stop("immediate")  # dies with WAL n2 never received
    old = p.lsn_facts()
    s.remove_standby_config()
    s = nodes.start(s)  # timeline 1 goes on from n2's end
    pg_harness.wait_for(lambda: s.state() == "single", 30, "n2 as a primary")
    s.query("INSERT INTO t SELECT g, 'new master' FROM generate_series(1, 6000) g")
    assert s.lsn_facts()["timeLineID"] == "1"
    end = pgha.WalPosition(s.history(), s.end_of_wal())
    assert end.end_of_wal > pgha.Lsn(old["lastLsn"])

    old_scan = pgha.scan_wal_directory(os.path.join(p.data_dir, "pg_wal"), 1,
                                       start=old["chkRedoPoint"])
    assert str(old_scan.end) == old["lastLsn"]
    assert old_scan.last_record is not None and old_scan.last_record < old_scan.end
    catalog = pgha.WalCatalog(os.path.join(s.data_dir, "pg_wal"),
                              int(controldata(s)["Bytes per WAL segment"]))
    r = catalog.valid_lsn(1, old["lastLsn"], end, record=old_scan.last_record,
                          crc=old_scan.last_record_crc)
    assert (r.code, r.code_name) == (5, "record_differs"), r.msg
    assert str(old_scan.last_record) in r.msg

    # One of n2's own records, and the position after it: valid.
    mine = pgha.scan_wal_directory(os.path.join(s.data_dir, "pg_wal"), 1,
                                   start=old["chkRedoPoint"], max_records=1)
    assert mine.records == 1 and mine.last_record == pgha.Lsn(old["chkRedoPoint"])
    ok = catalog.valid_lsn(1, mine.end, end, record=mine.last_record, crc=mine.last_record_crc)
    assert ok.code == 0, ok.msg
    assert ok.cnt > 0
    with pytest.raises(pgha.BadInputError):
        catalog.valid_lsn(1, mine.end, end, record=mine.last_record)
