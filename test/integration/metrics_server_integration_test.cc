// Load sources end to end, with the real kube-balancer binary against kube-sim:
//  - metrics-server only (no Prometheus): kube-sim serves metrics.k8s.io/v1beta1 from its node
//    usage emulation; scores follow the loads; when the metrics API stops answering (503) or
//    freezes (an old timestamp) every node degrades to requests within maxAge and no request
//    fails; when it answers again the nodes recover.
//  - a frozen node_exporter behind the real Prometheus: the series is still returned inside
//    Prometheus' 5-minute lookback, yet the node is seen as stale within maxAge because the sample
//    time is the scrape's.
// Every wait is bounded; every process is killed on exit.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_server.h"
#include "sim/metrics_api.h"
#include "sim/node_metrics.h"
#include "sim/scenario.h"
#include "test/integration/integration_util.h"
#include "test/testing/builders.h"

namespace {

using namespace kb::integration;  // NOLINT: the shared helpers of this suite

const std::vector<std::string> kNodes = {"node-a", "node-b", "node-c"};

std::string NamesRequest() {
  const std::string pod = kb::testing::PodBuilder("default", "pending")
                              .Cpu("100m")
                              .Memory("128Mi")
                              .SchedulerName("kube-balancer")
                              .Json()
                              .dump();
  return R"({"Pod":)" + pod + R"(,"Nodes":null,"NodeNames":["node-a","node-b","node-c"]})";
}

// /debug/scores for the pending pod, or null.
nlohmann::json DebugScores(httplib::Client& c) {
  auto r = c.Get("/debug/scores?namespace=default&name=pending");
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// How many nodes /debug/scores shows with fresh metrics (-1 when it does not answer).
int FreshNodes(httplib::Client& c) {
  const nlohmann::json d = DebugScores(c);
  if (!d.is_object()) return -1;
  int fresh = 0;
  for (const auto& n : d["nodes"]) fresh += n["load"]["metricsFresh"] == true ? 1 : 0;
  return fresh;
}

// Sends filter and prioritize while waiting for `fresh` fresh nodes; counts failed requests.
bool WaitForFresh(httplib::Client& c, int fresh, milliseconds timeout, int* failures,
                  milliseconds* took) {
  const std::string request = NamesRequest();
  const auto start = SteadyClock::now();
  bool reached = false;
  while (SteadyClock::now() - start < timeout) {
    for (const char* verb : {"/filter", "/prioritize"}) {
      auto r = c.Post(verb, request, "application/json");
      if (!r || r->status != 200) ++*failures;
    }
    if (FreshNodes(c) == fresh) {
      reached = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  *took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
  return reached;
}

TEST_CASE("metrics-server only - scores follow kube-sim's metrics API then degrade and recover",
          "[integration]") {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(binary));
  TempDir dir;

  kb::sim::ApiServer sim;
  REQUIRE(sim.Start().ok());
  const std::vector<std::pair<std::string, std::string>> cpu = {
      {"node-a", "90%"}, {"node-b", "50%"}, {"node-c", "10%"}};
  for (const auto& [name, load] : cpu) {
    nlohmann::json node = kb::testing::NodeBuilder(name).Cpu("4").Memory("16Gi").Json();
    node["metadata"]["annotations"][kb::sim::kUsageAnnotation] =
        nlohmann::json({{"cpu", load}, {"memory", load}}).dump();
    REQUIRE(sim.CreateObject("nodes", "", node).ok());
  }
  REQUIRE(sim.CreateObject("pods", "default",
                           kb::testing::PodBuilder("default", "pending")
                               .Cpu("100m")
                               .Memory("128Mi")
                               .SchedulerName("kube-balancer")
                               .Json())
              .ok());
  kb::sim::NodeMetrics node_metrics(sim, kb::SystemClock::Instance());
  node_metrics.Attach();
  kb::sim::MetricsApiOptions api_options;
  api_options.scrape_interval = milliseconds(1000);
  kb::sim::MetricsApi metrics_api(sim, node_metrics, kb::SystemClock::Instance(), api_options);

  const milliseconds max_age(4000);
  Balancer balancer = StartBalancer(dir.path, sim,
                                    "listen: \"127.0.0.1:0\"\n"
                                    "schedulerName: kube-balancer\n"
                                    "prometheus:\n"
                                    "  refreshInterval: 500ms\n"
                                    "  maxAge: 4s\n"
                                    "  timeout: 1s\n"
                                    "rescheduler:\n"
                                    "  enabled: false\n");
  INFO("kube-balancer log:\n" << balancer.Log());
  REQUIRE(balancer.port > 0);
  httplib::Client c("127.0.0.1", balancer.port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);

  // auto picked metrics-server (no Prometheus URL, the group is served) and says why.
  const nlohmann::json debug = DebugScores(c);
  REQUIRE(debug.is_object());
  CHECK(debug["snapshot"]["metricsSource"] == "metricsServer");
  CHECK_THAT(debug["snapshot"]["metricsSourceReason"].get<std::string>(),
             Catch::Matchers::Contains("metrics.k8s.io"));
  auto m = c.Get("/metrics");
  REQUIRE(m);
  CHECK(MetricValue(m->body, R"(kube_balancer_metrics_source{source="metricsServer"})") == 1);
  CHECK(MetricValue(m->body, R"(kube_balancer_metrics_source{source="prometheus"})") == 0);

  // Scores follow the emulated loads.
  const std::string request = NamesRequest();
  std::map<std::string, int> scores;
  const bool ordered = WaitFor(
      [&] {
        auto r = c.Post("/prioritize", request, "application/json");
        if (!r || r->status != 200) return false;
        scores = Scores(r->body);
        return scores["node-c"] > scores["node-b"] && scores["node-b"] > scores["node-a"];
      },
      seconds(20));
  INFO("scores: c=" << scores["node-c"] << " b=" << scores["node-b"] << " a=" << scores["node-a"]);
  REQUIRE(ordered);
  CHECK(FreshNodes(c) == 3);
  auto filtered = c.Post("/filter", request, "application/json");
  REQUIRE(filtered);
  const nlohmann::json f = nlohmann::json::parse(filtered->body);
  CHECK(f["FailedNodes"].contains("node-a"));  // 90% > cpuThreshold 80%

  // The metrics API stops answering (kube-aggregator: 503): every node degrades within maxAge
  // (plus one refresh and one scrape interval of slack), and no request fails meanwhile.
  int failures = 0;
  milliseconds took{0};
  metrics_api.SetMode(kb::sim::MetricsApi::Mode::kUnavailable);
  REQUIRE(WaitForFresh(c, 0, seconds(20), &failures, &took));
  CHECK(took <= max_age + milliseconds(2500));
  CHECK(failures == 0);
  CHECK_THAT(balancer.Log(), Catch::Matchers::Contains("metrics query failed"));

  // It answers again: the nodes recover.
  metrics_api.SetMode(kb::sim::MetricsApi::Mode::kServing);
  REQUIRE(WaitForFresh(c, 3, seconds(20), &failures, &took));
  CHECK(failures == 0);

  // A stuck metrics-server keeps answering its last scrape: the timestamp ages past maxAge.
  metrics_api.SetMode(kb::sim::MetricsApi::Mode::kFrozen);
  REQUIRE(WaitForFresh(c, 0, seconds(20), &failures, &took));
  CHECK(took <= max_age + milliseconds(2500));
  CHECK(failures == 0);
  metrics_api.SetMode(kb::sim::MetricsApi::Mode::kServing);
  REQUIRE(WaitForFresh(c, 3, seconds(20), &failures, &took));
  CHECK(failures == 0);

  CHECK(balancer.process->Stop(SIGTERM, seconds(15)) == 0);
  sim.Stop();
}

TEST_CASE("a frozen exporter inside Prometheus' lookback goes stale within maxAge",
          "[integration]") {
  REQUIRE(fs::exists(kPrometheus));
  REQUIRE(fs::exists(kPromtool));
  TempDir dir;
  // node-c's exporter stops reporting 30 s after the history is written; Prometheus keeps
  // returning its last sample for 5 minutes after that.
  constexpr int64_t kFreezeAfter = 30;
  const auto frozen_at = SteadyClock::now() + seconds(kFreezeAfter);
  const std::vector<NodeLoad> loads = {{"node-a", "10.0.0.1", 40, 40},
                                       {"node-b", "10.0.0.2", 50, 50},
                                       {"node-c", "10.0.0.3", 10, 20, kFreezeAfter}};
  kb::sim::ApiServer sim;
  REQUIRE(sim.Start().ok());
  for (const NodeLoad& n : loads) {
    REQUIRE(sim.CreateObject(
                   "nodes", "",
                   kb::testing::NodeBuilder(n.name).Cpu("4").Memory("16Gi").InternalIP(n.ip).Json())
                .ok());
  }
  REQUIRE(sim.CreateObject("pods", "default",
                           kb::testing::PodBuilder("default", "pending")
                               .Cpu("100m")
                               .Memory("128Mi")
                               .SchedulerName("kube-balancer")
                               .Json())
              .ok());
  PrometheusProcess prom = StartPrometheus(dir.path, loads);
  INFO("prometheus log: " << (prom.process ? prom.process->Log() : ""));
  REQUIRE(prom.port > 0);

  const milliseconds max_age(5000);
  Balancer balancer = StartBalancer(dir.path, sim,
                                    "listen: \"127.0.0.1:0\"\n"
                                    "schedulerName: kube-balancer\n"
                                    "prometheus:\n"
                                    "  url: \"http://127.0.0.1:" +
                                        std::to_string(prom.port) +
                                        "\"\n"
                                        "  refreshInterval: 500ms\n"
                                        "  maxAge: 5s\n"
                                        "  timeout: 1s\n"
                                        "rescheduler:\n"
                                        "  enabled: false\n");
  INFO("kube-balancer log:\n" << balancer.Log());
  REQUIRE(balancer.port > 0);
  httplib::Client c("127.0.0.1", balancer.port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);

  // Before the freeze every node is fresh.
  REQUIRE(WaitFor([&] { return FreshNodes(c) == 3; }, seconds(20)));
  REQUIRE(SteadyClock::now() < frozen_at);  // else the set-up took too long to prove anything

  // After it node-c goes stale within maxAge (plus a refresh and the 1 s sample step)...
  bool stale = false;
  WaitFor(
      [&] {
        const nlohmann::json d = DebugScores(c);
        if (!d.is_object()) return false;
        for (const auto& n : d["nodes"]) {
          if (n["node"] == "node-c") stale = n["load"]["metricsFresh"] == false;
        }
        return stale;
      },
      seconds(kFreezeAfter + 20));
  REQUIRE(stale);
  const auto detected = SteadyClock::now();
  CHECK(detected - frozen_at <= max_age + milliseconds(2500));
  CHECK(FreshNodes(c) == 2);
  // ... although Prometheus still returns its series (inside the lookback).
  httplib::Client p("127.0.0.1", prom.port);
  auto r = p.Get("/api/v1/query?query=node_memory_MemAvailable_bytes%7Bnode%3D%22node-c%22%7D");
  REQUIRE(r);
  CHECK(r->body.find("node-c") != std::string::npos);
  // The age metric is the scrape's age, not ~0.
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(MetricValue(metrics->body, R"(kube_balancer_scoring_metric_age_seconds{node="node-c"})") >
        static_cast<double>(max_age.count()) / 1000.0);
  CHECK(balancer.process->Stop(SIGTERM, seconds(15)) == 0);
  sim.Stop();
}

}  // namespace
