// Process-level series every Prometheus client library exports, plus kube-balancer's build and
// configuration gauges:
//   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_open_fds, process_max_fds, process_start_time_seconds  (read from /proc at scrape time)
//   kube_balancer_build_info{version,revision} 1
//   kube_balancer_config_value{key}  the numeric settings dashboards and alerts compare against
// Thread-safe: Collect() only reads /proc; ConfigGauges::Set uses prometheus-cpp gauges.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace kb::server {

// What the process series are computed from; parsed from /proc/<pid>/stat, /proc/stat,
// /proc/<pid>/fd and /proc/<pid>/limits.
struct ProcessSample {
  double cpu_seconds = 0;          // utime + stime
  double resident_bytes = 0;       // rss pages * page size
  double virtual_bytes = 0;        // vsize
  double start_time_seconds = 0;   // boot time + starttime, seconds since the Unix epoch
  std::optional<double> open_fds;  // entries of fd/ (absent when unreadable)
  std::optional<double> max_fds;   // soft "Max open files" (absent when unlimited/unreadable)
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) may hold spaces and ')'; the
// fields are read after its last ')'. nullopt when the text is malformed.
std::optional<ProcessSample> ParseProcStat(std::string_view stat, double ticks_per_second,
                                           double page_size, double boot_time_seconds);
// "btime N" from /proc/stat; nullopt when absent.
std::optional<double> ParseBootTime(std::string_view proc_stat);
// The soft limit of "Max open files" in /proc/<pid>/limits; nullopt when absent or unlimited.
std::optional<double> ParseMaxOpenFiles(std::string_view limits);

// The process_* families. `proc_self` is the directory to read ("/proc/self"; tests pass a
// fake tree); `proc_root` holds the system-wide "stat".
class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string proc_self = "/proc/self", std::string proc_root = "/proc");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_self_;
  std::string proc_root_;
};

// The source revision this binary was configured from ("unknown" outside a git checkout).
const char* BuildRevision();

// What /metrics serves: the registry's families followed by the process collector's.
class MetricsExposition : public prometheus::Collectable {
 public:
  explicit MetricsExposition(const prometheus::Registry& registry) : registry_(registry) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const prometheus::Registry& registry_;
  ProcessCollector process_;
};

// kube_balancer_build_info{version,revision} = 1.
void AddBuildInfo(prometheus::Registry& registry, const std::string& version,
                  const std::string& revision);

// kube_balancer_config_value{key}: thresholds and durations (in seconds) of the running config,
// keyed by their YAML path ("rescheduler.cpuThreshold", "prometheus.maxAge", ...). Set again
// after a config reload.
class ConfigGauges {
 public:
  explicit ConfigGauges(prometheus::Registry& registry);
  void Set(const Config& config);

 private:
  prometheus::Family<prometheus::Gauge>& family_;
};

}  // namespace kb::server
