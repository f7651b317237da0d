// ClusterCache: a watch-fed cache (informer) of nodes, pods and PodDisruptionBudgets.
// It lists each kind with pagination, then watches from the list's resourceVersion with
// bookmarks; on 410 it relists; on any other watch failure it re-watches from the last seen
// resourceVersion with exponential backoff and jitter. Once synced it issues no LIST unless a
// watch expires.
//
// Readers call Snapshot(): an immutable, internally consistent view (shared_ptr to const), taken
// without waiting on I/O. Building a snapshot costs O(nodes + objects changed since the last
// snapshot), not O(pods): pods are kept in per-node buckets that are copied on write.
// Thread-safe: one background thread per kind writes; any thread may read.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/model.h"
#include "kube/kube_client.h"

namespace kb::kube {

using PodPtr = std::shared_ptr<const Pod>;
using NodePtr = std::shared_ptr<const Node>;
using PdbPtr = std::shared_ptr<const PodDisruptionBudget>;
using PodList = std::vector<PodPtr>;

// An immutable view of the cluster. Cheap to copy (shared_ptr members).
struct CacheSnapshot {
  uint64_t version = 0;  // increases with every applied change
  // Nodes by name.
  std::shared_ptr<const std::map<std::string, NodePtr>> nodes;
  // Bound pods by node name (key "" holds unbound pods). Every bucket is non-null and non-empty
  // (a node without pods has no entry); pods in a bucket are sorted by namespace, then name.
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const PodList>>> pods_by_node;
  // PDBs by "<namespace>/<name>".
  std::shared_ptr<const std::map<std::string, PdbPtr>> pdbs;

  // Lookups. Return nullptr / empty when absent.
  NodePtr FindNode(const std::string& name) const;
  const PodList& PodsOnNode(const std::string& node) const;
  PodPtr FindPod(const std::string& ns, const std::string& name) const;  // O(pods): tests/debug
  // Pods whose controller owner has this UID (ReplicaSet, DaemonSet, ...). Uses an index.
  PodList PodsOwnedBy(const std::string& owner_uid) const;
  // PDBs in `pod`'s namespace whose selector matches its labels. As the eviction subresource
  // does, a PDB with a null or empty selector matches no pod.
  std::vector<PdbPtr> PdbsForPod(const Pod& pod) const;
  size_t PodCount() const;

  // Owner index: controller-owner UID -> pods (sorted by namespace, then name), split into
  // OwnerIndex::kShards maps by a hash of the UID so that a snapshot after a change copies only
  // the shards that changed: O(owners / kShards), not O(owners). Read it through PodsOwnedBy().
  struct OwnerIndex {
    static constexpr size_t kShards = 256;
    using Shard = std::map<std::string, std::shared_ptr<const PodList>>;
    std::array<std::shared_ptr<const Shard>, kShards> shards;  // every shard is non-null
    static size_t ShardOf(const std::string& owner_uid);
    // The pods owned by `owner_uid`, or nullptr.
    std::shared_ptr<const PodList> Find(const std::string& owner_uid) const;
  };
  std::shared_ptr<const OwnerIndex> owner_index;

  // Unsharded owner index for hand-built snapshots (tests). The cache leaves it null and fills
  // owner_index; PodsOwnedBy() consults owner_index first, then this.
  std::shared_ptr<const std::map<std::string, std::shared_ptr<const PodList>>> pods_by_owner;
};

// Builds a snapshot from plain objects (tests, tools): pods are bucketed by spec.nodeName and
// indexed by controller owner exactly as the cache does. version is 1.
std::shared_ptr<const CacheSnapshot> BuildSnapshot(const std::vector<Node>& nodes,
                                                   const std::vector<Pod>& pods,
                                                   const std::vector<PodDisruptionBudget>& pdbs);

enum class PodEventType { kAdded, kModified, kDeleted };
struct PodEvent {
  PodEventType type;
  PodPtr old_pod;  // null for kAdded
  PodPtr new_pod;  // null for kDeleted
};

struct ClusterCacheOptions {
  int64_t page_size = 500;          // LIST page size (limit=)
  int watch_timeout_seconds = 300;  // server-side timeoutSeconds of each watch
  // Backoff between failed lists / watches: doubles per failure up to backoff_max, with jitter
  // (each wait is between half and all of the current backoff); reset by a successful list or a
  // watch that delivered events.
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
};

struct ClusterCacheStats {
  uint64_t lists = 0;           // LIST requests issued (all pages, all kinds)
  uint64_t relists = 0;         // relists after 410 / decode failure
  uint64_t watch_restarts = 0;  // watches re-established after an end or error
  uint64_t decode_errors = 0;   // objects skipped because they failed to decode
  uint64_t events = 0;          // watch events applied
};

class ClusterCache {
 public:
  ClusterCache(KubeClient& client, Clock& clock, ClusterCacheOptions options = {});
  ~ClusterCache();  // Stops and joins.
  ClusterCache(const ClusterCache&) = delete;
  ClusterCache& operator=(const ClusterCache&) = delete;

  // Starts the list/watch threads. Call once.
  void Start();
  // Stops the threads (interrupting watches) and joins them. Idempotent.
  void Stop();
  // True once every kind has completed its initial list (and the pod handlers have been called
  // for the listed pods).
  bool Synced() const;
  // Blocks until Synced() or `timeout`; returns Synced().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::shared_ptr<const CacheSnapshot> Snapshot() const;

  // Called on the watch thread after each pod change is applied (and for each pod of a relist
  // that differs from the cache). Handlers must be quick and must not call back into the cache's
  // writers. Register before Start().
  void AddPodHandler(std::function<void(const PodEvent&)> handler);

  ClusterCacheStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kb::kube
