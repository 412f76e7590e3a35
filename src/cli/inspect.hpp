// `pghactl inspect`: recognise a PostgreSQL file and describe it as JSON.
#ifndef PGHA_CLI_INSPECT_HPP
#define PGHA_CLI_INSPECT_HPP

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pgha::cli {

/// Describes `bytes`, the contents of the file at `path` (whose base name helps recognise
/// history files and WAL segments): a slot state file, a timeline history file, a WAL
/// segment or pg_controldata output. Throws pgha::Error(kBadInput) for anything else, or
/// for a recognised file that fails its checks.
nlohmann::json Inspect(const std::string& path, const std::vector<std::uint8_t>& bytes);

}  // namespace pgha::cli

#endif  // PGHA_CLI_INSPECT_HPP
