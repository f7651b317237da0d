// The server module's named logger ("extender"). Internal to server/*.cc. Thread-safe.
#pragma once

#include <memory>

#include "core/logging.h"

namespace kb::server {

inline std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = kb::Logger("extender");
  return logger;
}

}  // namespace kb::server
