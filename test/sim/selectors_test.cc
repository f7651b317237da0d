// Unit tests of kube-sim's building blocks: selectors, patches, the object store's history.
#include "sim/selectors.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/model.h"
#include "sim/k8s_json.h"
#include "sim/object_store.h"
#include "sim/patch.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

TEST_CASE("label selector strings parse and match like kube's", "[sim]") {
  const json labels = {{"app", "web"}, {"tier", "front"}, {"n", "5"}};
  struct Case {
    const char* selector;
    bool match;
  };
  const Case kCases[] = {
      {"", true},
      {"app=web", true},
      {"app==web", true},
      {"app=db", false},
      {"app!=db", true},
      {"missing!=x", true},
      {"app in (web,db)", true},
      {"app in (db)", false},
      {"app notin (db, cache)", true},
      {"missing notin (x)", true},
      {"tier", true},
      {"!tier", false},
      {"!missing", true},
      {"app=web,tier=front", true},
      {"app=web,tier=back", false},
      {"n>3", true},
      {"n<3", false},
      {" app = web ", true},
  };
  for (const auto& c : kCases) {
    INFO(c.selector);
    auto sel = LabelSelector::Parse(c.selector);
    REQUIRE(sel.ok());
    CHECK(sel->Matches(labels) == c.match);
  }
  for (const char* bad : {"app in (", "=x", "a b=c", "a=b c", "n>x", "a in x"}) {
    INFO(bad);
    CHECK_FALSE(LabelSelector::Parse(bad).ok());
  }
}

TEST_CASE("metav1.LabelSelector objects - null matches nothing, {} everything", "[sim]") {
  const json labels = {{"app", "web"}};
  CHECK(LabelSelector::FromJson(nullptr)->IsNothing());
  CHECK_FALSE(LabelSelector::FromJson(nullptr)->Matches(labels));
  CHECK(LabelSelector::FromJson(json::object())->Empty());
  auto sel = LabelSelector::FromJson(json::parse(R"j({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"DoesNotExist"},
                          {"key":"app","operator":"In","values":["web","db"]}]})j"));
  REQUIRE(sel.ok());
  CHECK(sel->Matches(labels));
  CHECK_FALSE(sel->Matches({{"app", "web"}, {"tier", "x"}}));
  CHECK_FALSE(LabelSelector::FromJson(
                  json::parse(R"j({"matchExpressions":[{"key":"a","operator":"Near"}]})j"))
                  .ok());
  CHECK_FALSE(LabelSelector::FromJson(
                  json::parse(R"j({"matchExpressions":[{"key":"a","operator":"In"}]})j"))
                  .ok());
}

TEST_CASE("field selectors support the pod fields kube-apiserver indexes", "[sim]") {
  json pod = {{"metadata", {{"name", "p"}, {"namespace", "ns"}}},
              {"spec", {{"nodeName", "n1"}}},
              {"status", {{"phase", "Running"}}}};
  auto match = [&](const char* s) {
    auto f = FieldSelector::Parse(s, "pods");
    REQUIRE(f.ok());
    return f->Matches(pod);
  };
  CHECK(match("spec.nodeName=n1"));
  CHECK(match("spec.nodeName==n1,status.phase!=Failed"));
  CHECK_FALSE(match("spec.nodeName="));
  CHECK(match("metadata.namespace=ns"));
  CHECK_FALSE(match("status.phase=Pending"));
  CHECK_FALSE(FieldSelector::Parse("spec.priority=1", "pods").ok());
  CHECK_FALSE(FieldSelector::Parse("spec.nodeName=x", "deployments").ok());
  CHECK(FieldSelector::Parse("spec.unschedulable=true", "nodes").ok());
}

TEST_CASE("patch types - merge (RFC 7386), strategic merge and json patch", "[sim]") {
  json target = json::parse(R"j({"a":{"b":1,"c":2},"l":[1,2],
    "spec":{"containers":[{"name":"app","image":"v1"},{"name":"side","image":"s1"}]}})j");
  auto merged =
      ApplyPatch(PatchType::kJsonMerge, target, json::parse(R"j({"a":{"b":null,"d":3},"l":[3]})j"));
  REQUIRE(merged.ok());
  CHECK((*merged)["a"] == json::parse(R"j({"c":2,"d":3})j"));
  CHECK((*merged)["l"] == json::parse("[3]"));

  auto smp = ApplyPatch(PatchType::kStrategicMerge, target, json::parse(R"j({"spec":{"containers":[
      {"name":"app","image":"v2"},{"name":"side","$patch":"delete"},{"name":"new","image":"n"}]}})j"));
  REQUIRE(smp.ok());
  CHECK((*smp)["spec"]["containers"] == json::parse(R"j([{"name":"app","image":"v2"},
      {"name":"new","image":"n"}])j"));
  auto replace = ApplyPatch(PatchType::kStrategicMerge, target,
                            json::parse(R"j({"a":{"$patch":"replace","z":1}})j"));
  REQUIRE(replace.ok());
  CHECK((*replace)["a"] == json::parse(R"j({"z":1})j"));

  auto jp = ApplyPatch(PatchType::kJsonPatch, target,
                       json::parse(R"j([{"op":"test","path":"/a/b","value":1},
      {"op":"add","path":"/l/-","value":9}])j"));
  REQUIRE(jp.ok());
  CHECK((*jp)["l"] == json::parse("[1,2,9]"));
  CHECK_FALSE(ApplyPatch(PatchType::kJsonPatch, target,
                         json::parse(R"j([{"op":"test","path":"/a/b","value":7}])j"))
                  .ok());
  CHECK_FALSE(ApplyPatch(PatchType::kJsonMerge, target, json::parse("[1]")).ok());
  CHECK(PatchTypeFromContentType("application/merge-patch+json; charset=utf-8").ok());
  CHECK_FALSE(PatchTypeFromContentType("application/apply-patch+yaml").ok());
}

TEST_CASE("the object store reconstructs past states from its history", "[sim]") {
  ObjectStore store(100);
  store.Mutate([](ObjectStore::Txn& t) {
    t.Put("pods", "ns/a", {{"metadata", {{"name", "a"}}}, {"v", 1}});
    t.Put("pods", "ns/b", {{"metadata", {{"name", "b"}}}, {"v", 1}});
    return 0;
  });
  const uint64_t rv = store.CurrentRv();
  store.Mutate([](ObjectStore::Txn& t) {
    t.Put("pods", "ns/a", {{"metadata", {{"name", "a"}}}, {"v", 2}});
    t.Remove("pods", "ns/b");
    t.Put("pods", "ns/c", {{"metadata", {{"name", "c"}}}, {"v", 1}});
    return 0;
  });
  auto past = store.ListAt("pods", rv);
  REQUIRE(past.ok());
  REQUIRE(past.value().items.size() == 2);
  CHECK(past.value().items[0].first == "ns/a");
  CHECK((*past.value().items[0].second)["v"] == 1);
  CHECK(past.value().items[1].first == "ns/b");
  auto now = store.ListAt("pods", 0);
  REQUIRE(now.ok());
  CHECK(now.value().items.size() == 2);
  CHECK(now.value().rv == store.CurrentRv());
  CHECK(store.ListAt("pods", store.CurrentRv() + 10).error().code == 504);
  store.ForgetHistory();
  CHECK(store.ListAt("pods", rv).error().code == 410);
  CHECK(store.HistoryFloor("pods") == store.CurrentRv());
}

TEST_CASE("timestamps and effective pod requests", "[sim]") {
  // kube-sim writes and reads timestamps with core's RFC 3339 functions.
  auto t = ParseRfc3339("2025-01-01T12:00:00Z");
  REQUIRE(t.ok());
  CHECK(FormatRfc3339(*t) == "2025-01-01T12:00:00Z");
  auto micro = ParseRfc3339("2025-01-01T12:00:08.123456Z");
  REQUIRE(micro.ok());
  CHECK(*micro - *t > std::chrono::seconds(8));
  CHECK(*ParseRfc3339("2025-01-01T13:00:00+01:00") == *t);
  CHECK_FALSE(ParseRfc3339("yesterday").ok());
  json pod = json::parse(R"j({"spec":{
    "containers":[{"resources":{"requests":{"cpu":"250m","memory":"64Mi"}}},
                  {"resources":{"requests":{"cpu":"0.25"}}}],
    "initContainers":[{"resources":{"requests":{"cpu":"1","memory":"16Mi"}}}],
    "overhead":{"cpu":"10m"}}})j");
  auto req = EffectiveRequests(pod);
  CHECK(req.cpu_millis == 1010);
  CHECK(req.memory_bytes == 64 * 1024 * 1024);
}

}  // namespace
}  // namespace kb::sim
