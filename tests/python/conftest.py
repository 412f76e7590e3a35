import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def fixtures() -> pathlib.Path:
    """tests/fixtures, or $PGHA_FIXTURES_DIR (real files written by PostgreSQL 10-18)."""
    path = pathlib.Path(os.environ.get("PGHA_FIXTURES_DIR",
                                       pathlib.Path(__file__).parents[1] / "fixtures"))
    assert (path / "pg15").is_dir(), f"fixtures not found at {path}"
    return path
