#include "sim/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace kb::sim {

std::shared_ptr<spdlog::logger> SimLog() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("kube-sim")) return existing;
    try {
      return spdlog::stderr_color_mt("kube-sim");
    } catch (const spdlog::spdlog_ex&) {
      return spdlog::get("kube-sim");
    }
  }();
  return logger;
}

}  // namespace kb::sim
