// The three built-in strategies (rules in docs/rescheduler.md). Create them through
// MakeStrategy(); the classes are exposed for tests. Pure and thread-safe.
#pragma once

#include "rescheduler/strategy.h"

namespace kb::resched {

// Pod count or CPU / memory utilisation above the mean of the schedulable, non-maintenance nodes
// by more than imbalanceThreshold (percent of the mean for pods, points for utilisation): moves
// pods from the most loaded nodes toward less loaded ones until every node is within it.
class LoadBalancing final : public Strategy {
 public:
  const char* Name() const override { return kLoadBalancing; }
  StrategyPlan Plan(const PlanInput& input) const override;
};

// Nodes above cpuThreshold / memoryThreshold (fresh metrics, for consecutiveCycles) shed pods
// until below threshold - hysteresisMargin, choosing pods whose usage best matches the excess.
class ResourceOptimization final : public Strategy {
 public:
  const char* Name() const override { return kResourceOptimization; }
  StrategyPlan Plan(const PlanInput& input) const override;
};

// Every movable pod on a node labelled scheduler.alpha.kubernetes.io/maintenance=true moves off
// (bounded by the evictor's limits); pods that cannot move are reported.
class NodeMaintenance final : public Strategy {
 public:
  const char* Name() const override { return kNodeMaintenance; }
  StrategyPlan Plan(const PlanInput& input) const override;
};

}  // namespace kb::resched
