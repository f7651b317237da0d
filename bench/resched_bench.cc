// resched_bench: the rescheduler's planning time and the memory of the cluster view it plans
// over, at 1,000 nodes / 65,000 pods and 5,000 nodes / 150,000 pods (the targets: plan
// <= 0.1 s and <= 0.5 s; cache-equivalent snapshot <= 400 MiB at 5,000 / 150,000).
//
//   resched_bench [--runs N]
//
// Plan = one cycle's planning exactly as Rescheduler::RunOnce chains it (NodeMaintenance ->
// ResourceOptimization -> LoadBalancing, each seeing the moves before it) over a ClusterSnapshot
// built by BuildSnapshot and a LoadSnapshot built by scoring::BuildLoadSnapshot. The
// cluster has 2 maintenance nodes, 1% hot nodes (fresh metrics, persisted conditions) and 5% of
// nodes with 1.6x the mean pod count, so every strategy has work. Every kube-scheduler filter
// runs (scoring/feasibility.h): 10% of workloads carry a required pod anti-affinity, 10% a
// topology spread constraint, 10% a PVC bound to a local PV. Baseline, measured in the same
// run: one trivial pass over the same snapshot (sum of the requests of every Running pod).
// Memory: RSS delta (/proc/self/statm) of building the snapshot from decoded pods, after the
// temporaries are freed (malloc_trim), i.e. what the ClusterCache holds for these objects.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/logging.h"
#include "core/model.h"
#include "kube/cluster_cache.h"
#include "rescheduler/strategy.h"
#include "scoring/load_model.h"
#include "scoring/metrics_refresher.h"
#include "scoring/policy.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

double RssMiB() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

double HeapMiB() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

std::string Hex(std::mt19937_64& rng, int n) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(n), '0');
  for (char& c : s) c = kHex[rng() % 16];
  return s;
}

std::string Uid(std::mt19937_64& rng) {
  return Hex(rng, 8) + "-" + Hex(rng, 4) + "-" + Hex(rng, 4) + "-" + Hex(rng, 4) + "-" +
         Hex(rng, 12);
}

kb::Node MakeNode(int i, std::mt19937_64& rng, bool maintenance) {
  kb::Node n;
  char name[32];
  std::snprintf(name, sizeof(name), "node-%05d", i);
  n.meta.name = name;
  n.meta.uid = Uid(rng);
  n.meta.resource_version = std::to_string(1000 + i);
  n.meta.labels = {{"kubernetes.io/hostname", name},
                   {"kubernetes.io/os", "linux"},
                   {"kubernetes.io/arch", "amd64"},
                   {"node.kubernetes.io/instance-type", "m5.8xlarge"},
                   {"topology.kubernetes.io/region", "eu-west-1"},
                   {"topology.kubernetes.io/zone", "eu-west-1" + std::string(1, 'a' + i % 3)},
                   {"node-role.kubernetes.io/worker", ""}};
  if (maintenance) n.meta.labels[kb::kMaintenanceLabel] = "true";
  n.meta.annotations = {{"node.alpha.kubernetes.io/ttl", "0"},
                        {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}};
  n.capacity = kb::Resources{32000, 128LL << 30, 110};
  n.allocatable = kb::Resources{31500, 124LL << 30, 110};
  n.addresses = {{"InternalIP", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)},
                 {"Hostname", name}};
  n.ready = true;
  return n;
}

// What a workload's pods carry for the scheduler's filters: 10% of workloads a required
// anti-affinity on the hostname, 10% a DoNotSchedule zone spread constraint, 10% a PVC bound to a
// local PV (node affinity to the pod's node).
enum class Shape { kPlain, kAntiAffinity, kSpread, kLocalVolume };
Shape ShapeOf(int workload) {
  switch (workload % 10) {
    case 1:
      return Shape::kAntiAffinity;
    case 2:
      return Shape::kSpread;
    case 3:
      return Shape::kLocalVolume;
    default:
      return Shape::kPlain;
  }
}

void AddConstraints(kb::Pod& p, Shape shape) {
  kb::LabelSelector sel;
  sel.match_labels = {{"app", p.meta.labels["app"]}};
  if (shape == Shape::kAntiAffinity) {
    kb::PodAffinityTerm t;
    t.label_selector = sel;
    t.topology_key = "kubernetes.io/hostname";
    p.required_pod_anti_affinity.push_back(std::move(t));
  } else if (shape == Shape::kSpread) {
    kb::TopologySpreadConstraint c;
    c.max_skew = 2;
    c.topology_key = "topology.kubernetes.io/zone";
    c.when_unsatisfiable = "DoNotSchedule";
    c.label_selector = sel;
    p.topology_spread_constraints.push_back(std::move(c));
  }
}

kb::Pod MakePod(int i, const std::string& node, const std::string& ns, const std::string& rs,
                const std::string& rs_uid, const std::string& hash, std::mt19937_64& rng,
                kb::WallTime t0) {
  kb::Pod p;
  p.meta.name = rs + "-" + Hex(rng, 5);
  p.meta.namespace_ = ns;
  p.meta.uid = Uid(rng);
  p.meta.resource_version = std::to_string(100000 + i);
  p.meta.labels = {{"app", rs.substr(0, rs.rfind('-'))}, {"pod-template-hash", hash}};
  p.meta.annotations = {{"kubectl.kubernetes.io/restartedAt", "2026-01-01T00:00:00Z"}};
  p.meta.owner_references = {{"apps/v1", "ReplicaSet", rs, rs_uid, true}};
  p.meta.creation_timestamp = t0 - std::chrono::hours(1 + i % 100);
  p.node_name = node;
  p.scheduler_name = "kube-balancer";  // inside the default scope (schedulerNames)
  p.priority = 0;
  p.tolerations = {{"node.kubernetes.io/not-ready", "Exists", "", "NoExecute"},
                   {"node.kubernetes.io/unreachable", "Exists", "", "NoExecute"}};
  p.volumes = {{"kube-api-access-" + Hex(rng, 5), kb::Volume::Kind::kOther, ""}};
  const int containers = (rng() % 5 == 0) ? 2 : 1;
  for (int c = 0; c < containers; ++c) {
    kb::Container ct;
    ct.name = c == 0 ? "app" : "sidecar";
    ct.requests = {static_cast<int64_t>(100 + rng() % 400),
                   static_cast<int64_t>((128 + rng() % 384)) << 20, 0};
    ct.limits = {ct.requests.cpu_millis * 2, ct.requests.memory_bytes * 2, 0};
    p.containers.push_back(std::move(ct));
  }
  p.phase = "Running";
  for (const char* type : {"Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    p.conditions.push_back({type, "True", t0 - std::chrono::minutes(30)});
  }
  p.start_time = t0 - std::chrono::minutes(30);
  return p;
}

struct Cluster {
  std::shared_ptr<const kb::ClusterSnapshot> cache;
  std::shared_ptr<const kb::scoring::MetricsSnapshot> metrics;
  std::vector<std::string> hot;
  double snapshot_mib = 0;
  double heap_mib = 0;  // malloc'd bytes in use (mallinfo2), without allocator slack
  double build_seconds = 0;
};

Cluster Build(int nodes, int pods, kb::WallTime now) {
  std::mt19937_64 rng(12345);
  Cluster c;
  malloc_trim(0);
  const double rss0 = RssMiB();
  const double heap0 = HeapMiB();
  const auto t0 = SteadyClock::now();
  {
    std::vector<kb::Node> node_list;
    node_list.reserve(static_cast<size_t>(nodes));
    for (int i = 0; i < nodes; ++i) node_list.push_back(MakeNode(i, rng, i == 3 || i == 7));
    // 5% of nodes are crowded (weight 1.6), the rest weight 1.
    std::vector<double> weight(static_cast<size_t>(nodes), 1.0);
    for (int i = 0; i < nodes; i += 20) weight[static_cast<size_t>(i)] = 1.6;
    std::discrete_distribution<int> pick(weight.begin(), weight.end());
    kb::ClusterObjects objects;
    std::vector<kb::Pod>& pod_list = objects.pods;
    pod_list.reserve(static_cast<size_t>(pods));
    int i = 0;
    for (int w = 0; i < pods; ++w) {
      const std::string ns = "team-" + std::to_string(w % 40);
      const std::string rs = "app" + std::to_string(w) + "-" + Hex(rng, 10);
      const std::string rs_uid = Uid(rng);
      const std::string hash = rs.substr(rs.rfind('-') + 1);
      const Shape shape = ShapeOf(w);
      for (int r = 0; r < 5 && i < pods; ++r, ++i) {
        pod_list.push_back(MakePod(i, node_list[static_cast<size_t>(pick(rng))].meta.name, ns, rs,
                                   rs_uid, hash, rng, now));
        kb::Pod& p = pod_list.back();
        AddConstraints(p, shape);
        if (shape != Shape::kLocalVolume) continue;
        kb::PersistentVolumeClaim pvc;
        pvc.meta.name = "data-" + p.meta.name;
        pvc.meta.namespace_ = ns;
        pvc.volume_name = "pv-" + p.meta.uid;
        pvc.storage_class_name = "local-path";
        kb::PersistentVolume pv;
        pv.meta.name = pvc.volume_name;
        pv.storage_class_name = "local-path";
        pv.node_affinity = std::vector<kb::NodeSelectorTerm>{
            {{{"kubernetes.io/hostname", "In", {p.node_name}}}, {}}};
        p.volumes.push_back({"data", kb::Volume::Kind::kPersistentVolumeClaim, pvc.meta.name});
        objects.persistent_volume_claims.push_back(std::move(pvc));
        objects.persistent_volumes.push_back(std::move(pv));
      }
    }
    objects.nodes = std::move(node_list);
    c.cache = kb::BuildSnapshot(objects);
  }
  c.build_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  malloc_trim(0);
  c.snapshot_mib = RssMiB() - rss0;
  c.heap_mib = HeapMiB() - heap0;

  auto m = std::make_shared<kb::scoring::MetricsSnapshot>();
  m->generation = 1;
  m->refreshed_at = now;
  std::uniform_real_distribution<double> usage(30, 60);
  int k = 0;
  for (const auto& [name, node] : *c.cache->nodes) {
    kb::scoring::NodeMetrics nm;
    const bool hot = k++ % 100 == 50;
    nm.cpu_percent = hot ? 92.0 : usage(rng);
    nm.memory_percent = usage(rng);
    nm.cpu_time = now;
    nm.memory_time = now;
    nm.matched_by = "name";
    m->nodes[name] = nm;
    if (hot) c.hot.push_back(name);
  }
  c.metrics = m;
  return c;
}

struct PlanResult {
  size_t moves = 0;
  size_t unmovable = 0;
  std::map<std::string, size_t> moves_by_strategy;
  std::map<std::string, size_t> unmovable_reasons;  // first 40 characters of the reason
};

PlanResult PlanCycle(const std::vector<std::unique_ptr<kb::resched::Strategy>>& strategies,
                     kb::resched::PlanInput input) {
  PlanResult r;
  for (const auto& s : strategies) {
    kb::resched::StrategyPlan plan = s->Plan(input);
    r.moves += plan.moves.size();
    r.unmovable += plan.unmovable.size();
    r.moves_by_strategy[s->Name()] += plan.moves.size();
    for (const auto& u : plan.unmovable) ++r.unmovable_reasons[u.reason.substr(0, 40)];
    for (auto& mv : plan.moves) input.prior_moves.push_back(std::move(mv));
  }
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool RunCase(int nodes, int pods, double target_seconds, double target_mib, int runs) {
  const kb::WallTime now = std::chrono::system_clock::now();
  Cluster c = Build(nodes, pods, now);

  kb::scoring::LoadInputs li;
  li.cache = c.cache;
  li.metrics = c.metrics;
  li.now = now;
  kb::scoring::LoadModelOptions lo;
  lo.metrics_enabled = true;
  const auto tl = SteadyClock::now();
  auto load = kb::scoring::BuildLoadSnapshot(li, lo);
  const double load_seconds = std::chrono::duration<double>(SteadyClock::now() - tl).count();

  kb::Config config;
  kb::resched::PlanInput input;
  input.cache = c.cache;
  input.load = load;
  input.config = config.rescheduler;
  input.policy = kb::scoring::PolicyConfig::From(config);
  input.now = now;
  // The hot nodes' conditions have held for 5 scheduled cycles: this cycle may act on them.
  std::vector<std::string> held;
  for (const std::string& node : c.hot) {
    held.push_back(kb::resched::ConditionKey(kb::kResourceOptimization, "cpu", node));
  }
  kb::resched::MoveLedger ledger(config.rescheduler);
  kb::SteadyTime t{};
  for (int cycle = 0; cycle <= 5; ++cycle, t += config.rescheduler.rescheduling_interval) {
    ledger.BeginCycle(t, kb::resched::CycleKind::kScheduled);
    if (cycle < 5) ledger.ObserveConditions(held);
  }
  input.ledger = &ledger;
  auto strategies = kb::resched::MakeStrategies(config.rescheduler.enabled_strategies);

  std::vector<double> baseline, plan;
  PlanResult result;
  int64_t sink = 0;
  for (int r = 0; r < runs; ++r) {
    const auto b0 = SteadyClock::now();
    int64_t sum = 0;
    for (const auto& [node, list] : *c.cache->pods_by_node) {
      for (const auto& p : *list) {
        if (p->phase == "Running") sum += p->EffectiveRequest().cpu_millis;
      }
    }
    sink += sum;
    baseline.push_back(std::chrono::duration<double>(SteadyClock::now() - b0).count());
    const auto p0 = SteadyClock::now();
    result = PlanCycle(strategies, input);
    plan.push_back(std::chrono::duration<double>(SteadyClock::now() - p0).count());
  }
  const double base = Median(baseline);
  const double med = Median(plan);
  const double worst = *std::max_element(plan.begin(), plan.end());
  std::printf("\n%d nodes / %d pods (%d runs)\n", nodes, pods, runs);
  std::printf("  snapshot build (BuildSnapshot)      %8.3f s\n", c.build_seconds);
  std::printf("  load model build (BuildLoadSnapshot) %8.3f s\n", load_seconds);
  std::printf("  baseline: one pass over all pods    %8.2f ms   (checksum %lld)\n", base * 1e3,
              static_cast<long long>(sink % 1000));
  std::printf("  plan: NM -> RO -> LB, median        %8.2f ms   max %.2f ms   = %.1fx baseline\n",
              med * 1e3, worst * 1e3, base > 0 ? med / base : 0.0);
  std::printf("        moves planned %zu (", result.moves);
  for (const auto& [name, n] : result.moves_by_strategy) std::printf(" %s=%zu", name.c_str(), n);
  std::printf(" ), unmovable listed %zu\n", result.unmovable);
  for (const auto& [reason, n] : result.unmovable_reasons) {
    std::printf("          %4zu x %s...\n", n, reason.c_str());
  }
  const bool time_ok = worst <= target_seconds;
  std::printf("  target plan <= %.1f s: %s\n", target_seconds, time_ok ? "met" : "MISSED");
  bool mem_ok = true;
  std::printf("  snapshot RSS delta                  %8.1f MiB (%.0f bytes/pod incl. nodes)\n",
              c.snapshot_mib, c.snapshot_mib * 1024 * 1024 / pods);
  std::printf("  snapshot heap in use (mallinfo2)    %8.1f MiB\n", c.heap_mib);
  if (target_mib > 0) {
    mem_ok = c.snapshot_mib <= target_mib;
    std::printf("  target snapshot <= %.0f MiB: %s\n", target_mib, mem_ok ? "met" : "MISSED");
  }
  return time_ok && mem_ok;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: resched_bench [--runs N]\n");
      return 2;
    }
  }
  (void)kb::ConfigureLogging("text", 0);
  kb::Logger("rescheduler")->set_level(spdlog::level::warn);
  std::printf("resched_bench: rescheduler planning time and snapshot memory (%ld CPUs)\n",
              sysconf(_SC_NPROCESSORS_ONLN));
  const bool a = RunCase(1000, 65000, 0.1, 0, runs);
  const bool b = RunCase(5000, 150000, 0.5, 400, runs);
  std::printf("\nall targets: %s\n", a && b ? "met" : "MISSED");
  return 0;
}
