#include "test/fakes/fake_metrics_source.h"

#include <utility>

namespace kb::testing {

void FakeMetricsSource::SetMetrics(scoring::RawNodeMetrics metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  metrics_ = std::move(metrics);
  error_ = Status::Ok();
}

void FakeMetricsSource::SetError(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  error_ = std::move(status);
}

void FakeMetricsSource::SetNode(const std::string& key, double cpu_percent, double memory_percent,
                                WallTime at, const std::string& instance_host) {
  std::lock_guard<std::mutex> lock(mu_);
  scoring::RawNodeSample& s = metrics_.nodes[key];
  s.cpu_percent = cpu_percent;
  s.cpu_time = at;
  s.memory_percent = memory_percent;
  s.memory_time = at;
  s.instance_host = instance_host;
  error_ = Status::Ok();
}

void FakeMetricsSource::RemoveNode(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.nodes.erase(key);
}

StatusOr<scoring::RawNodeMetrics> FakeMetricsSource::Fetch() {
  ++fetch_count_;
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  return metrics_;
}

}  // namespace kb::testing
