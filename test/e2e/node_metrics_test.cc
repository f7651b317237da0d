// Node metrics: usage profiles (forms, steps, percentages, fallbacks), usage aggregation per node
// (background + running pods, capped), node_exporter counters that advance with usage so that
// rate(idle) is the idle share, the text exposition and its HTTP endpoint, and scenario
// validation of `usage:`.
#include "sim/node_metrics.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <regex>

#include "core/clock.h"
#include "sim/api_server.h"
#include "sim/scenario.h"
#include "test/e2e/e2e_test_util.h"

namespace kb::sim::e2e {
namespace {

json Usage(const std::string& text) {
  auto j = YamlToJson(text);
  REQUIRE(j.ok());
  return *j;
}

TEST_CASE("usage profiles parse the constant, percentage and step forms", "[e2e][metrics]") {
  const Resources base{2000, 1 << 30};  // requests / capacity
  const Resources fallback{500, 1 << 20};
  auto at = [&](const std::string& yaml, int seconds) {
    auto p = UsageProfile::Parse(Usage(yaml));
    REQUIRE(p.ok());
    return p->At(std::chrono::seconds(seconds), base, fallback);
  };
  Resources u = at("{cpu: 250m, memory: 256Mi}", 0);
  CHECK(u.cpu_millis == 250);
  CHECK(u.memory_bytes == 256 << 20);
  u = at("{cpu: \"50%\"}", 0);  // memory not given: fallback
  CHECK(u.cpu_millis == 1000);
  CHECK(u.memory_bytes == 1 << 20);
  u = at("{cpu: 1.5, memory: 1073741824}", 0);
  CHECK(u.cpu_millis == 1500);
  CHECK(u.memory_bytes == 1 << 30);
  const std::string steps = "[{after: 30s, cpu: 2}, {after: 0s, cpu: 100m, memory: 64Mi}]";
  u = at(steps, 0);
  CHECK(u.cpu_millis == 100);
  CHECK(u.memory_bytes == 64 << 20);
  u = at(steps, 29);
  CHECK(u.cpu_millis == 100);
  u = at(steps, 30);  // memory carries over from the previous step
  CHECK(u.cpu_millis == 2000);
  CHECK(u.memory_bytes == 64 << 20);
  u = at("[{after: 10s, cpu: 1}]", 5);  // before the first step: fallback
  CHECK(u.cpu_millis == 500);

  auto error = [](const std::string& yaml) {
    return UsageProfile::Parse(Usage(yaml)).status().message();
  };
  CHECK(error("{cpu: lots}") == "usage.cpu: \"lots\" is not a valid quantity");
  CHECK(error("{cpu: \"-5%\"}") == "usage.cpu: \"-5%\" is not a valid percentage");
  CHECK(error("{gpu: 1}") == "usage: unknown key \"gpu\"");
  CHECK(error("{after: 1s, cpu: 1}") == "usage: unknown key \"after\"");
  CHECK(error("[{after: soon, cpu: 1}]") == "usage[0].after: \"soon\" is not a duration like 30s");
  CHECK(error("[{after: 1s, cpu: 1}, {after: 1s, cpu: 2}]") ==
        "usage[1].after: two steps start at the same time");
  CHECK_THAT(error("3"), Catch::StartsWith("usage: must be a mapping"));
}

struct MetricsCluster {
  MetricsCluster() : server(QuietOptions(&clock)), metrics(server, clock) {}
  void Add(const std::string& resource, json obj) {
    REQUIRE(server.CreateObject(resource, resource == "nodes" ? "" : "default", obj).ok());
  }
  FakeClock clock;
  ApiServer server;
  NodeMetrics metrics;
};

json WithUsage(json obj, const json& usage) {
  obj["metadata"]["annotations"][kUsageAnnotation] = usage.dump();
  return obj;
}

json RunningPod(const std::string& name, const std::string& node, const std::string& cpu,
                const std::string& memory) {
  json p = Pod(name, "", cpu, memory);
  p["spec"]["nodeName"] = node;
  p["status"]["phase"] = "Running";
  return p;
}

// node_cpu_seconds_total{cpu="<cpu>",mode="<mode>"} of an exposition.
double Counter(const std::string& text, int cpu, const std::string& mode) {
  std::regex re("node_cpu_seconds_total\\{cpu=\"" + std::to_string(cpu) + "\",mode=\"" + mode +
                "\"\\} ([0-9.]+)");
  std::smatch m;
  REQUIRE(std::regex_search(text, m, re));
  return std::stod(m[1]);
}

TEST_CASE("node usage is background plus running pods, capped at capacity", "[e2e][metrics]") {
  MetricsCluster c;
  c.Add("nodes", WithUsage(Node("n1", "4", "8Gi"), {{"cpu", "25%"}, {"memory", "1Gi"}}));
  c.Add("nodes", Node("n2", "2", "4Gi"));
  c.Add("pods", WithUsage(RunningPod("busy", "n1", "500m", "1Gi"),
                          {{"cpu", "1500m"}, {"memory", "512Mi"}}));
  c.Add("pods", RunningPod("plain", "n1", "250m", "256Mi"));  // no profile: its requests
  json pending = RunningPod("starting", "n1", "1", "1Gi");
  pending["status"]["phase"] = "Pending";  // bound, not running: requested but no usage
  c.Add("pods", pending);
  json done = RunningPod("done", "n1", "1", "1Gi");
  done["status"]["phase"] = "Succeeded";  // terminal: neither
  c.Add("pods", done);
  c.Add("pods", WithUsage(RunningPod("hog", "n2", "100m", "64Mi"), {{"cpu", "3"}}));

  auto samples = c.metrics.Samples();
  REQUIRE(samples.size() == 2);
  const NodeSample& n1 = samples[0];
  CHECK(n1.name == "n1");
  CHECK(n1.cpus == 4);
  CHECK(n1.used.cpu_millis == 1000 + 1500 + 250);
  CHECK(n1.used.memory_bytes == (1LL << 30) + (512LL << 20) + (256LL << 20));
  CHECK(n1.requested.cpu_millis == 500 + 250 + 1000);
  CHECK(n1.pods == 3);
  CHECK(n1.CpuPercent() == Approx(68.75));
  const NodeSample& n2 = samples[1];
  CHECK(n2.demand.cpu_millis == 3000);
  CHECK(n2.used.cpu_millis == 2000);  // capped at capacity
  CHECK(n2.CpuPercent() == Approx(100));
  CHECK(n2.used.memory_bytes == 64 << 20);  // memory not in the profile: its request
}

TEST_CASE("cpu counters advance with usage so rate of idle is the idle share", "[e2e][metrics]") {
  MetricsCluster c;
  c.Add("nodes", WithUsage(Node("n1", "2", "4Gi"), {{"cpu", "500m"}}));
  c.Add(
      "pods",
      WithUsage(RunningPod("ramp", "n1", "100m", "64Mi"),
                json::array({{{"after", "0s"}, {"cpu", "0"}}, {{"after", "10s"}, {"cpu", "1"}}})));
  c.metrics.Tick();
  auto e0 = c.metrics.NodeExposition("n1");
  REQUIRE(e0);
  const double idle0 = Counter(*e0, 0, "idle"), user0 = Counter(*e0, 0, "user");
  // 10s at 25% busy on each of the 2 CPUs.
  for (int i = 0; i < 10; ++i) {
    c.clock.Advance(1s);
    c.metrics.Tick();
  }
  auto e1 = c.metrics.NodeExposition("n1");
  CHECK(Counter(*e1, 0, "idle") - idle0 == Approx(7.5));
  CHECK(Counter(*e1, 1, "idle") - idle0 == Approx(7.5));
  CHECK(Counter(*e1, 0, "user") - user0 == Approx(2.5));
  CHECK(Counter(*e1, 0, "system") == 0);
  // The pod's profile steps to 1 CPU at 10s: 75% busy from then on.
  const double idle1 = Counter(*e1, 0, "idle");
  c.clock.Advance(4s);
  auto e2 = c.metrics.NodeExposition("n1");
  CHECK((Counter(*e2, 0, "idle") - idle1) / 4.0 == Approx(0.25));
  CHECK(c.metrics.Samples()[0].CpuPercent() == Approx(75));
}

TEST_CASE("the exposition is node_exporter text format", "[e2e][metrics]") {
  MetricsCluster c;
  c.Add("nodes", WithUsage(Node("n1", "1500m", "2Gi"), {{"memory", "512Mi"}}));
  c.Add("nodes", Node("n2", "1", "1Gi"));
  auto one = c.metrics.NodeExposition("n1");
  REQUIRE(one);
  CHECK(one->back() == '\n');
  CHECK_THAT(*one, Catch::Contains("# TYPE node_cpu_seconds_total counter\n"));
  CHECK_THAT(*one, Catch::Contains("node_cpu_seconds_total{cpu=\"1\",mode=\"steal\"}"));
  CHECK_THAT(*one, Catch::Contains("# TYPE node_memory_MemTotal_bytes gauge\n"
                                   "node_memory_MemTotal_bytes 2147483648\n"));
  CHECK_THAT(*one, Catch::Contains("node_memory_MemAvailable_bytes 1610612736\n"));
  CHECK_THAT(*one, Catch::Contains("nodename=\"n1\""));
  CHECK_FALSE(c.metrics.NodeExposition("nope").has_value());
  // 1500m -> 2 CPUs exposed.
  CHECK_THAT(*one, !Catch::Contains("cpu=\"2\""));

  const std::string all = c.metrics.Exposition();
  CHECK_THAT(all, Catch::Contains("node_cpu_seconds_total{node=\"n2\",cpu=\"0\",mode=\"idle\"}"));
  CHECK_THAT(all, Catch::Contains("node_memory_MemTotal_bytes{node=\"n2\"} 1073741824\n"));
  // One HELP / TYPE per family.
  size_t types = 0;
  for (size_t pos = 0;
       (pos = all.find("# TYPE node_memory_MemTotal_bytes", pos)) != std::string::npos; ++pos) {
    ++types;
  }
  CHECK(types == 1);

  NodeExporterServer exporter(c.metrics);
  REQUIRE(exporter.Start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", exporter.port());
  auto res = client.Get("/metrics/nodes/n1");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK_THAT(res->get_header_value("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK_THAT(res->body, Catch::Contains("node_memory_MemAvailable_bytes 1610612736"));
  res = client.Get("/metrics/nodes/nope");
  REQUIRE(res);
  CHECK(res->status == 404);
  res = client.Get("/sd");
  REQUIRE(res);
  json sd = json::parse(res->body);
  REQUIRE(sd.size() == 2);
  CHECK(sd[0]["labels"]["node"] == "n1");
  CHECK(sd[0]["labels"]["__metrics_path__"] == "/metrics/nodes/n1");
  CHECK(sd[0]["targets"][0] == "127.0.0.1:" + std::to_string(exporter.port()));
  res = client.Get("/usage");
  REQUIRE(res);
  CHECK(json::parse(res->body)["nodes"][0]["memoryUsedBytes"] == 512 << 20);
  exporter.Stop();
}

TEST_CASE("scenario usage entries are validated and stored as annotations", "[e2e][metrics]") {
  auto expand = [](const std::string& yaml) {
    auto doc = YamlToJson(yaml);
    REQUIRE(doc.ok());
    return ExpandScenario(*doc, "2026-01-01T00:00:00Z");
  };
  auto ok = expand(
      "nodes: [{name: n, usage: {cpu: \"30%\"}}]\n"
      "pods: [{name: p, usage: [{after: 0s, cpu: 100m}, {after: 30s, cpu: 2}]}]\n");
  REQUIRE(ok.ok());
  CHECK((*ok)[0].object["metadata"]["annotations"][kUsageAnnotation] == R"({"cpu":"30%"})");
  CHECK(expand("nodes: [{name: n, usage: {cpu: lots}}]").status().message() ==
        "nodes[0] (n): usage.cpu: \"lots\" is not a valid quantity");
  CHECK(expand("deployments: [{name: d, usage: [{after: x}]}]").status().message() ==
        "deployments[0] (d): usage[0].after: \"x\" is not a duration like 30s");
}

}  // namespace
}  // namespace kb::sim::e2e
