// The process runner: argv only, captured output, deadlines, detached children.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "pgha/error.hpp"
#include "process.hpp"

using pgha::ErrorCode;
using pgha::process::Clock;
using pgha::process::Command;

namespace {

Command Cmd(std::vector<std::string> argv,
            std::chrono::milliseconds within = std::chrono::seconds(20)) {
  Command c;
  c.argv = std::move(argv);
  c.deadline = Clock::now() + within;
  return c;
}

}  // namespace

TEST_CASE("Run passes argv untouched and captures stdout, stderr and the exit code") {
  auto o = pgha::process::Run(Cmd({"/bin/echo", "a b", "$HOME", "'q'", ";", "*"}));
  CHECK(o.ok());
  CHECK(o.out == "a b $HOME 'q' ; *\n");
  CHECK(o.err.empty());

  auto fail = pgha::process::Run(Cmd({"ls", "/nonexistent-pgha-path"}));  // found in PATH
  CHECK(fail.exit_code == 2);
  CHECK(fail.err.find("nonexistent-pgha-path") != std::string::npos);
  try {
    pgha::process::RunChecked(Cmd({"ls", "/nonexistent-pgha-path"}), "listing");
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kPostgresFailed);
    std::string m = e.what();
    CHECK(m.find("listing failed (exit 2)") == 0);
    CHECK(m.find("nonexistent-pgha-path") != std::string::npos);
  }
}

TEST_CASE("Run feeds stdin and does not deadlock on large output") {
  std::string input(3 << 20, 'x');
  for (std::size_t i = 0; i < input.size(); i += 1000) input[i] = '\n';
  Command c = Cmd({"/bin/cat"});
  c.stdin_text = input;
  auto o = pgha::process::Run(c);
  CHECK(o.ok());
  CHECK(o.out.size() == input.size());
  CHECK(o.out == input);

  // Much more than a pipe buffer on both streams at once.
  auto big = pgha::process::Run(
      Cmd({"/usr/bin/head", "-c", "2000000", "/dev/zero", "/nonexistent-a", "/nonexistent-b"}));
  CHECK(big.out.size() >= 2000000);
  CHECK(big.exit_code == 1);
}

TEST_CASE("Run gives programs LC_ALL=C and TZ=UTC and none of our PG variables or secrets") {
  ::setenv("PGPASSWORD", "leak", 1);
  ::setenv("LANG", "de_DE.UTF-8", 1);
  ::setenv("DB_PASSWD", "db-secret", 1);
  ::setenv("PGHA_API_TOKEN", "api-secret", 1);
  Command c = Cmd({"/usr/bin/env"});
  c.env = {{"PGAPPNAME", "pgha_test"}};
  auto o = pgha::process::Run(c);
  ::unsetenv("PGPASSWORD");
  ::unsetenv("LANG");
  ::unsetenv("DB_PASSWD");
  ::unsetenv("PGHA_API_TOKEN");
  CHECK(o.out.find("LC_ALL=C\n") != std::string::npos);
  CHECK(o.out.find("TZ=UTC\n") != std::string::npos);
  CHECK(o.out.find("PGAPPNAME=pgha_test\n") != std::string::npos);
  CHECK(o.out.find("PGPASSWORD") == std::string::npos);
  CHECK(o.out.find("LANG=") == std::string::npos);
  CHECK(o.out.find("db-secret") == std::string::npos);
  CHECK(o.out.find("api-secret") == std::string::npos);
}

TEST_CASE("Run reports a missing program as kNotFound and a deadline as kTimeout") {
  for (const char* missing : {"/nonexistent/pgha-prog", "pgha-no-such-program-in-path"}) {
    std::string shown(missing);
    CAPTURE(shown);
    try {
      pgha::process::Run(Cmd({missing}));
      FAIL("ran");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kNotFound);
    }
  }
  CHECK_THROWS_AS(pgha::process::Run(Cmd({})), pgha::Error);
  auto start = Clock::now();
  try {
    pgha::process::Run(Cmd({"/bin/sleep", "30"}, std::chrono::milliseconds(200)));
    FAIL("no timeout");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kTimeout);
  }
  CHECK(Clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("A detached child is reaped by ProcessAlive once it exits") {
  char tmpl[] = "/tmp/pgha-proc-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string log = std::string(tmpl) + "/out.log";
  pid_t pid = pgha::process::SpawnDetached(Cmd({"/bin/echo", "detached"}), log);
  CHECK(pid > 0);
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (pgha::process::ProcessAlive(pid) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK_FALSE(pgha::process::ProcessAlive(pid));
  CHECK(::kill(pid, 0) != 0);  // reaped: no zombie left behind
  auto o = pgha::process::Run(Cmd({"/bin/cat", log}));
  CHECK(o.out == "detached\n");
  pgha::process::SpawnDetached(Cmd({"/bin/echo", "again"}), log);  // appends
  deadline = Clock::now() + std::chrono::seconds(20);
  while (pgha::process::Run(Cmd({"/bin/cat", log})).out != "detached\nagain\n" &&
         Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(pgha::process::Run(Cmd({"/bin/cat", log})).out == "detached\nagain\n");
  CHECK_FALSE(pgha::process::ProcessAlive(0));
  CHECK(pgha::process::ProcessAlive(::getpid()));
  pgha::process::Run(Cmd({"/bin/rm", "-r", tmpl}));
}

TEST_CASE("TailLines and OneLine shape log tails for error messages") {
  CHECK(pgha::process::TailLines("a\nb\nc\n", 2) == "b\nc\n");
  CHECK(pgha::process::TailLines("a\nb\nc", 5) == "a\nb\nc\n");
  CHECK(pgha::process::TailLines("", 3).empty());
  CHECK(pgha::process::TailLines("only\n\n\n", 1) == "only\n");
  CHECK(pgha::process::TailLines(std::string(1000, 'x'), 1).size() == 401);
  CHECK(pgha::process::OneLine("a\nb\tc\n") == "a | b c");
}

TEST_CASE("Programs run from / and, when we are root, as the account asked for") {
  CHECK(pgha::process::Run(Cmd({"/bin/pwd"})).out == "/\n");
  try {
    pgha::process::LookupUser("pgha-no-such-user");
    FAIL("found");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
  }
  if (::geteuid() != 0) {
    CHECK_FALSE(pgha::process::RunAsIfRoot("nobody").has_value());
    return;
  }
  auto nobody = pgha::process::RunAsIfRoot("nobody");
  REQUIRE(nobody.has_value());
  Command c = Cmd({"/usr/bin/id", "-u", "-n"});
  c.user = nobody;
  auto o = pgha::process::RunChecked(c, "id");
  CHECK(o.out == "nobody\n");
  c.argv = {"/usr/bin/env"};
  CHECK(pgha::process::Run(c).out.find("USER=nobody\n") != std::string::npos);
}
