"""Server parameters pgha manages (Instance.write_parameters): pgha.parameters.conf, included
before pgha.conf; a running server reloads, a setting that needs a restart is named as pending
until the restart, a value PostgreSQL refuses puts the file back, and pgha's own settings are
refused."""

import pathlib

import pytest

import pg_harness
import pgha
from test_instance_pg import FAST, nodes  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def setting(inst, name: str) -> str:
    return inst.query("SELECT current_setting($1)", [name])[0][0]


def test_parameters_reload_pending_restart_and_refusal(nodes):
    n = nodes.new("n1")
    n.init(settings=FAST)
    n = nodes.start(n)
    assert setting(n, "work_mem") == "4MB"  # PostgreSQL's default

    r = n.write_parameters({"work_mem": "7MB", "shared_buffers": "64MB"})
    assert r == {"changed": True, "pending_restart": ["shared_buffers"]}
    pg_harness.wait_for(lambda: setting(n, "work_mem") == "7MB", 30, "work_mem reloaded")
    assert setting(n, "shared_buffers") == "128MB"  # until the restart
    assert n.pending_restart() == ["shared_buffers"]
    conf = pathlib.Path(n.data_dir, "postgresql.conf").read_text()
    assert conf.index("'pgha.parameters.conf'") < conf.index("'pgha.conf'")
    assert conf.count("'pgha.parameters.conf'") == 1
    # The same again: nothing rewritten.
    assert n.write_parameters({"work_mem": "7MB", "shared_buffers": "64MB"})["changed"] is False

    # A value the server refuses: the file stays as it was, the message names the setting.
    path = pathlib.Path(n.data_dir, "pgha.parameters.conf")
    before = path.read_text()
    with pytest.raises(pgha.BadInputError, match="work_mem"):
        n.write_parameters({"work_mem": "lots", "shared_buffers": "64MB"})
    assert path.read_text() == before
    for managed in ("port", "primary_conninfo", "synchronous_standby_names", "Listen_Addresses"):
        assert pgha.Instance.managed_parameter(managed)
        with pytest.raises(pgha.BadInputError, match="set by pgha"):
            n.write_parameters({managed: "1"})
    assert path.read_text() == before

    n.restart()
    assert setting(n, "shared_buffers") == "64MB"
    assert setting(n, "work_mem") == "7MB"
    assert n.pending_restart() == []
