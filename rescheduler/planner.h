// PlanContext: the working state of one Plan() call: loads after the moves planned so far, and the
// one-brain target choice (the extender's FilterNode / CheckFeasible / ScoreNodes) for a pod.
// Not thread-safe: one context per Plan() call.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rescheduler/protections.h"
#include "rescheduler/strategy.h"

namespace kb::resched {

// Why a pod may not be planned now.
struct NotMovable {
  std::string reason;
  Protection protection = Protection::kNone;  // kNone for transient reasons (busy, PDB, ...)
  bool transient = false;                     // in flight, cooldown, PDB, already moving
  bool planned = false;  // already moving this cycle: skip silently (not an unmovable pod)
};

struct TargetOptions {
  bool require_fresh_metrics = false;  // usage strategies: candidates need fresh metrics
  bool require_gain = true;            // target must beat the source by minScoreGain
  // Extra acceptance rule of the strategy (e.g. the target must stay within the imbalance
  // threshold after the move). Scores are still computed over every feasible node.
  std::function<bool(const scoring::NodeLoad& target_after)> accept;
};

struct TargetChoice {
  std::string node;
  int64_t source_score = 0;
  int64_t target_score = 0;
};

// A move of `pod` from `source` to the chosen target, with its scores and gain filled in.
PlannedMove MakeMove(std::string strategy, PodPtr pod, const std::string& source,
                     const TargetChoice& target, std::string reason);

class PlanContext {
 public:
  explicit PlanContext(const PlanInput& input);

  const PlanInput& input() const { return input_; }
  const ReschedulerConfig& config() const { return input_.config; }
  const ClusterSnapshot& cache() const { return *input_.cache; }

  // Every node of the load snapshot, sorted by name, with its working load.
  size_t node_count() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  const scoring::NodeLoad& load(size_t i) const { return *current_[i]; }
  // Working load by name; nullptr when unknown.
  const scoring::NodeLoad* Find(const std::string& node) const;

  // Ready, schedulable and not in maintenance: the nodes means are taken over.
  static bool Participates(const scoring::NodeLoad& load);
  // Running, non-terminating pods on `node` after the moves planned so far.
  int RunningPods(const std::string& node);

  // Pods on `node` in the cache snapshot (sorted by namespace/name).
  const PodList& PodsOn(const std::string& node) const;

  // Nullopt when `pod` may be planned now. `ignore_cooldown` (maintenance) still honours moves in
  // flight.
  std::optional<NotMovable> CheckPlannable(const Pod& pod, bool ignore_cooldown) const;

  // The extender's choice for `pod` away from `source`, or nullopt with `why_not` filled.
  std::optional<TargetChoice> FindTarget(const Pod& pod, const std::string& source,
                                         const TargetOptions& options, std::string* why_not);

  // Counts `move` in the working state: loads, pod counts, busy pods / workloads, PDB budget.
  void Apply(const PlannedMove& move);

  // Planning cap per strategy and cycle: max(1, maxReschedulePods).
  int MoveCap() const;

 private:
  void Replace(const std::string& node, scoring::NodeLoad load);

  const PlanInput& input_;
  std::vector<std::string> names_;
  std::vector<const scoring::NodeLoad*> current_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::unique_ptr<scoring::NodeLoad>> owned_;  // working copies
  std::unordered_map<std::string, int> running_;           // lazily filled per node
  std::unordered_map<std::string, int> running_delta_;     // from planned moves
  std::unordered_set<std::string> moving_pods_;            // UIDs
  std::unordered_set<std::string> moving_workloads_;       // WorkloadKey()s
  std::map<std::string, int> pdb_used_;                    // PDB key -> planned disruptions
  // FindTarget failures by "<owner>|<source>", valid until the next Apply().
  std::unordered_map<std::string, std::string> failed_;
};

// Lists `u` in `plan`. Entries that are only listed (not reported) are capped at
// kMaxUnmovableListed per plan; `left_out` counts the rest.
inline constexpr size_t kMaxUnmovableListed = 50;
void AddUnmovable(StrategyPlan& plan, UnmovablePod u, size_t* left_out);
// Adds the "N more pods could not move" note when `left_out` > 0.
void NoteLeftOut(StrategyPlan& plan, size_t left_out);

// Percent of allocatable `pod`'s usage estimate takes on `load`'s node, per resource.
double CpuShare(const Resources& estimate, const scoring::NodeLoad& load);
double MemShare(const Resources& estimate, const scoring::NodeLoad& load);

// Orders `pods` for shedding `excess` points of one resource: the smallest pod that covers the
// excess first, then the others by decreasing share (best fit). Ties: lower priority, then newer
// pod, then name. `share` maps a pod to its share in points.
void SortByExcessMatch(std::vector<PodPtr>& pods, double excess,
                       const std::function<double(const Pod&)>& share);

}  // namespace kb::resched
