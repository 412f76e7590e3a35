// Crash safety of pgha's writers: a child process is killed (SIGKILL, by the fault points of
// src/core/fault_point.hpp) at each stage of fs::WriteFileAtomic and of a WAL upload, and the
// file it was writing must then be the old one or the new one, whole. What a killed writer
// leaves behind (its temporary file) is removed by the next write. Test builds only (CMake
// option PGHA_FAULT_POINTS).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "fault_point.hpp"
#include "fs.hpp"
#include "pg_wal_dir.hpp"
#include "pgha/wal_catalog.hpp"
#include "wal_builder.hpp"

#ifdef PGHA_FAULT_POINTS
namespace {

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/pgha-crash-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Runs `body` in a child process armed to kill itself at `point`; true when it was killed
// there (SIGKILL), false when it ran to the end.
bool KilledAt(const std::string& spec_dir, const std::string& point,
              const std::function<void()>& body) {
  std::string spec = spec_dir + "/fault";
  std::ofstream(spec, std::ios::trunc) << point << "\nself\n";
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv(pgha::fault::kFaultFileVariable, spec.c_str(), 1);
    try {
      body();
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  std::filesystem::remove(spec);
  std::filesystem::remove(spec + ".fired");
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

constexpr std::uint32_t kSeg = 1u << 20;
constexpr std::uint64_t kSysid = 7'300'000'000'000'000'001ull;

}  // namespace

TEST_CASE("A writer killed at any stage of WriteFileAtomic leaves the old file or the new one") {
  struct Stage {
    const char* name;
    bool new_visible;  // the rename happened before the kill
  };
  const Stage stages[] = {
      {"temp-written", false}, {"temp-synced", false}, {"renamed", true}, {"dir-synced", true}};
  const std::string old_text = "{\"version\": 1}\n";
  const std::string new_text = std::string(100000, 'x') + "\n";
  for (const Stage& stage : stages) {
    CAPTURE(stage.name);
    ScratchDir dir;
    std::string path = dir.path + "/agent.json";
    pgha::fs::WriteFileAtomic(path, old_text);
    bool killed = KilledAt(dir.path, std::string("write:") + stage.name + ":" + path,
                           [&] { pgha::fs::WriteFileAtomic(path, new_text); });
    REQUIRE(killed);
    CHECK(ReadText(path) == (stage.new_visible ? new_text : old_text));
    // Before the rename the killed writer's temporary file is left; the next write removes it.
    std::vector<std::string> left = Names(dir.path);
    CHECK(left.size() == (stage.new_visible ? 1u : 2u));
    pgha::fs::WriteFileAtomic(path, old_text);
    CHECK(Names(dir.path) == std::vector<std::string>{"agent.json"});
    CHECK(ReadText(path) == old_text);
  }
}

TEST_CASE("A first write killed before its rename leaves no file, not an empty one") {
  ScratchDir dir;
  std::string path = dir.path + "/standby.signal";
  REQUIRE(KilledAt(dir.path, "write:temp-synced:" + path,
                   [&] { pgha::fs::WriteFileAtomic(path, ""); }));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("An upload killed at any stage leaves no segment or the whole one in pg_wal") {
  pgha::test::WalBuilder wal;
  pgha::test::AddMixed(wal, 40);
  wal.AddRecord(kSeg);
  pgha::test::AddMixed(wal, 5);
  const auto seg2 = wal.Segment(2);
  const std::string name2 = wal.SegmentName(2);
  const std::string bytes2(reinterpret_cast<const char*>(seg2.data()), seg2.size());
  struct Stage {
    const char* name;
    bool placed;
  };
  const Stage stages[] = {
      {"temp-written", false}, {"temp-synced", false}, {"placed", true}, {"done", true}};
  for (const Stage& stage : stages) {
    CAPTURE(stage.name);
    pgha::test::PgWalDir dir;
    dir.Put(wal.SegmentName(1), wal.Segment(1));
    ScratchDir spec_dir;
    bool killed =
        KilledAt(spec_dir.path, std::string("upload:") + stage.name + ":" + dir.File(name2), [&] {
          pgha::WalCatalog catalog(dir.path(), kSeg, kSysid, 15);
          catalog.Install(name2, bytes2);
        });
    REQUIRE(killed);
    std::string target = dir.File(name2);
    if (stage.placed) {
      CHECK(ReadText(target) == bytes2);
    } else {
      CHECK_FALSE(std::filesystem::exists(target));
    }
    // The next upload removes the dead process's temporary file and installs the segment.
    pgha::WalCatalog catalog(dir.path(), kSeg, kSysid, 15);
    pgha::InstallResult r = catalog.Install(name2, bytes2);
    CHECK(r.already_present == stage.placed);
    CHECK(ReadText(target) == bytes2);
    CHECK(Names(dir.path()) ==
          std::vector<std::string>{wal.SegmentName(1), name2, "archive_status"});
  }
}
#endif  // PGHA_FAULT_POINTS
