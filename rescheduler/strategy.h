// Strategy: one rebalancing rule as a pure function: an immutable PlanInput (snapshots, config,
// now, the MoveLedger of what happened in earlier cycles) in, a StrategyPlan out; no I/O. Only
// the Evictor acts.
// Created explicitly by name (MakeStrategy); no static registration.
// Thread-safe: Plan() is const.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "rescheduler/move_ledger.h"
#include "scoring/load_model.h"
#include "scoring/policy.h"

namespace kb::resched {

struct PlannedMove {
  std::string strategy;
  PodPtr pod;  // never null
  std::string source;
  std::string target;
  std::string reason;  // why the source must shed this pod
  // Extender scores (0..10) of the pod on the source and on the target, computed by ScoreNodes
  // over every feasible node plus the source in one call; gain = target - source.
  int64_t source_score = 0;
  int64_t target_score = 0;
  int64_t score_gain = 0;
  std::string condition;  // the usage condition that triggered it ("" = none)
  // The pod's usage the plan took off the source: its sampled usage when the load source has a
  // fresh per-pod sample (usage_from_metrics), else its requests-based estimate. nullopt for
  // moves not planned by PlanContext (the estimate is used).
  std::optional<Resources> usage;
  bool usage_from_metrics = false;
};

struct UnmovablePod {
  std::string strategy;
  PodPtr pod;  // never null
  std::string node;
  std::string reason;
  // Reported on the node (Event + log): a pod that blocks a maintenance drain for a lasting
  // reason. Transient reasons (PDB, move in flight) are only listed in the plan.
  bool report = false;
  // Refused for a transient reason (PDB, move in flight, unavailable replica): the workload's
  // rebalancing is not over, so it does not cool down.
  bool transient = false;
  Result result = Result::kUnmovable;  // kLoopBlocked: held back by the loop guard
};

struct StrategyPlan {
  std::vector<PlannedMove> moves;
  std::vector<UnmovablePod> unmovable;  // capped (see notes for the count left out)
  std::vector<std::string> observed;    // usage conditions that hold this cycle
  std::vector<std::string> notes;       // why the strategy did not act, in words
  bool truncated = false;               // stopped at the per-cycle planning cap
};

struct PlanInput {
  std::shared_ptr<const ClusterSnapshot> cache;       // non-null
  std::shared_ptr<const scoring::LoadSnapshot> load;  // non-null
  ReschedulerConfig config;
  scoring::PolicyConfig policy;
  WallTime now{};
  // What the rescheduler remembers between cycles (usage conditions, moves in flight, cooldowns,
  // recent moves, PDB counts). Never null; not owned: it outlives the Plan() call.
  const MoveLedger* ledger = nullptr;
  // Moves planned earlier in this cycle by higher-priority strategies: their capacity is taken
  // and their pods and workloads are busy.
  std::vector<PlannedMove> prior_moves;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // The configuration name ("LoadBalancing", ...).
  virtual const char* Name() const = 0;
  // Pure: the same input gives the same plan. Never blocks.
  virtual StrategyPlan Plan(const PlanInput& input) const = 0;
};

// The strategy named `name`, or nullptr when unknown.
std::unique_ptr<Strategy> MakeStrategy(std::string_view name);
// The enabled strategies in the order a cycle runs them (kStrategyNames), each once. Unknown
// names are appended to `unknown`.
std::vector<std::unique_ptr<Strategy>> MakeStrategies(const std::vector<std::string>& enabled,
                                                      std::vector<std::string>* unknown = nullptr);

// "<strategy>/<resource>/<node>".
std::string ConditionKey(std::string_view strategy, std::string_view resource,
                         std::string_view node);

}  // namespace kb::resched
