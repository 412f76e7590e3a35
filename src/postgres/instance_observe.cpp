// pgha::Instance: observations (state, LSNs, control data, timeline history).
#include <algorithm>
#include <cstdio>
#include <limits>
#include <string_view>
#include <thread>

#include "fs.hpp"
#include "instance_internal.hpp"
#include "instance_transition.hpp"
#include "pgha/error.hpp"
#include "pgha/instance.hpp"
#include "pgha/wal_scan.hpp"
#include "session_pool.hpp"

namespace pgha {

namespace {

using OptText = std::optional<std::string>;

constexpr TimelineId kMaxTimeline = std::numeric_limits<TimelineId>::max();

Lsn LsnOf(const OptText& text) {
  return text ? Lsn::Parse(*text) : Lsn();
}

std::uint32_t U32Of(const OptText& text) {
  if (!text || text->empty() || text->size() > 10) return 0;
  std::uint64_t v = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v > 0xFFFFFFFFu ? 0 : static_cast<std::uint32_t>(v);
}

// The timeline in the first 8 hex digits of a WAL file name.
TimelineId TimelineOfWalName(const OptText& name) {
  if (!name || name->size() < 24) return 0;
  auto parsed = WalFileName::TryParse(name->substr(0, 24));
  return parsed ? parsed.value().timeline : 0;
}

std::string HistoryPath(const Instance& in, TimelineId tli) {
  return inst::DataPath(in, "pg_wal/" + WalFileName::History(tli).ToString());
}

TimelineHistory ReadHistory(const Instance& in, TimelineId tli) {
  if (tli <= 1) return TimelineHistory(1);
  std::string path = HistoryPath(in, tli);
  if (!fs::Exists(path))
    throw Error(ErrorCode::kNotFound,
                "timeline " + std::to_string(tli) + " has no history file \"" + path + "\"");
  return TimelineHistory::Read(path, tli);
}

// The newest timeline from `tli` on whose history file pg_wal holds, probed one by one as the
// startup process does for recovery_target_timeline 'latest' (findNewestTimeLine).
TimelineId NewestTimeline(const Instance& in, TimelineId tli) {
  while (tli < kMaxTimeline && fs::Exists(HistoryPath(in, tli + 1))) ++tli;
  return tli;
}

// The timeline of a standby that does not stream, from the position `end` its WAL reaches.
// pg_control names the timeline of the last restartpoint (and of minRecoveryPoint, moved when
// a page is written), so a standby that followed a promoted master reads the old timeline
// there until its first restartpoint. The startup process follows the newest timeline whose
// history continues pg_control's; the WAL's last byte before `end` lies on the timeline of
// that history that holds it (a switch point is where the child begins, so an `end` at the
// switch point is still the parent's). That timeline's segment must be in pg_wal, where the
// WAL receiver writes what it streams: a newest history file without it, or one that does not
// continue pg_control's timeline (a file of another branch), is not taken as followed.
TimelineId StandbyTimeline(const Instance& in, TimelineId control_tli, Lsn end,
                           std::uint32_t segment_size) {
  TimelineId newest = NewestTimeline(in, control_tli);
  if (newest == control_tli || !end.IsValid() || segment_size == 0) return control_tli;
  TimelineHistory history = ReadHistory(in, newest);
  if (!history.Contains(control_tli)) return control_tli;
  TimelineId tli = history.TimelineOf(end - 1);
  if (tli <= control_tli) return control_tli;
  std::string segment = WalSegmentFileName(tli, end - 1, segment_size);
  return fs::Exists(inst::DataPath(in, "pg_wal/" + segment)) ? tli : control_tli;
}

// Standby: the receiver's timeline while it streams, otherwise StandbyTimeline of the end of
// what was received or replayed (LsnFacts' last_lsn, so walFile names a segment of it).
void ObserveStandby(const Instance& in, pg::PqSession& s, InstanceObservation& ob) {
  const char* flushed = ob.server_version >= 130000 ? "flushed_lsn" : "received_lsn";
  const char* sender = ob.server_version >= 110000 ? "sender_host, sender_port" : "NULL, NULL";
  auto rows = s.Query(std::string("SELECT status, ") + sender + ", received_tli, " + flushed +
                      " FROM pg_stat_wal_receiver");
  if (!rows.empty() && rows[0][0]) {
    const auto& r = rows[0];
    ob.receiver = WalReceiverStatus{*r[0], r[1].value_or(""), static_cast<int>(U32Of(r[2])),
                                    U32Of(r[3]), LsnOf(r[4])};
  }
  auto lsns = s.Query("SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()");
  ob.receive_lsn = LsnOf(lsns[0][0]);
  ob.replay_lsn = LsnOf(lsns[0][1]);
  if (ob.receiver && ob.receiver->status == "streaming" && ob.receiver->received_timeline) {
    ob.timeline = ob.receiver->received_timeline;
    return;
  }
  auto t = s.Query(
      "SELECT c.timeline_id, r.min_recovery_end_timeline, i.bytes_per_wal_segment "
      "FROM pg_control_checkpoint() c, pg_control_recovery() r, pg_control_init() i");
  TimelineId control_tli = std::max(U32Of(t[0][0]), U32Of(t[0][1]));
  ob.timeline =
      StandbyTimeline(in, control_tli, std::max(ob.receive_lsn, ob.replay_lsn), U32Of(t[0][2]));
}

void ObservePrimary(pg::PqSession& s, InstanceObservation& ob) {
  auto r = s.Query(
      "SELECT pg_current_wal_lsn(), pg_current_wal_flush_lsn(), "
      "pg_walfile_name(pg_current_wal_lsn())");
  ob.current_lsn = LsnOf(r[0][0]);
  ob.flush_lsn = LsnOf(r[0][1]);
  ob.timeline = TimelineOfWalName(r[0][2]);
}

void ObserveSenders(pg::PqSession& s, InstanceObservation& ob) {
  auto rows = s.Query(
      "SELECT application_name, client_addr::text, state, sent_lsn, write_lsn, "
      "flush_lsn, replay_lsn, sync_state FROM pg_stat_replication ORDER BY pid");
  for (const auto& r : rows) {
    ob.standbys.push_back(StreamingStandby{r[0].value_or(""), r[1].value_or(""), r[2].value_or(""),
                                           LsnOf(r[3]), LsnOf(r[4]), LsnOf(r[5]), LsnOf(r[6]),
                                           r[7].value_or("")});
  }
}

NodeObservation Seen(const InstanceObservation& ob) {
  NodeObservation seen;
  seen.running = ob.running;
  seen.accepting_connections = ob.accepting_connections;
  seen.in_recovery = ob.in_recovery;
  seen.receiver_streaming = ob.receiver && ob.receiver->status == "streaming";
  seen.streaming_standbys = static_cast<int>(
      std::count_if(ob.standbys.begin(), ob.standbys.end(),
                    [](const StreamingStandby& s) { return s.state == "streaming"; }));
  return seen;
}

// After a failed connection: true when the postmaster has died meanwhile (killed, crashed). A
// killed server refuses connections a moment before its process is gone, so this looks a few
// times, within 100 ms.
bool DiedMeanwhile(const Instance& in) {
  auto deadline = inst::Clock::now() + std::chrono::milliseconds(100);
  for (int attempt = 0;; ++attempt) {
    if (!inst::LivePostmaster(in)) return true;
    if (inst::Clock::now() >= deadline) return false;
    inst::PollPause(attempt, deadline);
  }
}

// The state of a postmaster that refuses connections (57P03): a standby (started in standby
// mode) is in recovery; anything else comes up as a primary, or may: starting.
NodeState RefusingState(const Instance& in) {
  NodeObservation seen;
  seen.running = true;
  seen.accepting_connections = false;
  seen.starts_as_standby = pg::StartModeOf(in.options().data_dir) == pg::StartMode::kStandby;
  return DeriveNodeState(seen);
}

LsnFacts StoppedLsnFacts(const Instance& in) {
  ::pgha::ControlData cd = in.ReadControlData();
  LsnFacts f;
  f.checkpoint = cd.checkpoint;
  f.redo = cd.redo;
  f.timeline = cd.CurrentTimeline();
  WalScanOptions scan;
  scan.start = cd.redo;
  scan.segment_size = cd.wal_segment_size;
  scan.system_identifier = cd.system_identifier;
  WalScanResult wal =
      ScanWalDirectory(inst::DataPath(in, "pg_wal"), ReadHistory(in, f.timeline), scan);
  f.last_lsn = wal.end;
  if (wal.last_record.IsValid()) f.last_record = WalRecordRef{wal.last_record, wal.last_record_crc};
  f.wal_file = WalSegmentFileName(f.timeline, f.last_lsn, cd.wal_segment_size);
  return f;
}

}  // namespace

namespace inst {

TimelineId CurrentTimeline(const Instance& in) {
  InstanceObservation ob = in.Observe();
  if (ob.accepting_connections) return ob.timeline;
  return in.ReadControlData().CurrentTimeline();
}

}  // namespace inst

// The observations below are function-try-blocks: a connection refused or closed because the
// server is starting or stopping is Error(kUnavailable), not a failure (docs/errors.md).
InstanceObservation Instance::Observe() const try {
  InstanceObservation ob;
  if (!inst::LivePostmaster(*this)) return ob;
  ob.running = true;
  std::optional<pg::PqSession> s;
  try {
    s.emplace(inst::Connect(*this));
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "57P03") {
      if (DiedMeanwhile(*this)) return InstanceObservation{};
      throw;
    }
    ob.in_recovery = true;  // starting up, not yet consistent, or shutting down
    ob.state = RefusingState(*this);
    return ob;
  }
  ob.accepting_connections = true;
  ob.server_version = s->ServerVersion();
  ob.in_recovery = s->QueryValue("SELECT pg_is_in_recovery()") == "t";
  if (ob.in_recovery) {
    ObserveStandby(*this, *s, ob);
  } else {
    ObservePrimary(*s, ob);
  }
  ObserveSenders(*s, ob);
  ob.state = DeriveNodeState(Seen(ob));
  return ob;
} catch (const pg::PostgresError& e) {
  inst::ThrowIfInTransition(*this, e);
  throw;
}

NodeState Instance::State() const try {
  auto postmaster = inst::LivePostmaster(*this);
  if (!postmaster) return NodeState::kInactive;
  // One query on a reused session: the agent answers GET instance/current with this.
  constexpr const char* kStateQuery =
      "SELECT pg_is_in_recovery(), "
      "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'), "
      "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming')";
  auto* pool = static_cast<pg::SessionPool*>(pool_.get());
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::uint64_t generation = pool->Generation();
    std::optional<pg::PqSession> s = pool->Take();
    bool reused = s.has_value();
    try {
      if (!s) s.emplace(inst::Connect(*this));
      std::vector<pg::Row> rows = s->Query(kStateQuery);
      NodeObservation seen;
      seen.running = true;
      seen.in_recovery = rows.at(0).at(0) == std::optional<std::string>("t");
      seen.receiver_streaming = rows.at(0).at(1) == std::optional<std::string>("t");
      seen.streaming_standbys = std::stoi(rows.at(0).at(2).value_or("0"));
      pool->Give(std::move(*s), generation, *postmaster);
      return DeriveNodeState(seen);
    } catch (const pg::PostgresError& e) {
      if (e.sqlstate() == "57P03") return RefusingState(*this);  // starting up or shutting down
      // A reused session may have died with a restarted server: retry once.
      if (reused) continue;
      if (DiedMeanwhile(*this)) return NodeState::kInactive;
      throw;
    }
  }
  return Observe().state;
} catch (const pg::PostgresError& e) {
  inst::ThrowIfInTransition(*this, e);
  throw;
}

bool Instance::InRecovery() const try {
  inst::RequireRunning(*this, "in_recovery");
  return inst::Connect(*this).QueryValue("SELECT pg_is_in_recovery()") == "t";
} catch (const pg::PostgresError& e) {
  inst::ThrowIfInTransition(*this, e);
  throw;
}

::pgha::ControlData Instance::ReadControlData() const {
  // Decoded by the core itself (every layout of 10-18), not by pg_controldata, which exists
  // only for the major it came with. A running server rewrites the file at each checkpoint
  // with one write: a read that met it half-written fails the CRC and is read again, as
  // PostgreSQL's own readers of a live control file would only warn about it.
  for (int attempt = 1;; ++attempt) {
    try {
      return ::pgha::ControlData::ReadDataDirectory(options_.data_dir);
    } catch (const Error& e) {
      if (attempt >= 3 || e.code() != ErrorCode::kBadInput ||
          std::string_view(e.what()).find("CRC-32C mismatch") == std::string_view::npos) {
        throw;
      }
    }
  }
}

LsnFacts Instance::ReadLsnFacts() const try {
  if (!inst::LivePostmaster(*this)) return StoppedLsnFacts(*this);
  InstanceObservation ob = Observe();
  if (!ob.accepting_connections) return StoppedLsnFacts(*this);  // pg_control + WAL on disk
  auto s = inst::Connect(*this);
  auto r = s.Query(
      "SELECT c.checkpoint_lsn, c.redo_lsn, i.bytes_per_wal_segment "
      "FROM pg_control_checkpoint() c, pg_control_init() i");
  LsnFacts f;
  f.checkpoint = LsnOf(r[0][0]);
  f.redo = LsnOf(r[0][1]);
  std::uint32_t segment_size = U32Of(r[0][2]);
  f.timeline = ob.timeline;
  f.last_lsn = ob.in_recovery ? std::max(ob.receive_lsn, ob.replay_lsn) : ob.flush_lsn;
  f.wal_file = WalSegmentFileName(f.timeline, f.last_lsn, segment_size);
  return f;
} catch (const pg::PostgresError& e) {
  inst::ThrowIfInTransition(*this, e);
  throw;
}

TimelineHistory Instance::History() const {
  return ReadHistory(*this, inst::CurrentTimeline(*this));
}

Lsn Instance::EndOfWal() const {
  return ReadLsnFacts().last_lsn;
}

bool Instance::WaitForWalFlush(std::chrono::milliseconds timeout) const try {
  if (!inst::LivePostmaster(*this)) return false;
  const auto deadline = inst::Clock::now() + timeout;
  auto s = inst::Connect(*this);
  auto rows = s.Query("SELECT pg_is_in_recovery(), pg_current_wal_insert_lsn()");
  if (rows.at(0).at(0) != std::optional<std::string>("f")) return false;
  const Lsn target = LsnOf(rows[0][1]);
  for (;;) {
    if (LsnOf(s.QueryValue("SELECT pg_current_wal_flush_lsn()")) >= target) return true;
    if (inst::Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the WAL writer's pace
  }
} catch (const pg::PostgresError& e) {
  if (e.sqlstate() == "57P03" || e.sqlstate() == "25006") return false;  // stopping, promoted
  inst::ThrowIfInTransition(*this, e);
  throw;
}

}  // namespace pgha
