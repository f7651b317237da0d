// Table tests of the node-local filters of scoring/feasibility.h. Each case names the upstream
// kube-scheduler v1.26 test it mirrors (pkg/scheduler/framework/plugins/<plugin>/*_test.go).
#include "test/scoring/feasibility_test_util.h"

namespace kb::scoring {
namespace {

using namespace testutil;  // NOLINT

struct Case {
  const char* name;  // the upstream case name
  Pod pod;
  std::vector<Pod> existing;  // on node "n1"
  Node node;
  FilterPlugin plugin;
  FitReason reason;
};

void Run(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      ClusterObjects objects;
      objects.nodes.push_back(c.node);
      for (const Pod& p : c.existing) objects.pods.push_back(On(p, c.node.meta.name));
      const Fit f = CheckIn(objects, c.pod, c.node.meta.name);
      CHECK(FilterPluginName(f.plugin) == std::string(FilterPluginName(c.plugin)));
      CHECK(FitReasonName(f.reason) == std::string(FitReasonName(c.reason)));
      CHECK(f.ok() == (c.plugin == FilterPlugin::kNone));
    }
  }
}

constexpr FilterPlugin kOk = FilterPlugin::kNone;
constexpr FitReason kFits = FitReason::kNone;

// nodeunschedulable/node_unschedulable_test.go TestNodeUnschedulable.
TEST_CASE("NodeUnschedulable (TestNodeUnschedulable)", "[feasibility]") {
  const json tolerate = {{"spec",
                          {{"tolerations",
                            {{{"key", "node.kubernetes.io/unschedulable"},
                              {"operator", "Exists"},
                              {"effect", "NoSchedule"}}}}}}};
  const json cordoned = {{"spec", {{"unschedulable", true}}}};
  Run({
      {"Does not schedule pod to unschedulable node (node.Spec.Unschedulable==true)",
       MakePod("p"),
       {},
       MakeNode("n1", cordoned),
       FilterPlugin::kNodeUnschedulable,
       FitReason::kNodeUnschedulable},
      {"Schedule pod to normal node", MakePod("p"), {}, MakeNode("n1"), kOk, kFits},
      {"Schedule pod with toleration to unschedulable node (node.Spec.Unschedulable==true)",
       MakePod("p", tolerate),
       {},
       MakeNode("n1", cordoned),
       kOk,
       kFits},
  });
}

// nodename/node_name_test.go TestNodeName.
TEST_CASE("NodeName (TestNodeName)", "[feasibility]") {
  Run({
      {"no host specified", MakePod("p"), {}, MakeNode("foo"), kOk, kFits},
      {"host matches",
       MakePod("p", {{"spec", {{"nodeName", "foo"}}}}),
       {},
       MakeNode("foo"),
       kOk,
       kFits},
      {"host doesn't match",
       MakePod("p", {{"spec", {{"nodeName", "bar"}}}}),
       {},
       MakeNode("foo"),
       FilterPlugin::kNodeName,
       FitReason::kNodeNameMismatch},
  });
}

json Taints(const json& taints) { return {{"spec", {{"taints", taints}}}}; }
json Tolerations(const json& t) { return {{"spec", {{"tolerations", t}}}}; }

// tainttoleration/taint_toleration_test.go TestTaintTolerationFilter.
TEST_CASE("TaintToleration (TestTaintTolerationFilter)", "[feasibility]") {
  const json dedicated_user1 =
      Taints({{{"key", "dedicated"}, {"value", "user1"}, {"effect", "NoSchedule"}}});
  const json tol_user1 =
      Tolerations({{{"key", "dedicated"}, {"value", "user1"}, {"effect", "NoSchedule"}}});
  const json tol_user2 = Tolerations({{{"key", "dedicated"},
                                       {"operator", "Equal"},
                                       {"value", "user2"},
                                       {"effect", "NoSchedule"}}});
  const json foo_bar = Taints({{{"key", "foo"}, {"value", "bar"}, {"effect", "NoSchedule"}}});
  Run({
      {"A pod having no tolerations can't be scheduled onto a node with nonempty taints",
       MakePod("p"),
       {},
       MakeNode("n1", dedicated_user1),
       FilterPlugin::kTaintToleration,
       FitReason::kUntoleratedTaint},
      {"A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
       MakePod("p", tol_user1),
       {},
       MakeNode("n1", dedicated_user1),
       kOk,
       kFits},
      {"A pod which can't be scheduled on a dedicated node assigned to user2 with effect "
       "NoSchedule",
       MakePod("p", tol_user2),
       {},
       MakeNode("n1", dedicated_user1),
       FilterPlugin::kTaintToleration,
       FitReason::kUntoleratedTaint},
      {"A pod can be scheduled onto the node, with a toleration uses operator Exists that "
       "tolerates the taints on the node",
       MakePod("p",
               Tolerations({{{"key", "foo"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}})),
       {},
       MakeNode("n1", foo_bar),
       kOk,
       kFits},
      {"A pod has multiple tolerations, node has multiple taints, all the taints are tolerated, "
       "pod can be scheduled onto the node",
       MakePod("p",
               Tolerations({{{"key", "dedicated"},
                             {"operator", "Equal"},
                             {"value", "user2"},
                             {"effect", "NoSchedule"}},
                            {{"key", "foo"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}})),
       {},
       MakeNode("n1", Taints({{{"key", "dedicated"}, {"value", "user2"}, {"effect", "NoSchedule"}},
                              {{"key", "foo"}, {"value", "bar"}, {"effect", "NoSchedule"}}})),
       kOk,
       kFits},
      {"A pod has a toleration that keys and values match the taint on the node, but (non-empty) "
       "effect doesn't match, can't be scheduled onto the node",
       MakePod("p", Tolerations({{{"key", "foo"},
                                  {"operator", "Equal"},
                                  {"value", "bar"},
                                  {"effect", "PreferNoSchedule"}}})),
       {},
       MakeNode("n1", foo_bar),
       FilterPlugin::kTaintToleration,
       FitReason::kUntoleratedTaint},
      {"The pod has a toleration that keys and values match the taint on the node, the effect of "
       "toleration is empty, and the effect of taint is NoSchedule. Pod can be scheduled onto the "
       "node",
       MakePod("p", Tolerations({{{"key", "foo"}, {"operator", "Equal"}, {"value", "bar"}}})),
       {},
       MakeNode("n1", foo_bar),
       kOk,
       kFits},
      {"The pod has a toleration that key and value don't match the taint on the node, but the "
       "effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node",
       MakePod("p", Tolerations({{{"key", "dedicated"},
                                  {"operator", "Equal"},
                                  {"value", "user2"},
                                  {"effect", "NoSchedule"}}})),
       {},
       MakeNode(
           "n1",
           Taints({{{"key", "dedicated"}, {"value", "user1"}, {"effect", "PreferNoSchedule"}}})),
       kOk,
       kFits},
      {"The pod has no toleration, but the effect of taint on node is PreferNoSchedule. Pod can "
       "be scheduled onto the node",
       MakePod("p"),
       {},
       MakeNode(
           "n1",
           Taints({{{"key", "dedicated"}, {"value", "user1"}, {"effect", "PreferNoSchedule"}}})),
       kOk,
       kFits},
      {"NoExecute taints are filtered too (DoNotScheduleTaintsFilterFunc)",
       MakePod("p"),
       {},
       MakeNode("n1", Taints({{{"key", "k"}, {"value", "v"}, {"effect", "NoExecute"}}})),
       FilterPlugin::kTaintToleration,
       FitReason::kUntoleratedTaint},
  });
}

json Affinity(const std::vector<json>& term_list) {
  const json terms = term_list;
  return {{"spec",
           {{"affinity",
             {{"nodeAffinity",
               {{"requiredDuringSchedulingIgnoredDuringExecution",
                 {{"nodeSelectorTerms", terms}}}}}}}}}};
}
json Expr(const std::string& key, const std::string& op, std::vector<std::string> values) {
  json e = {{"key", key}, {"operator", op}};
  if (!values.empty()) e["values"] = values;
  return e;
}

// nodeaffinity/node_affinity_test.go TestNodeAffinity.
TEST_CASE("NodeAffinity (TestNodeAffinity)", "[feasibility]") {
  const Node foo_bar = MakeNode("n1", Labels({{"foo", "bar"}}));
  const Node gpu = MakeNode("n1", Labels({{"GPU", "NVIDIA-GRID-K1"}, {"kernel-version", "0206"}}));
  constexpr FilterPlugin kNA = FilterPlugin::kNodeAffinity;
  constexpr FitReason kMismatch = FitReason::kNodeAffinityMismatch;
  Run({
      {"no selector", MakePod("p"), {}, foo_bar, kOk, kFits},
      {"missing labels",
       MakePod("p", {{"spec", {{"nodeSelector", {{"foo", "bar"}}}}}}),
       {},
       MakeNode("n1"),
       kNA,
       kMismatch},
      {"same labels",
       MakePod("p", {{"spec", {{"nodeSelector", {{"foo", "bar"}}}}}}),
       {},
       foo_bar,
       kOk,
       kFits},
      {"node labels are superset",
       MakePod("p", {{"spec", {{"nodeSelector", {{"foo", "bar"}}}}}}),
       {},
       MakeNode("n1", Labels({{"foo", "bar"}, {"baz", "blah"}})),
       kOk,
       kFits},
      {"node labels are subset",
       MakePod("p", {{"spec", {{"nodeSelector", {{"foo", "bar"}, {"baz", "blah"}}}}}}),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Pod with matchExpressions using In operator that matches the existing node",
       MakePod("p", Affinity({{{"matchExpressions", {Expr("foo", "In", {"value1", "bar"})}}}})),
       {},
       foo_bar,
       kOk,
       kFits},
      {"Pod with matchExpressions using Gt operator that matches the existing node",
       MakePod("p", Affinity({{{"matchExpressions", {Expr("kernel-version", "Gt", {"0204"})}}}})),
       {},
       gpu,
       kOk,
       kFits},
      {"Pod with matchExpressions using NotIn operator that matches the existing node",
       MakePod("p",
               Affinity({{{"matchExpressions", {Expr("mem-type", "NotIn", {"DDR", "DDR2"})}}}})),
       {},
       gpu,
       kOk,
       kFits},
      {"Pod with matchExpressions using Exists operator that matches the existing node",
       MakePod("p", Affinity({{{"matchExpressions", {Expr("GPU", "Exists", {})}}}})),
       {},
       gpu,
       kOk,
       kFits},
      {"Pod with affinity that don't match node's labels won't schedule onto the node",
       MakePod("p", Affinity({{{"matchExpressions", {Expr("foo", "In", {"value1", "value2"})}}}})),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Pod with a nil []NodeSelectorTerm in affinity, can't match the node's labels and won't "
       "schedule onto the node",
       MakePod("p", Affinity({})),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Pod with an empty []NodeSelectorTerm in affinity, can't match the node's labels and "
       "won't schedule onto the node",
       MakePod("p", Affinity({json::object()})),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Pod with multiple matchExpressions ANDed that doesn't match the existing node",
       MakePod("p",
               Affinity({{{"matchExpressions",
                           {Expr("GPU", "Exists", {}), Expr("GPU", "NotIn", {"AMD", "INTER"})}}}})),
       {},
       MakeNode("n1", Labels({{"GPU", "AMD"}})),
       kNA,
       kMismatch},
      {"Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels and will "
       "schedule onto the node",
       MakePod("p",
               Affinity({{{"matchExpressions", {Expr("foo", "In", {"bar", "value2"})}}},
                         {{"matchExpressions", {Expr("diffkey", "In", {"wrong", "value2"})}}}})),
       {},
       foo_bar,
       kOk,
       kFits},
      {"Pod with matchFields using In operator that matches the existing node",
       MakePod("p", Affinity({{{"matchFields", {Expr("metadata.name", "In", {"n1"})}}}})),
       {},
       foo_bar,
       kOk,
       kFits},
      {"Pod with matchFields using In operator that does not match the existing node",
       MakePod("p", Affinity({{{"matchFields", {Expr("metadata.name", "In", {"n2"})}}}})),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Pod with two terms: matchFields does not match, but matchExpressions matches",
       MakePod("p", Affinity({{{"matchFields", {Expr("metadata.name", "In", {"n2"})}}},
                              {{"matchExpressions", {Expr("foo", "In", {"bar"})}}}})),
       {},
       foo_bar,
       kOk,
       kFits},
      {"Pod with one term: matchFields does not match, but matchExpressions matches",
       MakePod("p", Affinity({{{"matchFields", {Expr("metadata.name", "In", {"n2"})}},
                               {"matchExpressions", {Expr("foo", "In", {"bar"})}}}})),
       {},
       foo_bar,
       kNA,
       kMismatch},
      {"Gt with a signed value is not a valid label value: the term matches nothing",
       MakePod("p", Affinity({{{"matchExpressions", {Expr("kernel-version", "Gt", {"+1"})}}}})),
       {},
       gpu,
       kNA,
       kMismatch},
  });
}

// nodeports/node_ports_test.go TestNodePorts.
TEST_CASE("NodePorts (TestNodePorts)", "[feasibility]") {
  const Node n = MakeNode("n1");
  auto pod = [](const std::vector<std::string>& ports) { return MakePod("m1", Ports(ports)); };
  auto existing = [](const std::vector<std::string>& ports) { return MakePod("e1", Ports(ports)); };
  constexpr FilterPlugin kNP = FilterPlugin::kNodePorts;
  constexpr FitReason kConflict = FitReason::kHostPortConflict;
  Run({
      {"nothing running", pod({"UDP/127.0.0.1/8080"}), {}, n, kOk, kFits},
      {"other port",
       pod({"UDP/127.0.0.1/8080"}),
       {existing({"UDP/127.0.0.1/9090"})},
       n,
       kOk,
       kFits},
      {"same udp port",
       pod({"UDP/127.0.0.1/8080"}),
       {existing({"UDP/127.0.0.1/8080"})},
       n,
       kNP,
       kConflict},
      {"same tcp port",
       pod({"TCP/127.0.0.1/8080"}),
       {existing({"TCP/127.0.0.1/8080"})},
       n,
       kNP,
       kConflict},
      {"different host ip",
       pod({"TCP/127.0.0.1/8080"}),
       {existing({"TCP/127.0.0.2/8080"})},
       n,
       kOk,
       kFits},
      {"different protocol",
       pod({"UDP/127.0.0.1/8080"}),
       {existing({"TCP/127.0.0.1/8080"})},
       n,
       kOk,
       kFits},
      {"second udp port conflict",
       pod({"UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"}),
       {existing({"UDP/127.0.0.1/8080"})},
       n,
       kNP,
       kConflict},
      {"first tcp port conflict",
       pod({"TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"}),
       {existing({"TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"})},
       n,
       kNP,
       kConflict},
      {"first tcp port conflict due to 0.0.0.0 hostIP",
       pod({"TCP/0.0.0.0/8001"}),
       {existing({"TCP/127.0.0.1/8001"})},
       n,
       kNP,
       kConflict},
      {"TCP hostPort conflict due to 0.0.0.0 hostIP",
       pod({"TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"}),
       {existing({"TCP/127.0.0.1/8001"})},
       n,
       kNP,
       kConflict},
      {"second tcp port conflict to 0.0.0.0 hostIP",
       pod({"TCP/127.0.0.1/8001"}),
       {existing({"TCP/0.0.0.0/8001"})},
       n,
       kNP,
       kConflict},
      {"second different protocol",
       pod({"UDP/127.0.0.1/8001"}),
       {existing({"TCP/0.0.0.0/8001"})},
       n,
       kOk,
       kFits},
      {"UDP hostPort conflict due to 0.0.0.0 hostIP",
       pod({"UDP/127.0.0.1/8001"}),
       {existing({"TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"})},
       n,
       kNP,
       kConflict},
      {"an empty hostIP and protocol default to 0.0.0.0 and TCP (HostPortInfo.sanitize)",
       MakePod("m1",
               {{"spec",
                 {{"containers",
                   {{{"name", "c"}, {"ports", {{{"containerPort", 80}, {"hostPort", 80}}}}}}}}}}),
       {existing({"TCP/10.0.0.1/80"})},
       n,
       kNP,
       kConflict},
  });
}

json Requests(const std::vector<json>& containers, const std::vector<json>& init = {},
              const json& overhead = nullptr) {
  json spec = {{"containers", json::array()}};
  int i = 0;
  for (const json& r : containers) {
    spec["containers"].push_back(
        {{"name", "c" + std::to_string(i++)}, {"resources", {{"requests", r}}}});
  }
  if (!init.empty()) {
    spec["initContainers"] = json::array();
    for (const json& r : init) {
      spec["initContainers"].push_back(
          {{"name", "i" + std::to_string(i++)}, {"resources", {{"requests", r}}}});
    }
  }
  if (!overhead.is_null()) spec["overhead"] = overhead;
  return {{"spec", spec}};
}

// A node with allocatable cpu 10 (millis: 10m), memory 20, pods 32, example.com/aaa 5,
// hugepages-2Mi 5, ephemeral-storage 20 (fit_test.go makeAllocatableResources(10, 20, 32, 5, 20,
// 5)), and existing pods requesting `used`.
Node FitNode() {
  return MakeNode("n1", {{"status",
                          {{"allocatable",
                            {{"cpu", "10m"},
                             {"memory", "20"},
                             {"pods", "32"},
                             {"example.com/aaa", "5"},
                             {"hugepages-2Mi", "5"},
                             {"ephemeral-storage", "20"}}}}}});
}
Pod Used(const json& requests) { return MakePod("used", Requests({requests})); }

// noderesources/fit_test.go TestEnoughRequests and TestStorageRequests.
TEST_CASE("NodeResourcesFit (TestEnoughRequests and TestStorageRequests)", "[feasibility]") {
  const Node n = FitNode();
  constexpr FilterPlugin kFit = FilterPlugin::kNodeResourcesFit;
  const json c1m1 = {{"cpu", "1m"}, {"memory", "1"}};
  Run({
      {"no resources requested always fits",
       MakePod("p"),
       {Used({{"cpu", "10m"}, {"memory", "20"}})},
       n,
       kOk,
       kFits},
      {"too many resources fails",
       MakePod("p", Requests({c1m1})),
       {Used({{"cpu", "10m"}, {"memory", "20"}})},
       n,
       kFit,
       FitReason::kInsufficientCpu},
      {"too many resources fails due to init container cpu",
       MakePod("p", Requests({c1m1}, {{{"cpu", "3m"}, {"memory", "1"}}})),
       {Used({{"cpu", "8m"}, {"memory", "19"}})},
       n,
       kFit,
       FitReason::kInsufficientCpu},
      {"too many resources fails due to highest init container cpu",
       MakePod("p", Requests({c1m1},
                             {{{"cpu", "3m"}, {"memory", "1"}}, {{"cpu", "2m"}, {"memory", "1"}}})),
       {Used({{"cpu", "8m"}, {"memory", "19"}})},
       n,
       kFit,
       FitReason::kInsufficientCpu},
      {"too many resources fails due to init container memory",
       MakePod("p", Requests({c1m1}, {{{"cpu", "1m"}, {"memory", "3"}}})),
       {Used({{"cpu", "9m"}, {"memory", "19"}})},
       n,
       kFit,
       FitReason::kInsufficientMemory},
      {"init container fits because it's the max, not sum, of containers and init containers",
       MakePod("p", Requests({c1m1},
                             {{{"cpu", "1m"}, {"memory", "1"}}, {{"cpu", "1m"}, {"memory", "1"}}})),
       {Used({{"cpu", "9m"}, {"memory", "19"}})},
       n,
       kOk,
       kFits},
      {"both resources fit",
       MakePod("p", Requests({c1m1})),
       {Used({{"cpu", "5m"}, {"memory", "5"}})},
       n,
       kOk,
       kFits},
      {"one resource memory fits",
       MakePod("p", Requests({{{"cpu", "2m"}, {"memory", "1"}}})),
       {Used({{"cpu", "9m"}, {"memory", "5"}})},
       n,
       kFit,
       FitReason::kInsufficientCpu},
      {"one resource cpu fits",
       MakePod("p", Requests({{{"cpu", "1m"}, {"memory", "2"}}})),
       {Used({{"cpu", "5m"}, {"memory", "19"}})},
       n,
       kFit,
       FitReason::kInsufficientMemory},
      {"equal edge case",
       MakePod("p", Requests({{{"cpu", "5m"}, {"memory", "1"}}})),
       {Used({{"cpu", "5m"}, {"memory", "19"}})},
       n,
       kOk,
       kFits},
      {"equal edge case for init container",
       MakePod("p", Requests({c1m1}, {{{"cpu", "4m"}, {"memory", "1"}}})),
       {Used({{"cpu", "6m"}, {"memory", "19"}})},
       n,
       kOk,
       kFits},
      {"extended resource fits",
       MakePod("p", Requests({{{"example.com/aaa", "1"}}})),
       {Used(json::object())},
       n,
       kOk,
       kFits},
      {"extended resource capacity enforced",
       MakePod("p", Requests({{{"example.com/aaa", "10"}}})),
       {Used(json::object())},
       n,
       kFit,
       FitReason::kInsufficientScalar},
      {"extended resource allocatable enforced",
       MakePod("p", Requests({{{"example.com/aaa", "1"}}})),
       {Used({{"example.com/aaa", "5"}})},
       n,
       kFit,
       FitReason::kInsufficientScalar},
      {"extended resource allocatable admits multiple init containers",
       MakePod("p", Requests({json::object()},
                             {{{"example.com/aaa", "3"}}, {{"example.com/aaa", "2"}}})),
       {Used({{"example.com/aaa", "2"}})},
       n,
       kOk,
       kFits},
      {"extended resource allocatable enforced for unknown resource",
       MakePod("p", Requests({{{"example.com/bbb", "1"}}})),
       {},
       n,
       kFit,
       FitReason::kInsufficientScalar},
      {"hugepages resource capacity enforced",
       MakePod("p", Requests({{{"hugepages-2Mi", "10"}}})),
       {},
       n,
       kFit,
       FitReason::kInsufficientScalar},
      {"resources + pod overhead fits",
       MakePod("p", Requests({c1m1}, {}, {{"cpu", "3m"}, {"memory", "13"}})),
       {Used({{"cpu", "5m"}, {"memory", "5"}})},
       n,
       kOk,
       kFits},
      {"requests + overhead does not fit for memory",
       MakePod("p", Requests({c1m1}, {}, {{"cpu", "1m"}, {"memory", "15"}})),
       {Used({{"cpu", "5m"}, {"memory", "5"}})},
       n,
       kFit,
       FitReason::kInsufficientMemory},
      {"skip checking resource request with quantity zero",
       MakePod("p", Requests({{{"example.com/ccc", "0"}}})),
       {},
       n,
       kOk,
       kFits},
      {"a resource name without a domain is not a scalar resource (ignored)",
       MakePod("p", Requests({{{"unknown", "100"}}})),
       {},
       n,
       kOk,
       kFits},
      // TestStorageRequests.
      {"due to container scratch disk",
       MakePod("p", Requests({{{"ephemeral-storage", "10"}}})),
       {Used({{"ephemeral-storage", "15"}})},
       n,
       kFit,
       FitReason::kInsufficientEphemeralStorage},
      {"pod fit",
       MakePod("p", Requests({{{"ephemeral-storage", "5"}}})),
       {Used({{"ephemeral-storage", "15"}})},
       n,
       kOk,
       kFits},
      {"storage ephemeral local storage request exceeds allocatable",
       MakePod("p", Requests({{{"ephemeral-storage", "25"}}})),
       {},
       n,
       kFit,
       FitReason::kInsufficientEphemeralStorage},
  });
}

// fit_test.go TestEnoughRequests "too many pods" (makeAllocatableResources with pods 1).
TEST_CASE("NodeResourcesFit counts the pods on the node", "[feasibility]") {
  const Node n = MakeNode("n1", {{"status", {{"allocatable", {{"pods", "1"}}}}}});
  Run({{"one pod slot taken",
        MakePod("p"),
        {MakePod("e")},
        n,
        FilterPlugin::kNodeResourcesFit,
        FitReason::kTooManyPods},
       {"one pod slot free", MakePod("p"), {}, n, kOk, kFits}});
}

TEST_CASE("Succeeded and Failed pods hold no resources (the scheduler's informer skips them)",
          "[feasibility]") {
  ClusterObjects objects;
  objects.nodes.push_back(MakeNode("n1", {{"status", {{"allocatable", {{"pods", "1"}}}}}}));
  Pod done = On(MakePod("done"), "n1");
  done.phase = "Succeeded";
  objects.pods.push_back(done);
  CHECK(CheckIn(objects, MakePod("p"), "n1").ok());
}

TEST_CASE("the plugin and reason names are kube-scheduler's", "[feasibility]") {
  CHECK(std::string(FilterPluginName(FilterPlugin::kInterPodAffinity)) == "InterPodAffinity");
  CHECK(std::string(FilterPluginName(FilterPlugin::kPodTopologySpread)) == "PodTopologySpread");
  CHECK(std::string(FilterPluginName(FilterPlugin::kVolumeBinding)) == "VolumeBinding");
  ClusterObjects objects;
  objects.nodes = {
      MakeNode("n1", Taints({{{"key", "k"}, {"value", "v"}, {"effect", "NoSchedule"}}}))};
  const Fit f = CheckIn(objects, MakePod("p"), "n1");
  CHECK(f.message == "node(s) had untolerated taint {k: v}");
}

}  // namespace
}  // namespace kb::scoring
