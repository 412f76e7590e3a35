"""Agents over HTTPS: `pghactl local up --tls` (a CA made for the cluster), a switchover whose
peer calls go over https, what is refused (plain HTTP, an untrusted CA), and the agent's checks
of its TLS files at startup."""
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings

import pytest

from conftest import BIN, free_port, local_cluster


@pytest.fixture(scope="module")
def tls_cluster(request):
    yield from local_cluster(request, "--tls")


def _url(cluster, node, path):
    return cluster.nodes[node]["agent_url"] + "/api/pg/v1/" + path


def _agent_argv(cluster, config):
    argv = [str(cluster.dir / "bin" / "pgha-agent"), "--config", str(config)]
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


def _scratch(cluster):
    """A directory the agent's account can read, removed by the caller."""
    d = tempfile.mkdtemp(prefix="pgha-tls-", dir=cluster.dir.parent)
    os.chmod(d, 0o755)
    return d


def _write_config(directory, config, name="agent.json"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(config, f)
    os.chmod(path, 0o644)
    return path


def test_agents_serve_https_only_and_verify(tls_cluster):
    c = tls_cluster
    assert c.info["tls_ca_file"] == str(c.dir / "ca.crt")
    assert all(n["agent_url"].startswith("https://127.0.0.1:") for n in c.info["nodes"])
    status, body = c.call("pg-node01", "GET", "health", token=None)
    assert status == 200 and body["status"] == "ok"
    assert c.ok("pg-node02", "GET", "instance/all") == {"pg-node01": "master",
                                                       "pg-node02": "slave"}
    # 401 JSON without detail, as over plain HTTP.
    status, body = c.call("pg-node01", "GET", "instance/current", token="wrong")
    assert (status, body) == (401, {"code": 10, "msg": "unauthorized"})

    # Plain HTTP to the TLS port: a 400 that says why, nothing served.
    plain = _url(c, "pg-node01", "health").replace("https://", "http://")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(plain, timeout=10)
    assert err.value.code == 400
    assert json.loads(err.value.read()) == {
        "code": 1, "msg": "this port serves HTTPS: plain HTTP is refused"}

    # A client that does not trust the cluster's CA is refused by its own verification.
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(_url(c, "pg-node01", "health"), timeout=10,
                               context=ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    # TLS 1.2 is the oldest protocol the agent speaks: the server refuses 1.1 and 1.0.
    for version, refused in ((ssl.TLSVersion.TLSv1_2, False), ("TLSv1_1", True),
                             ("TLSv1", True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the old versions' names
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(c.info["tls_ca_file"])
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = getattr(ssl.TLSVersion, version) if refused else version
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # so that the client can offer them
        try:
            with urllib.request.urlopen(_url(c, "pg-node01", "health"), timeout=10,
                                        context=ctx) as r:
                assert not refused and r.status == 200
        except urllib.error.URLError as e:
            assert refused, e
            assert getattr(e.reason, "reason", None) == "TLSV1_ALERT_PROTOCOL_VERSION", e


def test_switchover_calls_peers_over_https(tls_cluster):
    c = tls_cluster
    res = c.pghactl("switchover", str(c.dir), "--order", "slaveMaster")
    assert json.loads(res.stdout) == {"pg-node01": "slave", "pg-node02": "master"}
    res = c.pghactl("switchover", str(c.dir), "--node", "pg-node02")
    assert json.loads(res.stdout) == {"pg-node01": "master", "pg-node02": "slave"}
    listing = c.pghactl("list", str(c.dir)).stdout
    assert "pg-node01    master" in listing and "pg-node02    slave" in listing


def test_pghactl_url_needs_the_ca(tls_cluster):
    c = tls_cluster
    url = c.nodes["pg-node01"]["agent_url"]
    env = {k: v for k, v in os.environ.items() if k not in ("PGHA_TLS_CA_FILE", "PGHA_API_TOKEN")}
    argv = [str(BIN / "pghactl"), "list", "--url", url, "--token", c.token]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 1
    assert "certificate" in res.stderr and "HINT" in res.stderr
    res = subprocess.run(argv + ["--ca", c.info["tls_ca_file"]], capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "pg-node01    master" in res.stdout


def test_agent_refuses_bad_tls_files_at_startup(tls_cluster):
    c = tls_cluster
    base = json.loads((c.dir / "pg-node01" / "agent.json").read_text())
    scratch = _scratch(c)
    try:
        open_key = os.path.join(scratch, "open.key")
        shutil.copy(base["tls_key_file"], open_key)
        os.chmod(open_key, 0o644)
        cases = [
            ({"tls_key_file": str(c.dir / "pg-node02" / "agent.key")}, "is not the key of"),
            ({"tls_key_file": open_key}, "chmod 600"),
            ({"tls_cert_file": os.path.join(scratch, "none.crt")}, "cannot open"),
            ({"tls_key_file": ""}, "without a key file"),
            ({"tls_ca_file": open_key}, "holds no PEM certificate"),
        ]
        env = dict(os.environ, PGHA_API_TOKEN_FILE=c.info["token_file"])
        for change, says in cases:
            path = _write_config(scratch, dict(base, listen_port=free_port(), **change))
            res = subprocess.run(_agent_argv(c, path), capture_output=True, text=True,
                                 timeout=30, env=env, cwd="/")
            assert res.returncode == 1, (change, res.stderr)
            assert "pgha-agent: error:" in res.stderr and says in res.stderr, (change, res.stderr)
            assert c.token not in res.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _extra_agent(cluster, peers, env=None, **settings):
    """An agent "probe" with no PostgreSQL of its own, next to the cluster, whose peers are
    `peers` ({name: agent_url}), with `settings` over node01's configuration and `env` added
    to its environment; yields (its https base URL, its log file)."""
    base = json.loads((cluster.dir / "pg-node01" / "agent.json").read_text())
    scratch = _scratch(cluster)
    port = free_port()
    nodes = [{"name": "probe", "agent_url": f"https://127.0.0.1:{port}",
              "pg_host": "127.0.0.1", "pg_port": 9}]
    nodes += [{"name": n, "agent_url": u, "pg_host": "127.0.0.1", "pg_port": 9}
              for n, u in peers.items()]
    config = dict(base, listen_port=port, pgdata=os.path.join(scratch, "nodata"),
                  local_node="probe", nodes=nodes, **settings)
    path = _write_config(scratch, config)
    env = dict(os.environ, PGHA_API_TOKEN_FILE=cluster.info["token_file"], **(env or {}))
    log_path = os.path.join(scratch, "agent.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(_agent_argv(cluster, path), stdout=log, stderr=log, env=env,
                                cwd="/", start_new_session=True)
    url = f"https://127.0.0.1:{port}/api/pg/v1/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "health", timeout=5,
                                            context=cluster.ssl_context) as r:
                    assert json.loads(r.read())["node"] == "probe"
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, open(log_path).read()
                time.sleep(0.05)
        yield url, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


def _states(cluster, url):
    req = urllib.request.Request(url + "instance/all")
    req.add_header("Authorization", "Bearer " + cluster.token)
    with urllib.request.urlopen(req, timeout=60, context=cluster.ssl_context) as r:
        return json.loads(r.read())


def test_peer_certificates_are_verified_by_default(tls_cluster):
    c = tls_cluster
    peer = {"pg-node01": c.nodes["pg-node01"]["agent_url"]}
    # The system's CA store does not know the cluster's CA: the peer cannot be trusted.
    with _extra_agent(c, peer, tls_ca_file="") as (url, log):
        assert _states(c, url)["pg-node01"] == "unreachable"
        assert "WARNING" not in open(log).read()
    with _extra_agent(c, peer) as (url, _):
        assert _states(c, url)["pg-node01"] == "master"


def test_skipping_verification_is_explicit_and_logged(tls_cluster):
    c = tls_cluster
    peers = {"pg-node01": c.nodes["pg-node01"]["agent_url"], "old": "http://127.0.0.1:9"}
    with _extra_agent(c, peers, env={"PGHA_TLS_INSECURE_SKIP_VERIFY": "true"},
                      tls_ca_file="") as (url, log):
        assert _states(c, url)["pg-node01"] == "master"
        text = open(log).read()
    assert "WARNING: tls_insecure_skip_verify is set" in text
    assert "WARNING: peer old is called over plain HTTP" in text
    assert "listening on https://127.0.0.1:" in text
    assert c.token not in text


def test_nodes_env_cannot_change_tls(tls_cluster):
    c = tls_cluster
    before = (c.dir / "pg-node01" / "agent.json").read_text()
    for change in ({"tls_insecure_skip_verify": True}, {"tls_ca_file": ""}):
        req = urllib.request.Request(_url(c, "pg-node01", "nodes/env"), method="POST",
                                     data=json.dumps(change).encode())
        req.add_header("Authorization", "Bearer " + c.token)
        req.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=60, context=c.ssl_context)
        assert err.value.code == 400
        assert f'"{next(iter(change))}"' in json.loads(err.value.read())["msg"]
    assert (c.dir / "pg-node01" / "agent.json").read_text() == before


def test_token_is_never_logged(tls_cluster):
    c = tls_cluster
    c.call("pg-node01", "GET", "instance/current", token="wrong")  # a refused call as well
    for log in list(c.dir.glob("*/agent.log")) + list(c.dir.glob("*/data.log")):
        assert c.token not in log.read_text(errors="replace"), log
