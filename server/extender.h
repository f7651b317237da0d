// Extender: the filter / prioritize / bind verbs as plain functions over decoded wire args. They
// know nothing about HTTP (ExtenderServer maps HTTP -> codec -> Extender), so tests call them
// directly. Filter and Prioritize read one immutable LoadSnapshot per call and do no I/O; Bind
// posts the pods/binding subresource and counts the binding in the LoadModel at once.
// Thread-safe: every method may be called concurrently from the HTTP workers.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/cluster_snapshot.h"
#include "core/status.h"
#include "kube/kube_client.h"
#include "scoring/load_model.h"
#include "scoring/policy.h"
#include "scoring/steering.h"
#include "server/codec.h"
#include "server/metrics.h"

namespace kb::server {

class Extender {
 public:
  // The cluster cache view, to find the pod a /bind or GET /debug/scores names. May be empty
  // (then bind still binds, but cannot update steering, and GET /debug/scores answers NotFound).
  using CacheProvider = std::function<std::shared_ptr<const ClusterSnapshot>()>;

  // `steering` may be null (no rescheduler). References must outlive the Extender.
  Extender(scoring::LoadModel& model, kube::KubeClient& client, scoring::PolicyConfig policy,
           ExtenderMetrics& metrics, scoring::Steering* steering = nullptr,
           CacheProvider cache = {});

  // Fails a node (FailedNodes, with a reason) when it is in maintenance, unschedulable, steered
  // away from for this pod's workload, or would exceed the CPU / memory threshold with the pod
  // added. Maintenance / unschedulable / steered nodes are also listed in
  // FailedAndUnresolvableNodes, so kube-scheduler does not preempt pods there for nothing. A node
  // not in the cache passes (counted in unknown_nodes_total).
  FilterResponse Filter(const ExtenderArgs& args) const;

  // One 0..10 score per candidate, in request order (scoring::ScoreNodes); unknown nodes get 0.
  std::vector<HostPriority> Prioritize(const ExtenderArgs& args) const;

  // POSTs pods/{name}/binding with the pod UID as a precondition, then counts the binding in the
  // LoadModel at once. Returns "" on success, else the error text for {"Error": ...}. Blocks on
  // the API server (bounded by the client's timeout).
  std::string Bind(const BindingArgs& args);

  // Per-node breakdown (filter verdict, score terms, load inputs) for /debug/scores.
  nlohmann::json DebugScores(const ExtenderArgs& args) const;
  // Same for a pod found in the cache by namespace/name, over `nodes` (empty: every node in the
  // load snapshot). NotFound when the pod is not in the cache.
  StatusOr<nlohmann::json> DebugScoresForPod(const std::string& ns, const std::string& name,
                                             const std::vector<std::string>& nodes) const;

  // The latest load snapshot this extender answers from.
  std::shared_ptr<const scoring::LoadSnapshot> Snapshot() const { return model_.Snapshot(); }

 private:
  scoring::LoadModel& model_;
  kube::KubeClient& client_;
  const scoring::PolicyConfig policy_;
  ExtenderMetrics& metrics_;
  scoring::Steering* steering_;
  CacheProvider cache_;
};

}  // namespace kb::server
