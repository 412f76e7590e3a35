import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "reliability"))

from harness import LocalCluster, become_subreaper  # noqa: E402


def pytest_configure(config):
    become_subreaper()  # the fence guards and postmasters of killed agents are reaped here
    config.addinivalue_line("markers", "ha: automatic failover on etcd, real processes (slow)")


def _report_logs(request, directory: pathlib.Path) -> None:
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    for log in sorted(directory.glob("*/agent.log")):
        lines = log.read_text(errors="replace").splitlines()[-40:]
        reporter.write_line(f"---- {log} (last {len(lines)} lines)")
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def ha_cluster(request):
    """Two nodes and three etcd members (`pghactl local up --etcd`), agents in automatic mode;
    taken down at the end of the module, also on failure."""
    c = LocalCluster(up_args=("--etcd", "--etcd-members", "3"))
    try:
        yield c
    finally:
        if request.session.testsfailed:
            _report_logs(request, c.dir)
        c.down()


@pytest.fixture
def report(request):
    return request.config.pluginmanager.getplugin("terminalreporter").write_line
