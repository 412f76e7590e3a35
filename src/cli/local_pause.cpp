#include "local_pause.hpp"

#include <functional>
#include <optional>
#include <ostream>
#include <thread>

#include "pgha/error.hpp"

namespace pgha::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kCallTimeout = std::chrono::seconds(5);
constexpr auto kSettleDeadline = std::chrono::seconds(10);

std::string Api(const json& node) {
  return node.at("agent_url").get<std::string>() + "/api/pg/v1/";
}

bool Unreachable(const Error& e) {
  return e.code() == ErrorCode::kPeerUnreachable || e.code() == ErrorCode::kTimeout;
}

// `node`'s GET cluster; nullopt when the agent does not answer.
std::optional<json> View(const HttpClient& c, const json& node) {
  const std::string url = Api(node) + "cluster";
  try {
    HttpResponse r = c.Send(HttpMethod::kGet, url, {}, {}, kCallTimeout);
    ThrowIfHttpError(r, "GET " + url);
    return json::parse(r.body, nullptr, false);
  } catch (const Error& e) {
    if (Unreachable(e)) return std::nullopt;
    throw;
  }
}

// Waits until every agent's view satisfies `done` (one that does not answer is passed over
// unless `all`).
void WaitViews(const HttpClient& c, const json& cluster, bool all,
               const std::function<bool(const json&)>& done, const std::string& what) {
  const auto deadline = Clock::now() + kSettleDeadline;
  for (const json& n : cluster.at("nodes")) {
    while (true) {
      std::optional<json> view = View(c, n);
      if (view ? done(*view) : !all) break;
      if (Clock::now() > deadline) {
        throw Error(ErrorCode::kTimeout, "agent " + n.at("name").get<std::string>() +
                                             " did not show " + what + " within 10 s" +
                                             (view ? ": " + view->dump() : ": it does not answer"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

bool Paused(const json& view) {
  auto it = view.find("paused");
  return it != view.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

void PauseFailover(const HttpClient& c, const json& cluster, bool all, std::ostream& log) {
  bool sent = false;
  for (const json& n : cluster.at("nodes")) {
    const std::string url = Api(n) + "cluster/pause";
    try {
      ThrowIfHttpError(c.Send(HttpMethod::kPost, url, {}, {}, kCallTimeout), "POST " + url);
    } catch (const Error& e) {
      if (!Unreachable(e)) throw;
      if (all) throw;
      continue;
    }
    log << "  POST " << url << ": automatic failover paused\n";
    sent = true;
    break;
  }
  if (!sent) {
    log << "  (no agent answers: nothing to pause)\n";
    return;
  }
  WaitViews(c, cluster, all, Paused, "\"paused\": true");
}

void ResumeFailover(const HttpClient& c, const json& cluster, const std::string& leader,
                    std::ostream& log) {
  const std::string url = Api(cluster.at("nodes").at(0)) + "cluster/resume";
  ThrowIfHttpError(c.Send(HttpMethod::kPost, url, {}, {}, kCallTimeout), "POST " + url);
  auto resumed = [&leader](const json& view) {
    auto it = view.find("leader");
    return !Paused(view) && it != view.end() && *it == leader;
  };
  WaitViews(c, cluster, /*all=*/true, resumed, "\"paused\": false and leader " + leader);
  log << "  POST " << url << ": automatic failover resumed; " << leader
      << " holds the leader key\n";
}

}  // namespace pgha::cli
