// CacheHealth: what /readyz answers and the cluster cache's per-kind gauges. Ready means every
// watched kind has been listed and none has been out of sync (watch down, list failing) for
// longer than kubeClient.maxCacheStaleness; the gauges say which kind is not.
// Thread-safe: the /readyz handler and the main loop call Update() concurrently.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <mutex>

#include "kube/cluster_cache.h"
#include "kube/kube_client.h"

namespace kb::server {

class CacheHealth {
 public:
  CacheHealth(const kube::ClusterCache& cache, std::chrono::milliseconds max_unsynced,
              prometheus::Registry& registry);

  // Refreshes the gauges from the cache and returns whether the process is ready. A change of
  // readiness is logged (with the kinds out of sync).
  bool Update();

 private:
  const kube::ClusterCache& cache_;
  const std::chrono::milliseconds max_unsynced_;
  prometheus::Family<prometheus::Gauge>& synced_;
  prometheus::Family<prometheus::Gauge>& unsynced_seconds_;
  prometheus::Family<prometheus::Counter>& relists_;
  std::mutex mu_;
  bool last_ready_ = false;  // Guarded by mu_.
  // Relists already added to the counter, per kind and reason. Guarded by mu_.
  std::array<std::array<uint64_t, kube::kRelistReasonCount>, kube::kResourceKindCount> counted_{};
};

}  // namespace kb::server
