// The on-disk layouts of global/pg_control (private to src/core).
//
// This is the one place where pgha copies these layouts from PostgreSQL. It follows:
//   * src/include/catalog/pg_control.h: ControlFileData, CheckPoint, DBState and
//     PG_CONTROL_VERSION (1002 in 10, 1100 in 11, 1201 in 12, 1300 in 13-16, 1700 in 17,
//     1800 in 18);
//   * src/include/access/transam.h: FullTransactionId (a uint64, 12+; 10-11 keep a 32-bit
//     epoch next to a 32-bit xid);
//   * src/include/access/xlogdefs.h, pgtime.h: XLogRecPtr (uint64), TimeLineID (uint32),
//     pg_time_t (int64); src/include/access/xlog.h: WalLevel (minimal 0, replica 1, logical 2);
//   * src/common/controldata_utils.c: the CRC-32C covers the bytes before `crc`
//     (offsetof(ControlFileData, crc)), in 10-18;
// on a 64-bit little-endian ABI (8-byte aligned uint64/int64/double). The structs are written
// down below as member lists in declaration order and laid out by the C rules at compile time,
// so they read like the header. What changed between majors: 11 dropped prevCheckPoint, 12
// made nextXid a FullTransactionId and added max_wal_senders, 13 dropped float4ByVal, 17 added
// CheckPoint.wal_level, 18 added default_char_signedness. 13, 14, 15 and 16 write the same
// layout (1300). Every offset is checked against files written by 10.23, 11.22, 12.22, 13.23,
// 14.23, 15.18, 16.14, 17.10 and 18.4, field by field against what their pg_control_*()
// functions and pg_controldata said (tests/fixtures/pgNN/control).
#ifndef PGHA_CORE_CONTROL_LAYOUT_HPP
#define PGHA_CORE_CONTROL_LAYOUT_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgha::control_layout {

inline constexpr std::size_t kFileSize = 8192;  // PG_CONTROL_FILE_SIZE
inline constexpr std::size_t kAbsent = ~std::size_t{0};
// pg_control_version is 8 bytes into the file in every version ("for historical reasons").
inline constexpr std::size_t kVersionOffset = 8;

/// The members pgha reads, of ControlFileData and (the kCkpt ones) of its checkPointCopy.
enum Field : std::uint8_t {
  kSystemIdentifier,
  kControlVersion,
  kCatalogVersion,
  kState,
  kTime,
  kCheckpoint,
  kPrevCheckpoint,  // 10 only
  kCheckPointCopy,  // the CheckPoint struct, laid out from the kCkpt members below
  kCkptRedo,
  kCkptTimeline,
  kCkptPrevTimeline,
  kCkptFullPageWrites,
  kCkptWalLevel,      // 17+
  kCkptNextXidEpoch,  // 10-11
  kCkptNextXid,       // 10-11: TransactionId; 12+: FullTransactionId
  kCkptNextOid,
  kCkptNextMulti,
  kCkptNextMultiOffset,
  kCkptOldestXid,
  kCkptOldestXidDb,
  kCkptOldestMulti,
  kCkptOldestMultiDb,
  kCkptTime,
  kCkptOldestCommitTsXid,
  kCkptNewestCommitTsXid,
  kCkptOldestActiveXid,
  kUnloggedLsn,
  kMinRecoveryPoint,
  kMinRecoveryPointTli,
  kBackupStartPoint,
  kBackupEndPoint,
  kBackupEndRequired,
  kWalLevel,
  kWalLogHints,
  kMaxConnections,
  kMaxWorkerProcesses,
  kMaxWalSenders,  // 12+
  kMaxPreparedXacts,
  kMaxLocksPerXact,
  kTrackCommitTimestamp,
  kMaxAlign,
  kFloatFormat,
  kBlockSize,
  kRelSegSize,
  kWalBlockSize,
  kWalSegSize,
  kNameDataLen,
  kIndexMaxKeys,
  kToastMaxChunkSize,
  kLoBlockSize,
  kFloat4ByVal,  // 10-12
  kFloat8ByVal,
  kDataChecksumVersion,
  kDefaultCharSignedness,  // 18+
  kMockAuthNonce,
  kCrc,
  kFieldCount,
};

inline constexpr std::size_t kMockAuthNonceLen = 32;  // MOCK_AUTH_NONCE_LEN

/// One member: which field, its size and alignment (the C type's).
struct Member {
  Field field;
  std::uint8_t size;
  std::uint8_t align;
};
// clang-format off
// uint64, int64, XLogRecPtr, pg_time_t, double.
constexpr Member U64(Field f) { return {f, 8, 8}; }
// uint32, int, Oid, TransactionId, MultiXactId, TimeLineID, an enum.
constexpr Member U32(Field f) { return {f, 4, 4}; }
constexpr Member Bool(Field f) { return {f, 1, 1}; }
// char mock_authentication_nonce[MOCK_AUTH_NONCE_LEN].
constexpr Member Nonce(Field f) { return {f, kMockAuthNonceLen, 1}; }
// The CheckPoint struct: its members come from the CheckPoint list; 8-aligned (it has uint64s).
constexpr Member Struct(Field f) { return {f, 0, 8}; }
// clang-format on

// CheckPoint, 10-11.
inline constexpr Member kCheckPoint10[] = {U64(kCkptRedo),
                                           U32(kCkptTimeline),
                                           U32(kCkptPrevTimeline),
                                           Bool(kCkptFullPageWrites),
                                           U32(kCkptNextXidEpoch),
                                           U32(kCkptNextXid),
                                           U32(kCkptNextOid),
                                           U32(kCkptNextMulti),
                                           U32(kCkptNextMultiOffset),
                                           U32(kCkptOldestXid),
                                           U32(kCkptOldestXidDb),
                                           U32(kCkptOldestMulti),
                                           U32(kCkptOldestMultiDb),
                                           U64(kCkptTime),
                                           U32(kCkptOldestCommitTsXid),
                                           U32(kCkptNewestCommitTsXid),
                                           U32(kCkptOldestActiveXid)};
// CheckPoint, 12-16: nextXid is a FullTransactionId.
inline constexpr Member kCheckPoint12[] = {U64(kCkptRedo),
                                           U32(kCkptTimeline),
                                           U32(kCkptPrevTimeline),
                                           Bool(kCkptFullPageWrites),
                                           U64(kCkptNextXid),
                                           U32(kCkptNextOid),
                                           U32(kCkptNextMulti),
                                           U32(kCkptNextMultiOffset),
                                           U32(kCkptOldestXid),
                                           U32(kCkptOldestXidDb),
                                           U32(kCkptOldestMulti),
                                           U32(kCkptOldestMultiDb),
                                           U64(kCkptTime),
                                           U32(kCkptOldestCommitTsXid),
                                           U32(kCkptNewestCommitTsXid),
                                           U32(kCkptOldestActiveXid)};
// CheckPoint, 17-18: wal_level after fullPageWrites.
inline constexpr Member kCheckPoint17[] = {U64(kCkptRedo),
                                           U32(kCkptTimeline),
                                           U32(kCkptPrevTimeline),
                                           Bool(kCkptFullPageWrites),
                                           U32(kCkptWalLevel),
                                           U64(kCkptNextXid),
                                           U32(kCkptNextOid),
                                           U32(kCkptNextMulti),
                                           U32(kCkptNextMultiOffset),
                                           U32(kCkptOldestXid),
                                           U32(kCkptOldestXidDb),
                                           U32(kCkptOldestMulti),
                                           U32(kCkptOldestMultiDb),
                                           U64(kCkptTime),
                                           U32(kCkptOldestCommitTsXid),
                                           U32(kCkptNewestCommitTsXid),
                                           U32(kCkptOldestActiveXid)};

// ControlFileData up to checkPointCopy: 10 has prevCheckPoint, 11+ not.
#define PGHA_CONTROL_HEAD                                                                      \
  U64(kSystemIdentifier), U32(kControlVersion), U32(kCatalogVersion), U32(kState), U64(kTime), \
      U64(kCheckpoint)
#define PGHA_CONTROL_RECOVERY                                                                    \
  Struct(kCheckPointCopy), U64(kUnloggedLsn), U64(kMinRecoveryPoint), U32(kMinRecoveryPointTli), \
      U64(kBackupStartPoint), U64(kBackupEndPoint), Bool(kBackupEndRequired), U32(kWalLevel),    \
      Bool(kWalLogHints), U32(kMaxConnections), U32(kMaxWorkerProcesses)
#define PGHA_CONTROL_LIMITS                                                                       \
  U32(kMaxPreparedXacts), U32(kMaxLocksPerXact), Bool(kTrackCommitTimestamp), U32(kMaxAlign),     \
      U64(kFloatFormat), U32(kBlockSize), U32(kRelSegSize), U32(kWalBlockSize), U32(kWalSegSize), \
      U32(kNameDataLen), U32(kIndexMaxKeys), U32(kToastMaxChunkSize), U32(kLoBlockSize)

inline constexpr Member kControl10[] = {
    PGHA_CONTROL_HEAD,         U64(kPrevCheckpoint),  PGHA_CONTROL_RECOVERY,
    PGHA_CONTROL_LIMITS,       Bool(kFloat4ByVal),    Bool(kFloat8ByVal),
    U32(kDataChecksumVersion), Nonce(kMockAuthNonce), U32(kCrc)};
inline constexpr Member kControl11[] = {
    PGHA_CONTROL_HEAD,  PGHA_CONTROL_RECOVERY,     PGHA_CONTROL_LIMITS,   Bool(kFloat4ByVal),
    Bool(kFloat8ByVal), U32(kDataChecksumVersion), Nonce(kMockAuthNonce), U32(kCrc)};
inline constexpr Member kControl12[] = {
    PGHA_CONTROL_HEAD,         PGHA_CONTROL_RECOVERY, U32(kMaxWalSenders),
    PGHA_CONTROL_LIMITS,       Bool(kFloat4ByVal),    Bool(kFloat8ByVal),
    U32(kDataChecksumVersion), Nonce(kMockAuthNonce), U32(kCrc)};
inline constexpr Member kControl13[] = {
    PGHA_CONTROL_HEAD,  PGHA_CONTROL_RECOVERY,     U32(kMaxWalSenders),   PGHA_CONTROL_LIMITS,
    Bool(kFloat8ByVal), U32(kDataChecksumVersion), Nonce(kMockAuthNonce), U32(kCrc)};
inline constexpr Member kControl18[] = {PGHA_CONTROL_HEAD,
                                        PGHA_CONTROL_RECOVERY,
                                        U32(kMaxWalSenders),
                                        PGHA_CONTROL_LIMITS,
                                        Bool(kFloat8ByVal),
                                        U32(kDataChecksumVersion),
                                        Bool(kDefaultCharSignedness),
                                        Nonce(kMockAuthNonce),
                                        U32(kCrc)};

#undef PGHA_CONTROL_HEAD
#undef PGHA_CONTROL_RECOVERY
#undef PGHA_CONTROL_LIMITS

/// One layout: the file offset of every field (kAbsent for those it does not have).
struct Spec {
  std::uint32_t version;  // PG_CONTROL_VERSION
  int first_major;
  int last_major;
  std::array<std::size_t, kFieldCount> offset;

  constexpr bool Has(Field f) const { return offset[f] != kAbsent; }
  /// sizeof(ControlFileData) up to and including the CRC.
  constexpr std::size_t StructSize() const { return offset[kCrc] + 4; }
};

constexpr std::size_t AlignUp(std::size_t off, std::size_t align) {
  return (off + align - 1) / align * align;
}

/// A member list (the arrays above), as constexpr code can pass it around.
struct Members {
  const Member* data;
  std::size_t count;
};
template <std::size_t N>
constexpr Members List(const Member (&m)[N]) {
  return {m, N};
}

/// Lays out `members` from `start` by the C rules, recording each field's file offset in
/// `off`; returns the end. A Struct member takes `nested` laid out from an 8-aligned start and
/// padded to 8 (CheckPoint has uint64 members).
constexpr std::size_t LayOut(Members members, std::size_t start, Members nested,
                             std::array<std::size_t, kFieldCount>* off) {
  std::size_t at = start;
  for (std::size_t i = 0; i < members.count; ++i) {
    const Member& m = members.data[i];
    at = AlignUp(at, m.align);
    (*off)[m.field] = at;
    at = m.size == 0 ? AlignUp(LayOut(nested, at, Members{nullptr, 0}, off), 8) : at + m.size;
  }
  return at;
}

constexpr Spec MakeSpec(std::uint32_t version, int first, int last, Members control,
                        Members checkpoint) {
  Spec s{version, first, last, {}};
  for (std::size_t& o : s.offset) o = kAbsent;
  LayOut(control, 0, checkpoint, &s.offset);
  return s;
}

inline constexpr std::array<Spec, 6> kSpecs = {{
    MakeSpec(1002, 10, 10, List(kControl10), List(kCheckPoint10)),
    MakeSpec(1100, 11, 11, List(kControl11), List(kCheckPoint10)),
    MakeSpec(1201, 12, 12, List(kControl12), List(kCheckPoint12)),
    MakeSpec(1300, 13, 16, List(kControl13), List(kCheckPoint12)),
    MakeSpec(1700, 17, 17, List(kControl13), List(kCheckPoint17)),
    MakeSpec(1800, 18, 18, List(kControl18), List(kCheckPoint17)),
}};

/// The Spec of this PG_CONTROL_VERSION, or nullptr.
constexpr const Spec* FindSpec(std::uint32_t version) noexcept {
  for (const Spec& s : kSpecs) {
    if (s.version == version) return &s;
  }
  return nullptr;
}

// The sizes the layouts must come to (offsetof(ControlFileData, crc) + 4), and the fixed
// offsets PostgreSQL promises.
static_assert(kSpecs[0].StructSize() == 292 && kSpecs[1].StructSize() == 284 &&
                  kSpecs[2].StructSize() == 292 && kSpecs[3].StructSize() == 292 &&
                  kSpecs[4].StructSize() == 292 && kSpecs[5].StructSize() == 296,
              "pg_control layout sizes");
static_assert(kSpecs[3].offset[kControlVersion] == kVersionOffset &&
                  kSpecs[3].offset[kCheckPointCopy] == 40 &&
                  kSpecs[0].offset[kCheckPointCopy] == 48,
              "pg_control fixed offsets");

}  // namespace pgha::control_layout

#endif  // PGHA_CORE_CONTROL_LAYOUT_HPP
