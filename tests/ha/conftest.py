import contextlib
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "reliability"))

from harness import LocalCluster, Monitor, Writer, become_subreaper, report_agent_logs  # noqa: E402


def pytest_configure(config):
    become_subreaper()  # the fence guards and postmasters of killed agents are reaped here
    config.addinivalue_line("markers", "ha: automatic failover on etcd, real processes (slow)")


def cluster_fixture(nodes: int = 2, *up_args: str):
    """A module-scoped fixture: `nodes` nodes and three etcd members (`pghactl local up
    --etcd`, plus `up_args`), agents in automatic mode; taken down at the end of the module,
    also on failure (the agents' logs printed when a test failed)."""
    @pytest.fixture(scope="module")
    def fixture(request):
        c = LocalCluster(nodes=nodes, up_args=("--etcd", "--etcd-members", "3", *up_args))
        try:
            yield c
        finally:
            if request.session.testsfailed:
                report_agent_logs(request, c.dir)
            c.down()
    return fixture


ha_cluster = cluster_fixture()


@contextlib.contextmanager
def writing(c, table: str, min_rows: int = 20):
    """A writer (harness.Writer, yielded) and a monitor for the `with` block; at its end both
    stop, and no sample of the monitor may have seen two nodes accepting writes."""
    writer = Writer(c, table=table)
    writer.start(min_rows=min_rows)
    monitor = Monitor(c)
    monitor.start()
    try:
        yield writer
    finally:
        writer.stop()
        figures = monitor.finish()
    assert figures["two_primaries_samples"] == 0, figures


@pytest.fixture
def report(request):
    return request.config.pluginmanager.getplugin("terminalreporter").write_line
