// pgha logical slots kept on standbys (include/pgha/logical_slots.hpp).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "pgha/instance.hpp"
#include "pgha/logical_slots.hpp"

namespace pgha::py {

namespace {

using Release = pb::call_guard<pb::gil_scoped_release>;

pb::bytes StateBytes(const LogicalSlot& s) {
  return {reinterpret_cast<const char*>(s.state.data()), s.state.size()};
}

}  // namespace

void BindLogicalSlots(pb::module_& m) {
  pb::class_<LogicalSlot>(m, "LogicalSlot", "A logical replication slot as a node has it.")
      .def_readonly("name", &LogicalSlot::name)
      .def_readonly("plugin", &LogicalSlot::plugin)
      .def_readonly("database", &LogicalSlot::database)
      .def_readonly("database_oid", &LogicalSlot::database_oid)
      .def_property_readonly("restart_lsn",
                             [](const LogicalSlot& s) { return LsnOrNone(s.restart_lsn); })
      .def_property_readonly("confirmed_flush",
                             [](const LogicalSlot& s) { return LsnOrNone(s.confirmed_flush); })
      .def_readonly("catalog_xmin", &LogicalSlot::catalog_xmin)
      .def_readonly("two_phase", &LogicalSlot::two_phase)
      .def_readonly("failover", &LogicalSlot::failover)
      .def_readonly("synced", &LogicalSlot::synced)
      .def_readonly("wal_status", &LogicalSlot::wal_status)
      .def_property_readonly("state", &StateBytes)
      .def("__repr__", [](const LogicalSlot& s) {
        return "LogicalSlot(" + s.name + ", " + s.plugin + ", confirmed_flush " +
               s.confirmed_flush.ToString() + ")";
      });

  pb::class_<MasterSlots>(m, "MasterSlots", "What a master tells one standby about its slots.")
      .def_readonly("server_version", &MasterSlots::server_version)
      .def_readonly("running", &MasterSlots::running)
      .def_readonly("slots", &MasterSlots::slots)
      .def_readonly("holds", &MasterSlots::holds)
      .def_readonly("physical_slot_exists", &MasterSlots::physical_slot_exists)
      .def_readonly("physical_xmin", &MasterSlots::physical_xmin)
      .def_readonly("physical_catalog_xmin", &MasterSlots::physical_catalog_xmin);

  pb::class_<HoldChanges>(m, "HoldChanges", "Hold slots to create and to drop on the master.")
      .def(pb::init<>())
      .def_readwrite("hold", &HoldChanges::hold)
      .def_readwrite("release", &HoldChanges::release);

  pb::class_<SlotCopyStatus>(m, "SlotCopyStatus", "One slot on one standby.")
      .def_readonly("slot", &SlotCopyStatus::slot)
      .def_readonly("node", &SlotCopyStatus::node)
      .def_readonly("installed", &SlotCopyStatus::installed)
      .def_readonly("safe", &SlotCopyStatus::safe)
      .def_readonly("reason", &SlotCopyStatus::reason)
      .def_readonly("action", &SlotCopyStatus::action)
      .def_property_readonly(
          "master_confirmed_flush",
          [](const SlotCopyStatus& s) { return LsnOrNone(s.master_confirmed_flush); })
      .def_property_readonly("restart_lsn",
                             [](const SlotCopyStatus& s) { return LsnOrNone(s.restart_lsn); })
      .def_property_readonly("confirmed_flush",
                             [](const SlotCopyStatus& s) { return LsnOrNone(s.confirmed_flush); })
      .def_readonly("catalog_xmin", &SlotCopyStatus::catalog_xmin)
      .def("__repr__", [](const SlotCopyStatus& s) {
        return "SlotCopyStatus(" + s.slot + " on " + s.node + ", " +
               (s.safe ? std::string("safe") : "unsafe: " + s.reason) + ")";
      });

  pb::class_<SlotSyncReport>(m, "SlotSyncReport", "A round of slot synchronisation.")
      .def_readonly("node", &SlotSyncReport::node)
      .def_readonly("slots", &SlotSyncReport::slots)
      .def_readonly("dropped", &SlotSyncReport::dropped)
      .def_readonly("restarted", &SlotSyncReport::restarted);

  m.def("standby_slot_name", &StandbySlotName, pb::arg("node"));
  m.def("read_logical_slots", &ReadLogicalSlots, pb::arg("node"), Release());
  m.def("read_master_slots", &ReadMasterSlots, pb::arg("master"), pb::arg("standby"),
        pb::arg("changes") = HoldChanges{}, pb::arg("ensure_physical_slot") = false,
        pb::arg("cluster_nodes") = std::vector<std::string>{}, Release());
  m.def(
      "sync_logical_slots",
      [](Instance& standby, const MasterSlotsSource& master, const std::string& node,
         bool allow_restart, bool apply) {
        SlotSyncOptions o;
        o.node = node;
        o.allow_restart = allow_restart;
        o.apply = apply;
        return SyncLogicalSlots(standby, master, o);
      },
      pb::arg("standby"), pb::arg("master"), pb::kw_only(), pb::arg("node"),
      pb::arg("allow_restart") = true, pb::arg("apply") = true, Release());
  m.def("install_logical_slots", &InstallLogicalSlots, pb::arg("node"), pb::arg("master_slots"),
        Release());
  m.def("advance_logical_slots", &AdvanceLogicalSlots, pb::arg("node"), pb::arg("master_slots"),
        Release());
}

}  // namespace pgha::py
