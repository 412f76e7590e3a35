"""The core model through the Python module, checked against PostgreSQL's own answers."""

import csv
import json
import random

import pytest

import pgha


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def none_if_empty(value):
    return value if value != "" else None


# ---- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls,code,builtin", [
    (pgha.BadInputError, 1, ValueError), (pgha.NotFoundError, 2, LookupError),
    (pgha.WrongStateError, 3, RuntimeError), (pgha.ConflictError, 4, RuntimeError),
    (pgha.PostgresFailedError, 5, RuntimeError), (pgha.PeerUnreachableError, 6, ConnectionError),
    (pgha.TimeoutError, 7, TimeoutError), (pgha.IoError, 8, OSError),
    (pgha.InternalError, 9, RuntimeError), (pgha.UnauthorizedError, 10, PermissionError),
    (pgha.UnavailableError, 11, ConnectionError)])
def test_error_classes(cls, code, builtin):
    assert issubclass(cls, pgha.Error) and issubclass(cls, builtin)
    assert cls.code == code
    assert pgha.error_code_name(code) != "unknown"


def test_bad_input_raises_with_code_and_message():
    with pytest.raises(pgha.BadInputError) as err:
        pgha.Lsn.parse("0/12345678 ")
    assert err.value.code == 1 and "0/12345678" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_found_is_a_lookup_error(fixtures):
    with pytest.raises(pgha.NotFoundError):
        pgha.SlotState.read(str(fixtures / "pg15" / "slots" / "no_such_slot.state"))


# ---- LSN ---------------------------------------------------------------------------------

def test_lsn_text_and_arithmetic():
    a, b = pgha.Lsn.parse("0/8000028"), pgha.Lsn("0/80000a0")
    assert str(b) == "0/80000A0" and int(a) == 0x8000028
    assert a < b and b - a == 0x78 and a - b == -0x78
    assert a + 0x78 == b and b - 0x78 == a
    assert pgha.Lsn(2**64 - 1) - pgha.Lsn(0) == 2**64 - 1
    assert hash(pgha.Lsn("1/0")) == hash(pgha.Lsn(2**32))
    assert not pgha.Lsn().is_valid
    assert repr(a) == "Lsn('0/8000028')"


@pytest.mark.parametrize("bad", ["", "0", "0/", "/0", " 0/0", "0/0\n", "123456789/0", "g/0", "0x1/0"])
def test_lsn_rejects(bad):
    with pytest.raises(pgha.BadInputError):
        pgha.Lsn.parse(bad)


def test_lsn_random_round_trip():
    rng = random.Random(7)
    for _ in range(2000):
        v = rng.getrandbits(rng.randint(1, 64))
        assert int(pgha.Lsn.parse(str(pgha.Lsn(v)))) == v


# ---- WAL file names ------------------------------------------------------------------------

def test_segment_names_match_pg_walfile_name(fixtures):
    rows = read_tsv(fixtures / "pg15" / "wal-names" / "pg_walfile_name.tsv")
    assert rows
    for row in rows:
        size = int(row["wal_segment_size"].removesuffix("MB")) * 1024 * 1024
        lsn = pgha.Lsn.parse(row["lsn"])
        # PostgreSQL 10-16's pg_walfile_name() uses XLByteToPrevSeg: a boundary LSN names the
        # previous segment (and 0/0 wraps around), so ask for lsn - 1 there.
        boundary = int(row["pg_walfile_name_offset.file_offset"]) == 0
        probe = pgha.Lsn((int(lsn) - 1) % 2**64) if boundary else lsn
        assert pgha.wal_segment_name(int(row["timeline"]), probe, size) == row["pg_walfile_name"], row


def test_wal_file_kinds(fixtures):
    listing = (fixtures / "pg15" / "wal-names" / "wal-file-listing.txt").read_text().split()
    names = [n for n in listing if not n.startswith(("#", "[", "archive_status"))
             and n[0] in "0123456789ABCDEF"]
    kinds = {pgha.WalFileName.parse(n).kind for n in names}
    assert kinds == {"segment", "partial", "history", "backup"}
    backup = pgha.WalFileName.parse("000000010000000000000006.00000028.backup")
    assert backup.start_lsn == pgha.Lsn("0/6000028") and backup.timeline == 1
    seg = pgha.WalFileName.parse("000000010000000100000000", 64 * 1024 * 1024)
    assert seg.segment == 64 and seg.start_lsn == pgha.Lsn("1/0")
    for bad in ["000000010000000000000100", "00000001000000000000000g", "../00000002.history",
                "00000000.history", "000000010000000000000001.part"]:
        with pytest.raises(pgha.BadInputError):
            pgha.WalFileName.parse(bad)


# ---- timeline history -------------------------------------------------------------------------

def test_history_fixtures(fixtures):
    for name in ("00000002.history", "00000003.history"):
        path = fixtures / "pg15" / "timelines" / name
        side = json.loads(path.with_name(name + ".json").read_text())
        h = pgha.TimelineHistory.read(str(path))
        assert h.timeline == side["timeline"]
        assert [(e.timeline, str(e.end)) for e in h.entries[:-1]] == \
            [(e["parent_tli"], e["switchpoint"]) for e in side["entries"]]
        assert h.entries[-1].end is None and h.switch_point(h.timeline) is None
        assert h.to_text() == path.read_text()
        old = side["old_primary"]
        check = h.can_follow(old["timeline"], pgha.Lsn(old["end_of_wal_lsn"]))
        assert check.ok == old["can_follow_new_primary_without_rewind"], check.detail
        if not check.ok:
            assert check.verdict == "diverged"


def test_history_rejects_with_line_number():
    with pytest.raises(pgha.BadInputError) as err:
        pgha.TimelineHistory.parse("1\t0/7026320\tok\n\n3\t0/1000\tbackwards\n", 4)
    assert err.value.position == 3


# ---- pg_controldata --------------------------------------------------------------------------

def test_controldata_fixtures(fixtures):
    for txt in sorted((fixtures / "pg15" / "controldata").glob("*.txt")):
        side = json.loads(txt.with_suffix(".json").read_text())
        cd = pgha.ControlData.parse(txt.read_text())
        for label, value in side["expected"].items():
            assert cd.fields[label] == value, (txt.name, label)
        exp = side["expected"]
        assert str(cd.checkpoint) == exp["Latest checkpoint location"]
        assert cd.state == exp["Database cluster state"]
        assert cd.system_identifier == int(exp["Database system identifier"])
        if side.get("live", {}).get("insert_timeline") is not None:
            assert cd.current_timeline == side["live"]["insert_timeline"]


@pytest.mark.parametrize("major", [10, 11, 12, 13, 14, 15, 16, 17, 18])
def test_pg_control_fixtures(fixtures, major, tmp_path):
    paths = sorted((fixtures / f"pg{major}" / "control").glob("*.pg_control"))
    assert len(paths) == (4 if major >= 11 else 3)
    for path in paths:
        sql = json.loads(path.with_suffix(".json").read_text())["sql"]
        cd = pgha.ControlData.read(str(path))
        assert cd.control_version == sql["system"]["pg_control_version"]
        assert str(cd.redo) == sql["checkpoint"]["redo_lsn"]
        assert cd.checkpoint_time == sql["epoch"]["checkpoint_time"]
        assert cd.full_page_writes is sql["checkpoint"]["full_page_writes"]
        assert cd.wal_segment_size == sql["init"]["bytes_per_wal_segment"]
        assert pgha.ControlData.from_bytes(path.read_bytes()).checkpoint == cd.checkpoint
    data = bytearray(path.read_bytes())
    data[33] ^= 1
    with pytest.raises(pgha.BadInputError, match="CRC-32C mismatch"):
        pgha.ControlData.from_bytes(bytes(data))
    assert pgha.ControlData.from_bytes(bytes(data), verify_checksum=False).checkpoint != cd.checkpoint
    with pytest.raises(pgha.NotFoundError):
        pgha.ControlData.read_data_directory(str(tmp_path))


# ---- slot state files ------------------------------------------------------------------------

@pytest.mark.parametrize("major", [10, 11, 12, 13, 14, 15, 16, 17, 18])
def test_slot_fixtures(fixtures, major):
    d = fixtures / f"pg{major}" / "slots"
    rows = read_tsv(d / "slots.tsv")
    assert rows
    for row in rows:
        raw = (d / row["file"]).read_bytes()
        s = pgha.SlotState.from_bytes(raw)
        assert s.name == row["slot_name"]
        assert (s.plugin or None) == none_if_empty(row["plugin"])
        assert (s.database or None) == (int(row["datoid"]) if row["datoid"] else None)
        assert (s.persistency == "temporary") == (row["temporary"] == "t")
        assert (str(s.restart_lsn) if s.restart_lsn.is_valid else None) == none_if_empty(row["restart_lsn"])
        assert (str(s.confirmed_flush) if s.confirmed_flush.is_valid else None) == \
            none_if_empty(row["confirmed_flush_lsn"])
        assert (s.catalog_xmin or None) == (int(row["catalog_xmin"]) if row["catalog_xmin"] else None)
        assert (s.xmin or None) == (int(row["xmin"]) if row["xmin"] else None)
        if "two_phase" in row:
            assert s.two_phase == (row["two_phase"] == "t")
        if "failover" in row:
            assert s.failover == (row["failover"] == "t")
        assert s.to_bytes() == raw


def test_slot_setters_and_crc(fixtures):
    raw = (fixtures / "pg15" / "slots" / "fx_logical.state").read_bytes()
    s = pgha.SlotState.from_bytes(raw)
    s.restart_lsn = "0/6000000"
    s.confirmed_flush = pgha.Lsn("0/6000100")
    s.catalog_xmin = 800
    out = s.to_bytes()
    again = pgha.SlotState.from_bytes(out)
    assert (str(again.restart_lsn), str(again.confirmed_flush), again.catalog_xmin) == \
        ("0/6000000", "0/6000100", 800)
    assert again.stored_checksum == pgha.crc32c(out[8:])
    corrupt = bytearray(out)
    corrupt[100] ^= 0x40
    with pytest.raises(pgha.BadInputError, match="checksum"):
        pgha.SlotState.from_bytes(bytes(corrupt))


def test_crc32c_vectors():
    assert pgha.crc32c(b"123456789") == 0xE3069283
    assert pgha.crc32c(bytes(32)) == 0x8A9136AA
    assert pgha.crc32c(b"") == 0


# ---- node states -----------------------------------------------------------------------------

def test_node_states():
    # The seed's five, and pgha's "starting".
    assert pgha.NODE_STATES == ("inactive", "single", "master", "slave", "recovery", "starting")
    assert pgha.derive_node_state(False) == "inactive"
    assert pgha.derive_node_state(True) == "single"
    assert pgha.derive_node_state(True, streaming_standbys=1) == "master"
    assert pgha.derive_node_state(True, in_recovery=True, receiver_streaming=True) == "slave"
    assert pgha.derive_node_state(True, in_recovery=True) == "recovery"
    # Refusing connections: a standby is in recovery, anything else may come up as a primary.
    assert pgha.derive_node_state(True, accepting_connections=False) == "starting"
    assert pgha.derive_node_state(True, True, accepting_connections=False) == "starting"
    assert pgha.derive_node_state(True, accepting_connections=False,
                                  starts_as_standby=True) == "recovery"
    assert [s for s in pgha.NODE_STATES if pgha.may_be_primary(s)] == ["single", "master",
                                                                       "starting"]
    with pytest.raises(pgha.BadInputError):
        pgha.may_be_primary("primary")
