#include <catch2/catch.hpp>

#include "core/model.h"
#include "test/testing/builders.h"

namespace kb {
namespace {

using testing::NodeBuilder;
using testing::PodBuilder;

TEST_CASE("node selector requirements follow labels.Requirement", "[core][model]") {
  const StringMap labels = {{"zone", "a"}, {"cores", "16"}, {"bad", "x1"}, {"plus", "+16"}};
  struct Case {
    const char* name;
    NodeSelectorRequirement req;
    bool want;
  };
  const Case cases[] = {
      {"In", {"zone", "In", {"a", "b"}}, true},
      {"In other", {"zone", "In", {"b"}}, false},
      {"In missing", {"rack", "In", {"a"}}, false},
      {"In no values", {"zone", "In", {}}, false},
      {"NotIn", {"zone", "NotIn", {"b"}}, true},
      {"NotIn excluded", {"zone", "NotIn", {"a"}}, false},
      {"NotIn missing", {"rack", "NotIn", {"a"}}, true},
      {"NotIn no values", {"rack", "NotIn", {}}, false},
      {"Exists", {"zone", "Exists", {}}, true},
      {"Exists with values", {"zone", "Exists", {"a"}}, false},
      {"Exists missing", {"rack", "Exists", {}}, false},
      {"DoesNotExist", {"zone", "DoesNotExist", {}}, false},
      {"DoesNotExist missing", {"rack", "DoesNotExist", {}}, true},
      {"DoesNotExist with values", {"rack", "DoesNotExist", {"a"}}, false},
      {"Gt", {"cores", "Gt", {"8"}}, true},
      {"Gt equal", {"cores", "Gt", {"16"}}, false},
      // A signed value is not a valid label value (labels.NewRequirement): the term is invalid.
      {"Gt plus sign", {"cores", "Gt", {"+8"}}, false},
      {"Lt", {"cores", "Lt", {"32"}}, true},
      {"Lt negative", {"cores", "Lt", {"-1"}}, false},
      {"Lt plus sign on the label", {"plus", "Lt", {"20"}}, true},
      {"Gt non-integer label", {"bad", "Gt", {"1"}}, false},
      {"Gt non-integer value", {"cores", "Gt", {"x"}}, false},
      {"Gt two values", {"cores", "Gt", {"1", "2"}}, false},
      {"Gt missing label", {"rack", "Gt", {"1"}}, false},
      {"unknown op", {"zone", "Equals", {"a"}}, false},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) { CHECK(tc.req.Matches(labels) == tc.want); }
  }
}

TEST_CASE("node affinity: nodeSelector ANDed, terms ORed, fields on metadata.name",
          "[core][model]") {
  Node n1 = NodeBuilder("n1").Label("zone", "a").Label("disk", "ssd").Build();
  Node n2 = NodeBuilder("n2").Label("zone", "b").Build();

  CHECK(PodMatchesNodeAffinity(PodBuilder("p").Build(), n1));
  Pod sel = PodBuilder("p").NodeSelector("zone", "a").NodeSelector("disk", "ssd").Build();
  CHECK(PodMatchesNodeAffinity(sel, n1));
  CHECK_FALSE(PodMatchesNodeAffinity(sel, n2));

  Pod either = PodBuilder("p")
                   .RequiredNodeAffinity("disk", "In", {"ssd"})
                   .RequiredNodeAffinity("zone", "In", {"b"})
                   .Build();
  CHECK(PodMatchesNodeAffinity(either, n1));
  CHECK(PodMatchesNodeAffinity(either, n2));

  Pod both = PodBuilder("p")
                 .RequiredNodeAffinityTerm({{"zone", "In", {"a"}}, {"disk", "DoesNotExist", {}}})
                 .Build();
  CHECK_FALSE(PodMatchesNodeAffinity(both, n1));
  CHECK_FALSE(PodMatchesNodeAffinity(both, n2));

  // nodeSelector and affinity must both hold.
  Pod mixed =
      PodBuilder("p").NodeSelector("zone", "b").RequiredNodeAffinity("zone", "In", {"a"}).Build();
  CHECK_FALSE(PodMatchesNodeAffinity(mixed, n1));
  CHECK_FALSE(PodMatchesNodeAffinity(mixed, n2));

  NodeSelectorTerm by_name;
  by_name.match_fields = {{"metadata.name", "In", {"n2"}}};
  CHECK(by_name.Matches(n2));
  CHECK_FALSE(by_name.Matches(n1));
  NodeSelectorTerm bad_field;
  bad_field.match_fields = {{"metadata.uid", "In", {"x"}}};
  CHECK_FALSE(bad_field.Matches(n1));
  CHECK_FALSE(NodeSelectorTerm{}.Matches(n1));  // an empty term matches nothing
}

TEST_CASE("taint filter checks NoSchedule and NoExecute only", "[core][model]") {
  Node clean = NodeBuilder("n").Build();
  Node tainted = NodeBuilder("n")
                     .Taint("dedicated", "db", "NoSchedule")
                     .Taint("spot", "", "PreferNoSchedule")
                     .Build();
  Node evicting = NodeBuilder("n").Taint("node.kubernetes.io/unreachable", "", "NoExecute").Build();

  CHECK(nullptr == FirstUntoleratedTaint(PodBuilder("p").Build(), clean));
  CHECK(nullptr != FirstUntoleratedTaint(PodBuilder("p").Build(), tainted));
  CHECK(nullptr ==
        FirstUntoleratedTaint(
            PodBuilder("p").Toleration("dedicated", "Equal", "db", "NoSchedule").Build(), tainted));
  CHECK(
      nullptr !=
      FirstUntoleratedTaint(
          PodBuilder("p").Toleration("dedicated", "Equal", "web", "NoSchedule").Build(), tainted));
  CHECK(nullptr != FirstUntoleratedTaint(PodBuilder("p").Build(), evicting));
  CHECK(nullptr == FirstUntoleratedTaint(
                       PodBuilder("p")
                           .Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute")
                           .Build(),
                       evicting));
  CHECK(nullptr ==
        FirstUntoleratedTaint(PodBuilder("p").Toleration("", "Exists", "", "").Build(), tainted));
}

TEST_CASE("matchFields metadata.name selects the node by name", "[core][model]") {
  const Node node = NodeBuilder("worker-7").Build();
  NodeSelectorTerm in;
  in.match_fields = {{"metadata.name", "In", {"worker-7"}}};
  CHECK(in.Matches(node));
  NodeSelectorTerm not_in;
  not_in.match_fields = {{"metadata.name", "NotIn", {"worker-7"}}};
  CHECK_FALSE(not_in.Matches(node));
  NodeSelectorTerm other_field;
  other_field.match_fields = {{"spec.unschedulable", "In", {"false"}}};
  CHECK_FALSE(other_field.Matches(node));
  CHECK_FALSE(NodeSelectorTerm{}.Matches(node));  // empty term matches nothing
}

}  // namespace
}  // namespace kb
