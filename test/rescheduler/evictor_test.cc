// Evictor against FakeKubeClient: limits, protections at execution time, PDB 429 handling, 404 /
// 409 / 500, dry-run, one move in flight per workload, cooldown, single-replica surge restart,
// bare-pod copies, the Record() funnel (metric, log line, Event).
#include "rescheduler/evictor.h"

#include <prometheus/registry.h>

#include <catch2/catch.hpp>

#include "scoring/steering.h"
#include "test/fakes/fake_kube_client.h"
#include "test/rescheduler/resched_test_util.h"

namespace kb::resched {
namespace {

using kb::testing::DeploymentBuilder;
using kb::testing::FakeKubeClient;
using kb::testing::PodBuilder;
using kb::testing::ReplicaSetBuilder;
using kb::testing::TestUid;
using nlohmann::json;
using test::OurPod;
using test::RsPodBuilder;

double Counter(prometheus::Registry& registry, const std::string& family,
               const std::map<std::string, std::string>& labels) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (match) return m.counter.value;
    }
  }
  return 0;
}

Status Http(StatusCode code, int http, const std::string& reason, const std::string& cause = "") {
  return Status(code, "injected " + std::to_string(http)).WithHttp(http, reason, cause);
}

struct Fixture {
  FakeKubeClient fake;
  FakeClock clock{test::TestTime(1000)};
  prometheus::Registry registry;
  ReschedulerMetrics metrics{registry};
  scoring::Steering steering{clock};
  ReschedulerConfig config;
  test::TestCluster cluster;
  std::unique_ptr<MoveLedger> ledger;
  std::unique_ptr<Evictor> evictor;

  Fixture() {
    cluster.Add(test::MakeNode("w1")).Add(test::MakeNode("w2")).Add(test::MakeNode("w3"));
  }

  // A healthy ReplicaSet `rs` with `replicas` pods named <rs>-<i> on `node` (cache and fake).
  void AddReplicaSet(const std::string& rs, int replicas, const std::string& node = "w1",
                     const std::string& ns = "default", const std::string& deployment = "") {
    ReplicaSetBuilder b(ns, rs);
    b.Replicas(replicas).StatusReplicas(replicas).ReadyReplicas(replicas).AvailableReplicas(
        replicas);
    if (!deployment.empty()) b.OwnedByDeployment(deployment);
    fake.Put("replicasets", b.Json());
    for (int i = 0; i < replicas; ++i) {
      PodBuilder p = OurPod(ns, rs + "-" + std::to_string(i));
      p.Node(node).OwnedByReplicaSet(rs).Label("app", rs).Cpu("100m").Memory("64Mi").Ready();
      AddPod(p);
    }
  }
  void AddPod(const PodBuilder& p) {
    fake.Put("pods", p.Json());
    cluster.Add(p.Build());
  }
  Evictor& Make() {
    ledger = std::make_unique<MoveLedger>(config);
    evictor = std::make_unique<Evictor>(fake, clock, config, ScoringConfig{}, &steering, &metrics,
                                        *ledger, EvictorOptions{"kube-balancer", "test-0", 3, 42});
    NewCycle();
    return *evictor;
  }
  // A cycle over the cluster as it is now; an early one (!new_window) shares the limits.
  void NewCycle(bool new_window = true) {
    ledger->BeginCycle(clock.Now(), new_window ? CycleKind::kScheduled : CycleKind::kEarly);
    evictor->BeginCycle(cluster.Cache());
  }
  bool Busy(const std::string& rs) const { return ledger->Busy(TestUid("default", rs)); }
  bool WorkloadCoolingDown(const std::string& rs) const {
    return ledger->WorkloadCoolingDown(TestUid("default", rs), clock.Now());
  }
  bool PodCoolingDown(const std::string& pod) const {
    return ledger->PodCoolingDown(TestUid("default", pod), clock.Now());
  }
  PlannedMove Move(const std::string& pod, const std::string& target = "w2",
                   const std::string& strategy = kLoadBalancing) {
    auto cache = cluster.Cache();
    for (const auto& [node, pods] : *cache->pods_by_node) {
      for (const PodPtr& p : *pods) {
        if (p->meta.name == pod) {
          PlannedMove m;
          m.strategy = strategy;
          m.pod = p;
          m.source = p->node_name;
          m.target = target;
          m.reason = "test reason";
          return m;
        }
      }
    }
    FAIL("no pod " << pod);
    return {};
  }
  double Evictions(const std::string& result) {
    return Counter(registry, "kube_balancer_rescheduler_evictions_total", {{"result", result}});
  }
};

TEST_CASE("evictor evicts through policy/v1 with a UID precondition, steers and records",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  test::LogCapture logs;
  Evictor& e = f.Make();
  Outcome o = e.Execute(f.Move("a-0"));
  REQUIRE(o.result == Result::kSuccess);
  auto ev = f.fake.Evictions();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].name == "a-0");
  CHECK(ev[0].options.uid_precondition == TestUid("default", "a-0"));
  CHECK_FALSE(ev[0].options.grace_period_seconds.has_value());  // the pod's own grace period
  CHECK_FALSE(ev[0].options.dry_run);
  // One brain: the replacement is steered away from the source toward the target.
  auto steer = f.steering.LookupOwner(TestUid("default", "a"));
  REQUIRE(steer.has_value());
  CHECK(steer->Avoids("w1"));
  CHECK(steer->prefer_node == "w2");
  // The funnel: metric, one log line, one Event.
  CHECK(f.Evictions("success") == 1);
  CHECK(logs.Count({"result=success", "strategy=LoadBalancing", "pod=default/a-0", "source=w1",
                    "target=w2", "test reason"},
                   "info") == 1);
  auto events = f.fake.Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0]["reason"] == "Rescheduled");
  CHECK(events[0]["type"] == "Normal");
  CHECK(events[0]["involvedObject"]["kind"] == "Pod");
  CHECK(events[0]["involvedObject"]["name"] == "a-0");
  CHECK(events[0]["involvedObject"]["uid"] == TestUid("default", "a-0"));
  CHECK(events[0]["metadata"]["namespace"] == "default");
  CHECK(events[0]["source"]["component"] == "kube-balancer");
  CHECK(events[0]["reportingInstance"] == "test-0");
  CHECK(events[0]["count"] == 1);
  REQUIRE(f.ledger->in_flight().size() == 1);
  CHECK(f.ledger->in_flight()[0].kind == InFlightMove::Kind::kEviction);
}

TEST_CASE("a move records the usage the plan took off the source for the recent-move discount",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  f.AddReplicaSet("b", 3);
  Evictor& e = f.Make();
  PlannedMove sampled = f.Move("a-0");
  sampled.usage = Resources{2800, 64 << 20, 1};  // the pod's sampled usage, not its requests
  sampled.usage_from_metrics = true;
  REQUIRE(e.Execute(sampled).result == Result::kSuccess);
  REQUIRE(f.ledger->in_flight().size() == 1);
  CHECK(f.ledger->in_flight()[0].estimate.cpu_millis == 2800);
  CHECK(f.ledger->in_flight()[0].estimate.memory_bytes == 64 << 20);
  // A move planned without a usage (none known) records the requests-based estimate.
  REQUIRE(e.Execute(f.Move("b-0")).result == Result::kSuccess);
  bool found = false;
  for (const InFlightMove& m : f.ledger->in_flight()) {
    if (m.pod.name != "b-0") continue;
    found = true;
    CHECK(m.estimate.cpu_millis == f.Move("b-0").pod->EffectiveRequest().cpu_millis);
  }
  CHECK(found);
}

TEST_CASE("evictor passes the configured grace period", "[rescheduler][evictor]") {
  Fixture f;
  f.config.eviction_grace_seconds = 5;
  f.AddReplicaSet("a", 2);
  REQUIRE(f.Make().Execute(f.Move("a-0")).result == Result::kSuccess);
  REQUIRE(f.fake.Evictions().size() == 1);
  CHECK(f.fake.Evictions()[0].options.grace_period_seconds == 5);
}

TEST_CASE("evictor limits: per cycle, per node, per namespace", "[rescheduler][evictor]") {
  Fixture f;
  SECTION("maxReschedulePods per cycle; a new scheduled cycle resets it, an early one does not") {
    f.config.max_reschedule_pods = 2;
    for (const char* rs : {"a", "b", "c", "d"}) f.AddReplicaSet(rs, 2, "w1");
    f.config.max_reschedule_pods_per_node = 10;
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kSuccess);
    CHECK(e.Execute(f.Move("b-0")).result == Result::kSuccess);
    CHECK(e.Execute(f.Move("c-0")).result == Result::kLimitCycle);
    f.NewCycle(/*new_window=*/false);
    CHECK(e.Execute(f.Move("c-0")).result == Result::kLimitCycle);
    f.NewCycle(/*new_window=*/true);
    CHECK(e.Execute(f.Move("c-0")).result == Result::kSuccess);
    CHECK(f.fake.Evictions().size() == 3);
    CHECK(f.Evictions("limit_cycle") == 2);
  }
  SECTION("maxReschedulePodsPerNode") {
    f.config.max_reschedule_pods_per_node = 1;
    f.AddReplicaSet("a", 2, "w1");
    f.AddReplicaSet("b", 2, "w1");
    f.AddReplicaSet("c", 2, "w3");
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kSuccess);
    CHECK(e.Execute(f.Move("b-0")).result == Result::kLimitNode);
    CHECK(e.Execute(f.Move("c-0")).result == Result::kSuccess);
    CHECK(f.Evictions("limit_node") == 1);
  }
  SECTION("maxReschedulePodsPerNamespace") {
    f.config.max_reschedule_pods_per_namespace = 1;
    f.AddReplicaSet("a", 2, "w1", "team");
    f.AddReplicaSet("b", 2, "w1", "team");
    f.AddReplicaSet("c", 2, "w1", "other");
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kSuccess);
    CHECK(e.Execute(f.Move("b-0")).result == Result::kLimitNamespace);
    CHECK(e.Execute(f.Move("c-0")).result == Result::kSuccess);
  }
  SECTION("failed attempts do not use up the budget") {
    f.config.max_reschedule_pods = 1;
    f.AddReplicaSet("a", 2);
    f.AddReplicaSet("b", 2);
    f.fake.FailNthCall(testing::kVerbEvictPod, 1,
                       Http(StatusCode::kUnavailable, 500, "InternalError"));
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kError);
    CHECK(e.Execute(f.Move("b-0")).result == Result::kSuccess);
  }
}

TEST_CASE("evictor re-checks protections before acting", "[rescheduler][evictor]") {
  Fixture f;
  f.AddPod(OurPod("ds-0").Node("w1").OwnedByDaemonSet("ds").Ready());
  f.AddReplicaSet("a", 2);
  Evictor& e = f.Make();
  Outcome o = e.Execute(f.Move("ds-0"));
  CHECK(o.result == Result::kProtected);
  CHECK(o.message.find("daemonset") != std::string::npos);
  CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 0);
  SECTION("workload state read from the API: a Deployment mid-rollout") {
    Fixture g;
    g.AddReplicaSet("web-1", 3, "w1", "default", "web");
    g.fake.Put("deployments", DeploymentBuilder("default", "web")
                                  .Replicas(3)
                                  .StatusReplicas(4)
                                  .UpdatedReplicas(1)
                                  .ReadyReplicas(3)
                                  .AvailableReplicas(3)
                                  .Json());
    Outcome r = g.Make().Execute(g.Move("web-1-0"));
    CHECK(r.result == Result::kProtected);
    CHECK(r.message.find("mid-rollout") != std::string::npos);
    CHECK(g.fake.CallCount(testing::kVerbEvictPod) == 0);
  }
}

TEST_CASE("the evictor refuses every protected pod without an API call",
          "[rescheduler][evictor][protections]") {
  struct Case {
    const char* name;
    PodBuilder pod;
  };
  auto rs_pod = [](const char* name) {
    PodBuilder p = OurPod(name);
    p.Node("w1").OwnedByReplicaSet("a").Label("app", "a").Cpu("100m").Ready();
    return p;
  };
  std::vector<Case> cases = {
      {"terminating", rs_pod("p").Deleting(test::TestTime(1))},
      {"mirror", rs_pod("p").Mirror()},
      {"daemonset", OurPod("p").Node("w1").OwnedByDaemonSet("ds").Ready()},
      {"system_critical", rs_pod("p").Priority(2000001000)},
      {"excluded_namespace", OurPod("kube-system", "p").Node("w1").OwnedByReplicaSet("a").Ready()},
      {"opted_out", rs_pod("p").Label(kReschedulingLabel, "disabled")},
      {"local_storage", rs_pod("p").EmptyDir("scratch")},
      {"bare_pod", OurPod("p").Node("w1").Ready()},
      {"not_ready", rs_pod("p").Ready(false)},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      Fixture f;
      f.AddPod(tc.pod);
      Outcome o = f.Make().Execute(f.Move("p"));
      CHECK(o.result == Result::kProtected);
      CHECK(o.message.rfind(tc.name, 0) == 0);
      CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 0);
      CHECK(f.fake.CallCount(testing::kVerbGetReplicaSet) == 0);
      CHECK(f.fake.CreatedPods().empty());
    }
  }
  SECTION("unavailable_workload (a sibling not Ready in the cache)") {
    Fixture f;
    f.AddReplicaSet("a", 2);
    f.cluster.pods[1] = test::RsPodBuilder("a-1", "a", "w1").Ready(false).Build();
    Outcome o = f.Make().Execute(f.Move("a-0"));
    CHECK(o.result == Result::kProtected);
    CHECK(o.message.rfind("unavailable_workload", 0) == 0);
    CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 0);
  }
}

TEST_CASE("a PDB 429 skips the pod with one info line and no retry", "[rescheduler][evictor]") {
  Fixture f;
  f.config.protections.pdb_precheck = false;  // let the API server answer
  f.AddReplicaSet("a", 2);
  f.fake.FailAlways(testing::kVerbEvictPod,
                    Http(StatusCode::kUnavailable, 429, "TooManyRequests", "DisruptionBudget"));
  test::LogCapture logs;
  Evictor& e = f.Make();
  CHECK(e.Execute(f.Move("a-0")).result == Result::kPdbBlocked);
  CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 1);  // no retry loop
  CHECK(logs.Count({"result=pdb_blocked", "pod=default/a-0"}, "info") == 1);
  CHECK(logs.Count({"result=error"}) == 0);
  // The next cycles: the same refusal is counted but not logged at info again.
  for (int i = 0; i < 3; ++i) {
    f.NewCycle();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kPdbBlocked);
  }
  CHECK(logs.Count({"result=pdb_blocked"}, "info") == 1);
  CHECK(f.Evictions("pdb_blocked") == 4);
  CHECK(f.fake.Events().empty());
  CHECK(f.ledger->in_flight().empty());
}

TEST_CASE("a PDB that allows no disruption in the cache is not even asked",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 2);
  f.AddReplicaSet("b", 2);
  SECTION("0 allowed") {
    f.cluster.pdbs.push_back(
        kb::testing::PdbBuilder("default", "a").Selector("app", "a").DisruptionsAllowed(0).Build());
    CHECK(f.Make().Execute(f.Move("a-0")).result == Result::kPdbBlocked);
    CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 0);
  }
  SECTION("1 allowed across two workloads: the second waits") {
    f.cluster.pdbs.push_back(kb::testing::PdbBuilder("default", "all")
                                 .SelectorExpression("app", "In", {"a", "b"})
                                 .DisruptionsAllowed(1)
                                 .Build());
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kSuccess);
    CHECK(e.Execute(f.Move("b-0")).result == Result::kPdbBlocked);
  }
}

TEST_CASE("404 counts as done, a UID mismatch as replaced, 5xx as an error",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 2);
  test::LogCapture logs;
  SECTION("404") {
    f.fake.FailNthCall(testing::kVerbEvictPod, 1, Http(StatusCode::kNotFound, 404, "NotFound"));
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("a-0")).result == Result::kNotFound);
    CHECK(f.ledger->in_flight().empty());
    CHECK(f.fake.Events().empty());
  }
  SECTION("409 on the UID precondition") {
    f.fake.FailNthCall(testing::kVerbEvictPod, 1, Http(StatusCode::kAborted, 409, "Conflict"));
    CHECK(f.Make().Execute(f.Move("a-0")).result == Result::kNotFound);
  }
  SECTION("500") {
    f.fake.FailNthCall(testing::kVerbEvictPod, 1,
                       Http(StatusCode::kUnavailable, 500, "InternalError"));
    Evictor& e = f.Make();
    Outcome o = e.Execute(f.Move("a-0"));
    CHECK(o.result == Result::kError);
    CHECK(logs.Count({"result=error", "pod=default/a-0"}, "warning") == 1);
    auto events = f.fake.Events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["reason"] == "RescheduleFailed");
    CHECK(events[0]["type"] == "Warning");
    CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 1);
  }
  SECTION("429 from API priority and fairness (no PDB cause) is an error, not a PDB block") {
    f.fake.FailNthCall(testing::kVerbEvictPod, 1,
                       Http(StatusCode::kResourceExhausted, 429, "TooManyRequests"));
    CHECK(f.Make().Execute(f.Move("a-0")).result == Result::kError);
  }
}

TEST_CASE("dry-run plans and reports without side effects", "[rescheduler][evictor]") {
  Fixture f;
  f.config.dry_run = true;
  f.config.max_reschedule_pods = 2;
  f.AddReplicaSet("a", 3);
  f.AddReplicaSet("b", 3);
  f.AddReplicaSet("c", 3);
  Evictor& e = f.Make();
  CHECK(e.Execute(f.Move("a-0")).result == Result::kDryRun);
  CHECK(e.Execute(f.Move("a-1")).result == Result::kInFlight);  // one per workload, as for real
  CHECK(e.Execute(f.Move("b-0")).result == Result::kDryRun);
  CHECK(e.Execute(f.Move("c-0")).result == Result::kLimitCycle);
  CHECK(f.fake.Evictions().empty());
  CHECK(f.fake.Events().empty());
  CHECK(f.fake.DeploymentPatches().empty());
  CHECK(f.fake.CreatedPods().empty());
  CHECK(f.ledger->in_flight().empty());
  CHECK(f.Evictions("dry_run") == 2);
  CHECK_FALSE(f.steering.LookupOwner(TestUid("default", "a")).has_value());
}

TEST_CASE("one move in flight per workload until its replacement is Ready",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  Evictor& e = f.Make();
  REQUIRE(e.Execute(f.Move("a-0")).result == Result::kSuccess);
  CHECK(e.Execute(f.Move("a-1")).result == Result::kInFlight);

  // Next cycle: the evicted pod is gone and a replacement is Pending.
  f.cluster.pods.erase(f.cluster.pods.begin());
  f.cluster.Add(OurPod("a-new").OwnedByReplicaSet("a").Label("app", "a").Build());
  f.NewCycle();
  CHECK(e.FollowUp() == 0);
  CHECK(f.Busy("a"));
  CHECK(e.Execute(f.Move("a-1")).result == Result::kInFlight);

  // The replacement runs and is Ready on the target: the move is done, the next may go.
  f.cluster.pods.back() = test::RsPod("a-new", "a", "w2");
  f.NewCycle();
  CHECK(e.FollowUp() == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "on_target"}}) == 1);
  CHECK(f.ledger->in_flight().empty());
  CHECK(f.PodCoolingDown("a-new"));  // the replacement is settled
  CHECK(f.ledger->RecentMoves().size() == 1);
  CHECK(e.Execute(f.Move("a-1")).result == Result::kSuccess);
  CHECK(e.Execute(f.Move("a-new")).result == Result::kInFlight);

  SECTION("cooldown: a replacement is not moved again; a finished rebalancing cools down") {
    f.NewCycle();
    // a-1's replacement arrives.
    f.cluster.pods.erase(std::remove_if(f.cluster.pods.begin(), f.cluster.pods.end(),
                                        [](const Pod& p) { return p.meta.name == "a-1"; }),
                         f.cluster.pods.end());
    f.cluster.Add(test::RsPod("a-newer", "a", "w3"));
    f.NewCycle();
    CHECK(e.FollowUp() == 1);
    CHECK(e.Execute(f.Move("a-new")).result == Result::kCooldown);
    // Nothing more planned for the workload: its rebalancing is over.
    f.ledger->EndCycle({}, {}, /*plan_truncated=*/false, f.clock.Now());
    CHECK(f.WorkloadCoolingDown("a"));
    CHECK(e.Execute(f.Move("a-2")).result == Result::kCooldown);
    // A drain still moves it.
    CHECK(e.Execute(f.Move("a-2", "w2", kNodeMaintenance)).result == Result::kSuccess);
    // Cooldown expires.
    f.clock.Advance(f.config.cooldown + std::chrono::seconds(1));
    f.NewCycle();
    CHECK_FALSE(f.WorkloadCoolingDown("a"));
  }
}

TEST_CASE("a workload whose rebalancing continues does not cool down", "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  Evictor& e = f.Make();
  REQUIRE(e.Execute(f.Move("a-0")).result == Result::kSuccess);
  f.ledger->EndCycle({TestUid("default", "a")}, {}, false, f.clock.Now());  // in flight anyway
  f.cluster.pods.erase(f.cluster.pods.begin());
  f.cluster.Add(test::RsPod("a-new", "a", "w2"));
  f.NewCycle();
  REQUIRE(e.FollowUp() == 1);
  f.ledger->EndCycle({TestUid("default", "a")}, {}, false,
                     f.clock.Now());  // planned again: still rebalancing
  CHECK_FALSE(f.WorkloadCoolingDown("a"));
  f.ledger->EndCycle({}, {}, true, f.clock.Now());  // truncated plan: work may remain
  CHECK_FALSE(f.WorkloadCoolingDown("a"));
  // Refused only for a transient reason (a PDB not caught up yet): still rebalancing.
  f.ledger->EndCycle({}, {TestUid("default", "a")}, false, f.clock.Now());
  CHECK_FALSE(f.WorkloadCoolingDown("a"));
  f.ledger->EndCycle({}, {}, false, f.clock.Now());  // nothing left: it cools down
  CHECK(f.WorkloadCoolingDown("a"));
}

TEST_CASE("a replacement that lands back on the source backs the workload off",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  test::LogCapture logs;
  Evictor& e = f.Make();
  REQUIRE(e.Execute(f.Move("a-0")).result == Result::kSuccess);
  f.cluster.pods.erase(f.cluster.pods.begin());
  f.cluster.Add(test::RsPod("a-back", "a", "w1"));
  f.NewCycle();
  CHECK(e.FollowUp() == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "landed_back"}}) == 1);
  CHECK(logs.Count({"result=landed_back"}, "warning") == 1);
  // Loop guard: no strategy moves the workload again within the cooldown, a drain included.
  CHECK(e.Execute(f.Move("a-1")).result == Result::kLoopBlocked);
  CHECK(e.Execute(f.Move("a-1", "w2", kNodeMaintenance)).result == Result::kLoopBlocked);
  for (const char* strategy : {kLoadBalancing, kNodeMaintenance}) {
    CHECK(Counter(f.registry, "kube_balancer_rescheduler_evictions_total",
                  {{"result", "loop_blocked"}, {"strategy", strategy}}) == 1);
  }
}

TEST_CASE("no Ready replacement within replacementTimeout backs the workload off",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 3);
  Evictor& e = f.Make();
  REQUIRE(e.Execute(f.Move("a-0")).result == Result::kSuccess);
  f.cluster.pods.erase(f.cluster.pods.begin());
  f.clock.Advance(f.config.replacement_timeout - std::chrono::seconds(1));
  f.NewCycle();
  CHECK(e.FollowUp() == 0);
  f.clock.Advance(std::chrono::seconds(2));
  f.NewCycle();
  CHECK(e.FollowUp() == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_replacements_total",
                {{"outcome", "pending_timeout"}}) == 1);
  CHECK(f.WorkloadCoolingDown("a"));
  bool warned = false;
  for (const json& ev : f.fake.Events()) warned = warned || ev["reason"] == "RescheduleFailed";
  CHECK(warned);
}

// ---- Single-replica Deployments -----------------------------------------------------------------

void AddSingle(Fixture& f, DeploymentBuilder d) {
  f.AddReplicaSet("web-1", 1, "w1", "default", "web");
  f.fake.Put("deployments", d.Json());
}

DeploymentBuilder HealthyWeb() {
  DeploymentBuilder d("default", "web");
  d.Replicas(1).StatusReplicas(1).UpdatedReplicas(1).ReadyReplicas(1).AvailableReplicas(1);
  return d;
}

TEST_CASE("a single-replica Deployment that surges is moved by a restartedAt patch",
          "[rescheduler][evictor][single_replica]") {
  Fixture f;
  AddSingle(f, HealthyWeb());
  Evictor& e = f.Make();
  Outcome o = e.Execute(f.Move("web-1-0"));
  REQUIRE(o.result == Result::kSuccess);
  CHECK(o.message.find("surge restart") != std::string::npos);
  CHECK(f.fake.Evictions().empty());
  auto patches = f.fake.DeploymentPatches();
  REQUIRE(patches.size() == 1);
  const json& p = patches[0].patch;
  CHECK(p["spec"]["template"]["metadata"]["annotations"][kRestartedAtAnnotation] ==
        FormatRfc3339(f.clock.WallNow()));
  CHECK(p["metadata"]["resourceVersion"].is_string());  // conditional: 409 on a stale read
  REQUIRE(f.ledger->in_flight().size() == 1);
  CHECK(f.ledger->in_flight()[0].kind == InFlightMove::Kind::kRestart);

  // The new pod (another ReplicaSet of the Deployment) is Ready on w2, the old one is gone.
  f.cluster.pods.clear();
  f.cluster.Add(test::RsPodBuilder("web-2-x", "web-2", "w2").Label("app", "web").Build());
  f.NewCycle();
  CHECK(e.FollowUp() == 1);
  CHECK(f.PodCoolingDown("web-2-x"));
}

TEST_CASE("a single-replica Deployment that cannot surge is skipped and reported",
          "[rescheduler][evictor][single_replica]") {
  struct Case {
    const char* name;
    DeploymentBuilder d;
    const char* text;
  };
  std::vector<Case> cases = {
      {"Recreate", HealthyWeb().Recreate(), "Recreate"},
      {"maxSurge 0", HealthyWeb().MaxSurge(0).MaxUnavailable(1), "maxSurge 0"},
      {"paused", HealthyWeb().Paused(), "paused"},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      Fixture f;
      AddSingle(f, tc.d);
      Outcome o = f.Make().Execute(f.Move("web-1-0"));
      CHECK(o.result == Result::kSingleReplica);
      CHECK(o.message.find(tc.text) != std::string::npos);
      CHECK(f.fake.Evictions().empty());
      CHECK(f.fake.DeploymentPatches().empty());
      auto events = f.fake.Events();
      REQUIRE(events.size() == 1);
      CHECK(events[0]["reason"] == "RescheduleFailed");
    }
  }
}

TEST_CASE("the restart patch re-reads on 409 and gives up after a bounded number of attempts",
          "[rescheduler][evictor][single_replica]") {
  Fixture f;
  AddSingle(f, HealthyWeb());
  SECTION("one conflict, then success") {
    f.fake.FailNthCall(testing::kVerbPatchDeployment, 1,
                       Http(StatusCode::kAborted, 409, "Conflict"));
    CHECK(f.Make().Execute(f.Move("web-1-0")).result == Result::kSuccess);
    CHECK(f.fake.CallCount(testing::kVerbPatchDeployment) == 2);
    // Every attempt re-read the Deployment (1 to resolve the workload + 1 per attempt).
    CHECK(f.fake.CallCount(testing::kVerbGetDeployment) == 3);
  }
  SECTION("conflicts forever") {
    f.fake.FailAlways(testing::kVerbPatchDeployment, Http(StatusCode::kAborted, 409, "Conflict"));
    Outcome o = f.Make().Execute(f.Move("web-1-0"));
    CHECK(o.result == Result::kError);
    CHECK(o.message.find("3 attempts") != std::string::npos);
    CHECK(f.fake.CallCount(testing::kVerbPatchDeployment) == 3);
  }
}

// ---- Bare pods --------------------------------------------------------------------------------

PodBuilder OptedInBare() {
  PodBuilder p = OurPod("solo");
  p.Node("w1").Label(kReschedulingLabel, "enabled").Cpu("100m").Ready();
  return p;
}

TEST_CASE("an opted-in bare pod moves by copy: Ready copy, then the original goes",
          "[rescheduler][evictor][bare_pod]") {
  Fixture f;
  f.AddPod(OptedInBare());
  Evictor& e = f.Make();
  Outcome o = e.Execute(f.Move("solo", "w2"));
  REQUIRE(o.result == Result::kSuccess);
  CHECK(f.fake.Evictions().empty());
  auto created = f.fake.CreatedPods();
  REQUIRE(created.size() == 1);
  const json& copy = created[0];
  const std::string name = copy["metadata"]["name"];
  CHECK(name.rfind("rescheduled-solo-", 0) == 0);
  CHECK(name.size() == std::string("rescheduled-solo-").size() + 5);
  CHECK(copy["spec"]["nodeName"] == "w2");
  CHECK_FALSE(copy.contains("status"));
  CHECK_FALSE(copy["metadata"].contains("uid"));
  CHECK_FALSE(copy["metadata"].contains("resourceVersion"));
  CHECK_FALSE(copy["metadata"].contains("creationTimestamp"));
  CHECK_FALSE(copy["metadata"].contains("ownerReferences"));
  CHECK(copy["metadata"]["labels"][kReschedulingLabel] == "enabled");
  REQUIRE(f.ledger->in_flight().size() == 1);
  CHECK(f.ledger->in_flight()[0].copy_name == name);

  SECTION("copy Ready: the original is deleted (with its UID as precondition)") {
    f.cluster.Add(OurPod(name).Node("w2").Label(kReschedulingLabel, "enabled").Ready().Build());
    f.NewCycle();
    CHECK(e.FollowUp() == 1);
    CHECK(f.fake.DeletedPods() == std::vector<std::string>{"default/solo"});
    CHECK(f.PodCoolingDown(name));
  }
  SECTION("copy not Ready in time: the copy is deleted, the original stays") {
    f.cluster.Add(OurPod(name).Node("w2").Ready(false).Build());
    f.NewCycle();
    CHECK(e.FollowUp() == 0);
    f.clock.Advance(f.config.replacement_timeout + std::chrono::seconds(1));
    f.NewCycle();
    CHECK(e.FollowUp() == 1);
    CHECK(f.fake.DeletedPods() == std::vector<std::string>{"default/" + name});
    CHECK(f.fake.Get("pods", "default", "solo").has_value());
    CHECK(Counter(f.registry, "kube_balancer_rescheduler_replacements_total",
                  {{"outcome", "pending_timeout"}}) == 1);
  }
  SECTION("copy rejected (phase Failed): deleted at once") {
    f.cluster.Add(OurPod(name).Node("w2").Phase("Failed").Build());
    f.NewCycle();
    CHECK(e.FollowUp() == 1);
    CHECK(f.fake.DeletedPods() == std::vector<std::string>{"default/" + name});
  }
}

TEST_CASE("bare pods are never evicted: without the label they are protected",
          "[rescheduler][evictor][bare_pod]") {
  Fixture f;
  f.AddPod(OurPod("solo").Node("w1").Ready());
  CHECK(f.Make().Execute(f.Move("solo")).result == Result::kProtected);
  CHECK(f.fake.CreatedPods().empty());
  CHECK(f.fake.Evictions().empty());
}

TEST_CASE("copy names: prefix, suffix, no double wrapping, length bound",
          "[rescheduler][evictor][bare_pod]") {
  CHECK(Evictor::CopyName("solo", "abcde") == "rescheduled-solo-abcde");
  CHECK(Evictor::CopyName("rescheduled-solo-xyz12", "abcde") == "rescheduled-solo-abcde");
  const std::string longname(250, 'a');
  const std::string n = Evictor::CopyName(longname, "abcde");
  CHECK(n.size() <= 253);
  CHECK(n.substr(n.size() - 6) == "-abcde");
  json pod = OurPod("x").Node("w1").Uid("u").Ready().Json();
  pod["metadata"]["managedFields"] = json::array({json::object()});
  pod["metadata"]["generateName"] = "x-";
  pod["spec"]["schedulingGates"] = json::array({{{"name", "g"}}});
  json copy = Evictor::MakeCopy(pod, "w9", "zzzzz");
  CHECK(copy["metadata"]["name"] == "rescheduled-x-zzzzz");
  CHECK_FALSE(copy["metadata"].contains("managedFields"));
  CHECK_FALSE(copy["metadata"].contains("generateName"));
  CHECK_FALSE(copy["spec"].contains("schedulingGates"));
  CHECK(copy["spec"]["nodeName"] == "w9");
}

// ---- Reports and leadership -------------------------------------------------------------------

TEST_CASE("unmovable pods are reported on the node and the pod once per cooldown",
          "[rescheduler][evictor]") {
  Fixture f;
  f.AddPod(OurPod("solo").Node("w1").Ready());
  Evictor& e = f.Make();
  UnmovablePod u{kNodeMaintenance, f.Move("solo").pod, "w1", "bare pod without a controller", true};
  e.ReportUnmovable(u);
  e.ReportUnmovable(u);
  auto events = f.fake.Events();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["involvedObject"]["kind"] == "Node");
  CHECK(events[0]["involvedObject"]["name"] == "w1");
  CHECK(events[0]["metadata"]["namespace"] == "default");
  CHECK(events[0]["message"].get<std::string>().find("default/solo") != std::string::npos);
  CHECK(events[1]["involvedObject"]["kind"] == "Pod");
  CHECK(events[1]["involvedObject"]["name"] == "solo");
  CHECK(events[1]["message"].get<std::string>().find("not evicted") != std::string::npos);
  u.report = false;
  e.ReportUnmovable(u);
  CHECK(f.fake.Events().size() == 2);
  CHECK(f.Evictions("unmovable") == 3);
}

TEST_CASE("no API call once leadership is lost", "[rescheduler][evictor]") {
  Fixture f;
  f.AddReplicaSet("a", 2);
  Evictor& e = f.Make();
  e.SetMayAct([] { return false; });
  CHECK(e.Execute(f.Move("a-0")).result == Result::kNotLeader);
  CHECK(f.fake.CallCount(testing::kVerbEvictPod) == 0);
  CHECK(f.fake.Events().empty());
}

// ---- Idempotent bare-pod copies ----------------------------------------------------------------

TEST_CASE("a bare pod is copied once even when planning runs on a snapshot from before its delete",
          "[rescheduler][evictor][bare_pod]") {
  Fixture f;
  f.AddPod(OptedInBare());
  Evictor& e = f.Make();
  REQUIRE(e.Execute(f.Move("solo", "w2")).result == Result::kSuccess);
  const std::string name = f.fake.CreatedPods().at(0)["metadata"]["name"];
  CHECK(f.fake.CreatedPods()[0]["metadata"]["labels"][kCopyOfLabel] == TestUid("default", "solo"));
  // The copy is Ready: the follow-up deletes the original, which the API server keeps while it
  // terminates (graceful deletion).
  const Pod stale_original = f.cluster.pods[0];
  f.cluster.Add(OurPod(name).Node("w2").Label(kReschedulingLabel, "enabled").Ready().Build());
  f.NewCycle();
  REQUIRE(e.FollowUp() == 1);
  REQUIRE(f.fake.DeletedPods() == std::vector<std::string>{"default/solo"});
  f.fake.Put("pods", OptedInBare().Deleting(test::TestTime(1000)).Json());
  // Planning in the same cycle still sees the original Running (the snapshot predates the
  // delete) and plans it again: no second copy.
  CHECK(e.Execute(f.Move("solo", "w3")).result == Result::kNotFound);
  CHECK(f.fake.CreatedPods().size() == 1);
}

TEST_CASE("a bare-pod copy re-reads the original and looks for an earlier copy",
          "[rescheduler][evictor][bare_pod]") {
  Fixture f;
  f.AddPod(OptedInBare());
  SECTION("the original is terminating in the API (the cache is behind)") {
    f.fake.Put("pods", OptedInBare().Deleting(test::TestTime(1000)).Json());
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("solo", "w2")).result == Result::kNotFound);
  }
  SECTION("a copy of the same original exists (made before a leadership change)") {
    f.fake.Put("pods", OurPod("rescheduled-solo-bcdfg")
                           .Node("w3")
                           .Label(kCopyOfLabel, TestUid("default", "solo"))
                           .Ready()
                           .Json());
    Evictor& e = f.Make();
    Outcome o = e.Execute(f.Move("solo", "w2"));
    CHECK(o.result == Result::kNotFound);
    CHECK_THAT(o.message, Catch::Contains("rescheduled-solo-bcdfg"));
  }
  SECTION("the lookup fails: no copy is made") {
    f.fake.FailAlways(kb::testing::kVerbList, Status::Unavailable("injected"));
    Evictor& e = f.Make();
    CHECK(e.Execute(f.Move("solo", "w2")).result == Result::kError);
  }
  CHECK(f.fake.CreatedPods().empty());
}

// ---- RBAC by feature: a refused opt-in move is reported once, then skipped ---------------------

int EventsWithReason(const Fixture& f, const std::string& reason) {
  int n = 0;
  for (const json& ev : f.fake.Events()) n += ev["reason"] == reason;
  return n;
}

TEST_CASE("without the bare-pod-migration RBAC a copy is refused once, then never tried again",
          "[rescheduler][evictor][bare_pod][rbac]") {
  Fixture f;
  f.AddPod(OptedInBare());
  f.AddPod(OurPod("solo2").Node("w1").Label(kReschedulingLabel, "enabled").Cpu("100m").Ready());
  f.fake.FailAlways(kb::testing::kVerbCreatePod,
                    Status::PermissionDenied("pods is forbidden: User cannot create resource"));
  Evictor& e = f.Make();
  Outcome first = e.Execute(f.Move("solo", "w2"));
  CHECK(first.result == Result::kPermissionDenied);
  CHECK(f.fake.CallCount(kb::testing::kVerbCreatePod) == 1);
  Outcome second = e.Execute(f.Move("solo2", "w2"));
  CHECK(second.result == Result::kPermissionDenied);
  CHECK_THAT(second.message, Catch::Contains("deploy/components/bare-pod-migration"));
  f.NewCycle();
  CHECK(e.Execute(f.Move("solo", "w3")).result == Result::kPermissionDenied);
  // One API attempt, one report: Event, counter; later moves of the kind make no call.
  CHECK(f.fake.CallCount(kb::testing::kVerbCreatePod) == 1);
  CHECK(EventsWithReason(f, "ReschedulePermissionDenied") == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_permission_denied_total",
                {{"verb", "create"}, {"resource", "pods"}}) == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_evictions_total",
                {{"result", "permission_denied"}}) == 3);
  // No cooldown: the refusal was not a move.
  CHECK_FALSE(f.PodCoolingDown("solo"));
}

TEST_CASE("without the surge-restart RBAC a single-replica restart is refused once",
          "[rescheduler][evictor][single_replica][rbac]") {
  Fixture f;
  AddSingle(f, HealthyWeb());
  f.fake.FailAlways(kb::testing::kVerbPatchDeployment,
                    Status::PermissionDenied("deployments.apps is forbidden"));
  Evictor& e = f.Make();
  CHECK(e.Execute(f.Move("web-1-0")).result == Result::kPermissionDenied);
  CHECK(e.Execute(f.Move("web-1-0")).result == Result::kPermissionDenied);
  CHECK(f.fake.CallCount(kb::testing::kVerbPatchDeployment) == 1);
  CHECK(EventsWithReason(f, "ReschedulePermissionDenied") == 1);
  CHECK(Counter(f.registry, "kube_balancer_rescheduler_permission_denied_total",
                {{"verb", "patch"}, {"resource", "deployments"}}) == 1);
  CHECK(f.fake.Evictions().empty());
}

// ---- Circuit breaker and hourly budget ---------------------------------------------------------

double Gauge(prometheus::Registry& registry, const std::string& family) {
  for (const auto& fam : registry.Collect()) {
    if (fam.name == family && !fam.metric.empty()) return fam.metric[0].gauge.value;
  }
  return -1;
}

TEST_CASE("replacements that keep timing out open the breaker but NodeMaintenance still acts",
          "[rescheduler][evictor][breaker]") {
  Fixture f;
  for (const char* rs : {"a", "b", "c", "d"}) f.AddReplicaSet(rs, 3);
  Evictor& e = f.Make();
  for (const char* pod : {"a-0", "b-0", "c-0"}) {
    REQUIRE(e.Execute(f.Move(pod)).result == Result::kSuccess);
  }
  // No replacement ever becomes Ready.
  f.clock.Advance(f.config.replacement_timeout + std::chrono::seconds(1));
  f.NewCycle();
  CHECK(e.FollowUp() == 3);
  CHECK(f.ledger->BreakerOpen(f.clock.Now()));
  CHECK(Gauge(f.registry, "kube_balancer_rescheduler_breaker_open") == 1);
  bool paused_event = false;
  for (const json& ev : f.fake.Events()) paused_event |= ev["reason"] == "ReschedulerPaused";
  CHECK(paused_event);
  Outcome o = e.Execute(f.Move("d-0"));
  CHECK(o.result == Result::kBudget);
  CHECK_THAT(o.message, Catch::Contains("breaker open"));
  CHECK(e.Execute(f.Move("d-0", "w2", kNodeMaintenance)).result == Result::kSuccess);
  // The breaker closes after coolOff.
  f.clock.Advance(f.config.breaker.cool_off);
  f.NewCycle();
  CHECK_FALSE(f.ledger->BreakerOpen(f.clock.Now()));
}

TEST_CASE("API server failures in a row open the breaker but a PDB 429 does not",
          "[rescheduler][evictor][breaker]") {
  Fixture f;
  f.config.breaker.failures = 2;
  f.AddReplicaSet("a", 4);
  Evictor& e = f.Make();
  f.fake.FailAlways(kb::testing::kVerbEvictPod,
                    Http(StatusCode::kUnavailable, 429, "TooManyRequests", "DisruptionBudget"));
  for (int i = 0; i < 3; ++i) CHECK(e.Execute(f.Move("a-0")).result == Result::kPdbBlocked);
  CHECK_FALSE(f.ledger->BreakerOpen(f.clock.Now()));
  f.fake.ClearFailures();
  f.fake.FailAlways(kb::testing::kVerbEvictPod, Http(StatusCode::kInternal, 500, "InternalError"));
  CHECK(e.Execute(f.Move("a-0")).result == Result::kError);
  CHECK_FALSE(f.ledger->BreakerOpen(f.clock.Now()));
  CHECK(e.Execute(f.Move("a-1")).result == Result::kError);
  CHECK(f.ledger->BreakerOpen(f.clock.Now()));
  CHECK(e.Execute(f.Move("a-2")).result == Result::kBudget);
}

TEST_CASE("maxEvictionsPerHour is a rolling budget over every cycle",
          "[rescheduler][evictor][budget]") {
  Fixture f;
  f.config.max_evictions_per_hour = 2;
  for (const char* rs : {"a", "b", "c"}) f.AddReplicaSet(rs, 3);
  Evictor& e = f.Make();
  CHECK(e.Execute(f.Move("a-0")).result == Result::kSuccess);
  f.clock.Advance(std::chrono::minutes(20));
  f.NewCycle();
  CHECK(e.Execute(f.Move("b-0")).result == Result::kSuccess);
  f.clock.Advance(std::chrono::minutes(20));
  f.NewCycle();  // a new cycle (and window): maxReschedulePods is fresh, the hour is not
  Outcome o = e.Execute(f.Move("c-0"));
  CHECK(o.result == Result::kBudget);
  CHECK_THAT(o.message, Catch::Contains("maxEvictionsPerHour 2"));
  f.clock.Advance(std::chrono::minutes(21));  // the first move left the hour
  f.NewCycle();
  CHECK(e.Execute(f.Move("c-0")).result == Result::kSuccess);
}

}  // namespace
}  // namespace kb::resched
