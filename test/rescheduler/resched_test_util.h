// Helpers shared by the rescheduler tests: a hand-built cluster (nodes, pods, PDBs, per-node
// utilisation samples, with the samples from test/testing/cluster_fixture.h) turned into the
// immutable ClusterSnapshot + LoadSnapshot a cycle plans over, via BuildSnapshot and
// scoring::BuildLoadSnapshot (the real load model). Header-only; test code only.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/model.h"
#include "rescheduler/move_ledger.h"
#include "rescheduler/strategy.h"
#include "scoring/load_model.h"
#include "scoring/metrics_refresher.h"
#include "scoring/policy.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace kb::resched::test {

using kb::testing::NodeBuilder;
using kb::testing::PdbBuilder;
using kb::testing::PodBuilder;
using kb::testing::TestTime;

inline Node MakeNode(const std::string& name, const std::string& cpu = "4",
                     const std::string& memory = "8Gi") {
  return NodeBuilder(name).Cpu(cpu).Memory(memory).Build();
}

// The scheduler the rescheduler's default scope (schedulerNames) moves pods of.
inline constexpr char kOurScheduler[] = "kube-balancer";

// A pod placed by kOurScheduler (inside the default scope); other fields as PodBuilder's.
inline PodBuilder OurPod(const std::string& name) {
  PodBuilder b(name);
  b.SchedulerName(kOurScheduler);
  return b;
}
inline PodBuilder OurPod(const std::string& ns, const std::string& name) {
  PodBuilder b(ns, name);
  b.SchedulerName(kOurScheduler);
  return b;
}

// A Running, Ready pod of ReplicaSet `rs` (label app=<rs>) bound to `node`, placed by
// kOurScheduler.
inline PodBuilder RsPodBuilder(const std::string& name, const std::string& rs,
                               const std::string& node, const std::string& cpu = "100m",
                               const std::string& memory = "64Mi") {
  PodBuilder b = OurPod(name);
  b.Node(node).OwnedByReplicaSet(rs).Label("app", rs).Cpu(cpu).Memory(memory).Ready();
  return b;
}
inline Pod RsPod(const std::string& name, const std::string& rs, const std::string& node,
                 const std::string& cpu = "100m", const std::string& memory = "64Mi") {
  return RsPodBuilder(name, rs, node, cpu, memory).Build();
}

// Defaults of the rescheduler configuration, as in production.
inline ReschedulerConfig DefaultConfig() { return ReschedulerConfig{}; }

inline scoring::PolicyConfig PolicyFor(const ReschedulerConfig& rc) {
  Config c;
  c.rescheduler = rc;
  return scoring::PolicyConfig::From(c);
}

// An empty ledger: nothing remembered from earlier cycles.
inline const MoveLedger& EmptyLedger() {
  static const MoveLedger ledger;
  return ledger;
}

// A ledger in which every one of `keys` has held for `cycles` scheduled cycles, at the start of
// the next cycle: a scheduled one, or (!may_count) an early one that came too soon to count.
inline MoveLedger LedgerWithConditions(const std::vector<std::string>& keys, int cycles,
                                       bool may_count, const ReschedulerConfig& config = {}) {
  MoveLedger ledger(config);
  SteadyTime t{std::chrono::hours(1000)};
  for (int i = 0; i < cycles; ++i) {
    ledger.BeginCycle(t, CycleKind::kScheduled);
    ledger.ObserveConditions(keys);
    t += config.rescheduling_interval;
  }
  if (may_count) {
    ledger.BeginCycle(t, CycleKind::kScheduled);
  } else {
    ledger.BeginCycle(t - config.rescheduling_interval + std::chrono::seconds(1),
                      CycleKind::kEarly);
  }
  return ledger;
}

// Records a move of `workload` (WorkloadKey) from `source` to `target` in flight since now.
inline void AddInFlight(MoveLedger& ledger, const std::string& workload,
                        const std::string& source = "", const std::string& target = "",
                        Resources estimate = {}) {
  InFlightMove m;
  m.workload = workload;
  m.source = source;
  m.target = target;
  m.estimate = estimate;
  m.started = ledger.now();
  ledger.Track(std::move(m));
}

struct TestCluster {
  std::vector<Node> nodes;
  std::vector<Pod> pods;
  std::vector<PodDisruptionBudget> pdbs;
  // Utilisation samples (percent) by node; used when metrics_enabled.
  std::map<std::string, std::pair<double, double>> usage;
  std::set<std::string> stale;  // nodes whose samples are older than maxAge
  bool metrics_enabled = false;
  // Per-pod usage samples ("<ns>/<name>" -> millicores, bytes), sampled at `now`.
  scoring::PodUsageMap pod_usage;
  WallTime now = TestTime(1000);

  TestCluster& Add(Node n) {
    nodes.push_back(std::move(n));
    return *this;
  }
  TestCluster& Add(Pod p) {
    pods.push_back(std::move(p));
    return *this;
  }
  TestCluster& Usage(const std::string& node, double cpu, double mem) {
    metrics_enabled = true;
    usage[node] = {cpu, mem};
    return *this;
  }
  TestCluster& PodUsage(const std::string& ns_name, int64_t cpu_millis, int64_t memory_bytes) {
    scoring::PodUsage& u = pod_usage[ns_name];
    u.cpu_millis = cpu_millis;
    u.memory_bytes = memory_bytes;
    u.time = now;
    return *this;
  }

  std::shared_ptr<const ClusterSnapshot> Cache() const { return BuildSnapshot(nodes, pods, pdbs); }

  std::shared_ptr<const scoring::LoadSnapshot> Load(
      const std::shared_ptr<const ClusterSnapshot>& cache) const {
    scoring::LoadInputs in;
    in.cache = cache;
    in.now = now;
    if (metrics_enabled) {
      auto metrics = kb::testing::UsageSnapshot(usage, now, 1, stale);
      metrics->pods = std::make_shared<const scoring::PodUsageMap>(pod_usage);
      in.metrics = std::move(metrics);
    }
    scoring::LoadModelOptions o;
    o.metrics_enabled = metrics_enabled;
    o.max_age = Millis(120000);
    return scoring::BuildLoadSnapshot(in, o);
  }

  // `ledger` must outlive the Plan() calls on the input.
  PlanInput Input(const ReschedulerConfig& config, const MoveLedger& ledger = EmptyLedger()) const {
    PlanInput in;
    in.cache = Cache();
    in.load = Load(in.cache);
    in.config = config;
    in.policy = PolicyFor(config);
    in.now = now;
    in.ledger = &ledger;
    return in;
  }
};

// Captures all log output for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() {
    kb::Logger("rescheduler")->set_level(spdlog::level::debug);
    kb::SetLogOutputForTest(&out_);
  }
  ~LogCapture() {
    kb::SetLogOutputForTest(nullptr);
    kb::Logger("rescheduler")->set_level(spdlog::level::info);
  }
  std::string Text() const { return out_.str(); }
  // Lines containing every one of `needles` at `level` ("info", "warning", "debug", "" = any).
  int Count(const std::vector<std::string>& needles, const std::string& level = "") const {
    std::istringstream in(out_.str());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      bool all = level.empty() || line.find(" " + level + " ") != std::string::npos;
      for (const std::string& s : needles) all = all && line.find(s) != std::string::npos;
      n += all ? 1 : 0;
    }
    return n;
  }

 private:
  std::ostringstream out_;
};

}  // namespace kb::resched::test
