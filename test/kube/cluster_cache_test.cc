// ClusterCache against FakeKubeClient: sync with pagination, watch events, indexes, copy-on-write
// snapshots, re-watch without relist, relist on 410, decode errors and list failures.
#include "kube/cluster_cache.h"

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "test/fakes/fake_kube_client.h"
#include "test/testing/builders.h"
#include "test/testing/poll.h"

namespace kb::kube {
namespace {

using kb::testing::FakeKubeClient;
using kb::testing::NodeBuilder;
using kb::testing::PdbBuilder;
using kb::testing::PodBuilder;
using kb::testing::PollUntil;
using nlohmann::json;

// The tests below count list calls of the kinds they seed: nodes, pods and PDBs.
ClusterCacheOptions TestOptions() {
  ClusterCacheOptions o;
  o.kinds = {ResourceKind::kNodes, ResourceKind::kPods, ResourceKind::kPodDisruptionBudgets};
  o.page_size = 2;
  o.backoff_initial = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(50);
  return o;
}

struct Recorder {
  std::mutex mu;
  std::vector<std::tuple<PodEventType, std::string, std::string>> events;  // type, old, new rv
  void operator()(const PodEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.emplace_back(e.type, e.old_pod ? e.old_pod->meta.resource_version : "",
                        e.new_pod ? e.new_pod->meta.resource_version : "");
  }
  size_t Count(PodEventType t) {
    std::lock_guard<std::mutex> lock(mu);
    return std::count_if(events.begin(), events.end(),
                         [t](const auto& e) { return std::get<0>(e) == t; });
  }
};

void Seed(FakeKubeClient& fake) {
  for (const char* n : {"node-a", "node-b", "node-c"}) fake.Put("nodes", NodeBuilder(n).Json());
  fake.Put("pods",
           PodBuilder("web-1").Node("node-a").OwnedByReplicaSet("web").Label("app", "web").Json());
  fake.Put("pods",
           PodBuilder("web-2").Node("node-b").OwnedByReplicaSet("web").Label("app", "web").Json());
  fake.Put("pods", PodBuilder("db-1").Node("node-a").Label("app", "db").Json());
  fake.Put("pods", PodBuilder("pending").Json());
  fake.Put("poddisruptionbudgets",
           PdbBuilder("default", "web-pdb").Selector("app", "web").MinAvailable(1).Json());
  fake.Put("poddisruptionbudgets", PdbBuilder("default", "all").EmptySelector().Json());
}

TEST_CASE("cache syncs with paginated lists and indexes pods", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  Recorder rec;
  cache.AddPodHandler([&](const PodEvent& e) { rec(e); });
  CHECK_FALSE(cache.Synced());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));

  auto snap = cache.Snapshot();
  CHECK(snap->nodes->size() == 3);
  CHECK(snap->PodCount() == 4);
  CHECK(snap->PodsOnNode("node-a").size() == 2);
  CHECK(snap->PodsOnNode("node-a")[0]->meta.name == "db-1");  // sorted by namespace/name
  CHECK(snap->PodsOnNode("node-c").empty());
  CHECK(snap->PodsOnNode("").size() == 1);
  CHECK(snap->FindNode("node-b") != nullptr);
  CHECK(snap->FindNode("node-z") == nullptr);
  CHECK(snap->FindPod("default", "web-2")->node_name == "node-b");
  CHECK(snap->FindPod("default", "nope") == nullptr);
  CHECK(snap->PodsOwnedBy(kb::testing::TestUid("default", "web")).size() == 2);
  CHECK(snap->PodsOwnedBy("unknown").empty());
  auto pdbs = snap->PdbsForPod(*snap->FindPod("default", "web-1"));
  REQUIRE(pdbs.size() == 1);  // the empty-selector PDB matches nothing, as in eviction
  CHECK(pdbs[0]->meta.name == "web-pdb");
  CHECK(snap->PdbsForPod(*snap->FindPod("default", "db-1")).empty());

  // 3 kinds; 3 nodes / 4 pods / 2 PDBs in pages of 2 -> 2 + 2 + 1 list calls.
  CHECK(cache.Stats().lists == 5);
  CHECK(rec.Count(PodEventType::kAdded) == 4);
  cache.Stop();
}

TEST_CASE("cache applies watch events and snapshots are copy-on-write", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  Recorder rec;
  cache.AddPodHandler([&](const PodEvent& e) { rec(e); });
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  auto before = cache.Snapshot();
  CHECK(cache.Snapshot() == before);  // unchanged: the same object

  // Bind the pending pod to node-c, update web-1 in place, delete db-1.
  json pending = *fake.Get("pods", "default", "pending");
  pending["spec"]["nodeName"] = "node-c";
  fake.Put("pods", pending);
  json web1 = *fake.Get("pods", "default", "web-1");
  web1["status"]["phase"] = "Failed";
  std::string web1_rv = fake.Put("pods", web1)["metadata"]["resourceVersion"];
  fake.Remove("pods", "default", "db-1");
  fake.Put("nodes", NodeBuilder("node-d").Json());

  REQUIRE(PollUntil([&] {
    auto s = cache.Snapshot();
    return s->FindNode("node-d") != nullptr && s->PodsOnNode("node-a").size() == 1 &&
           s->PodsOnNode("node-a")[0]->meta.resource_version == web1_rv &&
           s->PodsOnNode("node-c").size() == 1;
  }));
  auto after = cache.Snapshot();
  CHECK(after->version > before->version);
  CHECK(after->PodsOnNode("").empty());
  CHECK(after->PodCount() == 3);
  CHECK(after->PodsOnNode("node-a")[0]->phase == "Failed");
  // node-b's bucket did not change: the snapshot shares it with the previous one.
  CHECK(after->pods_by_node->at("node-b") == before->pods_by_node->at("node-b"));
  CHECK(after->pods_by_node->at("node-a") != before->pods_by_node->at("node-a"));
  // The old snapshot is untouched.
  CHECK(before->PodCount() == 4);
  CHECK(before->FindNode("node-d") == nullptr);
  CHECK(PollUntil([&] { return rec.Count(PodEventType::kDeleted) == 1; }));
  CHECK(rec.Count(PodEventType::kModified) == 2);
  CHECK(cache.Stats().lists == 5);
  cache.Stop();
}

TEST_CASE("cache re-watches from the last resourceVersion without listing", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  int lists = fake.CallCount(kb::testing::kVerbList);
  for (int i = 0; i < 5; ++i) {
    fake.EndWatches();
    fake.Put("pods", PodBuilder("p" + std::to_string(i)).Node("node-b").Json());
    REQUIRE(
        PollUntil([&] { return cache.Snapshot()->FindPod("default", "p" + std::to_string(i)); }));
  }
  CHECK(fake.CallCount(kb::testing::kVerbList) == lists);
  CHECK(cache.Stats().watch_restarts >= 5);
  CHECK(cache.Stats().relists == 0);
  cache.Stop();
}

TEST_CASE("cache relists after 410 and reconciles differences", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  Recorder rec;
  cache.AddPodHandler([&](const PodEvent& e) { rec(e); });
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  size_t added_before = rec.Count(PodEventType::kAdded);

  // Fail the watches so changes land only in the store, then expire the history.
  fake.FailAlways(kb::testing::kVerbWatch, Status::Unavailable("connection refused").WithHttp(0));
  fake.EndWatches();
  fake.Put("pods", PodBuilder("new-pod").Node("node-c").Json());
  fake.Remove("pods", "default", "db-1");
  fake.Remove("nodes", "", "node-c");
  json web2 = *fake.Get("pods", "default", "web-2");
  web2["metadata"]["labels"]["tier"] = "front";
  std::string web2_rv = fake.Put("pods", web2)["metadata"]["resourceVersion"];
  fake.ExpireWatches();
  fake.ClearFailures();

  REQUIRE(PollUntil([&] {
    auto s = cache.Snapshot();
    return s->FindPod("default", "new-pod") && !s->FindPod("default", "db-1") &&
           !s->FindNode("node-c") &&
           s->FindPod("default", "web-2")->meta.resource_version == web2_rv;
  }));
  CHECK(cache.Stats().relists >= 1);
  CHECK(PollUntil([&] { return rec.Count(PodEventType::kDeleted) == 1; }));
  CHECK(rec.Count(PodEventType::kAdded) == added_before + 1);
  CHECK(rec.Count(PodEventType::kModified) == 1);
  cache.Stop();
}

TEST_CASE("cache reports per kind whether its data is confirmed current", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  auto pods_state = [&] {
    for (const KindSyncState& k : cache.SyncStates()) {
      if (k.kind == ResourceKind::kPods) return k;
    }
    return KindSyncState{ResourceKind::kPods};
  };
  REQUIRE(cache.SyncStates().size() == 3);
  for (const KindSyncState& k : cache.SyncStates()) {
    CHECK(k.listed);
    CHECK(k.connected);
    CHECK(k.confirmed == clock.Now());
  }
  // An event confirms the kind again at the current time.
  clock.Advance(std::chrono::seconds(30));
  fake.Put("pods", PodBuilder("fresh").Node("node-a").Json());
  REQUIRE(PollUntil([&] { return pods_state().confirmed == clock.Now(); }));

  // The watches fail (an API outage): disconnected until a list, an event or a clean end.
  fake.FailAlways(kb::testing::kVerbWatch, Status::Unavailable("connection refused").WithHttp(0));
  fake.EndWatches();
  REQUIRE(PollUntil([&] { return !pods_state().connected; }));
  clock.Advance(std::chrono::seconds(30));
  fake.ClearFailures();
  fake.Put("pods", PodBuilder("after-outage").Node("node-b").Json());
  REQUIRE(PollUntil([&] { return pods_state().connected; }));
  CHECK(pods_state().confirmed == clock.Now());
  cache.Stop();
}

TEST_CASE("cache skips objects that fail to decode and counts them", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  json bad = PodBuilder("bad").Node("node-a").Json();
  bad["spec"]["containers"] = "not-a-list";
  fake.Put("pods", bad);
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  CHECK(cache.Stats().decode_errors == 1);
  CHECK(cache.Snapshot()->FindPod("default", "bad") == nullptr);
  CHECK(cache.Snapshot()->PodCount() == 4);

  // A bad update keeps the last good version.
  json web1 = *fake.Get("pods", "default", "web-1");
  std::string good_rv = web1["metadata"]["resourceVersion"];
  web1["spec"]["priority"] = "high";
  fake.Put("pods", web1);
  fake.Put("pods", PodBuilder("marker").Json());
  REQUIRE(PollUntil([&] { return cache.Snapshot()->FindPod("default", "marker") != nullptr; }));
  CHECK(cache.Stats().decode_errors == 2);
  CHECK(cache.Snapshot()->FindPod("default", "web-1")->meta.resource_version == good_rv);
  cache.Stop();
}

TEST_CASE("cache retries failed lists with backoff and stops promptly", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  fake.FailNthCall(kb::testing::kVerbList, 1, Status::Unavailable("boom").WithHttp(503));
  fake.FailNthCall(kb::testing::kVerbList, 2, Status::Unavailable("boom").WithHttp(503));
  FakeClock clock;
  ClusterCache cache(fake, clock, TestOptions());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  CHECK(cache.Snapshot()->PodCount() == 4);
  auto t0 = std::chrono::steady_clock::now();
  cache.Stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  cache.Stop();  // idempotent
}

TEST_CASE("resource kinds are listed in enum order with their API paths", "[kube]") {
  for (size_t i = 0; i < kResourceKindCount; ++i) {
    CAPTURE(i);
    CHECK(static_cast<size_t>(kResourceKinds[i].kind) == i);
    CHECK(&KindInfo(kResourceKinds[i].kind) == &kResourceKinds[i]);
  }
  CHECK(std::string(KindInfo(ResourceKind::kStorageClasses).collection_path) ==
        "/apis/storage.k8s.io/v1/storageclasses");
  CHECK(std::string(ResourceKindName(ResourceKind::kPersistentVolumeClaims)) ==
        "persistentvolumeclaims");
}

TEST_CASE("by default the cache mirrors every kind into the snapshot", "[kube]") {
  FakeKubeClient fake;
  Seed(fake);
  fake.Put("replicasets",
           json{{"apiVersion", "apps/v1"},
                {"kind", "ReplicaSet"},
                {"metadata", {{"name", "web"}, {"namespace", "default"}, {"uid", "rs1"}}},
                {"spec", {{"replicas", 2}}}});
  fake.Put("deployments", json{{"apiVersion", "apps/v1"},
                               {"kind", "Deployment"},
                               {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                               {"spec", {{"replicas", 2}}}});
  fake.Put("statefulsets", json{{"apiVersion", "apps/v1"},
                                {"kind", "StatefulSet"},
                                {"metadata", {{"name", "db"}, {"namespace", "default"}}},
                                {"spec", {{"replicas", 3}}},
                                {"status", {{"readyReplicas", 2}}}});
  fake.Put("persistentvolumes",
           json{{"apiVersion", "v1"},
                {"kind", "PersistentVolume"},
                {"metadata", {{"name", "pv-1"}}},
                {"spec",
                 {{"storageClassName", "local"},
                  {"claimRef", {{"namespace", "default"}, {"name", "data-db-0"}}},
                  {"nodeAffinity",
                   {{"required",
                     {{"nodeSelectorTerms",
                       {{{"matchExpressions",
                          {{{"key", "kubernetes.io/hostname"},
                            {"operator", "In"},
                            {"values", {"node-a"}}}}}}}}}}}}}},
                {"status", {{"phase", "Bound"}}}});
  fake.Put("persistentvolumeclaims",
           json{{"apiVersion", "v1"},
                {"kind", "PersistentVolumeClaim"},
                {"metadata", {{"name", "data-db-0"}, {"namespace", "default"}}},
                {"spec", {{"storageClassName", "local"}, {"volumeName", "pv-1"}}},
                {"status", {{"phase", "Bound"}}}});
  fake.Put("storageclasses", json{{"apiVersion", "storage.k8s.io/v1"},
                                  {"kind", "StorageClass"},
                                  {"metadata", {{"name", "local"}}},
                                  {"provisioner", "rancher.io/local-path"},
                                  {"volumeBindingMode", "WaitForFirstConsumer"}});
  fake.Put("namespaces", json{{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", "default"}, {"labels", {{"team", "a"}}}}}});
  fake.Put("priorityclasses", json{{"apiVersion", "scheduling.k8s.io/v1"},
                                   {"kind", "PriorityClass"},
                                   {"metadata", {{"name", "high"}}},
                                   {"value", 1000}});
  FakeClock clock;
  ClusterCacheOptions options = TestOptions();
  options.kinds = ClusterCacheOptions::AllResourceKinds();
  ClusterCache cache(fake, clock, options);
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(10)));
  auto snap = cache.Snapshot();
  CHECK(ClusterSnapshot::Find(snap->replicasets, "default/web")->replicas == 2);
  CHECK(ClusterSnapshot::Find(snap->deployments, "default/web") != nullptr);
  CHECK(ClusterSnapshot::Find(snap->statefulsets, "default/db")->ready_replicas == 2);
  auto pv = ClusterSnapshot::Find(snap->persistent_volumes, "pv-1");
  REQUIRE(pv != nullptr);
  REQUIRE(pv->node_affinity.has_value());
  CHECK(pv->node_affinity->at(0).match_expressions.at(0).values.at(0) == "node-a");
  CHECK(pv->claim_name == "data-db-0");
  CHECK(ClusterSnapshot::Find(snap->persistent_volume_claims, "default/data-db-0")->volume_name ==
        "pv-1");
  CHECK(ClusterSnapshot::Find(snap->storage_classes, "local")->volume_binding_mode ==
        "WaitForFirstConsumer");
  CHECK(ClusterSnapshot::Find(snap->namespaces, "default")->meta.labels.at("team") == "a");
  CHECK(ClusterSnapshot::Find(snap->priority_classes, "high")->value == 1000);
  // A kind's change shows in the next snapshot.
  REQUIRE(fake.Remove("priorityclasses", "", "high"));
  REQUIRE(PollUntil([&] { return cache.Snapshot()->priority_classes->empty(); }));
  cache.Stop();
}

TEST_CASE("BuildSnapshot indexes plain objects like the cache", "[kube]") {
  auto snap = BuildSnapshot(
      {NodeBuilder("n1").Build()},
      {PodBuilder("a").Node("n1").OwnedByReplicaSet("rs").Build(), PodBuilder("b").Build()},
      {PdbBuilder("default", "p").Selector("app", "x").Build()});
  CHECK(snap->PodCount() == 2);
  CHECK(snap->PodsOnNode("n1").size() == 1);
  CHECK(snap->PodsOwnedBy(kb::testing::TestUid("default", "rs")).size() == 1);
  CHECK(snap->pdbs->count("default/p") == 1);
  ClusterSnapshot empty;
  CHECK(empty.PodCount() == 0);
  CHECK(empty.PodsOnNode("x").empty());
  CHECK(empty.FindNode("x") == nullptr);
}

}  // namespace
}  // namespace kb::kube
