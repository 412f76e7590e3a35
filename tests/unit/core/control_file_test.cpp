// global/pg_control decoded, against the real files of PostgreSQL 10-18 and what their
// pg_control_*() functions (and, for 15, pg_controldata) said about them.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control_layout.hpp"
#include "pgha/control_data.hpp"
#include "pgha/crc32c.hpp"
#include "pgha/error.hpp"
#include "test_support.hpp"

using nlohmann::json;
using pgha::ClusterStateName;
using pgha::ControlData;
using pgha::ErrorCode;
using pgha::Lsn;
using pgha::test::FixturePath;
using pgha::test::ReadBytes;
using pgha::test::ReadText;
namespace cl = pgha::control_layout;

namespace {

constexpr int kMajors[] = {10, 11, 12, 13, 14, 15, 16, 17, 18};

std::string CasePath(int major, const std::string& name, const std::string& ext) {
  return FixturePath("pg" + std::to_string(major) + "/control/" + name + ext);
}

// The cases of `major`'s fixtures: the names of its .pg_control files.
std::vector<std::string> CasesOf(int major) {
  std::vector<std::string> names;
  for (const std::string& file : pgha::test::ListFiles(
           FixturePath("pg" + std::to_string(major) + "/control"), ".pg_control")) {
    std::string base = file.substr(file.find_last_of('/') + 1);
    names.push_back(base.substr(0, base.size() - std::string(".pg_control").size()));
  }
  // shutdown, running, standby; 11 and later also promoted (tests/fixtures/README.md)
  REQUIRE(names.size() == (major >= 11 ? 4u : 3u));
  return names;
}

// A JSON value as pg_controldata would print it; bools as the label spells them.
std::string AsText(const json& v, const char* if_true = "on", const char* if_false = "off") {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? if_true : if_false;
  return v.dump();
}

bool NotFromThisFile(const json& sidecar, const std::string& key) {
  for (const auto& k : sidecar.at("not_from_this_file")) {
    if (k == key) return true;
  }
  return false;
}

void CheckTyped(const ControlData& c, const json& sidecar, int major) {
  const json& sql = sidecar.at("sql");
  const json& sys = sql.at("system");
  const json& ck = sql.at("checkpoint");
  const json& rec = sql.at("recovery");
  const json& init = sql.at("init");
  CHECK(c.control_version == sys.at("pg_control_version").get<std::uint32_t>());
  CHECK(c.catalog_version == sys.at("catalog_version_no").get<std::uint32_t>());
  CHECK(c.system_identifier == sys.at("system_identifier").get<std::uint64_t>());
  CHECK(ClusterStateName(c.state) == sidecar.at("state").get<std::string>());
  if (!NotFromThisFile(sidecar, "epoch.pg_control_last_modified")) {
    CHECK(c.last_modified == sql.at("epoch").at("pg_control_last_modified").get<std::int64_t>());
  }
  CHECK(c.checkpoint == Lsn::Parse(ck.at("checkpoint_lsn").get<std::string>()));
  CHECK(c.prior_checkpoint.has_value() == (major == 10));
  if (major == 10) CHECK(*c.prior_checkpoint == Lsn::Parse(ck.at("prior_lsn").get<std::string>()));
  CHECK(c.redo == Lsn::Parse(ck.at("redo_lsn").get<std::string>()));
  CHECK(c.redo_wal_file == ck.at("redo_wal_file").get<std::string>());
  CHECK(c.timeline == ck.at("timeline_id").get<std::uint32_t>());
  CHECK(c.prev_timeline == ck.at("prev_timeline_id").get<std::uint32_t>());
  CHECK(c.full_page_writes == ck.at("full_page_writes").get<bool>());
  CHECK(c.next_xid == ck.at("next_xid").get<std::string>());
  CHECK(c.checkpoint_time == sql.at("epoch").at("checkpoint_time").get<std::int64_t>());
  CHECK(c.min_recovery_end == Lsn::Parse(rec.at("min_recovery_end_lsn").get<std::string>()));
  CHECK(c.min_recovery_end_timeline == rec.at("min_recovery_end_timeline").get<std::uint32_t>());
  CHECK(c.backup_start == Lsn::Parse(rec.at("backup_start_lsn").get<std::string>()));
  CHECK(c.backup_end == Lsn::Parse(rec.at("backup_end_lsn").get<std::string>()));
  CHECK(c.end_of_backup_required == rec.at("end_of_backup_record_required").get<bool>());
  CHECK(c.wal_level == sql.at("settings").at("wal_level").get<std::string>());
  CHECK(c.wal_log_hints == (sql.at("settings").at("wal_log_hints") == "on"));
  CHECK(c.block_size == init.at("database_block_size").get<std::uint32_t>());
  CHECK(c.wal_block_size == init.at("wal_block_size").get<std::uint32_t>());
  CHECK(c.wal_segment_size == init.at("bytes_per_wal_segment").get<std::uint32_t>());
  CHECK(c.data_checksum_version == init.at("data_page_checksum_version").get<std::uint32_t>());
  CHECK(c.MajorVersionLowerBound() <= major);
}

// The `fields` the functions also report, label by label.
void CheckFields(const ControlData& c, const json& sql, int major) {
  struct Pair {
    const char* label;
    const char* group;
    const char* column;
  };
  static constexpr Pair kPairs[] = {
      {"Latest checkpoint's NextOID", "checkpoint", "next_oid"},
      {"Latest checkpoint's NextMultiXactId", "checkpoint", "next_multixact_id"},
      {"Latest checkpoint's NextMultiOffset", "checkpoint", "next_multi_offset"},
      {"Latest checkpoint's oldestXID", "checkpoint", "oldest_xid"},
      {"Latest checkpoint's oldestXID's DB", "checkpoint", "oldest_xid_dbid"},
      {"Latest checkpoint's oldestActiveXID", "checkpoint", "oldest_active_xid"},
      {"Latest checkpoint's oldestMultiXid", "checkpoint", "oldest_multi_xid"},
      {"Latest checkpoint's oldestMulti's DB", "checkpoint", "oldest_multi_dbid"},
      {"Latest checkpoint's oldestCommitTsXid", "checkpoint", "oldest_commit_ts_xid"},
      {"Latest checkpoint's newestCommitTsXid", "checkpoint", "newest_commit_ts_xid"},
      {"Maximum data alignment", "init", "max_data_alignment"},
      {"Blocks per segment of large relation", "init", "blocks_per_segment"},
      {"Maximum length of identifiers", "init", "max_identifier_length"},
      {"Maximum columns in an index", "init", "max_index_columns"},
      {"Maximum size of a TOAST chunk", "init", "max_toast_chunk_size"},
      {"Size of a large-object chunk", "init", "large_object_chunk_size"},
  };
  for (const Pair& p : kPairs) {
    CAPTURE(p.label);
    REQUIRE(c.fields.count(p.label) == 1);
    CHECK(c.fields.at(p.label) == AsText(sql.at(p.group).at(p.column)));
  }
  const json& init = sql.at("init");
  CHECK(c.fields.at("Float8 argument passing") ==
        AsText(init.at("float8_pass_by_value"), "by value", "by reference"));
  CHECK(c.fields.count("Float4 argument passing") == (major <= 12 ? 1u : 0u));
  if (major <= 12) {
    CHECK(c.fields.at("Float4 argument passing") ==
          AsText(init.at("float4_pass_by_value"), "by value", "by reference"));
  }
  CHECK(c.fields.count("max_wal_senders setting") == (major >= 12 ? 1u : 0u));
  CHECK(c.fields.count("Default char data signedness") == (major >= 18 ? 1u : 0u));
  if (major >= 18) {
    CHECK(c.fields.at("Default char data signedness") ==
          AsText(init.at("default_char_signedness"), "signed", "unsigned"));
  }
}

std::vector<std::uint8_t> Pg(int major, const std::string& name) {
  return ReadBytes(CasePath(major, name, ".pg_control"));
}

void PutLittleEndian32(std::vector<std::uint8_t>* bytes, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) (*bytes)[at + static_cast<std::size_t>(i)] = (v >> (8 * i)) & 0xFF;
}

// `bytes` with a fresh CRC, so that a test reaches the checks after it.
std::vector<std::uint8_t> Resealed(std::vector<std::uint8_t> bytes, std::uint32_t version) {
  std::size_t crc_at = cl::FindSpec(version)->offset[cl::kCrc];
  PutLittleEndian32(&bytes, crc_at, pgha::Crc32c(bytes.data(), crc_at));
  return bytes;
}

pgha::Error DecodeError(const std::vector<std::uint8_t>& bytes) {
  auto r = ControlData::TryDecode(bytes.data(), bytes.size());
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("pg_control of PostgreSQL 10-18 decodes as their pg_control_*() functions said") {
  for (int major : kMajors) {
    for (const std::string& name : CasesOf(major)) {
      CAPTURE(major);
      CAPTURE(name);
      json sidecar = json::parse(ReadText(CasePath(major, name, ".json")));
      ControlData c = ControlData::Read(CasePath(major, name, ".pg_control"));
      CheckTyped(c, sidecar, major);
      CheckFields(c, sidecar.at("sql"), major);
    }
  }
}

TEST_CASE("pg_control layouts: 13 to 16 share 1300, the others have a version each") {
  for (int major : kMajors) {
    CAPTURE(major);
    ControlData c = ControlData::Decode(Pg(major, "shutdown"));
    const cl::Spec* spec = cl::FindSpec(c.control_version);
    REQUIRE(spec != nullptr);
    CHECK(spec->first_major <= major);
    CHECK(major <= spec->last_major);
  }
  CHECK(ControlData::Decode(Pg(10, "running")).checkpoint != Lsn());
  // What makes each case worth having: a shutdown checkpoint, whose REDO is the checkpoint
  // record itself; a standby's minimum recovery point; a new timeline. So the fields compared
  // above were not all zero or one.
  for (int major : kMajors) {
    CAPTURE(major);
    ControlData down = ControlData::Decode(Pg(major, "shutdown"));
    CHECK(down.redo == down.checkpoint);
    CHECK(down.CleanlyShutDown());
    CHECK_FALSE(ControlData::Decode(Pg(major, "running")).CleanlyShutDown());
    ControlData standby = ControlData::Decode(Pg(major, "standby"));
    CHECK(standby.state == pgha::ClusterState::kInArchiveRecovery);
    CHECK(standby.min_recovery_end > standby.redo);
    CHECK(standby.min_recovery_end_timeline == 1);
    if (major >= 11) {
      ControlData promoted = ControlData::Decode(Pg(major, "promoted"));
      CHECK(promoted.timeline == 2);
      CHECK(promoted.redo_wal_file.substr(0, 8) == "00000002");
      CHECK(promoted.system_identifier == down.system_identifier);
    }
  }
}

TEST_CASE("pg_control of Debian's 15 decodes to what its pg_controldata printed") {
  for (const std::string& name : CasesOf(15)) {
    CAPTURE(name);
    ControlData decoded = ControlData::Decode(Pg(15, name));
    ControlData parsed = ControlData::Parse(ReadText(CasePath(15, name, ".txt")));
    // Every line, as LC_ALL=C TZ=UTC prints it, but the nonce, which Decode leaves out.
    REQUIRE(parsed.fields.erase("Mock authentication nonce") == 1);
    CHECK(decoded.fields == parsed.fields);
    CHECK(decoded.control_version == parsed.control_version);
    CHECK(decoded.catalog_version == parsed.catalog_version);
    CHECK(decoded.system_identifier == parsed.system_identifier);
    CHECK(decoded.state == parsed.state);
    CHECK(decoded.checkpoint == parsed.checkpoint);
    CHECK(decoded.redo == parsed.redo);
    CHECK(decoded.redo_wal_file == parsed.redo_wal_file);
    CHECK(decoded.timeline == parsed.timeline);
    CHECK(decoded.prev_timeline == parsed.prev_timeline);
    CHECK(decoded.full_page_writes == parsed.full_page_writes);
    CHECK(decoded.next_xid == parsed.next_xid);
    CHECK(decoded.min_recovery_end == parsed.min_recovery_end);
    CHECK(decoded.min_recovery_end_timeline == parsed.min_recovery_end_timeline);
    CHECK(decoded.backup_start == parsed.backup_start);
    CHECK(decoded.backup_end == parsed.backup_end);
    CHECK(decoded.end_of_backup_required == parsed.end_of_backup_required);
    CHECK(decoded.wal_level == parsed.wal_level);
    CHECK(decoded.wal_log_hints == parsed.wal_log_hints);
    CHECK(decoded.block_size == parsed.block_size);
    CHECK(decoded.wal_segment_size == parsed.wal_segment_size);
    CHECK(decoded.wal_block_size == parsed.wal_block_size);
    CHECK(decoded.data_checksum_version == parsed.data_checksum_version);
    CHECK_FALSE(parsed.checkpoint_time.has_value());  // %c in the caller's zone: not parsed
  }
}

TEST_CASE("pg_control with a damaged byte fails its CRC-32C, naming stored and computed") {
  for (int major : kMajors) {
    CAPTURE(major);
    std::vector<std::uint8_t> good = Pg(major, "running");
    const cl::Spec* spec = cl::FindSpec(ControlData::Decode(good).control_version);
    std::size_t crc_at = spec->offset[cl::kCrc];
    for (std::size_t at : {std::size_t{0}, std::size_t{40}, crc_at - 1, crc_at, crc_at + 3}) {
      CAPTURE(at);
      std::vector<std::uint8_t> bad = good;
      bad[at] ^= 0x10;
      pgha::Error e = DecodeError(bad);
      CHECK(e.code() == ErrorCode::kBadInput);
      CHECK(std::string(e.what()).find("CRC-32C mismatch: stored 0x") != std::string::npos);
      CHECK(std::string(e.what()).find("computed 0x") != std::string::npos);
      CHECK(e.position() == crc_at);
      CHECK_NOTHROW(ControlData::Decode(bad, /*verify_checksum=*/false));
    }
    // Bytes after the CRC are not covered, as in PostgreSQL.
    std::vector<std::uint8_t> tail = good;
    tail[4000] ^= 0xFF;
    CHECK_NOTHROW(ControlData::Decode(tail));
  }
}

TEST_CASE("pg_control that is truncated, too long or of an unknown version is refused") {
  std::vector<std::uint8_t> good = Pg(17, "shutdown");
  std::size_t need = cl::FindSpec(1700)->StructSize();
  for (std::size_t size : {std::size_t{0}, std::size_t{11}, std::size_t{12}, need - 1}) {
    CAPTURE(size);
    std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<long>(size));
    pgha::Error e = DecodeError(cut);
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find(std::to_string(size) + " bytes") != std::string::npos);
    CHECK(e.position() == size);
  }
  std::vector<std::uint8_t> exact(good.begin(), good.begin() + static_cast<long>(need));
  CHECK(ControlData::Decode(exact).checkpoint == ControlData::Decode(good).checkpoint);
  std::vector<std::uint8_t> longer = good;
  longer.push_back(0);
  CHECK(std::string(DecodeError(longer).what()).find("longer than the 8192") != std::string::npos);

  std::vector<std::uint8_t> unknown = good;
  PutLittleEndian32(&unknown, 8, 1301);
  pgha::Error e = DecodeError(unknown);
  CHECK(e.code() == ErrorCode::kBadInput);
  CHECK(std::string(e.what()).find("1301 is not one of PostgreSQL 10-18's") != std::string::npos);
  CHECK(e.position() == 8);
  std::vector<std::uint8_t> swapped = good;
  for (std::size_t i = 0; i < 4; ++i) swapped[8 + i] = good[11 - i];
  CHECK(std::string(DecodeError(swapped).what()).find("byte-swapped") != std::string::npos);
}

TEST_CASE("pg_control values outside PostgreSQL's are refused even with a good CRC") {
  std::vector<std::uint8_t> good = Pg(16, "shutdown");
  const cl::Spec& spec = *cl::FindSpec(1300);
  struct Case {
    cl::Field field;
    std::uint32_t value;
    const char* says;
  };
  for (const Case& c :
       {Case{cl::kState, 7, "cluster state 7"}, Case{cl::kWalLevel, 3, "wal_level 3"},
        Case{cl::kWalSegSize, 3u << 20, "WAL segment size 3145728"},
        Case{cl::kWalSegSize, 512u << 10, "WAL segment size 524288"}}) {
    CAPTURE(c.says);
    std::vector<std::uint8_t> bad = good;
    PutLittleEndian32(&bad, spec.offset[c.field], c.value);
    pgha::Error e = DecodeError(Resealed(bad, 1300));
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find(c.says) != std::string::npos);
    CHECK(e.position() == spec.offset[c.field]);
  }
}

TEST_CASE("pg_control read from a path or a data directory; missing files are kNotFound") {
  ControlData c = ControlData::Read(CasePath(18, "shutdown", ".pg_control"));
  CHECK(c.control_version == 1800);
  auto dir =
      std::filesystem::temp_directory_path() / ("pgha-control-test-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir / "global");
  std::filesystem::copy_file(CasePath(18, "shutdown", ".pg_control"), dir / "global/pg_control");
  CHECK(ControlData::ReadDataDirectory(dir.string()).checkpoint == c.checkpoint);
  try {
    ControlData::Read((dir / "nope").string());
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
  }
  try {
    ControlData::Read((dir / "global").string());  // a directory
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
  }
  std::filesystem::resize_file(dir / "global/pg_control", 100);
  try {
    ControlData::ReadDataDirectory(dir.string());
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find("global/pg_control\": pg_control is 100 bytes") !=
          std::string::npos);
  }
  std::filesystem::remove_all(dir);
}
