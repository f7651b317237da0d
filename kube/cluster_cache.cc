#include "kube/cluster_cache.h"

#include <malloc.h>

#include <algorithm>
#include <condition_variable>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <unordered_set>

#include "core/logging.h"

namespace kb::kube {
namespace {

using nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube"); }

constexpr ResourceKind kKinds[] = {ResourceKind::kNodes, ResourceKind::kPods,
                                   ResourceKind::kPodDisruptionBudgets};
constexpr int kNumKinds = 3;

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

// Identity of an object in the cache (nodes have an empty namespace).
struct ObjKey {
  std::string ns;
  std::string name;
  // "<namespace>/<name>", or "<name>" for cluster-scoped objects.
  std::string Flat() const { return ns.empty() ? name : ns + "/" + name; }
};

ObjKey RawKey(const json& obj) { return {MetaOr(obj, "namespace"), MetaOr(obj, "name")}; }

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

// A decoded object of any kind.
struct Decoded {
  NodePtr node;
  PodPtr pod;
  PdbPtr pdb;
  const std::string& rv() const {
    if (node) return node->meta.resource_version;
    if (pod) return pod->meta.resource_version;
    return pdb->meta.resource_version;
  }
};

StatusOr<Decoded> DecodeAny(ResourceKind kind, const json& obj) {
  Decoded d;
  switch (kind) {
    case ResourceKind::kNodes: {
      auto n = DecodeNode(obj);
      if (!n.ok()) return n.status();
      d.node = std::make_shared<const Node>(std::move(n).value());
      break;
    }
    case ResourceKind::kPods: {
      auto p = DecodePod(obj);
      if (!p.ok()) return p.status();
      d.pod = std::make_shared<const Pod>(std::move(p).value());
      break;
    }
    case ResourceKind::kPodDisruptionBudgets: {
      auto b = DecodePodDisruptionBudget(obj);
      if (!b.ok()) return b.status();
      d.pdb = std::make_shared<const PodDisruptionBudget>(std::move(b).value());
      break;
    }
  }
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ClusterCache

struct ClusterCache::Impl {
  Impl(KubeClient& c, Clock& clk, ClusterCacheOptions opts)
      : client(c), clock(clk), options(opts), rng(std::random_device{}()) {}

  KubeClient& client;
  Clock& clock;
  const ClusterCacheOptions options;
  std::vector<std::function<void(const PodEvent&)>> pod_handlers;  // Set before Start().

  std::atomic<bool> stop{false};
  bool started = false;  // Guarded by lifecycle_mu.
  std::mutex lifecycle_mu;
  std::vector<std::thread> threads;

  std::mutex sleep_mu;  // For interruptible backoff sleeps.
  std::condition_variable sleep_cv;
  std::mt19937_64 rng;  // Guarded by sleep_mu.

  // State below is guarded by mu. No I/O is done while holding it.
  mutable std::mutex mu;
  mutable std::condition_variable sync_cv;
  bool synced[kNumKinds] = {false, false, false};
  uint64_t version = 0;
  ClusterCacheStats stats;

  std::map<std::string, NodePtr> nodes;  // by name
  bool nodes_dirty = true;
  std::map<std::string, PdbPtr> pdbs;  // by "<ns>/<name>"
  bool pdbs_dirty = true;
  PodStore pods;
  std::unordered_map<std::string, Bucket> node_buckets;   // node name -> pods
  std::unordered_map<std::string, Bucket> owner_buckets;  // controller UID -> pods
  std::unordered_set<std::string> dirty_nodes, dirty_owners;

  // Published (immutable) pieces of the last snapshot, reused while unchanged.
  std::shared_ptr<const std::map<std::string, NodePtr>> pub_nodes;
  std::shared_ptr<const std::map<std::string, PdbPtr>> pub_pdbs;
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const PodList>>> pub_by_node;
  std::shared_ptr<const ClusterSnapshot::OwnerIndex> pub_owners;
  std::shared_ptr<const ClusterSnapshot> cached;  // valid while cached->version == version

  // --- mutations (mu held) ---

  void IndexPod(const PodPtr& p) {
    BucketInsert(&node_buckets[p->node_name], p);
    dirty_nodes.insert(p->node_name);
    if (const std::string* uid = ControllerUid(*p)) {
      BucketInsert(&owner_buckets[*uid], p);
      dirty_owners.insert(*uid);
    }
  }

  void UnindexPod(const PodPtr& p) {
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
  PodPtr UpsertPod(const PodPtr& p) {
    PodPtr old;
    auto it = pods.find(KeyOf(p));
    if (it != pods.end()) {
      old = *it;
      pods.erase(it);
      UnindexPod(old);
    }
    pods.insert(p);
    IndexPod(p);
    ++version;
    return old;
  }

  PodPtr RemovePod(const ObjKey& key) {
    auto it = pods.find(KeyOf(key));
    if (it == pods.end()) return nullptr;
    PodPtr old = *it;
    pods.erase(it);
    UnindexPod(old);
    ++version;
    return old;
  }

  static bool Same(const ObjectMeta& a, const ObjectMeta& b) {
    return a.resource_version == b.resource_version && a.uid == b.uid;
  }

  // Applies a decoded object (upsert); returns the pod event to emit, if any.
  std::optional<PodEvent> Upsert(ResourceKind kind, const ObjKey& key, const Decoded& d) {
    switch (kind) {
      case ResourceKind::kNodes: {
        NodePtr& slot = nodes[key.name];
        if (slot && Same(slot->meta, d.node->meta)) return std::nullopt;
        slot = d.node;
        nodes_dirty = true;
        ++version;
        return std::nullopt;
      }
      case ResourceKind::kPodDisruptionBudgets: {
        PdbPtr& slot = pdbs[key.Flat()];
        if (slot && Same(slot->meta, d.pdb->meta)) return std::nullopt;
        slot = d.pdb;
        pdbs_dirty = true;
        ++version;
        return std::nullopt;
      }
      case ResourceKind::kPods: {
        auto it = pods.find(KeyOf(key));
        if (it != pods.end() && Same((*it)->meta, d.pod->meta)) return std::nullopt;
        PodPtr old = UpsertPod(d.pod);
        return PodEvent{old ? PodEventType::kModified : PodEventType::kAdded, old, d.pod};
      }
    }
    return std::nullopt;
  }

  std::optional<PodEvent> Remove(ResourceKind kind, const ObjKey& key) {
    switch (kind) {
      case ResourceKind::kNodes:
        if (nodes.erase(key.name) > 0) {
          nodes_dirty = true;
          ++version;
        }
        return std::nullopt;
      case ResourceKind::kPodDisruptionBudgets:
        if (pdbs.erase(key.Flat()) > 0) {
          pdbs_dirty = true;
          ++version;
        }
        return std::nullopt;
      case ResourceKind::kPods: {
        PodPtr old = RemovePod(key);
        if (!old) return std::nullopt;
        return PodEvent{PodEventType::kDeleted, old, nullptr};
      }
    }
    return std::nullopt;
  }

  // The cached object with this key, if present.
  bool Existing(ResourceKind kind, const ObjKey& key, Decoded* out) const {
    switch (kind) {
      case ResourceKind::kNodes: {
        auto it = nodes.find(key.name);
        if (it == nodes.end()) return false;
        out->node = it->second;
        return true;
      }
      case ResourceKind::kPodDisruptionBudgets: {
        auto it = pdbs.find(key.Flat());
        if (it == pdbs.end()) return false;
        out->pdb = it->second;
        return true;
      }
      case ResourceKind::kPods: {
        auto it = pods.find(KeyOf(key));
        if (it == pods.end()) return false;
        out->pod = *it;
        return true;
      }
    }
    return false;
  }

  std::vector<ObjKey> Keys(ResourceKind kind) const {
    std::vector<ObjKey> keys;
    switch (kind) {
      case ResourceKind::kNodes:
        for (const auto& [k, v] : nodes) keys.push_back({"", k});
        break;
      case ResourceKind::kPodDisruptionBudgets:
        for (const auto& [k, v] : pdbs) keys.push_back({v->meta.namespace_, v->meta.name});
        break;
      case ResourceKind::kPods:
        keys.reserve(pods.size());
        for (const PodPtr& p : pods) keys.push_back({p->meta.namespace_, p->meta.name});
        break;
    }
    return keys;
  }

  void Emit(const std::vector<PodEvent>& events) {
    for (const PodEvent& e : events) {
      for (const auto& h : pod_handlers) h(e);
    }
  }

  // --- snapshot ---

  std::shared_ptr<const ClusterSnapshot> BuildSnapshotLocked() {
    if (cached && cached->version == version) return cached;
    if (nodes_dirty || !pub_nodes) {
      pub_nodes = std::make_shared<const std::map<std::string, NodePtr>>(nodes);
      nodes_dirty = false;
    }
    if (pdbs_dirty || !pub_pdbs) {
      pub_pdbs = std::make_shared<const std::map<std::string, PdbPtr>>(pdbs);
      pdbs_dirty = false;
    }
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
    if (!pub_by_node || !dirty_nodes.empty()) {
      std::vector<const std::string*> keys;
      for (const std::string& k : dirty_nodes) keys.push_back(&k);
      pub_by_node = apply(pub_by_node.get(), keys, node_buckets);
      dirty_nodes.clear();
    }
    if (!pub_owners || !dirty_owners.empty()) {
      auto next = pub_owners ? std::make_shared<ClusterSnapshot::OwnerIndex>(*pub_owners)
                             : std::make_shared<ClusterSnapshot::OwnerIndex>();
      std::array<std::vector<const std::string*>, ClusterSnapshot::OwnerIndex::kShards> by_shard;
      for (const std::string& k : dirty_owners) {
        by_shard[ClusterSnapshot::OwnerIndex::ShardOf(k)].push_back(&k);
      }
      for (size_t i = 0; i < by_shard.size(); ++i) {
        if (!by_shard[i].empty() || !next->shards[i]) {
          next->shards[i] = apply(next->shards[i].get(), by_shard[i], owner_buckets);
        }
      }
      pub_owners = std::move(next);
      dirty_owners.clear();
    }
    auto snap = std::make_shared<ClusterSnapshot>();
    snap->version = version;
    snap->nodes = pub_nodes;
    snap->pods_by_node = pub_by_node;
    snap->pdbs = pub_pdbs;
    snap->owner_index = pub_owners;
    cached = std::move(snap);
    return cached;
  }

  // --- list / watch loop ---

  void SleepBackoff(std::chrono::milliseconds* backoff) {
    std::unique_lock<std::mutex> lock(sleep_mu);
    // Equal jitter: between half and all of the current backoff.
    auto half = *backoff / 2;
    std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(half.count(), 0));
    auto wait = half + std::chrono::milliseconds(dist(rng));
    sleep_cv.wait_for(lock, wait, [this] { return stop.load(); });
    *backoff = std::min(*backoff * 2, options.backoff_max);
  }

  // Lists every page of `kind` and replaces the cached set with the result, emitting pod events
  // for differences. Sets *rv to the list's resourceVersion.
  Status ListAndReplace(ResourceKind kind, std::string* rv) {
    const char* kind_name = ResourceKindName(kind);
    struct Entry {
      ObjKey key;
      Decoded obj;
    };
    std::unordered_map<std::string, Entry> fresh;  // by ObjKey::Flat()
    std::string list_rv;
    std::string cont;
    int restarts = 0;
    for (;;) {
      if (stop) return Status::Cancelled("stopped");
      ListOptions lo;
      lo.limit = options.page_size;
      lo.continue_token = cont;
      auto page = client.List(kind, lo);
      {
        std::lock_guard<std::mutex> lock(mu);
        stats.lists++;
      }
      if (!page.ok()) {
        if (page.status().http_code() == 410 && !cont.empty() && restarts < 3) {
          // The continue token expired: start the list again.
          Log()->info("list continue token expired, restarting kind={}", kind_name);
          ++restarts;
          fresh.clear();
          cont.clear();
          continue;
        }
        return page.status();
      }
      if (list_rv.empty()) list_rv = page->resource_version;
      // Objects unchanged since the cache saw them are reused without decoding.
      std::vector<Entry> entries(page->items.size());
      {
        std::lock_guard<std::mutex> lock(mu);
        for (size_t i = 0; i < page->items.size(); ++i) {
          const json& item = page->items[i];
          entries[i].key = RawKey(item);
          Decoded existing;
          if (Existing(kind, entries[i].key, &existing) &&
              existing.rv() == MetaOr(item, "resourceVersion")) {
            entries[i].obj = existing;
          }
        }
      }
      for (size_t i = 0; i < page->items.size(); ++i) {
        Entry& e = entries[i];
        if (!e.obj.node && !e.obj.pod && !e.obj.pdb) {
          auto decoded = DecodeAny(kind, page->items[i]);
          if (decoded.ok()) {
            e.obj = std::move(decoded).value();
          } else {
            RecordDecodeError(kind, e.key.Flat(), decoded.status());
            // Keep what the cache had for this object, if anything.
            std::lock_guard<std::mutex> lock(mu);
            if (!Existing(kind, e.key, &e.obj)) continue;
          }
        }
        std::string flat = e.key.Flat();
        fresh[std::move(flat)] = std::move(e);
      }
      page->items.clear();
      cont = page->continue_token;
      if (cont.empty()) break;
    }

    std::vector<PodEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const ObjKey& key : Keys(kind)) {
        if (fresh.count(key.Flat()) == 0) {
          if (auto e = Remove(kind, key)) events.push_back(std::move(*e));
        }
      }
      for (const auto& [flat, entry] : fresh) {
        if (auto e = Upsert(kind, entry.key, entry.obj)) events.push_back(std::move(*e));
      }
    }
    Emit(events);
    {
      // Synced only after the handlers saw the listed objects.
      std::lock_guard<std::mutex> lock(mu);
      int idx = static_cast<int>(kind == ResourceKind::kNodes  ? 0
                                 : kind == ResourceKind::kPods ? 1
                                                               : 2);
      synced[idx] = true;
    }
    sync_cv.notify_all();
    *rv = list_rv;
    Log()->info("listed kind={} objects={} resource_version={} changes={}", kind_name, fresh.size(),
                list_rv, events.size());
    return Status::Ok();
  }

  void RecordDecodeError(ResourceKind kind, const std::string& key, const Status& st) {
    {
      std::lock_guard<std::mutex> lock(mu);
      stats.decode_errors++;
    }
    Log()->warn("skipping undecodable object kind={} object={} error=\"{}\"",
                ResourceKindName(kind), key, st.message());
  }

  // Applies one watch event; returns false to end the watch.
  bool OnEvent(ResourceKind kind, WatchEvent&& ev, std::string* rv, uint64_t* received) {
    ++*received;
    std::string ev_rv = MetaOr(ev.object, "resourceVersion");
    if (ev.type == WatchEventType::kBookmark) {
      if (!ev_rv.empty()) *rv = ev_rv;
      return !stop;
    }
    if (ev.type == WatchEventType::kError) return false;
    ObjKey key = RawKey(ev.object);
    std::optional<PodEvent> pod_event;
    if (ev.type == WatchEventType::kDeleted) {
      std::lock_guard<std::mutex> lock(mu);
      pod_event = Remove(kind, key);
      stats.events++;
    } else {
      auto decoded = DecodeAny(kind, ev.object);
      if (!decoded.ok()) {
        // The cache keeps the previous version of the object (if any) until a relist.
        RecordDecodeError(kind, key.Flat(), decoded.status());
      } else {
        std::lock_guard<std::mutex> lock(mu);
        pod_event = Upsert(kind, key, *decoded);
        stats.events++;
      }
    }
    if (!ev_rv.empty()) *rv = ev_rv;
    if (pod_event) Emit({*pod_event});
    return !stop;
  }

  void Run(ResourceKind kind) {
    const char* kind_name = ResourceKindName(kind);
    std::chrono::milliseconds backoff = options.backoff_initial;
    bool need_list = true;
    std::string rv;
    while (!stop) {
      if (need_list) {
        Status st = ListAndReplace(kind, &rv);
        if (stop) break;
        if (!st.ok()) {
          Log()->warn("list failed kind={} error=\"{}\" retry_in_ms={}", kind_name, st.message(),
                      backoff.count());
          SleepBackoff(&backoff);
          continue;
        }
        need_list = false;
        backoff = options.backoff_initial;
#ifdef __GLIBC__
        // A full list leaves megabytes of freed JSON and decode scratch in malloc's arenas;
        // give them back so the steady-state RSS reflects the cache itself. Lists are rare.
        malloc_trim(0);
#endif
      }
      WatchOptions wo;
      wo.resource_version = rv;
      wo.allow_bookmarks = true;
      wo.timeout_seconds = options.watch_timeout_seconds;
      uint64_t received = 0;
      Status st = client.Watch(
          kind, wo, [&](WatchEvent&& ev) { return OnEvent(kind, std::move(ev), &rv, &received); },
          &stop);
      if (stop) break;
      {
        std::lock_guard<std::mutex> lock(mu);
        stats.watch_restarts++;
      }
      if (st.code() == StatusCode::kFailedPrecondition && st.http_code() == 410) {
        Log()->info("watch expired, relisting kind={} resource_version={} error=\"{}\"", kind_name,
                    rv, st.message());
        {
          std::lock_guard<std::mutex> lock(mu);
          stats.relists++;
        }
        need_list = true;
        continue;
      }
      if (st.ok()) {
        Log()->debug("watch ended kind={} resource_version={} events={}", kind_name, rv, received);
        if (received > 0) {
          backoff = options.backoff_initial;
        } else {
          SleepBackoff(&backoff);  // a server that closes watches at once must not spin us
        }
        continue;
      }
      Log()->warn("watch failed kind={} resource_version={} error=\"{}\" retry_in_ms={}", kind_name,
                  rv, st.message(), backoff.count());
      if (received > 0) backoff = options.backoff_initial;
      SleepBackoff(&backoff);
    }
  }
};

ClusterCache::ClusterCache(KubeClient& client, Clock& clock, ClusterCacheOptions options)
    : impl_(std::make_unique<Impl>(client, clock, options)) {}

ClusterCache::~ClusterCache() { Stop(); }

void ClusterCache::Start() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->started) return;
  impl_->started = true;
  for (ResourceKind kind : kKinds) {
    impl_->threads.emplace_back([this, kind] { impl_->Run(kind); });
  }
}

void ClusterCache::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  {
    std::lock_guard<std::mutex> sl(impl_->sleep_mu);
    impl_->stop = true;
  }
  impl_->sleep_cv.notify_all();
  for (std::thread& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

bool ClusterCache::Synced() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return std::all_of(std::begin(impl_->synced), std::end(impl_->synced), [](bool b) { return b; });
}

bool ClusterCache::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->sync_cv.wait_for(lock, timeout, [this] {
    return std::all_of(std::begin(impl_->synced), std::end(impl_->synced),
                       [](bool b) { return b; });
  });
}

std::shared_ptr<const ClusterSnapshot> ClusterCache::Snapshot() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->BuildSnapshotLocked();
}

void ClusterCache::AddPodHandler(std::function<void(const PodEvent&)> handler) {
  impl_->pod_handlers.push_back(std::move(handler));
}

ClusterCacheStats ClusterCache::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace kb::kube
