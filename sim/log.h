// The "kube-sim" spdlog logger shared by the sim module. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace kb::sim {

std::shared_ptr<spdlog::logger> SimLog();

}  // namespace kb::sim
