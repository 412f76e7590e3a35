#include "fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fault_point.hpp"
#include "pgha/error.hpp"
#include "process.hpp"

namespace pgha::fs {

namespace {

[[noreturn]] void IoError(const std::string& what, const std::string& path, int err) {
  throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
              what + " \"" + path + "\": " + std::strerror(err));
}

// Closes a descriptor at scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

void WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      IoError("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

constexpr std::string_view kTempMarker = ".pgha-tmp.";

std::string BaseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Removes what a killed writer of `path` left: "<name>.pgha-tmp.<pid>" of a pid that is gone.
void RemoveStaleTemps(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = name + std::string(kTempMarker);
  while (const dirent* e = ::readdir(d)) {
    std::string_view entry = e->d_name;
    if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) continue;
    std::string_view digits = entry.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
    if (pid == ::getpid() || process::ProcessAlive(pid)) continue;
    ::unlink((dir + "/" + std::string(entry)).c_str());
  }
  ::closedir(d);
}

}  // namespace

Owner OwnerOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) IoError("cannot stat", path, errno);
  return {st.st_uid, st.st_gid};
}

void ChownIfRoot(const std::string& path, const Owner& owner) {
  if (::geteuid() != 0) return;
  if (::chown(path.c_str(), owner.uid, owner.gid) != 0) IoError("cannot chown", path, errno);
}

void FsyncPath(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) IoError("cannot open", path, errno);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) IoError("cannot fsync", path, errno);
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode) {
  WriteFileAtomic(path, contents, mode, std::nullopt);
}

void WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode,
                     const std::optional<Owner>& owner) {
  std::string dir = DirName(path);
  std::string name = BaseName(path);
  std::string tmp = path + std::string(kTempMarker) + std::to_string(::getpid());
  auto fault = [&](const char* stage) { fault::Point("write:" + std::string(stage) + ":" + path); };
  RemoveStaleTemps(dir, name);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) IoError("cannot create", tmp, errno);
  try {
    WriteAll(fd.get(), contents, tmp);
    fault("temp-written");
    if (::fchmod(fd.get(), mode) != 0) IoError("cannot chmod", tmp, errno);
    ChownIfRoot(tmp, owner ? *owner : OwnerOf(dir));
    if (::fsync(fd.get()) != 0) IoError("cannot fsync", tmp, errno);
    if (::close(fd.release()) != 0) IoError("cannot close", tmp, errno);
    fault("temp-synced");
    if (::rename(tmp.c_str(), path.c_str()) != 0) IoError("cannot rename onto", path, errno);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fault("renamed");
  FsyncPath(dir);
  fault("dir-synced");
}

void RemoveDurable(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return;
    IoError("cannot remove", path, errno);
  }
  FsyncPath(DirName(path));
}

std::optional<std::string> ReadFileIfExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || !Exists(path)) return std::nullopt;
    IoError("cannot read", path, errno);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace pgha::fs
