#include "pgha/store_cluster.hpp"

#include <nlohmann/json.hpp>

#include "pgha/error.hpp"

namespace pgha {

namespace {

using json = nlohmann::json;

constexpr std::string_view kLeader = "leader";
constexpr std::string_view kMembers = "members/";
constexpr std::string_view kOperation = "operation";

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

}  // namespace pgha
