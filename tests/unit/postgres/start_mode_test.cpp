// How a postmaster that refuses connections comes up, told by its data directory's files
// (standby.signal, recovery.conf, postmaster.opts), without PostgreSQL.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "server_files.hpp"
#include "wal_builder.hpp"

using pgha::pg::StartMode;
using pgha::pg::StartModeOf;

namespace {

namespace sfs = std::filesystem;

// Writes `name` in `dir` dated `age` before a fixed instant.
void Put(const pgha::test::TempDir& dir, const std::string& name, const std::string& text,
         std::chrono::seconds age) {
  pgha::test::WriteFile(dir.File(name), std::vector<std::uint8_t>(text.begin(), text.end()));
  static const auto base = sfs::file_time_type::clock::now();
  sfs::last_write_time(dir.File(name), base - age);
}

}  // namespace

TEST_CASE("no standby marker: the starting server comes up as a primary") {
  pgha::test::TempDir dir;
  CHECK(StartModeOf(dir.path()) == StartMode::kPrimary);  // crash recovery, opts or not
  Put(dir, "postmaster.opts", "/usr/lib/postgresql/15/bin/postgres\n", std::chrono::seconds(5));
  CHECK(StartModeOf(dir.path()) == StartMode::kPrimary);
  // A targeted recovery ends as a primary too.
  Put(dir, "recovery.signal", "", std::chrono::seconds(10));
  CHECK(StartModeOf(dir.path()) == StartMode::kPrimary);
  // recovery.conf without standby mode (PostgreSQL 10-11) is a targeted recovery.
  Put(dir, "recovery.conf", "restore_command = 'cp /a/%f %p'\nstandby_mode = off\n",
      std::chrono::seconds(10));
  CHECK(StartModeOf(dir.path()) == StartMode::kPrimary);
}

TEST_CASE("standby.signal written before the postmaster started: a standby") {
  pgha::test::TempDir dir;
  Put(dir, "standby.signal", "", std::chrono::seconds(10));
  Put(dir, "postmaster.opts", "postgres\n", std::chrono::seconds(5));
  CHECK(StartModeOf(dir.path()) == StartMode::kStandby);
  Put(dir, "recovery.signal", "", std::chrono::seconds(10));  // standby.signal wins, as in PG
  CHECK(StartModeOf(dir.path()) == StartMode::kStandby);
  Put(dir, "postmaster.opts", "postgres\n", std::chrono::seconds(10));  // same instant
  CHECK(StartModeOf(dir.path()) == StartMode::kStandby);
}

TEST_CASE("a marker newer than the postmaster's start, or no postmaster.opts: unknown") {
  pgha::test::TempDir dir;
  Put(dir, "postmaster.opts", "postgres\n", std::chrono::seconds(10));
  Put(dir, "standby.signal", "", std::chrono::seconds(5));  // written after it started
  CHECK(StartModeOf(dir.path()) == StartMode::kUnknown);
  sfs::remove(dir.File("postmaster.opts"));
  CHECK(StartModeOf(dir.path()) == StartMode::kUnknown);
}

TEST_CASE("recovery.conf with standby_mode on counts as the standby marker (PostgreSQL 10-11)") {
  for (const char* text :
       {"standby_mode = 'on'\n", "standby_mode=on\n", "  standby_mode = true # comment\n",
        "standby_mode = off\nstandby_mode = 'on'\n", "STANDBY_MODE = 'yes'\n"}) {
    CAPTURE(text);
    pgha::test::TempDir dir;
    Put(dir, "recovery.conf", text, std::chrono::seconds(10));
    Put(dir, "postmaster.opts", "postgres\n", std::chrono::seconds(5));
    CHECK(StartModeOf(dir.path()) == StartMode::kStandby);
  }
  for (const char* text : {"standby_mode = 'off'\n", "# standby_mode = on\n", "",
                           "standby_mode = on\nstandby_mode = off\n", "standby_modex = on\n"}) {
    CAPTURE(text);
    pgha::test::TempDir dir;
    Put(dir, "recovery.conf", text, std::chrono::seconds(10));
    Put(dir, "postmaster.opts", "postgres\n", std::chrono::seconds(5));
    CHECK(StartModeOf(dir.path()) == StartMode::kPrimary);
  }
}
