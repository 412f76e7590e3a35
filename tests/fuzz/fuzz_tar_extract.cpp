// libFuzzer target: the tar reader of pgha's own base backup (src/postgres/tar_extract.cpp),
// which writes what a server sends into a directory. The input is fed in two pieces (its
// first byte says where to cut). Invariants: a refusal is kBadInput, or kIo for a member
// named twice (O_EXCL); nothing is ever written outside the directory (its parent holds only
// it afterwards, and nothing in it is a link or another special file); the bytes written are
// at most the input's size. Each input gets a fresh directory under $PGHA_FUZZ_TMPDIR.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fuzz_support.hpp"
#include "tar_extract.hpp"

namespace {

namespace stdfs = std::filesystem;

// $PGHA_FUZZ_TMPDIR/pgha-fuzz-tar-XXXXXX, made once; each input extracts into its "root".
const std::string& Parent() {
  static const std::string dir = [] {
    const char* base = std::getenv("PGHA_FUZZ_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/pgha-fuzz-tar-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return tmpl;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string root = Parent() + "/root";
  std::error_code ec;
  stdfs::remove_all(root, ec);
  if (::mkdir(root.c_str(), 0700) != 0) std::abort();
  const char* bytes = reinterpret_cast<const char*>(data);
  const std::size_t cut = size == 0 ? 0 : static_cast<std::size_t>(data[0]) * size / 256;
  std::uint64_t written = 0;
  try {
    pgha::pg::TarExtractor x(root, std::nullopt);
    x.Feed(bytes, cut);
    x.Feed(bytes + cut, size - cut);
    x.Finish();
    written = x.bytes_written();
  } catch (const pgha::Error& e) {
    if (e.code() != pgha::ErrorCode::kIo) pgha::fuzz::CheckRefusal(e, __FILE__, __LINE__);
  }
  PGHA_FUZZ_CHECK(written <= size);
  std::size_t entries = 0;
  for (const auto& entry : stdfs::directory_iterator(Parent())) {
    ++entries;
    PGHA_FUZZ_CHECK(entry.path().filename() == "root");
  }
  PGHA_FUZZ_CHECK(entries == 1);
  for (const auto& entry : stdfs::recursive_directory_iterator(root)) {
    const auto st = entry.symlink_status();
    PGHA_FUZZ_CHECK(stdfs::is_regular_file(st) || stdfs::is_directory(st));
  }
  stdfs::remove_all(root, ec);
  return 0;
}
