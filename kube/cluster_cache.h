// ClusterCache: a watch-fed cache (informer) of the kinds in kube_client.h's kResourceKinds
// (nodes, pods, PDBs, workloads, volumes, storage classes, namespaces, priority classes).
// It lists each kind with pagination, then watches from the list's resourceVersion with
// bookmarks; on 410 it relists; on any other watch failure it re-watches from the last seen
// resourceVersion with exponential backoff and jitter. Once synced it issues no LIST unless a
// watch expires or the API server's resourceVersions went backwards (an etcd restore): a watch
// answered 504 with the cause ResourceVersionTooLarge, or an event older than the watch's start,
// makes it relist from scratch, as client-go's reflector does.
//
// Health(): per kind, whether it is in sync (listed, and its watch is open or being reopened
// after a clean end) and for how long it has not been; Ready() is what /readyz answers.
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
  // The cap is kept short so a kind is back in sync within seconds of the API server returning
  // (client-go's 30 s cap would eat half of a one-minute readiness bound).
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{5000};
  // The kinds to mirror (each gets its own list/watch loop); default: every kind the snapshot
  // holds. A kind not watched keeps an empty map in the snapshot.
  std::vector<ResourceKind> kinds = AllResourceKinds();

  static std::vector<ResourceKind> AllResourceKinds();
};

struct ClusterCacheStats {
  uint64_t lists = 0;           // LIST requests issued (all pages, all kinds)
  uint64_t relists = 0;         // relists after 410, ResourceVersionTooLarge or an RV going back
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

// Why a kind was relisted after its first list.
enum class RelistReason { kExpired, kTooLargeResourceVersion, kResourceVersionBackwards };
inline constexpr size_t kRelistReasonCount = 3;
const char* RelistReasonName(RelistReason r);  // "expired", "too_large", "rv_backwards"

struct KindHealth {
  ResourceKind kind;
  bool listed = false;   // the first list completed
  bool in_sync = false;  // listed, and the watch is open (or reopening after a clean end)
  // How long the kind has been out of sync (since start for a kind never listed); 0 in sync.
  std::chrono::nanoseconds unsynced_for{0};
  std::array<uint64_t, kRelistReasonCount> relists{};  // by RelistReason
};

// The readiness rule for one kind: listed, and not out of sync longer than `max_unsynced`.
inline bool InSyncWithin(const KindHealth& h, std::chrono::milliseconds max_unsynced) {
  return h.listed && h.unsynced_for <= max_unsynced;
}

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
  // One entry per watched kind (ClusterCacheOptions::kinds order), timed by the cache's clock.
  std::vector<KindHealth> Health() const;
  // Synced() and no watched kind out of sync for longer than `max_unsynced`.
  bool Ready(std::chrono::milliseconds max_unsynced) const;

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
