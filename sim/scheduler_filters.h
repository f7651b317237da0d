// kube-sim's scheduler filters: kube-scheduler v1.26's default-profile Filter plugins evaluated
// directly on the Kubernetes JSON kube-sim stores, by brute force over every node and pod (as
// the upstream plugins' PreFilter + Filter would see them): NodeUnschedulable, NodeName,
// TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit (cpu, memory, ephemeral-storage,
// pods, scalar resources), VolumeBinding, VolumeZone, PodTopologySpread, InterPodAffinity, in
// that order, a pod-level VolumeBinding PreFilter failure first.
//
// Independent on purpose: this is the oracle for the product's predicate module
// (scoring/feasibility.h). It shares no code with it (nor with core/model.h's selector and
// toleration rules); only quantity parsing is shared. The differential test
// (test/e2e/feasibility_differential_test.cc) compares both on random clusters.
// Pure functions: thread-safe.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/scheduler_predicates.h"

namespace kb::sim {

// Feature gates that change the filters; the defaults are v1.26's.
struct OracleGates {
  bool min_domains = false;       // MinDomainsInPodTopologySpread (beta, off in v1.26)
  bool match_label_keys = false;  // MatchLabelKeysInPodTopologySpread (alpha in v1.26)
};

// The cluster a scheduling cycle sees. Pointers into objects the caller keeps alive.
struct ClusterView {
  std::vector<const NodeInfo*> nodes;                            // every node, with its bound pods
  std::map<std::string, const nlohmann::json*> pvcs;             // by "<namespace>/<name>"
  std::map<std::string, const nlohmann::json*> pvs;              // by name
  std::map<std::string, const nlohmann::json*> storage_classes;  // by name
  std::map<std::string, const nlohmann::json*> namespaces;       // by name
  OracleGates gates;
};

struct FilterVerdict {
  std::string plugin;  // "" when the pod fits; else the plugin name, e.g. "NodePorts"
  std::string reason;  // kube-scheduler's reason text
  bool ok() const { return plugin.empty(); }
};

// The first filter that rejects `pod` on `n` (in the default profile's order).
FilterVerdict RunFilters(const nlohmann::json& pod, const NodeInfo& n, const ClusterView& view);

// spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed, expressions
// ANDed, an empty or invalid term matching no node, matchFields on metadata.name).
bool MatchesNodeAffinity(const nlohmann::json& pod, const nlohmann::json& node);

// NodeResourcesFit's request of a pod for one resource name ("cpu" in millicores, others in
// units): sum of app containers, max with each init container, plus overhead.
int64_t PodRequestOf(const nlohmann::json& pod, const std::string& resource);

}  // namespace kb::sim
