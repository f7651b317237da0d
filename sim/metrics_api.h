// MetricsApi: kube-sim's stand-in for metrics-server behind kube-aggregator. It serves
// metrics.k8s.io/v1beta1 on the ApiServer (SetAggregatedApi): discovery (APIResourceList),
// NodeMetricsList and PodMetricsList (all namespaces or one) from NodeMetrics' emulated usage, in
// metrics-server's JSON shapes (cpu in nanocores "…n", memory in "…Ki"). Like metrics-server it
// answers from its last scrape: a request that finds the last scrape older than scrape_interval
// triggers a new one, so answers lag the emulation by up to that interval (the configurable
// scrape lag) and carry the scrape time as `timestamp` and the interval as `window`.
// Modes: serving; unavailable (503 ServiceUnavailable, what kube-aggregator answers while the
// APIService's backend is down); frozen (keeps answering the last scrape, whose timestamp then
// ages, like a stuck metrics-server). Destroying it removes the group (404 afterwards).
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>

#include "core/clock.h"
#include "sim/api_server.h"
#include "sim/node_metrics.h"

namespace kb::sim {

struct MetricsApiOptions {
  std::chrono::milliseconds scrape_interval{15000};  // metrics-server's --metric-resolution
};

class MetricsApi {
 public:
  enum class Mode { kServing, kUnavailable, kFrozen };

  // Registers /apis/metrics.k8s.io/ on `server`. References must outlive this object.
  MetricsApi(ApiServer& server, NodeMetrics& metrics, const Clock& clock,
             MetricsApiOptions options = {});
  ~MetricsApi();
  MetricsApi(const MetricsApi&) = delete;
  MetricsApi& operator=(const MetricsApi&) = delete;

  void SetMode(Mode mode);
  uint64_t scrapes() const;

 private:
  struct State;
  ApiServer& server_;
  std::shared_ptr<State> state_;
};

}  // namespace kb::sim
