#include "wal_record_scanner.hpp"

#include <cstring>
#include <limits>

#include "pgha/crc32c.hpp"
#include "wal_layout.hpp"

namespace pgha {

namespace {

using wal::Load16;
using wal::Load32;
using wal::Load64;

// Pages past this one would wrap the 64-bit WAL address space.
constexpr std::uint64_t kLastSafePage =
    std::numeric_limits<std::uint64_t>::max() - 2 * std::uint64_t{kWalPageSize} + 1;

std::string At(std::uint64_t lsn) {
  return Lsn(lsn).ToString();
}

bool IsContinuation(const std::uint8_t* page) {
  return (Load16(page + wal::kXlpInfoOffset) & kXlpFirstIsContRecord) != 0;
}

}  // namespace

WalScanResult WalRecordScanner::Run(std::uint64_t start, bool find_first) {
  result_.start = result_.end = Lsn(start);
  bool ok = !find_first || FindFirstRecord(start, &start);
  if (ok) {
    result_.start = result_.end = Lsn(start);
    next_ = start;
    while (ReadRecord()) {
      if (max_records_ != 0 && result_.records >= max_records_) {
        result_.stop_reason = "read " + std::to_string(max_records_) + " record(s) as asked";
        break;
      }
    }
  }
  result_.timeline = reader_.latest_timeline();
  result_.page_magic = reader_.magic();
  result_.postgres_major = reader_.major();
  result_.system_identifier = reader_.system_identifier();
  result_.segment_size = reader_.segment_size();
  result_.bytes_read = reader_.bytes_read();
  return result_;
}

bool WalRecordScanner::Stop(std::uint64_t at, std::string reason) {
  result_.end = Lsn(at);
  result_.stop_reason = std::move(reason);
  return false;
}

// XLogFindNextRecord's first half: skip the continuation of a record from earlier segments.
bool WalRecordScanner::FindFirstRecord(std::uint64_t seg_start, std::uint64_t* out) {
  std::uint64_t page = seg_start;
  for (;;) {
    const std::uint8_t* p = reader_.Page(page);
    if (p == nullptr) return Stop(page, reader_.error());
    std::size_t hdr = wal::PageHeaderSize(p);
    if (!IsContinuation(p)) {
      *out = page + hdr;
      return true;
    }
    std::uint64_t rest = wal::MaxAlign(Load32(p + wal::kXlpRemLenOffset));
    if (rest < kWalPageSize - hdr) {
      *out = page + hdr + rest;
      return true;
    }
    if (page > kLastSafePage) return Stop(page, "end of the WAL address space");
    page += kWalPageSize;
    result_.start = result_.end = Lsn(page);
  }
}

// Reads the record at next_; true when it is valid (next_ then points past it).
bool WalRecordScanner::ReadRecord() {
  std::uint64_t rec = next_;
  for (;;) {  // repeats after an XLP_FIRST_IS_OVERWRITE_CONTRECORD page
    std::uint64_t page = rec & ~wal::kPageMask;
    if (page > kLastSafePage) return Stop(rec, "end of the WAL address space");
    const std::uint8_t* p = reader_.Page(page);
    if (p == nullptr) return Stop(rec, reader_.error());
    auto off = static_cast<std::uint32_t>(rec & wal::kPageMask);
    std::size_t hdr = wal::PageHeaderSize(p);
    if (off == 0) {
      rec += hdr;
      off = static_cast<std::uint32_t>(hdr);
    } else if (off < hdr) {
      return Stop(rec, InvalidOffset(rec, hdr, off));
    }
    if (result_.records == 0) result_.start = Lsn(rec);
    if (IsContinuation(p) && off == hdr) return Stop(rec, "contrecord is requested by " + At(rec));
    std::uint32_t total = Load32(p + off);
    std::uint32_t avail = kWalPageSize - off;
    if (avail >= wal::kRecordHeaderSize) {
      if (!CheckHeader(rec, p + off)) return false;
    } else if (total < wal::kRecordHeaderSize) {
      return Stop(rec, InvalidLength(rec, total));
    }
    if (total > wal::MaxRecordLength(reader_.major())) {
      return Stop(rec, "record length " + std::to_string(total) + " at " + At(rec) + " too long");
    }
    if (total <= avail) {
      std::uint32_t crc = Crc32cExtend(kCrc32cInit, p + off + wal::kRecordHeaderSize,
                                       total - wal::kRecordHeaderSize);
      if (!CheckCrc(rec, crc, p + off)) return false;
      return Accept(rec, p + off, rec + wal::MaxAlign(total));
    }
    std::uint8_t header[wal::kRecordHeaderSize];
    std::uint64_t end = 0;
    Span span = ReadSpanning(rec, page, p + off, total, header, &end);
    if (span == Span::kFailed) return false;
    if (span == Span::kOk) return Accept(rec, header, end);
    rec = end;  // the continuation was overwritten: a new record starts on that page
  }
}

// The part of a record that goes past its first page: checks every continuation page,
// streams the CRC and reassembles only the 24-byte header. `first` is the record's start.
WalRecordScanner::Span WalRecordScanner::ReadSpanning(std::uint64_t rec, std::uint64_t page,
                                                      const std::uint8_t* first,
                                                      std::uint32_t total, std::uint8_t* header,
                                                      std::uint64_t* end) {
  const std::uint32_t avail = kWalPageSize - static_cast<std::uint32_t>(rec & wal::kPageMask);
  std::size_t have = avail < wal::kRecordHeaderSize ? avail : wal::kRecordHeaderSize;
  std::memcpy(header, first, have);
  std::uint32_t crc = kCrc32cInit;
  if (avail > wal::kRecordHeaderSize) {
    crc = Crc32cExtend(crc, first + wal::kRecordHeaderSize, avail - wal::kRecordHeaderSize);
  }
  std::uint64_t got = avail;
  for (;;) {
    page += kWalPageSize;
    Span span = Span::kOk;
    const std::uint8_t* q = ContinuationPage(rec, page, total, got, &span);
    if (q == nullptr) {
      *end = page;  // where a new record starts after an overwritten continuation
      return span;
    }
    std::uint32_t rem = Load32(q + wal::kXlpRemLenOffset);
    std::size_t qh = wal::PageHeaderSize(q);
    std::size_t n = kWalPageSize - qh < rem ? kWalPageSize - qh : rem;
    const std::uint8_t* data = q + qh;
    if (have < wal::kRecordHeaderSize) {
      std::size_t take = wal::kRecordHeaderSize - have;  // <= n, since rem >= 24 - got
      if (take > n) return Failed(rec, "record header at " + At(rec) + " is cut short");
      std::memcpy(header + have, data, take);
      have += take;
      if (!CheckHeader(rec, header)) return Span::kFailed;
      data += take;
      n -= take;
      got += take;
    }
    crc = Crc32cExtend(crc, data, n);
    got += n;
    if (got >= total) {
      *end = page + qh + wal::MaxAlign(rem);
      return CheckCrc(rec, crc, header) ? Span::kOk : Span::kFailed;
    }
  }
}

// The validated page at `page` continuing record `rec` (`got` of `total` bytes read so far),
// or nullptr with *span kFailed (stopped) or kRestart (XLP_FIRST_IS_OVERWRITE_CONTRECORD).
const std::uint8_t* WalRecordScanner::ContinuationPage(std::uint64_t rec, std::uint64_t page,
                                                       std::uint32_t total, std::uint64_t got,
                                                       Span* span) {
  *span = Span::kFailed;
  const std::uint8_t* q = page > kLastSafePage ? nullptr : reader_.Page(page);
  if (q == nullptr) {
    Stop(rec, page > kLastSafePage ? "end of the WAL address space" : reader_.error());
    return nullptr;
  }
  if ((Load16(q + wal::kXlpInfoOffset) & kXlpFirstIsOverwriteContRecord) != 0) {
    *span = Span::kRestart;
    return nullptr;
  }
  std::uint32_t rem = Load32(q + wal::kXlpRemLenOffset);
  if (!IsContinuation(q)) {
    Stop(rec, "there is no contrecord flag at " + At(rec));
  } else if (rem == 0 || got + rem != total) {
    Stop(rec, ContrecordLength(rem, static_cast<std::int64_t>(total - got), rec));
  } else {
    return q;
  }
  return nullptr;
}

WalRecordScanner::Span WalRecordScanner::Failed(std::uint64_t at, std::string reason) {
  Stop(at, std::move(reason));
  return Span::kFailed;
}

bool WalRecordScanner::CheckHeader(std::uint64_t rec, const std::uint8_t* header) {
  std::uint64_t prev = Load64(header + wal::kXlPrevOffset);
  bool ok = Load32(header + wal::kXlTotLenOffset) >= wal::kRecordHeaderSize &&
            wal::RmgrIdIsValid(reader_.major(), header[wal::kXlRmidOffset]) &&
            (rand_access_ ? prev < rec : prev == prev_);
  return ok || HeaderFailure(rec, header);
}

// ValidXLogRecordHeader's messages, off the hot path.
bool WalRecordScanner::HeaderFailure(std::uint64_t rec, const std::uint8_t* header) {
  std::uint32_t total = Load32(header + wal::kXlTotLenOffset);
  if (total < wal::kRecordHeaderSize) return Stop(rec, InvalidLength(rec, total));
  std::uint8_t rmid = header[wal::kXlRmidOffset];
  if (!wal::RmgrIdIsValid(reader_.major(), rmid)) {
    return Stop(rec, "invalid resource manager ID " + std::to_string(rmid) + " at " + At(rec));
  }
  std::uint64_t prev = Load64(header + wal::kXlPrevOffset);
  return Stop(rec, "record with incorrect prev-link " + At(prev) + " at " + At(rec));
}

// ValidXLogRecord: `crc` already covers the bytes after the header; the header comes last.
bool WalRecordScanner::CheckCrc(std::uint64_t rec, std::uint32_t crc, const std::uint8_t* header) {
  crc = Crc32cFinish(Crc32cExtend(crc, header, wal::kXlCrcOffset));
  if (crc == Load32(header + wal::kXlCrcOffset)) return true;
  return Stop(rec, "incorrect resource manager data checksum in record at " + At(rec));
}

bool WalRecordScanner::Accept(std::uint64_t rec, const std::uint8_t* header, std::uint64_t end) {
  TimelineId tli = reader_.latest_timeline();
  if (history_ != nullptr && tli != checked_tli_) {
    if (!history_->Contains(tli)) {  // recovery's ReadRecord: page TLI must be in history
      return Stop(rec, "unexpected timeline ID " + std::to_string(tli) +
                           reader_.SegmentContext(reader_.latest_page()));
    }
    checked_tli_ = tli;
  }
  if (header[wal::kXlRmidOffset] == wal::kRmXlogId &&
      (header[wal::kXlInfoOffset] & ~wal::kXlrInfoMask) == wal::kXlogSwitch) {
    std::uint64_t seg = reader_.segment_size();
    std::uint64_t into = end % seg;
    if (into != 0) {
      if (end - into > std::numeric_limits<std::uint64_t>::max() - seg) {
        return Stop(end, "end of the WAL address space");
      }
      end = end - into + seg;  // XLOG_SWITCH: the rest of the segment is unused
    }
  }
  prev_ = rec;
  rand_access_ = false;
  next_ = end;
  result_.last_record = Lsn(rec);
  result_.last_record_crc = wal::Load32(header + wal::kXlCrcOffset);
  ++result_.records;
  result_.end = Lsn(end);
  return true;
}

std::string WalRecordScanner::InvalidLength(std::uint64_t rec, std::uint32_t total) const {
  return "invalid record length at " + At(rec) +
         (reader_.major() >= 16 ? ": expected at least 24, got " : ": wanted 24, got ") +
         std::to_string(total);
}

std::string WalRecordScanner::InvalidOffset(std::uint64_t rec, std::size_t header_size,
                                            std::uint32_t off) const {
  if (reader_.major() < 16) return "invalid record offset at " + At(rec);
  return "invalid record offset at " + At(rec) + ": expected at least " +
         std::to_string(header_size) + ", got " + std::to_string(off);
}

std::string WalRecordScanner::ContrecordLength(std::uint32_t rem, std::int64_t expected,
                                               std::uint64_t rec) const {
  if (reader_.major() < 14) {
    return "invalid contrecord length " + std::to_string(rem) + " at " + At(rec);
  }
  return "invalid contrecord length " + std::to_string(rem) + " (expected " +
         std::to_string(expected) + ") at " + At(rec);
}

}  // namespace pgha
