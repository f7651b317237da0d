// The rescheduler module's named logger ("rescheduler"). Internal to rescheduler/*.cc.
// Thread-safe (spdlog _mt logger).
#pragma once

#include <memory>

#include "core/logging.h"

namespace kb::resched {

inline std::shared_ptr<spdlog::logger> Log() { return kb::Logger("rescheduler"); }

}  // namespace kb::resched
