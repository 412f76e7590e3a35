// Logical slots kept on standbys (include/pgha/logical_slots.hpp, docs/slots.md).
//
// A copy is safe when the standby can decode from it after promotion exactly what the master
// would have sent: its WAL from restart_lsn is on the standby, and the catalog rows it needs
// (those deleted by transactions from its catalog_xmin on) were not vacuumed away on the
// master, whose vacuums the standby replays. The second needs care on PostgreSQL before 16,
// which does not notice a copy whose rows are gone. So a new copy is taken from a *hold*: a
// pg_copy_logical_replication_slot() copy made on the master, which keeps those rows there;
// the hold is dropped only when the standby's hot_standby_feedback has brought the copy's
// catalog_xmin into its physical slot on the master, which keeps them from then on.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "fs.hpp"
#include "instance_internal.hpp"
#include "pgha/control_data.hpp"
#include "pgha/crc32c.hpp"
#include "pgha/instance.hpp"
#include "pgha/logical_slots.hpp"
#include "pgha/slot_state.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "pq_session.hpp"
#include "text.hpp"

namespace pgha {

namespace {

constexpr std::string_view kHoldPrefix = "pgha_h_";
constexpr std::string_view kStandbySlotPrefix = "pgha_";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// TransactionIdPrecedesOrEquals for normal xids: modulo-2^32 comparison.
bool XidPrecedesOrEquals(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) <= 0;
}

std::uint32_t ParseXid(const std::string& text) {
  std::size_t used = 0;
  unsigned long v = std::stoul(text, &used);
  if (used != text.size() || v > 0xFFFFFFFFul)
    throw Error(ErrorCode::kPostgresFailed, "unexpected xid \"" + text + "\"");
  return static_cast<std::uint32_t>(v);
}

std::vector<std::uint8_t> FromByteaHex(const std::string& text) {
  if (text.size() < 2 || text.compare(0, 2, "\\x") != 0 || text.size() % 2 != 0)
    throw Error(ErrorCode::kPostgresFailed, "pg_read_binary_file: unexpected bytea text");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw Error(ErrorCode::kPostgresFailed, "pg_read_binary_file: bad hex digit");
  };
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2 - 1);
  for (std::size_t i = 2; i < text.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

/// The hold slot of `slot` for `standby`: short and fixed-length whatever the names.
std::string HoldName(const std::string& standby, const std::string& slot) {
  std::string key = standby + "/" + slot;
  return std::string(kHoldPrefix) + LowerHex32(Crc32c(key.data(), key.size()));
}

/// The state file of `slot` with its positions set from the view.
std::vector<std::uint8_t> Reencode(const std::vector<std::uint8_t>& file, const LogicalSlot& s) {
  SlotState st = SlotState::Decode(file);
  st.set_restart_lsn(s.restart_lsn);
  st.set_confirmed_flush(s.confirmed_flush);
  st.set_catalog_xmin(s.catalog_xmin);
  return st.Encode();
}

LogicalSlot FromState(const SlotState& st, std::vector<std::uint8_t> bytes) {
  LogicalSlot s;
  s.name = st.name();
  s.plugin = st.plugin();
  s.database_oid = st.database();
  s.restart_lsn = st.restart_lsn();
  s.confirmed_flush = st.confirmed_flush();
  s.catalog_xmin = st.catalog_xmin();
  s.two_phase = st.two_phase();
  s.failover = st.failover();
  s.synced = st.synced();
  s.state = std::move(bytes);
  return s;
}

/// One row of pg_replication_slots, as the queries below select it.
struct SlotRow {
  std::string name;
  std::string type;
  LogicalSlot slot;
  std::optional<std::uint32_t> xmin;
  bool has_catalog_xmin = false;
  std::optional<std::vector<std::uint8_t>> file;
};

std::vector<SlotRow> QuerySlots(pg::PqSession& s, bool with_files) {
  int v = s.ServerVersion();
  std::string sql =
      "SELECT slot_name, slot_type, plugin, database, datoid, restart_lsn, confirmed_flush_lsn, "
      "catalog_xmin, xmin, ";
  sql += v >= 140000 ? "two_phase, " : "false, ";
  sql += v >= 130000 ? "wal_status, " : "NULL, ";
  sql += v >= 170000 ? "failover, synced, " : "false, false, ";
  sql += with_files ? "CASE WHEN slot_type = 'logical' THEN pg_read_binary_file("
                      "'pg_replslot/' || slot_name || '/state', 0, 4096, true) END "
                    : "NULL ";
  sql += "FROM pg_replication_slots WHERE NOT temporary ORDER BY slot_name";
  std::vector<SlotRow> rows;
  for (const pg::Row& r : s.Query(sql)) {
    SlotRow row;
    row.name = r[0].value_or("");
    row.type = r[1].value_or("");
    LogicalSlot& l = row.slot;
    l.name = row.name;
    l.plugin = r[2].value_or("");
    l.database = r[3].value_or("");
    l.database_oid = r[4] ? ParseXid(*r[4]) : 0;
    if (r[5]) l.restart_lsn = Lsn::Parse(*r[5]);
    if (r[6]) l.confirmed_flush = Lsn::Parse(*r[6]);
    row.has_catalog_xmin = r[7].has_value();
    if (r[7]) l.catalog_xmin = ParseXid(*r[7]);
    if (r[8]) row.xmin = ParseXid(*r[8]);
    l.two_phase = r[9] == "t";
    l.wal_status = r[10].value_or("");
    l.failover = r[11] == "t";
    l.synced = r[12] == "t";
    if (r[13]) row.file = FromByteaHex(*r[13]);
    rows.push_back(std::move(row));
  }
  return rows;
}

/// A logical slot row with its state file, when both are usable (an invalidated slot has no
/// restart_lsn; a slot dropped between the view and the read has no file).
std::optional<LogicalSlot> UsableLogical(const SlotRow& row) {
  if (row.type != "logical" || !row.file || row.file->empty()) return std::nullopt;
  LogicalSlot s = row.slot;
  if (s.restart_lsn.IsValid() && row.has_catalog_xmin) s.state = Reencode(*row.file, s);
  return s;
}

std::string ReplslotDir(const Instance& in) {
  return inst::DataPath(in, "pg_replslot");
}

/// Logical and physical slot state files of a stopped data directory, by name.
std::map<std::string, SlotState> SlotFiles(const Instance& in) {
  std::map<std::string, SlotState> out;
  std::string dir = ReplslotDir(in);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.find('.') != std::string::npos) continue;  // "*.tmp": PostgreSQL removes them
    std::string path = dir + "/" + name + "/state";
    if (!fs::Exists(path)) continue;
    out.emplace(name, SlotState::Read(path));
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw Error(ErrorCode::kIo, "cannot list \"" + dir + "\": " + ec.message());
  return out;
}

[[noreturn]] void IoFailure(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::kIo, what + " \"" + path + "\": " + std::strerror(err));
}

/// Writes `state` as pg_replslot/<name>/state the way PostgreSQL does: a new slot in
/// "<name>.tmp", fsynced and renamed; an existing one as state.tmp renamed over state.
void WriteSlot(const Instance& in, const std::string& name,
               const std::vector<std::uint8_t>& state) {
  std::string base = ReplslotDir(in);
  fs::Owner owner = fs::OwnerOf(base);
  std::string dir = base + "/" + name;
  std::string_view bytes(reinterpret_cast<const char*>(state.data()), state.size());
  if (fs::Exists(dir + "/state")) {
    fs::WriteFileAtomic(dir + "/state", bytes, 0600);
    return;
  }
  std::string tmp = dir + ".tmp";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  std::filesystem::remove_all(dir, ec);  // a directory without a state file: a torn creation
  if (::mkdir(tmp.c_str(), 0700) != 0) IoFailure("cannot create", tmp, errno);
  fs::ChownIfRoot(tmp, owner);
  fs::WriteFileAtomic(tmp + "/state", bytes, 0600);
  fs::FsyncPath(tmp);
  if (::rename(tmp.c_str(), dir.c_str()) != 0) IoFailure("cannot rename", tmp, errno);
  fs::FsyncPath(base);
}

void RemoveSlotDir(const Instance& in, const std::string& name) {
  std::string base = ReplslotDir(in);
  std::string dir = base + "/" + name;
  // Renamed away first, as PostgreSQL drops a slot: a crash leaves a *.tmp it ignores.
  std::string tmp = dir + ".pgha-drop.tmp";
  if (::rename(dir.c_str(), tmp.c_str()) != 0) {
    if (errno == ENOENT) return;
    IoFailure("cannot rename", dir, errno);
  }
  fs::FsyncPath(base);
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot remove \"" + tmp + "\": " + ec.message());
}

/// Gives stopped `master` standby slot `name` when it has none (`ensure`), and says whether
/// it has it: written as pg_create_physical_replication_slot(name, true) leaves it, reserving
/// WAL from the last checkpoint's redo point; the server loads it when it starts.
bool StoppedMasterHasPhysicalSlot(const Instance& master, const std::string& name, bool ensure) {
  std::map<std::string, SlotState> files = SlotFiles(master);
  auto it = files.find(name);
  if (it != files.end()) {
    if (!it->second.is_logical()) return true;
    if (!ensure) return false;
    throw Error(ErrorCode::kConflict, "slot \"" + name + "\" exists and is not physical");
  }
  if (!ensure) return false;
  SlotState state = SlotState::Create(SlotLayoutForMajor(master.binaries().major), name);
  state.set_restart_lsn(master.ReadControlData().redo);
  WriteSlot(master, name, state.Encode());
  return true;
}

/// Whether `node`'s pg_wal still has the segment holding `lsn` (on the timeline its history
/// puts `lsn` on, or a later one: a promotion copies the segment it switched in).
std::optional<std::string> MissingWal(const Instance& node, Lsn lsn, std::uint32_t segment_size) {
  TimelineHistory history = node.History();
  TimelineId tli = history.TimelineOf(lsn);
  std::uint64_t segno = SegmentNumberOf(lsn, segment_size);
  std::string want = WalSegmentFileName(tli, lsn, segment_size);
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(inst::DataPath(node, "pg_wal"), ec)) {
    auto name = WalFileName::TryParse(entry.path().filename().string(), segment_size);
    if (!name || name.value().kind != WalFileKind::kSegment) continue;
    if (name.value().segment == segno && name.value().timeline >= tli) return std::nullopt;
  }
  return "its WAL no longer has restart_lsn " + lsn.ToString() + " (" + want + ")";
}

const LogicalSlot* Find(const std::vector<LogicalSlot>& slots, const std::string& name) {
  for (const LogicalSlot& s : slots)
    if (s.name == name) return &s;
  return nullptr;
}

bool SameSlot(const LogicalSlot& a, const LogicalSlot& b) {
  return a.plugin == b.plugin && a.database_oid == b.database_oid;
}

SlotCopyStatus StatusOf(const std::string& node, const LogicalSlot& master) {
  SlotCopyStatus st;
  st.slot = master.name;
  st.node = node;
  st.master_confirmed_flush = master.confirmed_flush;
  return st;
}

void SetCopy(SlotCopyStatus& st, const LogicalSlot& copy) {
  st.installed = true;
  st.restart_lsn = copy.restart_lsn;
  st.confirmed_flush = copy.confirmed_flush;
  st.catalog_xmin = copy.catalog_xmin;
}

std::vector<LogicalSlot> LoadedLogical(pg::PqSession& s) {
  std::vector<LogicalSlot> out;
  for (const SlotRow& row : QuerySlots(s, false))
    if (row.type == "logical" && !StartsWith(row.name, kHoldPrefix)) out.push_back(row.slot);
  return out;
}

}  // namespace

std::string StandbySlotName(const std::string& node) {
  std::string out(kStandbySlotPrefix);
  for (char c : node) {
    char l = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_';
    out += ok ? l : '_';
  }
  if (out.size() > 63) out.resize(63);
  return out;
}

std::vector<LogicalSlot> ReadLogicalSlots(const Instance& node) {
  std::vector<LogicalSlot> out;
  if (node.IsRunning()) {
    auto s = inst::Connect(node);
    for (const SlotRow& row : QuerySlots(s, true)) {
      if (StartsWith(row.name, kHoldPrefix)) continue;
      if (auto l = UsableLogical(row)) out.push_back(std::move(*l));
    }
    return out;
  }
  for (auto& [name, st] : SlotFiles(node)) {
    if (!st.is_logical() || StartsWith(name, kHoldPrefix)) continue;
    if (st.persistency() != SlotPersistency::kPersistent) continue;
    out.push_back(FromState(st, st.Encode()));
  }
  return out;
}

MasterSlots ReadMasterSlots(Instance& master, const std::string& standby,
                            const HoldChanges& changes, bool ensure_physical_slot,
                            const std::vector<std::string>& cluster_nodes) {
  MasterSlots m;
  if (!master.IsRunning()) {
    // A standby started before its master (the slaveMaster order) streams through its slot
    // once the master is up only if the slot is there when it starts.
    m.slots = ReadLogicalSlots(master);
    m.physical_slot_exists =
        StoppedMasterHasPhysicalSlot(master, StandbySlotName(standby), ensure_physical_slot);
    return m;
  }
  m.running = true;
  auto s = inst::Connect(master);
  m.server_version = s.ServerVersion();
  for (const std::string& slot : changes.release) {
    try {
      s.Query("SELECT pg_drop_replication_slot($1)", {HoldName(standby, slot)});
    } catch (const pg::PostgresError& e) {
      if (e.sqlstate() != "42704") throw;  // gone already
    }
  }
  if (!changes.hold.empty() && m.server_version < 120000) {
    throw Error(ErrorCode::kWrongState,
                "holding a logical slot for a standby needs PostgreSQL 12 or later "
                "(pg_copy_logical_replication_slot)");
  }
  for (const std::string& slot : changes.hold) {
    try {
      s.Query("SELECT pg_copy_logical_replication_slot($1, $2, false)",
              {slot, HoldName(standby, slot)});
    } catch (const pg::PostgresError& e) {
      if (e.sqlstate() != "42710" && e.sqlstate() != "42704") throw;  // held already / dropped
    }
  }
  std::string physical = StandbySlotName(standby);
  if (ensure_physical_slot) master.EnsurePhysicalSlot(physical);

  std::vector<SlotRow> rows = QuerySlots(s, true);
  if (!cluster_nodes.empty()) {
    std::set<std::string> expected;
    for (const SlotRow& row : rows)
      for (const std::string& node : cluster_nodes) expected.insert(HoldName(node, row.name));
    bool dropped = false;
    for (const SlotRow& row : rows) {
      if (!StartsWith(row.name, kHoldPrefix) || expected.count(row.name)) continue;
      try {
        s.Query("SELECT pg_drop_replication_slot($1)", {row.name});
        dropped = true;
      } catch (const pg::PostgresError& e) {
        if (e.sqlstate() != "42704" && e.sqlstate() != "55006") throw;  // gone / in use
      }
    }
    if (dropped) rows = QuerySlots(s, true);
  }
  std::map<std::string, const SlotRow*> by_name;
  for (const SlotRow& row : rows) by_name[row.name] = &row;
  for (const SlotRow& row : rows) {
    if (row.name == physical && row.type == "physical") {
      m.physical_slot_exists = true;
      m.physical_xmin = row.xmin;
      if (row.has_catalog_xmin) m.physical_catalog_xmin = row.slot.catalog_xmin;
    }
    if (StartsWith(row.name, kHoldPrefix)) continue;
    auto l = UsableLogical(row);
    if (!l) continue;
    auto hold = by_name.find(HoldName(standby, l->name));
    if (hold != by_name.end() && hold->second->type == "logical" &&
        hold->second->slot.restart_lsn.IsValid() && !l->state.empty()) {
      LogicalSlot h = *l;  // the original's file, at the hold's positions
      h.restart_lsn = hold->second->slot.restart_lsn;
      h.confirmed_flush = hold->second->slot.confirmed_flush;
      h.catalog_xmin = hold->second->slot.catalog_xmin;
      h.wal_status = hold->second->slot.wal_status;
      h.state = Reencode(l->state, h);
      m.holds.push_back(std::move(h));
    }
    m.slots.push_back(std::move(*l));
  }
  return m;
}

SlotSyncReport SyncLogicalSlots(Instance& standby, const MasterSlotsSource& master,
                                const SlotSyncOptions& o) {
  SlotSyncReport report;
  report.node = o.node;
  if (!standby.IsRunning() || !standby.InRecovery())
    throw Error(ErrorCode::kWrongState, "slot sync: " + o.node + " is not a running standby");
  std::uint32_t segment_size = 0;  // pg_controldata runs only when a slot needs it
  auto segment = [&] {
    if (segment_size == 0) segment_size = standby.ReadControlData().wal_segment_size;
    return segment_size;
  };

  auto local_session = inst::Connect(standby);
  std::vector<LogicalSlot> loaded = LoadedLogical(local_session);
  std::set<std::string> on_disk;
  for (const auto& [name, st] : SlotFiles(standby))
    if (st.is_logical()) on_disk.insert(name);
  MasterSlots m = master({});

  auto is_pg_synced = [&](const LogicalSlot& s) {
    return s.failover && m.server_version >= 170000;
  };

  // Holds: asked for new slots, dropped once the standby's feedback keeps the rows itself.
  HoldChanges changes;
  for (const LogicalSlot& h : m.holds) {
    const LogicalSlot* copy = Find(loaded, h.name);
    bool kept_by_feedback = copy != nullptr && m.physical_catalog_xmin &&
                            XidPrecedesOrEquals(*m.physical_catalog_xmin, copy->catalog_xmin);
    if (kept_by_feedback) changes.release.push_back(h.name);
  }
  std::map<std::string, std::string> unsafe;  // slot -> reason found on the way
  for (const LogicalSlot& s : m.slots) {
    if (is_pg_synced(s) || Find(loaded, s.name) || on_disk.count(s.name)) continue;
    if (Find(m.holds, s.name) == nullptr) {
      if (m.server_version < 120000) {
        unsafe[s.name] = "the master runs PostgreSQL before 12, which cannot hold a copy";
        continue;
      }
      changes.hold.push_back(s.name);
    }
  }
  if (o.apply && !changes.empty()) m = master(changes);

  // New copies, written from their holds; loaded by one restart.
  std::set<std::string> written;
  std::set<std::string> release_now;
  for (const LogicalSlot& s : m.slots) {
    if (is_pg_synced(s) || Find(loaded, s.name) || on_disk.count(s.name)) continue;
    const LogicalSlot* h = Find(m.holds, s.name);
    if (h == nullptr || h->state.empty()) continue;
    if (auto missing = MissingWal(standby, h->restart_lsn, segment())) {
      unsafe[s.name] = *missing + ": not installed";
      release_now.insert(s.name);
      continue;
    }
    if (!o.apply) continue;
    WriteSlot(standby, s.name, h->state);
    on_disk.insert(s.name);
    written.insert(s.name);
  }
  if (o.apply && !release_now.empty()) {
    HoldChanges r;
    r.release.assign(release_now.begin(), release_now.end());
    m = master(r);
  }

  // Copies of slots the master no longer has (or recreated with another plugin or database),
  // and physical slots of pgha's that a former master keeps: they would only retain WAL.
  std::vector<std::string> drop;
  for (const LogicalSlot& c : loaded) {
    const LogicalSlot* s = Find(m.slots, c.name);
    if (c.synced) continue;  // PostgreSQL 17's own copies
    // A copy whose WAL the standby removed before it was loaded is copied again.
    if (s == nullptr || !SameSlot(*s, c) || c.wal_status == "lost") drop.push_back(c.name);
  }
  if (o.apply) {
    for (const std::string& name : drop) {
      local_session.Query("SELECT pg_drop_replication_slot($1)", {name});
      report.dropped.push_back(name);
    }
    for (const std::string& name : on_disk) {
      if (Find(loaded, name) == nullptr && Find(m.slots, name) == nullptr) {
        RemoveSlotDir(standby, name);
        report.dropped.push_back(name);
      }
    }
    for (const SlotRow& row : QuerySlots(local_session, false)) {
      if (row.type == "physical" && StartsWith(row.name, kStandbySlotPrefix)) {
        local_session.Query("SELECT pg_drop_replication_slot($1)", {row.name});
        report.dropped.push_back(row.name);
      }
    }
  }

  if (!written.empty() && o.allow_restart) {
    standby.Restart();
    report.restarted = true;
    local_session = inst::Connect(standby);
  }

  // Installed copies move forward to the master's confirmed position (PostgreSQL clamps it
  // to what the standby replayed).
  std::map<std::string, std::string> actions;
  loaded = LoadedLogical(local_session);
  for (const LogicalSlot& c : loaded) {
    const LogicalSlot* s = Find(m.slots, c.name);
    if (s == nullptr || !SameSlot(*s, c) || c.synced) continue;
    if (report.restarted && written.count(c.name)) actions[c.name] = "installed";
    if (!o.apply || s->confirmed_flush <= c.confirmed_flush) continue;
    local_session.Query("SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
                        {c.name, s->confirmed_flush.ToString()});
    if (!actions.count(c.name)) actions[c.name] = "advanced";
  }
  if (!actions.empty()) loaded = LoadedLogical(local_session);

  for (const std::string& name : on_disk)
    if (Find(loaded, name) == nullptr && Find(m.slots, name) != nullptr)
      report.restart_needed = true;
  for (const LogicalSlot& s : m.slots) {
    SlotCopyStatus st = StatusOf(o.node, s);
    if (auto a = actions.find(s.name); a != actions.end()) st.action = a->second;
    if (written.count(s.name) && st.action.empty()) st.action = "copied";
    const LogicalSlot* c = Find(loaded, s.name);
    if (c) SetCopy(st, *c);
    if (is_pg_synced(s)) {
      st.safe = c != nullptr && c->synced && c->wal_status != "lost";
      if (!st.safe) st.reason = "a failover slot: PostgreSQL's slot sync has not copied it yet";
    } else if (auto u = unsafe.find(s.name); u != unsafe.end() && c == nullptr) {
      st.reason = u->second;
    } else if (c == nullptr) {
      st.reason = on_disk.count(s.name) ? "copied, loaded at the standby's next restart"
                                        : "not copied yet: waiting for a hold on the master";
    } else if (c->wal_status == "lost" || !c->restart_lsn.IsValid()) {
      st.reason = "the copy was invalidated: the standby removed WAL it needs";
    } else if (auto missing = MissingWal(standby, c->restart_lsn, segment())) {
      st.reason = *missing;
    } else if (Find(m.holds, s.name) != nullptr) {
      st.reason =
          "waiting for the standby's feedback to keep the copy's catalog rows on the "
          "master (hot_standby_feedback)";
    } else if (!m.physical_slot_exists) {
      st.reason =
          "the standby has no physical slot on the master: catalog rows the copy "
          "needs are not kept";
    } else if (!m.physical_catalog_xmin ||
               !XidPrecedesOrEquals(*m.physical_catalog_xmin, c->catalog_xmin)) {
      st.reason = "the master does not keep catalog rows from xid " +
                  std::to_string(c->catalog_xmin) + " for this standby";
    } else {
      st.safe = true;
    }
    report.slots.push_back(std::move(st));
  }
  return report;
}

SlotSyncReport InstallLogicalSlots(Instance& node, const std::vector<LogicalSlot>& master_slots) {
  SlotSyncReport report;
  if (node.IsRunning())
    throw Error(ErrorCode::kWrongState, "slot install: the server runs; stop it first");
  std::uint32_t segment_size = node.ReadControlData().wal_segment_size;
  Lsn end = node.EndOfWal();
  std::map<std::string, SlotState> files = SlotFiles(node);
  for (const LogicalSlot& s : master_slots) {
    SlotCopyStatus st = StatusOf(report.node, s);
    auto it = files.find(s.name);
    std::optional<LogicalSlot> copy;
    if (it != files.end() && it->second.is_logical()) copy = FromState(it->second, {});
    bool same = copy && SameSlot(*copy, s);
    if (same && copy->confirmed_flush >= s.confirmed_flush) {
      SetCopy(st, *copy);  // never moved back (a crashed master's file may be older)
      st.safe = !MissingWal(node, copy->restart_lsn, segment_size);
      if (!st.safe) st.reason = *MissingWal(node, copy->restart_lsn, segment_size);
    } else if (s.state.empty()) {
      st.reason = "the master's slot is invalidated";
    } else if (s.confirmed_flush > end) {
      st.reason = "the master confirmed " + s.confirmed_flush.ToString() +
                  ", past this node's end of WAL " + end.ToString();
      if (same) SetCopy(st, *copy);
    } else if (auto missing = MissingWal(node, s.restart_lsn, segment_size)) {
      st.reason = *missing + ": not installed";
      if (same) SetCopy(st, *copy);
    } else {
      WriteSlot(node, s.name, s.state);
      st.action = copy ? "updated" : "installed";
      SetCopy(st, s);
      st.safe = true;
    }
    report.slots.push_back(std::move(st));
  }
  for (const auto& [name, st] : files) {
    bool ours_physical = !st.is_logical() && StartsWith(name, kStandbySlotPrefix);
    bool stale = st.is_logical() && !st.synced() && Find(master_slots, name) == nullptr;
    if (ours_physical || stale) {
      RemoveSlotDir(node, name);
      report.dropped.push_back(name);
    }
  }
  return report;
}

SlotSyncReport AdvanceLogicalSlots(Instance& node, const std::vector<LogicalSlot>& master_slots) {
  SlotSyncReport report;
  if (!node.IsRunning()) return InstallLogicalSlots(node, master_slots);
  auto s = inst::Connect(node);
  std::vector<LogicalSlot> loaded = LoadedLogical(s);
  for (const LogicalSlot& m : master_slots) {
    SlotCopyStatus st = StatusOf(report.node, m);
    const LogicalSlot* c = Find(loaded, m.name);
    if (c == nullptr || !SameSlot(*c, m)) {
      st.reason = "no copy on this node";
    } else {
      if (m.confirmed_flush > c->confirmed_flush) {
        s.Query("SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
                {m.name, m.confirmed_flush.ToString()});
        st.action = "advanced";
      }
      st.safe = c->wal_status != "lost";
      if (!st.safe) st.reason = "the copy was invalidated: the node removed WAL it needs";
    }
    report.slots.push_back(std::move(st));
  }
  if (!report.slots.empty()) {
    loaded = LoadedLogical(s);
    for (SlotCopyStatus& st : report.slots)
      if (const LogicalSlot* c = Find(loaded, st.slot)) SetCopy(st, *c);
  }
  return report;
}

}  // namespace pgha
