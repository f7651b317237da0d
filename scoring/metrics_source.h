// MetricsSource: where per-node CPU and memory utilisation and per-pod usage come from
// (PrometheusSource or MetricsServerSource in production, test/fakes/fake_metrics_source.h in
// tests). One Fetch() issues a fixed number of requests (Prometheus: one query per metric plus its
// scrape-time query and the two pod queries; metrics-server: one list per kind), whatever the
// request rate of the extender; it is called only from MetricsRefresher's background thread,
// never on the request path. Implementations must be safe to call from any one thread at a
// time; Fetch() blocks on I/O for at most the configured timeout per query.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"

namespace kb::scoring {

enum class MetricKind { kCpu, kMemory };

// CPU and memory utilisation of one node, each with the time it was sampled. A metric is absent
// when its query failed, returned nothing for the node, or its value was dropped.
struct UsageSamples {
  std::optional<double> cpu_percent;     // 0..100
  std::optional<WallTime> cpu_time;      // sample timestamp
  std::optional<double> memory_percent;  // 0..100
  std::optional<WallTime> memory_time;
};

// The samples of one series key (see RawNodeMetrics).
struct RawNodeSample : UsageSamples {
  // The `instance` label with any ":port" stripped ("" when absent). Lets the refresher fall back
  // to the instance when the key itself (a nodeLabel value) names no cluster node.
  std::string instance_host;
  // Absolute usage (metrics-server): the refresher turns it into a percentage of the node's
  // allocatable, when the matching percent is absent. Times are in cpu_time / memory_time.
  std::optional<int64_t> cpu_millis_used;
  std::optional<int64_t> memory_bytes_used;
};

// Real usage of one pod, summed over its containers, as last sampled. A field is absent when the
// source gave nothing valid for it.
struct PodUsage {
  std::optional<int64_t> cpu_millis;
  std::optional<int64_t> memory_bytes;
  WallTime time{};  // sample time (the older one when the two come from different samples)
  bool FreshAt(WallTime now, Millis max_age) const { return time >= now || now - time <= max_age; }
};
// By "<namespace>/<name>".
using PodUsageMap = std::unordered_map<std::string, PodUsage>;

// Outcome of one metric's query.
struct MetricQueryResult {
  Status status;           // non-OK: the query failed (its samples are absent from `nodes`)
  int64_t samples = 0;     // samples accepted
  int64_t dropped = 0;     // samples dropped: value or time non-finite / out of range, or no key
  std::string first_drop;  // why the first dropped sample was dropped ("" when none)
  int64_t duplicates = 0;  // samples whose key was already seen (the larger value is kept)
  std::vector<std::string> warnings;  // Prometheus `warnings` of the response, if any
};

// Everything one Fetch() returned.
struct RawNodeMetrics {
  // Keyed by the value of the configured node label (PrometheusConfig::node_label) when the
  // series has it, else by the `instance` label with ":port" stripped ("10.0.0.5:9100" ->
  // "10.0.0.5", "[fd00::1]:9100" -> "fd00::1"). Series with neither are dropped.
  std::map<std::string, RawNodeSample> nodes;
  MetricQueryResult cpu;
  MetricQueryResult memory;
  // Per-pod usage, when the source has it. `pods.status` non-OK: the pod request(s) failed and
  // `pods_usage` is empty (the refresher keeps the previous values until they are stale).
  PodUsageMap pod_usage;
  MetricQueryResult pods;
};

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;

  // Runs the CPU query and the memory query once each (sequentially) and merges the samples by key.
  // Returns OK with per-metric statuses in `cpu.status` / `memory.status` when at least one query
  // could be issued; a failed query leaves its metric absent from every sample. A non-OK result
  // means the source could not run at all (e.g. a malformed URL: kInvalidArgument); callers treat
  // it as both metrics failing. Per-query failures use: kUnavailable (transport error, 5xx,
  // Prometheus "status":"error", non-JSON body), kDeadlineExceeded (timeout), kInvalidArgument
  // (400/422, bad_data / execution errors, a non-vector result). Blocks up to the timeout per
  // query.
  virtual StatusOr<RawNodeMetrics> Fetch() = 0;

  // Human-readable name for logs, e.g. "prometheus http://prom:9090".
  virtual std::string Describe() const = 0;

  // Whether Fetch() fills per-pod usage (RawNodeMetrics::pods / pod_usage).
  virtual bool HasPodUsage() const { return false; }
};

}  // namespace kb::scoring
