// Replication slot state files. Fields are read and written in place in the file bytes, in
// the machine's byte order as PostgreSQL writes them; the layouts are in slot_layout.hpp.
#include "pgha/slot_state.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>

#include "pgha/crc32c.hpp"
#include "slot_layout.hpp"
#include "text.hpp"

namespace pgha {

namespace sl = slot_layout;

namespace {

// A slot state file is at most 200 bytes; Read refuses to load more than this.
constexpr std::size_t kMaxReadSize = 4096;

[[noreturn]] void BadFile(const std::string& why, std::uint64_t position) {
  throw Error(ErrorCode::kBadInput, "invalid replication slot state file: " + why, position);
}

std::string Hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

std::uint32_t LoadU32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Checks size, magic, (version, length) and size == 16 + length; returns the layout.
const sl::Spec& CheckHeader(const std::uint8_t* data, std::size_t size) {
  if (size < sl::kHeaderSize) {
    BadFile("file is " + std::to_string(size) +
                " bytes, shorter than the 16-byte header (magic, checksum, SLOT_VERSION, length)",
            size);
  }
  std::uint32_t magic = LoadU32(data + sl::kMagicOffset);
  if (magic != sl::kMagic) {
    BadFile("wrong magic number " + Hex32(magic) + " at offset 0, expected " + Hex32(sl::kMagic),
            sl::kMagicOffset);
  }
  std::uint32_t version = LoadU32(data + sl::kVersionOffset);
  std::uint32_t length = LoadU32(data + sl::kLengthOffset);
  const sl::Spec* spec = sl::FindSpec(version, length);
  if (spec == nullptr) {
    BadFile("unknown SLOT_VERSION " + std::to_string(version) + " with length " +
                std::to_string(length) +
                " at offset 8; known (version, length) pairs are "
                "(2, 160) 10-12, (2, 168) 13, (2, 184) 14-15, (3, 184) 16, (5, 184) 17-18",
            sl::kVersionOffset);
  }
  std::size_t expected = sl::kHeaderSize + length;
  if (size != expected) {
    BadFile("file is " + std::to_string(size) + " bytes but the length " + std::to_string(length) +
                " at offset 12 makes it " + std::to_string(expected),
            std::min(size, expected));
  }
  return *spec;
}

std::uint32_t ChecksumOf(const std::uint8_t* data, std::size_t size) noexcept {
  return Crc32cFinish(
      Crc32cExtend(kCrc32cInit, data + sl::kVersionOffset, size - sl::kVersionOffset));
}

// Checks that the NameData at file offset `off` has a NUL in its 64 bytes.
void CheckNameData(const std::uint8_t* data, std::size_t off, const char* what) {
  if (std::memchr(data + off, 0, sl::kNameDataLen) != nullptr) return;
  std::string_view raw(reinterpret_cast<const char*>(data + off), sl::kNameDataLen);
  BadFile(std::string(what) + " \"" + QuoteForMessage(raw) + "\" at offset " + std::to_string(off) +
              " is not NUL-terminated within 64 bytes",
          off);
}

std::string ReadNameData(const std::vector<std::uint8_t>& bytes, std::size_t off) {
  const char* p = reinterpret_cast<const char*>(bytes.data() + off);
  const void* nul = std::memchr(p, 0, sl::kNameDataLen);
  std::size_t n = nul == nullptr ? sl::kNameDataLen
                                 : static_cast<std::size_t>(static_cast<const char*>(nul) - p);
  return std::string(p, n);
}

// ReplicationSlotValidateName: 1..NAMEDATALEN-1 bytes of [a-z0-9_].
void ValidateSlotName(std::string_view name) {
  if (name.empty()) throw Error(ErrorCode::kBadInput, "replication slot name \"\" is empty");
  if (name.size() >= sl::kNameDataLen) {
    throw Error(ErrorCode::kBadInput, "replication slot name \"" + QuoteForMessage(name) +
                                          "\" is " + std::to_string(name.size()) +
                                          " bytes, longer than 63");
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') continue;
    throw Error(ErrorCode::kBadInput,
                "replication slot name \"" + QuoteForMessage(name) + "\" has \"" +
                    QuoteForMessage(name.substr(i, 1)) + "\" at position " + std::to_string(i) +
                    "; only lower-case letters, digits and underscores are allowed",
                i);
  }
}

void ValidatePluginName(std::string_view plugin) {
  if (plugin.size() >= sl::kNameDataLen || plugin.find('\0') != std::string_view::npos) {
    throw Error(ErrorCode::kBadInput, "output plugin name \"" + QuoteForMessage(plugin) +
                                          "\" must be 0 to 63 bytes without NUL");
  }
}

// The name of cause `value` in `causes`, nullopt for 0; throws for values not in the table.
template <std::size_t N>
std::optional<std::string> CauseName(const std::array<sl::Cause, N>& causes, std::uint32_t value,
                                     int major, std::size_t offset) {
  if (value == 0) return std::nullopt;
  for (const sl::Cause& c : causes) {
    if (c.value == value) return std::string(c.name);
  }
  throw Error(ErrorCode::kBadInput,
              "unknown replication slot invalidation cause " + std::to_string(value) +
                  " for PostgreSQL " + std::to_string(major) + " at offset " +
                  std::to_string(offset),
              offset);
}

}  // namespace

std::string_view SlotLayoutName(SlotLayout layout) noexcept {
  return sl::SpecOf(layout).name;
}

SlotLayout SlotLayoutForMajor(int major) {
  for (const sl::Spec& s : sl::kSpecs) {
    if (major >= s.first_major && major <= s.last_major) return s.layout;
  }
  throw Error(ErrorCode::kBadInput, "PostgreSQL major version " + std::to_string(major) +
                                        " has no known slot state layout (10 to 18 are known)");
}

std::size_t SlotFileSize(SlotLayout layout) noexcept {
  return sl::kHeaderSize + sl::SpecOf(layout).length;
}

std::string_view SlotPersistencyName(SlotPersistency p) noexcept {
  switch (p) {
    case SlotPersistency::kPersistent: return "persistent";
    case SlotPersistency::kEphemeral: return "ephemeral";
    case SlotPersistency::kTemporary: return "temporary";
  }
  return "unknown";
}

SlotState::SlotState(SlotLayout layout, std::vector<std::uint8_t> bytes)
    : layout_(layout), bytes_(std::move(bytes)) {}

SlotState SlotState::Decode(const std::uint8_t* data, std::size_t size, bool verify_checksum) {
  if (data == nullptr && size != 0) BadFile("no data (null pointer)", 0);
  const sl::Spec& spec = CheckHeader(data, size);
  if (verify_checksum) {
    std::uint32_t stored = LoadU32(data + sl::kChecksumOffset);
    std::uint32_t computed = ChecksumOf(data, size);
    if (stored != computed) {
      BadFile("checksum mismatch at offset 4: stored " + Hex32(stored) + ", CRC-32C of bytes 8.." +
                  std::to_string(size - 1) + " is " + Hex32(computed),
              sl::kChecksumOffset);
    }
  }
  CheckNameData(data, sl::kHeaderSize + sl::kName, "slot name");
  CheckNameData(data, sl::kHeaderSize + spec.plugin, "plugin name");
  return SlotState(spec.layout, std::vector<std::uint8_t>(data, data + size));
}

SlotState SlotState::Decode(const std::vector<std::uint8_t>& bytes, bool verify_checksum) {
  return Decode(bytes.data(), bytes.size(), verify_checksum);
}

Result<SlotState> SlotState::TryDecode(const std::uint8_t* data, std::size_t size,
                                       bool verify_checksum) noexcept {
  return Capture([&] { return Decode(data, size, verify_checksum); });
}

SlotState SlotState::Read(const std::string& path, bool verify_checksum) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot open replication slot state file \"" + path +
                    "\": " + std::generic_category().message(err));
  }
  std::vector<std::uint8_t> bytes(kMaxReadSize + 1);
  std::size_t n = std::fread(bytes.data(), 1, bytes.size(), file.get());
  if (std::ferror(file.get()) != 0) {
    int err = errno;
    throw Error(ErrorCode::kIo, "cannot read replication slot state file \"" + path +
                                    "\": " + std::generic_category().message(err));
  }
  if (n > kMaxReadSize) {
    throw Error(ErrorCode::kBadInput,
                "\"" + path + "\" is larger than " + std::to_string(kMaxReadSize) +
                    " bytes: not a replication slot state file",
                kMaxReadSize);
  }
  bytes.resize(n);
  try {
    return Decode(bytes, verify_checksum);
  } catch (const Error& e) {
    throw Error(e.code(), "\"" + path + "\": " + e.what(), e.position());
  }
}

SlotState SlotState::Create(SlotLayout layout, std::string_view name) {
  ValidateSlotName(name);
  const sl::Spec& spec = sl::SpecOf(layout);
  SlotState s(layout, std::vector<std::uint8_t>(sl::kHeaderSize + spec.length, 0));
  s.PutU32(sl::kMagicOffset, sl::kMagic);
  s.PutU32(sl::kVersionOffset, spec.version);
  s.PutU32(sl::kLengthOffset, spec.length);
  s.set_name(name);
  s.PutU32(sl::kChecksumOffset, s.ComputeChecksum());
  return s;
}

std::vector<std::uint8_t> SlotState::Encode() const {
  std::vector<std::uint8_t> out = bytes_;
  std::uint32_t crc = ComputeChecksum();
  std::memcpy(out.data() + sl::kChecksumOffset, &crc, sizeof crc);
  return out;
}

std::uint32_t SlotState::stored_checksum() const noexcept {
  return U32(sl::kChecksumOffset);
}

std::uint32_t SlotState::ComputeChecksum() const noexcept {
  return ChecksumOf(bytes_.data(), bytes_.size());
}

std::uint32_t SlotState::version() const noexcept {
  return U32(sl::kVersionOffset);
}

std::string SlotState::name() const {
  return ReadNameData(bytes_, sl::kHeaderSize + sl::kName);
}

void SlotState::set_name(std::string_view name) {
  ValidateSlotName(name);
  std::uint8_t* p = bytes_.data() + sl::kHeaderSize + sl::kName;
  std::memset(p, 0, sl::kNameDataLen);  // namestrcpy pads with NULs
  std::memcpy(p, name.data(), name.size());
}

std::uint32_t SlotState::database() const noexcept {
  return U32(sl::kHeaderSize + sl::kDatabase);
}

void SlotState::set_database(std::uint32_t oid) noexcept {
  PutU32(sl::kHeaderSize + sl::kDatabase, oid);
}

SlotPersistency SlotState::persistency() const {
  std::uint32_t raw = persistency_raw();
  if (raw > static_cast<std::uint32_t>(SlotPersistency::kTemporary)) {
    throw Error(ErrorCode::kBadInput,
                "replication slot persistency " + std::to_string(raw) + " at offset " +
                    std::to_string(sl::kHeaderSize + sl::kPersistency) +
                    " is not 0 (persistent), 1 (ephemeral) or 2 (temporary)",
                sl::kHeaderSize + sl::kPersistency);
  }
  return static_cast<SlotPersistency>(raw);
}

std::uint32_t SlotState::persistency_raw() const noexcept {
  return U32(sl::kHeaderSize + sl::kPersistency);
}

void SlotState::set_persistency(SlotPersistency p) noexcept {
  PutU32(sl::kHeaderSize + sl::kPersistency, static_cast<std::uint32_t>(p));
}

std::uint32_t SlotState::xmin() const noexcept {
  return U32(sl::kHeaderSize + sl::kXmin);
}

void SlotState::set_xmin(std::uint32_t xid) noexcept {
  PutU32(sl::kHeaderSize + sl::kXmin, xid);
}

std::uint32_t SlotState::catalog_xmin() const noexcept {
  return U32(sl::kHeaderSize + sl::kCatalogXmin);
}

void SlotState::set_catalog_xmin(std::uint32_t xid) noexcept {
  PutU32(sl::kHeaderSize + sl::kCatalogXmin, xid);
}

Lsn SlotState::restart_lsn() const noexcept {
  return Lsn(U64(sl::kHeaderSize + sl::kRestartLsn));
}

void SlotState::set_restart_lsn(Lsn lsn) noexcept {
  PutU64(sl::kHeaderSize + sl::kRestartLsn, lsn.value());
}

Lsn SlotState::confirmed_flush() const noexcept {
  return Lsn(U64(sl::kHeaderSize + sl::SpecOf(layout_).confirmed_flush));
}

void SlotState::set_confirmed_flush(Lsn lsn) noexcept {
  PutU64(sl::kHeaderSize + sl::SpecOf(layout_).confirmed_flush, lsn.value());
}

std::optional<Lsn> SlotState::invalidated_at() const noexcept {
  std::size_t off = sl::SpecOf(layout_).invalidated_at;
  if (off == sl::kAbsent) return std::nullopt;
  return Lsn(U64(sl::kHeaderSize + off));
}

std::optional<std::uint32_t> SlotState::invalidated() const noexcept {
  std::size_t off = sl::SpecOf(layout_).invalidated;
  if (off == sl::kAbsent) return std::nullopt;
  return U32(sl::kHeaderSize + off);
}

std::optional<std::string> SlotState::InvalidationReason(int major) const {
  if (major != 0 && SlotLayoutForMajor(major) != layout_) {
    throw Error(ErrorCode::kBadInput,
                "PostgreSQL " + std::to_string(major) + " does not write the " +
                    std::string(SlotLayoutName(layout_)) + " slot layout of this file");
  }
  if (std::optional<Lsn> at = invalidated_at()) {
    if (at->IsValid()) return std::string(sl::kCauseWalRemoved);
    return std::nullopt;
  }
  std::optional<std::uint32_t> cause = invalidated();
  if (!cause) return std::nullopt;  // 10-12: slots were never invalidated
  std::size_t off = sl::kHeaderSize + sl::SpecOf(layout_).invalidated;
  if (layout_ == SlotLayout::kPg16) return CauseName(sl::kCausesEnum, *cause, 16, off);
  if (major == 17) return CauseName(sl::kCausesEnum, *cause, 17, off);
  if (major == 18) return CauseName(sl::kCausesFlags, *cause, 18, off);
  // The 17 enum and the 18 flags agree on 0, 1 and 2 only.
  if (*cause <= 2) return CauseName(sl::kCausesEnum, *cause, 17, off);
  throw Error(ErrorCode::kBadInput,
              "replication slot invalidation cause " + std::to_string(*cause) + " at offset " +
                  std::to_string(off) +
                  " is read differently by PostgreSQL 17 and 18: the major version is needed",
              off);
}

std::optional<Lsn> SlotState::two_phase_at() const noexcept {
  std::size_t off = sl::SpecOf(layout_).two_phase_at;
  if (off == sl::kAbsent) return std::nullopt;
  return Lsn(U64(sl::kHeaderSize + off));
}

bool SlotState::two_phase() const noexcept {
  std::size_t off = sl::SpecOf(layout_).two_phase;
  return off != sl::kAbsent && bytes_[sl::kHeaderSize + off] != 0;
}

void SlotState::set_two_phase(bool on) {
  std::size_t off = sl::SpecOf(layout_).two_phase;
  if (off == sl::kAbsent) {
    throw Error(ErrorCode::kWrongState, "the " + std::string(SlotLayoutName(layout_)) +
                                            " slot layout has no two_phase field (14 and later)");
  }
  bytes_[sl::kHeaderSize + off] = on ? 1 : 0;
}

std::string SlotState::plugin() const {
  return ReadNameData(bytes_, sl::kHeaderSize + sl::SpecOf(layout_).plugin);
}

void SlotState::set_plugin(std::string_view plugin) {
  ValidatePluginName(plugin);
  std::uint8_t* p = bytes_.data() + sl::kHeaderSize + sl::SpecOf(layout_).plugin;
  std::memset(p, 0, sl::kNameDataLen);
  std::memcpy(p, plugin.data(), plugin.size());
}

bool SlotState::synced() const noexcept {
  std::size_t off = sl::SpecOf(layout_).synced;
  return off != sl::kAbsent && bytes_[sl::kHeaderSize + off] != 0;
}

bool SlotState::failover() const noexcept {
  std::size_t off = sl::SpecOf(layout_).failover;
  return off != sl::kAbsent && bytes_[sl::kHeaderSize + off] != 0;
}

void SlotState::set_failover(bool on) {
  std::size_t off = sl::SpecOf(layout_).failover;
  if (off == sl::kAbsent) {
    throw Error(ErrorCode::kWrongState, "the " + std::string(SlotLayoutName(layout_)) +
                                            " slot layout has no failover field (17 and later)");
  }
  bytes_[sl::kHeaderSize + off] = on ? 1 : 0;
}

std::uint32_t SlotState::U32(std::size_t off) const noexcept {
  return LoadU32(bytes_.data() + off);
}

std::uint64_t SlotState::U64(std::size_t off) const noexcept {
  std::uint64_t v;
  std::memcpy(&v, bytes_.data() + off, sizeof v);
  return v;
}

void SlotState::PutU32(std::size_t off, std::uint32_t v) noexcept {
  std::memcpy(bytes_.data() + off, &v, sizeof v);
}

void SlotState::PutU64(std::size_t off, std::uint64_t v) noexcept {
  std::memcpy(bytes_.data() + off, &v, sizeof v);
}

}  // namespace pgha
