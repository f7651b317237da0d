#include "server/process_metrics.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace kb::server {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Splits on runs of spaces.
std::vector<std::string_view> Fields(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n' && text[j] != '\t') ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<double> Number(std::string_view field) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size()) return std::nullopt;
  return value;
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

}  // namespace

std::optional<ProcessSample> ParseProcStat(std::string_view stat, double ticks_per_second,
                                           double page_size, double boot_time_seconds) {
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  // After "pid (comm)": field 3 (state) is index 0 here; utime is field 14, stime 15,
  // starttime 22, vsize 23, rss 24.
  const std::vector<std::string_view> f = Fields(stat.substr(close + 1));
  if (f.size() < 22) return std::nullopt;
  const auto utime = Number(f[11]), stime = Number(f[12]), start = Number(f[19]),
             vsize = Number(f[20]), rss = Number(f[21]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessSample s;
  s.cpu_seconds = (*utime + *stime) / ticks_per_second;
  s.virtual_bytes = *vsize;
  s.resident_bytes = *rss * page_size;
  s.start_time_seconds = boot_time_seconds + *start / ticks_per_second;
  return s;
}

std::optional<double> ParseBootTime(std::string_view proc_stat) {
  std::istringstream in{std::string(proc_stat)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return Number(Fields(line).at(1));
  }
  return std::nullopt;
}

std::optional<double> ParseMaxOpenFiles(std::string_view limits) {
  std::istringstream in{std::string(limits)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    const std::vector<std::string_view> f = Fields(std::string_view(line).substr(14));
    if (f.empty()) return std::nullopt;
    return Number(f[0]);  // "unlimited" -> nullopt
  }
  return std::nullopt;
}

ProcessCollector::ProcessCollector(std::string proc_self, std::string proc_root)
    : proc_self_(std::move(proc_self)), proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const std::optional<double> boot = ParseBootTime(ReadSmallFile(proc_root_ + "/stat"));
  const std::optional<ProcessSample> s =
      ParseProcStat(ReadSmallFile(proc_self_ + "/stat"), ticks, page, boot.value_or(0));
  if (s) {
    out.push_back(Family("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.", MetricType::Counter,
                         s->cpu_seconds));
    out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                         MetricType::Gauge, s->resident_bytes));
    out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, s->virtual_bytes));
    if (boot) {
      out.push_back(Family("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           MetricType::Gauge, s->start_time_seconds));
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator(proc_self_ + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    out.push_back(
        Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
  }
  if (const auto max = ParseMaxOpenFiles(ReadSmallFile(proc_self_ + "/limits"))) {
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, *max));
  }
  return out;
}

std::vector<prometheus::MetricFamily> MetricsExposition::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_.Collect();
  for (prometheus::MetricFamily& f : process_.Collect()) out.push_back(std::move(f));
  return out;
}

const char* BuildRevision() { return KB_REVISION; }

void AddBuildInfo(prometheus::Registry& registry, const std::string& version,
                  const std::string& revision) {
  prometheus::BuildGauge()
      .Name("kube_balancer_build_info")
      .Help("Always 1; the labels name the running build's version and source revision.")
      .Register(registry)
      .Add({{"version", version}, {"revision", revision}})
      .Set(1);
}

ConfigGauges::ConfigGauges(prometheus::Registry& registry)
    : family_(prometheus::BuildGauge()
                  .Name("kube_balancer_config_value")
                  .Help("Numeric settings of the running configuration by YAML key (durations "
                        "in seconds), for dashboards and alerts.")
                  .Register(registry)) {}

void ConfigGauges::Set(const Config& config) {
  const auto seconds = [](Millis d) { return static_cast<double>(d.count()) / 1000.0; };
  const ReschedulerConfig& r = config.rescheduler;
  const std::pair<const char*, double> values[] = {
      {"rescheduler.cpuThreshold", r.cpu_threshold},
      {"rescheduler.memoryThreshold", r.memory_threshold},
      {"rescheduler.imbalanceThreshold", r.imbalance_threshold},
      {"rescheduler.hysteresisMargin", r.hysteresis_margin},
      {"rescheduler.maxReschedulePods", static_cast<double>(r.max_reschedule_pods)},
      {"rescheduler.dryRun", r.dry_run ? 1.0 : 0.0},
      {"rescheduler.enabled", r.enabled ? 1.0 : 0.0},
      {"rescheduler.reschedulingInterval", seconds(r.rescheduling_interval)},
      {"rescheduler.cooldown", seconds(r.cooldown)},
      {"prometheus.maxAge", seconds(config.prometheus.max_age)},
      {"prometheus.refreshInterval", seconds(config.prometheus.refresh_interval)},
  };
  for (const auto& [key, value] : values) family_.Add({{"key", key}}).Set(value);
}

}  // namespace kb::server
