#include "scoring/source_choice.h"

namespace kb::scoring {

SourceChoice ChooseMetricsSource(const Config& config,
                                 const std::function<Status()>& probe_metrics_api) {
  const std::string& wanted = config.metrics.source;
  if (wanted == kMetricsSourceNone) {
    return {kMetricsSourceNone, "metrics.source is none: requests-based utilisation only"};
  }
  if (wanted == kMetricsSourcePrometheus ||
      (wanted == kMetricsSourceAuto && !config.prometheus.url.empty())) {
    return {kMetricsSourcePrometheus,
            (wanted == kMetricsSourceAuto ? std::string("auto: prometheus.url is set (")
                                          : std::string("metrics.source is prometheus (")) +
                config.prometheus.url + ")"};
  }
  const Status probe = probe_metrics_api ? probe_metrics_api()
                                         : Status::Unavailable("no Kubernetes client to probe");
  if (wanted == kMetricsSourceMetricsServer) {
    return {kMetricsSourceMetricsServer,
            "metrics.source is metricsServer (probe: " +
                (probe.ok() ? std::string("metrics.k8s.io served") : probe.ToString()) + ")"};
  }
  // auto without a Prometheus URL.
  if (probe.ok()) {
    return {kMetricsSourceMetricsServer,
            "auto: no prometheus.url and the API server serves metrics.k8s.io/v1beta1"};
  }
  if (probe.code() == StatusCode::kNotFound) {
    return {kMetricsSourceNone,
            "auto: no prometheus.url and metrics.k8s.io/v1beta1 is not served (404): "
            "requests-based utilisation only"};
  }
  if (probe.code() == StatusCode::kPermissionDenied) {
    return {kMetricsSourceNone,
            "auto: no prometheus.url and listing nodes.metrics.k8s.io is forbidden (grant list "
            "on nodes and pods in metrics.k8s.io): requests-based utilisation only (" +
                probe.ToString() + ")"};
  }
  return {kMetricsSourceMetricsServer,
          "auto: no prometheus.url; metrics.k8s.io probe failed (" + probe.ToString() +
              "): using metrics-server, nodes fall back to requests until it answers"};
}

}  // namespace kb::scoring
