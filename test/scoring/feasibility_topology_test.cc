// Table tests of InterPodAffinity and PodTopologySpread in scoring/feasibility.h. Each case names
// the upstream kube-scheduler v1.26 test it mirrors (plugins/interpodaffinity/filtering_test.go,
// plugins/podtopologyspread/filtering_test.go).
#include "test/scoring/feasibility_test_util.h"

namespace kb::scoring {
namespace {

using namespace testutil;  // NOLINT

json Term(const json& selector, const std::string& topology_key, const json& extra = nullptr) {
  json t = {{"labelSelector", selector}, {"topologyKey", topology_key}};
  if (!extra.is_null()) t.merge_patch(extra);
  return t;
}
json InSel(const std::string& key, const std::vector<std::string>& values) {
  return {{"matchExpressions", {{{"key", key}, {"operator", "In"}, {"values", values}}}}};
}
json PodAffinity(const std::vector<json>& affinity, const std::vector<json>& anti = {}) {
  json a = json::object();
  if (!affinity.empty()) {
    a["podAffinity"] = {{"requiredDuringSchedulingIgnoredDuringExecution", json(affinity)}};
  }
  if (!anti.empty()) {
    a["podAntiAffinity"] = {{"requiredDuringSchedulingIgnoredDuringExecution", json(anti)}};
  }
  return {{"spec", {{"affinity", a}}}};
}

struct Placed {
  Pod pod;
  std::string node;
};

Fit Check(const std::vector<Node>& nodes, const std::vector<Placed>& pods, const Pod& pod,
          const std::string& node, FeatureGates gates = {},
          const std::vector<Namespace>& namespaces = {}) {
  ClusterObjects objects;
  objects.nodes = nodes;
  for (const Placed& p : pods) objects.pods.push_back(On(p.pod, p.node));
  objects.namespaces = namespaces;
  return CheckIn(objects, pod, node, gates);
}

const json kSecurityS1 = Labels({{"security", "S1"}});
const json kHostname = Labels({{"kubernetes.io/hostname", "machine1"}});

// TestRequiredAffinitySingleNode.
TEST_CASE("InterPodAffinity on a single node (TestRequiredAffinitySingleNode)", "[feasibility]") {
  const Node m1 = MakeNode("machine1", Labels({{"region", "r1"}, {"zone", "z11"}}));
  const Pod existing = MakePod("e", kSecurityS1);
  const json s1 = InSel("security", {"securityscan", "value2"});
  SECTION(
      "A pod that has no required pod affinity scheduling rules can schedule onto a node "
      "with no existing pods") {
    CHECK(Check({m1}, {}, MakePod("p"), "machine1").ok());
  }
  SECTION(
      "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using In "
      "operator that matches the existing pod") {
    const Pod p = MakePod("p", PodAffinity({Term(InSel("security", {"S1", "value2"}), "region")}));
    CHECK(Check({m1}, {{existing, "machine1"}}, p, "machine1").ok());
  }
  SECTION(
      "satisfies the pod with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity "
      "using not in operator in labelSelector that matches the existing pod") {
    const json sel = {
        {"matchExpressions",
         {{{"key", "security"}, {"operator", "NotIn"}, {"values", json::array({"S3"})}}}}};
    const Pod p = MakePod("p", PodAffinity({Term(sel, "region")}));
    CHECK(Check({m1}, {{existing, "machine1"}}, p, "machine1").ok());
  }
  SECTION("Does not satisfy the PodAffinity with labelSelector because of diff Namespace") {
    const Pod p =
        MakePod("p", PodAffinity({Term(InSel("security", {"S1"}), "region",
                                       {{"namespaces", json::array({"DiffNameSpace"})}})}));
    const Fit f = Check({m1}, {{existing, "machine1"}}, p, "machine1");
    CHECK(f.plugin == FilterPlugin::kInterPodAffinity);
    CHECK(f.reason == FitReason::kAffinityNotMatch);
  }
  SECTION(
      "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the existing "
      "pod") {
    const Pod p = MakePod("p", PodAffinity({Term(InSel("security", {"antivirusscan"}), "region")}));
    CHECK(Check({m1}, {{existing, "machine1"}}, p, "machine1").reason ==
          FitReason::kAffinityNotMatch);
  }
  SECTION(
      "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the existing "
      "pod") {
    const Pod p = MakePod("p", PodAffinity({Term(InSel("security", {"S1"}), "region")},
                                           {Term(InSel("security", {"S1"}), "zone")}));
    CHECK(Check({m1}, {{existing, "machine1"}}, p, "machine1").reason ==
          FitReason::kAntiAffinityNotMatch);
  }
  SECTION(
      "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy PodAntiAffinity "
      "symmetry with the existing pod") {
    const Pod e = MakePod(
        "e", Merge(kSecurityS1, PodAffinity({}, {Term(InSel("security", {"S1"}), "zone")})));
    const Pod p =
        MakePod("p", Merge(kSecurityS1, PodAffinity({Term(InSel("security", {"S1"}), "region")})));
    CHECK(Check({m1}, {{e, "machine1"}}, p, "machine1").reason ==
          FitReason::kExistingAntiAffinityNotMatch);
  }
  SECTION(
      "verify that PodAntiAffinity from existing pod is respected when pod has no "
      "AntiAffinity constraints. satisfy PodAntiAffinity symmetry with the existing pod") {
    const Pod e = MakePod("e", PodAffinity({}, {Term(InSel("security", {"S1"}), "zone")}));
    CHECK(Check({m1}, {{e, "machine1"}}, MakePod("p", Labels({{"security", "S2"}})), "machine1")
              .ok());
  }
  SECTION("pod matches its own Label in PodAffinity and that matches the existing pod Labels") {
    const Pod p = MakePod(
        "p", Merge(kSecurityS1, PodAffinity({Term(InSel("security", {"S2"}), "hostname")})));
    // The existing pod does not match; the pod does not match its own term either.
    CHECK(Check({m1}, {{existing, "machine1"}}, p, "machine1").reason ==
          FitReason::kAffinityNotMatch);
  }
}

// TestRequiredAffinityMultipleNodes.
TEST_CASE("InterPodAffinity across nodes (TestRequiredAffinityMultipleNodes)", "[feasibility]") {
  const Node a = MakeNode("nodeA", Labels({{"region", "r1"}, {"zone", "z1"}}));
  const Node b = MakeNode("nodeB", Labels({{"region", "r1"}, {"zone", "z2"}}));
  const Node c = MakeNode("nodeC", Labels({{"region", "r2"}, {"zone", "z3"}}));
  const Node nolabel = MakeNode("nodeD");
  const Pod foo = MakePod("e", Labels({{"foo", "bar"}}));
  SECTION(
      "A pod can be scheduled onto all the nodes that have the same topology key & label "
      "value with one of them has an existing pod that matches the affinity rules") {
    const Pod p = MakePod("p", PodAffinity({Term(InSel("foo", {"bar"}), "region")}));
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeA").ok());
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeB").ok());
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeC").reason == FitReason::kAffinityNotMatch);
  }
  SECTION(
      "The affinity rule is to schedule all of the pods of this collection to the same zone. "
      "The first pod of the collection should not be blocked from being scheduled onto any "
      "node, even there's no existing pod that matches the rule anywhere.") {
    const Pod p = MakePod(
        "p", Merge(Labels({{"foo", "bar"}}), PodAffinity({Term(InSel("foo", {"bar"}), "zone")})));
    CHECK(Check({a, b, c}, {}, p, "nodeA").ok());
    CHECK(Check({a, b, c}, {}, p, "nodeC").ok());
  }
  SECTION(
      "The first pod of the collection can only be scheduled on nodes labelled with the "
      "requested topology keys") {
    const Pod p = MakePod(
        "p", Merge(Labels({{"foo", "bar"}}), PodAffinity({Term(InSel("foo", {"bar"}), "zone")})));
    CHECK(Check({a, nolabel}, {}, p, "nodeD").reason == FitReason::kAffinityNotMatch);
  }
  SECTION(
      "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that "
      "matches the inter pod affinity rule. The pod can not be scheduled onto nodeA and "
      "nodeB.") {
    const Pod p = MakePod("p", PodAffinity({}, {Term(InSel("foo", {"bar"}), "region")}));
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeA").reason ==
          FitReason::kAntiAffinityNotMatch);
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeB").reason ==
          FitReason::kAntiAffinityNotMatch);
    CHECK(Check({a, b, c}, {{foo, "nodeA"}}, p, "nodeC").ok());
  }
  SECTION(
      "Test existing pod's anti-affinity: incoming pod wouldn't considered as a fit as it "
      "violates each existingPod's terms on all nodes") {
    const Pod e = MakePod("e", PodAffinity({}, {Term(InSel("foo", {"bar"}), "zone")}));
    const Pod p = MakePod("p", Labels({{"foo", "bar"}}));
    CHECK(Check({a, b}, {{e, "nodeA"}}, p, "nodeA").reason ==
          FitReason::kExistingAntiAffinityNotMatch);
    CHECK(Check({a, b}, {{e, "nodeA"}}, p, "nodeB").ok());
  }
}

// TestRequiredAffinitySingleNode namespaceSelector cases.
TEST_CASE("InterPodAffinity namespaces and namespaceSelector", "[feasibility]") {
  const Node n = MakeNode("n1", Labels({{"zone", "z1"}}));
  Namespace team;
  team.meta.name = "subteam";
  team.meta.labels = {{"team", "team1"}};
  Namespace other;
  other.meta.name = "other";
  const Pod e = MakePod("e", Labels({{"foo", "bar"}}), "subteam");
  SECTION("affinity with NamespaceSelector") {
    const Pod p = MakePod(
        "p", PodAffinity({Term(InSel("foo", {"bar"}), "zone",
                               {{"namespaceSelector", {{"matchLabels", {{"team", "team1"}}}}}})}));
    CHECK(Check({n}, {{e, "n1"}}, p, "n1", {}, {team, other}).ok());
  }
  SECTION("affinity with non-matching NamespaceSelector") {
    const Pod p = MakePod(
        "p", PodAffinity({Term(InSel("foo", {"bar"}), "zone",
                               {{"namespaceSelector", {{"matchLabels", {{"team", "team2"}}}}}})}));
    CHECK(Check({n}, {{e, "n1"}}, p, "n1", {}, {team, other}).reason ==
          FitReason::kAffinityNotMatch);
  }
  SECTION("anti-affinity with empty NamespaceSelector (all namespaces)") {
    const Pod p = MakePod("p", PodAffinity({}, {Term(InSel("foo", {"bar"}), "zone",
                                                     {{"namespaceSelector", json::object()}})}));
    CHECK(Check({n}, {{e, "n1"}}, p, "n1", {}, {team, other}).reason ==
          FitReason::kAntiAffinityNotMatch);
  }
  SECTION("a term defaults to the namespace of the pod that holds it") {
    const Pod p = MakePod("p", PodAffinity({}, {Term(InSel("foo", {"bar"}), "zone")}));
    CHECK(Check({n}, {{e, "n1"}}, p, "n1", {}, {team, other}).ok());
  }
}

json Spread(int skew, const std::string& key, const json& selector, const json& extra = nullptr) {
  json c = {{"maxSkew", skew},
            {"topologyKey", key},
            {"whenUnsatisfiable", "DoNotSchedule"},
            {"labelSelector", selector}};
  if (!extra.is_null()) c.merge_patch(extra);
  return c;
}
json Constraints(const std::vector<json>& cs) {
  return {{"spec", {{"topologySpreadConstraints", json(cs)}}}};
}
const json kFooSel = {{"matchExpressions", {{{"key", "foo"}, {"operator", "Exists"}}}}};
const json kFoo = Labels({{"foo", ""}});

// TestSingleConstraint.
TEST_CASE("PodTopologySpread with one constraint (TestSingleConstraint)", "[feasibility]") {
  const Node a = MakeNode("node-a", Labels({{"zone", "zone1"}, {"node", "node-a"}}));
  const Node b = MakeNode("node-b", Labels({{"zone", "zone1"}, {"node", "node-b"}}));
  const Node x = MakeNode("node-x", Labels({{"zone", "zone2"}, {"node", "node-x"}}));
  const Node y = MakeNode("node-y", Labels({{"zone", "zone2"}, {"node", "node-y"}}));
  const std::vector<Node> nodes = {a, b, x, y};
  auto pods = [](const std::vector<std::pair<std::string, int>>& per_node) {
    std::vector<Placed> out;
    int i = 0;
    for (const auto& [node, n] : per_node) {
      for (int k = 0; k < n; ++k) out.push_back({MakePod("p" + std::to_string(i++), kFoo), node});
    }
    return out;
  };
  const Pod zone_pod = MakePod("new", Merge(kFoo, Constraints({Spread(1, "zone", kFooSel)})));
  const Pod node_pod = MakePod("new", Merge(kFoo, Constraints({Spread(1, "node", kFooSel)})));
  SECTION("no existing pods") {
    for (const Node& n : nodes) CHECK(Check(nodes, {}, zone_pod, n.meta.name).ok());
  }
  SECTION("pods spread across zones as 3/3, all nodes fit") {
    const auto existing = pods({{"node-a", 1}, {"node-b", 2}, {"node-x", 2}, {"node-y", 1}});
    for (const Node& n : nodes) CHECK(Check(nodes, existing, zone_pod, n.meta.name).ok());
  }
  SECTION("pods spread across zones as 1/2 due to absence of label 'zone' on node-b") {
    const Node b_nozone = MakeNode("node-b", Labels({{"node", "node-b"}}));
    const std::vector<Node> ns = {a, b_nozone, x, y};
    const auto existing = pods({{"node-a", 1}, {"node-b", 1}, {"node-x", 1}, {"node-y", 1}});
    CHECK(Check(ns, existing, zone_pod, "node-a").ok());
    CHECK(Check(ns, existing, zone_pod, "node-b").reason == FitReason::kSpreadMissingLabel);
    CHECK(Check(ns, existing, zone_pod, "node-x").reason == FitReason::kSpreadSkew);
  }
  SECTION("pods spread across nodes as 2/1/0/3, only node-x fits") {
    const auto existing = pods({{"node-a", 2}, {"node-b", 1}, {"node-y", 3}});
    CHECK(Check(nodes, existing, node_pod, "node-a").reason == FitReason::kSpreadSkew);
    CHECK(Check(nodes, existing, node_pod, "node-b").reason == FitReason::kSpreadSkew);
    CHECK(Check(nodes, existing, node_pod, "node-x").ok());
    CHECK(Check(nodes, existing, node_pod, "node-y").reason == FitReason::kSpreadSkew);
  }
  SECTION("pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit") {
    const Pod p = MakePod("new", Merge(kFoo, Constraints({Spread(2, "node", kFooSel)})));
    const auto existing = pods({{"node-a", 2}, {"node-b", 1}, {"node-y", 3}});
    CHECK_FALSE(Check(nodes, existing, p, "node-a").ok());
    CHECK(Check(nodes, existing, p, "node-b").ok());
    CHECK(Check(nodes, existing, p, "node-x").ok());
    CHECK_FALSE(Check(nodes, existing, p, "node-y").ok());
  }
  SECTION("pods spread across nodes as 2/1/0/3, but pod doesn't match itself") {
    const Pod p = MakePod("new", Labels({{"bar", ""}}));
    const Pod q =
        MakePod("new", Merge(Labels({{"bar", ""}}), Constraints({Spread(1, "node", kFooSel)})));
    const auto existing = pods({{"node-a", 2}, {"node-b", 1}, {"node-y", 3}});
    CHECK(Check(nodes, existing, p, "node-a").ok());
    CHECK_FALSE(Check(nodes, existing, q, "node-a").ok());
    CHECK(Check(nodes, existing, q, "node-b").ok());
    CHECK(Check(nodes, existing, q, "node-x").ok());
  }
  SECTION("incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits") {
    const json aff = {{"spec",
                       {{"affinity",
                         {{"nodeAffinity",
                           {{"requiredDuringSchedulingIgnoredDuringExecution",
                             {{"nodeSelectorTerms",
                               {{{"matchExpressions",
                                  {{{"key", "node"},
                                    {"operator", "In"},
                                    {"values", {"node-a", "node-y"}}}}}}}}}}}}}}}}};
    const Pod p =
        MakePod("new", Merge(Merge(kFoo, Constraints({Spread(1, "node", kFooSel)})), aff));
    const auto existing = pods({{"node-a", 2}, {"node-b", 1}, {"node-y", 3}});
    CHECK(Check(nodes, existing, p, "node-a").ok());
    CHECK(Check(nodes, existing, p, "node-y").reason == FitReason::kSpreadSkew);
  }
  SECTION("terminating Pods should be excluded") {
    std::vector<Placed> existing = pods({{"node-a", 1}});
    existing[0].pod.meta.deletion_timestamp = kb::testing::TestTime();
    CHECK(Check({a, b}, existing, node_pod, "node-a").ok());
  }
  SECTION("existing pods in a different namespace do not count") {
    const std::vector<Placed> existing = {{MakePod("o", kFoo, "ns2"), "node-a"},
                                          {MakePod("o2", kFoo, "ns2"), "node-a"}};
    CHECK(Check({a, b}, existing, node_pod, "node-a").ok());
  }
}

// TestSingleConstraint minDomains cases (MinDomainsInPodTopologySpread enabled) and
// NodeInclusionPolicy cases.
TEST_CASE("PodTopologySpread minDomains and inclusion policies and matchLabelKeys",
          "[feasibility]") {
  const Node a = MakeNode("node-a", Labels({{"zone", "zone1"}, {"node", "node-a"}}));
  const Node b = MakeNode("node-b", Labels({{"zone", "zone1"}, {"node", "node-b"}}));
  const Node x = MakeNode("node-x", Labels({{"zone", "zone2"}, {"node", "node-x"}}));
  std::vector<Placed> existing;
  for (int i = 0; i < 2; ++i)
    existing.push_back({MakePod("a" + std::to_string(i), kFoo), "node-a"});
  for (int i = 0; i < 2; ++i)
    existing.push_back({MakePod("b" + std::to_string(i), kFoo), "node-b"});
  existing.push_back({MakePod("x0", kFoo), "node-x"});
  const Pod p =
      MakePod("new", Merge(kFoo, Constraints({Spread(1, "node", kFooSel, {{"minDomains", 4}})})));
  FeatureGates gates;
  gates.min_domains_in_pod_topology_spread = true;
  SECTION(
      "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < "
      "minDomains, then the third node fits") {
    const Pod p2 =
        MakePod("new", Merge(kFoo, Constraints({Spread(2, "node", kFooSel, {{"minDomains", 4}})})));
    CHECK_FALSE(Check({a, b, x}, existing, p2, "node-a", gates).ok());
    CHECK(Check({a, b, x}, existing, p2, "node-x", gates).ok());
  }
  SECTION("minDomains is ignored with the v1.26 default gates") {
    // Without the gate the global minimum is 1: node-x (1 + 1 - 1 = 1) fits, node-a does not.
    CHECK_FALSE(Check({a, b, x}, existing, p, "node-a").ok());
    CHECK(Check({a, b, x}, existing, p, "node-x").ok());
    const Pod q =
        MakePod("new", Merge(kFoo, Constraints({Spread(1, "node", kFooSel, {{"minDomains", 4}})})));
    std::vector<Placed> three = existing;
    three.push_back({MakePod("x1", kFoo), "node-x"});  // 2/2/2
    CHECK(Check({a, b, x}, three, q, "node-a").ok());
    CHECK_FALSE(Check({a, b, x}, three, q, "node-a", gates).ok());  // min forced to 0
  }
  SECTION("NodeTaintsPolicy honored / ignored") {
    const Node tainted = MakeNode(
        "node-x",
        Merge(
            Labels({{"zone", "zone2"}, {"node", "node-x"}}),
            {{"spec", {{"taints", {{{"key", "k"}, {"value", "v"}, {"effect", "NoSchedule"}}}}}}}));
    std::vector<Placed> two = {{MakePod("a0", kFoo), "node-a"}, {MakePod("b0", kFoo), "node-b"}};
    const Pod ignore = MakePod("new", Merge(kFoo, Constraints({Spread(1, "node", kFooSel)})));
    const Pod honor = MakePod(
        "new",
        Merge(kFoo, Constraints({Spread(1, "node", kFooSel, {{"nodeTaintsPolicy", "Honor"}})})));
    // Ignore (default): node-x is a domain with 0 pods, so node-a (1 + 1 - 0) is out.
    CHECK_FALSE(Check({a, b, tainted}, two, ignore, "node-a").ok());
    // Honor: the tainted node is no domain; the minimum is 1 and node-a fits.
    CHECK(Check({a, b, tainted}, two, honor, "node-a").ok());
  }
  SECTION("NodeAffinityPolicy ignored with nodeSelector") {
    std::vector<Placed> two = {{MakePod("a0", kFoo), "node-a"}, {MakePod("b0", kFoo), "node-b"}};
    const json sel = {{"spec", {{"nodeSelector", {{"zone", "zone1"}}}}}};
    const Pod honor =
        MakePod("new", Merge(Merge(kFoo, Constraints({Spread(1, "node", kFooSel)})), sel));
    const Pod ignore =
        MakePod("new", Merge(Merge(kFoo, Constraints({Spread(1, "node", kFooSel,
                                                             {{"nodeAffinityPolicy", "Ignore"}})})),
                             sel));
    CHECK(Check({a, b, x}, two, honor, "node-a").ok());
    CHECK_FALSE(Check({a, b, x}, two, ignore, "node-a").ok());
  }
  SECTION("matchLabelKeys ANDed with LabelSelector (gate on) and ignored (v1.26 default)") {
    std::vector<Placed> two = {{MakePod("a0", Labels({{"foo", ""}, {"rev", "1"}})), "node-a"},
                               {MakePod("a1", Labels({{"foo", ""}, {"rev", "1"}})), "node-a"}};
    const Pod q =
        MakePod("new", Merge(Labels({{"foo", ""}, {"rev", "2"}}),
                             Constraints({Spread(1, "node", kFooSel,
                                                 {{"matchLabelKeys", json::array({"rev"})}})})));
    FeatureGates keys;
    keys.match_label_keys_in_pod_topology_spread = true;
    CHECK(Check({a, b}, two, q, "node-a", keys).ok());
    CHECK_FALSE(Check({a, b}, two, q, "node-a").ok());
  }
}

TEST_CASE("ClusterState Move counts planned moves for ports and anti-affinity", "[feasibility]") {
  ClusterObjects objects;
  objects.nodes = {MakeNode("n1", Labels({{"kubernetes.io/hostname", "n1"}})),
                   MakeNode("n2", Labels({{"kubernetes.io/hostname", "n2"}})),
                   MakeNode("n3", Labels({{"kubernetes.io/hostname", "n3"}}))};
  const json anti = PodAffinity({}, {Term(InSel("app", {"web"}), "kubernetes.io/hostname")});
  const Pod w1 = On(MakePod("w1", Merge(Labels({{"app", "web"}}), anti)), "n1");
  const Pod w2 = On(MakePod("w2", Merge(Labels({{"app", "web"}}), anti)), "n2");
  objects.pods = {w1, w2};
  ClusterState state(BuildSnapshot(objects));
  CheckOptions moving;
  moving.moving = true;
  // w1 may move to n3, not to n2.
  CHECK(state.Check(w1, "n3", moving).ok());
  CHECK(state.Check(w1, "n2", moving).reason == FitReason::kAntiAffinityNotMatch);
  // After w1 is planned onto n3, w2 cannot follow it there, but may take n1.
  state.Move(std::make_shared<Pod>(w1), "n1", "n3");
  CHECK(state.Check(w2, "n3", moving).reason == FitReason::kAntiAffinityNotMatch);
  CHECK(state.Check(w2, "n1", moving).ok());
  // A host port taken by a planned move.
  const Pod hp = On(MakePod("hp", Ports({"TCP/0.0.0.0/80"})), "n1");
  state.Move(std::make_shared<Pod>(hp), "", "n2");
  CHECK(state.Check(MakePod("hp2", Ports({"TCP/0.0.0.0/80"})), "n2").reason ==
        FitReason::kHostPortConflict);
}

}  // namespace
}  // namespace kb::scoring
