// Log sequence numbers: byte positions in the WAL stream (PostgreSQL's XLogRecPtr).
#ifndef PGHA_LSN_HPP
#define PGHA_LSN_HPP

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgha/export.hpp"

namespace pgha {

/// A WAL position. 0/0 is PostgreSQL's InvalidXLogRecPtr. A value type: cheap to copy,
/// thread-safe to share.
class PGHA_API Lsn {
 public:
  /// The invalid LSN 0/0.
  constexpr Lsn() noexcept = default;
  /// The LSN at byte `value` of the WAL stream.
  constexpr explicit Lsn(std::uint64_t value) noexcept : value_(value) {}

  /// Parses PostgreSQL's text form `X/Y` strictly, as the pg_lsn type does: each half is
  /// 1 to 8 hex digits (either case, zero-padding allowed), nothing before, between or
  /// after. Throws Error(kBadInput) quoting the text otherwise.
  static Lsn Parse(std::string_view text);
  /// Like Parse, without exceptions: nullopt for text Parse would reject.
  static std::optional<Lsn> TryParse(std::string_view text) noexcept;

  /// The text form exactly as PostgreSQL prints it: `%X/%X`, upper case, no padding.
  std::string ToString() const;

  /// The byte position.
  constexpr std::uint64_t value() const noexcept { return value_; }
  /// False for 0/0.
  constexpr bool IsValid() const noexcept { return value_ != 0; }
  /// The high 32 bits (the `X` of `X/Y`).
  constexpr std::uint32_t high() const noexcept { return static_cast<std::uint32_t>(value_ >> 32); }
  /// The low 32 bits (the `Y` of `X/Y`).
  constexpr std::uint32_t low() const noexcept { return static_cast<std::uint32_t>(value_); }

  /// `bytes` later; throws Error(kBadInput) when that passes FFFFFFFF/FFFFFFFF.
  Lsn Plus(std::uint64_t bytes) const;
  /// `bytes` earlier; throws Error(kBadInput) when that goes below 0/0.
  Lsn Minus(std::uint64_t bytes) const;
  /// Signed distance `this - other` in bytes; throws Error(kBadInput) if it does not fit
  /// in int64.
  std::int64_t Diff(Lsn other) const;

  friend constexpr bool operator==(Lsn a, Lsn b) noexcept { return a.value_ == b.value_; }
  friend constexpr bool operator!=(Lsn a, Lsn b) noexcept { return a.value_ != b.value_; }
  friend constexpr bool operator<(Lsn a, Lsn b) noexcept { return a.value_ < b.value_; }
  friend constexpr bool operator<=(Lsn a, Lsn b) noexcept { return a.value_ <= b.value_; }
  friend constexpr bool operator>(Lsn a, Lsn b) noexcept { return a.value_ > b.value_; }
  friend constexpr bool operator>=(Lsn a, Lsn b) noexcept { return a.value_ >= b.value_; }
  friend Lsn operator+(Lsn a, std::uint64_t bytes) { return a.Plus(bytes); }
  friend Lsn operator-(Lsn a, std::uint64_t bytes) { return a.Minus(bytes); }
  friend std::int64_t operator-(Lsn a, Lsn b) { return a.Diff(b); }

 private:
  std::uint64_t value_ = 0;
};

}  // namespace pgha

#endif  // PGHA_LSN_HPP
