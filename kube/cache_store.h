// CacheStore: the objects the watch cache mirrors, and the copy-on-write publication of them as
// core's ClusterSnapshot. Pods are kept in per-node and per-owner buckets shared with published
// snapshots and copied on write, so a snapshot after a change costs O(nodes + objects changed),
// not O(pods). Objects of the other kinds are kept by key. Not thread-safe: ClusterCache holds its
// lock around every call. Internal to kube/.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "core/cluster_snapshot.h"
#include "kube/kube_client.h"

namespace kb::kube {

// Identity of an object in the cache (cluster-scoped objects have an empty namespace).
struct ObjKey {
  std::string ns;
  std::string name;
  // "<namespace>/<name>", or "<name>" for cluster-scoped objects.
  std::string Flat() const { return ns.empty() ? name : ns + "/" + name; }
};
// metadata.namespace / metadata.name of raw API JSON ("" when absent).
ObjKey RawKey(const nlohmann::json& obj);
// metadata.resourceVersion of raw API JSON ("" when absent).
std::string RawResourceVersion(const nlohmann::json& obj);

// A decoded object of any cached kind (empty: none).
using AnyObject =
    std::variant<std::monostate, std::shared_ptr<const Node>, std::shared_ptr<const Pod>,
                 std::shared_ptr<const PodDisruptionBudget>, std::shared_ptr<const ReplicaSet>,
                 std::shared_ptr<const Deployment>, std::shared_ptr<const StatefulSet>,
                 std::shared_ptr<const PersistentVolume>,
                 std::shared_ptr<const PersistentVolumeClaim>, std::shared_ptr<const StorageClass>,
                 std::shared_ptr<const Namespace>, std::shared_ptr<const PriorityClass>>;
struct Decoded {
  AnyObject object;
  bool empty() const { return object.index() == 0; }
  const ObjectMeta& meta() const;  // not empty()
  const std::string& rv() const { return meta().resource_version; }
  template <class T>
  std::shared_ptr<const T> As() const {
    const auto* p = std::get_if<std::shared_ptr<const T>>(&object);
    return p != nullptr ? *p : nullptr;
  }
};
StatusOr<Decoded> DecodeObject(ResourceKind kind, const nlohmann::json& obj);

// Objects of one keyed kind, with the map last published (reused while nothing changed).
template <class T>
class KeyedStore {
 public:
  using Map = std::map<std::string, std::shared_ptr<const T>>;
  // Inserts or replaces; false when the same version (UID and resourceVersion) is there already.
  bool Upsert(const std::string& key, std::shared_ptr<const T> obj) {
    std::shared_ptr<const T>& slot = objects_[key];
    if (slot && slot->meta.uid == obj->meta.uid &&
        slot->meta.resource_version == obj->meta.resource_version) {
      return false;
    }
    slot = std::move(obj);
    dirty_ = true;
    return true;
  }
  bool Remove(const std::string& key) {
    if (objects_.erase(key) == 0) return false;
    dirty_ = true;
    return true;
  }
  std::shared_ptr<const T> Find(const std::string& key) const {
    auto it = objects_.find(key);
    return it == objects_.end() ? nullptr : it->second;
  }
  const Map& objects() const { return objects_; }
  std::shared_ptr<const Map> Publish() {
    if (dirty_ || !published_) {
      published_ = std::make_shared<const Map>(objects_);
      dirty_ = false;
    }
    return published_;
  }

 private:
  Map objects_;
  bool dirty_ = true;
  std::shared_ptr<const Map> published_;
};

class CacheStore {
 public:
  CacheStore();
  ~CacheStore();

  // Applies a decoded object (insert or replace); returns the pod event to emit, if any. An
  // object whose UID and resourceVersion are already cached changes nothing.
  std::optional<PodEvent> Upsert(ResourceKind kind, const ObjKey& key, const Decoded& d);
  std::optional<PodEvent> Remove(ResourceKind kind, const ObjKey& key);
  // The cached object with this key, if any.
  std::optional<Decoded> Find(ResourceKind kind, const ObjKey& key) const;
  // Keys of every cached object of `kind`.
  std::vector<ObjKey> Keys(ResourceKind kind) const;

  uint64_t version() const { return version_; }
  // The current state as a snapshot; the same object while nothing changed.
  std::shared_ptr<const ClusterSnapshot> Snapshot();

 private:
  struct Pods;  // the pod store and its buckets
  void PublishPods();
  template <class T>
  KeyedStore<T>& Store() {
    return std::get<KeyedStore<T>>(keyed_);
  }
  template <class T>
  const KeyedStore<T>& Store() const {
    return std::get<KeyedStore<T>>(keyed_);
  }

  uint64_t version_ = 0;
  // Every kind but pods, by ObjectKey ("<ns>/<name>", or "<name>" when cluster-scoped).
  std::tuple<KeyedStore<Node>, KeyedStore<PodDisruptionBudget>, KeyedStore<ReplicaSet>,
             KeyedStore<Deployment>, KeyedStore<StatefulSet>, KeyedStore<PersistentVolume>,
             KeyedStore<PersistentVolumeClaim>, KeyedStore<StorageClass>, KeyedStore<Namespace>,
             KeyedStore<PriorityClass>>
      keyed_;
  std::unique_ptr<Pods> pods_;
  std::shared_ptr<const ClusterSnapshot> cached_;  // valid while cached_->version == version_
};

}  // namespace kb::kube
