// ClusterSnapshot: an immutable, internally consistent view of the cluster objects kube-balancer
// reads (nodes, pods by node and by controller owner, PodDisruptionBudgets, workloads, volumes,
// storage classes, namespaces, priority classes). The watch cache (kube/) fills
// it incrementally; tools and tests build one from plain objects with BuildSnapshot(). Scoring and
// the rescheduler read only this type, never the informer.
// Immutable once published: any thread may read it without locking.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/model.h"

namespace kb {

using PodPtr = std::shared_ptr<const Pod>;
using NodePtr = std::shared_ptr<const Node>;
using PdbPtr = std::shared_ptr<const PodDisruptionBudget>;
using PodList = std::vector<PodPtr>;

// Objects of one kind by key: "<namespace>/<name>", or "<name>" for cluster-scoped kinds.
template <class T>
using ObjectMap = std::map<std::string, std::shared_ptr<const T>>;
// The key of `meta` in an ObjectMap.
std::string ObjectKey(const ObjectMeta& meta);
std::string ObjectKey(const std::string& ns, const std::string& name);

// Orders pods by namespace, then name (the order of every pod list in a snapshot).
struct PodOrder {
  bool operator()(const PodPtr& a, const PodPtr& b) const {
    const int c = a->meta.namespace_.compare(b->meta.namespace_);
    return c != 0 ? c < 0 : a->meta.name < b->meta.name;
  }
};

// The UID of `pod`'s controller owner, or nullptr for a pod without one.
const std::string* ControllerUid(const Pod& pod);

struct ClusterSnapshot {
  uint64_t version = 0;  // increases with every applied change
  // Nodes by name.
  std::shared_ptr<const std::map<std::string, NodePtr>> nodes;
  // Bound pods by node name (key "" holds unbound pods). Pods in a bucket are sorted by PodOrder.
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const PodList>>> pods_by_node;
  // PDBs by "<namespace>/<name>".
  std::shared_ptr<const std::map<std::string, PdbPtr>> pdbs;
  // The other kinds, by ObjectKey (null: the kind is not known, e.g. a hand-built snapshot).
  std::shared_ptr<const ObjectMap<ReplicaSet>> replicasets;
  std::shared_ptr<const ObjectMap<Deployment>> deployments;
  std::shared_ptr<const ObjectMap<StatefulSet>> statefulsets;
  std::shared_ptr<const ObjectMap<PersistentVolume>> persistent_volumes;  // by name
  std::shared_ptr<const ObjectMap<PersistentVolumeClaim>> persistent_volume_claims;
  std::shared_ptr<const ObjectMap<StorageClass>> storage_classes;    // by name
  std::shared_ptr<const ObjectMap<Namespace>> namespaces;            // by name
  std::shared_ptr<const ObjectMap<PriorityClass>> priority_classes;  // by name

  // Lookups. Return nullptr / empty when absent.
  NodePtr FindNode(const std::string& name) const;
  const PodList& PodsOnNode(const std::string& node) const;
  PodPtr FindPod(const std::string& ns, const std::string& name) const;  // O(pods): tests/debug
  // The pod ns/name on `node` ("" = unbound), and with `uid` when non-empty. O(log pods on node).
  PodPtr FindPodOn(const std::string& node, const std::string& ns, const std::string& name,
                   const std::string& uid = "") const;
  // Pods whose controller owner has this UID (ReplicaSet, DaemonSet, ...). Uses an index.
  PodList PodsOwnedBy(const std::string& owner_uid) const;
  // PDBs in `pod`'s namespace whose selector matches its labels. As the eviction subresource
  // does, a PDB with a null or empty selector matches no pod.
  std::vector<PdbPtr> PdbsForPod(const Pod& pod) const;
  size_t PodCount() const;

  // The object with `key` (see ObjectKey) in `map`, or nullptr (also when the map is null).
  template <class T>
  static std::shared_ptr<const T> Find(const std::shared_ptr<const ObjectMap<T>>& map,
                                       const std::string& key) {
    if (!map) return nullptr;
    auto it = map->find(key);
    return it == map->end() ? nullptr : it->second;
  }

  // Owner index: controller-owner UID -> pods (sorted by PodOrder), split into kShards maps by a
  // hash of the UID so that a snapshot after a change copies only the shards that changed:
  // O(owners / kShards), not O(owners). Read it through PodsOwnedBy().
  struct OwnerIndex {
    static constexpr size_t kShards = 256;
    using Shard = std::map<std::string, std::shared_ptr<const PodList>>;
    std::array<std::shared_ptr<const Shard>, kShards> shards;  // every shard is non-null
    static size_t ShardOf(const std::string& owner_uid);
    // The pods owned by `owner_uid`, or nullptr.
    std::shared_ptr<const PodList> Find(const std::string& owner_uid) const;
  };
  std::shared_ptr<const OwnerIndex> owner_index;  // null: no owned pods
};

// Plain objects of every kind a snapshot holds.
struct ClusterObjects {
  std::vector<Node> nodes;
  std::vector<Pod> pods;
  std::vector<PodDisruptionBudget> pdbs;
  std::vector<ReplicaSet> replicasets;
  std::vector<Deployment> deployments;
  std::vector<StatefulSet> statefulsets;
  std::vector<PersistentVolume> persistent_volumes;
  std::vector<PersistentVolumeClaim> persistent_volume_claims;
  std::vector<StorageClass> storage_classes;
  std::vector<Namespace> namespaces;
  std::vector<PriorityClass> priority_classes;
};

// Builds a snapshot from plain objects (tools, tests): pods are bucketed by spec.nodeName and
// indexed by controller owner exactly as the watch cache does; every kind gets a (possibly empty)
// map. version is 1.
std::shared_ptr<const ClusterSnapshot> BuildSnapshot(const ClusterObjects& objects);
// The same with only nodes, pods and PDBs.
std::shared_ptr<const ClusterSnapshot> BuildSnapshot(const std::vector<Node>& nodes,
                                                     const std::vector<Pod>& pods,
                                                     const std::vector<PodDisruptionBudget>& pdbs);

// A pod change as the watch delivers it (after it is applied to the snapshot).
enum class PodEventType { kAdded, kModified, kDeleted };
struct PodEvent {
  PodEventType type;
  PodPtr old_pod;  // null for kAdded
  PodPtr new_pod;  // null for kDeleted
};

}  // namespace kb
