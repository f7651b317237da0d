#include "core/cluster_snapshot.h"

#include <algorithm>
#include <set>

namespace kb {
namespace {

using PodSet = std::set<PodPtr, PodOrder>;

const PodList& EmptyPodList() {
  static const PodList kEmpty;
  return kEmpty;
}

}  // namespace

const std::string* ControllerUid(const Pod& pod) {
  const OwnerReference* ref = pod.meta.ControllerRef();
  return ref != nullptr && !ref->uid.empty() ? &ref->uid : nullptr;
}

NodePtr ClusterSnapshot::FindNode(const std::string& name) const {
  if (!nodes) return nullptr;
  auto it = nodes->find(name);
  return it == nodes->end() ? nullptr : it->second;
}

const PodList& ClusterSnapshot::PodsOnNode(const std::string& node) const {
  if (!pods_by_node) return EmptyPodList();
  auto it = pods_by_node->find(node);
  return it == pods_by_node->end() || !it->second ? EmptyPodList() : *it->second;
}

PodPtr ClusterSnapshot::FindPod(const std::string& ns, const std::string& name) const {
  if (!pods_by_node) return nullptr;
  for (const auto& [node, bucket] : *pods_by_node) {
    if (!bucket) continue;
    for (const PodPtr& p : *bucket) {
      if (p->meta.name == name && p->meta.namespace_ == ns) return p;
    }
  }
  return nullptr;
}

PodPtr ClusterSnapshot::FindPodOn(const std::string& node, const std::string& ns,
                                  const std::string& name, const std::string& uid) const {
  const PodList& bucket = PodsOnNode(node);
  auto it =
      std::lower_bound(bucket.begin(), bucket.end(), nullptr, [&](const PodPtr& p, std::nullptr_t) {
        const int c = p->meta.namespace_.compare(ns);
        return c != 0 ? c < 0 : p->meta.name < name;
      });
  if (it == bucket.end() || (*it)->meta.namespace_ != ns || (*it)->meta.name != name) {
    return nullptr;
  }
  return uid.empty() || (*it)->meta.uid == uid ? *it : nullptr;
}

size_t ClusterSnapshot::OwnerIndex::ShardOf(const std::string& owner_uid) {
  return std::hash<std::string>{}(owner_uid) % kShards;
}

std::shared_ptr<const PodList> ClusterSnapshot::OwnerIndex::Find(
    const std::string& owner_uid) const {
  const auto& shard = shards[ShardOf(owner_uid)];
  if (!shard) return nullptr;
  auto it = shard->find(owner_uid);
  return it == shard->end() ? nullptr : it->second;
}

PodList ClusterSnapshot::PodsOwnedBy(const std::string& owner_uid) const {
  if (!owner_index) return {};
  auto list = owner_index->Find(owner_uid);
  return list ? *list : PodList{};
}

std::vector<PdbPtr> ClusterSnapshot::PdbsForPod(const Pod& pod) const {
  std::vector<PdbPtr> out;
  if (!pdbs) return out;
  const std::string prefix = pod.meta.namespace_ + "/";
  for (auto it = pdbs->lower_bound(prefix); it != pdbs->end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    const PdbPtr& pdb = it->second;
    // As the eviction subresource: a null or empty selector matches no pod.
    if (!pdb->selector || pdb->selector->Empty()) continue;
    if (pdb->selector->Matches(pod.meta.labels)) out.push_back(pdb);
  }
  return out;
}

size_t ClusterSnapshot::PodCount() const {
  size_t n = 0;
  if (!pods_by_node) return 0;
  for (const auto& [node, bucket] : *pods_by_node) n += bucket ? bucket->size() : 0;
  return n;
}

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectKey(const ObjectMeta& meta) { return ObjectKey(meta.namespace_, meta.name); }

namespace {

template <class T>
std::shared_ptr<const ObjectMap<T>> MapOf(const std::vector<T>& objects) {
  auto map = std::make_shared<ObjectMap<T>>();
  for (const T& o : objects) (*map)[ObjectKey(o.meta)] = std::make_shared<const T>(o);
  return map;
}

std::shared_ptr<const ClusterSnapshot::OwnerIndex> OwnerIndexOf(
    const std::map<std::string, PodSet>& by_owner) {
  std::array<std::shared_ptr<ClusterSnapshot::OwnerIndex::Shard>,
             ClusterSnapshot::OwnerIndex::kShards>
      shards;
  for (auto& shard : shards) shard = std::make_shared<ClusterSnapshot::OwnerIndex::Shard>();
  for (const auto& [uid, set] : by_owner) {
    (*shards[ClusterSnapshot::OwnerIndex::ShardOf(uid)])[uid] =
        std::make_shared<const PodList>(set.begin(), set.end());
  }
  auto owner_index = std::make_shared<ClusterSnapshot::OwnerIndex>();
  for (size_t i = 0; i < shards.size(); ++i) owner_index->shards[i] = std::move(shards[i]);
  return owner_index;
}

}  // namespace

std::shared_ptr<const ClusterSnapshot> BuildSnapshot(const ClusterObjects& objects) {
  std::map<std::string, PodSet> by_node, by_owner;
  for (const Pod& p : objects.pods) {
    auto ptr = std::make_shared<const Pod>(p);
    by_node[p.node_name].insert(ptr);
    if (const std::string* uid = ControllerUid(p)) by_owner[*uid].insert(ptr);
  }
  auto pods_by_node = std::make_shared<std::map<std::string, std::shared_ptr<const PodList>>>();
  for (const auto& [node, set] : by_node) {
    (*pods_by_node)[node] = std::make_shared<const PodList>(set.begin(), set.end());
  }
  auto snap = std::make_shared<ClusterSnapshot>();
  snap->version = 1;
  snap->nodes = MapOf(objects.nodes);
  snap->pods_by_node = std::move(pods_by_node);
  snap->owner_index = OwnerIndexOf(by_owner);
  snap->pdbs = MapOf(objects.pdbs);
  snap->replicasets = MapOf(objects.replicasets);
  snap->deployments = MapOf(objects.deployments);
  snap->statefulsets = MapOf(objects.statefulsets);
  snap->persistent_volumes = MapOf(objects.persistent_volumes);
  snap->persistent_volume_claims = MapOf(objects.persistent_volume_claims);
  snap->storage_classes = MapOf(objects.storage_classes);
  snap->namespaces = MapOf(objects.namespaces);
  snap->priority_classes = MapOf(objects.priority_classes);
  return snap;
}

std::shared_ptr<const ClusterSnapshot> BuildSnapshot(const std::vector<Node>& nodes,
                                                     const std::vector<Pod>& pods,
                                                     const std::vector<PodDisruptionBudget>& pdbs) {
  ClusterObjects objects;
  objects.nodes = nodes;
  objects.pods = pods;
  objects.pdbs = pdbs;
  return BuildSnapshot(objects);
}

}  // namespace kb
