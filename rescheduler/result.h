// Result: what became of a planned move or of a move in flight. One enum for the metric label,
// the log line, the Event and the /debug/plan outcome.
#pragma once

#include <string>

namespace kb::resched {

// Outcome of a planned move (label `result` of kube_balancer_rescheduler_evictions_total), and
// of a move in flight (kube_balancer_rescheduler_replacements_total).
enum class Result {
  // Planned moves.
  kSuccess,           // evicted / surge restart patched / bare-pod copy created
  kDryRun,            // would have acted (dryRun: true)
  kLimitCycle,        // maxReschedulePods reached this cycle
  kLimitNode,         // maxReschedulePodsPerNode reached for the source node
  kLimitNamespace,    // maxReschedulePodsPerNamespace reached
  kPdbBlocked,        // a PodDisruptionBudget refused (HTTP 429) or allows no disruption now
  kProtected,         // a protection applies (see protections.h)
  kInFlight,          // the workload already has a move in flight
  kCooldown,          // the pod or workload moved within `cooldown`
  kLoopBlocked,       // an earlier move of the workload landed back or failed within `cooldown`
  kBudget,            // maxEvictionsPerHour used up, or the breaker is open
  kSingleReplica,     // the only replica and no surge restart possible: skipped
  kNotFound,          // the pod is already gone or was replaced (404 / UID precondition 409)
  kUnmovable,         // no feasible target (reported by a strategy)
  kNotLeader,         // leadership lost before acting
  kError,             // the API call failed
  kPermissionDenied,  // RBAC refused an opt-in kind of move (bare-pod copy, surge restart)
  // Moves in flight.
  kOnTarget,            // the replacement (or copy) is Ready on the planned target: move done
  kOtherNode,           // the replacement is Ready on another node (not the source)
  kLandedBack,          // the replacement came back on the source node
  kReplacementTimeout,  // no Ready replacement within replacementTimeout (pending_timeout)
  kReplacementFailed,   // the bare-pod copy failed (e.g. rejected by the kubelet)
};
// "success", "dry_run", ..., "on_target", "other_node", "landed_back", "pending_timeout", "failed".
const char* ResultName(Result r);
// True for the results of a move in flight (counted as replacements, not evictions).
bool IsCompletion(Result r);
// True for refusals that say "not now" rather than "done" (PDB, in flight, limits, budget, not
// leader, API error): they never end a workload's rebalancing or start its cooldown.
bool IsTransientRefusal(Result r);

struct Outcome {
  Result result = Result::kError;
  std::string message;
};

}  // namespace kb::resched
