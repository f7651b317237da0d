// ScoringMetrics: every prometheus-cpp family the scoring module exports, built once from the
// process registry and passed by reference (Envoy's stats-block idea). No pod labels; the `node`
// label is bounded by the cluster's node count and removed when a node leaves. prometheus-cpp
// metrics are thread-safe; SetNodeAges() serialises itself.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>

namespace kb::scoring {

struct ScoringMetrics {
  explicit ScoringMetrics(prometheus::Registry& registry);
  ScoringMetrics(const ScoringMetrics&) = delete;
  ScoringMetrics& operator=(const ScoringMetrics&) = delete;

  // kube_balancer_scoring_source_errors_total{metric="cpu"|"memory"}: failed queries.
  prometheus::Family<prometheus::Counter>& source_errors;
  prometheus::Counter& cpu_errors;
  prometheus::Counter& memory_errors;
  prometheus::Counter& pod_errors;  // metric="pods": the per-pod request(s)
  // kube_balancer_scoring_dropped_samples_total{metric}: NaN/Inf/negative/out-of-range values or
  // times, keyless or duplicated items, absurd absolute usage ("node_usage"), per-pod samples.
  prometheus::Family<prometheus::Counter>& dropped_samples;
  prometheus::Counter& cpu_dropped;
  prometheus::Counter& memory_dropped;
  prometheus::Counter& pod_dropped;
  prometheus::Counter& node_usage_dropped;
  // kube_balancer_scoring_metric_age_seconds{node}: age of the node's oldest metric sample at the
  // last refresh (absent for nodes without a sample).
  prometheus::Family<prometheus::Gauge>& metric_age;
  // kube_balancer_scoring_nodes_without_sample: cluster nodes with no CPU or no memory sample.
  prometheus::Gauge& nodes_without_sample;
  // kube_balancer_scoring_degraded_nodes: nodes whose utilisation falls back to requests
  // (metrics configured but missing or stale), as of the last load-model build.
  prometheus::Gauge& degraded_nodes;
  // kube_balancer_scoring_refresh_duration_seconds: one whole MetricsSource::Fetch().
  prometheus::Histogram& refresh_duration;
  // kube_balancer_scoring_load_rebuild_duration_seconds: one LoadModel rebuild.
  prometheus::Histogram& rebuild_duration;

  // kube_balancer_metrics_source{source="prometheus"|"metricsServer"|"none"}: 1 for the source
  // chosen at start (metrics.source), 0 for the others.
  prometheus::Family<prometheus::Gauge>& metrics_source;
  void SetMetricsSource(const std::string& chosen);
  // kube_balancer_scoring_tentative_placements_total{outcome}: pods counted on their best-scored
  // node before /bind ("recorded"), then "confirmed" by /bind there, "moved" by /bind elsewhere,
  // or "expired" (scoring.tentativeWindow passed without a /bind).
  prometheus::Family<prometheus::Counter>& tentative_placements;
  prometheus::Counter& Tentative(const char* outcome) {
    return tentative_placements.Add({{"outcome", outcome}});
  }

  // Sets metric_age for exactly these nodes (removing series of nodes no longer listed).
  void SetNodeAges(const std::map<std::string, double>& age_seconds_by_node);

 private:
  std::mutex mu_;
  std::map<std::string, prometheus::Gauge*> age_gauges_;  // Guarded by mu_.
};

}  // namespace kb::scoring
