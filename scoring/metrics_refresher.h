// MetricsRefresher: a background thread that calls MetricsSource::Fetch() every refreshInterval,
// maps the samples to cluster nodes and publishes an immutable MetricsSnapshot. It is the only
// caller of the source, so Prometheus sees one query per metric per interval whatever the request
// rate. Fetch failures keep the previous samples (they go stale by maxAge). Thread-safe: Snapshot()
// and listeners may be used from any thread; Start/Stop from the owner thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "scoring/metrics_source.h"

namespace kb::scoring {

struct ScoringMetrics;

// Utilisation of one cluster node as last sampled. A metric is absent when no sample was ever
// mapped to the node (or the last one was dropped).
struct NodeMetrics : UsageSamples {
  std::string matched_by;  // "name" | "instance-ip" | "instance-name": how the key was mapped

  // True when both metrics are present and no older than `max_age` at `now` (a sample time in the
  // future counts as age 0).
  bool FreshAt(WallTime now, Millis max_age) const;
  bool CpuFreshAt(WallTime now, Millis max_age) const;
  bool MemoryFreshAt(WallTime now, Millis max_age) const;
  // The older of the two sample times (nullopt if either is absent).
  std::optional<WallTime> OldestSample() const;
};

// Immutable result of one refresh. Shared by pointer; never modified after publication.
struct MetricsSnapshot {
  uint64_t generation = 0;    // increases with each published snapshot
  WallTime refreshed_at{};    // wall time of the refresh that built it
  Millis max_age{120000};     // PrometheusConfig::max_age, for FreshAt()
  bool last_fetch_ok = true;  // false when the last Fetch() failed for any metric
  // By cluster node name.
  std::unordered_map<std::string, NodeMetrics> nodes;
  // Cluster nodes (sorted) with no CPU or no memory sample at this refresh.
  std::vector<std::string> nodes_without_sample;
  // Sample keys that matched no cluster node (sorted, for the startup self-check log).
  std::vector<std::string> unmatched_keys;
  // Per-pod usage by "<namespace>/<name>"; never null (empty when the source has none). Shared
  // with the previous snapshot when the pod request failed (the values age out by max_age).
  std::shared_ptr<const PodUsageMap> pods = std::make_shared<const PodUsageMap>();
  // Absolute node usage (metrics-server) that could not be turned into a percentage: the node has
  // no allocatable, or the usage is absurd (over kMaxUsageOfAllocatable). Counted, not used.
  int64_t dropped_absolute = 0;

  const NodeMetrics* Find(const std::string& node) const;
};

// Absolute node usage above this multiple of allocatable is a broken answer, not load.
inline constexpr double kMaxUsageOfAllocatable = 4.0;

// Maps raw samples to cluster nodes: for each key, a node whose name equals the key; else a node
// whose InternalIP equals the key; else one whose InternalIP or name equals the sample's instance
// host. Metrics absent from `raw` (failed query) are taken from `previous` (nullable) for the
// nodes that had them, so they go stale by age instead of vanishing. Pure; exposed for tests.
MetricsSnapshot MapSamplesToNodes(const RawNodeMetrics& raw,
                                  const std::map<std::string, NodePtr>& cluster_nodes,
                                  const MetricsSnapshot* previous, WallTime now, Millis max_age);

class MetricsRefresher {
 public:
  // Returns the current cluster view (for node names and addresses); may return nullptr before
  // the cache has synced. In production: [&cache] { return cache.Snapshot(); }.
  using CacheProvider = std::function<std::shared_ptr<const ClusterSnapshot>()>;

  // `metrics` may be null (tests). References must outlive the refresher.
  MetricsRefresher(MetricsSource& source, CacheProvider cache, Clock& clock,
                   PrometheusConfig config, ScoringMetrics* metrics = nullptr);
  ~MetricsRefresher();  // Stops and joins.
  MetricsRefresher(const MetricsRefresher&) = delete;
  MetricsRefresher& operator=(const MetricsRefresher&) = delete;

  // Starts the thread: refreshes at once, then every refreshInterval. Call once.
  void Start();
  // Wakes and joins the thread promptly (does not wait for the interval). Idempotent. A Fetch() in
  // progress finishes first (bounded by the query timeout).
  void Stop();

  // One refresh, synchronously on the caller's thread (tests; the thread loop calls it too).
  // Returns the Fetch() status (OK if both metrics were fetched).
  Status RefreshOnce();

  // The latest snapshot; never null (empty before the first refresh). Cheap: a locked pointer copy.
  std::shared_ptr<const MetricsSnapshot> Snapshot() const;

  // `listener` runs on the refresher thread after each publication; keep it quick (e.g.
  // LoadModel::Notify). Register before Start().
  void AddListener(std::function<void()> listener);

  uint64_t refresh_count() const;
  uint64_t error_count() const;  // failed metric queries so far

 private:
  // Logs and counts one query's outcome; false when it failed.
  bool ReportQuery(MetricKind kind, const MetricQueryResult& result);
  // Logs and counts the per-pod request's outcome and unusable absolute node usage.
  void ReportPods(const MetricQueryResult& result, int64_t dropped_absolute);
  // Refresh duration, nodes without a sample and per-node sample ages.
  void ObserveRefresh(const MetricsSnapshot& next, double seconds, WallTime now);
  // Which nodes the queries do not cover, and which sample keys matched no node: logged at the
  // first refresh with a cluster view and on every change.
  void SelfCheck(const MetricsSnapshot& next, const std::map<std::string, NodePtr>& cluster_nodes,
                 size_t sample_count);
  void Loop();

  MetricsSource& source_;
  CacheProvider cache_;
  Clock& clock_;
  PrometheusConfig config_;
  ScoringMetrics* metrics_;
  std::vector<std::function<void()>> listeners_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                // Guarded by mu_.
  std::shared_ptr<const MetricsSnapshot> snapshot_;  // Guarded by mu_.
  uint64_t refresh_count_ = 0;                       // Guarded by mu_.
  uint64_t error_count_ = 0;                         // Guarded by mu_.
  bool logged_missing_ = false;                      // Guarded by refresh_mu_.
  std::vector<std::string> last_missing_;            // Guarded by refresh_mu_.
  // Per metric (0 cpu, 1 memory): consecutive failed refreshes, for log rate limiting.
  int consecutive_failures_[2] = {0, 0};  // Guarded by refresh_mu_.
  int refreshes_with_drops_[2] = {0, 0};  // Guarded by refresh_mu_. Same, for dropped samples.
  int pod_failures_ = 0;                  // Guarded by refresh_mu_.
  int pod_drops_ = 0;                     // Guarded by refresh_mu_.
  int node_usage_drops_ = 0;              // Guarded by refresh_mu_.
  std::mutex refresh_mu_;                 // serialises RefreshOnce() (thread vs tests)
  std::thread thread_;
};

}  // namespace kb::scoring
