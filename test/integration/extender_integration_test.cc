// End-to-end test of the extender: the real kube-balancer binary (spawned with a generated config
// and kubeconfig) against kube-sim (in process) as the API server and a real Prometheus (Debian's
// /usr/bin/prometheus) holding node_exporter history backfilled with promtool. Checks that scores
// and the filter follow the loads, then kills Prometheus mid-test: every request must still be
// answered 200, the degraded metric must rise and /readyz must stay ready. Every wait is bounded
// and every process is killed on exit (RAII), also when an assertion fails.
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_server.h"
#include "test/integration/integration_util.h"
#include "test/testing/builders.h"
#include "test/testing/poll.h"

namespace {

using namespace kb::integration;  // NOLINT: the shared helpers of this suite

TEST_CASE("extender end to end: scores follow Prometheus loads and survive Prometheus dying",
          "[integration]") {
  // Prerequisites are declared dependencies (Makefile DEB_PACKAGES / this build): fail loudly.
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(kPrometheus));
  REQUIRE(fs::exists(kPromtool));
  REQUIRE(fs::exists(binary));

  TempDir dir;
  const std::vector<NodeLoad> loads = {{"node-a", "10.0.0.1", 90, 80},
                                       {"node-b", "10.0.0.2", 50, 50},
                                       {"node-c", "10.0.0.3", 10, 20}};

  // --- kube-sim with three nodes and one pending pod.
  kb::sim::ApiServer sim;
  REQUIRE(sim.Start().ok());
  for (const NodeLoad& n : loads) {
    auto created = sim.CreateObject(
        "nodes", "",
        kb::testing::NodeBuilder(n.name).Cpu("4").Memory("16Gi").InternalIP(n.ip).Json());
    INFO(created.status().ToString());
    REQUIRE(created.ok());
  }
  REQUIRE(sim.CreateObject("pods", "default",
                           kb::testing::PodBuilder("default", "pending")
                               .Cpu("100m")
                               .Memory("128Mi")
                               .SchedulerName("kube-balancer")
                               .Json())
              .ok());

  // --- Prometheus with backfilled history.
  PrometheusProcess prom = StartPrometheus(dir.path, loads);
  INFO("prometheus log: " << (prom.process ? prom.process->Log() : ""));
  REQUIRE(prom.port > 0);
  auto& prometheus = prom.process;

  // --- kube-balancer, configured for fast refreshes and a short maxAge.
  Balancer balancer = StartBalancer(dir.path, sim,
                                    "listen: \"127.0.0.1:0\"\n"
                                    "schedulerName: kube-balancer\n"
                                    "prometheus:\n"
                                    "  url: \"http://127.0.0.1:" +
                                        std::to_string(prom.port) +
                                        "\"\n"
                                        "  refreshInterval: 500ms\n"
                                        "  maxAge: 3s\n"
                                        "  timeout: 1s\n"
                                        "rescheduler:\n"
                                        "  enabled: false\n");
  INFO("kube-balancer log:\n" << balancer.Log());
  REQUIRE(balancer.port > 0);
  httplib::Client c("127.0.0.1", balancer.port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);

  const std::string pod = kb::testing::PodBuilder("default", "pending")
                              .Cpu("100m")
                              .Memory("128Mi")
                              .SchedulerName("kube-balancer")
                              .Json()
                              .dump();
  const std::string names_request =
      R"({"Pod":)" + pod + R"(,"Nodes":null,"NodeNames":["node-a","node-b","node-c"]})";

  // --- Scores follow the loads: the cold node wins, the hot node scores lowest.
  std::map<std::string, int> scores;
  const bool ordered = WaitFor(
      [&] {
        auto r = c.Post("/prioritize", names_request, "application/json");
        if (!r || r->status != 200) return false;
        scores = Scores(r->body);
        return scores["node-c"] > scores["node-b"] && scores["node-b"] > scores["node-a"];
      },
      seconds(30));
  INFO("scores: c=" << scores["node-c"] << " b=" << scores["node-b"] << " a=" << scores["node-a"]);
  REQUIRE(ordered);
  CHECK(scores["node-c"] == 10);
  CHECK(scores["node-a"] == 0);

  // The filter rejects the node above the CPU threshold (90% > 80%) with a reason.
  auto filtered = c.Post("/filter", names_request, "application/json");
  REQUIRE(filtered);
  REQUIRE(filtered->status == 200);
  const nlohmann::json f = nlohmann::json::parse(filtered->body);
  CHECK(f["NodeNames"] == nlohmann::json::array({"node-b", "node-c"}));
  REQUIRE(f["FailedNodes"].contains("node-a"));
  CHECK_THAT(f["FailedNodes"]["node-a"].get<std::string>(), Catch::Matchers::Contains("CPU"));

  // The per-node breakdown shows metrics in use.
  auto debug = c.Get("/debug/scores?namespace=default&name=pending");
  REQUIRE(debug);
  REQUIRE(debug->status == 200);
  const nlohmann::json d = nlohmann::json::parse(debug->body);
  REQUIRE(d["nodes"].size() == 3);
  for (const auto& n : d["nodes"]) CHECK(n["load"]["metricsFresh"] == true);

  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  const std::string degraded_series = R"(kube_balancer_extender_degraded_total{verb="prioritize"})";
  const double degraded_before = MetricValue(metrics->body, degraded_series);
  REQUIRE(degraded_before >= 0);

  // --- Prometheus dies. Scheduling keeps answering, falling back to requests per node.
  REQUIRE(prometheus->Stop(SIGKILL, seconds(5)) != -1);
  int requests = 0;
  int failures = 0;
  bool degraded_seen = false;
  const auto deadline = SteadyClock::now() + seconds(20);
  while (SteadyClock::now() < deadline) {
    for (const char* verb : {"/filter", "/prioritize"}) {
      auto r = c.Post(verb, names_request, "application/json");
      ++requests;
      if (!r || r->status != 200) ++failures;
    }
    auto ready = c.Get("/readyz");
    ++requests;
    if (!ready || ready->status != 200) ++failures;
    auto m = c.Get("/metrics");
    if (m && MetricValue(m->body, degraded_series) > degraded_before) {
      degraded_seen = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  INFO("requests=" << requests << " failures=" << failures << "\nkube-balancer log:\n"
                   << balancer.Log());
  CHECK(failures == 0);
  REQUIRE(degraded_seen);

  // Degraded answers are still valid: every candidate scored, nothing outside the request.
  auto degraded_answer = c.Post("/prioritize", names_request, "application/json");
  REQUIRE(degraded_answer);
  CHECK(degraded_answer->status == 200);
  CHECK(Scores(degraded_answer->body).size() == 3);
  auto debug_after = c.Get("/debug/scores?namespace=default&name=pending");
  REQUIRE(debug_after);
  // Keep the parsed document alive: a range-for over a member of a temporary dangles (C++20).
  const nlohmann::json debug_doc = nlohmann::json::parse(debug_after->body);
  for (const auto& n : debug_doc["nodes"]) {
    CHECK(n["load"]["degraded"] == true);
  }
  CHECK_THAT(balancer.Log(), Catch::Matchers::Contains("warn"));

  // The whole /metrics page of the process (extender and scoring families) passes promtool.
  auto all_metrics = c.Get("/metrics");
  REQUIRE(all_metrics);
  WriteFile(dir.path / "metrics.txt", all_metrics->body);
  CHECK(RunCommand(std::string(kPromtool) + " check metrics < " +
                   (dir.path / "metrics.txt").string()) == 0);
  CHECK_THAT(all_metrics->body, Catch::Matchers::Contains("kube_balancer_scoring_"));

  // --- Graceful shutdown on SIGTERM: exit status 0.
  const int status = balancer.process->Stop(SIGTERM, seconds(15));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  sim.Stop();
}

TEST_CASE("kube-balancer exits 2 naming the key on a bad config, before serving", "[integration]") {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(binary));
  TempDir dir;
  WriteFile(dir.path / "bad.yaml", "rescheduler:\n  cpuThresold: 80\n");
  ChildProcess p({binary, "--config", (dir.path / "bad.yaml").string()},
                 (dir.path / "out.log").string());
  REQUIRE(WaitFor([&] { return !p.running(); }, seconds(10)));
  const int status = p.Stop(SIGTERM, seconds(1));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(p.Log(), Catch::Matchers::Contains("rescheduler.cpuThresold"));

  ChildProcess flags({binary, "--config", (dir.path / "bad.yaml").string(), "--frobnicate"},
                     (dir.path / "flags.log").string());
  REQUIRE(WaitFor([&] { return !flags.running(); }, seconds(10)));
  CHECK(WEXITSTATUS(flags.Stop(SIGTERM, seconds(1))) == 2);
  CHECK_THAT(flags.Log(), Catch::Matchers::Contains("--frobnicate"));
}

TEST_CASE("kube-balancer --check-config validates a file and exits 0 or 2", "[integration]") {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(binary));
  TempDir dir;
  // Points at an API server and a Prometheus that do not exist: --check-config reads neither.
  WriteFile(dir.path / "good.yaml",
            "listen: 127.0.0.1:1\nprometheus:\n  url: http://127.0.0.1:1\n"
            "rescheduler:\n  cpuThreshold: 70\n");
  WriteFile(dir.path / "bad-key.yaml", "rescheduler:\n  cpuThresold: 80\n");
  WriteFile(dir.path / "bad-listen.yaml", "listen: \"127.0.0.1:99999\"\n");
  const auto run = [&](const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = std::make_unique<ChildProcess>(argv, (dir.path / log).string());
    REQUIRE(WaitFor([&] { return !p->running(); }, seconds(10)));
    const int status = p->Stop(SIGTERM, seconds(1));
    REQUIRE(WIFEXITED(status));
    return std::make_pair(WEXITSTATUS(status), p->Log());
  };
  const auto [good, good_log] =
      run({"--check-config", (dir.path / "good.yaml").string(), "--kubeconfig", "/nonexistent"},
          "good.log");
  CHECK(good == 0);
  CHECK_THAT(good_log, Catch::Matchers::Contains("is valid"));
  const auto [bad, bad_log] =
      run({"--check-config", (dir.path / "bad-key.yaml").string()}, "b.log");
  CHECK(bad == 2);
  CHECK_THAT(bad_log, Catch::Matchers::Contains("rescheduler.cpuThresold"));
  const auto [listen, listen_log] =
      run({"--check-config=" + (dir.path / "bad-listen.yaml").string()}, "l.log");
  CHECK(listen == 2);
  CHECK_THAT(listen_log, Catch::Matchers::Contains("listen"));
  const auto [missing, missing_log] =
      run({"--check-config", (dir.path / "missing.yaml").string()}, "m.log");
  CHECK(missing == 2);
  CHECK_THAT(missing_log, Catch::Matchers::Contains("missing.yaml"));
}

}  // namespace
