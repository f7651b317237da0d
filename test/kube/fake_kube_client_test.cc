// FakeKubeClient behaves like the API server where the rescheduler and server tests rely on it.
#include "test/fakes/fake_kube_client.h"

#include <catch2/catch.hpp>
#include <thread>

#include "test/testing/builders.h"

namespace kb::testing {
namespace {

using kube::ResourceKind;
using nlohmann::json;

TEST_CASE("fake client: pods, bindings, evictions, deletes", "[kube]") {
  FakeKubeClient fake;
  json pod = fake.Put("pods", PodBuilder("web-1").Json());
  std::string uid = pod["metadata"]["uid"];
  CHECK(!uid.empty());
  CHECK(pod["metadata"]["resourceVersion"] == "1");

  CHECK(fake.GetPod("default", "web-1").ok());
  CHECK(fake.GetPod("default", "nope").status().code() == StatusCode::kNotFound);
  CHECK(fake.GetPod("default", "nope").status().http_code() == 404);

  CHECK(fake.BindPod("default", "web-1", "wrong-uid", "n1").code() == StatusCode::kAborted);
  REQUIRE(fake.BindPod("default", "web-1", uid, "n1").ok());
  Status again = fake.BindPod("default", "web-1", uid, "n2");
  CHECK(again.code() == StatusCode::kAborted);
  CHECK_THAT(again.message(), Catch::Contains("already assigned to node \"n1\""));
  REQUIRE(fake.Bindings().size() == 1);
  CHECK(fake.Bindings()[0].node == "n1");
  CHECK((*fake.Get("pods", "default", "web-1"))["spec"]["nodeName"] == "n1");

  json created = fake.CreatePod("default", PodBuilder("copy").Json()).value();
  CHECK(created["metadata"]["uid"] != PodBuilder("copy").Json()["metadata"]["uid"]);
  CHECK(fake.CreatePod("default", PodBuilder("copy").Json()).status().code() ==
        StatusCode::kAlreadyExists);
  CHECK(fake.CreatedPods().size() == 1);

  kube::EvictOptions eo;
  eo.dry_run = true;
  REQUIRE(fake.EvictPod("default", "web-1", eo).ok());
  CHECK(fake.Get("pods", "default", "web-1").has_value());  // dry run
  eo.dry_run = false;
  REQUIRE(fake.EvictPod("default", "web-1", eo).ok());
  CHECK_FALSE(fake.Get("pods", "default", "web-1").has_value());
  CHECK(fake.Evictions().size() == 2);
  CHECK(fake.EvictPod("default", "web-1", eo).code() == StatusCode::kNotFound);

  CHECK(fake.DeletePod("default", "copy", "other-uid").code() == StatusCode::kAborted);
  REQUIRE(fake.DeletePod("default", "copy", created["metadata"]["uid"]).ok());
  CHECK(fake.DeletedPods() == std::vector<std::string>{"default/copy"});
  CHECK(fake.CallCount(kVerbEvictPod) == 3);
}

TEST_CASE("fake client: failure injection", "[kube]") {
  FakeKubeClient fake;
  fake.Put("pods", PodBuilder("a").Json());
  Status budget = Status::Unavailable(
                      "Cannot evict pod as it would violate the pod's disruption "
                      "budget.")
                      .WithHttp(429, "TooManyRequests", "DisruptionBudget");
  fake.FailNthCall(kVerbEvictPod, 2, budget);
  fake.SetEvictionDeletesPod(false);
  CHECK(fake.EvictPod("default", "a", {}).ok());
  Status second = fake.EvictPod("default", "a", {});
  CHECK(second.code() == StatusCode::kUnavailable);
  CHECK(second.cause() == "DisruptionBudget");
  CHECK(fake.EvictPod("default", "a", {}).ok());
  CHECK(fake.Evictions().size() == 2);  // the failed call is not recorded

  fake.FailAlways(kVerbCreateEvent, Status::PermissionDenied("forbidden").WithHttp(403));
  CHECK(fake.CreateEvent("default", json::object()).code() == StatusCode::kPermissionDenied);
  CHECK(fake.CreateEvent("default", json::object()).code() == StatusCode::kPermissionDenied);
  fake.ClearFailures();
  CHECK(fake.CreateEvent("default", {{"reason", "Rescheduled"}}).ok());
  REQUIRE(fake.Events().size() == 1);
  CHECK(fake.Events()[0]["metadata"]["namespace"] == "default");
}

TEST_CASE("fake client: deployments, replicasets and leases", "[kube]") {
  FakeKubeClient fake;
  fake.Put("deployments", DeploymentBuilder("default", "web").Json());
  fake.Put("replicasets", ReplicaSetBuilder("default", "web-1").Replicas(3).Json());
  auto d = fake.GetDeployment("default", "web");
  REQUIRE(d.ok());
  json patch = {{"metadata", {{"resourceVersion", d->meta.resource_version}}},
                {"spec", {{"template", {{"metadata", {{"annotations", {{"x", "1"}}}}}}}}}};
  auto patched = fake.PatchDeployment("default", "web", patch);
  REQUIRE(patched.ok());
  CHECK(patched->template_annotations.at("x") == "1");
  CHECK(fake.PatchDeployment("default", "web", patch).status().code() == StatusCode::kAborted);
  CHECK(fake.DeploymentPatches().size() == 1);
  CHECK(fake.GetReplicaSet("default", "web-1")->replicas == 3);

  Lease lease;
  lease.meta.name = "l";
  lease.meta.namespace_ = "kube-system";
  lease.holder_identity = "me";
  CHECK(fake.GetLease("kube-system", "l").status().code() == StatusCode::kNotFound);
  auto created = fake.CreateLease(lease);
  REQUIRE(created.ok());
  CHECK(fake.CreateLease(lease).status().code() == StatusCode::kAlreadyExists);
  Lease stale = *created;
  Lease mine = *created;
  mine.holder_identity = "me-again";
  REQUIRE(fake.UpdateLease(mine).ok());
  stale.holder_identity = "other";
  CHECK(fake.UpdateLease(stale).status().code() == StatusCode::kAborted);
  CHECK(fake.GetLease("kube-system", "l")->holder_identity == "me-again");
}

TEST_CASE("fake client: list pagination, selectors and watch", "[kube]") {
  FakeKubeClient fake;
  for (int i = 0; i < 7; ++i) {
    fake.Put("pods", PodBuilder("p" + std::to_string(i))
                         .Node(i % 2 ? "n1" : "n2")
                         .Label("odd", i % 2 ? "yes" : "no")
                         .Json());
  }
  kube::ListOptions o;
  o.limit = 3;
  std::vector<size_t> sizes;
  for (;;) {
    auto page = fake.List(ResourceKind::kPods, o);
    REQUIRE(page.ok());
    sizes.push_back(page->items.size());
    if (page->continue_token.empty()) break;
    o.continue_token = page->continue_token;
  }
  CHECK(sizes == std::vector<size_t>{3, 3, 1});
  kube::ListOptions sel;
  sel.label_selector = "odd=yes";
  CHECK(fake.List(ResourceKind::kPods, sel)->items.size() == 3);
  sel.label_selector.clear();
  sel.field_selector = "spec.nodeName=n2";
  CHECK(fake.List(ResourceKind::kPods, sel)->items.size() == 4);

  std::string rv = fake.CurrentResourceVersion();
  fake.Put("pods", PodBuilder("late").Json());
  fake.Remove("pods", "default", "p0");
  std::vector<kube::WatchEventType> types;
  kube::WatchOptions wo;
  wo.resource_version = rv;
  Status st = fake.Watch(
      ResourceKind::kPods, wo,
      [&](kube::WatchEvent&& ev) {
        types.push_back(ev.type);
        return types.size() < 2;
      },
      nullptr);
  CHECK(st.ok());
  CHECK(types == std::vector<kube::WatchEventType>{kube::WatchEventType::kAdded,
                                                   kube::WatchEventType::kDeleted});

  fake.ExpireWatches();
  Status expired = fake.Watch(
      ResourceKind::kPods, wo, [](kube::WatchEvent&&) { return true; }, nullptr);
  CHECK(expired.code() == StatusCode::kFailedPrecondition);
  CHECK(expired.http_code() == 410);

  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    stop = true;
  });
  kube::WatchOptions now;
  Status cancelled = fake.Watch(
      ResourceKind::kNodes, now, [](kube::WatchEvent&&) { return true; }, &stop);
  stopper.join();
  CHECK(cancelled.code() == StatusCode::kCancelled);
}

}  // namespace
}  // namespace kb::testing
