// Decoders of the cluster-level kinds (workloads, volumes, storage classes, namespaces, priority
// classes) and BuildSnapshot over every kind.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/cluster_snapshot.h"
#include "core/model.h"

namespace kb {
namespace {

using nlohmann::json;

TEST_CASE("PersistentVolume node affinity is absent, empty or a list of terms", "[core]") {
  auto none =
      DecodePersistentVolume(json{{"metadata", {{"name", "pv"}}}, {"spec", json::object()}});
  REQUIRE(none.ok());
  CHECK_FALSE(none->node_affinity.has_value());
  auto empty =
      DecodePersistentVolume(json{{"metadata", {{"name", "pv"}}},
                                  {"spec", {{"nodeAffinity", {{"required", json::object()}}}}}});
  REQUIRE(empty.ok());
  REQUIRE(empty->node_affinity.has_value());
  CHECK(empty->node_affinity->empty());
  auto bad = DecodePersistentVolume(
      json{{"metadata", {{"name", "pv"}}}, {"spec", {{"nodeAffinity", {{"required", 3}}}}}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("PersistentVolume pv") != std::string::npos);
  INFO(bad.status().message());
  CHECK(bad.status().message().find("spec.nodeAffinity.required") != std::string::npos);
}

TEST_CASE("a claim without storageClassName differs from one with an empty class", "[core]") {
  auto unset = DecodePersistentVolumeClaim(
      json{{"metadata", {{"name", "c"}, {"namespace", "ns"}}}, {"spec", json::object()}});
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->storage_class_name.has_value());
  auto none = DecodePersistentVolumeClaim(json{{"metadata", {{"name", "c"}, {"namespace", "ns"}}},
                                               {"spec", {{"storageClassName", ""}}},
                                               {"status", {{"phase", "Pending"}}}});
  REQUIRE(none.ok());
  CHECK(none->storage_class_name == std::optional<std::string>(""));
  CHECK(none->phase == "Pending");
}

TEST_CASE("StorageClass defaults to Immediate binding and reads allowed topologies", "[core]") {
  auto sc = DecodeStorageClass(json{{"metadata", {{"name", "std"}}}, {"provisioner", "x"}});
  REQUIRE(sc.ok());
  CHECK(sc->volume_binding_mode == "Immediate");
  CHECK(sc->allowed_topologies.empty());
  auto zoned = DecodeStorageClass(
      json{{"metadata", {{"name", "zonal"}}},
           {"volumeBindingMode", "WaitForFirstConsumer"},
           {"allowedTopologies",
            {{{"matchLabelExpressions",
               {{{"key", "topology.kubernetes.io/zone"}, {"values", {"a", "b"}}}}}}}}});
  REQUIRE(zoned.ok());
  REQUIRE(zoned->allowed_topologies.size() == 1);
  const NodeSelectorRequirement& r = zoned->allowed_topologies[0].match_expressions.at(0);
  CHECK(r.op == "In");
  CHECK(r.values == std::vector<std::string>{"a", "b"});
}

TEST_CASE("StatefulSet, Namespace and PriorityClass decode their fields", "[core]") {
  auto sts = DecodeStatefulSet(json{{"metadata", {{"name", "db"}, {"namespace", "ns"}}},
                                    {"spec", {{"replicas", 3}}},
                                    {"status", {{"readyReplicas", 2}, {"observedGeneration", 4}}}});
  REQUIRE(sts.ok());
  CHECK(sts->replicas == 3);
  CHECK(sts->ready_replicas == 2);
  CHECK(sts->observed_generation == 4);
  auto ns = DecodeNamespace(json{{"metadata", {{"name", "team"}, {"labels", {{"a", "b"}}}}},
                                 {"status", {{"phase", "Active"}}}});
  REQUIRE(ns.ok());
  CHECK(ns->meta.labels.at("a") == "b");
  auto pc = DecodePriorityClass(
      json{{"metadata", {{"name", "high"}}}, {"value", 1000}, {"globalDefault", true}});
  REQUIRE(pc.ok());
  CHECK(pc->value == 1000);
  CHECK(pc->global_default);
  CHECK_FALSE(DecodePriorityClass(json{{"metadata", {{"name", "x"}}}, {"value", "high"}}).ok());
}

TEST_CASE("BuildSnapshot keys every kind by namespace/name or name", "[core]") {
  ClusterObjects objects;
  StatefulSet sts;
  sts.meta.name = "db";
  sts.meta.namespace_ = "ns";
  objects.statefulsets.push_back(sts);
  Namespace ns;
  ns.meta.name = "ns";
  objects.namespaces.push_back(ns);
  auto snap = BuildSnapshot(objects);
  CHECK(ClusterSnapshot::Find(snap->statefulsets, ObjectKey("ns", "db")) != nullptr);
  CHECK(ClusterSnapshot::Find(snap->namespaces, "ns") != nullptr);
  CHECK(ClusterSnapshot::Find(snap->persistent_volumes, "x") == nullptr);
  CHECK(ClusterSnapshot::Find<Deployment>(nullptr, "ns/db") == nullptr);
  CHECK(ObjectKey(sts.meta) == "ns/db");
}

}  // namespace
}  // namespace kb
