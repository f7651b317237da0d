// Controllers: the control loops that make kube-sim behave like a cluster. RunOnce() runs every
// loop once, in order: graceful-deletion finaliser, garbage collector (sim/controllers.cc),
// Deployment -> ReplicaSet (sim/deployment_controller.cc), ReplicaSet -> Pods
// (sim/replicaset_controller.cc), kubelet stand-in (sim/kubelet.cc: admission + Pending ->
// Running/Ready), PDB status (sim/pdb_controller.cc), Deployment status; then any loop registered
// with Add() (the scheduler driver and the node metrics plug in here). Loops read the store
// directly and write through the Registry with resourceVersion preconditions, so they race with
// clients like real controllers do: a conflict is simply retried on the next pass.
// Thread-safe: RunOnce() calls are serialised.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "sim/registry.h"

namespace kb::sim {

struct ControllerOptions {
  // A pod bound to an existing node becomes Running and Ready this long after the kubelet
  // stand-in first sees it.
  std::chrono::milliseconds pod_ready_delay{100};
  // The kubelet stand-in rejects (phase Failed) pods that do not fit the node's allocatable
  // cpu / memory / pods, or whose nodeSelector / required node affinity the node does not match,
  // as the real kubelet's admission does.
  bool kubelet_admission = true;
  // Deletes pods whose controlling ReplicaSet, and ReplicaSets whose controlling Deployment, no
  // longer exists (owner kinds kube-sim does not store are left alone).
  bool garbage_collector = true;
  // The disruption controller writes a PDB's new status only once it has differed from the
  // stored one for this long: the real controller works from informers and a rate-limited
  // queue, so right after a replacement becomes Ready the status may still say no disruption is
  // allowed. 0 = at the next pass.
  std::chrono::milliseconds pdb_status_lag{0};
};

class Controllers {
 public:
  using Loop = std::function<void()>;
  Controllers(Registry& registry, ControllerOptions options);

  // Appends a loop run after the built-in ones on every pass.
  void Add(std::string name, Loop loop);
  // One pass of every loop.
  void RunOnce();

  // The pod-template-hash kube's Deployment controller would give `pod_template`.
  static std::string TemplateHash(const nlohmann::json& pod_template);

 private:
  void FinalizeDeletions();
  void CollectGarbage();
  void SyncDeployments();
  void SyncReplicaSets();
  void RunKubelet();
  // The kubelet's second half: admitted pods whose delay is over become Running and Ready.
  void MarkReady(const std::vector<ObjectStore::Object>& all_pods,
                 const std::map<std::string, ObjectStore::Object>& nodes, SteadyTime now,
                 const std::string& now_text);
  void SyncPdbs();
  void SyncDeploymentStatus();

  Registry& registry_;
  ObjectStore& store_;
  const Clock& clock_;
  const ControllerOptions options_;
  std::mutex run_mu_;  // serialises RunOnce
  // State below is guarded by run_mu_.
  std::vector<std::pair<std::string, Loop>> extra_loops_;
  std::map<std::string, SteadyTime> ready_at_;         // admitted pod uid -> when it becomes Ready
  std::map<std::string, SteadyTime> pdb_stale_since_;  // PDB uid -> status differs since
  uint64_t next_pod_ip_ = 0;
};

}  // namespace kb::sim
