#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "pgha/control_data.hpp"
#include "pgha/error.hpp"
#include "test_support.hpp"

using pgha::ClusterState;
using pgha::ControlData;
using pgha::ErrorCode;
using pgha::Lsn;
using pgha::test::FixturePath;
using pgha::test::ListFiles;
using pgha::test::ReadText;

namespace {

const std::string kDir = "pg15/controldata/";

// For each label that has a ControlData field: the field, printed the way pg_controldata and
// the pg_control_*() functions print it (LSNs through Lsn so that padding does not matter).
using Printer = std::function<std::string(const ControlData&)>;

std::string Canonical(const std::string& label, const std::string& value) {
  auto lsn = Lsn::TryParse(value);
  if (lsn && label.find("location") != std::string::npos) return lsn->ToString();
  return value;
}

template <typename T>
Printer Number(T ControlData::*member) {
  return [member](const ControlData& c) { return std::to_string(c.*member); };
}

Printer LsnText(Lsn ControlData::*member) {
  return [member](const ControlData& c) { return (c.*member).ToString(); };
}

Printer Text(std::string ControlData::*member) {
  return [member](const ControlData& c) { return c.*member; };
}

const std::map<std::string, Printer>& FieldPrinters() {
  static const std::map<std::string, Printer> printers = {
      {"pg_control version number", Number(&ControlData::control_version)},
      {"Catalog version number", Number(&ControlData::catalog_version)},
      {"Database system identifier", Number(&ControlData::system_identifier)},
      {"Database cluster state",
       [](const ControlData& c) { return std::string(pgha::ClusterStateName(c.state)); }},
      {"Latest checkpoint location", LsnText(&ControlData::checkpoint)},
      {"Latest checkpoint's REDO location", LsnText(&ControlData::redo)},
      {"Latest checkpoint's REDO WAL file", Text(&ControlData::redo_wal_file)},
      {"Latest checkpoint's TimeLineID", Number(&ControlData::timeline)},
      {"Latest checkpoint's PrevTimeLineID", Number(&ControlData::prev_timeline)},
      {"Latest checkpoint's NextXID", Text(&ControlData::next_xid)},
      {"Minimum recovery ending location", LsnText(&ControlData::min_recovery_end)},
      {"Min recovery ending loc's timeline", Number(&ControlData::min_recovery_end_timeline)},
      {"wal_level setting", Text(&ControlData::wal_level)},
      {"wal_log_hints setting",
       [](const ControlData& c) { return std::string(c.wal_log_hints ? "on" : "off"); }},
      {"Bytes per WAL segment", Number(&ControlData::wal_segment_size)},
      {"WAL block size", Number(&ControlData::wal_block_size)},
      {"Data page checksum version", Number(&ControlData::data_checksum_version)},
  };
  return printers;
}

nlohmann::json Sidecar(const std::string& txt) {
  std::string base = txt.substr(0, txt.size() - 4);
  return nlohmann::json::parse(ReadText(FixturePath(kDir + base + ".json")));
}

std::vector<std::string> ControlFiles() {
  std::vector<std::string> files = ListFiles(FixturePath(kDir), ".txt");
  REQUIRE(files.size() >= 7);
  return files;
}

std::string Pg15Text() {
  return ReadText(FixturePath(kDir + "primary_running.txt"));
}

// 1-based number of the line of `text` that starts with "<label>:"; 0 when there is none.
std::uint64_t LineOf(const std::string& text, const std::string& label) {
  std::uint64_t n = 1;
  for (std::size_t at = 0; at < text.size(); ++n) {
    if (text.compare(at, label.size() + 1, label + ":") == 0) return n;
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return 0;
}

// Where the line starting with "<label>:" begins.
std::size_t LineStart(const std::string& text, const std::string& label) {
  if (text.compare(0, label.size() + 1, label + ":") == 0) return 0;
  std::size_t at = text.find("\n" + label + ":");
  REQUIRE(at != std::string::npos);
  return at + 1;
}

// The line starting with "<label>:" (without its newline) replaced by `line`; an empty
// `line` removes it.
std::string ReplaceLine(std::string text, const std::string& label, const std::string& line) {
  std::size_t at = LineStart(text, label);
  std::size_t end = text.find('\n', at);
  REQUIRE(end != std::string::npos);
  if (line.empty()) return text.erase(at, end - at + 1);
  return text.replace(at, end - at, line);
}

std::string WithValue(const std::string& text, const std::string& label, const std::string& value) {
  std::string padded = label + ":";
  while (padded.size() < 38) padded += ' ';
  return ReplaceLine(text, label, padded + value);
}

std::string InsertAfter(std::string text, const std::string& label, const std::string& line) {
  std::size_t end = text.find('\n', LineStart(text, label));
  REQUIRE(end != std::string::npos);
  return text.insert(end + 1, line + "\n");
}

std::uint32_t SegmentSizeOf(const std::string& setting) {  // "16MB", "1GB"
  std::uint32_t n = static_cast<std::uint32_t>(std::stoul(setting));
  return setting.substr(setting.size() - 2) == "GB" ? n << 30 : n << 20;
}

}  // namespace

TEST_CASE("ControlData parses every fixture as PostgreSQL's own functions reported") {
  for (const std::string& file : ControlFiles()) {
    CAPTURE(file);
    ControlData c = ControlData::Parse(ReadText(FixturePath(kDir + file)));
    nlohmann::json expected = Sidecar(file)["expected"];
    int typed = 0;
    for (const auto& [label, value] : expected.items()) {
      CAPTURE(label);
      std::string want = Canonical(label, value.get<std::string>());
      REQUIRE(c.fields.count(label) == 1);
      CHECK(Canonical(label, c.fields.at(label)) == want);
      auto printer = FieldPrinters().find(label);
      if (printer != FieldPrinters().end()) {
        CHECK(printer->second(c) == want);
        ++typed;
      }
    }
    CHECK(typed >= 7);
    CHECK_FALSE(c.prior_checkpoint.has_value());
    bool clean = c.fields.at("Database cluster state").substr(0, 9) == "shut down";
    CHECK(c.CleanlyShutDown() == clean);
  }
}

TEST_CASE("ControlData agrees with the live server values in the sidecars") {
  int checked = 0;
  for (const std::string& file : ControlFiles()) {
    CAPTURE(file);
    ControlData c = ControlData::Parse(ReadText(FixturePath(kDir + file)));
    nlohmann::json j = Sidecar(file);
    for (const char* key : {"live", "live_before_stop", "live_before_kill"}) {
      if (!j.contains(key)) continue;
      const auto& live = j[key];
      int major = std::stoi(live["server_version"].get<std::string>());
      CHECK(c.MajorVersionLowerBound() > 0);
      CHECK(c.MajorVersionLowerBound() <= major);
      CHECK(c.wal_segment_size == SegmentSizeOf(live["wal_segment_size"].get<std::string>()));
      if (!live["insert_timeline"].is_null()) {
        // Also right after a promotion (promoted_running: checkpoint TLI still the old one).
        CHECK(c.CurrentTimeline() == live["insert_timeline"].get<pgha::TimelineId>());
        ++checked;
      }
    }
  }
  CHECK(checked >= 4);
}

TEST_CASE("ControlData of the promoted and the stopped servers") {
  ControlData promoted = ControlData::Parse(ReadText(FixturePath(kDir + "promoted_running.txt")));
  nlohmann::json pj = Sidecar("promoted_running.txt");
  auto insert_tli = pj["live"]["insert_timeline"].get<pgha::TimelineId>();
  CHECK(promoted.CurrentTimeline() == insert_tli);
  CHECK(promoted.timeline < insert_tli);  // the lag of reference 5.4

  ControlData standby = ControlData::Parse(ReadText(FixturePath(kDir + "standby_stopped.txt")));
  nlohmann::json sj = Sidecar("standby_stopped.txt");
  CHECK(standby.state == ClusterState::kShutDownInRecovery);
  CHECK(standby.min_recovery_end >=
        Lsn::Parse(sj["min_recovery_end_lsn_at_least"].get<std::string>()));

  ControlData stopped = ControlData::Parse(ReadText(FixturePath(kDir + "primary_stopped.txt")));
  nlohmann::json tj = Sidecar("primary_stopped.txt");
  CHECK(stopped.state == ClusterState::kShutDown);
  CHECK(stopped.checkpoint < Lsn::Parse(tj["end_of_wal_lsn"].get<std::string>()));
}

TEST_CASE("ControlData reads the labels of PostgreSQL 10, 17 and 18") {
  const std::string pg15 = Pg15Text();
  ControlData base = ControlData::Parse(pg15);
  SUBCASE("10: prior checkpoint, Float4 argument passing, no max_wal_senders") {
    std::string t = WithValue(pg15, "pg_control version number", "1002");
    t = InsertAfter(t, "Latest checkpoint location",
                    "Prior checkpoint location:            0/6000060");
    t = InsertAfter(t, "Date/time type storage", "Float4 argument passing:              by value");
    t = ReplaceLine(t, "max_wal_senders setting", "");
    ControlData c = ControlData::Parse(t);
    CHECK(c.MajorVersionLowerBound() == 10);
    REQUIRE(c.prior_checkpoint.has_value());
    CHECK(*c.prior_checkpoint == Lsn(0x6000060));
    CHECK(c.fields.at("Float4 argument passing") == "by value");
    CHECK(c.fields.count("max_wal_senders setting") == 0);
    CHECK(c.checkpoint == base.checkpoint);
  }
  SUBCASE("17: the labels of 13-16") {
    ControlData c = ControlData::Parse(WithValue(pg15, "pg_control version number", "1700"));
    CHECK(c.MajorVersionLowerBound() == 17);
    CHECK(c.redo == base.redo);
  }
  SUBCASE("18: Default char data signedness") {
    std::string t = WithValue(pg15, "pg_control version number", "1800");
    t = InsertAfter(t, "Data page checksum version",
                    "Default char data signedness:         signed");
    ControlData c = ControlData::Parse(t);
    CHECK(c.MajorVersionLowerBound() == 18);
    CHECK(c.fields.at("Default char data signedness") == "signed");
    CHECK(c.fields.size() == base.fields.size() + 1);
  }
  SUBCASE("CRLF line ends and blank lines") {
    std::string t;
    for (char ch : pg15) t += ch == '\n' ? std::string("\r\n\r\n") : std::string(1, ch);
    ControlData c = ControlData::Parse(t);
    CHECK(c.fields == base.fields);
  }
}

TEST_CASE("ControlData::MajorVersionLowerBound maps pg_control versions") {
  const std::string pg15 = Pg15Text();
  const std::vector<std::pair<const char*, int>> versions = {
      {"1002", 10}, {"1100", 11}, {"1201", 12}, {"1300", 13}, {"1700", 17},
      {"1800", 18}, {"960", 0},   {"1301", 0},  {"0", 0}};
  for (auto [version, major] : versions) {
    CAPTURE(version);
    CHECK(ControlData::Parse(WithValue(pg15, "pg_control version number", version))
              .MajorVersionLowerBound() == major);
  }
}

TEST_CASE("ClusterStateName spells pg_controldata's states") {
  const std::string pg15 = Pg15Text();
  for (auto [state, name] : std::vector<std::pair<ClusterState, const char*>>{
           {ClusterState::kStartingUp, "starting up"},
           {ClusterState::kShutDown, "shut down"},
           {ClusterState::kShutDownInRecovery, "shut down in recovery"},
           {ClusterState::kShuttingDown, "shutting down"},
           {ClusterState::kInCrashRecovery, "in crash recovery"},
           {ClusterState::kInArchiveRecovery, "in archive recovery"},
           {ClusterState::kInProduction, "in production"}}) {
    CAPTURE(name);
    CHECK(pgha::ClusterStateName(state) == name);
    CHECK(ControlData::Parse(WithValue(pg15, "Database cluster state", name)).state == state);
  }
}

TEST_CASE("ControlData requires the labels of its fields") {
  const std::string pg15 = Pg15Text();
  for (const auto& [label, printer] : FieldPrinters()) {
    CAPTURE(label);
    auto r = ControlData::TryParse(ReplaceLine(pg15, label, ""));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kBadInput);
    CHECK(std::string(r.error().what()).find(label) != std::string::npos);
  }
  // Labels without a field may be missing.
  for (const char* label : {"Time of latest checkpoint", "max_wal_senders setting",
                            "Mock authentication nonce", "Fake LSN counter for unlogged rels"}) {
    CAPTURE(label);
    CHECK(ControlData::TryParse(ReplaceLine(pg15, label, "")).ok());
  }
  CHECK_FALSE(ControlData::TryParse("").ok());
}

TEST_CASE("ControlData rejects malformed values with their line number") {
  const std::string pg15 = Pg15Text();
  struct Case {
    const char* label;
    const char* value;
  };
  for (const Case& c : {
           Case{"Latest checkpoint location", "0/70262AG"},
           Case{"Latest checkpoint location", "0/70262A8 "},  // trimmed: accepted below
           Case{"Latest checkpoint's REDO location", "7026270"},
           Case{"Minimum recovery ending location", "-1/0"},
           Case{"Database cluster state", "running"},
           Case{"Database cluster state", "unrecognized status code"},
           Case{"Database cluster state", "In production"},
           Case{"pg_control version number", "13OO"},
           Case{"Database system identifier", "18446744073709551616"},
           Case{"Latest checkpoint's TimeLineID", "4294967296"},
           Case{"Latest checkpoint's TimeLineID", "0"},
           Case{"Latest checkpoint's PrevTimeLineID", "-1"},
           Case{"Latest checkpoint's NextXID", "759"},
           Case{"Latest checkpoint's NextXID", "0:4294967296"},
           Case{"Latest checkpoint's REDO WAL file", "000000010000000000000008"},
           Case{"Latest checkpoint's REDO WAL file", "000000020000000000000007"},
           Case{"Latest checkpoint's REDO WAL file", "00000001000000000000000a"},
           Case{"Latest checkpoint's REDO WAL file", "???"},
           Case{"wal_level setting", "hot_standby"},
           Case{"wal_log_hints setting", "yes"},
           Case{"Bytes per WAL segment", "1000000"},
           Case{"Bytes per WAL segment", "2147483648"},
           Case{"WAL block size", "8k"},
           Case{"Data page checksum version", ""},
       }) {
    CAPTURE(c.label);
    CAPTURE(c.value);
    std::string text = WithValue(pg15, c.label, c.value);
    auto r = ControlData::TryParse(text);
    if (std::string(c.value) == "0/70262A8 ") {
      CHECK(r.ok());
      continue;
    }
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kBadInput);
    CHECK(r.error().position() == LineOf(text, c.label));
    CHECK(std::string(r.error().what()).find(c.label) != std::string::npos);
  }
}

TEST_CASE("ControlData rejects lines it cannot split") {
  const std::string pg15 = Pg15Text();
  struct Case {
    const char* name;
    std::string text;
    std::uint64_t line;
  };
  std::string duplicate = InsertAfter(pg15, "Catalog version number",
                                      "Catalog version number:               202209061");
  for (const Case& c : {
           Case{"line without ':'", InsertAfter(pg15, "Catalog version number", "garbage"), 3},
           Case{"empty label", InsertAfter(pg15, "Catalog version number", "  : 5"), 3},
           Case{"repeated label", duplicate, 3},
           Case{"pre-17 CRC warning on stdout",
                "WARNING: Calculated CRC checksum does not match value stored in file.\n"
                "Either the file is corrupt, or it has a different layout than this program\n" +
                    pg15,
                2},
       }) {
    CAPTURE(c.name);
    auto r = ControlData::TryParse(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kBadInput);
    CHECK(r.error().position() == c.line);
    CHECK_THROWS_AS(ControlData::Parse(c.text), pgha::Error);
  }
}

TEST_CASE("ControlData survives mutated input") {
  const std::string pg15 = Pg15Text();
  std::mt19937 rng(11);
  std::string alphabet = "0123456789ABCDEF/: \t\nxyz";
  alphabet += '\0';
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = pg15;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 8); break;
        default: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    auto r = ControlData::TryParse(text);
    if (r.ok()) {
      ++accepted;
    } else {
      CHECK(r.error().code() == ErrorCode::kBadInput);
    }
  }
  CHECK(accepted > 0);
  // Every cut before the value of the last required line loses a required value.
  const std::string last = "Data page checksum version:";
  for (std::size_t n = 0; n <= LineStart(pg15, "Data page checksum version") + last.size();
       n += 7) {
    CHECK_FALSE(ControlData::TryParse(pg15.substr(0, n)).ok());
  }
}
