#include "fault_point.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

namespace pgha::fault {

#ifdef PGHA_FAULT_POINTS
namespace {

constexpr std::size_t kMaxSpecBytes = 4096;
constexpr auto kTargetGoneDeadline = std::chrono::seconds(10);
constexpr auto kTargetPoll = std::chrono::milliseconds(5);

std::optional<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text(kMaxSpecBytes, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return text;
}

std::string Line(const std::string& text, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = text.find('\n', start);
    if (start == std::string::npos) return {};
    ++start;
  }
  std::string line = text.substr(start, text.find('\n', start) - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

void Append(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::optional<pid_t> ParsePid(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 1) return std::nullopt;
  return static_cast<pid_t>(v);
}

// The pid the target names now; nullopt (with `why`) when there is none to kill.
std::optional<pid_t> ResolveTarget(const std::string& target, std::string* why) {
  if (target == "self") return ::getpid();
  if (target.rfind("pid:", 0) == 0) {
    auto pid = ParsePid(target.substr(4));
    if (!pid) *why = "bad pid";
    return pid;
  }
  if (target.rfind("postmaster:", 0) == 0) {
    auto text = ReadSmallFile(target.substr(11) + "/postmaster.pid");
    if (!text) {
      *why = "no postmaster.pid";
      return std::nullopt;
    }
    auto pid = ParsePid(Line(*text, 0));
    if (!pid) *why = "no pid in postmaster.pid";
    return pid;
  }
  *why = "unknown target";
  return std::nullopt;
}

// Gone: no such process, or a zombie nobody reaped yet (it runs no more code).
bool Gone(pid_t pid) {
  auto stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

void Fire(const std::string& fired, const std::string& point, const std::string& detail,
          const std::string& target) {
  std::string report = "point=" + point + "\ndetail=" + detail + "\ntarget=" + target + "\n";
  std::string why;
  std::optional<pid_t> pid = ResolveTarget(target, &why);
  if (pid && Gone(*pid)) {
    why = "not running";
    pid.reset();
  }
  if (!pid) {
    Append(fired, report + "result=" + why + "\n");
    return;
  }
  report += "pid=" + std::to_string(*pid) + "\n";
  if (*pid == ::getpid()) {
    Append(fired, report + "result=killed\n");
    ::raise(SIGKILL);
  }
  if (::kill(*pid, SIGKILL) != 0) {
    Append(fired, report + "result=kill failed: " + std::strerror(errno) + "\n");
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + kTargetGoneDeadline;
  while (!Gone(*pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kTargetPoll);
  }
  Append(fired, report + (Gone(*pid) ? "result=killed\n" : "result=still alive at deadline\n"));
}

}  // namespace
#endif  // PGHA_FAULT_POINTS

bool Matches(const std::string& pattern, const std::string& point) noexcept {
  if (pattern.empty()) return false;
  if (pattern.back() == '*')
    return point.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == point;
}

#ifdef PGHA_FAULT_POINTS
void Point(const std::string& point, const std::string& detail) noexcept {
  const char* file = std::getenv(kFaultFileVariable);
  if (file == nullptr || *file == '\0') return;
  try {
    std::string spec_path = file;
    auto spec = ReadSmallFile(spec_path);
    if (!spec || !Matches(Line(*spec, 0), point)) return;
    std::string fired = spec_path + ".fired";
    if (::rename(spec_path.c_str(), fired.c_str()) != 0) return;  // another thread claimed it
    Fire(fired, point, detail, Line(*spec, 1));
  } catch (...) {  // a test seam never changes what the code around it does
  }
}
#endif  // PGHA_FAULT_POINTS

}  // namespace pgha::fault
