#include "fake_node.hpp"

#include <algorithm>

namespace pgha::test {

namespace {

void CheckReachable(const FakePg& pg, const std::string& name) {
  if (!pg.reachable) throw Error(ErrorCode::kPeerUnreachable, "fake " + name + " is unreachable");
}

bool IsPrimaryPg(const FakePg& pg) {
  return pg.running && !pg.standby;
}

// A FakeNode whose calls hold the world's mutex, after its on_change hook for the changing
// ones (which runs without it).
class SerializedNode : public NodeControl {
 public:
  SerializedNode(FakeWorld& world, const std::string& name) : world_(world), node_(world, name) {}
  const NodeAddress& address() const override { return node_.address(); }
  NodeState State() override {
    return Locked([&] { return node_.State(); });
  }
  NodeFacts Facts() override {
    return Locked([&] { return node_.Facts(); });
  }
  void Stop(StopMode mode) override {
    Changing("stop", [&] { node_.Stop(mode); });
  }
  void StartMaster() override {
    Changing("start master", [&] { node_.StartMaster(); });
  }
  void StartSlave(const NodeAddress& upstream) override {
    Changing("start slave", [&] { node_.StartSlave(upstream); });
  }
  void StartCurrent() override {
    Changing("start current", [&] { node_.StartCurrent(); });
  }
  void Promote() override {
    Changing("promote", [&] { node_.Promote(); });
  }
  using NodeControl::ValidLsn;
  ValidLsnAnswer ValidLsn(TimelineId timeline, Lsn lsn,
                          const std::optional<WalRecordRef>& last) override {
    return Locked([&] { return node_.ValidLsn(timeline, lsn, last); });
  }
  std::vector<WalFileRef> WalFilesFrom(TimelineId timeline, Lsn lsn) override {
    return Locked([&] { return node_.WalFilesFrom(timeline, lsn); });
  }
  void PullWalFile(const NodeAddress& from, const WalFileRef& file) override {
    Changing("pull wal", [&] { node_.PullWalFile(from, file); });
  }
  std::string Rewind(const NodeAddress& source) override {
    return Changing("rewind", [&] { return node_.Rewind(source); });
  }
  std::optional<std::string> TryLock(const std::string& operation, const std::string& holder,
                                     std::chrono::milliseconds ttl) override {
    return Locked([&] { return node_.TryLock(operation, holder, ttl); });
  }
  void Unlock(const std::string& holder) override {
    Locked([&] { node_.Unlock(holder); });
  }
  std::vector<LogicalSlot> LogicalSlots() override {
    return Locked([&] { return node_.LogicalSlots(); });
  }
  SlotSyncReport TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) override {
    return Changing("take slots", [&] { return node_.TakeLogicalSlots(master_slots); });
  }

 private:
  template <typename Fn>
  auto Locked(Fn&& fn) -> decltype(fn()) {
    std::lock_guard<std::recursive_mutex> lock(world_.mutex());
    return fn();
  }
  template <typename Fn>
  auto Changing(const char* call, Fn&& fn) -> decltype(fn()) {
    if (world_.on_change) world_.on_change(node_.address().name, call);
    return Locked(std::forward<Fn>(fn));
  }
  FakeWorld& world_;
  FakeNode node_;
};

std::shared_ptr<NodeControl> Serialized(FakeWorld& world, const std::string& name) {
  return std::make_shared<SerializedNode>(world, name);
}

}  // namespace

FakeNode::FakeNode(FakeWorld& world, std::string name) : world_(world) {
  address_.name = name;
  address_.agent_url = "fake://" + name;
  address_.pg_host = "127.0.0.1";
}

FakePg& FakeNode::pg() {
  FakePg& p = world_[address_.name];
  CheckReachable(p, address_.name);
  return p;
}

NodeState FakeNode::State() {
  if (world_[address_.name].on_state) world_[address_.name].on_state(world_[address_.name]);
  world_.Tick();
  FakePg& raw = world_[address_.name];
  if (raw.state_answers_left == 0) raw.reachable = false;
  if (raw.state_answers_left > 0) --raw.state_answers_left;
  FakePg& p = pg();
  NodeObservation seen;
  seen.running = p.running;
  seen.in_recovery = p.standby;
  seen.receiver_streaming = world_.Streaming(address_.name);
  seen.streaming_standbys = world_.StreamingStandbysOf(address_.name);
  seen.accepting_connections = !p.starting;
  seen.starts_as_standby = p.standby;
  return DeriveNodeState(seen);
}

NodeFacts FakeNode::Facts() {
  world_.Tick();
  FakePg& p = pg();
  NodeFacts f;
  f.state = State();
  f.timeline = p.timeline;
  f.end_of_wal = p.end;
  if (!p.running) f.last_record = WalRecordRef{p.end.Minus(0x18), p.record_tag};
  return f;
}

void FakeNode::Stop(StopMode mode) {
  Changing("stop");
  FakePg& p = pg();
  if (!p.running) return;
  if (p.stop_fails == HalfWay::kBefore) throw Error(ErrorCode::kTimeout, "fake stop timed out");
  if (IsPrimaryPg(p) && mode != StopMode::kImmediate) {
    world_.Write(address_.name, 0x78);  // the shutdown checkpoint reaches streaming standbys
  }
  p.running = false;
  if (p.stop_fails == HalfWay::kAfter) {
    throw Error(ErrorCode::kPeerUnreachable, "fake stop: the answer was lost");
  }
}

void FakeNode::StartMaster() {
  Changing("start master");
  FakePg& p = pg();
  if (p.start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  p.standby = false;
  p.upstream.clear();
  p.running = true;
  world_.NoteRoles();
  if (p.start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::StartSlave(const NodeAddress& upstream) {
  Changing("start slave");
  FakePg& p = pg();
  if (p.start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  p.standby = true;
  p.upstream = upstream.name;
  p.running = true;
  world_.Tick();
  if (p.start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::StartCurrent() {
  Changing("start current");
  if (pg().start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  pg().running = true;
  world_.Tick();
  if (pg().start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::Promote() {
  Changing("promote");
  FakePg& p = pg();
  if (!p.running || !p.standby) throw Error(ErrorCode::kWrongState, "not a running standby");
  p.switch_points[p.timeline] = p.end;
  p.timeline += 1;
  p.end = p.end + 0x80;  // END_OF_RECOVERY on the new timeline
  p.standby = false;
  p.upstream.clear();
  world_.NoteRoles();
}

ValidLsnAnswer FakeNode::ValidLsn(TimelineId timeline, Lsn lsn,
                                  const std::optional<WalRecordRef>& last) {
  FakePg& p = pg();
  int code = world_.ValidCode(address_.name, timeline, lsn);
  if (code == 0 && last && last->crc != p.record_tag) code = 5;
  return {code, code == 0 ? "Valid lsn" : "code " + std::to_string(code), 0};
}

std::vector<WalFileRef> FakeNode::WalFilesFrom(TimelineId timeline, Lsn lsn) {
  FakePg& p = pg();
  if (world_.ValidCode(address_.name, timeline, lsn) != 0) {
    throw Error(ErrorCode::kWrongState, "not on this history");
  }
  // As the real catalogue: the segment holding `lsn` is listed even when nothing follows it.
  return {{WalSegmentFileName(p.timeline, p.end), "md5-" + p.end.ToString()}};
}

void FakeNode::PullWalFile(const NodeAddress& from, const WalFileRef& /*file*/) {
  Changing("pull wal");
  FakePg& p = pg();
  if (p.running) throw Error(ErrorCode::kWrongState, "pull into a running node");
  FakePg& src = world_[from.name];
  CheckReachable(src, from.name);
  p.timeline = src.timeline;
  p.switch_points = src.switch_points;
  p.end = std::max(p.end, src.end);
  p.record_tag = src.record_tag;
  ++p.pulled;
}

std::string FakeNode::Rewind(const NodeAddress& source) {
  Changing("rewind");
  FakePg& p = pg();
  if (p.running) throw Error(ErrorCode::kWrongState, "rewind of a running node");
  FakePg& src = world_[source.name];
  p.timeline = src.timeline;
  p.switch_points = src.switch_points;
  p.end = src.end;
  p.record_tag = src.record_tag;
  ++p.rewinds;
  return "pg_rewind";
}

std::optional<std::string> FakeNode::TryLock(const std::string& operation,
                                             const std::string& holder,
                                             std::chrono::milliseconds ttl) {
  FakePg& p = pg();
  const auto now = world_.Now();
  if (!p.lease.empty() && p.lease != holder && now < p.lease_expires) return p.lease_operation;
  if (p.lease == holder) ++p.lease_renewals;
  p.lease = holder;
  p.lease_operation = operation;
  p.lease_expires = now + ttl;
  holder_ = holder;
  return std::nullopt;
}

void FakeNode::Unlock(const std::string& holder) {
  FakePg& p = pg();
  if (p.lease == holder) {
    p.lease.clear();
    p.lease_expires = std::chrono::steady_clock::time_point::max();
  }
}

void FakeNode::Changing(const char* call) {
  FakePg& p = pg();
  if (holder_.empty() || p.lease != holder_ || world_.Now() >= p.lease_expires) {
    ++p.calls_without_lease;
    throw Error(ErrorCode::kConflict, "fake " + address_.name + ": " + call +
                                          " without the lease of the running operation");
  }
  world_.Advance(world_.call_cost);
}

std::vector<LogicalSlot> FakeNode::LogicalSlots() {
  if (!pg().reachable) throw Error(ErrorCode::kPeerUnreachable, address_.name + " is down");
  return pg().slots;
}

SlotSyncReport FakeNode::TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) {
  Changing("take slots");
  FakePg& p = pg();
  if (p.slot_copy_fails) throw Error(ErrorCode::kIo, "cannot write pg_replslot");
  if (p.running) ++p.slots_taken_while_running;
  SlotSyncReport r;
  r.node = address_.name;
  p.slots = master_slots;
  for (const LogicalSlot& s : master_slots) {
    SlotCopyStatus st;
    st.slot = s.name;
    st.installed = st.safe = true;
    st.action = "installed";
    st.confirmed_flush = s.confirmed_flush;
    r.slots.push_back(st);
  }
  return r;
}

void FakeWorld::Tick() {
  for (auto& [name, pg] : nodes_) {
    if (Streaming(name)) {
      const FakePg& up = nodes_[pg.upstream];
      pg.timeline = up.timeline;
      pg.switch_points = up.switch_points;
      pg.end = up.end;
      pg.record_tag = up.record_tag;
    }
  }
  NoteRoles();
}

void FakeWorld::NoteRoles() {
  int primaries = 0;
  for (auto& [name, pg] : nodes_) primaries += pg.running && !pg.standby ? 1 : 0;
  most_primaries_ = std::max(most_primaries_, primaries);
}

int FakeWorld::StreamingStandbysOf(const std::string& name) {
  int n = 0;
  for (auto& [other, pg] : nodes_) {
    if (pg.upstream == name && Streaming(other)) ++n;
  }
  return n;
}

bool FakeWorld::Streaming(const std::string& name) {
  FakePg& pg = nodes_[name];
  if (!pg.running || !pg.standby || pg.upstream.empty() || pg.starting) return false;
  const FakePg& up = nodes_[pg.upstream];
  if (!up.running || up.standby || up.starting) return false;
  if (pg.record_tag != up.record_tag) return false;  // diverged on one timeline: no streaming
  return ValidCode(pg.upstream, pg.timeline, pg.end) == 0;
}

void FakeWorld::Write(const std::string& name, std::uint64_t bytes) {
  FakePg& pg = nodes_[name];
  pg.end = pg.end + bytes;
  Tick();
}

int FakeWorld::ValidCode(const std::string& on, TimelineId timeline, Lsn lsn) {
  const FakePg& pg = nodes_[on];
  if (timeline == pg.timeline) return lsn <= pg.end ? 0 : 3;
  auto it = pg.switch_points.find(timeline);
  if (it == pg.switch_points.end()) return 3;
  return lsn <= it->second ? 0 : 4;
}

Cluster FakeWorld::MakeCluster(const std::string& local, const std::vector<std::string>& peers) {
  std::vector<std::shared_ptr<NodeControl>> others;
  for (const auto& p : peers) others.push_back(Serialized(*this, p));
  return Cluster(Serialized(*this, local), std::move(others));
}

std::chrono::steady_clock::time_point FakeWorld::Now() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  return std::chrono::steady_clock::time_point(now_);
}

void FakeWorld::Advance(std::chrono::milliseconds d) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  now_ += d;
}

}  // namespace pgha::test
