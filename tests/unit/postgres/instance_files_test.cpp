// postgres --version, postmaster.pid, stop modes and connection-error SQLSTATEs.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/instance.hpp"
#include "pq_session.hpp"
#include "server_files.hpp"

using pgha::ErrorCode;
using pgha::PostgresBinaries;

TEST_CASE("postgres --version output gives the major version") {
  struct Case {
    const char* text;
    int major;
  };
  for (const Case& c : {Case{"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", 15},
                        Case{"postgres (PostgreSQL) 10.23", 10}, Case{"10.23", 10},
                        Case{"postgres (PostgreSQL) 17beta1", 17}, Case{"18devel", 18},
                        Case{"postgres (PostgreSQL) 16.2", 16}, Case{"12", 12}}) {
    std::string shown(c.text);
    CAPTURE(shown);
    CHECK(PostgresBinaries::ParseMajorVersion(c.text) == c.major);
  }
  for (const char* bad : {"", "postgres (PostgreSQL) 9.6.24", "9.6", "postgres", "PostgreSQL x",
                          "postgres (PostgreSQL) ", "15x", "12345.1", "-15"}) {
    std::string shown(bad);
    CAPTURE(shown);
    try {
      PostgresBinaries::ParseMajorVersion(bad);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}

TEST_CASE("postmaster.pid lines are parsed as utils/pidfile.h lays them out") {
  std::string ready =
      "4242\n/srv/pg/data\n1700000000\n5433\n/srv/pg\n127.0.0.1\n  1234567     98304\nready   \n";
  auto f = pgha::pg::ParsePostmasterPid(ready);
  REQUIRE(f.has_value());
  CHECK(f->pid == 4242);
  CHECK(f->data_dir == "/srv/pg/data");
  CHECK(f->port == 5433);
  CHECK(f->socket_dir == "/srv/pg");
  CHECK(f->listen_addr == "127.0.0.1");
  CHECK(f->status == "ready");

  // Still being written: no status line yet.
  auto early = pgha::pg::ParsePostmasterPid("4242\n/srv/pg/data\n1700000000\n5433\n\n");
  REQUIRE(early.has_value());
  CHECK(early->status.empty());
  CHECK(early->socket_dir.empty());
  CHECK(pgha::pg::ParsePostmasterPid("77\n/d\n1\n5\n/s\n\n\nstandby \n")->status == "standby");
  // A standalone backend writes its negated pid.
  CHECK(pgha::pg::ParsePostmasterPid("-77\n/d\n")->pid == -77);

  for (const char* bad : {"", "4242", "4242\n", "0\n/d\n", "abc\n/d\n", "42x\n/d\n", " 42\n/d\n",
                          "99999999999\n/d\n", "\n/d\n", "42\n\n"}) {
    std::string shown(bad);
    CAPTURE(shown);
    CHECK_FALSE(pgha::pg::ParsePostmasterPid(bad).has_value());
  }
}

TEST_CASE("Stop modes use pg_ctl's names") {
  for (auto m : {pgha::StopMode::kSmart, pgha::StopMode::kFast, pgha::StopMode::kImmediate})
    CHECK(pgha::ParseStopMode(pgha::StopModeName(m)) == m);
  CHECK(pgha::StopModeName(pgha::StopMode::kImmediate) == "immediate");
  for (const char* bad : {"", "Fast", "i", "immediate ", "kill"}) {
    std::string shown(bad);
    CAPTURE(shown);
    CHECK_THROWS_AS(pgha::ParseStopMode(bad), pgha::Error);
  }
}

TEST_CASE("Connection failures get the SQLSTATE the server's message implies") {
  struct Case {
    const char* message;
    const char* state;
  };
  for (const Case& c :
       {Case{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  the database "
             "system is starting up",
             "57P03"},
        Case{"FATAL:  the database system is not yet accepting connections DETAIL:  Consistent "
             "recovery state has not been yet reached.",
             "57P03"},
        Case{"FATAL:  the database system is shutting down", "57P03"},
        Case{"FATAL:  password authentication failed for user \"x\"", "28P01"},
        Case{"FATAL:  no pg_hba.conf entry for host \"10.0.0.1\"", "28000"},
        Case{"FATAL:  role \"nobody\" does not exist", "28000"},
        Case{"FATAL:  database \"nodb\" does not exist", "3D000"},
        Case{"connection to server at \"127.0.0.1\", port 1 failed: Connection refused", "08001"},
        Case{"", "08001"}}) {
    std::string shown(c.message);
    CAPTURE(shown);
    CHECK(pgha::pg::InferConnectSqlState(c.message) == c.state);
  }
  pgha::pg::PostgresError e("57P03", "x");
  CHECK(e.code() == ErrorCode::kPostgresFailed);
  CHECK(e.sqlstate() == "57P03");
}
