// Hand-built clusters for the tests of the layers above the watch cache (scoring, server, the
// extender benchmark), on core's ClusterSnapshot:
//   ClusterFixture  nodes, pods and PDBs published as ClusterSnapshots built by BuildSnapshot;
//   LoadFixture     a real scoring::LoadModel over a ClusterFixture and hand-set utilisation;
//   MakeLoad        one NodeLoad as the load model would publish it.
// Header-only, test code only; needs kb::scoring (kb_testing links it). Thread-safety is
// documented per class.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "scoring/load_model.h"
#include "scoring/metrics_refresher.h"

namespace kb::testing {

// A mutable description of a cluster, published as immutable snapshots by Snapshot(). Pods are
// bucketed and indexed by owner by core's BuildSnapshot; the buckets of nodes whose pods did not
// change keep their identity between snapshots (as the watch cache's copy-on-write buckets do),
// so the load model's per-node reuse is exercised. Every node, and the pending bucket "", has a
// bucket. Thread-safe: writers and Snapshot() may run on different threads.
class ClusterFixture {
 public:
  ClusterFixture() = default;
  ClusterFixture(ClusterFixture&& other) {
    std::lock_guard<std::mutex> lock(other.mu_);
    version_ = other.version_;
    nodes_ = std::move(other.nodes_);
    pods_ = std::move(other.pods_);
    pdbs_ = std::move(other.pdbs_);
    buckets_ = std::move(other.buckets_);
    dirty_ = std::move(other.dirty_);
  }

  ClusterFixture& AddNode(const Node& node) {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_[node.meta.name] = node;
    return *this;
  }
  ClusterFixture& RemoveNode(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_.erase(name);
    return *this;
  }
  // Adds or replaces (by namespace/name) a pod in its spec.nodeName bucket ("" = pending).
  ClusterFixture& AddPod(const Pod& pod) {
    std::lock_guard<std::mutex> lock(mu_);
    RemovePodLocked(pod.meta.namespace_, pod.meta.name);
    pods_[{pod.meta.namespace_, pod.meta.name}] = pod;
    dirty_.insert(pod.node_name);
    return *this;
  }
  ClusterFixture& RemovePod(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    RemovePodLocked(ns, name);
    return *this;
  }
  ClusterFixture& AddPdb(const PodDisruptionBudget& pdb) {
    std::lock_guard<std::mutex> lock(mu_);
    pdbs_[NamespacedName(pdb.meta)] = pdb;
    return *this;
  }
  // Replaces the whole cluster.
  void Set(const std::vector<Node>& nodes, const std::vector<Pod>& pods = {}) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, pod] : pods_) dirty_.insert(pod.node_name);
      nodes_.clear();
      pods_.clear();
    }
    for (const Node& n : nodes) AddNode(n);
    for (const Pod& p : pods) AddPod(p);
  }

  // A new snapshot of the cluster as it is now; versions increase from 1.
  std::shared_ptr<const ClusterSnapshot> Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Node> nodes;
    for (const auto& [name, node] : nodes_) nodes.push_back(node);
    std::vector<Pod> pods;
    for (const auto& [key, pod] : pods_) pods.push_back(pod);
    std::vector<PodDisruptionBudget> pdbs;
    for (const auto& [key, pdb] : pdbs_) pdbs.push_back(pdb);
    auto snap = std::make_shared<ClusterSnapshot>(*BuildSnapshot(nodes, pods, pdbs));
    snap->version = ++version_;
    std::set<std::string> names = {""};
    for (const auto& [name, node] : nodes_) names.insert(name);
    for (const auto& [name, bucket] : *snap->pods_by_node) names.insert(name);
    auto buckets = std::make_shared<std::map<std::string, std::shared_ptr<const PodList>>>();
    for (const std::string& name : names) {
      std::shared_ptr<const PodList>& cached = buckets_[name];
      if (!cached || dirty_.count(name) != 0) {
        auto built = snap->pods_by_node->find(name);
        cached =
            built != snap->pods_by_node->end() ? built->second : std::make_shared<const PodList>();
      }
      (*buckets)[name] = cached;
    }
    dirty_.clear();
    snap->pods_by_node = buckets;
    return snap;
  }

 private:
  void RemovePodLocked(const std::string& ns, const std::string& name) {
    auto it = pods_.find({ns, name});
    if (it == pods_.end()) return;
    dirty_.insert(it->second.node_name);
    pods_.erase(it);
  }

  std::mutex mu_;
  // State below is guarded by mu_.
  uint64_t version_ = 0;
  std::map<std::string, Node> nodes_;
  std::map<std::pair<std::string, std::string>, Pod> pods_;  // (namespace, name) -> pod
  std::map<std::string, PodDisruptionBudget> pdbs_;
  std::map<std::string, std::shared_ptr<const PodList>> buckets_;  // node -> last bucket
  std::set<std::string> dirty_;  // nodes whose pods changed since the last snapshot
};

// Per-node utilisation samples (percent: cpu, memory), as the metrics refresher publishes them;
// every sample taken at `sampled_at`, except the nodes in `stale`, sampled `stale_age` earlier.
inline std::shared_ptr<scoring::MetricsSnapshot> UsageSnapshot(
    const std::map<std::string, std::pair<double, double>>& usage, WallTime sampled_at,
    uint64_t generation = 1, const std::set<std::string>& stale = {},
    Millis stale_age = std::chrono::minutes(10)) {
  auto snapshot = std::make_shared<scoring::MetricsSnapshot>();
  snapshot->generation = generation;
  snapshot->refreshed_at = sampled_at;
  for (const auto& [node, u] : usage) {
    const WallTime t = stale.count(node) != 0 ? sampled_at - stale_age : sampled_at;
    scoring::NodeMetrics m;
    m.cpu_percent = u.first;
    m.cpu_time = t;
    m.memory_percent = u.second;
    m.memory_time = t;
    m.matched_by = "name";
    snapshot->nodes[node] = m;
  }
  return snapshot;
}

// A NodeLoad over `node` with the given utilisations (percent) and requests, as the load model
// would publish it. `from_metrics` marks both utilisations as sampled; false models a node whose
// configured metrics are missing or stale (degraded: requests fallback).
inline scoring::NodeLoad MakeLoad(const Node& node, double cpu_util, double mem_util,
                                  Resources requested = {}, bool from_metrics = true) {
  scoring::NodeLoad l;
  l.node = std::make_shared<const Node>(node);
  l.name = node.meta.name;
  l.allocatable = node.allocatable;
  l.requested = requested;
  l.pod_count = static_cast<int>(requested.pods);
  l.cpu_util = cpu_util;
  l.mem_util = mem_util;
  l.cpu_from_metrics = from_metrics;
  l.mem_from_metrics = from_metrics;
  l.metrics_fresh = from_metrics;
  l.degraded = !from_metrics;
  l.sampled_cpu = cpu_util;
  l.sampled_mem = mem_util;
  return l;
}

// A real scoring::LoadModel over a ClusterFixture and hand-set utilisation (a FakeClock). No
// threads are started: every change calls LoadModel::Rebuild() synchronously. Not thread-safe
// for writers; readers (the extender) may run on any thread.
class LoadFixture {
 public:
  // `metrics_enabled`: Prometheus configured (nodes without a sample are then degraded).
  explicit LoadFixture(bool metrics_enabled = true, ScoringConfig scoring = {})
      : model_([this] { return Cache(); }, [this] { return Metrics(); }, clock_,
               Options(metrics_enabled, scoring)) {
    model_.Rebuild();
  }

  // Replaces the cluster (nodes and pods) and rebuilds.
  void SetCluster(const std::vector<Node>& nodes, const std::vector<Pod>& pods = {}) {
    cluster_.Set(nodes, pods);
    auto snapshot = cluster_.Snapshot();
    {
      std::lock_guard<std::mutex> lock(mu_);
      cache_ = std::move(snapshot);
    }
    model_.Rebuild();
  }

  // Sets sampled utilisation in percent per node (cpu, memory), sampled "now"; nodes not listed
  // have no sample. Rebuilds.
  void SetUsage(const std::map<std::string, std::pair<double, double>>& usage) {
    auto snapshot = UsageSnapshot(usage, clock_.WallNow(), ++generation_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      metrics_ = std::move(snapshot);
    }
    model_.Rebuild();
  }

  // The snapshot of the last SetCluster (null before).
  std::shared_ptr<const ClusterSnapshot> Cache() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cache_;
  }
  std::shared_ptr<const scoring::MetricsSnapshot> Metrics() const {
    std::lock_guard<std::mutex> lock(mu_);
    return metrics_;
  }

  scoring::LoadModel& model() { return model_; }
  FakeClock& clock() { return clock_; }

 private:
  static scoring::LoadModelOptions Options(bool metrics_enabled, const ScoringConfig& scoring) {
    scoring::LoadModelOptions o;
    o.metrics_enabled = metrics_enabled;
    o.scoring = scoring;
    return o;
  }

  FakeClock clock_;
  ClusterFixture cluster_;
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterSnapshot> cache_;             // Guarded by mu_.
  std::shared_ptr<const scoring::MetricsSnapshot> metrics_;  // Guarded by mu_.
  uint64_t generation_ = 0;
  scoring::LoadModel model_;  // last: its providers read the members above
};

}  // namespace kb::testing
