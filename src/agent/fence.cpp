#include "fence.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <vector>

#include "fs.hpp"
#include "pgha/error.hpp"

extern char** environ;  // NOLINT: POSIX

namespace pgha::agent {

namespace {

std::string LinkOf(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<std::size_t>(n));
}

bool IsPostgres(const std::string& exe) {
  return exe.size() >= 9 && exe.compare(exe.size() - 9, 9, "/postgres") == 0;
}

// Every `postgres` process of this user that runs in `data_dir`: the postmaster and all it
// started chdir there, and so do the backends a killed postmaster left behind (which keep
// its shared memory, and a new start from being possible, until they notice).
std::vector<pid_t> ServerProcesses(const std::string& data_dir) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    const std::string base = std::string("/proc/") + e->d_name;
    if (LinkOf(base + "/cwd") != data_dir || !IsPostgres(LinkOf(base + "/exe"))) continue;
    out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  return out;
}

std::optional<pid_t> PostmasterOf(const std::string& data_dir) {
  std::ifstream in(data_dir + "/postmaster.pid");
  long long pid = 0;
  if (!(in >> pid) || pid <= 0 || pid > 0x7fffffff) return std::nullopt;
  // A pid file outlives its server, and the pid may be another process's now.
  const std::string base = "/proc/" + std::to_string(pid);
  if (LinkOf(base + "/cwd") != data_dir || !IsPostgres(LinkOf(base + "/exe"))) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// Field `index` (1-based, as proc(5) counts) of /proc/<pid>/stat; -1 when unreadable.
long long StatField(pid_t pid, int index) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= index; ++i) {
    if (!(rest >> field)) return -1;
  }
  try {
    return std::stoll(field);
  } catch (const std::exception&) {
    return -1;
  }
}

// Now, in the clock ticks of /proc/<pid>/stat's start times.
long long TicksSinceBoot() {
  std::ifstream in("/proc/uptime");
  double seconds = 0;
  if (!(in >> seconds)) return -1;
  return static_cast<long long>(seconds * static_cast<double>(::sysconf(_SC_CLK_TCK)));
}

// What a dead postmaster left running in `data_dir`: its backends, which answer their sessions
// (and may acknowledge a commit) until they notice. Processes started after `before` (a new
// postmaster and its children, which the agent may be starting) and those of the postmaster
// that runs there now are spared.
void KillOrphans(const std::string& data_dir, long long before) {
  std::optional<pid_t> pm = PostmasterOf(data_dir);
  for (pid_t p : ServerProcesses(data_dir)) {
    if (pm && (p == *pm || StatField(p, 4) == *pm)) continue;
    const long long started = StatField(p, 22);
    if (started < 0 || started > before) continue;
    ::kill(p, SIGKILL);
  }
}

// A pidfd of `pid` (readable once it exits), -1 when the kernel has none.
int PidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

bool WriteAll(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<pid_t> FencePostmaster(const std::string& data_dir) {
  std::error_code ec;
  const std::string dir = std::filesystem::canonical(data_dir, ec).string();
  if (ec) return std::nullopt;
  std::optional<pid_t> pm = PostmasterOf(dir);
  if (pm) ::kill(*pm, SIGSTOP);  // no new backend from here on
  std::vector<pid_t> all = ServerProcesses(dir);
  for (pid_t p : all) ::kill(p, SIGSTOP);
  // A backend forked between the listing and the postmaster's stop is listed now.
  for (pid_t p : ServerProcesses(dir)) {
    ::kill(p, SIGSTOP);
    all.push_back(p);
  }
  for (pid_t p : all) ::kill(p, SIGKILL);
  if (pm) return pm;
  if (!all.empty()) return all.front();
  return std::nullopt;
}

FenceGuard::FenceGuard(const std::string& agent_binary, const std::string& data_dir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw Error(ErrorCode::kIo, std::string("fence guard: pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  std::vector<std::string> args{agent_binary, "--fence-guard", data_dir};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, agent_binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    throw Error(ErrorCode::kIo,
                "fence guard: cannot start " + agent_binary + ": " + std::strerror(rc));
  }
  fd_ = fds[1];
  pid_ = pid;
}

FenceGuard::~FenceGuard() {
  if (fd_ >= 0) {
    WriteAll(fd_, "exit\n");
    ::close(fd_);
  }
  if (pid_ > 0) {
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(10000);
  }
}

void FenceGuard::Send(const std::string& line) {
  if (fd_ < 0 || !WriteAll(fd_, line))
    throw Error(ErrorCode::kIo, "fence guard (pid " + std::to_string(pid_) + ") is gone");
}

void FenceGuard::Arm(Clock::time_point fence_by) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(fence_by.time_since_epoch());
  Send("arm " + std::to_string(ns.count()) + "\n");
}

void FenceGuard::Disarm() {
  Send("disarm\n");
}

int RunFenceGuard(const std::string& data_dir) {
  ::setsid();  // not in the agent's process group: a signal to it does not reach the guard
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);  // only "exit" or the deadline end the guard
  std::signal(SIGTERM, SIG_IGN);
  using Clock = std::chrono::steady_clock;
  bool armed = false;
  Clock::time_point fence_by{};
  bool agent_gone = false;
  std::string buffer;
  std::error_code ec;
  const std::string dir = std::filesystem::canonical(data_dir, ec).string();
  // While armed, the guard also watches the postmaster: when it dies (kill -9, a crash) its
  // backends, which go on answering their sessions until they notice, are killed at once.
  int pm_fd = -1;
  pid_t watched = 0;
  auto unwatch = [&] {
    if (pm_fd >= 0) ::close(pm_fd);
    pm_fd = -1;
    watched = 0;
  };
  auto fence = [&] {
    std::optional<pid_t> pm = FencePostmaster(data_dir);
    std::cerr << "pgha fence guard: the leader lease may have expired: "
              << (pm ? "killed postmaster " + std::to_string(*pm) + " and its processes"
                     : std::string("no postmaster ran"))
              << " (" << data_dir << ")\n";
  };
  while (true) {
    int timeout = -1;
    if (armed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(fence_by - Clock::now());
      if (left.count() <= 0) {
        fence();
        return 0;
      }
      timeout = static_cast<int>(std::min<long long>(left.count() + 1, 1000));
      if (!ec) {
        std::optional<pid_t> pm = PostmasterOf(dir);
        if (pm && *pm != watched) {
          unwatch();
          pm_fd = PidFd(*pm);
          if (pm_fd >= 0) {
            watched = *pm;
            std::cerr << "pgha fence guard: watching postmaster " << watched << " (" << data_dir
                      << ")\n";
          }
        }
      }
    } else {
      unwatch();
      if (agent_gone) return 0;
    }
    pollfd p[2] = {{agent_gone ? -1 : 0, POLLIN, 0}, {pm_fd, POLLIN, 0}};
    int n = ::poll(p, 2, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // the clock is checked at the top
    if (pm_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      KillOrphans(dir, TicksSinceBoot());
      std::cerr << "pgha fence guard: postmaster " << watched
                << " died: killed what it left running (" << data_dir << ")\n";
      unwatch();
    }
    if (agent_gone || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char chunk[512];
    ssize_t got = ::read(0, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      agent_gone = true;  // armed: fence at the moment; disarmed: nothing to guard
      continue;
    }
    buffer.append(chunk, static_cast<std::size_t>(got));
    std::size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (line == "exit") return 0;
      if (line == "disarm") {
        armed = false;
      } else if (line.rfind("arm ", 0) == 0) {
        try {
          fence_by = Clock::time_point(std::chrono::nanoseconds(std::stoll(line.substr(4))));
          armed = true;
        } catch (const std::exception&) {
          fence();  // a garbled message: the lease cannot be known to be held
          return 1;
        }
      }
    }
  }
}

}  // namespace pgha::agent
