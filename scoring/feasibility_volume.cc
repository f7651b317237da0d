// VolumeBinding (plugins/volumebinding: PreFilter + FindPodVolumes) and VolumeZone
// (plugins/volumezone) of kube-scheduler v1.26, for PersistentVolumeClaim volumes.
//
// Bound claims: the PV must exist and its nodeAffinity must match the node's labels
// (volumeutil.CheckNodeAffinity builds a node with labels only, so matchFields never match).
// Unbound claims: a class in WaitForFirstConsumer mode is decided per node (an Available PV of the
// class whose node affinity matches, or dynamic provisioning where the class's allowedTopologies
// allow); any other unbound claim is "unbound immediate" and the pod is unschedulable everywhere.
// Not modelled: PV capacity / access modes when matching an Available PV, and CSIStorageCapacity.
#include <set>

#include "scoring/feasibility_internal.h"

namespace kb::scoring {

namespace {

constexpr char kBetaStorageClassAnnotation[] = "volume.beta.kubernetes.io/storage-class";
constexpr char kNoProvisioner[] = "kubernetes.io/no-provisioner";
constexpr const char* kZoneLabels[] = {
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region"};

// storagehelpers.GetPersistentVolumeClaimClass: the beta annotation wins over the field.
std::string ClaimClass(const PersistentVolumeClaim& pvc) {
  auto it = pvc.meta.annotations.find(kBetaStorageClassAnnotation);
  if (it != pvc.meta.annotations.end()) return it->second;
  return pvc.storage_class_name.value_or("");
}

// The PV's required node affinity against a node reduced to its labels.
bool VolumeFitsNode(const PersistentVolume& pv, const Node& node) {
  if (!pv.node_affinity) return true;
  Node labels_only;
  labels_only.meta.labels = node.meta.labels;
  for (const NodeSelectorTerm& term : *pv.node_affinity) {
    if (term.Matches(labels_only)) return true;
  }
  return false;
}

// v1helper.MatchTopologySelectorTerms: no terms match everything; an empty term matches nothing.
bool AllowedTopologiesMatch(const StorageClass& sc, const Node& node) {
  if (sc.allowed_topologies.empty()) return true;
  for (const NodeSelectorTerm& term : sc.allowed_topologies) {
    if (term.match_expressions.empty()) continue;
    bool all = true;
    for (const NodeSelectorRequirement& r : term.match_expressions) {
      auto it = node.meta.labels.find(r.key);
      if (it == node.meta.labels.end() ||
          std::find(r.values.begin(), r.values.end(), it->second) == r.values.end()) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

// A delayed-binding claim can be satisfied on `node`: an Available PV of its class (unclaimed or
// pre-bound to it) with matching node affinity, or dynamic provisioning allowed there.
bool DelayedClaimFits(const ClusterSnapshot& snap, const PersistentVolumeClaim& pvc,
                      const StorageClass& sc, const Node& node) {
  if (snap.persistent_volumes) {
    for (const auto& [name, pv] : *snap.persistent_volumes) {
      if (pv->storage_class_name != sc.meta.name || pv->phase != "Available") continue;
      const bool free = pv->claim_name.empty() || (pv->claim_name == pvc.meta.name &&
                                                   pv->claim_namespace == pvc.meta.namespace_);
      if (free && VolumeFitsNode(*pv, node)) return true;
    }
  }
  if (sc.provisioner.empty() || sc.provisioner == kNoProvisioner) return false;
  return AllowedTopologiesMatch(sc, node);
}

// volumehelpers.LabelZonesToSet: "a__b" is the set {a, b}.
std::set<std::string> ZoneSet(const std::string& value) {
  std::set<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = value.find("__", start);
    out.insert(value.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 2;
  }
  return out;
}

}  // namespace

void PrepareVolumes(const ClusterSnapshot& snap, const Pod& pod, PreparedPod* out) {
  bool immediate = false;
  for (const Volume& v : pod.volumes) {
    if (v.kind != Volume::Kind::kPersistentVolumeClaim) continue;
    const auto pvc = ClusterSnapshot::Find(snap.persistent_volume_claims,
                                           ObjectKey(pod.meta.namespace_, v.claim_name));
    if (!pvc) {
      out->prefilter = Fail(FilterPlugin::kVolumeBinding, FitReason::kPvcNotFound,
                            "persistentvolumeclaim \"" + v.claim_name + "\" not found");
      return;
    }
    if (pvc->meta.deletion_timestamp) {
      out->prefilter = Fail(FilterPlugin::kVolumeBinding, FitReason::kPvcDeleting,
                            "persistentvolumeclaim \"" + v.claim_name + "\" is being deleted");
      return;
    }
    if (!pvc->volume_name.empty()) {
      out->bound_claims.push_back(pvc.get());
      out->bound_volumes.push_back(
          ClusterSnapshot::Find(snap.persistent_volumes, pvc->volume_name).get());
      continue;
    }
    const std::string cls = ClaimClass(*pvc);
    const auto sc = cls.empty() ? nullptr : ClusterSnapshot::Find(snap.storage_classes, cls);
    // volume.IsDelayBindingMode: no class, or a class that does not exist, binds immediately.
    if (!sc || sc->volume_binding_mode != "WaitForFirstConsumer") {
      immediate = true;
      continue;
    }
    out->delayed_claims.push_back(pvc.get());
    out->delayed_classes.push_back(sc.get());
  }
  if (immediate) {
    out->prefilter = Fail(FilterPlugin::kVolumeBinding, FitReason::kUnboundImmediatePvc,
                          "pod has unbound immediate PersistentVolumeClaims");
  }
}

Fit FilterVolumes(const ClusterSnapshot& snap, const PreparedPod& p, const Node& node) {
  // VolumeBinding.
  bool node_conflict = false;
  bool missing_pv = false;
  for (const PersistentVolume* pv : p.bound_volumes) {
    if (pv == nullptr) {
      missing_pv = true;
      break;
    }
    if (!VolumeFitsNode(*pv, node)) {
      node_conflict = true;
      break;
    }
  }
  if (missing_pv) {
    return Fail(FilterPlugin::kVolumeBinding, FitReason::kPvNotExist,
                "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)");
  }
  if (node_conflict) {
    return Fail(FilterPlugin::kVolumeBinding, FitReason::kVolumeNodeConflict,
                "node(s) had volume node affinity conflict");
  }
  for (size_t i = 0; i < p.delayed_claims.size(); ++i) {
    if (!DelayedClaimFits(snap, *p.delayed_claims[i], *p.delayed_classes[i], node)) {
      return Fail(FilterPlugin::kVolumeBinding, FitReason::kVolumeBindConflict,
                  "node(s) didn't find available persistent volumes to bind");
    }
  }
  // VolumeZone: a node without any zone/region label accepts every volume; otherwise each zone /
  // region label of a bound PV must be on the node with a value in the PV's set.
  bool node_has_zone = false;
  for (const char* key : kZoneLabels) node_has_zone |= node.meta.labels.count(key) > 0;
  if (!node_has_zone) return Fit{};
  for (const PersistentVolume* pv : p.bound_volumes) {
    for (const char* key : kZoneLabels) {
      auto want = pv->meta.labels.find(key);
      if (want == pv->meta.labels.end()) continue;
      auto have = node.meta.labels.find(key);
      const std::string value = have == node.meta.labels.end() ? "" : have->second;
      if (ZoneSet(want->second).count(value) == 0) {
        return Fail(FilterPlugin::kVolumeZone, FitReason::kVolumeZoneConflict,
                    "node(s) had no available volume zone");
      }
    }
  }
  return Fit{};
}

}  // namespace kb::scoring
