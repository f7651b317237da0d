// The scoring module's named logger ("scoring"). Internal to scoring/*.cc. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/logging.h"

namespace kb::scoring {

inline std::shared_ptr<spdlog::logger> Log() { return kb::Logger("scoring"); }

// "[a,b,...(N more)]": node lists in log lines, capped at 20 names.
inline std::string JoinCapped(const std::vector<std::string>& names) {
  constexpr size_t kMaxNamesInLog = 20;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxNamesInLog; ++i) {
    if (i > 0) out += ",";
    out += names[i];
  }
  if (names.size() > kMaxNamesInLog) {
    out += ",...(" + std::to_string(names.size() - kMaxNamesInLog) + " more)";
  }
  return "[" + out + "]";
}

}  // namespace kb::scoring
