#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/timeline.hpp"
#include "test_support.hpp"

using pgha::ErrorCode;
using pgha::FollowVerdict;
using pgha::Lsn;
using pgha::TimelineHistory;
using pgha::TimelineHistoryEntry;
using pgha::test::FixturePath;
using pgha::test::ListFiles;
using pgha::test::ReadText;
using pgha::test::ReadTsv;

namespace {

const std::string kDir = "pg15/timelines/";

nlohmann::json Sidecar(const std::string& history_file) {
  return nlohmann::json::parse(ReadText(FixturePath(kDir + history_file + ".json")));
}

// The error Parse throws for `text`; fails the test when it accepts the text.
pgha::Error ParseError(const std::string& text, pgha::TimelineId timeline) {
  auto r = TimelineHistory::TryParse(text, timeline);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// pg_rewind --dry-run's "servers diverged at WAL location X on timeline T" line.
struct RewindReport {
  Lsn diverged_at;
  pgha::TimelineId timeline = 0;
  bool rewind_needed = false;
};

RewindReport ReadRewindReport(const std::string& file) {
  std::string text = ReadText(FixturePath(kDir + file));
  const std::string at = "servers diverged at WAL location ";
  const std::string on = " on timeline ";
  std::size_t a = text.find(at);
  REQUIRE(a != std::string::npos);
  std::size_t o = text.find(on, a);
  REQUIRE(o != std::string::npos);
  RewindReport r;
  r.diverged_at = Lsn::Parse(text.substr(a + at.size(), o - a - at.size()));
  r.timeline = static_cast<pgha::TimelineId>(std::stoul(text.substr(o + on.size())));
  bool no_rewind = text.find("no rewind required") != std::string::npos;
  bool rewound = text.find("rewinding from last common checkpoint") != std::string::npos;
  REQUIRE(no_rewind != rewound);
  r.rewind_needed = rewound;
  return r;
}

std::vector<std::string> HistoryFiles() {
  std::vector<std::string> files = ListFiles(FixturePath(kDir), ".history");
  REQUIRE(files.size() >= 2);
  return files;
}

}  // namespace

TEST_CASE("TimelineHistory parses every fixture history file like its sidecar") {
  for (const std::string& file : HistoryFiles()) {
    CAPTURE(file);
    nlohmann::json j = Sidecar(file);
    TimelineHistory h = TimelineHistory::Read(FixturePath(kDir + file));
    auto tip = j["timeline"].get<pgha::TimelineId>();
    CHECK(h.timeline() == tip);
    const auto& want = j["entries"];
    REQUIRE(h.entries().size() == want.size() + 1);
    Lsn begin;
    for (std::size_t i = 0; i < want.size(); ++i) {
      const TimelineHistoryEntry& e = h.entries()[i];
      CHECK(e.timeline == want[i]["parent_tli"].get<pgha::TimelineId>());
      CHECK(e.begin == begin);
      CHECK(e.end == Lsn::Parse(want[i]["switchpoint"].get<std::string>()));
      CHECK(e.reason == want[i]["reason"].get<std::string>());
      begin = e.end;
    }
    CHECK(h.entries().back() == TimelineHistoryEntry{tip, begin, Lsn(), ""});
    // Explicit timeline, and Parse of the text, agree with Read.
    std::string text = ReadText(FixturePath(kDir + file));
    CHECK(TimelineHistory::Parse(text, tip).entries() == h.entries());
    CHECK(TimelineHistory::Read(FixturePath(kDir + file), tip).entries() == h.entries());
  }
}

TEST_CASE("TimelineHistory agrees with timelines.tsv") {
  auto rows = ReadTsv(FixturePath(kDir + "timelines.tsv"));
  REQUIRE_FALSE(rows.empty());
  std::map<std::string, std::size_t> seen;  // file -> rows so far
  for (const auto& row : rows) {
    CAPTURE(row.at("file"));
    TimelineHistory h = TimelineHistory::Read(FixturePath(kDir + row.at("file")));
    CHECK(h.timeline() == std::stoul(row.at("timeline")));
    std::size_t i = seen[row.at("file")]++;
    REQUIRE(i + 1 < h.entries().size());
    CHECK(h.entries()[i].timeline == std::stoul(row.at("parent_tli")));
    CHECK(h.entries()[i].end == Lsn::Parse(row.at("switchpoint")));
    CHECK(h.entries()[i].reason == row.at("reason"));
  }
  for (const auto& [file, count] : seen) {
    CAPTURE(file);
    CHECK(TimelineHistory::Read(FixturePath(kDir + file)).entries().size() == count + 1);
  }
}

TEST_CASE("TimelineHistory::ToText reproduces PostgreSQL's files byte for byte") {
  for (const std::string& file : HistoryFiles()) {
    CAPTURE(file);
    std::string text = ReadText(FixturePath(kDir + file));
    CHECK(TimelineHistory::Read(FixturePath(kDir + file)).ToText() == text);
  }
}

TEST_CASE("The follow rule agrees with pg_rewind for each fixture's old primary") {
  for (const std::string& file : HistoryFiles()) {
    CAPTURE(file);
    nlohmann::json j = Sidecar(file);
    const auto& op = j["old_primary"];
    TimelineHistory h = TimelineHistory::Read(FixturePath(kDir + file));
    auto t = op["timeline"].get<pgha::TimelineId>();
    Lsn x = Lsn::Parse(op["end_of_wal_lsn"].get<std::string>());
    RewindReport rewind = ReadRewindReport(op["pg_rewind_dry_run_file"].get<std::string>());
    bool can_follow = op["can_follow_new_primary_without_rewind"].get<bool>();
    CHECK(can_follow == !rewind.rewind_needed);

    CHECK(rewind.timeline == t);
    CHECK(h.SwitchPoint(t) == rewind.diverged_at);
    pgha::FollowCheck c = h.CanFollow(t, x);
    CHECK(c.switch_point == rewind.diverged_at);
    CHECK(c.verdict == (can_follow ? FollowVerdict::kValid : FollowVerdict::kDiverged));
    for (const std::string& part : {std::to_string(t), x.ToString(), c.switch_point.ToString()}) {
      CHECK(c.detail.find(part) != std::string::npos);
    }
    CHECK(c.detail.find('\n') == std::string::npos);

    // The switch point belongs to the child; the byte before it to the old timeline. The
    // END_OF_RECOVERY record that starts the new timeline is at the switch point.
    Lsn sp = h.SwitchPoint(t);
    CHECK(h.TimelineOf(sp - 1) == t);
    Lsn eor = Lsn::Parse(j["end_of_recovery_record"]["lsn"].get<std::string>());
    CHECK(eor == sp);
    CHECK(h.TimelineOf(eor) == h.timeline());
    CHECK(h.CanFollow(t, sp).verdict == FollowVerdict::kValid);
    CHECK(h.CanFollow(t, sp + 1).verdict == FollowVerdict::kDiverged);
  }
}

TEST_CASE("TimelineHistory helpers follow tliOfPointInHistory and tliSwitchPoint") {
  TimelineHistory h = TimelineHistory::Parse("1\t0/100\tr1\n\n3\t0/300\tr3\n", 5);
  REQUIRE(h.entries().size() == 3);
  CHECK(h.timeline() == 5);
  CHECK(h.Contains(1));
  CHECK_FALSE(h.Contains(2));
  CHECK(h.Contains(3));
  CHECK(h.Contains(5));
  CHECK_FALSE(h.Contains(6));
  CHECK(h.SwitchPoint(1) == Lsn(0x100));
  CHECK(h.SwitchPoint(3) == Lsn(0x300));
  CHECK_FALSE(h.SwitchPoint(5).IsValid());
  for (pgha::TimelineId missing : {0u, 2u, 4u, 6u}) {
    CAPTURE(missing);
    try {
      h.SwitchPoint(missing);
      FAIL("no error");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kNotFound);
    }
  }
  struct Case {
    std::uint64_t lsn;
    pgha::TimelineId tli;
  };
  for (const Case& c : {Case{0, 1}, Case{0xFF, 1}, Case{0x100, 3}, Case{0x2FF, 3}, Case{0x300, 5},
                        Case{~0ull, 5}}) {
    CAPTURE(c.lsn);
    CHECK(h.TimelineOf(Lsn(c.lsn)) == c.tli);
  }
  TimelineHistory one;
  CHECK(one.timeline() == 1);
  CHECK(one.entries() == std::vector<TimelineHistoryEntry>{{1, Lsn(), Lsn(), ""}});
  CHECK(one.TimelineOf(Lsn(12345)) == 1);
  CHECK(one.ToText().empty());
  CHECK(TimelineHistory(7).entries() == TimelineHistory::Parse("", 7).entries());
}

TEST_CASE("CanFollow covers every verdict") {
  TimelineHistory h = TimelineHistory::Parse("1\t0/7026320\tx\n\n2\t0/A0000A0\ty\n", 3);
  struct Case {
    pgha::TimelineId tli;
    std::uint64_t lsn;
    std::uint64_t flush;
    FollowVerdict verdict;
    std::uint64_t switch_point;
  };
  for (const Case& c : {
           Case{3, 0xB000000, 0, FollowVerdict::kValid, 0},
           Case{3, 0xB000000, 0xB000000, FollowVerdict::kValid, 0},
           Case{3, 0xB000001, 0xB000000, FollowVerdict::kAheadOfPrimary, 0},
           Case{4, 0x1000, 0, FollowVerdict::kUnknownTimeline, 0},
           Case{9, 0x1000, 0xB000000, FollowVerdict::kUnknownTimeline, 0},
           Case{2, 0xA0000A0, 0, FollowVerdict::kValid, 0xA0000A0},
           Case{2, 0x7026320, 0, FollowVerdict::kValid, 0xA0000A0},
           Case{2, 0xA0000A1, 0, FollowVerdict::kDiverged, 0xA0000A0},
           Case{1, 0x7026320, 0, FollowVerdict::kValid, 0x7026320},
           Case{1, 0x80000A0, 0, FollowVerdict::kDiverged, 0x7026320},
           // The primary's flush position does not matter for an older timeline.
           Case{1, 0x7000000, 0x1, FollowVerdict::kValid, 0x7026320},
       }) {
    CAPTURE(c.tli);
    CAPTURE(c.lsn);
    pgha::FollowCheck r = h.CanFollow(c.tli, Lsn(c.lsn), Lsn(c.flush));
    CHECK(r.verdict == c.verdict);
    CHECK(r.switch_point == Lsn(c.switch_point));
    CHECK(r.detail.find("timeline " + std::to_string(c.tli)) != std::string::npos);
    CHECK(r.detail.find(Lsn(c.lsn).ToString()) != std::string::npos);
    if (c.switch_point != 0) CHECK(r.detail.find(r.switch_point.ToString()) != std::string::npos);
    if (c.verdict == FollowVerdict::kAheadOfPrimary) {
      CHECK(r.detail.find(Lsn(c.flush).ToString()) != std::string::npos);
    }
    CHECK(r.detail.find('\n') == std::string::npos);
  }
}

TEST_CASE("FollowVerdictName spells each verdict") {
  CHECK(pgha::FollowVerdictName(FollowVerdict::kValid) == "valid");
  CHECK(pgha::FollowVerdictName(FollowVerdict::kDiverged) == "diverged");
  CHECK(pgha::FollowVerdictName(FollowVerdict::kUnknownTimeline) == "unknown_timeline");
  CHECK(pgha::FollowVerdictName(FollowVerdict::kAheadOfPrimary) == "ahead_of_primary");
}

TEST_CASE("TimelineHistory accepts what PostgreSQL writes and reads") {
  struct Case {
    const char* name;
    std::string text;
    std::vector<TimelineHistoryEntry> entries;
  };
  const std::vector<Case> cases = {
      {"comments and blank lines",
       "# made by hand\n\n  # indented comment\n1\t0/10\tr\n\n\n",
       {{1, Lsn(), Lsn(0x10), "r"}, {4, Lsn(0x10), Lsn(), ""}}},
      {"leading whitespace",
       "  \t1\t0/10\tr\n \v\f\n",
       {{1, Lsn(), Lsn(0x10), "r"}, {4, Lsn(0x10), Lsn(), ""}}},
      {"CRLF",
       "1\t0/10\tr one\r\n\r\n2\t0/20\tr two\r\n",
       {{1, Lsn(), Lsn(0x10), "r one"},
        {2, Lsn(0x10), Lsn(0x20), "r two"},
        {4, Lsn(0x20), Lsn(), ""}}},
      {"missing reason",
       "1\t0/10\n2\t0/20\t\n",
       {{1, Lsn(), Lsn(0x10), ""}, {2, Lsn(0x10), Lsn(0x20), ""}, {4, Lsn(0x20), Lsn(), ""}}},
      {"no final newline", "1\t0/10\tr", {{1, Lsn(), Lsn(0x10), "r"}, {4, Lsn(0x10), Lsn(), ""}}},
      {"spaces between fields",
       "1 0/10  r\n",
       {{1, Lsn(), Lsn(0x10), "r"}, {4, Lsn(0x10), Lsn(), ""}}},
      {"reason with tabs and its own newline",
       "1\t0/10\tbefore LSN 0/10\n\n\n2\t0/10\ta\tb\n",
       {{1, Lsn(), Lsn(0x10), "before LSN 0/10"},
        {2, Lsn(0x10), Lsn(0x10), "a\tb"},
        {4, Lsn(0x10), Lsn(), ""}}},
      {"lower case and padded LSN",
       "1\t0/0000abcd\tr\n",
       {{1, Lsn(), Lsn(0xABCD), "r"}, {4, Lsn(0xABCD), Lsn(), ""}}},
      {"gaps in timeline ids",
       "1\t0/10\tr\n3\tFFFFFFFF/FFFFFFFF\tr\n",
       {{1, Lsn(), Lsn(0x10), "r"}, {3, Lsn(0x10), Lsn(~0ull), "r"}, {4, Lsn(~0ull), Lsn(), ""}}},
      {"only comments", "# nothing\n", {{4, Lsn(), Lsn(), ""}}},
      // Found by tests/fuzz/fuzz_timeline_history: the reason kept all but the last CR, and
      // ToText's line then parsed back without one more of them.
      {"several CRs before the LF",
       "1\t0/3000000\tno\r\r\r re\r\rco\r\r\r\n",
       {{1, Lsn(), Lsn(0x3000000), "no\r\r\r re\r\rco"}, {4, Lsn(0x3000000), Lsn(), ""}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto r = TimelineHistory::TryParse(c.text, 4);
    REQUIRE(r.ok());
    CHECK(r.value().entries() == c.entries);
    // ToText writes PostgreSQL's form, which parses back to the same entries.
    CHECK(TimelineHistory::Parse(r.value().ToText(), 4).entries() == c.entries);
  }
}

TEST_CASE("ToText writes the reasons that carry their own newline as PostgreSQL does") {
  for (const std::string& text : {
           std::string("1\t0/5000028\tbefore LSN 0/5000028\n\n"),
           std::string("1\t0/5000028\tafter 2026-11-26 15:11:25.269990+00\n\n\n"
                       "2\t0/6000028\tafter transaction 760\n\n"
                       "3\t0/7000028\tat restore point \"x\"\n\n"
                       "5\t0/8000028\treached consistency\n"),
       }) {
    CAPTURE(text);
    CHECK(TimelineHistory::Parse(text, 9).ToText() == text);
  }
}

TEST_CASE("TimelineHistory rejects malformed lines with their line number") {
  struct Case {
    const char* name;
    std::string text;
    std::uint64_t line;
  };
  const std::vector<Case> cases = {
      {"non-numeric tli", "x\t0/10\tr\n", 1},
      {"negative tli", "\n-1\t0/10\tr\n", 2},
      {"hex tli", "0x1\t0/10\tr\n", 1},
      {"tli with junk", "1a\t0/10\tr\n", 1},
      {"tli 0", "0\t0/10\tr\n", 1},
      {"tli beyond 32 bits", "4294967296\t0/10\tr\n", 1},
      {"missing switch point", "1\t0/10\tr\n# c\n2\n", 3},
      {"missing switch point after tab", "1\t\t\n", 1},
      {"switch point without slash", "1\t10\tr\n", 1},
      {"bad LSN", "1\t0/1G\tr\n", 1},
      {"LSN half too long", "1\t0/123456789\tr\n", 1},
      {"LSN with junk", "1\t0/10junk\tr\n", 1},
      {"LSN 0/0", "1\t0/0\tr\n", 1},
      {"tli not increasing", "1\t0/10\tr\n\n1\t0/20\tr\n", 3},
      {"tli decreasing", "2\t0/10\tr\n1\t0/20\tr\n", 2},
      {"tli equal to target", "1\t0/10\tr\n4\t0/20\tr\n", 2},
      {"tli above target", "5\t0/10\tr\n", 1},
      {"switch point going backwards", "1\t0/20\tr\n\n\n2\t0/1F\tr\n", 4},
      {"NUL byte in tli", std::string("1\0\t0/10\tr\n", 10), 1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    pgha::Error e = ParseError(c.text, 4);
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(e.position() == c.line);
    CHECK(std::string(e.what()).find("line " + std::to_string(c.line)) != std::string::npos);
    CHECK_THROWS_AS(TimelineHistory::Parse(c.text, 4), pgha::Error);
  }
  CHECK(ParseError("", 0).code() == ErrorCode::kBadInput);
  CHECK_THROWS_AS(TimelineHistory(0), pgha::Error);
}

TEST_CASE("TimelineHistory::Read names its errors") {
  auto code_of = [](const std::string& path, pgha::TimelineId tli) {
    try {
      TimelineHistory::Read(path, tli);
    } catch (const pgha::Error& e) {
      return e.code();
    }
    return ErrorCode::kOk;
  };
  CHECK(code_of(FixturePath(kDir + "00000009.history"), 0) == ErrorCode::kNotFound);
  CHECK(code_of(FixturePath(kDir + "timelines.tsv"), 0) == ErrorCode::kBadInput);
  CHECK(code_of(FixturePath(kDir + "00000003.history"), 2) == ErrorCode::kBadInput);
  CHECK(code_of(FixturePath(kDir + "00000003.history"), 0) == ErrorCode::kOk);
  CHECK(code_of(FixturePath(kDir), 7) == ErrorCode::kIo);
}

TEST_CASE("TimelineHistory survives mutated input") {
  std::string base = ReadText(FixturePath(kDir + "00000003.history"));
  std::mt19937 rng(7);
  std::string alphabet = "0123456789ABCDEFabcdef/\t\n\r #x";
  alphabet += '\0';
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(at, 1 + rng() % 4); break;
        default: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    auto r = TimelineHistory::TryParse(text, 3);
    if (r.ok()) {
      ++accepted;
      CHECK(TimelineHistory::Parse(r.value().ToText(), 3).entries() == r.value().entries());
    } else {
      CHECK(r.error().code() == ErrorCode::kBadInput);
      CHECK(r.error().position().has_value());
    }
  }
  CHECK(accepted > 0);
}
