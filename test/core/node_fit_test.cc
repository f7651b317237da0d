#include <catch2/catch.hpp>

#include "core/model.h"
#include "test/testing/builders.h"

namespace kb {
namespace {

using testing::NodeBuilder;
using testing::PodBuilder;

TEST_CASE("node selector requirements follow labels.Requirement", "[core][model]") {
  const StringMap labels = {{"zone", "a"}, {"cores", "16"}, {"bad", "x1"}};
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
      {"Exists", {"zone", "Exists", {}}, true},
      {"DoesNotExist", {"zone", "DoesNotExist", {}}, false},
      {"DoesNotExist missing", {"rack", "DoesNotExist", {}}, true},
      {"Gt", {"cores", "Gt", {"8"}}, true},
      {"Gt equal", {"cores", "Gt", {"16"}}, false},
      {"Gt plus sign", {"cores", "Gt", {"+8"}}, true},
      {"Lt", {"cores", "Lt", {"32"}}, true},
      {"Lt negative", {"cores", "Lt", {"-1"}}, false},
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

  CHECK(PodToleratesNodeTaints(PodBuilder("p").Build(), clean));
  CHECK_FALSE(PodToleratesNodeTaints(PodBuilder("p").Build(), tainted));
  CHECK(PodToleratesNodeTaints(
      PodBuilder("p").Toleration("dedicated", "Equal", "db", "NoSchedule").Build(), tainted));
  CHECK_FALSE(PodToleratesNodeTaints(
      PodBuilder("p").Toleration("dedicated", "Equal", "web", "NoSchedule").Build(), tainted));
  CHECK_FALSE(PodToleratesNodeTaints(PodBuilder("p").Build(), evicting));
  CHECK(PodToleratesNodeTaints(
      PodBuilder("p")
          .Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute")
          .Build(),
      evicting));
  CHECK(PodToleratesNodeTaints(PodBuilder("p").Toleration("", "Exists", "", "").Build(), tainted));
}

}  // namespace
}  // namespace kb
