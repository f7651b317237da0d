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
#include "kube/cache_store.h"

namespace kb::kube {
namespace {

using nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube"); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// ClusterCache

struct ClusterCache::Impl {
  Impl(KubeClient& c, Clock& clk, ClusterCacheOptions opts)
      : client(c), clock(clk), options(opts), rng(std::random_device{}()) {
    synced.fill(true);
    for (ResourceKind kind : options.kinds) synced[static_cast<size_t>(kind)] = false;
  }

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
  // Per kind (kResourceKinds order): listed at least once. Kinds not watched count as synced.
  std::array<bool, kResourceKindCount> synced;
  // Per kind: no failure since `confirmed` (see KindSyncState).
  std::array<bool, kResourceKindCount> connected{};
  std::array<SteadyTime, kResourceKindCount> confirmed{};
  ClusterCacheStats stats;

  CacheStore store;

  void Emit(const std::vector<PodEvent>& events) {
    for (const PodEvent& e : events) {
      for (const auto& h : pod_handlers) h(e);
    }
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

  // One listed object, decoded (or reused from the cache when its resourceVersion is unchanged).
  struct Listed {
    ObjKey key;
    Decoded obj;
  };

  // Decodes one LIST page into `fresh` (by ObjKey::Flat()). Objects unchanged since the cache saw
  // them are reused without decoding; an undecodable object keeps its cached version, if any.
  void DecodePage(ResourceKind kind, RawList& page,
                  std::unordered_map<std::string, Listed>* fresh) {
    std::vector<Listed> entries(page.items.size());
    {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < page.items.size(); ++i) {
        entries[i].key = RawKey(page.items[i]);
        std::optional<Decoded> existing = store.Find(kind, entries[i].key);
        if (existing && existing->rv() == RawResourceVersion(page.items[i])) {
          entries[i].obj = *existing;
        }
      }
    }
    for (size_t i = 0; i < page.items.size(); ++i) {
      Listed& e = entries[i];
      if (e.obj.empty()) {
        auto decoded = DecodeObject(kind, page.items[i]);
        if (decoded.ok()) {
          e.obj = std::move(decoded).value();
        } else {
          RecordDecodeError(kind, e.key.Flat(), decoded.status());
          std::lock_guard<std::mutex> lock(mu);
          std::optional<Decoded> existing = store.Find(kind, e.key);
          if (!existing) continue;
          e.obj = *existing;
        }
      }
      std::string flat = e.key.Flat();
      (*fresh)[std::move(flat)] = std::move(e);
    }
    page.items.clear();
  }

  // Lists every page of `kind` into `fresh`; returns the list's resourceVersion. An expired
  // continue token restarts the list (up to 3 times).
  StatusOr<std::string> ListAll(ResourceKind kind, std::unordered_map<std::string, Listed>* fresh) {
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
          Log()->info("list continue token expired, restarting kind={}", ResourceKindName(kind));
          ++restarts;
          fresh->clear();
          cont.clear();
          continue;
        }
        return page.status();
      }
      if (list_rv.empty()) list_rv = page->resource_version;
      DecodePage(kind, *page, fresh);
      cont = page->continue_token;
      if (cont.empty()) return list_rv;
    }
  }

  // Lists every page of `kind` and replaces the cached set with the result, emitting pod events
  // for differences. Sets *rv to the list's resourceVersion.
  Status ListAndReplace(ResourceKind kind, std::string* rv) {
    std::unordered_map<std::string, Listed> fresh;
    StatusOr<std::string> list_rv = ListAll(kind, &fresh);
    if (!list_rv.ok()) return list_rv.status();
    std::vector<PodEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (const ObjKey& key : store.Keys(kind)) {
        if (fresh.count(key.Flat()) == 0) {
          if (auto e = store.Remove(kind, key)) events.push_back(std::move(*e));
        }
      }
      for (const auto& [flat, entry] : fresh) {
        if (auto e = store.Upsert(kind, entry.key, entry.obj)) events.push_back(std::move(*e));
      }
    }
    Emit(events);
    {
      // Synced only after the handlers saw the listed objects.
      std::lock_guard<std::mutex> lock(mu);
      synced[static_cast<size_t>(kind)] = true;
      Confirm(kind);
    }
    sync_cv.notify_all();
    *rv = *list_rv;
    Log()->info("listed kind={} objects={} resource_version={} changes={}", ResourceKindName(kind),
                fresh.size(), *rv, events.size());
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

  // The kind's data is current now. Requires mu.
  void Confirm(ResourceKind kind) {
    connected[static_cast<size_t>(kind)] = true;
    confirmed[static_cast<size_t>(kind)] = clock.Now();
  }
  void SetConfirmed(ResourceKind kind) {
    std::lock_guard<std::mutex> lock(mu);
    Confirm(kind);
  }
  void SetDisconnected(ResourceKind kind) {
    std::lock_guard<std::mutex> lock(mu);
    connected[static_cast<size_t>(kind)] = false;
  }

  // Applies one watch event; returns false to end the watch.
  bool OnEvent(ResourceKind kind, WatchEvent&& ev, std::string* rv, uint64_t* received) {
    ++*received;
    if (ev.type != WatchEventType::kError) SetConfirmed(kind);
    std::string ev_rv = RawResourceVersion(ev.object);
    if (ev.type == WatchEventType::kBookmark) {
      if (!ev_rv.empty()) *rv = ev_rv;
      return !stop;
    }
    if (ev.type == WatchEventType::kError) return false;
    ObjKey key = RawKey(ev.object);
    std::optional<PodEvent> pod_event;
    if (ev.type == WatchEventType::kDeleted) {
      std::lock_guard<std::mutex> lock(mu);
      pod_event = store.Remove(kind, key);
      stats.events++;
    } else {
      auto decoded = DecodeObject(kind, ev.object);
      if (!decoded.ok()) {
        // The cache keeps the previous version of the object (if any) until a relist.
        RecordDecodeError(kind, key.Flat(), decoded.status());
      } else {
        std::lock_guard<std::mutex> lock(mu);
        pod_event = store.Upsert(kind, key, *decoded);
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
          SetDisconnected(kind);
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
      bool stream_error = false;  // the watch ended with an in-stream ERROR event
      Status st = client.Watch(
          kind, wo,
          [&](WatchEvent&& ev) {
            stream_error = stream_error || ev.type == WatchEventType::kError;
            return OnEvent(kind, std::move(ev), &rv, &received);
          },
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
        SetDisconnected(kind);  // current again once relisted
        continue;
      }
      if (st.ok()) {
        // The server ended a working watch (an ERROR event ends a broken one).
        if (stream_error) {
          SetDisconnected(kind);
        } else {
          SetConfirmed(kind);
        }
        Log()->debug("watch ended kind={} resource_version={} events={}", kind_name, rv, received);
        if (received > 0) {
          backoff = options.backoff_initial;
        } else {
          SleepBackoff(&backoff);  // a server that closes watches at once must not spin us
        }
        continue;
      }
      SetDisconnected(kind);
      Log()->warn("watch failed kind={} resource_version={} error=\"{}\" retry_in_ms={}", kind_name,
                  rv, st.message(), backoff.count());
      if (received > 0) backoff = options.backoff_initial;
      SleepBackoff(&backoff);
    }
  }
};

std::vector<ResourceKind> ClusterCacheOptions::AllResourceKinds() {
  std::vector<ResourceKind> kinds;
  for (const ResourceKindInfo& info : kResourceKinds) kinds.push_back(info.kind);
  return kinds;
}

ClusterCache::ClusterCache(KubeClient& client, Clock& clock, ClusterCacheOptions options)
    : impl_(std::make_unique<Impl>(client, clock, options)) {}

ClusterCache::~ClusterCache() { Stop(); }

void ClusterCache::Start() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->started) return;
  impl_->started = true;
  for (ResourceKind kind : impl_->options.kinds) {
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
  return impl_->store.Snapshot();
}

std::vector<KindSyncState> ClusterCache::SyncStates() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<KindSyncState> out;
  for (ResourceKind kind : impl_->options.kinds) {
    const size_t i = static_cast<size_t>(kind);
    out.push_back({kind, impl_->synced[i], impl_->connected[i], impl_->confirmed[i]});
  }
  return out;
}

void ClusterCache::AddPodHandler(std::function<void(const PodEvent&)> handler) {
  impl_->pod_handlers.push_back(std::move(handler));
}

ClusterCacheStats ClusterCache::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace kb::kube
