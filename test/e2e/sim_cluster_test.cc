// SimCluster and the kube-sim binary: scenario steps (parse, apply, timeline), the scheduler
// section turning the driver on, the node-metrics endpoint, and child processes that are always
// stopped by PID.
#include "sim/sim_cluster.h"

#include <httplib.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "sim/harness/process.h"
#include "sim/scenario.h"
#include "sim/scenario_steps.h"
#include "test/e2e/e2e_test_util.h"
#include "test/testing/poll.h"

namespace kb::sim::e2e {
namespace {

json Yaml(const std::string& text) {
  auto j = YamlToJson(text);
  REQUIRE(j.ok());
  return *j;
}

TEST_CASE("scenario steps parse strictly", "[e2e][steps]") {
  auto parse = [](const std::string& yaml) { return ParseSteps(Yaml(yaml), "shop"); };
  auto steps = parse(R"(
- name: unpin
  at: 45s
  patch: {resource: deployments, name: web, merge: {spec: {replicas: 2}}}
- name: more
  create: {pods: [{name: extra}]}
- name: drop
  delete: {resource: nodes, name: n1}
)");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 3);
  CHECK((*steps)[0].at == std::chrono::seconds(45));
  CHECK((*steps)[0].ns == "shop");
  CHECK((*steps)[0].merge_patch == json{{"spec", {{"replicas", 2}}}});
  CHECK((*steps)[1].kind == ScenarioStep::Kind::kCreate);
  CHECK((*steps)[1].create["namespace"] == "shop");
  CHECK((*steps)[2].ns.empty());  // nodes are cluster-scoped

  CHECK(parse("[{patch: {resource: nodes, name: n, merge: {}}}]").status().message() ==
        "steps[0]: name: is required");
  CHECK(parse("[{name: a, delete: {resource: nodes, name: n}}, {name: a, delete: {resource: "
              "nodes, name: m}}]")
            .status()
            .message() == "steps[1] (a): name: used twice");
  CHECK(parse("[{name: a}]").status().message() ==
        "steps[0] (a): needs exactly one of patch, create, delete");
  CHECK(parse("[{name: a, delete: {resource: widgets, name: n}}]").status().message() ==
        "steps[0] (a): delete.resource: \"widgets\" is not a resource kube-sim serves (e.g. "
        "deployments, nodes)");
  CHECK(parse("[{name: a, create: {pods: [{name: p, replcas: 1}]}}]").status().message() ==
        "steps[0] (a): create: pods[0] (p): unknown key \"replcas\"");
  CHECK(parse("[{name: a, at: later, delete: {resource: nodes, name: n}}]").status().code() ==
        StatusCode::kInvalidArgument);
  // The scenario loader validates the sections too.
  CHECK(ExpandScenario(Yaml("steps: [{name: a}]"), "2026-01-01T00:00:00Z").status().message() ==
        "steps[0] (a): needs exactly one of patch, create, delete");
  CHECK(ExpandScenario(Yaml("scheduler: {extender: {weight: -1}}"), "2026-01-01T00:00:00Z")
            .status()
            .message() == "scheduler: extender.weight: must be a positive integer");
}

TEST_CASE("steps apply on the timeline and by name", "[e2e][steps]") {
  FakeClock clock;
  SimClusterOptions o;
  o.api = QuietOptions(&clock);
  o.play_steps = true;
  SimCluster cluster(o);
  REQUIRE(cluster
              .LoadScenario(Yaml(R"(
nodes: [{name: n1}]
deployments: [{name: web, replicas: 1, nodeSelector: {pin: here}}]
steps:
  - {name: label, at: 10s, patch: {resource: nodes, name: n1, merge: {metadata: {labels: {pin: here}}}}}
  - {name: unpin, at: 20s, patch: {resource: deployments, name: web, merge: {spec: {template: {spec: {nodeSelector: null}}}}}}
  - {name: add, at: 1h, create: {pods: [{name: late}]}}
)"))
              .ok());
  REQUIRE(cluster.Start().ok());
  auto label = [&] {
    return cluster.api().GetObject("nodes", "", "n1")->at("metadata")["labels"].value("pin", "");
  };
  CHECK(label().empty());
  clock.Advance(std::chrono::seconds(10));
  CHECK(kb::testing::PollUntil([&] { return label() == "here"; }, std::chrono::seconds(5)));
  clock.Advance(std::chrono::seconds(10));
  CHECK(kb::testing::PollUntil(
      [&] {
        auto d = cluster.api().GetObject("deployments", "default", "web");
        return !d->at("spec")["template"]["spec"].contains("nodeSelector");
      },
      std::chrono::seconds(5)));
  // By name, without waiting for its time.
  REQUIRE(cluster.ApplyStep("add").ok());
  CHECK(cluster.api().GetObject("pods", "default", "late").ok());
  CHECK(cluster.ApplyStep("nope").code() == StatusCode::kNotFound);
  cluster.Stop();
}

TEST_CASE("a scheduler section runs the driver and metrics are served", "[e2e][steps]") {
  SimClusterOptions o;
  o.api.controller_period = std::chrono::milliseconds(5);
  o.api.pod_ready_delay = std::chrono::milliseconds(10);
  o.metrics_port = 0;
  SimCluster cluster(o);
  REQUIRE(cluster
              .LoadScenario(Yaml(R"(
nodes: [{name: w, count: 2, cpu: 2, usage: {cpu: "50%"}}]
scheduler: {schedulerNames: [kb]}
pods:
  - {name: a, schedulerName: kb, requests: {cpu: 1}, usage: {cpu: 1}}
  - {name: b, requests: {cpu: 1}}
)"))
              .ok());
  CHECK(cluster.scheduler_enabled());
  REQUIRE(cluster.Start().ok());
  REQUIRE(cluster.driver() != nullptr);
  // No extender URL: the driver places "kb" pods on in-tree scores too.
  REQUIRE(kb::testing::PollUntil(
      [&] {
        int running = 0;
        for (const json& p : cluster.api().ListObjects("pods")) {
          running += p["status"].value("phase", "") == "Running";
        }
        return running == 2;
      },
      std::chrono::seconds(5)));
  CHECK(NodeOf(cluster.api(), "a") != NodeOf(cluster.api(), "b"));  // least-allocated spreads
  httplib::Client client("127.0.0.1", cluster.metrics_port());
  auto res = client.Get("/metrics/nodes/w-1");
  REQUIRE(res);
  CHECK(res->status == 200);
  double total = 0;
  for (const NodeSample& s : cluster.metrics().Samples()) total += s.CpuPercent();
  CHECK(total == Approx(200));  // each node: 50% background + one 1-CPU pod of 2 CPUs
  cluster.Stop();
}

TEST_CASE("child processes are stopped by pid and never outlive their owner", "[e2e][process]") {
  auto dir = TempDir::Create("kb-e2e-process-");
  REQUIRE(dir.ok());
  const std::string log = (*dir)->path() + "/child.log";
  pid_t pid = 0;
  {
    auto child = ChildProcess::Spawn({"sh", "-c", "echo hello; exec sleep 30"}, log);
    REQUIRE(child.ok());
    pid = (*child)->pid();
    CHECK((*child)->Running());
    CHECK(LiveChildren() >= 1);
    CHECK(kb::testing::PollUntil([&] { return (*child)->LogTail(1) == "hello\n"; },
                                 std::chrono::seconds(5)));
  }  // destructor: SIGTERM, reaped
  CHECK(::kill(pid, 0) == -1);
  CHECK(LiveChildren() == 0);

  // A child that ignores SIGTERM is killed after the grace period.
  auto stubborn =
      ChildProcess::Spawn({"sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"}, log);
  REQUIRE(stubborn.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK((*stubborn)->Stop(std::chrono::milliseconds(200)) == "signal 9");
  CHECK_FALSE((*stubborn)->Running());

  CHECK(ChildProcess::Spawn({"/nonexistent/binary"}, log).status().code() ==
        StatusCode::kUnavailable);
  const std::string path = (*dir)->path();
  dir->reset();
  CHECK_FALSE(std::filesystem::exists(path));
}

#ifdef KB_KUBE_SIM_PATH
TEST_CASE("kube-sim binary runs the driver and serves node metrics from flags", "[e2e][process]") {
  auto dir = TempDir::Create("kb-e2e-kubesim-");
  REQUIRE(dir.ok());
  const std::string d = (*dir)->path();
  std::ofstream(d + "/s.yaml") << "nodes: [{name: n, cpu: 4, usage: {cpu: \"25%\"}}]\n"
                                  "pods: [{name: p, schedulerName: kb, requests: {cpu: 1}}]\n"
                                  "steps: [{name: more, at: 0s, create: {pods: [{name: q}]}}]\n";
  auto child = ChildProcess::Spawn(
      {KB_KUBE_SIM_PATH, "--scenario", d + "/s.yaml", "--token", "", "--port-file", d + "/port",
       "--metrics-listen", "127.0.0.1:0", "--metrics-port-file", d + "/mport", "--scheduler",
       "true", "--scheduler-names", "kb", "--play-steps", "true"},
      d + "/kube-sim.log");
  REQUIRE(child.ok());
  auto read_port = [](const std::string& path) {
    int port = 0;
    std::ifstream(path) >> port;
    return port;
  };
  REQUIRE(kb::testing::PollUntil(
      [&] { return read_port(d + "/port") > 0 && read_port(d + "/mport") > 0; },
      std::chrono::seconds(10)));
  httplib::Client api("127.0.0.1", read_port(d + "/port"));
  const bool running = kb::testing::PollUntil(
      [&] {
        auto res = api.Get("/api/v1/namespaces/default/pods");
        if (!res || res->status != 200) return false;
        int running = 0;
        const json list = json::parse(res->body);
        for (const json& p : list["items"]) {
          running += p["status"].value("phase", "") == "Running";
        }
        return running == 2;  // p (driver, "kb") and q (the step, default-scheduler)
      },
      std::chrono::seconds(10));
  INFO((*child)->LogTail(20));
  REQUIRE(running);
  httplib::Client metrics("127.0.0.1", read_port(d + "/mport"));
  auto res = metrics.Get("/metrics/nodes/n");
  REQUIRE(res);
  CHECK_THAT(res->body, Catch::Contains("node_memory_MemTotal_bytes 8589934592"));
  CHECK((*child)->Stop() == "exit 0");
}
#endif

}  // namespace
}  // namespace kb::sim::e2e
