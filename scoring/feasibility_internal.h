// Internals of scoring/feasibility.h shared by its plugin files (feasibility_node.cc,
// feasibility_volume.cc, feasibility_topology.cc). Not part of the module's interface.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "scoring/feasibility.h"

namespace kb::scoring {

// "key\x1fvalue": a topology pair or a label pair as one hash key.
std::string PairKey(const std::string& key, const std::string& value);

// A bound pod as the state holds it.
struct PodRef {
  const Pod* pod = nullptr;
  uint32_t node = 0;  // index into Impl::nodes
};

// Per node: what kube-scheduler's NodeInfo aggregates.
struct NodeSlot {
  NodePtr node;
  Resources requested;      // cpu, memory of the pods on the node
  ScalarResources scalars;  // ephemeral-storage and scalar resources of those pods
  int64_t pods = 0;
  std::vector<HostPort> ports;  // sanitized (0.0.0.0 / TCP defaults), one entry per use
};

// Pods of one namespace, by "key\x1fvalue" label pair (built on first use).
struct NamespaceIndex {
  std::vector<PodRef> all;
  std::unordered_map<std::string, std::vector<PodRef>> by_label;
};

// Existing pods' required anti-affinity terms, grouped by (owner namespace, term): how many pods
// carry the term per value of its topology key on their nodes.
struct AntiGroup {
  const PodAffinityTerm* term = nullptr;
  std::string owner_namespace;
  std::unordered_map<std::string, int64_t> by_domain;  // topology value -> pods
};

// An affinity term with its namespaces resolved (schedutil.GetNamespacesFromPodAffinityTerm).
struct ResolvedTerm {
  const PodAffinityTerm* term = nullptr;
  std::vector<std::string> namespaces;  // explicit or defaulted
};

struct SpreadState {
  const TopologySpreadConstraint* constraint = nullptr;
  std::optional<LabelSelector> selector;  // with matchLabelKeys merged when enabled
  bool self_match = false;
};

struct PreparedPod {
  const Pod* pod = nullptr;
  CheckOptions options;
  Fit prefilter;  // a pod-level failure (VolumeBinding PreFilter): applies to every node
  // NodeResourcesFit
  Resources request;
  ScalarResources scalars;
  // NodePorts
  std::vector<HostPort> ports;
  // VolumeBinding / VolumeZone
  std::vector<const PersistentVolumeClaim*> bound_claims;
  std::vector<const PersistentVolume*> bound_volumes;        // parallel; nullptr: PV missing
  std::vector<const PersistentVolumeClaim*> delayed_claims;  // unbound WaitForFirstConsumer
  std::vector<const StorageClass*> delayed_classes;          // parallel
  std::string zone_error;  // VolumeZone's own error for the pod, if any
  // InterPodAffinity
  std::vector<ResolvedTerm> affinity;
  std::vector<ResolvedTerm> anti_affinity;
  std::unordered_map<std::string, int64_t> affinity_counts;       // PairKey -> pods
  std::unordered_map<std::string, int64_t> anti_counts;           // PairKey -> pods
  std::unordered_map<std::string, int64_t> existing_anti_counts;  // PairKey -> terms
  bool self_affine = false;
  // PodTopologySpread (DoNotSchedule constraints)
  std::vector<SpreadState> spread;
  bool min_domains_gate = false;  // FeatureGates::min_domains_in_pod_topology_spread
  // Matching pods per topology key and value over the eligible nodes (constraints that share a
  // key add up, as TpPairToMatchNum does).
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> spread_counts;
};

struct ClusterState::Impl {
  std::vector<NodeSlot> nodes;
  std::unordered_map<std::string, uint32_t> node_index;
  // Bound, non-terminal pods by node (the pods the scheduler's cache holds).
  std::vector<std::vector<PodRef>> pods_on;
  std::unordered_map<std::string, std::vector<PodRef>> namespace_pods;   // kept current
  mutable std::unordered_map<std::string, NamespaceIndex> by_namespace;  // lazily built
  std::vector<AntiGroup> anti_groups;
  std::unordered_map<std::string, size_t> anti_group_index;
  std::vector<PodPtr> keep_alive;  // pods added by Move()
  const ClusterSnapshot* snapshot = nullptr;
  FeatureGates gates;

  const NamespaceIndex& PodsIn(const std::string& ns) const;
  const kb::Namespace* FindNamespace(const std::string& name) const;
  void AddPod(const Pod& pod, uint32_t node, int sign);
};

// Pod-level pieces (PreFilter).
void PrepareResources(const Pod& pod, PreparedPod* out);
void PrepareVolumes(const ClusterSnapshot& snapshot, const Pod& pod, PreparedPod* out);
void PrepareInterPodAffinity(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out);
void PrepareSpread(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out);

// Node-level filters: a failing Fit, or an ok one.
Fit FilterNodeBasics(const PreparedPod& p, const Node& node);  // Unschedulable .. NodeAffinity
Fit FilterNodePorts(const PreparedPod& p, const NodeSlot& slot);
Fit FilterResources(const PreparedPod& p, const NodeSlot& slot);
Fit FilterVolumes(const ClusterSnapshot& snapshot, const PreparedPod& p, const Node& node);
Fit FilterSpread(const PreparedPod& p, const Node& node);
Fit FilterInterPodAffinity(const PreparedPod& p, const Node& node);

// Helpers shared by the plugins.
Fit Fail(FilterPlugin plugin, FitReason reason, std::string message);
// ephemeral-storage and kube-scheduler's scalar resources (extended, hugepages-*, prefixed
// native, attachable-volumes-*); other names are ignored by NodeResourcesFit.
bool CountedScalar(const std::string& name);
// The pod's requests as NodeResourcesFit computes them (also what it adds to a node).
void PodRequest(const Pod& pod, Resources* request, ScalarResources* scalars);
// The app containers' host ports, sanitized (host IP 0.0.0.0, protocol TCP when empty).
std::vector<HostPort> SanitizedHostPorts(const Pod& pod);
// True if the affinity term matches `pod` (namespace and label selector); `ns_labels` are the
// labels of `pod`'s namespace (nullptr: the namespace is unknown).
bool TermMatches(const ResolvedTerm& term, const Pod& pod, const StringMap* ns_labels,
                 bool selector_needs_known_namespace);
ResolvedTerm Resolve(const PodAffinityTerm& term, const std::string& owner_namespace);

}  // namespace kb::scoring
