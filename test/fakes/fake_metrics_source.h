// FakeMetricsSource: a MetricsSource returning canned RawNodeMetrics or a Status, counting Fetch()
// calls. Tests change the canned answer between refreshes. Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "scoring/metrics_source.h"

namespace kb::testing {

class FakeMetricsSource final : public scoring::MetricsSource {
 public:
  FakeMetricsSource() = default;

  // Every following Fetch() returns `metrics` (statuses OK unless set in it).
  void SetMetrics(scoring::RawNodeMetrics metrics);
  // Every following Fetch() returns `status` (must be non-OK).
  void SetError(Status status);
  // Convenience: sets (or replaces) one key's samples, both stamped `at`.
  void SetNode(const std::string& key, double cpu_percent, double memory_percent, WallTime at,
               const std::string& instance_host = "");
  void RemoveNode(const std::string& key);

  StatusOr<scoring::RawNodeMetrics> Fetch() override;
  std::string Describe() const override { return "fake"; }

  int fetch_count() const { return fetch_count_.load(); }

 private:
  mutable std::mutex mu_;
  scoring::RawNodeMetrics metrics_;  // Guarded by mu_.
  Status error_;                     // Guarded by mu_.
  std::atomic<int> fetch_count_{0};
};

}  // namespace kb::testing
