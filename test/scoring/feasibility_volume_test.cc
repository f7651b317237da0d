// Table tests of VolumeBinding and VolumeZone in scoring/feasibility.h, mirroring kube-scheduler
// v1.26's plugins/volumebinding/volume_binding_test.go TestVolumeBinding and
// plugins/volumezone/volume_zone_test.go TestSingleZone / TestMultiZone.
#include "test/scoring/feasibility_test_util.h"

namespace kb::scoring {
namespace {

using namespace testutil;  // NOLINT

Pod WithClaims(const std::vector<std::string>& claims) {
  json volumes = json::array();
  for (const std::string& c : claims) {
    volumes.push_back({{"name", c}, {"persistentVolumeClaim", {{"claimName", c}}}});
  }
  return MakePod("p", {{"spec", {{"volumes", volumes}}}});
}

PersistentVolumeClaim Claim(const std::string& name, const std::string& volume,
                            std::optional<std::string> cls = std::nullopt) {
  PersistentVolumeClaim c;
  c.meta.name = name;
  c.meta.namespace_ = "default";
  c.volume_name = volume;
  c.storage_class_name = std::move(cls);
  c.phase = volume.empty() ? "Pending" : "Bound";
  return c;
}

PersistentVolume Volume(const std::string& name, const std::string& host = "",
                        const StringMap& labels = {}) {
  PersistentVolume v;
  v.meta.name = name;
  v.meta.labels = labels;
  v.phase = "Bound";
  if (!host.empty()) {
    NodeSelectorTerm t;
    t.match_expressions.push_back({"kubernetes.io/hostname", "In", {host}});
    v.node_affinity = std::vector<NodeSelectorTerm>{t};
  }
  return v;
}

StorageClass Class(const std::string& name, const std::string& mode,
                   const std::string& provisioner = "example.com/csi",
                   std::vector<NodeSelectorTerm> topologies = {}) {
  StorageClass sc;
  sc.meta.name = name;
  sc.volume_binding_mode = mode;
  sc.provisioner = provisioner;
  sc.allowed_topologies = std::move(topologies);
  return sc;
}

Node HostNode(const std::string& name, const StringMap& extra = {}) {
  json labels = {{"kubernetes.io/hostname", name}};
  for (const auto& [k, v] : extra) labels[k] = v;
  return MakeNode(name, Labels(labels));
}

Fit CheckVolumes(const ClusterObjects& objects, const Pod& pod, const std::string& node) {
  return CheckIn(objects, pod, node);
}

TEST_CASE("VolumeBinding (TestVolumeBinding)", "[feasibility]") {
  ClusterObjects o;
  o.nodes = {HostNode("node-a"), HostNode("node-b")};
  o.storage_classes = {Class("immediate-sc", "Immediate"), Class("wait-sc", "WaitForFirstConsumer"),
                       Class("local", "WaitForFirstConsumer", "kubernetes.io/no-provisioner")};
  SECTION("pod has not pvcs") { CHECK(CheckVolumes(o, MakePod("p"), "node-a").ok()); }
  SECTION("all bound") {
    o.persistent_volume_claims = {Claim("pvc-a", "pv-a")};
    o.persistent_volumes = {Volume("pv-a")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").ok());
  }
  SECTION("PVC does not exist") {
    const Fit f = CheckVolumes(o, WithClaims({"pvc-a"}), "node-a");
    CHECK(f.plugin == FilterPlugin::kVolumeBinding);
    CHECK(f.reason == FitReason::kPvcNotFound);
    CHECK(f.message == "persistentvolumeclaim \"pvc-a\" not found");
  }
  SECTION("Part of PVCs do not exist") {
    o.persistent_volume_claims = {Claim("pvc-a", "pv-a")};
    o.persistent_volumes = {Volume("pv-a")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a", "pvc-b"}), "node-a").reason ==
          FitReason::kPvcNotFound);
  }
  SECTION("immediate claims not bound") {
    o.persistent_volume_claims = {Claim("pvc-a", "", "immediate-sc")};
    const Fit f = CheckVolumes(o, WithClaims({"pvc-a"}), "node-a");
    CHECK(f.reason == FitReason::kUnboundImmediatePvc);
    CHECK(f.message == "pod has unbound immediate PersistentVolumeClaims");
  }
  SECTION("a claim without a class, or with a class that does not exist, binds immediately") {
    o.persistent_volume_claims = {Claim("pvc-a", ""), Claim("pvc-b", "", "missing")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").reason ==
          FitReason::kUnboundImmediatePvc);
    CHECK(CheckVolumes(o, WithClaims({"pvc-b"}), "node-a").reason ==
          FitReason::kUnboundImmediatePvc);
  }
  SECTION("unbound claims no matches (no-provisioner class, no available PV)") {
    o.persistent_volume_claims = {Claim("pvc-a", "", "local")};
    const Fit f = CheckVolumes(o, WithClaims({"pvc-a"}), "node-a");
    CHECK(f.reason == FitReason::kVolumeBindConflict);
    CHECK(f.message == "node(s) didn't find available persistent volumes to bind");
  }
  SECTION("unbound claim matches an Available local PV on one node only") {
    o.persistent_volume_claims = {Claim("pvc-a", "", "local")};
    PersistentVolume pv = Volume("local-pv", "node-b");
    pv.storage_class_name = "local";
    pv.phase = "Available";
    o.persistent_volumes = {pv};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").reason ==
          FitReason::kVolumeBindConflict);
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-b").ok());
  }
  SECTION("WaitForFirstConsumer with dynamic provisioning: allowedTopologies decide") {
    NodeSelectorTerm t;
    t.match_expressions.push_back({"kubernetes.io/hostname", "In", {"node-b"}});
    o.storage_classes.push_back(Class("zonal", "WaitForFirstConsumer", "example.com/csi", {t}));
    o.persistent_volume_claims = {Claim("pvc-a", "", "wait-sc"), Claim("pvc-z", "", "zonal")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").ok());
    CHECK(CheckVolumes(o, WithClaims({"pvc-z"}), "node-a").reason ==
          FitReason::kVolumeBindConflict);
    CHECK(CheckVolumes(o, WithClaims({"pvc-z"}), "node-b").ok());
  }
  SECTION("bound claim whose PV has node affinity (local PV): only its node") {
    o.persistent_volume_claims = {Claim("pvc-a", "pv-a")};
    o.persistent_volumes = {Volume("pv-a", "node-a")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").ok());
    const Fit f = CheckVolumes(o, WithClaims({"pvc-a"}), "node-b");
    CHECK(f.reason == FitReason::kVolumeNodeConflict);
    CHECK(f.message == "node(s) had volume node affinity conflict");
  }
  SECTION("pv not found") {
    o.persistent_volume_claims = {Claim("pvc-a", "pv-a")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").reason == FitReason::kPvNotExist);
  }
  SECTION("a PVC being deleted") {
    PersistentVolumeClaim c = Claim("pvc-a", "pv-a");
    c.meta.deletion_timestamp = kb::testing::TestTime();
    o.persistent_volume_claims = {c};
    o.persistent_volumes = {Volume("pv-a")};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").reason == FitReason::kPvcDeleting);
  }
  SECTION("PV node affinity matches labels only (CheckNodeAffinity drops matchFields)") {
    PersistentVolume pv = Volume("pv-a");
    NodeSelectorTerm t;
    t.match_fields.push_back({"metadata.name", "In", {"node-a"}});
    pv.node_affinity = std::vector<NodeSelectorTerm>{t};
    o.persistent_volume_claims = {Claim("pvc-a", "pv-a")};
    o.persistent_volumes = {pv};
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "node-a").reason ==
          FitReason::kVolumeNodeConflict);
  }
}

TEST_CASE("VolumeZone (TestSingleZone and TestMultiZone)", "[feasibility]") {
  ClusterObjects o;
  o.nodes = {HostNode("host1", {{"topology.kubernetes.io/zone", "us-west1-a"}}),
             HostNode("host2", {{"failure-domain.beta.kubernetes.io/zone", "us-west1-b"}}),
             HostNode("nolabels")};
  o.persistent_volume_claims = {Claim("pvc-a", "pv-a"), Claim("pvc-ab", "pv-ab")};
  o.persistent_volumes = {
      Volume("pv-a", "", {{"topology.kubernetes.io/zone", "us-west1-a"}}),
      Volume("pv-ab", "", {{"topology.kubernetes.io/zone", "us-west1-a__us-west1-b"}})};
  SECTION("pod without volume") { CHECK(CheckVolumes(o, MakePod("p"), "host2").ok()); }
  SECTION("node without labels") { CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "nolabels").ok()); }
  SECTION("label zone failure domain matched") {
    CHECK(CheckVolumes(o, WithClaims({"pvc-a"}), "host1").ok());
  }
  SECTION("label zone failure domain failed match (the node has only the beta key)") {
    const Fit f = CheckVolumes(o, WithClaims({"pvc-a"}), "host2");
    CHECK(f.plugin == FilterPlugin::kVolumeZone);
    CHECK(f.message == "node(s) had no available volume zone");
  }
  SECTION("TestMultiZone: a PV in zones a__b fits a node in zone a") {
    CHECK(CheckVolumes(o, WithClaims({"pvc-ab"}), "host1").ok());
  }
}

}  // namespace
}  // namespace kb::scoring
