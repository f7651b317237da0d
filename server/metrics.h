// ExtenderMetrics: every prometheus-cpp family the extender exports, built once from the process
// registry and passed by reference (Envoy's stats block). Series for the extender verbs are
// created up front, so the hot path only increments cached references; label values are bounded
// (verbs, HTTP codes, reasons, results; never pod or node names). Thread-safe (prometheus-cpp).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <string>

namespace kb::server {

// Route labels ("verb"): the three extender verbs plus debug and everything else.
enum class Verb { kFilter, kPrioritize, kBind, kDebugScores, kOther };
inline constexpr size_t kVerbCount = 5;
// The verbs kube-scheduler calls, each served as POST /<VerbName>.
inline constexpr Verb kExtenderVerbs[] = {Verb::kFilter, Verb::kPrioritize, Verb::kBind};
const char* VerbName(Verb verb);  // "filter", "prioritize", "bind", "debug_scores", "other"

struct ExtenderMetrics {
  explicit ExtenderMetrics(prometheus::Registry& registry);
  ExtenderMetrics(const ExtenderMetrics&) = delete;
  ExtenderMetrics& operator=(const ExtenderMetrics&) = delete;

  // kube_balancer_extender_requests_total{verb,code}: requests answered, by HTTP status code.
  prometheus::Family<prometheus::Counter>& requests;
  // kube_balancer_extender_request_duration_seconds{verb}: time from a fully read request to
  // its encoded response (decode + handler + encode), 50us .. 1s buckets.
  prometheus::Family<prometheus::Histogram>& request_duration;
  // kube_balancer_extender_filtered_nodes_total{reason}: nodes removed by /filter, by reason
  // ("maintenance", "unschedulable", "cpu", "memory", "steered").
  prometheus::Family<prometheus::Counter>& filtered_nodes;
  // kube_balancer_extender_degraded_total{verb}: answers in which at least one candidate node
  // fell back to requests-based utilisation (metrics missing or stale).
  prometheus::Family<prometheus::Counter>& degraded;
  // kube_balancer_extender_unknown_nodes_total: candidates not in the cluster cache (they pass
  // the filter and score 0).
  prometheus::Counter& unknown_nodes;
  // kube_balancer_extender_bindings_total{result}: /bind outcomes ("success", "conflict",
  // "not_found", "error", "timeout": not answered by bindTimeout, "busy": maxConcurrentBinds in
  // flight).
  prometheus::Family<prometheus::Counter>& bindings;
  // kube_balancer_extender_exceptions_total: handler exceptions answered with HTTP 500.
  prometheus::Counter& exceptions;
  // kube_balancer_http_rejected_total{reason}: requests and connections refused by the HTTP
  // admission layer (reasons: RejectionName in http_connection.h).
  prometheus::Family<prometheus::Counter>& rejected;

  // Cached series (no label hashing on the hot path).
  prometheus::Counter& Requests(Verb verb, int code);
  prometheus::Histogram& Duration(Verb verb) { return *duration_[static_cast<size_t>(verb)]; }
  prometheus::Counter& Degraded(Verb verb) { return *degraded_[static_cast<size_t>(verb)]; }
  prometheus::Counter& Filtered(const char* reason);
  prometheus::Counter& Bindings(const char* result);
  // Not cached: rejections are off the hot path.
  prometheus::Counter& Rejected(const char* reason) { return rejected.Add({{"reason", reason}}); }

 private:
  static constexpr std::array<int, 7> kCodes = {200, 400, 404, 405, 413, 500, 503};
  std::array<std::array<prometheus::Counter*, kCodes.size()>, kVerbCount> requests_{};
  std::array<prometheus::Histogram*, kVerbCount> duration_{};
  std::array<prometheus::Counter*, kVerbCount> degraded_{};
  static constexpr std::array<const char*, 5> kReasons = {"maintenance", "unschedulable", "cpu",
                                                          "memory", "steered"};
  std::array<prometheus::Counter*, kReasons.size()> filtered_{};
  static constexpr std::array<const char*, 6> kResults = {"success", "conflict", "not_found",
                                                          "error",   "timeout",  "busy"};
  std::array<prometheus::Counter*, kResults.size()> bindings_{};
};

}  // namespace kb::server
