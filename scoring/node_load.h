// The per-node load computation shared by the extender and the rescheduler, as pure values:
// NodeLoad (one node's utilisation and its breakdown), LoadSnapshot (every node, immutable), the
// what-if helpers the rescheduler plans with, and LoadBuilder, which turns a cluster snapshot plus
// metrics, assumed bindings and fresh-pod times into a LoadSnapshot. No threads, no I/O; the
// threaded LoadModel (load_model.h) keeps one up to date. Published values are immutable and may
// be read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "scoring/metrics_refresher.h"

namespace kb::scoring {

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
// As above, taking `usage` (the pod's real usage, or its estimate) out of a sampled utilisation.
NodeLoad WithPodRemoved(const NodeLoad& load, const Pod& pod, const Resources& usage);

// What a build reads besides its inputs.
struct LoadBuildOptions {
  ScoringConfig scoring;         // weights unused here; estimation window and fresh-pod usage
  bool metrics_enabled = false;  // a metrics source is configured
  Millis max_age{120000};        // PrometheusConfig::max_age
  std::string metrics_source = "none";  // the chosen source (metrics.source), for /debug/scores
  std::string metrics_source_reason;    // why it was chosen
};

class LoadSnapshot;

// A pod's usage for planning: its real usage when the source has a fresh sample of both CPU and
// memory for it, else EstimatePodUsage (its requests or limits).
struct PodUsageEstimate {
  Resources usage;
  bool from_metrics = false;
};
PodUsageEstimate PodUsageOrEstimate(const Pod& pod, const LoadSnapshot& load,
                                    const ScoringConfig& scoring);

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
  const std::string& metrics_source() const { return metrics_source_; }
  const std::string& metrics_source_reason() const { return metrics_source_reason_; }
  // The pod's sampled usage when fresh (no older than maxAge at built_at()), else nullptr.
  const PodUsage* FreshPodUsage(const Pod& pod) const;
  size_t pod_usage_count() const { return pod_usage_ ? pod_usage_->size() : 0; }
  // Bumped by every publication (rebuild or assumed binding).
  uint64_t sequence() const { return sequence_; }

 private:
  friend class LoadModel;
  friend class LoadBuilder;
  // Counts `pod` as a binding to the node at `index` (copy-on-write: only that NodeLoad is
  // replaced) and returns the node's new load.
  NodeLoadPtr AssumeAt(size_t index, const Pod& pod, const LoadBuildOptions& options);
  // The inverse of AssumeAt (a tentative placement moved to another node), floored at 0.
  NodeLoadPtr UnassumeAt(size_t index, const Pod& pod, const LoadBuildOptions& options);
  std::vector<NodeLoadPtr> nodes_;
  std::shared_ptr<const std::unordered_map<std::string, size_t>> index_;  // name -> nodes_ index
  uint64_t cache_version_ = 0;
  uint64_t metrics_generation_ = 0;
  WallTime built_at_{};
  bool metrics_enabled_ = false;
  bool has_cache_ = false;
  int degraded_nodes_ = 0;
  uint64_t sequence_ = 0;
  std::string metrics_source_ = "none";
  std::string metrics_source_reason_;
  std::shared_ptr<const PodUsageMap> pod_usage_;  // nullable
  Millis max_age_{120000};
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

// Key of a pod in the load model's books: its UID, or namespace/name for a pod without one.
std::string PodIdentity(const Pod& pod);

// Builds LoadSnapshots, reusing per-node pod sums while a node's pod bucket (copied on write by
// the cache) is the same object: a rebuild costs O(nodes + pods of changed nodes + fresh
// candidates), not O(pods). Not thread-safe: one builder per model, used under its build lock.
class LoadBuilder {
 public:
  explicit LoadBuilder(const LoadBuildOptions& options) : options_(options) {}

  // `dirty_nodes`: nodes whose cached sums must be recomputed although their bucket is unchanged
  // (a pod's seen-bound time was recorded). Fills `confirmed` (nullable) with the PodIdentity of
  // assumed pods the cache now shows on their node.
  std::shared_ptr<LoadSnapshot> Build(const LoadInputs& in,
                                      const std::set<std::string>& dirty_nodes,
                                      std::vector<std::string>* confirmed);

 private:
  struct Candidate {
    WallTime bound;
    Resources estimate;
  };
  struct Agg {
    std::shared_ptr<const PodList> bucket;
    Resources requested;
    int pod_count = 0;
    std::vector<Candidate> candidates;  // pods with a known bound time >= horizon
  };
  Agg Compute(const std::shared_ptr<const PodList>& bucket,
              const std::unordered_map<std::string, WallTime>& seen_bound, WallTime horizon) const;
  std::shared_ptr<NodeLoad> NodeFrom(const std::string& name, const NodePtr& node, const Agg& agg,
                                     const LoadInputs& in) const;

  const LoadBuildOptions options_;
  std::unordered_map<std::string, Agg> aggs_;
  std::shared_ptr<const std::map<std::string, NodePtr>> index_nodes_;
  std::shared_ptr<const std::unordered_map<std::string, size_t>> index_;
};

// A pure build from explicit inputs (no reuse between calls): tools, tests and benchmarks.
std::shared_ptr<const LoadSnapshot> BuildLoadSnapshot(const LoadInputs& inputs,
                                                      const LoadBuildOptions& options);

}  // namespace kb::scoring
