#include "rescheduler/node_groups.h"

namespace kb::resched {

NodeGroups::NodeGroups(const ReschedulerConfig& config, const std::vector<const Node*>& nodes)
    : groups_(config.node_groups),
      cpu_(config.cpu_threshold),
      memory_(config.memory_threshold),
      imbalance_(config.imbalance_threshold),
      sizes_(groups_.size(), 0) {
  for (const Node* node : nodes) {
    int group = kDefault;
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].node_selector.Matches(node->meta.labels)) {
        group = static_cast<int>(g);  // the first matching group wins
        break;
      }
    }
    by_node_[node->meta.name] = group;
    if (group == kDefault) {
      ++default_size_;
    } else {
      ++sizes_[static_cast<size_t>(group)];
    }
  }
}

int NodeGroups::GroupOf(const std::string& node) const {
  auto it = by_node_.find(node);
  return it == by_node_.end() ? kDefault : it->second;
}

std::string NodeGroups::Name(int group) const {
  return group == kDefault ? "default" : groups_[static_cast<size_t>(group)].name;
}

double NodeGroups::CpuThreshold(int group) const {
  return group == kDefault ? cpu_
                           : groups_[static_cast<size_t>(group)].cpu_threshold.value_or(cpu_);
}

double NodeGroups::MemoryThreshold(int group) const {
  return group == kDefault ? memory_
                           : groups_[static_cast<size_t>(group)].memory_threshold.value_or(memory_);
}

double NodeGroups::ImbalanceThreshold(int group) const {
  return group == kDefault
             ? imbalance_
             : groups_[static_cast<size_t>(group)].imbalance_threshold.value_or(imbalance_);
}

std::vector<int> NodeGroups::NonEmpty() const {
  std::vector<int> out;
  if (default_size_ > 0) out.push_back(kDefault);
  for (size_t g = 0; g < sizes_.size(); ++g) {
    if (sizes_[g] > 0) out.push_back(static_cast<int>(g));
  }
  return out;
}

std::vector<std::string> NodeGroups::Empty() const {
  std::vector<std::string> out;
  for (size_t g = 0; g < sizes_.size(); ++g) {
    if (sizes_[g] == 0) out.push_back(groups_[g].name);
  }
  return out;
}

}  // namespace kb::resched
