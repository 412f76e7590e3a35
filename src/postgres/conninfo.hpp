// Quoting for libpq conninfo strings and postgresql.conf, and the checks on the names and
// values that go into them (private).
#ifndef PGHA_POSTGRES_CONNINFO_HPP
#define PGHA_POSTGRES_CONNINFO_HPP

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgha::pg {

/// A libpq conninfo value: in single quotes, with `\` and `'` backslash-escaped
/// (libpq's conninfo_parse), e.g. `it's` -> `'it\'s'`.
std::string QuoteConninfoValue(std::string_view value);
/// "key='value' key='value'" for the pairs with a non-empty value, in order.
std::string BuildConninfo(const std::vector<std::pair<std::string, std::string>>& pairs);
/// A postgresql.conf string literal: in single quotes, `'` doubled and `\` doubled (the
/// configuration file parser, GUC_scanstr, reads backslash escapes).
std::string QuoteGucString(std::string_view value);

/// Throws Error(kBadInput) unless `host` is a plausible host name, IP address or socket
/// directory: 1-255 bytes of letters, digits and `.-_:%/[]`.
void CheckHost(std::string_view host, std::string_view what);
/// Throws Error(kBadInput) unless 1 <= port <= 65535.
void CheckPort(int port, std::string_view what);
/// Throws Error(kBadInput) unless `name` is a usable role name: 1-63 bytes, no control
/// characters, no `"` (pg_hba.conf cannot quote it).
void CheckRoleName(std::string_view name, std::string_view what);
/// Throws Error(kBadInput) unless `name` is a replication slot name: 1-63 of [a-z0-9_]
/// (PostgreSQL's ReplicationSlotValidateName).
void CheckSlotName(std::string_view name);
/// Throws Error(kBadInput) for a value with control characters or longer than `max` bytes
/// (application names, paths: they end up in files and conninfo strings), quoting it.
void CheckPrintable(std::string_view value, std::string_view what, std::size_t max = 1024);
/// CheckPrintable for a password: the message names `what` and the length, never the value.
void CheckSecret(std::string_view value, std::string_view what, std::size_t max = 1024);
/// Throws Error(kBadInput) unless `delay` is a recovery_min_apply_delay PostgreSQL accepts
/// and pgha writes: digits, optional blank, optional unit ms, s, min, h, d (e.g. "5min",
/// "300s", "0"; plain digits are milliseconds).
void CheckApplyDelay(std::string_view delay);
/// Throws Error(kBadInput) unless `name` is a configuration parameter name
/// ([A-Za-z_][A-Za-z0-9_.]*, at most 63 bytes).
void CheckGucName(std::string_view name);
/// Throws Error(kBadInput) unless `subnet` is an IPv4 or IPv6 address and `mask` a prefix
/// length for it (0..32 or 0..128). Returns "address/mask".
std::string CheckSubnet(std::string_view subnet, int mask);

}  // namespace pgha::pg

#endif  // PGHA_POSTGRES_CONNINFO_HPP
