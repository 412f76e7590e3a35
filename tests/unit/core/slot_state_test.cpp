#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "pgha/crc32c.hpp"
#include "pgha/error.hpp"
#include "pgha/slot_state.hpp"
#include "test_support.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::SlotLayout;
using pgha::SlotPersistency;
using pgha::SlotState;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Facts from reference §1.2, written down independently of src/core/slot_layout.hpp.
// Offsets are inside ReplicationSlotPersistentData (file offset = 16 + offset).
struct LayoutFacts {
  SlotLayout layout;
  std::uint32_t version;
  std::uint32_t length;
  std::size_t confirmed_flush;
  std::size_t plugin;
  bool has_two_phase;  // two_phase at 112
  bool has_failover;   // failover at 178
};
constexpr LayoutFacts kLayouts[] = {
    {SlotLayout::kPg10, 2, 160, 88, 96, false, false},
    {SlotLayout::kPg13, 2, 168, 96, 104, false, false},
    {SlotLayout::kPg14, 2, 184, 96, 113, true, false},
    {SlotLayout::kPg16, 3, 184, 96, 113, true, false},
    {SlotLayout::kPg17, 5, 184, 96, 113, true, true},
};
constexpr std::size_t kHeader = 16;

const LayoutFacts* FactsFor(std::uint32_t version, std::uint32_t length) {
  for (const LayoutFacts& f : kLayouts) {
    if (f.version == version && f.length == length) return &f;
  }
  return nullptr;
}
const LayoutFacts& FactsFor(SlotLayout l) {
  return kLayouts[static_cast<std::size_t>(l)];
}

struct Fixture {
  int major;
  std::string file;
  Bytes bytes;
  std::map<std::string, std::string> row;  // slots.tsv
};

std::vector<Fixture> LoadFixtures() {
  std::vector<Fixture> out;
  for (int major = 10; major <= 18; ++major) {
    std::string dir = pgha::test::FixturePath("pg" + std::to_string(major) + "/slots");
    auto rows = pgha::test::ReadTsv(dir + "/slots.tsv");
    for (const std::string& file : pgha::test::ListFiles(dir, ".state")) {
      Fixture f{major, file, pgha::test::ReadBytes(dir + "/" + file), {}};
      for (const auto& row : rows) {
        if (row.at("file") == file) f.row = row;
      }
      if (f.row.empty()) throw std::runtime_error(dir + "/slots.tsv has no row for " + file);
      out.push_back(std::move(f));
    }
  }
  return out;
}

const std::vector<Fixture>& Fixtures() {
  static const std::vector<Fixture> fixtures = LoadFixtures();
  return fixtures;
}

std::uint32_t NumCell(const std::string& cell) {  // empty = NULL = 0
  return cell.empty() ? 0u : static_cast<std::uint32_t>(std::stoul(cell));
}
Lsn LsnCell(const std::string& cell) {
  return cell.empty() ? Lsn() : Lsn::Parse(cell);
}

std::uint32_t Get32(const Bytes& b, std::size_t off) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
void Put32(Bytes& b, std::size_t off, std::uint32_t v) {
  std::memcpy(b.data() + off, &v, 4);
}
void Put64(Bytes& b, std::size_t off, std::uint64_t v) {
  std::memcpy(b.data() + off, &v, 8);
}
void FixCrc(Bytes& b) {
  Put32(b, 4, pgha::Crc32c(b.data() + 8, b.size() - 8));
}

// A new slot of `layout` with 4 bytes at file offset `off` set to `v`, and a valid CRC.
SlotState WithU32(SlotLayout layout, std::size_t off, std::uint32_t v) {
  Bytes b = SlotState::Create(layout, "s").Encode();
  Put32(b, off, v);
  FixCrc(b);
  return SlotState::Decode(b);
}

template <typename Fn>
ErrorCode CodeOf(Fn&& fn) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

bool Contains(const std::string& s, const char* word) {
  return s.find(word) != std::string::npos;
}

}  // namespace

TEST_CASE("slot layouts by major, name and size") {
  const SlotLayout by_major[] = {SlotLayout::kPg10, SlotLayout::kPg10, SlotLayout::kPg10,
                                 SlotLayout::kPg13, SlotLayout::kPg14, SlotLayout::kPg14,
                                 SlotLayout::kPg16, SlotLayout::kPg17, SlotLayout::kPg17};
  for (int major = 10; major <= 18; ++major) {
    CAPTURE(major);
    CHECK(pgha::SlotLayoutForMajor(major) == by_major[major - 10]);
  }
  for (int bad : {-1, 0, 9, 19, 100}) {
    CAPTURE(bad);
    CHECK(CodeOf([&] { pgha::SlotLayoutForMajor(bad); }) == ErrorCode::kBadInput);
  }
  const char* const names[] = {"10-12", "13", "14-15", "16", "17-18"};
  for (const LayoutFacts& f : kLayouts) {
    CHECK(pgha::SlotLayoutName(f.layout) == names[static_cast<std::size_t>(f.layout)]);
    CHECK(pgha::SlotFileSize(f.layout) == kHeader + f.length);
  }
  CHECK(pgha::SlotPersistencyName(SlotPersistency::kPersistent) == "persistent");
  CHECK(pgha::SlotPersistencyName(SlotPersistency::kEphemeral) == "ephemeral");
  CHECK(pgha::SlotPersistencyName(SlotPersistency::kTemporary) == "temporary");
}

TEST_CASE("slot state fixtures decode to what PostgreSQL reported and re-encode exactly") {
  REQUIRE(Fixtures().size() >= 9 * 4);
  for (const Fixture& f : Fixtures()) {
    CAPTURE(f.major);
    CAPTURE(f.file);
    const auto& row = f.row;
    SlotState s = SlotState::Decode(f.bytes);
    CHECK(s.layout() == pgha::SlotLayoutForMajor(f.major));
    CHECK(f.bytes.size() == pgha::SlotFileSize(s.layout()));
    CHECK(s.version() == FactsFor(s.layout()).version);
    CHECK(s.Encode() == f.bytes);
    CHECK(s.stored_checksum() == s.ComputeChecksum());
    CHECK(s.name() == row.at("slot_name"));
    CHECK(s.plugin() == row.at("plugin"));
    CHECK(s.database() == NumCell(row.at("datoid")));
    CHECK(s.is_logical() == (row.at("slot_type") == "logical"));
    CHECK((s.persistency() == SlotPersistency::kTemporary) == (row.at("temporary") == "t"));
    CHECK(s.xmin() == NumCell(row.at("xmin")));
    CHECK(s.catalog_xmin() == NumCell(row.at("catalog_xmin")));
    CHECK(s.restart_lsn() == LsnCell(row.at("restart_lsn")));
    CHECK(s.confirmed_flush() == LsnCell(row.at("confirmed_flush_lsn")));
    if (row.count("two_phase") != 0) {
      CHECK(s.two_phase() == (row.at("two_phase") == "t"));
      CHECK(s.two_phase_at().has_value());
    } else {
      CHECK_FALSE(s.two_phase());
      CHECK_FALSE(s.two_phase_at().has_value());
    }
    if (row.count("failover") != 0) {
      CHECK(s.failover() == (row.at("failover") == "t"));
      CHECK(s.synced() == (row.at("synced") == "t"));
    } else {
      CHECK_FALSE(s.failover());
      CHECK_FALSE(s.synced());
    }
    // The view's invalidation_reason (17+), else wal_status 'lost' (13-16: WAL removed).
    std::optional<std::string> want;
    if (row.count("invalidation_reason") != 0) {
      if (!row.at("invalidation_reason").empty()) want = row.at("invalidation_reason");
    } else if (row.count("wal_status") != 0 && row.at("wal_status") == "lost") {
      want = "wal_removed";
    }
    CHECK(s.InvalidationReason(f.major) == want);
    if (!want || *want == "wal_removed") CHECK(s.InvalidationReason() == want);
    CHECK(s.invalidated_at().has_value() == (f.major >= 13 && f.major <= 15));
    CHECK(s.invalidated().has_value() == (f.major >= 16));
  }
}

TEST_CASE("every flipped byte of every fixture is rejected, naming the failed check") {
  enum Check { kMagic, kChecksum, kVersionLength };
  const char* const kWord[] = {"magic", "checksum", "SLOT_VERSION"};
  const std::uint64_t kPos[] = {0, 4, 8};
  for (const Fixture& f : Fixtures()) {
    CAPTURE(f.major);
    CAPTURE(f.file);
    for (std::size_t i = 0; i < f.bytes.size(); ++i) {
      for (std::uint8_t mask : {std::uint8_t{0xFF}, std::uint8_t{0x01}}) {
        Bytes b = f.bytes;
        b[i] = static_cast<std::uint8_t>(b[i] ^ mask);
        Check want = i < 4 ? kMagic : (i < 8 || i >= 16) ? kChecksum : kVersionLength;
        // A flip can turn one known (version, length) pair into another of the same size,
        // e.g. version 2 -> 3 at length 184; then only the checksum catches it.
        const LayoutFacts* other = FactsFor(Get32(b, 8), Get32(b, 12));
        if (want == kVersionLength && other != nullptr && kHeader + other->length == b.size()) {
          want = kChecksum;
        }
        auto r = SlotState::TryDecode(b.data(), b.size());
        CAPTURE(i);
        CAPTURE(int{mask});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == ErrorCode::kBadInput);
        CHECK(r.error().position() == kPos[want]);
        std::string msg = r.error().what();
        CAPTURE(msg);
        for (int c = kMagic; c <= kVersionLength; ++c) {
          CHECK(Contains(msg, kWord[c]) == (c == want));
        }
      }
    }
  }
}

TEST_CASE("truncated and extended fixtures are rejected at the offset where they end") {
  for (const Fixture& f : Fixtures()) {
    CAPTURE(f.file);
    for (std::size_t len = 0; len < f.bytes.size(); ++len) {
      Bytes b(f.bytes.begin(), f.bytes.begin() + static_cast<std::ptrdiff_t>(len));
      auto r = SlotState::TryDecode(b.data(), b.size());
      CAPTURE(len);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code() == ErrorCode::kBadInput);
      CHECK(r.error().position() == len);
    }
    Bytes longer = f.bytes;
    longer.push_back(0);
    auto r = SlotState::TryDecode(longer.data(), longer.size());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().position() == f.bytes.size());
  }
  CHECK(CodeOf([] { SlotState::Decode(nullptr, 0); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([] { SlotState::Decode(nullptr, 200); }) == ErrorCode::kBadInput);
}

TEST_CASE("random garbage is rejected without crashing") {
  std::mt19937 rng(1234);
  for (int i = 0; i < 3000; ++i) {
    Bytes b(rng() % 513);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    auto r = SlotState::TryDecode(b.data(), b.size());
    CAPTURE(i);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == ErrorCode::kBadInput);
  }
}

TEST_CASE("random bodies behind a valid header decode or fail on the names") {
  std::mt19937 rng(5678);
  int decoded = 0;
  int rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    const LayoutFacts& lf = kLayouts[rng() % 5];
    Bytes b(kHeader + lf.length);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    Put32(b, 0, 0x01051CA1u);
    Put32(b, 8, lf.version);
    Put32(b, 12, lf.length);
    FixCrc(b);
    auto r = SlotState::TryDecode(b.data(), b.size());
    if (!r.ok()) {
      ++rejected;
      CHECK(r.error().code() == ErrorCode::kBadInput);
      bool at_name = r.error().position() == kHeader;
      bool at_plugin = r.error().position() == kHeader + lf.plugin;
      CHECK((at_name || at_plugin));
      continue;
    }
    ++decoded;
    const SlotState& s = r.value();
    CHECK(s.Encode() == b);
    CHECK(s.name().size() < 64);
    CHECK(s.plugin().size() < 64);
    CHECK(CodeOf([&] { s.persistency(); }) ==
          (s.persistency_raw() <= 2 ? ErrorCode::kOk : ErrorCode::kBadInput));
    ErrorCode reason = CodeOf([&] { s.InvalidationReason(); });
    CHECK((reason == ErrorCode::kOk || reason == ErrorCode::kBadInput));
  }
  CHECK(decoded > 0);
  CHECK(rejected > 0);
}

TEST_CASE("unterminated names, bad checksums and verify_checksum = false") {
  for (const LayoutFacts& lf : kLayouts) {
    CAPTURE(pgha::SlotLayoutName(lf.layout));
    Bytes good = SlotState::Create(lf.layout, "x").Encode();
    Bytes b = good;
    std::memset(b.data() + kHeader, 'a', 64);
    FixCrc(b);
    auto r = SlotState::TryDecode(b.data(), b.size());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().position() == kHeader);
    CHECK(Contains(r.error().what(), "name"));
    b = good;
    std::memset(b.data() + kHeader + lf.plugin, 'p', 64);
    FixCrc(b);
    r = SlotState::TryDecode(b.data(), b.size());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().position() == kHeader + lf.plugin);
    CHECK(Contains(r.error().what(), "plugin"));
    b = good;
    b[kHeader + 72] ^= 0x40;  // xmin, checksum now stale
    CHECK(CodeOf([&] { SlotState::Decode(b); }) == ErrorCode::kBadInput);
    SlotState unchecked = SlotState::Decode(b, false);
    CHECK(unchecked.xmin() == 0x40);
    CHECK(unchecked.stored_checksum() != unchecked.ComputeChecksum());
  }
  SlotState s = WithU32(SlotLayout::kPg14, kHeader + 68, 7);  // persistency outside the enum
  CHECK(s.persistency_raw() == 7);
  CHECK(CodeOf([&] { s.persistency(); }) == ErrorCode::kBadInput);
}

TEST_CASE("setters change only their bytes and the checksum") {
  for (const Fixture& f : Fixtures()) {
    CAPTURE(f.file);
    CAPTURE(f.major);
    SlotState s = SlotState::Decode(f.bytes);
    Lsn restart(s.restart_lsn().value() + 0x12340);
    Lsn flush(s.confirmed_flush().value() + 0x56780);
    std::uint32_t cxmin = s.catalog_xmin() + 1000;
    s.set_restart_lsn(restart);
    s.set_confirmed_flush(flush);
    s.set_catalog_xmin(cxmin);
    CHECK(s.stored_checksum() == Get32(f.bytes, 4));  // stale until Encode
    Bytes out = s.Encode();
    SlotState back = SlotState::Decode(out);
    CHECK(back.restart_lsn() == restart);
    CHECK(back.confirmed_flush() == flush);
    CHECK(back.catalog_xmin() == cxmin);
    CHECK(back.stored_checksum() == s.ComputeChecksum());
    CHECK(back.name() == s.name());
    CHECK(back.xmin() == s.xmin());
    std::size_t cf = kHeader + FactsFor(back.layout()).confirmed_flush;
    for (std::size_t i = 0; i < out.size(); ++i) {
      bool allowed = (i >= 4 && i < 8) || (i >= kHeader + 76 && i < kHeader + 80) ||
                     (i >= kHeader + 80 && i < kHeader + 88) || (i >= cf && i < cf + 8);
      CAPTURE(i);
      if (!allowed) CHECK(out[i] == f.bytes[i]);
    }
  }
}

TEST_CASE("Create gives a decodable empty persistent physical slot") {
  for (const LayoutFacts& lf : kLayouts) {
    CAPTURE(pgha::SlotLayoutName(lf.layout));
    Bytes b = SlotState::Create(lf.layout, "new_slot").Encode();
    REQUIRE(b.size() == kHeader + lf.length);
    CHECK(Bytes(b.begin(), b.begin() + 4) == Bytes{0xA1, 0x1C, 0x05, 0x01});
    CHECK(Get32(b, 8) == lf.version);
    CHECK(Get32(b, 12) == lf.length);
    for (std::size_t i = kHeader + 64; i < b.size(); ++i) CHECK(b[i] == 0);
    SlotState s = SlotState::Decode(b);
    CHECK(s.layout() == lf.layout);
    CHECK(s.name() == "new_slot");
    CHECK(s.persistency() == SlotPersistency::kPersistent);
    CHECK_FALSE(s.is_logical());
    CHECK(s.plugin().empty());
    CHECK_FALSE(s.restart_lsn().IsValid());
    CHECK_FALSE(s.InvalidationReason().has_value());
  }
  CHECK(CodeOf([] { SlotState::Create(SlotLayout::kPg14, "Bad"); }) == ErrorCode::kBadInput);
}

TEST_CASE("layout-specific setters") {
  for (const LayoutFacts& lf : kLayouts) {
    CAPTURE(pgha::SlotLayoutName(lf.layout));
    SlotState s = SlotState::Create(lf.layout, "s");
    if (lf.has_two_phase) {
      s.set_two_phase(true);
      Bytes b = s.Encode();
      CHECK(b[kHeader + 112] == 1);
      CHECK(SlotState::Decode(b).two_phase());
    } else {
      CHECK(CodeOf([&] { s.set_two_phase(true); }) == ErrorCode::kWrongState);
    }
    if (lf.has_failover) {
      s.set_failover(true);
      Bytes b = s.Encode();
      CHECK(b[kHeader + 178] == 1);
      CHECK(SlotState::Decode(b).failover());
      CHECK_FALSE(SlotState::Decode(b).synced());
    } else {
      CHECK(CodeOf([&] { s.set_failover(true); }) == ErrorCode::kWrongState);
    }
    s.set_database(16384);
    s.set_plugin("test_decoding");
    s.set_persistency(SlotPersistency::kTemporary);
    s.set_xmin(77);
    SlotState back = SlotState::Decode(s.Encode());
    CHECK(back.database() == 16384);
    CHECK(back.plugin() == "test_decoding");
    CHECK(back.persistency() == SlotPersistency::kTemporary);
    CHECK(back.xmin() == 77);
    CHECK(CodeOf([&] { s.set_plugin(std::string(64, 'p')); }) == ErrorCode::kBadInput);
    CHECK(CodeOf([&] { s.set_plugin(std::string("a\0b", 3)); }) == ErrorCode::kBadInput);
    s.set_plugin("");
    CHECK(s.plugin().empty());
    s.set_plugin(std::string(63, 'p'));
    CHECK(SlotState::Decode(s.Encode()).plugin() == std::string(63, 'p'));
  }
}

TEST_CASE("slot names follow PostgreSQL's rules") {
  SlotState s = SlotState::Create(SlotLayout::kPg14, "a_much_longer_name");
  for (const std::string& good : {std::string("a_1"), std::string("a"), std::string("0"),
                                  std::string("_"), std::string(63, 'z')}) {
    CAPTURE(good);
    s.set_name(good);
    CHECK(SlotState::Decode(s.Encode()).name() == good);
  }
  s.set_name("keep");
  for (const std::string& bad :
       {std::string(), std::string(64, 'a'), std::string(100, 'a'), std::string("A"),
        std::string("abC"), std::string("a/b"), std::string("../x"), std::string("a b"),
        std::string("a-b"), std::string("\xC3\xA9"), std::string("a\0b", 3)}) {
    CAPTURE(bad);
    CHECK(CodeOf([&] { s.set_name(bad); }) == ErrorCode::kBadInput);
    CHECK(s.name() == "keep");
  }
}

TEST_CASE("invalidation causes per layout and major") {
  struct Case {
    SlotLayout layout;
    int major;
    std::uint32_t value;
    const char* want;  // "" = valid slot, "!" = throws kBadInput
  };
  const SlotLayout k16 = SlotLayout::kPg16;
  const SlotLayout k17 = SlotLayout::kPg17;
  const Case cases[] = {
      {k16, 0, 0, ""},
      {k16, 16, 1, "wal_removed"},
      {k16, 0, 2, "rows_removed"},
      {k16, 16, 3, "wal_level_insufficient"},
      {k16, 16, 4, "!"},
      {k16, 17, 1, "!"},  // major 17 does not write the 16 layout
      {k17, 17, 0, ""},
      {k17, 17, 1, "wal_removed"},
      {k17, 17, 2, "rows_removed"},
      {k17, 17, 3, "wal_level_insufficient"},
      {k17, 17, 4, "!"},
      {k17, 17, 8, "!"},
      {k17, 18, 0, ""},
      {k17, 18, 1, "wal_removed"},
      {k17, 18, 2, "rows_removed"},
      {k17, 18, 3, "!"},
      {k17, 18, 4, "wal_level_insufficient"},
      {k17, 18, 8, "idle_timeout"},
      {k17, 18, 16, "!"},
      {k17, 0, 0, ""},
      {k17, 0, 1, "wal_removed"},
      {k17, 0, 2, "rows_removed"},
      {k17, 0, 3, "!"},
      {k17, 0, 4, "!"},
      {k17, 0, 8, "!"},
      {k17, 16, 1, "!"},
      {k17, 19, 1, "!"},
  };
  for (const Case& c : cases) {
    CAPTURE(pgha::SlotLayoutName(c.layout));
    CAPTURE(c.major);
    CAPTURE(c.value);
    SlotState s = WithU32(c.layout, kHeader + 88, c.value);
    CHECK(s.invalidated() == c.value);
    std::string want = c.want;
    if (want != "!") {
      CHECK(s.InvalidationReason(c.major).value_or("") == want);
      continue;
    }
    CHECK(CodeOf([&] { s.InvalidationReason(c.major); }) == ErrorCode::kBadInput);
    if (c.layout == k17 && c.major == 0) {
      auto r = pgha::Capture([&] { return s.InvalidationReason(c.major); });
      CHECK(Contains(r.error().what(), "major"));
    }
  }
  for (SlotLayout layout : {SlotLayout::kPg13, SlotLayout::kPg14}) {
    Bytes b = SlotState::Create(layout, "s").Encode();
    CHECK_FALSE(SlotState::Decode(b).InvalidationReason().has_value());
    Put64(b, kHeader + 88, 0x5C51A8);
    FixCrc(b);
    SlotState s = SlotState::Decode(b);
    CHECK(s.invalidated_at() == Lsn(0x5C51A8));
    CHECK_FALSE(s.invalidated().has_value());
    CHECK(s.InvalidationReason().value_or("") == "wal_removed");
  }
  SlotState old = SlotState::Create(SlotLayout::kPg10, "s");
  CHECK_FALSE(old.InvalidationReason(12).has_value());
  CHECK_FALSE(old.invalidated_at().has_value());
  CHECK_FALSE(old.invalidated().has_value());
}

TEST_CASE("SlotState::Read") {
  std::string path = pgha::test::FixturePath("pg15/slots/fx_logical.state");
  CHECK(SlotState::Read(path).Encode() == pgha::test::ReadBytes(path));
  CHECK(CodeOf([] { SlotState::Read(pgha::test::FixturePath("pg15/slots/no_such_file")); }) ==
        ErrorCode::kNotFound);
  CHECK(CodeOf([] { SlotState::Read(pgha::test::FixturePath("pg15/slots")); }) == ErrorCode::kIo);
  std::string tsv = pgha::test::FixturePath("pg15/slots/slots.tsv");
  try {
    SlotState::Read(tsv);
    FAIL("accepted");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(Contains(e.what(), tsv.c_str()));
    CHECK(e.position() == 0);
  }
}
