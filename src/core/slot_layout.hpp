// The on-disk layouts of a replication slot state file (private to src/core).
//
// This is the one place where pgha copies these layouts from PostgreSQL. It follows:
//   * src/backend/replication/slot.c: ReplicationSlotOnDisk (magic, checksum, version,
//     length, then the persistent data), SLOT_MAGIC and SLOT_VERSION;
//   * src/include/replication/slot.h: ReplicationSlotPersistentData,
//     ReplicationSlotPersistency and ReplicationSlotInvalidationCause;
// as of PostgreSQL 10.20, 11.2, 12.5, 13.1, 14.13, 15.15, 16.2, 17.4 and 18.3, on a 64-bit
// ABI (8-byte aligned uint64, NAMEDATALEN 64). Cross-checked against the fixtures made by
// 10.23 .. 18.4 (shared/reference/postgres-formats.md §1.2).
#ifndef PGHA_CORE_SLOT_LAYOUT_HPP
#define PGHA_CORE_SLOT_LAYOUT_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pgha/slot_state.hpp"

namespace pgha::slot_layout {

// ReplicationSlotOnDisk header: the same 16 bytes in every version.
inline constexpr std::uint32_t kMagic = 0x01051CA1;  // SLOT_MAGIC
inline constexpr std::size_t kMagicOffset = 0;
inline constexpr std::size_t kChecksumOffset = 4;
inline constexpr std::size_t kVersionOffset = 8;  // the CRC covers this byte to the end
inline constexpr std::size_t kLengthOffset = 12;
inline constexpr std::size_t kHeaderSize = 16;  // file offset of ReplicationSlotPersistentData

inline constexpr std::size_t kNameDataLen = 64;  // NAMEDATALEN: char[64], NUL-terminated

// Offsets inside ReplicationSlotPersistentData (add kHeaderSize for the file offset) of the
// fields that sit at the same place in every version.
inline constexpr std::size_t kName = 0;          // NameData
inline constexpr std::size_t kDatabase = 64;     // Oid
inline constexpr std::size_t kPersistency = 68;  // ReplicationSlotPersistency (4 bytes)
inline constexpr std::size_t kXmin = 72;         // TransactionId
inline constexpr std::size_t kCatalogXmin = 76;  // TransactionId
inline constexpr std::size_t kRestartLsn = 80;   // XLogRecPtr

inline constexpr std::size_t kAbsent = ~std::size_t{0};  // the field is not in this layout

/// One layout: how to recognise it and where its version-dependent fields are
/// (offsets inside ReplicationSlotPersistentData, or kAbsent).
struct Spec {
  SlotLayout layout;
  std::uint32_t version;  // SLOT_VERSION
  std::uint32_t length;   // sizeof(ReplicationSlotPersistentData)
  int first_major;
  int last_major;
  std::string_view name;
  std::size_t invalidated_at;   // XLogRecPtr, 13-15
  std::size_t invalidated;      // ReplicationSlotInvalidationCause (4 bytes + 4 padding), 16+
  std::size_t confirmed_flush;  // XLogRecPtr
  std::size_t two_phase_at;     // XLogRecPtr (initial_consistent_point in 14), 14+
  std::size_t two_phase;        // bool, 14+
  std::size_t plugin;           // NameData
  std::size_t synced;           // char, 17+
  std::size_t failover;         // bool, 17+
};

// Indexed by SlotLayout. Columns: layout, version, length, majors, name,
// invalidated_at, invalidated, confirmed_flush, two_phase_at, two_phase, plugin, synced, failover.
inline constexpr std::array<Spec, 5> kSpecs = {{
    {SlotLayout::kPg10, 2, 160, 10, 12, "10-12", kAbsent, kAbsent, 88, kAbsent, kAbsent, 96,
     kAbsent, kAbsent},
    {SlotLayout::kPg13, 2, 168, 13, 13, "13", 88, kAbsent, 96, kAbsent, kAbsent, 104, kAbsent,
     kAbsent},
    {SlotLayout::kPg14, 2, 184, 14, 15, "14-15", 88, kAbsent, 96, 104, 112, 113, kAbsent, kAbsent},
    {SlotLayout::kPg16, 3, 184, 16, 16, "16", kAbsent, 88, 96, 104, 112, 113, kAbsent, kAbsent},
    {SlotLayout::kPg17, 5, 184, 17, 18, "17-18", kAbsent, 88, 96, 104, 112, 113, 177, 178},
}};

/// One ReplicationSlotInvalidationCause value and its pg_replication_slots name
/// (SlotInvalidationCauses in slot.c, 17+; HORIZON is shown as "rows_removed").
struct Cause {
  std::uint32_t value;
  std::string_view name;
};
// 16 and 17: a plain enum (RS_INVAL_NONE = 0).
inline constexpr std::array<Cause, 3> kCausesEnum = {
    {{1, "wal_removed"}, {2, "rows_removed"}, {3, "wal_level_insufficient"}}};
// 18: bit flags (RS_INVAL_NONE = 0); a slot stores one of them.
inline constexpr std::array<Cause, 4> kCausesFlags = {
    {{1, "wal_removed"}, {2, "rows_removed"}, {4, "wal_level_insufficient"}, {8, "idle_timeout"}}};
// 13-15 store no cause: a valid invalidated_at means the WAL was removed.
inline constexpr std::string_view kCauseWalRemoved = "wal_removed";

/// The Spec of `layout`.
constexpr const Spec& SpecOf(SlotLayout layout) noexcept {
  return kSpecs[static_cast<std::size_t>(layout)];
}

/// The Spec with this (version, length) pair, or nullptr: the pair, not the version alone,
/// identifies a layout.
constexpr const Spec* FindSpec(std::uint32_t version, std::uint32_t length) noexcept {
  for (const Spec& s : kSpecs) {
    if (s.version == version && s.length == length) return &s;
  }
  return nullptr;
}

// Every present field lies inside `length` and the table is in SlotLayout order.
constexpr bool Fits(std::size_t off, std::size_t size, std::uint32_t length) {
  return off == kAbsent || off + size <= length;
}
constexpr bool TableIsConsistent() {
  for (std::size_t i = 0; i < kSpecs.size(); ++i) {
    const Spec& s = kSpecs[i];
    if (static_cast<std::size_t>(s.layout) != i) return false;
    if (!Fits(s.invalidated_at, 8, s.length) || !Fits(s.invalidated, 4, s.length) ||
        !Fits(s.confirmed_flush, 8, s.length) || !Fits(s.two_phase_at, 8, s.length) ||
        !Fits(s.two_phase, 1, s.length) || !Fits(s.plugin, kNameDataLen, s.length) ||
        !Fits(s.synced, 1, s.length) || !Fits(s.failover, 1, s.length) ||
        !Fits(kRestartLsn, 8, s.length)) {
      return false;
    }
  }
  return true;
}
static_assert(TableIsConsistent(), "slot layout table is inconsistent");

}  // namespace pgha::slot_layout

#endif  // PGHA_CORE_SLOT_LAYOUT_HPP
