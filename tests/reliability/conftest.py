import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from harness import LocalCluster, become_subreaper  # noqa: E402


def pytest_configure(config):
    become_subreaper()
    config.addinivalue_line("markers", "reliability: fault, crash, hostile-input and "
                                       "concurrency runs on real agents (slow)")


def _report_agent_logs(request, directory: pathlib.Path) -> None:
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    for log in sorted(directory.glob("*/agent.log")):
        lines = log.read_text(errors="replace").splitlines()[-40:]
        reporter.write_line(f"---- {log} (last {len(lines)} lines)")
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def cluster(request):
    """A two-node `pghactl local` cluster whose agents have a (disarmed) fault file, taken
    down at the end of the module, also on failure."""
    c = LocalCluster()
    try:
        yield c
    finally:
        if request.session.testsfailed and os.environ.get("PGHA_REL_SHOW_LOGS", "1") == "1":
            _report_agent_logs(request, c.dir)
        c.down()
