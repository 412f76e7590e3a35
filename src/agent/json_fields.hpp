// Strict reading of the fields of JSON the agents exchange: a missing, mistyped or
// out-of-range field is Error(kBadInput) naming it, never another exception and never a
// wrapped number (nlohmann's get<unsigned>() turns -1 into 4294967295).
#ifndef PGHA_AGENT_JSON_FIELDS_HPP
#define PGHA_AGENT_JSON_FIELDS_HPP

#include <limits>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "pgha/error.hpp"

namespace pgha::agent {

/// Throws Error(kBadInput) unless `j` is a JSON object (`what` names it).
inline void RequireObject(const nlohmann::json& j, const char* what) {
  if (!j.is_object())
    throw Error(ErrorCode::kBadInput, std::string(what) + ": expected a JSON object");
}

/// `value` as T; `key` names it in the error.
template <typename T>
T FieldValue(const nlohmann::json& value, const char* key) {
  auto bad = [key](const std::string& why) {
    return Error(ErrorCode::kBadInput, std::string("JSON field \"") + key + "\": " + why);
  };
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!value.is_number_integer()) throw bad("not an integer");
    if constexpr (std::is_unsigned_v<T>) {
      bool negative = !value.is_number_unsigned() && value.get<std::int64_t>() < 0;
      if (negative || value.get<std::uint64_t>() > std::numeric_limits<T>::max())
        throw bad("not an integer from 0 to " + std::to_string(std::numeric_limits<T>::max()));
    } else {
      auto v = value.get<std::int64_t>();
      if (value.is_number_unsigned() &&
          value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw bad("out of range");
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
        throw bad("out of range");
    }
    return value.get<T>();
  } else {
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw bad(e.what());
    }
  }
}

/// Field `key` of object `j`; Error(kBadInput) when it is missing.
template <typename T>
T Field(const nlohmann::json& j, const char* key) {
  RequireObject(j, key);
  auto it = j.find(key);
  if (it == j.end())
    throw Error(ErrorCode::kBadInput, std::string("JSON field \"") + key + "\": missing");
  return FieldValue<T>(*it, key);
}

/// Field `key` of object `j`, or `fallback` when it is missing or null.
template <typename T>
T Field(const nlohmann::json& j, const char* key, T fallback) {
  RequireObject(j, key);
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : FieldValue<T>(*it, key);
}

}  // namespace pgha::agent

#endif  // PGHA_AGENT_JSON_FIELDS_HPP
