// MetricsServerSource: MetricsSource over the metrics.k8s.io/v1beta1 API that metrics-server
// serves through the Kubernetes API server (kube-aggregator). One Fetch() lists NodeMetrics and
// PodMetrics once each, all namespaces, through a GET function injected by the composition root
// (scoring does not depend on the Kubernetes client; the GET uses its auth, rate limit and
// retries). Node usage is absolute (cores, bytes): the refresher divides it by the node's
// allocatable. A pod's usage is the sum of its containers'. Bad answers are validated at the
// boundary: an HTTP error or a malformed list fails that kind for this refresh (the previous
// values age out by maxAge); a malformed, negative, duplicated or unparsable item is dropped and
// counted, degrading only its node or pod. The decoders use simdjson (a 150,000-pod list is tens
// of MB). Not thread-safe: one caller (the refresher thread) at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "scoring/metrics_source.h"

namespace kb::scoring {

// GET of an absolute API path: the 2xx body, or the error Status (404: the group is not served).
using RawGet = std::function<StatusOr<std::string>(const std::string& path)>;

inline constexpr char kNodeMetricsPath[] = "/apis/metrics.k8s.io/v1beta1/nodes";
inline constexpr char kPodMetricsPath[] = "/apis/metrics.k8s.io/v1beta1/pods";

// Decode a NodeMetricsList into out.nodes (keyed by node name, absolute usage, sample time =
// the item's `timestamp`, the end of the window its usage is averaged over) and out.cpu /
// out.memory counts. A PodMetricsList into out.pod_usage and out.pods. Returns non-OK
// (kUnavailable) when the body is not a JSON list of the expected kind; items already decoded
// stay in `out` but the caller must treat the kind as failed. `body` gains simdjson's padding
// (its capacity may grow); its contents are unchanged. Exposed for tests and the benchmark.
Status DecodeNodeMetricsList(std::string& body, RawNodeMetrics& out);
Status DecodePodMetricsList(std::string& body, RawNodeMetrics& out);

class MetricsServerSource final : public MetricsSource {
 public:
  explicit MetricsServerSource(RawGet get);
  ~MetricsServerSource() override;
  MetricsServerSource(const MetricsServerSource&) = delete;
  MetricsServerSource& operator=(const MetricsServerSource&) = delete;

  StatusOr<RawNodeMetrics> Fetch() override;
  std::string Describe() const override;
  bool HasPodUsage() const override { return true; }

 private:
  RawGet get_;
};

}  // namespace kb::scoring
