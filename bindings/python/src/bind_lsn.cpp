#include <pybind11/operators.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "pgha/error.hpp"
#include "pgha/node_state.hpp"
#include "pgha/wal_file.hpp"

namespace pgha::py {

void BindLsn(pb::module_& m) {
  pb::class_<Lsn>(m, "Lsn", "A WAL position (PostgreSQL's pg_lsn / XLogRecPtr).")
      .def(pb::init<>(), "The invalid LSN 0/0.")
      .def(pb::init([](std::uint64_t v) { return Lsn(v); }), pb::arg("value"))
      .def(pb::init([](const std::string& text) { return Lsn::Parse(text); }), pb::arg("text"))
      .def_static("parse", &Lsn::Parse, pb::arg("text"), "Parses 'X/Y' strictly.")
      .def("to_string", &Lsn::ToString)
      .def("__str__", &Lsn::ToString)
      .def("__repr__", [](const Lsn& l) { return "Lsn('" + l.ToString() + "')"; })
      .def("__int__", &Lsn::value)
      .def("__index__", &Lsn::value)
      .def("__hash__", [](const Lsn& l) { return std::hash<std::uint64_t>()(l.value()); })
      .def_property_readonly("value", &Lsn::value)
      .def_property_readonly("is_valid", &Lsn::IsValid)
      .def(pb::self == pb::self)
      .def(pb::self != pb::self)
      .def(pb::self < pb::self)
      .def(pb::self <= pb::self)
      .def(pb::self > pb::self)
      .def(pb::self >= pb::self)
      .def("__add__", [](const Lsn& l, std::uint64_t bytes) { return l.Plus(bytes); })
      .def("__sub__",
           [](const Lsn& a, const Lsn& b) {
             // Python ints are unbounded: the exact difference, negative when b is later.
             return pb::int_(a.value()) - pb::int_(b.value());
           })
      .def("__sub__", [](const Lsn& l, std::uint64_t bytes) { return l.Minus(bytes); });
  pb::implicitly_convertible<pb::str, Lsn>();
}

void BindWalFile(pb::module_& m) {
  m.attr("DEFAULT_WAL_SEGMENT_SIZE") = kDefaultWalSegmentSize;
  m.def("is_valid_wal_segment_size", &IsValidWalSegmentSize, pb::arg("size"));
  pb::class_<WalFileName>(m, "WalFileName", "A parsed pg_wal file name.")
      .def_static("parse", &WalFileName::Parse, pb::arg("name"),
                  pb::arg("segment_size") = kDefaultWalSegmentSize)
      .def_static("for_lsn", &WalFileName::ForLsn, pb::arg("timeline"), pb::arg("lsn"),
                  pb::arg("segment_size") = kDefaultWalSegmentSize)
      .def_static("history", &WalFileName::History, pb::arg("timeline"))
      .def_property_readonly(
          "kind", [](const WalFileName& n) { return std::string(WalFileKindName(n.kind)); })
      .def_readonly("timeline", &WalFileName::timeline)
      .def_readonly("segment", &WalFileName::segment)
      .def_readonly("backup_offset", &WalFileName::backup_offset)
      .def_readonly("segment_size", &WalFileName::segment_size)
      .def_property_readonly("start_lsn", &WalFileName::StartLsn)
      .def_property_readonly("end_lsn", &WalFileName::EndLsn)
      .def_property_readonly("segment_name", &WalFileName::SegmentName)
      .def_property_readonly("holds_wal", &WalFileName::HoldsWal)
      .def("__str__", &WalFileName::ToString)
      .def("__repr__", [](const WalFileName& n) { return "WalFileName('" + n.ToString() + "')"; })
      .def("__eq__", [](const WalFileName& a, const WalFileName& b) { return a == b; })
      .def("__hash__", [](const WalFileName& n) { return std::hash<std::string>()(n.ToString()); });
  m.def("wal_segment_name", &WalSegmentFileName, pb::arg("timeline"), pb::arg("lsn"),
        pb::arg("segment_size") = kDefaultWalSegmentSize,
        "The segment file name holding `lsn` on `timeline`, e.g. '000000010000000000000007'.");
}

void BindNodeState(pb::module_& m) {
  pb::tuple names(6);
  int i = 0;
  for (NodeState s : {NodeState::kInactive, NodeState::kSingle, NodeState::kMaster,
                      NodeState::kSlave, NodeState::kRecovery, NodeState::kStarting}) {
    names[static_cast<std::size_t>(i++)] = std::string(NodeStateName(s));
  }
  m.attr("NODE_STATES") = names;
  m.def(
      "derive_node_state",
      [](bool running, bool in_recovery, bool receiver_streaming, int streaming_standbys,
         bool accepting_connections, bool starts_as_standby) {
        NodeObservation seen{running, in_recovery, receiver_streaming, streaming_standbys};
        seen.accepting_connections = accepting_connections;
        seen.starts_as_standby = starts_as_standby;
        return std::string(NodeStateName(DeriveNodeState(seen)));
      },
      pb::arg("running"), pb::arg("in_recovery") = false, pb::arg("receiver_streaming") = false,
      pb::arg("streaming_standbys") = 0, pb::arg("accepting_connections") = true,
      pb::arg("starts_as_standby") = false,
      "The state name ('inactive', 'single', 'master', 'slave', 'recovery' - the seed's - or "
      "'starting': running, not accepting connections, not started as a standby) of an "
      "observation.");
  m.def(
      "may_be_primary",
      [](const std::string& state) {
        auto s = ParseNodeState(state);
        if (!s) throw Error(ErrorCode::kBadInput, "unknown node state \"" + state + "\"");
        return MayBePrimary(*s);
      },
      pb::arg("state"),
      "True for 'master', 'single' and 'starting': a node that writes, or may write within "
      "moments.");
}

}  // namespace pgha::py
