// Steering on every replica: the leader publishes its steering decisions to one ConfigMap in its
// lease namespace, every replica reads them; bounded, pruned, fail open. Against FakeKubeClient
// and against kube-sim over HTTP.
#include "rescheduler/steering_sync.h"

#include <prometheus/registry.h>

#include <catch2/catch.hpp>

#include "kube/http_kube_client.h"
#include "sim/api_server.h"
#include "test/fakes/fake_kube_client.h"
#include "test/testing/builders.h"

namespace kb::resched {
namespace {

using kb::testing::FakeKubeClient;
using kb::testing::PodBuilder;
using nlohmann::json;
using namespace std::chrono_literals;

SteeringSyncOptions Opts(const std::string& identity, int max_entries = 500) {
  ReschedulerConfig config;
  config.steering_max_entries = max_entries;
  return SteeringSyncOptions::From(config, identity);
}

std::vector<json> Published(FakeKubeClient& kube) {
  auto cm = kube.Get("configmaps", "kube-system", "kube-balancer-steering");
  REQUIRE(cm.has_value());
  std::vector<json> out;
  for (const json& e : json::parse((*cm)["data"]["entries.json"].get<std::string>())) {
    out.push_back(e);
  }
  return out;
}

TEST_CASE("the leader publishes steering and a non-leader replica steers by it",
          "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  scoring::Steering leader_steering(clock), follower_steering(clock);
  SteeringSync leader(kube, leader_steering, clock, Opts("a"), [] { return true; });
  SteeringSync follower(kube, follower_steering, clock, Opts("b"), [] { return false; });
  const Pod replacement = PodBuilder("web-7").OwnedByReplicaSet("web").Build();
  const std::string owner = kb::testing::TestUid("default", "web");

  // Nothing decided: no object is created for nothing.
  leader.SyncOnce();
  CHECK_FALSE(kube.Get("configmaps", "kube-system", "kube-balancer-steering").has_value());
  follower.SyncOnce();
  CHECK(follower.readable());
  CHECK_FALSE(follower_steering.Lookup(replacement).has_value());

  leader_steering.Steer(owner, "node-a", "node-c", clock.Now() + 300s, "default/web-1");
  leader.SyncOnce();
  const std::vector<json> entries = Published(kube);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0]["owner"] == owner);
  CHECK(entries[0]["pod"] == "default/web-1");
  CHECK(entries[0]["source"] == "node-a");
  CHECK(entries[0]["target"] == "node-c");
  CHECK(entries[0]["expires"] == "2026-01-01T00:05:00.000000Z");

  // Before reading, the other replica knows nothing; after, it steers exactly as the leader.
  CHECK_FALSE(follower_steering.Lookup(replacement).has_value());
  const int writes = kube.CallCount(kb::testing::kVerbCreateConfigMap) +
                     kube.CallCount(kb::testing::kVerbUpdateConfigMap);
  follower.SyncOnce();
  auto d = follower_steering.Lookup(replacement);
  REQUIRE(d.has_value());
  CHECK(d->avoid_nodes == std::vector<std::string>{"node-a"});
  CHECK(d->prefer_node == "node-c");
  CHECK(kube.CallCount(kb::testing::kVerbCreateConfigMap) +
            kube.CallCount(kb::testing::kVerbUpdateConfigMap) ==
        writes);  // a non-leader never writes
  CHECK(follower.DebugJson()["entries"][0]["origin"] == "published");
  CHECK(leader.DebugJson()["entries"][0]["origin"] == "local");

  // Unchanged decisions are not rewritten every round.
  leader.SyncOnce();
  CHECK(kube.CallCount(kb::testing::kVerbUpdateConfigMap) == 0);

  // Expired entries are pruned from the object and stop steering everywhere.
  clock.Advance(301s);
  leader.SyncOnce();
  CHECK(Published(kube).empty());
  follower.SyncOnce();
  CHECK_FALSE(follower_steering.Lookup(replacement).has_value());
  // No user object was touched: only the ConfigMap was written.
  CHECK(kube.DeploymentPatches().empty());
  CHECK(kube.CreatedPods().empty());
}

TEST_CASE("a decision is published before Steer returns, then withdrawn when it is removed",
          "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  scoring::Steering steering(clock), replica_steering(clock);
  SteeringSyncOptions o = Opts("a");
  o.settle = Millis(0);
  SteeringSync leader(kube, steering, clock, o, [] { return true; });
  SteeringSync replica(kube, replica_steering, clock, Opts("b"), [] { return false; });
  leader.PublishOnSteer();
  const std::string id = steering.Steer("owner-1", "n1", "n2", clock.Now() + 300s, "default/p");
  REQUIRE_FALSE(id.empty());
  REQUIRE(Published(kube).size() == 1);  // no sync round needed: the eviction comes next
  replica.SyncOnce();
  CHECK(replica_steering.LookupOwner("owner-1")->prefer_node == "n2");
  steering.Remove(id);  // the eviction was refused
  CHECK_FALSE(steering.LookupOwner("owner-1").has_value());
  leader.SyncOnce();
  CHECK(Published(kube).empty());
  replica.SyncOnce();
  CHECK_FALSE(replica_steering.LookupOwner("owner-1").has_value());
}

TEST_CASE("a new leader keeps the decisions its predecessor published", "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  scoring::Steering old_steering(clock), new_steering(clock);
  SteeringSync old_leader(kube, old_steering, clock, Opts("a"), [] { return true; });
  bool leads = false;
  SteeringSync next(kube, new_steering, clock, Opts("b"), [&] { return leads; });
  old_steering.Steer("owner-1", "n1", "n2", clock.Now() + 300s, "default/p1");
  old_leader.SyncOnce();
  next.SyncOnce();
  leads = true;  // the old leader is gone; the new one has no local decisions
  clock.Advance(1s);
  new_steering.Steer("owner-2", "n3", "n4", clock.Now() + 300s, "default/p2");
  next.SyncOnce();
  const std::vector<json> entries = Published(kube);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["owner"] == "owner-1");
  CHECK(entries[1]["owner"] == "owner-2");
}

TEST_CASE("the published decisions are bounded, soonest expiry dropped first",
          "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  prometheus::Registry registry;
  SteeringSyncMetrics metrics(registry);
  scoring::Steering steering(clock);
  SteeringSync leader(
      kube, steering, clock, Opts("a", /*max_entries=*/2), [] { return true; }, &metrics);
  for (int i = 0; i < 3; ++i) {
    steering.Steer("owner-" + std::to_string(i), "n1", "n2", clock.Now() + 300s + i * 1s);
  }
  leader.SyncOnce();
  const std::vector<json> entries = Published(kube);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["owner"] == "owner-1");
  CHECK(entries[1]["owner"] == "owner-2");
  CHECK(metrics.dropped.Value() == 1);
  CHECK(metrics.published.Value() == 1);
}

TEST_CASE("a replica that cannot read the published steering serves without it (fail open)",
          "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  prometheus::Registry registry;
  SteeringSyncMetrics metrics(registry);
  scoring::Steering leader_steering(clock), steering(clock);
  SteeringSync leader(kube, leader_steering, clock, Opts("a"), [] { return true; });
  SteeringSync replica(
      kube, steering, clock, Opts("b"), [] { return false; }, &metrics);
  leader_steering.Steer("owner-1", "n1", "n2", clock.Now() + 300s);
  leader.SyncOnce();
  replica.SyncOnce();
  REQUIRE(steering.LookupOwner("owner-1").has_value());
  CHECK(metrics.readable.Value() == 1);

  kube.FailAlways(kb::testing::kVerbGetConfigMap,
                  Status(StatusCode::kPermissionDenied, "configmaps is forbidden")
                      .WithHttp(403, "Forbidden", ""));
  replica.SyncOnce();
  CHECK_FALSE(replica.readable());
  CHECK_FALSE(steering.LookupOwner("owner-1").has_value());
  CHECK(metrics.readable.Value() == 0);
  CHECK(metrics.errors.Add({{"op", "read"}}).Value() == 1);
  const json debug = replica.DebugJson();
  CHECK(debug["readable"] == false);
  CHECK_THAT(debug["error"].get<std::string>(), Catch::Matchers::Contains("forbidden"));

  kube.ClearFailures();
  replica.SyncOnce();
  CHECK(replica.readable());
  CHECK(steering.LookupOwner("owner-1").has_value());
  CHECK(metrics.readable.Value() == 1);

  // A malformed object is unreadable too, never half-applied.
  json cm = *kube.Get("configmaps", "kube-system", "kube-balancer-steering");
  cm["data"]["entries.json"] = "[{\"owner\": 5}]";
  kube.Put("configmaps", cm);
  replica.SyncOnce();
  CHECK_FALSE(replica.readable());
  CHECK_FALSE(steering.LookupOwner("owner-1").has_value());
}

TEST_CASE("a consumed target stays consumed when the published entry is re-read",
          "[rescheduler][steering]") {
  FakeKubeClient kube;
  FakeClock clock;
  scoring::Steering leader_steering(clock), steering(clock);
  SteeringSync leader(kube, leader_steering, clock, Opts("a"), [] { return true; });
  SteeringSync replica(kube, steering, clock, Opts("b"), [] { return false; });
  const Pod pod = PodBuilder("web-9").OwnedByReplicaSet("web").Build();
  leader_steering.Steer(kb::testing::TestUid("default", "web"), "n1", "n2", clock.Now() + 300s);
  leader.SyncOnce();
  replica.SyncOnce();
  REQUIRE(steering.Lookup(pod)->prefer_node == "n2");
  steering.OnBound(pod, "n2");  // the replacement was bound through this replica
  replica.SyncOnce();
  auto d = steering.Lookup(pod);
  REQUIRE(d.has_value());
  CHECK(d->prefer_node.empty());
  CHECK(d->avoid_nodes == std::vector<std::string>{"n1"});
}

TEST_CASE("steering publication against kube-sim", "[rescheduler][steering][sim]") {
  sim::ApiServerOptions o;
  o.run_controllers = false;
  sim::ApiServer server(o);
  REQUIRE(server.Start().ok());
  auto make_client = [&] {
    kube::KubeConfig cfg;
    cfg.server = server.url();
    cfg.token = server.token();
    kube::HttpKubeClientOptions opts;
    opts.qps = 0;
    opts.max_retries = 0;
    auto c = kube::HttpKubeClient::Create(cfg, opts);
    REQUIRE(c.ok());
    return std::move(c).value();
  };
  auto ca = make_client();
  auto cb = make_client();
  FakeClock clock;
  scoring::Steering sa(clock), sb(clock);
  SteeringSync leader(*ca, sa, clock, Opts("a"), [] { return true; });
  SteeringSync replica(*cb, sb, clock, Opts("b"), [] { return false; });
  sa.Steer("owner-1", "n1", "n2", clock.Now() + 300s, "default/p");
  leader.SyncOnce();  // create
  sa.Steer("owner-2", "n3", "n4", clock.Now() + 300s, "default/q");
  leader.SyncOnce();  // update with the resourceVersion
  replica.SyncOnce();
  CHECK(replica.readable());
  CHECK(sb.LookupOwner("owner-1")->prefer_node == "n2");
  CHECK(sb.LookupOwner("owner-2")->prefer_node == "n4");
  auto raw = server.GetObject("configmaps", "kube-system", "kube-balancer-steering");
  REQUIRE(raw.ok());
  CHECK((*raw)["data"]["publisher"] == "a");
}

}  // namespace
}  // namespace kb::resched
