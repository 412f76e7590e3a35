// Uploads into pg_wal: WalCatalog::BeginInstall / Install and WalUpload. The temporary file
// ".pgha-upload.<pid>.<n>" matches none of the patterns PostgreSQL acts on in pg_wal
// (IsXLogFileName, IsPartialXLogFileName, IsTLHistoryFileName, IsBackupHistoryFileName and
// the "xlogtemp." prefix in xlog.c / xlog_internal.h, 10-18). An upload killed before its
// rename leaves that file and nothing else; the next upload removes those of dead processes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fault_point.hpp"
#include "fs.hpp"
#include "md5.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_catalog.hpp"
#include "pgha/wal_page.hpp"
#include "pgha/wal_scan.hpp"
#include "process.hpp"
#include "wal_catalog_impl.hpp"
#include "wal_segment_check.hpp"

namespace pgha {

namespace {

// "" when the uploaded history `up` fits a node at `node`, else why not.
std::string HistoryMisfit(const TimelineHistory& up, const WalPosition& node) {
  const TimelineHistory& mine = node.history;
  const TimelineId tip = up.timeline();
  for (const TimelineHistoryEntry& e : mine.entries()) {
    if (e.timeline >= std::min(tip, mine.timeline())) break;
    if (!up.Contains(e.timeline) || up.SwitchPoint(e.timeline) != e.end) {
      return "timeline " + std::to_string(e.timeline) + " ends at " + e.end.ToString() +
             " in this node's history, not as the upload says";
    }
  }
  if (tip <= mine.timeline()) {
    if (!mine.Contains(tip)) {
      return "timeline " + std::to_string(tip) + " is not in this node's history";
    }
    for (const TimelineHistoryEntry& e : up.entries()) {
      if (e.timeline != tip && !mine.Contains(e.timeline)) {
        return "timeline " + std::to_string(e.timeline) + " is not in this node's history";
      }
    }
    return {};
  }
  FollowCheck check = up.CanFollow(mine.timeline(), node.end_of_wal);
  return check.verdict == FollowVerdict::kValid ? std::string() : check.detail;
}

// The history the pages of segment `parsed` are checked against: the node's, or for a
// timeline newer than the node's that timeline's history file in pg_wal (uploaded first, as
// WalCatalog::From orders them). Refuses a timeline the node's history does not have.
std::optional<TimelineHistory> HistoryForSegment(const catalog::CatalogState& state,
                                                 const std::string& name, const WalFileName& parsed,
                                                 const std::optional<TimelineHistory>& node) {
  if (!node) return std::nullopt;
  const TimelineId tli = parsed.timeline;
  const std::string refused = "upload of \"" + name + "\" refused: timeline " + std::to_string(tli);
  if (tli <= node->timeline()) {
    if (!node->Contains(tli)) {
      throw Error(ErrorCode::kBadInput, refused + " is not in this node's history (timeline " +
                                            std::to_string(node->timeline()) + ")");
    }
    return node;
  }
  const std::string history_name = WalFileName::History(tli).ToString();
  std::optional<std::string> text = fs::ReadFileIfExists(state.PathOf(history_name));
  if (!text) {
    throw Error(ErrorCode::kBadInput, refused + " is newer than this node's " +
                                          std::to_string(node->timeline()) + " and pg_wal has no " +
                                          history_name + ". HINT: upload the history first");
  }
  Result<TimelineHistory> h = TimelineHistory::TryParse(*text, tli);
  if (!h.ok()) {
    throw Error(ErrorCode::kBadInput,
                refused + ": pg_wal's " + history_name + " is not a history: " + h.error().what());
  }
  return h.value();
}

// Removes the temporary files of uploads whose process was killed: ".pgha-upload.<pid>.<n>"
// of a pid that is gone (a live pid's may be an upload in progress).
void RemoveStaleUploads(const std::string& dir) {
  constexpr std::string_view kPrefix = ".pgha-upload.";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    std::string_view entry = e->d_name;
    if (entry.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    std::string_view rest = entry.substr(kPrefix.size());
    std::string_view digits = rest.substr(0, rest.find('.'));
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
    if (pid == ::getpid() || process::ProcessAlive(pid)) continue;
    ::unlink((dir + "/" + std::string(entry)).c_str());
  }
  ::closedir(d);
}

}  // namespace

struct WalUpload::Impl {
  enum class Phase { kOpen, kDone, kAborted };

  std::shared_ptr<catalog::CatalogState> state;
  std::string name;
  WalFileName parsed;
  UploadOptions options;  // expected_md5 in lower case
  std::uint64_t limit = 0;
  std::string temp_path;
  int fd = -1;
  Md5 md5;
  std::uint64_t written = 0;
  std::optional<catalog::SegmentPageCheck> pages;  // segments and partials
  std::string history_text;
  Phase phase = Phase::kOpen;

  void AbortQuietly() noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (phase == Phase::kOpen && !temp_path.empty()) ::unlink(temp_path.c_str());
    if (phase == Phase::kOpen) phase = Phase::kAborted;
  }

  [[noreturn]] void Refuse(const std::string& check) {
    AbortQuietly();
    throw Error(ErrorCode::kBadInput, "upload of \"" + name + "\" refused: " + check);
  }

  [[noreturn]] void IoFailed(const std::string& what) {
    int err = errno;
    AbortQuietly();
    throw Error(ErrorCode::kIo, "upload of \"" + name + "\": cannot " + what + " \"" + temp_path +
                                    "\": " + std::strerror(err));
  }

  void RequireOpen() const {
    if (phase != Phase::kOpen) {
      throw Error(ErrorCode::kWrongState, "upload of \"" + name + "\" is already " +
                                              (phase == Phase::kDone ? "committed" : "aborted"));
    }
  }

  void WriteAll(const std::uint8_t* p, std::size_t size) {
    while (size > 0) {
      ssize_t n = ::write(fd, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        IoFailed("write");
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  /// The test-only fault point "upload:<stage>:<path>" (src/core/fault_point.hpp).
  void Fault(const char* stage) const {
    fault::Point("upload:" + std::string(stage) + ":" + state->PathOf(name));
  }

  void CheckComplete(const std::string& actual_md5);
  void Persist();
  InstallResult Place(const std::string& actual_md5);
  InstallResult AlreadyThere(const std::string& path, const std::string& actual_md5);
  bool ExtendsExisting(const std::string& path);
  InstallResult Replace(const std::string& path, const std::string& actual_md5);
};

void WalUpload::Impl::CheckComplete(const std::string& actual_md5) {
  if (parsed.HoldsWal() && written != state->segment_size()) {
    Refuse(std::to_string(written) + " bytes: a WAL segment is exactly " +
           std::to_string(state->segment_size()) + " bytes (PostgreSQL cannot use a short one)");
  }
  if (options.expected_size && written != *options.expected_size) {
    Refuse(std::to_string(written) + " bytes, announced " + std::to_string(*options.expected_size));
  }
  if (parsed.kind == WalFileKind::kHistory) {
    Result<TimelineHistory> h = TimelineHistory::TryParse(history_text, parsed.timeline);
    if (!h.ok()) Refuse(std::string("not a timeline history: ") + h.error().what());
    if (h.value().entries().size() < 2) Refuse("the history has no switch point line");
    if (options.node_position) {
      std::string misfit = HistoryMisfit(h.value(), *options.node_position);
      if (!misfit.empty()) Refuse("the history does not fit this node: " + misfit);
    }
  }
  if (options.expected_md5 && *options.expected_md5 != actual_md5) {
    Refuse("MD5 " + actual_md5 + " is not the expected " + *options.expected_md5);
  }
}

void WalUpload::Impl::Persist() {
  if (::fchmod(fd, 0600) != 0) IoFailed("chmod");
  try {
    fs::ChownIfRoot(temp_path, fs::OwnerOf(state->dir()));
  } catch (...) {
    AbortQuietly();
    throw;
  }
  if (::fsync(fd) != 0) IoFailed("fsync");
  int closing = fd;
  fd = -1;
  if (::close(closing) != 0) IoFailed("close");
}

// Renames without replacing: RENAME_NOREPLACE, or link(2) where the file system lacks it.
InstallResult WalUpload::Impl::Place(const std::string& actual_md5) {
  const std::string path = state->PathOf(name);
  int rc = ::renameat2(AT_FDCWD, temp_path.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    rc = ::link(temp_path.c_str(), path.c_str());
    if (rc == 0) ::unlink(temp_path.c_str());
  }
  if (rc != 0) {
    if (errno == EEXIST) return AlreadyThere(path, actual_md5);
    IoFailed("rename into place");
  }
  phase = Phase::kDone;
  Fault("placed");
  fs::FsyncPath(state->dir());
  Fault("done");
  std::optional<catalog::DirEntry> placed = state->StatEntry(name, parsed);
  InstallResult out;
  out.path = path;
  if (placed) out.file = state->InfoOf(*placed);
  out.file.name = name;
  out.file.parsed = parsed;
  out.file.md5 = actual_md5;
  out.file.size = written;
  return out;
}

InstallResult WalUpload::Impl::AlreadyThere(const std::string& path,
                                            const std::string& actual_md5) {
  std::optional<catalog::DirEntry> existing = state->StatEntry(name, parsed);
  std::optional<WalFileInfo> info;
  if (existing) info = std::move(state->HashAll({*existing}).front());
  if (info && info->md5 != actual_md5 && options.allow_extend && parsed.HoldsWal() &&
      ExtendsExisting(path)) {
    return Replace(path, actual_md5);
  }
  if (!info || info->md5 != actual_md5) {
    AbortQuietly();
    throw Error(ErrorCode::kConflict,
                "upload of \"" + name + "\" refused: pg_wal already has a different \"" + name +
                    "\" (MD5 " + (info ? info->md5 : std::string("unreadable")) + ", upload " +
                    actual_md5 + "); WAL is never overwritten");
  }
  AbortQuietly();  // removes the temporary file
  phase = Phase::kDone;
  return InstallResult{std::move(*info), path, true};
}

// True when the upload (the temporary file) holds the same bytes as the existing segment at
// `path` over all of that segment's valid WAL.
bool WalUpload::Impl::ExtendsExisting(const std::string& path) {
  WalScanResult r = ScanWalFiles({path});
  Lsn start = parsed.StartLsn();
  std::uint64_t valid =
      r.end > start ? std::min<std::uint64_t>(r.end.value() - start.value(), written) : 0;
  std::optional<std::string> old_bytes = fs::ReadFileIfExists(path);
  std::optional<std::string> new_bytes = fs::ReadFileIfExists(temp_path);
  if (!old_bytes || !new_bytes || old_bytes->size() < valid || new_bytes->size() < valid)
    return false;
  return old_bytes->compare(0, valid, *new_bytes, 0, valid) == 0;
}

// Puts the upload in place of the segment it extends (an atomic rename over it).
InstallResult WalUpload::Impl::Replace(const std::string& path, const std::string& actual_md5) {
  if (::rename(temp_path.c_str(), path.c_str()) != 0) IoFailed("rename over the older copy");
  phase = Phase::kDone;
  Fault("placed");
  fs::FsyncPath(state->dir());
  Fault("done");
  InstallResult out;
  out.path = path;
  if (auto placed = state->StatEntry(name, parsed)) out.file = state->InfoOf(*placed);
  out.file.name = name;
  out.file.parsed = parsed;
  out.file.md5 = actual_md5;
  out.file.size = written;
  out.replaced = true;
  return out;
}

WalUpload::WalUpload(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WalUpload::~WalUpload() {
  if (impl_) impl_->AbortQuietly();
}

void WalUpload::Write(const void* data, std::size_t size) {
  Impl& u = *impl_;
  u.RequireOpen();
  if (size > u.limit - u.written) {
    u.Refuse("more than " + std::to_string(u.limit) + " bytes (" +
             (u.parsed.HoldsWal() ? "one WAL segment" : "the history file limit") + ")");
  }
  if (u.options.expected_size && size > *u.options.expected_size - u.written) {
    u.Refuse("more than the announced " + std::to_string(*u.options.expected_size) + " bytes");
  }
  const auto* p = static_cast<const std::uint8_t*>(data);
  if (u.pages) {
    std::string failed = u.pages->Feed(u.written, p, size);
    if (!failed.empty()) u.Refuse(failed);
  }
  if (u.parsed.kind == WalFileKind::kHistory)
    u.history_text.append(static_cast<const char*>(data), size);
  u.md5.Update(p, size);
  u.WriteAll(p, size);
  u.written += size;
}

InstallResult WalUpload::Commit() {
  Impl& u = *impl_;
  u.RequireOpen();
  try {
    const std::string actual_md5 = u.md5.HexDigest();
    u.Fault("temp-written");
    u.CheckComplete(actual_md5);
    u.Persist();
    u.Fault("temp-synced");
    return u.Place(actual_md5);
  } catch (...) {
    u.AbortQuietly();
    throw;
  }
}

void WalUpload::Abort() noexcept {
  impl_->AbortQuietly();
}

const std::string& WalUpload::name() const noexcept {
  return impl_->name;
}

std::uint64_t WalUpload::bytes_written() const noexcept {
  return impl_->written;
}

std::unique_ptr<WalUpload> WalCatalog::BeginInstall(const std::string& name,
                                                    const UploadOptions& options) {
  auto u = std::make_unique<WalUpload::Impl>();
  u->state = impl_;
  u->name = name;
  u->parsed = WalFileName::Parse(name, impl_->segment_size());
  if (u->parsed.kind == WalFileKind::kBackup) {
    throw Error(ErrorCode::kBadInput, "upload of \"" + name +
                                          "\" refused: backup history "
                                          "files are not WAL; only segments, partial segments and "
                                          "timeline history files are installed");
  }
  u->limit = u->parsed.HoldsWal() ? impl_->segment_size() : kMaxHistoryFileSize;
  u->options = options;
  if (u->parsed.HoldsWal()) {
    u->pages.emplace(u->parsed, impl_->segment_size(), impl_->Identity(),
                     HistoryForSegment(*impl_, name, u->parsed, options.node_history));
  }
  if (options.expected_md5) {
    if (!IsMd5Hex(*options.expected_md5)) {
      throw Error(ErrorCode::kBadInput, "upload of \"" + name + "\": expected MD5 \"" +
                                            *options.expected_md5 + "\" is not 32 hex digits");
    }
    u->options.expected_md5 = LowerAscii(*options.expected_md5);
  }
  if (options.expected_size && (u->parsed.HoldsWal() ? *options.expected_size != u->limit
                                                     : *options.expected_size > u->limit)) {
    throw Error(ErrorCode::kBadInput, "upload of \"" + name + "\" refused: announced size " +
                                          std::to_string(*options.expected_size) +
                                          " bytes is impossible (limit " +
                                          std::to_string(u->limit) + ")");
  }
  RemoveStaleUploads(impl_->dir());
  const std::string temp_path = impl_->PathOf(impl_->NextTempName());
  u->fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (u->fd < 0) {
    throw Error(ErrorCode::kIo, "upload of \"" + name + "\": cannot create \"" + temp_path +
                                    "\": " + std::strerror(errno));
  }
  u->temp_path = temp_path;  // from now on, an abort removes it
  return std::unique_ptr<WalUpload>(new WalUpload(std::move(u)));
}

InstallResult WalCatalog::Install(const std::string& name, std::string_view bytes,
                                  std::optional<std::string> expected_md5) {
  UploadOptions options;
  options.expected_md5 = std::move(expected_md5);
  std::unique_ptr<WalUpload> upload = BeginInstall(name, options);
  upload->Write(bytes.data(), bytes.size());
  return upload->Commit();
}

}  // namespace pgha
