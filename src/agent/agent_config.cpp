#include "pgha/agent_config.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "conninfo.hpp"
#include "fs.hpp"
#include "json_fields.hpp"
#include "node_json.hpp"
#include "pgha/instance.hpp"
#include "server_files.hpp"

extern char** environ;  // NOLINT: POSIX

namespace pgha {

namespace {

using nlohmann::json;

int ParseInt(const std::string& text, const std::string& what, int lo, int hi) {
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  throw Error(ErrorCode::kBadInput, what + " \"" + text + "\" is not a number from " +
                                        std::to_string(lo) + " to " + std::to_string(hi));
}

constexpr int kMinRefreshMs = 10;
constexpr int kMaxRefreshMs = 10000;

bool ParseSwitch(const std::string& text, const std::string& what) {
  for (const char* on : {"on", "true", "1", "yes"}) {
    if (text == on) return true;
  }
  for (const char* off : {"off", "false", "0", "no"}) {
    if (text == off) return false;
  }
  throw Error(ErrorCode::kBadInput, what + " \"" + text + "\" is not on or off");
}

int ParsePort(const std::string& text, const std::string& what) {
  return ParseInt(text, what, 1, 65535);
}

bool ParseBool(const std::string& text, const std::string& what) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw Error(ErrorCode::kBadInput, what + " \"" + text + "\" is not true or false");
}

// Strictly typed: a number of the wrong sign or size is refused, never wrapped.
template <typename T>
void Take(const json& j, const char* key, T* out) {
  if (j.contains(key)) *out = agent::FieldValue<T>(j.at(key), key);
}

// What POST nodes/env may not set: who may call the agent (authentication, the token, TLS,
// the address it listens on), what it runs and as whom (bindir, os_user), and which node and
// data directory it is. Each takes effect at start only; a change through the API would be
// a way to switch authentication off or run another program.
constexpr const char* kStartOnlyFields[] = {"local_node",
                                            "pgdata",
                                            "bindir",
                                            "os_user",
                                            "auth_disabled",
                                            "api_token",
                                            "api_token_file",
                                            "listen_address",
                                            "listen_port",
                                            "tls_cert_file",
                                            "tls_key_file",
                                            "tls_ca_file",
                                            "tls_client_ca_file",
                                            "tls_insecure_skip_verify",
                                            "replicate_password_file",
                                            "superuser_password_file",
                                            "rewind_user",
                                            "rewind_password_file",
                                            "passfile",
                                            "local_trust",
                                            "etcd_endpoints",
                                            "etcd_prefix",
                                            "cluster_name",
                                            "etcd_user",
                                            "etcd_password_file",
                                            "ha_ttl_s",
                                            "ha_loop_ms",
                                            "nofailover",
                                            "priority"};

// Clear passwords are never read from JSON (the configuration file is persisted by POST
// nodes/env and shown by GET nodes/env): only the environment or a file holds them.
constexpr const char* kSecretFields[][2] = {{"replicate_password", "PGHA_REPLICATE_PASSWORD"},
                                            {"superuser_password", "PGHA_SUPERUSER_PASSWORD"},
                                            {"rewind_password", "PGHA_REWIND_PASSWORD"},
                                            {"etcd_password", "PGHA_ETCD_PASSWORD"}};

// Throws Error(kBadInput) naming the first start-only field `body` sets to a value other than
// the running one (`before`, `after`: the configuration's JSON before and after the update).
// The token has no JSON field: naming it at all is refused.
void RefuseStartOnlyChanges(const json& body, const json& before, const json& after) {
  for (const char* key : kStartOnlyFields) {
    if (!body.contains(key)) continue;
    if (before.contains(key) && before.at(key) == after.at(key)) continue;
    throw Error(ErrorCode::kBadInput,
                std::string("POST nodes/env cannot set \"") + key +
                    "\": it is read at start only (who may call the agent, what it runs, which "
                    "node it is). HINT: edit the configuration file (the token: PGHA_API_TOKEN "
                    "or PGHA_API_TOKEN_FILE) and restart the agent");
  }
}

NodeAddress NodeFromJson(const json& j) {
  NodeAddress n;
  Take(j, "name", &n.name);
  Take(j, "agent_url", &n.agent_url);
  Take(j, "pg_host", &n.pg_host);
  Take(j, "pg_port", &n.pg_port);
  return n;
}

void ApplyJson(const json& j, AgentConfig* c) {
  if (!j.is_object()) throw Error(ErrorCode::kBadInput, "configuration must be a JSON object");
  for (const auto& [field, env] : kSecretFields) {
    if (j.contains(field))
      throw Error(ErrorCode::kBadInput, std::string("\"") + field +
                                            "\" is never read from JSON. HINT: name a file in \"" +
                                            field + "_file\" or set " + env + " (or " + env +
                                            "_FILE)");
  }
  Take(j, "local_node", &c->local_node);
  if (j.contains("nodes")) {
    if (!j["nodes"].is_array()) throw Error(ErrorCode::kBadInput, "\"nodes\" must be an array");
    c->nodes.clear();
    for (const json& n : j["nodes"]) c->nodes.push_back(NodeFromJson(n));
  }
  Take(j, "listen_address", &c->listen_address);
  Take(j, "listen_port", &c->listen_port);
  Take(j, "auth_disabled", &c->auth_disabled);
  Take(j, "tls_cert_file", &c->tls_cert_file);
  Take(j, "tls_key_file", &c->tls_key_file);
  Take(j, "tls_ca_file", &c->tls_ca_file);
  Take(j, "tls_client_ca_file", &c->tls_client_ca_file);
  Take(j, "tls_insecure_skip_verify", &c->tls_insecure_skip_verify);
  Take(j, "pgdata", &c->pgdata);
  Take(j, "bindir", &c->bindir);
  Take(j, "os_user", &c->os_user);
  Take(j, "superuser", &c->superuser);
  Take(j, "subnet", &c->subnet);
  Take(j, "mask", &c->mask);
  Take(j, "replicate_user", &c->replicate_user);
  Take(j, "apply_delay", &c->apply_delay);
  Take(j, "database", &c->database);
  Take(j, "db_user", &c->db_user);
  Take(j, "db_passwd", &c->db_passwd);
  Take(j, "wal_segment_size_mb", &c->wal_segment_size_mb);
  Take(j, "base_backup_method", &c->base_backup_method);
  Take(j, "base_backup_max_rate_kb", &c->base_backup_max_rate_kb);
  Take(j, "synchronous_mode", &c->synchronous_mode);
  Take(j, "replicate_password_file", &c->replicate_password_file);
  Take(j, "superuser_password_file", &c->superuser_password_file);
  Take(j, "rewind_user", &c->rewind_user);
  Take(j, "rewind_password_file", &c->rewind_password_file);
  Take(j, "passfile", &c->passfile);
  Take(j, "local_trust", &c->local_trust);
  Take(j, "etcd_endpoints", &c->etcd_endpoints);
  Take(j, "etcd_prefix", &c->etcd_prefix);
  Take(j, "cluster_name", &c->cluster_name);
  Take(j, "etcd_user", &c->etcd_user);
  Take(j, "etcd_password_file", &c->etcd_password_file);
  Take(j, "nofailover", &c->nofailover);
  Take(j, "priority", &c->priority);
  if (j.contains("ha_ttl_s")) {
    std::int64_t s = 0;
    Take(j, "ha_ttl_s", &s);
    c->ha_ttl = std::chrono::seconds(s);
  }
  if (j.contains("ha_loop_ms")) {
    std::int64_t ms = 0;
    Take(j, "ha_loop_ms", &ms);
    c->ha_loop_interval = std::chrono::milliseconds(ms);
  }
  if (j.contains("parameters")) {
    const json& params = j.at("parameters");
    if (!params.is_object())
      throw Error(ErrorCode::kBadInput, "\"parameters\" must be an object of name: value");
    c->parameters.clear();
    for (const auto& [name, value] : params.items()) {
      if (value.is_string()) {
        c->parameters[name] = value.get<std::string>();
      } else if (value.is_boolean()) {
        c->parameters[name] = value.get<bool>() ? "on" : "off";
      } else if (value.is_number()) {
        c->parameters[name] = value.dump();
      } else {
        throw Error(ErrorCode::kBadInput,
                    "parameter \"" + name + "\" must be a string, a number or a boolean");
      }
    }
  }
  if (j.contains("operation_timeout_ms")) {
    std::int64_t ms = 0;
    Take(j, "operation_timeout_ms", &ms);
    c->operation_timeout = std::chrono::milliseconds(ms);
  }
  if (j.contains("slot_sync_interval_ms")) {
    std::int64_t ms = 0;
    Take(j, "slot_sync_interval_ms", &ms);
    c->slot_sync_interval = std::chrono::milliseconds(ms);
  }
  if (j.contains("state_refresh_ms")) {
    std::int64_t ms = 0;
    Take(j, "state_refresh_ms", &ms);
    c->state_refresh_interval = std::chrono::milliseconds(ms);
  }
}

// A password (or token) file's content without its final line break. Throws
// Error(kNotFound) naming the file (never its content).
std::string ReadSecretFile(const std::string& path, const std::string& what) {
  auto text = fs::ReadFileIfExists(path);
  if (!text) throw Error(ErrorCode::kNotFound, what + " \"" + path + "\" does not exist");
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  return *text;
}

NodeAddress* FindNode(AgentConfig* c, const std::string& name) {
  for (auto& n : c->nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

// The seed's environment: node names double as host names.
void ApplyEnv(const std::map<std::string, std::string>& env, AgentConfig* c) {
  auto get = [&](const char* key) -> const std::string* {
    auto it = env.find(key);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (auto v = get("LISTENING_PORT")) c->listen_port = ParsePort(*v, "LISTENING_PORT");
  if (auto v = get("PGHA_LISTEN_ADDRESS")) c->listen_address = *v;
  if (auto v = get("LOCAL_NODE")) c->local_node = *v;
  int pg_port = 5432;
  if (auto v = get("PGHA_PG_PORT")) pg_port = ParsePort(*v, "PGHA_PG_PORT");
  if (FindNode(c, c->local_node) == nullptr) {
    // With a REMOTE_NODE the nodes are hosts of their own, reached by name (the seed's
    // containers): PostgreSQL listens on the local node's name, which the peer connects to.
    // Alone, the node lives on loopback.
    const std::string host = get("REMOTE_NODE") ? c->local_node : "127.0.0.1";
    c->nodes.insert(
        c->nodes.begin(),
        {c->local_node, "http://" + host + ":" + std::to_string(c->listen_port), host, pg_port});
  } else if (get("PGHA_PG_PORT")) {
    FindNode(c, c->local_node)->pg_port = pg_port;
  }
  if (auto v = get("REMOTE_NODE"); v && FindNode(c, *v) == nullptr) {
    c->nodes.push_back({*v, "http://" + *v + ":" + std::to_string(c->listen_port), *v, 5432});
  }
  if (auto v = get("SUBNET")) c->subnet = *v;
  if (auto v = get("MASK")) c->mask = ParseInt(*v, "MASK", 0, 128);
  if (auto v = get("REPLICATE_USER")) c->replicate_user = *v;
  if (auto v = get("PGDATA")) c->pgdata = *v;
  if (auto v = get("APPLY_DELAY")) c->apply_delay = *v;
  if (auto v = get("DATABASE")) c->database = *v;
  if (auto v = get("DB_USER")) c->db_user = *v;
  if (auto v = get("DB_PASSWD")) c->db_passwd = *v;
  if (auto v = get("PGHA_PG_BINDIR")) c->bindir = *v;
  if (auto v = get("PGHA_SLOT_SYNC_INTERVAL_MS"))
    c->slot_sync_interval =
        std::chrono::milliseconds(ParseInt(*v, "PGHA_SLOT_SYNC_INTERVAL_MS", 0, 3600000));
  if (auto v = get("PGHA_SYNCHRONOUS")) c->synchronous_mode = ParseSwitch(*v, "PGHA_SYNCHRONOUS");
  if (auto v = get("PGHA_STATE_REFRESH_MS")) {
    c->state_refresh_interval = std::chrono::milliseconds(
        ParseInt(*v, "PGHA_STATE_REFRESH_MS", kMinRefreshMs, kMaxRefreshMs));
  }
  if (auto v = get("PGHA_API_TOKEN")) c->api_token = *v;
  if (auto v = get("PGHA_API_TOKEN_FILE")) {
    auto text = fs::ReadFileIfExists(*v);
    if (!text)
      throw Error(ErrorCode::kNotFound, "PGHA_API_TOKEN_FILE \"" + *v + "\" does not exist");
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    c->api_token = *text;
  }
  if (auto v = get("PGHA_TLS_CERT_FILE")) c->tls_cert_file = *v;
  if (auto v = get("PGHA_TLS_KEY_FILE")) c->tls_key_file = *v;
  if (auto v = get("PGHA_TLS_CA_FILE")) c->tls_ca_file = *v;
  if (auto v = get("PGHA_TLS_CLIENT_CA_FILE")) c->tls_client_ca_file = *v;
  if (auto v = get("PGHA_TLS_INSECURE_SKIP_VERIFY")) {
    c->tls_insecure_skip_verify = ParseBool(*v, "PGHA_TLS_INSECURE_SKIP_VERIFY");
  }
  if (auto v = get("PGHA_REWIND_USER")) c->rewind_user = *v;
  if (auto v = get("PGHA_ETCD_ENDPOINTS")) {
    c->etcd_endpoints.clear();
    std::stringstream list(*v);
    std::string url;
    while (std::getline(list, url, ',')) {
      if (!url.empty()) c->etcd_endpoints.push_back(url);
    }
  }
  if (auto v = get("PGHA_ETCD_PREFIX")) c->etcd_prefix = *v;
  if (auto v = get("PGHA_CLUSTER_NAME")) c->cluster_name = *v;
  if (auto v = get("PGHA_ETCD_USER")) c->etcd_user = *v;
  if (auto v = get("PGHA_HA_TTL_S"))
    c->ha_ttl = std::chrono::seconds(ParseInt(*v, "PGHA_HA_TTL_S", 2, 3600));
  if (auto v = get("PGHA_HA_LOOP_MS"))
    c->ha_loop_interval = std::chrono::milliseconds(ParseInt(*v, "PGHA_HA_LOOP_MS", 50, 60000));
  if (auto v = get("PGHA_NOFAILOVER")) c->nofailover = ParseBool(*v, "PGHA_NOFAILOVER");
  if (auto v = get("PGHA_PRIORITY")) c->priority = ParseInt(*v, "PGHA_PRIORITY", -1000000, 1000000);
  if (auto v = get("PGHA_PASSFILE")) c->passfile = *v;
  if (auto v = get("PGHA_LOCAL_TRUST")) c->local_trust = ParseBool(*v, "PGHA_LOCAL_TRUST");
  struct Secret {
    const char* env;
    std::string* file;
    std::string* value;
  };
  for (const Secret& s :
       {Secret{"PGHA_REPLICATE_PASSWORD", &c->replicate_password_file, &c->replicate_password},
        Secret{"PGHA_SUPERUSER_PASSWORD", &c->superuser_password_file, &c->superuser_password},
        Secret{"PGHA_REWIND_PASSWORD", &c->rewind_password_file, &c->rewind_password},
        Secret{"PGHA_ETCD_PASSWORD", &c->etcd_password_file, &c->etcd_password}}) {
    const std::string file_var = std::string(s.env) + "_FILE";
    if (auto v = get(file_var.c_str())) *s.file = *v;
    if (auto v = get(s.env)) {
      *s.value = *v;
    } else if (!s.file->empty()) {
      *s.value = ReadSecretFile(*s.file, file_var);
    }
  }
}

}  // namespace

AgentConfig AgentConfig::FromJson(const std::string& json_text) {
  AgentConfig c;
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(ErrorCode::kBadInput, "configuration is not valid JSON");
  ApplyJson(j, &c);
  return c;
}

AgentConfig AgentConfig::Load(const std::string& file,
                              const std::map<std::string, std::string>& env) {
  AgentConfig c;
  if (!file.empty()) {
    // A misspelt path must not silently mean the defaults (another node name, /data, ...).
    auto text = fs::ReadFileIfExists(file);
    if (!text) {
      throw Error(ErrorCode::kNotFound,
                  "configuration file \"" + file +
                      "\" does not exist. HINT: create it (\"{}\" for the defaults and the "
                      "environment), or start without --config and PGHA_CONFIG");
    }
    c = FromJson(*text);
  }
  c.config_file = file;
  ApplyEnv(env, &c);
  c.Validate();
  return c;
}

std::map<std::string, std::string> AgentConfig::ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string AgentConfig::ToJson() const {
  json nodes_json = json::array();
  for (const auto& n : nodes) nodes_json.push_back(agent::ToJson(n));
  json j = {{"local_node", local_node},
            {"nodes", nodes_json},
            {"listen_address", listen_address},
            {"listen_port", listen_port},
            {"auth_disabled", auth_disabled},
            {"tls_cert_file", tls_cert_file},
            {"tls_key_file", tls_key_file},
            {"tls_ca_file", tls_ca_file},
            {"tls_client_ca_file", tls_client_ca_file},
            {"tls_insecure_skip_verify", tls_insecure_skip_verify},
            {"pgdata", pgdata},
            {"bindir", bindir},
            {"os_user", os_user},
            {"superuser", superuser},
            {"subnet", subnet},
            {"mask", mask},
            {"replicate_user", replicate_user},
            {"apply_delay", apply_delay},
            {"database", database},
            {"db_user", db_user},
            {"db_passwd", db_passwd},
            {"wal_segment_size_mb", wal_segment_size_mb},
            {"base_backup_method", base_backup_method},
            {"base_backup_max_rate_kb", base_backup_max_rate_kb},
            {"operation_timeout_ms", operation_timeout.count()},
            {"slot_sync_interval_ms", slot_sync_interval.count()},
            {"state_refresh_ms", state_refresh_interval.count()},
            {"synchronous_mode", synchronous_mode},
            {"replicate_password_file", replicate_password_file},
            {"superuser_password_file", superuser_password_file},
            {"rewind_user", rewind_user},
            {"rewind_password_file", rewind_password_file},
            {"passfile", passfile},
            {"local_trust", local_trust},
            {"parameters", parameters},
            {"etcd_endpoints", etcd_endpoints},
            {"etcd_prefix", etcd_prefix},
            {"cluster_name", cluster_name},
            {"etcd_user", etcd_user},
            {"etcd_password_file", etcd_password_file},
            {"ha_ttl_s", ha_ttl.count()},
            {"ha_loop_ms", ha_loop_interval.count()},
            {"nofailover", nofailover},
            {"priority", priority}};
  return j.dump(2) + "\n";
}

void AgentConfig::Update(const std::string& json_text) {
  json j = json::parse(json_text.empty() ? "{}" : json_text, nullptr, false);
  if (j.is_discarded()) throw Error(ErrorCode::kBadInput, "nodes/env body is not valid JSON");
  AgentConfig next = *this;
  ApplyJson(j, &next);
  RefuseStartOnlyChanges(j, json::parse(ToJson()), json::parse(next.ToJson()));
  next.Validate();
  *this = next;
}

void AgentConfig::Save() const {
  if (config_file.empty()) return;
  fs::WriteFileAtomic(config_file, ToJson(), 0600);
}

void AgentConfig::Validate() const {
  std::set<std::string> names;
  bool local_found = false;
  for (const auto& n : nodes) {
    if (n.name.empty()) throw Error(ErrorCode::kBadInput, "a node has no name");
    if (!names.insert(n.name).second) {
      throw Error(ErrorCode::kBadInput, "node name \"" + n.name + "\" appears twice");
    }
    if (n.pg_port <= 0 || n.pg_port > 65535) {
      throw Error(ErrorCode::kBadInput,
                  "node " + n.name + " has PostgreSQL port " + std::to_string(n.pg_port));
    }
    if (n.agent_url.rfind("http://", 0) != 0 && n.agent_url.rfind("https://", 0) != 0) {
      throw Error(ErrorCode::kBadInput,
                  "node " + n.name + " agent_url \"" + n.agent_url + "\" is not http(s)://");
    }
    local_found |= n.name == local_node;
  }
  if (!local_found)
    throw Error(ErrorCode::kBadInput, "local node \"" + local_node + "\" is not among the nodes");
  if (listen_port <= 0 || listen_port > 65535) {
    throw Error(ErrorCode::kBadInput,
                "listen port " + std::to_string(listen_port) + " is out of range");
  }
  if (api_token.empty() && !auth_disabled) {
    throw Error(ErrorCode::kBadInput,
                "no API token: set PGHA_API_TOKEN or PGHA_API_TOKEN_FILE. HINT: auth_disabled=true "
                "in the configuration file switches authentication off explicitly");
  }
  if (state_refresh_interval.count() < kMinRefreshMs ||
      state_refresh_interval.count() > kMaxRefreshMs) {
    throw Error(ErrorCode::kBadInput, "state_refresh_ms " +
                                          std::to_string(state_refresh_interval.count()) +
                                          " is not from " + std::to_string(kMinRefreshMs) + " to " +
                                          std::to_string(kMaxRefreshMs));
  }
  // The values that end up in pg_hba.conf, conninfo strings and postgresql.conf are checked
  // by their grammar here too, so that POST nodes/env cannot persist one that every later
  // operation would fail on.
  pg::CheckSubnet(subnet, mask);
  pg::CheckRoleName(replicate_user, "REPLICATE_USER");
  pg::CheckRoleName(db_user, "DB_USER");
  pg::CheckRoleName(superuser, "superuser");
  pg::CheckRoleName(database, "DATABASE");
  pg::CheckSecret(db_passwd, "DB_PASSWD");
  pg::CheckSecret(replicate_password, "replicate password");
  pg::CheckSecret(superuser_password, "superuser password");
  pg::CheckSecret(rewind_password, "rewind password");
  if (!rewind_user.empty()) {
    pg::CheckRoleName(rewind_user, "rewind_user");
    if (rewind_user == superuser || rewind_user == replicate_user)
      throw Error(ErrorCode::kBadInput, "rewind_user \"" + rewind_user +
                                            "\" must be a role of its own (not the superuser or "
                                            "REPLICATE_USER)");
  }
  pg::CheckPrintable(passfile, "passfile", 1000);
  pg::CheckSecret(etcd_password, "etcd password");
  for (const auto& url : etcd_endpoints) {
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      throw Error(ErrorCode::kBadInput, "etcd endpoint \"" + url + "\" is not http(s)://");
  }
  if (etcd_prefix.empty() || etcd_prefix[0] != '/' || cluster_name.empty() ||
      cluster_name.find('/') != std::string::npos)
    throw Error(ErrorCode::kBadInput,
                "etcd_prefix must start with '/' and cluster_name be a "
                "name without '/'");
  if (ha_ttl.count() < 2 || ha_ttl.count() > 3600)
    throw Error(ErrorCode::kBadInput,
                "ha_ttl_s " + std::to_string(ha_ttl.count()) + " is not from 2 to 3600");
  if (ha_loop_interval.count() < 50 || ha_loop_interval.count() > 60000 ||
      ha_loop_interval * 3 > ha_ttl)
    throw Error(ErrorCode::kBadInput, "ha_loop_ms " + std::to_string(ha_loop_interval.count()) +
                                          " is not from 50 to 60000 and under a third of ha_ttl_s");
  for (const auto& [name, value] : parameters) {
    pg::CheckGucName(name);
    pg::CheckPrintable(value, "value of parameter " + name);
    if (Instance::ManagedParameter(name))
      throw Error(ErrorCode::kBadInput, "parameter \"" + name +
                                            "\" is set by pgha itself (start options, files, "
                                            "standby and synchronous settings)");
    if (name == "wal_level" && value == "minimal")
      throw Error(ErrorCode::kBadInput,
                  "parameter wal_level = minimal leaves nothing to replicate");
  }
  if (!apply_delay.empty()) pg::CheckApplyDelay(apply_delay);
  ParseBaseBackupMethod(base_backup_method);
  if (base_backup_max_rate_kb != 0 &&
      (base_backup_max_rate_kb < 32 || base_backup_max_rate_kb > 1048576))
    throw Error(ErrorCode::kBadInput, "base_backup_max_rate_kb " +
                                          std::to_string(base_backup_max_rate_kb) +
                                          " is not from 32 to 1048576 (or 0: no limit)");
  for (const auto& n : nodes) pg::CheckHost(n.pg_host, "node " + n.name + " pg_host");
  // Certificates and keys are loaded now, so that a bad file stops the agent at startup.
  CheckServerTls(ServerTls());
  CheckClientTls(ClientTls());
}

HttpServerTls AgentConfig::ServerTls() const {
  return {tls_cert_file, tls_key_file, tls_client_ca_file};
}

HttpClientTls AgentConfig::ClientTls() const {
  return {tls_ca_file, tls_insecure_skip_verify, tls_cert_file, tls_key_file};
}

std::map<std::string, std::string> AgentConfig::DefaultParameters(int major) {
  std::map<std::string, std::string> d{{"hot_standby", "on"},
                                       {"hot_standby_feedback", "on"},
                                       {"password_encryption", "scram-sha-256"},
                                       {"wal_level", "logical"},
                                       {"wal_log_hints", "on"}};
  if (major >= 13) d["max_slot_wal_keep_size"] = "8GB";
  return d;
}

std::vector<std::pair<std::string, std::string>> AgentConfig::ServerParameters(int major) const {
  std::map<std::string, std::string> all = DefaultParameters(major);
  for (const auto& [name, value] : parameters) all[name] = value;
  return {all.begin(), all.end()};
}

std::string AgentConfig::PassfilePath() const {
  if (!passfile.empty()) return passfile;
  std::string dir = pgdata;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".pgpass";
}

std::string AgentConfig::PassfileText() const {
  return pg::RenderPassfile({{replicate_user, replicate_password},
                             {superuser, superuser_password},
                             {rewind_user, rewind_user.empty() ? "" : rewind_password}});
}

const NodeAddress& AgentConfig::Local() const {
  for (const auto& n : nodes) {
    if (n.name == local_node) return n;
  }
  throw Error(ErrorCode::kBadInput, "local node \"" + local_node + "\" is not among the nodes");
}

std::vector<NodeAddress> AgentConfig::Peers() const {
  std::vector<NodeAddress> peers;
  for (const auto& n : nodes) {
    if (n.name != local_node) peers.push_back(n);
  }
  return peers;
}

}  // namespace pgha
