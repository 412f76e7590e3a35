#include "wal_catalog_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <thread>

#include "md5.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_page.hpp"

namespace pgha::catalog {

namespace {

// A file modified this close to the moment hashing started may be written again within the
// same mtime tick (file systems stamp mtime from a coarse clock, some in whole seconds): its
// hash is used but not cached, as git treats "racily clean" index entries.
constexpr std::int64_t kRacyWindowNs = 2'000'000'000;

std::int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

FileKey KeyOf(const struct stat& st) {
  return FileKey{static_cast<std::uint64_t>(st.st_size),
                 static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                 static_cast<std::uint64_t>(st.st_ino)};
}

[[noreturn]] void IoError(const std::string& what, const std::string& path, int err) {
  throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
              what + " \"" + path + "\": " + std::strerror(err));
}

// Closes a descriptor at scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string TrimSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

WalIdentity Configured(std::optional<std::uint64_t> system_identifier, int expected_major) {
  WalIdentity id;
  id.system_identifier = system_identifier;
  if (expected_major != 0) id.magic = WalMagicForMajor(expected_major);  // throws kBadInput
  return id;
}

}  // namespace

CatalogState::CatalogState(std::string dir, std::uint32_t segment_size,
                           std::optional<std::uint64_t> system_identifier, int expected_major)
    : dir_(TrimSlashes(std::move(dir))),
      segment_size_(segment_size),
      configured_(Configured(system_identifier, expected_major)) {
  CheckWalSegmentSize(segment_size_);
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) IoError("cannot open WAL directory", dir_, errno);
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kNotFound, "WAL directory \"" + dir_ + "\" is not a directory");
  }
}

std::vector<DirEntry> CatalogState::ReadDir() const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) IoError("cannot open WAL directory", dir_, errno);
  std::vector<DirEntry> out;
  while (dirent* e = ::readdir(d)) {
    Result<WalFileName> name = WalFileName::TryParse(e->d_name, segment_size_);
    if (!name.ok() || name.value().kind == WalFileKind::kBackup) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed or recycled since readdir
      int err = errno;
      ::closedir(d);
      IoError("cannot stat", PathOf(e->d_name), err);
    }
    if (!S_ISREG(st.st_mode)) continue;
    out.push_back(DirEntry{e->d_name, name.value(), KeyOf(st)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

std::optional<DirEntry> CatalogState::StatEntry(const std::string& name,
                                                const WalFileName& parsed) const {
  struct stat st {};
  if (::lstat(PathOf(name).c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    IoError("cannot stat", PathOf(name), errno);
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return DirEntry{name, parsed, KeyOf(st)};
}

WalFileInfo CatalogState::InfoOf(const DirEntry& entry) const {
  return WalFileInfo{entry.name, entry.parsed, entry.key.size, entry.key.mtime_ns, {}};
}

CatalogState::Hashed CatalogState::HashFile(const std::string& name) {
  const std::int64_t started = NowNs();
  const std::string path = PathOf(name);
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  Hashed out;
  if (fd.fd < 0) {
    if (errno == ENOENT) {
      out.vanished = true;
      return out;
    }
    IoError("cannot open", path, errno);
  }
  struct stat before {};
  struct stat after {};
  if (::fstat(fd.fd, &before) != 0) IoError("cannot stat", path, errno);
  Md5FileResult r = Md5File(fd.fd, path);
  if (::fstat(fd.fd, &after) != 0) IoError("cannot stat", path, errno);
  hashes_.fetch_add(1);
  out.md5 = std::move(r.md5);
  out.key = KeyOf(after);
  out.key.size = r.bytes;
  const bool stable = KeyOf(before) == KeyOf(after) && r.bytes == KeyOf(after).size;
  if (stable && out.key.mtime_ns <= started - kRacyWindowNs) {
    std::lock_guard<std::mutex> lock(mu_);
    cache_[name] = CacheEntry{out.key, out.md5};
  }
  return out;
}

// A work queue drained by up to hardware_concurrency threads, this one included.
void CatalogState::HashInParallel(const std::vector<const DirEntry*>& todo,
                                  std::vector<Hashed>* out) {
  out->assign(todo.size(), Hashed{});
  std::vector<std::exception_ptr> errors(todo.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < todo.size(); i = next.fetch_add(1)) {
      try {
        (*out)[i] = HashFile(todo[i]->name);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, todo.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads is still correct
    }
  }
  work();
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

std::vector<std::optional<WalFileInfo>> CatalogState::HashAll(
    const std::vector<DirEntry>& entries) {
  std::vector<std::optional<WalFileInfo>> out;
  out.reserve(entries.size());
  std::vector<const DirEntry*> todo;
  std::vector<std::size_t> todo_index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const DirEntry& e : entries) {
      out.push_back(InfoOf(e));
      auto it = cache_.find(e.name);
      if (it != cache_.end() && it->second.key == e.key) {
        out.back()->md5 = it->second.md5;
      } else {
        todo.push_back(&e);
        todo_index.push_back(out.size() - 1);
      }
    }
  }
  std::vector<Hashed> hashed;
  HashInParallel(todo, &hashed);
  for (std::size_t i = 0; i < todo.size(); ++i) {
    std::optional<WalFileInfo>& info = out[todo_index[i]];
    if (hashed[i].vanished) {
      info.reset();
      continue;
    }
    info->md5 = std::move(hashed[i].md5);
    info->size = hashed[i].key.size;
    info->mtime_ns = hashed[i].key.mtime_ns;
  }
  return out;
}

void CatalogState::Prune(const std::vector<DirEntry>& present) {
  std::unordered_map<std::string, bool> names;
  for (const DirEntry& e : present) names.emplace(e.name, true);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = names.count(it->first) == 0 ? cache_.erase(it) : std::next(it);
  }
}

std::optional<WalIdentity> CatalogState::LearnIdentity() const {
  std::vector<DirEntry> entries = ReadDir();
  // The newest segment first: the current WAL of this cluster.
  for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
    if (!e->parsed.HoldsWal() || e->key.size != segment_size_) continue;
    FdCloser fd{::open(PathOf(e->name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    std::uint8_t buf[kWalLongPageHeaderSize];
    if (fd.fd < 0 || ::pread(fd.fd, buf, sizeof buf, 0) != static_cast<ssize_t>(sizeof buf)) {
      continue;
    }
    WalPageHeader h = DecodeWalPageHeader(buf, sizeof buf);
    if (!h.is_long || h.segment_size != segment_size_ || PostgresMajorForWalMagic(h.magic) == 0) {
      continue;
    }
    return WalIdentity{h.magic, h.system_identifier};
  }
  return std::nullopt;
}

WalIdentity CatalogState::Identity() {
  WalIdentity id = configured_;
  if (id.magic && id.system_identifier) return id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (learned_) {
      if (!id.magic) id.magic = learned_->magic;
      if (!id.system_identifier) id.system_identifier = learned_->system_identifier;
      return id;
    }
  }
  std::optional<WalIdentity> learned = LearnIdentity();
  if (!learned) return id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    learned_ = learned;
  }
  if (!id.magic) id.magic = learned->magic;
  if (!id.system_identifier) id.system_identifier = learned->system_identifier;
  return id;
}

std::string CatalogState::NextTempName() {
  return ".pgha-upload." + std::to_string(::getpid()) + "." + std::to_string(upload_seq_++);
}

}  // namespace pgha::catalog
