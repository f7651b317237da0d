// LoadModel: the one per-node load view shared by the extender (filter / prioritize) and the
// rescheduler. It combines the cluster cache (allocatable, requests of bound pods), the latest
// metrics (real utilisation), the bindings this process made (counted at once) and fresh pods
// (estimated usage of recently bound pods that metrics cannot show yet). Readers get an immutable
// LoadSnapshot; a background thread rebuilds it when the cache, the metrics or the bindings change
// (coalesced to at most one rebuild per ~50 ms) and on a periodic tick. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "scoring/metrics_refresher.h"
#include "scoring/node_load.h"

namespace kb::scoring {

struct ScoringMetrics;

struct LoadModelOptions : LoadBuildOptions {
  Millis min_rebuild_interval{50};  // coalescing: at most one rebuild per interval
  Millis tick{1000};                // periodic rebuild (fresh-pod windows expire, node changes)
  Millis assume_ttl{120000};        // an assumed binding the cache never confirms is dropped after
};

class LoadModel {
 public:
  using CacheProvider = std::function<std::shared_ptr<const ClusterSnapshot>()>;
  using MetricsProvider = std::function<std::shared_ptr<const MetricsSnapshot>()>;

  // `metrics_provider` may be empty (no Prometheus): every node uses requests. In production:
  //   LoadModel model([&] { return cache.Snapshot(); }, [&] { return refresher.Snapshot(); }, ...);
  //   cache.AddPodHandler([&](const PodEvent& e) { model.OnPodEvent(e); });
  //   refresher.AddListener([&] { model.Notify(); });
  // `metrics` may be null. References must outlive the model.
  LoadModel(CacheProvider cache_provider, MetricsProvider metrics_provider, Clock& clock,
            LoadModelOptions options, ScoringMetrics* metrics = nullptr);
  ~LoadModel();  // Stops and joins.
  LoadModel(const LoadModel&) = delete;
  LoadModel& operator=(const LoadModel&) = delete;

  // Builds once synchronously, then starts the rebuild thread. Call once.
  void Start();
  // Stops and joins the thread promptly. Idempotent.
  void Stop();

  // Hot path: the latest snapshot (a locked pointer copy; never null, possibly empty). No I/O.
  std::shared_ptr<const LoadSnapshot> Snapshot() const;

  // A binding of `pod` to `node` succeeded (or is about to be posted): count it at once (requests,
  // pod count, fresh-pod estimate) by publishing a copy-on-write snapshot that replaces only that
  // node's NodeLoad. O(nodes) pointer copies, no pod iteration. It stays counted until the cache
  // shows the pod bound (or deleted), or assume_ttl passes. Unknown node: remembered, no effect.
  // A tentative binding that turns out to be elsewhere moves (both nodes updated at once); one on
  // the same node becomes firm.
  void AssumeBinding(const Pod& pod, const std::string& node);
  size_t assumed_count() const;

  // `pod` will most likely be bound to `node`: the node it scored highest in /prioritize, or the
  // only node left after /filter. kube-scheduler binds pod N (and calls /bind) concurrently with
  // the scheduling cycle of pod N+1, so without this the next pods would be scored on the same
  // stale state and pile up. Counted like AssumeBinding, but only until scoring.tentativeWindow
  // passes, the pod's /bind names its node (AssumeBinding: confirmed there or moved), or the cache
  // shows the pod bound or deleted. Repeated for the same pod: the window restarts (same node) or
  // the pod moves (another node). No effect with a window of 0 or for an already firm binding.
  void AssumeTentative(const Pod& pod, const std::string& node);
  size_t tentative_count() const;

  // Register with ClusterCache::AddPodHandler. Records when pods become bound (fresh pods), drops
  // confirmed assumptions and schedules a rebuild. Quick; no I/O.
  void OnPodEvent(const PodEvent& event);

  // Something changed (metrics refreshed, ...): rebuild within min_rebuild_interval.
  void Notify();

  // Builds from the providers and publishes, synchronously (tests; the thread calls it too).
  void Rebuild();

  // `listener` runs after each AssumeBinding with the node's new load (e.g. the rescheduler waking
  // early when a binding pushes a node over a threshold). Quick; register before Start().
  void AddBindingListener(std::function<void(const NodeLoad&)> listener);

 private:
  struct State;
  void Loop();
  void Publish(std::shared_ptr<LoadSnapshot> snapshot, uint64_t assume_seq_used);
  void Assume(const Pod& pod, const std::string& node, bool tentative);

  CacheProvider cache_provider_;
  MetricsProvider metrics_provider_;
  Clock& clock_;
  LoadModelOptions options_;
  ScoringMetrics* metrics_;
  std::vector<std::function<void(const NodeLoad&)>> binding_listeners_;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace kb::scoring
