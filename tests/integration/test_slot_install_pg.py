"""Slot state files edited by pgha are accepted by a real PostgreSQL 15 server."""

import os
import pwd

import pytest

import pgha

pytestmark = pytest.mark.integration


def slot_row(server, name):
    row = server.sql("SELECT restart_lsn, confirmed_flush_lsn, catalog_xmin, plugin, database "
                     f"FROM pg_replication_slots WHERE slot_name = '{name}'")
    assert row, f"slot {name} not in pg_replication_slots"
    return row.split("|")


def write_like_postgres(path, data):
    """Replaces a file the crash-safe way, keeping it owned by the server's account."""
    tmp = path.with_name(path.name + ".pgha-tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    st = os.stat(path)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def test_decoded_slot_matches_the_view(pg):
    server = pg().init().start()
    server.sql("CREATE TABLE t (id int primary key, v text)")
    server.sql("SELECT pg_create_logical_replication_slot('it_logical', 'test_decoding')")
    server.sql("SELECT pg_create_physical_replication_slot('it_phys', true)")
    server.sql("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 100) g")
    server.sql("SELECT count(*) FROM pg_logical_slot_get_changes('it_logical', NULL, NULL)")
    server.sql("CHECKPOINT")
    logical = slot_row(server, "it_logical")
    phys = slot_row(server, "it_phys")
    server.stop()

    s = pgha.SlotState.read(str(server.data / "pg_replslot" / "it_logical" / "state"))
    assert s.layout == "14-15" and s.is_logical and s.plugin == "test_decoding"
    assert [str(s.restart_lsn), str(s.confirmed_flush), str(s.catalog_xmin)] == logical[:3]
    p = pgha.SlotState.read(str(server.data / "pg_replslot" / "it_phys" / "state"))
    assert not p.is_logical and str(p.restart_lsn) == phys[0]


def test_edited_slot_is_loaded_by_the_server(pg):
    server = pg().init().start()
    server.sql("CREATE TABLE t (id int primary key, v text)")
    server.sql("SELECT pg_create_logical_replication_slot('it_edit', 'test_decoding')")
    server.sql("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 50) g")
    # Consume the first batch so that confirmed_flush and catalog_xmin move.
    server.sql("SELECT count(*) FROM pg_logical_slot_get_changes('it_edit', NULL, NULL)")
    for i in range(3):
        server.sql(f"INSERT INTO t VALUES ({100 + i}, 'later')")
    server.sql("CHECKPOINT")
    before = slot_row(server, "it_edit")
    # A later position every server accepts: the current end of WAL, where the slot's WAL is
    # still kept (restart_lsn only moves forward) and catalog rows are kept back to its xmin.
    end_of_wal = pgha.Lsn(server.sql("SELECT pg_current_wal_lsn()"))
    server.stop()

    path = server.data / "pg_replslot" / "it_edit" / "state"
    slot = pgha.SlotState.read(str(path))
    new_restart = pgha.Lsn(before[1])           # old confirmed_flush
    new_confirmed = end_of_wal
    new_catalog_xmin = slot.catalog_xmin + 1
    slot.restart_lsn = new_restart
    slot.confirmed_flush = new_confirmed
    slot.catalog_xmin = new_catalog_xmin
    data = slot.to_bytes()
    assert data != path.read_bytes()
    write_like_postgres(path, data)

    server.start()
    after = slot_row(server, "it_edit")
    assert after[:3] == [str(new_restart), str(new_confirmed), str(new_catalog_xmin)]
    # The slot still decodes: a new change after the confirmed position is streamed.
    server.sql("INSERT INTO t VALUES (999, 'after-edit')")
    changes = server.sql("SELECT data FROM pg_logical_slot_get_changes('it_edit', NULL, NULL)")
    assert "after-edit" in changes and "'later'" not in changes


def test_corrupt_slot_file_is_refused_by_pgha_before_postgres_panics(pg):
    server = pg().init().start()
    server.sql("SELECT pg_create_physical_replication_slot('it_bad', true)")
    server.stop()
    path = server.data / "pg_replslot" / "it_bad" / "state"
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    with pytest.raises(pgha.BadInputError, match="checksum"):
        pgha.SlotState.from_bytes(bytes(data))
    # PostgreSQL itself refuses the same bytes (it PANICs at startup): our check is its check.
    write_like_postgres(path, bytes(data))
    with pytest.raises(RuntimeError):
        server.start()
    assert "checksum mismatch" in server.log_tail(50)
