// A scratch pg_wal directory for the WAL catalogue's unit tests (header-only).
#ifndef PGHA_TESTS_PG_WAL_DIR_HPP
#define PGHA_TESTS_PG_WAL_DIR_HPP

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "md5.hpp"
#include "pgha/wal_catalog.hpp"

namespace pgha::test {

/// A temporary directory with an archive_status/ subdirectory, removed with everything in it.
class PgWalDir {
 public:
  PgWalDir() {
    char tmpl[] = "/tmp/pgha-catalog-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
    std::filesystem::create_directory(path_ + "/archive_status");
  }
  ~PgWalDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  PgWalDir(const PgWalDir&) = delete;
  PgWalDir& operator=(const PgWalDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  /// Writes `name` and dates it `age_s` seconds back: old files are what the MD5 cache keeps
  /// (a file modified in the last seconds may still be written within the same mtime tick).
  void Put(const std::string& name, std::string_view bytes, int age_s = 3600) const {
    std::ofstream out(File(name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + File(name));
    if (age_s > 0) Age(name, age_s);
  }
  void Put(const std::string& name, const std::vector<std::uint8_t>& bytes,
           int age_s = 3600) const {
    Put(name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), age_s);
  }
  /// Sets the mtime of `name` to `age_s` seconds ago.
  void Age(const std::string& name, int age_s) const {
    timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= age_s;
    times[1] = times[0];
    if (::utimensat(AT_FDCWD, File(name).c_str(), times, 0) != 0) {
      throw std::runtime_error("utimensat failed on " + File(name));
    }
  }
  /// Every entry below the directory (hidden ones included) as "path size md5", sorted:
  /// equal snapshots mean nothing was added, removed or changed.
  std::vector<std::string> Snapshot() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path_)) {
      std::string rel = e.path().string().substr(path_.size());
      if (e.is_directory()) {
        out.push_back(rel + "/");
        continue;
      }
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      const std::string bytes = content.str();
      out.push_back(rel + " " + std::to_string(bytes.size()) + " " + Md5Hex(bytes));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

/// The names of a listing, in order.
inline std::vector<std::string> Names(const std::vector<WalFileInfo>& files) {
  std::vector<std::string> out;
  for (const WalFileInfo& f : files) out.push_back(f.name);
  return out;
}

}  // namespace pgha::test

#endif  // PGHA_TESTS_PG_WAL_DIR_HPP
