// kube-balancer's configuration: the YAML file given with --config, as plain structs with their
// defaults inline. Every key is documented in docs/configuration.md (a test keeps the two in step
// through ConfigKeys()). Loading rejects unknown keys and invalid values with an InvalidArgument
// naming the key path and the value, e.g. `rescheduler.cpuThreshold: "abc" is not a number`.
// Plain values; the loader is pure and thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace kb {

using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

struct TlsConfig {
  std::string cert_file;       // certFile: serve HTTPS when cert and key are set
  std::string key_file;        // keyFile
  std::string client_ca_file;  // clientCAFile: require client certificates signed by this CA
};

struct PrometheusConfig {
  std::string url;                  // url: "" = requests-based scoring only
  std::string cpu_query;            // cpuQuery: per-node CPU utilisation in percent (0..100)
  std::string memory_query;         // memoryQuery: per-node memory utilisation in percent (0..100)
  std::string node_label = "node";  // nodeLabel: label naming the node
  Millis refresh_interval{15000};   // refreshInterval: 15s
  Millis max_age{120000};           // maxAge: 2m; older samples are stale
  Millis timeout{5000};             // timeout: 5s per query
  std::string rate_window = "5m";   // rateWindow: window of rate() in the default cpuQuery
  // Added by the scoring module:
  std::string ca_file;                // caFile: "" = system CA store (https URLs)
  bool insecure_skip_verify = false;  // insecureSkipVerify: false; do not verify the server cert
  std::string bearer_token_file;      // bearerTokenFile: "" = none; re-read at every refresh
  // Added by the load sources. The timestamp queries return, per node, the time (unix seconds)
  // of the raw sample behind cpuQuery / memoryQuery, so maxAge measures the scrape, not the query
  // evaluation. Default: derived from the default queries; "" with a custom query = evaluation
  // time. The pod queries: per-pod usage by namespace and pod labels (cAdvisor series).
  std::string cpu_timestamp_query;     // cpuTimestampQuery
  std::string memory_timestamp_query;  // memoryTimestampQuery
  std::string pod_cpu_query;           // podCpuQuery: cores per pod
  std::string pod_memory_query;        // podMemoryQuery: working-set bytes per pod
};

// Where per-node and per-pod usage comes from (metrics.source).
inline constexpr char kMetricsSourceAuto[] = "auto";
inline constexpr char kMetricsSourcePrometheus[] = "prometheus";
inline constexpr char kMetricsSourceMetricsServer[] = "metricsServer";
inline constexpr char kMetricsSourceNone[] = "none";
struct MetricsConfig {
  std::string source = kMetricsSourceAuto;  // source: auto | prometheus | metricsServer | none
};

struct ScoringConfig {
  double cpu_weight = 1.0;              // cpuWeight: weight of real CPU utilisation
  double memory_weight = 1.0;           // memoryWeight: weight of real memory utilisation
  double least_allocated_weight = 1.0;  // leastAllocatedWeight: weight of requested/allocatable
  double balance_weight = 1.0;          // balanceWeight: weight of the CPU/memory balance term
  Millis estimation_window{60000};      // estimationWindow: 60s; fresh pods add estimated usage
  std::string fresh_pod_usage = "requests";  // freshPodUsage: requests | limits
  double fresh_pod_fraction = 1.0;           // freshPodFraction: share of requests/limits counted
  // Added by the scoring module:
  double min_spread = 0.05;  // minSpread: 0.05; raw-score range (0..1) that maps to the full 0..10
                             // (smaller ranges are not stretched: noise is not amplified)
  Millis tentative_window{5000};    // tentativeWindow: 5s; a pod counts on the node it scored
                                    // highest in prioritize (or the only node left after filter)
                                    // until its binding is seen or this passes; 0 = off
  bool filter_on_requests = false;  // filterOnRequests: false; apply cpu/memoryThreshold to the
                                    // requests-based fallback when a node's metrics are missing
                                    // or stale (false: fail open, only fresh metrics filter)
};

struct LeaderElectionConfig {
  bool enabled = true;                          // enabled
  std::string lease_name = "kube-balancer";     // leaseName
  std::string lease_namespace = "kube-system";  // leaseNamespace
  std::string identity;                         // identity: "" = <hostname>_<random>
  Millis lease_duration{15000};                 // leaseDuration: 15s
  Millis renew_deadline{10000};                 // renewDeadline: 10s
  Millis retry_period{2000};                    // retryPeriod: 2s
};

// Safety protections of the evictor; each defaults on.
struct ProtectionsConfig {
  bool daemon_set_pods = true;       // daemonSetPods
  bool mirror_pods = true;           // mirrorPods (mirror and static pods)
  bool system_critical_pods = true;  // systemCriticalPods (priority >= 2000000000)
  bool local_storage_pods = true;    // localStoragePods (emptyDir / hostPath volumes)
  bool bare_pods = true;             // barePods (unless labelled rescheduling=enabled)
  // Added by the rescheduler module:
  bool terminating_pods = true;  // terminatingPods: true; never move pods being deleted
  bool opt_out_label = true;     // optOutLabel: true; honour the label
                                 // scheduler.alpha.kubernetes.io/rescheduling=disabled
  bool not_ready_pods = true;    // notReadyPods: true; never move pods that are not Running+Ready
  bool unavailable_workloads = true;  // unavailableWorkloads: true; never move pods of a workload
                                      // mid-rollout or with unavailable / not-Ready replicas
  bool single_replica_workloads = true;  // singleReplicaWorkloads: true; a workload with one pod
                                         // moves only by a surge restart (else skipped)
  bool pdb_precheck = true;  // pdbPrecheck: true; skip pods whose PDB allows no disruption now
                             // (from the cache) instead of asking the API server for a 429
  bool pvc_pods = false;     // pvcPods: false; never move pods with a PersistentVolumeClaim
};

// rescheduler.namespaces: which namespaces' pods may move. Empty `include` = every namespace.
struct NamespaceScope {
  std::vector<std::string> include;  // include
  std::vector<std::string> exclude;  // exclude (same meaning as rescheduler.excludedNamespaces)
};

// rescheduler.priorityThreshold: only pods of a lower priority move. At most one of the two is set
// (the loader rejects both); `name` is resolved against the cluster's PriorityClasses each cycle.
struct PriorityThreshold {
  std::optional<int32_t> value;  // priorityThreshold.value
  std::string name;              // priorityThreshold.name: a PriorityClass
  bool Set() const { return value.has_value() || !name.empty(); }
};

// rescheduler.nodeGroups[i]: nodes matching `node_selector` are balanced among themselves, with
// their own thresholds (unset = the top-level rescheduler value).
struct NodeGroup {
  std::string name;                           // nodeGroups[].name
  LabelSelector node_selector;                // nodeGroups[].nodeSelector: a label selector
  std::optional<double> cpu_threshold;        // nodeGroups[].cpuThreshold
  std::optional<double> memory_threshold;     // nodeGroups[].memoryThreshold
  std::optional<double> imbalance_threshold;  // nodeGroups[].imbalanceThreshold
};

// rescheduler.breaker: pauses every strategy but NodeMaintenance when moves keep failing.
struct BreakerConfig {
  int failures = 3;         // failures: consecutive replacement timeouts / API errors that open it
  Millis cool_off{600000};  // coolOff: 10m; open this long, then closed again
};

// The rescheduler's strategies (rescheduler.enabledStrategies), in the order a cycle runs them:
// NodeMaintenance first (a drain must not wait for balancing), then ResourceOptimization (hot
// nodes), then LoadBalancing.
inline constexpr char kNodeMaintenance[] = "NodeMaintenance";
inline constexpr char kResourceOptimization[] = "ResourceOptimization";
inline constexpr char kLoadBalancing[] = "LoadBalancing";
inline constexpr const char* kStrategyNames[] = {kNodeMaintenance, kResourceOptimization,
                                                 kLoadBalancing};
inline bool IsStrategyName(std::string_view name) {
  return std::find(std::begin(kStrategyNames), std::end(kStrategyNames), name) !=
         std::end(kStrategyNames);
}

struct ReschedulerConfig {
  bool enabled = true;                  // enabled
  Millis rescheduling_interval{30000};  // reschedulingInterval: 30s
  std::vector<std::string> enabled_strategies{kLoadBalancing, kResourceOptimization,
                                              kNodeMaintenance};  // enabledStrategies
  double cpu_threshold = 80.0;        // cpuThreshold: percent; also the extender's filter threshold
  double memory_threshold = 80.0;     // memoryThreshold: percent; also the filter threshold
  double imbalance_threshold = 20.0;  // imbalanceThreshold: points of utilisation / % of mean pods
  double hysteresis_margin = 10.0;    // hysteresisMargin: shed until threshold - margin
  int max_reschedule_pods = 10;       // maxReschedulePods: per cycle
  int max_reschedule_pods_per_node = 5;       // maxReschedulePodsPerNode: per cycle
  int max_reschedule_pods_per_namespace = 5;  // maxReschedulePodsPerNamespace: per cycle
  std::vector<std::string> excluded_namespaces{"kube-system", "kube-public"};  // excludedNamespaces
  bool dry_run = false;                                                        // dryRun
  int consecutive_cycles = 3;                                                  // consecutiveCycles
  Millis cooldown{600000};                                                     // cooldown: 10m
  double min_score_gain = 2.0;          // minScoreGain: on the 0..10 extender scale
  Millis steer_window{300000};          // steerWindow: 5m
  Millis replacement_timeout{300000};   // replacementTimeout: 5m
  int64_t eviction_grace_seconds = -1;  // evictionGracePeriodSeconds: -1 = the pod's own
  // Scope: which pods may move. Pods outside it still count as load and capacity.
  std::vector<std::string> scheduler_names{"kube-balancer"};  // schedulerNames: default
                                                              // [<schedulerName>] (the loader)
  NamespaceScope namespaces;                                  // namespaces: {include, exclude}
  LabelSelector pod_selector;                                 // podSelector: empty = every pod
  PriorityThreshold priority_threshold;  // priorityThreshold: {value: N} or {name: <class>}
  std::vector<NodeGroup> node_groups;    // nodeGroups: first matching group wins
  int max_evictions_per_hour = -1;       // maxEvictionsPerHour: rolling budget of moves over any
                                         // hour; -1 = 6 * maxReschedulePods (EvictionsPerHour())
  BreakerConfig breaker;                 // breaker
  Millis max_cache_age{600000};          // maxCacheAge: 10m; a watched kind not confirmed current
                                         // (list, event or clean watch end) within it, or
                                         // disconnected, makes a cycle skip
  // Steering on every replica (the leader publishes, every replica reads):
  std::string steering_config_map = "kube-balancer-steering";  // steeringConfigMap: in the
                                                               // lease namespace
  Millis steering_sync_interval{1000};   // steeringSyncInterval: 1s; publish / read period
  int steering_max_entries = 500;        // steeringMaxEntries: entries kept in the ConfigMap
  ProtectionsConfig protections;         // protections
  LeaderElectionConfig leader_election;  // leaderElection

  // maxEvictionsPerHour, or its default 6 * maxReschedulePods (one busy cycle per 10 minutes).
  int EvictionsPerHour() const {
    return max_evictions_per_hour >= 0 ? max_evictions_per_hour : 6 * max_reschedule_pods;
  }
};

struct KubeClientConfig {
  double qps = 50;                        // qps: client-side request rate limit
  int burst = 100;                        // burst
  Millis timeout{10000};                  // timeout: per request (not watches)
  Millis idle_connection_timeout{30000};  // idleConnectionTimeout: pooled connections closed after
  Millis max_cache_staleness{60000};      // maxCacheStaleness: a kind unsynced longer -> not ready
};

struct Config {
  std::string listen = "0.0.0.0:8888";           // listen
  TlsConfig tls;                                 // tls
  int64_t max_request_bytes = 67108864;          // maxRequestBytes
  std::string log_format = "text";               // logFormat: text | json
  std::string scheduler_name = "kube-balancer";  // schedulerName
  int server_threads = 0;  // serverThreads: filter/prioritize computing at once; 0 = 2*ncpu+4
  // Added by the serving hardening (HTTP admission, listeners, binds):
  std::string metrics_listen;           // metricsListen: "" = /metrics and probes on `listen`
  int max_connections = 512;            // maxConnections: open connections per listener
  int64_t max_header_bytes = 16384;     // maxHeaderBytes: request line + headers
  int max_header_count = 64;            // maxHeaderCount: header fields per request
  int max_compression_ratio = 20;       // maxCompressionRatio: decompressed / compressed body bytes
  Millis read_timeout{5000};            // readTimeout: a whole request must arrive within this
  Millis write_timeout{10000};          // writeTimeout: each write of an answer
  Millis idle_timeout{120000};          // idleTimeout: idle keep-alive connections close after this
  Millis scheduler_http_timeout{2000};  // schedulerHttpTimeout: kube-scheduler's httpTimeout
  Millis bind_timeout{0};  // bindTimeout: 0 = 3/4 of schedulerHttpTimeout; a bind answers by then
  int max_concurrent_binds = 8;   // maxConcurrentBinds: binds in flight at once
  MetricsConfig metrics;          // metrics
  PrometheusConfig prometheus;    // prometheus
  ScoringConfig scoring;          // scoring
  ReschedulerConfig rescheduler;  // rescheduler
  KubeClientConfig kube_client;   // kubeClient
};

// The default cpuQuery / memoryQuery for `nodeLabel` and `rateWindow` (node_exporter series).
std::string DefaultCpuQuery(const std::string& node_label, const std::string& rate_window);
std::string DefaultMemoryQuery(const std::string& node_label);
// The scrape-time queries matching DefaultCpuQuery / DefaultMemoryQuery.
std::string DefaultCpuTimestampQuery(const std::string& node_label);
std::string DefaultMemoryTimestampQuery(const std::string& node_label);
// The default per-pod queries (cAdvisor series, summed over a pod's containers).
std::string DefaultPodCpuQuery(const std::string& rate_window);
std::string DefaultPodMemoryQuery();

// Parses YAML text. Unknown keys and invalid values -> InvalidArgument naming key and value.
// The result also passes ValidateConfig, and an empty cpuQuery / memoryQuery is replaced by
// DefaultCpuQuery / DefaultMemoryQuery. A key given as null ("url:") keeps its default.
StatusOr<Config> ParseConfig(const std::string& yaml_text);
// Reads and parses a file; an unreadable file -> InvalidArgument naming the path.
StatusOr<Config> LoadConfigFile(const std::string& path);
// Checks cross-field rules (thresholds in range, leaseDuration > renewDeadline
// > 1.2*retryPeriod..).
Status ValidateConfig(const Config& config);

// Splits "host:port" ("0.0.0.0:8888", "[::1]:8888", ":8888" = every interface; port 0..65535).
// Errors name `key`.
StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address,
                                                    const std::string& key = "listen");

// bindTimeout, or 3/4 of schedulerHttpTimeout when it is 0 (the bind's answer must reach
// kube-scheduler before it gives up on the call).
Millis EffectiveBindTimeout(const Config& config);

// Go-style durations: "300ms", "30s", "2m", "1h30m", "1.5h". InvalidArgument otherwise.
StatusOr<Millis> ParseDuration(const std::string& text);
std::string FormatDuration(Millis d);

// Every dotted key path the loader accepts ("rescheduler.cpuThreshold", ...), for the docs test.
std::vector<std::string> ConfigKeys();

}  // namespace kb
