// fork/exec plumbing of the process runner: descriptors and the child's exec plan (private).
#ifndef PGHA_POSTGRES_CHILD_EXEC_HPP
#define PGHA_POSTGRES_CHILD_EXEC_HPP

#include <sys/types.h>

#include <string>
#include <vector>

#include "process.hpp"

namespace pgha::process {

/// An owned file descriptor, closed at scope exit. Move-only.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

 private:
  int fd_;
};

/// `fd` itself when it is above 2, else a close-on-exec duplicate >= 3 (the original is
/// closed), so that dup2 onto 0..2 in the child never clobbers a source. Throws Error(kIo).
int MoveAboveStdio(int fd);
/// A close-on-exec pipe whose ends are both >= 3. Throws Error(kIo).
void MakePipe(UniqueFd& read_end, UniqueFd& write_end);
/// A close-on-exec stream socket pair (writes to it never raise SIGPIPE with MSG_NOSIGNAL).
void MakeSocketPair(UniqueFd& parent_end, UniqueFd& child_end);
/// /dev/null opened for reading, close-on-exec, >= 3.
UniqueFd OpenDevNull();

/// Everything the child needs, prepared before fork so that the child only makes
/// async-signal-safe calls: the program's resolved path, argv and envp arrays, the account
/// and the descriptors for its standard streams.
class ChildPlan {
 public:
  /// Resolves the program (a name without '/' is searched in PATH) and builds argv/envp.
  /// Throws Error(kNotFound) when the program does not exist, kBadInput for an empty argv.
  explicit ChildPlan(const Command& cmd);
  ChildPlan(const ChildPlan&) = delete;
  ChildPlan& operator=(const ChildPlan&) = delete;

  /// The descriptors that become the child's 0, 1, 2, and whether it starts a new session
  /// (setsid) instead of a new process group.
  void SetStdio(int in, int out, int err, bool new_session) noexcept;
  /// Forks and execs. Returns the child's pid once the exec succeeded; when the child could
  /// not switch user, chdir or exec, reaps it and throws Error(kNotFound) for a missing
  /// program and Error(kIo) otherwise, naming the step.
  pid_t Fork();

 private:
  [[noreturn]] void ExecInChild(int status_fd) const noexcept;

  std::string path_;
  std::vector<std::string> strings_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
  std::optional<RunAs> user_;
  int stdio_[3] = {-1, -1, -1};
  bool new_session_ = false;
  int max_fd_ = 1024;
};

}  // namespace pgha::process

#endif  // PGHA_POSTGRES_CHILD_EXEC_HPP
