// Streaming extraction of the tar archives a server sends for BASE_BACKUP (private).
#ifndef PGHA_POSTGRES_TAR_EXTRACT_HPP
#define PGHA_POSTGRES_TAR_EXTRACT_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fs.hpp"

namespace pgha::pg {

/// Writes the members of one ustar archive, fed in pieces of any size, under an existing
/// directory `root`. PostgreSQL's tar (src/port/tar.c) writes regular files ('0'),
/// directories ('5') and symbolic links ('2', pg_tblspc's); sizes in octal or, past 8 GiB,
/// base-256. The archive may end with zero blocks or without them (the stream of a BASE_BACKUP
/// before PostgreSQL 15 omits them).
///
/// Refused with Error(kBadInput), before anything is written for that member: a bad header
/// checksum, a name that is absolute, empty or has a "." or ".." component, a member type
/// other than those three, a symbolic link (`allow_symlinks` false), data after the end
/// blocks, and (at Finish) an archive cut inside a member. Files are created new (O_EXCL):
/// an archive naming one twice fails with Error(kIo). When this process is root the members
/// are given to `owner`. Nothing is fsynced here: the caller syncs the whole tree once.
class TarExtractor {
 public:
  TarExtractor(std::string root, std::optional<fs::Owner> owner, bool allow_symlinks = false);
  ~TarExtractor();
  TarExtractor(const TarExtractor&) = delete;
  TarExtractor& operator=(const TarExtractor&) = delete;

  /// The next `size` bytes of the archive.
  void Feed(const char* data, std::size_t size);
  /// The archive is complete: throws Error(kBadInput) when it stopped inside a member.
  void Finish();

  /// Bytes of file contents written, and members (files, directories, links) made.
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }
  std::uint64_t members() const noexcept { return members_; }

 private:
  void Header();     // header_ holds 512 bytes
  void CloseFile();  // the current file is complete
  void Write(const char* data, std::size_t size);

  std::string root_;
  std::optional<fs::Owner> owner_;
  bool allow_symlinks_;
  std::string header_;         // the header block being gathered
  std::string name_;           // the member whose data comes next
  int fd_ = -1;                // open file of that member (-1 when none)
  std::uint64_t left_ = 0;     // its data bytes still to come
  std::uint64_t padding_ = 0;  // padding bytes after them
  bool ended_ = false;         // a zero block was seen
  std::uint64_t bytes_written_ = 0;
  std::uint64_t members_ = 0;
};

/// The size field of a ustar header (12 bytes): octal digits (NUL or space ended) or, with
/// the high bit of the first byte set, a base-256 number. nullopt when it is neither.
std::optional<std::uint64_t> TarNumber(std::string_view field);

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_TAR_EXTRACT_HPP
