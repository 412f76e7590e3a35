// JSON forms of the logical-slot types (include/pgha/logical_slots.hpp), for the slots routes
// and the peer client.
#ifndef PGHA_AGENT_SLOT_JSON_HPP
#define PGHA_AGENT_SLOT_JSON_HPP

#include <vector>

#include <nlohmann/json.hpp>

#include "pgha/logical_slots.hpp"

namespace pgha::agent {

/// With the state file as lower-case hex ("state"), only when `with_state`.
nlohmann::json ToJson(const LogicalSlot& s, bool with_state = true);
LogicalSlot LogicalSlotFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const std::vector<LogicalSlot>& slots, bool with_state = true);
std::vector<LogicalSlot> LogicalSlotsFromJson(const nlohmann::json& j);

nlohmann::json ToJson(const MasterSlots& m);
MasterSlots MasterSlotsFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const HoldChanges& c);
HoldChanges HoldChangesFromJson(const nlohmann::json& j);

nlohmann::json ToJson(const SlotCopyStatus& s);
SlotCopyStatus SlotCopyStatusFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const SlotSyncReport& r);
SlotSyncReport SlotSyncReportFromJson(const nlohmann::json& j);

}  // namespace pgha::agent

#endif  // PGHA_AGENT_SLOT_JSON_HPP
