"""packaging/systemd/pgha-agent@.service passes `systemd-analyze verify` with no warning (an
instance of it, with ExecStart pointed at the built agent), and keeps what automatic failover
needs of it: only the agent is signalled on stop (KillMode=process: the fence guard outlives a
kill of the agent), as the postgres account."""

import os
import pathlib
import shutil
import subprocess
import tempfile

UNIT = pathlib.Path(__file__).parents[2] / "packaging" / "systemd" / "pgha-agent@.service"
AGENT = pathlib.Path(os.environ.get("PGHA_BIN_DIR", "bin")).resolve() / "pgha-agent"


def verify(text: str, instance: str):
    d = pathlib.Path(tempfile.mkdtemp(prefix="pgha-unit-"))
    try:
        path = d / f"pgha-agent@{instance}.service"
        path.write_text(text)
        return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                              text=True, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_unit_verifies_cleanly_and_a_broken_one_does_not():
    assert shutil.which("systemd-analyze"), "systemd-analyze (package systemd): install-deps.sh"
    text = UNIT.read_text().replace("/usr/local/bin/pgha-agent", str(AGENT))
    res = verify(text, "pg-node01")
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    # The check would see a mistake: a directive it cannot parse is reported.
    res = verify(text.replace("KillMode=process", "KillMode=sometimes"), "pg-node01")
    assert "KillMode" in res.stderr or "kill mode" in res.stderr, res.stderr
    settings = dict(line.split("=", 1) for line in text.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["KillMode"] == "process"
    assert settings["User"] == "postgres"
    assert settings["ExecStart"] == f"{AGENT} --config /etc/pgha/%i.json"
