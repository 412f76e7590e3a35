"""pg_controldata of a real server, parsed, agrees with the server's SQL view of pg_control."""

import pytest

import pgha

pytestmark = pytest.mark.integration


def test_running_and_stopped_primary(pg):
    server = pg().init(wal_segsize_mb=1).start()
    server.sql("CREATE TABLE t AS SELECT generate_series(1, 5000) g")
    server.sql("CHECKPOINT")
    sql = server.sql("SELECT checkpoint_lsn, redo_lsn, redo_wal_file, timeline_id "
                     "FROM pg_control_checkpoint()").split("|")
    sysid = server.sql("SELECT system_identifier FROM pg_control_system()")
    running = pgha.ControlData.parse(server.controldata())
    assert [str(running.checkpoint), str(running.redo), running.redo_wal_file,
            str(running.timeline)] == sql
    assert running.system_identifier == int(sysid)
    assert running.state == "in production" and running.wal_segment_size == 1024 * 1024
    assert running.redo_wal_file == pgha.wal_segment_name(running.timeline, running.redo, 1 << 20)

    server.stop()
    stopped = pgha.ControlData.parse(server.controldata())
    assert stopped.state == "shut down" and stopped.cleanly_shut_down
    assert stopped.checkpoint > running.checkpoint and stopped.redo == stopped.checkpoint
    # The shutdown checkpoint is the last record: the scan from it reads exactly one record.
    scan = pgha.scan_wal_directory(str(server.wal_dir), stopped.timeline, start=stopped.checkpoint)
    assert scan.records == 1 and scan.last_record == stopped.checkpoint
    assert scan.system_identifier == int(sysid) and scan.postgres_major == 15
