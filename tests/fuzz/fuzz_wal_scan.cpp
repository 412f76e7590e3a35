// libFuzzer target: WAL page headers (DecodeWalPageHeader) and the end-of-WAL scanner
// (ScanWalFiles) over one or two 1 MiB segment files written from the input (format:
// wal_fuzz_input.hpp) into a temporary directory made once per process. Invariants: the
// decoder reads exactly the header bytes; the scan never throws for these valid names and
// start, and its result is consistent (start <= last record < end, records and end agree,
// nothing past the files); scanning again from the last record finds that record and the
// same end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "pgha/wal_page.hpp"
#include "pgha/wal_scan.hpp"
#include "wal_fuzz_input.hpp"
#include "wal_layout.hpp"

namespace {

namespace fz = pgha::fuzz;
namespace wal = pgha::wal;
using pgha::Lsn;
using Header = std::array<std::uint8_t, pgha::kWalLongPageHeaderSize>;

constexpr std::uint32_t kSeg = fz::kWalFuzzSegmentSize;
constexpr std::uint64_t kFirstLsn = fz::kWalFuzzFirstSegment * kSeg;

template <typename T>
void Store(std::uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// Two segment files in a directory under $PGHA_FUZZ_TMPDIR (or /tmp), removed at exit.
class SegmentDir {
 public:
  SegmentDir() {
    const char* base = std::getenv("PGHA_FUZZ_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/pgha-fuzz-wal-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp " + tmpl);
    dir_ = tmpl;
    for (std::uint64_t k = 0; k < 2; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "0000000100000000%08X",
                    static_cast<unsigned>(fz::kWalFuzzFirstSegment + k));
      paths_.push_back(dir_ + "/" + name);
    }
  }
  ~SegmentDir() {
    for (const std::string& p : paths_) ::unlink(p.c_str());
    ::rmdir(dir_.c_str());
  }
  SegmentDir(const SegmentDir&) = delete;
  SegmentDir& operator=(const SegmentDir&) = delete;

  const std::vector<std::string>& paths() const { return paths_; }

  // Writes segment `k`: `size` bytes of `data` at `offset`, then `header` at 0 (over the
  // data's first bytes when it starts the segment), zeros elsewhere; the file ends with the
  // page the data ends in unless `pad` (then it is a sparse 1 MiB file).
  void Write(std::size_t k, const Header& header, const std::uint8_t* data, std::size_t size,
             std::size_t offset, bool pad) const {
    const std::string& path = paths_[k];
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) Die("open " + path);
    bool ok = size == 0 ||
              ::pwrite(fd, data, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
    ok = ok && ::pwrite(fd, header.data(), header.size(), 0) == static_cast<ssize_t>(header.size());
    const std::size_t end = std::max(offset + size, header.size());
    const std::size_t length =
        pad ? kSeg
            : std::min<std::size_t>(
                  (end + pgha::kWalPageSize - 1) / pgha::kWalPageSize * pgha::kWalPageSize, kSeg);
    ok = ok && ::ftruncate(fd, static_cast<off_t>(length)) == 0;
    ::close(fd);
    if (!ok) Die("write " + path);
  }

 private:
  [[noreturn]] static void Die(const std::string& what) {
    std::fprintf(stderr, "fuzz_wal_scan: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(2);
  }

  std::string dir_;
  std::vector<std::string> paths_;
};

const SegmentDir& Dir() {
  static const SegmentDir dir;
  return dir;
}

// The long header of segment `segno`: the first bytes of `data` (zeros after them), made
// valid unless `raw` (xlp_tli 1 when `data` is too short to hold one).
Header MakeHeader(const std::uint8_t* data, std::size_t size, std::uint64_t segno,
                  std::uint16_t magic, bool raw) {
  Header h{};
  std::memcpy(h.data(), data, std::min(size, h.size()));
  if (raw) return h;
  const auto info = static_cast<std::uint16_t>(
      (wal::Load16(h.data() + wal::kXlpInfoOffset) & wal::kXlpAllFlags) | pgha::kXlpLongHeader);
  Store(h.data() + wal::kXlpMagicOffset, magic);
  Store(h.data() + wal::kXlpInfoOffset, info);
  if (size < wal::kXlpTliOffset + 4) Store(h.data() + wal::kXlpTliOffset, std::uint32_t{1});
  Store(h.data() + wal::kXlpPageAddrOffset, segno * kSeg);
  Store(h.data() + wal::kXlpSysidOffset, fz::kWalFuzzSystemId);
  Store(h.data() + wal::kXlpSegSizeOffset, kSeg);
  Store(h.data() + wal::kXlpBlckszOffset, pgha::kWalPageSize);
  return h;
}

void CheckPageHeader(const std::uint8_t* data, std::size_t size) {
  try {
    const pgha::WalPageHeader h = pgha::DecodeWalPageHeader(data, size);
    PGHA_FUZZ_CHECK(size >= h.size());
    PGHA_FUZZ_CHECK(h.magic == wal::Load16(data) && h.info == wal::Load16(data + 2));
    PGHA_FUZZ_CHECK(h.page_address.value() == wal::Load64(data + wal::kXlpPageAddrOffset));
    PGHA_FUZZ_CHECK(h.is_long == ((h.info & pgha::kXlpLongHeader) != 0));
    PGHA_FUZZ_CHECK(h.is_long || (h.system_identifier == 0 && h.segment_size == 0));
    const int major = pgha::PostgresMajorForWalMagic(h.magic);
    PGHA_FUZZ_CHECK(major == 0 || pgha::WalMagicForMajor(major) == h.magic);
  } catch (const pgha::Error& e) {
    PGHA_FUZZ_CHECK_REFUSAL(e);
    PGHA_FUZZ_CHECK(size < pgha::kWalLongPageHeaderSize);
  }
}

struct Scan {
  pgha::WalScanOptions options;
  std::size_t files = 1;
  int major = 0;
  bool raw = false;
};

// ScanWalFiles, which may refuse only a start outside the first file when the segment size
// comes from a raw header (the start is computed for 1 MiB segments): then nullopt.
std::optional<pgha::WalScanResult> Run(const std::vector<std::string>& files,
                                       const pgha::WalScanOptions& options, bool size_known) {
  try {
    return pgha::ScanWalFiles(files, options);
  } catch (const pgha::Error& e) {
    if (!size_known && e.code() == pgha::ErrorCode::kBadInput &&
        std::strstr(e.what(), "is not in the first file") != nullptr) {
      return std::nullopt;
    }
    std::fprintf(stderr, "ScanWalFiles threw: %s\n", e.what());
    fz::Fail("ScanWalFiles threw for valid names and start", __FILE__, __LINE__);
  }
}

void CheckResult(const pgha::WalScanResult& r, const Scan& s) {
  PGHA_FUZZ_CHECK(!r.stop_reason.empty());
  PGHA_FUZZ_CHECK(r.start <= r.end);
  PGHA_FUZZ_CHECK(r.bytes_read <= s.files * std::uint64_t{kSeg});
  if (r.segment_size == 0) {  // no segment size to read with: nothing read
    PGHA_FUZZ_CHECK(r.start == s.options.start && r.end == r.start && r.records == 0);
    return;
  }
  // The files are segments kWalFuzzFirstSegment.. of the size the scan read them with (a raw
  // header may announce another than 1 MiB).
  PGHA_FUZZ_CHECK(pgha::IsValidWalSegmentSize(r.segment_size));
  const Lsn first(fz::kWalFuzzFirstSegment * r.segment_size);
  PGHA_FUZZ_CHECK(r.start >= (s.options.start.IsValid() ? s.options.start : first));
  PGHA_FUZZ_CHECK(r.end <= Lsn(first.value() + s.files * r.segment_size));
  if (r.records == 0) {
    PGHA_FUZZ_CHECK(r.end == r.start && !r.last_record.IsValid());
    return;
  }
  PGHA_FUZZ_CHECK(r.start <= r.last_record && r.last_record < r.end);
  PGHA_FUZZ_CHECK(r.last_record.value() % 8 == 0 && r.start.value() % 8 == 0);
  PGHA_FUZZ_CHECK(r.postgres_major != 0);
  PGHA_FUZZ_CHECK(pgha::PostgresMajorForWalMagic(r.page_magic) == r.postgres_major);
  if (!s.raw) {
    PGHA_FUZZ_CHECK(r.postgres_major == s.major && r.segment_size == kSeg);
    PGHA_FUZZ_CHECK(r.system_identifier == fz::kWalFuzzSystemId);
  }
}

// A scan from the last valid record reads that record and stops where the first scan did.
void CheckRescan(const pgha::WalScanResult& r, const Scan& s) {
  if (r.records == 0 || r.segment_size != kSeg) return;
  const std::size_t k =
      static_cast<std::size_t>(r.last_record.value() / kSeg - fz::kWalFuzzFirstSegment);
  if (k >= s.files) return;
  std::vector<std::string> files(Dir().paths().begin() + static_cast<std::ptrdiff_t>(k),
                                 Dir().paths().begin() + static_cast<std::ptrdiff_t>(s.files));
  pgha::WalScanOptions options = s.options;
  options.start = r.last_record;
  const pgha::WalScanResult again = Run(files, options, true).value();
  PGHA_FUZZ_CHECK(again.records == 1 && again.last_record == r.last_record);
  PGHA_FUZZ_CHECK(again.end == r.end);
}

// Reads the input's prefix (wal_fuzz_input.hpp) and writes its segment files.
Scan Prepare(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t control = data[0];
  std::uint32_t start = 0;
  std::uint32_t split = 0;
  std::memcpy(&start, data + 1, 4);
  std::memcpy(&split, data + 5, 4);
  const std::uint8_t pad = data[9];
  const std::uint8_t* payload = data + fz::kWalFuzzPrefixSize;
  const std::size_t n = std::min<std::size_t>(size - fz::kWalFuzzPrefixSize, kSeg);
  CheckPageHeader(payload, n);

  Scan s;
  s.major = 10 + (control & 0x0F) % 9;
  s.raw = (control & fz::kRawHeaders) != 0;
  s.files = (control & fz::kTwoSegments) != 0 ? 2 : 1;
  const std::uint16_t magic = pgha::WalMagicForMajor(s.major);
  const std::uint64_t seg1 = fz::kWalFuzzFirstSegment;
  if (s.files == 1) {
    Dir().Write(0, MakeHeader(payload, n, seg1, magic, s.raw), payload, n, 0,
                (pad & fz::kPadFirst) != 0);
  } else {
    const std::size_t tail = std::min<std::size_t>({split, n, kSeg - pgha::kWalLongPageHeaderSize});
    Dir().Write(0, MakeHeader(payload, 0, seg1, magic, false), payload, tail, kSeg - tail, true);
    Dir().Write(1, MakeHeader(payload + tail, n - tail, seg1 + 1, magic, s.raw), payload + tail,
                n - tail, 0, (pad & fz::kPadLast) != 0);
  }
  if ((control & fz::kStartGiven) != 0) {
    s.options.start = Lsn(kFirstLsn + std::uint64_t{start % (kSeg / 8)} * 8);
  }
  if ((control & fz::kStrictOptions) != 0) {
    s.options.segment_size = kSeg;
    s.options.system_identifier = fz::kWalFuzzSystemId;
  }
  return s;
}

// With PGHA_FUZZ_VERBOSE set (to replay a crash), prints what the scan found.
void Trace(const pgha::WalScanResult& r) {
  static const bool verbose = std::getenv("PGHA_FUZZ_VERBOSE") != nullptr;
  if (!verbose) return;
  std::fprintf(stderr, "scan: %llu records, %s..%s, last %s: %s\n",
               static_cast<unsigned long long>(r.records), r.start.ToString().c_str(),
               r.end.ToString().c_str(), r.last_record.ToString().c_str(), r.stop_reason.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < fz::kWalFuzzPrefixSize) return 0;
  const Scan s = Prepare(data, size);
  const std::vector<std::string> files(
      Dir().paths().begin(), Dir().paths().begin() + static_cast<std::ptrdiff_t>(s.files));
  const std::optional<pgha::WalScanResult> r =
      Run(files, s.options, !s.raw || s.options.segment_size != 0);
  if (!r) return 0;
  Trace(*r);
  CheckResult(*r, s);
  CheckRescan(*r, s);
  return 0;
}
