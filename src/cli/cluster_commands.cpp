#include "cluster_commands.hpp"

#include <cstdio>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "cluster_table.hpp"
#include "local_cluster.hpp"
#include "pgha/error.hpp"
#include "pgha/http_client.hpp"

namespace pgha::cli {

namespace {

using nlohmann::json;

struct Parsed {
  ClusterTarget target;
  std::string node;  // --node NAME: which agent gets the call
  std::string order = "masterSlave";
  std::string method = "promote";
  bool force = false;
  bool json = false;  // list: the JSON answer instead of a table
};

Parsed Parse(const std::vector<std::string>& args) {
  Parsed p;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw Error(ErrorCode::kBadInput, args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--url")
      p.target.url = value();
    else if (args[i] == "--token")
      p.target.token = value();
    else if (args[i] == "--ca")
      p.target.ca_file = value();
    else if (args[i] == "--cert")
      p.target.cert_file = value();
    else if (args[i] == "--key")
      p.target.key_file = value();
    else if (args[i] == "--node")
      p.node = value();
    else if (args[i] == "--order")
      p.order = value();
    else if (args[i] == "--method")
      p.method = value();
    else if (args[i] == "--force")
      p.force = true;
    else if (args[i] == "--json")
      p.json = true;
    else if (!args[i].empty() && args[i][0] != '-')
      p.target.dir = args[i];
    else
      throw Error(ErrorCode::kBadInput, "unknown option " + args[i]);
  }
  return p;
}

// The agent URLs to talk to, first the one named by --node (or the first node).
std::vector<std::pair<std::string, std::string>> Agents(Parsed* p) {
  std::vector<std::pair<std::string, std::string>> agents;
  if (!p->target.dir.empty()) {
    json c = ReadClusterFile(p->target.dir);
    if (p->target.token.empty()) p->target.token = c.value("api_token", "");
    if (p->target.ca_file.empty()) p->target.ca_file = c.value("tls_ca_file", "");
    for (const json& n : c["nodes"]) agents.emplace_back(n["name"], n["agent_url"]);
  } else if (!p->target.url.empty()) {
    agents.emplace_back("", p->target.url);
  } else {
    throw Error(ErrorCode::kBadInput, "give a pghactl local DIR or --url URL --token TOKEN");
  }
  if (p->target.token.empty()) {
    if (const char* t = std::getenv("PGHA_API_TOKEN")) p->target.token = t;
  }
  if (p->target.ca_file.empty()) {
    if (const char* ca = std::getenv("PGHA_TLS_CA_FILE")) p->target.ca_file = ca;
  }
  if (!p->node.empty()) {
    for (std::size_t i = 0; i < agents.size(); ++i) {
      if (agents[i].first == p->node) std::swap(agents[0], agents[i]);
    }
    if (agents[0].first != p->node) throw Error(ErrorCode::kNotFound, "no node " + p->node);
  }
  return agents;
}

HttpClient MakeClient(const ClusterTarget& target, std::chrono::seconds timeout) {
  HttpClientOptions o;
  o.bearer_token = target.token;
  o.timeout = timeout;
  o.tls.ca_file = target.ca_file;
  o.tls.cert_file = target.cert_file;
  o.tls.key_file = target.key_file;
  return HttpClient(o);
}

json Fetch(const HttpClient& c, HttpMethod m, const std::string& url) {
  HttpResponse r = c.Send(m, url);
  ThrowIfHttpError(r, url);
  return json::parse(r.body, nullptr, false);
}

// The master's logical slots and, per standby, whether failing over to it keeps them.
void ListSlots(const HttpClient& c, const std::string& api, std::ostream& out) {
  json view = Fetch(c, HttpMethod::kGet, api + "slots");
  if (!view.is_object() || view.value("slots", json::array()).empty()) return;
  char line[512];
  std::snprintf(line, sizeof line, "\n%-20s %-16s %-14s %-12s %-6s %s\n", "Logical slot", "Plugin",
                "Confirmed", "Copy on", "Safe", "Why not");
  out << line;
  for (const json& s : view["slots"]) {
    std::string slot = s.value("slot", "?");
    json copies = s.value("copies", json::array());
    if (copies.empty())
      copies.push_back({{"node", "-"}, {"safe", false}, {"reason", "no standby"}});
    for (const json& copy : copies) {
      std::snprintf(line, sizeof line, "%-20s %-16s %-14s %-12s %-6s %s\n", slot.c_str(),
                    s.value("plugin", "-").c_str(), s.value("confirmed_flush", "-").c_str(),
                    copy.value("node", "-").c_str(), copy.value("safe", false) ? "yes" : "no",
                    copy.value("reason", "").c_str());
      out << line;
    }
  }
}

// The agents' own view, without a store: instance/all's states and lsn/all's positions.
int ListStates(const HttpClient& c, const std::string& api, bool as_json, std::ostream& out) {
  json states = Fetch(c, HttpMethod::kGet, api + "instance/all");
  if (as_json) {
    out << states.dump(2) << "\n";
    return 0;
  }
  json lsns = Fetch(c, HttpMethod::kGet, api + "lsn/all");
  char line[256];
  std::snprintf(line, sizeof line, "%-12s %-12s %-8s %-14s %-26s\n", "Node", "State", "TL",
                "Last LSN", "WAL file");
  out << line;
  for (auto& [name, state] : states.items()) {
    json l = lsns.value(name, json::object());
    std::snprintf(line, sizeof line, "%-12s %-12s %-8s %-14s %-26s\n", name.c_str(),
                  state.get<std::string>().c_str(), l.value("timeLineID", "-").c_str(),
                  l.value("lastLsn", "-").c_str(), l.value("walFile", "-").c_str());
    out << line;
  }
  ListSlots(c, api, out);
  return 0;
}

// GET `path` of the first agent that answers (in the order of `agents`): its API base URL and
// the response, whatever its status. Throws the error of the only agent, or
// Error(kPeerUnreachable) naming each when none answers.
std::pair<std::string, HttpResponse> FirstAnswer(
    const HttpClient& c, const std::vector<std::pair<std::string, std::string>>& agents,
    const std::string& path) {
  std::string errors;
  for (const auto& agent : agents) {
    const std::string api = agent.second + "/api/pg/v1/";
    try {
      return {api, c.Get(api + path)};
    } catch (const Error& e) {
      if (agents.size() == 1) throw;
      if (e.code() != ErrorCode::kPeerUnreachable && e.code() != ErrorCode::kTimeout) throw;
      errors += (errors.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  throw Error(ErrorCode::kPeerUnreachable, "no agent answered: " + errors);
}

// From DIR's cluster.json (when the target is one): the cluster's name in the store and each
// node's PostgreSQL address.
std::string LocalNames(const ClusterTarget& target, std::map<std::string, std::string>* hosts) {
  if (target.dir.empty()) return "";
  json c = ReadClusterFile(target.dir);
  for (const json& n : c.value("nodes", json::array())) {
    (*hosts)[n.value("name", "")] =
        n.value("pg_host", "") + ":" + std::to_string(n.value("pg_port", 0));
  }
  return c.contains("etcd") ? c["etcd"].value("cluster_name", "") : "";
}

// The cluster store's view (GET cluster) as a table or JSON; without a store (404) the
// agents' states.
int List(Parsed p, std::ostream& out, std::ostream& err) {
  auto agents = Agents(&p);
  const HttpClient c = MakeClient(p.target, std::chrono::seconds(10));
  auto [api, r] = FirstAnswer(c, agents, "cluster");
  if (r.status == 404) {
    err << "pghactl: " << api << "cluster answered 404: no cluster store (none configured, "
        << "or an agent without GET cluster); the agents' own states follow\n";
    return ListStates(c, api, p.json, out);
  }
  ThrowIfHttpError(r, "GET " + api + "cluster");
  json view = json::parse(r.body, nullptr, false);
  if (!view.is_object())
    throw Error(ErrorCode::kBadInput, "GET " + api + "cluster: the answer is not a JSON object");
  if (p.json) {
    out << view.dump(2) << "\n";
    return 0;
  }
  std::map<std::string, std::string> hosts;
  std::string name = LocalNames(p.target, &hosts);
  if (auto it = view.find("cluster"); it != view.end() && it->is_string()) name = *it;
  out << RenderClusterTable(view, name, hosts);
  ListSlots(c, api, out);
  return 0;
}

int Operation(Parsed p, const std::string& path, std::ostream& out) {
  auto agents = Agents(&p);
  const HttpClient c = MakeClient(p.target, std::chrono::seconds(300));
  std::string url = agents[0].second + "/api/pg/v1/" + path + (p.force ? "?force=true" : "");
  out << Fetch(c, HttpMethod::kPost, url).dump() << "\n";
  return 0;
}

}  // namespace

int RunClusterCommand(const std::string& command, const std::vector<std::string>& args,
                      std::ostream& out, std::ostream& err) {
  try {
    Parsed p = Parse(args);
    if (command == "list") return List(p, out, err);
    if (command == "switchover") {
      if (p.order != "masterSlave" && p.order != "slaveMaster") {
        throw Error(ErrorCode::kBadInput, "--order is masterSlave or slaveMaster");
      }
      return Operation(p, "instance/switchover/" + p.order, out);
    }
    if (command == "failover") {
      if (p.method != "restart" && p.method != "promote") {
        throw Error(ErrorCode::kBadInput, "--method is restart or promote");
      }
      if (p.node.empty())
        throw Error(ErrorCode::kBadInput, "failover needs --node: the slave to promote");
      return Operation(p, "instance/failover/" + p.method, out);
    }
    err << "pghactl: unknown command " << command << "\n";
    return 2;
  } catch (const Error& e) {
    err << "pghactl: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pgha::cli
