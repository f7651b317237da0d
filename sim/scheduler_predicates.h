// The scheduler stand-in's node bookkeeping and scoring, evaluated directly on the Kubernetes JSON
// kube-sim stores: NodeInfo (allocatable, the bound pods and what they request), the pod requests
// kube-scheduler counts, its default LeastAllocated score and the "0/N nodes are available"
// diagnosis. The filters themselves are sim/scheduler_filters.h. The kubelet stand-in
// (sim/controllers.h) admits pods with the same requests and node affinity, as the real kubelet
// reuses the scheduler's predicates.
//
// Independent on purpose: an oracle for the product's rules (core/model.h's Pod::EffectiveRequest
// and scoring/feasibility.h). It shares none of that code, so the tests catch a rule the product
// gets wrong instead of repeating it; only quantity parsing (core/quantity.h) is shared.
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model.h"

namespace kb::sim {

// The highest in-tree node score (framework.MaxNodeScore).
inline constexpr int64_t kMaxNodeScore = 100;

// The effective request of a pod as kube-scheduler computes it: max(sum of containers, each init
// container) + overhead, pods = 1. Absent or malformed quantities count as 0 (validation rejects
// malformed ones on write).
Resources EffectiveRequests(const nlohmann::json& pod);
// kube-scheduler's non-zero requests (scoring only): a container without a cpu / memory request
// counts 100m / 200Mi.
Resources NonZeroRequests(const nlohmann::json& pod);

// One node as a scheduling cycle sees it: allocatable, and what the pods bound to it request.
struct NodeInfo {
  const nlohmann::json* node = nullptr;
  std::string name;
  Resources allocatable;  // missing quantities: 0
  Resources requested;    // effective requests of the bound pods; pods = their number
  Resources nonzero;      // non-zero requests of the bound pods (cpu and memory only)
  std::vector<const nlohmann::json*> pods;  // the bound pods (pointers kept alive by the caller)

  explicit NodeInfo(const nlohmann::json& node_object);
  // Binds `pod` (kept alive by the caller): adds it to `pods` and its requests.
  void AddPod(const nlohmann::json& pod);
  void Add(const Resources& request, const Resources& nonzero_request);
};

// NodeResourcesFit LeastAllocated over cpu and memory, weight 1 each (0..100).
int64_t LeastAllocatedScore(const Resources& nonzero_request, const NodeInfo& n);

// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable."
std::string DiagnosisMessage(size_t total, const std::map<std::string, int>& reasons);

}  // namespace kb::sim
