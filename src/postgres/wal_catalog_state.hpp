// The shared state behind a WalCatalog and its uploads: the pg_wal listing, the MD5 cache with
// parallel hashing, and the cluster's WAL identity (private to the postgres layer).
#ifndef PGHA_POSTGRES_WAL_CATALOG_STATE_HPP
#define PGHA_POSTGRES_WAL_CATALOG_STATE_HPP

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pgha/wal_catalog.hpp"
#include "pgha/wal_file.hpp"

namespace pgha::catalog {

/// What identifies a file's content for the MD5 cache.
struct FileKey {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;

  friend bool operator==(const FileKey& a, const FileKey& b) {
    return a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode;
  }
  friend bool operator!=(const FileKey& a, const FileKey& b) { return !(a == b); }
};

/// A segment, partial or history file found in pg_wal.
struct DirEntry {
  std::string name;
  WalFileName parsed;
  FileKey key;
};

/// The magic and system identifier uploads must carry, where known.
struct WalIdentity {
  std::optional<std::uint16_t> magic;
  std::optional<std::uint64_t> system_identifier;
};

/// Thread-safe; see WalCatalog.
class CatalogState {
 public:
  CatalogState(std::string dir, std::uint32_t segment_size,
               std::optional<std::uint64_t> system_identifier, int expected_major);

  const std::string& dir() const noexcept { return dir_; }
  std::uint32_t segment_size() const noexcept { return segment_size_; }
  /// The configured system identifier (not a learned one).
  std::optional<std::uint64_t> configured_system_identifier() const noexcept {
    return configured_.system_identifier;
  }
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  /// The regular files of pg_wal whose names are segments, partials or history files (for
  /// this segment size), in name order. Throws kNotFound / kIo when pg_wal cannot be read.
  std::vector<DirEntry> ReadDir() const;
  /// The entry of the regular file `name` (parsed as `parsed`), or nullopt when there is none.
  /// Throws kIo.
  std::optional<DirEntry> StatEntry(const std::string& name, const WalFileName& parsed) const;
  /// Info of `entry` without MD5.
  WalFileInfo InfoOf(const DirEntry& entry) const;

  /// The info of every entry with its MD5: from the cache when the entry's key (size, mtime,
  /// inode) is cached, else hashed (in parallel; size and mtime then are those of the bytes
  /// hashed). nullopt for a file that vanished before it could be hashed. Throws kIo.
  std::vector<std::optional<WalFileInfo>> HashAll(const std::vector<DirEntry>& entries);
  /// Forgets cached names that are not in `present`.
  void Prune(const std::vector<DirEntry>& present);
  /// Files hashed so far.
  std::uint64_t hashes() const noexcept { return hashes_.load(); }

  /// The configured identity, completed from the long header of an existing segment.
  WalIdentity Identity();
  /// A fresh temporary file name (".pgha-upload.<pid>.<n>").
  std::string NextTempName();

 private:
  struct CacheEntry {
    FileKey key;
    std::string md5;
  };
  struct Hashed {
    bool vanished = false;
    std::string md5;
    FileKey key;
  };

  Hashed HashFile(const std::string& name);
  void HashInParallel(const std::vector<const DirEntry*>& todo, std::vector<Hashed>* out);
  std::optional<WalIdentity> LearnIdentity() const;

  const std::string dir_;
  const std::uint32_t segment_size_;
  const WalIdentity configured_;
  std::mutex mu_;  // guards cache_ and learned_
  std::unordered_map<std::string, CacheEntry> cache_;
  std::optional<WalIdentity> learned_;
  std::atomic<std::uint64_t> hashes_{0};
  std::atomic<std::uint64_t> upload_seq_{0};
};

}  // namespace pgha::catalog

#endif  // PGHA_POSTGRES_WAL_CATALOG_STATE_HPP
