// libFuzzer target: replication slot state files (SlotState::TryDecode). Invariants: a refusal
// is kBadInput; a decoded file encodes back to the input byte for byte (with the checksum
// verified) or to the input with a fresh checksum (without), and every accessor answers
// without crashing.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "pgha/slot_state.hpp"

namespace {

using pgha::Error;
using pgha::SlotState;

// Bytes 4..7 of a state file hold the CRC-32C of bytes 8..end (ReplicationSlotOnDisk).
constexpr std::size_t kChecksumOffset = 4;
constexpr std::size_t kChecksumEnd = 8;

// Calls every reader; the ones documented to throw may only throw kBadInput.
void ReadAll(const SlotState& s, std::size_t size) {
  PGHA_FUZZ_CHECK(pgha::SlotFileSize(s.layout()) == size);
  PGHA_FUZZ_CHECK(!pgha::SlotLayoutName(s.layout()).empty());
  PGHA_FUZZ_CHECK(s.name().size() < 64 && s.plugin().size() < 64);
  PGHA_FUZZ_CHECK(s.is_logical() == (s.database() != 0));
  (void)s.version();
  (void)s.xmin();
  (void)s.catalog_xmin();
  (void)s.restart_lsn();
  (void)s.confirmed_flush();
  (void)s.invalidated_at();
  (void)s.invalidated();
  (void)s.two_phase_at();
  (void)s.two_phase();
  (void)s.synced();
  (void)s.failover();
  (void)s.persistency_raw();
  try {
    (void)pgha::SlotPersistencyName(s.persistency());
  } catch (const Error& e) {
    PGHA_FUZZ_CHECK_REFUSAL(e);
  }
  for (int major : {0, 17, 18}) {
    try {
      (void)s.InvalidationReason(major);
    } catch (const Error& e) {
      PGHA_FUZZ_CHECK_REFUSAL(e);
    }
  }
}

void CheckVerified(const std::uint8_t* data, std::size_t size) {
  pgha::Result<SlotState> r = SlotState::TryDecode(data, size, true);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return;
  }
  const SlotState& s = r.value();
  std::vector<std::uint8_t> out = s.Encode();
  PGHA_FUZZ_CHECK(out.size() == size && std::memcmp(out.data(), data, size) == 0);
  PGHA_FUZZ_CHECK(s.stored_checksum() == s.ComputeChecksum());
  ReadAll(s, size);
}

void CheckUnverified(const std::uint8_t* data, std::size_t size) {
  pgha::Result<SlotState> r = SlotState::TryDecode(data, size, false);
  if (!r.ok()) {
    PGHA_FUZZ_CHECK_REFUSAL(r.error());
    return;
  }
  const SlotState& s = r.value();
  std::vector<std::uint8_t> out = s.Encode();
  PGHA_FUZZ_CHECK(out.size() == size);
  PGHA_FUZZ_CHECK(std::memcmp(out.data(), data, kChecksumOffset) == 0);
  PGHA_FUZZ_CHECK(
      std::memcmp(out.data() + kChecksumEnd, data + kChecksumEnd, size - kChecksumEnd) == 0);
  // The re-encoded file carries a valid checksum, so it decodes with verification.
  pgha::Result<SlotState> again = SlotState::TryDecode(out.data(), out.size(), true);
  PGHA_FUZZ_CHECK(again.ok());
  PGHA_FUZZ_CHECK(again.value().Encode() == out);
  PGHA_FUZZ_CHECK(again.value().stored_checksum() == s.ComputeChecksum());
  ReadAll(s, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CheckVerified(data, size);
  CheckUnverified(data, size);
  return 0;
}
