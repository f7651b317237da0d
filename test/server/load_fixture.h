// LoadFixture: a real scoring::LoadModel over a hand-built cluster view and hand-set utilisation,
// for the server tests and the extender benchmark. No threads are started: every change calls
// LoadModel::Rebuild() synchronously. Not thread-safe for writers; readers (the extender) may run
// on any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/model.h"
#include "kube/cluster_cache.h"
#include "scoring/load_model.h"
#include "scoring/metrics_refresher.h"

namespace kb::server::testing {

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
    {
      std::lock_guard<std::mutex> lock(mu_);
      cache_ = BuildSnapshot(nodes, pods, {});
    }
    model_.Rebuild();
  }

  // Sets sampled utilisation in percent per node (cpu, memory), sampled "now"; nodes not listed
  // have no sample. Rebuilds.
  void SetUsage(const std::map<std::string, std::pair<double, double>>& usage) {
    auto snapshot = std::make_shared<scoring::MetricsSnapshot>();
    snapshot->generation = ++generation_;
    snapshot->refreshed_at = clock_.WallNow();
    for (const auto& [node, u] : usage) {
      scoring::NodeMetrics m;
      m.cpu_percent = u.first;
      m.cpu_time = clock_.WallNow();
      m.memory_percent = u.second;
      m.memory_time = clock_.WallNow();
      m.matched_by = "name";
      snapshot->nodes[node] = m;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      metrics_ = std::move(snapshot);
    }
    model_.Rebuild();
  }

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
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterSnapshot> cache_;             // Guarded by mu_.
  std::shared_ptr<const scoring::MetricsSnapshot> metrics_;  // Guarded by mu_.
  uint64_t generation_ = 0;
  scoring::LoadModel model_;  // last: its providers read the members above
};

}  // namespace kb::server::testing
