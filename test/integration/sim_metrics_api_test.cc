// kube-sim's metrics.k8s.io stand-in (sim/metrics_api.h) over real HTTP: discovery,
// NodeMetricsList and PodMetricsList in metrics-server's shapes, the scrape lag, the 503 and
// frozen modes, and the group disappearing (404) when the API is removed. Kept with the
// integration tests that rely on it.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <memory>

#include "core/clock.h"
#include "core/model.h"
#include "sim/api_server.h"
#include "sim/metrics_api.h"
#include "sim/node_metrics.h"
#include "sim/scenario.h"
#include "test/testing/builders.h"

namespace kb::sim {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

ApiServerOptions QuietOptions(const Clock* clock) {
  ApiServerOptions o;
  o.run_controllers = false;
  o.random_seed = 7;
  o.clock = clock;
  return o;
}

struct Cluster {
  Cluster() : server(QuietOptions(&clock)), metrics(server, clock) { REQUIRE(server.Start().ok()); }
  std::pair<int, json> Get(const std::string& path) {
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Get(path, {{"Authorization", "Bearer " + server.token()}});
    REQUIRE(r);
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  FakeClock clock;
  ApiServer server;
  NodeMetrics metrics;
};

json RunningPod(const std::string& name, const std::string& node, const std::string& cpu) {
  json p = kb::testing::PodBuilder("default", name).Cpu(cpu).Memory("64Mi").Json();
  p["spec"]["nodeName"] = node;
  p["status"]["phase"] = "Running";
  return p;
}

TEST_CASE("kube-sim serves metrics.k8s.io with metrics-server's shapes and scrape lag",
          "[e2e][metrics]") {
  Cluster c;
  json node = kb::testing::NodeBuilder("n1").Cpu("4").Memory("8Gi").Json();
  node["metadata"]["annotations"][kUsageAnnotation] = R"({"cpu":"1","memory":"1Gi"})";
  REQUIRE(c.server.CreateObject("nodes", "", node).ok());
  REQUIRE(c.server.CreateObject("pods", "default", RunningPod("web", "n1", "500m")).ok());

  CHECK(c.Get("/apis/metrics.k8s.io/v1beta1/nodes").first == 404);  // not served yet
  MetricsApiOptions options;
  options.scrape_interval = 15s;
  auto api = std::make_unique<MetricsApi>(c.server, c.metrics, c.clock, options);

  auto [code, discovery] = c.Get("/apis/metrics.k8s.io/v1beta1");
  REQUIRE(code == 200);
  CHECK(discovery["kind"] == "APIResourceList");
  CHECK(discovery["groupVersion"] == "metrics.k8s.io/v1beta1");
  CHECK(discovery["resources"].size() == 2);

  const WallTime first_scrape = c.clock.WallNow();
  auto [ncode, nodes] = c.Get("/apis/metrics.k8s.io/v1beta1/nodes");
  REQUIRE(ncode == 200);
  CHECK(nodes["kind"] == "NodeMetricsList");
  REQUIRE(nodes["items"].size() == 1);
  const json& n1 = nodes["items"][0];
  CHECK(n1["metadata"]["name"] == "n1");
  CHECK(n1["usage"]["cpu"] == "1500000000n");  // background 1 core + the pod's 500m requests
  CHECK(n1["usage"]["memory"] == std::to_string(((1LL << 30) + (64LL << 20)) / 1024) + "Ki");
  CHECK(n1["timestamp"] == FormatRfc3339(first_scrape));
  CHECK(n1["window"] == "15.000s");

  auto [pcode, pods] = c.Get("/apis/metrics.k8s.io/v1beta1/pods");
  REQUIRE(pcode == 200);
  CHECK(pods["kind"] == "PodMetricsList");
  REQUIRE(pods["items"].size() == 1);
  CHECK(pods["items"][0]["metadata"]["namespace"] == "default");
  CHECK(pods["items"][0]["containers"][0]["usage"]["cpu"] == "500000000n");
  CHECK(c.Get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods").second["items"].empty());

  // The load changes, but until the next scrape the answer is the last one (the lag).
  REQUIRE(c.server.CreateObject("pods", "default", RunningPod("web2", "n1", "1")).ok());
  c.clock.Advance(10s);
  CHECK(c.Get("/apis/metrics.k8s.io/v1beta1/nodes").second["items"][0]["usage"]["cpu"] ==
        "1500000000n");
  c.clock.Advance(5s);
  auto later = c.Get("/apis/metrics.k8s.io/v1beta1/nodes").second["items"][0];
  CHECK(later["usage"]["cpu"] == "2500000000n");
  CHECK(later["timestamp"] == FormatRfc3339(c.clock.WallNow()));

  // Frozen: the last scrape forever, its timestamp ageing.
  api->SetMode(MetricsApi::Mode::kFrozen);
  c.clock.Advance(60s);
  CHECK(c.Get("/apis/metrics.k8s.io/v1beta1/nodes").second["items"][0]["timestamp"] ==
        later["timestamp"]);
  // Unavailable: 503 ServiceUnavailable, as kube-aggregator answers for a down APIService.
  api->SetMode(MetricsApi::Mode::kUnavailable);
  auto [ucode, status] = c.Get("/apis/metrics.k8s.io/v1beta1/nodes");
  CHECK(ucode == 503);
  CHECK(status["reason"] == "ServiceUnavailable");
  // Removed: the group is no longer served.
  api.reset();
  CHECK(c.Get("/apis/metrics.k8s.io/v1beta1/nodes").first == 404);
}

}  // namespace
}  // namespace kb::sim
