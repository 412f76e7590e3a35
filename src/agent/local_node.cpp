#include "local_node.hpp"

#include <algorithm>
#include <iostream>
#include <utility>

#include "fs.hpp"
#include "process.hpp"

namespace pgha::agent {

namespace {

// The oldest cached state GET instance/current serves, at the least.
constexpr std::chrono::milliseconds kMinMaxAge{1000};

StateCache::Options CacheOptions(const AgentConfig& config) {
  StateCache::Options o;
  o.interval = config.state_refresh_interval;
  o.max_age = std::max<std::chrono::milliseconds>(kMinMaxAge, 5 * config.state_refresh_interval);
  return o;
}

// Refreshes the cached state when a state change ends, however it ends.
class RefreshAtExit {
 public:
  explicit RefreshAtExit(StateCache& cache) : cache_(cache) {}
  ~RefreshAtExit() { cache_.RefreshQuietly(); }
  RefreshAtExit(const RefreshAtExit&) = delete;
  RefreshAtExit& operator=(const RefreshAtExit&) = delete;

 private:
  StateCache& cache_;
};

// Runs `fn` when the scope ends, however it ends. After a rewind, pg/init or pg/sync (also a
// failed one: pg_wal may have changed), the WAL catalogue is made again from the new pg_wal;
// one made meanwhile by a concurrent request would describe the old data directory.
template <typename Fn>
class AtExit {
 public:
  explicit AtExit(Fn fn) : fn_(std::move(fn)) {}
  ~AtExit() { fn_(); }
  AtExit(const AtExit&) = delete;
  AtExit& operator=(const AtExit&) = delete;

 private:
  Fn fn_;
};

}  // namespace

LocalNode::LocalNode(std::shared_ptr<ConfigStore> config, std::shared_ptr<HttpClient> client)
    : config_(std::move(config)),
      address_(config_->Get()->Local()),
      client_(std::move(client)),
      instance_(MakeInstanceOptions()),
      state_cache_([this] { return instance_.State(); }, CacheOptions(*config_->Get())) {
  WritePassfile();
}

// The passwords of the configuration as a libpq passfile that the server's account can read
// and no one else (libpq ignores a passfile with group or other permissions). Removed when
// no role has a password, so that a stale one cannot authenticate.
void LocalNode::WritePassfile() const {
  auto c = config();
  const std::string path = c->PassfilePath();
  const std::string text = c->PassfileText();
  if (text.empty()) {
    if (fs::Exists(path)) fs::RemoveDurable(path);
    return;
  }
  std::optional<fs::Owner> owner;
  if (auto user = process::RunAsIfRoot(c->os_user)) owner = fs::Owner{user->uid, user->gid};
  fs::WriteFileAtomic(path, text, 0600, owner);
}

// The settings of the start: the data directory and the node's address cannot change while
// the agent runs (POST nodes/env refuses it).
InstanceOptions LocalNode::MakeInstanceOptions() const {
  auto c = config();
  InstanceOptions o;
  o.data_dir = c->pgdata;
  o.bindir = c->bindir;
  o.host = address_.pg_host;
  o.port = address_.pg_port;
  o.os_user = c->os_user;
  o.superuser = c->superuser;
  o.timeout = c->operation_timeout;
  if (!c->PassfileText().empty()) o.passfile = c->PassfilePath();
  return o;
}

NodeState LocalNode::State() {
  return state_cache_.Refresh();
}

NodeState LocalNode::CachedState() {
  return state_cache_.Cached();
}

void LocalNode::StartObserver() {
  state_cache_.RefreshQuietly();  // the first requests find a state
  state_cache_.StartObserver();
}

void LocalNode::StopObserver() noexcept {
  state_cache_.StopObserver();
}

NodeFacts LocalNode::Facts() {
  std::lock_guard<std::mutex> lock(mutex_);
  LsnFacts lf = instance_.ReadLsnFacts();
  NodeFacts f;
  f.state = state_cache_.Refresh();
  f.timeline = lf.timeline;
  f.checkpoint = lf.checkpoint;
  f.redo = lf.redo;
  f.end_of_wal = lf.last_lsn;
  f.last_record = lf.last_record;
  return f;
}

void LocalNode::Stop(StopMode mode) {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  instance_.Stop(mode);
}

void LocalNode::StartMaster() {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  if (instance_.IsRunning()) {
    if (instance_.InRecovery()) {
      throw Error(ErrorCode::kWrongState, address_.name + " runs as a standby. HINT: promote it");
    }
    return;
  }
  instance_.RemoveStandbyConfig();
  PrepareStart();
  instance_.Start();
  CheckStarted();
}

void LocalNode::StartSlave(const NodeAddress& upstream) {
  // Asked before the lock: the upstream's agent answers without taking its node's lock.
  bool through_slot = ensure_standby_slot_ && ensure_standby_slot_(upstream);
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  if (instance_.IsRunning()) {
    if (IsPrimary(instance_.State())) {
      throw Error(ErrorCode::kWrongState, address_.name + " runs as a master: stop it first");
    }
    instance_.Stop(StopMode::kFast);
  }
  instance_.WriteStandbyConfig(
      StandbyConfigFor(*config(), upstream, through_slot ? StandbySlotName(address_.name) : ""));
  PrepareStart();
  instance_.Start();
}

void LocalNode::StartCurrent() {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  if (instance_.IsRunning()) return;
  PrepareStart();
  instance_.Start();
  CheckStarted();
}

void LocalNode::Promote() {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  // Normally already in place since the standby started; rewritten (and reloaded) only when
  // the configuration changed since, and checked in synchronous mode.
  instance_.SetSynchronousStandbys(SyncStandbys());
  instance_.Promote();
}

StandbyConfig LocalNode::StandbyConfigFor(const AgentConfig& c, const NodeAddress& upstream,
                                          const std::string& slot) const {
  StandbyConfig sc;
  sc.primary_host = upstream.pg_host;
  sc.primary_port = upstream.pg_port;
  sc.user = c.replicate_user;
  sc.application_name = address_.name;
  sc.apply_delay = c.apply_delay;
  sc.slot_name = slot;
  return sc;
}

std::shared_ptr<WalCatalog> LocalNode::catalog() {
  std::lock_guard<std::mutex> lock(catalog_mutex_);
  if (!catalog_) {
    ControlData cd = instance_.ReadControlData();
    catalog_ =
        std::make_shared<WalCatalog>(instance_.options().data_dir + "/pg_wal", cd.wal_segment_size,
                                     cd.system_identifier, instance_.binaries().major);
  }
  return catalog_;
}

void LocalNode::ResetCatalog() {
  std::shared_ptr<WalCatalog> old;
  std::lock_guard<std::mutex> lock(catalog_mutex_);
  old.swap(catalog_);  // released after the lock; readers that hold it keep it
}

namespace {
// How long validLsn waits for a running master to flush what it inserted (the WAL writer
// flushes every wal_writer_delay, 200 ms by default).
constexpr std::chrono::milliseconds kFlushWait{2000};
}  // namespace

WalPosition LocalNode::Position() {
  return WalPosition{instance_.History(), instance_.EndOfWal()};
}

ValidLsnAnswer LocalNode::ValidLsn(TimelineId timeline, Lsn lsn,
                                   const std::optional<WalRecordRef>& last) {
  std::lock_guard<std::mutex> lock(mutex_);
  ValidLsnResult r = catalog()->ValidLsn(timeline, lsn, Position(), last);
  // A running master's flush point may be inside the record at `lsn`, whose tail is then
  // not in pg_wal yet: once what was inserted is flushed, read again before saying so.
  if (r.code == ValidLsnCode::kMidRecord && instance_.WaitForWalFlush(kFlushWait))
    r = catalog()->ValidLsn(timeline, lsn, Position(), last);
  return {static_cast<int>(r.code), r.msg, r.cnt};
}

std::vector<WalFileRef> LocalNode::WalFilesFrom(TimelineId timeline, Lsn lsn) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<WalFileRef> refs;
  for (const WalFileInfo& f : catalog()->From(timeline, lsn, Position()))
    refs.push_back({f.name, f.md5});
  return refs;
}

void LocalNode::PullWalFile(const NodeAddress& from, const WalFileRef& file) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (instance_.IsRunning()) {
    throw Error(ErrorCode::kWrongState,
                "WAL is copied into " + address_.name + " only while it is stopped");
  }
  std::string base = from.agent_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  UploadOptions options;
  options.expected_md5 = file.md5;
  options.allow_extend = true;
  options.node_history = instance_.History();
  // Streamed: each piece goes to the upload's temporary file (and its MD5) as it arrives.
  std::shared_ptr<WalCatalog> cat = catalog();
  std::unique_ptr<WalUpload> upload = cat->BeginInstall(file.name, options);
  const std::uint64_t limit =
      std::max<std::uint64_t>(cat->segment_size(), WalCatalog::kMaxHistoryFileSize);
  HttpResponse r = client_->DownloadToSink(
      base + "/api/pg/v1/walFile/" + PercentEncode(file.name),
      [&upload](const char* data, std::size_t size) { upload->Write(data, size); }, limit);
  ThrowIfHttpError(r, "download of " + file.name + " from " + from.name);
  upload->Commit();
}

std::string LocalNode::Rewind(const NodeAddress& source) {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  const PostgresBinaries& bin = instance_.binaries();
  if (!fs::Exists(bin.bindir + "/pg_rewind")) {
    // pg_rewind is tied to its major (the npm builds of 12-18 have none): a new copy of the
    // source replaces the diverged data directory, which never starts as it was.
    AtExit reset([this] { ResetCatalog(); });
    std::string why =
        "no pg_rewind of PostgreSQL " + std::to_string(bin.major) + " in " + bin.bindir;
    SyncReport r = SyncFrom(source);
    std::cerr << "pgha-agent: rewind from " << source.name << ": " << why
              << ", took a fresh copy instead\n";
    return "fresh copy: " + why + " (" + std::string(BaseBackupMethodName(r.method)) +
           " base backup" + (r.bytes ? ", " + std::to_string(r.bytes) + " bytes" : "") + ")";
  }
  RewindSource rs;
  rs.host = source.pg_host;
  rs.port = source.pg_port;
  auto c = config();
  // The rewind role when there is one; the CHECKPOINT before the rewind as the superuser when
  // the rewind role may not run it (PostgreSQL 11-14; 15+ grants it pg_checkpoint).
  rs.user = c->rewind_user.empty() ? c->superuser : c->rewind_user;
  if (!c->rewind_user.empty() && instance_.binaries().major < 15) rs.checkpoint_user = c->superuser;
  AtExit reset([this] { ResetCatalog(); });
  instance_.Rewind(rs);
  return "pg_rewind";
}

std::optional<std::string> LocalNode::TryLock(const std::string& operation,
                                              const std::string& holder,
                                              std::chrono::milliseconds ttl) {
  auto running = leases_.TryAcquire(operation, holder, ttl);
  if (!running && holder.rfind(address_.name + "/", 0) == 0) {
    std::lock_guard<std::mutex> lock(own_holders_mutex_);
    own_holders_.insert(holder);
  }
  return running;
}

void LocalNode::Unlock(const std::string& holder) {
  leases_.Release(holder);
  std::lock_guard<std::mutex> lock(own_holders_mutex_);
  own_holders_.erase(holder);
}

bool LocalNode::HolderRuns(const std::string& holder) {
  if (holder.rfind(address_.name + "/", 0) != 0) return leases_.HeldBy(holder);
  std::lock_guard<std::mutex> lock(own_holders_mutex_);
  return own_holders_.count(holder) > 0;
}

void LocalNode::Init(const std::string& database) {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  auto c = config();
  InitOptions io;
  io.subnet = c->subnet;
  io.mask = c->mask;
  io.replicate_user = c->replicate_user;
  io.database = database.empty() ? c->database : database;
  io.db_user = c->db_user;
  io.db_password = c->db_passwd;
  io.replicate_password = c->replicate_password;
  io.superuser_password = c->superuser_password;
  io.rewind_user = c->rewind_user;
  io.rewind_password = c->rewind_password;
  io.local_trust = c->local_trust;
  io.wal_segment_size_mb = c->wal_segment_size_mb;
  AtExit reset([this] { ResetCatalog(); });
  instance_.Init(io);
  PrepareStart();
  instance_.Start();
  CheckStarted();
}

SynchronousStandbys LocalNode::SyncStandbys() const {
  {
    std::lock_guard<std::mutex> lock(sync_override_mutex_);
    if (sync_override_) return *sync_override_;
  }
  auto c = config();
  SynchronousStandbys s;
  if (c->synchronous_mode) {
    for (const NodeAddress& peer : c->Peers()) s.names.push_back(peer.name);
  }
  return s;
}

void LocalNode::PrepareStart() {
  instance_.WriteParameters(config()->ServerParameters(instance_.binaries().major));
  instance_.SetSynchronousStandbys(SyncStandbys());
}

void LocalNode::CheckStarted() {
  SynchronousStandbys s = SyncStandbys();
  if (!s.names.empty()) instance_.SetSynchronousStandbys(s);
}

std::vector<std::string> LocalNode::ApplyParameters() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!fs::Exists(instance_.options().data_dir + "/postgresql.conf")) return {};
  return instance_.WriteParameters(config()->ServerParameters(instance_.binaries().major))
      .pending_restart;
}

std::vector<std::string> LocalNode::PendingRestart() const {
  return instance_.PendingRestart();
}

void LocalNode::ApplySynchronousMode() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!fs::Exists(instance_.options().data_dir + "/postgresql.conf")) return;
  instance_.SetSynchronousStandbys(SyncStandbys());
}

void LocalNode::SetSynchronousOverride(std::optional<SynchronousStandbys> standbys) {
  {
    std::lock_guard<std::mutex> lock(sync_override_mutex_);
    auto same = [](const std::optional<SynchronousStandbys>& a,
                   const std::optional<SynchronousStandbys>& b) {
      return a.has_value() == b.has_value() &&
             (!a || (a->names == b->names && a->count == b->count));
    };
    if (sync_override_applied_ && same(sync_override_, standbys)) return;
    sync_override_ = std::move(standbys);
    sync_override_applied_ = false;
  }
  ApplySynchronousMode();  // throws: applied again next time
  std::lock_guard<std::mutex> lock(sync_override_mutex_);
  sync_override_applied_ = true;
}

SyncReport LocalNode::Sync(const NodeAddress& source, const std::string& /*database*/) {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  if (instance_.IsRunning()) {
    throw Error(ErrorCode::kWrongState,
                address_.name + " is running: stop it before pg/sync replaces its data");
  }
  AtExit reset([this] { ResetCatalog(); });
  return SyncFrom(source);
}

SyncReport LocalNode::SyncFrom(const NodeAddress& source) {
  auto c = config();
  SyncOptions so;
  so.source_host = source.pg_host;
  so.source_port = source.pg_port;
  so.user = c->replicate_user;
  so.application_name = address_.name;
  so.apply_delay = c->apply_delay;
  so.replace = true;
  so.method = ParseBaseBackupMethod(c->base_backup_method);
  so.max_rate_kb = c->base_backup_max_rate_kb;
  auto next_log = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  so.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (std::chrono::steady_clock::now() < next_log) return;
    next_log = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::cerr << "pgha-agent: base backup from " << source.name << ": " << done / 1024 << " kB of "
              << (total ? std::to_string(total / 1024) : std::string("?")) << " kB\n";
  };
  SyncReport r = instance_.Sync(so);
  std::cerr << "pgha-agent: base backup from " << source.name << " ("
            << BaseBackupMethodName(r.method) << ") done"
            << (r.bytes ? ": " + std::to_string(r.bytes / 1024) + " kB, WAL " +
                              r.start_lsn.ToString() + " to " + r.end_lsn.ToString()
                        : std::string())
            << "\n";
  return r;
}

std::vector<LogicalSlot> LocalNode::LogicalSlots() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ReadLogicalSlots(instance_);
}

SlotSyncReport LocalNode::TakeLogicalSlots(const std::vector<LogicalSlot>& master_slots) {
  std::lock_guard<std::mutex> lock(mutex_);
  SlotSyncReport r = instance_.IsRunning() ? AdvanceLogicalSlots(instance_, master_slots)
                                           : InstallLogicalSlots(instance_, master_slots);
  r.node = address_.name;
  for (SlotCopyStatus& st : r.slots) st.node = address_.name;
  return r;
}

MasterSlots LocalNode::MasterSlotsFor(const std::string& standby, const HoldChanges& changes,
                                      bool ensure_physical_slot) {
  std::vector<std::string> nodes;
  // The snapshot is held for the loop: the range of a range-for does not keep a temporary
  // shared_ptr alive.
  std::shared_ptr<const AgentConfig> c = config();
  for (const NodeAddress& n : c->nodes) nodes.push_back(n.name);
  // A stopped node's slot files are written: not while it starts.
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  if (ensure_physical_slot && !instance_.IsRunning()) lock.lock();
  return ReadMasterSlots(instance_, standby, changes, ensure_physical_slot, nodes);
}

std::optional<SlotSyncReport> LocalNode::SyncSlotsFrom(const NodeAddress& master,
                                                       const MasterSlotsSource& source, bool apply,
                                                       bool allow_restart) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!instance_.IsRunning() || instance_.State() != NodeState::kSlave) return std::nullopt;
  std::string slot = StandbySlotName(address_.name);
  if (apply && ensure_standby_slot_) {
    auto rows = instance_.Query("SELECT current_setting('primary_slot_name')");
    if ((rows.empty() || rows.front().front().value_or("") != slot) &&
        ensure_standby_slot_(master)) {
      // Started without the slot (its upstream's agent did not answer then): the feedback
      // that keeps catalog rows for slot copies needs it. The reload switches the receiver.
      RefreshAtExit refresh(state_cache_);
      instance_.WriteStandbyConfig(StandbyConfigFor(*config(), master, slot));
    }
  }
  SlotSyncOptions o;
  o.node = address_.name;
  o.apply = apply;
  o.allow_restart = allow_restart;
  SlotSyncReport r = SyncLogicalSlots(instance_, source, o);
  std::lock_guard<std::mutex> rl(report_mutex_);
  last_report_ = std::make_pair(r, std::chrono::steady_clock::now());
  return r;
}

void LocalNode::RestartStandby() {
  std::lock_guard<std::mutex> lock(mutex_);
  RefreshAtExit refresh(state_cache_);
  if (!instance_.IsRunning() || !instance_.InRecovery()) return;
  instance_.Stop(StopMode::kFast);
  PrepareStart();
  instance_.Start();
}

std::optional<std::pair<SlotSyncReport, std::chrono::steady_clock::time_point>>
LocalNode::LastSlotReport() {
  std::lock_guard<std::mutex> rl(report_mutex_);
  return last_report_;
}

}  // namespace pgha::agent
