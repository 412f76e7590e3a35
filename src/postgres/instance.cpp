// pgha::Instance: construction, the shared helpers, and the simple observers.
#include "pgha/instance.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <thread>

#include "conninfo.hpp"
#include "fs.hpp"
#include "instance_internal.hpp"
#include "op_deadline.hpp"
#include "session_pool.hpp"

namespace pgha {

namespace inst {

namespace {

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

// Whether the account `user` (ourselves when nullopt) may create files in directory `dir`.
bool WritableBy(const std::string& dir, const std::optional<process::RunAs>& user) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (!user) return ::access(dir.c_str(), W_OK | X_OK) == 0;
  if (st.st_uid == user->uid) return (st.st_mode & S_IWUSR) != 0;
  bool member = st.st_gid == user->gid || std::find(user->groups.begin(), user->groups.end(),
                                                    st.st_gid) != user->groups.end();
  if (member) return (st.st_mode & S_IWGRP) != 0;
  return (st.st_mode & S_IWOTH) != 0;
}

// The data directory's parent when the OS user can write it, else PostgreSQL's usual places.
std::string DefaultSocketDir(const std::string& data_dir, const std::string& os_user) {
  auto user = process::RunAsIfRoot(os_user);
  for (const std::string& dir : {fs::DirName(data_dir), std::string("/var/run/postgresql")}) {
    if (WritableBy(dir, user)) return dir;
  }
  return "/tmp";
}

std::string ReadTail(const std::string& path, std::size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t from = size > static_cast<off_t>(bytes) ? size - static_cast<off_t>(bytes) : 0;
  std::string out(static_cast<std::size_t>(size - from), '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), from);
  ::close(fd);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

}  // namespace

Clock::time_point DeadlineOf(const Instance& in, Timeout timeout) {
  auto own = Clock::now() + timeout.value_or(in.options().timeout);
  // Within an operation, no longer than it has left.
  auto op = deadline::Current();
  return op && *op < own ? *op : own;
}

std::chrono::milliseconds Remaining(Clock::time_point deadline) {
  auto now = Clock::now();
  if (deadline <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
}

void PollPause(int attempt, Clock::time_point deadline) {
  auto pause = std::chrono::milliseconds(std::min(100, 10 << std::min(attempt, 4)));
  std::this_thread::sleep_for(std::min(pause, Remaining(deadline)));
}

std::string DataPath(const Instance& in, std::string_view relative) {
  return in.options().data_dir + "/" + std::string(relative);
}

process::Command PgCommand(const Instance& in, std::vector<std::string> argv,
                           Clock::time_point deadline) {
  process::Command cmd;
  cmd.argv = std::move(argv);
  cmd.user = process::RunAsIfRoot(in.options().os_user);
  cmd.deadline = deadline;
  return cmd;
}

std::optional<pg::PostmasterPidFile> ReadPidFile(const Instance& in) {
  std::optional<std::string> text;
  try {
    text = fs::ReadFileIfExists(DataPath(in, "postmaster.pid"));
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!text) return std::nullopt;
  return pg::ParsePostmasterPid(*text);
}

std::optional<pid_t> LivePostmaster(const Instance& in) {
  auto pf = ReadPidFile(in);
  if (!pf || pf->pid <= 0) return std::nullopt;
  if (Canonical(pf->data_dir) != Canonical(in.options().data_dir)) return std::nullopt;
  if (!process::ProcessAlive(pf->pid)) return std::nullopt;
  return pf->pid;
}

void RequireRunning(const Instance& in, std::string_view operation) {
  if (!LivePostmaster(in))
    throw Error(ErrorCode::kWrongState, std::string(operation) + ": no server runs on \"" +
                                            in.options().data_dir + "\" HINT: start it first");
}

void RequireDataDirectory(const Instance& in) {
  if (!fs::Exists(DataPath(in, "PG_VERSION")))
    throw Error(ErrorCode::kNotFound, "\"" + in.options().data_dir +
                                          "\" is not a PostgreSQL data directory (no PG_VERSION)"
                                          " HINT: Init or Sync it first");
}

pg::PqSession Connect(const Instance& in) {
  const InstanceOptions& o = in.options();
  pg::ConnectParams p;
  // Always the local socket pgha's start set up: the server is this machine's, and a
  // pg_hba.conf without `trust` lets the superuser in there by `peer` (InitOptions::local_trust).
  p.host = o.socket_dir;
  p.port = o.port;
  p.user = o.superuser;
  p.password = o.password;
  p.passfile = o.passfile;
  p.connect_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      o.connect_timeout + std::chrono::milliseconds(999));
  p.statement_timeout = o.timeout;
  return pg::PqSession::Connect(p);
}

std::string WithLogTail(const Instance& in, const std::string& message) {
  std::string tail = process::OneLine(in.LogTail(10));
  return tail.empty() ? message : message + " | server log: " + tail;
}

}  // namespace inst

Instance::Instance(InstanceOptions options)
    : options_(std::move(options)), pool_(std::make_shared<pg::SessionPool>()) {
  if (options_.data_dir.empty()) throw Error(ErrorCode::kBadInput, "data_dir is empty");
  namespace stdfs = std::filesystem;
  std::string dir = stdfs::absolute(options_.data_dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  options_.data_dir = dir;
  pg::CheckPrintable(dir, "data_dir", 1000);
  pg::CheckHost(options_.host, "host");
  pg::CheckPort(options_.port, "port");
  pg::CheckRoleName(options_.superuser, "superuser");
  pg::CheckSecret(options_.password, "password");
  pg::CheckPrintable(options_.passfile, "passfile", 1000);
  if (options_.os_user.empty()) throw Error(ErrorCode::kBadInput, "os_user is empty");
  process::RunAsIfRoot(options_.os_user);  // kNotFound early for an unknown account
  if (options_.socket_dir.empty())
    options_.socket_dir = inst::DefaultSocketDir(dir, options_.os_user);
  pg::CheckPrintable(options_.socket_dir, "socket_dir", 900);
  if (options_.socket_dir.find(',') != std::string::npos)
    throw Error(ErrorCode::kBadInput, "socket_dir \"" + options_.socket_dir +
                                          "\" is invalid: ',' separates unix_socket_directories");
  if (options_.log_file.empty()) options_.log_file = dir + ".log";
  if (options_.timeout.count() <= 0 || options_.connect_timeout.count() <= 0)
    throw Error(ErrorCode::kBadInput, "timeout and connect_timeout must be positive");
  binaries_ = PostgresBinaries::Locate(options_.bindir);
  options_.bindir = binaries_.bindir;
}

bool Instance::IsRunning() const {
  return inst::LivePostmaster(*this).has_value();
}

std::optional<int> Instance::PostmasterPid() const {
  auto pid = inst::LivePostmaster(*this);
  if (!pid) return std::nullopt;
  return static_cast<int>(*pid);
}

std::vector<QueryRow> Instance::Query(const std::string& sql,
                                      const std::vector<std::optional<std::string>>& params) const {
  inst::RequireRunning(*this, "query");
  return inst::Connect(*this).Query(sql, params);
}

std::string Instance::LogTail(std::size_t lines) const {
  return process::TailLines(inst::ReadTail(options_.log_file, 64 * 1024), lines);
}

}  // namespace pgha
