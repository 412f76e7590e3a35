"""The C ABI's instance observations on a real server, through ctypes, against pg_controldata."""

import ctypes
import os
import pathlib

import pytest

import pgha

pytestmark = pytest.mark.integration

LIB = pathlib.Path(os.environ.get("PGHA_LIB_DIR", "lib")) / "libpgha_c.so"


class Options(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("data_dir", ctypes.c_char_p),
                ("bindir", ctypes.c_char_p), ("host", ctypes.c_char_p), ("port", ctypes.c_int),
                ("os_user", ctypes.c_char_p), ("superuser", ctypes.c_char_p)]


class LsnFacts(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("checkpoint", ctypes.c_uint64),
                ("redo", ctypes.c_uint64), ("wal_file", ctypes.c_char * 64),
                ("timeline", ctypes.c_uint32), ("last_lsn", ctypes.c_uint64)]


def test_c_abi_observes_a_real_server(pg):
    lib = ctypes.CDLL(str(LIB))
    lib.pgha_last_error.restype = ctypes.c_char_p
    server = pg().init().start()
    server.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) g")
    opts = Options(1, str(server.data).encode(), b"", b"127.0.0.1", server.port, None, None)
    handle = ctypes.c_void_p()
    assert lib.pgha_instance_open(ctypes.byref(opts), ctypes.byref(handle)) == 0, lib.pgha_last_error()
    try:
        running, state = ctypes.c_int(), ctypes.c_int()
        assert lib.pgha_instance_is_running(handle, ctypes.byref(running)) == 0 and running.value == 1
        assert lib.pgha_instance_state(handle, ctypes.byref(state)) == 0
        assert pgha.NODE_STATES[state.value] == "single"
        server.stop()
        facts = LsnFacts(1)
        assert lib.pgha_instance_lsn_facts(handle, ctypes.byref(facts)) == 0, lib.pgha_last_error()
        cd = pgha.ControlData.parse(server.controldata())
        assert (facts.checkpoint, facts.redo, facts.timeline) == \
            (int(cd.checkpoint), int(cd.redo), cd.timeline)
        # Stopped: the end of WAL is the end of the shutdown checkpoint record, by the scanner.
        scan = pgha.scan_wal_directory(str(server.wal_dir), cd.timeline, start=cd.checkpoint)
        assert facts.last_lsn == int(scan.end) and facts.last_lsn > facts.checkpoint
        assert facts.wal_file.decode() == pgha.wal_segment_name(cd.timeline, scan.end)
        assert lib.pgha_instance_is_running(handle, ctypes.byref(running)) == 0 and running.value == 0
    finally:
        lib.pgha_instance_free(handle)
