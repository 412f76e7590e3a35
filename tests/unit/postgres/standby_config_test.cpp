// Quoting of conninfo and postgresql.conf values, standby configuration files, pg_hba.conf.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "conninfo.hpp"
#include "pgha/error.hpp"
#include "pgha/instance.hpp"
#include "server_files.hpp"
#include "standby_config.hpp"

using pgha::ErrorCode;

namespace {

// Reads one quoted postgresql.conf string the way GUC_scanstr does: '' and \x escapes.
std::string UnquoteGuc(const std::string& quoted) {
  REQUIRE(quoted.size() >= 2);
  REQUIRE(quoted.front() == '\'');
  REQUIRE(quoted.back() == '\'');
  std::string out;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '\'') {
      REQUIRE(quoted[i + 1] == '\'');  // a lone quote would end the literal early
      out += '\'';
      ++i;
    } else if (c == '\\') {
      out += quoted[++i];
    } else {
      out += c;
    }
  }
  return out;
}

// Parses a libpq conninfo string of key='value' pairs (conninfo_parse's quoting rules).
std::map<std::string, std::string> ParseConninfo(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t eq = text.find('=', i);
    REQUIRE(eq != std::string::npos);
    std::string key = text.substr(i, eq - i);
    i = eq + 1;
    REQUIRE(text[i] == '\'');
    std::string value;
    for (++i; i < text.size() && text[i] != '\''; ++i)
      value += text[i] == '\\' ? text[++i] : text[i];
    REQUIRE(i < text.size());
    ++i;
    kv[key] = value;
  }
  return kv;
}

std::map<std::string, std::string> Settings(const std::string& file) {
  std::map<std::string, std::string> s;
  std::size_t pos = 0;
  while (pos < file.size()) {
    std::size_t nl = file.find('\n', pos);
    std::string line = file.substr(pos, nl - pos);
    pos = nl == std::string::npos ? file.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    std::size_t eq = line.find(" = ");
    REQUIRE(eq != std::string::npos);
    CHECK(s.count(line.substr(0, eq)) == 0);
    s[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return s;
}

pgha::StandbyConfig Config() {
  pgha::StandbyConfig c;
  c.primary_host = "10.0.0.5";
  c.primary_port = 5433;
  c.user = "replicate";
  return c;
}

}  // namespace

TEST_CASE("Conninfo and postgresql.conf quoting round-trip any printable value") {
  for (std::string v : {"plain", "it's", "back\\slash", "\\'", "''", "a b=c", "\\\\'x'\\",
                        "trailing\\", "ünïcödé"}) {
    CAPTURE(v);
    CHECK(UnquoteGuc(pgha::pg::QuoteGucString(v)) == v);
    auto kv = ParseConninfo("k=" + pgha::pg::QuoteConninfoValue(v));
    CHECK(kv["k"] == v);
    // Both layers, as primary_conninfo is written.
    std::string conninfo = pgha::pg::BuildConninfo({{"host", "h"}, {"password", v}});
    CHECK(ParseConninfo(UnquoteGuc(pgha::pg::QuoteGucString(conninfo)))["password"] == v);
  }
  CHECK(pgha::pg::QuoteConninfoValue("it's") == "'it\\'s'");
  CHECK(pgha::pg::QuoteGucString("it's a\\b") == "'it''s a\\\\b'");
  CHECK(pgha::pg::BuildConninfo({{"host", "h"}, {"password", ""}, {"port", "1"}}) ==
        "host='h' port='1'");
}

TEST_CASE("Standby settings for PostgreSQL 12+ go to pgha.conf") {
  auto c = Config();
  c.password = "s3cr'et\\";
  c.application_name = "node2";
  c.slot_name = "node2_slot";
  c.apply_delay = "5min";
  auto s = Settings(pgha::pg::RenderPghaConf(c));
  CHECK(s.size() == 4);
  auto kv = ParseConninfo(UnquoteGuc(s["primary_conninfo"]));
  CHECK(kv == std::map<std::string, std::string>{{"host", "10.0.0.5"},
                                                 {"port", "5433"},
                                                 {"user", "replicate"},
                                                 {"password", "s3cr'et\\"},
                                                 {"application_name", "node2"}});
  CHECK(UnquoteGuc(s["primary_slot_name"]) == "node2_slot");
  CHECK(UnquoteGuc(s["recovery_target_timeline"]) == "latest");
  CHECK(UnquoteGuc(s["recovery_min_apply_delay"]) == "5min");
  CHECK(s.count("standby_mode") == 0);

  // Optional settings are left out when empty.
  auto minimal = Settings(pgha::pg::RenderPghaConf(Config()));
  CHECK(minimal.size() == 2);
  CHECK(ParseConninfo(UnquoteGuc(minimal["primary_conninfo"])).count("password") == 0);
}

TEST_CASE("Rewriting pgha.conf replaces standby settings and keeps other lines") {
  std::string existing =
      "# Standby settings written by pgha; pgha rewrites this file, do not edit it.\n"
      "work_mem = '8MB'\n"
      "primary_conninfo = 'host=''old'''\n"
      "  Primary_Slot_Name='old_slot'\n"
      "recovery_min_apply_delay = '1h'\n";
  std::string text = pgha::pg::RenderPghaConf(Config(), existing);
  auto s = Settings(text);
  CHECK(s["work_mem"] == "'8MB'");
  CHECK(s.count("primary_slot_name") == 0);
  CHECK(s.count("recovery_min_apply_delay") == 0);
  CHECK(ParseConninfo(UnquoteGuc(s["primary_conninfo"]))["host"] == "10.0.0.5");
  CHECK(text.find("Primary_Slot_Name") == std::string::npos);
  CHECK(pgha::pg::StripStandbySettings(existing).find("primary") == std::string::npos);
  CHECK(pgha::pg::StripStandbySettings(existing).find("work_mem = '8MB'") != std::string::npos);
}

TEST_CASE("synchronous_standby_names names the standbys as quoted application names") {
  using pgha::SynchronousStandbys;
  CHECK(pgha::pg::SynchronousStandbyNames(SynchronousStandbys{}) == "");
  CHECK(pgha::pg::SynchronousStandbyNames(SynchronousStandbys{{"pg-node02"}, 1}) ==
        "ANY 1 (\"pg-node02\")");
  CHECK(pgha::pg::SynchronousStandbyNames(SynchronousStandbys{{"b", "Node C"}, 2}) ==
        "ANY 2 (\"b\", \"Node C\")");
  for (const SynchronousStandbys& bad :
       std::vector<SynchronousStandbys>{{{"a"}, 0},
                                        {{"a"}, 2},
                                        {{""}, 1},
                                        {{"a\"b"}, 1},
                                        {{"tab\there"}, 1},
                                        {{std::string(64, 'n')}, 1}}) {
    try {
      pgha::pg::SynchronousStandbyNames(bad);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}

TEST_CASE("synchronous_standby_names is set, replaced and removed in pgha.conf, nothing else") {
  using pgha::pg::WithSynchronousStandbyNames;
  std::string standby = pgha::pg::RenderPghaConf(Config());
  std::string set = WithSynchronousStandbyNames(standby, "ANY 1 (\"n2\")").value();
  auto s = Settings(set);
  CHECK(UnquoteGuc(s["synchronous_standby_names"]) == "ANY 1 (\"n2\")");
  CHECK(s["primary_conninfo"] == Settings(standby)["primary_conninfo"]);
  CHECK(set.rfind("# Standby settings written by pgha", 0) == 0);
  // Replaced, not repeated; nothing to write when it already says so.
  std::string again = WithSynchronousStandbyNames(set, "ANY 1 (\"n3\")").value();
  CHECK(again.find("n2") == std::string::npos);
  CHECK_FALSE(WithSynchronousStandbyNames(again, "ANY 1 (\"n3\")").has_value());
  CHECK_FALSE(WithSynchronousStandbyNames(standby, "").has_value());
  CHECK_FALSE(WithSynchronousStandbyNames("", "").has_value());
  // A standby rewrite, a promotion or a return to primary keeps it.
  std::string rewritten = pgha::pg::RenderPghaConf(Config(), again);
  CHECK(Settings(rewritten).count("synchronous_standby_names"));
  CHECK_FALSE(WithSynchronousStandbyNames(rewritten, "ANY 1 (\"n3\")").has_value());
  std::string stripped = pgha::pg::StripStandbySettings(again);
  CHECK(Settings(stripped).count("synchronous_standby_names"));
  CHECK_FALSE(WithSynchronousStandbyNames(stripped, "ANY 1 (\"n3\")").has_value());
  // Removed, other lines kept; a repeated line becomes one.
  std::string off =
      WithSynchronousStandbyNames("work_mem = '8MB'\n  Synchronous_Standby_Names = '*'\n", "")
          .value();
  CHECK(Settings(off).count("synchronous_standby_names") == 0);
  CHECK(off.find("Synchronous_Standby_Names") == std::string::npos);
  CHECK(Settings(off)["work_mem"] == "'8MB'");
  std::string twice = set + "synchronous_standby_names = 'ANY 1 (\"n2\")'\n";
  CHECK(Settings(WithSynchronousStandbyNames(twice, "ANY 1 (\"n2\")").value())
            .count("synchronous_standby_names") == 1);
}

TEST_CASE("Standby settings for PostgreSQL 10-11 go to recovery.conf with standby_mode") {
  auto c = Config();
  c.apply_delay = "300s";
  auto s = Settings(pgha::pg::RenderRecoveryConf(c));
  CHECK(UnquoteGuc(s["standby_mode"]) == "on");
  CHECK(UnquoteGuc(s["recovery_target_timeline"]) == "latest");
  CHECK(UnquoteGuc(s["recovery_min_apply_delay"]) == "300s");
  CHECK(ParseConninfo(UnquoteGuc(s["primary_conninfo"]))["port"] == "5433");
}

TEST_CASE("Standby configuration values are validated") {
  struct Bad {
    const char* field;
    std::string value;
  };
  for (const Bad& b : std::vector<Bad>{{"host", ""},
                                       {"host", "a b"},
                                       {"host", "h'x"},
                                       {"host", "h\nprimary_slot_name=x"},
                                       {"user", ""},
                                       {"user", "re\"p"},
                                       {"user", std::string(64, 'u')},
                                       {"password", "line\nbreak"},
                                       {"slot", "Upper"},
                                       {"slot", "has-dash"},
                                       {"slot", std::string(64, 's')},
                                       {"delay", "5 minutes"},
                                       {"delay", "-1"},
                                       {"delay", "min"},
                                       {"delay", "5min;"},
                                       {"delay", "5 "},
                                       {"delay", "1.5h"},
                                       {"app", "tab\there"}}) {
    CAPTURE(b.field);
    CAPTURE(b.value);
    auto c = Config();
    std::string f = b.field;
    if (f == "host") c.primary_host = b.value;
    if (f == "user") c.user = b.value;
    if (f == "password") c.password = b.value;
    if (f == "slot") c.slot_name = b.value;
    if (f == "delay") c.apply_delay = b.value;
    if (f == "app") c.application_name = b.value;
    try {
      pgha::pg::RenderPghaConf(c);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
      // A password is never quoted (messages reach logs and HTTP answers).
      if (f == "password") CHECK(std::string(e.what()).find("line") == std::string::npos);
    }
  }
  for (const std::string& secret : {std::string("s3cret\nx"), std::string(2000, 's')}) {
    try {
      pgha::pg::CheckSecret(secret, "DB_PASSWD");
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
      CHECK(std::string(e.what()).find("DB_PASSWD (") == 0);
      CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
      CHECK(std::string(e.what()).find("sss") == std::string::npos);
    }
  }
  CHECK_NOTHROW(pgha::pg::CheckSecret("it's a 'good' one\\", "password"));
  auto c = Config();
  c.primary_port = 0;
  CHECK_THROWS_AS(pgha::pg::RenderRecoveryConf(c), pgha::Error);
  for (const char* ok : {"0", "5min", "300s", "250ms", "2h", "1d", "10 s", "1500"}) {
    std::string shown(ok);
    CAPTURE(shown);
    CHECK_NOTHROW(pgha::pg::CheckApplyDelay(ok));
  }
  for (const char* ok : {"a", "node_2", "0abc"}) CHECK_NOTHROW(pgha::pg::CheckSlotName(ok));
  for (const char* ok : {"db.example.com", "::1", "fe80::1%eth0", "/tmp"})
    CHECK_NOTHROW(pgha::pg::CheckHost(ok, "host"));
}

TEST_CASE("The include line of pgha.conf is found or appended once") {
  CHECK(pgha::pg::HasPghaInclude("include_if_exists = 'pgha.conf'\n"));
  CHECK(pgha::pg::HasPghaInclude("x = 1\n  include_if_exists='pgha.conf'  # ours"));
  CHECK(pgha::pg::HasPghaInclude("include 'pgha.conf'\n"));
  CHECK_FALSE(pgha::pg::HasPghaInclude("#include_if_exists = 'pgha.conf'\n"));
  CHECK_FALSE(pgha::pg::HasPghaInclude("include_if_exists = 'other.conf'\n"));
  CHECK_FALSE(pgha::pg::HasPghaInclude(""));
  std::string conf = pgha::pg::AppendPghaInclude("port = 5432");
  CHECK(conf.rfind("port = 5432\n", 0) == 0);
  CHECK(pgha::pg::HasPghaInclude(conf));
  CHECK(conf.substr(conf.size() - 32) == "include_if_exists = 'pgha.conf'\n");
}

TEST_CASE("pg_hba.conf follows the seed's sample with scram instead of md5") {
  pgha::InitOptions o;
  o.subnet = "10.137.91.0";
  o.mask = 24;
  o.replicate_user = "replicate";
  std::string hba = pgha::pg::RenderPgHba(o, "postgres");
  std::vector<std::vector<std::string>> rows;
  std::size_t pos = 0;
  while (pos < hba.size()) {
    std::size_t nl = hba.find('\n', pos);
    std::string line = hba.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      std::size_t end = line.find(' ', i);
      if (i < line.size()) fields.push_back(line.substr(i, end - i));
      i = end == std::string::npos ? line.size() : end;
    }
    rows.push_back(fields);
  }
  using Row = std::vector<std::string>;
  CHECK(rows == std::vector<Row>{
                    Row{"local", "all", "all", "trust"},
                    Row{"host", "all", "all", "127.0.0.1/32", "trust"},
                    Row{"host", "all", "all", "::1/128", "trust"},
                    Row{"local", "replication", "all", "trust"},
                    Row{"host", "replication", "all", "127.0.0.1/32", "trust"},
                    Row{"host", "replication", "all", "::1/128", "trust"},
                    Row{"host", "replication", "\"replicate\"", "10.137.91.0/24", "scram-sha-256"},
                    Row{"host", "all", "all", "0.0.0.0/0", "scram-sha-256"},
                    Row{"host", "all", "all", "::/0", "scram-sha-256"},
                });
  CHECK(hba.find("md5") == hba.find("md5 hashes"));  // only in the comment

  o.subnet = "fd00::";
  o.mask = 64;
  CHECK(pgha::pg::RenderPgHba(o, "postgres").find("fd00::/64") != std::string::npos);
  struct Bad {
    std::string subnet;
    int mask;
    std::string user;
  };
  for (const Bad& b : std::vector<Bad>{{"10.0.0.0", 33, "r"},
                                       {"10.0.0.0", -1, "r"},
                                       {"fd00::", 129, "r"},
                                       {"10.0.0", 8, "r"},
                                       {"10.0.0.0/8", 8, "r"},
                                       {"example.com", 8, "r"},
                                       {"", 0, "r"},
                                       {"10.0.0.0 trust", 8, "r"},
                                       {"10.0.0.0", 8, "a\"b"},
                                       {"10.0.0.0", 8, ""}}) {
    CAPTURE(b.subnet);
    CAPTURE(b.mask);
    o.subnet = b.subnet;
    o.mask = b.mask;
    o.replicate_user = b.user;
    try {
      pgha::pg::RenderPgHba(o, "postgres");
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}

TEST_CASE("pg_hba.conf without local trust: peer for the superuser, scram for everything else") {
  pgha::InitOptions o;
  o.subnet = "192.0.2.0";
  o.mask = 24;
  o.local_trust = false;
  std::string hba = pgha::pg::RenderPgHba(o, "postgres");
  CHECK(hba.find("md5") == std::string::npos);
  CHECK(
      hba.find("local   all             \"postgres\"                              peer map=pgha") !=
      std::string::npos);
  // Every line but the superuser's peer line asks for scram.
  std::size_t lines = 0;
  std::size_t scram = 0;
  std::size_t pos = 0;
  while (pos < hba.size()) {
    std::size_t nl = hba.find('\n', pos);
    std::string line = hba.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    ++lines;
    CHECK(line.find("trust") == std::string::npos);
    if (line.size() > 13 && line.compare(line.size() - 13, 13, "scram-sha-256") == 0) ++scram;
  }
  CHECK(lines == 8);
  CHECK(scram == 7);
  CHECK(hba.find(
            "host    replication     \"replicate\"     192.0.2.0/24            scram-sha-256\n") !=
        std::string::npos);
  try {
    pgha::pg::RenderPgHba(o, "bad\"name");
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
  }
}

TEST_CASE("pg_ident.conf maps each account once to the superuser") {
  std::string ident = pgha::pg::RenderPgIdent({"postgres", "root", "postgres"}, "postgres");
  CHECK(ident.find("pgha    postgres        \"postgres\"\n") != std::string::npos);
  CHECK(ident.find("pgha    root            \"postgres\"\n") != std::string::npos);
  CHECK(ident.find("postgres        \"postgres\"") == ident.rfind("postgres        \"postgres\""));
}

TEST_CASE("a passfile escapes ':' and '\\' and never shows a refused password") {
  using pgha::pg::PassfileEntry;
  CHECK(
      pgha::pg::RenderPassfile({{"replicate", "a:b\\c"}, {"postgres", ""}, {"pgha_rewind", "x"}}) ==
      "*:*:*:replicate:a\\:b\\\\c\n*:*:*:pgha_rewind:x\n");
  CHECK(pgha::pg::RenderPassfile({}).empty());
  try {
    pgha::pg::RenderPassfile({{"replicate", "line\nbreak-secret"}});
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find("secret") == std::string::npos);
  }
}

TEST_CASE("Init's postgresql.conf block has the replication essentials and ends with the include") {
  pgha::InitOptions o;
  o.settings = {{"fsync", "off"}, {"log_line_prefix", "%m it's"}};
  std::string block = pgha::pg::RenderServerSettings(o, 15);
  auto s = Settings(block);
  CHECK(UnquoteGuc(s["wal_level"]) == "logical");
  CHECK(UnquoteGuc(s["hot_standby"]) == "on");
  CHECK(UnquoteGuc(s["wal_log_hints"]) == "on");
  CHECK(UnquoteGuc(s["hot_standby_feedback"]) == "on");
  CHECK(UnquoteGuc(s["wal_keep_size"]) == "1024MB");
  CHECK(UnquoteGuc(s["password_encryption"]) == "scram-sha-256");
  CHECK(UnquoteGuc(s["log_line_prefix"]) == "%m it's");
  CHECK(s.count("listen_addresses") == 0);
  CHECK(s.count("port") == 0);
  CHECK(s.count("wal_keep_segments") == 0);
  CHECK(block.substr(block.size() - 32) == "include_if_exists = 'pgha.conf'\n");
  o.settings.clear();
  o.wal_segment_size_mb = 64;
  auto old = Settings(pgha::pg::RenderServerSettings(o, 12));
  CHECK(UnquoteGuc(old["wal_keep_segments"]) == "16");
  CHECK(old.count("wal_keep_size") == 0);
  for (const char* bad : {"", "1abc", "a b", "a=b", "x'"}) {
    std::string shown(bad);
    CAPTURE(shown);
    o.settings = {{bad, "1"}};
    CHECK_THROWS_AS(pgha::pg::RenderServerSettings(o, 15), pgha::Error);
  }
  o.settings = {{"fsync", "off\n"}};
  CHECK_THROWS_AS(pgha::pg::RenderServerSettings(o, 15), pgha::Error);
}

TEST_CASE("The parameters' include goes before pgha.conf's, once") {
  using pgha::pg::WithParametersInclude;
  const std::string inc = "include_if_exists = 'pgha.parameters.conf'\n";
  std::string conf = pgha::pg::AppendPghaInclude("port = 5432\n");
  auto with = WithParametersInclude(conf);
  REQUIRE(with);
  CHECK(with->find(inc) != std::string::npos);
  CHECK(with->find(inc) < with->find("include_if_exists = 'pgha.conf'"));
  CHECK(with->rfind("port = 5432\n", 0) == 0);
  CHECK(with->back() == '\n');
  CHECK_FALSE(WithParametersInclude(*with));  // once
  // No pgha.conf include yet: appended, and pgha.conf's comes after it later.
  auto plain = WithParametersInclude("port = 5432");
  REQUIRE(plain);
  CHECK(plain->find("port = 5432\n") == 0);
  CHECK(plain->substr(plain->size() - inc.size()) == inc);
  // A commented include is no include.
  CHECK(WithParametersInclude("#include_if_exists = 'pgha.parameters.conf'\n"));
}

TEST_CASE("pgha.parameters.conf quotes every value and checks every name") {
  std::string text =
      pgha::pg::RenderParametersConf({{"work_mem", "8MB"}, {"search_path", "a, 'b'"}});
  CHECK(text.find("work_mem = '8MB'\n") != std::string::npos);
  CHECK(text.find("search_path = 'a, ''b'''\n") != std::string::npos);
  for (const auto& bad : std::vector<std::pair<std::string, std::string>>{
           {"work mem", "1"}, {"", "1"}, {"x = 1\nfsync", "off"}, {"work_mem", "1\nfsync = off"}}) {
    CAPTURE(bad.first);
    try {
      pgha::pg::RenderParametersConf({bad});
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}
