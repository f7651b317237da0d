// Scenario files: YAML typing, expansion into Kubernetes objects, validation errors, and loading
// the example scenarios shipped in sim/scenarios/.
#include "sim/scenario.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "sim/api_server.h"
#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;

TEST_CASE("YAML converts to JSON with core-schema scalar typing", "[sim]") {
  auto j = YamlToJson(R"(
a: 3
b: "3"
c: 0.5
d: true
e: ~
f: 100m
g: [1, two]
h: {x: 'y'}
i: -7
)");
  REQUIRE(j.ok());
  CHECK(*j == json::parse(R"j({"a":3,"b":"3","c":0.5,"d":true,"e":null,"f":"100m",
                              "g":[1,"two"],"h":{"x":"y"},"i":-7})j"));
  CHECK_FALSE(YamlToJson("a: [1, 2").ok());
}

TEST_CASE("a scenario expands into nodes, PDBs, deployments, pods and raw objects", "[sim]") {
  auto scenario = YamlToJson(R"(
namespace: shop
nodes:
  - {name: w, count: 2, cpu: 2, memory: 4Gi, labels: {zone: a}, usage: {cpu: 500m}}
  - name: tainted
    taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
    unschedulable: true
deployments:
  - name: web
    replicas: 2
    requests: {cpu: 0.5, memory: 128Mi}
    nodeSelector: {zone: a}
    schedulerName: kube-balancer
    strategy: {type: RollingUpdate, maxSurge: 1, maxUnavailable: 0}
    usage: {cpu: 300m}
pods:
  - {name: solo, ns: default, nodeName: w-1, labels: {app: solo}}
pdbs:
  - {name: web-pdb, selector: {app: web}, maxUnavailable: "50%"}
objects:
  - apiVersion: coordination.k8s.io/v1
    kind: Lease
    metadata: {name: l, namespace: kube-system}
    spec: {holderIdentity: x}
)");
  REQUIRE(scenario.ok());
  auto objects = ExpandScenario(*scenario, "2025-01-01T00:00:00Z");
  REQUIRE(objects.ok());
  REQUIRE(objects->size() == 7);
  const auto& w1 = (*objects)[0];
  CHECK(w1.resource == "nodes");
  CHECK(w1.object["metadata"]["name"] == "w-1");
  CHECK(w1.object["metadata"]["labels"]["zone"] == "a");
  CHECK(w1.object["metadata"]["labels"]["kubernetes.io/hostname"] == "w-1");
  CHECK(w1.object["status"]["allocatable"] ==
        json({{"cpu", "2"}, {"memory", "4Gi"}, {"pods", "110"}}));
  CHECK(w1.object["metadata"]["annotations"][kUsageAnnotation] == R"j({"cpu":"500m"})j");
  CHECK((*objects)[1].object["metadata"]["name"] == "w-2");
  const auto& tainted = (*objects)[2].object;
  CHECK(tainted["spec"]["unschedulable"] == true);
  CHECK(tainted["spec"]["taints"][0]["effect"] == "NoSchedule");
  CHECK((*objects)[3].resource == "poddisruptionbudgets");
  CHECK((*objects)[3].ns == "shop");
  CHECK((*objects)[3].object["spec"]["maxUnavailable"] == "50%");
  const auto& web = (*objects)[4];
  CHECK(web.resource == "deployments");
  CHECK(web.object["spec"]["selector"]["matchLabels"] == json({{"app", "web"}}));
  const json& tmpl = web.object["spec"]["template"];
  CHECK(tmpl["spec"]["schedulerName"] == "kube-balancer");
  CHECK(tmpl["spec"]["nodeSelector"]["zone"] == "a");
  CHECK(tmpl["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "0.5");
  CHECK(tmpl["metadata"]["annotations"][kUsageAnnotation] == R"j({"cpu":"300m"})j");
  CHECK(web.object["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 1);
  const auto& solo = (*objects)[5];
  CHECK(solo.ns == "default");
  CHECK(solo.object["spec"]["nodeName"] == "w-1");
  CHECK((*objects)[6].resource == "leases");
  CHECK((*objects)[6].ns == "kube-system");
}

TEST_CASE("scenario errors name the entry and the key", "[sim]") {
  auto expand = [](const std::string& yaml) {
    auto j = YamlToJson(yaml);
    REQUIRE(j.ok());
    return ExpandScenario(*j, "2025-01-01T00:00:00Z").status();
  };
  CHECK(expand("deployments: [{name: web, replcas: 3}]").message() ==
        "deployments[0] (web): unknown key \"replcas\"");
  CHECK(expand("nodes: [{name: n, cpu: lots}]").message() ==
        "nodes[0] (n): cpu: \"lots\" is not a valid quantity");
  CHECK(expand("pods: [{labels: {a: b}}]").message() == "pods[0]: name: is required");
  CHECK(expand("pdbs: [{name: p}]").message() == "pdbs[0] (p): selector: is required");
  CHECK(expand("objects: [{kind: DaemonSet}]").message() ==
        "objects[0]: kind \"DaemonSet\" is not served by kube-sim");
  CHECK(expand("extra: 1").message() == "scenario: unknown key \"extra\"");
  CHECK(expand("deployments: [{name: web, replicas: two}]").code() == StatusCode::kInvalidArgument);
}

TEST_CASE("the example scenarios load into a running cluster", "[sim]") {
  const std::filesystem::path dir = std::filesystem::path(KB_SOURCE_DIR) / "sim" / "scenarios";
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".json") continue;
    ApiServer server(testing::FastOptions());
    INFO(entry.path().string());
    auto st = server.LoadScenarioFile(entry.path().string());
    CHECK(st.ok());
    CHECK_FALSE(server.ListObjects("nodes").empty());
    ++loaded;
  }
  CHECK(loaded >= 1);

  ApiServer server(testing::FastOptions());
  REQUIRE(server.LoadScenarioFile((dir / "basic.yaml").string()).ok());
  CHECK(server.ListObjects("nodes").size() == 3);
  CHECK(server.ListObjects("deployments").size() == 1);
  CHECK(server.ListObjects("poddisruptionbudgets").size() == 1);
  CHECK(server.GetObject("pods", "default", "solo").ok());
  // Loading the same scenario twice reports the duplicate.
  auto again = server.LoadScenarioFile((dir / "basic.yaml").string());
  CHECK(again.code() == StatusCode::kAlreadyExists);
  CHECK_THAT(again.message(), Catch::Contains("nodes \"worker-1\""));
  CHECK(server.LoadScenarioFile("/nonexistent.yaml").code() == StatusCode::kNotFound);
}

TEST_CASE("a loaded scenario runs - controllers create and start its pods", "[sim]") {
  testing::Sim sim;
  auto& server = sim.server();
  REQUIRE(server
              .LoadScenario(json::parse(R"j({
    "nodes": [{"name": "n", "cpu": "2"}],
    "pods": [{"name": "bound", "nodeName": "n", "requests": {"cpu": "100m"}}],
    "deployments": [{"name": "web", "replicas": 2}]
  })j"))
              .ok());
  REQUIRE(kb::testing::PollUntil(
      [&] {
        auto pod = server.GetObject("pods", "default", "bound");
        return pod.ok() && (*pod)["status"]["phase"] == "Running";
      },
      testing::kWaitTimeout));
  REQUIRE(kb::testing::PollUntil([&] { return server.ListObjects("pods").size() == 3; },
                                 testing::kWaitTimeout));
}

}  // namespace
}  // namespace kb::sim
