#include "child_exec.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pgha/error.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace pgha::process {

namespace {

// Steps the child reports when they fail (index into kSteps).
constexpr const char* kSteps[] = {"setsid", "dup2",  "setgroups", "setgid",
                                  "setuid", "chdir", "execve"};
enum Step : int { kSetsid, kDup2, kSetgroups, kSetgid, kSetuid, kChdir, kExecve };

struct Report {
  int step;
  int err;
};

[[noreturn]] void SysError(const std::string& what, int err) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

// Moves `fd` to a number >= 3 (so that dup2 onto 0..2 never clobbers a source).
}  // namespace

int MoveAboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  ::close(fd);
  if (moved < 0) SysError("fcntl(F_DUPFD_CLOEXEC)", err);
  return moved;
}

namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (IsExecutableFile(name)) return name;
  } else if (const char* path = ::getenv("PATH")) {
    std::string_view dirs = path;
    while (true) {
      auto colon = dirs.find(':');
      std::string dir(dirs.substr(0, colon));
      std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
      if (IsExecutableFile(candidate)) return candidate;
      if (colon == std::string_view::npos) break;
      dirs.remove_prefix(colon + 1);
    }
  }
  throw Error(ErrorCode::kNotFound, "program \"" + name + "\" not found or not executable");
}

// Inherited variables a child does not get: PostgreSQL's (PG*, which would redirect or
// authenticate its connections), the locale and time zone (set below), and the secrets of
// pgha's own configuration (the agent's DB_PASSWD and API token; a program that needs a
// password gets it in Command::env, e.g. PGPASSWORD).
bool Replaced(std::string_view entry, const std::optional<RunAs>& user) {
  auto starts = [&](std::string_view p) { return entry.substr(0, p.size()) == p; };
  if (starts("PGHA_SQL_TRACE=")) return false;  // a test build's SQL trace (pq_session.cpp)
  if (starts("PG") || starts("LC_") || starts("LANG") || starts("TZ=")) return true;
  if (starts("DB_PASSWD=")) return true;  // PGHA_API_TOKEN is a PG* variable
  return user && (starts("HOME=") || starts("USER=") || starts("LOGNAME="));
}

[[noreturn]] void Fail(int status_fd, Step step) noexcept {
  Report r{step, errno};
  ssize_t ignored = ::write(status_fd, &r, sizeof r);
  (void)ignored;
  ::_exit(127);
}

}  // namespace

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) SysError("pipe", errno);
  read_end.reset(MoveAboveStdio(fds[0]));
  write_end.reset(MoveAboveStdio(fds[1]));
}

void MakeSocketPair(UniqueFd& parent_end, UniqueFd& child_end) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) SysError("socketpair", errno);
  parent_end.reset(MoveAboveStdio(fds[0]));
  child_end.reset(MoveAboveStdio(fds[1]));
}

UniqueFd OpenDevNull() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) SysError("cannot open /dev/null", errno);
  return UniqueFd(MoveAboveStdio(fd));
}

ChildPlan::ChildPlan(const Command& cmd) : user_(cmd.user) {
  if (cmd.argv.empty()) throw Error(ErrorCode::kBadInput, "empty command line");
  path_ = ResolveProgram(cmd.argv.front());
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    if (!Replaced(*e, user_)) env.emplace_back(*e);
  }
  env.emplace_back("LC_ALL=C");
  env.emplace_back("TZ=UTC");
  if (user_) {
    env.push_back("HOME=" + user_->home);
    env.push_back("USER=" + user_->name);
    env.push_back("LOGNAME=" + user_->name);
  }
  for (const auto& [name, value] : cmd.env) {
    std::string prefix = name + "=";
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }),
              env.end());
    env.push_back(prefix + value);
  }
  strings_ = cmd.argv;
  std::size_t argc = strings_.size();
  strings_.insert(strings_.end(), env.begin(), env.end());
  for (std::size_t i = 0; i < strings_.size(); ++i) {
    (i < argc ? argv_ : envp_).push_back(strings_[i].data());
  }
  argv_.push_back(nullptr);
  envp_.push_back(nullptr);
  long open_max = ::sysconf(_SC_OPEN_MAX);
  max_fd_ = static_cast<int>(std::clamp<long>(open_max, 256, 65536));
}

void ChildPlan::SetStdio(int in, int out, int err, bool new_session) noexcept {
  stdio_[0] = in;
  stdio_[1] = out;
  stdio_[2] = err;
  new_session_ = new_session;
}

void ChildPlan::ExecInChild(int status_fd) const noexcept {
  // Only async-signal-safe calls from here on: this process may have had threads.
  if (new_session_ ? ::setsid() < 0 : ::setpgid(0, 0) != 0) Fail(status_fd, kSetsid);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  for (int i = 0; i < 3; ++i) {
    if (::dup2(stdio_[i], i) < 0) Fail(status_fd, kDup2);
  }
  if (user_) {
    if (::setgroups(user_->groups.size(), user_->groups.data()) != 0) Fail(status_fd, kSetgroups);
    if (::setgid(user_->gid) != 0) Fail(status_fd, kSetgid);
    if (::setuid(user_->uid) != 0) Fail(status_fd, kSetuid);
  }
  if (::chdir("/") != 0) Fail(status_fd, kChdir);
    // Nothing of ours but 0..2 reaches the program (status_fd is close-on-exec already).
#if defined(CLOSE_RANGE_CLOEXEC)
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
#endif
  {
    for (int fd = 3; fd < max_fd_; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(path_.c_str(), argv_.data(), envp_.data());
  Fail(status_fd, kExecve);
}

pid_t ChildPlan::Fork() {
  UniqueFd status_read, status_write;
  MakePipe(status_read, status_write);
  pid_t pid = ::fork();
  if (pid < 0) SysError("fork", errno);
  if (pid == 0) ExecInChild(status_write.get());
  status_write.reset();
  Report report{};
  std::size_t got = 0;
  while (got < sizeof report) {
    ssize_t n =
        ::read(status_read.get(), reinterpret_cast<char*>(&report) + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == 0) return pid;  // end of file: the exec succeeded
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got < sizeof report) throw Error(ErrorCode::kIo, "child process of \"" + path_ + "\" failed");
  std::string step = kSteps[std::clamp(report.step, 0, static_cast<int>(kExecve))];
  std::string what = "cannot run \"" + path_ + "\"" + (user_ ? " as " + user_->name : "") + " (" +
                     step + "): " + std::strerror(report.err);
  throw Error(report.err == ENOENT && step == "execve" ? ErrorCode::kNotFound : ErrorCode::kIo,
              what);
}

}  // namespace pgha::process
