// ClusterCache: a watch-fed cache (informer) of the kinds in kube_client.h's kResourceKinds
// (nodes, pods, PDBs, workloads, volumes, storage classes, namespaces, priority classes).
// It lists each kind with pagination, then watches from the list's resourceVersion with
// bookmarks; on 410 it relists; on any other watch failure it re-watches from the last seen
// resourceVersion with exponential backoff and jitter. Once synced it issues no LIST unless a
// watch expires.
//
// Readers call Snapshot(): an immutable, internally consistent ClusterSnapshot (core/), taken
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
#include "core/cluster_snapshot.h"
#include "core/model.h"
#include "kube/kube_client.h"

namespace kb::kube {

struct ClusterCacheOptions {
  int64_t page_size = 500;          // LIST page size (limit=)
  int watch_timeout_seconds = 300;  // server-side timeoutSeconds of each watch
  // Backoff between failed lists / watches: doubles per failure up to backoff_max, with jitter
  // (each wait is between half and all of the current backoff); reset by a successful list or a
  // watch that delivered events.
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30000};
  // The kinds to mirror (each gets its own list/watch loop); default: every kind the snapshot
  // holds. A kind not watched keeps an empty map in the snapshot.
  std::vector<ResourceKind> kinds = AllResourceKinds();

  static std::vector<ResourceKind> AllResourceKinds();
};

struct ClusterCacheStats {
  uint64_t lists = 0;           // LIST requests issued (all pages, all kinds)
  uint64_t relists = 0;         // relists after 410 / decode failure
  uint64_t watch_restarts = 0;  // watches re-established after an end or error
  uint64_t decode_errors = 0;   // objects skipped because they failed to decode
  uint64_t events = 0;          // watch events applied
};

// Whether one watched kind's data is known to be current.
struct KindSyncState {
  ResourceKind kind;
  bool listed = false;     // the initial list completed
  bool connected = false;  // no list / watch failure since `confirmed`
  SteadyTime confirmed{};  // last successful list, watch event (bookmarks too) or clean watch end
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

  std::shared_ptr<const ClusterSnapshot> Snapshot() const;

  // One entry per watched kind (options.kinds order). Times are from the cache's Clock.
  std::vector<KindSyncState> SyncStates() const;

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
