#include "inspect.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "pgha/control_data.hpp"
#include "pgha/error.hpp"
#include "pgha/slot_state.hpp"
#include "pgha/timeline.hpp"
#include "pgha/wal_file.hpp"
#include "pgha/wal_page.hpp"
#include "pgha/wal_scan.hpp"

namespace pgha::cli {

namespace {

using nlohmann::json;

constexpr std::uint8_t kSlotMagicBytes[4] = {0xA1, 0x1C, 0x05, 0x01};

json LsnOrNull(Lsn lsn) {
  return lsn.IsValid() ? json(lsn.ToString()) : json(nullptr);
}

std::string BaseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

json DescribeSlot(const std::vector<std::uint8_t>& bytes) {
  SlotState s = SlotState::Decode(bytes);
  json j = {{"type", "slot_state"},
            {"layout", SlotLayoutName(s.layout())},
            {"version", s.version()},
            {"checksum", s.stored_checksum()},
            {"slot_name", s.name()},
            {"slot_type", s.is_logical() ? "logical" : "physical"},
            {"plugin", s.is_logical() ? json(s.plugin()) : json(nullptr)},
            {"datoid", s.is_logical() ? json(s.database()) : json(nullptr)},
            {"persistency", SlotPersistencyName(s.persistency())},
            {"xmin", s.xmin() != 0 ? json(s.xmin()) : json(nullptr)},
            {"catalog_xmin", s.catalog_xmin() != 0 ? json(s.catalog_xmin()) : json(nullptr)},
            {"restart_lsn", LsnOrNull(s.restart_lsn())},
            {"confirmed_flush_lsn", LsnOrNull(s.confirmed_flush())},
            {"two_phase", s.two_phase()}};
  if (auto at = s.invalidated_at()) j["invalidated_at"] = LsnOrNull(*at);
  if (auto inv = s.invalidated()) j["invalidated"] = *inv;
  if (auto tp = s.two_phase_at()) j["two_phase_at"] = LsnOrNull(*tp);
  if (s.layout() == SlotLayout::kPg17) {
    j["failover"] = s.failover();
    j["synced"] = s.synced();
  }
  return j;
}

json DescribeHistory(const std::string& name, std::string_view text) {
  WalFileName n = WalFileName::Parse(name);
  TimelineHistory h = TimelineHistory::Parse(text, n.timeline);
  json entries = json::array();
  for (const auto& e : h.entries()) {
    entries.push_back({{"timeline", e.timeline},
                       {"begin", LsnOrNull(e.begin)},
                       {"end", LsnOrNull(e.end)},
                       {"reason", e.reason}});
  }
  return {{"type", "timeline_history"}, {"timeline", h.timeline()}, {"entries", entries}};
}

json OptionalNumber(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

// `type` is "control_data" for pg_controldata's text, "pg_control" for the binary file.
json DescribeControlData(const ControlData& c, std::string_view type) {
  return {{"type", type},
          {"pg_control_version", c.control_version},
          {"postgres_major_at_least", c.MajorVersionLowerBound()},
          {"catalog_version", c.catalog_version},
          {"system_identifier", std::to_string(c.system_identifier)},
          {"cluster_state", ClusterStateName(c.state)},
          {"last_modified", OptionalNumber(c.last_modified)},
          {"checkpoint", c.checkpoint.ToString()},
          {"redo", c.redo.ToString()},
          {"redo_wal_file", c.redo_wal_file},
          {"timeline", c.timeline},
          {"prev_timeline", c.prev_timeline},
          {"current_timeline", c.CurrentTimeline()},
          {"full_page_writes", c.full_page_writes},
          {"next_xid", c.next_xid},
          {"checkpoint_time", OptionalNumber(c.checkpoint_time)},
          {"min_recovery_end", c.min_recovery_end.ToString()},
          {"min_recovery_end_timeline", c.min_recovery_end_timeline},
          {"backup_start", c.backup_start.ToString()},
          {"backup_end", c.backup_end.ToString()},
          {"end_of_backup_required", c.end_of_backup_required},
          {"wal_level", c.wal_level},
          {"wal_log_hints", c.wal_log_hints},
          {"block_size", c.block_size},
          {"wal_block_size", c.wal_block_size},
          {"wal_segment_size", c.wal_segment_size},
          {"data_checksum_version", c.data_checksum_version},
          {"fields", c.fields}};
}

json DescribeSegment(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  WalPageHeader h = DecodeWalPageHeader(bytes.data(), bytes.size());
  WalFileName n = WalFileName::Parse(BaseName(path), h.segment_size);
  WalScanResult r = ScanWalFiles({path});
  return {{"type", "wal_segment"},
          {"file", n.ToString()},
          {"kind", WalFileKindName(n.kind)},
          {"timeline", n.timeline},
          {"segment", n.segment},
          {"start_lsn", n.StartLsn().ToString()},
          {"page_magic", h.magic},
          {"postgres_major", PostgresMajorForWalMagic(h.magic)},
          {"system_identifier", std::to_string(h.system_identifier)},
          {"segment_size", h.segment_size},
          {"first_record", LsnOrNull(r.start)},
          {"end_of_wal", r.end.ToString()},
          {"last_record", LsnOrNull(r.last_record)},
          {"records", r.records},
          {"stop_reason", r.stop_reason}};
}

bool LooksLikeWalSegment(const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() < kWalLongPageHeaderSize) return false;
  std::uint16_t magic = 0;
  std::uint16_t info = 0;
  std::memcpy(&magic, bytes.data(), 2);
  std::memcpy(&info, bytes.data() + 2, 2);
  return PostgresMajorForWalMagic(magic) != 0 && (info & kXlpLongHeader) != 0;
}

}  // namespace

json Inspect(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::string name = BaseName(path);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), kSlotMagicBytes, 4) == 0) {
    return DescribeSlot(bytes);
  }
  if (auto n = WalFileName::TryParse(name); n.ok() && n.value().kind == WalFileKind::kHistory) {
    return DescribeHistory(name, text);
  }
  if (text.find("pg_control version number:") != std::string_view::npos) {
    return DescribeControlData(ControlData::Parse(text), "control_data");
  }
  // A file named pg_control is decoded (and its errors told); another name only when it
  // decodes, CRC-32C included.
  if (name == "pg_control") return DescribeControlData(ControlData::Decode(bytes), "pg_control");
  if (auto c = ControlData::TryDecode(bytes.data(), bytes.size()); c.ok()) {
    return DescribeControlData(c.value(), "pg_control");
  }
  if (LooksLikeWalSegment(bytes)) return DescribeSegment(path, bytes);
  throw Error(ErrorCode::kBadInput,
              "\"" + path +
                  "\" is not a slot state file, a timeline history file, a WAL segment, "
                  "pg_control or pg_controldata output");
}

}  // namespace pgha::cli
