// Tests of the rescheduler's scope, node group and safety keys (core/config_rescheduler.cc and
// config_validate.cc): defaults, accepted forms, and errors that name the key.
#include <catch2/catch.hpp>

#include "core/config.h"

namespace kb {
namespace {

TEST_CASE("scope keys default to this scheduler and every namespace", "[config]") {
  StatusOr<Config> c = ParseConfig("");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.scheduler_names == std::vector<std::string>{"kube-balancer"});
  CHECK(c->rescheduler.namespaces.include.empty());
  CHECK(c->rescheduler.namespaces.exclude.empty());
  CHECK(c->rescheduler.pod_selector.Empty());
  CHECK_FALSE(c->rescheduler.priority_threshold.Set());
  CHECK_FALSE(c->rescheduler.protections.pvc_pods);
  CHECK(c->rescheduler.node_groups.empty());
  CHECK(c->rescheduler.EvictionsPerHour() == 60);  // 6 * maxReschedulePods
  CHECK(c->rescheduler.breaker.failures == 3);
  CHECK(c->rescheduler.breaker.cool_off == Millis(600000));
  CHECK(c->rescheduler.max_cache_age == Millis(600000));

  // schedulerNames follows the top-level schedulerName unless given.
  c = ParseConfig("schedulerName: load-aware\n");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.scheduler_names == std::vector<std::string>{"load-aware"});
  c = ParseConfig("schedulerName: load-aware\nrescheduler: {schedulerNames: [a, b]}\n");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.scheduler_names == std::vector<std::string>{"a", "b"});
  c = ParseConfig("rescheduler: {maxReschedulePods: 4}\n");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.EvictionsPerHour() == 24);
}

TEST_CASE("scope keys parse selectors, priority thresholds and node groups", "[config]") {
  StatusOr<Config> c = ParseConfig(R"(
rescheduler:
  namespaces: {include: [apps, web], exclude: [web-canary]}
  podSelector:
    matchLabels: {tier: backend}
    matchExpressions:
    - {key: team, operator: In, values: [a, b]}
    - {key: pinned, operator: DoesNotExist}
  priorityThreshold: {name: batch-low}
  protections: {pvcPods: true}
  maxEvictionsPerHour: 30
  breaker: {failures: 5, coolOff: 15m}
  maxCacheAge: 2m
  nodeGroups:
  - name: gpu
    nodeSelector: {matchLabels: {pool: gpu}}
    cpuThreshold: 60
    imbalanceThreshold: 10
  - name: spot
    nodeSelector:
      matchExpressions: [{key: lifecycle, operator: In, values: [spot]}]
)");
  REQUIRE(c.ok());
  const ReschedulerConfig& r = c->rescheduler;
  CHECK(r.namespaces.include == std::vector<std::string>{"apps", "web"});
  CHECK(r.namespaces.exclude == std::vector<std::string>{"web-canary"});
  CHECK(r.pod_selector.match_labels.at("tier") == "backend");
  REQUIRE(r.pod_selector.match_expressions.size() == 2);
  CHECK(r.pod_selector.match_expressions[0].op == "In");
  CHECK(r.pod_selector.match_expressions[1].values.empty());
  CHECK(r.priority_threshold.name == "batch-low");
  CHECK_FALSE(r.priority_threshold.value.has_value());
  CHECK(r.protections.pvc_pods);
  CHECK(r.EvictionsPerHour() == 30);
  CHECK(r.breaker.failures == 5);
  CHECK(r.breaker.cool_off == Millis(900000));
  CHECK(r.max_cache_age == Millis(120000));
  REQUIRE(r.node_groups.size() == 2);
  CHECK(r.node_groups[0].name == "gpu");
  CHECK(r.node_groups[0].cpu_threshold == 60.0);
  CHECK_FALSE(r.node_groups[0].memory_threshold.has_value());
  CHECK(r.node_groups[0].imbalance_threshold == 10.0);
  CHECK(r.node_groups[1].node_selector.Matches({{"lifecycle", "spot"}}));
  CHECK_FALSE(r.node_groups[1].node_selector.Matches({{"lifecycle", "on-demand"}}));

  c = ParseConfig("rescheduler: {priorityThreshold: {value: 1000}}");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.priority_threshold.value == 1000);
}

TEST_CASE("bad scope config names the key", "[config]") {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"rescheduler: {nodeGroups: [{name: a, nodeSelector: {matchLabels: {x: y}}, cpuThresold: "
       "5}]}",
       "unknown key \"rescheduler.nodeGroups[0].cpuThresold\""},
      {"rescheduler: {podSelector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}}",
       "rescheduler.podSelector.matchExpressions[0].operator: invalid value \"Equals\""},
      {"rescheduler: {podSelector: {matchExpressions: [{key: a, operator: In}]}}",
       "rescheduler.podSelector.matchExpressions[0].values"},
      {"rescheduler: {podSelector: {matchExpressions: [{key: a, operator: Exists, values: [b]}]}}",
       "operator Exists takes no values"},
      {"rescheduler: {podSelector: {matchLabel: {a: b}}}",
       "unknown key \"rescheduler.podSelector.matchLabel\""},
      {"rescheduler: {priorityThreshold: {value: 10, name: low}}",
       "rescheduler.priorityThreshold: set either value or name, not both"},
      {"rescheduler: {priorityThreshold: {value: high}}",
       "rescheduler.priorityThreshold.value: invalid value \"high\""},
      {"rescheduler: {priorityThreshold: 10}", "rescheduler.priorityThreshold: invalid value"},
      {"rescheduler: {nodeGroups: [{name: a}]}", "rescheduler.nodeGroups[0].nodeSelector"},
      {"rescheduler: {nodeGroups: [{name: a, nodeSelector: {}}]}",
       "rescheduler.nodeGroups[0].nodeSelector: invalid value \"{}\""},
      {"rescheduler: {nodeGroups: [{name: a, nodeSelector: {matchLabels: {x: y}}, "
       "cpuThreshold: 120}]}",
       "rescheduler.nodeGroups[0].cpuThreshold: invalid value \"120\""},
      {"rescheduler: {nodeGroups: [{name: a, nodeSelector: {matchLabels: {x: y}}}, "
       "{name: a, nodeSelector: {matchLabels: {x: z}}}]}",
       "rescheduler.nodeGroups[1].name: invalid value \"a\": listed twice"},
      {"rescheduler: {schedulerNames: []}", "rescheduler.schedulerNames"},
      {"rescheduler: {namespaces: {include: [\"\"]}}", "rescheduler.namespaces.include[0]"},
      {"rescheduler: {namespaces: {only: [a]}}", "unknown key \"rescheduler.namespaces.only\""},
      {"rescheduler: {maxEvictionsPerHour: -2}", "rescheduler.maxEvictionsPerHour"},
      {"rescheduler: {breaker: {failures: 0}}", "rescheduler.breaker.failures"},
      {"rescheduler: {maxCacheAge: 0s}", "rescheduler.maxCacheAge"},
  };
  for (const Case& tc : cases) {
    INFO(tc.yaml);
    StatusOr<Config> c = ParseConfig(tc.yaml);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(c.status().message(), Catch::Contains(tc.error));
  }
}

}  // namespace
}  // namespace kb
