#include "slot_json.hpp"

#include "json_fields.hpp"
#include "pgha/error.hpp"

namespace pgha::agent {

using nlohmann::json;

namespace {

std::string LsnText(Lsn lsn) {
  return lsn.ToString();
}

Lsn LsnOf(const json& j, const char* key) {
  std::string text = Field<std::string>(j, key, "0/0");
  auto lsn = Lsn::TryParse(text);
  if (!lsn)
    throw Error(ErrorCode::kBadInput, std::string("JSON field \"") + key + "\": not an LSN");
  return *lsn;
}

std::string Hex(const std::vector<std::uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::vector<std::uint8_t> Unhex(const std::string& text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw Error(ErrorCode::kBadInput, "slot state: not lower-case hex");
  };
  if (text.size() % 2 != 0 || text.size() > 8192)
    throw Error(ErrorCode::kBadInput, "slot state: bad length");
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < text.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

std::optional<std::uint32_t> OptionalXid(const json& j, const char* key) {
  RequireObject(j, key);
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return FieldValue<std::uint32_t>(j.at(key), key);
}

// A list of objects under `key` (none when missing).
const json& ArrayField(const json& j, const char* key) {
  static const json kNone = json::array();
  RequireObject(j, key);
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kNone;
  if (!it->is_array())
    throw Error(ErrorCode::kBadInput, std::string("JSON field \"") + key + "\": not an array");
  return *it;
}

}  // namespace

json ToJson(const LogicalSlot& s, bool with_state) {
  json j = {{"slot", s.name},
            {"plugin", s.plugin},
            {"database", s.database},
            {"database_oid", s.database_oid},
            {"restart_lsn", LsnText(s.restart_lsn)},
            {"confirmed_flush", LsnText(s.confirmed_flush)},
            {"catalog_xmin", s.catalog_xmin},
            {"two_phase", s.two_phase},
            {"failover", s.failover},
            {"synced", s.synced},
            {"wal_status", s.wal_status}};
  if (with_state) j["state"] = Hex(s.state);
  return j;
}

LogicalSlot LogicalSlotFromJson(const json& j) {
  LogicalSlot s;
  s.name = Field<std::string>(j, "slot", "");
  if (s.name.empty()) throw Error(ErrorCode::kBadInput, "JSON field \"slot\": missing");
  s.plugin = Field<std::string>(j, "plugin", "");
  s.database = Field<std::string>(j, "database", "");
  s.database_oid = Field<std::uint32_t>(j, "database_oid", 0);
  s.restart_lsn = LsnOf(j, "restart_lsn");
  s.confirmed_flush = LsnOf(j, "confirmed_flush");
  s.catalog_xmin = Field<std::uint32_t>(j, "catalog_xmin", 0);
  s.two_phase = Field<bool>(j, "two_phase", false);
  s.failover = Field<bool>(j, "failover", false);
  s.synced = Field<bool>(j, "synced", false);
  s.wal_status = Field<std::string>(j, "wal_status", "");
  s.state = Unhex(Field<std::string>(j, "state", ""));
  return s;
}

json ToJson(const std::vector<LogicalSlot>& slots, bool with_state) {
  json a = json::array();
  for (const LogicalSlot& s : slots) a.push_back(ToJson(s, with_state));
  return a;
}

std::vector<LogicalSlot> LogicalSlotsFromJson(const json& j) {
  if (!j.is_array()) throw Error(ErrorCode::kBadInput, "slots: expected a JSON array");
  std::vector<LogicalSlot> out;
  for (const json& s : j) out.push_back(LogicalSlotFromJson(s));
  return out;
}

json ToJson(const MasterSlots& m) {
  return {
      {"server_version", m.server_version},
      {"running", m.running},
      {"slots", ToJson(m.slots)},
      {"holds", ToJson(m.holds)},
      {"physical_slot_exists", m.physical_slot_exists},
      {"physical_xmin", m.physical_xmin ? json(*m.physical_xmin) : json()},
      {"physical_catalog_xmin", m.physical_catalog_xmin ? json(*m.physical_catalog_xmin) : json()}};
}

MasterSlots MasterSlotsFromJson(const json& j) {
  MasterSlots m;
  m.server_version = Field<int>(j, "server_version", 0);
  m.running = Field<bool>(j, "running", false);
  m.slots = LogicalSlotsFromJson(ArrayField(j, "slots"));
  m.holds = LogicalSlotsFromJson(ArrayField(j, "holds"));
  m.physical_slot_exists = Field<bool>(j, "physical_slot_exists", false);
  m.physical_xmin = OptionalXid(j, "physical_xmin");
  m.physical_catalog_xmin = OptionalXid(j, "physical_catalog_xmin");
  return m;
}

json ToJson(const HoldChanges& c) {
  return {{"hold", c.hold}, {"release", c.release}};
}

HoldChanges HoldChangesFromJson(const json& j) {
  HoldChanges c;
  c.hold = Field<std::vector<std::string>>(j, "hold", {});
  c.release = Field<std::vector<std::string>>(j, "release", {});
  return c;
}

json ToJson(const SlotCopyStatus& s) {
  json j = {{"slot", s.slot},
            {"node", s.node},
            {"installed", s.installed},
            {"safe", s.safe},
            {"reason", s.reason},
            {"action", s.action},
            {"master_confirmed_flush", LsnText(s.master_confirmed_flush)},
            {"restart_lsn", LsnText(s.restart_lsn)},
            {"confirmed_flush", LsnText(s.confirmed_flush)},
            {"catalog_xmin", s.catalog_xmin}};
  if (s.installed && s.master_confirmed_flush >= s.confirmed_flush)
    j["lag_bytes"] = s.master_confirmed_flush - s.confirmed_flush;
  return j;
}

SlotCopyStatus SlotCopyStatusFromJson(const json& j) {
  SlotCopyStatus s;
  s.slot = Field<std::string>(j, "slot", "");
  s.node = Field<std::string>(j, "node", "");
  s.installed = Field<bool>(j, "installed", false);
  s.safe = Field<bool>(j, "safe", false);
  s.reason = Field<std::string>(j, "reason", "");
  s.action = Field<std::string>(j, "action", "");
  s.master_confirmed_flush = LsnOf(j, "master_confirmed_flush");
  s.restart_lsn = LsnOf(j, "restart_lsn");
  s.confirmed_flush = LsnOf(j, "confirmed_flush");
  s.catalog_xmin = Field<std::uint32_t>(j, "catalog_xmin", 0);
  return s;
}

json ToJson(const SlotSyncReport& r) {
  json slots = json::array();
  for (const SlotCopyStatus& s : r.slots) slots.push_back(ToJson(s));
  return {{"node", r.node}, {"slots", slots}, {"dropped", r.dropped}, {"restarted", r.restarted}};
}

SlotSyncReport SlotSyncReportFromJson(const json& j) {
  SlotSyncReport r;
  r.node = Field<std::string>(j, "node", "");
  for (const json& s : ArrayField(j, "slots")) r.slots.push_back(SlotCopyStatusFromJson(s));
  r.dropped = Field<std::vector<std::string>>(j, "dropped", {});
  r.restarted = Field<bool>(j, "restarted", false);
  return r;
}

}  // namespace pgha::agent
