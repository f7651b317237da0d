#include "rescheduler/protections.h"

#include <algorithm>

namespace kb::resched {

namespace {

ProtectionResult Blocked(Protection p, std::string reason) {
  return ProtectionResult{p, std::move(reason)};
}

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool HasLabel(const Pod& pod, const char* key, const char* value) {
  auto it = pod.meta.labels.find(key);
  return it != pod.meta.labels.end() && it->second == value;
}

const char* VolumeKindName(Volume::Kind kind) {
  return kind == Volume::Kind::kEmptyDir ? "emptyDir" : "hostPath";
}

}  // namespace

const char* ProtectionName(Protection p) {
  switch (p) {
    case Protection::kNone:
      return "none";
    case Protection::kTerminating:
      return "terminating";
    case Protection::kMirror:
      return "mirror";
    case Protection::kDaemonSet:
      return "daemonset";
    case Protection::kSystemCritical:
      return "system_critical";
    case Protection::kExcludedNamespace:
      return "excluded_namespace";
    case Protection::kOptedOut:
      return "opted_out";
    case Protection::kLocalStorage:
      return "local_storage";
    case Protection::kBarePod:
      return "bare_pod";
    case Protection::kNotReady:
      return "not_ready";
    case Protection::kUnavailableWorkload:
      return "unavailable_workload";
    case Protection::kSingleReplica:
      return "single_replica";
    case Protection::kOtherScheduler:
      return "other_scheduler";
    case Protection::kOutOfScope:
      return "out_of_scope";
    case Protection::kPvc:
      return "pvc";
  }
  return "none";
}

bool IsScopeRule(Protection p) {
  return p == Protection::kOtherScheduler || p == Protection::kOutOfScope;
}

ProtectionResult CheckScope(const Pod& pod, const ReschedulerConfig& config,
                            const ClusterSnapshot* snapshot) {
  // The API server defaults an empty schedulerName to default-scheduler.
  const std::string scheduler =
      pod.scheduler_name.empty() ? "default-scheduler" : pod.scheduler_name;
  if (!Contains(config.scheduler_names, scheduler)) {
    return Blocked(Protection::kOtherScheduler, "scheduled by " + scheduler +
                                                    ", not one of schedulerNames (its replacement "
                                                    "would be placed without the extender)");
  }
  const std::string& ns = pod.meta.namespace_;
  if (Contains(config.excluded_namespaces, ns) || Contains(config.namespaces.exclude, ns)) {
    return Blocked(Protection::kExcludedNamespace, "namespace " + ns + " is excluded");
  }
  if (!config.namespaces.include.empty() && !Contains(config.namespaces.include, ns)) {
    return Blocked(Protection::kOutOfScope, "namespace " + ns + " is not in namespaces.include");
  }
  if (!config.pod_selector.Empty() && !config.pod_selector.Matches(pod.meta.labels)) {
    return Blocked(Protection::kOutOfScope, "labels do not match podSelector");
  }
  const PriorityThreshold& t = config.priority_threshold;
  if (t.Set()) {
    std::optional<int32_t> threshold = t.value;
    if (!threshold && snapshot != nullptr && snapshot->priority_classes) {
      auto it = snapshot->priority_classes->find(t.name);
      if (it != snapshot->priority_classes->end()) threshold = it->second->value;
    }
    if (!threshold) {
      return Blocked(Protection::kOutOfScope, "priorityThreshold PriorityClass " + t.name +
                                                  " not found: nothing moves (fail closed)");
    }
    const int32_t priority = pod.priority.value_or(0);
    if (priority >= *threshold) {
      return Blocked(Protection::kOutOfScope, "priority " + std::to_string(priority) +
                                                  " is not below priorityThreshold " +
                                                  std::to_string(*threshold));
    }
  }
  return {};
}

bool OptedIn(const Pod& pod) { return HasLabel(pod, kReschedulingLabel, "enabled"); }

bool IsBarePod(const Pod& pod) { return pod.meta.ControllerRef() == nullptr; }

std::string WorkloadKey(const Pod& pod) {
  if (const OwnerReference* owner = pod.meta.ControllerRef(); owner != nullptr) {
    return owner->uid;
  }
  return "pod:" + pod.meta.namespace_ + "/" + pod.meta.name;
}

ProtectionResult CheckPod(const Pod& pod, const ReschedulerConfig& config,
                          const ClusterSnapshot* snapshot) {
  if (ProtectionResult scope = CheckScope(pod, config, snapshot); !scope.ok()) return scope;
  const ProtectionsConfig& p = config.protections;
  if (p.terminating_pods && pod.IsTerminating()) {
    return Blocked(Protection::kTerminating, "pod is terminating");
  }
  // A Node-kind owner marks a static pod even when the mirror annotation is missing.
  const OwnerReference* owner = pod.meta.ControllerRef();
  const bool node_owned =
      std::any_of(pod.meta.owner_references.begin(), pod.meta.owner_references.end(),
                  [](const OwnerReference& o) { return o.kind == "Node"; });
  if (p.mirror_pods && (pod.IsMirror() || node_owned)) {
    return Blocked(Protection::kMirror, "mirror / static pod (managed by the kubelet)");
  }
  if (p.daemon_set_pods && pod.IsDaemonSetPod()) {
    return Blocked(Protection::kDaemonSet, "DaemonSet pod (its replacement would return here)");
  }
  if (p.system_critical_pods && pod.priority.has_value() &&
      *pod.priority >= kSystemCriticalPriority) {
    return Blocked(Protection::kSystemCritical,
                   "system-critical priority " + std::to_string(*pod.priority));
  }
  if (p.opt_out_label && HasLabel(pod, kReschedulingLabel, "disabled")) {
    return Blocked(Protection::kOptedOut,
                   std::string("labelled ") + kReschedulingLabel + "=disabled");
  }
  if (p.local_storage_pods) {
    for (const Volume& v : pod.volumes) {
      if (v.kind == Volume::Kind::kEmptyDir || v.kind == Volume::Kind::kHostPath) {
        return Blocked(Protection::kLocalStorage, std::string("uses local storage (") +
                                                      VolumeKindName(v.kind) + " volume " + v.name +
                                                      ")");
      }
    }
  }
  if (p.pvc_pods) {
    for (const Volume& v : pod.volumes) {
      if (v.kind == Volume::Kind::kPersistentVolumeClaim) {
        return Blocked(Protection::kPvc, "mounts PersistentVolumeClaim " + v.claim_name);
      }
    }
  }
  if (p.bare_pods && owner == nullptr && !OptedIn(pod)) {
    return Blocked(Protection::kBarePod, std::string("bare pod without a controller (label ") +
                                             kReschedulingLabel + "=enabled to allow a move)");
  }
  if (p.not_ready_pods && (pod.phase != "Running" || !pod.IsReady())) {
    return Blocked(Protection::kNotReady,
                   "pod is not Running and Ready (phase " +
                       (pod.phase.empty() ? std::string("unknown") : pod.phase) + ")");
  }
  return {};
}

ProtectionResult CheckOwnerPods(const Pod& pod, const ClusterSnapshot& snapshot,
                                const ReschedulerConfig& config) {
  if (!config.protections.unavailable_workloads) return {};
  const OwnerReference* owner = pod.meta.ControllerRef();
  if (owner == nullptr) return {};
  for (const PodPtr& other : snapshot.PodsOwnedBy(owner->uid)) {
    if (other->meta.uid == pod.meta.uid || other->IsFinished()) continue;
    if (other->IsTerminating() || other->phase != "Running" || !other->IsReady()) {
      return Blocked(Protection::kUnavailableWorkload,
                     owner->kind + " " + owner->name + " has a replica that is not available (" +
                         other->meta.name + ")");
    }
  }
  return {};
}

ProtectionResult CheckMovable(const Pod& pod, const ClusterSnapshot& snapshot,
                              const ReschedulerConfig& config) {
  ProtectionResult r = CheckPod(pod, config, &snapshot);
  if (!r.ok()) return r;
  return CheckOwnerPods(pod, snapshot, config);
}

ProtectionResult CheckWorkload(const WorkloadInfo& w, const ReschedulerConfig& config) {
  if (!config.protections.unavailable_workloads) return {};
  if (w.deployment.has_value()) {
    const Deployment& d = *w.deployment;
    const std::string name = "Deployment " + d.meta.name;
    // A paused Deployment does not roll out; only the availability rule applies to it.
    if (!d.paused && d.meta.generation > d.observed_generation) {
      return Blocked(Protection::kUnavailableWorkload,
                     name + " is mid-rollout (generation not yet observed)");
    }
    if (!d.paused && (d.updated_replicas < d.replicas || d.status_replicas > d.replicas)) {
      return Blocked(Protection::kUnavailableWorkload,
                     name + " is mid-rollout (" + std::to_string(d.updated_replicas) +
                         " updated, " + std::to_string(d.status_replicas) + " total, " +
                         std::to_string(d.replicas) + " desired)");
    }
    if (d.unavailable_replicas > 0 || d.available_replicas < d.replicas ||
        d.ready_replicas < d.replicas) {
      return Blocked(Protection::kUnavailableWorkload,
                     name + " has unavailable replicas (" + std::to_string(d.available_replicas) +
                         "/" + std::to_string(d.replicas) + " available)");
    }
    return {};
  }
  if (w.replica_set.has_value()) {
    const ReplicaSet& rs = *w.replica_set;
    if (rs.status_replicas > rs.replicas) {
      return Blocked(Protection::kUnavailableWorkload,
                     "ReplicaSet " + rs.meta.name + " is scaling down");
    }
    if (rs.ready_replicas < rs.replicas || rs.available_replicas < rs.replicas) {
      return Blocked(Protection::kUnavailableWorkload,
                     "ReplicaSet " + rs.meta.name + " has unavailable replicas (" +
                         std::to_string(rs.available_replicas) + "/" + std::to_string(rs.replicas) +
                         " available)");
    }
  }
  return {};
}

SingleReplicaDecision DecideSingleReplica(const WorkloadInfo& w, const ReschedulerConfig& config) {
  SingleReplicaDecision out;
  if (!config.protections.single_replica_workloads || w.owner_kind.empty()) return out;
  if (w.deployment.has_value()) {
    const Deployment& d = *w.deployment;
    if (d.replicas != 1) return out;
    const std::string name = "single-replica Deployment " + d.meta.name;
    if (d.paused) {
      out.action = SingleReplicaAction::kSkip;
      out.reason = name + " is paused (a restart would not roll out); eviction would mean downtime";
      return out;
    }
    if (d.strategy.type != "RollingUpdate") {
      out.action = SingleReplicaAction::kSkip;
      out.reason =
          name + " uses strategy " + d.strategy.type + " (no surge); eviction would mean downtime";
      return out;
    }
    // Kubernetes resolves maxSurge against spec.replicas rounding up.
    if (d.strategy.max_surge.Resolve(d.replicas, /*round_up=*/true) < 1) {
      out.action = SingleReplicaAction::kSkip;
      out.reason = name + " has maxSurge 0 (no surge); eviction would mean downtime";
      return out;
    }
    out.action = SingleReplicaAction::kSurgeRestart;
    out.reason = name + ": surge restart (restartedAt)";
    return out;
  }
  const bool single = w.replica_set.has_value() ? w.replica_set->replicas == 1 : w.owner_pods <= 1;
  if (single) {
    out.action = SingleReplicaAction::kSkip;
    out.reason = "single-replica " + w.owner_kind + " " + w.owner_name +
                 " without a Deployment to surge; eviction would mean downtime";
  }
  return out;
}

}  // namespace kb::resched
