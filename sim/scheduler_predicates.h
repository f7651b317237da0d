// The scheduler stand-in's predicates, evaluated directly on the Kubernetes JSON kube-sim stores:
// kube-scheduler v1.26's in-tree feasibility checks (NodeUnschedulable, NodeAffinity with
// nodeSelector and required node affinity, TaintToleration for NoSchedule / NoExecute taints,
// NodeResourcesFit including the pod count), its default LeastAllocated score, and the pod
// requests both count. The kubelet stand-in (sim/controllers.h) admits pods with the same requests
// and node affinity, as the real kubelet reuses the scheduler's predicates.
//
// Independent on purpose: an oracle for the product's feasibility rules (core/model.h's
// Pod::EffectiveRequest, PodMatchesNodeAffinity and PodToleratesNodeTaints, which the extender's
// filter applies). It shares none of that code, so the e2e tests catch a rule the product gets
// wrong instead of repeating it; only quantity parsing (core/quantity.h) is shared.
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

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

// spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed, expressions
// ANDed, an empty term matching no node, matchFields on metadata.name).
bool MatchesNodeAffinity(const nlohmann::json& pod, const nlohmann::json& node);

// One node as a scheduling cycle sees it: allocatable, and what the pods bound to it request.
struct NodeInfo {
  const nlohmann::json* node = nullptr;
  std::string name;
  Resources allocatable;  // missing quantities: 0
  Resources requested;    // effective requests of the bound pods; pods = their number
  Resources nonzero;      // non-zero requests of the bound pods (cpu and memory only)

  explicit NodeInfo(const nlohmann::json& node_object);
  void Add(const Resources& request, const Resources& nonzero_request);
};

// The in-tree filters; "" when the pod fits `n`, else kube-scheduler's reason text
// ("Insufficient cpu", "node(s) had untolerated taint {k: v}", ...).
std::string InTreeFilter(const nlohmann::json& pod, const Resources& request, const NodeInfo& n);

// NodeResourcesFit LeastAllocated over cpu and memory, weight 1 each (0..100).
int64_t LeastAllocatedScore(const Resources& nonzero_request, const NodeInfo& n);

// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable."
std::string DiagnosisMessage(size_t total, const std::map<std::string, int>& reasons);

}  // namespace kb::sim
