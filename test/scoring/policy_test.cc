#include "scoring/policy.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>

#include "scoring/steering.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace kb::scoring {
namespace {

using namespace std::chrono_literals;
using kb::testing::MakeLoad;
using kb::testing::NodeBuilder;
using kb::testing::PodBuilder;

PolicyConfig Config80() {
  PolicyConfig c;
  c.cpu_threshold = 80;
  c.memory_threshold = 80;
  return c;
}

// ---------------------------------------------------------------- filter

TEST_CASE("filter table", "[scoring]") {
  const Node plain = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  const Pod pod = PodBuilder("p").Cpu("400m").Memory("819Mi").Build();  // 10% cpu, ~10% mem
  struct Case {
    const char* name;
    NodeLoad load;
    bool passed;
    FilterReason reason;
    const char* message_part;
  };
  const Case cases[] = {
      {"idle node passes", MakeLoad(plain, 10, 10), true, FilterReason::kNone, ""},
      {"maintenance label", MakeLoad(NodeBuilder("n").Maintenance().Build(), 0, 0), false,
       FilterReason::kMaintenance, "maintenance"},
      {"unschedulable", MakeLoad(NodeBuilder("n").Unschedulable().Build(), 0, 0), false,
       FilterReason::kUnschedulable, "unschedulable"},
      {"cpu exactly at threshold with the pod passes", MakeLoad(plain, 70, 10), true,
       FilterReason::kNone, ""},
      {"cpu over threshold only with the pod", MakeLoad(plain, 71, 10), false, FilterReason::kCpu,
       "CPU utilisation would be 81.0% with the pod"},
      {"memory over threshold", MakeLoad(plain, 10, 75), false, FilterReason::kMemory,
       "memory utilisation would be 85.0%"},
      {"stale metrics fail open", MakeLoad(plain, 95, 95, {}, /*from_metrics=*/false), true,
       FilterReason::kNone, ""},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const FilterResult r = FilterNode(pod, &c.load, Config80());
      CHECK(r.passed == c.passed);
      CHECK(r.reason == c.reason);
      CHECK(r.message.find(c.message_part) != std::string::npos);
      if (c.passed) CHECK(r.message.empty());
    }
  }
}

TEST_CASE("filter passes a node missing from the cache", "[scoring]") {
  const FilterResult r = FilterNode(PodBuilder("p").Build(), nullptr, Config80());
  CHECK(r.passed);
  CHECK(r.reason == FilterReason::kNone);
}

TEST_CASE("filterOnRequests applies thresholds to the requests fallback", "[scoring]") {
  const Node n = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  const NodeLoad load = MakeLoad(n, 75, 10, {}, /*from_metrics=*/false);
  PolicyConfig config = Config80();
  config.scoring.filter_on_requests = true;
  const FilterResult r = FilterNode(PodBuilder("p").Cpu("400m").Build(), &load, config);
  CHECK_FALSE(r.passed);
  CHECK(r.reason == FilterReason::kCpu);
  CHECK(r.message.find("from requests") != std::string::npos);
}

TEST_CASE("without Prometheus the thresholds apply to requests", "[scoring]") {
  const Node n = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  NodeLoad load = MakeLoad(n, 75, 10, {}, /*from_metrics=*/false);
  load.degraded = false;  // metrics not configured: requests are the measure, not a fallback
  const FilterResult r = FilterNode(PodBuilder("p").Cpu("400m").Build(), &load, Config80());
  CHECK_FALSE(r.passed);
  CHECK(r.reason == FilterReason::kCpu);
}

TEST_CASE("filter reason names are stable metric labels", "[scoring]") {
  CHECK(std::string(FilterReasonName(FilterReason::kMaintenance)) == "maintenance");
  CHECK(std::string(FilterReasonName(FilterReason::kUnschedulable)) == "unschedulable");
  CHECK(std::string(FilterReasonName(FilterReason::kCpu)) == "cpu");
  CHECK(std::string(FilterReasonName(FilterReason::kMemory)) == "memory");
  CHECK(std::string(FilterReasonName(FilterReason::kSteered)) == "steered");
}

TEST_CASE("the pod adds its request to a requests-based utilisation", "[scoring]") {
  const Node n = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  NodeLoad load = MakeLoad(n, 50, 50, {}, false);
  PodDemand d;
  d.request.cpu_millis = 1000;
  d.estimate.cpu_millis = 2000;  // e.g. limits-based estimate
  CHECK(UtilisationWithPod(d, load).cpu == Approx(75));
  load.cpu_from_metrics = true;
  CHECK(UtilisationWithPod(d, load).cpu == Approx(100));
}

// ---------------------------------------------------------------- score

TEST_CASE("raw score decreases monotonically with load", "[scoring]") {
  const Node n = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  const PodDemand demand = MakeDemand(PodBuilder("p").Cpu("100m").Memory("128Mi").Build(), {});
  double previous = 2.0;
  for (int load = 0; load <= 100; load += 5) {
    const Resources requested{load * 40, static_cast<int64_t>(load) * (8LL << 30) / 100, 0};
    const double raw = RawScore(demand, MakeLoad(n, load, load, requested), ScoringConfig{});
    CAPTURE(load, raw);
    CHECK(raw < previous);
    CHECK(raw >= 0.0);
    CHECK(raw <= 1.0);
    previous = raw;
  }
}

TEST_CASE("the balance term prefers nodes whose cpu and memory stay even", "[scoring]") {
  const Node n = NodeBuilder("n").Cpu("4").Memory("8Gi").Build();
  const PodDemand demand{};
  ScoreBreakdown even, skewed;
  RawScore(demand, MakeLoad(n, 40, 40), ScoringConfig{}, &even);
  RawScore(demand, MakeLoad(n, 20, 60), ScoringConfig{}, &skewed);
  CHECK(even.balance_term == Approx(1.0));
  CHECK(skewed.balance_term == Approx(0.6));
  CHECK(even.raw > skewed.raw);
}

TEST_CASE("scores spread over 0..10 across the candidates", "[scoring]") {
  const Node a = NodeBuilder("a").Build(), b = NodeBuilder("b").Build(),
             c = NodeBuilder("c").Build();
  const NodeLoad la = MakeLoad(a, 10, 10), lb = MakeLoad(b, 50, 50), lc = MakeLoad(c, 90, 90);
  const auto scores =
      ScoreNodes(PodBuilder("p").Build(),
                 {{"c", &lc}, {"a", &la}, {"unknown", nullptr}, {"b", &lb}}, PolicyConfig{});
  REQUIRE(scores.size() == 4);
  CHECK(scores[0].node == "c");
  CHECK(scores[0].score == 0);
  CHECK(scores[1].node == "a");
  CHECK(scores[1].score == 10);
  CHECK(scores[2].node == "unknown");
  CHECK_FALSE(scores[2].known);
  CHECK(scores[2].score == 0);
  CHECK(scores[3].score == 5);
  CHECK(scores[1].cpu_term == Approx(0.9));
  CHECK(scores[1].raw > scores[3].raw);
}

TEST_CASE("a single candidate and equal candidates score 10", "[scoring]") {
  const Node a = NodeBuilder("a").Build(), b = NodeBuilder("b").Build();
  const NodeLoad la = MakeLoad(a, 70, 70), lb = MakeLoad(b, 70, 70);
  auto one = ScoreNodes(PodBuilder("p").Build(), {{"a", &la}}, PolicyConfig{});
  REQUIRE(one.size() == 1);
  CHECK(one[0].score == 10);
  auto two = ScoreNodes(PodBuilder("p").Build(), {{"a", &la}, {"b", &lb}}, PolicyConfig{});
  CHECK(two[0].score == 10);
  CHECK(two[1].score == 10);
  CHECK(ScoreNodes(PodBuilder("p").Build(), {}, PolicyConfig{}).empty());
}

TEST_CASE("near-equal candidates are not stretched to 0..10", "[scoring]") {
  const Node a = NodeBuilder("a").Build(), b = NodeBuilder("b").Build();
  const NodeLoad la = MakeLoad(a, 40, 40), lb = MakeLoad(b, 41, 41);
  PolicyConfig config;
  config.scoring.min_spread = 0.05;
  const auto scores = ScoreNodes(PodBuilder("p").Build(), {{"a", &la}, {"b", &lb}}, config);
  CHECK(scores[0].score == 10);
  CHECK(scores[1].score >= 7);  // 1 point of load is not a 10-point verdict
  CHECK(scores[1].score < 10);
}

TEST_CASE("all weights zero gives equal scores", "[scoring]") {
  const Node a = NodeBuilder("a").Build(), b = NodeBuilder("b").Build();
  const NodeLoad la = MakeLoad(a, 10, 10), lb = MakeLoad(b, 90, 90);
  PolicyConfig config;
  config.scoring.cpu_weight = 0;
  config.scoring.memory_weight = 0;
  config.scoring.least_allocated_weight = 0;
  config.scoring.balance_weight = 0;
  const auto scores = ScoreNodes(PodBuilder("p").Build(), {{"a", &la}, {"b", &lb}}, config);
  CHECK(scores[0].raw == 0.0);
  CHECK(scores[0].score == scores[1].score);
}

TEST_CASE("a single weight selects its term", "[scoring]") {
  const Node a = NodeBuilder("a").Cpu("4").Memory("8Gi").Build();
  PolicyConfig config;
  config.scoring.cpu_weight = 0;
  config.scoring.memory_weight = 1;
  config.scoring.least_allocated_weight = 0;
  config.scoring.balance_weight = 0;
  ScoreBreakdown b;
  RawScore(PodDemand{}, MakeLoad(a, 90, 25), config.scoring, &b);
  CHECK(b.raw == Approx(0.75));
}

TEST_CASE("least-allocated term includes the pod", "[scoring]") {
  const Node a = NodeBuilder("a").Cpu("4").Memory("8Gi").Build();
  PodDemand d;
  d.request = Resources{1000, 2LL << 30, 1};
  ScoreBreakdown b;
  RawScore(d, MakeLoad(a, 0, 0, Resources{1000, 2LL << 30, 1}), ScoringConfig{}, &b);
  CHECK(b.least_allocated_term == Approx(0.5));
}

TEST_CASE("extender scores are clamped and rounded in one place", "[scoring]") {
  CHECK(ClampExtenderScore(-3) == 0);
  CHECK(ClampExtenderScore(12.7) == 10);
  CHECK(ClampExtenderScore(4.5) == 5);
  CHECK(ClampExtenderScore(4.49) == 4);
  CHECK(ClampExtenderScore(std::numeric_limits<double>::quiet_NaN()) == 0);
  CHECK(ClampExtenderScore(std::numeric_limits<double>::infinity()) == 0);
}

// ---------------------------------------------------------------- steering

TEST_CASE("steering filters the source and prefers the target for the owner's pods", "[scoring]") {
  FakeClock clock;
  Steering steering(clock);
  const Pod replacement = PodBuilder("web-2").OwnedByReplicaSet("web").Build();
  const Pod stranger = PodBuilder("api-1").OwnedByReplicaSet("api").Build();
  const Pod bare = PodBuilder("bare").Build();
  steering.Steer(kb::testing::TestUid("default", "web"), "node-a", "node-c", clock.Now() + 300s);

  REQUIRE(steering.Lookup(replacement).has_value());
  CHECK_FALSE(steering.Lookup(stranger).has_value());
  CHECK_FALSE(steering.Lookup(bare).has_value());
  const SteerDecision d = *steering.Lookup(replacement);
  CHECK(d.avoid_nodes == std::vector<std::string>{"node-a"});
  CHECK(d.prefer_node == "node-c");

  const Node na = NodeBuilder("node-a").Build(), nb = NodeBuilder("node-b").Build(),
             nc = NodeBuilder("node-c").Build();
  const NodeLoad la = MakeLoad(na, 5, 5), lb = MakeLoad(nb, 10, 10), lc = MakeLoad(nc, 60, 60);
  const FilterResult f = FilterNode(replacement, &la, Config80(), &d);
  CHECK_FALSE(f.passed);
  CHECK(f.reason == FilterReason::kSteered);
  CHECK(f.message == "steered away from node-a after rescheduling");
  CHECK(FilterNode(replacement, &lb, Config80(), &d).passed);

  const auto scores =
      ScoreNodes(replacement, {{"node-a", &la}, {"node-b", &lb}, {"node-c", &lc}}, Config80(), &d);
  CHECK(scores[0].score == 0);
  CHECK(scores[0].steered_away);
  CHECK(scores[2].score == 10);  // the loaded target still wins
  CHECK(scores[2].steered_target);
  CHECK(scores[1].score == 9);  // best of the rest: below the target, never tied with it

  clock.Advance(301s);
  CHECK_FALSE(steering.Lookup(replacement).has_value());
  CHECK(steering.Active().empty());
}

TEST_CASE("a steering target is the only node with the maximum score", "[scoring]") {
  FakeClock clock;
  Steering steering(clock);
  const Pod pod = PodBuilder("web-2").OwnedByReplicaSet("web").Build();
  steering.Steer(kb::testing::TestUid("default", "web"), "n0", "n3", clock.Now() + 300s);
  const SteerDecision d = *steering.Lookup(pod);
  // Five equal, empty nodes and a busier target: without steering every empty node ties at 10.
  std::vector<Node> nodes;
  for (int i = 0; i < 6; ++i) nodes.push_back(NodeBuilder("n" + std::to_string(i)).Build());
  std::vector<NodeLoad> loads;
  for (int i = 0; i < 6; ++i) loads.push_back(MakeLoad(nodes[i], i == 3 ? 70 : 5, 5 + i));
  std::vector<ScoreCandidate> candidates;
  for (int i = 0; i < 6; ++i) candidates.push_back({loads[i].name, &loads[i]});
  const auto scores = ScoreNodes(pod, candidates, Config80(), &d);
  int at_max = 0;
  for (const ScoreBreakdown& b : scores) {
    if (b.score == kMaxExtenderScore) ++at_max;
    CHECK(b.score >= kMinExtenderScore);
  }
  CHECK(at_max == 1);
  CHECK(scores[3].score == kMaxExtenderScore);
  CHECK(scores[0].score == 0);  // the source
  CHECK(scores[1].score == 9);  // the best of the rest
  CHECK(scores[5].score < scores[1].score);
  // The same pod without steering: the best node gets 10 again.
  const auto plain = ScoreNodes(pod, candidates, Config80());
  CHECK(plain[1].score == kMaxExtenderScore);
}

TEST_CASE("a binding at the target consumes the preference while sources stay avoided",
          "[scoring]") {
  FakeClock clock;
  Steering steering(clock);
  const Pod pod = PodBuilder("web-2").OwnedByReplicaSet("web").Build();
  const std::string owner = kb::testing::TestUid("default", "web");
  steering.Steer(owner, "node-a", "node-c", clock.Now() + 300s);
  steering.OnBound(pod, "node-b");  // elsewhere: no effect
  CHECK(steering.Lookup(pod)->prefer_node == "node-c");
  steering.OnBound(pod, "node-c");
  auto d = steering.Lookup(pod);
  REQUIRE(d.has_value());
  CHECK(d->prefer_node.empty());
  CHECK(d->Avoids("node-a"));
  steering.Clear(owner);
  CHECK_FALSE(steering.Lookup(pod).has_value());
}

TEST_CASE("successive moves accumulate avoided sources", "[scoring]") {
  FakeClock clock;
  Steering steering(clock);
  const std::string owner = "rs-uid";
  steering.Steer(owner, "node-a", "node-c", clock.Now() + 100s);
  clock.Advance(10s);
  steering.Steer(owner, "node-b", "node-d", clock.Now() + 100s);
  auto d = steering.LookupOwner(owner);
  REQUIRE(d.has_value());
  CHECK(d->avoid_nodes == std::vector<std::string>{"node-a", "node-b"});
  CHECK(d->prefer_node == "node-d");
  // A move back to an earlier source: that node is avoided, not preferred.
  steering.Steer(owner, "node-d", "node-a", clock.Now() + 100s);
  d = steering.LookupOwner(owner);
  CHECK(d->prefer_node.empty());
  clock.Advance(95s);  // the first entry expired
  d = steering.LookupOwner(owner);
  CHECK(d->avoid_nodes == std::vector<std::string>{"node-b", "node-d"});
  CHECK(steering.Active().size() == 2);
  CHECK_FALSE(steering.LookupOwner("").has_value());
}

}  // namespace
}  // namespace kb::scoring
