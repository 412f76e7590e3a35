// Logical replication slots kept on standbys, so that a consumer (CDC, logical replication)
// finds its slot on whichever node becomes master. PostgreSQL before 17 does not do it:
// pgha copies each slot's state file onto the standbys at positions they can serve, advances
// the copies with pg_replication_slot_advance(), drops copies of dropped slots, and says per
// slot and per standby whether failing over to it is safe. See docs/slots.md.
#ifndef PGHA_LOGICAL_SLOTS_HPP
#define PGHA_LOGICAL_SLOTS_HPP

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgha/export.hpp"
#include "pgha/lsn.hpp"

namespace pgha {

class Instance;

/// A logical slot as a node has it.
struct LogicalSlot {
  std::string name;
  std::string plugin;
  std::string database;  ///< name ("" when read from a stopped node's files)
  std::uint32_t database_oid = 0;
  Lsn restart_lsn;
  Lsn confirmed_flush;
  std::uint32_t catalog_xmin = 0;
  bool two_phase = false;
  bool failover = false;   ///< PostgreSQL 17+: synchronised to standbys by PostgreSQL
  bool synced = false;     ///< PostgreSQL 17+: a copy made by PostgreSQL's slot sync
  std::string wal_status;  ///< pg_replication_slots.wal_status ("" when not known)
  /// The state file with the positions above and a fresh CRC (empty when not read).
  std::vector<std::uint8_t> state;
};

/// What a master tells one standby about its logical slots.
struct MasterSlots {
  int server_version = 0;  ///< e.g. 150018; 0 when read from a stopped node's files
  bool running = false;    ///< false: read from the files of a stopped master
  std::vector<LogicalSlot> slots;
  /// Hold slots of this standby (pg_copy_logical_replication_slot copies kept on the master
  /// while a new copy is installed), by the name of the slot they hold.
  std::vector<LogicalSlot> holds;
  /// This standby's physical slot on the master and the xmins its hot_standby_feedback
  /// left there.
  bool physical_slot_exists = false;
  std::optional<std::uint32_t> physical_xmin;
  std::optional<std::uint32_t> physical_catalog_xmin;
};

/// Hold slots to create (for slots being installed on the standby) and to drop.
struct HoldChanges {
  std::vector<std::string> hold;
  std::vector<std::string> release;
  bool empty() const { return hold.empty() && release.empty(); }
};

/// One slot on one standby.
struct SlotCopyStatus {
  std::string slot;
  std::string node;        ///< the standby
  bool installed = false;  ///< the standby has the copy loaded (or, stopped, on disk)
  bool safe = false;       ///< failing over to `node` keeps the slot usable, nothing skipped
  std::string reason;      ///< why not safe ("" when safe)
  std::string action;      ///< what this round did: installed, advanced, updated, dropped, ""
  Lsn master_confirmed_flush;
  Lsn restart_lsn;      ///< the copy's (invalid when not installed)
  Lsn confirmed_flush;  ///< the copy's
  std::uint32_t catalog_xmin = 0;
};

/// A round of slot synchronisation on one standby.
struct SlotSyncReport {
  std::string node;
  std::vector<SlotCopyStatus> slots;
  std::vector<std::string> dropped;  ///< copies removed because the master has no such slot
  bool restarted = false;            ///< the standby was restarted to load new copies
  bool restart_needed = false;       ///< copies were written that a restart would load
};

/// The physical slot pgha keeps on the master for standby `node`: "pgha_" + the node name
/// in lower case with characters other than [a-z0-9_] as '_' (at most 63 bytes).
PGHA_API std::string StandbySlotName(const std::string& node);

/// `node`'s logical slots: from pg_replication_slots (state files by pg_read_binary_file,
/// positions set from the view) when it runs, from pg_replslot when it is stopped. pgha's
/// hold slots are left out. Throws Error(kPostgresFailed, kIo, kBadInput).
PGHA_API std::vector<LogicalSlot> ReadLogicalSlots(const Instance& node);

/// The master's side of a round for standby `standby` (a node name): applies `changes`
/// (holds made with pg_copy_logical_replication_slot, PostgreSQL 12+), makes sure the
/// standby's physical slot exists when `ensure_physical_slot`, and reports. A stopped master
/// reports its slot files only; with `ensure_physical_slot` the standby's slot is written
/// into them when missing (loaded when the master starts, as a standby started before its
/// master needs). With `cluster_nodes` (every node name), holds that belong to
/// no node's copy of an existing slot are dropped (left by a standby that went away).
/// Throws Error(kPostgresFailed, kIo).
PGHA_API MasterSlots ReadMasterSlots(Instance& master, const std::string& standby,
                                     const HoldChanges& changes = {},
                                     bool ensure_physical_slot = false,
                                     const std::vector<std::string>& cluster_nodes = {});

/// The master as a round sees it: a call that applies hold changes and reports (the agent
/// asks the master's agent; an embedding program may call ReadMasterSlots directly).
using MasterSlotsSource = std::function<MasterSlots(const HoldChanges&)>;

struct SlotSyncOptions {
  std::string node;           ///< the standby's node name (its physical slot on the master)
  bool allow_restart = true;  ///< restart the standby to load new copies
  bool apply = true;          ///< false: only report
};

/// One round on running standby `standby`: installs copies of new master slots (held on the
/// master by a hold slot until the standby's feedback holds their catalog rows; never when
/// the standby's WAL no longer covers the restart_lsn), restarts once to load them, advances
/// installed copies to the master's confirmed_flush, drops copies of slots the master no
/// longer has, and reports each slot's safety. PostgreSQL 17 failover slots are left to
/// PostgreSQL. Throws Error(kWrongState) when `standby` is not a running standby.
PGHA_API SlotSyncReport SyncLogicalSlots(Instance& standby, const MasterSlotsSource& master,
                                         const SlotSyncOptions& options);

/// Before stopped `node` starts as master, copies `master_slots` (a stopped master's files,
/// read after `node` received all of its WAL) into node's pg_replslot: a copy moves only
/// forward, never past `node`'s end of WAL, and only when `node`'s WAL covers its
/// restart_lsn; copies of slots the master lacks, holds and pgha's physical slots are
/// removed. Throws Error(kWrongState) when `node` runs.
PGHA_API SlotSyncReport InstallLogicalSlots(Instance& node,
                                            const std::vector<LogicalSlot>& master_slots);

/// Running standby `node` takes `master_slots` where it can without a restart: installed
/// copies are advanced (to at most what it replayed); missing ones are reported.
PGHA_API SlotSyncReport AdvanceLogicalSlots(Instance& node,
                                            const std::vector<LogicalSlot>& master_slots);

}  // namespace pgha

#endif  // PGHA_LOGICAL_SLOTS_HPP
