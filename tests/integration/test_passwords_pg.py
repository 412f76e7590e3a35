"""Passwords on every connection between servers: Instance.init(local_trust=False) writes a
pg_hba.conf without `trust`, pgha's own sessions reach the server over the local socket by
`peer` (pg_ident.conf), and base backups, streaming and pg_rewind (as a role that is no
superuser) find their passwords in a libpq passfile, never in the data directory.

The passfile is written here by the test's own code (the agent writes it in production), so
that what is checked is what PostgreSQL and libpq do with pgha's settings.
"""

import os
import pathlib
import stat

import psycopg2
import pytest

import pg_harness
import pgha
from test_instance_pg import FAST, Nodes, caught_up, nodes  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

PASSWORDS = {"replicate": "repl:pw\\1", "postgres": "super pw", "pgha_rewind": "rew'ind:2"}
SETTINGS = dict(FAST, log_connections="on")


def write_passfile(path: pathlib.Path) -> None:
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace(":", "\\:")

    path.write_text("".join(f"*:*:*:{u}:{esc(p)}\n" for u, p in PASSWORDS.items()))
    os.chmod(path, 0o600)
    pg_harness.give_to_pg_user(path)


def tcp_connect(port: int, user: str, password=None, **kw):
    """A TCP connection from this process, with no passfile of its own."""
    return psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres",
                            password=password, passfile="/nonexistent", connect_timeout=5, **kw)


def instance(made: Nodes, name: str, passfile: pathlib.Path) -> pgha.Instance:
    inst = pgha.Instance(str(made.base / name), pg_harness.free_port(),
                         bindir=str(pg_harness.PG_BINDIR), timeout=60.0, passfile=str(passfile))
    made.made.append(inst)
    return inst


def hba_rules(inst) -> list:
    text = pathlib.Path(inst.data_dir, "pg_hba.conf").read_text()
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_no_trust_passfile_streaming_and_a_rewind_role(nodes):
    passfile = nodes.base / "pgpass"
    write_passfile(passfile)
    p = instance(nodes, "n1", passfile)
    p.init(local_trust=False, replicate_password=PASSWORDS["replicate"],
           superuser_password=PASSWORDS["postgres"], rewind_user="pgha_rewind",
           rewind_password=PASSWORDS["pgha_rewind"], settings=SETTINGS)
    p = nodes.start(p)

    # No trust anywhere; the superuser's socket line is peer with the map Init wrote.
    rules = hba_rules(p)
    assert not [r for r in rules if "trust" in r], rules
    assert ["local", "all", '"postgres"', "peer", "map=pgha"] in rules
    assert all(r[-1] == "scram-sha-256" for r in rules if r[0] == "host"), rules
    ident = pathlib.Path(p.data_dir, "pg_ident.conf").read_text()
    assert 'pgha    postgres        "postgres"' in ident
    assert p.query("SELECT current_user")[0][0] == "postgres"  # pgha's own session: the socket

    # Loopback TCP needs the password now, for the superuser as for the replication role.
    for user in ("postgres", "replicate"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            tcp_connect(p.port, user)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        tcp_connect(p.port, "postgres", "wrong")
    tcp_connect(p.port, "postgres", PASSWORDS["postgres"]).close()
    tcp_connect(p.port, "replicate", PASSWORDS["replicate"], replication="true").close()

    # The rewind role: no superuser, pg_rewind's four functions and pg_checkpoint (15+).
    q = ("SELECT rolsuper, rolreplication, "
         "has_function_privilege('pgha_rewind', 'pg_catalog.pg_ls_dir(text, boolean, boolean)', "
         "'EXECUTE'), "
         "has_function_privilege('pgha_rewind', 'pg_catalog.pg_stat_file(text, boolean)', "
         "'EXECUTE'), "
         "has_function_privilege('pgha_rewind', 'pg_catalog.pg_read_binary_file(text)', "
         "'EXECUTE'), "
         "has_function_privilege('pgha_rewind', "
         "'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)', 'EXECUTE'), "
         + ("pg_has_role('pgha_rewind', 'pg_checkpoint', 'MEMBER') "
            if pg_harness.server_major() >= 15 else "true ")  # no such role before 15
         + "FROM pg_roles WHERE rolname = 'pgha_rewind'")
    assert p.query(q) == [("f", "f", "t", "t", "t", "t", "t")]

    # A standby made with no password given: pg_basebackup and the walreceiver use the
    # passfile; the data directory names the file, never a password.
    p.ensure_physical_slot("n2")
    s = instance(nodes, "n2", passfile)
    s.sync("127.0.0.1", p.port, user="replicate", slot_name="n2", application_name="n2")
    conf = pathlib.Path(s.data_dir, "pgha.conf").read_text()
    assert f"passfile=''{passfile}''" in conf and "password" not in conf, conf
    s = nodes.start(s)
    pg_harness.wait_for(lambda: s.state() == "slave", 30, "n2 streaming from n1")
    p.query("CREATE TABLE t (i int)")
    p.query("INSERT INTO t VALUES (1)")
    pg_harness.wait_for(lambda: caught_up(p, s), 30, "n2 to replay n1's WAL")

    # Failover, divergence, and pg_rewind as the rewind role (it runs the CHECKPOINT too);
    # where the bindir has no pg_rewind (the npm builds), a fresh copy instead, its password
    # from the passfile as well.
    rewind = (pg_harness.PG_BINDIR / "pg_rewind").exists()
    s.promote()
    p.query("INSERT INTO t SELECT generate_series(2, 2000)")
    p.stop("fast")
    s.ensure_physical_slot("n1")
    if rewind:
        p.rewind("127.0.0.1", s.port, user="pgha_rewind")
        p.write_standby_config("127.0.0.1", s.port, user="replicate", application_name="n1",
                               slot_name="n1")
    else:
        assert p.sync("127.0.0.1", s.port, user="replicate", slot_name="n1",
                      application_name="n1", replace=True)["method"] == "pgha"
    p = nodes.start(p)
    pg_harness.wait_for(lambda: p.state() == "slave", 30, "rewound n1 streaming from n2")
    s.query("INSERT INTO t VALUES (42)")
    pg_harness.wait_for(lambda: caught_up(s, p), 30, "n1 to replay n2's WAL")
    assert p.query("SELECT array_agg(i ORDER BY i)::text FROM t") == [("{1,42}",)]

    source_log = pathlib.Path(s.log_file).read_text(errors="replace")
    if rewind:
        assert "connection authorized: user=pgha_rewind" in source_log
    # No password in the data directories' configuration or the servers' logs.
    for inst in (p, s):
        texts = [pathlib.Path(inst.log_file).read_text(errors="replace")]
        for name in ("pgha.conf", "postgresql.auto.conf", "postgresql.conf", "pg_hba.conf"):
            f = pathlib.Path(inst.data_dir, name)
            if f.exists():
                texts.append(f.read_text(errors="replace"))
        for secret in PASSWORDS.values():
            assert not [t for t in texts if secret in t], (inst.data_dir, secret)
    assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
