#include "core/config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "core/config_internal.h"
#include "core/quantity.h"

namespace kb {
namespace {

using config_internal::InRange;
using config_internal::Invalid;
using config_internal::OutOfRange;
using config_internal::ParseInteger;
using config_internal::ParseNumber;
using config_internal::Quote;
using config_internal::ScalarText;

// One accepted leaf key: its dotted path and how to store a YAML value into the Config.
using Setter = std::function<Status(const YAML::Node& node, const std::string& key, Config& c)>;
struct FieldSpec {
  const char* key;
  Setter set;
};

// Mappings (not leaves). Their keys are walked recursively.
const std::set<std::string>& Sections() {
  static const std::set<std::string> kSections = {"tls",
                                                  "metrics",
                                                  "prometheus",
                                                  "scoring",
                                                  "rescheduler",
                                                  "rescheduler.protections",
                                                  "rescheduler.namespaces",
                                                  "rescheduler.breaker",
                                                  "rescheduler.leaderElection",
                                                  "kubeClient"};
  return kSections;
}

// YAML 1.1 booleans as sigs.k8s.io/yaml accepts them (true/false, yes/no, on/off).
StatusOr<bool> ParseBool(const YAML::Node& node, const std::string& key) {
  static const std::string kExpected = "expected true or false";
  KB_ASSIGN_OR_RETURN(std::string text, ScalarText(node, key, kExpected));
  static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes",
                                              "YES",  "on",   "On",   "ON"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No",
                                               "NO",    "off",   "Off",   "OFF"};
  if (kTrue.count(text)) return true;
  if (kFalse.count(text)) return false;
  return Invalid(key, text, kExpected);
}

StatusOr<Millis> ParseDurationValue(const YAML::Node& node, const std::string& key) {
  static const std::string kExpected = "expected a duration such as 30s, 2m or 1h30m";
  KB_ASSIGN_OR_RETURN(std::string text, ScalarText(node, key, kExpected));
  StatusOr<Millis> d = ParseDuration(text);
  if (!d.ok()) return Invalid(key, text, kExpected);
  return *d;
}

// Setters. `get` returns a reference to the destination field inside a Config; `parse` turns the
// YAML node into its value or an error naming the key.
template <class Get, class Parse>
Setter ParsedField(Get get, Parse parse) {
  return [get, parse](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    KB_ASSIGN_OR_RETURN(get(c), parse(n, key));
    return Status::Ok();
  };
}
StatusOr<std::string> ParseString(const YAML::Node& n, const std::string& key) {
  return ScalarText(n, key, "expected a string");
}
const auto StringField = [](auto get) { return ParsedField(get, ParseString); };
const auto NumberField = [](auto get) { return ParsedField(get, ParseNumber); };
const auto BoolField = [](auto get) { return ParsedField(get, ParseBool); };
const auto DurationField = [](auto get) { return ParsedField(get, ParseDurationValue); };
template <class Get>
Setter IntField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    using T = std::remove_reference_t<decltype(get(c))>;
    KB_ASSIGN_OR_RETURN(int64_t v, ParseInteger(n, key, std::numeric_limits<T>::min(),
                                                std::numeric_limits<T>::max()));
    get(c) = static_cast<T>(v);
    return Status::Ok();
  };
}
template <class Get>
Setter StringListField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    if (!n.IsSequence()) {
      return Invalid(key, n.IsScalar() ? n.Scalar() : "<mapping>", "expected a list of strings");
    }
    std::vector<std::string> values;
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      KB_ASSIGN_OR_RETURN(std::string v, ScalarText(n[i], item_key, "expected a string"));
      values.push_back(std::move(v));
    }
    get(c) = std::move(values);
    return Status::Ok();
  };
}
// A byte count: a non-negative integer or a Kubernetes quantity ("64Mi").
template <class Get>
Setter BytesField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    static const std::string kExpected = "expected a byte count such as 67108864 or 64Mi";
    KB_ASSIGN_OR_RETURN(std::string text, ScalarText(n, key, kExpected));
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
      StatusOr<int64_t> q = ParseBytes(text);
      if (!q.ok()) return Invalid(key, text, kExpected);
      value = *q;
    }
    get(c) = value;
    return Status::Ok();
  };
}

#define KB_CONFIG_FIELD(kind, key, member)                  \
  FieldSpec {                                               \
    key, kind([](Config & c) -> auto& { return c.member; }) \
  }

std::vector<FieldSpec> ServingFields() {
  return {
      KB_CONFIG_FIELD(StringField, "listen", listen),
      KB_CONFIG_FIELD(StringField, "tls.certFile", tls.cert_file),
      KB_CONFIG_FIELD(StringField, "tls.keyFile", tls.key_file),
      KB_CONFIG_FIELD(StringField, "tls.clientCAFile", tls.client_ca_file),
      KB_CONFIG_FIELD(BytesField, "maxRequestBytes", max_request_bytes),
      KB_CONFIG_FIELD(StringField, "logFormat", log_format),
      KB_CONFIG_FIELD(StringField, "schedulerName", scheduler_name),
      KB_CONFIG_FIELD(IntField, "serverThreads", server_threads),
      KB_CONFIG_FIELD(StringField, "metricsListen", metrics_listen),
      KB_CONFIG_FIELD(IntField, "maxConnections", max_connections),
      KB_CONFIG_FIELD(BytesField, "maxHeaderBytes", max_header_bytes),
      KB_CONFIG_FIELD(IntField, "maxHeaderCount", max_header_count),
      KB_CONFIG_FIELD(IntField, "maxCompressionRatio", max_compression_ratio),
      KB_CONFIG_FIELD(DurationField, "readTimeout", read_timeout),
      KB_CONFIG_FIELD(DurationField, "writeTimeout", write_timeout),
      KB_CONFIG_FIELD(DurationField, "idleTimeout", idle_timeout),
      KB_CONFIG_FIELD(DurationField, "schedulerHttpTimeout", scheduler_http_timeout),
      KB_CONFIG_FIELD(DurationField, "bindTimeout", bind_timeout),
      KB_CONFIG_FIELD(IntField, "maxConcurrentBinds", max_concurrent_binds),
  };
}

std::vector<FieldSpec> PrometheusFields() {
  return {
      KB_CONFIG_FIELD(StringField, "metrics.source", metrics.source),
      KB_CONFIG_FIELD(StringField, "prometheus.url", prometheus.url),
      KB_CONFIG_FIELD(StringField, "prometheus.cpuQuery", prometheus.cpu_query),
      KB_CONFIG_FIELD(StringField, "prometheus.memoryQuery", prometheus.memory_query),
      KB_CONFIG_FIELD(StringField, "prometheus.nodeLabel", prometheus.node_label),
      KB_CONFIG_FIELD(DurationField, "prometheus.refreshInterval", prometheus.refresh_interval),
      KB_CONFIG_FIELD(DurationField, "prometheus.maxAge", prometheus.max_age),
      KB_CONFIG_FIELD(DurationField, "prometheus.timeout", prometheus.timeout),
      KB_CONFIG_FIELD(StringField, "prometheus.rateWindow", prometheus.rate_window),
      KB_CONFIG_FIELD(StringField, "prometheus.caFile", prometheus.ca_file),
      KB_CONFIG_FIELD(BoolField, "prometheus.insecureSkipVerify", prometheus.insecure_skip_verify),
      KB_CONFIG_FIELD(StringField, "prometheus.bearerTokenFile", prometheus.bearer_token_file),
      KB_CONFIG_FIELD(StringField, "prometheus.cpuTimestampQuery", prometheus.cpu_timestamp_query),
      KB_CONFIG_FIELD(StringField, "prometheus.memoryTimestampQuery",
                      prometheus.memory_timestamp_query),
      KB_CONFIG_FIELD(StringField, "prometheus.podCpuQuery", prometheus.pod_cpu_query),
      KB_CONFIG_FIELD(StringField, "prometheus.podMemoryQuery", prometheus.pod_memory_query),
  };
}

std::vector<FieldSpec> ScoringFields() {
  return {
      KB_CONFIG_FIELD(NumberField, "scoring.cpuWeight", scoring.cpu_weight),
      KB_CONFIG_FIELD(NumberField, "scoring.memoryWeight", scoring.memory_weight),
      KB_CONFIG_FIELD(NumberField, "scoring.leastAllocatedWeight", scoring.least_allocated_weight),
      KB_CONFIG_FIELD(NumberField, "scoring.balanceWeight", scoring.balance_weight),
      KB_CONFIG_FIELD(DurationField, "scoring.estimationWindow", scoring.estimation_window),
      KB_CONFIG_FIELD(StringField, "scoring.freshPodUsage", scoring.fresh_pod_usage),
      KB_CONFIG_FIELD(NumberField, "scoring.freshPodFraction", scoring.fresh_pod_fraction),
      KB_CONFIG_FIELD(NumberField, "scoring.minSpread", scoring.min_spread),
      KB_CONFIG_FIELD(BoolField, "scoring.filterOnRequests", scoring.filter_on_requests),
      KB_CONFIG_FIELD(DurationField, "scoring.tentativeWindow", scoring.tentative_window),
  };
}

std::vector<FieldSpec> ReschedulerFields() {
  return {
      KB_CONFIG_FIELD(BoolField, "rescheduler.enabled", rescheduler.enabled),
      KB_CONFIG_FIELD(DurationField, "rescheduler.reschedulingInterval",
                      rescheduler.rescheduling_interval),
      KB_CONFIG_FIELD(StringListField, "rescheduler.enabledStrategies",
                      rescheduler.enabled_strategies),
      KB_CONFIG_FIELD(NumberField, "rescheduler.cpuThreshold", rescheduler.cpu_threshold),
      KB_CONFIG_FIELD(NumberField, "rescheduler.memoryThreshold", rescheduler.memory_threshold),
      KB_CONFIG_FIELD(NumberField, "rescheduler.imbalanceThreshold",
                      rescheduler.imbalance_threshold),
      KB_CONFIG_FIELD(NumberField, "rescheduler.hysteresisMargin", rescheduler.hysteresis_margin),
      KB_CONFIG_FIELD(IntField, "rescheduler.maxReschedulePods", rescheduler.max_reschedule_pods),
      KB_CONFIG_FIELD(IntField, "rescheduler.maxReschedulePodsPerNode",
                      rescheduler.max_reschedule_pods_per_node),
      KB_CONFIG_FIELD(IntField, "rescheduler.maxReschedulePodsPerNamespace",
                      rescheduler.max_reschedule_pods_per_namespace),
      KB_CONFIG_FIELD(StringListField, "rescheduler.excludedNamespaces",
                      rescheduler.excluded_namespaces),
      KB_CONFIG_FIELD(BoolField, "rescheduler.dryRun", rescheduler.dry_run),
      KB_CONFIG_FIELD(IntField, "rescheduler.consecutiveCycles", rescheduler.consecutive_cycles),
      KB_CONFIG_FIELD(DurationField, "rescheduler.cooldown", rescheduler.cooldown),
      KB_CONFIG_FIELD(NumberField, "rescheduler.minScoreGain", rescheduler.min_score_gain),
      KB_CONFIG_FIELD(DurationField, "rescheduler.steerWindow", rescheduler.steer_window),
      KB_CONFIG_FIELD(StringField, "rescheduler.steeringConfigMap",
                      rescheduler.steering_config_map),
      KB_CONFIG_FIELD(DurationField, "rescheduler.steeringSyncInterval",
                      rescheduler.steering_sync_interval),
      KB_CONFIG_FIELD(IntField, "rescheduler.steeringMaxEntries", rescheduler.steering_max_entries),
      KB_CONFIG_FIELD(DurationField, "rescheduler.replacementTimeout",
                      rescheduler.replacement_timeout),
      KB_CONFIG_FIELD(IntField, "rescheduler.evictionGracePeriodSeconds",
                      rescheduler.eviction_grace_seconds),
      KB_CONFIG_FIELD(StringListField, "rescheduler.schedulerNames", rescheduler.scheduler_names),
      KB_CONFIG_FIELD(StringListField, "rescheduler.namespaces.include",
                      rescheduler.namespaces.include),
      KB_CONFIG_FIELD(StringListField, "rescheduler.namespaces.exclude",
                      rescheduler.namespaces.exclude),
      KB_CONFIG_FIELD(config_internal::LabelSelectorField, "rescheduler.podSelector",
                      rescheduler.pod_selector),
      KB_CONFIG_FIELD(config_internal::PriorityThresholdField, "rescheduler.priorityThreshold",
                      rescheduler.priority_threshold),
      KB_CONFIG_FIELD(config_internal::NodeGroupsField, "rescheduler.nodeGroups",
                      rescheduler.node_groups),
      KB_CONFIG_FIELD(IntField, "rescheduler.maxEvictionsPerHour",
                      rescheduler.max_evictions_per_hour),
      KB_CONFIG_FIELD(IntField, "rescheduler.breaker.failures", rescheduler.breaker.failures),
      KB_CONFIG_FIELD(DurationField, "rescheduler.breaker.coolOff", rescheduler.breaker.cool_off),
      KB_CONFIG_FIELD(DurationField, "rescheduler.maxCacheAge", rescheduler.max_cache_age),
  };
}

std::vector<FieldSpec> ProtectionsFields() {
  return {
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.daemonSetPods",
                      rescheduler.protections.daemon_set_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.mirrorPods",
                      rescheduler.protections.mirror_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.systemCriticalPods",
                      rescheduler.protections.system_critical_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.localStoragePods",
                      rescheduler.protections.local_storage_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.barePods",
                      rescheduler.protections.bare_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.terminatingPods",
                      rescheduler.protections.terminating_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.optOutLabel",
                      rescheduler.protections.opt_out_label),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.notReadyPods",
                      rescheduler.protections.not_ready_pods),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.unavailableWorkloads",
                      rescheduler.protections.unavailable_workloads),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.singleReplicaWorkloads",
                      rescheduler.protections.single_replica_workloads),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.pdbPrecheck",
                      rescheduler.protections.pdb_precheck),
      KB_CONFIG_FIELD(BoolField, "rescheduler.protections.pvcPods",
                      rescheduler.protections.pvc_pods),
  };
}

std::vector<FieldSpec> LeaderElectionFields() {
  return {
      KB_CONFIG_FIELD(BoolField, "rescheduler.leaderElection.enabled",
                      rescheduler.leader_election.enabled),
      KB_CONFIG_FIELD(StringField, "rescheduler.leaderElection.leaseName",
                      rescheduler.leader_election.lease_name),
      KB_CONFIG_FIELD(StringField, "rescheduler.leaderElection.leaseNamespace",
                      rescheduler.leader_election.lease_namespace),
      KB_CONFIG_FIELD(StringField, "rescheduler.leaderElection.identity",
                      rescheduler.leader_election.identity),
      KB_CONFIG_FIELD(DurationField, "rescheduler.leaderElection.leaseDuration",
                      rescheduler.leader_election.lease_duration),
      KB_CONFIG_FIELD(DurationField, "rescheduler.leaderElection.renewDeadline",
                      rescheduler.leader_election.renew_deadline),
      KB_CONFIG_FIELD(DurationField, "rescheduler.leaderElection.retryPeriod",
                      rescheduler.leader_election.retry_period),
  };
}

std::vector<FieldSpec> KubeClientFields() {
  return {
      KB_CONFIG_FIELD(NumberField, "kubeClient.qps", kube_client.qps),
      KB_CONFIG_FIELD(IntField, "kubeClient.burst", kube_client.burst),
      KB_CONFIG_FIELD(DurationField, "kubeClient.timeout", kube_client.timeout),
      KB_CONFIG_FIELD(DurationField, "kubeClient.idleConnectionTimeout",
                      kube_client.idle_connection_timeout),
      KB_CONFIG_FIELD(DurationField, "kubeClient.maxCacheStaleness",
                      kube_client.max_cache_staleness),
  };
}

// Every key the configuration file may set, in the order of docs/configuration.md.
const std::vector<FieldSpec>& Fields() {
  static const std::vector<FieldSpec> kFields = [] {
    std::vector<FieldSpec> all;
    for (auto section : {ServingFields, PrometheusFields, ScoringFields, ReschedulerFields,
                         ProtectionsFields, LeaderElectionFields, KubeClientFields}) {
      for (FieldSpec& f : section()) all.push_back(std::move(f));
    }
    return all;
  }();
  return kFields;
}

#undef KB_CONFIG_FIELD

const FieldSpec* FindField(const std::string& key) {
  for (const FieldSpec& f : Fields()) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

Status UnknownKey(const std::string& key) {
  // Suggest the closest accepted key (typos such as "cpuThresold" are the usual cause).
  std::string best;
  size_t best_distance = 4;
  for (const std::string& candidate : ConfigKeys()) {
    const size_t d = EditDistance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  for (const std::string& section : Sections()) {
    const size_t d = EditDistance(key, section);
    if (d < best_distance) {
      best_distance = d;
      best = section;
    }
  }
  std::string message = "unknown key " + Quote(key);
  if (!best.empty()) message += " (did you mean " + Quote(best) + "?)";
  return Status::InvalidArgument(message);
}

Status ApplyMapping(const YAML::Node& map, const std::string& prefix, Config& config) {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies, not references: yaml-cpp's iterator yields a temporary key/value pair.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      return Status::InvalidArgument((prefix.empty() ? std::string("<root>") : prefix) +
                                     ": keys must be strings");
    }
    const std::string name = key_node.Scalar();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (!seen.insert(name).second) return Status::InvalidArgument("duplicate key " + Quote(key));
    if (Sections().count(key)) {
      if (value.IsNull()) continue;  // "tls:" with nothing under it: keep the defaults
      if (!value.IsMap()) {
        return Invalid(key, value.IsScalar() ? value.Scalar() : "<sequence>", "expected a mapping");
      }
      KB_RETURN_IF_ERROR(ApplyMapping(value, key, config));
      continue;
    }
    const FieldSpec* field = FindField(key);
    if (field == nullptr) return UnknownKey(key);
    // An explicit null ("url:" or "url: null") keeps the default.
    if (value.IsNull()) continue;
    KB_RETURN_IF_ERROR(field->set(value, key, config));
  }
  return Status::Ok();
}

}  // namespace

namespace config_internal {

// A scalar's text, or an error naming the key when the node is a mapping or a sequence.
StatusOr<std::string> ScalarText(const YAML::Node& node, const std::string& key,
                                 const std::string& expected) {
  if (!node.IsScalar()) {
    return Invalid(key, node.IsMap() ? "<mapping>" : "<sequence>", expected);
  }
  return node.Scalar();
}

StatusOr<double> ParseNumber(const YAML::Node& node, const std::string& key) {
  static const std::string kExpected = "expected a number";
  KB_ASSIGN_OR_RETURN(std::string text, ScalarText(node, key, kExpected));
  std::string_view sv = text;
  if (!sv.empty() && sv.front() == '+') sv.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), value);
  if (sv.empty() || ec != std::errc() || ptr != sv.data() + sv.size() || !std::isfinite(value)) {
    return Invalid(key, text, kExpected);
  }
  return value;
}

StatusOr<int64_t> ParseInteger(const YAML::Node& node, const std::string& key, int64_t min,
                               int64_t max) {
  static const std::string kExpected = "expected an integer";
  KB_ASSIGN_OR_RETURN(std::string text, ScalarText(node, key, kExpected));
  std::string_view sv = text;
  if (!sv.empty() && sv.front() == '+') sv.remove_prefix(1);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), value);
  if (sv.empty() || ec != std::errc() || ptr != sv.data() + sv.size()) {
    return Invalid(key, text, kExpected);
  }
  if (value < min || value > max) {
    return Invalid(
        key, text,
        "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

Status Invalid(const std::string& key, const std::string& value, const std::string& expected) {
  return Status::InvalidArgument(key + ": invalid value " + Quote(value) + ": " + expected);
}

bool InRange(double v, double lo, double hi) { return v >= lo && v <= hi; }

std::string FormatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Status OutOfRange(const std::string& key, double value, const std::string& rule) {
  return Status::InvalidArgument(key + ": invalid value " + Quote(FormatNumber(value)) + ": " +
                                 rule);
}

}  // namespace config_internal

StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address,
                                                    const std::string& key) {
  const std::string expected = "expected host:port";
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Invalid(key, address, expected);
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return Invalid(key, address, "expected host:port (bracket IPv6 addresses: [::1]:8888)");
  }
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return Invalid(key, address, "expected a port in [0, 65535]");
  }
  if (host.empty()) host = "0.0.0.0";  // Go's ":8888" listens on every interface
  return std::make_pair(host, port);
}

Millis EffectiveBindTimeout(const Config& config) {
  if (config.bind_timeout.count() > 0) return config.bind_timeout;
  return config.scheduler_http_timeout * 3 / 4;
}

StatusOr<Millis> ParseDuration(const std::string& text) {
  // time.ParseDuration's grammar: [0-9]*(\.[0-9]*)?unit, repeated; "0" alone is allowed.
  // Negative durations are meaningless in this configuration and are rejected.
  auto invalid = [&text]() {
    return Status::InvalidArgument("invalid duration " + Quote(text) +
                                   ": expected e.g. 300ms, 30s, 2m, 1h30m");
  };
  if (text == "0") return Millis(0);
  if (text.empty()) return invalid();
  size_t i = 0;
  if (text[0] == '+') ++i;
  if (i == text.size()) return invalid();
  long double total_ns = 0;
  while (i < text.size()) {
    const size_t start = i;
    long double value = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      digits = true;
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        value += (text[i] - '0') * scale;
        scale /= 10;
        digits = true;
        ++i;
      }
    }
    if (!digits || i == start) return invalid();
    const size_t unit_start = i;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9') && text[i] != '.') ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    long double unit_ns = 0;
    if (unit == "ns") {
      unit_ns = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      unit_ns = 1e3L;
    } else if (unit == "ms") {
      unit_ns = 1e6L;
    } else if (unit == "s") {
      unit_ns = 1e9L;
    } else if (unit == "m") {
      unit_ns = 60e9L;
    } else if (unit == "h") {
      unit_ns = 3600e9L;
    } else {
      return invalid();
    }
    total_ns += value * unit_ns;
    if (total_ns > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return invalid();
    }
  }
  const long double ms = total_ns / 1e6L;
  if (total_ns > 0 && ms < 1) {
    return Status::InvalidArgument("invalid duration " + Quote(text) +
                                   ": below the 1ms resolution");
  }
  return Millis(static_cast<int64_t>(std::llround(ms)));
}

std::string FormatDuration(Millis d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  if (ms < 1000) return out + std::to_string(ms) + "ms";
  const int64_t hours = ms / 3600000;
  ms %= 3600000;
  const int64_t minutes = ms / 60000;
  ms %= 60000;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (minutes > 0) out += std::to_string(minutes) + "m";
  if (ms > 0) {
    out += std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
      char frac[8];
      std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(ms % 1000));
      std::string f = frac;
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    out += "s";
  }
  return out;
}

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> keys;
  for (const FieldSpec& f : Fields()) keys.emplace_back(f.key);
  return keys;
}

StatusOr<Config> ParseConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("invalid YAML at line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Config config;
  try {
    if (root.IsDefined() && !root.IsNull()) {
      if (!root.IsMap())
        return Status::InvalidArgument("config: expected a YAML mapping at the top");
      KB_RETURN_IF_ERROR(ApplyMapping(root, "", config));
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("invalid YAML: " + e.msg);
  }
  // rescheduler.schedulerNames defaults to the scheduler this extender serves.
  if (!(root.IsMap() && root["rescheduler"].IsMap() &&
        root["rescheduler"]["schedulerNames"].IsDefined() &&
        !root["rescheduler"]["schedulerNames"].IsNull())) {
    config.rescheduler.scheduler_names = {config.scheduler_name};
  }
  KB_RETURN_IF_ERROR(ValidateConfig(config));
  PrometheusConfig& p = config.prometheus;
  // A default value query gets its default scrape-time query; a custom one keeps what was given
  // (none: its samples are timed at the evaluation, see docs/configuration.md).
  if (p.cpu_query.empty()) {
    p.cpu_query = DefaultCpuQuery(p.node_label, p.rate_window);
    if (p.cpu_timestamp_query.empty())
      p.cpu_timestamp_query = DefaultCpuTimestampQuery(p.node_label);
  }
  if (p.memory_query.empty()) {
    p.memory_query = DefaultMemoryQuery(p.node_label);
    if (p.memory_timestamp_query.empty()) {
      p.memory_timestamp_query = DefaultMemoryTimestampQuery(p.node_label);
    }
  }
  if (p.pod_cpu_query.empty()) p.pod_cpu_query = DefaultPodCpuQuery(p.rate_window);
  if (p.pod_memory_query.empty()) p.pod_memory_query = DefaultPodMemoryQuery();
  return config;
}

StatusOr<Config> LoadConfigFile(const std::string& path) {
  // An ifstream opens a directory and reads nothing, which would parse as "all defaults": only a
  // regular file (or a symlink to one, as a mounted ConfigMap is) is accepted.
  struct stat st {};
  const bool found = ::stat(path.c_str(), &st) == 0, regular = found && S_ISREG(st.st_mode);
  std::ifstream in;
  if (regular) in.open(path, std::ios::binary);
  if (!regular || !in) {
    const std::string why = !regular && found
                                ? (S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file")
                                : std::strerror(errno);
    return Status::InvalidArgument("cannot read config file " + Quote(path) + ": " + why);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument("cannot read config file " + Quote(path));
  StatusOr<Config> config = ParseConfig(text.str());
  if (!config.ok()) return config.status().Annotate(path);
  return config;
}

}  // namespace kb
