"""The agent's secrets leave its environment once read: the values given in PGHA_API_TOKEN and
DB_PASSWD are wiped from /proc/<pid>/environ (the first environment block, which unsetenv
alone leaves as it was), not only from what its children inherit. A bare agent (no server),
started as the postgres account with setpriv, which execs it: the pid is the agent's."""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import BIN, free_port

pytestmark = pytest.mark.e2e


def test_secrets_are_wiped_from_the_agents_first_environment_block():
    base = pathlib.Path(tempfile.mkdtemp(prefix="pgha-environ-"))
    os.chmod(base, 0o755)
    agent = base / "pgha-agent"
    shutil.copy2(BIN / "pgha-agent", agent)  # the build tree may be closed to postgres
    os.chmod(agent, 0o755)
    port = free_port()
    token = "tok" + os.urandom(8).hex()
    password = "pw" + os.urandom(8).hex()
    env = {"PATH": "/usr/bin:/bin", "LOCAL_NODE": "pg-node01", "LISTENING_PORT": str(port),
           "PGDATA": str(base / "data"), "PGHA_LISTEN_ADDRESS": "127.0.0.1",
           "PGHA_API_TOKEN": token, "DB_PASSWD": password, "HOME": str(base)}
    argv = [str(agent)]
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)
        argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + argv
    proc = subprocess.Popen(argv, env=env, cwd=str(base), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the agent did not answer"
                time.sleep(0.05)  # poll period
        block = pathlib.Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert b"LOCAL_NODE=pg-node01" in block  # the block of the agent itself
        assert token.encode() not in block
        assert password.encode() not in block
        # The token was read before it was wiped: it still opens the API.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/pg/v1/instance/current",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(base, ignore_errors=True)
