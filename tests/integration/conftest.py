import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import pg_harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: runs real PostgreSQL servers (slow)")


@pytest.fixture(scope="session", autouse=True)
def postgres_binaries():
    """A missing PostgreSQL is a failure, never a silent pass."""
    initdb = pg_harness.PG_BINDIR / "initdb"
    assert initdb.exists(), f"PostgreSQL server binaries not found at {pg_harness.PG_BINDIR}"


@pytest.fixture
def pg():
    """A factory of PgServers, all stopped when the test ends (pass or fail)."""
    with pg_harness.servers() as factory:
        yield factory


@pytest.fixture(scope="session")
def fixtures() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("PGHA_FIXTURES_DIR",
                                       pathlib.Path(__file__).parents[1] / "fixtures"))
    return path
