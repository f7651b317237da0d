// Tests of the configuration loader (core/config.cc): every accepted key, the error messages
// for unknown keys and invalid values, Go durations, cross-field validation, and that
// docs/configuration.md documents exactly ConfigKeys().
#include "core/config.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace kb {
namespace {

TEST_CASE("an empty config gives the documented defaults", "[config]") {
  for (const char* text : {"", "# only a comment\n", "---\n", "{}"}) {
    StatusOr<Config> c = ParseConfig(text);
    REQUIRE(c.ok());
    CHECK(c->listen == "0.0.0.0:8888");
    CHECK(c->max_request_bytes == 67108864);
    CHECK(c->log_format == "text");
    CHECK(c->scheduler_name == "kube-balancer");
    CHECK(c->prometheus.url.empty());
    CHECK(c->prometheus.refresh_interval == Millis(15000));
    CHECK(c->prometheus.max_age == Millis(120000));
    // The loader fills the default PromQL (DefaultCpuQuery / DefaultMemoryQuery).
    CHECK(c->prometheus.cpu_query == DefaultCpuQuery("node", "5m"));
    CHECK(c->prometheus.memory_query == DefaultMemoryQuery("node"));
    CHECK_FALSE(c->prometheus.cpu_query.empty());
    CHECK(c->rescheduler.cpu_threshold == 80.0);
    CHECK(c->rescheduler.enabled_strategies ==
          std::vector<std::string>{"LoadBalancing", "ResourceOptimization", "NodeMaintenance"});
    CHECK(c->rescheduler.excluded_namespaces ==
          std::vector<std::string>{"kube-system", "kube-public"});
    CHECK(c->rescheduler.leader_election.lease_duration == Millis(15000));
    CHECK(c->scoring.tentative_window == Millis(5000));
  }
}

TEST_CASE("every key of the issue's example config is read", "[config]") {
  const char* kYaml = R"(
listen: "127.0.0.1:9999"
tls: {certFile: "/tls/tls.crt", keyFile: "/tls/tls.key", clientCAFile: "/tls/ca.crt"}
maxRequestBytes: 64Mi
logFormat: json
schedulerName: load-aware-scheduler
serverThreads: 12
prometheus:
  url: "http://prometheus.monitoring:9090"
  cpuQuery: "my_cpu"
  memoryQuery: "my_mem"
  nodeLabel: instance_node
  refreshInterval: 10s
  maxAge: 1m30s
  timeout: 2500ms
  rateWindow: 2m
scoring:
  cpuWeight: 2
  memoryWeight: 0.5
  leastAllocatedWeight: 0
  balanceWeight: 1e0
  estimationWindow: 45s
  freshPodUsage: limits
  freshPodFraction: 0.8
rescheduler:
  enabled: false
  reschedulingInterval: 1m
  enabledStrategies: [LoadBalancing, NodeMaintenance]
  cpuThreshold: 75.5
  memoryThreshold: 70
  imbalanceThreshold: 15
  hysteresisMargin: 5
  maxReschedulePods: 4
  maxReschedulePodsPerNode: 2
  maxReschedulePodsPerNamespace: 3
  excludedNamespaces: [kube-system]
  dryRun: yes
  consecutiveCycles: 2
  cooldown: 1h30m
  minScoreGain: 1.5
  steerWindow: 1.5h
  replacementTimeout: 4m
  evictionGracePeriodSeconds: 30
  protections:
    daemonSetPods: true
    mirrorPods: true
    systemCriticalPods: false
    localStoragePods: off
    barePods: False
  leaderElection:
    enabled: true
    leaseName: kb
    leaseNamespace: kb-system
    identity: replica-1
    leaseDuration: 20s
    renewDeadline: 15s
    retryPeriod: 3s
kubeClient: {qps: 20, burst: 40, timeout: 7s}
)";
  StatusOr<Config> parsed = ParseConfig(kYaml);
  INFO(parsed.status().ToString());
  REQUIRE(parsed.ok());
  const Config& c = *parsed;
  CHECK(c.listen == "127.0.0.1:9999");
  CHECK(c.tls.cert_file == "/tls/tls.crt");
  CHECK(c.tls.key_file == "/tls/tls.key");
  CHECK(c.tls.client_ca_file == "/tls/ca.crt");
  CHECK(c.max_request_bytes == 64 * 1024 * 1024);
  CHECK(c.log_format == "json");
  CHECK(c.scheduler_name == "load-aware-scheduler");
  CHECK(c.server_threads == 12);
  CHECK(c.prometheus.url == "http://prometheus.monitoring:9090");
  CHECK(c.prometheus.cpu_query == "my_cpu");
  CHECK(c.prometheus.memory_query == "my_mem");
  CHECK(c.prometheus.node_label == "instance_node");
  CHECK(c.prometheus.refresh_interval == Millis(10000));
  CHECK(c.prometheus.max_age == Millis(90000));
  CHECK(c.prometheus.timeout == Millis(2500));
  CHECK(c.prometheus.rate_window == "2m");
  CHECK(c.scoring.cpu_weight == 2);
  CHECK(c.scoring.memory_weight == 0.5);
  CHECK(c.scoring.least_allocated_weight == 0);
  CHECK(c.scoring.balance_weight == 1);
  CHECK(c.scoring.estimation_window == Millis(45000));
  CHECK(c.scoring.fresh_pod_usage == "limits");
  CHECK(c.scoring.fresh_pod_fraction == 0.8);
  const ReschedulerConfig& r = c.rescheduler;
  CHECK_FALSE(r.enabled);
  CHECK(r.rescheduling_interval == Millis(60000));
  CHECK(r.enabled_strategies == std::vector<std::string>{"LoadBalancing", "NodeMaintenance"});
  CHECK(r.cpu_threshold == 75.5);
  CHECK(r.memory_threshold == 70);
  CHECK(r.imbalance_threshold == 15);
  CHECK(r.hysteresis_margin == 5);
  CHECK(r.max_reschedule_pods == 4);
  CHECK(r.max_reschedule_pods_per_node == 2);
  CHECK(r.max_reschedule_pods_per_namespace == 3);
  CHECK(r.excluded_namespaces == std::vector<std::string>{"kube-system"});
  CHECK(r.dry_run);
  CHECK(r.consecutive_cycles == 2);
  CHECK(r.cooldown == Millis(5400000));
  CHECK(r.min_score_gain == 1.5);
  CHECK(r.steer_window == Millis(5400000));
  CHECK(r.replacement_timeout == Millis(240000));
  CHECK(r.eviction_grace_seconds == 30);
  CHECK(r.protections.daemon_set_pods);
  CHECK(r.protections.mirror_pods);
  CHECK_FALSE(r.protections.system_critical_pods);
  CHECK_FALSE(r.protections.local_storage_pods);
  CHECK_FALSE(r.protections.bare_pods);
  CHECK(r.leader_election.enabled);
  CHECK(r.leader_election.lease_name == "kb");
  CHECK(r.leader_election.lease_namespace == "kb-system");
  CHECK(r.leader_election.identity == "replica-1");
  CHECK(r.leader_election.lease_duration == Millis(20000));
  CHECK(r.leader_election.renew_deadline == Millis(15000));
  CHECK(r.leader_election.retry_period == Millis(3000));
  CHECK(c.kube_client.qps == 20);
  CHECK(c.kube_client.burst == 40);
  CHECK(c.kube_client.timeout == Millis(7000));
}

TEST_CASE("null values and empty sections keep the defaults", "[config]") {
  StatusOr<Config> c = ParseConfig("tls:\nprometheus:\n  url:\nrescheduler:\n  cpuThreshold: ~\n");
  REQUIRE(c.ok());
  CHECK(c->prometheus.url.empty());
  CHECK(c->rescheduler.cpu_threshold == 80.0);
  // An explicit empty list is not null: it clears the defaults.
  c = ParseConfig("rescheduler: {enabled: false, excludedNamespaces: [], enabledStrategies: []}");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.excluded_namespaces.empty());
  CHECK(c->rescheduler.enabled_strategies.empty());
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;  // a substring the error must contain
};

TEST_CASE("bad configs are rejected with the key and the value", "[config]") {
  const BadCase kCases[] = {
      {"unknown top-level key", "listn: x", "unknown key \"listn\" (did you mean \"listen\"?)"},
      {"unknown nested key", "rescheduler:\n  cpuThresold: 80",
       "unknown key \"rescheduler.cpuThresold\""},
      {"unknown deep key", "rescheduler: {leaderElection: {leaseDurration: 10s}}",
       "unknown key \"rescheduler.leaderElection.leaseDurration\""},
      {"unknown section", "scorin: {}", "unknown key \"scorin\""},
      {"not a number", "rescheduler:\n  cpuThreshold: abc",
       "rescheduler.cpuThreshold: invalid value \"abc\": expected a number"},
      {"nan is not a number", "scoring: {cpuWeight: .nan}",
       "scoring.cpuWeight: invalid value \".nan\": expected a number"},
      {"trailing garbage in a number", "scoring: {cpuWeight: 1x}",
       "scoring.cpuWeight: invalid value \"1x\": expected a number"},
      {"not an integer", "rescheduler: {maxReschedulePods: 2.5}",
       "rescheduler.maxReschedulePods: invalid value \"2.5\": expected an integer"},
      {"integer overflow", "rescheduler: {maxReschedulePods: 99999999999}",
       "rescheduler.maxReschedulePods: invalid value \"99999999999\": expected an integer in"},
      {"not a bool", "rescheduler: {dryRun: maybe}",
       "rescheduler.dryRun: invalid value \"maybe\": expected true or false"},
      {"duration without unit", "prometheus: {refreshInterval: 10}",
       "prometheus.refreshInterval: invalid value \"10\": expected a duration"},
      {"negative duration", "prometheus: {maxAge: -1s}",
       "prometheus.maxAge: invalid value \"-1s\": expected a duration"},
      {"empty duration", "prometheus: {timeout: \"\"}",
       "prometheus.timeout: invalid value \"\": expected a duration"},
      {"mapping for a scalar", "listen: {host: x}",
       "listen: invalid value \"<mapping>\": expected a string"},
      {"scalar for a section", "prometheus: http://x",
       "prometheus: invalid value \"http://x\": expected a mapping"},
      {"scalar for a list", "rescheduler: {excludedNamespaces: kube-system}",
       "rescheduler.excludedNamespaces: invalid value \"kube-system\": expected a list"},
      {"mapping in a list", "rescheduler: {excludedNamespaces: [{a: b}]}",
       "rescheduler.excludedNamespaces[0]: invalid value \"<mapping>\""},
      {"bad byte count", "maxRequestBytes: lots",
       "maxRequestBytes: invalid value \"lots\": expected a byte count"},
      {"zero request bytes", "maxRequestBytes: 0", "maxRequestBytes: invalid value \"0\""},
      {"threshold above 100", "rescheduler: {cpuThreshold: 101}",
       "rescheduler.cpuThreshold: invalid value \"101\": must be in [0, 100]"},
      {"threshold below 0", "rescheduler: {memoryThreshold: -1}",
       "rescheduler.memoryThreshold: invalid value \"-1\": must be in [0, 100]"},
      {"negative weight", "scoring: {balanceWeight: -0.5}",
       "scoring.balanceWeight: invalid value \"-0.5\": must be >= 0"},
      {"bad steering configmap name", "rescheduler: {steeringConfigMap: Steering_CM}",
       "rescheduler.steeringConfigMap: invalid value \"Steering_CM\""},
      {"steering sync too fast", "rescheduler: {steeringSyncInterval: 10ms}",
       "rescheduler.steeringSyncInterval: invalid value \"10ms\": must be in [100ms, 60s]"},
      {"no steering entries", "rescheduler: {steeringMaxEntries: 0}",
       "rescheduler.steeringMaxEntries: invalid value \"0\""},
      {"tentative window too long", "scoring: {tentativeWindow: 2m}",
       "scoring.tentativeWindow: invalid value \"2m\": must be in [0s, 60s]"},
      {"all weights zero",
       "scoring: {cpuWeight: 0, memoryWeight: 0, leastAllocatedWeight: 0, balanceWeight: 0}",
       "must be > 0"},
      {"lease not above renew",
       "rescheduler: {leaderElection: {leaseDuration: 10s, renewDeadline: 10s}}",
       "leaseDuration (10s) must be greater than renewDeadline (10s)"},
      {"renew not above 1.2 retry",
       "rescheduler: {leaderElection: {renewDeadline: 2400ms, retryPeriod: 2s}}",
       "renewDeadline (2.4s) must be greater than 1.2 * retryPeriod (2s)"},
      {"log format", "logFormat: xml", "logFormat: invalid value \"xml\": expected text or json"},
      {"fresh pod usage", "scoring: {freshPodUsage: usage}",
       "scoring.freshPodUsage: invalid value \"usage\": expected requests or limits"},
      {"unknown strategy", "rescheduler: {enabledStrategies: [LoadBalancing, Spread]}",
       "rescheduler.enabledStrategies[1]: invalid value \"Spread\""},
      {"duplicate strategy", "rescheduler: {enabledStrategies: [NodeMaintenance, NodeMaintenance]}",
       "listed twice"},
      {"listen without port", "listen: localhost", "listen: invalid value \"localhost\""},
      {"listen bad port", "listen: \"0.0.0.0:99999\"", "listen: invalid value \"0.0.0.0:99999\""},
      {"listen unbracketed ipv6", "listen: \"::1:80\"", "listen: invalid value \"::1:80\""},
      {"cert without key", "tls: {certFile: /a.crt}", "certFile and keyFile must be set together"},
      {"client CA without cert", "tls: {clientCAFile: /ca.crt}", "tls.clientCAFile: requires"},
      {"prometheus url scheme", "prometheus: {url: prom:9090}",
       "prometheus.url: invalid value \"prom:9090\""},
      {"prometheus url without host", "prometheus: {url: \"http://\"}",
       "prometheus.url: invalid value \"http://\": missing host"},
      {"prometheus url port out of range", "prometheus: {url: \"http://prom:99999/x\"}",
       "prometheus.url: invalid value \"http://prom:99999/x\": bad port"},
      {"zero refresh", "prometheus: {refreshInterval: 0}", "prometheus.refreshInterval"},
      {"bad rate window", "prometheus: {rateWindow: five}", "prometheus.rateWindow"},
      {"malformed yaml", "rescheduler: {cpuThreshold: [", "invalid YAML at line"},
      {"duplicate key", "listen: a:1\nlisten: b:2", "duplicate key \"listen\""},
      {"top-level list", "- a\n- b", "expected a YAML mapping"},
      {"consecutive cycles", "rescheduler: {consecutiveCycles: 0}",
       "rescheduler.consecutiveCycles"},
      {"grace below -1", "rescheduler: {evictionGracePeriodSeconds: -2}",
       "rescheduler.evictionGracePeriodSeconds"},
      {"qps", "kubeClient: {qps: 0}", "kubeClient.qps"},
  };
  for (const BadCase& tc : kCases) {
    DYNAMIC_SECTION(tc.name) {
      StatusOr<Config> c = ParseConfig(tc.yaml);
      REQUIRE_FALSE(c.ok());
      CHECK(c.status().code() == StatusCode::kInvalidArgument);
      INFO("message: " << c.status().message());
      CHECK_THAT(c.status().message(), Catch::Matchers::Contains(tc.message));
    }
  }
}

TEST_CASE("LoadConfigFile names an unreadable path", "[config]") {
  StatusOr<Config> c = LoadConfigFile("/nonexistent/kube-balancer.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(c.status().message(), Catch::Matchers::Contains("/nonexistent/kube-balancer.yaml"));
}

TEST_CASE("ParseDuration follows Go's time.ParseDuration", "[config]") {
  const std::pair<const char*, int64_t> kGood[] = {
      {"300ms", 300}, {"30s", 30000}, {"2m", 120000},     {"1h30m", 5400000}, {"1.5h", 5400000},
      {"0", 0},       {"0s", 0},      {"1m30.5s", 90500}, {"1000us", 1},      {"1500000ns", 2},
      {"+5s", 5000},  {".5s", 500},   {"1h0m0s", 3600000}};
  for (const auto& [text, ms] : kGood) {
    StatusOr<Millis> d = ParseDuration(text);
    INFO(text);
    REQUIRE(d.ok());
    CHECK(d->count() == ms);
  }
  for (const char* text :
       {"", "10", "-1s", "s", "1x", "1.2.3s", "1s2", "abc", " 1s", "1 s", "100us", "1e3s"}) {
    INFO(text);
    CHECK_FALSE(ParseDuration(text).ok());
  }
}

TEST_CASE("FormatDuration is compact and round-trips", "[config]") {
  CHECK(FormatDuration(Millis(0)) == "0s");
  CHECK(FormatDuration(Millis(300)) == "300ms");
  CHECK(FormatDuration(Millis(30000)) == "30s");
  CHECK(FormatDuration(Millis(120000)) == "2m");
  CHECK(FormatDuration(Millis(5400000)) == "1h30m");
  CHECK(FormatDuration(Millis(2400)) == "2.4s");
  CHECK(FormatDuration(Millis(3661001)) == "1h1m1.001s");
  for (int64_t ms : {1, 999, 1000, 1001, 59999, 60000, 3599999, 3600000, 86400000}) {
    StatusOr<Millis> back = ParseDuration(FormatDuration(Millis(ms)));
    REQUIRE(back.ok());
    CHECK(back->count() == ms);
  }
}

TEST_CASE("ParseHostPort accepts host:port forms", "[config]") {
  auto hp = ParseHostPort("0.0.0.0:8888");
  REQUIRE(hp.ok());
  CHECK(hp->first == "0.0.0.0");
  CHECK(hp->second == 8888);
  hp = ParseHostPort("[::1]:443");
  REQUIRE(hp.ok());
  CHECK(hp->first == "::1");
  hp = ParseHostPort(":9000");
  REQUIRE(hp.ok());
  CHECK(hp->first == "0.0.0.0");
  CHECK(hp->second == 9000);
  CHECK_FALSE(ParseHostPort("host:").ok());
  CHECK_FALSE(ParseHostPort("host:-1").ok());
}

TEST_CASE("ConfigKeys are unique and every one parses", "[config]") {
  const std::vector<std::string> keys = ConfigKeys();
  const std::set<std::string> unique(keys.begin(), keys.end());
  CHECK(unique.size() == keys.size());
  CHECK(unique.count("rescheduler.cpuThreshold"));
  CHECK(unique.count("rescheduler.leaderElection.retryPeriod"));
  CHECK(unique.count("prometheus.url"));
  // Setting a key to null is accepted for every key, which proves the walker knows its path.
  for (const std::string& key : keys) {
    std::string yaml;
    std::string indent;
    size_t start = 0;
    while (true) {
      const size_t dot = key.find('.', start);
      yaml += indent + key.substr(start, dot - start) + ":";
      if (dot == std::string::npos) break;
      yaml += "\n";
      indent += "  ";
      start = dot + 1;
    }
    yaml += " null\n";
    INFO(yaml);
    CHECK(ParseConfig(yaml).ok());
  }
}

TEST_CASE("every field of core/config.h is accepted by the loader", "[config]") {
  // Each field line in core/config.h ends with a comment naming its YAML key first
  // ("double cpu_threshold = 80.0;  // cpuThreshold: ..."); a field added to a struct without a
  // loader entry in core/config.cc would be unreachable from the YAML file.
  std::ifstream in(std::string(KB_SOURCE_DIR) + "/core/config.h");
  REQUIRE(in.good());
  const std::regex field(R"(^\s+[\w:<>, ]+?\s\w+(\s*=[^;]*|\{[^}]*\})?;\s*//\s*(\w+))");
  const std::set<std::string> kSections = {
      "tls",        "metrics",     "prometheus", "scoring",        "rescheduler",
      "kubeClient", "protections", "namespaces", "leaderElection", "breaker"};
  std::set<std::string> leaves;
  for (const std::string& key : ConfigKeys()) leaves.insert(key.substr(key.rfind('.') + 1));
  std::string line;
  int fields = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, field)) continue;
    const std::string key = m[2];
    if (kSections.count(key)) continue;
    ++fields;
    INFO("core/config.h field without a loader entry: " << key);
    CHECK(leaves.count(key));
  }
  CHECK(fields >= 50);
}

TEST_CASE("docs/configuration.md documents exactly ConfigKeys()", "[config]") {
  std::ifstream in(std::string(KB_SOURCE_DIR) + "/docs/configuration.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  // Table rows whose first cell is a key in backticks: | `rescheduler.cpuThreshold` | ...
  const std::regex row(R"(^\|\s*`([A-Za-z0-9.]+)`\s*\|)");
  std::set<std::string> documented;
  std::string line;
  std::istringstream lines(text.str());
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) documented.insert(m[1]);
  }
  const std::vector<std::string> keys = ConfigKeys();
  const std::set<std::string> accepted(keys.begin(), keys.end());
  for (const std::string& key : accepted) {
    INFO("undocumented key: " << key);
    CHECK(documented.count(key));
  }
  for (const std::string& key : documented) {
    INFO("documented but not accepted: " << key);
    CHECK(accepted.count(key));
  }
}

}  // namespace
}  // namespace kb
