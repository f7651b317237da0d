#include "rescheduler/result.h"

namespace kb::resched {

const char* ResultName(Result r) {
  switch (r) {
    case Result::kSuccess:
      return "success";
    case Result::kDryRun:
      return "dry_run";
    case Result::kLimitCycle:
      return "limit_cycle";
    case Result::kLimitNode:
      return "limit_node";
    case Result::kLimitNamespace:
      return "limit_namespace";
    case Result::kPdbBlocked:
      return "pdb_blocked";
    case Result::kProtected:
      return "protected";
    case Result::kInFlight:
      return "in_flight";
    case Result::kCooldown:
      return "cooldown";
    case Result::kLoopBlocked:
      return "loop_blocked";
    case Result::kBudget:
      return "budget";
    case Result::kSingleReplica:
      return "single_replica";
    case Result::kNotFound:
      return "not_found";
    case Result::kUnmovable:
      return "unmovable";
    case Result::kNotLeader:
      return "not_leader";
    case Result::kError:
      return "error";
    case Result::kPermissionDenied:
      return "permission_denied";
    case Result::kOnTarget:
      return "on_target";
    case Result::kOtherNode:
      return "other_node";
    case Result::kLandedBack:
      return "landed_back";
    case Result::kReplacementTimeout:
      return "pending_timeout";
    case Result::kReplacementFailed:
      return "failed";
  }
  return "error";
}

bool IsCompletion(Result r) {
  return r == Result::kOnTarget || r == Result::kOtherNode || r == Result::kLandedBack ||
         r == Result::kReplacementTimeout || r == Result::kReplacementFailed;
}

bool IsTransientRefusal(Result r) {
  return r == Result::kPdbBlocked || r == Result::kInFlight || r == Result::kLimitCycle ||
         r == Result::kLimitNode || r == Result::kLimitNamespace || r == Result::kBudget ||
         r == Result::kNotLeader || r == Result::kError || r == Result::kPermissionDenied;
}

}  // namespace kb::resched
