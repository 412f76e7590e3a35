// Crash-safe file operations for the postgres layer (private).
#ifndef PGHA_POSTGRES_FS_HPP
#define PGHA_POSTGRES_FS_HPP

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgha::fs {

/// Owner of an existing path (uid, gid). Throws Error(kIo / kNotFound).
struct Owner {
  uid_t uid;
  gid_t gid;
};
Owner OwnerOf(const std::string& path);

/// When this process runs as root, gives `path` to `owner` (PostgreSQL's files must belong to
/// the server's account); otherwise does nothing. Throws Error(kIo).
void ChownIfRoot(const std::string& path, const Owner& owner);

/// fsync()s a file or directory by path. Throws Error(kIo) naming it.
void FsyncPath(const std::string& path);

/// The directory part of `path` ("." when there is none).
std::string DirName(const std::string& path);

/// Replaces `path` with `contents` the crash-safe way: a temporary file in the same
/// directory, written and fsynced, given mode `mode` and the owner of the directory (when
/// root), renamed over `path`, and the directory fsynced. A crash leaves the old file or the
/// new one, never a torn one; on failure the temporary file is removed, and a temporary file
/// of `path` that a killed writer left ("<name>.pgha-tmp.<pid>", that pid gone) is removed by
/// the next write. Fault points "write:<stage>:<path>" (temp-written, temp-synced, renamed,
/// dir-synced; src/core/fault_point.hpp) let tests kill the writer at each stage. Throws
/// Error(kIo).
void WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode = 0600);
/// The same with the file given to `owner` (when root) rather than the directory's owner.
void WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode,
                     const std::optional<Owner>& owner);

/// Removes `path` if it exists and fsyncs its directory. Throws Error(kIo) on other failures.
void RemoveDurable(const std::string& path);

/// The whole file, or nullopt when it does not exist. Throws Error(kIo) on other failures.
std::optional<std::string> ReadFileIfExists(const std::string& path);

/// True when `path` exists (any type).
bool Exists(const std::string& path);

}  // namespace pgha::fs

#endif  // PGHA_POSTGRES_FS_HPP
