#include "scoring/metrics.h"

namespace kb::scoring {

namespace {

prometheus::Histogram::BucketBoundaries RefreshBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Histogram::BucketBoundaries RebuildBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};
}

}  // namespace

ScoringMetrics::ScoringMetrics(prometheus::Registry& registry)
    : source_errors(prometheus::BuildCounter()
                        .Name("kube_balancer_scoring_source_errors_total")
                        .Help("Failed metrics-source queries, by metric.")
                        .Register(registry)),
      cpu_errors(source_errors.Add({{"metric", "cpu"}})),
      memory_errors(source_errors.Add({{"metric", "memory"}})),
      pod_errors(source_errors.Add({{"metric", "pods"}})),
      dropped_samples(prometheus::BuildCounter()
                          .Name("kube_balancer_scoring_dropped_samples_total")
                          .Help("Metric samples dropped: non-finite, negative, out of range (value "
                                "or time), duplicated or without a node/pod key, by metric.")
                          .Register(registry)),
      cpu_dropped(dropped_samples.Add({{"metric", "cpu"}})),
      memory_dropped(dropped_samples.Add({{"metric", "memory"}})),
      pod_dropped(dropped_samples.Add({{"metric", "pods"}})),
      node_usage_dropped(dropped_samples.Add({{"metric", "node_usage"}})),
      metric_age(prometheus::BuildGauge()
                     .Name("kube_balancer_scoring_metric_age_seconds")
                     .Help("Age of the node's oldest utilisation sample at the last refresh.")
                     .Register(registry)),
      nodes_without_sample(prometheus::BuildGauge()
                               .Name("kube_balancer_scoring_nodes_without_sample")
                               .Help("Cluster nodes without a CPU or memory sample at the last "
                                     "refresh.")
                               .Register(registry)
                               .Add({})),
      degraded_nodes(prometheus::BuildGauge()
                         .Name("kube_balancer_scoring_degraded_nodes")
                         .Help("Nodes whose utilisation falls back to requests because metrics "
                               "are missing or stale.")
                         .Register(registry)
                         .Add({})),
      refresh_duration(prometheus::BuildHistogram()
                           .Name("kube_balancer_scoring_refresh_duration_seconds")
                           .Help("Duration of one metrics refresh (all queries).")
                           .Register(registry)
                           .Add({}, RefreshBuckets())),
      rebuild_duration(prometheus::BuildHistogram()
                           .Name("kube_balancer_scoring_load_rebuild_duration_seconds")
                           .Help("Duration of one load-model rebuild.")
                           .Register(registry)
                           .Add({}, RebuildBuckets())),
      metrics_source(prometheus::BuildGauge()
                         .Name("kube_balancer_metrics_source")
                         .Help("The load source chosen at start (metrics.source): 1 for the one "
                               "in use.")
                         .Register(registry)),
      tentative_placements(prometheus::BuildCounter()
                               .Name("kube_balancer_scoring_tentative_placements_total")
                               .Help("Pods counted on their best-scored node before /bind, by "
                                     "outcome: recorded, confirmed, moved, expired.")
                               .Register(registry)) {}

void ScoringMetrics::SetMetricsSource(const std::string& chosen) {
  for (const char* s : {"prometheus", "metricsServer", "none"}) {
    metrics_source.Add({{"source", s}}).Set(chosen == s ? 1 : 0);
  }
}

void ScoringMetrics::SetNodeAges(const std::map<std::string, double>& age_seconds_by_node) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = age_gauges_.begin(); it != age_gauges_.end();) {
    if (age_seconds_by_node.count(it->first) == 0) {
      metric_age.Remove(it->second);
      it = age_gauges_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [node, age] : age_seconds_by_node) {
    prometheus::Gauge*& gauge = age_gauges_[node];
    if (gauge == nullptr) gauge = &metric_age.Add({{"node", node}});
    gauge->Set(age);
  }
}

}  // namespace kb::scoring
