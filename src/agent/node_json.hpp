// JSON forms of the cluster's types, shared by the agent's routes and its peer client.
#ifndef PGHA_AGENT_NODE_JSON_HPP
#define PGHA_AGENT_NODE_JSON_HPP

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "pgha/cluster.hpp"

namespace pgha::agent {

nlohmann::json ToJson(const NodeAddress& n);
NodeAddress NodeAddressFromJson(const nlohmann::json& j);
/// The node address under `key` of the object `j` (the bodies of internal/start?as=slave,
/// internal/rewind and internal/pull-wal). Error(kBadInput) naming the field when `j` is no
/// object, or the field is missing or malformed.
NodeAddress NodeAddressField(const nlohmann::json& j, const char* key);
/// {"file": "<WAL file name>", "md5": "<hex>"}: an entry of walFiles, the file of pull-wal.
/// Error(kBadInput) naming the field when one is missing or not a string.
WalFileRef WalFileRefFromJson(const nlohmann::json& j);
/// A WAL record's xl_crc from 8 hex digits (Error kBadInput otherwise); LowerHex32 writes it.
std::uint32_t ParseCrcHex(const std::string& text);
/// With "last_record": {"lsn", "crc"} when known.
nlohmann::json ToJson(const NodeFacts& f);
NodeFacts NodeFactsFromJson(const nlohmann::json& j);
/// The seed's validLsn body: {"code":0,"msg":"Valid lsn","cnt":"1"} (cnt is a string there).
nlohmann::json ToJson(const ValidLsnAnswer& a);
ValidLsnAnswer ValidLsnFromJson(const nlohmann::json& j);
/// Parses a JSON body, throwing Error(kBadInput) naming `what` when it is not JSON.
nlohmann::json ParseBody(const std::string& body, const char* what);
/// The seed's state map {"node": "state", ...}.
nlohmann::json StatesJson(const OperationResult& r);
/// The steps of `r` that copied a node afresh because it could not be rewound: [{"node",
/// "instead_of": "pg_rewind", "detail"}] (empty when none did).
nlohmann::json FreshCopiesJson(const OperationResult& r);

/// The header that carries an operation's lease holder on internal calls.
inline constexpr const char* kLeaseHeader = "X-Pgha-Lease";
/// The header that carries the milliseconds an operation has left on internal calls: the
/// peer's work for it ends with it (op_deadline.hpp).
inline constexpr const char* kDeadlineHeader = "X-Pgha-Deadline-Ms";

}  // namespace pgha::agent

#endif  // PGHA_AGENT_NODE_JSON_HPP
