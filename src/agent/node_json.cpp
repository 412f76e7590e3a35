#include "node_json.hpp"

#include "json_fields.hpp"
#include "pgha/error.hpp"
#include "text.hpp"

namespace pgha::agent {

using nlohmann::json;

namespace {

Lsn LsnField(const json& j, const char* key) {
  return Lsn::Parse(Field<std::string>(j, key));
}

}  // namespace

json ToJson(const NodeAddress& n) {
  return {
      {"name", n.name}, {"agent_url", n.agent_url}, {"pg_host", n.pg_host}, {"pg_port", n.pg_port}};
}

NodeAddress NodeAddressFromJson(const json& j) {
  NodeAddress n;
  n.name = Field<std::string>(j, "name");
  n.agent_url = Field<std::string>(j, "agent_url");
  n.pg_host = Field<std::string>(j, "pg_host");
  n.pg_port = Field<int>(j, "pg_port");
  return n;
}

NodeAddress NodeAddressField(const json& j, const char* key) {
  return NodeAddressFromJson(Field<json>(j, key));
}

WalFileRef WalFileRefFromJson(const json& j) {
  return {Field<std::string>(j, "file"), Field<std::string>(j, "md5")};
}

std::uint32_t ParseCrcHex(const std::string& text) {
  std::uint32_t crc = 0;
  bool hex = text.size() == 8;
  for (char c : text) {
    int d = HexDigitValue(c);
    hex = hex && d >= 0;
    crc = crc << 4 | static_cast<std::uint32_t>(d & 15);
  }
  if (!hex) throw Error(ErrorCode::kBadInput, "a WAL record CRC is 8 hex digits");
  return crc;
}

json ToJson(const NodeFacts& f) {
  json j = {{"state", NodeStateName(f.state)},
            {"timeline", f.timeline},
            {"checkpoint", f.checkpoint.ToString()},
            {"redo", f.redo.ToString()},
            {"end_of_wal", f.end_of_wal.ToString()}};
  if (f.last_record) {
    j["last_record"] = {{"lsn", f.last_record->start.ToString()},
                        {"crc", LowerHex32(f.last_record->crc)}};
  }
  return j;
}

NodeFacts NodeFactsFromJson(const json& j) {
  NodeFacts f;
  auto state = ParseNodeState(Field<std::string>(j, "state"));
  if (!state) throw Error(ErrorCode::kBadInput, "unknown node state in facts");
  f.state = *state;
  f.timeline = Field<TimelineId>(j, "timeline");
  f.checkpoint = LsnField(j, "checkpoint");
  f.redo = LsnField(j, "redo");
  f.end_of_wal = LsnField(j, "end_of_wal");
  if (j.contains("last_record") && !j.at("last_record").is_null()) {
    const json& r = j.at("last_record");
    f.last_record = WalRecordRef{LsnField(r, "lsn"), ParseCrcHex(Field<std::string>(r, "crc"))};
  }
  return f;
}

json ToJson(const ValidLsnAnswer& a) {
  return {{"code", a.code}, {"msg", a.msg}, {"cnt", std::to_string(a.cnt)}};
}

ValidLsnAnswer ValidLsnFromJson(const json& j) {
  ValidLsnAnswer a;
  a.code = Field<int>(j, "code");
  a.msg = Field<std::string>(j, "msg");
  // The seed sends cnt as a string of digits; a number is taken too.
  json cnt = j.contains("cnt") ? j.at("cnt") : json("0");
  if (cnt.is_string()) {
    std::optional<std::uint64_t> n = ParseDecimalU64(cnt.get<std::string>());
    if (!n) throw Error(ErrorCode::kBadInput, "JSON field \"cnt\": not a count");
    a.cnt = *n;
  } else {
    a.cnt = FieldValue<std::uint64_t>(cnt, "cnt");
  }
  return a;
}

json ParseBody(const std::string& body, const char* what) {
  json j = json::parse(body.empty() ? "{}" : body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(ErrorCode::kBadInput, std::string(what) + ": body is not JSON");
  return j;
}

json StatesJson(const OperationResult& r) {
  json j = json::object();
  for (const auto& [name, state] : r.states) j[name] = state;
  return j;
}

json FreshCopiesJson(const OperationResult& r) {
  json copies = json::array();
  for (const OperationStep& st : r.steps) {
    if (st.ok && st.action.rfind("rewind from ", 0) == 0 && st.detail.rfind("fresh copy", 0) == 0)
      copies.push_back({{"node", st.node}, {"instead_of", "pg_rewind"}, {"detail", st.detail}});
  }
  return copies;
}

}  // namespace pgha::agent
