// The C ABI's opaque handles and the conversions several entry-point files share (private).
#ifndef PGHA_CAPI_C_HANDLES_HPP
#define PGHA_CAPI_C_HANDLES_HPP

#include "pgha/control_data.hpp"
#include "pgha/pgha.h"
#include "pgha/timeline.hpp"

struct pgha_timeline_history {
  pgha::TimelineHistory history;
};

namespace pgha::capi {

/// Fills the C struct from parsed control data (out->version already checked).
void FillControlData(const ControlData& cd, pgha_control_data* out);

}  // namespace pgha::capi

#endif  // PGHA_CAPI_C_HANDLES_HPP
