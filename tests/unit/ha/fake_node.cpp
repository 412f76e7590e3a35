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
  FakePg& p = pg();
  if (p.start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  p.standby = false;
  p.upstream.clear();
  p.running = true;
  world_.NoteRoles();
  if (p.start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::StartSlave(const NodeAddress& upstream) {
  FakePg& p = pg();
  if (p.start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  p.standby = true;
  p.upstream = upstream.name;
  p.running = true;
  world_.Tick();
  if (p.start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::StartCurrent() {
  if (pg().start_fails == HalfWay::kBefore) throw Error(ErrorCode::kPostgresFailed, "fake start");
  pg().running = true;
  world_.Tick();
  if (pg().start_fails == HalfWay::kAfter) throw Error(ErrorCode::kTimeout, "fake start timed out");
}

void FakeNode::Promote() {
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

void FakeNode::Rewind(const NodeAddress& source) {
  FakePg& p = pg();
  if (p.running) throw Error(ErrorCode::kWrongState, "rewind of a running node");
  FakePg& src = world_[source.name];
  p.timeline = src.timeline;
  p.switch_points = src.switch_points;
  p.end = src.end;
  p.record_tag = src.record_tag;
  ++p.rewinds;
}

std::optional<std::string> FakeNode::TryLock(const std::string& operation,
                                             const std::string& holder,
                                             std::chrono::milliseconds /*ttl*/) {
  FakePg& p = pg();
  if (!p.lease.empty() && p.lease != holder) return p.lease_operation;
  p.lease = holder;
  p.lease_operation = operation;
  return std::nullopt;
}

void FakeNode::Unlock(const std::string& holder) {
  FakePg& p = pg();
  if (p.lease == holder) p.lease.clear();
}

std::vector<LogicalSlot> FakeNode::LogicalSlots() {
  if (!pg().reachable) throw Error(ErrorCode::kPeerUnreachable, address_.name + " is down");
  return pg().slots;
}

SlotSyncReport FakeNode::TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) {
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
  for (const auto& p : peers) others.push_back(std::make_shared<FakeNode>(*this, p));
  return Cluster(std::make_shared<FakeNode>(*this, local), std::move(others));
}

}  // namespace pgha::test
