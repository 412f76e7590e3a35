#include "scenario_writer.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "pq_session.hpp"

namespace pgha::agent {

namespace {

constexpr std::int64_t kMaxRows = 200000;  // bounds the loop whatever happens
constexpr auto kRetryPause = std::chrono::milliseconds(20);

// A session on the node that accepts writes now, if any.
std::optional<pg::PqSession> ConnectToPrimary(const std::vector<NodeAddress>& nodes,
                                              const std::string& user, const std::string& passfile,
                                              std::string* where) {
  for (const NodeAddress& n : nodes) {
    try {
      pg::ConnectParams p;
      p.host = n.pg_host;
      p.port = n.pg_port;
      p.user = user;
      p.passfile = passfile;
      p.application_name = "pgha-scenario-writer";
      p.connect_timeout = std::chrono::seconds(2);
      p.statement_timeout = std::chrono::milliseconds(5000);
      pg::PqSession s = pg::PqSession::Connect(p);
      if (s.QueryValue("SELECT pg_is_in_recovery()::text") == std::optional<std::string>("false")) {
        *where = n.name;
        return s;
      }
    } catch (const Error&) {
    }
  }
  return std::nullopt;
}

}  // namespace

ScenarioWriter::ScenarioWriter(std::vector<NodeAddress> nodes, std::string user,
                               std::string passfile)
    : nodes_(std::move(nodes)), user_(std::move(user)), passfile_(std::move(passfile)) {}

ScenarioWriter::~ScenarioWriter() {
  Stop();
}

void ScenarioWriter::Start() {
  std::string where;
  auto s = ConnectToPrimary(nodes_, user_, passfile_, &where);
  if (!s) throw Error(ErrorCode::kWrongState, "the writer found no node that accepts writes");
  s->Query("DROP TABLE IF EXISTS pgha_writer");
  s->Query("CREATE TABLE pgha_writer (id bigint PRIMARY KEY, at timestamptz DEFAULT now())");
  thread_ = std::thread([this] { Loop(); });
}

void ScenarioWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ScenarioWriter::Loop() {
  std::optional<pg::PqSession> session;
  std::string where;
  std::int64_t next = 1;
  while (!stop_ && next <= kMaxRows) {
    if (!session) {
      session = ConnectToPrimary(nodes_, user_, passfile_, &where);
      if (!session) {
        std::this_thread::sleep_for(kRetryPause);  // a pause between attempts, not a wait for state
        continue;
      }
    }
    std::int64_t id = next++;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++attempted_;
    }
    try {
      session->Query("INSERT INTO pgha_writer (id) VALUES ($1)", {std::to_string(id)});
      std::lock_guard<std::mutex> lock(mutex_);
      acked_.push_back(id);
    } catch (const Error&) {
      session.reset();  // not acknowledged: it may or may not be there, and that is allowed
    }
  }
}

nlohmann::json ScenarioWriter::Verify() {
  Stop();
  std::string where;
  auto s = ConnectToPrimary(nodes_, user_, passfile_, &where);
  if (!s)
    throw Error(ErrorCode::kWrongState, "no node accepts writes to check the writer's rows on");
  std::vector<std::int64_t> present;
  for (const pg::Row& r : s->Query("SELECT id FROM pgha_writer ORDER BY id")) {
    if (r.at(0)) present.push_back(std::stoll(*r.at(0)));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::int64_t> missing;
  for (std::int64_t id : acked_) {
    if (!std::binary_search(present.begin(), present.end(), id)) missing.push_back(id);
  }
  nlohmann::json sample = nlohmann::json::array();
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) sample.push_back(missing[i]);
  return {{"acknowledged", acked_.size()},
          {"attempted", attempted_},
          {"lost", missing.size()},
          {"checked_on", where},
          {"missing", sample}};
}

}  // namespace pgha::agent
