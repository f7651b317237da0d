// NodeGroups: rescheduler.nodeGroups applied to the nodes of one snapshot. Each node belongs to the
// first group whose nodeSelector matches its labels, or to the default group (nodes in no group,
// with the top-level thresholds). Balancing strategies take means, imbalance and hot thresholds
// per group and keep a move inside its source's group; NodeMaintenance ignores groups.
// Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/model.h"

namespace kb::resched {

class NodeGroups {
 public:
  static constexpr int kDefault = -1;  // the group of nodes that match no configured group

  NodeGroups() = default;
  // `nodes` by name; `config` supplies nodeGroups and the top-level thresholds.
  NodeGroups(const ReschedulerConfig& config, const std::vector<const Node*>& nodes);

  // The group of `node` (kDefault when in none, or unknown).
  int GroupOf(const std::string& node) const;
  // "default" or the configured name.
  std::string Name(int group) const;
  // Thresholds of `group` (configured, else the top-level value).
  double CpuThreshold(int group) const;
  double MemoryThreshold(int group) const;
  double ImbalanceThreshold(int group) const;
  // Every group with at least one node, kDefault first, then in configuration order.
  std::vector<int> NonEmpty() const;
  // Configured groups that match no node.
  std::vector<std::string> Empty() const;
  bool configured() const { return !groups_.empty(); }

 private:
  std::vector<NodeGroup> groups_;
  double cpu_ = 0, memory_ = 0, imbalance_ = 0;  // top-level values
  std::unordered_map<std::string, int> by_node_;
  std::vector<int> sizes_;  // per configured group
  int default_size_ = 0;
};

}  // namespace kb::resched
