// A failed observation of a server that is starting or stopping is a transition, not a failure.
#include "instance_transition.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using pgha::pg::PostmasterPidFile;
using pgha::pg::TransitionOf;

namespace {

std::optional<PostmasterPidFile> PidFile(const char* status) {
  PostmasterPidFile f;
  f.pid = 4242;
  f.data_dir = "/data";
  f.status = status;
  return f;
}

}  // namespace

TEST_CASE("TransitionOf: a lost connection while the postmaster starts or stops") {
  struct Case {
    const char* sqlstate;
    bool alive;
    std::optional<PostmasterPidFile> pid_file;
    std::optional<std::string> want;
  };
  const std::optional<std::string> none;
  for (const Case& c : {
           // Connection refused before the sockets exist, or while the status says so.
           Case{"08001", true, PidFile(""), std::string("starting")},
           Case{"08001", true, std::nullopt, std::string("starting")},
           Case{"08001", true, PidFile("starting"), std::string("starting")},
           Case{"57P03", true, PidFile("starting"), std::string("starting")},
           // The shutdown closed the session, or refuses new ones.
           Case{"57P01", true, PidFile("stopping"), std::string("stopping")},
           Case{"08006", true, PidFile("stopping"), std::string("stopping")},
           Case{"57P03", true, PidFile("stopping"), std::string("stopping")},
           Case{"57P02", true, PidFile("starting"), std::string("starting")},
           // Gone meanwhile.
           Case{"08006", false, std::nullopt, std::string("stopped")},
           Case{"57P01", false, std::nullopt, std::string("stopped")},
           // A server that is up: a real failure.
           Case{"08001", true, PidFile("ready"), none},
           Case{"08006", true, PidFile("standby"), none},
           // Not a lost connection, whatever the postmaster does.
           Case{"28P01", true, PidFile("starting"), none},
           Case{"42P01", true, PidFile("stopping"), none},
           Case{"3D000", false, std::nullopt, none},
           Case{"XX000", true, PidFile(""), none},
       }) {
    CAPTURE(std::string(c.sqlstate));
    CAPTURE(c.alive);
    auto got = TransitionOf(c.sqlstate, c.alive, c.pid_file);
    CHECK(got.has_value() == c.want.has_value());
    if (got && c.want) CHECK(std::string(*got) == *c.want);
  }
}
