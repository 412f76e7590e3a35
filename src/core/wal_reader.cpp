#include "wal_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pgha/error.hpp"
#include "wal_layout.hpp"

namespace pgha {

namespace {

// Large sequential reads into one reused buffer: big enough that syscalls do not matter,
// small enough to stay in the CPU cache between the copy and the CRC.
constexpr std::size_t kChunkSize = 1u << 20;

std::string Hex4(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04X", v);
  return buf;
}

// pread until `size` bytes or end of file; the number of bytes read. Throws kIo on errors.
std::size_t ReadFully(int fd, std::uint8_t* out, std::size_t size, std::uint64_t offset,
                      const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw Error(ErrorCode::kIo, "could not read WAL segment \"" + path + "\" at offset " +
                                      std::to_string(offset + done) + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace

WalPageReader::WalPageReader(WalSegmentSource& source, const WalReaderConfig& config)
    : source_(source),
      seg_size_(config.segment_size),
      expected_sysid_(config.system_identifier),
      chunk_size_(config.segment_size < kChunkSize ? config.segment_size : kChunkSize),
      buf_(new std::uint8_t[chunk_size_]) {}

WalPageReader::~WalPageReader() {
  CloseFile();
}

void WalPageReader::CloseFile() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_len_ = 0;
  valid_from_ = 1;
  valid_to_ = 0;
}

bool WalPageReader::Fail(std::string message) {
  error_ = std::move(message);
  return false;
}

std::string WalPageReader::SegmentContext(std::uint64_t page) const {
  std::string offset = std::to_string(page % seg_size_);
  if (major_ >= 16) {
    return " in WAL segment " + file_.name + ", LSN " + Lsn(page).ToString() + ", offset " + offset;
  }
  return " in log segment " + file_.name + ", offset " + offset;
}

const std::uint8_t* WalPageReader::LoadPage(std::uint64_t page) {
  std::uint64_t segno = page / seg_size_;
  if (fd_ < 0 || segno != file_segno_) {
    if (!OpenSegment(segno, page)) return nullptr;
  }
  if (!EnsureInBuffer(page)) return nullptr;
  const std::uint8_t* p = buf_.get() + (page - buf_lsn_);
  if (!Validate(page, p)) return nullptr;
  if (valid_from_ <= valid_to_ && page == valid_to_ + kWalPageSize) {
    valid_to_ = page;
  } else {
    valid_from_ = valid_to_ = page;
  }
  return p;
}

bool WalPageReader::OpenSegment(std::uint64_t segno, std::uint64_t page) {
  CloseFile();
  std::uint64_t seg_start = segno * seg_size_;
  std::optional<WalSegmentFile> found = source_.Find(segno);
  if (!found) return Fail("no segment file for " + Lsn(seg_start).ToString());
  int fd = ::open(found->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kIo,
                "could not open WAL segment \"" + found->path + "\": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(ErrorCode::kIo,
                "could not stat WAL segment \"" + found->path + "\": " + std::strerror(e));
  }
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  fd_ = fd;
  file_ = std::move(*found);
  file_segno_ = segno;
  file_size_ = static_cast<std::uint64_t>(st.st_size);
  if (page == seg_start) return true;
  // Like ReadPageInternal: entering a segment elsewhere than its first page still checks
  // the long header there.
  if (!EnsureInBuffer(seg_start)) return false;
  return Validate(seg_start, buf_.get() + (seg_start - buf_lsn_));
}

bool WalPageReader::EnsureInBuffer(std::uint64_t page) {
  if (page - buf_lsn_ < buf_len_) return true;
  std::uint64_t seg_start = file_segno_ * seg_size_;
  std::uint64_t off = page - seg_start;
  std::uint64_t chunk_off = off - off % chunk_size_;
  std::uint64_t want = seg_size_ - chunk_off < chunk_size_ ? seg_size_ - chunk_off : chunk_size_;
  std::size_t got = 0;
  if (chunk_off < file_size_) {
    got = ReadFully(fd_, buf_.get(), static_cast<std::size_t>(want), chunk_off, file_.path);
  }
  bytes_read_ += got;
  buf_lsn_ = seg_start + chunk_off;
  buf_len_ = got - got % kWalPageSize;
  valid_from_ = 1;
  valid_to_ = 0;
  if (page - buf_lsn_ < buf_len_) return true;
  std::uint64_t in_page = off - chunk_off;
  std::uint64_t have = got > in_page ? got - in_page : 0;
  return Fail("could not read from file " + file_.name + ", offset " + std::to_string(off) +
              ": read " + std::to_string(have) + " of " + std::to_string(kWalPageSize));
}

bool WalPageReader::Validate(std::uint64_t page, const std::uint8_t* p) {
  std::uint16_t magic = wal::Load16(p + wal::kXlpMagicOffset);
  std::uint16_t info = wal::Load16(p + wal::kXlpInfoOffset);
  if (magic_ == 0 && PostgresMajorForWalMagic(magic) != 0) {
    magic_ = magic;  // the first page decides; an unknown magic is never accepted
    major_ = PostgresMajorForWalMagic(magic);
  }
  if (magic != magic_ || magic_ == 0) {
    return Fail("invalid magic number " + Hex4(magic) + SegmentContext(page));
  }
  if ((info & ~wal::kXlpAllFlags) != 0) {
    return Fail("invalid info bits " + Hex4(info) + SegmentContext(page));
  }
  if ((info & kXlpLongHeader) != 0) {
    if (!ValidateLong(p)) return false;
  } else if (page % seg_size_ == 0) {
    return Fail("invalid info bits " + Hex4(info) + SegmentContext(page));
  }
  std::uint64_t addr = wal::Load64(p + wal::kXlpPageAddrOffset);
  if (addr != page) {
    return Fail("unexpected pageaddr " + Lsn(addr).ToString() + SegmentContext(page));
  }
  TimelineId tli = wal::Load32(p + wal::kXlpTliOffset);
  if (page > latest_page_ && tli < latest_tli_) {
    return Fail("out-of-sequence timeline ID " + std::to_string(tli) + " (after " +
                std::to_string(latest_tli_) + ")" + SegmentContext(page));
  }
  latest_page_ = page;
  latest_tli_ = tli;
  return true;
}

bool WalPageReader::ValidateLong(const std::uint8_t* p) {
  std::uint64_t sysid = wal::Load64(p + wal::kXlpSysidOffset);
  if (!seen_long_) {
    seen_long_ = true;
    first_sysid_ = sysid;
  }
  std::uint64_t expected = expected_sysid_ ? *expected_sysid_ : first_sysid_;
  if (sysid != expected) {
    return Fail(
        "WAL file is from different database system: WAL file database system "
        "identifier is " +
        std::to_string(sysid) +
        (expected_sysid_ ? ", pg_control database system identifier is "
                         : ", first WAL file's database system identifier is ") +
        std::to_string(expected));
  }
  if (wal::Load32(p + wal::kXlpSegSizeOffset) != seg_size_) {
    return Fail(
        "WAL file is from different database system: incorrect segment size in page "
        "header");
  }
  if (wal::Load32(p + wal::kXlpBlckszOffset) != kWalPageSize) {
    return Fail(
        "WAL file is from different database system: incorrect XLOG_BLCKSZ in page "
        "header");
  }
  return true;
}

}  // namespace pgha
