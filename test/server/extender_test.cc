// Verb handler tests (server/extender.h) against a real LoadModel and the FakeKubeClient: no
// sockets. Outcomes checked: which nodes pass, the reasons, scores, bindings and metrics.
#include "server/extender.h"

#include <prometheus/registry.h>

#include <catch2/catch.hpp>

#include "test/fakes/fake_kube_client.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace kb::server {
namespace {

using kb::testing::NodeBuilder;
using kb::testing::PodBuilder;

std::vector<std::string> Names(const ExtenderArgs& args, const FilterResponse& r) {
  std::vector<std::string> out;
  for (size_t i : r.passed) out.push_back(args.node_names[i]);
  return out;
}

std::map<std::string, std::string> AsMap(
    const std::vector<std::pair<std::string, std::string>>& v) {
  return {v.begin(), v.end()};
}

struct Env {
  Env() : metrics(registry), policy(scoring::PolicyConfig::From(Config{})) {}
  prometheus::Registry registry;
  ExtenderMetrics metrics;
  kb::testing::LoadFixture load;
  kb::testing::FakeKubeClient kube;
  scoring::PolicyConfig policy;
};

TEST_CASE("filter fails maintenance, cordoned and hot nodes and passes unknown ones",
          "[extender]") {
  Env env;
  env.load.SetCluster({NodeBuilder("cold").Build(), NodeBuilder("hot").Build(),
                       NodeBuilder("maint").Maintenance().Build(),
                       NodeBuilder("cordoned").Unschedulable().Build(),
                       NodeBuilder("memhot").Build()});
  env.load.SetUsage({{"cold", {20, 20}},
                     {"hot", {95, 20}},
                     {"maint", {10, 10}},
                     {"cordoned", {10, 10}},
                     {"memhot", {10, 99}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);

  const ExtenderArgs args =
      ExtenderArgs::ForNames(PodBuilder("web-1").Cpu("100m").Memory("128Mi").Build(),
                             {"cold", "hot", "ghost", "maint", "cordoned", "memhot"});
  const FilterResponse r = extender.Filter(args);
  CHECK(Names(args, r) == std::vector<std::string>{"cold", "ghost"});
  const auto failed = AsMap(r.failed);
  REQUIRE(failed.size() == 4);
  CHECK_THAT(failed.at("hot"), Catch::Matchers::Contains("CPU"));
  CHECK_THAT(failed.at("memhot"), Catch::Matchers::Contains("memory"));
  CHECK_THAT(failed.at("maint"), Catch::Matchers::Contains("maintenance"));
  CHECK_THAT(failed.at("cordoned"), Catch::Matchers::Contains("unschedulable"));
  // Preemption cannot fix maintenance or a cordon; it is not offered for them.
  const auto unresolvable = AsMap(r.failed_unresolvable);
  CHECK(unresolvable.size() == 2);
  CHECK(unresolvable.count("maint"));
  CHECK(unresolvable.count("cordoned"));
  CHECK(r.error.empty());

  CHECK(env.metrics.Filtered("cpu").Value() == 1);
  CHECK(env.metrics.Filtered("memory").Value() == 1);
  CHECK(env.metrics.Filtered("maintenance").Value() == 1);
  CHECK(env.metrics.Filtered("unschedulable").Value() == 1);
  CHECK(env.metrics.unknown_nodes.Value() == 1);
  CHECK(env.metrics.Degraded(Verb::kFilter).Value() == 0);
}

TEST_CASE("prioritize ranks by load over the full 0..10 range, in request order", "[extender]") {
  Env env;
  env.load.SetCluster(
      {NodeBuilder("a").Build(), NodeBuilder("b").Build(), NodeBuilder("c").Build()});
  env.load.SetUsage({{"a", {70, 60}}, {"b", {10, 15}}, {"c", {40, 40}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);

  const ExtenderArgs args = ExtenderArgs::ForNames(
      PodBuilder("p").Cpu("100m").Memory("64Mi").Build(), {"a", "b", "c", "x"});
  const std::vector<HostPriority> scores = extender.Prioritize(args);
  REQUIRE(scores.size() == 4);
  CHECK(scores[0].host == "a");
  CHECK(scores[1].host == "b");
  CHECK(scores[2].host == "c");
  CHECK(scores[3].host == "x");
  CHECK(scores[1].score == 10);  // coldest
  CHECK(scores[0].score == 0);   // hottest
  CHECK(scores[2].score > scores[0].score);
  CHECK(scores[2].score < scores[1].score);
  CHECK(scores[3].score == 0);  // not in the cache
  for (const HostPriority& p : scores) {
    CHECK(p.score >= 0);
    CHECK(p.score <= 10);
  }
  CHECK(env.metrics.unknown_nodes.Value() == 1);
}

TEST_CASE("a node without fresh metrics falls back to requests and counts as degraded",
          "[extender]") {
  Env env;
  env.load.SetCluster({NodeBuilder("sampled").Build(), NodeBuilder("unsampled").Build()});
  env.load.SetUsage({{"sampled", {30, 30}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);
  const ExtenderArgs args =
      ExtenderArgs::ForNames(PodBuilder("p").Cpu("1").Build(), {"sampled", "unsampled"});

  const FilterResponse r = extender.Filter(args);
  CHECK(Names(args, r) == std::vector<std::string>{"sampled", "unsampled"});
  CHECK(env.metrics.Degraded(Verb::kFilter).Value() == 1);
  CHECK(extender.Prioritize(args).size() == 2);
  CHECK(env.metrics.Degraded(Verb::kPrioritize).Value() == 1);

  // Metrics disabled entirely: requests-based scoring is the design, not a degradation.
  Env plain;
  kb::testing::LoadFixture no_metrics(/*metrics_enabled=*/false);
  no_metrics.SetCluster({NodeBuilder("n").Build()});
  Extender e2(no_metrics.model(), plain.kube, plain.policy, plain.metrics);
  CHECK(e2.Filter(ExtenderArgs::ForNames(PodBuilder("p").Build(), {"n"})).passed.size() == 1);
  CHECK(plain.metrics.Degraded(Verb::kFilter).Value() == 0);
}

TEST_CASE("bind posts the binding with the UID and counts it in the load model at once",
          "[extender]") {
  Env env;
  const Pod pod = PodBuilder("default", "web-1").Cpu("2").Memory("1Gi").Build();
  env.load.SetCluster({NodeBuilder("n1").Build()}, {pod});
  env.load.SetUsage({{"n1", {10, 10}}});
  env.kube.Put("pods", PodBuilder("default", "web-1").Cpu("2").Memory("1Gi").Json());
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics,
                    /*steering=*/nullptr, [&] { return env.load.Cache(); });

  const scoring::NodeLoad* before = env.load.model().Snapshot()->Find("n1");
  REQUIRE(before != nullptr);
  const int64_t requested_before = before->requested.cpu_millis;

  const std::string error = extender.Bind({"web-1", "default", pod.meta.uid, "n1"});
  CHECK(error.empty());
  const auto bindings = env.kube.Bindings();
  REQUIRE(bindings.size() == 1);
  CHECK(bindings[0].ns == "default");
  CHECK(bindings[0].name == "web-1");
  CHECK(bindings[0].uid == pod.meta.uid);
  CHECK(bindings[0].node == "n1");
  // Counted at once, before any watch event.
  const scoring::NodeLoad* after = env.load.model().Snapshot()->Find("n1");
  REQUIRE(after != nullptr);
  CHECK(after->requested.cpu_millis == requested_before + 2000);
  CHECK(env.metrics.Bindings("success").Value() == 1);
}

TEST_CASE("a failed bind returns the error text and counts the result", "[extender]") {
  Env env;
  env.load.SetCluster({NodeBuilder("n1").Build()});
  env.kube.Put("pods", PodBuilder("default", "web-1").Json());
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);

  // Wrong UID: the API server's precondition refuses (409).
  std::string error = extender.Bind({"web-1", "default", "other-uid", "n1"});
  CHECK_FALSE(error.empty());
  CHECK(env.metrics.Bindings("conflict").Value() == 1);

  error = extender.Bind({"missing", "default", "", "n1"});
  CHECK_FALSE(error.empty());
  CHECK(env.metrics.Bindings("not_found").Value() == 1);

  env.kube.FailNthCall(kb::testing::kVerbBindPod, 1, Status::Unavailable("apiserver down"));
  error = extender.Bind({"web-1", "default", "", "n1"});
  CHECK_THAT(error, Catch::Matchers::Contains("apiserver down"));
  CHECK(env.metrics.Bindings("error").Value() == 1);
  CHECK(env.kube.Bindings().empty());
  CHECK(env.load.model().assumed_count() == 0);
}

// kube-scheduler binds pod N (calling /bind) concurrently with the scheduling cycle of pod N+1,
// so /prioritize for the next pods arrives before the previous /bind.
TEST_CASE("consecutive prioritize calls without bind spread identical pods over the nodes",
          "[extender]") {
  Env env;
  env.load.SetCluster(
      {NodeBuilder("a").Build(), NodeBuilder("b").Build(), NodeBuilder("c").Build()});
  env.load.SetUsage({{"a", {20, 20}}, {"b", {20, 20}}, {"c", {20, 20}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);
  std::map<std::string, int> best;  // node -> pods it scored highest (first of equal ones)
  for (int i = 0; i < 9; ++i) {
    const Pod pod = PodBuilder("burst-" + std::to_string(i)).Cpu("300m").Memory("256Mi").Build();
    const std::vector<HostPriority> scores =
        extender.Prioritize(ExtenderArgs::ForNames(pod, {"a", "b", "c"}));
    REQUIRE(scores.size() == 3);
    const HostPriority* top = &scores[0];
    for (const HostPriority& p : scores) {
      if (p.score > top->score) top = &p;
    }
    ++best[top->host];
  }
  // Each pod saw the previous ones on their best nodes: a third of the burst each, not all of it
  // on the node that looked best before the burst.
  CHECK(best == std::map<std::string, int>{{"a", 3}, {"b", 3}, {"c", 3}});
  const auto snapshot = env.load.model().Snapshot();
  for (const char* node : {"a", "b", "c"}) CHECK(snapshot->Find(node)->assumed_pods == 3);
  CHECK(env.load.model().tentative_count() == 9);
}

TEST_CASE("a tentative placement moves with the bind and ends with its window", "[extender]") {
  Env env;
  const Pod pod = PodBuilder("default", "web-1").Cpu("1").Memory("1Gi").Build();
  env.load.SetCluster({NodeBuilder("a").Build(), NodeBuilder("b").Build()}, {pod});
  env.load.SetUsage({{"a", {10, 10}}, {"b", {30, 30}}});
  env.kube.Put("pods", PodBuilder("default", "web-1").Cpu("1").Memory("1Gi").Json());
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics,
                    /*steering=*/nullptr, [&] { return env.load.Cache(); });
  auto requested = [&](const char* node) {
    return env.load.model().Snapshot()->Find(node)->requested.cpu_millis;
  };
  const int64_t a0 = requested("a"), b0 = requested("b");

  const auto scores = extender.Prioritize(ExtenderArgs::ForNames(pod, {"a", "b"}));
  REQUIRE(scores[0].score == 10);
  CHECK(requested("a") == a0 + 1000);  // counted on its best node at once
  CHECK(requested("b") == b0);
  CHECK(env.load.model().tentative_count() == 1);

  // The scheduler chose b (in-tree scores): /bind corrects the estimate on both nodes.
  CHECK(extender.Bind({"web-1", "default", pod.meta.uid, "b"}).empty());
  CHECK(requested("a") == a0);
  CHECK(requested("b") == b0 + 1000);
  CHECK(env.load.model().tentative_count() == 0);
  env.load.model().Rebuild();  // a rebuild agrees
  CHECK(requested("a") == a0);
  CHECK(requested("b") == b0 + 1000);

  // A placement whose bind never comes stops counting when the window ends.
  const Pod other = PodBuilder("default", "web-2").Cpu("1").Build();
  extender.Prioritize(ExtenderArgs::ForNames(other, {"a", "b"}));
  CHECK(requested("a") == a0 + 1000);
  env.load.clock().Advance(std::chrono::milliseconds(4000));
  env.load.model().Rebuild();
  CHECK(requested("a") == a0 + 1000);
  env.load.clock().Advance(std::chrono::milliseconds(1001));
  env.load.model().Rebuild();
  CHECK(requested("a") == a0);
  CHECK(env.load.model().tentative_count() == 0);
}

TEST_CASE("the only node left after filter is the tentative placement", "[extender]") {
  Env env;
  env.load.SetCluster({NodeBuilder("cold").Build(), NodeBuilder("maint").Maintenance().Build()});
  env.load.SetUsage({{"cold", {10, 10}}, {"maint", {10, 10}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics);
  const Pod pod = PodBuilder("p").Cpu("500m").Build();
  const int64_t before = env.load.model().Snapshot()->Find("cold")->requested.cpu_millis;
  extender.Filter(ExtenderArgs::ForNames(pod, {"cold", "maint"}));
  CHECK(env.load.model().Snapshot()->Find("cold")->requested.cpu_millis == before + 500);
  CHECK(env.load.model().tentative_count() == 1);
}

TEST_CASE("debug scores explain every candidate", "[extender]") {
  Env env;
  const Pod pending = PodBuilder("default", "web-1").Cpu("500m").Build();
  env.load.SetCluster({NodeBuilder("a").Build(), NodeBuilder("b").Maintenance().Build()},
                      {pending});
  env.load.SetUsage({{"a", {30, 40}}, {"b", {10, 10}}});
  Extender extender(env.load.model(), env.kube, env.policy, env.metrics, nullptr,
                    [&] { return env.load.Cache(); });

  const nlohmann::json j = extender.DebugScores(ExtenderArgs::ForNames(pending, {"a", "b", "zzz"}));
  CHECK(j["pod"] == "default/web-1");
  REQUIRE(j["nodes"].size() == 3);
  CHECK(j["nodes"][0]["node"] == "a");
  CHECK(j["nodes"][0]["known"] == true);
  CHECK(j["nodes"][0]["filter"]["passed"] == true);
  CHECK(j["nodes"][0]["load"]["sampledCpu"] == 30.0);
  CHECK(j["nodes"][0]["breakdown"].contains("cpuTerm"));
  CHECK(j["nodes"][1]["filter"]["passed"] == false);
  CHECK(j["nodes"][1]["filter"]["reason"] == "maintenance");
  CHECK(j["nodes"][2]["known"] == false);
  CHECK(j["nodes"][2]["score"] == 0);

  StatusOr<nlohmann::json> by_name = extender.DebugScoresForPod("default", "web-1", {});
  REQUIRE(by_name.ok());
  CHECK((*by_name)["nodes"].size() == 2);  // every node in the snapshot
  CHECK(extender.DebugScoresForPod("default", "nope", {}).status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace kb::server
