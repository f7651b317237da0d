#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <cstring>

namespace kb::server {

const char* VerbName(Verb verb) {
  switch (verb) {
    case Verb::kFilter:
      return "filter";
    case Verb::kPrioritize:
      return "prioritize";
    case Verb::kBind:
      return "bind";
    case Verb::kDebugScores:
      return "debug_scores";
    case Verb::kOther:
      return "other";
  }
  return "other";
}

ExtenderMetrics::ExtenderMetrics(prometheus::Registry& registry)
    : requests(prometheus::BuildCounter()
                   .Name("kube_balancer_extender_requests_total")
                   .Help("Extender HTTP requests by verb and HTTP status code.")
                   .Register(registry)),
      request_duration(prometheus::BuildHistogram()
                           .Name("kube_balancer_extender_request_duration_seconds")
                           .Help("Server-side time to decode, handle and encode one extender "
                                 "request, by verb.")
                           .Register(registry)),
      filtered_nodes(prometheus::BuildCounter()
                         .Name("kube_balancer_extender_filtered_nodes_total")
                         .Help("Nodes removed by the filter verb, by reason.")
                         .Register(registry)),
      degraded(prometheus::BuildCounter()
                   .Name("kube_balancer_extender_degraded_total")
                   .Help("Extender answers in which at least one node fell back to "
                         "requests-based utilisation because its metrics were missing or stale.")
                   .Register(registry)),
      unknown_nodes(prometheus::BuildCounter()
                        .Name("kube_balancer_extender_unknown_nodes_total")
                        .Help("Candidate nodes that were not in the cluster cache (passed by "
                              "filter, scored 0).")
                        .Register(registry)
                        .Add({})),
      bindings(prometheus::BuildCounter()
                   .Name("kube_balancer_extender_bindings_total")
                   .Help("Bindings made by the bind verb, by result.")
                   .Register(registry)),
      exceptions(prometheus::BuildCounter()
                     .Name("kube_balancer_extender_exceptions_total")
                     .Help("Requests whose handler threw; answered with HTTP 500.")
                     .Register(registry)
                     .Add({})),
      rejected(prometheus::BuildCounter()
                   .Name("kube_balancer_http_rejected_total")
                   .Help("Requests and connections refused by the HTTP admission layer, by "
                         "reason.")
                   .Register(registry)) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
  for (size_t v = 0; v < kVerbCount; ++v) {
    const std::string verb = VerbName(static_cast<Verb>(v));
    for (size_t c = 0; c < kCodes.size(); ++c) {
      requests_[v][c] = &requests.Add({{"verb", verb}, {"code", std::to_string(kCodes[c])}});
    }
    duration_[v] = &request_duration.Add({{"verb", verb}}, kBuckets);
    degraded_[v] = &degraded.Add({{"verb", verb}});
  }
  for (size_t i = 0; i < kReasons.size(); ++i) {
    filtered_[i] = &filtered_nodes.Add({{"reason", kReasons[i]}});
  }
  for (size_t i = 0; i < kResults.size(); ++i) {
    bindings_[i] = &bindings.Add({{"result", kResults[i]}});
  }
}

prometheus::Counter& ExtenderMetrics::Requests(Verb verb, int code) {
  const size_t v = static_cast<size_t>(verb);
  for (size_t c = 0; c < kCodes.size(); ++c) {
    if (kCodes[c] == code) return *requests_[v][c];
  }
  // Rare codes (e.g. 414 from the HTTP layer): Family::Add is thread-safe and idempotent.
  return requests.Add({{"verb", VerbName(verb)}, {"code", std::to_string(code)}});
}

prometheus::Counter& ExtenderMetrics::Filtered(const char* reason) {
  for (size_t i = 0; i < kReasons.size(); ++i) {
    if (std::strcmp(kReasons[i], reason) == 0) return *filtered_[i];
  }
  return filtered_nodes.Add({{"reason", reason}});
}

prometheus::Counter& ExtenderMetrics::Bindings(const char* result) {
  for (size_t i = 0; i < kResults.size(); ++i) {
    if (std::strcmp(kResults[i], result) == 0) return *bindings_[i];
  }
  return bindings.Add({{"result", result}});
}

}  // namespace kb::server
