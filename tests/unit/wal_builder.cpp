#include "wal_builder.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "pgha/crc32c.hpp"
#include "pgha/wal_page.hpp"

namespace pgha::test {

namespace {

// Layouts written out independently of src/core (reference §4.1, §4.2), so that the tests
// check the scanner against a second reading of the format.
constexpr std::uint64_t kPage = 8192;
constexpr std::uint64_t kShortHeader = 24;
constexpr std::uint64_t kLongHeader = 40;

template <typename T>
void Put(std::uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

std::uint64_t MaxAlign(std::uint64_t n) {
  return (n + 7) & ~std::uint64_t{7};
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/pgha-wal-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (DIR* d = ::opendir(path_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink(File(name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(path_.c_str());
}

void WriteFile(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

WalBuilder::WalBuilder(WalBuilderOptions options)
    : options_(options),
      timeline_(options.timeline),
      pos_(options.first_segment * options.segment_size),
      rng_(options.seed * 2654435761u + 1u) {}

std::uint8_t* WalBuilder::Ptr(std::uint64_t lsn) {
  std::uint64_t segno = lsn / options_.segment_size;
  auto it = segments_.find(segno);
  if (it == segments_.end()) {
    it = segments_
             .emplace(segno,
                      SegmentData{timeline_, std::vector<std::uint8_t>(options_.segment_size, 0)})
             .first;
  }
  return it->second.bytes.data() + lsn % options_.segment_size;
}

std::uint8_t& WalBuilder::At(Lsn lsn) {
  if (segments_.count(lsn.value() / options_.segment_size) == 0) {
    throw std::out_of_range("no segment holds " + lsn.ToString());
  }
  return *Ptr(lsn.value());
}

void WalBuilder::AddEmptySegment(std::uint64_t segno) {
  Ptr(segno * options_.segment_size);
}

void WalBuilder::WritePageHeader() {
  bool is_long = pos_ % options_.segment_size == 0;
  std::uint8_t* h = Ptr(pos_);
  std::uint16_t info = static_cast<std::uint16_t>(
      (is_long ? kXlpLongHeader : 0) | (cont_remaining_ != 0 ? kXlpFirstIsContRecord : 0) |
      (overwrite_next_page_ ? kXlpFirstIsOverwriteContRecord : 0));
  overwrite_next_page_ = false;
  Put<std::uint16_t>(h, WalMagicForMajor(options_.major));
  Put<std::uint16_t>(h + 2, info);
  Put<std::uint32_t>(h + 4, timeline_);
  Put<std::uint64_t>(h + 8, pos_);
  Put<std::uint32_t>(h + 16, cont_remaining_);
  if (is_long) {
    Put<std::uint64_t>(h + 24, options_.system_identifier);
    Put<std::uint32_t>(h + 32, options_.segment_size);
    Put<std::uint32_t>(h + 36, static_cast<std::uint32_t>(kPage));
  }
  pos_ += is_long ? kLongHeader : kShortHeader;
}

void WalBuilder::Write(const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    if (pos_ % kPage == 0) WritePageHeader();
    std::size_t room = static_cast<std::size_t>(kPage - pos_ % kPage);
    std::size_t k = size < room ? size : room;
    std::memcpy(Ptr(pos_), data, k);
    pos_ += k;
    data += k;
    size -= k;
    cont_remaining_ -= static_cast<std::uint32_t>(k);
  }
}

std::vector<std::uint8_t> WalBuilder::MakeRecord(std::uint32_t total_length, std::uint8_t rmid,
                                                 std::uint8_t info) {
  if (total_length < 24) throw std::invalid_argument("a record has at least 24 bytes");
  std::vector<std::uint8_t> r(total_length, 0);
  Put<std::uint32_t>(r.data(), total_length);
  // XLOG records carry no transaction id.
  Put<std::uint32_t>(r.data() + 4,
                     rmid == 0 ? 0u : 1000u + static_cast<std::uint32_t>(records_.size()));
  Put<std::uint64_t>(r.data() + 8, prev_);
  r[16] = info;
  r[17] = rmid;
  for (std::size_t i = 24; i < r.size(); ++i) {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 17;
    rng_ ^= rng_ << 5;
    r[i] = static_cast<std::uint8_t>(rng_);
  }
  std::uint32_t crc = Crc32cExtend(kCrc32cInit, r.data() + 24, r.size() - 24);
  Put<std::uint32_t>(r.data() + 20, Crc32cFinish(Crc32cExtend(crc, r.data(), 20)));
  return r;
}

Lsn WalBuilder::AddRecord(std::uint32_t total_length, std::uint8_t rmid, std::uint8_t info) {
  if (pos_ % kPage == 0) WritePageHeader();
  Lsn start(pos_);
  std::vector<std::uint8_t> bytes = MakeRecord(total_length, rmid, info);
  cont_remaining_ = total_length;
  Write(bytes.data(), bytes.size());
  cont_remaining_ = 0;
  records_.push_back(start);
  extents_.emplace_back(start, Lsn(pos_));
  prev_ = start.value();
  pos_ = MaxAlign(pos_);
  return start;
}

Lsn WalBuilder::AddRecordLeaving(std::uint32_t left) {
  std::uint64_t p = pos_;
  if (p % kPage == 0) p += p % options_.segment_size == 0 ? kLongHeader : kShortHeader;
  std::uint64_t page_end = (p / kPage + 1) * kPage;
  std::uint64_t room = page_end - p;
  if (room >= left + 24u) return AddRecord(static_cast<std::uint32_t>(room - left));
  std::uint64_t next_header = page_end % options_.segment_size == 0 ? kLongHeader : kShortHeader;
  return AddRecord(static_cast<std::uint32_t>(room + kPage - next_header - left));
}

Lsn WalBuilder::AddRecordEndingAt(Lsn end) {
  std::uint64_t p = pos_;
  if (p % kPage == 0) p += p % options_.segment_size == 0 ? kLongHeader : kShortHeader;
  std::uint64_t bytes = end.value() - p;
  for (std::uint64_t page = (p / kPage + 1) * kPage; page < end.value(); page += kPage) {
    bytes -= page % options_.segment_size == 0 ? kLongHeader : kShortHeader;
  }
  return AddRecord(static_cast<std::uint32_t>(bytes));
}

Lsn WalBuilder::AddSwitch() {
  Lsn start = AddRecord(24, 0, 0x40);
  std::uint64_t seg = options_.segment_size;
  if (pos_ % seg != 0) pos_ = (pos_ / seg + 1) * seg;
  return start;
}

Lsn WalBuilder::AddAbortedRecord(std::uint32_t total_length) {
  if (pos_ % kPage == 0) WritePageHeader();
  Lsn start(pos_);
  std::vector<std::uint8_t> bytes = MakeRecord(total_length, 10, 0);
  std::size_t first_part = static_cast<std::size_t>(kPage - pos_ % kPage);
  if (total_length <= first_part) throw std::invalid_argument("the record must cross a page");
  cont_remaining_ = total_length;
  Write(bytes.data(), first_part);
  cont_remaining_ = 0;
  overwrite_next_page_ = true;
  return start;
}

std::vector<std::uint64_t> WalBuilder::Segments() const {
  std::vector<std::uint64_t> out;
  for (const auto& [segno, data] : segments_) out.push_back(segno);
  return out;
}

std::string WalBuilder::SegmentName(std::uint64_t segno) const {
  TimelineId tli = segments_.count(segno) != 0 ? segments_.at(segno).timeline : timeline_;
  return WalSegmentFileName(tli, SegmentStart(segno, options_.segment_size), options_.segment_size);
}

std::vector<std::string> WalBuilder::WriteTo(const std::string& dir) const {
  std::vector<std::string> paths;
  for (const auto& [segno, data] : segments_) {
    paths.push_back(dir + "/" + SegmentName(segno));
    WriteFile(paths.back(), data.bytes);
  }
  return paths;
}

void AddMixed(WalBuilder& b, int n) {
  static const std::uint32_t kSizes[] = {24, 50, 130, 300, 1000, 2500, 9000, 64, 20000, 77};
  for (int i = 0; i < n; ++i) b.AddRecord(kSizes[i % 10]);
}

}  // namespace pgha::test
