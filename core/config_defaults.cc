// Default PromQL for prometheus.cpuQuery / memoryQuery (node_exporter series). Kept in core so the
// config loader can fill defaults without depending on the scoring module.
#include <string>

#include "core/config.h"

namespace kb {

namespace {

// Group by the node label and also by `instance` (unless the node label is `instance`): with a
// relabelled node label the key is that label; without one (kube-prometheus-stack's default, where
// the node label is absent) each series still carries `instance`, which the refresher maps to the
// node's InternalIP. Grouping by the node label alone would collapse such clusters into one
// label-less series.
std::string GroupingLabels(const std::string& node_label) {
  if (node_label.empty() || node_label == "instance") return "instance";
  return node_label + ", instance";
}

}  // namespace

std::string DefaultCpuQuery(const std::string& node_label, const std::string& rate_window) {
  const std::string by = GroupingLabels(node_label);
  const std::string window = rate_window.empty() ? "5m" : rate_window;
  return "100 * (1 - avg by (" + by + ") (rate(node_cpu_seconds_total{mode=\"idle\"}[" + window +
         "])))";
}

std::string DefaultMemoryQuery(const std::string& node_label) {
  const std::string by = GroupingLabels(node_label);
  return "100 * (1 - sum by (" + by + ") (node_memory_MemAvailable_bytes) / sum by (" + by +
         ") (node_memory_MemTotal_bytes))";
}

// timestamp() of a raw selector is the time of the sample the lookback found, i.e. the scrape; the
// older series of a node is the one that counts.
std::string DefaultCpuTimestampQuery(const std::string& node_label) {
  return "min by (" + GroupingLabels(node_label) +
         ") (timestamp(node_cpu_seconds_total{mode=\"idle\"}))";
}

std::string DefaultMemoryTimestampQuery(const std::string& node_label) {
  return "min by (" + GroupingLabels(node_label) + ") (timestamp(node_memory_MemAvailable_bytes))";
}

// container!="" drops cAdvisor's pod-level cgroup series and container!="POD" the pause
// container, so the sum is the pod's containers once.
std::string DefaultPodCpuQuery(const std::string& rate_window) {
  const std::string window = rate_window.empty() ? "5m" : rate_window;
  return "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=\"\", "
         "container!=\"POD\"}[" +
         window + "]))";
}

std::string DefaultPodMemoryQuery() {
  return "sum by (namespace, pod) (container_memory_working_set_bytes{container!=\"\", "
         "container!=\"POD\"})";
}

}  // namespace kb
