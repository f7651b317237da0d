// PrometheusSource: MetricsSource over the Prometheus HTTP API (POST /api/v1/query, form-encoded).
// It evaluates the configured cpuQuery / memoryQuery (or the defaults from core/config.h) as
// instant queries and validates the answer at the boundary: error envelopes, proxies' non-JSON
// bodies, non-vector results, non-finite and out-of-range values. Not thread-safe: one caller (the
// refresher thread) at a time.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/url.h"
#include "scoring/metrics_source.h"

namespace kb::scoring {

// Parses one /api/v1/query response body (any HTTP code) into `out` for `metric`
// (kCpu -> cpu fields, kMemory -> memory fields). Exposed for tests. Returns the query's status:
// OK for a success vector (including an empty one), else the error described in MetricsSource.
Status ParseQueryResponse(int http_status, const std::string& body, MetricKind metric,
                          const std::string& node_label, RawNodeMetrics& out);

// Parses the answer of a scrape-time query (cpuTimestampQuery / memoryTimestampQuery: values are
// unix seconds) into `times` by node key (the oldest when a key repeats), counting bad samples in
// `result`. Exposed for tests.
Status ParseTimestampResponse(int http_status, const std::string& body,
                              const std::string& node_label, MetricQueryResult& result,
                              std::map<std::string, WallTime>& times);
// Parses a per-pod answer (labels namespace and pod; cores for kCpu, bytes for kMemory) into
// out.pod_usage, counting in out.pods. Exposed for tests.
Status ParsePodResponse(int http_status, const std::string& body, MetricKind metric,
                        RawNodeMetrics& out);

class PrometheusSource final : public MetricsSource {
 public:
  // `config.url` must be non-empty; an invalid URL makes every Fetch() return InvalidArgument.
  explicit PrometheusSource(PrometheusConfig config);
  ~PrometheusSource() override;
  PrometheusSource(const PrometheusSource&) = delete;
  PrometheusSource& operator=(const PrometheusSource&) = delete;

  // Per refresh: cpuQuery and memoryQuery, each followed by its scrape-time query when one is
  // configured (a node's value is kept only with its scrape time, which becomes the sample
  // time), then podCpuQuery and podMemoryQuery.
  StatusOr<RawNodeMetrics> Fetch() override;
  std::string Describe() const override;
  bool HasPodUsage() const override {
    return !config_.pod_cpu_query.empty() && !config_.pod_memory_query.empty();
  }

  // The queries actually sent (config values, or the defaults when empty).
  const std::string& cpu_query() const { return cpu_query_; }
  const std::string& memory_query() const { return memory_query_; }

 private:
  struct Answer {
    int http = 0;
    std::string body;
  };
  StatusOr<Answer> Post(const std::string& query);
  // The value query of `metric` and its scrape-time query; returns the metric's status.
  Status RunNodeQuery(MetricKind metric, RawNodeMetrics& out);
  // Fills out.pod_usage and out.pods.
  void RunPodQueries(RawNodeMetrics& out);

  PrometheusConfig config_;
  std::string cpu_query_;
  std::string memory_query_;
  StatusOr<HttpUrl> endpoint_;
  struct Client;  // hides cpp-httplib from includers
  std::unique_ptr<Client> client_;
};

}  // namespace kb::scoring
