#include "pgha/store_cluster.hpp"

#include <nlohmann/json.hpp>

#include "pgha/error.hpp"

namespace pgha {

namespace {

using json = nlohmann::json;

constexpr std::string_view kLeader = "leader";
constexpr std::string_view kMembers = "members/";
constexpr std::string_view kOperation = "operation";
constexpr std::string_view kSync = "sync";
constexpr std::string_view kConfig = "config";

ClusterSettings SettingsFrom(const json& j) {
  ClusterSettings s;
  if (!j.is_object()) return s;
  if (auto it = j.find("pause"); it != j.end() && it->is_boolean()) s.pause = it->get<bool>();
  if (auto it = j.find("synchronous_mode"); it != j.end() && it->is_boolean())
    s.synchronous_mode = it->get<bool>();
  if (auto it = j.find("synchronous_mode_strict"); it != j.end() && it->is_boolean())
    s.synchronous_mode_strict = it->get<bool>();
  return s;
}

}  // namespace

std::string MemberStatusToJson(const MemberStatus& s) {
  return json{{"name", s.name},
              {"role", s.role},
              {"state", s.state},
              {"timeline", s.timeline},
              {"received", s.received.ToString()},
              {"replayed", s.replayed.ToString()},
              {"agent_url", s.agent_url},
              {"nofailover", s.nofailover},
              {"priority", s.priority}}
      .dump();
}

MemberStatus MemberStatusFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error(ErrorCode::kBadInput, "member status is not a JSON object");
  try {
    MemberStatus s;
    s.name = j.at("name").get<std::string>();
    s.role = j.at("role").get<std::string>();
    s.state = j.at("state").get<std::string>();
    const json& timeline = j.at("timeline");
    if (!timeline.is_number_unsigned() || timeline.get<std::uint64_t>() > 0xffffffffu) {
      throw Error(ErrorCode::kBadInput, "member status: timeline is not a timeline ID");
    }
    s.timeline = timeline.get<TimelineId>();
    s.received = Lsn::Parse(j.at("received").get<std::string>());
    s.replayed = Lsn::Parse(j.at("replayed").get<std::string>());
    s.agent_url = j.at("agent_url").get<std::string>();
    s.nofailover = j.at("nofailover").get<bool>();
    s.priority = j.at("priority").get<int>();
    return s;
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kBadInput, std::string("member status: ") + e.what());
  }
}

StoreCluster::StoreCluster(ClusterStore& store, std::string prefix, std::string cluster)
    : store_(store) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty() || prefix.front() != '/') {
    throw Error(ErrorCode::kBadInput, "store prefix '" + prefix + "' must start with '/'");
  }
  if (cluster.empty() || cluster.find('/') != std::string::npos) {
    throw Error(ErrorCode::kBadInput, "cluster name '" + cluster + "' must be non-empty, no '/'");
  }
  base_ = prefix + "/" + cluster + "/";
}

std::string StoreCluster::Key(std::string_view leaf) const {
  return base_ + std::string(leaf);
}

std::optional<StoreKeyValue> StoreCluster::Leader() {
  StoreRange r = store_.Get(Key(kLeader));
  if (r.kvs.empty()) return std::nullopt;
  return r.kvs.front();
}

bool StoreCluster::TakeLeader(const std::string& member, StoreLease lease) {
  return store_.CompareAndPut(Key(kLeader), 0, member, lease);
}

bool StoreCluster::MoveLeader(const StoreKeyValue& held, const std::string& to,
                              StoreLease to_lease) {
  return store_.CompareAndPut(Key(kLeader), held.mod_revision, to, to_lease);
}

bool StoreCluster::ReleaseLeader(const std::string& member) {
  std::optional<StoreKeyValue> held = Leader();
  if (!held || held->value != member) return false;
  return store_.CompareAndDelete(Key(kLeader), held->mod_revision);
}

void StoreCluster::PublishMember(const MemberStatus& status, StoreLease lease) {
  if (status.name.empty() || status.name.find('/') != std::string::npos) {
    throw Error(ErrorCode::kBadInput,
                "member name '" + status.name + "' must be non-empty, no '/'");
  }
  store_.Put(Key(kMembers) + status.name, MemberStatusToJson(status), lease);
}

std::vector<MemberStatus> StoreCluster::Members() {
  std::vector<MemberStatus> out;
  for (const StoreKeyValue& kv : store_.GetPrefix(Key(kMembers)).kvs) {
    try {
      out.push_back(MemberStatusFromJson(kv.value));
    } catch (const Error&) {
      // A record this version cannot read is no member to act on.
    }
  }
  return out;
}

std::optional<std::string> StoreCluster::LockOperation(const std::string& operation,
                                                       const std::string& holder,
                                                       StoreLease lease) {
  const std::string record = json{{"operation", operation}, {"holder", holder}}.dump();
  // Each round reads what the last compare found; the lock changing hands every round is
  // another holder's doing, so a few rounds decide.
  std::int64_t expected = 0;
  for (int round = 0; round < 4; ++round) {
    std::optional<StoreKeyValue> current;
    if (store_.CompareAndPut(Key(kOperation), expected, record, lease, &current)) {
      return std::nullopt;
    }
    if (!current) {
      expected = 0;  // released meanwhile
      continue;
    }
    json j = json::parse(current->value, nullptr, false);
    if (!j.is_object() || j.value("holder", "") != holder) {
      return j.is_object() ? j.value("operation", std::string("an operation"))
                           : std::string("an operation");
    }
    expected = current->mod_revision;  // ours already: bind it to this lease
  }
  throw Error(ErrorCode::kConflict,
              "the operation lock " + Key(kOperation) + " kept changing: retry");
}

void StoreCluster::UnlockOperation(const std::string& holder) {
  StoreRange r = store_.Get(Key(kOperation));
  if (r.kvs.empty()) return;
  json j = json::parse(r.kvs.front().value, nullptr, false);
  if (j.is_object() && j.value("holder", "") == holder) {
    store_.CompareAndDelete(Key(kOperation), r.kvs.front().mod_revision);
  }
}

std::optional<SyncRecord> StoreCluster::Sync() {
  StoreRange r = store_.Get(Key(kSync));
  if (r.kvs.empty()) return std::nullopt;
  json j = json::parse(r.kvs.front().value, nullptr, false);
  SyncRecord rec;
  rec.mod_revision = r.kvs.front().mod_revision;
  if (!j.is_object() || !j.contains("leader") || !j["leader"].is_string() ||
      !j.contains("standbys") || !j["standbys"].is_array()) {
    // Unreadable: no standby is known to be synchronous; the leader writes it anew.
    return rec;
  }
  rec.leader = j["leader"].get<std::string>();
  for (const json& n : j["standbys"]) {
    if (n.is_string()) rec.standbys.push_back(n.get<std::string>());
  }
  if (j.contains("state") && j["state"].is_string()) rec.state = j["state"].get<std::string>();
  return rec;
}

bool StoreCluster::WriteSync(const SyncRecord& record) {
  return store_.CompareAndPut(
      Key(kSync), record.mod_revision,
      json{{"leader", record.leader}, {"standbys", record.standbys}, {"state", record.state}}
          .dump(),
      0);
}

ClusterSettings StoreCluster::Settings() {
  StoreRange r = store_.Get(Key(kConfig));
  if (r.kvs.empty()) return {};
  return SettingsFrom(json::parse(r.kvs.front().value, nullptr, false));
}

ClusterSettings StoreCluster::ChangeSettings(const std::string& changes) {
  json c = json::parse(changes, nullptr, false);
  if (!c.is_object()) throw Error(ErrorCode::kBadInput, "cluster settings: a JSON object");
  for (const auto& [name, value] : c.items()) {
    if (name != "pause" && name != "synchronous_mode" && name != "synchronous_mode_strict") {
      throw Error(ErrorCode::kBadInput, "cluster settings: unknown field '" + name +
                                            "' (pause, synchronous_mode, synchronous_mode_strict)");
    }
    if (!value.is_boolean())
      throw Error(ErrorCode::kBadInput, "cluster settings: " + name + " must be true or false");
  }
  for (int round = 0; round < 8; ++round) {
    StoreRange r = store_.Get(Key(kConfig));
    json now = r.kvs.empty() ? json::object() : json::parse(r.kvs.front().value, nullptr, false);
    if (!now.is_object()) now = json::object();
    now.update(c);
    if (store_.CompareAndPut(Key(kConfig), r.kvs.empty() ? 0 : r.kvs.front().mod_revision,
                             now.dump(), 0)) {
      return SettingsFrom(now);
    }
  }
  throw Error(ErrorCode::kConflict, "the settings " + Key(kConfig) + " kept changing: retry");
}

}  // namespace pgha
