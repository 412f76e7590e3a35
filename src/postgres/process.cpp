#include "process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "child_exec.hpp"
#include "pgha/error.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace pgha::process {

namespace {

constexpr std::size_t kMaxCapture = 4u << 20;

[[noreturn]] void SysError(const std::string& what, int err) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

// Pids started by SpawnDetached that have not been reaped yet.
std::mutex& SpawnedMutex() {
  static std::mutex m;
  return m;
}
std::set<pid_t>& Spawned() {
  static auto* s = new std::set<pid_t>();  // never destroyed: used until exit
  return *s;
}

bool IsZombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!in || !std::getline(in, stat)) return false;
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::string ProgramName(const Command& cmd) {
  return cmd.argv.empty() ? std::string("(none)") : cmd.argv.front();
}

// Appends what is readable on `fd` to `buf`; false at end of file.
bool Drain(int fd, std::string& buf) {
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<std::size_t>(n));
      if (buf.size() > 2 * kMaxCapture) buf.erase(0, buf.size() - kMaxCapture);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    return false;
  }
}

void SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void KillGroup(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

int WaitBlocking(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void FillOutcome(int status, Outcome& outcome) {
  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.term_signal = WTERMSIG(status);
  }
  if (outcome.out.size() > kMaxCapture) outcome.out.erase(0, outcome.out.size() - kMaxCapture);
  if (outcome.err.size() > kMaxCapture) outcome.err.erase(0, outcome.err.size() - kMaxCapture);
}

int MillisUntil(Clock::time_point deadline, int cap) {
  auto now = Clock::now();
  if (deadline <= now) return 0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
  return static_cast<int>(std::min<long long>(ms, cap));
}

[[noreturn]] void ThrowTimeout(const Command& cmd, const Outcome& partial) {
  std::string tail = OneLine(TailLines(partial.err, 5));
  throw Error(ErrorCode::kTimeout, "\"" + ProgramName(cmd) +
                                       "\" did not finish before its deadline and was killed" +
                                       (tail.empty() ? "" : ": " + tail));
}

// The poll loop of Run: feeds stdin, collects stdout/stderr, notices exit and the deadline.
struct Pumps {
  UniqueFd out, err, in;
  std::string_view pending;
};

void Pump(const Command& cmd, pid_t pid, Pumps& p, Outcome& outcome) {
  bool out_open = true, err_open = true;
  int status = 0;
  bool exited = false;
  while (!exited || out_open || err_open) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_open) fds[n++] = {p.out.get(), POLLIN, 0};
    if (err_open) fds[n++] = {p.err.get(), POLLIN, 0};
    if (p.in.get() >= 0) fds[n++] = {p.in.get(), POLLOUT, 0};
    if (Clock::now() >= cmd.deadline) {
      KillGroup(pid);
      WaitBlocking(pid);
      ThrowTimeout(cmd, outcome);
    }
    // After the exit, descendants may still hold the pipes: read what is there and stop.
    int wait_ms = exited ? 0 : MillisUntil(cmd.deadline, 100);
    int r = n ? ::poll(fds, n, wait_ms) : 0;
    if (r < 0 && errno != EINTR) SysError("poll", errno);
    if (out_open) out_open = Drain(p.out.get(), outcome.out);
    if (err_open) err_open = Drain(p.err.get(), outcome.err);
    if (p.in.get() >= 0) {
      while (!p.pending.empty()) {
        ssize_t w =
            ::send(p.in.get(), p.pending.data(), p.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0) break;
        p.pending.remove_prefix(static_cast<std::size_t>(w));
      }
      bool broken = (n > 0 && (fds[n - 1].revents & (POLLERR | POLLHUP)));
      if (p.pending.empty() || broken) p.in.reset();
    }
    if (exited) break;
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) exited = true;
  }
  if (!exited) status = WaitBlocking(pid);
  p.in.reset();
  FillOutcome(status, outcome);
}

}  // namespace

RunAs LookupUser(const std::string& name) {
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE)
    buf.resize(buf.size() * 2);
  if (rc != 0) SysError("cannot look up OS user \"" + name + "\"", rc);
  if (found == nullptr)
    throw Error(ErrorCode::kNotFound, "OS user \"" + name + "\" does not exist");
  RunAs user{name, pw.pw_uid, pw.pw_gid, {}, pw.pw_dir ? pw.pw_dir : "/"};
  int count = 32;
  for (;;) {
    user.groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(name.c_str(), pw.pw_gid, user.groups.data(), &n) >= 0) {
      user.groups.resize(static_cast<std::size_t>(n));
      break;
    }
    count = std::max(n, count * 2);
  }
  return user;
}

std::optional<RunAs> RunAsIfRoot(const std::string& name) {
  if (::geteuid() != 0) return std::nullopt;
  return LookupUser(name);
}

Outcome Run(const Command& cmd) {
  ChildPlan plan(cmd);
  UniqueFd out_r, out_w, err_r, err_w, in_parent, in_child;
  MakePipe(out_r, out_w);
  MakePipe(err_r, err_w);
  UniqueFd nul = OpenDevNull();
  if (cmd.stdin_text) MakeSocketPair(in_parent, in_child);
  plan.SetStdio(cmd.stdin_text ? in_child.get() : nul.get(), out_w.get(), err_w.get(),
                /*new_session=*/false);
  pid_t pid = plan.Fork();  // throws kNotFound / kIo
  out_w.reset();
  err_w.reset();
  in_child.reset();
  SetNonBlocking(out_r.get());
  SetNonBlocking(err_r.get());
  Pumps pumps{std::move(out_r), std::move(err_r), std::move(in_parent), {}};
  if (cmd.stdin_text) pumps.pending = *cmd.stdin_text;
  Outcome outcome;
  Pump(cmd, pid, pumps, outcome);
  return outcome;
}

Outcome RunChecked(const Command& cmd, std::string_view what) {
  Outcome o = Run(cmd);
  if (o.ok()) return o;
  std::string how = o.term_signal ? "killed by signal " + std::to_string(o.term_signal)
                                  : "exit " + std::to_string(o.exit_code);
  std::string tail = OneLine(TailLines(o.err.empty() ? o.out : o.err, 8));
  throw Error(ErrorCode::kPostgresFailed,
              std::string(what) + " failed (" + how + ")" + (tail.empty() ? "" : ": " + tail));
}

pid_t SpawnDetached(const Command& cmd, const std::string& log_file) {
  struct stat st {};
  bool existed = ::stat(log_file.c_str(), &st) == 0;
  int log = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (log < 0) SysError("cannot open server log \"" + log_file + "\"", errno);
  UniqueFd log_fd(MoveAboveStdio(log));
  if (!existed && cmd.user && ::geteuid() == 0 && ::fchown(log, cmd.user->uid, cmd.user->gid) != 0)
    SysError("cannot chown \"" + log_file + "\"", errno);
  UniqueFd nul = OpenDevNull();
  ChildPlan plan(cmd);
  plan.SetStdio(nul.get(), log_fd.get(), log_fd.get(), /*new_session=*/true);
  std::lock_guard<std::mutex> lock(SpawnedMutex());
  pid_t pid = plan.Fork();
  Spawned().insert(pid);
  return pid;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  {
    std::lock_guard<std::mutex> lock(SpawnedMutex());
    auto it = Spawned().find(pid);
    if (it != Spawned().end()) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == 0) return true;
      Spawned().erase(it);
      if (r == pid) return false;
    }
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  return !IsZombie(pid);
}

std::string TailLines(std::string_view text, std::size_t lines) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::size_t start = text.size();
  for (std::size_t seen = 0; start > 0 && seen < lines;) {
    --start;
    if (text[start] == '\n' && ++seen == lines) {
      ++start;
      break;
    }
  }
  std::string out;
  std::size_t pos = start;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    out.append(line.substr(0, 400));
    out.push_back('\n');
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += " | ";
    } else if (c == '\r' || c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '|')) out.pop_back();
  return out;
}

}  // namespace pgha::process
