// pgha's own base backup without a server: the tar members PostgreSQL's tar writer makes
// (src/port/tar.c), fed in every split, and what is refused before it is written; the
// BASE_BACKUP command of each protocol. The servers themselves: tests/integration
// (test_base_backup_pg.py) and the version matrix.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "base_backup.hpp"
#include "pgha/error.hpp"
#include "tar_extract.hpp"

namespace {

using pgha::ErrorCode;
using pgha::pg::TarExtractor;
using pgha::pg::TarNumber;

struct Scratch {
  std::string path;
  Scratch() {
    char tmpl[] = "/tmp/pgha-tar-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string Octal(std::uint64_t v, std::size_t width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(v));
  return std::string(buf) + '\0';
}

// One ustar header as PostgreSQL's tarCreateHeader writes it.
std::string Header(const std::string& name, char type, std::uint64_t size, unsigned mode,
                   const std::string& link = "") {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  h.replace(100, 8, Octal(mode, 8));
  h.replace(108, 8, Octal(0, 8));
  h.replace(116, 8, Octal(0, 8));
  h.replace(124, 12, Octal(size, 12));
  h.replace(136, 12, Octal(0, 12));
  h[156] = type;
  h.replace(157, link.size(), link);
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  h.replace(148, 8, Octal(sum, 7) + " ");
  return h;
}

std::string File(const std::string& name, const std::string& data, unsigned mode = 0600) {
  std::string out = Header(name, '0', data.size(), mode) + data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void FeedInPieces(TarExtractor& x, const std::string& archive, std::size_t piece) {
  for (std::size_t at = 0; at < archive.size(); at += piece)
    x.Feed(archive.data() + at, std::min(piece, archive.size() - at));
}

const std::string kBig(70000, 'x');

std::string SampleArchive() {
  return Header("global", '5', 0, 0700) + File("global/pg_control", "control") +
         Header("pg_wal/", '5', 0, 0700) + File("pg_wal/000000010000000000000002", kBig) +
         File("PG_VERSION", "17\n", 0640) + File("./empty", "");
}

}  // namespace

TEST_CASE("a PostgreSQL tar stream is extracted whatever pieces it comes in") {
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{511}, std::size_t{512},
                            std::size_t{513}, std::size_t{65536}, std::size_t{1} << 20}) {
    CAPTURE(piece);
    Scratch dir;
    TarExtractor x(dir.path, std::nullopt);
    // Before PostgreSQL 15 the stream has no end blocks; from 15 on it has them.
    std::string archive = SampleArchive();
    if (piece % 2 == 0) archive += std::string(1024, '\0');
    FeedInPieces(x, archive, piece);
    x.Finish();
    CHECK(Read(dir.path + "/global/pg_control") == "control");
    CHECK(Read(dir.path + "/pg_wal/000000010000000000000002") == kBig);
    CHECK(Read(dir.path + "/PG_VERSION") == "17\n");
    CHECK(Read(dir.path + "/empty").empty());
    struct stat st {};
    REQUIRE(::stat((dir.path + "/PG_VERSION").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    REQUIRE(::stat((dir.path + "/pg_wal").c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(x.bytes_written() == 7 + kBig.size() + 3);
    CHECK(x.members() == 6);
  }
}

TEST_CASE("a tar stream cut inside a member is refused at its end") {
  Scratch dir;
  TarExtractor x(dir.path, std::nullopt);
  std::string archive = SampleArchive();
  std::string cut = archive.substr(0, 512 * 4 + 1000);  // inside the WAL segment's data
  x.Feed(cut.data(), cut.size());
  CHECK_THROWS_WITH_AS(x.Finish(), doctest::Contains("ends inside member"), pgha::Error);
  TarExtractor y(dir.path + "/global", std::nullopt);
  y.Feed(archive.data(), 100);
  CHECK_THROWS_WITH_AS(y.Finish(), doctest::Contains("ends inside a header"), pgha::Error);
}

TEST_CASE(
    "tar members that would write outside the directory, or are not PostgreSQL's, are refused") {
  struct Case {
    const char* what;
    std::string archive;
    const char* message;
  };
  const Case cases[] = {
      {"dot-dot", File("../escape", "x"), "component"},
      {"inner dot-dot", Header("base", '5', 0, 0700) + File("base/../../escape", "x"), "component"},
      {"absolute", File("/tmp/escape", "x"), "not relative"},
      {"dot", File("a/./x", "x"), "component"},
      {"only dot", File("./", "x"), "component"},
      {"symlink", Header("pg_tblspc/16384", '2', 0, 0777, "/elsewhere"), "symbolic link"},
      {"hard link", Header("hard", '1', 0, 0600, "PG_VERSION"), "type '1'"},
      {"fifo", Header("fifo", '6', 0, 0600), "type '6'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Scratch dir;
    TarExtractor x(dir.path, std::nullopt);
    CHECK_THROWS_WITH_AS(x.Feed(c.archive.data(), c.archive.size()), doctest::Contains(c.message),
                         pgha::Error);
    CHECK(!std::filesystem::exists(std::filesystem::path(dir.path).parent_path() / "escape"));
    CHECK(!std::filesystem::exists("/tmp/escape"));
  }
}

TEST_CASE("a header with a wrong checksum, or data after the end, is refused") {
  Scratch dir;
  std::string archive = File("PG_VERSION", "17\n");
  archive[0] = 'Q';
  TarExtractor x(dir.path, std::nullopt);
  try {
    x.Feed(archive.data(), archive.size());
    FAIL("no error");
  } catch (const pgha::Error& e) {
    CHECK(e.code() == ErrorCode::kBadInput);
    CHECK(std::string(e.what()).find("checksum") != std::string::npos);
  }
  CHECK(!std::filesystem::exists(dir.path + "/QG_VERSION"));
  TarExtractor y(dir.path, std::nullopt);
  std::string trailing = File("a", "1") + std::string(1024, '\0') + File("b", "2");
  CHECK_THROWS_WITH_AS(y.Feed(trailing.data(), trailing.size()), doctest::Contains("after the end"),
                       pgha::Error);
  CHECK(!std::filesystem::exists(dir.path + "/b"));
}

TEST_CASE("a member named twice is not overwritten") {
  Scratch dir;
  TarExtractor x(dir.path, std::nullopt);
  std::string archive = File("PG_VERSION", "17\n") + File("PG_VERSION", "16\n");
  CHECK_THROWS_AS(x.Feed(archive.data(), archive.size()), pgha::Error);
  CHECK(Read(dir.path + "/PG_VERSION") == "17\n");
}

TEST_CASE("tar size fields: octal as written, base-256 past 8 GiB") {
  CHECK(TarNumber(std::string("00000000012\0", 12)) == 10u);
  CHECK(TarNumber(std::string("     12 \0\0\0\0", 12)) == 10u);
  std::string big(12, '\0');
  big[0] = static_cast<char>(0x80);
  big[7] = 0x02;  // 2 << 32
  CHECK(TarNumber(big) == (std::uint64_t{2} << 32));
  CHECK(!TarNumber(std::string("0000000001x\0", 12)));
  CHECK(!TarNumber(std::string(12, '\0')));
  CHECK(!TarNumber(std::string("00000000009\0", 12)));
}

TEST_CASE("BASE_BACKUP's syntax follows the server's version") {
  using pgha::pg::BaseBackupCommand;
  CHECK(BaseBackupCommand(140000, "pgha", 0) ==
        "BASE_BACKUP LABEL 'pgha' PROGRESS FAST WAL NOWAIT");
  CHECK(BaseBackupCommand(120022, "it's", 1024) ==
        "BASE_BACKUP LABEL 'it''s' PROGRESS FAST WAL NOWAIT MAX_RATE 1024");
  CHECK(BaseBackupCommand(150018, "pgha", 0) ==
        "BASE_BACKUP (LABEL 'pgha', PROGRESS, CHECKPOINT 'fast', WAL, WAIT false, MANIFEST 'no')");
  CHECK(BaseBackupCommand(180004, "pgha", 32) ==
        "BASE_BACKUP (LABEL 'pgha', PROGRESS, CHECKPOINT 'fast', WAL, WAIT false, MANIFEST "
        "'no', MAX_RATE 32)");
  CHECK_THROWS_WITH_AS(BaseBackupCommand(150000, "pgha", 31), doctest::Contains("32 to 1048576"),
                       pgha::Error);
  CHECK_THROWS_AS(BaseBackupCommand(150000, "pgha", 1048577), pgha::Error);
}
