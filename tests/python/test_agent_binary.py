"""`pgha-agent` as a program: what it says about its build, and what it refuses to start with."""

import os
import pathlib
import subprocess
import uuid

AGENT = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin")) / "pgha-agent"


def _as_postgres(argv):
    """The agent refuses to run as root: as the postgres account when the tests are root."""
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


def test_version_says_whether_the_fault_points_are_compiled_in():
    # Set by tests/python/CMakeLists.txt from the CMake option PGHA_FAULT_POINTS.
    built_with = os.environ.get("PGHA_BUILT_WITH_FAULT_POINTS")
    assert built_with in ("0", "1"), "run through ctest (PGHA_BUILT_WITH_FAULT_POINTS unset)"
    res = subprocess.run([str(AGENT), "--version"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("pgha-agent "), lines
    expected = "fault points: compiled in" if built_with == "1" else "fault points: none"
    assert lines[1].startswith(expected), lines


def test_a_config_file_that_does_not_exist_stops_the_agent():
    missing = f"/tmp/pgha-absent-{uuid.uuid4().hex}.json"
    # LISTENING_PORT 1 cannot be bound: an agent that took the defaults exits at once too.
    env = dict(os.environ, PGHA_API_TOKEN="a-token", LISTENING_PORT="1")
    res = subprocess.run(_as_postgres([str(AGENT), "--config", missing]), env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert f'configuration file "{missing}" does not exist' in res.stderr, res.stderr
    res = subprocess.run(_as_postgres([str(AGENT)]), env=dict(env, PGHA_CONFIG=missing),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "does not exist" in res.stderr, res.stderr
