// WalCatalog: which files of pg_wal are WAL content (List), the files a node needs (From),
// downloads (PathFor) and the MD5 cache. Files are tiny: names carry the segment math.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "md5.hpp"
#include "pg_wal_dir.hpp"
#include "pgha/error.hpp"
#include "pgha/wal_catalog.hpp"

using pgha::ErrorCode;
using pgha::Lsn;
using pgha::TimelineHistory;
using pgha::WalCatalog;
using pgha::WalFileInfo;
using pgha::WalFileKind;
using pgha::WalPosition;
using pgha::test::Names;
using pgha::test::PgWalDir;
using Strings = std::vector<std::string>;

namespace {

constexpr std::uint32_t kSeg = 16u << 20;

std::string Seg(pgha::TimelineId tli, std::uint64_t segno, bool partial = false) {
  pgha::WalFileName n;
  n.kind = partial ? WalFileKind::kPartial : WalFileKind::kSegment;
  n.timeline = tli;
  n.segment = segno;
  n.segment_size = kSeg;
  return n.ToString();
}

std::string Hist(pgha::TimelineId tli) {
  return pgha::WalFileName::History(tli).ToString();
}

WalPosition At(const std::string& history_text, pgha::TimelineId tip, const char* end) {
  return WalPosition{tip == 1 ? TimelineHistory(1) : TimelineHistory::Parse(history_text, tip),
                     Lsn::Parse(end)};
}

// Every file gets distinct content (its name), so MD5s tell them apart.
void PutAll(const PgWalDir& dir, const Strings& names) {
  for (const std::string& n : names) dir.Put(n, "content of " + n);
}

template <typename Fn>
ErrorCode CodeOf(Fn&& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const pgha::Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

// Timeline 1 -> 2 at 0/3000100 (inside segment 3) -> 3 at 0/6000000 (a segment boundary).
const char* const kChain =
    "1\t0/3000100\tno recovery target specified\n\n"
    "2\t0/6000000\tno recovery target specified\n";

Strings ChainFiles() {
  return {Seg(1, 1), Seg(1, 2), Seg(1, 3), Hist(2),   Seg(2, 3), Seg(2, 4),
          Seg(2, 5), Hist(3),   Seg(3, 6), Seg(3, 7), Seg(3, 8)};
}

}  // namespace

TEST_CASE("List offers WAL content in timeline order and leaves out what is not") {
  PgWalDir dir;
  const Strings content = {Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3, true), Hist(2),
                           Seg(2, 3), Seg(2, 4), Seg(2, 5), Seg(2, 6)};
  PutAll(dir, content);
  PutAll(dir, {Seg(1, 4), Seg(1, 5),            // timeline 1 past its switch point
               Seg(2, 7), Seg(2, 8),            // recycled, beyond the end of WAL
               Hist(3), Seg(3, 7),              // a timeline not in this history
               Seg(1, 2) + ".00000028.backup",  // backup history file
               "archive_status/" + Seg(1, 1) + ".done", ".pgha-upload.1.0", "xlogtemp.99",
               "00000002000000000000000a", "RECOVERYXLOG"});
  std::filesystem::create_directory(dir.File(Seg(1, 9)));  // not a regular file

  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At("1\t0/3000100\tno recovery target specified\n", 2, "0/6000200");
  std::vector<WalFileInfo> files = catalog.List(end);
  CHECK(Names(files) == content);
  for (const WalFileInfo& f : files) {
    CAPTURE(f.name);
    std::string bytes = "content of " + f.name;
    CHECK(f.md5 == pgha::Md5Hex(bytes));
    CHECK(f.size == bytes.size());
    CHECK(f.parsed == pgha::WalFileName::Parse(f.name, kSeg));
    CHECK(f.mtime_ns > 0);
  }
  CHECK(catalog.HashesComputed() == content.size());

  // Without MD5 nothing is hashed.
  WalCatalog plain(dir.path() + "/", kSeg);
  std::vector<WalFileInfo> no_md5 = plain.List(end, false);
  CHECK(Names(no_md5) == content);
  CHECK(no_md5.front().md5.empty());
  CHECK(plain.HashesComputed() == 0);
}

TEST_CASE(
    "List at segment boundaries: a switch point or end of WAL on one ends the segment before") {
  PgWalDir dir;
  PutAll(dir, {Seg(1, 3), Seg(1, 4), Hist(2), Seg(2, 3), Seg(2, 4), Seg(2, 5), Seg(2, 6)});
  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At("1\t0/4000000\tno recovery target specified\n", 2, "0/6000000");
  CHECK(Names(catalog.List(end, false)) == Strings{Seg(1, 3), Hist(2), Seg(2, 4), Seg(2, 5)});
  // One byte further, segment 6 holds WAL.
  const WalPosition later = At("1\t0/4000000\tno recovery target specified\n", 2, "0/6000001");
  CHECK(Names(catalog.List(later, false)).back() == Seg(2, 6));
}

TEST_CASE("List and From refuse an impossible end of WAL") {
  PgWalDir dir;
  WalCatalog catalog(dir.path(), kSeg);
  CHECK(CodeOf([&] { catalog.List(At("", 1, "0/0")); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { catalog.List(At(kChain, 3, "0/5FFFFFF")); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { catalog.From(1, Lsn(0x10), At("", 1, "0/0")); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { WalCatalog bad(dir.path(), 12345); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { WalCatalog bad(dir.path(), kSeg, std::nullopt, 9); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { WalCatalog bad(dir.File("nope"), kSeg); }) == ErrorCode::kNotFound);
}

TEST_CASE("From gives the seed's walFiles shape") {
  // The seed: a node at (3, 0/39000028) asks a master on timeline 4 that forked from 3 in
  // segment 0x39, where only the old timeline's .partial is left.
  PgWalDir dir;
  PutAll(dir, {Seg(3, 0x38), Seg(3, 0x39, true), Hist(4), Seg(4, 0x39), Hist(3), Seg(4, 0x3A)});
  const WalPosition end =
      At("1\t0/10000000\tno recovery target specified\n\n2\t0/20000000\tno recovery target "
         "specified\n\n3\t0/390000A0\tno recovery target specified\n",
         4, "0/39000150");
  WalCatalog catalog(dir.path(), kSeg);
  const Strings expected = {"000000030000000000000039.partial", "00000004.history",
                            "000000040000000000000039"};
  std::vector<WalFileInfo> files = catalog.From(3, Lsn::Parse("0/39000028"), end);
  CHECK(Names(files) == expected);
  CHECK(files[1].md5 == pgha::Md5Hex("content of 00000004.history"));
  CHECK(Names(catalog.From("000000030000000000000039", end)) == expected);
  CHECK(Names(catalog.From("000000030000000000000039.partial", end)) == expected);
  std::string message;
  CHECK(CodeOf([&] { catalog.From("00000004.history", end); }) == ErrorCode::kBadInput);
  CHECK(CodeOf([&] { catalog.From("0000000300000000000000zz", end); }) == ErrorCode::kBadInput);
  // The segment itself wins over its partial when both are there.
  dir.Put(Seg(3, 0x39), "segment");
  CHECK(Names(catalog.From(3, Lsn::Parse("0/39000028"), end)).front() == Seg(3, 0x39));
}

TEST_CASE("From along a chain of timelines") {
  PgWalDir dir;
  PutAll(dir, ChainFiles());
  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At(kChain, 3, "0/7000500");
  struct Case {
    pgha::TimelineId tli;
    const char* lsn;
    Strings expected;
  };
  const Case cases[] = {
      {1,
       "0/2000028",
       {Seg(1, 2), Seg(1, 3), Hist(2), Seg(2, 3), Seg(2, 4), Seg(2, 5), Hist(3), Seg(3, 6),
        Seg(3, 7)}},
      {1,
       "0/3000100",
       {Seg(1, 3), Hist(2), Seg(2, 3), Seg(2, 4), Seg(2, 5), Hist(3), Seg(3, 6), Seg(3, 7)}},
      {2, "0/4000000", {Seg(2, 4), Seg(2, 5), Hist(3), Seg(3, 6), Seg(3, 7)}},
      // At a switch point on a segment boundary the old timeline has nothing more to give.
      {2, "0/6000000", {Hist(3), Seg(3, 6), Seg(3, 7)}},
      {3, "0/6000028", {Seg(3, 6), Seg(3, 7)}},
      {3, "0/7000500", {Seg(3, 7)}},
      // Before timeline 2 began here, the node's WAL is timeline 1's.
      {2,
       "0/1000000",
       {Seg(1, 1), Seg(1, 2), Seg(1, 3), Hist(2), Seg(2, 3), Seg(2, 4), Seg(2, 5), Hist(3),
        Seg(3, 6), Seg(3, 7)}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.tli);
    CAPTURE(c.lsn);
    CHECK(Names(catalog.From(c.tli, Lsn::Parse(c.lsn), end)) == c.expected);
  }
  // At the end of WAL on a segment boundary, nothing is needed.
  CHECK(catalog.From(3, Lsn::Parse("0/7000000"), At(kChain, 3, "0/7000000")).size() == 0);
}

TEST_CASE("From refuses unknown timelines, diverged and ahead nodes, and names missing files") {
  PgWalDir dir;
  PutAll(dir, ChainFiles());
  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At(kChain, 3, "0/7000500");
  std::string message;
  CHECK(CodeOf([&] { catalog.From(4, Lsn::Parse("0/7000000"), end); }, &message) ==
        ErrorCode::kNotFound);
  CHECK(message.find("timeline 4") != std::string::npos);
  CHECK(CodeOf([&] { catalog.From(1, Lsn::Parse("0/3000108"), end); }, &message) ==
        ErrorCode::kWrongState);
  CHECK(message.find("0/3000100") != std::string::npos);
  CHECK(CodeOf([&] { catalog.From(3, Lsn::Parse("0/7000508"), end); }) == ErrorCode::kWrongState);
  CHECK(CodeOf([&] { catalog.From(0, Lsn::Parse("0/7000500"), end); }) == ErrorCode::kBadInput);

  for (const std::string& gone : {Seg(2, 4), Hist(3), Seg(3, 7), Seg(1, 2)}) {
    CAPTURE(gone);
    std::filesystem::rename(dir.File(gone), dir.File(".aside"));
    CHECK(CodeOf([&] { catalog.From(1, Lsn::Parse("0/2000028"), end); }, &message) ==
          ErrorCode::kNotFound);
    CHECK(message.find(gone) != std::string::npos);
    std::filesystem::rename(dir.File(".aside"), dir.File(gone));
  }

  // Timeline 1's copy of segment 3 is optional: timeline 2's first segment holds the same WAL
  // up to the switch point. Its .partial stands in for it when present.
  std::filesystem::remove(dir.File(Seg(1, 3)));
  CHECK(Names(catalog.From(1, Lsn::Parse("0/3000028"), end)).front() == Hist(2));
  dir.Put(Seg(1, 3, true), "partial");
  CHECK(Names(catalog.From(1, Lsn::Parse("0/2000028"), end))[1] == Seg(1, 3, true));
}

TEST_CASE("PathFor validates the name by the WAL-name grammar") {
  PgWalDir dir;
  PutAll(dir, {Seg(1, 1), Hist(2), Seg(1, 2, true), Seg(1, 1) + ".00000028.backup"});
  WalCatalog catalog(dir.path(), kSeg);
  for (const std::string& name : {Seg(1, 1), Hist(2), Seg(1, 2, true)}) {
    CHECK(catalog.PathFor(name) == dir.File(name));
  }
  const Strings bad = {"../x",
                       "..",
                       "",
                       "/etc/passwd",
                       Seg(1, 1) + "/..",
                       "00000001000000000000000g",
                       "00000001000000000000000G",
                       "0000000100000000000000001",
                       "00000002.HISTORY",
                       "00000000.history",
                       Seg(1, 1) + ".00000028.backup",
                       "archive_status",
                       ".pgha-upload.1.0",
                       "000000010000000000000001\n"};
  for (const std::string& name : bad) {
    CAPTURE(name);
    CHECK(CodeOf([&] { catalog.PathFor(name); }) == ErrorCode::kBadInput);
  }
  CHECK(CodeOf([&] { catalog.PathFor(Seg(1, 5)); }) == ErrorCode::kNotFound);
}

TEST_CASE("MD5s are md5sum's and an unchanged file is never hashed twice") {
  PgWalDir dir;
  dir.Put(Seg(1, 1), "");
  dir.Put(Seg(1, 2), "abc");
  dir.Put(Seg(1, 3), std::string(3 << 20, 'x'));  // more than one read buffer
  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At("", 1, "0/3000010");
  std::vector<WalFileInfo> files = catalog.List(end);
  REQUIRE(files.size() == 3);
  CHECK(files[0].md5 == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(files[1].md5 == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(files[2].md5 == pgha::Md5Hex(std::string(3 << 20, 'x')));
  CHECK(catalog.HashesComputed() == 3);
  catalog.List(end);
  catalog.From(1, Lsn::Parse("0/1000028"), end);
  CHECK(catalog.HashesComputed() == 3);

  dir.Age(Seg(1, 2), 1800);  // touched: rehashed once
  catalog.List(end);
  catalog.List(end);
  CHECK(catalog.HashesComputed() == 4);

  dir.Put(Seg(1, 2), "abd", 1000);  // same size, new content
  CHECK(catalog.List(end)[1].md5 == pgha::Md5Hex("abd"));
  CHECK(catalog.HashesComputed() == 5);

  // Same name, size and mtime, another inode (a file renamed over it): rehashed.
  struct stat st {};
  REQUIRE(::stat(dir.File(Seg(1, 2)).c_str(), &st) == 0);
  dir.Put(".new", "abe");
  timespec times[2] = {st.st_mtim, st.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, dir.File(".new").c_str(), times, 0) == 0);
  std::filesystem::rename(dir.File(".new"), dir.File(Seg(1, 2)));
  CHECK(catalog.List(end)[1].md5 == pgha::Md5Hex("abe"));
  CHECK(catalog.HashesComputed() == 6);

  // A file written just now may change again within its mtime tick: hashed, never cached.
  dir.Put(Seg(1, 1), "fresh", 0);
  CHECK(catalog.List(end)[0].md5 == pgha::Md5Hex("fresh"));
  CHECK(catalog.List(end)[0].md5 == pgha::Md5Hex("fresh"));
  CHECK(catalog.HashesComputed() == 8);
}

TEST_CASE("The catalogue can be listed from several threads at once") {
  PgWalDir dir;
  Strings names;
  for (std::uint64_t s = 1; s <= 16; ++s) names.push_back(Seg(1, s));
  PutAll(dir, names);
  WalCatalog catalog(dir.path(), kSeg);
  const WalPosition end = At("", 1, "0/10000010");
  std::vector<std::vector<WalFileInfo>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = catalog.List(end); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    REQUIRE(Names(r) == names);
    for (const WalFileInfo& f : r) CHECK(f.md5 == pgha::Md5Hex("content of " + f.name));
  }
  CHECK(catalog.HashesComputed() >= 16);
  CHECK(catalog.HashesComputed() <= 64);
  const std::uint64_t after = catalog.HashesComputed();
  catalog.List(end);
  CHECK(catalog.HashesComputed() == after);
}
