#include "standby_config.hpp"

#include <algorithm>
#include <cctype>

#include "conninfo.hpp"
#include "pgha/error.hpp"

namespace pgha::pg {

namespace {

constexpr const char* kHeader =
    "# Standby settings written by pgha; pgha rewrites this file, do not edit it.\n";
constexpr const char* kStandbyParameters[] = {"primary_conninfo", "primary_slot_name",
                                              "recovery_target_timeline",
                                              "recovery_min_apply_delay", "standby_mode"};

constexpr const char* kSynchronousStandbyNames = "synchronous_standby_names";

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// The parameter a configuration line sets, lower case ("" for blank and comment lines).
std::string ParameterOf(std::string_view line) {
  line = TrimLeft(line);
  std::string name;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '=' || c == '#' || c == '\r') break;
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return name;
}

template <typename Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    fn(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

std::string Render(const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out;
  for (const auto& [name, value] : settings) out += name + " = " + value + "\n";
  return out;
}

}  // namespace

std::string PrimaryConninfo(const StandbyConfig& c) {
  return BuildConninfo({{"host", c.primary_host},
                        {"port", std::to_string(c.primary_port)},
                        {"user", c.user},
                        {"password", c.password},
                        {"passfile", c.password.empty() ? c.passfile : ""},
                        {"application_name", c.application_name}});
}

std::vector<std::pair<std::string, std::string>> StandbySettings(const StandbyConfig& c) {
  CheckHost(c.primary_host, "primary host");
  CheckPort(c.primary_port, "primary port");
  CheckRoleName(c.user, "replication user");
  CheckSecret(c.password, "replication password");
  CheckPrintable(c.passfile, "passfile", 1000);
  CheckPrintable(c.application_name, "application name", 63);
  std::vector<std::pair<std::string, std::string>> settings{
      {"primary_conninfo", QuoteGucString(PrimaryConninfo(c))}};
  if (!c.slot_name.empty()) {
    CheckSlotName(c.slot_name);
    settings.emplace_back("primary_slot_name", QuoteGucString(c.slot_name));
  }
  settings.emplace_back("recovery_target_timeline", QuoteGucString("latest"));
  if (!c.apply_delay.empty()) {
    CheckApplyDelay(c.apply_delay);
    settings.emplace_back("recovery_min_apply_delay", QuoteGucString(c.apply_delay));
  }
  return settings;
}

std::string RenderPghaConf(const StandbyConfig& config, std::string_view existing) {
  auto settings = StandbySettings(config);
  return kHeader + StripStandbySettings(existing) + Render(settings);
}

std::string RenderRecoveryConf(const StandbyConfig& config) {
  auto settings = StandbySettings(config);
  settings.insert(settings.begin(), {"standby_mode", QuoteGucString("on")});
  return kHeader + Render(settings);
}

std::string StripStandbySettings(std::string_view text) {
  std::string out;
  std::string_view header(kHeader);
  header.remove_suffix(1);
  ForEachLine(text, [&](std::string_view line) {
    if (TrimLeft(line).empty() || line == header) return;
    std::string name = ParameterOf(line);
    if (std::find(std::begin(kStandbyParameters), std::end(kStandbyParameters), name) !=
        std::end(kStandbyParameters))
      return;
    out.append(line);
    out += '\n';
  });
  return out;
}

std::string SynchronousStandbyNames(const SynchronousStandbys& s) {
  if (s.names.empty()) return "";
  if (s.count < 1 || static_cast<std::size_t>(s.count) > s.names.size()) {
    throw Error(ErrorCode::kBadInput, "synchronous standby count " + std::to_string(s.count) +
                                          " is not from 1 to " + std::to_string(s.names.size()));
  }
  std::string list;
  for (const std::string& name : s.names) {
    if (name.empty()) throw Error(ErrorCode::kBadInput, "a synchronous standby name is empty");
    CheckPrintable(name, "synchronous standby name", 63);
    if (name.find('"') != std::string::npos) {
      throw Error(ErrorCode::kBadInput,
                  "synchronous standby name \"" + name + "\" has a double quote");
    }
    list += (list.empty() ? "\"" : ", \"") + name + "\"";
  }
  return "ANY " + std::to_string(s.count) + " (" + list + ")";
}

std::optional<std::string> WithSynchronousStandbyNames(std::string_view existing,
                                                       const std::string& value) {
  const std::string wanted =
      value.empty() ? "" : std::string(kSynchronousStandbyNames) + " = " + QuoteGucString(value);
  std::string out = kHeader;
  std::string_view header(kHeader);
  header.remove_suffix(1);
  std::vector<std::string_view> found;
  ForEachLine(existing, [&](std::string_view line) {
    if (TrimLeft(line).empty() || line == header) return;
    if (ParameterOf(line) == kSynchronousStandbyNames) {
      found.push_back(line);
      return;
    }
    out.append(line);
    out += '\n';
  });
  if (value.empty() ? found.empty() : found.size() == 1 && found[0] == wanted) return std::nullopt;
  if (!value.empty()) out += wanted + "\n";
  return out;
}

namespace {

// The line numbers (0-based) of the active includes of `file` in postgresql.conf text.
std::vector<std::size_t> IncludesOf(std::string_view conf, std::string_view file) {
  std::vector<std::size_t> found;
  const std::string quoted = "'" + std::string(file) + "'";
  std::size_t n = 0;
  ForEachLine(conf, [&](std::string_view line) {
    std::string name = ParameterOf(line);
    ++n;
    if (name != "include_if_exists" && name != "include") return;
    std::string_view rest = TrimLeft(TrimLeft(line).substr(name.size()));
    if (!rest.empty() && rest.front() == '=') rest = TrimLeft(rest.substr(1));
    if (rest.substr(0, quoted.size()) == quoted) found.push_back(n - 1);
  });
  return found;
}

}  // namespace

bool HasPghaInclude(std::string_view conf) {
  return !IncludesOf(conf, kPghaConf).empty();
}

std::optional<std::string> WithParametersInclude(std::string_view conf) {
  if (!IncludesOf(conf, kParametersConf).empty()) return std::nullopt;
  const std::string block =
      std::string("# Server parameters written by pgha (before pgha.conf):\n") +
      kParametersInclude + "\n";
  std::vector<std::size_t> pgha = IncludesOf(conf, kPghaConf);
  std::string out;
  if (pgha.empty()) {
    out = std::string(conf);
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out + block;
  }
  std::size_t n = 0;
  ForEachLine(conf, [&](std::string_view line) {
    if (n++ == pgha.front()) out += block;
    out.append(line);
    out += '\n';
  });
  return out;
}

std::string RenderParametersConf(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out =
      "# Server parameters written by pgha at every start from its configuration "
      "(\"parameters\");\n"
      "# pgha rewrites this file, do not edit it.\n";
  for (const auto& [name, value] : params) {
    CheckGucName(name);
    CheckPrintable(value, "value of parameter " + name);
    out += name + " = " + QuoteGucString(value) + "\n";
  }
  return out;
}

std::string AppendPghaInclude(std::string_view conf) {
  std::string out(conf);
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out + "# Standby settings written by pgha (must stay the last line):\n" + kPghaInclude +
         "\n";
}

}  // namespace pgha::pg
