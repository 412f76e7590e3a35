"""A server that is starting up is "starting" when it comes up as a primary, "recovery" as a
standby (issue 11, item 2), on real PostgreSQL 15.

The start is held deterministically: the WAL segment holding the latest checkpoint, the first
thing the startup process reads, is replaced by a FIFO, and opening a FIFO blocks until a
writer comes. The postmaster answers every connection with SQLSTATE 57P03 ("the database
system is starting up") for as long as the test likes, and an immediate stop ends it.
"""

import contextlib
import os
import pathlib

import pytest

import pg_harness
import pgha
from test_instance_pg import controldata, lsn_int, nodes, primary_and_standby, segment_name  # noqa: F401

pytestmark = pytest.mark.integration

SAMPLES = 20  # looks at the held server: it cannot change while held, every one must agree


@contextlib.contextmanager
def held_start(inst):
    """Starts stopped `inst` with its startup process blocked before it reads any WAL; the
    postmaster runs and refuses connections until the block ends (an immediate stop)."""
    cd = controldata(inst)
    segment = segment_name(int(cd["Latest checkpoint's TimeLineID"]),
                           lsn_int(cd["Latest checkpoint location"]),
                           int(cd["Bytes per WAL segment"]))
    path = pathlib.Path(inst.data_dir) / "pg_wal" / segment
    held = path.with_name(segment + ".held")
    os.rename(path, held)
    try:
        os.mkfifo(path, 0o600)
        pg_harness.give_to_pg_user(path)
        # A start that times out leaves the postmaster starting (what a switchover's failed
        # start can leave behind).
        with pytest.raises(pgha.TimeoutError, match="left starting"):
            inst.start(timeout=2.0)
        assert inst.is_running()
        yield
    finally:
        inst.stop("immediate", timeout=30)  # SIGQUIT ends the startup process in open()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rename(held, path)


def states_seen(inst):
    seen = {inst.state() for _ in range(SAMPLES)}
    ob = inst.observe()
    assert not ob.accepting_connections
    return seen | {ob.state}


def test_a_starting_primary_is_starting_never_recovery(nodes):
    p, s = primary_and_standby(nodes)
    p.query("CREATE TABLE t AS SELECT 1 AS x")
    s.stop("fast")
    p.stop("fast")

    with held_start(p):
        # No standby configuration: it comes up as a primary, and counts as a possible master.
        assert states_seen(p) == {"starting"}
        assert pgha.may_be_primary("starting")
        # A standby.signal written after the postmaster started was not read by it: the role
        # stays unknown, still "starting".
        signal_file = pathlib.Path(p.data_dir) / "standby.signal"
        signal_file.write_text("")
        try:
            assert states_seen(p) == {"starting"}
        finally:
            signal_file.unlink()
    assert p.state() == "inactive"

    with held_start(s):
        # standby.signal was there when it started: it comes up as a standby.
        assert s.has_standby_config()
        assert states_seen(s) == {"recovery"}
    assert s.state() == "inactive"

    # Nothing was harmed: the primary comes up as one, with its data; the standby follows.
    p = nodes.start(p)
    assert p.state() == "single"
    assert p.query("SELECT x FROM t") == [("1",)]
    s = nodes.start(s)
    pg_harness.wait_for(lambda: p.state() == "master" and s.state() == "slave", 30,
                        "n1 master and n2 slave again")
