// PrometheusSource: MetricsSource over the Prometheus HTTP API (POST /api/v1/query, form-encoded).
// It evaluates the configured cpuQuery / memoryQuery (or the defaults from core/config.h) as
// instant queries and validates the answer at the boundary: error envelopes, proxies' non-JSON
// bodies, non-vector results, non-finite and out-of-range values. Not thread-safe: one caller (the
// refresher thread) at a time.
#pragma once

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

class PrometheusSource final : public MetricsSource {
 public:
  // `config.url` must be non-empty; an invalid URL makes every Fetch() return InvalidArgument.
  explicit PrometheusSource(PrometheusConfig config);
  ~PrometheusSource() override;
  PrometheusSource(const PrometheusSource&) = delete;
  PrometheusSource& operator=(const PrometheusSource&) = delete;

  StatusOr<RawNodeMetrics> Fetch() override;
  std::string Describe() const override;

  // The queries actually sent (config values, or the defaults when empty).
  const std::string& cpu_query() const { return cpu_query_; }
  const std::string& memory_query() const { return memory_query_; }

 private:
  Status RunQuery(MetricKind metric, const std::string& query, RawNodeMetrics& out);

  PrometheusConfig config_;
  std::string cpu_query_;
  std::string memory_query_;
  StatusOr<HttpUrl> endpoint_;
  struct Client;  // hides cpp-httplib from includers
  std::unique_ptr<Client> client_;
};

}  // namespace kb::scoring
