// libFuzzer target: LSN text (Lsn::TryParse) and pg_wal file names (WalFileName::TryParse for
// every valid segment size, and for a size taken from the input). Invariants: what parses
// prints back to text that parses to an equal value; refusals are kBadInput; an invalid
// segment size is always refused; the segment arithmetic of a parsed LSN adds up.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "fuzz_support.hpp"
#include "pgha/lsn.hpp"
#include "pgha/wal_file.hpp"

namespace {

using pgha::Lsn;
using pgha::WalFileKind;
using pgha::WalFileName;

void CheckLsn(std::string_view text) {
  std::optional<Lsn> lsn = Lsn::TryParse(text);
  if (!lsn) return;
  const std::string printed = lsn->ToString();
  std::optional<Lsn> again = Lsn::TryParse(printed);
  PGHA_FUZZ_CHECK(again && *again == *lsn);
  PGHA_FUZZ_CHECK(Lsn::Parse(printed) == *lsn);
  for (std::uint32_t size = 1u << 20; size != 0 && size <= (1u << 30); size <<= 1) {
    const std::uint64_t segno = pgha::SegmentNumberOf(*lsn, size);
    const Lsn start = pgha::SegmentStart(segno, size);
    PGHA_FUZZ_CHECK(start.value() + pgha::SegmentOffsetOf(*lsn, size) == lsn->value());
    const WalFileName name = WalFileName::ForLsn(1, *lsn, size);
    pgha::Result<WalFileName> parsed = WalFileName::TryParse(name.ToString(), size);
    PGHA_FUZZ_CHECK(parsed.ok() && parsed.value() == name);
  }
}

// The lookups of a parsed name: the segment range, and ForLsn back to the same segment.
void CheckRange(const WalFileName& name) {
  if (name.kind == WalFileKind::kHistory) return;
  PGHA_FUZZ_CHECK(name.ToString().compare(0, 24, name.SegmentName()) == 0);
  const Lsn start = name.StartLsn();
  const WalFileName again = WalFileName::ForLsn(name.timeline, start, name.segment_size);
  PGHA_FUZZ_CHECK(again.segment == name.segment && again.timeline == name.timeline);
  try {
    PGHA_FUZZ_CHECK(name.EndLsn() > start);
  } catch (const pgha::Error& e) {  // the last segment ends past FFFFFFFF/FFFFFFFF
    PGHA_FUZZ_CHECK_REFUSAL(e);
  }
}

void CheckWalName(std::string_view text, std::uint32_t size) {
  pgha::Result<WalFileName> r = WalFileName::TryParse(text, size);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return;
  }
  PGHA_FUZZ_CHECK(pgha::IsValidWalSegmentSize(size));
  const WalFileName& name = r.value();
  PGHA_FUZZ_CHECK(name.segment_size == size && name.timeline != 0);
  const std::string printed = name.ToString();
  PGHA_FUZZ_CHECK(printed == text);  // the grammar has one spelling per name
  pgha::Result<WalFileName> again = WalFileName::TryParse(printed, size);
  PGHA_FUZZ_CHECK(again.ok() && again.value() == name);
  CheckRange(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = pgha::fuzz::AsText(data, size);
  CheckLsn(text);
  for (std::uint32_t seg = 1u << 20; seg != 0 && seg <= (1u << 30); seg <<= 1) {
    CheckWalName(text, seg);
  }
  if (size >= 4) {  // any 32-bit size, mostly invalid ones
    std::uint32_t seg = 0;
    std::memcpy(&seg, data, sizeof seg);
    CheckWalName(text, seg);
  }
  return 0;
}
