// pgha::Instance::WriteParameters: the server parameters of pgha's configuration, as a file of
// their own that postgresql.conf includes before pgha.conf.
#include <algorithm>
#include <array>
#include <cctype>

#include "conninfo.hpp"
#include "fs.hpp"
#include "instance_internal.hpp"
#include "pgha/instance.hpp"
#include "standby_config.hpp"

namespace pgha {

namespace {

// Set by pgha itself at every start (command line) or in pgha.conf; a parameter of the
// operator's that named one would be overridden, or would move the server's files.
constexpr std::array<std::string_view, 16> kManaged = {"port",
                                                       "listen_addresses",
                                                       "unix_socket_directories",
                                                       "data_directory",
                                                       "config_file",
                                                       "hba_file",
                                                       "ident_file",
                                                       "external_pid_file",
                                                       "include",
                                                       "include_if_exists",
                                                       "include_dir",
                                                       "primary_conninfo",
                                                       "primary_slot_name",
                                                       "recovery_target_timeline",
                                                       "recovery_min_apply_delay",
                                                       "synchronous_standby_names"};

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// pg_file_settings reads the files now: the settings whose value there cannot be applied
// without a restart, and those PostgreSQL refuses, each in pgha.parameters.conf.
struct FileVerdict {
  std::vector<std::string> pending_restart;
  std::vector<std::string> invalid;  ///< "name: error"
};

// pg_file_settings says "setting could not be applied" both for a value a running server
// cannot take without a restart and for one it refuses; the parameter's context tells which.
FileVerdict ReadFileSettings(pg::PqSession& s) {
  FileVerdict v;
  auto rows = s.Query(
      "SELECT f.name, f.error, f.sourcefile, s.context FROM pg_file_settings f "
      "LEFT JOIN pg_settings s ON s.name = f.name WHERE f.error IS NOT NULL ORDER BY f.name");
  for (const auto& row : rows) {
    const std::string name = row[0].value_or("");
    const std::string error = row[1].value_or("");
    const std::string file = row[2].value_or("");
    if (error == "setting could not be applied" && row[3].value_or("") == "postmaster") {
      if (std::find(v.pending_restart.begin(), v.pending_restart.end(), name) ==
          v.pending_restart.end())
        v.pending_restart.push_back(name);
    } else if (file.size() >= 21 &&
               file.compare(file.size() - 21, 21, "/pgha.parameters.conf") == 0) {
      v.invalid.push_back((name.empty() ? std::string("(file)") : name) + ": " + error);
    }
  }
  return v;
}

}  // namespace

bool Instance::ManagedParameter(std::string_view name) {
  const std::string lower = Lower(name);
  return std::find(kManaged.begin(), kManaged.end(), lower) != kManaged.end();
}

ParameterReport Instance::WriteParameters(
    const std::vector<std::pair<std::string, std::string>>& parameters) {
  inst::RequireDataDirectory(*this);
  for (const auto& [name, value] : parameters) {
    pg::CheckGucName(name);
    if (ManagedParameter(name))
      throw Error(ErrorCode::kBadInput, "parameter \"" + name +
                                            "\" is set by pgha itself (start options, files, "
                                            "standby and synchronous settings)");
  }
  const std::string text = pg::RenderParametersConf(parameters);  // checks every value
  const std::string path = inst::DataPath(*this, pg::kParametersConf);
  const std::optional<std::string> before = fs::ReadFileIfExists(path);
  ParameterReport report;
  report.changed = before != text;
  if (report.changed) fs::WriteFileAtomic(path, text);
  const std::string conf_path = inst::DataPath(*this, "postgresql.conf");
  auto conf = fs::ReadFileIfExists(conf_path);
  if (!conf) throw Error(ErrorCode::kNotFound, "\"" + conf_path + "\" does not exist");
  if (auto with = pg::WithParametersInclude(*conf)) {
    fs::WriteFileAtomic(conf_path, *with);
    report.changed = true;
  }
  if (!IsRunning()) return report;
  try {
    auto session = inst::Connect(*this);
    FileVerdict v = ReadFileSettings(session);
    if (!v.invalid.empty()) {
      // Never leave a file that the next start would fail on.
      if (before) {
        fs::WriteFileAtomic(path, *before);
      } else {
        fs::RemoveDurable(path);
      }
      std::string msg = "PostgreSQL refuses parameters:";
      for (const auto& i : v.invalid) msg += " " + i + ";";
      msg.pop_back();
      throw Error(ErrorCode::kBadInput, msg + " (nothing changed)");
    }
    if (report.changed) session.Query("SELECT pg_reload_conf()");
    report.pending_restart = std::move(v.pending_restart);
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() != "57P03") throw;  // starting up: it reads the files when it is up
  }
  return report;
}

std::vector<std::string> Instance::PendingRestart() const {
  if (!IsRunning()) return {};
  try {
    auto session = inst::Connect(*this);
    return ReadFileSettings(session).pending_restart;
  } catch (const pg::PostgresError& e) {
    if (e.sqlstate() == "57P03") return {};
    throw;
  }
}

}  // namespace pgha
