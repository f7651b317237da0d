// The planner's target choice with kube-scheduler's filters (scoring/feasibility.h): a pod whose
// local PV pins it is reported unmovable naming VolumeBinding, never planned; required
// anti-affinity holds across the moves planned in one cycle.
#include <catch2/catch.hpp>

#include "rescheduler/strategies.h"
#include "test/rescheduler/resched_test_util.h"

namespace kb::resched {
namespace {

using kb::testing::NodeBuilder;
using test::RsPodBuilder;

PodAffinityTerm AntiTerm(const std::string& key, const std::string& value) {
  PodAffinityTerm t;
  t.label_selector = LabelSelector{};
  t.label_selector->match_labels = {{key, value}};
  t.topology_key = "kubernetes.io/hostname";
  return t;
}

Node Host(const std::string& name, bool maintenance = false) {
  NodeBuilder b(name);
  b.Label("kubernetes.io/hostname", name);
  if (maintenance) b.Maintenance();
  return b.Build();
}

struct Cluster {
  ClusterObjects objects;
  PlanInput Input(const ReschedulerConfig& config) const {
    test::TestCluster tc;
    tc.nodes = objects.nodes;
    tc.pods = objects.pods;
    PlanInput in = tc.Input(config);
    in.cache = BuildSnapshot(objects);
    in.load = tc.Load(in.cache);
    return in;
  }
};

const UnmovablePod* Unmovable(const StrategyPlan& plan, const std::string& pod) {
  for (const UnmovablePod& u : plan.unmovable) {
    if (u.pod->meta.name == pod) return &u;
  }
  return nullptr;
}

TEST_CASE("a pod on a local PV is unmovable with VolumeBinding named, never planned",
          "[rescheduler][feasibility]") {
  Cluster c;
  c.objects.nodes = {Host("m", true), Host("w1"), Host("w2")};
  Pod db0 = RsPodBuilder("db-0", "db", "m").Build();
  db0.volumes.push_back({"data", Volume::Kind::kPersistentVolumeClaim, "data-db-0"});
  c.objects.pods = {db0, RsPodBuilder("db-1", "db", "w1").Build()};
  PersistentVolumeClaim pvc;
  pvc.meta.name = "data-db-0";
  pvc.meta.namespace_ = "default";
  pvc.volume_name = "local-pv-m";
  PersistentVolume pv;
  pv.meta.name = "local-pv-m";
  pv.node_affinity = std::vector<NodeSelectorTerm>{{{{"kubernetes.io/hostname", "In", {"m"}}}, {}}};
  c.objects.persistent_volume_claims = {pvc};
  c.objects.persistent_volumes = {pv};
  const StrategyPlan plan = NodeMaintenance().Plan(c.Input(test::DefaultConfig()));
  CHECK(plan.moves.empty());
  const UnmovablePod* u = Unmovable(plan, "db-0");
  REQUIRE(u != nullptr);
  CHECK(u->report);
  CHECK(u->reason.find("VolumeBinding: node(s) had volume node affinity conflict") !=
        std::string::npos);
}

TEST_CASE("required anti-affinity holds across the moves of one cycle",
          "[rescheduler][feasibility]") {
  Cluster c;
  c.objects.nodes = {Host("m", true), Host("w1"), Host("w2"), Host("w3")};
  // Two workloads on the maintenance node, each refusing to share a node with group=g pods; w3
  // already runs one.
  for (const char* rs : {"a", "b"}) {
    Pod p = RsPodBuilder(std::string(rs) + "-0", rs, "m").Label("group", "g").Build();
    p.required_pod_anti_affinity.push_back(AntiTerm("group", "g"));
    c.objects.pods.push_back(p);
  }
  c.objects.pods.push_back(RsPodBuilder("c-0", "c", "w3").Label("group", "g").Build());
  ReschedulerConfig cfg = test::DefaultConfig();
  cfg.max_reschedule_pods = 10;
  const StrategyPlan plan = NodeMaintenance().Plan(c.Input(cfg));
  REQUIRE(plan.moves.size() == 2);
  CHECK(plan.moves[0].target != plan.moves[1].target);
  for (const PlannedMove& m : plan.moves) CHECK(m.target != "w3");
}

}  // namespace
}  // namespace kb::resched
