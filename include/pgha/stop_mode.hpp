// How a PostgreSQL server is asked to shut down (pg_ctl's -m), shared by Instance and the
// cluster operations.
#ifndef PGHA_STOP_MODE_HPP
#define PGHA_STOP_MODE_HPP

#include <string_view>

#include "pgha/export.hpp"

namespace pgha {

/// How a postmaster is stopped (pg_ctl's -m modes).
enum class StopMode {
  kSmart,      ///< SIGTERM: wait for clients to disconnect, then checkpoint
  kFast,       ///< SIGINT: disconnect clients, checkpoint
  kImmediate,  ///< SIGQUIT: no checkpoint; crash recovery at the next start
};

/// "smart", "fast", "immediate".
PGHA_API std::string_view StopModeName(StopMode mode) noexcept;
/// The mode named by pg_ctl's spelling; Error(kBadInput) otherwise.
PGHA_API StopMode ParseStopMode(std::string_view name);

}  // namespace pgha

#endif  // PGHA_STOP_MODE_HPP
