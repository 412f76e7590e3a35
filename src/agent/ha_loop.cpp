#include "ha_loop.hpp"

#include <iostream>
#include <utility>

#include "agent_impl.hpp"
#include "op_deadline.hpp"
#include "pgha/error.hpp"
#include "pgha/node_state.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"

namespace pgha::agent {

namespace {

using nlohmann::json;

// How much earlier than the lease's earliest possible expiry a leader that could not renew
// fences: clock-rate drift, the scheduling of the renewer and the fencing itself.
std::chrono::milliseconds FenceMargin(std::chrono::seconds ttl) {
  return std::max(std::chrono::milliseconds(500),
                  std::chrono::duration_cast<std::chrono::milliseconds>(ttl) / 4);
}

// How long one renewal may wait: a sixth of the TTL (at least 300 ms), so that several tries
// fit before the fencing moment at TTL - FenceMargin.
std::chrono::milliseconds RenewalBound(std::chrono::seconds ttl) {
  return std::max(std::chrono::milliseconds(300),
                  std::chrono::duration_cast<std::chrono::milliseconds>(ttl) / 6);
}

std::string Role(NodeState s) {
  if (IsPrimary(s)) return "master";
  if (IsStandby(s)) return "replica";
  return "";
}

// Keeps a lease alive from a thread of its own, every `every`, until destroyed.
class LeaseKeeper {
 public:
  LeaseKeeper(ClusterStore& store, StoreLease lease, std::chrono::milliseconds every)
      : thread_([this, &store, lease, every] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (!cv_.wait_for(lock, every, [this] { return done_; })) {
            lock.unlock();
            try {
              store.KeepAlive(lease);
            } catch (const Error&) {
              // The store did not answer: the next try may.
            }
            lock.lock();
          }
        }) {}
  ~LeaseKeeper() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace

HaLoop::HaLoop(Agent::Impl& agent, std::unique_ptr<ClusterStore> store)
    : a_(agent),
      store_(std::move(store)),
      cluster_(*store_, a_.config()->etcd_prefix, a_.config()->cluster_name),
      name_(a_.config()->local_node),
      ttl_(a_.config()->ha_ttl),
      interval_(a_.config()->ha_loop_interval),
      deadline_(ttl_, FenceMargin(ttl_)) {}

HaLoop::~HaLoop() {
  Stop();
}

void HaLoop::Start() {
  guard_ = std::make_unique<FenceGuard>("/proc/self/exe", a_.config()->pgdata);
  loop_ = std::thread([this] { LoopThread(); });
  renewer_ = std::thread([this] { RenewThread(); });
  watcher_ = std::thread([this] { WatchThread(); });
}

void HaLoop::Stop() noexcept {
  if (stop_.exchange(true)) return;
  wake_cv_.notify_all();
  for (std::thread* t : {&loop_, &renewer_, &watcher_}) {
    if (t->joinable()) t->join();
  }
  try {
    // A leader that stops takes its server down first (fast: what it acknowledged is
    // flushed, while it still holds the lease), then gives the key up, so that a standby
    // takes over at once rather than when the lease expires. Without the agent nothing would
    // fence a server left running.
    if (Leads()) {
      if (a_.local->State() != NodeState::kInactive) a_.local->Stop(StopMode::kFast);
      DropLeadership(/*release_key=*/true);
    }
  } catch (const std::exception& e) {
    Log(std::string("stop: ") + e.what());
  }
  guard_.reset();
}

bool HaLoop::Leads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_lease_ != 0;
}

StoreLease HaLoop::LeaderLease() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_lease_;
}

bool HaLoop::Held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hold_until_ && Clock::now() < *hold_until_;
}

void HaLoop::AdoptLeaderLease(StoreLease lease, Clock::time_point sent) {
  std::lock_guard<std::mutex> lock(mutex_);
  leader_lease_ = lease;
  deadline_ = LeaderDeadline(ttl_, FenceMargin(ttl_));
  deadline_.Renewed(sent);
  guard_->Arm(*deadline_.FenceBy());
}

void HaLoop::Hold(std::chrono::milliseconds duration) {
  std::unique_lock<std::timed_mutex> round(round_mutex_, std::defer_lock);
  if (!round.try_lock_for(std::chrono::seconds(5))) {
    throw Error(ErrorCode::kConflict,
                name_ +
                    "'s automatic failover is in the middle of a round (a start or rejoin): "
                    "retry");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  hold_until_ = Clock::now() + duration;
}

void HaLoop::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hold_until_.reset();
    wake_ = true;
  }
  wake_cv_.notify_all();
}

bool HaLoop::WaitForFreeLeaderKey(std::chrono::milliseconds wait) {
  const Clock::time_point until = Clock::now() + wait;
  while (true) {
    StoreRange r = store_->Get(cluster_.Key("leader"));
    if (r.kvs.empty() || r.kvs.front().value == name_) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    // Woken by the key's deletion (its lease expiring), or at the end of the wait.
    store_->Watch(cluster_.Key("leader"), r.revision,
                  std::min(left, std::chrono::milliseconds(1000)));
  }
}

void HaLoop::MoveLeaderKeyTo(const std::string& master) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::optional<StoreKeyValue> held = cluster_.Leader();
    if (held && held->value == master) return;
    const Clock::time_point sent = Clock::now();
    StoreLease lease = store_->GrantLease(ttl_);
    bool moved =
        held ? cluster_.MoveLeader(*held, master, lease) : cluster_.TakeLeader(master, lease);
    if (!moved) {
      store_->RevokeLease(lease);
      continue;  // changed meanwhile: read again
    }
    if (master == name_) AdoptLeaderLease(lease, sent);
    std::cerr << "pgha-agent: ha: the leader key moved to " << master << "\n";
    return;
  }
  throw Error(ErrorCode::kConflict, "the leader key kept changing while it was moved to " + master);
}

OperationResult HaLoop::RunOperation(const std::string& what, bool force,
                                     const std::function<OperationResult()>& op) {
  StoreLease lease = store_->GrantLease(ttl_);
  if (auto other = cluster_.LockOperation(what, name_, lease)) {
    store_->RevokeLease(lease);
    throw Error(
        ErrorCode::kConflict,
        what + ": " + *other + " holds the store's operation lock. HINT: retry when it ends");
  }
  std::optional<LeaseKeeper> keeper;
  keeper.emplace(*store_, lease,
                 std::max(std::chrono::milliseconds(200),
                          std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 3));
  const std::vector<std::shared_ptr<RemoteNode>> peers = a_.peers();
  bool unlock = true;
  auto finish = [&] {
    for (const auto& p : peers) {
      try {
        p->ReleaseAutomatic();
      } catch (const Error&) {
        // Its hold runs out by itself.
      }
    }
    Release();
    keeper.reset();
    if (!unlock) return;  // the lock's lease runs out by itself, a TTL from now
    try {
      cluster_.UnlockOperation(name_);
      store_->RevokeLease(lease);
    } catch (const Error& e) {
      Log(std::string("the operation lock expires by itself: ") + e.what());
    }
  };
  try {
    const auto hold = std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) * 2;
    Hold(hold);
    for (const auto& p : peers) {
      try {
        p->HoldAutomatic(hold);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kPeerUnreachable) throw;
        // Down or cut off: its loop reads the operation lock before it acts again.
      }
    }
    if (force && !WaitForFreeLeaderKey(std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) +
                                       std::chrono::seconds(2))) {
      throw Error(ErrorCode::kConflict,
                  what +
                      ": the leader key is still held: its master may still write. HINT: "
                      "stop that master, or wait for its lease to run out");
    }
    OperationResult result = op();
    for (const auto& [node, state] : result.states) {
      if (state != "master" && state != "single") continue;
      try {
        MoveLeaderKeyTo(node);
      } catch (const Error& e) {
        // The loops must not go on with the key elsewhere (they would fence the new master):
        // the lock stays until its lease runs out, and meanwhile they move the key by the
        // paused rules (the old leader gives it up, the running primary takes it).
        Log("could not move the leader key to " + node + ": " + e.what());
        unlock = false;
      }
    }
    finish();
    return result;
  } catch (...) {
    finish();
    throw;
  }
}

void HaLoop::Log(const std::string& line) {
  {
    // A state that lasts is said once, by each thread (the renewer and the loop report the
    // same trouble each round, in turn).
    std::lock_guard<std::mutex> lock(mutex_);
    std::string& last = last_log_[std::this_thread::get_id()];
    if (line == last) return;
    last = line;
  }
  std::cerr << "pgha-agent: ha: " << line << "\n";
}

void HaLoop::LoopThread() {
  while (!stop_) {
    try {
      std::lock_guard<std::timed_mutex> round(round_mutex_);
      Round();
    } catch (const std::exception& e) {
      // The store or the server did not answer: nothing is decided on a guess this round.
      Log(std::string("round: ") + e.what());
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_cv_.wait_for(lock, interval_, [this] { return wake_ || stop_.load(); });
    wake_ = false;
  }
}

void HaLoop::WatchThread() {
  std::int64_t after = 0;
  while (!stop_) {
    try {
      if (after == 0) after = store_->Get(cluster_.Key("leader")).revision;
      StoreWatch w = store_->Watch(cluster_.Key("leader"), after, std::chrono::seconds(1));
      if (w.compacted) {
        after = 0;
        continue;
      }
      if (w.revision > after) after = w.revision;
      if (!w.events.empty()) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_ = true;
        wake_cv_.notify_all();
      }
    } catch (const std::exception&) {
      // The loop sees the store's trouble too; retry after a pause the stop can cut short.
      std::unique_lock<std::mutex> lock(mutex_);
      wake_cv_.wait_for(lock, interval_, [this] { return stop_.load(); });
    }
  }
}

void HaLoop::RenewThread() {
  while (!stop_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_cv_.wait_for(lock, interval_, [this] { return stop_.load(); });
    }
    if (stop_) return;
    StoreLease lease;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      lease = leader_lease_;
    }
    if (lease == 0) continue;
    const Clock::time_point sent = Clock::now();
    try {
      // Short, so that a call stuck on a member that waits for etcd's new leader (its
      // election takes about a second) leaves time for the next try, on the next member,
      // before the fencing moment: losing one etcd member must not fence the master.
      deadline::Scope bound(sent + RenewalBound(ttl_));
      std::optional<std::chrono::seconds> got = store_->KeepAlive(lease);
      if (got && *got >= ttl_) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (leader_lease_ == lease) {
          deadline_.Renewed(sent);
          try {
            guard_->Arm(*deadline_.FenceBy());
          } catch (const Error& e) {
            std::cerr << "pgha-agent: ha: " << e.what() << "; starting a new guard\n";
            guard_ = std::make_unique<FenceGuard>("/proc/self/exe", a_.config()->pgdata);
            guard_->Arm(*deadline_.FenceBy());
          }
        }
        continue;
      }
      // The store says the lease is gone: another member may hold the key already.
      if (a_.local->State() != NodeState::kInactive) FenceNow("the leader lease expired");
      DropLeadership(/*release_key=*/false);
      continue;
    } catch (const std::exception& e) {
      Log(std::string("leader lease renewal failed: ") + e.what());
    }
    bool must_fence;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      must_fence = leader_lease_ == lease && deadline_.MustFence(Clock::now());
    }
    if (must_fence) {
      FenceNow("the leader lease was not renewed in time (the store does not answer)");
      DropLeadership(/*release_key=*/false);
    }
  }
}

MemberStatus HaLoop::Publish() {
  auto c = a_.config();
  MemberStatus m;
  m.name = name_;
  m.agent_url = c->Local().agent_url;
  m.nofailover = c->nofailover;
  m.priority = c->priority;
  NodeState state = a_.local->State();
  m.state = std::string(NodeStateName(state));
  m.role = Role(state);
  if (IsPrimary(state) || IsStandby(state)) {
    try {
      // From the instance, not LocalNode::Facts: that waits for the node's lock, which an
      // operation or a slot sync round may hold for seconds.
      LsnFacts f = a_.local->instance().ReadLsnFacts();
      m.timeline = f.timeline;
      m.received = f.last_lsn;
      m.replayed = f.last_lsn;
    } catch (const Error&) {
      // Between states: published without a position, which no election counts.
    }
  }
  StoreLease lease;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lease = member_lease_;
  }
  if (lease == 0 || !store_->KeepAlive(lease)) lease = store_->GrantLease(ttl_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    member_lease_ = lease;
  }
  cluster_.PublishMember(m, lease);
  return m;
}

void HaLoop::Round() {
  MemberStatus me = Publish();
  settings_ = cluster_.Settings();
  synchronous_ = settings_.synchronous_mode.value_or(a_.config()->synchronous_mode);
  const bool paused = settings_.pause;
  paused_ = paused;
  std::optional<StoreKeyValue> leader = cluster_.Leader();
  std::vector<MemberStatus> members = cluster_.Members();
  std::optional<SyncRecord> sync = synchronous_ ? cluster_.Sync() : std::nullopt;
  round_sync_.reset();
  if (synchronous_) round_sync_ = sync;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const MemberStatus& m : members) {
      if (leader && leader->value != name_ && m.name == leader->value) last_leader_ = m;
    }
    view_.leader = leader ? std::optional<std::string>(leader->value) : std::nullopt;
    view_.members = std::move(members);
    view_.at = Clock::now();
    view_.synchronous_mode = synchronous_;
    view_.synchronous_standbys.clear();
    if (sync && leader && sync->leader == leader->value)
      view_.synchronous_standbys = sync->standbys;
  }
  if (Leads() && (!leader || leader->value != name_ || leader->lease != LeaderLease())) {
    // A manual operation moved the key (RunOperation), or it is gone: this lease leads
    // nothing. A running primary without the key is fenced below (Act) unless it takes it.
    DropLeadership(/*release_key=*/false);
  }
  if (leader && leader->value == name_ && !Leads()) {
    // The key of an earlier run of this agent, or one a manual operation moved here: taken
    // while its lease lives (the guard of an earlier run, if it was armed, still fences at
    // its moment; the server then restarts).
    const Clock::time_point sent = Clock::now();
    if (auto got = store_->KeepAlive(leader->lease); got && *got >= ttl_) {
      AdoptLeaderLease(leader->lease, sent);
    } else {
      return;  // expiring: the next round sees it gone
    }
  }
  const bool held = Held() || !store_->Get(cluster_.Key("operation")).kvs.empty();
  const NodeState state = *ParseNodeState(me.state);
  if (!(IsPrimary(state) && Leads())) DefaultSynchronous();
  if (paused || held) {
    if (IsPrimary(state)) {
      if (!leader) TakeLeaderKey();
      // Synchronous replication is no role change: kept while paused too.
      if (Leads()) KeepSynchronous();
    } else if (Leads()) {
      DropLeadership(/*release_key=*/true);  // a manual operation moved the master elsewhere
    }
    return;
  }
  Act(me, leader);
}

void HaLoop::DefaultSynchronous() {
  std::vector<std::string> names;
  if (synchronous_) {
    for (const NodeAddress& peer : a_.config()->Peers()) names.push_back(peer.name);
  }
  catchup_from_.reset();
  ApplySynchronous(names);
}

void HaLoop::ApplySynchronous(const std::vector<std::string>& names) {
  if (named_ == names) return;
  SynchronousStandbys s;
  s.names = names;
  a_.local->SetSynchronousOverride(s);  // throws: tried again next round
  named_ = names;
}

void HaLoop::KeepSynchronous() {
  // The round's read when it made one (a write below is a compare-and-swap on its revision:
  // a record changed since fails it, and the next round reads again).
  std::optional<SyncRecord> record =
      round_sync_ ? *std::exchange(round_sync_, std::nullopt) : cluster_.Sync();
  if (!synchronous_) {
    // Off: no standby is promised anything; a record left naming one would be believed,
    // wrongly, if synchronous mode came back on.
    if (record && !record->standbys.empty()) {
      cluster_.WriteSync(SyncRecord{name_, {}, "asynchronous", record->mod_revision});
    }
    ApplySynchronous({});
    return;
  }
  InstanceObservation ob = a_.local->instance().Observe();
  if (!IsPrimary(ob.state)) return;
  SyncInputs in;
  in.leader = name_;
  in.strict = settings_.synchronous_mode_strict;
  in.record = record;
  in.named = named_.value_or(std::vector<std::string>{});
  in.standbys = ob.standbys;
  in.flush = ob.flush_lsn;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in.members = view_.members;
  }
  for (const NodeAddress& peer : a_.config()->Peers()) in.peers.push_back(peer.name);
  in.catchup_from = catchup_from_;
  SyncPlan plan = PlanSynchronous(in);
  // PlanSynchronous rewrites any record that is not this leader's: `record` is ours here.
  if (plan.record || record->state != plan.state) {
    SyncRecord next{name_, plan.record ? *plan.record : record->standbys, plan.state,
                    record ? record->mod_revision : 0};
    if (!cluster_.WriteSync(next)) {
      Log("the synchronous standbys' record changed meanwhile: read again next round");
      return;  // the names wait: they may only follow the record
    }
  }
  ApplySynchronous(plan.names);
  catchup_from_ = plan.catchup_from;
  Log("synchronous mode: " + plan.state + ": " + plan.why);
}

bool HaLoop::TakeLeaderKey() {
  const Clock::time_point sent = Clock::now();
  StoreLease lease = store_->GrantLease(ttl_);
  if (!cluster_.TakeLeader(name_, lease)) {
    store_->RevokeLease(lease);
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  leader_lease_ = lease;
  deadline_ = LeaderDeadline(ttl_, FenceMargin(ttl_));
  deadline_.Renewed(sent);
  guard_->Arm(*deadline_.FenceBy());
  std::cerr << "pgha-agent: ha: " << name_ << " holds the leader key\n";
  return true;
}

void HaLoop::DropLeadership(bool release_key) {
  StoreLease lease;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lease = leader_lease_;
    leader_lease_ = 0;
    deadline_ = LeaderDeadline(ttl_, FenceMargin(ttl_));
    crashed_since_.reset();
    try {
      if (guard_) guard_->Disarm();
    } catch (const Error&) {
    }
  }
  if (release_key && lease != 0) {
    try {
      cluster_.ReleaseLeader(name_);
      store_->RevokeLease(lease);
    } catch (const Error& e) {
      Log(std::string("could not release the leader key (it expires): ") + e.what());
    }
  }
}

void HaLoop::FenceNow(const std::string& why) {
  std::optional<pid_t> pm = FencePostmaster(a_.config()->pgdata);
  std::cerr << "pgha-agent: ha: fenced (" << why << "): "
            << (pm ? "killed postmaster " + std::to_string(*pm) : std::string("nothing ran"))
            << "\n";
}

void HaLoop::Act(const MemberStatus& me, const std::optional<StoreKeyValue>& leader) {
  const NodeState state = *ParseNodeState(me.state);
  const bool other_leader = leader && leader->value != name_;
  if (IsPrimary(state)) {
    crashed_since_.reset();
    if (Leads()) {
      KeepSynchronous();
      return;
    }
    if (!leader) {
      TakeLeaderKey();
      return;
    }
    if (other_leader) {
      // Two primaries: this one is not the leader. It stops acknowledging at once.
      FenceNow(leader->value + " holds the leader key");
      return;  // rejoins next round, as a stopped node
    }
    return;
  }
  if (IsStandby(state)) {
    if (Leads()) {
      // Won the key, not promoted yet (or the promotion failed): promote now, locally. The
      // old leader is not asked anything: its lease expired, so it is fenced, and its agent,
      // when there is one, may be frozen or cut off (an operation through it would wait out
      // every timeout). Its logical slots are on this node already (the slot keeper's copies).
      try {
        a_.local->Promote();
        std::cerr << "pgha-agent: ha: " << name_ << " promoted: the new master\n";
        // Its first commits wait for every peer (DefaultSynchronous) until this says whom.
        KeepSynchronous();
      } catch (const Error& e) {
        Log(std::string("promotion failed, giving the key up: ") + e.what());
        DropLeadership(/*release_key=*/true);
      }
      return;
    }
    if (other_leader) {
      // Follows it: the standby configuration names the master. One that has not streamed
      // for a TTL lost its upstream (the old master of a cluster of three, say): it rejoins
      // the leader by the manual path's rules, which stop and re-point it.
      if (state != NodeState::kRecovery) {
        not_streaming_since_.reset();
      } else if (!not_streaming_since_) {
        not_streaming_since_ = Clock::now();
      } else if (Clock::now() - *not_streaming_since_ >= ttl_) {
        not_streaming_since_.reset();
        Rejoin("not streaming from the leader " + leader->value);
      }
      return;
    }
    not_streaming_since_.reset();
    Elect();
    return;
  }
  if (state == NodeState::kInactive) {
    if (Leads()) {
      // The leader's server crashed while its agent lives: restarted in place on the same
      // timeline while the lease is held (the renewer keeps it), given up when that fails.
      if (!crashed_since_) crashed_since_ = Clock::now();
      FencePostmaster(a_.config()->pgdata);  // what the dead postmaster left
      try {
        a_.local->StartCurrent();
        std::cerr << "pgha-agent: ha: restarted the crashed master in place\n";
        crashed_since_.reset();
      } catch (const Error& e) {
        if (Clock::now() - *crashed_since_ >= ttl_) {
          Log(std::string("restart in place failed, giving the key up: ") + e.what());
          DropLeadership(/*release_key=*/true);
        } else {
          Log(std::string("restart in place failed, retrying: ") + e.what());
        }
      }
      return;
    }
    if (other_leader) {
      Rejoin("the leader is " + leader->value);
    } else if (!leader && synchronous_) {
      // Synchronous mode: the last leader on record has every commit it acknowledged, and
      // no standby off the record may take over; when its server is down too, it comes back
      // itself: the key first, then the restart in place above, next round.
      std::optional<SyncRecord> record = cluster_.Sync();
      if (record && record->leader == name_ && TakeLeaderKey()) {
        std::cerr << "pgha-agent: ha: " << name_
                  << " is the last leader on record: restarting it as the master\n";
      }
    }
  }
}

void HaLoop::Elect() {
  LeaderFacts facts;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (last_leader_) {
      facts.name = last_leader_->name;
      facts.timeline = last_leader_->timeline;
      facts.position = last_leader_->received;
    }
  }
  std::vector<MemberStatus> members = cluster_.Members();
  if (facts.timeline == 0) {
    // No leader seen by this run: candidates must share the timeline of the most advanced.
    for (const MemberStatus& m : members) facts.timeline = std::max(facts.timeline, m.timeline);
  }
  // The last leader's history, when this node has its file (standbys receive the history
  // files of the timelines they follow): a standby on an older timeline of it, short of the
  // switch point, can follow a successor too and is a candidate.
  std::optional<TimelineHistory> history;
  if (facts.timeline > 1) {
    try {
      history = TimelineHistory::Read(
          a_.config()->pgdata + "/pg_wal/" + WalFileName::History(facts.timeline).ToString(),
          facts.timeline);
      facts.history = &*history;
    } catch (const Error&) {
      // Not here: candidates must be on the leader's timeline itself.
    }
  }
  CandidateRules rules;
  if (synchronous_) {
    // Only a standby on the last leader's record has every commit it acknowledged.
    rules.only_listed = true;
    std::optional<SyncRecord> record = cluster_.Sync();
    if (record && (facts.name.empty() || record->leader == facts.name))
      rules.only = record->standbys;
  }
  CandidateChoice choice = ChooseCandidate(members, facts, rules);
  if (!choice.winner) {
    std::string why;
    for (const CandidateVerdict& v : choice.verdicts) why += " " + v.name + ": " + v.reason + ";";
    Log("no leader and no eligible candidate:" + why);
    return;
  }
  if (*choice.winner != name_) return;  // the winner takes the key; this node follows it
  if (!TakeLeaderKey()) return;
  std::cerr << "pgha-agent: ha: " << name_ << " won the election (leader was "
            << (facts.name.empty() ? std::string("unknown") : facts.name) << ")\n";
  Act(Publish(), cluster_.Leader());  // promote now, not a round later
}

void HaLoop::Rejoin(const std::string& why) {
  try {
    OperationOptions o;
    o.timeout = a_.config()->operation_timeout;
    // The leader key, not the peers' answers, says who is master: a member that does not
    // answer is not the leader, and a master that lost the key has been fenced.
    o.force = true;
    OperationResult r = a_.cluster()->StartSlave(o);
    std::string how;
    for (const OperationStep& st : r.steps) {
      if (st.ok && st.action.rfind("rewind from ", 0) == 0) how = ", " + st.detail;
    }
    std::cerr << "pgha-agent: ha: rejoined as a standby (" << why << how << ")\n";
  } catch (const Error& e) {
    Log("cannot rejoin (" + why + "): " + e.what());
  }
}

json HaLoop::ClusterJson() {
  std::optional<StoreKeyValue> leader = cluster_.Leader();
  std::vector<MemberStatus> members = cluster_.Members();
  Lsn leader_position;
  for (const MemberStatus& m : members) {
    if (leader && m.name == leader->value) leader_position = m.received;
  }
  json list = json::array();
  for (const MemberStatus& m : members) {
    json lag = nullptr;
    if (leader_position.IsValid() && m.received.IsValid() && m.role == "replica")
      lag = m.received < leader_position ? leader_position.value() - m.received.value() : 0;
    list.push_back({{"name", m.name},
                    {"role", m.role},
                    {"state", m.state},
                    {"timeline", m.timeline},
                    {"received", m.received.IsValid() ? m.received.ToString() : ""},
                    {"replayed", m.replayed.IsValid() ? m.replayed.ToString() : ""},
                    {"lag_bytes", lag},
                    {"agent_url", m.agent_url},
                    {"nofailover", m.nofailover},
                    {"priority", m.priority}});
  }
  json lease_ms = nullptr;
  if (leader && leader->lease != 0) {
    if (auto left = store_->TimeToLive(leader->lease)) lease_ms = left->count();
  }
  ClusterSettings settings = cluster_.Settings();
  const bool synchronous = settings.synchronous_mode.value_or(a_.config()->synchronous_mode);
  json sync_standbys = json::array();
  std::string replication = "asynchronous";
  if (synchronous) {
    std::optional<SyncRecord> record = cluster_.Sync();
    std::string state;
    if (record && leader && record->leader == leader->value) {
      sync_standbys = record->standbys;
      state = record->state;
    }
    if (state == "synchronous") {
      replication = "synchronous";
    } else if (state == "blocked") {
      replication = "blocked: no synchronous standby confirms (strict: commits wait)";
    } else if (state == "asynchronous") {
      replication =
          "asynchronous: no synchronous standby (commits are acknowledged without "
          "one; no automatic failover until one is on record)";
    } else {
      replication = "unknown: the leader has not recorded its synchronous standbys yet";
    }
  }
  return {{"cluster", a_.config()->cluster_name},
          {"leader", leader ? json(leader->value) : json(nullptr)},
          {"leader_lease_ms", lease_ms},
          {"paused", settings.pause},
          {"synchronous_mode", synchronous},
          {"synchronous_mode_strict", settings.synchronous_mode_strict},
          {"synchronous_standbys", sync_standbys},
          {"replication", replication},
          {"members", list}};
}

HaLoop::View HaLoop::LastView() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return view_;
}

bool HaLoop::PausedNow() {
  paused_ = cluster_.Settings().pause;
  return paused_;
}

void HaLoop::SetPaused(bool paused) {
  ChangeSettings(json({{"pause", paused}}).dump());
}

void HaLoop::ChangeSettings(const std::string& changes) {
  ClusterSettings s = cluster_.ChangeSettings(changes);
  paused_ = s.pause;
  std::lock_guard<std::mutex> lock(mutex_);
  wake_ = true;
  wake_cv_.notify_all();
}

}  // namespace pgha::agent
