// Rendering of standby configuration files (pgha.conf / recovery.conf) and the include line
// that makes postgresql.conf read pgha.conf (private).
#ifndef PGHA_POSTGRES_STANDBY_CONFIG_HPP
#define PGHA_POSTGRES_STANDBY_CONFIG_HPP

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgha/instance.hpp"

namespace pgha::pg {

/// The file pgha owns inside the data directory for standby settings (PostgreSQL 12+).
inline constexpr const char* kPghaConf = "pgha.conf";
/// The line that makes postgresql.conf read it.
inline constexpr const char* kPghaInclude = "include_if_exists = 'pgha.conf'";

/// The file of the server parameters pgha writes at every start (Instance::WriteParameters),
/// and its include line, placed before kPghaInclude.
inline constexpr const char* kParametersConf = "pgha.parameters.conf";
inline constexpr const char* kParametersInclude = "include_if_exists = 'pgha.parameters.conf'";

/// primary_conninfo's value (a conninfo string, unquoted for the file) for `config`.
std::string PrimaryConninfo(const StandbyConfig& config);
/// The settings of a standby, validated, in the order they are written: name and the value
/// already quoted as a postgresql.conf string. Throws Error(kBadInput) for a bad host, port,
/// user, slot name or apply delay.
std::vector<std::pair<std::string, std::string>> StandbySettings(const StandbyConfig& config);
/// pgha.conf for PostgreSQL 12+: the lines of `existing` that set no standby parameter, then
/// the settings of `config`.
std::string RenderPghaConf(const StandbyConfig& config, std::string_view existing = "");
/// recovery.conf for PostgreSQL 10-11: standby_mode = 'on' and the settings of `config`.
std::string RenderRecoveryConf(const StandbyConfig& config);
/// `text` without the lines that set a standby parameter (primary_conninfo,
/// primary_slot_name, recovery_target_timeline, recovery_min_apply_delay, standby_mode) or
/// pgha's header comment.
std::string StripStandbySettings(std::string_view text);
/// synchronous_standby_names' value for `standbys`, e.g. `ANY 1 ("pg-node02", "pg-node03")`
/// (unquoted for the file); "" when it names nobody. Throws Error(kBadInput) for a count out
/// of 1..names, an empty or unprintable name, one longer than 63 bytes or with a double quote.
std::string SynchronousStandbyNames(const SynchronousStandbys& standbys);
/// pgha.conf text `existing` (pgha's header first) with its synchronous_standby_names line set
/// to `value` (quoted here), or removed when `value` is "". Other lines are kept in order.
/// nullopt when `existing` already says exactly that: one such line with that value, or none
/// for "".
std::optional<std::string> WithSynchronousStandbyNames(std::string_view existing,
                                                       const std::string& value);
/// True when postgresql.conf text has an active (uncommented) include of pgha.conf.
bool HasPghaInclude(std::string_view conf);
/// postgresql.conf text with kParametersInclude added before the first include of pgha.conf
/// (appended when there is none); nullopt when it has one already.
std::optional<std::string> WithParametersInclude(std::string_view conf);
/// pgha.parameters.conf for `params` (names checked, values quoted). Throws Error(kBadInput).
std::string RenderParametersConf(const std::vector<std::pair<std::string, std::string>>& params);
/// `conf` with kPghaInclude appended on a line of its own.
std::string AppendPghaInclude(std::string_view conf);

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_STANDBY_CONFIG_HPP
