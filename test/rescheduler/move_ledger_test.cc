// MoveLedger on its own: usage-condition counting (with the early-cycle rule), cooldowns and
// their expiry, the per-window limits, PDB counting, sessions, dedup, and the reset of a new term.
#include "rescheduler/move_ledger.h"

#include <catch2/catch.hpp>

#include "test/rescheduler/resched_test_util.h"

namespace kb::resched {
namespace {

using kb::testing::PdbBuilder;
using kb::testing::TestUid;
using namespace std::chrono_literals;

constexpr SteadyTime kT0{std::chrono::hours(1000)};

ReschedulerConfig Config() {
  ReschedulerConfig c;
  c.rescheduling_interval = 30s;
  c.cooldown = 300s;
  c.steer_window = 120s;
  c.max_reschedule_pods = 2;
  c.max_reschedule_pods_per_node = 1;
  c.max_reschedule_pods_per_namespace = 5;
  return c;
}

TEST_CASE("conditions count one per scheduled cycle and reset when they stop holding",
          "[rescheduler][ledger]") {
  MoveLedger ledger(Config());
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  CHECK(ledger.EffectiveCount("c") == 1);  // a new condition counts this cycle
  ledger.ObserveConditions({"c", "c"});    // listed twice: counted once
  REQUIRE(ledger.conditions().count("c") == 1);
  CHECK(ledger.conditions().at("c").cycles == 1);
  ledger.BeginCycle(kT0 + 30s, CycleKind::kScheduled);
  CHECK(ledger.EffectiveCount("c") == 2);
  ledger.ObserveConditions({"c"});
  CHECK(ledger.conditions().at("c").cycles == 2);
  ledger.BeginCycle(kT0 + 60s, CycleKind::kScheduled);
  ledger.ObserveConditions({});  // no longer holds: forgotten
  CHECK(ledger.conditions().empty());
  CHECK(ledger.EffectiveCount("c") == 1);
}

TEST_CASE("an early cycle counts a condition only after 9/10 of the interval",
          "[rescheduler][ledger]") {
  MoveLedger ledger(Config());
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  ledger.ObserveConditions({"c"});
  ledger.BeginCycle(kT0 + 26s, CycleKind::kEarly);  // 26s < 27s: too soon
  CHECK(ledger.EffectiveCount("c") == 1);
  ledger.ObserveConditions({"c"});
  CHECK(ledger.conditions().at("c").cycles == 1);  // still held, not counted
  ledger.BeginCycle(kT0 + 27s, CycleKind::kEarly);
  CHECK(ledger.EffectiveCount("c") == 2);
  ledger.ObserveConditions({"c"});
  CHECK(ledger.conditions().at("c").cycles == 2);
  // A condition acted on starts again.
  ledger.ForgetCondition("c");
  CHECK(ledger.EffectiveCount("c") == 1);
}

TEST_CASE("cooldowns, recent moves and dedup keys expire", "[rescheduler][ledger]") {
  MoveLedger ledger(Config());
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  ledger.CoolDownPod("pod-uid", kT0);
  ledger.CoolDownWorkload("rs-uid", kT0);
  test::AddInFlight(ledger, "rs2-uid", "w1", "w2", Resources{100, 0, 1});
  CHECK(ledger.ShouldEmit("key", kT0));
  CHECK_FALSE(ledger.ShouldEmit("key", kT0 + 299s));
  CHECK(ledger.PodCoolingDown("pod-uid", kT0 + 299s));
  CHECK(ledger.WorkloadCoolingDown("rs-uid", kT0 + 299s));
  CHECK_FALSE(ledger.PodCoolingDown("other", kT0));
  CHECK_FALSE(ledger.PodCoolingDown("pod-uid", kT0 + 300s));
  CHECK_FALSE(ledger.WorkloadCoolingDown("rs-uid", kT0 + 300s));
  REQUIRE(ledger.RecentMoves().size() == 1);
  CHECK(ledger.RecentMoves()[0].source == "w1");
  ledger.BeginCycle(kT0 + 121s, CycleKind::kScheduled);
  CHECK(ledger.RecentMoves().empty());  // beyond steerWindow
  ledger.BeginCycle(kT0 + 300s, CycleKind::kScheduled);
  CHECK(ledger.ShouldEmit("key", kT0 + 300s));
  CHECK_FALSE(ledger.PodCoolingDown("pod-uid", kT0 + 300s));
}

TEST_CASE("limits count per window: early cycles share it, PDB counts are per cycle",
          "[rescheduler][ledger]") {
  test::TestCluster cluster;
  cluster.Add(test::MakeNode("w1")).Add(test::MakeNode("w2"));
  cluster.Add(test::RsPod("a-0", "a", "w1")).Add(test::RsPod("b-0", "b", "w2"));
  cluster.Add(test::RsPod("c-0", "c", "w2"));
  cluster.pdbs.push_back(
      PdbBuilder("default", "a").Selector("app", "a").DisruptionsAllowed(1).Build());
  const auto snapshot = cluster.Cache();
  auto pod = [&](const std::string& node, size_t i) { return snapshot->PodsOnNode(node)[i]; };
  MoveLedger ledger(Config());
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  const PodPtr a = pod("w1", 0);
  CHECK_FALSE(ledger.BudgetRefusal(*a, "w1", false, *snapshot, kT0).has_value());
  ledger.CountAction(*a, "w1", *snapshot);
  CHECK(ledger.counts().by_pdb.at("default/a") == 1);
  // PDB: one disruption allowed and used.
  auto refused = ledger.BudgetRefusal(*a, "w9", false, *snapshot, kT0);
  REQUIRE(refused.has_value());
  CHECK(refused->result == Result::kPdbBlocked);
  CHECK(refused->message ==
        "PodDisruptionBudget default/a allows no disruption now (1 allowed, 1 used this cycle)");
  // Per node: w1 had its one move.
  const PodPtr b = pod("w2", 0);
  refused = ledger.BudgetRefusal(*b, "w1", false, *snapshot, kT0);
  REQUIRE(refused.has_value());
  CHECK(refused->result == Result::kLimitNode);
  ledger.CountAction(*b, "w2", *snapshot);
  // Per window: two moves. An early cycle keeps the window; the PDB count starts again.
  ledger.BeginCycle(kT0 + 5s, CycleKind::kEarly);
  CHECK(ledger.counts().by_pdb.empty());
  refused = ledger.BudgetRefusal(*pod("w2", 1), "w3", false, *snapshot, kT0 + 5s);
  REQUIRE(refused.has_value());
  CHECK(refused->result == Result::kLimitCycle);
  CHECK(refused->message == "maxReschedulePods 2 reached this cycle");
  ledger.BeginCycle(kT0 + 30s, CycleKind::kScheduled);
  CHECK(ledger.counts().window == 0);
  CHECK_FALSE(ledger.BudgetRefusal(*pod("w2", 1), "w3", false, *snapshot, kT0 + 30s).has_value());
}

TEST_CASE("the namespace limit, cooldowns and in-flight moves gate a move",
          "[rescheduler][ledger]") {
  test::TestCluster cluster;
  cluster.Add(test::MakeNode("w1"));
  cluster.Add(test::RsPod("a-0", "a", "w1")).Add(test::RsPod("a-1", "a", "w1"));
  const auto snapshot = cluster.Cache();
  const PodPtr a0 = snapshot->PodsOnNode("w1")[0];
  ReschedulerConfig config = Config();
  config.max_reschedule_pods_per_namespace = 0;
  MoveLedger ledger(config);
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  auto refused = ledger.BudgetRefusal(*a0, "w1", false, *snapshot, kT0);
  REQUIRE(refused.has_value());
  CHECK(refused->result == Result::kLimitNamespace);

  MoveLedger open(Config());
  open.BeginCycle(kT0, CycleKind::kScheduled);
  open.CoolDownWorkload(TestUid("default", "a"), kT0);
  refused = open.BudgetRefusal(*a0, "w1", false, *snapshot, kT0);
  REQUIRE(refused.has_value());
  CHECK(refused->result == Result::kCooldown);
  CHECK_FALSE(open.BudgetRefusal(*a0, "w1", /*ignore_cooldown=*/true, *snapshot, kT0).has_value());

  CHECK_FALSE(open.InFlightRefusal(TestUid("default", "a")).has_value());
  open.RecordDryRun(TestUid("default", "a"));
  CHECK(open.InFlightRefusal(TestUid("default", "a"))->result == Result::kInFlight);
  CHECK_FALSE(open.Busy(TestUid("default", "a")));  // a dry run is not a move in flight
  open.BeginCycle(kT0 + 30s, CycleKind::kScheduled);
  CHECK_FALSE(open.InFlightRefusal(TestUid("default", "a")).has_value());
}

TEST_CASE("planning counts the PDB budget on a copy of the ledger's counts",
          "[rescheduler][ledger]") {
  test::TestCluster cluster;
  cluster.Add(test::MakeNode("w1"));
  cluster.Add(test::RsPod("a-0", "a", "w1")).Add(test::RsPod("b-0", "b", "w1"));
  cluster.pdbs.push_back(PdbBuilder("default", "all")
                             .SelectorExpression("app", "In", {"a", "b"})
                             .DisruptionsAllowed(1)
                             .Build());
  const auto snapshot = cluster.Cache();
  const PodPtr a0 = snapshot->PodsOnNode("w1")[0];
  const PodPtr b0 = snapshot->PodsOnNode("w1")[1];
  MoveLedger ledger(Config());
  MoveCounts planned = ledger.counts();
  CHECK_FALSE(planned.PdbRefusal(*b0, *snapshot, "planned").has_value());
  planned.Add(*a0, "w1", *snapshot);
  CHECK(planned.PdbRefusal(*b0, *snapshot, "planned") ==
        "PodDisruptionBudget default/all allows no disruption now (1 allowed, 1 planned)");
  CHECK(ledger.counts().by_pdb.empty());  // the ledger itself is untouched
}

TEST_CASE("moves in flight settle, finished sessions cool down, and a new term forgets",
          "[rescheduler][ledger]") {
  MoveLedger ledger(Config());
  ledger.BeginCycle(kT0, CycleKind::kScheduled);
  test::AddInFlight(ledger, "w-a");
  test::AddInFlight(ledger, "w-b");
  CHECK(ledger.Busy("w-a"));
  CHECK(ledger.Settle([](const InFlightMove& m) { return m.workload == "w-a"; }) == 1);
  CHECK_FALSE(ledger.Busy("w-a"));
  CHECK(ledger.Busy("w-b"));
  // w-a's rebalancing is over unless planned again; w-b is still in flight.
  ledger.EndCycle({"w-a"}, {}, false, kT0);
  CHECK_FALSE(ledger.WorkloadCoolingDown("w-a", kT0));
  ledger.EndCycle({}, {}, true, kT0);  // truncated: work may remain
  CHECK_FALSE(ledger.WorkloadCoolingDown("w-a", kT0));
  ledger.EndCycle({}, {}, false, kT0);
  CHECK(ledger.WorkloadCoolingDown("w-a", kT0));
  CHECK_FALSE(ledger.WorkloadCoolingDown("w-b", kT0));
  // A back-off ends the session at once.
  ledger.BackOff("w-b", kT0);
  CHECK(ledger.WorkloadCoolingDown("w-b", kT0));

  ledger.ObserveConditions({"c"});
  ledger.Reset();
  CHECK(ledger.in_flight().empty());
  CHECK(ledger.conditions().empty());
  CHECK_FALSE(ledger.WorkloadCoolingDown("w-a", kT0));
  CHECK(ledger.RecentMoves().empty());
}

TEST_CASE("in-flight kinds have stable names", "[rescheduler][ledger]") {
  CHECK(std::string(InFlightKindName(InFlightMove::Kind::kEviction)) == "eviction");
  CHECK(std::string(InFlightKindName(InFlightMove::Kind::kRestart)) == "restart");
  CHECK(std::string(InFlightKindName(InFlightMove::Kind::kCopy)) == "copy");
}

}  // namespace
}  // namespace kb::resched
