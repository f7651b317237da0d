#include "kube/kube_client.h"

#include <algorithm>

namespace kb::kube {

const char* ResourceKindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kNodes:
      return "nodes";
    case ResourceKind::kPods:
      return "pods";
    case ResourceKind::kPodDisruptionBudgets:
      return "poddisruptionbudgets";
  }
  return "unknown";
}

Status RetryOnConflict(int max_attempts, const std::function<Status()>& attempt) {
  Status last = Status::Aborted("RetryOnConflict: no attempt made");
  for (int i = 0; i < std::max(max_attempts, 1); ++i) {
    last = attempt();
    if (last.code() != StatusCode::kAborted) return last;
  }
  return last;
}

}  // namespace kb::kube
