#include "kube/kube_client.h"

#include <algorithm>

namespace kb::kube {

const ResourceKindInfo& KindInfo(ResourceKind kind) {
  // kResourceKinds is in enum order (checked by the kube tests).
  return kResourceKinds[static_cast<size_t>(kind)];
}

const char* ResourceKindName(ResourceKind kind) { return KindInfo(kind).name; }

Status RetryOnConflict(int max_attempts, const std::function<Status()>& attempt) {
  Status last = Status::Aborted("RetryOnConflict: no attempt made");
  for (int i = 0; i < std::max(max_attempts, 1); ++i) {
    last = attempt();
    if (last.code() != StatusCode::kAborted) return last;
  }
  return last;
}

}  // namespace kb::kube
