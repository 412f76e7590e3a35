// The WAL catalogue of one pg_wal directory: which files are WAL content, their MD5, the files a
// node needs to catch up, downloads, checked uploads, and the seed's validLsn.
#ifndef PGHA_WAL_CATALOG_HPP
#define PGHA_WAL_CATALOG_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgha/export.hpp"
#include "pgha/lsn.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha {

/// Where this node's WAL is: its timeline history (the tip is its current timeline) and its end
/// of WAL on the tip (the true end: SQL on a running server, the WAL scanner on a stopped one).
/// WAL content is the bytes [begin, end) of each timeline of the history.
struct WalPosition {
  TimelineHistory history;
  Lsn end_of_wal;
};

/// One file of the catalogue.
struct WalFileInfo {
  /// The file name in pg_wal, e.g. `000000040000000000000039` or `00000004.history`.
  std::string name;
  /// The parsed name (kind, timeline, segment number).
  WalFileName parsed;
  /// Size in bytes (of the bytes hashed, when `md5` is set).
  std::uint64_t size = 0;
  /// Modification time, nanoseconds since the epoch.
  std::int64_t mtime_ns = 0;
  /// MD5 of the content as `md5sum` prints it (32 lower-case hex digits); "" when not asked for.
  std::string md5;
};

/// What the uploader promises about a file it installs.
struct UploadOptions {
  /// MD5 of the whole file, 32 hex digits in either case; checked before the file is placed.
  std::optional<std::string> expected_md5;
  /// Size of the whole file in bytes; checked while writing and at Commit.
  std::optional<std::uint64_t> expected_size;
  /// Lets a segment replace an existing one that it extends: the same bytes over all of the
  /// existing file's valid WAL (how a stopped standby takes the rest of a segment it had
  /// only partly received). Anything else that differs stays a kConflict.
  bool allow_extend = false;
  /// For a history file: the position of the node it is uploaded to. The history must then
  /// fit it: the node's own earlier timelines with the same switch points, and the node's end
  /// of WAL on the history (not past the switch point where the uploaded timeline's line left
  /// the node's). One that does not is refused (kBadInput): a standby that found it in pg_wal
  /// would try to follow a timeline it cannot be on.
  std::optional<WalPosition> node_position = std::nullopt;
  /// For a segment or partial: the timeline history of the node it is uploaded to. Each
  /// page's timeline must then be the one this history has at the page's address (for a
  /// timeline newer than the node's, the history file of that timeline, which must already
  /// be in pg_wal), so WAL of a diverged branch under another timeline's name is refused
  /// (kBadInput), as is a timeline the history does not have.
  std::optional<TimelineHistory> node_history = std::nullopt;
};

/// The outcome of a successful install.
struct InstallResult {
  /// The file as placed (or as found, when it was already there with the same content).
  WalFileInfo file;
  /// Full path of the file in pg_wal.
  std::string path;
  /// True when a file with this name and the same MD5 was already there (nothing written).
  bool already_present = false;
  /// True when the upload replaced a file it extends (UploadOptions::allow_extend).
  bool replaced = false;
};

/// The seed's validLsn codes (their numbers are part of the REST API).
enum class ValidLsnCode : int {
  kValid = 0,        ///< on this node's history at a record boundary; `cnt` records follow
  kFileMissing = 1,  ///< the WAL file holding the LSN is not in pg_wal
  kMidRecord = 2,    ///< the LSN is not at a record boundary
  kNoEntry = 3,      ///< beyond this node's end of WAL, or the timeline is not in its history
  kDiverged = 4,     ///< an older timeline of this node's history, past its switch point
  /// pgha's addition to the seed's codes: the record before the LSN, as the asking node has
  /// it, is not this node's record there. The two wrote different WAL at the same positions
  /// of one timeline (an old master that wrote WAL nobody received, after a failover by
  /// restart): pg_rewind cannot repair that; the node must be re-created (pg/sync).
  kRecordDiffers = 5,
};

/// The answer of WalCatalog::ValidLsn, in the seed's {code, msg, cnt} shape.
struct ValidLsnResult {
  ValidLsnCode code = ValidLsnCode::kValid;
  /// "Valid lsn" for code 0 (the seed's text); otherwise one line naming the LSN, timeline,
  /// file or switch point involved.
  std::string msg;
  /// For code 0: the number of WAL records from the LSN (included) to the end of WAL; else 0.
  std::uint64_t cnt = 0;
};

class WalCatalog;

/// A file being uploaded into pg_wal: bytes go to a temporary file (".pgha-upload.<pid>.<n>",
/// a name PostgreSQL never takes for WAL) while their MD5 is computed; Commit checks the
/// content and renames it into place. Destroying an uncommitted upload removes the temporary
/// file; one left by a killed process is removed by the next BeginInstall. Not thread-safe:
/// one writer.
class PGHA_API WalUpload {
 public:
  ~WalUpload();
  WalUpload(const WalUpload&) = delete;
  WalUpload& operator=(const WalUpload&) = delete;

  /// Appends `size` bytes. Refuses (Error kBadInput, and the upload is aborted) more bytes
  /// than one segment (a history file: 1 MiB) or than UploadOptions::expected_size, and a
  /// segment with a page header that, once complete, does not belong at its place in this
  /// segment of this cluster (see WalCatalog::BeginInstall). kIo when writing fails (aborted
  /// too); kWrongState after Commit or an abort.
  void Write(const void* data, std::size_t size);
  /// Checks the whole file, fsyncs it, gives it mode 0600 and the owner of pg_wal (when
  /// root), renames it into place without replacing anything, and fsyncs pg_wal. An existing
  /// file of that name with the same MD5 is success (already_present); a different one is
  /// Error(kConflict): WAL is never overwritten. On any failure the temporary file is removed
  /// and the error names the file and the failed check (kBadInput for content).
  InstallResult Commit();
  /// Removes the temporary file; later calls throw kWrongState. Idempotent.
  void Abort() noexcept;
  /// The file name being uploaded.
  const std::string& name() const noexcept;
  /// Bytes written so far.
  std::uint64_t bytes_written() const noexcept;

 private:
  friend class WalCatalog;
  struct Impl;
  explicit WalUpload(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The catalogue of one pg_wal directory (docs/wal-catalogue.md). It keeps MD5s cached by
/// (name, size, mtime, inode): an unchanged file is hashed once. Thread-safe: every method may
/// be called from several threads at once (one mutex guards the cache; hashing and file I/O
/// run outside it). Uploads may outlive the catalogue.
class PGHA_API WalCatalog {
 public:
  /// The largest history file Install accepts.
  static constexpr std::uint64_t kMaxHistoryFileSize = 1u << 20;

  /// A catalogue of `pg_wal_dir` for WAL of `segment_size` bytes per segment. When
  /// `system_identifier` or `expected_major` (10..18) is not given, uploads are checked against
  /// the long page header of an existing segment in pg_wal (when there is one). Throws
  /// kBadInput for an invalid segment size or major, kNotFound when the directory does not
  /// exist.
  WalCatalog(std::string pg_wal_dir, std::uint32_t segment_size,
             std::optional<std::uint64_t> system_identifier = std::nullopt, int expected_major = 0);
  ~WalCatalog();
  WalCatalog(const WalCatalog&) = delete;
  WalCatalog& operator=(const WalCatalog&) = delete;

  /// The WAL content of pg_wal at position `end`: history files of the history's timelines,
  /// and segments and `.partial` files of timeline T whose segment number lies from the
  /// segment of T's begin through the segment holding T's last byte (end - 1: the switch
  /// point for an older timeline, `end.end_of_wal` for the tip). Recycled and preallocated
  /// segments, other timelines, backup files, archive_status/ and temporary files are left
  /// out. Ordered by timeline (oldest first; its history file first), then segment (a segment
  /// before its partial). `with_md5` false leaves `md5` empty and hashes nothing. Throws
  /// kBadInput for an invalid end of WAL (0/0, or before the tip began), kIo.
  std::vector<WalFileInfo> List(const WalPosition& end, bool with_md5 = true) const;

  /// The files, with MD5, that a node at (`tli`, `lsn`) needs to reach `end`, in the order it
  /// needs them: timeline `tli`'s segments from the one holding `lsn` through its last (its
  /// `.partial` when only that exists), then for every later timeline its history file and its
  /// segments from the one holding its begin through its last. The old timeline's copy of a
  /// switch segment that the next timeline shares is added when present, but not required.
  /// Errors: kNotFound when `tli` is not in `end.history` or a needed file is missing (named);
  /// kWrongState when (`tli`, `lsn`) diverged (past `tli`'s switch point, which the message
  /// gives) or is ahead of `end`; kBadInput for tli 0 or an invalid `end`.
  std::vector<WalFileInfo> From(TimelineId tli, Lsn lsn, const WalPosition& end) const;
  /// From(timeline of the name, first LSN of its segment, end) for a segment or partial name
  /// (the seed's `walFiles/000000030000000000000039`). kBadInput for another name.
  std::vector<WalFileInfo> From(const std::string& wal_file_name, const WalPosition& end) const;

  /// The full path of segment, partial or history file `name` for download, after checking
  /// the name with the WAL-name grammar (no directory part, upper-case hex). kBadInput for a
  /// bad name, kNotFound when the file is not in pg_wal.
  std::string PathFor(const std::string& name) const;

  /// Starts uploading `name` (a segment, partial or history file; kBadInput otherwise, or for
  /// a malformed expected MD5 or an impossible expected size). The content must be, for a
  /// segment or partial: exactly one segment, a first page with a long header whose magic,
  /// system identifier (when known), segment size, block size and page address (the start of
  /// the named segment) are this cluster's; every later page that holds WAL (its address is
  /// its position; WAL ends at the first page that does not, and none may follow) with the
  /// same magic, a short header and valid info bits; page timelines at most the name's, never
  /// decreasing, and on UploadOptions::node_history when given. For a history file: the text
  /// of the named timeline's history with at least one switch point (fitting
  /// UploadOptions::node_position when given). kBadInput also for a node_history without the
  /// name's timeline. kIo when the temporary file cannot be created.
  std::unique_ptr<WalUpload> BeginInstall(const std::string& name,
                                          const UploadOptions& options = {});
  /// BeginInstall + Write(bytes) + Commit.
  InstallResult Install(const std::string& name, std::string_view bytes,
                        std::optional<std::string> expected_md5 = std::nullopt);

  /// The seed's validLsn for a node at (`tli`, `lsn`) against this node's WAL at `end`
  /// (codes in ValidLsnCode; `lsn` == end of WAL is valid with cnt 0). Record boundaries and
  /// `cnt` come from ScanWalDirectory over pg_wal along `end.history`. Throws kBadInput for an
  /// invalid `end`, kIo.
  ValidLsnResult ValidLsn(TimelineId tli, Lsn lsn, const WalPosition& end) const;
  /// The same, and when the answer is valid or mid-record and `last` (the asking node's last
  /// record before `lsn`) is given, that record must be this node's record at that position:
  /// otherwise kRecordDiffers (or kFileMissing when the segment holding it is gone). Throws
  /// kBadInput for a `last.start` that is not 8-byte aligned.
  ValidLsnResult ValidLsn(TimelineId tli, Lsn lsn, const WalPosition& end,
                          const std::optional<WalRecordRef>& last) const;

  /// A fresh path in pg_wal for a temporary file (".pgha-upload.<pid>.<n>": PostgreSQL never
  /// acts on it, and a BeginInstall after this process died removes it), e.g. for spooling a
  /// request body. Nothing is created.
  std::string NewTempPath();

  /// How many files this catalogue has hashed (cache misses), for tests and statistics.
  std::uint64_t HashesComputed() const noexcept;
  /// The pg_wal directory.
  const std::string& dir() const noexcept;
  /// The segment size.
  std::uint32_t segment_size() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// The stable lower-case name of a validLsn code: "valid", "file_missing", "mid_record",
/// "no_entry", "diverged", "record_differs".
PGHA_API std::string_view ValidLsnCodeName(ValidLsnCode code) noexcept;

}  // namespace pgha

#endif  // PGHA_WAL_CATALOG_HPP
