// The slice of the Kubernetes object model kube-balancer uses, decoded from API JSON with only the
// fields we read. Unknown fields are ignored; a field of the wrong type makes the decoder return
// InvalidArgument naming the field path (e.g. "spec.containers[0].resources.requests.cpu").
// Plain value types; decode functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace kb {

using StringMap = std::map<std::string, std::string>;
// Resources other than cpu, memory and pods, by name, in the unit Quantity::Value() gives
// (ephemeral-storage in bytes, hugepages-* in bytes, extended resources as counts). Absent: 0.
using ScalarResources = std::map<std::string, int64_t>;

// Well-known label/annotation keys.
inline constexpr char kMaintenanceLabel[] = "scheduler.alpha.kubernetes.io/maintenance";
inline constexpr char kReschedulingLabel[] = "scheduler.alpha.kubernetes.io/rescheduling";
inline constexpr char kMirrorPodAnnotation[] = "kubernetes.io/config.mirror";
inline constexpr char kRestartedAtAnnotation[] = "kubectl.kubernetes.io/restartedAt";
inline constexpr char kHostnameLabel[] = "kubernetes.io/hostname";
// Dropped by the decoders (see DecodeMeta): large and unused.
inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";
inline constexpr int64_t kSystemCriticalPriority = 2000000000;

// CPU and memory in integer units. Arithmetic is saturating-free: callers stay within int64.
struct Resources {
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  int64_t pods = 0;  // only meaningful for node capacity / allocatable

  Resources& operator+=(const Resources& o) {
    cpu_millis += o.cpu_millis;
    memory_bytes += o.memory_bytes;
    pods += o.pods;
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    cpu_millis -= o.cpu_millis;
    memory_bytes -= o.memory_bytes;
    pods -= o.pods;
    return *this;
  }
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend bool operator==(const Resources&, const Resources&) = default;
  // Component-wise max (cpu, memory, pods).
  static Resources Max(const Resources& a, const Resources& b);
};

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  StringMap labels;
  StringMap annotations;
  std::vector<OwnerReference> owner_references;
  std::optional<WallTime> creation_timestamp;
  std::optional<WallTime> deletion_timestamp;

  // The owner with controller: true, or nullptr.
  const OwnerReference* ControllerRef() const;
};

// metav1.LabelSelector. `Matches` follows apimachinery: an empty selector ({}) matches everything.
struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};
struct LabelSelector {
  StringMap match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool Matches(const StringMap& labels) const;
};

// intstr.IntOrString as used by PDBs and rolling-update strategies ("25%" or 1).
struct IntOrPercent {
  bool is_percent = false;
  int64_t value = 0;
  // Resolves against `total`: percentages round up when `round_up`, else down (as Kubernetes'
  // GetScaledValueFromIntOrPercent).
  int64_t Resolve(int64_t total, bool round_up) const;
};

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule, PreferNoSchedule, NoExecute
};

struct Toleration {
  std::string key;
  std::string op;  // "Equal" (default when empty) or "Exists"
  std::string value;
  std::string effect;  // empty: all effects
  // True if this toleration tolerates `taint` (k8s.io/api/core/v1 Toleration.ToleratesTaint).
  bool Tolerates(const Taint& taint) const;
};

// core/v1 NodeSelectorRequirement (node affinity); ops In, NotIn, Exists, DoesNotExist, Gt, Lt.
struct NodeSelectorRequirement {
  std::string key;
  std::string op;
  std::vector<std::string> values;
  // True if `labels` satisfy this requirement (k8s.io/apimachinery labels.Requirement): In and
  // NotIn need values, Exists and DoesNotExist must have none, Gt/Lt need exactly one integer
  // value and an integer label; NotIn and DoesNotExist hold for a missing label. An invalid
  // requirement matches nothing.
  bool Matches(const StringMap& labels) const;
};
struct Node;
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;
  std::vector<NodeSelectorRequirement> match_fields;  // only metadata.name is defined
  // All expressions (on labels) and fields (metadata.name) match. An empty term matches nothing.
  bool Matches(const Node& node) const;
};

// core/v1 PodAffinityTerm (required pod affinity / anti-affinity).
struct PodAffinityTerm {
  std::optional<LabelSelector> label_selector;      // nullopt: matches no pod
  std::vector<std::string> namespaces;              // with namespace_selector unset and this empty:
                                                    // the namespace of the pod holding the term
  std::optional<LabelSelector> namespace_selector;  // {} matches every namespace
  std::string topology_key;
};

// core/v1 TopologySpreadConstraint.
struct TopologySpreadConstraint {
  int32_t max_skew = 0;
  std::string topology_key;
  std::string when_unsatisfiable;               // DoNotSchedule or ScheduleAnyway
  std::optional<LabelSelector> label_selector;  // nullopt: matches no pod
  std::optional<int32_t> min_domains;
  std::string node_affinity_policy;  // Honor, Ignore ("": the default, Honor)
  std::string node_taints_policy;    // Honor, Ignore ("": the default, Ignore)
  std::vector<std::string> match_label_keys;
};

// A container port with a hostPort (> 0): what NodePorts checks. Kept as written in the spec
// ("" host IP and protocol are defaulted by the checker: 0.0.0.0 and TCP).
struct HostPort {
  std::string host_ip;
  std::string protocol;
  int32_t port = 0;
};

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname, ...
  std::string address;
};

struct Node {
  ObjectMeta meta;
  bool unschedulable = false;
  std::vector<Taint> taints;
  Resources capacity;
  Resources allocatable;
  ScalarResources scalar_allocatable;  // ephemeral-storage, hugepages-*, extended resources
  std::vector<NodeAddress> addresses;
  bool ready = false;  // condition Ready == True

  bool InMaintenance() const;  // label scheduler.alpha.kubernetes.io/maintenance=true
  // The first InternalIP address, or "".
  std::string InternalIP() const;
};

struct Container {
  std::string name;
  Resources requests;
  Resources limits;
  ScalarResources scalar_requests;   // ephemeral-storage, hugepages-*, extended resources
  std::vector<HostPort> host_ports;  // ports[] entries with hostPort > 0
  // An init container with restartPolicy: Always (a "sidecar", Kubernetes >= 1.28): it keeps
  // running beside the app containers, so its request adds to theirs.
  bool restartable = false;
};

struct Volume {
  enum class Kind { kOther, kEmptyDir, kHostPath, kPersistentVolumeClaim };
  std::string name;
  Kind kind = Kind::kOther;
  std::string claim_name;  // for kPersistentVolumeClaim
};

struct PodCondition {
  std::string type;    // PodScheduled, Ready, ...
  std::string status;  // True, False, Unknown
  std::optional<WallTime> last_transition_time;
};

struct Pod {
  ObjectMeta meta;
  // spec
  std::string node_name;
  std::string scheduler_name;
  std::optional<int32_t> priority;
  std::string priority_class_name;
  StringMap node_selector;
  // requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms (ORed).
  std::vector<NodeSelectorTerm> required_node_affinity;
  // requiredDuringSchedulingIgnoredDuringExecution is present: with no terms it matches no node.
  bool required_node_affinity_set = false;
  std::vector<Toleration> tolerations;
  std::vector<Volume> volumes;
  std::vector<Container> containers;
  std::vector<Container> init_containers;
  Resources overhead;
  ScalarResources scalar_overhead;
  // spec.affinity.podAffinity / podAntiAffinity .requiredDuringSchedulingIgnoredDuringExecution.
  std::vector<PodAffinityTerm> required_pod_affinity;
  std::vector<PodAffinityTerm> required_pod_anti_affinity;
  std::vector<TopologySpreadConstraint> topology_spread_constraints;
  // status
  std::string phase;  // Pending, Running, Succeeded, Failed, Unknown
  std::vector<PodCondition> conditions;
  std::optional<WallTime> start_time;

  // Effective request as kube-scheduler computes it:
  // max(sum of containers, each init container) + overhead. pods = 1. Restartable (sidecar)
  // init containers are counted as Kubernetes >= 1.28 does: added to the containers' sum and to
  // every later init container.
  Resources EffectiveRequest() const;
  // Same rule applied to limits; a container without a limit contributes its request.
  Resources EffectiveLimit() const;

  bool IsTerminating() const { return meta.deletion_timestamp.has_value(); }
  // Phase Running and not terminating: the pods balancing counts and may move.
  bool IsRunning() const { return phase == "Running" && !IsTerminating(); }
  bool IsMirror() const;        // annotation kubernetes.io/config.mirror present
  bool IsDaemonSetPod() const;  // controller owner kind DaemonSet
  bool IsFinished() const;      // phase Succeeded or Failed
  bool IsReady() const;         // condition Ready == True
  const PodCondition* Condition(const std::string& type) const;
  // Time of the PodScheduled=True condition, if present.
  std::optional<WallTime> ScheduledTime() const;
};

struct PodDisruptionBudget {
  ObjectMeta meta;
  std::optional<IntOrPercent> min_available;
  std::optional<IntOrPercent> max_unavailable;
  // nullopt: a null selector (matches no pods in policy/v1 eviction).
  std::optional<LabelSelector> selector;
  // status
  int64_t observed_generation = 0;
  int32_t disruptions_allowed = 0;
  int32_t current_healthy = 0;
  int32_t desired_healthy = 0;
  int32_t expected_pods = 0;
};

struct DeploymentStrategy {
  std::string type = "RollingUpdate";  // or Recreate
  IntOrPercent max_surge{true, 25};
  IntOrPercent max_unavailable{true, 25};
};

struct ReplicaSet {
  ObjectMeta meta;
  int32_t replicas = 1;  // spec.replicas (default 1)
  LabelSelector selector;
  // status
  int32_t status_replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
};

struct Deployment {
  ObjectMeta meta;
  int32_t replicas = 1;  // spec.replicas (default 1)
  LabelSelector selector;
  DeploymentStrategy strategy;
  bool paused = false;
  StringMap template_annotations;  // spec.template.metadata.annotations
  // status
  int64_t observed_generation = 0;
  int32_t status_replicas = 0;
  int32_t updated_replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
  int32_t unavailable_replicas = 0;
};

// apps/v1 StatefulSet: the fields workload protections and planning read.
struct StatefulSet {
  ObjectMeta meta;
  int32_t replicas = 1;  // spec.replicas (default 1)
  LabelSelector selector;
  // status
  int64_t observed_generation = 0;
  int32_t status_replicas = 0;
  int32_t ready_replicas = 0;
  int32_t available_replicas = 0;
  int32_t updated_replicas = 0;
};

// core/v1 Namespace: its labels are what an inter-pod affinity term's namespaceSelector matches.
struct Namespace {
  ObjectMeta meta;
  std::string phase;  // Active, Terminating
};

// scheduling.k8s.io/v1 PriorityClass.
struct PriorityClass {
  ObjectMeta meta;
  int32_t value = 0;
  bool global_default = false;
};

// core/v1 PersistentVolume: what VolumeBinding and VolumeZone read of a bound volume.
struct PersistentVolume {
  ObjectMeta meta;  // labels carry the zone / region (topology.kubernetes.io/zone, ...)
  std::string storage_class_name;
  // spec.nodeAffinity.required.nodeSelectorTerms (ORed); nullopt when the volume has no node
  // affinity (usable from any node).
  std::optional<std::vector<NodeSelectorTerm>> node_affinity;
  std::string claim_namespace;  // spec.claimRef
  std::string claim_name;
  std::string claim_uid;
  std::string phase;  // Available, Bound, Released, Failed, Pending
};

// core/v1 PersistentVolumeClaim.
struct PersistentVolumeClaim {
  ObjectMeta meta;
  // spec.storageClassName: nullopt when unset (the default class applies), "" for "no class".
  std::optional<std::string> storage_class_name;
  std::string volume_name;  // spec.volumeName: the bound volume ("" while unbound)
  std::string phase;        // Pending, Bound, Lost
};

// storage.k8s.io/v1 StorageClass.
struct StorageClass {
  ObjectMeta meta;
  std::string provisioner;
  std::string volume_binding_mode = "Immediate";  // or WaitForFirstConsumer
  // allowedTopologies (ORed terms; each requirement is "key In values"); empty: anywhere.
  std::vector<NodeSelectorTerm> allowed_topologies;
};

// coordination.k8s.io/v1 Lease.
struct Lease {
  ObjectMeta meta;
  std::string holder_identity;
  int32_t lease_duration_seconds = 0;
  std::optional<WallTime> acquire_time;
  std::optional<WallTime> renew_time;
  int32_t lease_transitions = 0;
};

// kube-scheduler's NodeAffinity filter: every spec.nodeSelector label present with its value, and
// at least one required node-affinity term matching (absent: no constraint; present with no
// terms: no node). The one implementation of these rules (scoring/feasibility.h uses it).
bool PodMatchesNodeAffinity(const Pod& pod, const Node& node);
// One of the pod's tolerations tolerates `taint`.
bool PodToleratesTaint(const Pod& pod, const Taint& taint);
// kube-scheduler's TaintToleration filter: the first NoSchedule or NoExecute taint of `node` that
// the pod does not tolerate, or nullptr when it may run there (PreferNoSchedule never blocks).
const Taint* FirstUntoleratedTaint(const Pod& pod, const Node& node);

// Decoders. Each returns InvalidArgument naming the field path on a wrong type, e.g.
// "Pod default/web-1: spec.containers[0].resources.requests.cpu: expected string, got number".
StatusOr<Node> DecodeNode(const nlohmann::json& j);
StatusOr<Pod> DecodePod(const nlohmann::json& j);
StatusOr<PodDisruptionBudget> DecodePodDisruptionBudget(const nlohmann::json& j);
StatusOr<ReplicaSet> DecodeReplicaSet(const nlohmann::json& j);
StatusOr<Deployment> DecodeDeployment(const nlohmann::json& j);
StatusOr<Lease> DecodeLease(const nlohmann::json& j);
StatusOr<StatefulSet> DecodeStatefulSet(const nlohmann::json& j);
StatusOr<Namespace> DecodeNamespace(const nlohmann::json& j);
StatusOr<PriorityClass> DecodePriorityClass(const nlohmann::json& j);
StatusOr<PersistentVolume> DecodePersistentVolume(const nlohmann::json& j);
StatusOr<PersistentVolumeClaim> DecodePersistentVolumeClaim(const nlohmann::json& j);
StatusOr<StorageClass> DecodeStorageClass(const nlohmann::json& j);

// Encodes a Lease back to API JSON (apiVersion, kind, metadata incl. resourceVersion, spec).
nlohmann::json EncodeLease(const Lease& lease);

// RFC 3339 timestamps as Kubernetes writes them ("2026-01-01T12:00:00Z",
// "2026-01-01T12:00:00.123456Z", offsets "+02:00"). Total over years 0000-9999: WallTime holds
// int64 nanoseconds (1677-09-21 to 2262-04-11), so an earlier instant (Go's zero time
// "0001-01-01T00:00:00Z") saturates to WallTime::min() and a later one to WallTime::max().
StatusOr<WallTime> ParseRfc3339(const std::string& s);
// "2026-01-01T12:00:00Z" (metav1.Time, seconds precision). Total: WallTime::min() and max() format
// as their instants in 1677 and 2262.
std::string FormatRfc3339(WallTime t);
// "2026-01-01T12:00:00.123456Z" (metav1.MicroTime).
std::string FormatRfc3339Micro(WallTime t);

// "<namespace>/<name>".
std::string NamespacedName(const ObjectMeta& meta);

}  // namespace kb
