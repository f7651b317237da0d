// Table-style tests of the three strategies over hand-built snapshots (BuildSnapshot +
// scoring::BuildLoadSnapshot): pure Plan() calls, no I/O.
#include "rescheduler/strategies.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "rescheduler/planner.h"
#include "test/rescheduler/resched_test_util.h"

namespace kb::resched {
namespace {

using kb::testing::PodBuilder;
using test::MakeNode;
using test::OurPod;
using test::RsPod;
using test::RsPodBuilder;
using test::TestCluster;

std::map<std::string, int> TargetsOf(const StrategyPlan& plan) {
  std::map<std::string, int> out;
  for (const PlannedMove& m : plan.moves) ++out[m.target];
  return out;
}

bool HasNoteContaining(const StrategyPlan& plan, const std::string& text) {
  return std::any_of(plan.notes.begin(), plan.notes.end(),
                     [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

const UnmovablePod* FindUnmovable(const StrategyPlan& plan, const std::string& pod) {
  for (const UnmovablePod& u : plan.unmovable) {
    if (u.pod->meta.name == pod) return &u;
  }
  return nullptr;
}

// Three workers; `per_rs` pods of each of `rs_count` ReplicaSets all on w1.
TestCluster Skewed(int rs_count, int per_rs) {
  TestCluster c;
  c.Add(MakeNode("w1")).Add(MakeNode("w2")).Add(MakeNode("w3"));
  for (int r = 0; r < rs_count; ++r) {
    for (int i = 0; i < per_rs; ++i) {
      c.Add(RsPod("rs" + std::to_string(r) + "-" + std::to_string(i), "rs" + std::to_string(r),
                  "w1"));
    }
  }
  return c;
}

// ---- LoadBalancing (pod count) ----------------------------------------------------------------

TEST_CASE("load balancing moves pods from the crowded node, one per workload per cycle",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = Skewed(4, 5);  // 20 pods on w1, mean 6.7, limit 8
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  REQUIRE(plan.moves.size() == 4);  // one per ReplicaSet
  std::set<std::string> workloads;
  for (const PlannedMove& m : plan.moves) {
    CHECK(m.strategy == kLoadBalancing);
    CHECK(m.source == "w1");
    CHECK(m.target != "w1");
    CHECK(m.score_gain >= 2);
    CHECK(m.score_gain == m.target_score - m.source_score);
    CHECK(m.condition.empty());  // pod counts need no persistence
    workloads.insert(WorkloadKey(*m.pod));
  }
  CHECK(plan.moves[0].reason.find("runs 20 pods, above the mean 6.7") != std::string::npos);
  CHECK(workloads.size() == 4);
  // Capacity taken by earlier moves counts: the moves spread over both empty nodes.
  auto targets = TargetsOf(plan);
  CHECK(targets["w2"] == 2);
  CHECK(targets["w3"] == 2);
}

TEST_CASE("load balancing moves until within the threshold or the planning cap",
          "[rescheduler][strategy][load_balancing]") {
  struct Case {
    const char* name;
    int cap;  // maxReschedulePods
    size_t moves;
    bool truncated;
  };
  // 20 single-pod ReplicaSets on w1 of 3 nodes: mean 6.67, limit 8.
  const Case cases[] = {
      {"stops at the planning cap and says so", 3, 3, true},
      // w1 keeps at most 8, and no target exceeds 8.
      {"moves until every node is within the threshold", 100, 12, false},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      TestCluster c = Skewed(20, 1);
      ReschedulerConfig cfg = test::DefaultConfig();
      cfg.max_reschedule_pods = tc.cap;
      StrategyPlan plan = LoadBalancing().Plan(c.Input(cfg));
      REQUIRE(plan.moves.size() == tc.moves);
      CHECK(plan.truncated == tc.truncated);
      auto targets = TargetsOf(plan);
      CHECK(targets["w2"] <= 8);
      CHECK(targets["w3"] <= 8);
    }
  }
}

TEST_CASE("pods pinned to their node by nodeSelector never move",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c;
  c.Add(test::MakeNode("w1")).Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  c.nodes[0] = kb::testing::NodeBuilder("w1").Label("kubernetes.io/hostname", "w1").Build();
  for (int i = 0; i < 20; ++i) {
    c.Add(RsPodBuilder("heavy-" + std::to_string(i), "heavy", "w1")
              .NodeSelector("kubernetes.io/hostname", "w1")
              .Build());
  }
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  CHECK(plan.moves.empty());
  const UnmovablePod* u = FindUnmovable(plan, "heavy-0");
  REQUIRE(u != nullptr);
  CHECK(u->reason.find("NodeAffinity: node(s) didn't match Pod's node affinity/selector") !=
        std::string::npos);
  CHECK_FALSE(u->report);
}

TEST_CASE("a balanced cluster plans nothing", "[rescheduler][strategy][load_balancing]") {
  TestCluster c;
  c.Add(MakeNode("w1")).Add(MakeNode("w2")).Add(MakeNode("w3"));
  for (int i = 0; i < 9; ++i) {
    c.Add(
        RsPod("p" + std::to_string(i), "rs" + std::to_string(i), "w" + std::to_string(i % 3 + 1)));
  }
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  CHECK(plan.moves.empty());
  CHECK(plan.unmovable.empty());
}

TEST_CASE("load balancing never targets maintenance, cordoned or NotReady nodes",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = Skewed(6, 1);
  c.Add(kb::testing::NodeBuilder("maint").Maintenance().Build());
  c.Add(kb::testing::NodeBuilder("cordoned").Unschedulable().Build());
  c.Add(kb::testing::NodeBuilder("down").NotReady().Build());
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  REQUIRE_FALSE(plan.moves.empty());
  for (const PlannedMove& m : plan.moves) {
    CHECK((m.target == "w2" || m.target == "w3"));
  }
}

TEST_CASE("a target never ends above the source (no ping-pong on small counts)",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c;
  c.Add(MakeNode("w1")).Add(MakeNode("w2")).Add(MakeNode("w3"));
  c.Add(RsPod("a", "a", "w1")).Add(RsPod("b", "b", "w1"));  // 2,0,0: mean .67
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  REQUIRE(plan.moves.size() == 1);  // 1,1,0 then no move makes it better
  // The plan applied to the cluster is stable: nothing moves next cycle.
  c.pods[1].node_name = plan.moves[0].target;
  StrategyPlan again = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
  CHECK(again.moves.empty());
}

TEST_CASE("minScoreGain vetoes moves the extender would not prefer",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = Skewed(4, 5);
  ReschedulerConfig cfg = test::DefaultConfig();
  cfg.min_score_gain = 10.5;  // above any possible gain on the 0..10 scale
  StrategyPlan plan = LoadBalancing().Plan(c.Input(cfg));
  CHECK(plan.moves.empty());
  REQUIRE_FALSE(plan.unmovable.empty());
  CHECK(plan.unmovable[0].reason.find("minScoreGain") != std::string::npos);
}

TEST_CASE("load balancing skips workloads in flight, in cooldown, and PDB-blocked pods",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = Skewed(3, 5);
  PodDisruptionBudget pdb = kb::testing::PdbBuilder("default", "rs2")
                                .Selector("app", "rs2")
                                .MinAvailable(5)
                                .DisruptionsAllowed(0)
                                .Build();
  c.pdbs.push_back(pdb);
  MoveLedger ledger;
  test::AddInFlight(ledger, kb::testing::TestUid("default", "rs0"));
  ledger.CoolDownWorkload(kb::testing::TestUid("default", "rs1"), ledger.now());
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig(), ledger));
  CHECK(plan.moves.empty());
  const UnmovablePod* busy = FindUnmovable(plan, "rs0-0");
  const UnmovablePod* cool = FindUnmovable(plan, "rs1-0");
  const UnmovablePod* pdb_blocked = FindUnmovable(plan, "rs2-0");
  REQUIRE(busy != nullptr);
  REQUIRE(cool != nullptr);
  REQUIRE(pdb_blocked != nullptr);
  CHECK(busy->reason.find("in flight") != std::string::npos);
  CHECK(cool->reason.find("cooldown") != std::string::npos);
  CHECK(pdb_blocked->reason.find("PodDisruptionBudget default/rs2") != std::string::npos);
}

// ---- LoadBalancing (utilisation) --------------------------------------------------------------

TestCluster HotCpu(double w1_cpu) {
  TestCluster c;
  c.Add(MakeNode("w1")).Add(MakeNode("w2")).Add(MakeNode("w3"));
  for (int i = 0; i < 3; ++i) {
    c.Add(RsPod("big-" + std::to_string(i), "big" + std::to_string(i), "w1", "400m", "64Mi"));
  }
  for (int i = 0; i < 3; ++i) {  // pod counts balanced: 3 / 3 / 3
    c.Add(RsPod("x-" + std::to_string(i), "x" + std::to_string(i), "w2"));
    c.Add(RsPod("y-" + std::to_string(i), "y" + std::to_string(i), "w3"));
  }
  c.Usage("w1", w1_cpu, 40).Usage("w2", 30, 40).Usage("w3", 30, 40);
  return c;
}

TEST_CASE("usage balancing needs consecutiveCycles of persistence",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = HotCpu(90);  // mean 50, limit 70
  const std::string key = ConditionKey(kLoadBalancing, "cpu", "w1");
  SECTION("first sighting: observed, not acted on") {
    StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig()));
    CHECK(std::count(plan.observed.begin(), plan.observed.end(), key) == 1);
    CHECK(plan.moves.empty());
  }
  SECTION("third consecutive cycle: moves") {
    const MoveLedger ledger = test::LedgerWithConditions({key}, 2, true);
    StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig(), ledger));
    // 90% -> 80% -> 70%: two 10% pods bring w1 within mean + 20 points.
    REQUIRE(plan.moves.size() == 2);
    for (const PlannedMove& m : plan.moves) {
      CHECK(m.source == "w1");
      CHECK(m.condition == key);
      CHECK(m.reason.find("for 3 cycles") != std::string::npos);
    }
    CHECK(plan.moves[0].target != plan.moves[1].target);  // capacity taken counts
  }
  SECTION("an early cycle that may not count does not reach the threshold") {
    const MoveLedger ledger = test::LedgerWithConditions({key}, 2, false);
    StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig(), ledger));
    CHECK(plan.moves.empty());
  }
}

TEST_CASE("usage balancing fails closed when any node's metrics are stale",
          "[rescheduler][strategy][load_balancing]") {
  TestCluster c = HotCpu(90);
  c.stale.insert("w3");
  const MoveLedger ledger =
      test::LedgerWithConditions({ConditionKey(kLoadBalancing, "cpu", "w1")}, 5, true);
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig(), ledger));
  CHECK(plan.moves.empty());
  CHECK(plan.observed.empty());
  CHECK(HasNoteContaining(plan, "lack fresh metrics (fail closed)"));
}

TEST_CASE("recent moves settle the source's lagging sample", "[rescheduler][strategy][planner]") {
  TestCluster c = HotCpu(75);  // mean 45, limit 65: hot
  MoveLedger ledger =
      test::LedgerWithConditions({ConditionKey(kLoadBalancing, "cpu", "w1")}, 5, true);
  // Two 400m pods (10% each of 4 cores) just left w1: its sample still shows them.
  test::AddInFlight(ledger, "moved-1", "w1", "w2", Resources{400, 0, 1});
  test::AddInFlight(ledger, "moved-2", "w1", "w3", Resources{400, 0, 1});
  StrategyPlan plan = LoadBalancing().Plan(c.Input(test::DefaultConfig(), ledger));
  CHECK(plan.moves.empty());  // 55% is within mean + 20
}

// ---- ResourceOptimization ---------------------------------------------------------------------

TestCluster HotNode() {
  TestCluster c;
  c.Add(MakeNode("hot")).Add(MakeNode("cool1")).Add(MakeNode("cool2"));
  c.Add(RsPod("small", "small", "hot", "200m"));  // 5%
  c.Add(RsPod("medium", "medium", "hot", "1"));   // 25%
  c.Add(RsPod("large", "large", "hot", "2"));     // 50%
  c.Usage("hot", 95, 50).Usage("cool1", 20, 20).Usage("cool2", 30, 20);
  return c;
}

TEST_CASE("resource optimization sheds the pods that best match the excess",
          "[rescheduler][strategy][resource_optimization]") {
  struct Case {
    const char* name;
    std::vector<std::pair<const char*, const char*>> pods;  // name, cpu on "hot" (4 cores)
    double hot_cpu;
    std::vector<std::string> moved;  // in order
    const char* first_target;        // "" = any
  };
  const Case cases[] = {
      // 95% -> below 80 - 10 = 70: excess 25 points; the 1-core pod (25%) covers it exactly.
      {"the pod that covers the excess exactly",
       {{"small", "200m"}, {"medium", "1"}, {"large", "2"}},
       95,
       {"medium"},
       "cool1"},
      // Excess 29: medium (25) does not cover it, large (50) does.
      {"the smallest pod that covers the excess",
       {{"small", "200m"}, {"medium", "1"}, {"large", "2"}},
       99,
       {"large"},
       ""},
      // No pod covers 29 points: the largest first (99 -> 74), then the 5% pod covers the rest
      // (69).
      {"keeps shedding until below threshold minus the margin",
       {{"small", "200m"}, {"medium", "1"}},
       99,
       {"medium", "small"},
       ""},
  };
  const std::string key = ConditionKey(kResourceOptimization, "cpu", "hot");
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      TestCluster c;
      c.Add(MakeNode("hot")).Add(MakeNode("cool1")).Add(MakeNode("cool2"));
      for (const auto& [name, cpu] : tc.pods) c.Add(RsPod(name, name, "hot", cpu));
      c.Usage("hot", tc.hot_cpu, 50).Usage("cool1", 20, 20).Usage("cool2", 30, 20);
      const MoveLedger ledger = test::LedgerWithConditions({key}, 2, true);
      StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
      REQUIRE(plan.moves.size() == tc.moved.size());
      for (size_t i = 0; i < tc.moved.size(); ++i) {
        CHECK(plan.moves[i].pod->meta.name == tc.moved[i]);
        CHECK(plan.moves[i].condition == key);
        CHECK(plan.moves[i].reason.find("cpuThreshold 80%") != std::string::npos);
      }
      if (*tc.first_target != '\0') CHECK(plan.moves[0].target == tc.first_target);
    }
  }
}

TEST_CASE("resource optimization moves the busy pod and not the big idle one given per-pod usage",
          "[rescheduler][strategy][resource_optimization]") {
  // "hot" (4 cores) runs at 95% CPU. "idle" requests 2 cores but uses 20m; "busy" requests 500m
  // but burns 2.8 cores. By requests the idle pod looks like the one to shed (50% of the node);
  // by real usage only the busy pod frees anything.
  const std::string key = ConditionKey(kResourceOptimization, "cpu", "hot");
  const MoveLedger ledger = test::LedgerWithConditions({key}, 2, true);
  auto make = [] {
    TestCluster c;
    c.Add(MakeNode("hot")).Add(MakeNode("cool1")).Add(MakeNode("cool2"));
    c.Add(RsPod("idle", "idle", "hot", "2", "256Mi")).Add(RsPod("busy", "busy", "hot", "500m"));
    c.Usage("hot", 95, 50).Usage("cool1", 10, 20).Usage("cool2", 15, 20);
    return c;
  };
  SECTION("per-pod usage available: the busy pod moves") {
    TestCluster c = make();
    c.PodUsage("default/idle", 20, 100 << 20).PodUsage("default/busy", 2800, 64 << 20);
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
    REQUIRE(plan.moves.size() == 1);
    CHECK(plan.moves[0].pod->meta.name == "busy");
    REQUIRE(plan.moves[0].usage.has_value());
    CHECK(plan.moves[0].usage->cpu_millis == 2800);
    CHECK(plan.moves[0].usage_from_metrics);
  }
  SECTION("a pod without a fresh sample falls back to its requests") {
    TestCluster c = make();
    c.PodUsage("default/idle", 20, 100 << 20);  // busy has no sample
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
    REQUIRE_FALSE(plan.moves.empty());
    CHECK(plan.moves[0].pod->meta.name == "busy");  // 500m of requests > idle's 20m of usage
    CHECK_FALSE(plan.moves[0].usage_from_metrics);
    CHECK(plan.moves[0].usage->cpu_millis == 500);
  }
  SECTION("without per-pod usage: requests decide, the idle pod moves") {
    TestCluster c = make();
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
    REQUIRE_FALSE(plan.moves.empty());
    CHECK(plan.moves[0].pod->meta.name == "idle");
  }
}

TEST_CASE("resource optimization waits for consecutiveCycles",
          "[rescheduler][strategy]"
          "[resource_optimization]") {
  TestCluster c = HotNode();
  StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig()));
  CHECK(plan.moves.empty());
  CHECK(plan.observed ==
        std::vector<std::string>{ConditionKey(kResourceOptimization, "cpu", "hot")});
}

TEST_CASE("resource optimization never acts on stale metrics (fail closed)",
          "[rescheduler][strategy][resource_optimization]") {
  SECTION("stale source") {
    TestCluster c = HotNode();
    c.stale.insert("hot");
    const MoveLedger ledger =
        test::LedgerWithConditions({ConditionKey(kResourceOptimization, "cpu", "hot")}, 9, true);
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
    CHECK(plan.moves.empty());
    CHECK(plan.observed.empty());
  }
  SECTION("stale targets are not candidates") {
    TestCluster c = HotNode();
    c.stale.insert("cool1");
    c.stale.insert("cool2");
    const MoveLedger ledger =
        test::LedgerWithConditions({ConditionKey(kResourceOptimization, "cpu", "hot")}, 9, true);
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
    CHECK(plan.moves.empty());
    const UnmovablePod* u = FindUnmovable(plan, "medium");
    REQUIRE(u != nullptr);
    CHECK(u->reason.find("metrics not fresh") != std::string::npos);
  }
  SECTION("no metrics source at all") {
    TestCluster c = HotNode();
    c.metrics_enabled = false;
    StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig()));
    CHECK(plan.moves.empty());
    CHECK(HasNoteContaining(plan, "no metrics source"));
  }
}

TEST_CASE("resource optimization respects the extender's filter on targets",
          "[rescheduler][strategy][resource_optimization]") {
  TestCluster c = HotNode();
  c.usage["cool1"] = {79, 20};
  c.usage["cool2"] = {79, 20};
  const MoveLedger ledger =
      test::LedgerWithConditions({ConditionKey(kResourceOptimization, "cpu", "hot")}, 2, true);
  StrategyPlan plan = ResourceOptimization().Plan(c.Input(test::DefaultConfig(), ledger));
  CHECK(plan.moves.empty());
  const UnmovablePod* u = FindUnmovable(plan, "medium");
  REQUIRE(u != nullptr);
  CHECK(u->reason.find("extender filter: cpu") != std::string::npos);
}

// ---- NodeMaintenance --------------------------------------------------------------------------

TEST_CASE("node maintenance drains movable pods and reports the rest",
          "[rescheduler][strategy][node_maintenance]") {
  TestCluster c;
  c.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  c.Add(MakeNode("w2")).Add(MakeNode("w3"));
  c.Add(RsPod("a-1", "a", "m")).Add(RsPod("b-1", "b", "m")).Add(RsPod("c-1", "c", "m"));
  c.Add(OurPod("ds-1").Node("m").OwnedByDaemonSet("ds").Ready().Build());
  c.Add(OurPod("bare").Node("m").Ready().Build());
  c.Add(RsPodBuilder("cache-1", "cache", "m").EmptyDir("scratch").Build());
  c.Add(OurPod("mirror").Node("m").Mirror().Ready().Build());
  StrategyPlan plan = NodeMaintenance().Plan(c.Input(test::DefaultConfig()));
  REQUIRE(plan.moves.size() == 3);
  for (const PlannedMove& m : plan.moves) {
    CHECK(m.source == "m");
    CHECK(m.target != "m");
    CHECK(m.reason.find("maintenance") != std::string::npos);
  }
  CHECK(FindUnmovable(plan, "ds-1") == nullptr);    // stays with its node by design
  CHECK(FindUnmovable(plan, "mirror") == nullptr);  // kubelet-managed
  const UnmovablePod* bare = FindUnmovable(plan, "bare");
  const UnmovablePod* local = FindUnmovable(plan, "cache-1");
  REQUIRE(bare != nullptr);
  REQUIRE(local != nullptr);
  CHECK(bare->report);
  CHECK(local->report);
  CHECK(local->reason.find("emptyDir") != std::string::npos);
}

TEST_CASE("node maintenance reports pods with no feasible target",
          "[rescheduler][strategy][node_maintenance]") {
  TestCluster c;
  c.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  c.Add(kb::testing::NodeBuilder("gpu").Taint("gpu", "true", "NoSchedule").Build());
  c.Add(RsPod("a-1", "a", "m"));
  StrategyPlan plan = NodeMaintenance().Plan(c.Input(test::DefaultConfig()));
  CHECK(plan.moves.empty());
  const UnmovablePod* u = FindUnmovable(plan, "a-1");
  REQUIRE(u != nullptr);
  CHECK(u->report);
  CHECK(u->reason.find("TaintToleration: node(s) had untolerated taint {gpu: true}") !=
        std::string::npos);
}

TEST_CASE("node maintenance counts capacity taken by earlier moves",
          "[rescheduler][strategy][node_maintenance][planner]") {
  TestCluster c;
  c.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  c.Add(MakeNode("w2", "4"));
  c.Add(RsPod("a-1", "a", "m", "3")).Add(RsPod("b-1", "b", "m", "3"));
  StrategyPlan plan = NodeMaintenance().Plan(c.Input(test::DefaultConfig()));
  REQUIRE(plan.moves.size() == 1);  // 3 + 3 cores do not fit 4
  REQUIRE(plan.unmovable.size() == 1);
  // Without Prometheus the extender's threshold filter (requests-based: 3 + 3 of 4 cores) refuses
  // w2 before the feasibility check would.
  const std::string& reason = plan.unmovable[0].reason;
  INFO(reason);
  CHECK(reason.find("extender filter: cpu") != std::string::npos);
}

TEST_CASE("node maintenance ignores cooldown but not moves in flight, bounded by the cap",
          "[rescheduler][strategy][node_maintenance]") {
  TestCluster c;
  c.Add(kb::testing::NodeBuilder("m").Maintenance().Build()).Add(MakeNode("w2"));
  for (int i = 0; i < 5; ++i) c.Add(RsPod("p" + std::to_string(i), "rs" + std::to_string(i), "m"));
  MoveLedger ledger;
  ledger.CoolDownWorkload(kb::testing::TestUid("default", "rs0"), ledger.now());
  test::AddInFlight(ledger, kb::testing::TestUid("default", "rs1"));
  ReschedulerConfig cfg = test::DefaultConfig();
  cfg.max_reschedule_pods = 2;
  StrategyPlan plan = NodeMaintenance().Plan(c.Input(cfg, ledger));
  REQUIRE(plan.moves.size() == 2);
  CHECK(plan.moves[0].pod->meta.name == "p0");  // cooldown ignored for a drain
  CHECK(plan.truncated);
  const UnmovablePod* busy = FindUnmovable(plan, "p1");
  REQUIRE(busy != nullptr);
  CHECK_FALSE(busy->report);  // transient: listed, not reported
}

TEST_CASE("strategies are made by name in priority order", "[rescheduler][strategy]") {
  std::vector<std::string> unknown;
  auto s = MakeStrategies({"LoadBalancing", "Bogus", "NodeMaintenance"}, &unknown);
  REQUIRE(s.size() == 2);
  CHECK(std::string(s[0]->Name()) == kNodeMaintenance);
  CHECK(std::string(s[1]->Name()) == kLoadBalancing);
  CHECK(unknown == std::vector<std::string>{"Bogus"});
  CHECK(MakeStrategy("ResourceOptimization") != nullptr);
  CHECK(MakeStrategy("x") == nullptr);
}

TEST_CASE("excess matching orders best fit first", "[rescheduler][planner]") {
  std::vector<PodPtr> pods;
  for (const char* cpu : {"100m", "500m", "1", "2"}) {
    pods.push_back(std::make_shared<const Pod>(RsPod(std::string("p") + cpu, "r", "n", cpu)));
  }
  auto share = [](const Pod& p) { return p.EffectiveRequest().cpu_millis / 40.0; };
  SortByExcessMatch(pods, 10, share);  // 10 points of a 4-core node = 400m
  CHECK(pods[0]->meta.name == "p500m");
  CHECK(pods[1]->meta.name == "p1");
  CHECK(pods[2]->meta.name == "p2");
  CHECK(pods[3]->meta.name == "p100m");
}

// ---- Node groups ------------------------------------------------------------------------------

Node PoolNode(const std::string& name, const std::string& pool) {
  return kb::testing::NodeBuilder(name).Cpu("4").Memory("8Gi").Label("pool", pool).Build();
}

ReschedulerConfig WithGpuGroup() {
  ReschedulerConfig config = test::DefaultConfig();
  NodeGroup gpu;
  gpu.name = "gpu";
  gpu.node_selector.match_labels = {{"pool", "gpu"}};
  config.node_groups.push_back(gpu);
  NodeGroup empty;
  empty.name = "arm";
  empty.node_selector.match_labels = {{"pool", "arm"}};
  config.node_groups.push_back(empty);
  return config;
}

TEST_CASE("node groups are balanced separately and moves stay in their group",
          "[rescheduler][strategy][node_groups]") {
  TestCluster c;
  c.Add(PoolNode("g1", "gpu")).Add(PoolNode("g2", "gpu"));
  c.Add(MakeNode("d1")).Add(MakeNode("d2")).Add(MakeNode("d3"));
  // gpu: 6 / 0 (imbalanced within the group); default: 6 / 6 / 0.
  for (const char* rs : {"ga", "gb", "gc"}) {
    for (int i = 0; i < 2; ++i) c.Add(RsPod(std::string(rs) + "-" + std::to_string(i), rs, "g1"));
  }
  for (const char* rs : {"da", "db", "dc"}) {
    for (int i = 0; i < 2; ++i) {
      c.Add(RsPod(std::string(rs) + "-" + std::to_string(i), rs, i == 0 ? "d1" : "d2"));
    }
  }
  for (int i = 0; i < 3; ++i) c.Add(RsPod("x-" + std::to_string(i), "x", "d1"));
  for (int i = 0; i < 3; ++i) c.Add(RsPod("y-" + std::to_string(i), "y", "d2"));
  StrategyPlan plan = LoadBalancing().Plan(c.Input(WithGpuGroup()));
  REQUIRE_FALSE(plan.moves.empty());
  bool gpu_moved = false;
  for (const PlannedMove& m : plan.moves) {
    const bool from_gpu = m.source == "g1" || m.source == "g2";
    const bool to_gpu = m.target == "g1" || m.target == "g2";
    CHECK(from_gpu == to_gpu);  // never across groups
    gpu_moved = gpu_moved || (m.source == "g1" && m.target == "g2");
  }
  CHECK(gpu_moved);
  // The default group's mean is its own: d3 takes pods from d1 and d2.
  CHECK(TargetsOf(plan)["d3"] > 0);

  SECTION("with one group's own imbalanceThreshold") {
    ReschedulerConfig config = WithGpuGroup();
    config.node_groups[0].imbalance_threshold = 100;  // gpu: 6 vs mean 3 is within 100%
    StrategyPlan p = LoadBalancing().Plan(c.Input(config));
    for (const PlannedMove& m : p.moves) CHECK(m.source != "g1");
  }
}

TEST_CASE("resource optimization uses the thresholds of the node's group",
          "[rescheduler][strategy][node_groups]") {
  TestCluster c;
  c.Add(PoolNode("g1", "gpu")).Add(PoolNode("g2", "gpu")).Add(MakeNode("d1")).Add(MakeNode("d2"));
  for (const char* n : {"g1", "d1"}) {
    for (int i = 0; i < 3; ++i) {
      c.Add(RsPod(std::string(n) + "-" + std::to_string(i), std::string("rs-") + n, n, "500m"));
    }
  }
  c.Usage("g1", 90, 30).Usage("g2", 10, 10).Usage("d1", 90, 30).Usage("d2", 10, 10);
  ReschedulerConfig config = WithGpuGroup();
  config.consecutive_cycles = 1;
  config.node_groups[0].cpu_threshold = 95;  // gpu nodes may run hotter
  StrategyPlan plan = ResourceOptimization().Plan(c.Input(config));
  REQUIRE_FALSE(plan.moves.empty());
  for (const PlannedMove& m : plan.moves) {
    CHECK(m.source == "d1");
    CHECK(m.target == "d2");
  }
}

TEST_CASE("a drain prefers its node group and leaves it only when no node there fits",
          "[rescheduler][strategy][node_groups]") {
  TestCluster c;
  c.Add(kb::testing::NodeBuilder("g1")
            .Cpu("4")
            .Memory("8Gi")
            .Label("pool", "gpu")
            .Maintenance()
            .Build());
  c.Add(PoolNode("g2", "gpu")).Add(MakeNode("d1"));
  c.Add(RsPod("a-0", "a", "g1")).Add(RsPod("a-1", "a", "d1"));
  // g2 is busier than d1, but it is the group's node.
  for (int i = 0; i < 5; ++i) c.Add(RsPod("b-" + std::to_string(i), "b", "g2", "500m"));
  StrategyPlan plan = NodeMaintenance().Plan(c.Input(WithGpuGroup()));
  REQUIRE(plan.moves.size() == 1);
  CHECK(plan.moves[0].target == "g2");

  SECTION("no node of the group fits: the drain leaves the group") {
    c.nodes[1] = kb::testing::NodeBuilder("g2")
                     .Cpu("4")
                     .Memory("8Gi")
                     .Label("pool", "gpu")
                     .Unschedulable()
                     .Build();
    StrategyPlan p = NodeMaintenance().Plan(c.Input(WithGpuGroup()));
    REQUIRE(p.moves.size() == 1);
    CHECK(p.moves[0].target == "d1");
  }
}

}  // namespace
}  // namespace kb::resched
