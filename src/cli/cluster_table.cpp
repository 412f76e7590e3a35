#include "cluster_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace pgha::cli {

namespace {

using nlohmann::json;
using Row = std::vector<std::string>;

std::string Text(const json& member, const char* key) {
  auto it = member.find(key);
  if (it == member.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  return "";
}

bool Flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// "host:port" of an http(s) URL.
std::string Authority(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  return url.substr(start, url.find('/', start) - start);
}

std::string Host(const json& m, const std::map<std::string, std::string>& pg_hosts) {
  if (auto it = pg_hosts.find(Text(m, "name")); it != pg_hosts.end()) return it->second;
  if (!Text(m, "pg_host").empty()) return Text(m, "pg_host") + ":" + Text(m, "pg_port");
  return Authority(Text(m, "agent_url"));
}

bool OnSyncRecord(const json& view, const std::string& name) {
  auto list = view.find("synchronous_standbys");
  if (list == view.end() || !list->is_array()) return false;
  return std::any_of(list->begin(), list->end(),
                     [&name](const json& n) { return n.is_string() && n == name; });
}

std::string Role(const json& view, const json& m, const std::string& leader) {
  if (!leader.empty() && Text(m, "name") == leader) return "Leader";
  std::string role = Text(m, "role");
  if (role == "master") return "Master";
  if (role == "replica") return OnSyncRecord(view, Text(m, "name")) ? "Sync Standby" : "Replica";
  return role;
}

std::string LagMb(const json& m, bool leader) {
  if (leader) return "";
  auto it = m.find("lag_bytes");
  if (it == m.end() || !it->is_number()) return "unknown";
  return std::to_string(std::llround(it->get<double>() / (1024.0 * 1024.0)));
}

std::string Tags(const json& m) {
  std::string tags;
  if (Flag(m, "nofailover")) tags = "nofailover";
  const std::string priority = Text(m, "priority");
  if (!priority.empty() && priority != "0")
    tags += (tags.empty() ? "" : ", ") + std::string("priority=") + priority;
  return tags;
}

std::string Header(const json& view, const std::string& cluster_name, const std::string& leader) {
  std::string line = "Cluster: " + (cluster_name.empty() ? std::string("-") : cluster_name);
  if (leader.empty()) {
    line += ", no leader";
  } else {
    line += ", leader " + leader;
    auto lease = view.find("leader_lease_ms");
    if (lease != view.end() && lease->is_number()) {
      char left[64];
      std::snprintf(left, sizeof left, " (lease %.1f s left)", lease->get<double>() / 1000.0);
      line += left;
    }
  }
  if (Flag(view, "paused")) line += ", paused: no automatic failover";
  if (Flag(view, "synchronous_mode")) {
    std::string replication = Text(view, "replication");
    line += std::string(Flag(view, "synchronous_mode_strict") ? ", strict" : "") +
            " synchronous mode: " + (replication.empty() ? std::string("unknown") : replication);
  }
  return line + "\n";
}

std::string Table(const std::vector<Row>& rows) {
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const Row& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string border = "+";
  for (std::size_t w : width) border += std::string(w + 2, '-') + "+";
  border += "\n";
  std::string out = border;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out += "|";
    for (std::size_t i = 0; i < width.size(); ++i) {
      out += " " + rows[r][i] + std::string(width[i] - rows[r][i].size(), ' ') + " |";
    }
    out += "\n";
    if (r == 0) out += border;
  }
  return out + border;
}

}  // namespace

std::string RenderClusterTable(const json& view, const std::string& cluster_name,
                               const std::map<std::string, std::string>& pg_hosts) {
  const std::string leader = Text(view, "leader");
  std::vector<json> members;
  if (auto list = view.find("members"); list != view.end() && list->is_array()) {
    for (const json& m : *list) {
      if (m.is_object()) members.push_back(m);
    }
  }
  std::sort(members.begin(), members.end(),
            [](const json& a, const json& b) { return Text(a, "name") < Text(b, "name"); });
  bool tagged = false;
  for (const json& m : members) tagged |= !Tags(m).empty();
  std::vector<Row> rows = {{"Member", "Host", "Role", "State", "TL", "Lag in MB"}};
  if (tagged) rows[0].push_back("Tags");
  for (const json& m : members) {
    const std::string name = Text(m, "name");
    Row row = {name,
               Host(m, pg_hosts),
               Role(view, m, leader),
               Text(m, "state"),
               Text(m, "timeline"),
               LagMb(m, !leader.empty() && name == leader)};
    if (tagged) row.push_back(Tags(m));
    rows.push_back(row);
  }
  return Header(view, cluster_name, leader) + Table(rows);
}

}  // namespace pgha::cli
