// Fluent builders for Kubernetes API objects in tests (descheduler's BuildTestNode/BuildTestPod):
// Json() gives the API JSON (as the API server or kube-scheduler would send it) and Build() the
// decoded kb model object, so tests of every module construct objects one way.
// Value types; not thread-safe (build in one thread, then share the results).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/model.h"

namespace kb::testing {

// A fixed wall time for tests: 2026-01-01T00:00:00Z plus `seconds` (FakeClock's default start).
WallTime TestTime(int64_t seconds = 0);

// Deterministic UIDs: "uid-<namespace>-<name>" ("uid-node-<name>" for nodes), so an owner
// reference built from a name matches the owner built by its builder.
std::string TestUid(const std::string& ns, const std::string& name);

// {"apiVersion":"v1","kind":<kind>,"metadata":{"resourceVersion":rv},"items":[...]}.
nlohmann::json ListJson(const std::string& kind, std::vector<nlohmann::json> items,
                        const std::string& resource_version = "1");

// A Ready node with cpu 4, memory 8Gi, 110 pods (capacity == allocatable) and the hostname
// label, unless changed.
class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name);

  NodeBuilder& Uid(std::string uid);
  NodeBuilder& ResourceVersion(std::string rv);
  // Capacity and allocatable together.
  NodeBuilder& Cpu(std::string quantity);
  NodeBuilder& Memory(std::string quantity);
  NodeBuilder& Pods(int64_t pods);
  // Allocatable only (call after Cpu/Memory when they should differ from capacity).
  NodeBuilder& AllocatableCpu(std::string quantity);
  NodeBuilder& AllocatableMemory(std::string quantity);
  NodeBuilder& Label(std::string key, std::string value);
  NodeBuilder& Annotation(std::string key, std::string value);
  NodeBuilder& Taint(std::string key, std::string value, std::string effect);
  NodeBuilder& Unschedulable(bool unschedulable = true);
  NodeBuilder& Ready(bool ready = true);
  NodeBuilder& NotReady() { return Ready(false); }
  // Sets the maintenance label scheduler.alpha.kubernetes.io/maintenance=true.
  NodeBuilder& Maintenance(bool on = true);
  NodeBuilder& InternalIP(std::string ip);
  NodeBuilder& Created(WallTime t);

  nlohmann::json Json() const;
  // Decodes Json(); throws std::logic_error if the decoder rejects it.
  Node Build() const;

 private:
  nlohmann::json j_;
};

// A pod in namespace "default" with one container "app" and no requests. Phase: "Pending" until
// Node() binds it, then "Running", unless Phase() says otherwise. No Ready condition unless
// Ready() is called.
class PodBuilder {
 public:
  explicit PodBuilder(std::string name);
  PodBuilder(std::string ns, std::string name);

  PodBuilder& Namespace(std::string ns);  // also updates the automatic UID
  PodBuilder& Uid(std::string uid);
  PodBuilder& ResourceVersion(std::string rv);
  PodBuilder& Label(std::string key, std::string value);
  PodBuilder& Annotation(std::string key, std::string value);
  // Annotation kubernetes.io/config.mirror.
  PodBuilder& Mirror();
  PodBuilder& Created(WallTime t);
  PodBuilder& Deleting(WallTime t);  // deletionTimestamp

  // spec.nodeName.
  PodBuilder& Node(std::string node);
  PodBuilder& SchedulerName(std::string name);
  PodBuilder& Priority(int32_t priority);
  PodBuilder& PriorityClass(std::string name);
  PodBuilder& NodeSelector(std::string key, std::string value);
  // Adds one nodeSelectorTerm (terms are ORed) with a single matchExpressions requirement.
  PodBuilder& RequiredNodeAffinity(std::string key, std::string op,
                                   std::vector<std::string> values = {});
  // Adds one nodeSelectorTerm with all of `exprs` (ANDed).
  PodBuilder& RequiredNodeAffinityTerm(const std::vector<NodeSelectorRequirement>& exprs);
  PodBuilder& Toleration(std::string key, std::string op, std::string value, std::string effect);

  // Requests of the first container "app".
  PodBuilder& Cpu(std::string quantity);
  PodBuilder& Memory(std::string quantity);
  // Limits of the first container "app".
  PodBuilder& CpuLimit(std::string quantity);
  PodBuilder& MemoryLimit(std::string quantity);
  // Adds a container with requests (empty string: no request for that resource).
  PodBuilder& Container(std::string name, std::string cpu, std::string memory);
  // Adds an init container with requests; `sidecar` sets restartPolicy: Always.
  PodBuilder& InitContainer(std::string name, std::string cpu, std::string memory,
                            bool sidecar = false);
  PodBuilder& Overhead(std::string cpu, std::string memory);

  // Controller owner references (controller: true) with UIDs from TestUid.
  PodBuilder& OwnedByReplicaSet(std::string name);
  PodBuilder& OwnedByDaemonSet(std::string name);
  PodBuilder& OwnedByStatefulSet(std::string name);
  PodBuilder& OwnedByJob(std::string name);
  PodBuilder& Owner(std::string api_version, std::string kind, std::string name,
                    bool controller = true);

  PodBuilder& EmptyDir(std::string volume);
  PodBuilder& HostPath(std::string volume, std::string path = "/tmp");
  PodBuilder& Pvc(std::string volume, std::string claim);

  PodBuilder& Phase(std::string phase);
  // Ready condition True/False.
  PodBuilder& Ready(bool ready = true);
  // PodScheduled=True with lastTransitionTime `t`.
  PodBuilder& Scheduled(WallTime t);
  PodBuilder& StartTime(WallTime t);

  nlohmann::json Json() const;
  // Decodes Json(); throws std::logic_error if the decoder rejects it.
  Pod Build() const;

 private:
  nlohmann::json& FirstContainer();
  PodBuilder& SetCondition(const std::string& type, const std::string& status,
                           std::optional<WallTime> t);

  nlohmann::json j_;
  bool uid_set_ = false;
  bool phase_set_ = false;
};

// A policy/v1 PDB. No selector unless one is added (a null selector matches no pods).
class PdbBuilder {
 public:
  PdbBuilder(std::string ns, std::string name);

  PdbBuilder& Uid(std::string uid);
  PdbBuilder& ResourceVersion(std::string rv);
  PdbBuilder& Generation(int64_t generation);
  PdbBuilder& MinAvailable(int32_t n);
  PdbBuilder& MinAvailablePercent(int32_t percent);
  PdbBuilder& MaxUnavailable(int32_t n);
  PdbBuilder& MaxUnavailablePercent(int32_t percent);
  // matchLabels entry (creates the selector).
  PdbBuilder& Selector(std::string key, std::string value);
  // An empty selector {} (matches every pod in the namespace).
  PdbBuilder& EmptySelector();
  PdbBuilder& SelectorExpression(std::string key, std::string op,
                                 std::vector<std::string> values = {});
  PdbBuilder& DisruptionsAllowed(int32_t n);
  PdbBuilder& CurrentHealthy(int32_t n);
  PdbBuilder& DesiredHealthy(int32_t n);
  PdbBuilder& ExpectedPods(int32_t n);
  PdbBuilder& ObservedGeneration(int64_t generation);

  nlohmann::json Json() const;
  PodDisruptionBudget Build() const;

 private:
  nlohmann::json j_;
};

// An apps/v1 ReplicaSet with selector and template label app=<name> and 1 replica.
class ReplicaSetBuilder {
 public:
  ReplicaSetBuilder(std::string ns, std::string name);

  ReplicaSetBuilder& Uid(std::string uid);
  ReplicaSetBuilder& ResourceVersion(std::string rv);
  ReplicaSetBuilder& Replicas(int32_t n);
  // Replaces the default app=<name> selector/template label with key=value.
  ReplicaSetBuilder& Selector(std::string key, std::string value);
  // Pod template: metadata.labels/annotations and spec of `pod` (selector labels are added).
  ReplicaSetBuilder& Template(const PodBuilder& pod);
  ReplicaSetBuilder& OwnedByDeployment(std::string name);
  ReplicaSetBuilder& StatusReplicas(int32_t n);
  ReplicaSetBuilder& ReadyReplicas(int32_t n);
  ReplicaSetBuilder& AvailableReplicas(int32_t n);

  nlohmann::json Json() const;
  ReplicaSet Build() const;

 private:
  nlohmann::json j_;
};

// An apps/v1 Deployment with selector and template label app=<name>, 1 replica, and no
// strategy field (so the decoder's RollingUpdate 25%/25% defaults apply).
class DeploymentBuilder {
 public:
  DeploymentBuilder(std::string ns, std::string name);

  DeploymentBuilder& Uid(std::string uid);
  DeploymentBuilder& ResourceVersion(std::string rv);
  DeploymentBuilder& Generation(int64_t generation);
  DeploymentBuilder& Replicas(int32_t n);
  DeploymentBuilder& Selector(std::string key, std::string value);
  DeploymentBuilder& Template(const PodBuilder& pod);
  DeploymentBuilder& TemplateAnnotation(std::string key, std::string value);
  DeploymentBuilder& Recreate();
  // RollingUpdate parameters: an int or a percentage string such as "25%".
  DeploymentBuilder& MaxSurge(nlohmann::json int_or_percent);
  DeploymentBuilder& MaxUnavailable(nlohmann::json int_or_percent);
  DeploymentBuilder& Paused(bool paused = true);
  DeploymentBuilder& ObservedGeneration(int64_t generation);
  DeploymentBuilder& StatusReplicas(int32_t n);
  DeploymentBuilder& UpdatedReplicas(int32_t n);
  DeploymentBuilder& ReadyReplicas(int32_t n);
  DeploymentBuilder& AvailableReplicas(int32_t n);
  DeploymentBuilder& UnavailableReplicas(int32_t n);

  nlohmann::json Json() const;
  Deployment Build() const;

 private:
  nlohmann::json j_;
};

}  // namespace kb::testing
