#include "scoring/metrics_refresher.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "scoring/metrics.h"
#include "test/fakes/fake_metrics_source.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"
#include "test/testing/poll.h"

namespace kb::scoring {
namespace {

using namespace std::chrono_literals;
using kb::testing::ClusterFixture;
using kb::testing::FakeMetricsSource;
using kb::testing::NodeBuilder;

PrometheusConfig Config() {
  PrometheusConfig c;
  c.url = "http://prom:9090";
  c.max_age = 120s;
  c.refresh_interval = 15s;
  return c;
}

ClusterFixture ThreeNodes() {
  ClusterFixture cluster;
  cluster.AddNode(NodeBuilder("node-a").InternalIP("10.0.0.1").Build());
  cluster.AddNode(NodeBuilder("node-b").InternalIP("10.0.0.2").Build());
  cluster.AddNode(NodeBuilder("node-c").InternalIP("10.0.0.3").Build());
  return cluster;
}

std::string Scrape(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST_CASE("samples map to nodes by name then InternalIP then instance host", "[scoring]") {
  ClusterFixture cluster = ThreeNodes();
  cluster.AddNode(NodeBuilder("10.9.9.9").InternalIP("10.0.0.4").Build());  // named like an IP
  const auto cache = cluster.Snapshot();
  const WallTime now = kb::testing::TestTime(0);
  RawNodeMetrics raw;
  auto put = [&](const std::string& key, double cpu, double mem, const std::string& inst = "") {
    RawNodeSample& s = raw.nodes[key];
    s.cpu_percent = cpu;
    s.cpu_time = now;
    s.memory_percent = mem;
    s.memory_time = now;
    s.instance_host = inst;
  };
  put("node-a", 10, 11);                        // node label = node name
  put("10.0.0.2", 20, 21);                      // instance host = InternalIP
  put("worker-3.example", 30, 31, "10.0.0.3");  // label names no node; its instance does
  put("10.9.9.9", 40, 41);                      // exact name wins over any IP
  put("ghost", 50, 51, "10.1.1.1");             // matches nothing
  const MetricsSnapshot snap = MapSamplesToNodes(raw, *cache->nodes, nullptr, now, 120s);
  REQUIRE(snap.Find("node-a") != nullptr);
  CHECK(*snap.Find("node-a")->cpu_percent == 10);
  CHECK(snap.Find("node-a")->matched_by == "name");
  CHECK(*snap.Find("node-b")->cpu_percent == 20);
  CHECK(snap.Find("node-b")->matched_by == "instance-ip");
  CHECK(*snap.Find("node-c")->memory_percent == 31);
  CHECK(*snap.Find("10.9.9.9")->cpu_percent == 40);
  CHECK(snap.unmatched_keys == std::vector<std::string>{"ghost"});
  CHECK(snap.nodes_without_sample.empty());
  CHECK(snap.last_fetch_ok);
}

TEST_CASE("nodes without a sample are listed", "[scoring]") {
  ClusterFixture cluster = ThreeNodes();
  const WallTime now = kb::testing::TestTime(0);
  RawNodeMetrics raw;
  raw.nodes["node-a"].cpu_percent = 5;
  raw.nodes["node-a"].cpu_time = now;
  raw.nodes["node-a"].memory_percent = 5;
  raw.nodes["node-a"].memory_time = now;
  raw.nodes["node-b"].cpu_percent = 5;  // no memory sample
  raw.nodes["node-b"].cpu_time = now;
  const MetricsSnapshot snap = MapSamplesToNodes(raw, *cluster.Snapshot()->nodes, nullptr, now, 1s);
  CHECK(snap.nodes_without_sample == std::vector<std::string>{"node-b", "node-c"});
}

TEST_CASE("refresher publishes samples that go stale by maxAge", "[scoring]") {
  FakeClock clock;
  ClusterFixture cluster = ThreeNodes();
  const auto cache = cluster.Snapshot();
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  source.SetNode("10.0.0.2", 50, 60, clock.WallNow() - 100s);
  prometheus::Registry registry;
  ScoringMetrics metrics(registry);
  MetricsRefresher refresher(
      source, [&] { return cache; }, clock, Config(), &metrics);
  int notified = 0;
  refresher.AddListener([&] { ++notified; });

  CHECK(refresher.Snapshot()->nodes.empty());
  REQUIRE(refresher.RefreshOnce().ok());
  CHECK(source.fetch_count() == 1);
  CHECK(notified == 1);
  auto snap = refresher.Snapshot();
  CHECK(snap->generation == 1);
  const Millis max_age = snap->max_age;
  CHECK(max_age == 120s);
  REQUIRE(snap->Find("node-a") != nullptr);
  REQUIRE(snap->Find("node-b") != nullptr);
  CHECK(snap->Find("node-a")->FreshAt(clock.WallNow(), max_age));
  CHECK(snap->Find("node-b")->FreshAt(clock.WallNow(), max_age));
  CHECK(snap->nodes_without_sample == std::vector<std::string>{"node-c"});

  clock.Advance(30s);  // node-b's sample is now 130 s old
  CHECK(snap->Find("node-a")->FreshAt(clock.WallNow(), max_age));
  CHECK_FALSE(snap->Find("node-b")->FreshAt(clock.WallNow(), max_age));

  const std::string text = Scrape(registry);
  CHECK(text.find("kube_balancer_scoring_nodes_without_sample 1") != std::string::npos);
  CHECK(text.find("kube_balancer_scoring_metric_age_seconds{node=\"node-b\"} 100") !=
        std::string::npos);
  CHECK(text.find("kube_balancer_scoring_metric_age_seconds{node=\"node-a\"} 0") !=
        std::string::npos);
}

TEST_CASE("a failed fetch keeps the previous samples until they are stale", "[scoring]") {
  FakeClock clock;
  ClusterFixture cluster = ThreeNodes();
  const auto cache = cluster.Snapshot();
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  prometheus::Registry registry;
  ScoringMetrics metrics(registry);
  MetricsRefresher refresher(
      source, [&] { return cache; }, clock, Config(), &metrics);
  REQUIRE(refresher.RefreshOnce().ok());

  clock.Advance(60s);
  source.SetError(Status::Unavailable("connection refused"));
  const Status s = refresher.RefreshOnce();
  CHECK(s.code() == StatusCode::kUnavailable);
  CHECK(refresher.error_count() == 2);  // both metrics failed
  auto snap = refresher.Snapshot();
  CHECK_FALSE(snap->last_fetch_ok);
  REQUIRE(snap->Find("node-a") != nullptr);
  CHECK(*snap->Find("node-a")->cpu_percent == 30);
  CHECK(snap->Find("node-a")->FreshAt(clock.WallNow(), snap->max_age));  // 60 s old: still fresh

  clock.Advance(61s);
  (void)refresher.RefreshOnce();
  snap = refresher.Snapshot();
  REQUIRE(snap->Find("node-a") != nullptr);  // kept, but now stale
  CHECK_FALSE(snap->Find("node-a")->FreshAt(clock.WallNow(), snap->max_age));
  const std::string text = Scrape(registry);
  CHECK(text.find("kube_balancer_scoring_source_errors_total{metric=\"cpu\"} 2") !=
        std::string::npos);
  CHECK(text.find("kube_balancer_scoring_source_errors_total{metric=\"memory\"} 2") !=
        std::string::npos);
}

TEST_CASE("a failed query for one metric keeps only that metric's previous samples", "[scoring]") {
  FakeClock clock;
  ClusterFixture cluster = ThreeNodes();
  const auto cache = cluster.Snapshot();
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  MetricsRefresher refresher(
      source, [&] { return cache; }, clock, Config());
  REQUIRE(refresher.RefreshOnce().ok());

  clock.Advance(10s);
  RawNodeMetrics partial;
  partial.nodes["node-a"].cpu_percent = 70;
  partial.nodes["node-a"].cpu_time = clock.WallNow();
  partial.memory.status = Status::InvalidArgument("bad_data");
  source.SetMetrics(partial);
  CHECK(refresher.RefreshOnce().code() == StatusCode::kInvalidArgument);
  auto snap = refresher.Snapshot();
  const NodeMetrics* a = snap->Find("node-a");
  REQUIRE(a != nullptr);
  CHECK(*a->cpu_percent == 70);
  CHECK(*a->memory_percent == 40);  // previous value
  CHECK(*a->memory_time == clock.WallNow() - 10s);
  CHECK(refresher.error_count() == 1);
}

TEST_CASE("a node whose sample disappears has no sample at the next refresh", "[scoring]") {
  FakeClock clock;
  ClusterFixture cluster = ThreeNodes();
  const auto cache = cluster.Snapshot();
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  source.SetNode("node-b", 30, 40, clock.WallNow());
  source.SetNode("node-c", 30, 40, clock.WallNow());
  MetricsRefresher refresher(
      source, [&] { return cache; }, clock, Config());
  REQUIRE(refresher.RefreshOnce().ok());
  CHECK(refresher.Snapshot()->nodes_without_sample.empty());
  source.RemoveNode("node-b");
  REQUIRE(refresher.RefreshOnce().ok());
  CHECK(refresher.Snapshot()->nodes_without_sample == std::vector<std::string>{"node-b"});
  CHECK(refresher.Snapshot()->Find("node-b") == nullptr);
}

TEST_CASE("refresher thread refreshes at start and stops promptly", "[scoring]") {
  FakeClock clock;
  ClusterFixture cluster = ThreeNodes();
  const auto cache = cluster.Snapshot();
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  PrometheusConfig config = Config();
  config.refresh_interval = 1h;  // only the initial refresh can happen during the test
  MetricsRefresher refresher(
      source, [&] { return cache; }, clock, config);
  refresher.Start();
  kb::testing::PollUntil([&] { return refresher.refresh_count() >= 1; }, 5s, 1ms);
  CHECK(refresher.refresh_count() == 1);
  const auto start = std::chrono::steady_clock::now();
  refresher.Stop();
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(source.fetch_count() == 1);
  refresher.Stop();  // idempotent
}

TEST_CASE("refresher without a cluster view publishes no node samples", "[scoring]") {
  FakeClock clock;
  FakeMetricsSource source;
  source.SetNode("node-a", 30, 40, clock.WallNow());
  MetricsRefresher refresher(
      source, [] { return std::shared_ptr<const ClusterSnapshot>(); }, clock, Config());
  REQUIRE(refresher.RefreshOnce().ok());
  CHECK(refresher.Snapshot()->nodes.empty());
  CHECK(refresher.Snapshot()->unmatched_keys == std::vector<std::string>{"node-a"});
}

}  // namespace
}  // namespace kb::scoring
