#include "pgha/wal_page.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "pgha/crc32c.hpp"
#include "pgha/error.hpp"

using pgha::DecodeWalPageHeader;
using pgha::ErrorCode;
using pgha::Lsn;
using pgha::WalPageHeader;

namespace {

// Reference §4.1: the first 40 bytes of a 15.18 segment (timeline 2, segment 8).
const std::vector<std::uint8_t> kRealLongHeader = {
    0x10, 0xd1, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf9, 0x73, 0x21, 0xd4,
    0x1f, 0x4b, 0x08, 0x6b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x20, 0x00, 0x00};

}  // namespace

TEST_CASE("DecodeWalPageHeader reads the real long header of reference 4.1") {
  WalPageHeader h = DecodeWalPageHeader(kRealLongHeader.data(), kRealLongHeader.size());
  CHECK(h.magic == 0xD110);
  CHECK(h.info == pgha::kXlpLongHeader);
  CHECK(h.timeline == 2);
  CHECK(h.page_address == Lsn::Parse("0/8000000"));
  CHECK(h.rem_len == 0);
  CHECK(h.is_long);
  CHECK(h.system_identifier == 0x6B084B1FD42173F9ull);
  CHECK(h.segment_size == 0x1000000u);
  CHECK(h.block_size == 0x2000u);
  CHECK(h.size() == 40);
  CHECK(pgha::PostgresMajorForWalMagic(h.magic) == 15);
}

TEST_CASE("DecodeWalPageHeader reads a short header and ignores long-header fields") {
  std::vector<std::uint8_t> page(kRealLongHeader);
  page[2] = 0x01;  // XLP_FIRST_IS_CONTRECORD only
  page[16] = 0x34;
  page[17] = 0x12;
  WalPageHeader h = DecodeWalPageHeader(page.data(), 24);
  CHECK_FALSE(h.is_long);
  CHECK(h.info == pgha::kXlpFirstIsContRecord);
  CHECK(h.rem_len == 0x1234u);
  CHECK(h.system_identifier == 0);
  CHECK(h.segment_size == 0);
  CHECK(h.block_size == 0);
  CHECK(h.size() == 24);
}

TEST_CASE("DecodeWalPageHeader rejects input shorter than the header it announces") {
  struct Case {
    std::size_t size;
    std::uint16_t info;
  };
  for (const Case& c :
       {Case{0, 0}, Case{1, 0}, Case{23, 0}, Case{23, 2}, Case{24, 2}, Case{39, 2}}) {
    CAPTURE(c.size);
    CAPTURE(c.info);
    std::vector<std::uint8_t> page(kRealLongHeader);
    page[2] = static_cast<std::uint8_t>(c.info);
    try {
      DecodeWalPageHeader(page.data(), c.size);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
      CHECK(e.position().has_value());
    }
  }
  CHECK_THROWS_AS(DecodeWalPageHeader(nullptr, 0), pgha::Error);
  // Exactly enough is fine.
  std::vector<std::uint8_t> page(kRealLongHeader);
  page[2] = 0;
  CHECK_NOTHROW(DecodeWalPageHeader(page.data(), 24));
  CHECK_NOTHROW(DecodeWalPageHeader(kRealLongHeader.data(), 40));
}

TEST_CASE("XLOG_PAGE_MAGIC per major follows reference 4.1") {
  struct Case {
    int major;
    std::uint16_t magic;
  };
  for (const Case& c :
       {Case{10, 0xD097}, Case{11, 0xD098}, Case{12, 0xD101}, Case{13, 0xD106}, Case{14, 0xD10D},
        Case{15, 0xD110}, Case{16, 0xD113}, Case{17, 0xD116}, Case{18, 0xD118}}) {
    CAPTURE(c.major);
    CHECK(pgha::WalMagicForMajor(c.major) == c.magic);
    CHECK(pgha::PostgresMajorForWalMagic(c.magic) == c.major);
  }
  for (int unknown : {0x0000, 0xD096, 0xD099, 0xD10E, 0xD119, 0xFFFF}) {
    CAPTURE(unknown);
    CHECK(pgha::PostgresMajorForWalMagic(static_cast<std::uint16_t>(unknown)) == 0);
  }
  for (int major : {0, 9, 19, -1, 96}) {
    CAPTURE(major);
    try {
      pgha::WalMagicForMajor(major);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}

TEST_CASE("the XLOG_SWITCH record of reference 4.3 has CRC 0x2592FA5C") {
  // xl_tot_len 24, xl_xid 0, xl_prev 0/7041EE0, xl_info 0x40, xl_rmid 0, padding.
  const std::uint8_t header[20] = {0x18, 0,    0, 0, 0, 0, 0,    0,    0xE0, 0x1E,
                                   0x04, 0x07, 0, 0, 0, 0, 0x40, 0x00, 0x00, 0x00};
  // No data after the header: the CRC covers just the first 20 header bytes.
  CHECK(pgha::Crc32c(header, sizeof header) == 0x2592FA5Cu);
  std::uint8_t changed[20];
  std::memcpy(changed, header, sizeof header);
  changed[16] = 0x00;  // a shutdown checkpoint's info would not match
  CHECK(pgha::Crc32c(changed, sizeof changed) != 0x2592FA5Cu);
}
