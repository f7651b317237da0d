// kube-sim fault injection (nth, percent, latency, max_failures) and request counting.
#include <catch2/catch.hpp>

#include "sim/api_server.h"
#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;
using testing::Sim;

ApiServerOptions NoControllers() {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  return o;
}

TEST_CASE("a fault rule fails only the Nth matching request", "[sim]") {
  Sim sim(NoControllers());
  FaultRule rule;
  rule.verb = "list";
  rule.resource = "pods";
  rule.nth = 3;
  rule.status = 503;
  sim.server().AddFault(rule);
  std::vector<int> codes;
  for (int i = 0; i < 5; ++i) codes.push_back(sim.Get("/api/v1/pods").status);
  CHECK(codes == std::vector<int>{200, 200, 503, 200, 200});
  CHECK(sim.Get("/api/v1/nodes").status == 200);  // other resources unaffected
  auto counts = sim.server().Counts();
  CHECK(counts.Get("list", "pods") == 5);  // injected failures are counted
  CHECK(counts.Get("list", "nodes") == 1);
  sim.server().ClearFaults();
}

TEST_CASE("a percent rule fails a deterministic share of requests with a Status body", "[sim]") {
  Sim sim(NoControllers());
  FaultRule rule;
  rule.verb = "get";
  rule.percent = 50;
  rule.status = 500;
  sim.server().AddFault(rule);
  REQUIRE(sim.server().CreateObject("nodes", "", testing::MakeNode("n1")).ok());
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    auto r = sim.Get("/api/v1/nodes/n1");
    if (r.status == 500) {
      ++failed;
      CHECK(r.body["kind"] == "Status");
      CHECK(r.body["reason"] == "InternalError");
    } else {
      REQUIRE(r.status == 200);
    }
  }
  CHECK(failed > 70);
  CHECK(failed < 130);

  // max_failures caps a rule.
  sim.server().ClearFaults();
  FaultRule capped;
  capped.status = 429;
  capped.max_failures = 2;
  sim.server().AddFault(capped);
  std::vector<int> codes;
  for (int i = 0; i < 4; ++i) codes.push_back(sim.Get("/api/v1/nodes/n1").status);
  CHECK(codes == std::vector<int>{429, 429, 200, 200});
}

TEST_CASE("a latency rule delays matching requests without failing them", "[sim]") {
  Sim sim(NoControllers());
  FaultRule rule;
  rule.verb = "create";
  rule.resource = "pods/eviction";
  rule.status = 0;
  rule.latency = std::chrono::milliseconds(150);
  sim.server().AddFault(rule);
  const auto start = std::chrono::steady_clock::now();
  auto r =
      sim.Post("/api/v1/namespaces/default/pods/x/eviction",
               {{"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", "x"}}}});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.status == 404);  // the request itself still runs
  CHECK(took >= std::chrono::milliseconds(150));
  const auto start2 = std::chrono::steady_clock::now();
  CHECK(sim.Get("/api/v1/pods").status == 200);
  CHECK(std::chrono::steady_clock::now() - start2 < std::chrono::milliseconds(150));
}

TEST_CASE("requests are counted by verb and resource", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(sim.server().CreateObject("nodes", "", testing::MakeNode("n1")).ok());  // not counted
  sim.Get("/api/v1/nodes");
  sim.Get("/api/v1/nodes/n1");
  sim.Patch("/api/v1/nodes/n1", {{"spec", {{"unschedulable", true}}}});
  sim.Post("/api/v1/namespaces/default/pods", testing::MakePod("p"));
  sim.Delete("/api/v1/namespaces/default/pods/p");
  {
    testing::WatchReader w(sim, "/api/v1/nodes?watch=1&timeoutSeconds=1");
    REQUIRE(w.WaitForEvents(1));
  }
  auto c = sim.server().Counts();
  CHECK(c.Get("list", "nodes") == 1);
  CHECK(c.Get("get", "nodes") == 1);
  CHECK(c.Get("patch", "nodes") == 1);
  CHECK(c.Get("create", "pods") == 1);
  CHECK(c.Get("delete", "pods") == 1);
  CHECK(c.Get("watch", "nodes") == 1);
  sim.server().ResetCounts();
  CHECK(sim.server().Counts().counts.empty());
}

}  // namespace
}  // namespace kb::sim
