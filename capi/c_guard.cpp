#include "c_guard.hpp"

#include "pgha/pgha.h"

namespace pgha::capi {

namespace {
thread_local std::string t_message;
thread_local int t_code = 0;
}  // namespace

int Fail(ErrorCode code, const std::string& message) noexcept {
  try {
    t_message = message;
  } catch (...) {
    t_message.clear();
  }
  t_code = static_cast<int>(code);
  return -t_code;
}

void ClearError() noexcept {
  t_message.clear();
  t_code = 0;
}

void CheckVersion(int version, const char* what) {
  if (version < 1) {
    throw Error(ErrorCode::kBadInput,
                std::string(what) + ".version must be set to PGHA_STRUCT_VERSION");
  }
}

void CopyOut(const std::string& text, char* buf, std::size_t bufsize) {
  Require(buf, "buf");
  if (text.size() + 1 > bufsize) {
    throw Error(ErrorCode::kBadInput, "buffer of " + std::to_string(bufsize) +
                                          " bytes is too small for " +
                                          std::to_string(text.size() + 1));
  }
  std::memcpy(buf, text.c_str(), text.size() + 1);
}

}  // namespace pgha::capi

extern "C" {

const char* pgha_last_error(void) {
  return pgha::capi::t_message.c_str();
}
int pgha_last_error_code(void) {
  return pgha::capi::t_code;
}

}  // extern "C"
