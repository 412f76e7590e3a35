"""scripts/fetch-postgres.sh without the network: the bindir on stdout and nothing else, 15 from
Debian, a refused major, and a second call that finds the unpacked tree (a stand-in postgres
that says its version) and prints it without fetching anything (npm is one that fails)."""

import os
import pathlib
import shutil
import subprocess
import tempfile

SCRIPT = pathlib.Path(__file__).parents[2] / "scripts" / "fetch-postgres.sh"


def run(*args, env=None):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_15_is_debians_own():
    res = run("15")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "/usr/lib/postgresql/15/bin\n"


def test_an_unknown_major_is_refused():
    res = run("9")
    assert res.returncode == 1 and res.stdout == ""
    assert "no build known for PostgreSQL '9'" in res.stderr
    assert run().returncode == 2


def test_an_unpacked_tree_is_printed_without_a_download():
    # Not pytest's tmp_path: as root the script checks that the postgres account reaches the
    # tree, and pytest's directory is private to root.
    top = pathlib.Path(tempfile.mkdtemp(prefix="pgha-fetch-test-"))
    try:
        top.chmod(0o755)
        check_unpacked_tree(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def check_unpacked_tree(top):
    cache = top / "cache"
    bindir = cache / "17.10.0-beta.17" / "package" / "native" / "bin"
    bindir.mkdir(parents=True, mode=0o755)
    fake = bindir / "postgres"
    fake.write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 17.10'\n")
    fake.chmod(0o755)
    tools = top / "tools"
    tools.mkdir()
    (tools / "npm").write_text("#!/bin/sh\necho 'npm must not run' >&2\nexit 99\n")
    (tools / "npm").chmod(0o755)
    env = dict(os.environ, PATH=f"{tools}:{os.environ['PATH']}")
    env.pop("PGHA_PG_CACHE", None)
    for _ in range(2):
        res = run("17", str(cache), env=env)
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"{bindir}\n" and "chmod" not in res.stderr
    # the cache directory from the environment, as the second argument would give it
    res = run("17", env=dict(env, PGHA_PG_CACHE=str(cache)))
    assert res.returncode == 0 and res.stdout == f"{bindir}\n"
