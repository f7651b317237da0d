// Helpers shared by the scoring tests: a hand-built ClusterSnapshot (no ClusterCache needed)
// and NodeLoad construction. Header-only, test code only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "kube/cluster_cache.h"
#include "scoring/load_model.h"

namespace kb::testing {

// Mutable description of a cluster, turned into an immutable ClusterSnapshot by Snapshot().
class TestCluster {
 public:
  TestCluster& AddNode(const Node& node) {
    nodes_[node.meta.name] = std::make_shared<const Node>(node);
    return *this;
  }
  TestCluster& RemoveNode(const std::string& name) {
    nodes_.erase(name);
    return *this;
  }
  // Adds or replaces (by namespace/name) a pod in its spec.nodeName bucket ("" = pending).
  TestCluster& AddPod(const Pod& pod) {
    RemovePod(pod.meta.namespace_, pod.meta.name);
    pods_[pod.node_name].push_back(std::make_shared<const Pod>(pod));
    dirty_.insert(pod.node_name);
    return *this;
  }
  TestCluster& RemovePod(const std::string& ns, const std::string& name) {
    for (auto& [node, list] : pods_) {
      for (auto it = list.begin(); it != list.end(); ++it) {
        if ((*it)->meta.namespace_ == ns && (*it)->meta.name == name) {
          list.erase(it);
          dirty_.insert(node);
          return *this;
        }
      }
    }
    return *this;
  }

  // Buckets of unchanged nodes keep their identity between snapshots (as the real cache's
  // copy-on-write buckets do), so the load model's per-node reuse is exercised.
  std::shared_ptr<const ClusterSnapshot> Snapshot() {
    auto snap = std::make_shared<ClusterSnapshot>();
    snap->version = ++version_;
    snap->nodes = std::make_shared<const std::map<std::string, NodePtr>>(nodes_);
    auto buckets = std::make_shared<std::map<std::string, std::shared_ptr<const PodList>>>();
    for (const auto& [node, list] : pods_) {
      auto& cached = buckets_[node];
      if (!cached || dirty_.count(node) != 0) {
        cached = std::make_shared<const PodList>(list.begin(), list.end());
      }
      (*buckets)[node] = cached;
    }
    for (const auto& [name, node] : nodes_) {
      if (buckets->count(name) == 0) (*buckets)[name] = std::make_shared<const PodList>();
    }
    if (buckets->count("") == 0) (*buckets)[""] = std::make_shared<const PodList>();
    dirty_.clear();
    snap->pods_by_node = buckets;
    snap->pdbs = std::make_shared<const std::map<std::string, PdbPtr>>();
    return snap;
  }

 private:
  uint64_t version_ = 0;
  std::map<std::string, NodePtr> nodes_;
  std::map<std::string, std::vector<PodPtr>> pods_;
  std::map<std::string, std::shared_ptr<const PodList>> buckets_;
  std::set<std::string> dirty_;
};

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

}  // namespace kb::testing
