// ClusterCache when the API server's resourceVersions go backwards (etcd restored, kube-sim's
// backup restored) and when the API server is unreachable: the cache relists instead of
// resuming from a resourceVersion the server no longer has, and Health() / Ready() report a kind
// out of sync for longer than the bound.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

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
using kb::testing::PodBuilder;
using kb::testing::PollUntil;
using nlohmann::json;

constexpr std::chrono::milliseconds kTimeout{20000};

json Fresh(json obj) {
  obj["metadata"].erase("uid");
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("creationTimestamp");
  return obj;
}

std::unique_ptr<ApiServer> StartSim() {
  ApiServerOptions o;
  o.run_controllers = false;
  o.bookmark_interval = std::chrono::milliseconds(100);
  auto sim = std::make_unique<ApiServer>(o);
  REQUIRE(sim->Start().ok());
  return sim;
}

std::unique_ptr<HttpKubeClient> ClientFor(const std::string& url, const std::string& token) {
  KubeConfig cfg;
  cfg.server = url;
  cfg.token = token;
  HttpKubeClientOptions opts;
  opts.qps = 0;
  opts.max_retries = 0;
  opts.connect_timeout = std::chrono::milliseconds(500);
  auto c = HttpKubeClient::Create(cfg, opts);
  REQUIRE(c.ok());
  return std::move(c).value();
}

ClusterCacheOptions NodesAndPods() {
  ClusterCacheOptions o;
  o.kinds = {ResourceKind::kNodes, ResourceKind::kPods};
  o.backoff_initial = std::chrono::milliseconds(20);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

void CreatePod(ApiServer& sim, const std::string& name) {
  auto st = sim.CreateObject("pods", "default", Fresh(PodBuilder(name).Node("n1").Json()));
  INFO(st.status().ToString());
  REQUIRE(st.ok());
}

bool HasPod(const ClusterCache& cache, const std::string& name) {
  return cache.Snapshot()->FindPod("default", name) != nullptr;
}

const KindHealth& HealthOf(const std::vector<KindHealth>& all, ResourceKind kind) {
  for (const KindHealth& h : all) {
    if (h.kind == kind) return h;
  }
  FAIL("kind not watched");
  return all.front();
}

TEST_CASE("kube-sim answers a resourceVersion newer than its own with 504 ResourceVersionTooLarge",
          "[kube][sim]") {
  auto sim = StartSim();
  auto client = ClientFor(sim->url(), sim->token());
  const std::string future = std::to_string(std::stoull(sim->CurrentResourceVersion()) + 100);
  ListOptions lo;
  lo.resource_version = future;
  auto list = client->List(ResourceKind::kPods, lo);
  REQUIRE_FALSE(list.ok());
  CHECK(list.status().http_code() == 504);
  CHECK(list.status().reason() == "Timeout");
  CHECK(list.status().cause() == "ResourceVersionTooLarge");
  CHECK(list.status().message().find("Timeout: Too large resource version: " + future) !=
        std::string::npos);
  WatchOptions wo;
  wo.resource_version = future;
  std::atomic<bool> stop{false};
  Status st = client->Watch(
      ResourceKind::kPods, wo, [](WatchEvent&&) { return true; }, &stop);
  CHECK(st.http_code() == 504);
  CHECK(st.cause() == "ResourceVersionTooLarge");
}

TEST_CASE("the cache relists after an etcd restore lowers the resourceVersions", "[kube][sim]") {
  auto sim = StartSim();
  REQUIRE(sim->CreateObject("nodes", "", Fresh(NodeBuilder("n1").Json())).ok());
  for (const char* p : {"kept", "deleted-after-backup"}) CreatePod(*sim, p);
  sim->SaveBackup();
  auto client = ClientFor(sim->url(), sim->token());
  ClusterCache cache(*client, SystemClock::Instance(), NodesAndPods());
  cache.Start();
  REQUIRE(cache.WaitForSync(kTimeout));
  // Changes after the backup, seen by the cache: they push its resourceVersion ahead.
  REQUIRE(sim->DeleteObject("pods", "default", "deleted-after-backup").ok());
  for (int i = 0; i < 5; ++i) CreatePod(*sim, "lost-" + std::to_string(i));
  REQUIRE(PollUntil([&] { return HasPod(cache, "lost-4"); }, kTimeout));

  REQUIRE(sim->RestoreBackup().ok());  // resourceVersions go back; every watch is reset
  CreatePod(*sim, "after-restore");    // a lower resourceVersion than the cache has seen

  const bool converged = PollUntil(
      [&] {
        return HasPod(cache, "after-restore") && HasPod(cache, "deleted-after-backup") &&
               !HasPod(cache, "lost-0") && HasPod(cache, "kept");
      },
      kTimeout);
  CHECK(converged);
  CHECK(cache.Snapshot()->PodCount() == 3);
  const auto health = cache.Health();
  const KindHealth& pods = HealthOf(health, ResourceKind::kPods);
  CHECK(pods.relists[static_cast<size_t>(RelistReason::kTooLargeResourceVersion)] >= 1);
  // Nodes may have been relisted as expired instead (their last resourceVersion can predate the
  // backup); either way they are consistent again.
  CHECK(PollUntil([&] { return cache.Ready(std::chrono::milliseconds(0)); }, kTimeout));
  cache.Stop();
}

// A server whose history was reset under an open watch: the list says resourceVersion 100, the
// watch then streams an event at 50.
TEST_CASE("an event older than the watch's resourceVersion makes the cache relist", "[kube]") {
  std::atomic<int> lists{0};
  test::LocalServer server;
  server.server().Get("/api/v1/pods", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_param("watch")) {
      const bool first = req.get_param_value("resourceVersion") == "100";
      json ev = {{"type", "ADDED"},
                 {"object", PodBuilder(first ? "stale" : "fresh").Node("n1").Json()}};
      ev["object"]["metadata"]["resourceVersion"] = first ? "50" : "101";
      res.set_content(ev.dump() + "\n", "application/json");
      return;
    }
    const int n = ++lists;
    json item = PodBuilder("listed").Node("n1").Json();
    item["metadata"]["resourceVersion"] = n == 1 ? "90" : "40";
    json list = {{"kind", "PodList"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"resourceVersion", n == 1 ? "100" : "60"}}},
                 {"items", json::array({item})}};
    res.set_content(list.dump(), "application/json");
  });
  server.Start();
  auto client = ClientFor(server.url(), "");
  ClusterCacheOptions o = NodesAndPods();
  o.kinds = {ResourceKind::kPods};
  ClusterCache cache(*client, SystemClock::Instance(), o);
  cache.Start();
  REQUIRE(cache.WaitForSync(kTimeout));
  REQUIRE(PollUntil([&] { return lists.load() >= 2; }, kTimeout));
  REQUIRE(PollUntil([&] { return HasPod(cache, "fresh"); }, kTimeout));
  CHECK_FALSE(HasPod(cache, "stale"));  // the out-of-order event was not applied
  const KindHealth h = cache.Health().front();
  CHECK(h.relists[static_cast<size_t>(RelistReason::kResourceVersionBackwards)] >= 1);
  cache.Stop();
  server.Stop();
}

TEST_CASE("an API server outage makes the cache unready after the bound, and ready again after",
          "[kube][sim]") {
  auto sim = StartSim();
  REQUIRE(sim->CreateObject("nodes", "", Fresh(NodeBuilder("n1").Json())).ok());
  CreatePod(*sim, "before");
  auto client = ClientFor(sim->url(), sim->token());
  ClusterCache cache(*client, SystemClock::Instance(), NodesAndPods());
  constexpr std::chrono::milliseconds kBound{1000};
  CHECK_FALSE(cache.Ready(kBound));  // not listed yet
  cache.Start();
  REQUIRE(cache.WaitForSync(kTimeout));
  REQUIRE(PollUntil([&] { return cache.Ready(kBound); }, kTimeout));
  for (const KindHealth& h : cache.Health()) CHECK(h.in_sync);

  const auto down_at = std::chrono::steady_clock::now();
  sim->Disconnect();  // returns once open connections are closed: the watches fail during it
  // Within the bound (and a poll's slack) the cache still counts as ready...
  REQUIRE(
      PollUntil([&] { return !HealthOf(cache.Health(), ResourceKind::kPods).in_sync; }, kTimeout));
  // ...after it, not, and the health says which kinds.
  REQUIRE(PollUntil([&] { return !cache.Ready(kBound); }, kTimeout));
  CHECK(std::chrono::steady_clock::now() - down_at >= kBound);
  CHECK(std::chrono::steady_clock::now() - down_at < kBound + std::chrono::seconds(5));
  for (const KindHealth& h : cache.Health()) {
    CHECK_FALSE(h.in_sync);
    CHECK(h.unsynced_for > kBound);
  }

  // Changes during the outage, then the server comes back.
  CreatePod(*sim, "during");
  REQUIRE(sim->Reconnect().ok());
  const auto up_at = std::chrono::steady_clock::now();
  REQUIRE(PollUntil([&] { return cache.Ready(kBound) && HasPod(cache, "during"); }, kTimeout));
  // The watch backoff is capped (200 ms here, 5 s by default), so recovery is quick.
  CHECK(std::chrono::steady_clock::now() - up_at < std::chrono::seconds(8));
  for (const KindHealth& h : cache.Health()) {
    CHECK(h.in_sync);
    CHECK(h.unsynced_for.count() == 0);
  }
  cache.Stop();
}

}  // namespace
}  // namespace kb::kube
