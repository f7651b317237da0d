// Randomized differential test: the product's predicate module (scoring/feasibility.h, over the
// decoded model) against kube-sim's independent oracle (sim/scheduler_filters.h, over the raw
// JSON), on random clusters that exercise every filter plugin. Both must name the same first
// failing plugin with the same reason text for every pod / node pair. The seed is printed on a
// failure; KB_DIFF_SEED=<n> replays it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/cluster_snapshot.h"
#include "scoring/feasibility.h"
#include "sim/scheduler_filters.h"

namespace kb {
namespace {

using nlohmann::json;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

 private:
  std::mt19937_64 rng_;
};

const std::vector<std::string> kApps = {"web", "db", "cache"};
const std::vector<std::string> kZones = {"z1", "z2", "z3"};
const std::vector<std::string> kNamespaces = {"ns1", "ns2", "ns3"};  // ns3 has no object

json RandomSelector(Gen& g) {
  if (g.Chance(5)) return nullptr;
  if (g.Chance(5)) return json::object();
  json s = json::object();
  if (g.Chance(60)) s["matchLabels"] = {{"app", g.Pick(kApps)}};
  if (g.Chance(40)) {
    const std::vector<std::string> ops = {"In", "NotIn", "Exists", "DoesNotExist"};
    const std::string op = g.Pick(ops);
    json e = {{"key", g.Chance(70) ? "app" : "tier"}, {"operator", op}};
    if (op == "In" || op == "NotIn") e["values"] = {g.Pick(kApps), "fe"};
    s["matchExpressions"] = {e};
  }
  return s;
}

json RandomRequirement(Gen& g) {
  const std::vector<std::string> ops = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};
  const std::string op = g.Pick(ops);
  json e = {{"operator", op}};
  if (op == "Gt" || op == "Lt") {
    e["key"] = "cores";
    e["values"] = {std::to_string(g.Int(1, 16))};
    if (g.Chance(5)) e["values"] = {"x"};
  } else {
    e["key"] = g.Chance(50) ? "zone" : "disk";
    if (op == "In" || op == "NotIn") e["values"] = {g.Pick(kZones), "ssd"};
    if (g.Chance(5)) e["values"] = {"z1"};  // invalid for Exists / DoesNotExist
  }
  return e;
}

json RandomTerm(Gen& g, int nodes) {
  json t = json::object();
  if (g.Chance(80)) t["matchExpressions"] = {RandomRequirement(g)};
  if (g.Chance(20)) {
    t["matchFields"] = {{{"key", "metadata.name"},
                         {"operator", g.Chance(50) ? "In" : "NotIn"},
                         {"values", {"n" + std::to_string(g.Int(0, nodes - 1))}}}};
  }
  return t;
}

json RandomAffinityTerm(Gen& g) {
  json t = {{"labelSelector", RandomSelector(g)},
            {"topologyKey", g.Chance(50) ? "kubernetes.io/hostname" : "zone"}};
  if (g.Chance(20)) t["namespaces"] = {g.Pick(kNamespaces)};
  if (g.Chance(20)) {
    t["namespaceSelector"] = g.Chance(30) ? json::object() : json{{"matchLabels", {{"team", "a"}}}};
  }
  return t;
}

json Container(Gen& g, bool ports) {
  json req = json::object();
  if (g.Chance(80)) req["cpu"] = std::to_string(g.Int(0, 1500)) + "m";
  if (g.Chance(70)) req["memory"] = std::to_string(g.Int(0, 3)) + "Gi";
  if (g.Chance(15)) req["ephemeral-storage"] = std::to_string(g.Int(0, 10)) + "Gi";
  if (g.Chance(15)) req["example.com/gpu"] = std::to_string(g.Int(0, 2));
  if (g.Chance(3)) req["hugepages-2Mi"] = "2Mi";
  json c = {{"name", "c"}, {"resources", {{"requests", req}}}};
  if (ports && g.Chance(25)) {
    json p = {{"containerPort", 80}, {"hostPort", g.Chance(50) ? 80 : 8080}};
    if (g.Chance(50)) p["protocol"] = g.Chance(50) ? "TCP" : "UDP";
    if (g.Chance(40)) p["hostIP"] = g.Chance(50) ? "10.0.0.1" : "0.0.0.0";
    c["ports"] = {p};
  }
  return c;
}

json RandomPodSpec(Gen& g, int nodes, bool incoming) {
  json spec = {{"containers", json::array()}};
  for (int i = 0, n = g.Int(1, 2); i < n; ++i) spec["containers"].push_back(Container(g, true));
  if (g.Chance(20)) spec["initContainers"] = {Container(g, false)};
  if (g.Chance(10)) spec["overhead"] = {{"cpu", "100m"}, {"memory", "128Mi"}};
  if (g.Chance(25)) {
    json tol = json::array();
    const std::vector<std::string> keys = {"dedicated", "node.kubernetes.io/unschedulable", ""};
    json t = {{"key", g.Pick(keys)}, {"operator", g.Chance(50) ? "Exists" : "Equal"}};
    if (t["key"] == "") t["operator"] = "Exists";
    if (t["operator"] == "Equal") t["value"] = g.Chance(50) ? "gpu" : "";
    if (g.Chance(50)) t["effect"] = g.Chance(50) ? "NoSchedule" : "NoExecute";
    tol.push_back(t);
    spec["tolerations"] = tol;
  }
  json affinity = json::object();
  if (incoming && g.Chance(20)) spec["nodeSelector"] = {{"zone", g.Pick(kZones)}};
  if (incoming && g.Chance(25)) {
    json terms = json::array();
    for (int i = 0, n = g.Int(0, 2); i < n; ++i) terms.push_back(RandomTerm(g, nodes));
    affinity["nodeAffinity"] = {
        {"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", terms}}}};
  }
  if (g.Chance(incoming ? 25 : 15)) {
    affinity["podAntiAffinity"] = {
        {"requiredDuringSchedulingIgnoredDuringExecution", {RandomAffinityTerm(g)}}};
  }
  if (incoming && g.Chance(20)) {
    json terms = {RandomAffinityTerm(g)};
    if (g.Chance(20)) terms.push_back(RandomAffinityTerm(g));
    affinity["podAffinity"] = {{"requiredDuringSchedulingIgnoredDuringExecution", terms}};
  }
  if (!affinity.empty()) spec["affinity"] = affinity;
  if (incoming && g.Chance(30)) {
    json c = {{"maxSkew", g.Int(1, 2)},
              {"topologyKey", g.Chance(50) ? "zone" : "kubernetes.io/hostname"},
              {"whenUnsatisfiable", g.Chance(85) ? "DoNotSchedule" : "ScheduleAnyway"},
              {"labelSelector", RandomSelector(g)}};
    if (g.Chance(25)) c["minDomains"] = g.Int(1, 4);
    if (g.Chance(20)) c["nodeAffinityPolicy"] = g.Chance(50) ? "Honor" : "Ignore";
    if (g.Chance(20)) c["nodeTaintsPolicy"] = g.Chance(50) ? "Honor" : "Ignore";
    if (g.Chance(20)) c["matchLabelKeys"] = {"tier"};
    spec["topologySpreadConstraints"] = {c};
  }
  if (g.Chance(20)) {
    json vols = json::array();
    vols.push_back(
        {{"name", "v"},
         {"persistentVolumeClaim", {{"claimName", "pvc" + std::to_string(g.Int(0, 4))}}}});
    spec["volumes"] = vols;
  }
  if (incoming && g.Chance(5)) spec["nodeName"] = "n" + std::to_string(g.Int(0, nodes - 1));
  return spec;
}

json RandomPod(Gen& g, const std::string& name, int nodes, bool incoming) {
  json labels = {{"app", g.Pick(kApps)}};
  if (g.Chance(50)) labels["tier"] = g.Chance(50) ? "fe" : "be";
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", name},
                {"namespace", g.Pick(kNamespaces)},
                {"uid", "uid-" + name},
                {"labels", labels}}},
              {"spec", RandomPodSpec(g, nodes, incoming)},
              {"status", {{"phase", incoming ? "Pending" : "Running"}}}};
  if (!incoming && g.Chance(5)) pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  if (!incoming && g.Chance(5)) pod["status"]["phase"] = "Succeeded";
  return pod;
}

json RandomNode(Gen& g, int i) {
  const std::string name = "n" + std::to_string(i);
  json labels = {{"kubernetes.io/hostname", name}};
  if (g.Chance(85)) labels["zone"] = g.Pick(kZones);
  if (g.Chance(30)) labels["topology.kubernetes.io/zone"] = g.Pick(kZones);
  if (g.Chance(40)) labels["disk"] = "ssd";
  if (g.Chance(50)) labels["cores"] = std::to_string(g.Int(1, 16));
  json alloc = {{"cpu", std::to_string(g.Int(1, 4))},
                {"memory", std::to_string(g.Int(2, 8)) + "Gi"},
                {"pods", std::to_string(g.Int(1, 8))}};
  if (g.Chance(60)) alloc["ephemeral-storage"] = std::to_string(g.Int(5, 30)) + "Gi";
  if (g.Chance(40)) alloc["example.com/gpu"] = std::to_string(g.Int(0, 3));
  json spec = json::object();
  if (g.Chance(10)) spec["unschedulable"] = true;
  if (g.Chance(20)) {
    spec["taints"] = {{{"key", "dedicated"},
                       {"value", g.Chance(50) ? "gpu" : ""},
                       {"effect", g.Pick(std::vector<std::string>{"NoSchedule", "NoExecute",
                                                                  "PreferNoSchedule"})}}};
  }
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"labels", labels}}},
          {"spec", spec},
          {"status",
           {{"allocatable", alloc},
            {"capacity", alloc},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

struct RandomCluster {
  std::vector<json> nodes, pods, pvcs, pvs, classes, namespaces;
  json incoming;
  scoring::FeatureGates gates;
};

void AddVolumes(Gen& g, int nodes, RandomCluster* c) {
  c->classes.push_back({{"metadata", {{"name", "wait"}}},
                        {"provisioner", "example.com/csi"},
                        {"volumeBindingMode", "WaitForFirstConsumer"},
                        {"allowedTopologies",
                         {{{"matchLabelExpressions", {{{"key", "zone"}, {"values", {"z1"}}}}}}}}});
  c->classes.push_back({{"metadata", {{"name", "local"}}},
                        {"provisioner", "kubernetes.io/no-provisioner"},
                        {"volumeBindingMode", "WaitForFirstConsumer"}});
  c->classes.push_back({{"metadata", {{"name", "fast"}}}, {"provisioner", "example.com/csi"}});
  for (int i = 0; i < 5; ++i) {
    if (g.Chance(15)) continue;  // a missing claim
    const std::string name = "pvc" + std::to_string(i);
    for (const std::string& ns : kNamespaces) {
      json pvc = {{"metadata", {{"name", name}, {"namespace", ns}}}, {"spec", json::object()}};
      const int kind = g.Int(0, 3);
      if (kind == 0 || kind == 1) {
        pvc["spec"]["volumeName"] = "pv-" + ns + "-" + name;
        if (g.Chance(90)) {
          json pv = {{"metadata", {{"name", "pv-" + ns + "-" + name}}},
                     {"spec", {{"storageClassName", "local"}}},
                     {"status", {{"phase", "Bound"}}}};
          if (kind == 0) {
            pv["spec"]["nodeAffinity"] = {
                {"required",
                 {{"nodeSelectorTerms",
                   {{{"matchExpressions",
                      {{{"key", "kubernetes.io/hostname"},
                        {"operator", "In"},
                        {"values", {"n" + std::to_string(g.Int(0, nodes - 1))}}}}}}}}}}};
          }
          if (g.Chance(40)) {
            pv["metadata"]["labels"] = {
                {"topology.kubernetes.io/zone", g.Chance(30) ? "z1__z2" : g.Pick(kZones)}};
          }
          c->pvs.push_back(pv);
        }
      } else {
        pvc["spec"]["storageClassName"] = g.Pick(std::vector<std::string>{"wait", "local", "fast"});
      }
      if (g.Chance(3)) pvc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
      c->pvcs.push_back(pvc);
    }
  }
  if (g.Chance(50)) {  // an Available local PV
    c->pvs.push_back(
        {{"metadata", {{"name", "avail"}}},
         {"spec",
          {{"storageClassName", "local"},
           {"nodeAffinity",
            {{"required",
              {{"nodeSelectorTerms",
                {{{"matchExpressions",
                   {{{"key", "kubernetes.io/hostname"},
                     {"operator", "In"},
                     {"values", {"n" + std::to_string(g.Int(0, nodes - 1))}}}}}}}}}}}}}},
         {"status", {{"phase", "Available"}}}});
  }
}

RandomCluster MakeCluster(Gen& g) {
  RandomCluster c;
  const int nodes = g.Int(2, 5);
  for (int i = 0; i < nodes; ++i) c.nodes.push_back(RandomNode(g, i));
  for (int i = 0, n = g.Int(0, 10); i < n; ++i) {
    json p = RandomPod(g, "e" + std::to_string(i), nodes, false);
    p["spec"]["nodeName"] = "n" + std::to_string(g.Int(0, nodes - 1));
    p["spec"].erase("volumes");
    c.pods.push_back(p);
  }
  c.namespaces.push_back({{"metadata", {{"name", "ns1"}, {"labels", {{"team", "a"}}}}}});
  c.namespaces.push_back({{"metadata", {{"name", "ns2"}, {"labels", {{"team", "b"}}}}}});
  AddVolumes(g, nodes, &c);
  c.incoming = RandomPod(g, "incoming", nodes, true);
  c.gates.min_domains_in_pod_topology_spread = g.Chance(30);
  c.gates.match_label_keys_in_pod_topology_spread = g.Chance(30);
  return c;
}

template <class T, class Fn>
std::vector<T> DecodeAll(const std::vector<json>& in, Fn decode) {
  std::vector<T> out;
  for (const json& j : in) {
    StatusOr<T> v = decode(j);
    REQUIRE(v.ok());
    out.push_back(*v);
  }
  return out;
}

// The product's verdicts per node: "<plugin>|<reason>" ("" when the pod fits).
std::vector<std::string> Product(const RandomCluster& c) {
  ClusterObjects o;
  o.nodes = DecodeAll<Node>(c.nodes, DecodeNode);
  o.pods = DecodeAll<Pod>(c.pods, DecodePod);
  o.persistent_volume_claims =
      DecodeAll<PersistentVolumeClaim>(c.pvcs, DecodePersistentVolumeClaim);
  o.persistent_volumes = DecodeAll<PersistentVolume>(c.pvs, DecodePersistentVolume);
  o.storage_classes = DecodeAll<StorageClass>(c.classes, DecodeStorageClass);
  o.namespaces = DecodeAll<Namespace>(c.namespaces, DecodeNamespace);
  StatusOr<Pod> pod = DecodePod(c.incoming);
  REQUIRE(pod.ok());
  scoring::ClusterState state(BuildSnapshot(o), c.gates);
  const auto prepared = state.Prepare(*pod);
  std::vector<std::string> out;
  for (const Node& n : o.nodes) {
    const scoring::Fit f = state.Check(*prepared, n.meta.name);
    out.push_back(f.ok() ? "" : std::string(scoring::FilterPluginName(f.plugin)) + "|" + f.message);
  }
  return out;
}

std::vector<std::string> Oracle(const RandomCluster& c) {
  std::vector<sim::NodeInfo> infos;
  for (const json& n : c.nodes) infos.emplace_back(n);
  for (const json& p : c.pods) {
    const std::string phase = p["status"]["phase"].get<std::string>();
    if (phase == "Succeeded" || phase == "Failed") continue;
    for (sim::NodeInfo& n : infos) {
      if (n.name == p["spec"]["nodeName"].get<std::string>()) n.AddPod(p);
    }
  }
  sim::ClusterView view;
  for (const sim::NodeInfo& n : infos) view.nodes.push_back(&n);
  for (const json& o : c.pvcs) {
    view.pvcs[o["metadata"]["namespace"].get<std::string>() + "/" +
              o["metadata"]["name"].get<std::string>()] = &o;
  }
  auto name = [](const json& o) { return o["metadata"]["name"].get<std::string>(); };
  for (const json& o : c.pvs) view.pvs[name(o)] = &o;
  for (const json& o : c.classes) view.storage_classes[name(o)] = &o;
  for (const json& o : c.namespaces) view.namespaces[name(o)] = &o;
  view.gates.min_domains = c.gates.min_domains_in_pod_topology_spread;
  view.gates.match_label_keys = c.gates.match_label_keys_in_pod_topology_spread;
  std::vector<std::string> out;
  for (const sim::NodeInfo& n : infos) {
    const sim::FilterVerdict v = sim::RunFilters(c.incoming, n, view);
    out.push_back(v.ok() ? "" : v.plugin + "|" + v.reason);
  }
  return out;
}

std::string PluginOf(const std::string& verdict) {
  return verdict.empty() ? "fits" : verdict.substr(0, verdict.find('|'));
}

TEST_CASE("product predicates agree with kube-sim's oracle on random clusters", "[differential]") {
  uint64_t seed = 20260101;
  if (const char* env = std::getenv("KB_DIFF_SEED")) seed = std::strtoull(env, nullptr, 10);
  constexpr int kClusters = 10000;      // ~35,000 pod/node pairs
  std::map<std::string, int> outcomes;  // plugin (or "fits") -> pod/node pairs
  size_t pairs = 0;
  for (int i = 0; i < kClusters; ++i) {
    const uint64_t case_seed = seed * 1000003 + static_cast<uint64_t>(i);
    Gen g(case_seed);
    const RandomCluster c = MakeCluster(g);
    const std::vector<std::string> product = Product(c);
    const std::vector<std::string> oracle = Oracle(c);
    for (size_t n = 0; n < product.size(); ++n) {
      INFO("seed " << seed << " case " << i << " (case seed " << case_seed << ") node n" << n
                   << "\nincoming pod: " << c.incoming.dump() << "\nnode: " << c.nodes[n].dump()
                   << "\n"
                   << c.pods.size() << " pods");
      REQUIRE(product[n] == oracle[n]);
      ++outcomes[PluginOf(product[n])];
      ++pairs;
    }
  }
  INFO("outcomes over " << pairs << " pod/node pairs");
  CHECK(pairs >= 10000);
  for (const char* plugin : {"fits", "NodeUnschedulable", "NodeName", "TaintToleration",
                             "NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeBinding",
                             "VolumeZone", "PodTopologySpread", "InterPodAffinity"}) {
    INFO(plugin);
    CHECK(outcomes[plugin] > 0);
  }
  for (const auto& [plugin, n] : outcomes) WARN(plugin << ": " << n);
}

}  // namespace
}  // namespace kb
