// pods/binding and pods/eviction over HTTP, with the PodDisruptionBudget logic of
// kube-apiserver's eviction subresource.
#include <catch2/catch.hpp>

#include "sim/api_server.h"
#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;
using testing::MakePod;
using testing::Sim;

ApiServerOptions Manual() {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  o.pod_ready_delay = std::chrono::milliseconds(0);
  return o;
}

json Binding(const std::string& pod, const std::string& node, const std::string& uid = "") {
  json b = {{"apiVersion", "v1"},
            {"kind", "Binding"},
            {"metadata", {{"name", pod}, {"namespace", "default"}}},
            {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  if (!uid.empty()) b["metadata"]["uid"] = uid;
  return b;
}

json Eviction(const std::string& pod, const json& delete_options = nullptr,
              const std::string& api_version = "policy/v1") {
  json e = {{"apiVersion", api_version},
            {"kind", "Eviction"},
            {"metadata", {{"name", pod}, {"namespace", "default"}}}};
  if (!delete_options.is_null()) e["deleteOptions"] = delete_options;
  return e;
}

std::string PodPath(const std::string& name, const std::string& sub = "") {
  return "/api/v1/namespaces/default/pods/" + name + (sub.empty() ? "" : "/" + sub);
}

TEST_CASE("pods/binding - 201, then 409 already assigned, 404, 400, 422 and preconditions",
          "[sim]") {
  Sim sim(Manual());
  auto created = sim.Post("/api/v1/namespaces/default/pods", MakePod("web-1"));
  REQUIRE(created.status == 201);
  const std::string uid = created.body["metadata"]["uid"];

  auto wrong_uid = sim.Post(PodPath("web-1", "binding"),
                            Binding("web-1", "node-a", "6f1c2a4e-0d0c-4a8b-9a3e-0f6b1c2d3e4f"));
  CHECK(wrong_uid.status == 409);
  CHECK(wrong_uid.body["message"] ==
        "Operation cannot be fulfilled on pods/binding \"web-1\": Precondition failed: UID in "
        "precondition: 6f1c2a4e-0d0c-4a8b-9a3e-0f6b1c2d3e4f, UID in object meta: " +
            uid);

  auto bound = sim.Post(PodPath("web-1", "binding"), Binding("web-1", "node-a", uid));
  CHECK(bound.status == 201);
  CHECK(bound.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Success","code":201})j"));
  auto pod = sim.Get(PodPath("web-1")).body;
  CHECK(pod["spec"]["nodeName"] == "node-a");
  bool scheduled = false;
  for (const auto& c : pod["status"]["conditions"]) {
    if (c["type"] == "PodScheduled") {
      scheduled = c["status"] == "True" && c["lastTransitionTime"].is_string();
    }
  }
  CHECK(scheduled);

  auto again = sim.Post(PodPath("web-1", "binding"), Binding("web-1", "node-b"));
  CHECK(again.status == 409);
  CHECK(again.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"Operation cannot be fulfilled on pods/binding \"web-1\": pod web-1 is already assigned to node \"node-a\"",
    "reason":"Conflict","details":{"name":"web-1","kind":"pods/binding"},"code":409})j"));

  auto missing = sim.Post(PodPath("ghost", "binding"), Binding("ghost", "node-a"));
  CHECK(missing.status == 404);
  CHECK(missing.body["message"] == "pods \"ghost\" not found");

  auto mismatch = sim.Post(PodPath("web-1", "binding"), Binding("other", "node-a"));
  CHECK(mismatch.status == 400);
  CHECK(mismatch.body["message"] == "name in URL does not match name in Binding object");

  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("web-2")).status == 201);
  auto empty_target = sim.Post(PodPath("web-2", "binding"), Binding("web-2", ""));
  CHECK(empty_target.status == 422);
  CHECK(empty_target.body["reason"] == "Invalid");
  CHECK(empty_target.body["message"] ==
        "Binding \"web-2\" is invalid: target.name: Required value");

  // Legacy path POST /namespaces/{ns}/bindings.
  CHECK(sim.Post("/api/v1/namespaces/default/bindings", Binding("web-2", "node-b")).status == 201);
  CHECK(sim.Get(PodPath("web-2")).body["spec"]["nodeName"] == "node-b");
  CHECK(sim.server().Counts().Get("create", "pods/binding") == 7);

  // A terminating pod cannot be bound.
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("web-3")).ok());
  json terminating = *sim.server().GetObject("pods", "default", "web-3");
  terminating["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z";
  REQUIRE(sim.server().UpdateObject("pods", "default", terminating).ok());
  auto deleting = sim.Post(PodPath("web-3", "binding"), Binding("web-3", "node-a"));
  CHECK(deleting.status == 409);
  CHECK_THAT(deleting.body["message"].get<std::string>(),
             Catch::EndsWith("pod web-3 is being deleted, cannot be assigned to a host"));
}

// A Deployment of `replicas` Ready pods guarded by `pdbs` (name -> minAvailable), driven by
// RunControllersOnce.
struct PdbCluster {
  explicit PdbCluster(Sim& s, int replicas, const std::vector<std::pair<std::string, json>>& pdbs)
      : sim(s) {
    auto& server = sim.server();
    REQUIRE(server.CreateObject("nodes", "", testing::MakeNode("node-a")).ok());
    REQUIRE(server.CreateObject("deployments", "default", testing::MakeDeployment("web", replicas))
                .ok());
    for (const auto& [name, min] : pdbs) {
      REQUIRE(server
                  .CreateObject("poddisruptionbudgets", "default",
                                testing::MakePdb(name, {{"app", "web"}}, min))
                  .ok());
    }
    server.RunControllersOnce();  // Deployment -> ReplicaSet
    server.RunControllersOnce();  // ReplicaSet -> Pods
    for (const auto& pod : server.ListObjects("pods", "default")) {
      REQUIRE(server.BindPod("default", pod["metadata"]["name"], "", "node-a").ok());
    }
    server.RunControllersOnce();  // kubelet: Running + Ready; PDB status
    server.RunControllersOnce();
    REQUIRE(Ready() == replicas);
  }
  int Ready() {
    int n = 0;
    for (const auto& pod : sim.server().ListObjects("pods", "default")) {
      if (pod["status"]["phase"] == "Running" && !pod["metadata"].contains("deletionTimestamp"))
        ++n;
    }
    return n;
  }
  std::vector<std::string> PodNames() {
    std::vector<std::string> out;
    for (const auto& pod : sim.server().ListObjects("pods", "default")) {
      out.push_back(pod["metadata"]["name"]);
    }
    return out;
  }
  json Pdb(const std::string& name) {
    return *sim.server().GetObject("poddisruptionbudgets", "default", name);
  }
  Sim& sim;
};

TEST_CASE("eviction decrements the PDB, then answers 429 with the DisruptionBudget cause",
          "[sim]") {
  Sim sim(Manual());
  PdbCluster cluster(sim, 3, {{"web-pdb", 2}});
  json pdb = cluster.Pdb("web-pdb");
  CHECK(pdb["status"]["disruptionsAllowed"] == 1);
  CHECK(pdb["status"]["currentHealthy"] == 3);
  CHECK(pdb["status"]["desiredHealthy"] == 2);
  CHECK(pdb["status"]["expectedPods"] == 3);
  CHECK(pdb["status"]["observedGeneration"] == 1);

  auto names = cluster.PodNames();
  auto ok = sim.Post(PodPath(names[0], "eviction"), Eviction(names[0]));
  CHECK(ok.status == 201);
  CHECK(ok.body["status"] == "Success");
  pdb = cluster.Pdb("web-pdb");
  CHECK(pdb["status"]["disruptionsAllowed"] == 0);
  CHECK(pdb["status"]["disruptedPods"].contains(names[0]));
  CHECK(sim.Get(PodPath(names[0])).status == 404);  // default grace 0: gone at once
  sim.server().RunControllersOnce();  // PDB status catches up (the replacement is not bound)
  CHECK_FALSE(cluster.Pdb("web-pdb")["status"].contains("disruptedPods"));

  auto refused = sim.Post(PodPath(names[1], "eviction"), Eviction(names[1]));
  CHECK(refused.status == 429);
  CHECK(refused.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"Cannot evict pod as it would violate the pod's disruption budget.",
    "reason":"TooManyRequests",
    "details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]},
    "code":429})j"));
  CHECK(refused.headers.count("Retry-After") == 0);
  CHECK(sim.Get(PodPath(names[1])).status == 200);

  // The Status maps to kUnavailable with the DisruptionBudget cause for clients.
  auto direct = sim.server().GetObject("pods", "default", names[1]);
  CHECK(direct.ok());
}

TEST_CASE("eviction with two matching PDBs answers 500", "[sim]") {
  Sim sim(Manual());
  PdbCluster cluster(sim, 2, {{"pdb-a", 1}, {"pdb-b", 1}});
  auto name = cluster.PodNames()[0];
  auto r = sim.Post(PodPath(name, "eviction"), Eviction(name));
  CHECK(r.status == 500);
  CHECK(r.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure",
    "message":"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    "code":500})j"));
}

TEST_CASE("eviction of a PDB not yet observed answers 429 with Retry-After 10", "[sim]") {
  Sim sim(Manual());
  PdbCluster cluster(sim, 3, {{"web-pdb", 1}});
  json pdb = sim.Get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web-pdb").body;
  pdb["spec"]["minAvailable"] = 2;
  REQUIRE(sim.Put("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web-pdb", pdb).status ==
          200);
  auto name = cluster.PodNames()[0];
  auto r = sim.Post(PodPath(name, "eviction"), Eviction(name));
  CHECK(r.status == 429);
  CHECK(r.headers.count("Retry-After") == 1);
  CHECK(r.body["details"]["retryAfterSeconds"] == 10);
  CHECK(r.body["details"]["causes"][0]["reason"] == "DisruptionBudget");
  CHECK(r.body["details"]["causes"][0]["message"] ==
        "The disruption budget web-pdb is still being processed by the server.");
  sim.server().RunControllersOnce();
  CHECK(sim.Post(PodPath(name, "eviction"), Eviction(name)).status == 201);
}

TEST_CASE("a Pending pod is evicted without a PDB check", "[sim]") {
  Sim sim(Manual());
  PdbCluster cluster(sim, 2, {{"web-pdb", 2}});
  CHECK(cluster.Pdb("web-pdb")["status"]["disruptionsAllowed"] == 0);
  json pending = MakePod("pending", "default", {{"app", "web"}});
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", pending).status == 201);
  auto r = sim.Post(PodPath("pending", "eviction"), Eviction("pending", nullptr, "policy/v1beta1"));
  CHECK(r.status == 201);
  CHECK(sim.Get(PodPath("pending")).status == 404);
  // A Running pod under the same budget is refused.
  auto name = cluster.PodNames()[0];
  CHECK(sim.Post(PodPath(name, "eviction"), Eviction(name)).status == 429);
}

TEST_CASE("eviction errors and options - 404, 400, dry run, preconditions, grace period", "[sim]") {
  ApiServerOptions o = Manual();
  FakeClock clock;
  o.clock = &clock;
  Sim sim(o);
  PdbCluster cluster(sim, 3, {{"web-pdb", 1}});
  auto names = cluster.PodNames();
  CHECK(sim.Post(PodPath("ghost", "eviction"), Eviction("ghost")).status == 404);
  auto mismatch = sim.Post(PodPath(names[0], "eviction"), Eviction(names[1]));
  CHECK(mismatch.status == 400);
  CHECK(mismatch.body["message"] == "name in URL does not match name in Eviction object");

  auto dry = sim.Post(PodPath(names[0], "eviction") + "?dryRun=All", Eviction(names[0]));
  CHECK(dry.status == 201);
  CHECK(sim.Get(PodPath(names[0])).status == 200);
  CHECK(cluster.Pdb("web-pdb")["status"]["disruptionsAllowed"] == 2);

  auto stale = sim.Post(PodPath(names[0], "eviction"),
                        Eviction(names[0], {{"preconditions", {{"uid", "not-the-uid"}}}}));
  CHECK(stale.status == 409);

  auto graceful =
      sim.Post(PodPath(names[0], "eviction"), Eviction(names[0], {{"gracePeriodSeconds", 30}}));
  CHECK(graceful.status == 201);
  auto pod = sim.Get(PodPath(names[0]));
  REQUIRE(pod.status == 200);
  CHECK(pod.body["metadata"]["deletionTimestamp"].is_string());
  // A terminating pod is evicted again without touching the budget.
  CHECK(sim.Post(PodPath(names[0], "eviction"), Eviction(names[0], {{"gracePeriodSeconds", 30}}))
            .status == 201);
  CHECK(cluster.Pdb("web-pdb")["status"]["disruptionsAllowed"] == 1);
  sim.server().RunControllersOnce();
  CHECK(sim.Get(PodPath(names[0])).status == 200);
  clock.Advance(std::chrono::seconds(31));
  sim.server().RunControllersOnce();
  CHECK(sim.Get(PodPath(names[0])).status == 404);
}

}  // namespace
}  // namespace kb::sim
