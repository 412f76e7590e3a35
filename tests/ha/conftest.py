import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "reliability"))

from harness import LocalCluster, become_subreaper, report_agent_logs  # noqa: E402


def pytest_configure(config):
    become_subreaper()  # the fence guards and postmasters of killed agents are reaped here
    config.addinivalue_line("markers", "ha: automatic failover on etcd, real processes (slow)")


@pytest.fixture(scope="module")
def ha_cluster(request):
    """Two nodes and three etcd members (`pghactl local up --etcd`), agents in automatic mode;
    taken down at the end of the module, also on failure."""
    c = LocalCluster(up_args=("--etcd", "--etcd-members", "3"))
    try:
        yield c
    finally:
        if request.session.testsfailed:
            report_agent_logs(request, c.dir)
        c.down()


@pytest.fixture
def report(request):
    return request.config.pluginmanager.getplugin("terminalreporter").write_line
