// global/pg_control decoded: ControlData::Decode, Read and ReadDataDirectory. The layouts are
// control_layout.hpp's; the checks follow ReadControlFile() in src/backend/access/transam/
// xlog.c and get_controlfile() in src/common/controldata_utils.c, the `fields` spelling
// src/bin/pg_controldata/pg_controldata.c.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "control_labels.hpp"
#include "control_layout.hpp"
#include "pgha/control_data.hpp"
#include "pgha/crc32c.hpp"
#include "text.hpp"

namespace pgha {

namespace {

namespace cl = control_layout;
using namespace control_labels;  // NOLINT(google-build-using-namespace): the label table

std::uint32_t LittleEndian32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::uint32_t ByteSwap32(std::uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

// The fields of one layout, read little-endian from bytes that are known to hold it.
class Reader {
 public:
  Reader(const std::uint8_t* data, const cl::Spec& spec) : data_(data), spec_(spec) {}

  bool Has(cl::Field f) const { return spec_.Has(f); }
  std::size_t Offset(cl::Field f) const { return spec_.offset[f]; }
  std::uint32_t U32(cl::Field f) const { return LittleEndian32(data_ + Offset(f)); }
  std::int32_t I32(cl::Field f) const { return static_cast<std::int32_t>(U32(f)); }
  std::uint64_t U64(cl::Field f) const {
    return static_cast<std::uint64_t>(LittleEndian32(data_ + Offset(f) + 4)) << 32 |
           LittleEndian32(data_ + Offset(f));
  }
  std::int64_t I64(cl::Field f) const { return static_cast<std::int64_t>(U64(f)); }
  Lsn LsnAt(cl::Field f) const { return Lsn(U64(f)); }
  bool Bool(cl::Field f) const { return data_[Offset(f)] != 0; }

 private:
  const std::uint8_t* data_;
  const cl::Spec& spec_;
};

std::string Hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

// Bytes 8..11 name the layout. Throws for a file too short to hold them and for an unknown
// version, naming a byte-swapped one (a file of the other byte order) as such.
const cl::Spec& FindLayout(const std::uint8_t* data, std::size_t size) {
  if (size < cl::kVersionOffset + 4) {
    throw Error(ErrorCode::kBadInput,
                "pg_control is " + std::to_string(size) +
                    " bytes: too short to hold pg_control_version (bytes 8..11)",
                size);
  }
  std::uint32_t version = LittleEndian32(data + cl::kVersionOffset);
  if (const cl::Spec* spec = cl::FindSpec(version)) return *spec;
  if (cl::FindSpec(ByteSwap32(version)) != nullptr) {
    throw Error(ErrorCode::kBadInput,
                "pg_control_version " + std::to_string(version) + " is " +
                    std::to_string(ByteSwap32(version)) +
                    " byte-swapped: the file was written on a machine of the other byte order",
                cl::kVersionOffset);
  }
  throw Error(ErrorCode::kBadInput,
              "pg_control_version " + std::to_string(version) +
                  " is not one of PostgreSQL 10-18's (1002, 1100, 1201, 1300, 1700, 1800)",
              cl::kVersionOffset);
}

void CheckSizeAndChecksum(const std::uint8_t* data, std::size_t size, const cl::Spec& spec,
                          bool verify_checksum) {
  std::string which = "pg_control_version " + std::to_string(spec.version) + " (PostgreSQL " +
                      std::to_string(spec.first_major) +
                      (spec.last_major != spec.first_major ? "-" + std::to_string(spec.last_major)
                                                           : std::string()) +
                      ")";
  if (size < spec.StructSize()) {
    throw Error(ErrorCode::kBadInput,
                "pg_control is " + std::to_string(size) + " bytes: shorter than the " +
                    std::to_string(spec.StructSize()) + " bytes of " + which,
                size);
  }
  if (size > cl::kFileSize) {
    throw Error(ErrorCode::kBadInput,
                "pg_control is " + std::to_string(size) + " bytes: longer than the " +
                    std::to_string(cl::kFileSize) + " bytes PostgreSQL writes",
                cl::kFileSize);
  }
  if (!verify_checksum) return;
  std::size_t crc_at = spec.offset[cl::kCrc];
  std::uint32_t stored = LittleEndian32(data + crc_at);
  std::uint32_t computed = Crc32c(data, crc_at);
  if (stored != computed) {
    throw Error(ErrorCode::kBadInput,
                "pg_control CRC-32C mismatch: stored " + Hex32(stored) + " at byte " +
                    std::to_string(crc_at) + ", computed " + Hex32(computed) + " over bytes 0.." +
                    std::to_string(crc_at - 1) + " of " + which +
                    ". HINT: the file is damaged or torn; PostgreSQL refuses to start with it",
                crc_at);
  }
}

[[noreturn]] void BadValue(const Reader& r, cl::Field f, const std::string& what) {
  throw Error(ErrorCode::kBadInput,
              "pg_control " + what + " at byte " + std::to_string(r.Offset(f)), r.Offset(f));
}

ClusterState StateOf(const Reader& r) {
  std::uint32_t v = r.U32(cl::kState);
  if (v > static_cast<std::uint32_t>(ClusterState::kInProduction)) {
    BadValue(r, cl::kState, "cluster state " + std::to_string(v) + " is not a DBState (0..6)");
  }
  return static_cast<ClusterState>(v);
}

// WalLevel (src/include/access/xlog.h, 10-18) as pg_controldata's wal_level_str() names it.
std::string WalLevelOf(const Reader& r) {
  switch (r.I32(cl::kWalLevel)) {
    case 0: return "minimal";
    case 1: return "replica";
    case 2: return "logical";
    default:
      BadValue(r, cl::kWalLevel,
               "wal_level " + std::to_string(r.I32(cl::kWalLevel)) +
                   " is not minimal (0), replica (1) or logical (2)");
  }
}

// `%c` of the C locale, in UTC: what `LC_ALL=C TZ=UTC pg_controldata` prints for a time.
std::string CTimeUtc(std::int64_t seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "???";  // pg_controldata's answer to a bad time
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %s %2d %02d:%02d:%02d %d", kDays[tm.tm_wday],
                kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                tm.tm_year + 1900);
  return buf;
}

std::string OnOff(bool v) {
  return v ? "on" : "off";
}

void ReadCheckpointFields(const Reader& r, ControlData* out) {
  out->checkpoint = r.LsnAt(cl::kCheckpoint);
  if (r.Has(cl::kPrevCheckpoint)) out->prior_checkpoint = r.LsnAt(cl::kPrevCheckpoint);
  out->redo = r.LsnAt(cl::kCkptRedo);
  out->timeline = r.U32(cl::kCkptTimeline);
  if (out->timeline == 0)
    BadValue(r, cl::kCkptTimeline, "checkpoint timeline 0 (it does not exist)");
  out->prev_timeline = r.U32(cl::kCkptPrevTimeline);
  out->full_page_writes = r.Bool(cl::kCkptFullPageWrites);
  if (r.Has(cl::kCkptNextXidEpoch)) {
    out->next_xid = std::to_string(r.U32(cl::kCkptNextXidEpoch)) + ":" +
                    std::to_string(r.U32(cl::kCkptNextXid));
  } else {  // FullTransactionId: epoch in the high half
    std::uint64_t full = r.U64(cl::kCkptNextXid);
    out->next_xid = std::to_string(full >> 32) + ":" + std::to_string(full & 0xFFFFFFFFu);
  }
  out->checkpoint_time = r.I64(cl::kCkptTime);
  out->min_recovery_end = r.LsnAt(cl::kMinRecoveryPoint);
  out->min_recovery_end_timeline = r.U32(cl::kMinRecoveryPointTli);
  out->backup_start = r.LsnAt(cl::kBackupStartPoint);
  out->backup_end = r.LsnAt(cl::kBackupEndPoint);
  out->end_of_backup_required = r.Bool(cl::kBackupEndRequired);
}

void ReadSettingFields(const Reader& r, ControlData* out) {
  out->wal_level = WalLevelOf(r);
  out->wal_log_hints = r.Bool(cl::kWalLogHints);
  out->block_size = r.U32(cl::kBlockSize);
  out->wal_block_size = r.U32(cl::kWalBlockSize);
  out->wal_segment_size = r.U32(cl::kWalSegSize);
  if (!IsValidWalSegmentSize(out->wal_segment_size)) {
    BadValue(r, cl::kWalSegSize,
             "WAL segment size " + std::to_string(out->wal_segment_size) +
                 " is not a power of two from 1 MiB to 1 GiB");
  }
  out->data_checksum_version = r.U32(cl::kDataChecksumVersion);
  out->redo_wal_file =
      WalFileName::ForLsn(out->timeline, out->redo, out->wal_segment_size).ToString();
}

// pg_controldata's lines of the checkpoint copy and the recovery fields.
void WriteCheckpointLines(const Reader& r, const ControlData& c,
                          std::map<std::string, std::string>* f) {
  auto put = [f](std::string_view label, std::string value) {
    (*f)[std::string(label)] = std::move(value);
  };
  auto u32 = [&r](cl::Field field) { return std::to_string(r.U32(field)); };
  put(kCheckpoint, c.checkpoint.ToString());
  if (c.prior_checkpoint) put(kPriorCheckpoint, c.prior_checkpoint->ToString());
  put(kRedo, c.redo.ToString());
  put(kRedoWalFile, c.redo_wal_file);
  put(kTimeline, std::to_string(c.timeline));
  put(kPrevTimeline, std::to_string(c.prev_timeline));
  put(kFullPageWrites, OnOff(c.full_page_writes));
  put(kNextXid, c.next_xid);
  put(kNextOid, u32(cl::kCkptNextOid));
  put(kNextMulti, u32(cl::kCkptNextMulti));
  put(kNextMultiOffset, u32(cl::kCkptNextMultiOffset));
  put(kOldestXid, u32(cl::kCkptOldestXid));
  put(kOldestXidDb, u32(cl::kCkptOldestXidDb));
  put(kOldestActiveXid, u32(cl::kCkptOldestActiveXid));
  put(kOldestMulti, u32(cl::kCkptOldestMulti));
  put(kOldestMultiDb, u32(cl::kCkptOldestMultiDb));
  put(kOldestCommitTsXid, u32(cl::kCkptOldestCommitTsXid));
  put(kNewestCommitTsXid, u32(cl::kCkptNewestCommitTsXid));
  put(kCheckpointTime, CTimeUtc(*c.checkpoint_time));
  put(kUnloggedLsn, r.LsnAt(cl::kUnloggedLsn).ToString());
  put(kMinRecoveryEnd, c.min_recovery_end.ToString());
  put(kMinRecoveryEndTimeline, std::to_string(c.min_recovery_end_timeline));
  put(kBackupStart, c.backup_start.ToString());
  put(kBackupEnd, c.backup_end.ToString());
  put(kEndOfBackupRequired, c.end_of_backup_required ? "yes" : "no");
}

// pg_controldata's lines of the settings and the build's limits.
void WriteSettingLines(const Reader& r, const ControlData& c,
                       std::map<std::string, std::string>* f) {
  auto put = [f](std::string_view label, std::string value) {
    (*f)[std::string(label)] = std::move(value);
  };
  auto u32 = [&r](cl::Field field) { return std::to_string(r.U32(field)); };
  auto i32 = [&r](cl::Field field) { return std::to_string(r.I32(field)); };
  auto by_value = [&r](cl::Field field) { return r.Bool(field) ? "by value" : "by reference"; };
  put(kWalLevel, c.wal_level);
  put(kWalLogHints, OnOff(c.wal_log_hints));
  put(kMaxConnections, i32(cl::kMaxConnections));
  put(kMaxWorkerProcesses, i32(cl::kMaxWorkerProcesses));
  if (r.Has(cl::kMaxWalSenders)) put(kMaxWalSenders, i32(cl::kMaxWalSenders));
  put(kMaxPreparedXacts, i32(cl::kMaxPreparedXacts));
  put(kMaxLocksPerXact, i32(cl::kMaxLocksPerXact));
  put(kTrackCommitTimestamp, OnOff(r.Bool(cl::kTrackCommitTimestamp)));
  put(kMaxAlign, u32(cl::kMaxAlign));
  put(kBlockSize, std::to_string(c.block_size));
  put(kRelSegSize, u32(cl::kRelSegSize));
  put(kWalBlockSize, std::to_string(c.wal_block_size));
  put(kWalSegmentSize, std::to_string(c.wal_segment_size));
  put(kNameDataLen, u32(cl::kNameDataLen));
  put(kIndexMaxKeys, u32(cl::kIndexMaxKeys));
  put(kToastMaxChunkSize, u32(cl::kToastMaxChunkSize));
  put(kLoBlockSize, u32(cl::kLoBlockSize));
  put(kDateTimeStorage, "64-bit integers");  // the only storage since 10
  if (r.Has(cl::kFloat4ByVal)) put(kFloat4ByVal, by_value(cl::kFloat4ByVal));
  put(kFloat8ByVal, by_value(cl::kFloat8ByVal));
  put(kDataChecksumVersion, std::to_string(c.data_checksum_version));
  // Not kMockAuthNonce: an authentication secret (SCRAM's mock salt), of no use to HA.
  if (r.Has(cl::kDefaultCharSignedness)) {
    put(kCharSignedness, r.Bool(cl::kDefaultCharSignedness) ? "signed" : "unsigned");
  }
}

}  // namespace

ControlData ControlData::Decode(const std::uint8_t* data, std::size_t size, bool verify_checksum) {
  if (data == nullptr && size != 0) {
    throw Error(ErrorCode::kBadInput, "pg_control: no bytes given");
  }
  const cl::Spec& spec = FindLayout(data, size);
  CheckSizeAndChecksum(data, size, spec, verify_checksum);
  Reader r(data, spec);
  ControlData out;
  out.control_version = spec.version;
  out.catalog_version = r.U32(cl::kCatalogVersion);
  out.system_identifier = r.U64(cl::kSystemIdentifier);
  out.state = StateOf(r);
  out.last_modified = r.I64(cl::kTime);
  ReadCheckpointFields(r, &out);
  ReadSettingFields(r, &out);
  auto& f = out.fields;
  f[std::string(kControlVersion)] = std::to_string(out.control_version);
  f[std::string(kCatalogVersion)] = std::to_string(out.catalog_version);
  f[std::string(kSystemIdentifier)] = std::to_string(out.system_identifier);
  f[std::string(kState)] = std::string(ClusterStateName(out.state));
  f[std::string(kLastModified)] = CTimeUtc(*out.last_modified);
  WriteCheckpointLines(r, out, &f);
  WriteSettingLines(r, out, &f);
  return out;
}

ControlData ControlData::Decode(const std::vector<std::uint8_t>& bytes, bool verify_checksum) {
  return Decode(bytes.data(), bytes.size(), verify_checksum);
}

Result<ControlData> ControlData::TryDecode(const std::uint8_t* data, std::size_t size,
                                           bool verify_checksum) noexcept {
  return Capture([&] { return Decode(data, size, verify_checksum); });
}

ControlData ControlData::Read(const std::string& path, bool verify_checksum) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    int err = errno;
    throw Error(
        err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
        "cannot open pg_control file \"" + path + "\": " + std::generic_category().message(err));
  }
  std::vector<std::uint8_t> bytes(cl::kFileSize + 1);
  std::size_t n = std::fread(bytes.data(), 1, bytes.size(), file.get());
  if (std::ferror(file.get()) != 0) {
    int err = errno;
    throw Error(ErrorCode::kIo, "cannot read pg_control file \"" + path +
                                    "\": " + std::generic_category().message(err));
  }
  bytes.resize(n);
  try {
    return Decode(bytes, verify_checksum);
  } catch (const Error& e) {
    throw Error(e.code(), "\"" + path + "\": " + e.what(), e.position());
  }
}

ControlData ControlData::ReadDataDirectory(const std::string& data_dir, bool verify_checksum) {
  return Read(data_dir + "/global/pg_control", verify_checksum);
}

}  // namespace pgha
