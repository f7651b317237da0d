// HttpKubeClient and ClusterCache against kube-sim over real HTTP: pagination, watch resume,
// 410 relist, conflict retry, eviction 429, token auth, and the cache convergence acceptance
// tests (1,000 random changes with dropped watches; forgotten history).
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/clock.h"
#include "kube/cluster_cache.h"
#include "kube/http_kube_client.h"
#include "sim/api_server.h"
#include "test/kube/kube_test_util.h"
#include "test/testing/builders.h"
#include "test/testing/poll.h"

namespace kb::kube {
namespace {

using kb::sim::ApiServer;
using kb::sim::ApiServerOptions;
using kb::testing::NodeBuilder;
using kb::testing::PdbBuilder;
using kb::testing::PodBuilder;
using kb::testing::PollUntil;
using nlohmann::json;

// How long these tests wait for the cache to follow kube-sim.
constexpr std::chrono::milliseconds kSimTimeout{20000};

ApiServerOptions QuietSim() {
  ApiServerOptions o;
  o.run_controllers = false;
  o.bookmark_interval = std::chrono::milliseconds(100);
  return o;
}

std::unique_ptr<ApiServer> StartSim(ApiServerOptions options = QuietSim()) {
  auto sim = std::make_unique<ApiServer>(options);
  Status st = sim->Start();
  INFO(st.ToString());
  REQUIRE(st.ok());
  return sim;
}

std::unique_ptr<HttpKubeClient> ClientFor(const ApiServer& sim, const std::string& token) {
  KubeConfig cfg;
  cfg.server = sim.url();
  cfg.token = token;
  HttpKubeClientOptions opts;
  opts.qps = 0;
  opts.backoff_base = std::chrono::milliseconds(10);
  opts.backoff_max = std::chrono::milliseconds(100);
  auto c = HttpKubeClient::Create(cfg, opts);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// API JSON from a builder, without the fields the server assigns.
json Fresh(json obj) {
  obj["metadata"].erase("uid");
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("creationTimestamp");
  return obj;
}

json MustCreate(ApiServer& sim, const std::string& resource, const std::string& ns, json obj) {
  auto created = sim.CreateObject(resource, ns, Fresh(std::move(obj)));
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  return *created;
}

std::string Meta(const json& obj, const char* key) {
  return obj.at("metadata").value(key, std::string());
}

TEST_CASE("kube-sim: list pagination with limit=2 over 7 objects", "[kube][sim]") {
  auto sim = StartSim();
  for (int i = 0; i < 7; ++i) {
    MustCreate(*sim, "nodes", "", NodeBuilder("node-" + std::to_string(i)).Json());
  }
  auto client = ClientFor(*sim, sim->token());
  sim->ResetCounts();
  std::set<std::string> names;
  std::vector<size_t> page_sizes;
  std::set<std::string> rvs;
  ListOptions o;
  o.limit = 2;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = client->List(ResourceKind::kNodes, o);
    REQUIRE(page.ok());
    page_sizes.push_back(page->items.size());
    rvs.insert(page->resource_version);
    for (const json& item : page->items) names.insert(Meta(item, "name"));
    if (page->continue_token.empty()) break;
    o.continue_token = page->continue_token;
  }
  CHECK(page_sizes == std::vector<size_t>{2, 2, 2, 1});
  CHECK(names.size() == 7);
  CHECK(rvs.size() == 1);  // all pages come from one snapshot
  CHECK(sim->Counts().Get("list", "nodes") == 4);
}

TEST_CASE("kube-sim: token auth", "[kube][sim]") {
  auto sim = StartSim();
  auto none = ClientFor(*sim, "");
  Status st = none->List(ResourceKind::kPods, {}).status();
  CHECK(st.code() == StatusCode::kPermissionDenied);
  CHECK(st.http_code() == 401);
  auto wrong = ClientFor(*sim, "not-the-token");
  CHECK(wrong->List(ResourceKind::kPods, {}).status().http_code() == 401);
  auto right = ClientFor(*sim, sim->token());
  CHECK(right->List(ResourceKind::kPods, {}).ok());

  SECTION("a rotated token file is re-read after a 401") {
    test::TempDir dir;
    std::string path = dir.Write("token", "stale-token\n");
    KubeConfig cfg;
    cfg.server = sim->url();
    cfg.token_file = path;
    auto client = HttpKubeClient::Create(cfg);
    REQUIRE(client.ok());
    CHECK((*client)->List(ResourceKind::kNodes, {}).status().http_code() == 401);
    dir.Write("token", sim->token());
    CHECK((*client)->List(ResourceKind::kNodes, {}).ok());
  }
}

TEST_CASE("kube-sim: watch resumes from the last resourceVersion after DropWatches",
          "[kube][sim]") {
  auto sim = StartSim();
  auto client = ClientFor(*sim, sim->token());
  auto list = client->List(ResourceKind::kPods, {});
  REQUIRE(list.ok());

  std::mutex mu;
  std::vector<std::string> added;  // names, in order
  std::string last_rv = list->resource_version;
  std::atomic<bool> stop{false};
  std::atomic<int> watches{0};
  std::thread watcher([&] {
    while (!stop) {
      WatchOptions wo;
      {
        std::lock_guard<std::mutex> lock(mu);
        wo.resource_version = last_rv;
      }
      ++watches;
      Status st = client->Watch(
          ResourceKind::kPods, wo,
          [&](WatchEvent&& ev) {
            std::lock_guard<std::mutex> lock(mu);
            if (ev.type == WatchEventType::kAdded) added.push_back(Meta(ev.object, "name"));
            last_rv = Meta(ev.object, "resourceVersion");
            return true;
          },
          &stop);
      if (st.code() == StatusCode::kFailedPrecondition) break;  // would need a relist
    }
  });
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return added.size();
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      MustCreate(*sim, "pods", "default",
                 PodBuilder("p-" + std::to_string(round) + "-" + std::to_string(i)).Json());
    }
    REQUIRE(PollUntil([&] { return count() == static_cast<size_t>(6 * round + 5); }, kSimTimeout));
    sim->DropWatches();
    // Created while the watch is down or reconnecting: must still arrive exactly once.
    MustCreate(*sim, "pods", "default", PodBuilder("gap-" + std::to_string(round)).Json());
    REQUIRE(PollUntil([&] { return count() == static_cast<size_t>(6 * round + 6); }, kSimTimeout));
  }
  // Nothing more arrives (no duplicates replayed by a resumed watch).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(count() == 18);
  stop = true;
  watcher.join();
  CHECK(watches >= 4);
  std::set<std::string> unique(added.begin(), added.end());
  CHECK(unique.size() == added.size());  // no duplicates after resuming
}

TEST_CASE("kube-sim: a forgotten resourceVersion gives 410, relisting recovers", "[kube][sim]") {
  auto sim = StartSim();
  auto client = ClientFor(*sim, sim->token());
  MustCreate(*sim, "nodes", "", NodeBuilder("n1").Json());
  auto list = client->List(ResourceKind::kNodes, {});
  REQUIRE(list.ok());
  MustCreate(*sim, "nodes", "", NodeBuilder("n2").Json());
  sim->ForgetHistory();
  MustCreate(*sim, "nodes", "", NodeBuilder("n3").Json());

  WatchOptions wo;
  wo.resource_version = list->resource_version;
  std::atomic<bool> stop{false};
  Status st = client->Watch(
      ResourceKind::kNodes, wo, [](WatchEvent&&) { return true; }, &stop);
  CHECK(st.code() == StatusCode::kFailedPrecondition);
  CHECK(st.http_code() == 410);

  auto relist = client->List(ResourceKind::kNodes, {});
  REQUIRE(relist.ok());
  CHECK(relist->items.size() == 3);
  wo.resource_version = relist->resource_version;
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto created = sim->CreateObject("nodes", "", Fresh(NodeBuilder("n4").Json()));
    (void)created;
  });
  std::string seen;
  st = client->Watch(
      ResourceKind::kNodes, wo,
      [&](WatchEvent&& ev) {
        if (ev.type != WatchEventType::kAdded) return true;
        seen = Meta(ev.object, "name");
        return false;
      },
      &stop);
  later.join();
  CHECK(st.ok());
  CHECK(seen == "n4");
}

TEST_CASE("kube-sim: RetryOnConflict re-reads after a concurrent update", "[kube][sim]") {
  auto sim = StartSim();
  auto client = ClientFor(*sim, sim->token());

  SECTION("lease update (PUT with resourceVersion)") {
    Lease lease;
    lease.meta.name = "kube-balancer";
    lease.meta.namespace_ = "kube-system";
    lease.holder_identity = "a";
    lease.lease_duration_seconds = 15;
    auto created = client->CreateLease(lease);
    INFO(created.status().ToString());
    REQUIRE(created.ok());
    CHECK(client->CreateLease(lease).status().code() == StatusCode::kAlreadyExists);

    int attempts = 0;
    Status st = RetryOnConflict(5, [&]() -> Status {
      ++attempts;
      KB_ASSIGN_OR_RETURN(Lease current, client->GetLease("kube-system", "kube-balancer"));
      if (attempts == 1) {
        // Someone else renews between our read and our write.
        auto other = sim->GetObject("leases", "kube-system", "kube-balancer");
        REQUIRE(other.ok());
        json o = *other;
        o["spec"]["holderIdentity"] = "b";
        REQUIRE(sim->UpdateObject("leases", "kube-system", o).ok());
      }
      current.holder_identity = "c";
      auto updated = client->UpdateLease(current);
      if (attempts == 1) {
        CHECK(updated.status().code() == StatusCode::kAborted);
        CHECK(updated.status().http_code() == 409);
        CHECK(updated.status().reason() == "Conflict");
      }
      return updated.status();
    });
    CHECK(st.ok());
    CHECK(attempts == 2);
    CHECK(client->GetLease("kube-system", "kube-balancer")->holder_identity == "c");
  }

  SECTION("deployment merge patch conditional on resourceVersion") {
    MustCreate(*sim, "deployments", "default",
               kb::testing::DeploymentBuilder("default", "web").Json());
    int attempts = 0;
    Status st = RetryOnConflict(5, [&]() -> Status {
      ++attempts;
      KB_ASSIGN_OR_RETURN(Deployment d, client->GetDeployment("default", "web"));
      if (attempts == 1) {
        auto other = sim->GetObject("deployments", "default", "web");
        REQUIRE(other.ok());
        json o = *other;
        o["metadata"]["labels"]["touched"] = "yes";
        REQUIRE(sim->UpdateObject("deployments", "default", o).ok());
      }
      json patch = {
          {"metadata", {{"resourceVersion", d.meta.resource_version}}},
          {"spec",
           {{"template",
             {{"metadata",
               {{"annotations", {{kRestartedAtAnnotation, "2026-01-01T00:00:00Z"}}}}}}}}}};
      return client->PatchDeployment("default", "web", patch).status();
    });
    CHECK(st.ok());
    CHECK(attempts == 2);
    auto d = client->GetDeployment("default", "web");
    REQUIRE(d.ok());
    CHECK(d->template_annotations.at(kRestartedAtAnnotation) == "2026-01-01T00:00:00Z");
  }

  SECTION("RetryOnConflict gives up after max attempts") {
    int attempts = 0;
    Status st = RetryOnConflict(3, [&] {
      ++attempts;
      return Status::Aborted("conflict");
    });
    CHECK(st.code() == StatusCode::kAborted);
    CHECK(attempts == 3);
  }
}

TEST_CASE("kube-sim: eviction blocked by a PDB is 429 with the DisruptionBudget cause",
          "[kube][sim]") {
  ApiServerOptions opts;  // controllers on: they compute PDB status
  opts.bookmark_interval = std::chrono::milliseconds(100);
  auto sim = StartSim(opts);
  auto client = ClientFor(*sim, sim->token());
  MustCreate(*sim, "nodes", "", NodeBuilder("node-a").Json());
  for (const char* name : {"web-1", "web-2"}) {
    MustCreate(*sim, "pods", "default",
               PodBuilder(name).Label("app", "web").Node("node-a").Phase("Running").Ready().Json());
  }
  MustCreate(*sim, "poddisruptionbudgets", "default",
             PdbBuilder("default", "web").Selector("app", "web").MinAvailable(2).Json());
  // Wait until the PDB controller has observed the PDB.
  REQUIRE(PollUntil(
      [&] {
        auto pdb = sim->GetObject("poddisruptionbudgets", "default", "web");
        return pdb.ok() && pdb->contains("status") &&
               (*pdb)["status"].value("observedGeneration", int64_t{0}) ==
                   (*pdb)["metadata"].value("generation", int64_t{1}) &&
               (*pdb)["status"].value("currentHealthy", 0) == 2;
      },
      kSimTimeout));

  EvictOptions eo;
  Status st = client->EvictPod("default", "web-1", eo);
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK(st.http_code() == 429);
  CHECK(st.cause() == "DisruptionBudget");
  CHECK_THAT(st.message(), Catch::Contains("disruption budget"));
  CHECK(client->GetPod("default", "web-1").ok());

  Status missing = client->EvictPod("default", "no-such-pod", eo);
  CHECK(missing.code() == StatusCode::kNotFound);

  // Relax the budget: one eviction is allowed.
  auto pdb = sim->GetObject("poddisruptionbudgets", "default", "web");
  REQUIRE(pdb.ok());
  json relaxed = *pdb;
  relaxed["spec"]["minAvailable"] = 1;
  REQUIRE(sim->UpdateObject("poddisruptionbudgets", "default", relaxed).ok());
  REQUIRE(PollUntil(
      [&] {
        auto p = sim->GetObject("poddisruptionbudgets", "default", "web");
        return p.ok() && (*p)["status"].value("disruptionsAllowed", 0) == 1;
      },
      kSimTimeout));
  eo.uid_precondition = Meta(*sim->GetObject("pods", "default", "web-1"), "uid");
  REQUIRE(client->EvictPod("default", "web-1", eo).ok());
  CHECK(PollUntil(
      [&] { return client->GetPod("default", "web-1").status().code() == StatusCode::kNotFound; },
      kSimTimeout));
}

// ---------------------------------------------------------------------------------------------
// Cache acceptance.

using Fingerprint = std::map<std::string, std::pair<std::string, std::string>>;  // key -> uid, rv

Fingerprint SimState(const ApiServer& sim, const std::string& resource) {
  Fingerprint out;
  for (const json& o : sim.ListObjects(resource)) {
    std::string ns = Meta(o, "namespace");
    std::string key = ns.empty() ? Meta(o, "name") : ns + "/" + Meta(o, "name");
    out[key] = {Meta(o, "uid"), Meta(o, "resourceVersion")};
  }
  return out;
}

Fingerprint CacheState(const ClusterSnapshot& snap, const std::string& resource) {
  Fingerprint out;
  if (resource == "nodes") {
    for (const auto& [name, n] : *snap.nodes) out[name] = {n->meta.uid, n->meta.resource_version};
  } else if (resource == "pods") {
    for (const auto& [node, bucket] : *snap.pods_by_node) {
      for (const PodPtr& p : *bucket) {
        out[NamespacedName(p->meta)] = {p->meta.uid, p->meta.resource_version};
      }
    }
  } else {
    for (const auto& [key, b] : *snap.pdbs) out[key] = {b->meta.uid, b->meta.resource_version};
  }
  return out;
}

bool Converged(const ClusterCache& cache, const ApiServer& sim, std::string* diff) {
  auto snap = cache.Snapshot();
  for (const char* r : {"nodes", "pods", "poddisruptionbudgets"}) {
    Fingerprint want = SimState(sim, r), have = CacheState(*snap, r);
    if (want != have) {
      *diff = std::string(r) + ": sim has " + std::to_string(want.size()) + ", cache has " +
              std::to_string(have.size());
      for (const auto& [k, v] : want) {
        auto it = have.find(k);
        if (it == have.end()) {
          *diff += "; missing " + k;
          break;
        }
        if (it->second != v) {
          *diff += "; stale " + k + " rv " + it->second.second + " != " + v.second;
          break;
        }
      }
      return false;
    }
  }
  return true;
}

// Random create / update / delete of nodes, pods and PDBs through the sim's storage.
class Churn {
 public:
  Churn(ApiServer& sim, uint64_t seed) : sim_(sim), rng_(seed) {}

  void Seed(int nodes, int pods, int pdbs) {
    for (int i = 0; i < nodes; ++i) CreateNode();
    for (int i = 0; i < pods; ++i) CreatePod();
    for (int i = 0; i < pdbs; ++i) CreatePdb();
  }

  void Step() {
    int kind = Pick(100);
    int op = Pick(100);
    if (kind < 70) {
      auto pods = sim_.ListObjects("pods");
      if (op < 35 || pods.size() < 5) {
        CreatePod();
      } else if (op < 75) {
        json p = pods[Pick(pods.size())];
        p["metadata"]["labels"]["rev"] = std::to_string(++counter_);
        Must(sim_.UpdateObject("pods", Meta(p, "namespace"), p).status());
      } else if (op < 90) {
        // Re-create under the same name on another node: a new UID for the same key.
        json p = pods[Pick(pods.size())];
        Must(sim_.DeleteObject("pods", Meta(p, "namespace"), Meta(p, "name")));
        json again = PodBuilder(Meta(p, "namespace"), Meta(p, "name"))
                         .Node(NodeName())
                         .OwnedByReplicaSet("rs-" + std::to_string(Pick(5)))
                         .Json();
        Must(sim_.CreateObject("pods", Meta(p, "namespace"), Fresh(again)).status());
      } else {
        json p = pods[Pick(pods.size())];
        Must(sim_.DeleteObject("pods", Meta(p, "namespace"), Meta(p, "name")));
      }
    } else if (kind < 85) {
      auto nodes = sim_.ListObjects("nodes");
      if (op < 30 || nodes.size() < 3) {
        CreateNode();
      } else if (op < 80) {
        json n = nodes[Pick(nodes.size())];
        n["metadata"]["labels"]["rev"] = std::to_string(++counter_);
        Must(sim_.UpdateObject("nodes", "", n).status());
      } else {
        Must(sim_.DeleteObject("nodes", "", Meta(nodes[Pick(nodes.size())], "name")));
      }
    } else {
      auto pdbs = sim_.ListObjects("poddisruptionbudgets");
      if (op < 40 || pdbs.empty()) {
        CreatePdb();
      } else if (op < 80) {
        json b = pdbs[Pick(pdbs.size())];
        b["metadata"]["labels"]["rev"] = std::to_string(++counter_);
        Must(sim_.UpdateObject("poddisruptionbudgets", Meta(b, "namespace"), b).status());
      } else {
        json b = pdbs[Pick(pdbs.size())];
        Must(sim_.DeleteObject("poddisruptionbudgets", Meta(b, "namespace"), Meta(b, "name")));
      }
    }
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  static void Must(const Status& st) {
    INFO(st.ToString());
    REQUIRE(st.ok());
  }
  std::string NodeName() { return "node-" + std::to_string(Pick(node_counter_ + 1)); }
  void CreateNode() {
    Must(sim_.CreateObject("nodes", "",
                           Fresh(NodeBuilder("node-" + std::to_string(node_counter_++)).Json()))
             .status());
  }
  void CreatePod() {
    std::string ns = Pick(4) == 0 ? "kube-system" : "default";
    PodBuilder b(ns, "pod-" + std::to_string(pod_counter_++));
    b.Label("app", "app-" + std::to_string(Pick(5)));
    if (Pick(5) != 0) b.Node(NodeName());
    if (Pick(3) != 0) b.OwnedByReplicaSet("rs-" + std::to_string(Pick(5)));
    Must(sim_.CreateObject("pods", ns, Fresh(b.Json())).status());
  }
  void CreatePdb() {
    std::string name = "pdb-" + std::to_string(pdb_counter_++);
    Must(sim_.CreateObject("poddisruptionbudgets", "default",
                           Fresh(PdbBuilder("default", name)
                                     .Selector("app", "app-" + std::to_string(Pick(5)))
                                     .MinAvailable(1)
                                     .Json()))
             .status());
  }

  ApiServer& sim_;
  std::mt19937_64 rng_;
  int node_counter_ = 0, pod_counter_ = 0, pdb_counter_ = 0, counter_ = 0;
};

uint64_t Lists(const ApiServer& sim) {
  auto c = sim.Counts();
  uint64_t n = 0;
  for (const kube::ResourceKindInfo& kind : kube::kResourceKinds) n += c.Get("list", kind.name);
  return n;
}

ClusterCacheOptions AcceptanceCacheOptions() {
  ClusterCacheOptions o;
  o.page_size = 50;
  o.backoff_initial = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

TEST_CASE("cache converges after 1000 random changes with dropped watches and never relists",
          "[kube][sim][integration]") {
  ApiServerOptions opts = QuietSim();
  opts.event_history = 1000000;  // no watch may expire in this test
  auto sim = StartSim(opts);
  Churn churn(*sim, /*seed=*/20260101);
  churn.Seed(10, 120, 5);
  auto client = ClientFor(*sim, sim->token());
  ClusterCache cache(*client, SystemClock::Instance(), AcceptanceCacheOptions());
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(20)));
  const uint64_t lists_after_sync = Lists(*sim);
  CHECK(lists_after_sync == static_cast<uint64_t>(cache.Stats().lists));
  const uint64_t watches_after_sync = sim->Counts().Get("watch", "pods");

  for (int i = 1; i <= 1000; ++i) {
    churn.Step();
    if (i % 100 == 0) sim->DropWatches();
    if (i % 250 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string diff;
  bool converged =
      PollUntil([&] { return Converged(cache, *sim, &diff); }, std::chrono::milliseconds(30000));
  INFO(diff);
  CHECK(converged);
  CHECK(Lists(*sim) == lists_after_sync);  // zero LIST calls after sync
  CHECK(cache.Stats().relists == 0);
  CHECK(sim->Counts().Get("watch", "pods") > watches_after_sync);  // drops forced re-watches
  CHECK(cache.Stats().watch_restarts >= 10);
  CHECK(cache.Stats().decode_errors == 0);
  // The owner index agrees with the pods.
  auto snap = cache.Snapshot();
  size_t owned = 0;
  for (const auto& shard : snap->owner_index->shards) {
    for (const auto& [uid, pods] : *shard) owned += pods->size();
  }
  size_t with_owner = 0;
  for (const auto& [node, bucket] : *snap->pods_by_node) {
    for (const PodPtr& p : *bucket) with_owner += p->meta.ControllerRef() != nullptr;
  }
  CHECK(owned == with_owner);
  cache.Stop();
}

TEST_CASE("cache relists after ForgetHistory and still converges", "[kube][sim]") {
  auto sim = StartSim();
  Churn churn(*sim, /*seed=*/7);
  churn.Seed(5, 40, 3);
  auto client = ClientFor(*sim, sim->token());
  ClusterCache cache(*client, SystemClock::Instance(), AcceptanceCacheOptions());
  std::atomic<int> deletes{0};
  cache.AddPodHandler([&](const PodEvent& e) {
    if (e.type == PodEventType::kDeleted) ++deletes;
  });
  cache.Start();
  REQUIRE(cache.WaitForSync(std::chrono::seconds(20)));
  std::string diff;
  REQUIRE(PollUntil([&] { return Converged(cache, *sim, &diff); }, kSimTimeout));
  const uint64_t lists_before = Lists(*sim);

  // Keep the watches down while the cluster changes, then forget the history: every resume
  // point is now too old.
  sim::FaultRule down;
  down.verb = "watch";
  down.percent = 100;
  down.status = 503;
  sim->AddFault(down);
  sim->DropWatches();
  for (int i = 0; i < 200; ++i) churn.Step();
  sim->ForgetHistory();
  sim->ClearFaults();

  bool converged =
      PollUntil([&] { return Converged(cache, *sim, &diff); }, std::chrono::milliseconds(30000));
  INFO(diff);
  CHECK(converged);
  CHECK(cache.Stats().relists >= 1);
  CHECK(Lists(*sim) > lists_before);
  CHECK(deletes > 0);  // objects that vanished while the watch was down were reported
  cache.Stop();
}

}  // namespace
}  // namespace kb::kube
