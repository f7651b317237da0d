// PlanContext: the working state of one Plan() call: loads after the moves planned so far, and the
// one-brain target choice (the extender's FilterNode, kube-scheduler's filters from
// scoring/feasibility.h over a ClusterState that counts the moves planned so far, ScoreNodes).
// Not thread-safe: one context per Plan() call.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rescheduler/node_groups.h"
#include "rescheduler/protections.h"
#include "rescheduler/strategy.h"
#include "scoring/feasibility.h"

namespace kb::resched {

// Why a pod may not be planned now.
struct NotMovable {
  std::string reason;
  Protection protection = Protection::kNone;  // kNone for transient reasons (busy, PDB, ...)
  bool transient = false;                     // in flight, cooldown, PDB, already moving
  bool planned = false;   // already moving this cycle: skip silently (not an unmovable pod)
  bool loop = false;      // loop guard (MoveLedger::LoopGuarded): blocked for every strategy
  bool cooldown = false;  // a cooldown: transient, but the rebalancing is not held open by it
};

struct TargetOptions {
  bool require_fresh_metrics = false;  // usage strategies: candidates need fresh metrics
  // Node groups: balancing keeps a move in its source's group; a drain prefers the group and
  // leaves it only when no node of the group is feasible.
  enum class Group { kSame, kPreferSame };
  Group group = Group::kSame;
  bool require_gain = true;  // target must beat the source by minScoreGain
  // Extra acceptance rule of the strategy (e.g. the target must stay within the imbalance
  // threshold after the move). Scores are still computed over every feasible node.
  std::function<bool(const Pod& pod, const scoring::NodeLoad& target_after)> accept;
};

struct TargetChoice {
  std::string node;
  int64_t source_score = 0;
  int64_t target_score = 0;
};

// A move of `pod` from `source` to the chosen target, with its scores and gain filled in.
PlannedMove MakeMove(std::string strategy, PodPtr pod, const std::string& source,
                     const TargetChoice& target, std::string reason);

// How a strategy tries to move pods off one source node (PlanContext::TryMove).
struct MoveAttempt {
  const char* strategy = "";
  std::string source;
  std::string reason;     // why the source must shed pods (PlannedMove::reason)
  std::string condition;  // the usage condition acted on ("" = none)
  // A maintenance drain: cooldowns are ignored, pods that stay with their node by design
  // (DaemonSet, mirror, terminating) are skipped, and lasting failures are reported on the node.
  bool drain = false;
  TargetOptions target;
};

class PlanContext {
 public:
  explicit PlanContext(const PlanInput& input);

  const ReschedulerConfig& config() const { return input_.config; }
  const NodeGroups& groups() const { return groups_; }
  // The group of node `i` (NodeGroups::kDefault when none).
  int group(size_t i) const { return groups_.GroupOf(names_[i]); }
  const MoveLedger& ledger() const { return *input_.ledger; }

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
  // The pod's usage: sampled when the load source has a fresh per-pod sample, else its estimate.
  scoring::PodUsageEstimate PodUsage(const Pod& pod) const;
  // Percent of `load`'s allocatable cpu (or memory) the pod's usage (PodUsage) takes.
  double UsageShare(const Pod& pod, const scoring::NodeLoad& load, bool cpu) const;
  // The running pods on `source` that have a usage estimate (a pod without a request frees
  // nothing the model can see), in the order to shed `excess` points of cpu (or memory):
  // SortByExcessMatch over their shares of the source's working load.
  std::vector<PodPtr> ShedCandidates(const std::string& source, bool cpu, double excess) const;

  // Nullopt when `pod` may be planned now. `ignore_cooldown` (maintenance) still honours moves in
  // flight and the loop guard.
  std::optional<NotMovable> CheckPlannable(const Pod& pod, bool ignore_cooldown) const;

  // The extender's choice for `pod` away from `source`, or nullopt with `why_not` filled.
  std::optional<TargetChoice> FindTarget(const Pod& pod, const std::string& source,
                                         const TargetOptions& options, std::string* why_not);

  // Counts `move` in the working state: loads, pod counts, busy pods / workloads, PDB budget.
  void Apply(const PlannedMove& move);

  // True (and `plan` marked truncated) once `plan` holds the planning cap per strategy and
  // cycle: max(1, maxReschedulePods) moves.
  bool CapReached(StrategyPlan& plan) const;

  // The one way a strategy plans a pod: plannable (else listed as unmovable, unless it is already
  // moving this cycle), below the cap, and a target found (else listed) -> the move is applied
  // and added to `plan`.
  enum class Tried { kMoved, kNotMoved, kCapReached };
  Tried TryMove(const PodPtr& pod, const MoveAttempt& attempt, StrategyPlan& plan,
                size_t* left_out);
  // TryMove over `pods` in order until one moves; true if one did.
  bool MoveOne(const std::vector<PodPtr>& pods, const MoveAttempt& attempt, StrategyPlan& plan,
               size_t* left_out);

 private:
  void Replace(const std::string& node, scoring::NodeLoad load);
  // The nodes other than `source` that pass the extender's filter and the feasibility check (and
  // have fresh metrics when required); when none, `why_none` counts the others by reason.
  std::vector<size_t> FeasibleTargets(const Pod& pod, const scoring::PodDemand& demand,
                                      const std::string& source, const TargetOptions& options,
                                      std::string* why_none) const;
  // Index into `feasible` of the best-scoring node the strategy accepts, or -1.
  int BestAccepted(const Pod& pod, const std::vector<size_t>& feasible,
                   const std::vector<scoring::ScoreBreakdown>& scores,
                   const TargetOptions& options) const;

  const PlanInput& input_;
  NodeGroups groups_;
  // kube-scheduler's view of the cluster with the moves planned so far (Apply updates it).
  std::unique_ptr<scoring::ClusterState> state_;
  std::vector<std::string> names_;
  std::vector<const scoring::NodeLoad*> current_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::unique_ptr<scoring::NodeLoad>> owned_;  // working copies
  std::unordered_map<std::string, int> running_;           // lazily filled per node
  std::unordered_map<std::string, int> running_delta_;     // from planned moves
  std::unordered_set<std::string> moving_pods_;            // UIDs
  std::unordered_set<std::string> moving_workloads_;       // WorkloadKey()s
  // The ledger's counts plus the moves planned so far (the PDB budget planning checks).
  MoveCounts planned_;
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
