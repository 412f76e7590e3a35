#include "server_files.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "conninfo.hpp"
#include "pgha/error.hpp"
#include "standby_config.hpp"

namespace pgha::pg {

namespace {

std::string Pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s + ' ';
}

std::string HbaLine(const std::string& type, const std::string& db, const std::string& user,
                    const std::string& address, const std::string& method) {
  std::string line = Pad(type, 7) + Pad(db, 15) + Pad(user, 15) + Pad(address, 23) + method;
  return line + "\n";
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::optional<long long> ParseInt(std::string_view s) {
  bool neg = !s.empty() && s.front() == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty() || s.size() > 10) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return neg ? -v : v;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string RenderPgHba(const InitOptions& o, const std::string& superuser) {
  std::string net = CheckSubnet(o.subnet, o.mask);
  CheckRoleName(o.replicate_user, "REPLICATE_USER");
  CheckRoleName(superuser, "superuser");
  const std::string scram = "scram-sha-256";
  std::string out;
  if (o.local_trust) {
    out =
        "# pg_hba.conf written by pgha init, after the seed's sample: trust only on the local\n"
        "# socket and loopback; replication from SUBNET/MASK and all other hosts need a password\n"
        "# (scram-sha-256; the seed's md5 hashes are deprecated).\n";
    out += HbaLine("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD");
    out += HbaLine("local", "all", "all", "", "trust");
    out += HbaLine("host", "all", "all", "127.0.0.1/32", "trust");
    out += HbaLine("host", "all", "all", "::1/128", "trust");
    out += HbaLine("local", "replication", "all", "", "trust");
    out += HbaLine("host", "replication", "all", "127.0.0.1/32", "trust");
    out += HbaLine("host", "replication", "all", "::1/128", "trust");
  } else {
    out =
        "# pg_hba.conf written by pgha init, without trust: the superuser on the local socket by\n"
        "# peer as mapped in pg_ident.conf (map pgha), and every other connection, loopback\n"
        "# included, with a password (scram-sha-256).\n";
    out += HbaLine("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD");
    out += HbaLine("local", "all", "\"" + superuser + "\"", "", "peer map=pgha");
    out += HbaLine("local", "all", "all", "", scram);
    out += HbaLine("local", "replication", "all", "", scram);
    out += HbaLine("host", "replication", "all", "127.0.0.1/32", scram);
    out += HbaLine("host", "replication", "all", "::1/128", scram);
  }
  out += HbaLine("host", "replication", "\"" + o.replicate_user + "\"", net, scram);
  out += HbaLine("host", "all", "all", "0.0.0.0/0", scram);
  out += HbaLine("host", "all", "all", "::/0", scram);
  return out;
}

std::string RenderPgIdent(const std::vector<std::string>& os_users, const std::string& superuser) {
  CheckRoleName(superuser, "superuser");
  std::string out =
      "# pg_ident.conf written by pgha init: the accounts that may be the superuser on the local\n"
      "# socket (pg_hba.conf's `peer map=pgha`).\n";
  std::vector<std::string> seen;
  for (const std::string& user : os_users) {
    if (std::find(seen.begin(), seen.end(), user) != seen.end()) continue;
    CheckRoleName(user, "OS user");
    seen.push_back(user);
    out += Pad("pgha", 7) + Pad(user, 15) + "\"" + superuser + "\"\n";
  }
  return out;
}

std::string RenderPassfile(const std::vector<PassfileEntry>& entries) {
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == ':' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  };
  std::string out;
  for (const PassfileEntry& e : entries) {
    if (e.password.empty()) continue;
    CheckRoleName(e.user, "passfile user");
    CheckSecret(e.password, "password of " + e.user);
    out += "*:*:*:" + escape(e.user) + ":" + escape(e.password) + "\n";
  }
  return out;
}

std::string RenderServerSettings(const InitOptions& o, int major) {
  if (o.max_wal_senders < 1 || o.max_wal_senders > 1000 || o.max_replication_slots < 1 ||
      o.max_replication_slots > 1000)
    throw Error(ErrorCode::kBadInput, "max_wal_senders " + std::to_string(o.max_wal_senders) +
                                          " / max_replication_slots " +
                                          std::to_string(o.max_replication_slots) +
                                          " out of range 1..1000");
  std::vector<std::pair<std::string, std::string>> s{
      {"wal_level", "logical"},
      {"max_wal_senders", std::to_string(o.max_wal_senders)},
      {"max_replication_slots", std::to_string(o.max_replication_slots)},
      {"hot_standby", "on"},
      {"hot_standby_feedback", "on"},
      // The feedback that keeps catalog rows for logical slot copies, every second.
      {"wal_receiver_status_interval", "1s"},
      {"wal_log_hints", "on"},
      {"password_encryption", "scram-sha-256"}};
  if (major >= 13) {
    s.emplace_back("wal_keep_size", std::to_string(o.wal_keep_mb) + "MB");
  } else {
    std::uint32_t seg_mb = o.wal_segment_size_mb ? o.wal_segment_size_mb : 16;
    s.emplace_back("wal_keep_segments",
                   std::to_string(std::max<std::uint32_t>(1, o.wal_keep_mb / seg_mb)));
  }
  for (const auto& [name, value] : o.settings) {
    CheckGucName(name);
    CheckPrintable(value, "value of setting " + name);
    s.emplace_back(name, value);
  }
  std::string out = "\n# Replication essentials written by pgha init.\n";
  for (const auto& [name, value] : s) out += name + " = " + QuoteGucString(value) + "\n";
  return AppendPghaInclude(out);
}

std::optional<PostmasterPidFile> ParsePostmasterPid(std::string_view text) {
  auto lines = Lines(text);
  if (lines.size() < 2) return std::nullopt;
  auto pid = ParseInt(TrimRight(lines[0]));
  if (!pid || *pid == 0 || *pid > 0x7fffffff || *pid < -0x7fffffff) return std::nullopt;
  PostmasterPidFile f;
  f.pid = static_cast<pid_t>(*pid);
  f.data_dir = std::string(TrimRight(lines[1]));
  if (f.data_dir.empty()) return std::nullopt;
  if (lines.size() > 3) {
    auto port = ParseInt(TrimRight(lines[3]));
    f.port = port && *port > 0 && *port < 65536 ? static_cast<int>(*port) : 0;
  }
  if (lines.size() > 4) f.socket_dir = std::string(TrimRight(lines[4]));
  if (lines.size() > 5) f.listen_addr = std::string(TrimRight(lines[5]));
  if (lines.size() > 7) f.status = std::string(TrimRight(lines[7]));
  return f;
}

namespace {

// recovery.conf (PostgreSQL 10-11) asks for standby mode: a line `standby_mode = on`.
bool RecoveryConfAsksStandby(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  bool standby = false;
  while (std::getline(in, line)) {
    std::string text;
    for (char c : line.substr(0, line.find('#'))) {
      if (!std::isspace(static_cast<unsigned char>(c)) && c != '\'' && c != '=') {
        text += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    if (text.rfind("standby_mode", 0) != 0) continue;
    std::string value = text.substr(12);  // the last setting wins, as in PostgreSQL
    standby = value == "on" || value == "true" || value == "yes" || value == "1";
  }
  return standby;
}

}  // namespace

StartMode StartModeOf(const std::string& data_dir) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  const sfs::path dir(data_dir);
  sfs::path marker = dir / "standby.signal";
  bool standby = sfs::exists(marker, ec);
  if (!ec && !standby) {
    marker = dir / "recovery.conf";
    standby = sfs::exists(marker, ec) && RecoveryConfAsksStandby(marker);
  }
  if (ec) return StartMode::kUnknown;
  if (!standby) return StartMode::kPrimary;
  auto marker_time = sfs::last_write_time(marker, ec);
  if (ec) return StartMode::kUnknown;
  auto start_time = sfs::last_write_time(dir / "postmaster.opts", ec);
  if (ec) return StartMode::kUnknown;
  return marker_time <= start_time ? StartMode::kStandby : StartMode::kUnknown;
}

}  // namespace pgha::pg
