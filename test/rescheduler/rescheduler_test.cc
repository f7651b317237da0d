// Rescheduler::RunOnce over FakeKubeClient and hand-built snapshots: the whole cycle (plan ->
// merge -> safety -> evictor), hysteresis across cycles, leadership, /debug/plan, and the loop
// thread's Start / Wake / Stop.
#include "rescheduler/rescheduler.h"

#include <prometheus/registry.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "rescheduler/leader_elector.h"
#include "rescheduler/strategies.h"
#include "test/fakes/fake_kube_client.h"
#include "test/rescheduler/resched_test_util.h"
#include "test/testing/poll.h"

namespace kb::resched {
namespace {

using kb::testing::FakeKubeClient;
using kb::testing::PodBuilder;
using kb::testing::ReplicaSetBuilder;
using kb::testing::TestUid;
using nlohmann::json;
using test::OurPod;
using namespace std::chrono_literals;

struct Harness {
  FakeKubeClient fake;
  FakeClock clock{test::TestTime(1000)};
  prometheus::Registry registry;
  ReschedulerMetrics metrics{registry};
  scoring::Steering steering{clock};
  ReschedulerConfig config;
  test::TestCluster cluster;
  const LeaderElector* elector = nullptr;
  std::unique_ptr<Rescheduler> resched;

  void AddReplicaSet(const std::string& rs, const std::vector<std::string>& nodes,
                     const std::string& cpu = "100m") {
    const int n = static_cast<int>(nodes.size());
    fake.Put("replicasets", ReplicaSetBuilder("default", rs)
                                .Replicas(n)
                                .StatusReplicas(n)
                                .ReadyReplicas(n)
                                .AvailableReplicas(n)
                                .Json());
    for (int i = 0; i < n; ++i) {
      PodBuilder p = test::RsPodBuilder(rs + "-" + std::to_string(i), rs, nodes[i], cpu);
      fake.Put("pods", p.Json());
      cluster.Add(p.Build());
    }
  }
  Rescheduler& Make() {
    resched = std::make_unique<Rescheduler>(
        config, test::PolicyFor(config), fake, [this] { return cluster.Cache(); },
        [this] { return cluster.Load(cluster.Cache()); }, clock, &steering, &metrics, elector,
        ReschedulerOptions{1000ms, 1000ms, "test-0", 7});
    return *resched;
  }
};

TEST_CASE("a cycle drains a maintenance node and publishes the plan", "[rescheduler][cycle]") {
  Harness h;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  h.cluster.Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  h.AddReplicaSet("a", {"m", "w2"});
  h.AddReplicaSet("b", {"m", "w3"});
  h.cluster.Add(OurPod("solo").Node("m").Ready().Build());
  Rescheduler& r = h.Make();
  CHECK(r.PlanJson()["generatedAt"].is_null());

  CycleReport report = r.RunOnce();
  REQUIRE(report.ran);
  CHECK(report.planned == 2);
  CHECK(report.results["success"] == 2);
  CHECK(report.unmovable == 1);
  std::set<std::string> evicted;
  for (const auto& e : h.fake.Evictions()) evicted.insert(e.name);
  CHECK(evicted == std::set<std::string>{"a-0", "b-0"});

  json plan = r.PlanJson();
  CHECK(plan["leader"] == true);
  CHECK(plan["dryRun"] == false);
  CHECK(plan["cycle"] == "scheduled");
  REQUIRE(plan["moves"].size() == 2);
  const json& m = plan["moves"][0];
  CHECK(m["strategy"] == "NodeMaintenance");
  CHECK(m["source"] == "m");
  CHECK((m["target"] == "w2" || m["target"] == "w3"));
  CHECK(m["outcome"] == "success");
  CHECK(m.contains("scoreGain"));
  CHECK(m["reason"].get<std::string>().find("maintenance") != std::string::npos);
  REQUIRE(plan["unmovable"].size() == 1);
  CHECK(plan["unmovable"][0]["pod"] == "default/solo");
  CHECK(plan["unmovable"][0]["reported"] == true);
  CHECK(plan["inFlight"].size() == 2);
  // The node got one Event about the pod that cannot move.
  int node_events = 0;
  for (const json& e : h.fake.Events()) node_events += e["involvedObject"]["kind"] == "Node";
  CHECK(node_events == 1);

  // Next cycle: the moves are in flight, nothing new happens; the report is not repeated.
  CycleReport again = h.resched->RunOnce();
  CHECK(again.results["success"] == 0);
  CHECK(h.fake.Evictions().size() == 2);
}

TEST_CASE("dry-run cycles report what would move and change nothing", "[rescheduler][cycle]") {
  Harness h;
  h.config.dry_run = true;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build()).Add(test::MakeNode("w2"));
  h.AddReplicaSet("a", {"m", "w2"});
  Rescheduler& r = h.Make();
  for (int i = 0; i < 3; ++i) {
    CycleReport report = r.RunOnce();
    CHECK(report.results["dry_run"] == 1);
  }
  CHECK(h.fake.Evictions().empty());
  CHECK(h.fake.Events().empty());
  CHECK(r.PlanJson()["moves"][0]["outcome"] == "dry_run");
  CHECK(r.PlanJson()["dryRun"] == true);
}

void HotCluster(Harness& h) {
  h.cluster.Add(test::MakeNode("hot")).Add(test::MakeNode("cool1")).Add(test::MakeNode("cool2"));
  h.AddReplicaSet("a", {"hot", "cool1"}, "1");  // 25% of 4 cores each
  h.AddReplicaSet("b", {"hot", "cool2"}, "1");
  h.AddReplicaSet("c", {"cool1", "cool2"}, "100m");
  h.cluster.Usage("hot", 95, 40).Usage("cool1", 30, 30).Usage("cool2", 35, 30);
  h.config.enabled_strategies = {kResourceOptimization};
}

TEST_CASE("usage moves need consecutiveCycles and after acting the node is observed again",
          "[rescheduler][cycle][hysteresis]") {
  Harness h;
  HotCluster(h);
  Rescheduler& r = h.Make();
  CHECK(r.RunOnce().planned == 0);
  h.clock.Advance(30s);
  CHECK(r.RunOnce().planned == 0);
  h.clock.Advance(30s);
  CycleReport third = r.RunOnce();
  REQUIRE(third.planned == 1);
  CHECK(third.results["success"] == 1);
  CHECK(h.fake.Evictions().size() == 1);
  // The metrics lag (the sample still shows 95%): the recent move's estimate is taken out of the
  // node, which is no longer hot, so no second round follows while the sample catches up.
  for (int i = 0; i < 4; ++i) {
    h.clock.Advance(30s);
    CHECK(r.RunOnce().planned == 0);
  }
  CHECK(h.fake.Evictions().size() == 1);
}

TEST_CASE("early cycles never shorten the persistence", "[rescheduler][cycle][hysteresis]") {
  Harness h;
  HotCluster(h);
  Rescheduler& r = h.Make();
  CHECK(r.RunOnce(CycleKind::kScheduled).planned == 0);
  for (int i = 0; i < 5; ++i) {
    h.clock.Advance(1s);
    CHECK(r.RunOnce(CycleKind::kEarly).planned == 0);
  }
  CHECK(r.PlanJson()["conditions"][0]["cycles"] == 1);
  h.clock.Advance(30s);
  CHECK(r.RunOnce(CycleKind::kEarly).planned == 0);  // a full interval later: counts (2)
  h.clock.Advance(30s);
  CHECK(r.RunOnce(CycleKind::kScheduled).planned == 1);
}

TEST_CASE("a condition that stops holding resets its count", "[rescheduler][cycle][hysteresis]") {
  Harness h;
  HotCluster(h);
  Rescheduler& r = h.Make();
  r.RunOnce();
  r.RunOnce();
  h.cluster.usage["hot"] = {70, 40};
  r.RunOnce();
  CHECK(r.PlanJson()["conditions"].empty());
  h.cluster.usage["hot"] = {95, 40};
  CHECK(r.RunOnce().planned == 0);
  CHECK(r.RunOnce().planned == 0);
  CHECK(r.RunOnce().planned == 1);
}

TEST_CASE("strategies see the capacity taken by earlier strategies", "[rescheduler][cycle]") {
  test::TestCluster c;
  c.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  c.Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  c.Add(test::RsPod("big-a", "a", "m", "3")).Add(test::RsPod("big-b", "b", "m", "3"));
  PlanInput in = c.Input(ReschedulerConfig{});
  // Another strategy already planned big-a onto w2 this cycle.
  PlannedMove prior;
  prior.strategy = kResourceOptimization;
  prior.pod = in.cache->PodsOnNode("m")[0];
  prior.source = "m";
  prior.target = "w2";
  in.prior_moves.push_back(prior);
  StrategyPlan plan = NodeMaintenance().Plan(in);
  REQUIRE(plan.moves.size() == 1);  // big-a is already moving
  CHECK(plan.moves[0].pod->meta.name == "big-b");
  CHECK(plan.moves[0].target == "w3");  // w2 has no room for a second 3-core pod
}

TEST_CASE("only the leader acts and a new term starts from a clean state",
          "[rescheduler][leader]") {
  Harness h;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build()).Add(test::MakeNode("w2"));
  h.AddReplicaSet("a", {"m", "w2"});
  LeaderElectionConfig lc;
  lc.identity = "other";
  LeaderElector other(h.fake, h.clock, lc);
  lc.identity = "me";
  LeaderElector me(h.fake, h.clock, lc);
  REQUIRE(other.Step());
  REQUIRE_FALSE(me.Step());
  h.elector = &me;
  Rescheduler& r = h.Make();
  CycleReport report = r.RunOnce();
  CHECK_FALSE(report.ran);
  CHECK(report.skipped == "not leader");
  CHECK(h.fake.Evictions().empty());
  CHECK(r.PlanJson()["leader"] == false);
  REQUIRE(other.Release().ok());
  REQUIRE(me.Step());
  CHECK(r.RunOnce().results["success"] == 1);
  CHECK(r.PlanJson()["leader"] == true);
}

TEST_CASE("a cycle without a synced cache does nothing", "[rescheduler][cycle]") {
  FakeKubeClient fake;
  FakeClock clock;
  ReschedulerConfig config;
  Rescheduler r(
      config, test::PolicyFor(config), fake, [] { return nullptr; }, [] { return nullptr; }, clock,
      nullptr, nullptr, nullptr);
  CycleReport report = r.RunOnce();
  CHECK_FALSE(report.ran);
  CHECK(report.skipped == "cache not synced");
}

double Counter(prometheus::Registry& registry, const std::string& family,
               const std::map<std::string, std::string>& labels) {
  double total = 0;
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (match) total += m.counter.value;
    }
  }
  return total;
}

TEST_CASE("a maintenance drain whose replacement lands back is not evicted again (no loop)",
          "[rescheduler][cycle][loop]") {
  Harness h;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  h.cluster.Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  h.AddReplicaSet("a", {"m", "m", "w2"});
  // A default-scheduler pod on the maintenance node: never ours to move.
  PodBuilder other = PodBuilder("stock-0");
  other.Node("m").OwnedByReplicaSet("stock").Label("app", "stock").Cpu("100m").Ready();
  h.fake.Put("pods", other.Json());
  h.cluster.Add(other.Build());
  Rescheduler& r = h.Make();

  CycleReport first = r.RunOnce();
  CHECK(first.results["success"] == 1);
  REQUIRE(h.fake.Evictions().size() == 1);
  const std::string evicted = h.fake.Evictions()[0].name;

  // The stock scheduler ignores the maintenance label and puts the replacement straight back.
  std::erase_if(h.cluster.pods, [&](const Pod& p) { return p.meta.name == evicted; });
  h.cluster.Add(test::RsPod("a-back", "a", "m"));
  for (int cycle = 0; cycle < 36; ++cycle) {
    h.clock.Advance(10s);
    r.RunOnce(cycle % 2 == 0 ? CycleKind::kScheduled : CycleKind::kEarly);
  }
  // 36 cycles within the cooldown: one eviction, none of the stock pod.
  CHECK(h.fake.Evictions().size() == 1);
  CHECK(Counter(h.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "landed_back"}}) == 1);
  CHECK(Counter(h.registry, "kube_balancer_rescheduler_evictions_total",
                {{"result", "loop_blocked"}}) >= 1);
  // The workload is reported blocked on the node (Event), once per cooldown.
  int blocked_events = 0;
  for (const json& e : h.fake.Events()) {
    if (e["involvedObject"]["kind"] == "Node" &&
        e["message"].get<std::string>().find("landed back") != std::string::npos) {
      ++blocked_events;
    }
  }
  CHECK(blocked_events >= 1);
  CHECK(blocked_events <= 2);  // a-1 and a-back
  bool stock_listed = false;
  const json plan = r.PlanJson();
  for (const json& u : plan["unmovable"]) {
    if (u["pod"] == "default/stock-0") {
      stock_listed = true;
      CHECK(u["reported"] == false);
    }
  }
  CHECK(stock_listed);

  // After the cooldown the drain resumes.
  h.clock.Advance(h.config.cooldown);
  r.RunOnce();
  CHECK(h.fake.Evictions().size() == 2);
}

TEST_CASE("a PDB that lags a Ready replacement does not start the workload's cooldown",
          "[rescheduler][cycle][loop]") {
  Harness h;
  h.config.enabled_strategies = {kLoadBalancing};
  h.cluster.Add(test::MakeNode("w1")).Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  h.AddReplicaSet("a", {"w1", "w1", "w1", "w1", "w1", "w1"});
  auto pdb = [](int allowed) {
    return kb::testing::PdbBuilder("default", "a")
        .Selector("app", "a")
        .MinAvailable(5)
        .Generation(1)
        .ObservedGeneration(1)
        .DisruptionsAllowed(allowed)
        .Build();
  };
  h.cluster.pdbs = {pdb(1)};
  Rescheduler& r = h.Make();
  REQUIRE(r.RunOnce().results["success"] == 1);
  const std::string first = h.fake.Evictions()[0].name;

  // The replacement is Ready elsewhere, but the disruption controller has not caught up yet.
  std::erase_if(h.cluster.pods, [&](const Pod& p) { return p.meta.name == first; });
  h.cluster.Add(test::RsPod("a-new", "a", "w2"));
  h.cluster.pdbs = {pdb(0)};
  h.clock.Advance(2s);
  CycleReport lagging = r.RunOnce(CycleKind::kEarly);
  CHECK(lagging.results["success"] == 0);
  CHECK(lagging.unmovable >= 1);

  // The PDB catches up a moment later: the rebalancing continues, no 10-minute cooldown.
  h.cluster.pdbs = {pdb(1)};
  h.clock.Advance(2s);
  CHECK(r.RunOnce(CycleKind::kEarly).results["success"] == 1);
  CHECK(h.fake.Evictions().size() == 2);
}

TEST_CASE("a node group with no node is allowed, noted and logged once while empty",
          "[rescheduler][cycle][node_groups]") {
  Harness h;
  NodeGroup gpu;
  gpu.name = "gpu";
  gpu.node_selector.match_labels = {{"pool", "gpu"}};
  h.config.node_groups = {gpu};
  h.cluster.Add(test::MakeNode("w1")).Add(test::MakeNode("w2"));
  test::LogCapture logs;
  Rescheduler& r = h.Make();
  for (int i = 0; i < 3; ++i) {
    h.clock.Advance(30s);
    REQUIRE(r.RunOnce().ran);
  }
  CHECK(logs.Count({"node group matches no node", "group=gpu"}, "warning") == 1);
  bool noted = false;
  const json plan = r.PlanJson();
  for (const json& n : plan["notes"]) {
    noted = noted || n["note"] == "node group gpu matches no node";
  }
  CHECK(noted);
}

TEST_CASE("a cycle acts only on a synced world", "[rescheduler][cycle][sync]") {
  Harness h;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build()).Add(test::MakeNode("w2"));
  h.AddReplicaSet("a", {"m", "w2"});
  std::vector<KindSync> kinds = {{"pods", true, true, h.clock.Now()},
                                 {"poddisruptionbudgets", true, true, h.clock.Now()}};
  h.resched = std::make_unique<Rescheduler>(
      h.config, test::PolicyFor(h.config), h.fake, [&h] { return h.cluster.Cache(); },
      [&h] { return h.cluster.Load(h.cluster.Cache()); }, h.clock, &h.steering, &h.metrics, nullptr,
      ReschedulerOptions{1000ms, 1000ms, "test-0", 7});
  Rescheduler& r = *h.resched;
  r.SetSyncProvider([&kinds] { return kinds; });

  // The PDB watch failed (an API outage) and has not been confirmed since.
  kinds[1].connected = false;
  CycleReport report = r.RunOnce();
  CHECK_FALSE(report.ran);
  CHECK_THAT(report.skipped, Catch::Contains("poddisruptionbudgets"));
  CHECK(h.fake.Evictions().empty());
  CHECK(Counter(h.registry, "kube_balancer_rescheduler_cycles_total",
                {{"result", "skipped_not_synced"}}) == 1);
  CHECK_THAT(r.PlanJson()["lastSkipped"]["reason"].get<std::string>(),
             Catch::Contains("poddisruptionbudgets"));

  // Reconnected and confirmed: but pods were last confirmed longer ago than maxCacheAge.
  h.clock.Advance(h.config.max_cache_age + 1s);
  kinds[1] = {"poddisruptionbudgets", true, true, h.clock.Now()};
  report = r.RunOnce();
  CHECK_FALSE(report.ran);
  CHECK_THAT(report.skipped, Catch::Contains("pods last confirmed"));

  kinds[0].confirmed = h.clock.Now();
  CHECK(r.RunOnce().results["success"] == 1);

  // Never listed.
  kinds[0].listed = false;
  CHECK(SyncGateReason(kinds, h.clock.Now(), h.config.max_cache_age) ==
        "cache not synced: pods not listed yet");
}

TEST_CASE("how each move ended is in /debug/plan and the replacements metric",
          "[rescheduler][cycle][outcomes]") {
  Harness h;
  h.cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build());
  h.cluster.Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  h.AddReplicaSet("a", {"m", "w2"});
  h.AddReplicaSet("b", {"m", "w3"});
  Rescheduler& r = h.Make();
  REQUIRE(r.RunOnce().results["success"] == 2);
  std::map<std::string, std::string> targets;
  const json first = r.PlanJson();
  for (const json& m : first["moves"]) targets[m["pod"]] = m["target"];
  // a's replacement lands on its planned target, b's elsewhere.
  std::erase_if(h.cluster.pods, [](const Pod& p) { return p.node_name == "m"; });
  h.cluster.Add(test::RsPod("a-new", "a", targets["default/a-0"]));
  h.cluster.Add(test::RsPod("b-new", "b", targets["default/b-0"] == "w2" ? "w3" : "w2"));
  h.clock.Advance(10s);
  r.RunOnce();
  CHECK(Counter(h.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "on_target"}}) == 1);
  CHECK(Counter(h.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "other_node"}}) == 1);
  std::set<std::string> outcomes;
  const json plan = r.PlanJson();
  for (const json& o : plan["outcomes"]) outcomes.insert(o["outcome"]);
  CHECK(outcomes == std::set<std::string>{"on_target", "other_node"});
}

// The loop thread on a FakeClock: it sleeps only through Clock::WaitUntil, so the test moves time
// and then waits (bounded) for the loop to be idle again before it checks what the loop did.
struct LoopHarness {
  FakeKubeClient fake;
  FakeClock clock;
  ReschedulerConfig config;
  test::TestCluster cluster;
  std::atomic<int> snapshots{0};
  std::unique_ptr<Rescheduler> resched;

  LoopHarness() {
    config.rescheduling_interval = std::chrono::hours(1);
    cluster.Add(test::MakeNode("w1"));
  }
  Rescheduler& Start() {
    resched = std::make_unique<Rescheduler>(
        config, test::PolicyFor(config), fake,
        [this] {
          ++snapshots;
          return cluster.Cache();
        },
        [this] { return cluster.Load(cluster.Cache()); }, clock, nullptr, nullptr, nullptr,
        ReschedulerOptions{50ms, 10ms, "t", 1});
    resched->Start();
    return *resched;
  }
  // The loop has reacted to the clock (and to any wake) and sleeps again.
  bool Idle() {
    return kb::testing::PollUntil([&] { return clock.IdleWaiters() == 1; });
  }
};

TEST_CASE("the loop runs a cycle at start, wakes early, and stops promptly",
          "[rescheduler][loop]") {
  LoopHarness h;
  Rescheduler& r = h.Start();
  REQUIRE(kb::testing::PollUntil([&] { return !r.PlanJson()["generatedAt"].is_null(); }));
  REQUIRE(h.Idle());
  const int after_first = h.snapshots.load();
  // A binding that pushes a node over a threshold wakes the loop long before the interval, once
  // min_cycle_gap has passed since the last cycle.
  scoring::NodeLoad hot;
  hot.cpu_util = 95;
  r.OnBinding(hot);
  h.clock.Advance(10ms);
  REQUIRE(kb::testing::PollUntil([&] { return h.snapshots.load() > after_first; }));
  REQUIRE(h.Idle());
  CHECK(r.PlanJson()["cycle"] == "early");
  scoring::NodeLoad cool;
  cool.cpu_util = 10;
  const int before = h.snapshots.load();
  r.OnBinding(cool);      // below the thresholds: no wake
  h.clock.Advance(10ms);  // a wake would be allowed to run now
  REQUIRE(h.Idle());
  CHECK(h.snapshots.load() == before);
  const auto t0 = std::chrono::steady_clock::now();
  r.Stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE(
    "the loop runs a scheduled cycle every reschedulingInterval and wakes at most once per "
    "min_cycle_gap",
    "[rescheduler][loop]") {
  LoopHarness h;
  Rescheduler& r = h.Start();
  REQUIRE(kb::testing::PollUntil([&] { return h.snapshots.load() == 1; }));
  REQUIRE(h.Idle());
  // Many wakes within the gap: one early cycle, and only once the gap has passed.
  scoring::NodeLoad hot;
  hot.mem_util = 95;
  for (int i = 0; i < 5; ++i) r.OnBinding(hot);
  h.clock.Advance(9ms);
  REQUIRE(h.Idle());
  CHECK(h.snapshots.load() == 1);
  h.clock.Advance(1ms);
  REQUIRE(kb::testing::PollUntil([&] { return h.snapshots.load() == 2; }));
  REQUIRE(h.Idle());
  CHECK(h.snapshots.load() == 2);
  // Nothing until the interval has passed since the scheduled cycle, then one scheduled cycle.
  h.clock.Advance(std::chrono::minutes(59));
  REQUIRE(h.Idle());
  CHECK(h.snapshots.load() == 2);
  h.clock.Advance(std::chrono::minutes(1));
  REQUIRE(kb::testing::PollUntil([&] { return h.snapshots.load() == 3; }));
  REQUIRE(h.Idle());
  CHECK(r.PlanJson()["cycle"] == "scheduled");
  r.Stop();
}

}  // namespace
}  // namespace kb::resched
