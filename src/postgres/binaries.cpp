// PostgresBinaries (include/pgha/instance.hpp): finding the server programs and their version.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "pgha/error.hpp"
#include "pgha/instance.hpp"
#include "process.hpp"

namespace pgha {

namespace {

constexpr std::chrono::seconds kProbeTimeout{30};

std::string Quoted(std::string_view text) {
  std::string shown(text.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return "\"" + shown + (text.size() > 80 ? "..." : "") + "\"";
}

std::string StripTrailing(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int PostgresBinaries::ParseMajorVersion(std::string_view text) {
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)", or just "15.18".
  std::string_view v = text;
  auto marker = v.find("(PostgreSQL) ");
  if (marker != std::string_view::npos) v.remove_prefix(marker + 13);
  std::size_t i = 0;
  int major = 0;
  while (i < v.size() && i < 4 && v[i] >= '0' && v[i] <= '9') major = major * 10 + (v[i++] - '0');
  std::string_view after = v.substr(i);
  bool ends_ok = after.empty() || after[0] == '.' || after[0] == ' ' || after[0] == '\n';
  for (std::string_view pre : {"devel", "alpha", "beta", "rc"}) {
    if (after.substr(0, pre.size()) == pre) ends_ok = true;
  }
  if (i == 0 || !ends_ok)
    throw Error(ErrorCode::kBadInput, "cannot read a PostgreSQL version in " + Quoted(text));
  if (major < 10)
    throw Error(ErrorCode::kBadInput,
                "PostgreSQL " + Quoted(text) + " is not supported: pgha needs 10 or later");
  return major;
}

std::string PostgresBinaries::Program(std::string_view name) const {
  std::string path = bindir + "/" + std::string(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0)
    throw Error(ErrorCode::kNotFound, "PostgreSQL program \"" + path + "\" not found" +
                                          " HINT: install the server binaries or set bindir");
  return path;
}

PostgresBinaries PostgresBinaries::Locate(const std::string& dir) {
  PostgresBinaries b;
  auto deadline = process::Clock::now() + kProbeTimeout;
  if (!dir.empty()) {
    b.bindir = dir;
  } else {
    process::Command cmd{{"pg_config", "--bindir"}, std::nullopt, {}, std::nullopt, deadline};
    process::Outcome o;
    try {
      o = process::RunChecked(cmd, "pg_config --bindir");
    } catch (const Error& e) {
      throw Error(e.code(), std::string(e.what()) +
                                " HINT: no bindir was given; set it or put pg_config in PATH");
    }
    b.bindir = StripTrailing(o.out);
  }
  struct stat st {};
  if (::stat(b.bindir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(ErrorCode::kNotFound, "PostgreSQL bindir \"" + b.bindir + "\" is not a directory");
  process::Command version{
      {b.Program("postgres"), "--version"}, std::nullopt, {}, std::nullopt, deadline};
  std::string text = StripTrailing(process::RunChecked(version, "postgres --version").out);
  b.major = ParseMajorVersion(text);
  auto marker = text.find("(PostgreSQL) ");
  std::string rest = marker == std::string::npos ? text : text.substr(marker + 13);
  b.version = rest.substr(0, rest.find(' '));
  return b;
}

}  // namespace pgha
