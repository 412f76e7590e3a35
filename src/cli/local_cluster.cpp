#include "local_cluster.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "fs.hpp"
#include "local_etcd.hpp"
#include "local_pause.hpp"
#include "local_process.hpp"
#include "pgha/agent_config.hpp"
#include "pgha/error.hpp"
#include "pgha/http_client.hpp"
#include "pgha/instance.hpp"
#include "process.hpp"
#include "tls_certificates.hpp"

namespace pgha::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kStartDeadline = std::chrono::seconds(30);

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw Error(ErrorCode::kIo, "cannot find this program's directory");
  buf[n] = '\0';
  return fs::DirName(buf);
}

// The agent binary, copied where the PostgreSQL account can run it (the build directory may
// be in a home it cannot enter).
std::string InstallAgentBinary(const std::string& dir) {
  std::string src = SelfDir() + "/pgha-agent";
  auto bytes = fs::ReadFileIfExists(src);
  if (!bytes)
    throw Error(ErrorCode::kNotFound, "pgha-agent not found next to pghactl (" + src + ")");
  MakeDir(dir + "/bin", 0755);
  std::string dst = dir + "/bin/pgha-agent";
  fs::WriteFileAtomic(dst, *bytes, 0755);
  return dst;
}

HttpClient MakeClient(const std::string& token, const std::string& ca_file) {
  HttpClientOptions o;
  o.bearer_token = token;
  o.timeout = std::chrono::seconds(180);
  o.tls.ca_file = ca_file;
  return HttpClient(o);
}

// Writes DIR/ca.crt, made for this cluster; returns its certificate and key (the key stays
// in memory: nothing can sign more certificates for this cluster once `local up` ends).
net::PemCertificate MakeClusterCa(const std::string& dir) {
  net::CertificateSpec spec;
  spec.common_name = "pgha local cluster CA (" + dir + ")";
  spec.ca = true;
  net::PemCertificate ca = net::MakeCertificate(spec);
  fs::WriteFileAtomic(dir + "/ca.crt", ca.certificate, 0644);
  return ca;
}

// The agent's certificate for loopback, in its node directory (owned by the account the
// agent runs as; the key readable by that account only).
void MakeAgentCertificate(const net::PemCertificate& ca, const std::string& node_dir,
                          AgentConfig& c) {
  net::CertificateSpec spec;
  spec.common_name = c.local_node;
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"127.0.0.1"};
  const net::PemCertificate cert = net::MakeCertificate(spec, &ca);
  c.tls_cert_file = node_dir + "/agent.crt";
  c.tls_key_file = node_dir + "/agent.key";
  fs::WriteFileAtomic(c.tls_cert_file, cert.certificate, 0644);
  fs::WriteFileAtomic(c.tls_key_file, cert.private_key, 0600);
}

json Call(const HttpClient& c, HttpMethod m, const std::string& url, std::ostream& log) {
  log << "  " << HttpMethodName(m) << " " << url << "\n";
  HttpResponse r = c.Send(m, url);
  ThrowIfHttpError(r, std::string(HttpMethodName(m)) + " " + url);
  log << "    -> " << r.body << "\n";
  return json::parse(r.body, nullptr, false);
}

void WaitHealthy(const HttpClient& c, const json& node, pid_t pid, const std::string& log_file) {
  auto deadline = Clock::now() + kStartDeadline;
  std::string url = node["agent_url"].get<std::string>() + "/api/pg/v1/health";
  while (true) {
    try {
      if (c.Get(url).ok()) return;
    } catch (const Error&) {
    }
    if (!process::ProcessAlive(pid) || Clock::now() > deadline) {
      std::string tail = process::TailLines(fs::ReadFileIfExists(log_file).value_or(""), 10);
      throw Error(ErrorCode::kTimeout, "agent " + node["name"].get<std::string>() +
                                           " did not come up: " + process::OneLine(tail));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The agent's command line and environment, kept in cluster.json for `local start`.
void SetAgentCommand(json& node, const std::string& agent, const std::string& token_file) {
  node["agent_argv"] = {agent, "--config", node["config"]};
  json env = {{"PGHA_API_TOKEN_FILE", token_file}};
  // Children lose PG* variables; the test-only fault file (docs/reliability.md) is passed on.
  if (const char* fault_file = std::getenv("PGHA_FAULT_FILE")) env["PGHA_FAULT_FILE"] = fault_file;
  node["agent_env"] = env;
}

// The program of `node`'s agent ("" for a cluster.json of an older pghactl: then only the
// pid is checked).
std::string AgentProgram(const json& node) {
  const json argv = node.value("agent_argv", json::array());
  return argv.empty() ? "" : argv[0].get<std::string>();
}

void StartAgent(json& node, std::ostream& log) {
  const std::string log_file = fs::DirName(node["config"].get<std::string>()) + "/agent.log";
  const pid_t pid = Spawn({{"argv", node["agent_argv"]}, {"env", node["agent_env"]}}, log_file);
  node["agent_pid"] = pid;
  node["agent_log"] = log_file;
  log << "started agent " << node["name"].get<std::string>() << " (pid " << pid << ") on "
      << node["agent_url"].get<std::string>() << "\n";
}

void WriteClusterFile(const std::string& dir, const json& cluster) {
  fs::WriteFileAtomic(dir + "/cluster.json", cluster.dump(2) + "\n", 0600);
}

// The agents' cluster-store fields (AgentConfig's etcd_*, cluster_name, ha_*), added to the
// configuration AgentConfig::Save wrote. A lease of 3 s and a loop of 250 ms, against 5 s and
// 500 ms by default: fast failovers, for the tests on one machine's loopback.
void AddStoreFields(const std::string& config_file, const json& etcd, const LocalUpOptions& o) {
  json j = json::parse(fs::ReadFileIfExists(config_file).value_or("{}"), nullptr, false);
  j["etcd_endpoints"] = etcd["endpoints"];
  j["etcd_prefix"] = etcd["prefix"];
  j["cluster_name"] = etcd["cluster_name"];
  j["ha_ttl_s"] = o.ha_ttl_s;
  j["ha_loop_ms"] = o.ha_loop_ms;
  fs::WriteFileAtomic(config_file, j.dump(2) + "\n", 0600);
}

// Starts the etcd members of `cluster` (recording each pid at once, so that a failure can
// stop those started) and waits for them to have a leader.
void StartEtcd(json& cluster, std::ostream& log) {
  for (json& m : cluster["etcd"]["members"]) {
    StartEtcdMember(m, log);
    WriteClusterFile(cluster["dir"].get<std::string>(), cluster);
  }
  WaitEtcdReady(cluster["etcd"], kStartDeadline);
  log << "etcd has a leader: " << cluster["etcd"]["endpoints"].dump() << "\n";
}

// The seed's setup procedure through the agents' routes; returns instance/all's states. With
// a store it runs paused (the routes are refused otherwise), and ends once the master holds
// the leader key with automatic failover resumed.
json SetUp(const json& cluster, const std::string& database, std::ostream& log) {
  HttpClient c =
      MakeClient(cluster["api_token"].get<std::string>(), cluster.value("tls_ca_file", ""));
  for (const json& n : cluster["nodes"]) {
    WaitHealthy(c, n, n["agent_pid"].get<pid_t>(), n["agent_log"].get<std::string>());
  }
  log << "setup through the agents' routes:\n";
  const bool store = cluster.contains("etcd");
  if (store) PauseFailover(c, cluster, /*all=*/true, log);
  std::string api0 = cluster["nodes"][0]["agent_url"].get<std::string>() + "/api/pg/v1/";
  for (const json& n : cluster["nodes"]) {
    Call(c, HttpMethod::kPost, n["agent_url"].get<std::string>() + "/api/pg/v1/nodes/env", log);
  }
  Call(c, HttpMethod::kPost, api0 + "pg/init/" + database, log);
  for (std::size_t i = 1; i < cluster["nodes"].size(); ++i) {
    Call(c, HttpMethod::kPost,
         cluster["nodes"][i]["agent_url"].get<std::string>() + "/api/pg/v1/pg/sync/" + database,
         log);
  }
  json states = Call(c, HttpMethod::kPost, api0 + "instance/all", log);
  if (store) ResumeFailover(c, cluster, cluster["nodes"][0]["name"].get<std::string>(), log);
  return states;
}

// Writes every node's agent configuration; returns cluster.json's "nodes".
json WriteAgentConfigs(const LocalUpOptions& o, const AgentConfig& shared, const std::string& token,
                       const std::optional<net::PemCertificate>& ca, const json& etcd) {
  json nodes = json::array();
  for (const NodeAddress& n : shared.nodes) {
    std::string node_dir = o.dir + "/" + n.name;
    MakeDir(node_dir, 0700);
    AgentConfig c = shared;
    c.local_node = n.name;
    c.listen_port = std::stoi(n.agent_url.substr(n.agent_url.rfind(':') + 1));
    c.pgdata = node_dir + "/data";
    c.bindir = o.bindir;
    c.database = o.database;
    c.synchronous_mode = o.synchronous;
    c.local_trust = true;  // every node on this machine's loopback, as the seed's sample
    c.wal_segment_size_mb = o.wal_segment_size_mb;
    c.config_file = node_dir + "/agent.json";
    c.api_token = token;
    if (ca) MakeAgentCertificate(*ca, node_dir, c);
    c.Save();
    if (!etcd.is_null()) AddStoreFields(c.config_file, etcd, o);
    json node = {{"name", n.name},       {"agent_url", n.agent_url}, {"pg_host", n.pg_host},
                 {"pg_port", n.pg_port}, {"data_dir", c.pgdata},     {"config", c.config_file}};
    SetAgentCommand(node, o.dir + "/bin/pgha-agent", o.dir + "/token");
    nodes.push_back(node);
  }
  return nodes;
}

// An exclusive lock on DIR/cluster.lock for as long as it lives, so that two `local start`s
// do not each rewrite cluster.json from what they read before the other wrote.
class ClusterLock {
 public:
  explicit ClusterLock(const std::string& dir)
      : fd_(::open((dir + "/cluster.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0)
      throw Error(ErrorCode::kIo, "cannot lock " + dir + "/cluster.lock: " + std::strerror(errno));
  }
  ~ClusterLock() { ::close(fd_); }
  ClusterLock(const ClusterLock&) = delete;
  ClusterLock& operator=(const ClusterLock&) = delete;

 private:
  int fd_;
};

// `local start` of an agent that does not run.
void StartAgainAgent(json& cluster, json& node, std::ostream& log) {
  const std::string name = node["name"];
  if (!node.contains("agent_argv"))  // a cluster.json of an older pghactl
    SetAgentCommand(node, cluster["dir"].get<std::string>() + "/bin/pgha-agent",
                    cluster.value("token_file", cluster["dir"].get<std::string>() + "/token"));
  const pid_t old = node.value("agent_pid", 0);
  if (Runs(old, AgentProgram(node)))
    throw Error(ErrorCode::kWrongState,
                "agent " + name + " runs already (pid " + std::to_string(old) + ")");
  StartAgent(node, log);
  WriteClusterFile(cluster["dir"].get<std::string>(), cluster);
  const pid_t pid = node["agent_pid"];
  try {
    HttpClient c =
        MakeClient(cluster["api_token"].get<std::string>(), cluster.value("tls_ca_file", ""));
    WaitHealthy(c, node, pid, node["agent_log"].get<std::string>());
  } catch (...) {
    if (Terminate(pid, AgentProgram(node)))
      AwaitExit(pid, AgentProgram(node), Clock::now() + std::chrono::seconds(5));
    throw;
  }
  log << "agent " << name << " answers on " << node["agent_url"].get<std::string>() << "\n";
}

// `local start` of an etcd member that does not run.
void StartAgainEtcdMember(json& cluster, json& member, std::ostream& log) {
  const std::string name = member["name"];
  if (EtcdMemberRunning(member))
    throw Error(ErrorCode::kWrongState, "etcd member " + name + " runs already (pid " +
                                            std::to_string(member.value("pid", 0)) + ")");
  StartEtcdMember(member, log);
  WriteClusterFile(cluster["dir"].get<std::string>(), cluster);
  try {
    if (WaitEtcdMemberUp(cluster["etcd"], member, kStartDeadline)) {
      log << "etcd member " << name << " is healthy: it sees a leader\n";
    } else {
      log << "etcd member " << name << " is up; no majority of the members runs yet, so it has "
          << "no leader. HINT: start the others\n";
    }
  } catch (...) {
    const pid_t pid = member["pid"].get<pid_t>();
    const std::string program = member["argv"][0].get<std::string>();
    if (Terminate(pid, program)) AwaitExit(pid, program, Clock::now() + std::chrono::seconds(5));
    throw;
  }
}

// The names `local start` knows in `cluster`, for an error message.
std::string KnownNames(const json& cluster) {
  std::string names;
  for (const json& n : cluster["nodes"])
    names += (names.empty() ? "" : ", ") + n["name"].get<std::string>();
  if (cluster.contains("etcd")) {
    for (const json& m : cluster["etcd"]["members"]) names += ", " + m["name"].get<std::string>();
  }
  return names;
}

}  // namespace

json ReadClusterFile(const std::string& dir) {
  auto text = fs::ReadFileIfExists(dir + "/cluster.json");
  if (!text)
    throw Error(ErrorCode::kNotFound, "no cluster in \"" + dir + "\" (cluster.json missing)");
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) throw Error(ErrorCode::kBadInput, dir + "/cluster.json is not JSON");
  return j;
}

json LocalUp(const LocalUpOptions& o, std::ostream& log) {
  if (o.nodes < 1 || o.nodes > 9) throw Error(ErrorCode::kBadInput, "--nodes must be 1 to 9");
  if (o.etcd_members < 0 || o.etcd_members > 5)
    throw Error(ErrorCode::kBadInput, "--etcd-members must be 1 to 5");
  if (o.dir.empty() || o.dir[0] != '/')
    throw Error(ErrorCode::kBadInput, "DIR must be an absolute path");
  if (fs::Exists(o.dir + "/cluster.json")) {
    throw Error(ErrorCode::kWrongState,
                o.dir + " already holds a cluster. HINT: pghactl local down " + o.dir);
  }
  MakeDir(o.dir, 0755);
  // Agents, then PostgreSQL servers, then each etcd member's client and peer port.
  int base = FindPorts(o.port_base, 2 * o.nodes + 2 * o.etcd_members);
  std::string token = RandomToken();
  std::string token_file = o.dir + "/token";
  fs::WriteFileAtomic(token_file, token + "\n", 0600);
  json etcd;  // null: no store
  if (o.etcd_members > 0) etcd = PlanEtcd(o.dir, o.etcd_members, base + 2 * o.nodes);

  std::optional<net::PemCertificate> ca;
  if (o.tls) ca = MakeClusterCa(o.dir);
  const std::string ca_file = o.tls ? o.dir + "/ca.crt" : "";
  const std::string scheme = o.tls ? "https" : "http";
  AgentConfig shared;
  shared.tls_ca_file = ca_file;
  for (int i = 0; i < o.nodes; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "pg-node%02d", i + 1);
    shared.nodes.push_back({name, scheme + "://127.0.0.1:" + std::to_string(base + i), "127.0.0.1",
                            base + o.nodes + i});
  }
  json cluster = {{"dir", o.dir},
                  {"api_token", token},
                  {"token_file", token_file},
                  {"nodes", WriteAgentConfigs(o, shared, token, ca, etcd)}};
  if (o.tls) cluster["tls_ca_file"] = ca_file;
  if (!etcd.is_null()) cluster["etcd"] = etcd;
  WriteClusterFile(o.dir, cluster);
  try {
    if (!etcd.is_null()) StartEtcd(cluster, log);  // the store first: the agents need it
    InstallAgentBinary(o.dir);
    for (json& n : cluster["nodes"]) StartAgent(n, log);
    WriteClusterFile(o.dir, cluster);
    cluster["states"] = SetUp(cluster, o.database, log);
  } catch (...) {
    try {
      WriteClusterFile(o.dir, cluster);  // every pid started, for LocalDown
    } catch (const Error&) {
    }
    LocalDown(o.dir, log);
    throw;
  }
  WriteClusterFile(o.dir, cluster);
  return cluster;
}

void LocalStart(const std::string& dir, const std::string& name, std::ostream& log) {
  ClusterLock lock(dir);
  json cluster = ReadClusterFile(dir);
  for (json& n : cluster["nodes"]) {
    if (n["name"] != name) continue;
    StartAgainAgent(cluster, n, log);
    return;
  }
  if (cluster.contains("etcd")) {
    for (json& m : cluster["etcd"]["members"]) {
      if (m["name"] != name) continue;
      StartAgainEtcdMember(cluster, m, log);
      return;
    }
  }
  throw Error(ErrorCode::kNotFound, "no agent or etcd member named \"" + name + "\" in " + dir +
                                        " (there are: " + KnownNames(cluster) + ")");
}

void LocalDown(const std::string& dir, std::ostream& log) {
  json cluster = ReadClusterFile(dir);
  HttpClient c = MakeClient(cluster.value("api_token", ""), cluster.value("tls_ca_file", ""));
  if (cluster.contains("etcd")) {
    // The HA loops would refuse DELETE instance/all, and could restart or promote a server
    // while the agents stop. The pause stays in the store (POST cluster/resume ends it).
    try {
      PauseFailover(c, cluster, /*all=*/false, log);
    } catch (const Error& e) {
      log << "  (" << e.what() << ")\n";
    }
  }
  for (const json& n : cluster["nodes"]) {  // stop PostgreSQL in order through one agent
    try {
      Call(c, HttpMethod::kDelete, n["agent_url"].get<std::string>() + "/api/pg/v1/instance/all",
           log);
      break;
    } catch (const Error& e) {
      log << "  (" << e.what() << ")\n";
    }
  }
  for (const json& n : cluster["nodes"]) {
    const pid_t pid = n.value("agent_pid", 0);
    if (Terminate(pid, AgentProgram(n))) {
      AwaitExit(pid, AgentProgram(n), Clock::now() + std::chrono::seconds(10));
      log << "stopped agent " << n["name"].get<std::string>() << "\n";
    }
    InstanceOptions io;
    io.data_dir = n["data_dir"].get<std::string>();
    io.port = n["pg_port"].get<int>();
    if (fs::Exists(io.data_dir + "/postmaster.pid")) {
      Instance inst(io);
      if (inst.IsRunning()) {
        inst.Stop(StopMode::kImmediate);
        log << "stopped PostgreSQL of " << n["name"].get<std::string>() << " (immediate)\n";
      }
    }
  }
  // The store last: agents that still ran until now kept their keys in it.
  if (cluster.contains("etcd")) StopEtcd(cluster["etcd"], log);
}

}  // namespace pgha::cli
