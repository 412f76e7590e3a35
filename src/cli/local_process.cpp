#include "local_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "fs.hpp"
#include "pgha/error.hpp"
#include "process.hpp"

namespace pgha::cli {

namespace {

using Clock = std::chrono::steady_clock;

bool PortFree(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// argv[0] of `pid`, "" when it cannot be read (gone, or a kernel thread).
std::string ProgramOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string argv0;
  std::getline(in, argv0, '\0');
  return argv0;
}

}  // namespace

int FindPorts(int base, int count) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    int start = base != 0 ? base : 20000 + static_cast<int>(rng() % 10000);
    bool all = start + count < 32768;
    for (int p = start; all && p < start + count; ++p) all = PortFree(p);
    if (all) return start;
    if (base != 0) {
      throw Error(ErrorCode::kConflict, "ports " + std::to_string(base) + "-" +
                                            std::to_string(base + count - 1) + " are not all free");
    }
  }
  throw Error(ErrorCode::kConflict, "no run of free loopback ports found below 32768");
}

std::string RandomToken() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char raw[24];
  if (!in.read(reinterpret_cast<char*>(raw), sizeof raw)) {
    throw Error(ErrorCode::kIo, "cannot read /dev/urandom");
  }
  static const char* kHex = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += kHex[c >> 4];
    t += kHex[c & 15];
  }
  return t;
}

void MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::kIo, "cannot create \"" + path + "\": " + std::strerror(errno));
  }
  ::chmod(path.c_str(), mode);
  if (auto user = process::RunAsIfRoot("postgres")) {
    if (::chown(path.c_str(), user->uid, user->gid) != 0) {
      throw Error(ErrorCode::kIo, "cannot chown \"" + path + "\": " + std::strerror(errno));
    }
  }
}

bool Runs(pid_t pid, const std::string& program) {
  if (pid <= 0 || !process::ProcessAlive(pid)) return false;
  return program.empty() || ProgramOf(pid) == program;
}

pid_t Spawn(const nlohmann::json& spec, const std::string& log_file) {
  process::Command cmd;
  cmd.argv = spec.at("argv").get<std::vector<std::string>>();
  cmd.user = process::RunAsIfRoot("postgres");
  const nlohmann::json env = spec.value("env", nlohmann::json::object());
  for (const auto& [name, value] : env.items()) {
    cmd.env.emplace_back(name, value.get<std::string>());
  }
  return process::SpawnDetached(cmd, log_file);
}

bool Terminate(pid_t pid, const std::string& program) {
  if (!Runs(pid, program)) return false;
  ::kill(pid, SIGTERM);
  return true;
}

void AwaitExit(pid_t pid, const std::string& program, Clock::time_point deadline) {
  while (Runs(pid, program) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!Runs(pid, program)) return;
  ::kill(pid, SIGKILL);
  const auto killed = Clock::now() + std::chrono::seconds(5);
  while (Runs(pid, program) && Clock::now() < killed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace pgha::cli
