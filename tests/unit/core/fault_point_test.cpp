// The test-only fault points: inert without PGHA_FAULT_FILE, fire once, kill what they name;
// compiled out (and the file ignored) without the CMake option PGHA_FAULT_POINTS.
#include "fault_point.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fault = pgha::fault;

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/pgha-fault-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

[[maybe_unused]] std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A child that waits to be killed (pause() returns only on a signal it handles: none).
[[maybe_unused]] pid_t SleepingChild() {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

// Reaps `pid` and returns the signal that ended it (0 when it exited).
int EndingSignal(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

// Arms `spec` in `file` for the duration of a scope.
struct Armed {
  explicit Armed(const std::string& file) { ::setenv(fault::kFaultFileVariable, file.c_str(), 1); }
  ~Armed() { ::unsetenv(fault::kFaultFileVariable); }
};

}  // namespace

TEST_CASE("Fault point patterns match exactly or by prefix") {
  CHECK(fault::Matches("op:switchover masterSlave:3:begin", "op:switchover masterSlave:3:begin"));
  CHECK_FALSE(
      fault::Matches("op:switchover masterSlave:3:begin", "op:switchover masterSlave:3:end"));
  CHECK_FALSE(fault::Matches("op:switchover masterSlave:3", "op:switchover masterSlave:3:begin"));
  CHECK(fault::Matches("upload:placed:*", "upload:placed:000000010000000000000002"));
  CHECK(fault::Matches("*", "anything"));
  CHECK_FALSE(fault::Matches("", ""));
  CHECK_FALSE(fault::Matches("write:renamed:*", "write:temp-synced:agent.json"));
}

#ifndef PGHA_FAULT_POINTS
// A build without the option (a release build; scripts/test.sh's ASan build): an armed file
// that names this process is ignored.
TEST_CASE("A build without PGHA_FAULT_POINTS ignores PGHA_FAULT_FILE") {
  CHECK_FALSE(fault::kCompiledIn);
  ScratchDir dir;
  std::string spec = dir.path + "/fault";
  WriteText(spec, "write:renamed:*\nself\n");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv(fault::kFaultFileVariable, spec.c_str(), 1);
    fault::Point("write:renamed:a");
    ::_exit(0);
  }
  CHECK(EndingSignal(pid) == 0);
  CHECK(std::filesystem::exists(spec));
  CHECK_FALSE(std::filesystem::exists(spec + ".fired"));
}
#else
TEST_CASE("Without PGHA_FAULT_FILE a fault point does nothing") {
  CHECK(fault::kCompiledIn);
  ScratchDir dir;
  std::string spec = dir.path + "/fault";
  pid_t child = SleepingChild();
  WriteText(spec, "here\npid:" + std::to_string(child) + "\n");
  ::unsetenv(fault::kFaultFileVariable);
  fault::Point("here");
  CHECK(std::filesystem::exists(spec));
  CHECK(::kill(child, 0) == 0);
  ::kill(child, SIGKILL);
  CHECK(EndingSignal(child) == SIGKILL);
}

TEST_CASE("An armed fault fires once, at its point only, and kills the named pid") {
  ScratchDir dir;
  std::string spec = dir.path + "/fault";
  pid_t child = SleepingChild();
  WriteText(spec, "op:x:2:begin\npid:" + std::to_string(child) + "\n");
  Armed armed(spec);
  fault::Point("op:x:1:begin");
  fault::Point("op:x:2:end");
  CHECK(std::filesystem::exists(spec));
  CHECK(::kill(child, 0) == 0);

  fault::Point("op:x:2:begin", "pg-node01: stop");
  CHECK_FALSE(std::filesystem::exists(spec));
  std::string fired = ReadText(spec + ".fired");
  CHECK(fired.find("point=op:x:2:begin\n") != std::string::npos);
  CHECK(fired.find("detail=pg-node01: stop\n") != std::string::npos);
  CHECK(fired.find("pid=" + std::to_string(child) + "\n") != std::string::npos);
  CHECK(fired.find("result=killed\n") != std::string::npos);
  CHECK(EndingSignal(child) == SIGKILL);

  // Consumed: the same point again does nothing.
  pid_t other = SleepingChild();
  fault::Point("op:x:2:begin");
  CHECK(::kill(other, 0) == 0);
  ::kill(other, SIGKILL);
  CHECK(EndingSignal(other) == SIGKILL);
}

TEST_CASE("A postmaster target is read from postmaster.pid when the point fires") {
  ScratchDir dir;
  std::string spec = dir.path + "/fault";
  std::string data = dir.path + "/data";
  std::filesystem::create_directory(data);
  WriteText(spec, "p\npostmaster:" + data + "\n");
  Armed armed(spec);

  fault::Point("p");  // no server: recorded, nothing killed
  CHECK(ReadText(spec + ".fired").find("result=no postmaster.pid\n") != std::string::npos);

  pid_t child = SleepingChild();
  WriteText(data + "/postmaster.pid", std::to_string(child) + "\n" + data + "\n");
  WriteText(spec, "p\npostmaster:" + data + "\n");
  fault::Point("p");
  CHECK(ReadText(spec + ".fired").find("result=killed\n") != std::string::npos);
  CHECK(EndingSignal(child) == SIGKILL);
}

TEST_CASE("A self target kills the process that reaches the point") {
  ScratchDir dir;
  std::string spec = dir.path + "/fault";
  WriteText(spec, "write:renamed:*\nself\n");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv(fault::kFaultFileVariable, spec.c_str(), 1);
    fault::Point("write:temp-synced:a");
    fault::Point("write:renamed:a");
    ::_exit(0);  // not reached when the point fired
  }
  CHECK(EndingSignal(pid) == SIGKILL);
  CHECK(ReadText(spec + ".fired").find("point=write:renamed:a\n") != std::string::npos);
}
#endif  // PGHA_FAULT_POINTS
