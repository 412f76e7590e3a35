// Declarations shared by the translation units of the pgha Python module.
#ifndef PGHA_PY_BINDINGS_HPP
#define PGHA_PY_BINDINGS_HPP

#include <pybind11/pybind11.h>

#include <optional>

#include "pgha/lsn.hpp"

namespace pgha::py {

namespace pb = pybind11;

void BindErrors(pb::module_& m);
void BindLsn(pb::module_& m);
void BindWalFile(pb::module_& m);
void BindTimeline(pb::module_& m);
void BindControlData(pb::module_& m);
void BindSlotState(pb::module_& m);
void BindWalScan(pb::module_& m);
void BindNodeState(pb::module_& m);
void BindInstance(pb::module_& m);
void BindWalCatalog(pb::module_& m);
void BindLogicalSlots(pb::module_& m);

/// None for the invalid LSN 0/0, the Lsn otherwise (how Python sees optional positions).
inline std::optional<Lsn> LsnOrNone(Lsn lsn) {
  if (!lsn.IsValid()) return std::nullopt;
  return lsn;
}

}  // namespace pgha::py

#endif  // PGHA_PY_BINDINGS_HPP
