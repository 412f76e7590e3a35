#include "instance_transition.hpp"

#include <string>
#include <string_view>

#include "instance_internal.hpp"

namespace pgha::pg {

bool LostConnection(std::string_view sqlstate) {
  return sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

std::optional<std::string_view> TransitionOf(std::string_view sqlstate, bool postmaster_alive,
                                             const std::optional<PostmasterPidFile>& pid_file) {
  if (!LostConnection(sqlstate)) return std::nullopt;
  if (!postmaster_alive) return "stopped";
  // A live postmaster whose pid file is not complete yet is starting: it adds its status line
  // (and its sockets) after the first lines.
  if (!pid_file || pid_file->status.empty() || pid_file->status == "starting") return "starting";
  if (pid_file->status == "stopping") return "stopping";
  return std::nullopt;
}

}  // namespace pgha::pg

namespace pgha::inst {

namespace {

// True when a new session to the server works now: after a lost connection of a server that
// says it is up, the server was restarted in between (stopped and started again while the
// observation waited) rather than failing.
bool AnswersNow(const Instance& in) {
  try {
    Connect(in).QueryValue("SELECT 1");
    return true;
  } catch (const pg::PostgresError&) {
    return false;
  }
}

}  // namespace

void ThrowIfInTransition(const Instance& in, const pg::PostgresError& e) {
  const bool alive = LivePostmaster(in).has_value();
  std::optional<std::string_view> transition =
      pg::TransitionOf(e.sqlstate(), alive, alive ? ReadPidFile(in) : std::nullopt);
  // pgha's sessions use the unix socket: a live postmaster whose socket file is not there
  // has not made it yet, or removed it on its way down, whatever its status line says yet.
  if (!transition && alive && pg::LostConnection(e.sqlstate()) &&
      std::string_view(e.what()).find("No such file or directory") != std::string_view::npos) {
    transition = "starting or stopping (its socket is not there)";
  }
  if (!transition && alive && pg::LostConnection(e.sqlstate()) && AnswersNow(in)) {
    transition = "restarting";  // stopped and started again meanwhile
  }
  if (!transition) return;
  throw Error(ErrorCode::kUnavailable, "the server of \"" + in.options().data_dir + "\" is " +
                                           std::string(*transition) + " (" + e.what() +
                                           ") HINT: retry in a moment");
}

}  // namespace pgha::inst
