// Protections: which pods the rescheduler never moves, as data (one enum value per rule, each
// switchable in rescheduler.protections). Pod-level rules read the pod; owner-level rules the
// cache or the workload objects the evictor fetched. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"

namespace kb::resched {

enum class Protection {
  kNone,
  kTerminating,          // deletionTimestamp set                       (terminatingPods)
  kMirror,               // mirror / static pod                         (mirrorPods)
  kDaemonSet,            // controller owner is a DaemonSet             (daemonSetPods)
  kSystemCritical,       // priority >= 2000000000                      (systemCriticalPods)
  kExcludedNamespace,    // namespace in excludedNamespaces             (excludedNamespaces)
  kOptedOut,             // label rescheduling=disabled                 (optOutLabel)
  kLocalStorage,         // emptyDir / hostPath volume                  (localStoragePods)
  kBarePod,              // no controller and not labelled rescheduling=enabled (barePods)
  kNotReady,             // not Running and Ready (Pending, finished, unready) (notReadyPods)
  kUnavailableWorkload,  // owner mid-rollout or with unavailable replicas (unavailableWorkloads)
  kSingleReplica,        // the only pod of its workload and no surge restart possible
                         //                                              (singleReplicaWorkloads)
  // Scope: pods that are not this rescheduler's to move. They still count as load.
  kOtherScheduler,  // spec.schedulerName not in schedulerNames         (schedulerNames)
  kOutOfScope,      // namespaces.include, podSelector or priorityThreshold leave it out
  kPvc,             // mounts a PersistentVolumeClaim                   (pvcPods)
};
// True for the scope rules: the pod is not ours to move, so a drain passes over it quietly.
bool IsScopeRule(Protection p);

// Stable names for logs, /debug/plan and tests: "terminating", "mirror", "daemonset",
// "system_critical", "excluded_namespace", "opted_out", "local_storage", "bare_pod", "not_ready",
// "unavailable_workload", "single_replica", "other_scheduler", "out_of_scope", "pvc"; "none".
const char* ProtectionName(Protection p);

struct ProtectionResult {
  Protection protection = Protection::kNone;
  std::string reason;  // human-readable, "" when none applies
  bool ok() const { return protection == Protection::kNone; }
};

// True when the pod is labelled scheduler.alpha.kubernetes.io/rescheduling=enabled.
bool OptedIn(const Pod& pod);
// True when the pod has no controller owner (a bare pod).
bool IsBarePod(const Pod& pod);
// The workload key used for in-flight and cooldown bookkeeping: the controller owner's UID, or
// "pod:<namespace>/<name>" for a bare pod.
std::string WorkloadKey(const Pod& pod);

// The scope rules (schedulerNames, namespaces, excludedNamespaces, podSelector,
// priorityThreshold): the first that leaves `pod` out, or none. A priorityThreshold given by
// name is resolved in `snapshot`'s PriorityClasses; when it does not resolve (or `snapshot` is
// null) every pod is out of scope (fail closed).
ProtectionResult CheckScope(const Pod& pod, const ReschedulerConfig& config,
                            const ClusterSnapshot* snapshot);

// Pod-level rules: the scope first, then the protections in the order listed in Protection.
// Returns the first that applies.
ProtectionResult CheckPod(const Pod& pod, const ReschedulerConfig& config,
                          const ClusterSnapshot* snapshot = nullptr);

// Owner-level rule from the cache (unavailableWorkloads): every other pod of the pod's controller
// owner must be Running, Ready and not terminating; no owner pod may be Pending.
ProtectionResult CheckOwnerPods(const Pod& pod, const ClusterSnapshot& snapshot,
                                const ReschedulerConfig& config);

// CheckPod, then CheckOwnerPods.
ProtectionResult CheckMovable(const Pod& pod, const ClusterSnapshot& snapshot,
                              const ReschedulerConfig& config);

// The workload behind a pod, as read from the API by the evictor.
struct WorkloadInfo {
  std::string owner_kind;  // controller owner kind ("" for a bare pod)
  std::string owner_name;
  int owner_pods = 0;  // pods of the controller owner in the cache snapshot (incl. this one)
  std::optional<ReplicaSet> replica_set;  // when the owner is a ReplicaSet
  std::optional<Deployment> deployment;   // when that ReplicaSet is controlled by a Deployment
};

// Workload-level rules from the API objects (unavailableWorkloads): a Deployment mid-rollout
// (observedGeneration behind, updated/available/ready replicas short of spec, surplus old pods) or
// a ReplicaSet with fewer ready/available replicas than desired.
ProtectionResult CheckWorkload(const WorkloadInfo& workload, const ReschedulerConfig& config);

// How a pod that is the only replica of its workload can move.
enum class SingleReplicaAction {
  kNotSingle,     // more than one replica: evict normally
  kSurgeRestart,  // Deployment, RollingUpdate with maxSurge >= 1, not paused: restartedAt patch
  kSkip,          // would mean downtime: skip and report (reason says why)
};
struct SingleReplicaDecision {
  SingleReplicaAction action = SingleReplicaAction::kNotSingle;
  std::string reason;
};
// Single replica = Deployment spec.replicas == 1, else a ReplicaSet with spec.replicas == 1, else
// any other controller owner with one pod in the cache. With singleReplicaWorkloads off, every
// workload is kNotSingle (evicted like any other).
SingleReplicaDecision DecideSingleReplica(const WorkloadInfo& workload,
                                          const ReschedulerConfig& config);

}  // namespace kb::resched
