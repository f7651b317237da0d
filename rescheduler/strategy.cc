#include "rescheduler/strategy.h"

#include <algorithm>

#include "rescheduler/strategies.h"

namespace kb::resched {

std::unique_ptr<Strategy> MakeStrategy(std::string_view name) {
  if (name == kLoadBalancing) return std::make_unique<LoadBalancing>();
  if (name == kResourceOptimization) return std::make_unique<ResourceOptimization>();
  if (name == kNodeMaintenance) return std::make_unique<NodeMaintenance>();
  return nullptr;
}

std::vector<std::unique_ptr<Strategy>> MakeStrategies(const std::vector<std::string>& enabled,
                                                      std::vector<std::string>* unknown) {
  std::vector<std::unique_ptr<Strategy>> out;
  for (const char* name : kStrategyNames) {
    if (std::find(enabled.begin(), enabled.end(), name) != enabled.end()) {
      out.push_back(MakeStrategy(name));
    }
  }
  if (unknown != nullptr) {
    for (const std::string& name : enabled) {
      if (!IsStrategyName(name)) unknown->push_back(name);
    }
  }
  return out;
}

std::string ConditionKey(std::string_view strategy, std::string_view resource,
                         std::string_view node) {
  std::string key;
  key.reserve(strategy.size() + resource.size() + node.size() + 2);
  key.append(strategy).append("/").append(resource).append("/").append(node);
  return key;
}

}  // namespace kb::resched
