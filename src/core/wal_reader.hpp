// Serves validated WAL pages by LSN from segment files (private to src/core): PostgreSQL's
// ReadPageInternal + XLogReaderValidatePageHeader, reading each segment with large reads into
// one reused buffer.
#ifndef PGHA_CORE_WAL_READER_HPP
#define PGHA_CORE_WAL_READER_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_page.hpp"

namespace pgha {

/// One segment file to read.
struct WalSegmentFile {
  std::string path;
  /// The 24-character segment name (without `.partial`), for messages.
  std::string name;
  TimelineId timeline = 0;
};

/// Finds the file of a segment number, in increasing segment order.
class WalSegmentSource {
 public:
  virtual ~WalSegmentSource() = default;
  /// The file holding segment `segno`, or nullopt when there is none (the WAL ends).
  virtual std::optional<WalSegmentFile> Find(std::uint64_t segno) = 0;
};

/// What the pages must match.
struct WalReaderConfig {
  std::uint32_t segment_size = 0;  // valid (IsValidWalSegmentSize)
  std::optional<std::uint64_t> system_identifier;
};

/// Reads pages forward through segments. Not thread-safe; one scan at a time.
class WalPageReader {
 public:
  WalPageReader(WalSegmentSource& source, const WalReaderConfig& config);
  ~WalPageReader();
  WalPageReader(const WalPageReader&) = delete;
  WalPageReader& operator=(const WalPageReader&) = delete;

  /// The 8192 bytes of the page at `page` (a multiple of 8192) with a validated header, or
  /// nullptr with error() set. The pointer is valid until the next call. Pages must be asked
  /// for in non-decreasing order. Throws Error(kIo) when a file exists but cannot be read.
  const std::uint8_t* Page(std::uint64_t page) {
    if (page - buf_lsn_ < buf_len_ && page >= valid_from_ && page <= valid_to_) {
      return buf_.get() + (page - buf_lsn_);
    }
    return LoadPage(page);
  }

  /// Why the last Page() failed, in pg_waldump's words.
  const std::string& error() const noexcept { return error_; }
  /// XLOG_PAGE_MAGIC of the first page read (0 before) and its major.
  std::uint16_t magic() const noexcept { return magic_; }
  int major() const noexcept { return major_; }
  /// xlp_tli of the newest page validated (0 before).
  TimelineId latest_timeline() const noexcept { return latest_tli_; }
  /// LSN of the newest page validated.
  std::uint64_t latest_page() const noexcept { return latest_page_; }
  /// xlp_sysid of the first long header read (0 before).
  std::uint64_t system_identifier() const noexcept { return first_sysid_; }
  std::uint32_t segment_size() const noexcept { return seg_size_; }
  std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  /// The segment name of the open file (for messages).
  const std::string& segment_name() const noexcept { return file_.name; }
  /// " in log segment NAME, offset N" (16+: " in WAL segment NAME, LSN X/Y, offset N").
  std::string SegmentContext(std::uint64_t page) const;

 private:
  const std::uint8_t* LoadPage(std::uint64_t page);
  bool OpenSegment(std::uint64_t segno, std::uint64_t page);
  bool EnsureInBuffer(std::uint64_t page);
  bool Validate(std::uint64_t page, const std::uint8_t* p);
  bool ValidateLong(const std::uint8_t* p);
  bool Fail(std::string message);
  void CloseFile() noexcept;

  WalSegmentSource& source_;
  std::uint32_t seg_size_;
  std::optional<std::uint64_t> expected_sysid_;
  std::size_t chunk_size_;
  std::unique_ptr<std::uint8_t[]> buf_;
  std::uint64_t buf_lsn_ = 0;     // LSN of buf_[0]
  std::uint64_t buf_len_ = 0;     // whole pages held
  std::uint64_t valid_from_ = 1;  // validated pages in the buffer: [valid_from_, valid_to_]
  std::uint64_t valid_to_ = 0;
  int fd_ = -1;
  WalSegmentFile file_;
  std::uint64_t file_segno_ = 0;
  std::uint64_t file_size_ = 0;
  std::uint16_t magic_ = 0;
  int major_ = 0;
  TimelineId latest_tli_ = 0;
  std::uint64_t latest_page_ = 0;
  std::uint64_t first_sysid_ = 0;
  bool seen_long_ = false;
  std::uint64_t bytes_read_ = 0;
  std::string error_;
};

}  // namespace pgha

#endif  // PGHA_CORE_WAL_READER_HPP
