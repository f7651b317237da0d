// The scoring module's named logger ("scoring"). Internal to scoring/*.cc. Thread-safe.
#pragma once

#include <memory>

#include "core/logging.h"

namespace kb::scoring {

inline std::shared_ptr<spdlog::logger> Log() { return kb::Logger("scoring"); }

}  // namespace kb::scoring
