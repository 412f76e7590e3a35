#include "remote_node.hpp"

#include <algorithm>
#include <cstdio>

#include "node_json.hpp"
#include "op_deadline.hpp"
#include "pgha/node_state.hpp"
#include "slot_json.hpp"
#include "text.hpp"

namespace pgha::agent {

using nlohmann::json;

namespace {

// The seed's "/:tl/:hi/:lo" form of a position, e.g. "3/0/39000028".
std::string LsnPath(TimelineId timeline, Lsn lsn) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%u/%X/%X", timeline, lsn.high(), lsn.low());
  return buf;
}

}  // namespace

RemoteNode::RemoteNode(NodeAddress address, std::shared_ptr<HttpClient> client)
    : address_(std::move(address)), client_(std::move(client)) {}

std::string RemoteNode::Url(const std::string& path) const {
  std::string base = address_.agent_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/api/pg/v1/" + path;
}

HttpHeaders RemoteNode::CallHeaders() const {
  HttpHeaders h;
  if (auto left = deadline::Remaining()) h.Set(kDeadlineHeader, std::to_string(left->count()));
  std::lock_guard<std::mutex> lock(holder_mutex_);
  if (!holder_.empty()) h.Set(kLeaseHeader, holder_);
  h.Set("Content-Type", "application/json");
  return h;
}

std::string RemoteNode::Call(HttpMethod method, const std::string& path, const std::string& body,
                             std::optional<std::chrono::milliseconds> timeout) {
  // Never longer than the client's own timeout (0: none); without `timeout` the client bounds
  // the call by the operation's deadline (op_deadline.hpp).
  if (timeout && client_->timeout().count() > 0) timeout = std::min(*timeout, client_->timeout());
  HttpResponse r = timeout ? client_->Send(method, Url(path), body, CallHeaders(), *timeout)
                           : client_->Send(method, Url(path), body, CallHeaders());
  ThrowIfHttpError(r, address_.name + " " + std::string(HttpMethodName(method)) + " " + path);
  return r.body;
}

void RemoteNode::HoldAutomatic(std::chrono::milliseconds duration) {
  Call(HttpMethod::kPost, "internal/ha/hold?ms=" + std::to_string(duration.count()), {},
       std::chrono::seconds(10));
}

void RemoteNode::ReleaseAutomatic() {
  Call(HttpMethod::kDelete, "internal/ha/hold", {}, std::chrono::seconds(5));
}

NodeState RemoteNode::State() {
  // internal/state observes afresh; instance/current may be the observer's cached state.
  json j = ParseBody(Call(HttpMethod::kGet, "internal/state"), "internal/state");
  // An agent answered, so this is no unreachable node that force=true may skip.
  if (!j.is_object() || !j.contains(address_.name) || !j[address_.name].is_string()) {
    throw Error(ErrorCode::kBadInput,
                address_.agent_url + " answered for another node: " + j.dump() +
                    ". HINT: check the agent_url of " + address_.name + " in the configuration");
  }
  auto state = ParseNodeState(j[address_.name].get<std::string>());
  if (!state) throw Error(ErrorCode::kBadInput, "peer " + address_.name + " sent an unknown state");
  return *state;
}

NodeFacts RemoteNode::Facts() {
  return NodeFactsFromJson(ParseBody(Call(HttpMethod::kGet, "internal/facts"), "internal/facts"));
}

void RemoteNode::Stop(StopMode mode) {
  const char* m = mode == StopMode::kSmart  ? "smart"
                  : mode == StopMode::kFast ? "fast"
                                            : "immediate";
  Call(HttpMethod::kPost, std::string("internal/stop?mode=") + m);
}

void RemoteNode::StartMaster() {
  Call(HttpMethod::kPost, "internal/start?as=master");
}

void RemoteNode::StartSlave(const NodeAddress& upstream) {
  Call(HttpMethod::kPost, "internal/start?as=slave", json{{"upstream", ToJson(upstream)}}.dump());
}

void RemoteNode::StartCurrent() {
  Call(HttpMethod::kPost, "internal/start?as=current");
}

void RemoteNode::Promote() {
  Call(HttpMethod::kPost, "internal/promote");
}

ValidLsnAnswer RemoteNode::ValidLsn(TimelineId timeline, Lsn lsn,
                                    const std::optional<WalRecordRef>& last) {
  std::string path = "validLsn/" + LsnPath(timeline, lsn);
  if (last) path += "?record=" + last->start.ToString() + "&crc=" + LowerHex32(last->crc);
  return ValidLsnFromJson(ParseBody(Call(HttpMethod::kGet, path), "validLsn"));
}

std::vector<WalFileRef> RemoteNode::WalFilesFrom(TimelineId timeline, Lsn lsn) {
  json j = ParseBody(Call(HttpMethod::kGet, "walFiles/" + LsnPath(timeline, lsn)), "walFiles");
  if (!j.is_array()) throw Error(ErrorCode::kBadInput, "walFiles: expected a JSON array");
  std::vector<WalFileRef> files;
  for (const json& f : j) files.push_back(WalFileRefFromJson(f));
  return files;
}

void RemoteNode::PullWalFile(const NodeAddress& from, const WalFileRef& file) {
  Call(HttpMethod::kPost, "internal/pull-wal",
       json{{"from", ToJson(from)}, {"file", file.name}, {"md5", file.md5}}.dump());
}

std::string RemoteNode::Rewind(const NodeAddress& source) {
  json answer = json::parse(
      Call(HttpMethod::kPost, "internal/rewind", json{{"source", ToJson(source)}}.dump()), nullptr,
      false);
  // An agent before 0.x answered {"code": 0, "msg": "done"}: it ran pg_rewind.
  if (answer.is_object() && answer.contains("rewind") && answer["rewind"].is_string())
    return answer["rewind"].get<std::string>();
  return "pg_rewind";
}

std::optional<std::string> RemoteNode::TryLock(const std::string& operation,
                                               const std::string& holder,
                                               std::chrono::milliseconds ttl) {
  json body = {{"operation", operation}, {"holder", holder}, {"ttl_ms", ttl.count()}};
  auto timeout = std::max(ttl / 2, std::chrono::milliseconds(1));
  {
    std::lock_guard<std::mutex> lock(holder_mutex_);
    lease_call_timeout_ = timeout;
  }
  json j =
      ParseBody(Call(HttpMethod::kPost, "internal/lease", body.dump(), timeout), "internal/lease");
  if (!j.value("granted", false)) return j.value("operation", std::string("another operation"));
  std::lock_guard<std::mutex> lock(holder_mutex_);
  holder_ = holder;
  return std::nullopt;
}

void RemoteNode::Unlock(const std::string& holder) {
  std::optional<std::chrono::milliseconds> timeout;
  {
    std::lock_guard<std::mutex> lock(holder_mutex_);
    timeout = lease_call_timeout_;
  }
  Call(HttpMethod::kDelete, "internal/lease?holder=" + PercentEncode(holder), {}, timeout);
  std::lock_guard<std::mutex> lock(holder_mutex_);
  if (holder_ == holder) holder_.clear();
}

std::vector<LogicalSlot> RemoteNode::LogicalSlots() {
  json j = ParseBody(Call(HttpMethod::kGet, "internal/slots"), "internal/slots");
  return LogicalSlotsFromJson(j.value("slots", json::array()));
}

SlotSyncReport RemoteNode::TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) {
  json body = {{"slots", ToJson(master_slots)}};
  return SlotSyncReportFromJson(ParseBody(
      Call(HttpMethod::kPost, "internal/slots/take", body.dump()), "internal/slots/take"));
}

MasterSlots RemoteNode::MasterSlotsFor(const std::string& standby, const HoldChanges& changes,
                                       bool ensure_physical_slot) {
  json body = ToJson(changes);
  body["standby"] = standby;
  body["ensure_physical_slot"] = ensure_physical_slot;
  return MasterSlotsFromJson(ParseBody(
      Call(HttpMethod::kPost, "internal/slots/master", body.dump()), "internal/slots/master"));
}

std::optional<SlotSyncReport> RemoteNode::SlotStatus(const std::string& master) {
  json j =
      ParseBody(Call(HttpMethod::kGet, "internal/slots/status?master=" + PercentEncode(master)),
                "internal/slots/status");
  if (j.is_null() || !j.contains("node")) return std::nullopt;
  return SlotSyncReportFromJson(j);
}

}  // namespace pgha::agent
