// Feasibility: would kube-scheduler v1.26's default profile accept a pod on a node, given the pods
// on every node? The one implementation of the in-tree filters kube-balancer relies on: the
// rescheduler's target choice and the offline tools use it; kube-sim's scheduler stand-in
// (sim/scheduler_predicates.h) re-implements the same rules independently as the test oracle.
//
// Filters, in the default profile's order (a failing pod-level PreFilter comes first and applies
// to every node): NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
// NodeResourcesFit, VolumeBinding, VolumeZone, PodTopologySpread, InterPodAffinity. The verdict
// names the first failing plugin exactly as kube-scheduler names it, with a reason enum and
// kube-scheduler's reason text. docs/rescheduler.md ("Feasibility") lists each rule.
//
// Version notes (v1.26 defaults): init containers have no restartPolicy in v1.26 (no restartable
// "sidecar" init containers), so a pod requests max(largest init container, sum of app
// containers) + overhead; PodTopologySpread honours nodeAffinityPolicy (default Honor) and
// nodeTaintsPolicy (default Ignore); minDomains and matchLabelKeys are behind feature gates that
// are off in v1.26 (FeatureGates turns them on).
//
// ClusterState is the per-cycle view: pods by node with their requests and host ports, lazily
// built per-namespace label indexes and the existing pods' required anti-affinity terms grouped by
// topology domain. Move() updates it for a planned move so that later checks in the same cycle
// see earlier moves (capacity, ports, anti-affinity, spread). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cluster_snapshot.h"
#include "core/model.h"

namespace kb::scoring {

// The kube-scheduler filter plugin that rejects a pod, by its registered name.
enum class FilterPlugin : uint8_t {
  kNone,
  kNodeUnschedulable,
  kNodeName,
  kTaintToleration,
  kNodeAffinity,
  kNodePorts,
  kNodeResourcesFit,
  kVolumeBinding,
  kVolumeZone,
  kPodTopologySpread,
  kInterPodAffinity,
};
// "NodeUnschedulable", ...; "none" for kNone.
const char* FilterPluginName(FilterPlugin plugin);

enum class FitReason : uint8_t {
  kNone,
  kNodeUnschedulable,             // node(s) were unschedulable
  kNodeNameMismatch,              // node(s) didn't match the requested node name
  kUntoleratedTaint,              // node(s) had untolerated taint {key: value}
  kNodeAffinityMismatch,          // node(s) didn't match Pod's node affinity/selector
  kHostPortConflict,              // node(s) didn't have free ports for the requested pod ports
  kTooManyPods,                   // Too many pods
  kInsufficientCpu,               // Insufficient cpu
  kInsufficientMemory,            // Insufficient memory
  kInsufficientEphemeralStorage,  // Insufficient ephemeral-storage
  kInsufficientScalar,            // Insufficient <resource> (detail names it)
  kPvcNotFound,                   // persistentvolumeclaim "<name>" not found
  kPvcDeleting,                   // persistentvolumeclaim "<name>" is being deleted
  kUnboundImmediatePvc,           // pod has unbound immediate PersistentVolumeClaims
  kVolumeNodeConflict,            // node(s) had volume node affinity conflict
  kVolumeBindConflict,            // node(s) didn't find available persistent volumes to bind
  kPvNotExist,          // node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)
  kVolumeZoneConflict,  // node(s) had no available volume zone
  kSpreadMissingLabel,  // node(s) didn't match pod topology spread constraints (missing
                        // required label)
  kSpreadSkew,          // node(s) didn't match pod topology spread constraints
  kAffinityNotMatch,    // node(s) didn't match pod affinity rules
  kAntiAffinityNotMatch,          // node(s) didn't match pod anti-affinity rules
  kExistingAntiAffinityNotMatch,  // node(s) didn't satisfy existing pods anti-affinity rules
};
// Stable identifier, e.g. "InsufficientCpu" (metric labels, JSON).
const char* FitReasonName(FitReason reason);

struct Fit {
  FilterPlugin plugin = FilterPlugin::kNone;
  FitReason reason = FitReason::kNone;
  std::string message;  // kube-scheduler's reason text ("" when the pod fits)
  bool ok() const { return plugin == FilterPlugin::kNone; }
};

// Feature gates that change filter semantics; the defaults are v1.26's.
struct FeatureGates {
  bool min_domains_in_pod_topology_spread = false;       // beta, off by default in v1.26
  bool match_label_keys_in_pod_topology_spread = false;  // alpha in v1.26
};

// How a pod is checked.
struct CheckOptions {
  // The pod is a running pod whose replacement is being placed: its own copy is left out of every
  // count (it is leaving its node) and spec.nodeName is ignored (a controller creates the
  // replacement without one).
  bool moving = false;
};

// Pod-level state computed once per pod (kube-scheduler's PreFilter); see ClusterState::Prepare.
struct PreparedPod;

class ClusterState {
 public:
  explicit ClusterState(std::shared_ptr<const ClusterSnapshot> snapshot, FeatureGates gates = {});
  ~ClusterState();
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // PreFilter: the pod's requests, ports, volumes, affinity and spread counts over the current
  // state. Valid until the next Move().
  std::shared_ptr<const PreparedPod> Prepare(const Pod& pod, CheckOptions options = {}) const;
  // Filter: the first plugin (in the default profile's order) that rejects `pod` on `node`.
  // An unknown node fails NodeName with a message saying so.
  Fit Check(const PreparedPod& pod, const std::string& node) const;
  // Prepare + Check for one node.
  Fit Check(const Pod& pod, const std::string& node, CheckOptions options = {}) const;

  // Counts a planned move: `pod` leaves `from` ("" = it was unbound) and lands on `to`.
  void Move(const PodPtr& pod, const std::string& from, const std::string& to);

  const ClusterSnapshot& snapshot() const { return *snapshot_; }
  const FeatureGates& gates() const { return gates_; }

  struct Impl;

 private:
  std::shared_ptr<const ClusterSnapshot> snapshot_;
  FeatureGates gates_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kb::scoring
