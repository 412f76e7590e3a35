#include "scenarios.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

#include "node_json.hpp"
#include "scenario_writer.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

// One step of a seed test case: which node's agent gets which call, and the states the
// nodes must be in afterwards (node 0 is the agent running the case, node 1 its peer).
struct ScenarioStep {
  const char* no;
  int node;
  HttpMethod method;
  const char* path;
  const char* expect0;
  const char* expect1;
};

struct Scenario {
  const char* name;
  std::vector<ScenarioStep> steps;
  int failover_step = -1;  // index of the failover step whose timeline is checked
  int timeline_delta = 0;
};

constexpr HttpMethod kPost = HttpMethod::kPost;
constexpr HttpMethod kDel = HttpMethod::kDelete;

// The seed's tables; test case 04 ("Switch Over (Master->Slave)") runs switchover/masterSlave,
// where the seed's table repeated slaveMaster from test case 03.
const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> kAll = {
      {"testCase01",
       {{"01", 0, kDel, "instance/all", "inactive", "inactive"},
        {"02", 0, kPost, "instance/master", "single", "inactive"},
        {"04", 1, kPost, "instance/slave", "master", "slave"},
        {"11", 1, kDel, "instance/master", "inactive", "recovery"},
        {"12", 1, kDel, "instance/current", "inactive", "inactive"},
        {"21", 0, kPost, "instance/current", "single", "inactive"},
        {"23", 1, kPost, "instance/current", "master", "slave"},
        {"24", 0, kDel, "instance/masterSlave", "inactive", "inactive"}}},
      {"testCase02",
       {{"01", 0, kDel, "instance/slaveMaster", "inactive", "inactive"},
        {"02", 0, kPost, "instance/all/masterSlave", "master", "slave"},
        {"11", 0, kDel, "instance/slave", "single", "inactive"},
        {"13", 0, kDel, "instance/current", "inactive", "inactive"},
        {"21", 0, kPost, "instance/current", "single", "inactive"},
        {"23", 1, kPost, "instance/current", "master", "slave"},
        {"24", 0, kDel, "instance/slaveMaster", "inactive", "inactive"}}},
      {"testCase03",
       {{"01", 0, kDel, "instance/slaveMaster", "inactive", "inactive"},
        {"02", 0, kPost, "instance/all/masterSlave", "master", "slave"},
        {"11", 0, kPost, "instance/switchover/slaveMaster", "slave", "master"},
        {"21", 0, kDel, "instance/slaveMaster", "inactive", "inactive"}}},
      {"testCase04",
       {{"01", 0, kDel, "instance/slaveMaster", "inactive", "inactive"},
        {"02", 0, kPost, "instance/all/slaveMaster", "master", "slave"},
        {"11", 0, kPost, "instance/switchover/masterSlave", "slave", "master"},
        {"21", 0, kDel, "instance/slaveMaster", "inactive", "inactive"}}},
      {"testCase05",
       {{"01", 0, kDel, "instance/all", "inactive", "inactive"},
        {"02", 0, kPost, "instance/master", "single", "inactive"},
        {"04", 1, kPost, "instance/slave", "master", "slave"},
        {"11", 1, kDel, "instance/master", "inactive", "recovery"},
        {"12", 1, kPost, "instance/failover/restart", "inactive", "single"},
        {"21", 0, kPost, "instance/slave", "slave", "master"},
        {"23", 0, kDel, "instance/masterSlave", "inactive", "inactive"}},
       4,
       0},
      {"testCase06",
       {{"01", 0, kDel, "instance/all", "inactive", "inactive"},
        {"02", 0, kPost, "instance/master", "single", "inactive"},
        {"04", 1, kPost, "instance/slave", "master", "slave"},
        {"11", 1, kDel, "instance/master", "inactive", "recovery"},
        {"12", 1, kPost, "instance/failover/promote", "inactive", "single"},
        {"21", 0, kPost, "instance/slave", "slave", "master"},
        {"23", 0, kDel, "instance/masterSlave", "inactive", "inactive"}},
       4,
       1},
  };
  return kAll;
}

std::string Url(const NodeAddress& n, const char* path) {
  std::string base = n.agent_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/api/pg/v1/" + path;
}

// A step's call waits longer than its operation may take: an operation answers by its
// deadline (operation_timeout) and a few seconds, with an error when it did not finish, so
// the step reports that error rather than a call that gave up first (with the operation and
// its leases still there).
constexpr std::chrono::seconds kAnswerSlack{30};

HttpClientOptions StepClientOptions(const AgentConfig& c) {
  HttpClientOptions o;
  o.bearer_token = c.api_token;
  o.tls = c.ClientTls();
  o.timeout = c.operation_timeout + kAnswerSlack;
  return o;
}

TimelineId TimelineOf(Agent::Impl& a, const NodeAddress& n) {
  HttpResponse r = a.client->Get(Url(n, "internal/facts"));
  ThrowIfHttpError(r, "facts of " + n.name);
  return NodeFactsFromJson(ParseBody(r.body, "facts")).timeline;
}

}  // namespace

json RunScenario(Agent::Impl& a, const std::string& name) {
  const Scenario* sc = nullptr;
  for (const auto& s : Scenarios()) {
    if (name == s.name) sc = &s;
  }
  if (sc == nullptr)
    throw Error(ErrorCode::kNotFound, "no test case \"" + name + "\" (testCase01..06)");
  std::vector<NodeAddress> nodes{a.local->address()};
  auto peers = a.peers();
  if (peers.empty()) throw Error(ErrorCode::kWrongState, "the test cases need a peer node");
  nodes.push_back(peers.front()->address());

  json out = json::object();
  bool passed = true;
  TimelineId before = 0;
  // The writer runs from the first step that leaves a master until before the last step
  // (which stops everything); then every row it was told was committed must be there.
  // The nodes may be other hosts, whose pg_hba.conf asks the superuser for its password.
  const std::shared_ptr<const AgentConfig> config = a.config();
  ScenarioWriter writer(nodes, config->superuser,
                        config->PassfileText().empty() ? "" : config->PassfilePath());
  const HttpClient step_client(StepClientOptions(*config));
  bool writing = false;
  for (std::size_t i = 0; i < sc->steps.size() && passed; ++i) {
    const ScenarioStep& st = sc->steps[i];
    if (writing && i + 1 == sc->steps.size()) {
      json report = writer.Verify();
      passed = report["lost"] == 0 && report["acknowledged"] > 0;
      out["writer"] = report;
      if (!passed) break;
    }
    const NodeAddress& target = nodes[static_cast<std::size_t>(st.node)];
    if (static_cast<int>(i) == sc->failover_step) before = TimelineOf(a, nodes[1]);
    auto start = std::chrono::steady_clock::now();
    HttpResponse r = step_client.Send(st.method, Url(target, st.path));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    json step = {
        {"cmd", "curl -X " + std::string(HttpMethodName(st.method)) + " " + Url(target, st.path)},
        {"status", r.status},
        {"ms", ms}};
    json states = a.cluster()->AllStates().states;
    step["states"] = states;
    bool ok = r.ok() && states.value(nodes[0].name, "") == st.expect0 &&
              states.value(nodes[1].name, "") == st.expect1;
    if (!r.ok()) step["error"] = r.body;
    if (ok && static_cast<int>(i) == sc->failover_step) {
      TimelineId after = TimelineOf(a, nodes[1]);
      step["timeline"] = {{"before", before}, {"after", after}};
      ok = after == before + static_cast<TimelineId>(sc->timeline_delta);
    }
    step["expected"] = {{nodes[0].name, st.expect0}, {nodes[1].name, st.expect1}};
    step["pass"] = ok;
    passed = ok;
    out[st.no] = step;
    if (ok && !writing && i == 1) {
      writer.Start();
      writing = true;
    }
  }
  out["result"] = passed ? "pass" : "fail";
  return out;
}

}  // namespace pgha::agent
