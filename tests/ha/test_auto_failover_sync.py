"""Every loss of tests/ha/test_auto_failover.py again in synchronous mode (`pghactl local up
--etcd --synchronous`): the same checks, and no acknowledged row may be lost."""

import pytest

from conftest import cluster_fixture
from test_auto_failover import (  # noqa: F401 (collected here, on this module's cluster)
    test_freeze_of_the_masters_agent_postmaster_and_backends,
    test_kill_of_the_agent_alone_lets_the_guard_fence,
    test_kill_of_the_masters_agent_and_postmaster,
    test_kill_of_the_postmaster_alone_restarts_it_in_place,
    test_losing_every_etcd_member_stops_writes_and_their_return_restores_a_master,
    test_losing_the_etcd_leader_member_demotes_no_one)

pytestmark = pytest.mark.ha


ha_cluster = cluster_fixture(2, "--synchronous")
