// kube-sim REST semantics over real HTTP: CRUD, resourceVersions, Status error bodies, auth,
// patches, status subresource rules, leases, events.
#include "sim/api_server.h"

#include <catch2/catch.hpp>

#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;
using testing::MakePod;
using testing::Sim;

ApiServerOptions NoControllers() {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  return o;
}

uint64_t Rv(const json& obj) {
  return std::stoull(obj["metadata"]["resourceVersion"].get<std::string>());
}

TEST_CASE("create, get, update and delete a pod with monotonic resourceVersions", "[sim]") {
  Sim sim(NoControllers());
  auto created = sim.Post("/api/v1/namespaces/default/pods", MakePod("p1"));
  REQUIRE(created.status == 201);
  CHECK(created.body["kind"] == "Pod");
  CHECK(created.body["apiVersion"] == "v1");
  CHECK(created.body["metadata"]["uid"].get<std::string>().size() == 36);
  CHECK(created.body["metadata"]["creationTimestamp"].is_string());
  CHECK(created.body["status"]["phase"] == "Pending");
  CHECK(created.body["spec"]["schedulerName"] == "default-scheduler");
  const uint64_t rv1 = Rv(created.body);

  auto got = sim.Get("/api/v1/namespaces/default/pods/p1");
  REQUIRE(got.status == 200);
  CHECK(got.body == created.body);

  json update = got.body;
  update["metadata"]["labels"]["tier"] = "web";
  auto updated = sim.Put("/api/v1/namespaces/default/pods/p1", update);
  REQUIRE(updated.status == 200);
  CHECK(Rv(updated.body) > rv1);
  CHECK(updated.body["metadata"]["uid"] == created.body["metadata"]["uid"]);
  CHECK(std::stoull(sim.server().CurrentResourceVersion()) == Rv(updated.body));

  // A no-op update keeps the resourceVersion.
  auto same = sim.Put("/api/v1/namespaces/default/pods/p1", updated.body);
  REQUIRE(same.status == 200);
  CHECK(Rv(same.body) == Rv(updated.body));

  auto deleted = sim.Delete("/api/v1/namespaces/default/pods/p1");
  REQUIRE(deleted.status == 200);
  CHECK(deleted.body["kind"] == "Pod");  // pods answer the deleted object
  CHECK(Rv(deleted.body) > Rv(updated.body));
  CHECK(sim.Get("/api/v1/namespaces/default/pods/p1").status == 404);
}

TEST_CASE("a stale update answers 409 with the exact Conflict Status", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(
      sim.server().CreateObject("deployments", "default", testing::MakeDeployment("web", 1)).ok());
  auto got = sim.Get("/apis/apps/v1/namespaces/default/deployments/web");
  json first = got.body, second = got.body;
  first["spec"]["replicas"] = 2;
  REQUIRE(sim.Put("/apis/apps/v1/namespaces/default/deployments/web", first).status == 200);
  second["spec"]["replicas"] = 3;
  auto conflict = sim.Put("/apis/apps/v1/namespaces/default/deployments/web", second);
  CHECK(conflict.status == 409);
  CHECK(conflict.body == json::parse(R"j({
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again",
    "reason": "Conflict",
    "details": {"name": "web", "group": "apps", "kind": "deployments"},
    "code": 409})j"));
  // Generation bumps on spec changes only.
  auto now = sim.Get("/apis/apps/v1/namespaces/default/deployments/web");
  CHECK(now.body["metadata"]["generation"] == 2);
  CHECK(now.body["spec"]["replicas"] == 2);
}

TEST_CASE("not found, already exists and bad requests answer exact Status bodies", "[sim]") {
  Sim sim(NoControllers());
  auto missing = sim.Get("/api/v1/namespaces/default/pods/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"pods \"nope\" not found","reason":"NotFound",
    "details":{"name":"nope","kind":"pods"},"code":404})j"));

  auto missing_lease = sim.Get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x");
  CHECK(missing_lease.body["message"] == "leases.coordination.k8s.io \"x\" not found");
  CHECK(missing_lease.body["details"]["group"] == "coordination.k8s.io");

  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("dup")).status == 201);
  auto dup = sim.Post("/api/v1/namespaces/default/pods", MakePod("dup"));
  CHECK(dup.status == 409);
  CHECK(dup.body["reason"] == "AlreadyExists");
  CHECK(dup.body["message"] == "pods \"dup\" already exists");

  auto unknown = sim.Get("/api/v1/widgets");
  CHECK(unknown.status == 404);
  CHECK(unknown.body["kind"] == "Status");
  CHECK(unknown.body["reason"] == "NotFound");

  auto bad_method = sim.Post("/api/v1/pods", MakePod("x"));  // create needs a namespace
  CHECK(bad_method.status == 405);
  CHECK(bad_method.body["reason"] == "MethodNotAllowed");
  CHECK(sim.Put("/api/v1/namespaces/default/pods", MakePod("x")).status == 405);

  auto malformed = sim.PostRaw("/api/v1/namespaces/default/pods", "{\"metadata\": ");
  CHECK(malformed.status == 400);
  CHECK(malformed.body["reason"] == "BadRequest");

  json wrong_kind = MakePod("k");
  wrong_kind["kind"] = "Deployment";
  CHECK(sim.Post("/api/v1/namespaces/default/pods", wrong_kind).status == 400);
  json wrong_version = MakePod("v");
  wrong_version["apiVersion"] = "apps/v1";
  auto wv = sim.Post("/api/v1/namespaces/default/pods", wrong_version);
  CHECK(wv.status == 400);
  CHECK(wv.body["message"] ==
        "the API version in the data (apps/v1) does not match the expected API version (v1)");
  auto wrong_ns = sim.Post("/api/v1/namespaces/other/pods", MakePod("n"));
  CHECK(wrong_ns.status == 400);
  CHECK(wrong_ns.body["message"] ==
        "the namespace of the provided object does not match the namespace sent on the request");

  json wrong_type = testing::MakeDeployment("t", 1);
  wrong_type["spec"]["replicas"] = "two";
  auto wt = sim.Post("/apis/apps/v1/namespaces/default/deployments", wrong_type);
  CHECK(wt.status == 400);
  CHECK_THAT(wt.body["message"].get<std::string>(),
             Catch::Contains("cannot unmarshal string") && Catch::Contains("spec.replicas"));

  json no_containers = MakePod("c");
  no_containers["spec"].erase("containers");
  auto nc = sim.Post("/api/v1/namespaces/default/pods", no_containers);
  CHECK(nc.status == 422);
  CHECK(nc.body["message"] == "Pod \"c\" is invalid: spec.containers: Required value");

  json bad_quantity = MakePod("q");
  bad_quantity["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots";
  CHECK(sim.Post("/api/v1/namespaces/default/pods", bad_quantity).status == 422);

  json bad_name = MakePod("Bad_Name");
  CHECK(sim.Post("/api/v1/namespaces/default/pods", bad_name).status == 422);
}

TEST_CASE("requests without the bearer token answer 401", "[sim]") {
  Sim sim(NoControllers());
  auto anonymous = sim.NewClient(/*auth=*/false);
  auto r = Sim::ToReply(anonymous->Get("/api/v1/nodes"));
  CHECK(r.status == 401);
  CHECK(r.body == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})j"));
  anonymous->set_bearer_token_auth("wrong");
  CHECK(Sim::ToReply(anonymous->Get("/api/v1/nodes")).status == 401);
  CHECK(sim.Get("/api/v1/nodes").status == 200);
  CHECK(sim.server().Counts().Get("list", "nodes") == 3);
  auto health = anonymous->Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  ApiServerOptions open = NoControllers();
  open.token = "";
  Sim no_auth(open);
  auto client = no_auth.NewClient(false);
  CHECK(Sim::ToReply(client->Get("/api/v1/nodes")).status == 200);
}

TEST_CASE("patches - merge, strategic merge, json patch, conditional and unsupported", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(
      sim.server().CreateObject("deployments", "default", testing::MakeDeployment("web", 2)).ok());
  const std::string path = "/apis/apps/v1/namespaces/default/deployments/web";

  auto merged = sim.Patch(
      path, {{"spec",
              {{"template",
                {{"metadata",
                  {{"annotations",
                    {{"kubectl.kubernetes.io/restartedAt", "2025-01-01T12:00:00Z"}}}}}}}}}});
  REQUIRE(merged.status == 200);
  CHECK(merged.body["spec"]["template"]["metadata"]["annotations"]
                   ["kubectl.kubernetes.io/restartedAt"] == "2025-01-01T12:00:00Z");
  CHECK(merged.body["metadata"]["generation"] == 2);

  // Merge patch replaces lists; strategic merge merges containers by name.
  auto strategic = sim.Patch(
      path,
      {{"spec",
        {{"template",
          {{"spec",
            {{"containers", json::array({{{"name", "sidecar"}, {"image", "busybox"}}})}}}}}}}},
      "application/strategic-merge-patch+json");
  REQUIRE(strategic.status == 200);
  CHECK(strategic.body["spec"]["template"]["spec"]["containers"].size() == 2);
  auto replaced = sim.Patch(
      path, {{"spec",
              {{"template",
                {{"spec",
                  {{"containers", json::array({{{"name", "only"}, {"image", "busybox"}}})}}}}}}}});
  REQUIRE(replaced.status == 200);
  CHECK(replaced.body["spec"]["template"]["spec"]["containers"].size() == 1);

  auto json_patch =
      sim.Patch(path, json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 5}}}),
                "application/json-patch+json");
  REQUIRE(json_patch.status == 200);
  CHECK(json_patch.body["spec"]["replicas"] == 5);

  // A patch carrying a stale resourceVersion is conditional: 409.
  auto stale =
      sim.Patch(path, {{"metadata", {{"resourceVersion", "1"}}}, {"spec", {{"replicas", 1}}}});
  CHECK(stale.status == 409);
  CHECK(stale.body["reason"] == "Conflict");

  auto unsupported = sim.Patch(path, {{"spec", {{"replicas", 1}}}}, "application/json");
  CHECK(unsupported.status == 415);
  CHECK(sim.Patch("/apis/apps/v1/namespaces/default/deployments/nope", {{"a", 1}}).status == 404);
  // Status is not changed through the main resource.
  auto status_patch = sim.Patch(path, {{"status", {{"replicas", 99}}}});
  REQUIRE(status_patch.status == 200);
  CHECK_FALSE(status_patch.body.contains("status"));
  auto via_status = sim.Patch(path + "/status", {{"status", {{"replicas", 99}}}});
  REQUIRE(via_status.status == 200);
  CHECK(via_status.body["status"]["replicas"] == 99);
}

TEST_CASE("pod updates follow kube's immutability and status-subresource rules", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("p")).status == 201);
  auto pod = sim.Get("/api/v1/namespaces/default/pods/p").body;
  json moved = pod;
  moved["spec"]["nodeName"] = "worker-1";  // only pods/binding may set it
  auto r = sim.Put("/api/v1/namespaces/default/pods/p", moved);
  CHECK(r.status == 422);
  CHECK_THAT(
      r.body["message"].get<std::string>(),
      Catch::StartsWith("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change"));
  json image = pod;
  image["spec"]["containers"][0]["image"] = "registry.k8s.io/pause:3.10";
  image["status"]["phase"] = "Running";  // ignored on the main resource
  auto ok = sim.Put("/api/v1/namespaces/default/pods/p", image);
  REQUIRE(ok.status == 200);
  CHECK(ok.body["status"]["phase"] == "Pending");
  json status = ok.body;
  status["status"]["phase"] = "Running";
  status["metadata"]["labels"]["ignored"] = "yes";  // ignored on /status
  auto st = sim.Put("/api/v1/namespaces/default/pods/p/status", status);
  REQUIRE(st.status == 200);
  CHECK(st.body["status"]["phase"] == "Running");
  CHECK_FALSE(st.body["metadata"]["labels"].contains("ignored"));
}

TEST_CASE("deletes honour uid / resourceVersion preconditions and grace periods", "[sim]") {
  ApiServerOptions o = NoControllers();
  FakeClock clock;
  o.clock = &clock;
  Sim sim(o);
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("p", "default", {}, "n1")).ok());
  auto wrong_uid =
      sim.Delete("/api/v1/namespaces/default/pods/p",
                 {{"preconditions", {{"uid", "00000000-0000-0000-0000-000000000000"}}}});
  CHECK(wrong_uid.status == 409);
  CHECK_THAT(wrong_uid.body["message"].get<std::string>(),
             Catch::Contains("Precondition failed: UID in precondition: "
                             "00000000-0000-0000-0000-000000000000"));
  auto wrong_rv = sim.Delete("/api/v1/namespaces/default/pods/p",
                             {{"preconditions", {{"resourceVersion", "1234"}}}});
  CHECK(wrong_rv.status == 409);

  // A bound pod deleted with a grace period lingers, terminating, until the period is over.
  auto graceful = sim.Delete("/api/v1/namespaces/default/pods/p", {{"gracePeriodSeconds", 30}});
  REQUIRE(graceful.status == 200);
  CHECK(graceful.body["metadata"]["deletionTimestamp"].is_string());
  CHECK(graceful.body["metadata"]["deletionGracePeriodSeconds"] == 30);
  sim.server().RunControllersOnce();
  CHECK(sim.Get("/api/v1/namespaces/default/pods/p").status == 200);
  clock.Advance(std::chrono::seconds(31));
  sim.server().RunControllersOnce();
  CHECK(sim.Get("/api/v1/namespaces/default/pods/p").status == 404);

  // Unscheduled pods are removed at once whatever the grace period.
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("u")).status == 201);
  REQUIRE(sim.Delete("/api/v1/namespaces/default/pods/u?gracePeriodSeconds=30").status == 200);
  CHECK(sim.Get("/api/v1/namespaces/default/pods/u").status == 404);

  // Other resources answer a Success Status.
  REQUIRE(
      sim.server().CreateObject("deployments", "default", testing::MakeDeployment("d", 1)).ok());
  auto d = sim.Delete("/apis/apps/v1/namespaces/default/deployments/d");
  CHECK(d.status == 200);
  CHECK(d.body["status"] == "Success");
  CHECK(d.body["details"]["kind"] == "deployments");
}

TEST_CASE("leases - create, 409 AlreadyExists, update with resourceVersion check", "[sim]") {
  Sim sim(NoControllers());
  const std::string base = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "kube-balancer"}, {"namespace", "kube-system"}}},
                {"spec",
                 {{"holderIdentity", "a"},
                  {"leaseDurationSeconds", 15},
                  {"acquireTime", "2025-01-01T12:00:00.000000Z"},
                  {"renewTime", "2025-01-01T12:00:00.000000Z"},
                  {"leaseTransitions", 0}}}};
  auto created = sim.Post(base, lease);
  REQUIRE(created.status == 201);
  auto again = sim.Post(base, lease);
  CHECK(again.status == 409);
  CHECK(again.body["reason"] == "AlreadyExists");
  CHECK(again.body["message"] == "leases.coordination.k8s.io \"kube-balancer\" already exists");

  json renew = created.body;
  renew["spec"]["renewTime"] = "2025-01-01T12:00:02.000000Z";
  auto renewed = sim.Put(base + "/kube-balancer", renew);
  REQUIRE(renewed.status == 200);
  CHECK(renewed.body["spec"]["renewTime"] == "2025-01-01T12:00:02.000000Z");
  json steal = created.body;  // stale resourceVersion
  steal["spec"]["holderIdentity"] = "b";
  auto lost = sim.Put(base + "/kube-balancer", steal);
  CHECK(lost.status == 409);
  CHECK(lost.body["reason"] == "Conflict");
  CHECK(sim.Get(base + "/kube-balancer").body["spec"]["holderIdentity"] == "a");
}

TEST_CASE("events - core/v1 create with the legacy namespace rule", "[sim]") {
  Sim sim(NoControllers());
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "p.17f3a2b1c0d9e8f7"}, {"namespace", "default"}}},
                {"involvedObject",
                 {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "p"}, {"namespace", "default"}}},
                {"reason", "Rescheduled"},
                {"message", "Evicted from node-a"},
                {"type", "Normal"},
                {"source", {{"component", "load-rescheduler"}}},
                {"count", 1}};
  CHECK(sim.Post("/api/v1/namespaces/default/events", event).status == 201);
  json mismatch = event;
  mismatch["metadata"]["name"] = "p.2";
  mismatch["involvedObject"]["namespace"] = "other";
  auto r = sim.Post("/api/v1/namespaces/default/events", mismatch);
  CHECK(r.status == 422);
  CHECK(r.body["message"] ==
        "Event \"p.2\" is invalid: involvedObject.namespace: Invalid value: "
        "\"other\": does not match event.namespace");
  auto list = sim.Get("/api/v1/namespaces/default/events?fieldSelector=reason%3DRescheduled");
  REQUIRE(list.status == 200);
  CHECK(list.body["items"].size() == 1);
}

TEST_CASE("direct access API goes through the same storage", "[sim]") {
  ApiServer server(NoControllers());  // not started: direct access works without HTTP
  auto node = server.CreateObject("nodes", "", testing::MakeNode("n1"));
  REQUIRE(node.ok());
  CHECK((*node)["metadata"]["resourceVersion"] == "1");
  CHECK(server.CreateObject("nodes", "", testing::MakeNode("n1")).status().code() ==
        StatusCode::kAlreadyExists);
  json stale = *node;
  REQUIRE(server.PatchObject("nodes", "", "n1", {{"spec", {{"unschedulable", true}}}}).ok());
  stale["spec"]["unschedulable"] = false;
  auto conflict = server.UpdateObject("nodes", "", stale);
  CHECK(conflict.status().code() == StatusCode::kAborted);
  CHECK(conflict.status().http_code() == 409);
  CHECK(server.GetObject("nodes", "", "n1")->at("spec")["unschedulable"] == true);
  CHECK(server.ListObjects("nodes").size() == 1);
  CHECK(server.GetObject("widgets", "", "x").status().code() == StatusCode::kInvalidArgument);
  REQUIRE(server.DeleteObject("nodes", "", "n1").ok());
  CHECK(server.GetObject("nodes", "", "n1").status().code() == StatusCode::kNotFound);
  CHECK(server.CurrentResourceVersion() == "3");
}

}  // namespace
}  // namespace kb::sim
