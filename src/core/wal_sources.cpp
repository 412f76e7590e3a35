#include "wal_sources.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pgha/error.hpp"
#include "pgha/wal_page.hpp"
#include "text.hpp"

namespace pgha {

namespace {

// The smallest segment size has the most segments per xlogid, so it accepts every name that
// some valid segment size accepts.
constexpr std::uint32_t kSmallestSegmentSize = 1u << 20;

std::string BaseName(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Sorts like the segment part of the name (xlogid, then segment), then by timeline.
bool NameOrder(const WalNamedFile& a, const WalNamedFile& b) {
  std::string sa = a.name.SegmentName().substr(8);
  std::string sb = b.name.SegmentName().substr(8);
  if (sa != sb) return sa < sb;
  return a.name.timeline < b.name.timeline;
}

WalSegmentFile ToSegmentFile(const WalNamedFile& f) {
  return WalSegmentFile{f.path, f.name.SegmentName(), f.name.timeline};
}

}  // namespace

WalNamedFile ParseSegmentPath(const std::string& path, std::uint32_t segment_size) {
  Result<WalFileName> name = WalFileName::TryParse(BaseName(path), segment_size);
  if (!name.ok()) {
    throw Error(ErrorCode::kBadInput, "\"" + QuoteForMessage(path) +
                                          "\" is not a WAL segment file: " + name.error().what());
  }
  if (!name.value().HoldsWal()) {
    throw Error(ErrorCode::kBadInput, "\"" + QuoteForMessage(path) + "\" is a " +
                                          std::string(WalFileKindName(name.value().kind)) +
                                          " file, not a WAL segment or partial segment");
  }
  return WalNamedFile{path, name.value()};
}

std::optional<std::uint32_t> SegmentSizeFromHeader(const std::string& path, const std::string& name,
                                                   std::string* reason) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kIo,
                "could not open WAL segment \"" + path + "\": " + std::strerror(errno));
  }
  std::uint8_t buf[kWalLongPageHeaderSize];
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    throw Error(ErrorCode::kIo,
                "could not read WAL segment \"" + path + "\": " + std::strerror(err));
  }
  if (static_cast<std::size_t>(n) < sizeof buf) {
    *reason = "could not read file \"" + name + "\": read " + std::to_string(n) + " of " +
              std::to_string(sizeof buf);
    return std::nullopt;
  }
  WalPageHeader h = DecodeWalPageHeader(buf, sizeof buf);
  if (!h.is_long || !IsValidWalSegmentSize(h.segment_size)) {
    *reason =
        "WAL segment size must be a power of two between 1 MB and 1 GB, but the WAL "
        "file \"" +
        name + "\" header specifies " + std::to_string(h.is_long ? h.segment_size : 0) + " bytes";
    return std::nullopt;
  }
  return h.segment_size;
}

WalListSource::WalListSource(std::vector<WalNamedFile> files) : files_(std::move(files)) {
  std::size_t k = 1;
  while (k < files_.size() && files_[k].name.segment == files_[0].name.segment + k) ++k;
  files_.resize(k);  // a gap is where the WAL ends
}

std::optional<WalSegmentFile> WalListSource::Find(std::uint64_t segno) {
  std::uint64_t first = files_.front().name.segment;
  if (segno < first || segno - first >= files_.size()) return std::nullopt;
  return ToSegmentFile(files_[segno - first]);
}

WalDirectorySource::WalDirectorySource(const std::string& dir, const TimelineHistory& history)
    : history_(history) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "could not open WAL directory \"" + dir + "\": " + std::strerror(err));
  }
  while (dirent* e = ::readdir(d)) {
    Result<WalFileName> name = WalFileName::TryParse(e->d_name, kSmallestSegmentSize);
    if (!name.ok() || name.value().kind != WalFileKind::kSegment) continue;
    if (!history_.Contains(name.value().timeline)) continue;
    names_.push_back(WalNamedFile{dir + "/" + e->d_name, name.value()});
  }
  ::closedir(d);
  std::sort(names_.begin(), names_.end(), NameOrder);
}

void WalDirectorySource::set_segment_size(std::uint32_t segment_size) {
  segment_size_ = segment_size;
  std::vector<WalNamedFile> kept;
  for (const WalNamedFile& f : names_) {
    // A name whose segment field does not exist at this size is not a segment of this WAL.
    Result<WalFileName> name = WalFileName::TryParse(BaseName(f.path), segment_size);
    if (name.ok()) kept.push_back(WalNamedFile{f.path, name.value()});
  }
  names_ = std::move(kept);
  by_segment_.clear();
  for (const WalNamedFile& f : names_) by_segment_[f.name.segment][f.name.timeline] = &f;
}

std::optional<std::uint64_t> WalDirectorySource::OldestSegment() const {
  for (const auto& [segno, files] : by_segment_) {
    if (Has(segno)) return segno;
  }
  return std::nullopt;
}

// XLogFileReadAnyTLI: the newest timeline of the history whose begin segment is <= segno and
// that has a file for it, never older than the timeline of the last file opened.
const WalNamedFile* WalDirectorySource::Choose(std::uint64_t segno, TimelineId min_tli) const {
  auto files = by_segment_.find(segno);
  if (files == by_segment_.end()) return nullptr;
  const std::vector<TimelineHistoryEntry>& entries = history_.entries();
  for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
    if (e->timeline < min_tli) break;
    if (e->begin.IsValid() && segno < e->begin.value() / segment_size_) continue;
    auto f = files->second.find(e->timeline);
    if (f != files->second.end()) return f->second;
  }
  return nullptr;
}

std::optional<WalSegmentFile> WalDirectorySource::Find(std::uint64_t segno) {
  const WalNamedFile* f = Choose(segno, current_tli_);
  if (f == nullptr) return std::nullopt;
  current_tli_ = f->name.timeline;
  return ToSegmentFile(*f);
}

}  // namespace pgha
