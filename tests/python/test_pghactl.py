"""`pghactl inspect` on real PostgreSQL files: its JSON equals what PostgreSQL reported."""

import json
import os
import pathlib
import subprocess

import pytest

PGHACTL = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin")) / "pghactl"


def inspect(path):
    res = subprocess.run([str(PGHACTL), "inspect", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("major", range(10, 19))
def test_slot_files(fixtures, major):
    d = fixtures / f"pg{major}" / "slots"
    sides = sorted(d.glob("*.json"))
    assert len(sides) == len(list(d.glob("*.state"))) >= 4
    for side in sides:
        expected = json.loads(side.read_text())
        got = inspect(side.with_suffix(".state"))
        assert got["type"] == "slot_state"
        for key in ("slot_name", "slot_type", "plugin", "datoid", "restart_lsn",
                    "confirmed_flush_lsn", "catalog_xmin", "xmin"):
            assert got[key] == expected[key], (side.name, key)
        assert (got["persistency"] == "temporary") == expected["temporary"]


def test_history_file(fixtures):
    path = fixtures / "pg15" / "timelines" / "00000003.history"
    side = json.loads(path.with_name(path.name + ".json").read_text())
    got = inspect(path)
    assert got["type"] == "timeline_history" and got["timeline"] == side["timeline"]
    assert [(e["timeline"], e["end"]) for e in got["entries"][:-1]] == \
        [(e["parent_tli"], e["switchpoint"]) for e in side["entries"]]


def test_controldata(fixtures):
    path = fixtures / "pg15" / "controldata" / "promoted_running.txt"
    side = json.loads(path.with_suffix(".json").read_text())
    got = inspect(path)
    assert got["type"] == "control_data"
    assert got["checkpoint"] == side["expected"]["Latest checkpoint location"]
    assert got["current_timeline"] == side["live"]["insert_timeline"]


def test_refuses_other_files(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a postgres file")
    res = subprocess.run([str(PGHACTL), "inspect", str(junk)], capture_output=True, text=True)
    assert res.returncode == 1 and "is not a slot state file" in res.stderr
    res = subprocess.run([str(PGHACTL), "inspect"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr
