// Test-only fault injection (private): named points in the code where a test can have a
// process killed with SIGKILL, deterministically. Compiled in only with the CMake option
// PGHA_FAULT_POINTS (test builds: scripts/test.sh, scripts/reliability.sh); without it Point
// is an inline no-op and PGHA_FAULT_FILE is ignored. Compiled in, a point is inert unless the
// environment variable PGHA_FAULT_FILE names a file (docs/reliability.md).
//
// The file holds two lines: the point to fire at and the target to kill.
//   point   an exact point name, or a prefix followed by '*'. Names in use:
//             op:<operation>:<step index>:begin|end   (src/ha, Cluster::Run::Step)
//             write:<stage>:<path of the file>        (fs::WriteFileAtomic)
//             upload:<stage>:<path in pg_wal>         (WalUpload::Commit)
//             sync:<stage>:<data directory>           (Instance::Sync: backed-up, exchanged,
//                                                      moved-aside)
//   target  "self" (this process), "pid:<n>", or "postmaster:<data directory>" (the pid on
//           the first line of its postmaster.pid, read when the point fires).
// The first point that matches claims the file by renaming it to "<file>.fired" (so a spec
// fires once, in one thread), appends a line saying where it fired and what it killed, kills
// the target and returns once the target is gone. Killing "self" does not return.
//
// This is the one place below the agent that sends signals; it does nothing unless a test
// asked for it.
#ifndef PGHA_CORE_FAULT_POINT_HPP
#define PGHA_CORE_FAULT_POINT_HPP

#include <string>

namespace pgha::fault {

/// The environment variable that names the spec file.
inline constexpr const char* kFaultFileVariable = "PGHA_FAULT_FILE";

#ifdef PGHA_FAULT_POINTS
/// Whether Point can fire in this build.
inline constexpr bool kCompiledIn = true;
/// Fires the armed fault when `point` matches it; `detail` (one line) is appended to the
/// fired file. Costs one getenv() when no fault is armed. Never throws.
void Point(const std::string& point, const std::string& detail = {}) noexcept;
#else
inline constexpr bool kCompiledIn = false;
/// A build without fault points: nothing, whatever the environment says.
inline void Point(const std::string& /*point*/, const std::string& /*detail*/ = {}) noexcept {}
#endif

/// True when `point` matches `pattern` (exact, or a prefix when `pattern` ends with '*').
bool Matches(const std::string& pattern, const std::string& point) noexcept;

}  // namespace pgha::fault

#endif  // PGHA_CORE_FAULT_POINT_HPP
