#include "scoring/metrics_server_source.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>

#include "core/model.h"
#include "scoring/metrics_refresher.h"
#include "scoring/source_choice.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace kb::scoring {
namespace {

using kb::testing::ClusterFixture;
using kb::testing::NodeBuilder;

// Shapes as metrics-server v0.6 / v0.7 answer `kubectl get --raw
// /apis/metrics.k8s.io/v1beta1/nodes` and `.../pods` (labels trimmed): usage in nanocores and
// KiB, `timestamp` = end of the window the usage is averaged over.
constexpr char kNodeList[] = R"({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1",
"metadata":{},"items":[
{"metadata":{"name":"kind-control-plane","creationTimestamp":"2023-03-01T10:20:31Z",
 "labels":{"kubernetes.io/hostname":"kind-control-plane","node-role.kubernetes.io/control-plane":""}},
 "timestamp":"2023-03-01T10:20:20Z","window":"20.048s",
 "usage":{"cpu":"152347011n","memory":"1349348Ki"}},
{"metadata":{"name":"kind-worker","creationTimestamp":"2023-03-01T10:20:31Z"},
 "timestamp":"2023-03-01T10:20:22Z","window":"10.5s","usage":{"cpu":"1500m","memory":"2Gi"}}]})";

constexpr char kPodList[] = R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1",
"metadata":{},"items":[
{"metadata":{"name":"coredns-787d4945fb-7xq4z","namespace":"kube-system",
 "creationTimestamp":"2023-03-01T10:20:31Z","labels":{"k8s-app":"kube-dns"}},
 "timestamp":"2023-03-01T10:20:14Z","window":"13.377s",
 "containers":[{"name":"coredns","usage":{"cpu":"2141717n","memory":"16012Ki"}}]},
{"metadata":{"name":"web-0","namespace":"default","creationTimestamp":"2023-03-01T10:20:31Z"},
 "timestamp":"2023-03-01T10:20:15Z","window":"15s",
 "containers":[{"name":"app","usage":{"cpu":"250m","memory":"100Mi"}},
               {"name":"sidecar","usage":{"cpu":"50m","memory":"28Mi"}}]}]})";

WallTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

TEST_CASE("NodeMetricsList decodes usage and the sample timestamp", "[scoring]") {
  std::string body = kNodeList;
  RawNodeMetrics out;
  REQUIRE(DecodeNodeMetricsList(body, out).ok());
  CHECK(out.cpu.samples == 2);
  CHECK(out.cpu.dropped == 0);
  REQUIRE(out.nodes.size() == 2);
  const RawNodeSample& cp = out.nodes.at("kind-control-plane");
  CHECK(*cp.cpu_millis_used == 153);  // 152347011n rounds up to 153m
  CHECK(*cp.memory_bytes_used == 1349348LL * 1024);
  CHECK(*cp.cpu_time == T("2023-03-01T10:20:20Z"));
  CHECK(*cp.memory_time == T("2023-03-01T10:20:20Z"));
  CHECK_FALSE(cp.cpu_percent.has_value());  // absolute: the refresher divides by allocatable
  const RawNodeSample& w = out.nodes.at("kind-worker");
  CHECK(*w.cpu_millis_used == 1500);
  CHECK(*w.memory_bytes_used == 2LL << 30);
}

TEST_CASE("PodMetricsList sums containers per pod", "[scoring]") {
  std::string body = kPodList;
  RawNodeMetrics out;
  REQUIRE(DecodePodMetricsList(body, out).ok());
  CHECK(out.pods.samples == 2);
  REQUIRE(out.pod_usage.size() == 2);
  const PodUsage& web = out.pod_usage.at("default/web-0");
  CHECK(*web.cpu_millis == 300);
  CHECK(*web.memory_bytes == 128LL << 20);
  CHECK(web.time == T("2023-03-01T10:20:15Z"));
  const PodUsage& dns = out.pod_usage.at("kube-system/coredns-787d4945fb-7xq4z");
  CHECK(*dns.cpu_millis == 3);
  CHECK(*dns.memory_bytes == 16012LL * 1024);
}

TEST_CASE("metrics.k8s.io decoders drop bad items and fail malformed lists", "[scoring]") {
  SECTION("bad items degrade only themselves") {
    std::string body = R"({"kind":"NodeMetricsList","items":[
      {"metadata":{"name":"neg"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"-5m","memory":"1Mi"}},
      {"metadata":{"name":"nan"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"NaN","memory":"1Mi"}},
      {"metadata":{"name":"absurd"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"9E","memory":"1Mi"}},
      {"metadata":{"name":"nomem"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"1"}},
      {"metadata":{"name":"zero-time"},"timestamp":"0001-01-01T00:00:00Z","usage":{"cpu":"1","memory":"1Mi"}},
      {"metadata":{"name":"far-time"},"timestamp":"9999-12-31T23:59:59Z","usage":{"cpu":"1","memory":"1Mi"}},
      {"metadata":{"name":"no-time"},"usage":{"cpu":"1","memory":"1Mi"}},
      {"metadata":{"name":"num-cpu"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":true,"memory":"1Mi"}},
      {"metadata":{},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"1","memory":"1Mi"}},
      "not an object",
      {"metadata":{"name":"dup"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":"1","memory":"1Mi"}},
      {"metadata":{"name":"dup"},"timestamp":"2023-03-01T10:20:21Z","usage":{"cpu":"2","memory":"1Ki"}},
      {"metadata":{"name":"ok"},"timestamp":"2023-03-01T10:20:20Z","usage":{"cpu":2,"memory":1048576}}]})";
    RawNodeMetrics out;
    REQUIRE(DecodeNodeMetricsList(body, out).ok());
    CHECK(out.cpu.dropped == 10);
    CHECK(out.cpu.duplicates == 1);
    CHECK(out.cpu.first_drop.find("neg") != std::string::npos);
    REQUIRE(out.nodes.size() == 2);
    CHECK(*out.nodes.at("dup").cpu_millis_used == 2000);  // the larger of the two
    CHECK(*out.nodes.at("dup").memory_bytes_used == 1 << 20);
    CHECK(*out.nodes.at("ok").cpu_millis_used == 2000);
    CHECK(*out.nodes.at("ok").memory_bytes_used == 1 << 20);
  }
  SECTION("pods without namespace, containers or valid usage are dropped") {
    std::string body = R"({"kind":"PodMetricsList","items":[
      {"metadata":{"name":"a"},"timestamp":"2023-03-01T10:20:20Z","containers":[{"name":"c","usage":{"cpu":"1","memory":"1"}}]},
      {"metadata":{"name":"b","namespace":"x"},"timestamp":"2023-03-01T10:20:20Z","containers":[]},
      {"metadata":{"name":"c","namespace":"x"},"timestamp":"2023-03-01T10:20:20Z","containers":[{"name":"c"}]},
      {"metadata":{"name":"d","namespace":"x"},"timestamp":"2023-03-01T10:20:20Z","containers":[{"name":"c","usage":{"cpu":"1","memory":"-1"}}]},
      {"metadata":{"name":"e","namespace":"x"},"timestamp":"2023-03-01T10:20:20Z","containers":[{"name":"c","usage":{"cpu":"1","memory":"1"}}]}]})";
    RawNodeMetrics out;
    REQUIRE(DecodePodMetricsList(body, out).ok());
    CHECK(out.pods.dropped == 4);
    REQUIRE(out.pod_usage.size() == 1);
    CHECK(out.pod_usage.count("x/e") == 1);
  }
  SECTION("malformed lists fail the kind") {
    for (std::string body : {std::string("<html>502 Bad Gateway</html>"), std::string("{"),
                             std::string(R"({"kind":"NodeMetricsList","items":[{"metadata":)"),
                             std::string(R"({"kind":"Status","status":"Failure"})"),
                             std::string(R"({"kind":"NodeMetricsList"})"),
                             std::string(R"({"kind":"NodeMetricsList","items":{}})"),
                             std::string(R"([1,2])"), std::string("")}) {
      INFO(body);
      RawNodeMetrics out;
      const Status s = DecodeNodeMetricsList(body, out);
      CHECK(s.code() == StatusCode::kUnavailable);
    }
  }
  SECTION("an empty or null item list is fine") {
    for (std::string body : {std::string(R"({"kind":"PodMetricsList","items":[]})"),
                             std::string(R"({"kind":"PodMetricsList","items":null})")}) {
      RawNodeMetrics out;
      CHECK(DecodePodMetricsList(body, out).ok());
      CHECK(out.pod_usage.empty());
    }
  }
}

TEST_CASE("large PodMetricsLists decode in pieces with the same result", "[scoring]") {
  // Over 1 MiB the items are parsed in pieces (bounded parser memory); strings with escaped
  // quotes and brackets must not confuse the split.
  std::string body = R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1",)"
                     R"("metadata":{"note":"items: [\"x\"]"},"items":[)";
  constexpr int kPods = 12000;
  for (int i = 0; i < kPods; ++i) {
    if (i > 0) body += ",";
    body += R"({"metadata":{"name":"p)" + std::to_string(i) +
            R"(","namespace":"ns","labels":{"a":"]},[{\""}},"timestamp":"2023-03-01T10:20:20Z",)"
            R"("window":"15s","containers":[{"name":"c","usage":{"cpu":"1m","memory":"1Ki"}}]})";
  }
  body += R"(],"trailer":{"items":[]}})";
  REQUIRE(body.size() > (2u << 20));
  RawNodeMetrics out;
  const Status s = DecodePodMetricsList(body, out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(out.pod_usage.size() == kPods);
  CHECK(out.pods.dropped == 0);
  CHECK(*out.pod_usage.at("ns/p11999").memory_bytes == 1024);

  std::string broken = body;
  broken.replace(broken.find("\"p6000\""), 7, "\"p6000");  // an unterminated string mid-list
  RawNodeMetrics out2;
  CHECK(DecodePodMetricsList(broken, out2).code() == StatusCode::kUnavailable);
  std::string wrong_kind = body;
  wrong_kind.replace(wrong_kind.find("PodMetricsList"), 14, "NodeMetricsList");
  RawNodeMetrics out3;
  CHECK(DecodePodMetricsList(wrong_kind, out3).code() == StatusCode::kUnavailable);
}

TEST_CASE("metrics-server source lists each kind once and degrades per kind", "[scoring]") {
  std::map<std::string, StatusOr<std::string>> answers = {
      {kNodeMetricsPath, std::string(kNodeList)}, {kPodMetricsPath, std::string(kPodList)}};
  std::map<std::string, int> calls;
  MetricsServerSource source([&](const std::string& path) -> StatusOr<std::string> {
    ++calls[path];
    return answers.at(path);
  });
  CHECK(source.HasPodUsage());
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(calls[kNodeMetricsPath] == 1);
  CHECK(calls[kPodMetricsPath] == 1);
  CHECK(r->cpu.status.ok());
  CHECK(r->pods.status.ok());
  CHECK(r->nodes.size() == 2);
  CHECK(r->pod_usage.size() == 2);

  // The group is gone (404) for nodes, and pods answer garbage: both kinds fail, no crash.
  answers.insert_or_assign(kNodeMetricsPath,
                           Status::NotFound("the server could not find the requested resource"));
  answers.insert_or_assign(kPodMetricsPath,
                           std::string("{\"kind\":\"PodMetricsList\",\"items\":["));
  r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.code() == StatusCode::kNotFound);
  CHECK(r->memory.status.code() == StatusCode::kNotFound);
  CHECK(r->cpu.status.message().find("NodeMetrics") != std::string::npos);
  CHECK(r->pods.status.code() == StatusCode::kUnavailable);
  CHECK(r->nodes.empty());
  CHECK(r->pod_usage.empty());
}

TEST_CASE("absolute node usage becomes a percentage of allocatable", "[scoring]") {
  ClusterFixture cluster;
  cluster.AddNode(NodeBuilder("kind-worker").Cpu("4").Memory("8Gi").Build());
  cluster.AddNode(NodeBuilder("kind-control-plane").Cpu("2").Memory("4Gi").Build());
  cluster.AddNode(NodeBuilder("tiny").Cpu("1").Memory("1Gi").Build());
  std::string body = kNodeList;
  RawNodeMetrics raw;
  REQUIRE(DecodeNodeMetricsList(body, raw).ok());
  RawNodeSample& absurd = raw.nodes["tiny"];
  absurd.cpu_millis_used = 100000;  // 100 cores on a 1-core node
  absurd.memory_bytes_used = 1;
  absurd.cpu_time = absurd.memory_time = T("2023-03-01T10:20:20Z");
  const auto cache = cluster.Snapshot();
  const MetricsSnapshot snap =
      MapSamplesToNodes(raw, *cache->nodes, nullptr, T("2023-03-01T10:20:30Z"), Millis(60000));
  const NodeMetrics* w = snap.Find("kind-worker");
  REQUIRE(w != nullptr);
  CHECK(*w->cpu_percent == Approx(37.5));
  CHECK(*w->memory_percent == Approx(25.0));
  CHECK(w->FreshAt(T("2023-03-01T10:20:30Z"), Millis(60000)));
  CHECK_FALSE(w->FreshAt(T("2023-03-01T10:21:30Z"), Millis(60000)));  // timestamp + maxAge
  const NodeMetrics* t = snap.Find("tiny");
  REQUIRE(t != nullptr);
  CHECK_FALSE(t->cpu_percent.has_value());  // dropped as absurd: falls back to requests
  CHECK(snap.dropped_absolute == 1);
  CHECK(std::count(snap.nodes_without_sample.begin(), snap.nodes_without_sample.end(), "tiny") ==
        1);
}

TEST_CASE("metrics.source auto-selection matrix", "[scoring]") {
  struct Case {
    std::string source;
    std::string url;
    Status probe;
    std::string want;
    bool probed;
  };
  const Case cases[] = {
      {"auto", "http://prom:9090", Status::Ok(), kMetricsSourcePrometheus, false},
      {"auto", "", Status::Ok(), kMetricsSourceMetricsServer, true},
      {"auto", "", Status::NotFound("404"), kMetricsSourceNone, true},
      {"auto", "", Status::PermissionDenied("403"), kMetricsSourceNone, true},
      {"auto", "", Status::Unavailable("503 service unavailable"), kMetricsSourceMetricsServer,
       true},
      {"prometheus", "http://prom:9090", Status::Ok(), kMetricsSourcePrometheus, false},
      {"metricsServer", "http://prom:9090", Status::NotFound("404"), kMetricsSourceMetricsServer,
       true},
      {"none", "http://prom:9090", Status::Ok(), kMetricsSourceNone, false},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.source << " url=" << c.url << " probe=" << c.probe.ToString()) {
      Config config;
      config.metrics.source = c.source;
      config.prometheus.url = c.url;
      int probes = 0;
      const SourceChoice choice = ChooseMetricsSource(config, [&] {
        ++probes;
        return c.probe;
      });
      CHECK(choice.source == c.want);
      CHECK(!choice.reason.empty());
      CHECK((probes == 1) == c.probed);
    }
  }
}

}  // namespace
}  // namespace kb::scoring
