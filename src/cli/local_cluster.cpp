#include "local_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include "fs.hpp"
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

bool PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// `count` consecutive free ports below the kernel's ephemeral range (32768-60999).
int FindPorts(int base, int count) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    int start = base != 0 ? base : 20000 + static_cast<int>(rng() % 10000);
    bool all = start + count < 32768;
    for (int p = start; all && p < start + count; ++p) all = PortFree(p);
    if (all) return start;
    if (base != 0) {
      throw Error(ErrorCode::kConflict, "ports " + std::to_string(base) + "-" +
                                            std::to_string(base + count - 1) + " are not all free");
    }
  }
  throw Error(ErrorCode::kConflict, "no run of free loopback ports found below 32768");
}

std::string RandomToken() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char raw[24];
  if (!in.read(reinterpret_cast<char*>(raw), sizeof raw)) {
    throw Error(ErrorCode::kIo, "cannot read /dev/urandom");
  }
  static const char* kHex = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += kHex[c >> 4];
    t += kHex[c & 15];
  }
  return t;
}

// A directory the PostgreSQL account owns (when we are root) with `mode`.
void MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::kIo, "cannot create \"" + path + "\": " + std::strerror(errno));
  }
  ::chmod(path.c_str(), mode);
  if (auto user = process::RunAsIfRoot("postgres")) {
    if (::chown(path.c_str(), user->uid, user->gid) != 0) {
      throw Error(ErrorCode::kIo, "cannot chown \"" + path + "\": " + std::strerror(errno));
    }
  }
}

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

json StartAgents(const LocalUpOptions& o, const std::string& token_file, json nodes,
                 std::ostream& log) {
  std::string agent = InstallAgentBinary(o.dir);
  for (json& n : nodes) {
    std::string node_dir = o.dir + "/" + n["name"].get<std::string>();
    process::Command cmd;
    cmd.argv = {agent, "--config", n["config"].get<std::string>()};
    cmd.user = process::RunAsIfRoot("postgres");
    cmd.env = {{"PGHA_API_TOKEN_FILE", token_file}};
    // Children lose PG* variables; the test-only fault file (docs/reliability.md) is passed on.
    if (const char* fault_file = std::getenv("PGHA_FAULT_FILE"))
      cmd.env.emplace_back("PGHA_FAULT_FILE", fault_file);
    std::string log_file = node_dir + "/agent.log";
    pid_t pid = process::SpawnDetached(cmd, log_file);
    n["agent_pid"] = pid;
    n["agent_log"] = log_file;
    log << "started agent " << n["name"].get<std::string>() << " (pid " << pid << ") on "
        << n["agent_url"].get<std::string>() << "\n";
  }
  return nodes;
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
  if (o.dir.empty() || o.dir[0] != '/')
    throw Error(ErrorCode::kBadInput, "DIR must be an absolute path");
  if (fs::Exists(o.dir + "/cluster.json")) {
    throw Error(ErrorCode::kWrongState,
                o.dir + " already holds a cluster. HINT: pghactl local down " + o.dir);
  }
  MakeDir(o.dir, 0755);
  int base = FindPorts(o.port_base, 2 * o.nodes);
  std::string token = RandomToken();
  std::string token_file = o.dir + "/token";
  fs::WriteFileAtomic(token_file, token + "\n", 0600);

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
    nodes.push_back({{"name", n.name},
                     {"agent_url", n.agent_url},
                     {"pg_host", n.pg_host},
                     {"pg_port", n.pg_port},
                     {"data_dir", c.pgdata},
                     {"config", c.config_file}});
  }
  json cluster = {
      {"dir", o.dir}, {"api_token", token}, {"token_file", token_file}, {"nodes", nodes}};
  if (o.tls) cluster["tls_ca_file"] = ca_file;
  fs::WriteFileAtomic(o.dir + "/cluster.json", cluster.dump(2) + "\n", 0600);
  try {
    cluster["nodes"] = StartAgents(o, token_file, nodes, log);
    fs::WriteFileAtomic(o.dir + "/cluster.json", cluster.dump(2) + "\n", 0600);
    HttpClient c = MakeClient(token, ca_file);
    for (const json& n : cluster["nodes"]) {
      WaitHealthy(c, n, n["agent_pid"].get<pid_t>(), n["agent_log"].get<std::string>());
    }
    log << "setup through the agents' routes:\n";
    std::string api0 = cluster["nodes"][0]["agent_url"].get<std::string>() + "/api/pg/v1/";
    for (const json& n : cluster["nodes"]) {
      Call(c, HttpMethod::kPost, n["agent_url"].get<std::string>() + "/api/pg/v1/nodes/env", log);
    }
    Call(c, HttpMethod::kPost, api0 + "pg/init/" + o.database, log);
    for (std::size_t i = 1; i < cluster["nodes"].size(); ++i) {
      Call(c, HttpMethod::kPost,
           cluster["nodes"][i]["agent_url"].get<std::string>() + "/api/pg/v1/pg/sync/" + o.database,
           log);
    }
    cluster["states"] = Call(c, HttpMethod::kPost, api0 + "instance/all", log);
  } catch (...) {
    LocalDown(o.dir, log);
    throw;
  }
  fs::WriteFileAtomic(o.dir + "/cluster.json", cluster.dump(2) + "\n", 0600);
  return cluster;
}

void LocalDown(const std::string& dir, std::ostream& log) {
  json cluster = ReadClusterFile(dir);
  HttpClient c = MakeClient(cluster.value("api_token", ""), cluster.value("tls_ca_file", ""));
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
    if (n.contains("agent_pid")) {
      auto pid = n["agent_pid"].get<pid_t>();
      if (process::ProcessAlive(pid)) {
        ::kill(pid, SIGTERM);
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (process::ProcessAlive(pid) && Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (process::ProcessAlive(pid)) ::kill(pid, SIGKILL);
        log << "stopped agent " << n["name"].get<std::string>() << "\n";
      }
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
}

}  // namespace pgha::cli
