#include "pgha/stop_mode.hpp"

#include <string>

#include "pgha/error.hpp"

namespace pgha {

std::string_view StopModeName(StopMode mode) noexcept {
  switch (mode) {
    case StopMode::kSmart: return "smart";
    case StopMode::kFast: return "fast";
    case StopMode::kImmediate: return "immediate";
  }
  return "fast";
}

StopMode ParseStopMode(std::string_view name) {
  for (StopMode m : {StopMode::kSmart, StopMode::kFast, StopMode::kImmediate}) {
    if (StopModeName(m) == name) return m;
  }
  std::string shown(name.substr(0, 40));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  throw Error(ErrorCode::kBadInput,
              "stop mode \"" + shown + "\" is invalid: expected smart, fast or immediate");
}

}  // namespace pgha
