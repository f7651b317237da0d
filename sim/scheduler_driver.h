// SchedulerDriver: kube-sim's stand-in for kube-scheduler. It places Pending pods whose
// spec.schedulerName it serves the way kube-scheduler v1.26 does with one HTTP extender (wire
// format: docs/extender.md): in-tree feasibility (sim/scheduler_predicates.h: resources incl. pod
// count, nodeSelector, required node affinity, NoSchedule / NoExecute taints, unschedulable), then
// POST <urlPrefix>/<filterVerb> and /<prioritizeVerb> (sim/scheduler_extender.h), final score =
// in-tree least-allocated (0..100) + extender score x weight x 10, seeded random tie-break, and
// binding through the extender's bindVerb or directly. Pods of the stock scheduler names are
// placed without the extender (requests-only least-allocated): every scenario's baseline.
// One pod at a time, each decision seeing the previous bindings; failed pods back off.
// With async_binding, as kube-scheduler v1.26's scheduleOne (pkg/scheduler/schedule_one.go): the
// scheduling cycle assumes the pod on its node in the driver's cache and hands the binding
// (extender /bind or pods/binding) to a binder thread, which runs it after bind_latency while the
// next pods' scheduling cycles (filter, prioritize) go on; a failed binding forgets the assumed
// pod and backs it off. The maintenance label means nothing to the in-tree filters: only the
// extender filters such nodes, so pods of the stock scheduler keep landing there.
// Thread-safe: RunOnce() calls are serialised; HTTP calls happen outside every kube-sim lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace kb::sim {

class ApiServer;

// One `extenders[]` entry of KubeSchedulerConfiguration v1 (same key names in scenarios).
struct ExtenderConfig {
  std::string url_prefix;                      // urlPrefix: "" = no extender
  std::string filter_verb = "filter";          // filterVerb: "" = no filter call
  std::string prioritize_verb = "prioritize";  // prioritizeVerb: "" = no prioritize call
  std::string bind_verb;                       // bindVerb: "" = the driver binds directly
  int64_t weight = 1;                          // weight: multiplies the 0..10 score (x 10)
  bool node_cache_capable = false;             // nodeCacheCapable: send NodeNames, else full Nodes
  bool ignorable = false;                      // ignorable: filter / bind errors skip the extender
  std::chrono::milliseconds http_timeout{0};   // httpTimeout: 0 = 5s (kube-scheduler's default)
};

struct SchedulerDriverOptions {
  // Pods with these schedulerNames are placed through the extender.
  std::vector<std::string> scheduler_names{"kube-balancer"};
  // Pods with these schedulerNames (an empty schedulerName counts as "default-scheduler") are
  // placed without the extender: requests-only least-allocated, the baseline.
  std::vector<std::string> default_scheduler_names{"default-scheduler"};
  ExtenderConfig extender;
  uint64_t seed = 1;  // tie-break PRNG
  // Backoff of a pod whose cycle failed: initial * 2^(attempts-1), capped (kube-scheduler's
  // podInitialBackoffSeconds / podMaxBackoffSeconds).
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{10000};
  // An unschedulable pod is retried when the cluster changed (a node or a bound pod), else after
  // this long (kube-scheduler: podMaxInUnschedulablePodsDuration, 5m).
  std::chrono::milliseconds unschedulable_flush{30000};
  // Own thread: how often it looks for Pending pods when nothing kicks it.
  std::chrono::milliseconds period{50};
  // Placements kept for Placements().
  size_t history_limit = 10000;
  // Binding cycles run on their own thread, concurrently with the next scheduling cycles
  // (kube-scheduler's behaviour); false binds inside the scheduling cycle.
  bool async_binding = false;
  // With async_binding: how long after its scheduling cycle a pod's binding is sent (the API
  // round trip, permit and pre-bind plugins of a real scheduler).
  std::chrono::milliseconds bind_latency{0};
};

// Applies a scenario's `scheduler:` section (docs/scenario-format.md#scheduler) on top of
// `options`. InvalidArgument naming the key on bad input.
Status ApplySchedulerSection(const nlohmann::json& section, SchedulerDriverOptions* options);

// One placement decision.
struct Placement {
  std::string ns;
  std::string name;
  std::string uid;
  std::string scheduler_name;
  std::string node;
  bool via_extender = false;  // scored / bound with the extender
  bool prioritize_called = false;
  int feasible = 0;                         // nodes left after in-tree and extender filters
  std::map<std::string, int64_t> in_tree;   // node -> least-allocated 0..100
  std::map<std::string, int64_t> extender;  // node -> extender score 0..10 (as returned)
  std::map<std::string, int64_t> total;     // node -> final score
  SteadyTime at;
};

struct SchedulerStats {
  uint64_t cycles = 0;         // scheduling attempts
  uint64_t scheduled = 0;      // pods bound
  uint64_t unschedulable = 0;  // attempts that found no node
  uint64_t errors = 0;         // attempts failed by an extender / binding error
  uint64_t filter_calls = 0;
  uint64_t prioritize_calls = 0;
  uint64_t prioritize_skipped = 0;  // one feasible node: prioritize not called
  uint64_t bind_calls = 0;
  uint64_t extender_errors = 0;  // failed extender calls (any verb)
  uint64_t ignored_errors = 0;   // extender errors skipped (ignorable, or prioritize)
};

class SchedulerDriver {
 public:
  // `server` and `clock` must outlive the driver.
  SchedulerDriver(ApiServer& server, SchedulerDriverOptions options, const Clock& clock);
  ~SchedulerDriver();  // Stops.
  SchedulerDriver(const SchedulerDriver&) = delete;
  SchedulerDriver& operator=(const SchedulerDriver&) = delete;

  // Registers a kube-sim control loop that wakes the driver's thread on every controller pass
  // (the HTTP calls run on the driver's own thread, so a slow extender never stalls the kubelet
  // stand-in). Safe to outlive the driver.
  void Attach();
  // Starts / stops the driver's thread, which calls RunOnce() when kicked or every `period`.
  void Start();
  void Stop();

  // One scheduling pass: every Pending pod that is due, one at a time in queue order (priority,
  // then creation). Returns the number of pods bound (with async_binding: assumed and handed to
  // the binder). Tests call it directly.
  int RunOnce();
  // Bindings handed to the binder and not finished yet (async_binding).
  size_t PendingBindings() const;

  SchedulerStats Stats() const;
  std::vector<Placement> Placements() const;
  const SchedulerDriverOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kb::sim
