// ObjectStore: kube-sim's etcd + watch cache. Objects are immutable JSON values keyed by
// resource and "<ns>/<name>" (cluster-scoped: "<name>"), every write takes the next value of one
// global resourceVersion counter, and each resource keeps a bounded history of its events that
// serves watch resumption and consistent (snapshot) list pages. Watchers receive their events as
// ready-to-send JSON lines.
// Thread-safe: one mutex guards the state; Mutate() runs a read-modify-write atomically.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/resources.h"
#include "sim/selectors.h"

namespace kb::sim {

// The key of an object in its resource ("ns/name", or "name" when ns is empty).
std::string ObjectKey(const std::string& ns, const std::string& name);

// Which objects a watch wants, and how to label its bookmarks.
struct WatchFilter {
  std::string resource;
  std::string ns;  // "" = all namespaces
  LabelSelector labels;
  FieldSelector fields;
  std::string kind;         // for BOOKMARK objects
  std::string api_version;  // for BOOKMARK objects
  bool Matches(const nlohmann::json& object) const;
};

// One open watch: a queue of JSON lines filled by the store, drained by the HTTP worker.
class Watcher {
 public:
  Watcher(WatchFilter filter, size_t max_queue)
      : filter_(std::move(filter)), max_queue_(max_queue) {}

  struct Batch {
    std::vector<std::string> lines;
    bool closed = false;  // no more lines will come
    bool abrupt = false;  // end the stream without a clean terminator
  };
  // Waits up to `wait` for lines or for the close, then takes everything queued.
  Batch Take(std::chrono::milliseconds wait);
  // Queues a line; a consumer that falls `max_queue` lines behind is closed abruptly.
  void Push(std::string line);
  void Close(bool abrupt);
  bool closed() const;
  const WatchFilter& filter() const { return filter_; }

 private:
  const WatchFilter filter_;
  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;  // Guarded by mu_.
  bool closed_ = false;            // Guarded by mu_.
  bool abrupt_ = false;            // Guarded by mu_.
};

class ObjectStore {
 public:
  using Object = std::shared_ptr<const nlohmann::json>;
  enum class EventType { kAdded, kModified, kDeleted };
  struct Event {
    uint64_t rv = 0;
    EventType type = EventType::kAdded;
    std::string key;
    Object object;  // the state after the event (for DELETED: the last state, with the delete RV)
    Object prev;    // the state before the event (null for ADDED)
  };
  struct ListResult {
    uint64_t rv = 0;  // the resourceVersion the items are consistent at
    std::vector<std::pair<std::string, Object>> items;  // sorted by key
  };

  // `history_limit`: events kept per resource.
  explicit ObjectStore(size_t history_limit);

  uint64_t CurrentRv() const;
  Object Get(const std::string& resource, const std::string& key) const;
  std::vector<Object> List(const std::string& resource) const;  // sorted by key
  // The state of `resource` as of `rv` (0 = now). 410 Expired when the history no longer
  // reaches back to `rv`; 504 Timeout when `rv` is in the future.
  ApiResult<ListResult> ListAt(const std::string& resource, uint64_t rv) const;
  // The oldest resourceVersion a watch of `resource` can still resume from.
  uint64_t HistoryFloor(const std::string& resource) const;

  // Reads and writes inside one critical section (the store's lock is held: never block or do
  // I/O in it, and never call other ObjectStore methods from it).
  class Txn {
   public:
    uint64_t CurrentRv() const { return store_.rv_; }
    Object Get(const std::string& resource, const std::string& key) const;
    std::vector<Object> List(const std::string& resource) const;
    // Stores `object` under the next resourceVersion (written into metadata.resourceVersion);
    // emits ADDED or MODIFIED. Returns the stored value.
    Object Put(const std::string& resource, const std::string& key, nlohmann::json object);
    // Removes the object; emits DELETED carrying its last state under a new resourceVersion.
    // Returns that state (null when absent).
    Object Remove(const std::string& resource, const std::string& key);

   private:
    friend class ObjectStore;
    explicit Txn(ObjectStore& store) : store_(store) {}
    ObjectStore& store_;
  };
  template <class F>
  auto Mutate(F&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(*this);
    return fn(txn);
  }

  // Registers `watcher` and queues its first events: with no `from_rv`, a synthetic ADDED per
  // current object; else every event after *from_rv. Returns 410 Expired (not registered) when
  // *from_rv is older than the history.
  std::optional<ApiError> StartWatch(const std::shared_ptr<Watcher>& watcher,
                                     std::optional<uint64_t> from_rv);
  void StopWatch(const std::shared_ptr<Watcher>& watcher);
  // Queues a BOOKMARK with the current resourceVersion (after every event already queued).
  void Bookmark(Watcher& watcher);
  void CloseAllWatchers(bool abrupt);
  size_t WatcherCount() const;
  // Drops every resource's event history: any older resourceVersion now gets 410.
  void ForgetHistory();

  // etcd's content: every object and the resourceVersion counter.
  struct Backup {
    uint64_t rv = 0;
    std::map<std::string, std::map<std::string, Object>> objects;
  };
  Backup TakeBackup() const;
  // An etcd restore followed by an API server restart: objects and the resourceVersion counter
  // go back to `backup` (resourceVersions go backwards), the event history starts anew at the
  // restored resourceVersion and every watcher is closed abruptly.
  void Restore(const Backup& backup);

 private:
  void Record(const std::string& resource, Event event);  // mu_ held

  const size_t history_limit_;
  mutable std::mutex mu_;
  uint64_t rv_ = 0;                                                        // Guarded by mu_.
  std::map<std::string, std::map<std::string, Object>> objects_;           // Guarded by mu_.
  std::map<std::string, std::deque<Event>> history_;                       // Guarded by mu_.
  std::map<std::string, uint64_t> floor_;                                  // Guarded by mu_.
  std::map<std::string, std::vector<std::shared_ptr<Watcher>>> watchers_;  // Guarded by mu_.
};

}  // namespace kb::sim
