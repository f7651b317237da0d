// Simulated node usage for kube-sim: each node's CPU / memory usage is its background
// usage (the node's `usage:` profile) plus the usage profiles of the pods running on it, capped at
// capacity. NodeMetrics integrates that usage into node_exporter-style counters and serves them
// (NodeExporterServer) so a real Prometheus scraping at 1 s answers kube-balancer's default
// node_exporter queries. Profiles: docs/scenario-format.md#usage.
// Thread-safe: Tick(), Samples() and the expositions may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/model.h"
#include "core/status.h"

namespace kb::sim {

class ApiServer;

// One usage value: an absolute amount, or a percentage of a base (a node's capacity, a pod's
// requests).
struct UsageValue {
  bool percent = false;
  double amount = 0;  // millicores / bytes, or percent when `percent`
  int64_t Resolve(int64_t base) const;
};

// A `usage:` profile. Forms:
//   {cpu: 500m, memory: 256Mi}                      constant
//   {cpu: "35%"}                                    percent of the base
//   [{after: 0s, cpu: 100m}, {after: 30s, cpu: 2}]  steps, by time since the start
// A step holds until the next; a key a step leaves out keeps the previous step's value; before
// the first step that gives a key (and when the profile never gives it) the fallback applies.
class UsageProfile {
 public:
  struct Step {
    std::chrono::milliseconds after{0};
    std::optional<UsageValue> cpu;
    std::optional<UsageValue> memory;
  };

  // InvalidArgument naming the key on a malformed profile.
  static StatusOr<UsageProfile> Parse(const nlohmann::json& value);
  // Parses the compact JSON stored in the kube-sim usage annotation.
  static StatusOr<UsageProfile> FromAnnotation(const std::string& text);

  // Usage `elapsed` after the start. `base` resolves percentages; `fallback` fills what the
  // profile does not give.
  Resources At(std::chrono::milliseconds elapsed, const Resources& base,
               const Resources& fallback) const;
  const std::vector<Step>& steps() const { return steps_; }

 private:
  std::vector<Step> steps_;  // sorted by `after`
};

// One node's simulated state at the last Tick().
struct NodeSample {
  std::string name;
  Resources capacity;   // status.capacity (falls back to allocatable)
  Resources demand;     // background + running pods, uncapped
  Resources used;       // demand capped at capacity: what the exporter reports
  Resources requested;  // requests of the non-terminal pods bound to the node
  int pods = 0;         // non-terminal pods bound to the node
  int cpus = 0;         // CPUs exposed (ceil of capacity cores, at least 1)
  double CpuPercent() const;
  double MemoryPercent() const;
  double CpuRequestedPercent() const;
  double MemoryRequestedPercent() const;
};

// One Running pod's simulated usage at the last Tick() (its profile, or its requests).
struct PodUsageSample {
  std::string ns;
  std::string name;
  std::string node;
  Resources usage;
};

struct NodeMetricsOptions {
  // Tick() calls closer together than this (from the controller hook) are skipped; explicit
  // scrapes always tick.
  std::chrono::milliseconds min_tick_interval{50};
  // Pods without a `usage:` profile use their requests (true) or nothing (false).
  bool default_usage_is_requests = true;
};

class NodeMetrics {
 public:
  // `server` and `clock` must outlive this object's use.
  NodeMetrics(ApiServer& server, const Clock& clock, NodeMetricsOptions options = {});
  ~NodeMetrics();
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  // Registers a kube-sim control loop that ticks on every pass (safe to outlive this object:
  // the loop holds a weak reference).
  void Attach();
  // Advances the counters to now with the usage of the previous tick, then recomputes usage
  // from the cluster. `force` ignores min_tick_interval.
  void Tick(bool force = true);
  // Samples of every node, sorted by name (ticks first).
  std::vector<NodeSample> Samples();
  // Usage of every Running pod on a known node, sorted by namespace/name (ticks first).
  std::vector<PodUsageSample> PodSamples();
  // The node_exporter text exposition of one node (no node label: the scrape config sets it,
  // as kube-prometheus does). nullopt for an unknown node. Ticks first.
  std::optional<std::string> NodeExposition(const std::string& node);
  // Every node in one exposition, each series labelled node="<name>". Ticks first.
  std::string Exposition();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// HTTP endpoint for NodeMetrics, on its own port (no auth, like node_exporter):
//   GET /metrics/nodes/<node>  one node's series          GET /metrics  all nodes, label node
//   GET /sd                    Prometheus http_sd targets  GET /usage    ground truth as JSON
//   GET /healthz
class NodeExporterServer {
 public:
  explicit NodeExporterServer(NodeMetrics& metrics);
  ~NodeExporterServer();  // Stops.
  NodeExporterServer(const NodeExporterServer&) = delete;
  NodeExporterServer& operator=(const NodeExporterServer&) = delete;

  // Binds host:port (0 = any free port) and serves on a thread. Unavailable when it cannot bind.
  Status Start(const std::string& host = "127.0.0.1", int port = 0);
  void Stop();  // Idempotent.
  int port() const;
  std::string url() const;  // "http://<host>:<port>"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kb::sim
