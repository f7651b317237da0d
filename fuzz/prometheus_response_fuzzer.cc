// Fuzzes the parser of Prometheus /api/v1/query answers (scoring/prometheus_source). The first
// input byte picks the HTTP status, the metric and the node label; the rest is the body.
// Properties: every accepted sample is a finite percentage in [0, 100] under a non-empty key, and
// the counters never go negative.
#include <cmath>

#include "fuzz/fuzz_check.h"
#include "scoring/prometheus_source.h"

namespace {

constexpr int kStatuses[] = {200, 400, 422, 503};

void CheckPercent(const std::optional<double>& v) {
  if (!v.has_value()) return;
  KB_FUZZ_CHECK(std::isfinite(*v) && *v >= 0 && *v <= 100, "an accepted sample is out of range");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const int status = kStatuses[selector & 3];
  const auto metric =
      (selector & 4) ? kb::scoring::MetricKind::kMemory : kb::scoring::MetricKind::kCpu;
  const std::string label = (selector & 8) ? "instance" : "node";
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  kb::scoring::RawNodeMetrics out;
  (void)kb::scoring::ParseQueryResponse(status, body, metric, label, out);
  for (const auto& [key, sample] : out.nodes) {
    KB_FUZZ_CHECK(!key.empty(), "a sample was kept without a key");
    CheckPercent(sample.cpu_percent);
    CheckPercent(sample.memory_percent);
  }
  for (const kb::scoring::MetricQueryResult* r : {&out.cpu, &out.memory}) {
    KB_FUZZ_CHECK(r->samples >= 0 && r->dropped >= 0 && r->duplicates >= 0,
                  "a negative sample counter");
  }
  return 0;
}
