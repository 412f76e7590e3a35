// pgha-agent's configuration: the seed's environment over the JSON file, the grammar checks
// that keep a bad value out of PostgreSQL's files, and POST nodes/env's all-or-nothing update.
#include "pgha/agent_config.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "pgha/error.hpp"
#include "test_support.hpp"

using pgha::AgentConfig;
using pgha::Error;
using pgha::ErrorCode;
using Env = std::map<std::string, std::string>;

namespace {

// A directory of its own under TMPDIR, removed with its files at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/pgha-config-test-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    for (const char* f : {"/agent.json", "/token", "/agent.json.tmp"})
      std::remove((path_ + f).c_str());
    rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

ErrorCode CodeOf(void (*f)(const Env&), const Env& env) {
  try {
    f(env);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::kInternal;
}

const Env kBase = {{"PGHA_API_TOKEN", "secret-token"}};

Env With(Env env, const std::string& key, const std::string& value) {
  env[key] = value;
  return env;
}

void LoadNoFile(const Env& env) {
  AgentConfig::Load("", env);
}

}  // namespace

TEST_CASE("The seed's environment makes a two-node configuration") {
  Env env = kBase;
  env["LOCAL_NODE"] = "pg-node01";
  env["REMOTE_NODE"] = "pg-node02";
  env["LISTENING_PORT"] = "18079";
  env["PGHA_PG_PORT"] = "15432";
  env["SUBNET"] = "10.1.0.0";
  env["MASK"] = "16";
  env["APPLY_DELAY"] = "5min";
  AgentConfig c = AgentConfig::Load("", env);
  CHECK(c.local_node == "pg-node01");
  CHECK(c.listen_port == 18079);
  REQUIRE(c.nodes.size() == 2);
  CHECK(c.Local().agent_url == "http://pg-node01:18079");  // hosts of their own, by name
  CHECK(c.Local().pg_host == "pg-node01");
  CHECK(c.Local().pg_port == 15432);
  REQUIRE(c.Peers().size() == 1);
  CHECK(c.Peers()[0].name == "pg-node02");
  CHECK(c.Peers()[0].agent_url == "http://pg-node02:18079");  // the seed: names are hosts
  CHECK(c.Peers()[0].pg_port == 5432);
  CHECK(c.subnet == "10.1.0.0");
  CHECK(c.mask == 16);
  CHECK(c.apply_delay == "5min");
  CHECK(c.api_token == "secret-token");
}

TEST_CASE("The environment overrides the file, which overrides the defaults") {
  TempDir dir;
  Write(dir.File("agent.json"), R"({"local_node": "a", "listen_port": 9000, "mask": 24,
    "subnet": "192.168.0.0", "synchronous_mode": true, "state_refresh_ms": 250,
    "nodes": [{"name": "a", "agent_url": "http://127.0.0.1:9000", "pg_host": "127.0.0.1",
               "pg_port": 6000},
              {"name": "b", "agent_url": "https://127.0.0.2:9000", "pg_host": "127.0.0.2",
               "pg_port": 6001}]})");
  AgentConfig c = AgentConfig::Load(dir.File("agent.json"), With(kBase, "MASK", "28"));
  CHECK(c.config_file == dir.File("agent.json"));
  CHECK(c.local_node == "a");
  CHECK(c.listen_port == 9000);
  CHECK(c.subnet == "192.168.0.0");
  CHECK(c.mask == 28);
  CHECK(c.synchronous_mode);
  CHECK(c.state_refresh_interval.count() == 250);
  CHECK(c.replicate_user == "replicate");  // default kept
  REQUIRE(c.nodes.size() == 2);
  CHECK(c.Local().pg_port == 6000);
  // PGHA_PG_PORT moves the local node of the file; REMOTE_NODE naming a known node adds none.
  Env env = With(kBase, "PGHA_PG_PORT", "7000");
  env["REMOTE_NODE"] = "b";
  c = AgentConfig::Load(dir.File("agent.json"), env);
  CHECK(c.Local().pg_port == 7000);
  CHECK(c.nodes.size() == 2);
  CHECK(c.Peers()[0].agent_url == "https://127.0.0.2:9000");
}

TEST_CASE("A configuration file that does not exist is an error, not the defaults") {
  TempDir dir;
  try {
    AgentConfig::Load(dir.File("agent.json"), kBase);
    FAIL("a missing file was taken for the defaults");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
    CHECK(std::string(e.what()).find(dir.File("agent.json")) != std::string::npos);
  }
  // No file named: the defaults and the environment.
  AgentConfig c = AgentConfig::Load("", kBase);
  CHECK(c.local_node == "PGNODE01");
  CHECK(c.listen_port == 8079);
  CHECK(c.nodes.size() == 1);
  CHECK_FALSE(c.synchronous_mode);
  // An empty object in the file: the same.
  Write(dir.File("agent.json"), "{}");
  CHECK(AgentConfig::Load(dir.File("agent.json"), kBase).ToJson() == c.ToJson());
}

TEST_CASE("The token comes from a file, without its line end, and never into the JSON") {
  TempDir dir;
  Write(dir.File("token"), "from-a-file\n");
  AgentConfig c = AgentConfig::Load("", {{"PGHA_API_TOKEN_FILE", dir.File("token")}});
  CHECK(c.api_token == "from-a-file");
  CHECK(c.ToJson().find("from-a-file") == std::string::npos);
  CHECK(CodeOf(LoadNoFile, {{"PGHA_API_TOKEN_FILE", dir.File("absent")}}) == ErrorCode::kNotFound);
}

TEST_CASE("Passwords come from the environment or their files, never from or into the JSON") {
  TempDir dir;
  Write(dir.File("token"), "replication-secret\n");  // TempDir removes "token" only
  Env env = kBase;
  env["PGHA_REPLICATE_PASSWORD_FILE"] = dir.File("token");
  env["PGHA_SUPERUSER_PASSWORD"] = "super:secret";
  env["PGHA_REWIND_USER"] = "pgha_rewind";
  env["PGHA_REWIND_PASSWORD"] = "rewind-secret";
  env["PGDATA"] = "/srv/pg/data/";
  AgentConfig c = AgentConfig::Load("", env);
  CHECK(c.replicate_password == "replication-secret");
  CHECK(c.superuser_password == "super:secret");
  CHECK(c.rewind_user == "pgha_rewind");
  CHECK_FALSE(c.local_trust);  // trust only where the operator asks
  CHECK(c.PassfilePath() == "/srv/pg/data.pgpass");
  CHECK(c.PassfileText() ==
        "*:*:*:replicate:replication-secret\n*:*:*:postgres:super\\:secret\n"
        "*:*:*:pgha_rewind:rewind-secret\n");
  const std::string j = c.ToJson();
  for (const char* secret : {"replication-secret", "super:secret", "rewind-secret"})
    CHECK(j.find(secret) == std::string::npos);
  CHECK(j.find(dir.File("token")) != std::string::npos);  // the file's path is kept
  // The clear variable wins over the file; a file that is not there stops the start.
  env["PGHA_REPLICATE_PASSWORD"] = "from-the-environment";
  CHECK(AgentConfig::Load("", env).replicate_password == "from-the-environment");
  env.erase("PGHA_REPLICATE_PASSWORD");
  env["PGHA_REPLICATE_PASSWORD_FILE"] = dir.File("absent");
  try {
    AgentConfig::Load("", env);
    FAIL("a missing password file was taken for no password");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
    CHECK(std::string(e.what()).find("PGHA_REPLICATE_PASSWORD_FILE") != std::string::npos);
  }
  // The file's JSON names files, never passwords.
  Write(dir.File("agent.json"), R"({"replicate_password": "in-the-file"})");
  try {
    AgentConfig::Load(dir.File("agent.json"), kBase);
    FAIL("a clear password was read from JSON");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find("in-the-file") == std::string::npos);
  }
  Write(dir.File("agent.json"),
        R"({"replicate_password_file": ")" + dir.File("token") + R"(", "local_trust": true,
            "passfile": "/run/pgha/pgpass"})");
  Write(dir.File("token"), "replication-secret\n");
  c = AgentConfig::Load(dir.File("agent.json"), kBase);
  CHECK(c.replicate_password == "replication-secret");
  CHECK(c.local_trust);
  CHECK(c.PassfilePath() == "/run/pgha/pgpass");
  // No password: no passfile content; a rewind role that is the superuser is refused.
  CHECK(AgentConfig::Load("", kBase).PassfileText().empty());
  CHECK(CodeOf(LoadNoFile, With(kBase, "PGHA_REWIND_USER", "postgres")) == ErrorCode::kBadInput);
  CHECK(CodeOf(LoadNoFile, With(kBase, "PGHA_REPLICATE_PASSWORD", "bad\nline")) ==
        ErrorCode::kBadInput);
}

TEST_CASE("Server parameters: the operator's over pgha's defaults, pgha's own names refused") {
  AgentConfig c = AgentConfig::Load("", kBase);
  auto defaults = c.ServerParameters(15);
  CHECK(std::find(defaults.begin(), defaults.end(),
                  std::make_pair(std::string("wal_log_hints"), std::string("on"))) !=
        defaults.end());
  CHECK(std::find(defaults.begin(), defaults.end(),
                  std::make_pair(std::string("max_slot_wal_keep_size"), std::string("8GB"))) !=
        defaults.end());
  CHECK(AgentConfig::DefaultParameters(12).count("max_slot_wal_keep_size") == 0);  // 13+
  c.Update(R"({"parameters": {"max_slot_wal_keep_size": "64GB", "work_mem": 4096,
                              "log_connections": true}})");
  auto params = c.ServerParameters(15);
  std::map<std::string, std::string> m(params.begin(), params.end());
  CHECK(m["max_slot_wal_keep_size"] == "64GB");
  CHECK(m["work_mem"] == "4096");
  CHECK(m["log_connections"] == "on");
  CHECK(m["wal_level"] == "logical");
  CHECK(AgentConfig::FromJson(c.ToJson()).parameters == c.parameters);  // saved and read back
  const std::string before = c.ToJson();
  for (const char* body :
       {R"({"parameters": {"port": "5433"}})",
        R"({"parameters": {"Primary_Conninfo": "host=evil"}})",
        R"({"parameters": {"synchronous_standby_names": "*"}})",
        R"({"parameters": {"wal_level": "minimal"}})", R"({"parameters": {"bad name": "1"}})",
        R"({"parameters": {"work_mem": "1
fsync = off"}})",
        R"({"parameters": {"work_mem": null}})", R"({"parameters": ["work_mem"]})"}) {
    CAPTURE(std::string(body));
    try {
      c.Update(body);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
    CHECK(c.ToJson() == before);
  }
  c.Update(R"({"parameters": {}})");
  CHECK(c.parameters.empty());
}

TEST_CASE("Automatic failover is configured by the store's endpoints, with checked timings") {
  AgentConfig manual = AgentConfig::Load("", kBase);
  CHECK_FALSE(manual.AutomaticFailover());
  Env env = kBase;
  env["PGHA_ETCD_ENDPOINTS"] = "http://127.0.0.1:2379,,https://10.0.0.2:2379";
  env["PGHA_HA_TTL_S"] = "3";
  env["PGHA_HA_LOOP_MS"] = "250";
  env["PGHA_NOFAILOVER"] = "true";
  env["PGHA_PRIORITY"] = "7";
  env["PGHA_ETCD_PASSWORD"] = "etcd-secret";
  AgentConfig c = AgentConfig::Load("", env);
  CHECK(c.AutomaticFailover());
  CHECK(c.etcd_endpoints ==
        std::vector<std::string>{"http://127.0.0.1:2379", "https://10.0.0.2:2379"});
  CHECK(c.ha_ttl.count() == 3);
  CHECK(c.ha_loop_interval.count() == 250);
  CHECK(c.nofailover);
  CHECK(c.priority == 7);
  CHECK(c.ToJson().find("etcd-secret") == std::string::npos);
  AgentConfig back = AgentConfig::FromJson(c.ToJson());
  CHECK(back.etcd_endpoints == c.etcd_endpoints);
  CHECK(back.ha_ttl == c.ha_ttl);
  // A loop slower than a third of the lease could not renew it in time.
  CHECK(CodeOf(LoadNoFile, With(env, "PGHA_HA_LOOP_MS", "1001")) == ErrorCode::kBadInput);
  CHECK(CodeOf(LoadNoFile, With(env, "PGHA_HA_TTL_S", "1")) == ErrorCode::kBadInput);
  CHECK(CodeOf(LoadNoFile, With(env, "PGHA_ETCD_ENDPOINTS", "127.0.0.1:2379")) ==
        ErrorCode::kBadInput);
  CHECK(CodeOf(LoadNoFile, With(env, "PGHA_CLUSTER_NAME", "a/b")) == ErrorCode::kBadInput);
  // Who leads is decided by the store: POST nodes/env cannot point an agent elsewhere.
  for (const char* body : {R"({"etcd_endpoints": []})", R"({"ha_ttl_s": 60})",
                           R"({"cluster_name": "other"})", R"({"nofailover": false})"}) {
    CAPTURE(std::string(body));
    CHECK_THROWS_AS(c.Update(body), Error);
  }
}

TEST_CASE("No token and no explicit auth_disabled: the agent does not start") {
  CHECK(CodeOf(LoadNoFile, {}) == ErrorCode::kBadInput);
  TempDir dir;
  Write(dir.File("agent.json"), R"({"auth_disabled": true})");
  CHECK(AgentConfig::Load(dir.File("agent.json"), {}).auth_disabled);
}

TEST_CASE("Values that reach PostgreSQL's files are checked by their grammar") {
  struct Case {
    std::string key;
    std::string value;
  };
  const Case bad[] = {
      {"LISTENING_PORT", "0"},
      {"LISTENING_PORT", "8079x"},
      {"LISTENING_PORT", "65536"},
      {"PGHA_PG_PORT", "-1"},
      {"MASK", "129"},
      {"SUBNET", "10.0.0.0/8 trust\nhost all all 0.0.0.0"},  // a second pg_hba line
      {"SUBNET", "not-an-address"},
      {"REPLICATE_USER", "rep\"lica"},  // role names are quoted: no '"' inside
      {"REPLICATE_USER", ""},           // empty counts as unset: the default stays
      {"DB_USER", "a\tb"},
      {"DATABASE", std::string(64, 'd')},
      {"DB_PASSWD", "line\nbreak"},
      {"APPLY_DELAY", "5 fortnights"},
      {"APPLY_DELAY", "1s'\nrestore_command='sh"},
      {"PGHA_STATE_REFRESH_MS", "5"},
      {"PGHA_STATE_REFRESH_MS", "10001"},
      {"PGHA_SLOT_SYNC_INTERVAL_MS", "soon"},
      {"PGHA_SYNCHRONOUS", "maybe"},
      {"PGHA_TLS_INSECURE_SKIP_VERIFY", "yes please"},
      {"PGHA_TLS_CERT_FILE", "/nonexistent/agent.crt"},
  };
  for (const Case& c : bad) {
    const std::string& key = c.key;
    const std::string& value = c.value;
    CAPTURE(key);
    CAPTURE(value);
    Env env = With(kBase, c.key, c.value);
    if (c.value.empty()) {
      CHECK(AgentConfig::Load("", env).replicate_user == "replicate");
      continue;
    }
    bool refused = false;
    try {
      AgentConfig::Load("", env);
    } catch (const Error& e) {
      refused = true;
      // TLS files are reported by what went wrong with them; the rest is bad input.
      if (c.key.rfind("PGHA_TLS_CERT", 0) != 0) CHECK(e.code() == ErrorCode::kBadInput);
    }
    CHECK(refused);
  }
  // Any other role or database name PostgreSQL accepts is taken: it is quoted where used.
  CHECK(AgentConfig::Load("", With(kBase, "DB_USER", "rep' password 'x")).db_user ==
        "rep' password 'x");
  for (const char* on : {"on", "true", "1", "yes"})
    CHECK(AgentConfig::Load("", With(kBase, "PGHA_SYNCHRONOUS", on)).synchronous_mode);
  for (const char* off : {"off", "false", "0", "no"})
    CHECK_FALSE(AgentConfig::Load("", With(kBase, "PGHA_SYNCHRONOUS", off)).synchronous_mode);
}

TEST_CASE("Malformed configuration files name what is wrong") {
  const char* bad[] = {
      "{",                           // not JSON
      "[]",                          // not an object
      R"({"listen_port": "8079"})",  // wrong type
      R"({"nodes": {}})",            // not an array
      R"({"nodes": [{"name": "PGNODE01", "agent_url": "ftp://x", "pg_host": "h"}]})",
      R"({"nodes": [{"name": "PGNODE01", "agent_url": "http://a", "pg_host": "h"},
                    {"name": "PGNODE01", "agent_url": "http://b", "pg_host": "h"}]})",
      R"({"nodes": [{"name": "PGNODE01", "agent_url": "http://a", "pg_host": "h",
                     "pg_port": 70000}]})",
      R"({"nodes": [{"name": "PGNODE01", "agent_url": "http://a",
                     "pg_host": "h host=evil"}]})",
  };
  TempDir dir;
  for (const char* bad_text : bad) {
    std::string text = bad_text;
    CAPTURE(text);
    Write(dir.File("agent.json"), text);
    bool refused = false;
    try {
      AgentConfig::Load(dir.File("agent.json"), kBase);
    } catch (const Error& e) {
      refused = e.code() == ErrorCode::kBadInput;
    }
    CHECK(refused);
  }
}

TEST_CASE("The local node is added when the file's nodes lack it") {
  TempDir dir;
  Write(dir.File("agent.json"),
        R"({"nodes": [{"name": "x", "agent_url": "http://127.0.0.9:1", "pg_host": "h"}]})");
  AgentConfig c = AgentConfig::Load(dir.File("agent.json"), With(kBase, "LISTENING_PORT", "9"));
  CHECK(c.Local().name == "PGNODE01");
  CHECK(c.Local().agent_url == "http://127.0.0.1:9");
  REQUIRE(c.Peers().size() == 1);
  CHECK(c.Peers()[0].name == "x");
}

TEST_CASE("POST nodes/env's update is all or nothing") {
  AgentConfig c = AgentConfig::Load("", kBase);
  AgentConfig before = c;
  // A valid field next to an invalid one: neither is applied.
  CHECK_THROWS_AS(c.Update(R"({"database": "other", "subnet": "nonsense"})"), Error);
  CHECK_THROWS_AS(c.Update("not json"), Error);
  CHECK(c.ToJson() == before.ToJson());
  c.Update(R"({"database": "other", "nodes": [
      {"name": "PGNODE01", "agent_url": "http://127.0.0.1:8079", "pg_host": "127.0.0.1",
       "pg_port": 5432},
      {"name": "PGNODE02", "agent_url": "http://127.0.0.2:8079", "pg_host": "127.0.0.2",
       "pg_port": 5432}]})");
  CHECK(c.database == "other");
  CHECK(c.Peers().size() == 1);
  c.Update("");  // an empty body changes nothing
  CHECK(c.database == "other");
}

TEST_CASE("Save writes what Load reads back, readable by its owner only") {
  TempDir dir;
  Env env = kBase;
  env["LOCAL_NODE"] = "n1";
  env["REMOTE_NODE"] = "n2";
  AgentConfig c = AgentConfig::Load("", env);
  c.config_file = dir.File("agent.json");
  c.Update(R"({"synchronous_mode": true, "slot_sync_interval_ms": 0, "mask": 8,
               "subnet": "10.0.0.0", "operation_timeout_ms": 30000})");
  c.Save();
  struct stat st {};
  REQUIRE(stat(dir.File("agent.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(nlohmann::json::parse(pgha::test::ReadText(dir.File("agent.json"))).is_object());
  AgentConfig back = AgentConfig::Load(dir.File("agent.json"), kBase);
  CHECK(back.ToJson() == c.ToJson());
  CHECK(back.nodes.size() == 2);
  CHECK(back.synchronous_mode);
  CHECK(back.slot_sync_interval.count() == 0);
  CHECK(back.operation_timeout.count() == 30000);
}

TEST_CASE("POST nodes/env refuses the start-only fields, naming each, and changes nothing") {
  AgentConfig c = AgentConfig::Load("", kBase);
  const std::string before = c.ToJson();
  const char* bodies[][2] = {
      {"auth_disabled", R"({"auth_disabled": true})"},
      {"bindir", R"({"bindir": "/tmp/not-postgres/bin"})"},
      {"os_user", R"({"os_user": "root"})"},
      {"api_token", R"({"api_token": "chosen-by-the-caller"})"},
      {"api_token", R"({"api_token": ""})"},
      {"api_token_file", R"({"api_token_file": "/tmp/token"})"},
      {"listen_address", R"({"listen_address": "0.0.0.0"})"},
      {"listen_port", R"({"listen_port": 9999})"},
      {"tls_cert_file", R"({"tls_cert_file": "/etc/ssl/certs/x.pem"})"},
      {"tls_key_file", R"({"tls_key_file": "/etc/ssl/private/x.key"})"},
      {"tls_ca_file", R"({"tls_ca_file": "/etc/ssl/certs/ca.pem"})"},
      {"tls_client_ca_file", R"({"tls_client_ca_file": "/etc/ssl/certs/ca.pem"})"},
      {"tls_insecure_skip_verify", R"({"tls_insecure_skip_verify": true})"},
      {"local_node", R"({"local_node": "intruder"})"},
      {"pgdata", R"({"pgdata": "/tmp/elsewhere"})"},
      {"replicate_password_file", R"({"replicate_password_file": "/tmp/pw"})"},
      {"superuser_password_file", R"({"superuser_password_file": "/tmp/pw"})"},
      {"rewind_password_file", R"({"rewind_password_file": "/tmp/pw"})"},
      {"rewind_user", R"({"rewind_user": "someone"})"},
      {"passfile", R"({"passfile": "/tmp/elsewhere.pgpass"})"},
      {"local_trust", R"({"local_trust": true})"},
      {"replicate_password", R"({"replicate_password": "chosen-by-the-caller"})"},
      {"superuser_password", R"({"superuser_password": "chosen-by-the-caller"})"},
      // Next to an allowed field: neither is applied.
      {"auth_disabled", R"({"database": "other", "auth_disabled": true})"},
  };
  for (const auto& [field, body] : bodies) {
    CAPTURE(std::string(body));
    try {
      c.Update(body);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
      CHECK(std::string(e.what()).find(std::string("\"") + field + "\"") != std::string::npos);
    }
    CHECK(c.ToJson() == before);
  }
  // The running value is no change: a body that repeats it is accepted.
  c.Update(R"({"auth_disabled": false, "tls_ca_file": "", "listen_port": 8079,
               "bindir": "", "database": "other"})");
  CHECK(c.database == "other");
}

TEST_CASE("POST nodes/env refuses mistyped and out-of-range numbers instead of wrapping them") {
  AgentConfig c = AgentConfig::Load("", kBase);
  const std::string before = c.ToJson();
  for (const char* body : {R"({"wal_segment_size_mb": -1})", R"({"mask": 1.5})", R"({"mask": "8"})",
                           R"({"synchronous_mode": "yes"})", R"({"operation_timeout_ms": "soon"})",
                           R"({"database": 5})", R"({"nodes": [{"name": 1}]})",
                           R"({"wal_segment_size_mb": 1e20})", "[]", "\"text\""}) {
    CAPTURE(std::string(body));
    bool bad_input = false;
    try {
      c.Update(body);
    } catch (const Error& e) {
      bad_input = e.code() == ErrorCode::kBadInput;
    }
    CHECK(bad_input);
    CHECK(c.ToJson() == before);
  }
}

TEST_CASE("DB_PASSWD is never quoted in an error") {
  const std::string secret = "s3cret\nwith a line break";
  try {
    AgentConfig::Load("", With(kBase, "DB_PASSWD", secret));
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find("DB_PASSWD") != std::string::npos);
    CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
  }
  AgentConfig c = AgentConfig::Load("", kBase);
  try {
    c.Update(R"({"db_passwd": "s3cret\u0001"})");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
  }
}
