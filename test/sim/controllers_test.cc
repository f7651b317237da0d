// kube-sim's control loops: ReplicaSet, Deployment rollout, kubelet stand-in, garbage collector,
// PDB status and extra loops.
#include "sim/controllers.h"

#include <catch2/catch.hpp>

#include "sim/api_server.h"
#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;
using testing::MakePod;
using testing::Sim;

// Binds every unscheduled pod to the nodes in turn (a stand-in scheduler for these tests).
void AddBinder(ApiServer& server, std::vector<std::string> nodes) {
  auto next = std::make_shared<size_t>(0);
  server.AddController("test-binder", [&server, nodes, next] {
    for (const auto& pod : server.ListObjects("pods")) {
      if (pod["spec"].contains("nodeName") || pod["metadata"].contains("deletionTimestamp"))
        continue;
      (void)server.BindPod(pod["metadata"]["namespace"], pod["metadata"]["name"],
                           pod["metadata"]["uid"], nodes[(*next)++ % nodes.size()]);
    }
  });
}

std::vector<json> RunningPods(ApiServer& server, const std::string& ns = "default") {
  std::vector<json> out;
  for (const auto& pod : server.ListObjects("pods", ns)) {
    if (pod["status"]["phase"] == "Running" && !pod["metadata"].contains("deletionTimestamp")) {
      out.push_back(pod);
    }
  }
  return out;
}

bool IsReady(const json& pod) {
  for (const auto& c : pod["status"].value("conditions", json::array())) {
    if (c["type"] == "Ready") return c["status"] == "True";
  }
  return false;
}

TEST_CASE("a ReplicaSet recreates an evicted pod", "[sim]") {
  Sim sim;
  auto& server = sim.server();
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("node-a")).ok());
  AddBinder(server, {"node-a"});
  REQUIRE(
      sim.Post("/apis/apps/v1/namespaces/default/deployments", testing::MakeDeployment("web", 3))
          .status == 201);
  REQUIRE(kb::testing::PollUntil([&] { return RunningPods(server).size() == 3; },
                                 testing::kWaitTimeout));
  auto pods = RunningPods(server);
  const std::string victim = pods[0]["metadata"]["name"];
  // Pods come from the ReplicaSet's template with generateName and a controller reference.
  CHECK(pods[0]["metadata"]["generateName"].get<std::string>().rfind("web-", 0) == 0);
  CHECK(pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet");
  CHECK(pods[0]["metadata"]["ownerReferences"][0]["controller"] == true);
  CHECK(pods[0]["metadata"]["labels"].contains("pod-template-hash"));

  json eviction = {{"apiVersion", "policy/v1"},
                   {"kind", "Eviction"},
                   {"metadata", {{"name", victim}, {"namespace", "default"}}}};
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods/" + victim + "/eviction", eviction).status ==
          201);
  REQUIRE(kb::testing::PollUntil(
      [&] {
        auto now = RunningPods(server);
        if (now.size() != 3) return false;
        for (const auto& p : now) {
          if (p["metadata"]["name"] == victim) return false;
        }
        return true;
      },
      testing::kWaitTimeout));
  auto d = sim.Get("/apis/apps/v1/namespaces/default/deployments/web").body;
  REQUIRE(kb::testing::PollUntil(
      [&] {
        d = sim.Get("/apis/apps/v1/namespaces/default/deployments/web").body;
        return d["status"].value("availableReplicas", 0) == 3;
      },
      testing::kWaitTimeout));
  CHECK(d["status"]["replicas"] == 3);
  CHECK(d["status"]["updatedReplicas"] == 3);
  CHECK(d["status"]["observedGeneration"] == 1);
}

TEST_CASE("a Deployment rolls out a new ReplicaSet on a restartedAt patch", "[sim]") {
  Sim sim;
  auto& server = sim.server();
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("node-a")).ok());
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("node-b")).ok());
  AddBinder(server, {"node-a", "node-b"});
  json d = testing::MakeDeployment("web", 4);
  d["spec"]["strategy"] = {{"type", "RollingUpdate"},
                           {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}};
  REQUIRE(sim.Post("/apis/apps/v1/namespaces/default/deployments", d).status == 201);
  REQUIRE(kb::testing::PollUntil([&] { return RunningPods(server).size() == 4; },
                                 testing::kWaitTimeout));
  auto old_rs = server.ListObjects("replicasets", "default");
  REQUIRE(old_rs.size() == 1);
  const std::string old_name = old_rs[0]["metadata"]["name"];
  CHECK(old_rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1");

  auto patched =
      sim.Patch("/apis/apps/v1/namespaces/default/deployments/web",
                {{"spec",
                  {{"template",
                    {{"metadata",
                      {{"annotations",
                        {{"kubectl.kubernetes.io/restartedAt", "2025-01-01T12:00:00Z"}}}}}}}}}},
                "application/strategic-merge-patch+json");
  REQUIRE(patched.status == 200);
  // maxUnavailable 0: the ready count never drops below the desired replicas.
  size_t min_ready = 4, max_pods = 0;
  bool done = kb::testing::PollUntil(
      [&] {
        auto pods = server.ListObjects("pods", "default");
        size_t ready = 0;
        for (const auto& p : pods) {
          if (IsReady(p) && !p["metadata"].contains("deletionTimestamp")) ++ready;
        }
        min_ready = std::min(min_ready, ready);
        max_pods = std::max(max_pods, pods.size());
        auto rss = server.ListObjects("replicasets", "default");
        if (rss.size() != 2) return false;
        for (const auto& rs : rss) {
          bool is_old = rs["metadata"]["name"] == old_name;
          if (rs["spec"]["replicas"] != (is_old ? 0 : 4)) return false;
          if (!is_old && rs["status"].value("availableReplicas", 0) != 4) return false;
        }
        return pods.size() == 4;
      },
      std::chrono::milliseconds(5000));
  REQUIRE(done);
  CHECK(min_ready >= 4);
  CHECK(max_pods <= 5);  // maxSurge 1
  for (const auto& pod : server.ListObjects("pods", "default")) {
    CHECK(pod["metadata"]["ownerReferences"][0]["name"] != old_name);
    CHECK(pod["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] ==
          "2025-01-01T12:00:00Z");
  }
  REQUIRE(kb::testing::PollUntil(
      [&] {
        auto dep = *server.GetObject("deployments", "default", "web");
        return dep["metadata"]["annotations"].value("deployment.kubernetes.io/revision", "") ==
                   "2" &&
               dep["status"].value("updatedReplicas", 0) == 4;
      },
      testing::kWaitTimeout));
}

TEST_CASE("the kubelet stand-in makes a bound pod Running and Ready after the delay", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  o.pod_ready_delay = std::chrono::seconds(1);
  FakeClock clock;
  o.clock = &clock;
  ApiServer server(o);
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("node-a")).ok());
  REQUIRE(server.CreateObject("pods", "default", MakePod("p", "default", {}, "node-a")).ok());
  REQUIRE(
      server.CreateObject("pods", "default", MakePod("lost", "default", {}, "no-such-node")).ok());
  server.RunControllersOnce();
  CHECK((*server.GetObject("pods", "default", "p"))["status"]["phase"] == "Pending");
  clock.Advance(std::chrono::milliseconds(999));
  server.RunControllersOnce();
  CHECK((*server.GetObject("pods", "default", "p"))["status"]["phase"] == "Pending");
  clock.Advance(std::chrono::milliseconds(1));
  server.RunControllersOnce();
  json pod = *server.GetObject("pods", "default", "p");
  CHECK(pod["status"]["phase"] == "Running");
  CHECK(IsReady(pod));
  CHECK(pod["status"]["startTime"] == "2026-01-01T00:00:01Z");
  CHECK(pod["status"]["podIP"].is_string());
  CHECK(pod["status"]["containerStatuses"][0]["ready"] == true);
  // A pod bound to a node that does not exist is never started.
  clock.Advance(std::chrono::seconds(5));
  server.RunControllersOnce();
  CHECK((*server.GetObject("pods", "default", "lost"))["status"]["phase"] == "Pending");
}

TEST_CASE("kubelet admission rejects pods that do not fit or do not match the node", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  o.pod_ready_delay = std::chrono::milliseconds(0);
  ApiServer server(o);
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("small", "1", "1Gi", {{"zone", "a"}}))
              .ok());
  json big = MakePod("big", "default", {}, "small");
  big["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1500m";
  json fits = MakePod("fits", "default", {}, "small");
  fits["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "900m";
  json second = MakePod("second", "default", {}, "small");
  second["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "200m";
  json pinned = MakePod("pinned", "default", {}, "small");
  pinned["spec"]["nodeSelector"] = {{"zone", "b"}};
  json affinity = MakePod("affinity", "default", {}, "small");
  affinity["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "10m";
  affinity["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
          ["nodeSelectorTerms"] = json::array(
              {{{"matchExpressions",
                 json::array({{{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}}})}}});
  for (const auto& p : {big, fits, pinned, affinity}) {
    REQUIRE(server.CreateObject("pods", "default", p).ok());
  }
  server.RunControllersOnce();
  REQUIRE(server.CreateObject("pods", "default", second).ok());
  server.RunControllersOnce();
  auto phase = [&](const std::string& n) {
    return (*server.GetObject("pods", "default", n))["status"]["phase"].get<std::string>();
  };
  auto reason = [&](const std::string& n) {
    return (*server.GetObject("pods", "default", n))["status"].value("reason", "");
  };
  CHECK(phase("big") == "Failed");
  CHECK(reason("big") == "OutOfcpu");
  CHECK(phase("fits") == "Running");
  CHECK(phase("affinity") == "Running");
  CHECK(phase("pinned") == "Failed");
  CHECK(reason("pinned") == "NodeAffinity");
  CHECK(phase("second") == "Failed");  // 900m + 10m already admitted on a 1-CPU node
  CHECK(reason("second") == "OutOfcpu");
}

TEST_CASE("the garbage collector removes dependents of deleted owners unless orphaned", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  Sim sim(o);
  auto& server = sim.server();
  REQUIRE(server.CreateObject("deployments", "default", testing::MakeDeployment("web", 2)).ok());
  REQUIRE(server.CreateObject("deployments", "default", testing::MakeDeployment("keep", 1)).ok());
  for (int i = 0; i < 3; ++i) server.RunControllersOnce();
  REQUIRE(server.ListObjects("pods").size() == 3);
  REQUIRE(sim.Delete("/apis/apps/v1/namespaces/default/deployments/web").status == 200);
  REQUIRE(sim.Delete("/apis/apps/v1/namespaces/default/deployments/keep",
                     {{"propagationPolicy", "Orphan"}})
              .status == 200);
  for (int i = 0; i < 3; ++i) server.RunControllersOnce();
  auto rss = server.ListObjects("replicasets");
  REQUIRE(rss.size() == 1);  // keep's, orphaned
  CHECK_FALSE(rss[0]["metadata"].contains("ownerReferences"));
  CHECK(server.ListObjects("pods").size() == 1);
}

TEST_CASE("PDB status follows kube's disruption controller", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  o.pod_ready_delay = std::chrono::milliseconds(0);
  ApiServer server(o);
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("n")).ok());
  REQUIRE(server.CreateObject("deployments", "default", testing::MakeDeployment("web", 4)).ok());
  json pct = testing::MakePdb("pct", {{"app", "web"}}, "60%");
  json max = {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", "max"}, {"namespace", "other"}}},
      {"spec", {{"selector", {{"matchLabels", {{"app", "bare"}}}}}, {"maxUnavailable", 1}}}};
  REQUIRE(server.CreateObject("poddisruptionbudgets", "default", pct).ok());
  REQUIRE(server.CreateObject("poddisruptionbudgets", "other", max).ok());
  REQUIRE(
      server.CreateObject("pods", "other", MakePod("bare", "other", {{"app", "bare"}}, "n")).ok());
  server.RunControllersOnce();
  server.RunControllersOnce();
  for (const auto& pod : server.ListObjects("pods", "default")) {
    REQUIRE(server.BindPod("default", pod["metadata"]["name"], "", "n").ok());
  }
  server.RunControllersOnce();
  json status = (*server.GetObject("poddisruptionbudgets", "default", "pct"))["status"];
  CHECK(status["expectedPods"] == 4);
  CHECK(status["desiredHealthy"] == 3);  // ceil(60% of 4)
  CHECK(status["currentHealthy"] == 4);
  CHECK(status["disruptionsAllowed"] == 1);
  CHECK(status["conditions"][0]["reason"] == "SufficientPods");
  // maxUnavailable needs the pods' controllers: a bare pod fails safe.
  json bare = (*server.GetObject("poddisruptionbudgets", "other", "max"))["status"];
  CHECK(bare["disruptionsAllowed"] == 0);
  CHECK(bare["conditions"][0]["reason"] == "SyncFailed");
  CHECK_FALSE(bare.contains("observedGeneration"));
}

TEST_CASE("PDB status lags behind the pods by pdbStatusLag", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  o.pod_ready_delay = std::chrono::milliseconds(0);
  o.pdb_status_lag = std::chrono::seconds(2);
  FakeClock clock;
  o.clock = &clock;
  ApiServer server(o);
  REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("n")).ok());
  REQUIRE(server.CreateObject("deployments", "default", testing::MakeDeployment("web", 2)).ok());
  REQUIRE(server
              .CreateObject("poddisruptionbudgets", "default",
                            testing::MakePdb("web", {{"app", "web"}}, "50%"))
              .ok());
  server.RunControllersOnce();
  server.RunControllersOnce();
  for (const auto& pod : server.ListObjects("pods", "default")) {
    REQUIRE(server.BindPod("default", pod["metadata"]["name"], "", "n").ok());
  }
  auto allowed = [&] {
    const json status = (*server.GetObject("poddisruptionbudgets", "default", "web"))["status"];
    return status.is_object() ? status.value("disruptionsAllowed", -1) : -1;  // null: not written
  };
  server.RunControllersOnce();  // pods Ready now; the status change is only due
  server.RunControllersOnce();
  CHECK(allowed() != 1);
  clock.Advance(std::chrono::milliseconds(1999));
  server.RunControllersOnce();
  CHECK(allowed() != 1);
  clock.Advance(std::chrono::milliseconds(1));
  server.RunControllersOnce();
  CHECK(allowed() == 1);  // 2 healthy, 1 desired
}

TEST_CASE("template hashes are stable and change with the template", "[sim]") {
  json t = testing::MakeDeployment("web", 1)["spec"]["template"];
  CHECK(Controllers::TemplateHash(t) == Controllers::TemplateHash(t));
  json changed = t;
  changed["metadata"]["annotations"]["x"] = "y";
  CHECK(Controllers::TemplateHash(t) != Controllers::TemplateHash(changed));
  for (char c : Controllers::TemplateHash(t)) {
    CHECK(std::string("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string::npos);
  }
}

}  // namespace
}  // namespace kb::sim
