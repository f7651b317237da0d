#include <cmath>
#include <set>

#include "core/config.h"
#include "core/config_internal.h"
#include "core/url.h"

namespace kb {
namespace {

using config_internal::InRange;
using config_internal::Invalid;
using config_internal::OutOfRange;

// An object name as the API server validates it (IsDNS1123Subdomain): 1..253 characters of
// [a-z0-9.-], starting and ending with an alphanumeric character.
bool IsDnsSubdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return alnum(name.front()) && alnum(name.back());
}

Status ValidateServing(const Config& c) {
  KB_RETURN_IF_ERROR(ParseHostPort(c.listen).status());
  if ((c.tls.cert_file.empty()) != (c.tls.key_file.empty())) {
    return Status::InvalidArgument(
        "tls: certFile and keyFile must be set together (both empty serves plain HTTP)");
  }
  if (!c.tls.client_ca_file.empty() && c.tls.cert_file.empty()) {
    return Status::InvalidArgument("tls.clientCAFile: requires tls.certFile and tls.keyFile");
  }
  if (c.max_request_bytes <= 0) {
    return OutOfRange("maxRequestBytes", static_cast<double>(c.max_request_bytes), "must be > 0");
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return Invalid("logFormat", c.log_format, "expected text or json");
  }
  if (c.scheduler_name.empty()) return Invalid("schedulerName", "", "must not be empty");
  if (c.server_threads < 0 || c.server_threads > 1024) {
    return OutOfRange("serverThreads", c.server_threads, "must be in [0, 1024] (0 = 2*ncpu+4)");
  }
  return Status::Ok();
}

Status ValidateMetrics(const Config& c) {
  const std::string& s = c.metrics.source;
  if (s != kMetricsSourceAuto && s != kMetricsSourcePrometheus &&
      s != kMetricsSourceMetricsServer && s != kMetricsSourceNone) {
    return Invalid("metrics.source", s, "expected auto, prometheus, metricsServer or none");
  }
  if (s == kMetricsSourcePrometheus && c.prometheus.url.empty()) {
    return Invalid("metrics.source", s, "requires prometheus.url");
  }
  return Status::Ok();
}

// The HTTP admission limits, the metrics listener and the bind deadline.
Status ValidateAdmission(const Config& c) {
  if (!c.metrics_listen.empty()) {
    const auto metrics = ParseHostPort(c.metrics_listen, "metricsListen");
    if (!metrics.ok()) return metrics.status();
    const auto main = ParseHostPort(c.listen);
    if (main.ok() && metrics->second != 0 && metrics->second == main->second) {
      return Invalid("metricsListen", c.metrics_listen, "must use another port than listen");
    }
  }
  if (c.max_connections < 1 || c.max_connections > 65536) {
    return OutOfRange("maxConnections", c.max_connections, "must be in [1, 65536]");
  }
  if (c.max_header_bytes < 1024 || c.max_header_bytes > 1048576) {
    return OutOfRange("maxHeaderBytes", static_cast<double>(c.max_header_bytes),
                      "must be in [1024, 1048576]");
  }
  if (c.max_header_count < 8 || c.max_header_count > 1024) {
    return OutOfRange("maxHeaderCount", c.max_header_count, "must be in [8, 1024]");
  }
  if (c.max_compression_ratio < 1) {
    return OutOfRange("maxCompressionRatio", c.max_compression_ratio, "must be >= 1");
  }
  const std::pair<const char*, Millis> timeouts[] = {
      {"readTimeout", c.read_timeout},
      {"writeTimeout", c.write_timeout},
      {"idleTimeout", c.idle_timeout},
      {"schedulerHttpTimeout", c.scheduler_http_timeout}};
  for (const auto& [key, d] : timeouts) {
    if (d.count() <= 0) return Invalid(key, FormatDuration(d), "must be > 0");
  }
  if (c.bind_timeout.count() < 0 || c.bind_timeout >= c.scheduler_http_timeout) {
    return Invalid("bindTimeout", FormatDuration(c.bind_timeout),
                   "must be in [0, schedulerHttpTimeout) (0 = 3/4 of schedulerHttpTimeout): a "
                   "bind answered after kube-scheduler gave up is lost");
  }
  if (c.max_concurrent_binds < 1 || c.max_concurrent_binds > 1024) {
    return OutOfRange("maxConcurrentBinds", c.max_concurrent_binds, "must be in [1, 1024]");
  }
  return Status::Ok();
}

Status ValidatePrometheus(const PrometheusConfig& p) {
  if (!p.url.empty()) {
    const StatusOr<HttpUrl> url = ParseHttpUrl(p.url, "prometheus.url");
    if (!url.ok()) return url.status();
  }
  if (p.refresh_interval.count() <= 0) {
    return Invalid("prometheus.refreshInterval", FormatDuration(p.refresh_interval), "must be > 0");
  }
  if (p.max_age.count() <= 0) {
    return Invalid("prometheus.maxAge", FormatDuration(p.max_age), "must be > 0");
  }
  if (p.timeout.count() <= 0) {
    return Invalid("prometheus.timeout", FormatDuration(p.timeout), "must be > 0");
  }
  {
    StatusOr<Millis> window = ParseDuration(p.rate_window);
    if (!window.ok() || window->count() <= 0) {
      return Invalid("prometheus.rateWindow", p.rate_window,
                     "expected a positive duration such as 5m");
    }
  }
  return Status::Ok();
}

Status ValidateScoring(const ScoringConfig& s) {
  const std::pair<const char*, double> weights[] = {
      {"scoring.cpuWeight", s.cpu_weight},
      {"scoring.memoryWeight", s.memory_weight},
      {"scoring.leastAllocatedWeight", s.least_allocated_weight},
      {"scoring.balanceWeight", s.balance_weight}};
  double weight_sum = 0;
  for (const auto& [key, w] : weights) {
    if (!(w >= 0) || !std::isfinite(w)) return OutOfRange(key, w, "must be >= 0");
    weight_sum += w;
  }
  if (!(weight_sum > 0)) {
    return Status::InvalidArgument(
        "scoring: cpuWeight + memoryWeight + leastAllocatedWeight + balanceWeight must be > 0");
  }
  if (s.estimation_window.count() < 0) {
    return Invalid("scoring.estimationWindow", FormatDuration(s.estimation_window), "must be >= 0");
  }
  if (s.fresh_pod_usage != "requests" && s.fresh_pod_usage != "limits") {
    return Invalid("scoring.freshPodUsage", s.fresh_pod_usage, "expected requests or limits");
  }
  if (!InRange(s.fresh_pod_fraction, 0, 10)) {
    return OutOfRange("scoring.freshPodFraction", s.fresh_pod_fraction, "must be in [0, 10]");
  }
  if (s.tentative_window.count() < 0 || s.tentative_window > Millis(60000)) {
    return Invalid("scoring.tentativeWindow", FormatDuration(s.tentative_window),
                   "must be in [0s, 60s]");
  }
  if (!(s.min_spread > 0 && s.min_spread <= 1)) {
    return OutOfRange("scoring.minSpread", s.min_spread, "must be in (0, 1]");
  }
  return Status::Ok();
}

Status ValidateReschedulerScope(const ReschedulerConfig& r) {
  if (r.rescheduling_interval.count() <= 0) {
    return Invalid("rescheduler.reschedulingInterval", FormatDuration(r.rescheduling_interval),
                   "must be > 0");
  }
  if (r.enabled && r.enabled_strategies.empty()) {
    // A rescheduler that runs no strategy would look healthy and never act.
    return Invalid("rescheduler.enabledStrategies", "[]",
                   "must list at least one strategy while rescheduler.enabled is true (set "
                   "rescheduler.enabled: false to run without the rescheduler)");
  }
  std::set<std::string> strategies;
  for (size_t i = 0; i < r.enabled_strategies.size(); ++i) {
    const std::string& name = r.enabled_strategies[i];
    const std::string key = "rescheduler.enabledStrategies[" + std::to_string(i) + "]";
    if (!IsStrategyName(name)) {
      return Invalid(key, name, "expected LoadBalancing, ResourceOptimization or NodeMaintenance");
    }
    if (!strategies.insert(name).second) return Invalid(key, name, "listed twice");
  }
  const std::pair<const char*, double> percents[] = {
      {"rescheduler.cpuThreshold", r.cpu_threshold},
      {"rescheduler.memoryThreshold", r.memory_threshold},
      {"rescheduler.imbalanceThreshold", r.imbalance_threshold},
      {"rescheduler.hysteresisMargin", r.hysteresis_margin}};
  for (const auto& [key, v] : percents) {
    if (!InRange(v, 0, 100)) return OutOfRange(key, v, "must be in [0, 100]");
  }
  const std::pair<const char*, int> limits[] = {
      {"rescheduler.maxReschedulePods", r.max_reschedule_pods},
      {"rescheduler.maxReschedulePodsPerNode", r.max_reschedule_pods_per_node},
      {"rescheduler.maxReschedulePodsPerNamespace", r.max_reschedule_pods_per_namespace}};
  for (const auto& [key, v] : limits) {
    if (v < 0) return OutOfRange(key, v, "must be >= 0");
  }
  const std::pair<const char*, const std::vector<std::string>*> lists[] = {
      {"rescheduler.excludedNamespaces", &r.excluded_namespaces},
      {"rescheduler.namespaces.include", &r.namespaces.include},
      {"rescheduler.namespaces.exclude", &r.namespaces.exclude},
      {"rescheduler.schedulerNames", &r.scheduler_names}};
  for (const auto& [key, list] : lists) {
    for (size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].empty()) {
        return Invalid(std::string(key) + "[" + std::to_string(i) + "]", "", "must not be empty");
      }
    }
  }
  if (r.scheduler_names.empty()) {
    return Invalid("rescheduler.schedulerNames", "[]",
                   "must name at least one scheduler (default: [<schedulerName>])");
  }
  return Status::Ok();
}

Status ValidateReschedulerSafety(const ReschedulerConfig& r) {
  if (r.max_evictions_per_hour < -1) {
    return OutOfRange("rescheduler.maxEvictionsPerHour", r.max_evictions_per_hour,
                      "must be >= 0, or -1 for 6 * maxReschedulePods");
  }
  if (r.breaker.failures < 1) {
    return OutOfRange("rescheduler.breaker.failures", r.breaker.failures, "must be >= 1");
  }
  if (r.breaker.cool_off.count() <= 0) {
    return Invalid("rescheduler.breaker.coolOff", FormatDuration(r.breaker.cool_off),
                   "must be > 0");
  }
  if (r.max_cache_age.count() <= 0) {
    return Invalid("rescheduler.maxCacheAge", FormatDuration(r.max_cache_age), "must be > 0");
  }
  return Status::Ok();
}

Status ValidateReschedulerTiming(const ReschedulerConfig& r) {
  if (r.consecutive_cycles < 1) {
    return OutOfRange("rescheduler.consecutiveCycles", r.consecutive_cycles, "must be >= 1");
  }
  if (r.cooldown.count() < 0) {
    return Invalid("rescheduler.cooldown", FormatDuration(r.cooldown), "must be >= 0");
  }
  if (!InRange(r.min_score_gain, 0, 10)) {
    return OutOfRange("rescheduler.minScoreGain", r.min_score_gain, "must be in [0, 10]");
  }
  if (r.steer_window.count() < 0) {
    return Invalid("rescheduler.steerWindow", FormatDuration(r.steer_window), "must be >= 0");
  }
  if (!IsDnsSubdomain(r.steering_config_map)) {
    return Invalid("rescheduler.steeringConfigMap", r.steering_config_map,
                   "must be a DNS subdomain name (lowercase letters, digits, '-', '.')");
  }
  if (r.steering_sync_interval < Millis(100) || r.steering_sync_interval > Millis(60000)) {
    return Invalid("rescheduler.steeringSyncInterval", FormatDuration(r.steering_sync_interval),
                   "must be in [100ms, 60s]");
  }
  if (r.steering_max_entries < 1 || r.steering_max_entries > 5000) {
    return OutOfRange("rescheduler.steeringMaxEntries", r.steering_max_entries,
                      "must be in [1, 5000]");
  }
  if (r.replacement_timeout.count() <= 0) {
    return Invalid("rescheduler.replacementTimeout", FormatDuration(r.replacement_timeout),
                   "must be > 0");
  }
  if (r.eviction_grace_seconds < -1) {
    return OutOfRange("rescheduler.evictionGracePeriodSeconds",
                      static_cast<double>(r.eviction_grace_seconds),
                      "must be >= 0, or -1 for the pod's own grace period");
  }
  return Status::Ok();
}

Status ValidateLeaderElection(const LeaderElectionConfig& le) {
  if (le.lease_name.empty()) {
    return Invalid("rescheduler.leaderElection.leaseName", "", "must not be empty");
  }
  if (le.lease_namespace.empty()) {
    return Invalid("rescheduler.leaderElection.leaseNamespace", "", "must not be empty");
  }
  if (le.retry_period.count() <= 0) {
    return Invalid("rescheduler.leaderElection.retryPeriod", FormatDuration(le.retry_period),
                   "must be > 0");
  }
  // client-go's leaderelection rules: LeaseDuration > RenewDeadline > JitterFactor(1.2) *
  // RetryPeriod, otherwise two replicas can both believe they lead.
  if (!(le.lease_duration > le.renew_deadline)) {
    return Status::InvalidArgument(
        "rescheduler.leaderElection: leaseDuration (" + FormatDuration(le.lease_duration) +
        ") must be greater than renewDeadline (" + FormatDuration(le.renew_deadline) + ")");
  }
  if (!(static_cast<double>(le.renew_deadline.count()) >
        1.2 * static_cast<double>(le.retry_period.count()))) {
    return Status::InvalidArgument(
        "rescheduler.leaderElection: renewDeadline (" + FormatDuration(le.renew_deadline) +
        ") must be greater than 1.2 * retryPeriod (" + FormatDuration(le.retry_period) + ")");
  }
  return Status::Ok();
}

Status ValidateKubeClient(const KubeClientConfig& k) {
  if (!(k.qps > 0)) return OutOfRange("kubeClient.qps", k.qps, "must be > 0");
  if (k.burst < 1) return OutOfRange("kubeClient.burst", k.burst, "must be >= 1");
  if (k.timeout.count() <= 0) {
    return Invalid("kubeClient.timeout", FormatDuration(k.timeout), "must be > 0");
  }
  if (k.idle_connection_timeout.count() <= 0) {
    return Invalid("kubeClient.idleConnectionTimeout", FormatDuration(k.idle_connection_timeout),
                   "must be > 0");
  }
  if (k.max_cache_staleness.count() <= 0) {
    return Invalid("kubeClient.maxCacheStaleness", FormatDuration(k.max_cache_staleness),
                   "must be > 0");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateConfig(const Config& c) {
  KB_RETURN_IF_ERROR(ValidateServing(c));
  KB_RETURN_IF_ERROR(ValidateMetrics(c));
  KB_RETURN_IF_ERROR(ValidateAdmission(c));
  KB_RETURN_IF_ERROR(ValidatePrometheus(c.prometheus));
  KB_RETURN_IF_ERROR(ValidateScoring(c.scoring));
  KB_RETURN_IF_ERROR(ValidateReschedulerScope(c.rescheduler));
  KB_RETURN_IF_ERROR(ValidateReschedulerTiming(c.rescheduler));
  KB_RETURN_IF_ERROR(ValidateReschedulerSafety(c.rescheduler));
  KB_RETURN_IF_ERROR(ValidateLeaderElection(c.rescheduler.leader_election));
  return ValidateKubeClient(c.kube_client);
}

}  // namespace kb
