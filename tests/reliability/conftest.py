import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from harness import LocalCluster, become_subreaper, report_agent_logs  # noqa: E402


def pytest_configure(config):
    become_subreaper()
    config.addinivalue_line("markers", "reliability: fault, crash, hostile-input and "
                                       "concurrency runs on real agents (slow)")


@pytest.fixture(scope="module")
def cluster(request):
    """A two-node `pghactl local` cluster whose agents have a (disarmed) fault file, taken
    down at the end of the module, also on failure."""
    c = LocalCluster()
    try:
        yield c
    finally:
        if request.session.testsfailed and os.environ.get("PGHA_REL_SHOW_LOGS", "1") == "1":
            report_agent_logs(request, c.dir)
        c.down()
