#include "kube/cache_store.h"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>

namespace kb::kube {
namespace {

using nlohmann::json;

const std::string* MetaString(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return nullptr;
  auto v = m->find(key);
  if (v == m->end() || !v->is_string()) return nullptr;
  return &v->get_ref<const std::string&>();
}

std::string MetaOr(const json& obj, const char* key) {
  const std::string* s = MetaString(obj, key);
  return s ? *s : std::string();
}

// (namespace, name) views, for lookups without building key strings.
struct PodKey {
  std::string_view ns;
  std::string_view name;
};
PodKey KeyOf(const PodPtr& p) { return {p->meta.namespace_, p->meta.name}; }
PodKey KeyOf(const PodKey& k) { return k; }
PodKey KeyOf(const ObjKey& k) { return {k.ns, k.name}; }

struct PodKeyHash {
  using is_transparent = void;
  template <class K>
  size_t operator()(const K& k) const {
    PodKey pk = KeyOf(k);
    size_t h = std::hash<std::string_view>{}(pk.ns);
    return h ^
           (std::hash<std::string_view>{}(pk.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};
struct PodKeyEq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    PodKey x = KeyOf(a), y = KeyOf(b);
    return x.ns == y.ns && x.name == y.name;
  }
};
// All pods, keyed by (namespace, name) without a separate key string.
using PodStore = std::unordered_set<PodPtr, PodKeyHash, PodKeyEq>;

using PodSet = std::set<PodPtr, PodOrder>;

// A sorted bucket, shared with published snapshots and copied on write: the snapshot's
// shared_ptr<const PodList> and the cache's shared_ptr<PodList> point at the same vector.
using Bucket = std::shared_ptr<PodList>;

// Inserts `p` in sorted position (replacing nothing: the caller removed any previous version).
void BucketInsert(Bucket* b, const PodPtr& p) {
  if (!*b) {
    *b = std::make_shared<PodList>();
  } else if (b->use_count() > 1) {
    *b = std::make_shared<PodList>(**b);  // published: copy before writing
  }
  auto it = std::lower_bound((*b)->begin(), (*b)->end(), p, PodOrder());
  (*b)->insert(it, p);
}

// Removes the pod with `p`'s key; returns true if the bucket is now empty.
bool BucketErase(Bucket* b, const PodPtr& p) {
  if (!*b) return true;
  auto it = std::lower_bound((*b)->begin(), (*b)->end(), p, PodOrder());
  if (it == (*b)->end() || (*it)->meta.namespace_ != p->meta.namespace_ ||
      (*it)->meta.name != p->meta.name) {
    return (*b)->empty();
  }
  if (b->use_count() > 1) {
    size_t index = static_cast<size_t>(it - (*b)->begin());
    *b = std::make_shared<PodList>(**b);
    it = (*b)->begin() + static_cast<ptrdiff_t>(index);
  }
  (*b)->erase(it);
  return (*b)->empty();
}

}  // namespace

ObjKey RawKey(const json& obj) { return {MetaOr(obj, "namespace"), MetaOr(obj, "name")}; }

std::string RawResourceVersion(const json& obj) { return MetaOr(obj, "resourceVersion"); }

const ObjectMeta& Decoded::meta() const {
  return std::visit(
      [](const auto& p) -> const ObjectMeta& {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, std::monostate>) {
          static const ObjectMeta kNone;
          return kNone;
        } else {
          return p->meta;
        }
      },
      object);
}

namespace {

// The decoder of each kind, chosen by the type of the (unused) second argument.
StatusOr<Node> DecodeAs(const json& j, const Node*) { return DecodeNode(j); }
StatusOr<Pod> DecodeAs(const json& j, const Pod*) { return DecodePod(j); }
StatusOr<PodDisruptionBudget> DecodeAs(const json& j, const PodDisruptionBudget*) {
  return DecodePodDisruptionBudget(j);
}
StatusOr<ReplicaSet> DecodeAs(const json& j, const ReplicaSet*) { return DecodeReplicaSet(j); }
StatusOr<Deployment> DecodeAs(const json& j, const Deployment*) { return DecodeDeployment(j); }
StatusOr<StatefulSet> DecodeAs(const json& j, const StatefulSet*) { return DecodeStatefulSet(j); }
StatusOr<PersistentVolume> DecodeAs(const json& j, const PersistentVolume*) {
  return DecodePersistentVolume(j);
}
StatusOr<PersistentVolumeClaim> DecodeAs(const json& j, const PersistentVolumeClaim*) {
  return DecodePersistentVolumeClaim(j);
}
StatusOr<StorageClass> DecodeAs(const json& j, const StorageClass*) {
  return DecodeStorageClass(j);
}
StatusOr<Namespace> DecodeAs(const json& j, const Namespace*) { return DecodeNamespace(j); }
StatusOr<PriorityClass> DecodeAs(const json& j, const PriorityClass*) {
  return DecodePriorityClass(j);
}

// Calls `f` with a null shared_ptr<const T> of the object type T of `kind`, so generic code can
// name T.
template <class F>
decltype(auto) WithKindType(ResourceKind kind, F&& f) {
  switch (kind) {
    case ResourceKind::kNodes:
      return f(std::shared_ptr<const Node>());
    case ResourceKind::kPods:
      return f(std::shared_ptr<const Pod>());
    case ResourceKind::kPodDisruptionBudgets:
      return f(std::shared_ptr<const PodDisruptionBudget>());
    case ResourceKind::kReplicaSets:
      return f(std::shared_ptr<const ReplicaSet>());
    case ResourceKind::kDeployments:
      return f(std::shared_ptr<const Deployment>());
    case ResourceKind::kStatefulSets:
      return f(std::shared_ptr<const StatefulSet>());
    case ResourceKind::kPersistentVolumes:
      return f(std::shared_ptr<const PersistentVolume>());
    case ResourceKind::kPersistentVolumeClaims:
      return f(std::shared_ptr<const PersistentVolumeClaim>());
    case ResourceKind::kStorageClasses:
      return f(std::shared_ptr<const StorageClass>());
    case ResourceKind::kNamespaces:
      return f(std::shared_ptr<const Namespace>());
    case ResourceKind::kPriorityClasses:
      break;
  }
  return f(std::shared_ptr<const PriorityClass>());
}

template <class P>
using TypeOf = std::remove_const_t<typename std::decay_t<P>::element_type>;
template <class P>
constexpr bool kKeyed = !std::is_same_v<TypeOf<P>, Pod>;  // every kind but pods is keyed

}  // namespace

// The pods, with the per-node and per-owner buckets and what was last published of them.
struct CacheStore::Pods {
  PodStore all;
  std::unordered_map<std::string, Bucket> node_buckets;   // node name -> pods
  std::unordered_map<std::string, Bucket> owner_buckets;  // controller UID -> pods
  std::unordered_set<std::string> dirty_nodes, dirty_owners;
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const PodList>>> pub_by_node;
  std::shared_ptr<const ClusterSnapshot::OwnerIndex> pub_owners;

  void Index(const PodPtr& p) {
    BucketInsert(&node_buckets[p->node_name], p);
    dirty_nodes.insert(p->node_name);
    if (const std::string* uid = ControllerUid(*p)) {
      BucketInsert(&owner_buckets[*uid], p);
      dirty_owners.insert(*uid);
    }
  }

  void Unindex(const PodPtr& p) {
    auto it = node_buckets.find(p->node_name);
    if (it != node_buckets.end() && BucketErase(&it->second, p)) node_buckets.erase(it);
    dirty_nodes.insert(p->node_name);
    if (const std::string* uid = ControllerUid(*p)) {
      auto o = owner_buckets.find(*uid);
      if (o != owner_buckets.end() && BucketErase(&o->second, p)) owner_buckets.erase(o);
      dirty_owners.insert(*uid);
    }
  }

  // Inserts or replaces; returns the previous pod (null if none).
  PodPtr Upsert(const PodPtr& p) {
    PodPtr old;
    auto it = all.find(KeyOf(p));
    if (it != all.end()) {
      old = *it;
      all.erase(it);
      Unindex(old);
    }
    all.insert(p);
    Index(p);
    return old;
  }

  PodPtr Remove(const ObjKey& key) {
    auto it = all.find(KeyOf(key));
    if (it == all.end()) return nullptr;
    PodPtr old = *it;
    all.erase(it);
    Unindex(old);
    return old;
  }
};

StatusOr<Decoded> DecodeObject(ResourceKind kind, const json& obj) {
  return WithKindType(kind, [&obj](auto type) -> StatusOr<Decoded> {
    using T = TypeOf<decltype(type)>;
    StatusOr<T> decoded = DecodeAs(obj, static_cast<const T*>(nullptr));
    if (!decoded.ok()) return decoded.status();
    return Decoded{std::make_shared<const T>(std::move(decoded).value())};
  });
}

CacheStore::CacheStore() : pods_(std::make_unique<Pods>()) {}
CacheStore::~CacheStore() = default;

std::optional<PodEvent> CacheStore::Upsert(ResourceKind kind, const ObjKey& key, const Decoded& d) {
  if (kind == ResourceKind::kPods) {
    const PodPtr pod = d.As<Pod>();
    auto it = pods_->all.find(KeyOf(key));
    if (it != pods_->all.end() && (*it)->meta.uid == pod->meta.uid &&
        (*it)->meta.resource_version == pod->meta.resource_version) {
      return std::nullopt;
    }
    PodPtr old = pods_->Upsert(pod);
    ++version_;
    return PodEvent{old ? PodEventType::kModified : PodEventType::kAdded, old, pod};
  }
  WithKindType(kind, [&](auto type) {
    using T = TypeOf<decltype(type)>;
    if constexpr (kKeyed<decltype(type)>) {
      if (Store<T>().Upsert(key.Flat(), d.As<T>())) ++version_;
    }
  });
  return std::nullopt;
}

std::optional<PodEvent> CacheStore::Remove(ResourceKind kind, const ObjKey& key) {
  if (kind == ResourceKind::kPods) {
    PodPtr old = pods_->Remove(key);
    if (!old) return std::nullopt;
    ++version_;
    return PodEvent{PodEventType::kDeleted, old, nullptr};
  }
  WithKindType(kind, [&](auto type) {
    if constexpr (kKeyed<decltype(type)>) {
      if (Store<TypeOf<decltype(type)>>().Remove(key.Flat())) ++version_;
    }
  });
  return std::nullopt;
}

std::optional<Decoded> CacheStore::Find(ResourceKind kind, const ObjKey& key) const {
  Decoded out;
  if (kind == ResourceKind::kPods) {
    auto it = pods_->all.find(KeyOf(key));
    if (it != pods_->all.end()) out.object = *it;
  } else {
    WithKindType(kind, [&](auto type) {
      if constexpr (kKeyed<decltype(type)>) {
        if (auto found = Store<TypeOf<decltype(type)>>().Find(key.Flat())) out.object = found;
      }
    });
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::vector<ObjKey> CacheStore::Keys(ResourceKind kind) const {
  std::vector<ObjKey> keys;
  if (kind == ResourceKind::kPods) {
    keys.reserve(pods_->all.size());
    for (const PodPtr& p : pods_->all) keys.push_back({p->meta.namespace_, p->meta.name});
    return keys;
  }
  WithKindType(kind, [&](auto type) {
    if constexpr (kKeyed<decltype(type)>) {
      for (const auto& [k, v] : Store<TypeOf<decltype(type)>>().objects()) {
        keys.push_back({v->meta.namespace_, v->meta.name});
      }
    }
  });
  return keys;
}

void CacheStore::PublishPods() {
  Pods& p = *pods_;
  using Map = std::map<std::string, std::shared_ptr<const PodList>>;
  // A copy of `published` with the dirty `keys` taken from `buckets` (the buckets are shared,
  // not copied: later writes copy them first).
  auto apply = [](const Map* published, const std::vector<const std::string*>& keys,
                  const std::unordered_map<std::string, Bucket>& buckets) {
    auto next = published ? std::make_shared<Map>(*published) : std::make_shared<Map>();
    for (const std::string* key : keys) {
      auto it = buckets.find(*key);
      if (it == buckets.end() || !it->second || it->second->empty()) {
        next->erase(*key);
      } else {
        (*next)[*key] = it->second;
      }
    }
    return std::shared_ptr<const Map>(std::move(next));
  };
  if (!p.pub_by_node || !p.dirty_nodes.empty()) {
    std::vector<const std::string*> keys;
    for (const std::string& k : p.dirty_nodes) keys.push_back(&k);
    p.pub_by_node = apply(p.pub_by_node.get(), keys, p.node_buckets);
    p.dirty_nodes.clear();
  }
  if (!p.pub_owners || !p.dirty_owners.empty()) {
    auto next = p.pub_owners ? std::make_shared<ClusterSnapshot::OwnerIndex>(*p.pub_owners)
                             : std::make_shared<ClusterSnapshot::OwnerIndex>();
    std::array<std::vector<const std::string*>, ClusterSnapshot::OwnerIndex::kShards> by_shard;
    for (const std::string& k : p.dirty_owners) {
      by_shard[ClusterSnapshot::OwnerIndex::ShardOf(k)].push_back(&k);
    }
    for (size_t i = 0; i < by_shard.size(); ++i) {
      if (!by_shard[i].empty() || !next->shards[i]) {
        next->shards[i] = apply(next->shards[i].get(), by_shard[i], p.owner_buckets);
      }
    }
    p.pub_owners = std::move(next);
    p.dirty_owners.clear();
  }
}

std::shared_ptr<const ClusterSnapshot> CacheStore::Snapshot() {
  if (cached_ && cached_->version == version_) return cached_;
  PublishPods();
  auto snap = std::make_shared<ClusterSnapshot>();
  snap->version = version_;
  snap->nodes = Store<Node>().Publish();
  snap->pods_by_node = pods_->pub_by_node;
  snap->pdbs = Store<PodDisruptionBudget>().Publish();
  snap->owner_index = pods_->pub_owners;
  snap->replicasets = Store<ReplicaSet>().Publish();
  snap->deployments = Store<Deployment>().Publish();
  snap->statefulsets = Store<StatefulSet>().Publish();
  snap->persistent_volumes = Store<PersistentVolume>().Publish();
  snap->persistent_volume_claims = Store<PersistentVolumeClaim>().Publish();
  snap->storage_classes = Store<StorageClass>().Publish();
  snap->namespaces = Store<Namespace>().Publish();
  snap->priority_classes = Store<PriorityClass>().Publish();

  cached_ = std::move(snap);
  return cached_;
}

}  // namespace kb::kube
