#include <doctest/doctest.h>

#include <random>

#include "pgha/error.hpp"
#include "pgha/lsn.hpp"

using pgha::ErrorCode;
using pgha::Lsn;

TEST_CASE("Lsn parses PostgreSQL's text form") {
  struct Case {
    const char* text;
    std::uint64_t value;
  };
  for (const Case& c : {Case{"0/0", 0}, Case{"0/1", 1}, Case{"16/B374D848", 0x16B374D848ull},
                        Case{"0/0702C980", 0x702C980}, Case{"ffffffff/ffffffff", ~0ull},
                        Case{"00000000/00000001", 1}, Case{"a/b2c3d4e5", 0xAB2C3D4E5ull}}) {
    CAPTURE(c.text);
    CHECK(Lsn::Parse(c.text).value() == c.value);
  }
}

TEST_CASE("Lsn rejects everything else") {
  for (const char* bad : {"",     "/",    "0/",    "/0",          "0//0",        "0/0/0", " 0/0",
                          "0/0 ", "0 /0", "0/ 0",  "123456789/0", "0/123456789", "g/0",   "0/x1",
                          "+1/0", "-1/0", "0x1/0", "0/0\n",       "1",           "0\t/0"}) {
    CAPTURE(bad);
    CHECK_FALSE(Lsn::TryParse(bad).has_value());
    try {
      Lsn::Parse(bad);
      FAIL("accepted");
    } catch (const pgha::Error& e) {
      CHECK(e.code() == ErrorCode::kBadInput);
    }
  }
}

TEST_CASE("Lsn prints %X/%X") {
  CHECK(Lsn(0).ToString() == "0/0");
  CHECK(Lsn(0x702C980).ToString() == "0/702C980");
  CHECK(Lsn(0x100000000ull).ToString() == "1/0");
  CHECK(Lsn(~0ull).ToString() == "FFFFFFFF/FFFFFFFF");
}

TEST_CASE("Lsn round-trips random values") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    Lsn l(rng() >> (rng() % 64));
    CHECK(Lsn::Parse(l.ToString()) == l);
  }
}

TEST_CASE("Lsn arithmetic and comparison") {
  Lsn a = Lsn::Parse("0/8000028");
  Lsn b = Lsn::Parse("0/80000A0");
  CHECK(a < b);
  CHECK(b - a == 0x78);
  CHECK(a - b == -0x78);
  CHECK(a + 0x78 == b);
  CHECK(b - std::uint64_t{0x78} == a);
  CHECK_THROWS_AS(Lsn(~0ull) - Lsn(0), pgha::Error);
  CHECK(Lsn(0) - Lsn(0x8000000000000000ull) == INT64_MIN);
  CHECK_THROWS_AS(Lsn(~0ull) + 1, pgha::Error);
  CHECK_THROWS_AS(Lsn(0) - std::uint64_t{1}, pgha::Error);
  CHECK_FALSE(Lsn().IsValid());
  CHECK(Lsn(1).IsValid());
}
