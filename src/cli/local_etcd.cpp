#include "local_etcd.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ostream>
#include <sstream>
#include <thread>

#include "fs.hpp"
#include "local_process.hpp"
#include "pgha/error.hpp"
#include "pgha/http_client.hpp"
#include "process.hpp"

namespace pgha::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The etcd program: the first in PATH (Debian's etcd-server installs /usr/bin/etcd).
std::string FindEtcd() {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  std::istringstream dirs(path + ":/usr/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty() || dir[0] != '/') continue;
    std::string candidate = dir + "/etcd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw Error(ErrorCode::kNotFound,
              "no etcd program in PATH. HINT: scripts/install-deps.sh installs etcd-server");
}

HttpClient MakeEtcdClient() {
  HttpClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.timeout = std::chrono::milliseconds(1500);
  return HttpClient(o);
}

std::string Name(const json& member) {
  return member.at("name").get<std::string>();
}

// The program `member` runs (argv[0]; "" for a record without its command line).
std::string Program(const json& member) {
  const json argv = member.value("argv", json::array());
  return argv.empty() ? "" : argv[0].get<std::string>();
}

// What one member says of itself.
struct Probe {
  bool answered = false;  // its client URL answered GET /health (whatever it said)
  std::string leader;     // the leader's member id (etcd's decimal text), "" when none
  std::string why;        // why it is not a healthy member that sees a leader; "" when it is
};

Probe ProbeMember(const HttpClient& c, const json& member) {
  const std::string url = member.at("client_url").get<std::string>();
  Probe p;
  try {
    HttpResponse h = c.Get(url + "/health");
    p.answered = true;
    json health = json::parse(h.body, nullptr, false);
    if (!h.ok() || !health.is_object() || health.value("health", "") != "true") {
      p.why = "GET /health answered " + std::to_string(h.status) + " " + process::OneLine(h.body);
      return p;
    }
    HttpResponse s = c.Post(url + "/v3/maintenance/status", "{}");
    json status = json::parse(s.body, nullptr, false);
    if (s.ok() && status.is_object() && status.value("leader", "0") != "0") {
      p.leader = status.value("leader", "0");
    } else {
      p.why = "no leader in maintenance/status: " + process::OneLine(s.body);
    }
  } catch (const Error& e) {
    p.why = e.what();
  }
  return p;
}

// Throws Error(kTimeout) for `member` that has exited (with its log's tail) or, once the
// deadline has passed, that is still not ready for `why`.
void ThrowUnlessWaiting(const json& member, const std::string& why, Clock::time_point deadline) {
  // Alive, not Runs: a member just spawned may not have exec'd etcd yet.
  const pid_t pid = member.value("pid", 0);
  const bool alive = pid > 0 && process::ProcessAlive(pid);
  if (alive && Clock::now() < deadline) return;
  std::string detail = why;
  if (!alive) {
    std::string log = fs::ReadFileIfExists(member.at("log").get<std::string>()).value_or("");
    detail = "it exited: " + process::OneLine(process::TailLines(log, 5));
  }
  throw Error(ErrorCode::kTimeout, "etcd member " + Name(member) + " is not ready (" + detail +
                                       "). HINT: its log is " + member.value("log", "?"));
}

}  // namespace

json PlanEtcd(const std::string& dir, int members, int first_port) {
  if (members < 1 || members > 5)
    throw Error(ErrorCode::kBadInput,
                "--etcd-members " + std::to_string(members) + " is not from 1 to 5");
  const std::string etcd = FindEtcd();
  const std::string etcd_dir = dir + "/etcd";
  MakeDir(etcd_dir, 0755);
  json list = json::array();
  json endpoints = json::array();
  std::string initial_cluster;
  for (int i = 0; i < members; ++i) {
    const std::string name = "etcd" + std::to_string(i + 1);
    const std::string client = "http://127.0.0.1:" + std::to_string(first_port + 2 * i);
    const std::string peer = "http://127.0.0.1:" + std::to_string(first_port + 2 * i + 1);
    list.push_back({{"name", name},
                    {"client_url", client},
                    {"peer_url", peer},
                    {"data_dir", etcd_dir + "/" + name},
                    {"log", etcd_dir + "/" + name + ".log"},
                    {"pid", 0}});
    endpoints.push_back(client);
    initial_cluster += (i == 0 ? "" : ",") + name + "=" + peer;
  }
  // A token of this cluster's own: a member of another local cluster that reached one of
  // these ports could not join it.
  const std::string token = "pgha-local-" + RandomToken().substr(0, 16);
  for (json& m : list) {
    // An option and its value on each line.
    // clang-format off
    m["argv"] = {etcd,
                 "--name", Name(m),
                 "--data-dir", m["data_dir"],
                 "--listen-client-urls", m["client_url"],
                 "--advertise-client-urls", m["client_url"],
                 "--listen-peer-urls", m["peer_url"],
                 "--initial-advertise-peer-urls", m["peer_url"],
                 "--initial-cluster", initial_cluster,
                 // Read at the first start only: a restart of a member with data ignores them.
                 "--initial-cluster-state", "new",
                 "--initial-cluster-token", token,
                 // A new etcd leader within about 0.5-1 s of losing one (1-2 s by default),
                 // well inside the agents' short lease (ha_ttl_s 3: the master fences itself
                 // when a renewal has not been confirmed for 2.25 s). Loopback's round trip
                 // is far below the 50 ms heartbeat.
                 "--heartbeat-interval", "50", "--election-timeout", "500",
                 "--logger", "zap", "--log-outputs", "stderr",
                 // The HA loops write member keys often; keep etcd's history bounded.
                 "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h"};
    // clang-format on
  }
  return {{"endpoints", endpoints},
          {"prefix", kLocalEtcdPrefix},
          {"cluster_name", kLocalClusterName},
          {"initial_cluster_token", token},
          {"members", list}};
}

void StartEtcdMember(json& member, std::ostream& log) {
  MakeDir(member.at("data_dir").get<std::string>(), 0700);
  const pid_t pid = Spawn({{"argv", member.at("argv")}}, member.at("log").get<std::string>());
  member["pid"] = pid;
  log << "started etcd member " << Name(member) << " (pid " << pid << ") on "
      << member.at("client_url").get<std::string>() << "\n";
}

void WaitEtcdReady(const json& etcd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const HttpClient c = MakeEtcdClient();
  while (true) {
    std::string first_leader;
    bool ready = true;
    for (const json& m : etcd.at("members")) {
      Probe p = ProbeMember(c, m);
      if (p.why.empty() && !first_leader.empty() && p.leader != first_leader)
        p.why = "sees leader " + p.leader + ", another member " + first_leader;
      if (first_leader.empty()) first_leader = p.leader;
      if (p.why.empty()) continue;
      ThrowUnlessWaiting(m, p.why, deadline);
      ready = false;
      break;
    }
    if (ready) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool WaitEtcdMemberUp(const json& etcd, const json& member, std::chrono::milliseconds timeout) {
  std::size_t running = 0;
  for (const json& m : etcd.at("members"))
    running += Name(m) == Name(member) || EtcdMemberRunning(m);
  const bool quorum = 2 * running > etcd.at("members").size();
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  const HttpClient c = MakeEtcdClient();
  while (true) {
    Probe p = ProbeMember(c, member);
    if (p.why.empty()) return true;
    // Up, waiting for its peers: without a majority etcd 3.4's /health may not answer at
    // all, so a member that still runs after a few seconds counts as up.
    const pid_t pid = member.value("pid", 0);
    if (!quorum && (p.answered || (Clock::now() - start > std::chrono::seconds(3) && pid > 0 &&
                                   process::ProcessAlive(pid))))
      return false;
    ThrowUnlessWaiting(member, p.why, deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool EtcdMemberRunning(const json& member) {
  return Runs(member.value("pid", 0), Program(member));
}

void StopEtcd(const json& etcd, std::ostream& log) {
  if (!etcd.contains("members")) return;
  // One at a time: a leader stopping hands its leadership to a member that still runs, at
  // once; stopped together, it waits seconds for a transferee that is exiting too.
  for (const json& m : etcd["members"]) {
    if (!Terminate(m.value("pid", 0), Program(m))) continue;
    AwaitExit(m.value("pid", 0), Program(m), Clock::now() + std::chrono::seconds(10));
    log << "stopped etcd member " << Name(m) << "\n";
  }
}

}  // namespace pgha::cli
