#include "sim/metrics_api.h"

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "core/model.h"

namespace kb::sim {

namespace {

using nlohmann::json;

constexpr char kPrefix[] = "/apis/metrics.k8s.io/";
constexpr char kGroupVersion[] = "metrics.k8s.io/v1beta1";

std::string Window(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

json Usage(const Resources& r) {
  // metrics-server's encoding: nanocores and KiB.
  return {{"cpu", std::to_string(r.cpu_millis * 1000000) + "n"},
          {"memory", std::to_string(r.memory_bytes / 1024) + "Ki"}};
}

json Status503() {
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", json::object()},
          {"status", "Failure"},
          {"message", "the server is currently unable to handle the request"},
          {"reason", "ServiceUnavailable"},
          {"details", {{"group", "metrics.k8s.io"}}},
          {"code", 503}};
}

json Status404(const std::string& path) {
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", json::object()},
          {"status", "Failure"},
          {"message", "the server could not find the requested resource"},
          {"reason", "NotFound"},
          {"details", {{"causes", {{{"reason", "UnexpectedServerResponse"}, {"message", path}}}}}},
          {"code", 404}};
}

json Discovery() {
  json resources = json::array();
  for (const auto& [name, kind, namespaced] :
       {std::tuple{"nodes", "NodeMetrics", false}, std::tuple{"pods", "PodMetrics", true}}) {
    resources.push_back({{"name", name},
                         {"singularName", ""},
                         {"namespaced", namespaced},
                         {"kind", kind},
                         {"verbs", {"get", "list"}}});
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", kGroupVersion},
          {"resources", resources}};
}

}  // namespace

struct MetricsApi::State {
  State(NodeMetrics& m, const Clock& c, MetricsApiOptions o) : metrics(m), clock(c), options(o) {}

  // The last scrape, refreshed when older than the interval (unless frozen).
  void MaybeScrape() {
    const SteadyTime now = clock.Now();
    if (scraped && (mode == Mode::kFrozen || now - last_scrape < options.scrape_interval)) return;
    nodes = metrics.Samples();
    pods = metrics.PodSamples();
    last_scrape = now;
    scrape_time = clock.WallNow();
    scraped = true;
    ++scrape_count;
  }

  json NodeList() const {
    json items = json::array();
    const std::string ts = FormatRfc3339(scrape_time);
    for (const NodeSample& s : nodes) {
      items.push_back({{"metadata", {{"name", s.name}, {"creationTimestamp", ts}}},
                       {"timestamp", ts},
                       {"window", Window(options.scrape_interval)},
                       {"usage", Usage(s.used)}});
    }
    return {{"kind", "NodeMetricsList"},
            {"apiVersion", kGroupVersion},
            {"metadata", json::object()},
            {"items", items}};
  }

  json PodList(const std::string& ns) const {
    json items = json::array();
    const std::string ts = FormatRfc3339(scrape_time);
    for (const PodUsageSample& p : pods) {
      if (!ns.empty() && p.ns != ns) continue;
      items.push_back(
          {{"metadata", {{"name", p.name}, {"namespace", p.ns}, {"creationTimestamp", ts}}},
           {"timestamp", ts},
           {"window", Window(options.scrape_interval)},
           {"containers", {{{"name", "main"}, {"usage", Usage(p.usage)}}}}});
    }
    return {{"kind", "PodMetricsList"},
            {"apiVersion", kGroupVersion},
            {"metadata", json::object()},
            {"items", items}};
  }

  ApiServer::AggregatedAnswer Serve(const std::string& target) {
    std::lock_guard<std::mutex> lock(mu);
    if (mode == Mode::kUnavailable) return {503, Status503().dump()};
    const std::string path = target.substr(0, target.find('?'));
    const std::string base = std::string("/apis/") + kGroupVersion;
    if (path == "/apis/metrics.k8s.io" || path == "/apis/metrics.k8s.io/") {
      return {
          200,
          json({{"kind", "APIGroup"},
                {"apiVersion", "v1"},
                {"name", "metrics.k8s.io"},
                {"versions", {{{"groupVersion", kGroupVersion}, {"version", "v1beta1"}}}},
                {"preferredVersion", {{"groupVersion", kGroupVersion}, {"version", "v1beta1"}}}})
              .dump()};
    }
    if (path == base) return {200, Discovery().dump()};
    MaybeScrape();
    if (path == base + "/nodes") return {200, NodeList().dump()};
    if (path == base + "/pods") return {200, PodList("").dump()};
    const std::string ns_prefix = base + "/namespaces/";
    if (path.rfind(ns_prefix, 0) == 0) {
      const std::string rest = path.substr(ns_prefix.size());
      const size_t slash = rest.find('/');
      if (slash != std::string::npos && rest.substr(slash) == "/pods") {
        return {200, PodList(rest.substr(0, slash)).dump()};
      }
    }
    return {404, Status404(path).dump()};
  }

  NodeMetrics& metrics;
  const Clock& clock;
  const MetricsApiOptions options;
  mutable std::mutex mu;
  // Guarded by mu:
  Mode mode = Mode::kServing;
  bool scraped = false;
  SteadyTime last_scrape{};
  WallTime scrape_time{};
  std::vector<NodeSample> nodes;
  std::vector<PodUsageSample> pods;
  uint64_t scrape_count = 0;
};

MetricsApi::MetricsApi(ApiServer& server, NodeMetrics& metrics, const Clock& clock,
                       MetricsApiOptions options)
    : server_(server), state_(std::make_shared<State>(metrics, clock, options)) {
  std::weak_ptr<State> weak = state_;
  server_.SetAggregatedApi(kPrefix, [weak](const std::string& target) {
    if (auto s = weak.lock()) return s->Serve(target);
    return ApiServer::AggregatedAnswer{404, Status404(target).dump()};
  });
}

MetricsApi::~MetricsApi() { server_.SetAggregatedApi(kPrefix, nullptr); }

void MetricsApi::SetMode(Mode mode) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->mode = mode;
}

uint64_t MetricsApi::scrapes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->scrape_count;
}

}  // namespace kb::sim
