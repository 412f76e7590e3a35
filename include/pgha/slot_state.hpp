// Replication slot state files: $PGDATA/pg_replslot/<slot>/state, PostgreSQL 10 to 18.
#ifndef PGHA_SLOT_STATE_HPP
#define PGHA_SLOT_STATE_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/export.hpp"
#include "pgha/lsn.hpp"

namespace pgha {

/// The on-disk layouts of ReplicationSlotOnDisk. SLOT_VERSION alone does not tell them
/// apart: the (version, length) pair does (reference §1.2).
enum class SlotLayout {
  kPg10,  ///< PostgreSQL 10, 11, 12: version 2, length 160, file 176 bytes
  kPg13,  ///< PostgreSQL 13: version 2, length 168, file 184 bytes
  kPg14,  ///< PostgreSQL 14, 15: version 2, length 184, file 200 bytes
  kPg16,  ///< PostgreSQL 16: version 3, length 184, file 200 bytes
  kPg17,  ///< PostgreSQL 17, 18: version 5, length 184, file 200 bytes
};

/// The majors a layout is written by, e.g. "14-15".
PGHA_API std::string_view SlotLayoutName(SlotLayout layout) noexcept;
/// The layout PostgreSQL `major` (10..18) writes; throws Error(kBadInput) for others.
PGHA_API SlotLayout SlotLayoutForMajor(int major);
/// The file size of a layout (176, 184 or 200 bytes).
PGHA_API std::size_t SlotFileSize(SlotLayout layout) noexcept;

/// ReplicationSlotPersistency.
enum class SlotPersistency : std::uint32_t {
  kPersistent = 0,
  kEphemeral = 1,
  kTemporary = 2,
};

/// "persistent", "ephemeral", "temporary".
PGHA_API std::string_view SlotPersistencyName(SlotPersistency p) noexcept;

/// One slot state file. It keeps the file's bytes and reads and writes fields in place, so
/// padding and fields this version does not model survive: Decode then Encode of an
/// unchanged object gives back the input byte for byte. A value type; not synchronised.
class PGHA_API SlotState {
 public:
  /// Decodes a state file. Checks, in this order and naming the one that failed with its
  /// byte offset: size >= 16 (header), magic 0x1051CA1, a known (version, length) pair,
  /// size == 16 + length, and (when `verify_checksum`) the CRC-32C over bytes 8..end.
  /// Also checks the name and plugin are NUL-terminated. Throws Error(kBadInput).
  static SlotState Decode(const std::uint8_t* data, std::size_t size, bool verify_checksum = true);
  static SlotState Decode(const std::vector<std::uint8_t>& bytes, bool verify_checksum = true);
  /// Non-throwing Decode.
  static Result<SlotState> TryDecode(const std::uint8_t* data, std::size_t size,
                                     bool verify_checksum = true) noexcept;
  /// Reads and decodes the file at `path` (kNotFound / kIo / kBadInput).
  static SlotState Read(const std::string& path, bool verify_checksum = true);
  /// A new persistent physical slot named `name` in `layout`, all other fields zero.
  static SlotState Create(SlotLayout layout, std::string_view name);

  /// The file bytes with the checksum recomputed over the current fields.
  std::vector<std::uint8_t> Encode() const;
  /// The CRC-32C stored in the bytes this object holds: the decoded file's, unchanged by
  /// setters (Encode returns bytes with a fresh one).
  std::uint32_t stored_checksum() const noexcept;
  /// The CRC-32C the current fields give.
  std::uint32_t ComputeChecksum() const noexcept;

  SlotLayout layout() const noexcept { return layout_; }
  /// SLOT_VERSION as stored (2, 3 or 5).
  std::uint32_t version() const noexcept;

  std::string name() const;
  /// Sets the slot name; PostgreSQL's rules: 1..63 bytes of [a-z0-9_]. Throws kBadInput.
  void set_name(std::string_view name);
  /// The database Oid; 0 for a physical slot.
  std::uint32_t database() const noexcept;
  void set_database(std::uint32_t oid) noexcept;
  bool is_logical() const noexcept { return database() != 0; }
  /// Throws Error(kBadInput) for an on-disk value outside the enum.
  SlotPersistency persistency() const;
  std::uint32_t persistency_raw() const noexcept;
  void set_persistency(SlotPersistency p) noexcept;
  std::uint32_t xmin() const noexcept;
  void set_xmin(std::uint32_t xid) noexcept;
  std::uint32_t catalog_xmin() const noexcept;
  void set_catalog_xmin(std::uint32_t xid) noexcept;
  Lsn restart_lsn() const noexcept;
  void set_restart_lsn(Lsn lsn) noexcept;
  Lsn confirmed_flush() const noexcept;
  void set_confirmed_flush(Lsn lsn) noexcept;
  /// `invalidated_at` (13-15 layouts: the restart_lsn an invalidated slot had); nullopt
  /// for layouts without the field.
  std::optional<Lsn> invalidated_at() const noexcept;
  /// `invalidated` (16+ layouts: the raw cause value); nullopt for layouts without it.
  std::optional<std::uint32_t> invalidated() const noexcept;
  /// The pg_replication_slots.invalidation_reason / wal_status cause of an invalidated
  /// slot ("wal_removed", "rows_removed", "wal_level_insufficient", "idle_timeout"), or
  /// nullopt when the slot is valid. The 17-18 layout stores the cause as an enum in 17
  /// and as bit flags in 18, so there `major` (17 or 18) must be given; otherwise 0.
  /// Throws Error(kBadInput) when the cause is ambiguous without `major` or unknown.
  std::optional<std::string> InvalidationReason(int major = 0) const;
  /// `two_phase_at` (14+; `initial_consistent_point` in 14); nullopt before 14.
  std::optional<Lsn> two_phase_at() const noexcept;
  /// `two_phase` (14+); false before 14.
  bool two_phase() const noexcept;
  /// Throws Error(kWrongState) on layouts before 14.
  void set_two_phase(bool on);
  std::string plugin() const;
  /// Sets the output plugin name (0..63 bytes). Throws kBadInput.
  void set_plugin(std::string_view plugin);
  /// `synced` (17+): created by slot synchronisation on a standby; false before 17.
  bool synced() const noexcept;
  /// `failover` (17+): synchronised to standbys; false before 17.
  bool failover() const noexcept;
  /// Throws Error(kWrongState) on layouts before 17.
  void set_failover(bool on);

 private:
  SlotState(SlotLayout layout, std::vector<std::uint8_t> bytes);
  std::uint32_t U32(std::size_t off) const noexcept;
  std::uint64_t U64(std::size_t off) const noexcept;
  void PutU32(std::size_t off, std::uint32_t v) noexcept;
  void PutU64(std::size_t off, std::uint64_t v) noexcept;

  SlotLayout layout_;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace pgha

#endif  // PGHA_SLOT_STATE_HPP
