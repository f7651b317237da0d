// ChooseMetricsSource: which load source metrics.source selects, and why (logged at start, shown
// in /debug/scores, exported as kube_balancer_metrics_source). Pure apart from the probe it is
// given; thread-safe.
#pragma once

#include <functional>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace kb::scoring {

struct SourceChoice {
  std::string
      source;  // kMetricsSourcePrometheus | kMetricsSourceMetricsServer | kMetricsSourceNone
  std::string reason;  // one line, for logs and /debug/scores
};

// `probe_metrics_api` lists NodeMetrics once (the start-up probe); it is called only when the
// choice depends on it (auto without prometheus.url) or to report on an explicit metricsServer.
// auto: Prometheus when prometheus.url is set; else metrics-server unless the probe says the
// group is not served (404) or kube-balancer may not list it (403); any other probe error (a 503
// from an APIService whose backend is down, a timeout) still picks metrics-server, whose nodes
// then degrade to requests until it answers.
SourceChoice ChooseMetricsSource(const Config& config,
                                 const std::function<Status()>& probe_metrics_api);

}  // namespace kb::scoring
