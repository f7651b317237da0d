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

namespace kb::scoring {

struct ScoringMetrics;

// Load of one node. All utilisations are percentages of allocatable (may exceed 100 when the node
// is overcommitted; scoring clamps its terms). Immutable once published.
struct NodeLoad {
  NodePtr node;  // never null
  std::string name;
  Resources allocatable;
  // Sum of EffectiveRequest() over non-finished pods on the node, assumed bindings included.
  Resources requested;
  int pod_count = 0;  // those pods
  // True when both CPU and memory samples exist and are no older than maxAge.
  bool metrics_fresh = false;
  // Utilisation used by filter and score, in percent:
  //   resource with a fresh sample: sampled % + fresh-pod estimate %;
  //   otherwise (missing / stale / metrics disabled): requested / allocatable %.
  double cpu_util = 0;
  double mem_util = 0;
  // Metrics are configured but at least one resource fell back to requests for this node.
  bool degraded = false;

  // Breakdown, for /debug/scores and the rescheduler.
  bool cpu_from_metrics = false;
  bool mem_from_metrics = false;
  double sampled_cpu = 0;  // last sample, percent (0 when none)
  double sampled_mem = 0;
  double fresh_cpu = 0;  // fresh-pod estimate, percent of allocatable
  double fresh_mem = 0;
  double requested_cpu_pct = 0;  // requested / allocatable, percent
  double requested_mem_pct = 0;
  int fresh_pods = 0;                   // pods counted in the estimate (assumed ones included)
  int assumed_pods = 0;                 // bindings made by this process not yet seen in the cache
  std::optional<WallTime> sample_time;  // older of the two sample times, if any
  Resources fresh_usage;                // summed estimate behind fresh_cpu / fresh_mem
};

// Percent of `part` in `whole`; 0 when both are 0, 100 when `whole` <= 0 < `part`.
double PercentOf(int64_t part, int64_t whole);

// Estimated usage of a just-bound pod: its EffectiveRequest() ("requests") or EffectiveLimit()
// ("limits"), times freshPodFraction. pods = 1.
Resources EstimatePodUsage(const Pod& pod, const ScoringConfig& scoring);

// What-if helpers for planning (the rescheduler's moves within one cycle). WithPodAdded counts
// `pod` as a just-bound pod exactly as AssumeBinding does (request, pod count, fresh estimate).
// WithPodRemoved takes out its request and pod count and, for a sampled utilisation, its usage
// estimate (EstimatePodUsage: the pod's real share of the sample is unknown), floored at 0.
NodeLoad WithPodAdded(const NodeLoad& load, const Pod& pod, const ScoringConfig& scoring);
NodeLoad WithPodRemoved(const NodeLoad& load, const Pod& pod, const ScoringConfig& scoring);

// Immutable per-node load view. Cheap to share; lookups never allocate.
class LoadSnapshot {
 public:
  using NodeLoadPtr = std::shared_ptr<const NodeLoad>;

  // O(1); nullptr when the node is not in the cluster cache.
  const NodeLoad* Find(const std::string& node) const;
  NodeLoadPtr FindShared(const std::string& node) const;
  // Every node, sorted by name.
  const std::vector<NodeLoadPtr>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }

  uint64_t cache_version() const { return cache_version_; }  // ClusterSnapshot::version used
  uint64_t metrics_generation() const { return metrics_generation_; }
  WallTime built_at() const { return built_at_; }
  bool metrics_enabled() const { return metrics_enabled_; }
  bool has_cache() const { return has_cache_; }  // false before the cache delivered a snapshot
  int degraded_nodes() const { return degraded_nodes_; }
  // Bumped by every publication (rebuild or assumed binding).
  uint64_t sequence() const { return sequence_; }

 private:
  friend class LoadModel;
  friend class LoadBuilder;
  std::vector<NodeLoadPtr> nodes_;
  std::shared_ptr<const std::unordered_map<std::string, size_t>> index_;  // name -> nodes_ index
  uint64_t cache_version_ = 0;
  uint64_t metrics_generation_ = 0;
  WallTime built_at_{};
  bool metrics_enabled_ = false;
  bool has_cache_ = false;
  int degraded_nodes_ = 0;
  uint64_t sequence_ = 0;
};

struct LoadModelOptions {
  ScoringConfig scoring;            // weights unused here; estimation window and fresh-pod usage
  bool metrics_enabled = false;     // Prometheus configured (prometheus.url non-empty)
  Millis max_age{120000};           // PrometheusConfig::max_age
  Millis min_rebuild_interval{50};  // coalescing: at most one rebuild per interval
  Millis tick{1000};                // periodic rebuild (fresh-pod windows expire, node changes)
  Millis assume_ttl{120000};        // an assumed binding the cache never confirms is dropped after
};

// A binding made by this process, counted until the cache shows the pod bound.
struct AssumedPod {
  PodPtr pod;  // spec.nodeName may be empty
  std::string node;
  WallTime assumed_at{};
};

// Everything one build reads. The build itself is pure.
struct LoadInputs {
  std::shared_ptr<const ClusterSnapshot> cache;    // nullable: no nodes
  std::shared_ptr<const MetricsSnapshot> metrics;  // nullable: no samples
  std::vector<AssumedPod> assumed;
  // Pod UID -> wall time this process saw the pod become bound.
  std::unordered_map<std::string, WallTime> seen_bound;
  WallTime now{};
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
  void AssumeBinding(const Pod& pod, const std::string& node);
  // Same, resolving the pod among the cache's unbound pods by namespace/name (and UID when
  // non-empty), as /bind only gets a reference. Returns false (nothing counted) when not found.
  bool AssumeBinding(const std::string& pod_namespace, const std::string& pod_name,
                     const std::string& pod_uid, const std::string& node);
  // Forget an assumption (the binding failed). Visible at the next rebuild (scheduled at once).
  void ForgetBinding(const std::string& pod_uid);
  size_t assumed_count() const;

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

  // Pure build from explicit inputs (no per-node reuse). Tests and benchmarks.
  static std::shared_ptr<const LoadSnapshot> Build(const LoadInputs& inputs,
                                                   const LoadModelOptions& options);

 private:
  struct State;
  void Loop();
  void Publish(std::shared_ptr<LoadSnapshot> snapshot, uint64_t assume_seq_used);

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
