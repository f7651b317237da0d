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

// kube-apiserver's answer to a resourceVersion newer than its own (after an etcd restore): 504
// with the cause ResourceVersionTooLarge; servers before 1.17 only said so in the message.
bool TooLargeResourceVersion(const Status& st) {
  return st.cause() == "ResourceVersionTooLarge" ||
         (st.http_code() == 504 &&
          st.message().find("Too large resource version") != std::string::npos);
}

// resourceVersions are opaque, but every server in practice writes etcd revisions (decimal);
// anything else is never compared.
std::optional<uint64_t> NumericRv(const std::string& rv) {
  if (rv.empty() || rv.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : rv) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

const char* RelistReasonName(RelistReason r) {
  switch (r) {
    case RelistReason::kExpired:
      return "expired";
    case RelistReason::kTooLargeResourceVersion:
      return "too_large";
    case RelistReason::kResourceVersionBackwards:
      return "rv_backwards";
  }
  return "unknown";
}

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
  // Per kind: since when it has been out of sync (nullopt = in sync).
  std::array<std::optional<SteadyTime>, kResourceKindCount> unsynced_since;
  std::array<std::array<uint64_t, kRelistReasonCount>, kResourceKindCount> relists{};
  // Per kind: the highest numeric resourceVersion seen (0 = none), to notice it going back.
  std::array<uint64_t, kResourceKindCount> max_rv{};
  ClusterCacheStats stats;

  CacheStore store;

  // In sync: the watch is open (or the first event arrived); also confirms the kind for the
  // rescheduler's gate (KindSyncState).
  void MarkInSync(ResourceKind kind) {
    std::lock_guard<std::mutex> lock(mu);
    unsynced_since[static_cast<size_t>(kind)].reset();
    if (synced[static_cast<size_t>(kind)]) Confirm(kind);
  }
  // A list or watch failed: out of sync for /readyz, disconnected for the rescheduler's gate.
  void MarkOutOfSync(ResourceKind kind) {
    std::lock_guard<std::mutex> lock(mu);
    auto& since = unsynced_since[static_cast<size_t>(kind)];
    if (!since) since = clock.Now();
    connected[static_cast<size_t>(kind)] = false;
  }
  void CountRelist(ResourceKind kind, RelistReason reason) {
    std::lock_guard<std::mutex> lock(mu);
    stats.relists++;
    relists[static_cast<size_t>(kind)][static_cast<size_t>(reason)]++;
  }
  // Records the resourceVersion of a completed list; false (and a warning) when it is below one
  // already seen for the kind: the API server's history was reset.
  bool NoteListRv(ResourceKind kind, const std::string& rv) {
    std::optional<uint64_t> n = NumericRv(rv);
    if (!n) return true;
    uint64_t previous;
    {
      std::lock_guard<std::mutex> lock(mu);
      previous = max_rv[static_cast<size_t>(kind)];
      max_rv[static_cast<size_t>(kind)] = *n;
    }
    if (*n >= previous) return true;
    Log()->warn(
        "resourceVersion went backwards, the cache was rebuilt from the new list kind={} "
        "previous={} now={}",
        ResourceKindName(kind), previous, *n);
    return false;
  }

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
      unsynced_since[static_cast<size_t>(kind)].reset();
    }
    sync_cv.notify_all();
    *rv = *list_rv;
    if (!NoteListRv(kind, *rv)) CountRelist(kind, RelistReason::kResourceVersionBackwards);
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

  // Applies one watch event; returns false to end the watch. An event older than the last
  // resourceVersion seen sets *went_back and ends the watch unapplied: the server's history was
  // reset under the watch, and only a relist tells what the cluster now holds.
  bool OnEvent(ResourceKind kind, WatchEvent&& ev, std::string* rv, uint64_t* received,
               bool* went_back) {
    if (++*received == 1) MarkInSync(kind);
    if (ev.type != WatchEventType::kError) SetConfirmed(kind);
    std::string ev_rv = RawResourceVersion(ev.object);
    const std::optional<uint64_t> ev_n = NumericRv(ev_rv), last_n = NumericRv(*rv);
    if (ev_n && last_n && *ev_n < *last_n) {
      *went_back = true;
      return false;
    }
    if (ev_n) {
      std::lock_guard<std::mutex> lock(mu);
      auto& m = max_rv[static_cast<size_t>(kind)];
      m = std::max(m, *ev_n);
    }
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

  // Lists `kind` when needed; false when the list failed (after the backoff sleep).
  bool ListIfNeeded(ResourceKind kind, bool* need_list, std::string* rv,
                    std::chrono::milliseconds* backoff) {
    if (!*need_list) return true;
    Status st = ListAndReplace(kind, rv);
    if (stop) return false;
    if (!st.ok()) {
      MarkOutOfSync(kind);
      Log()->warn("list failed kind={} error=\"{}\" retry_in_ms={}", ResourceKindName(kind),
                  st.message(), backoff->count());
      SleepBackoff(backoff);
      return false;
    }
    *need_list = false;
    *backoff = options.backoff_initial;
#ifdef __GLIBC__
    // A full list leaves megabytes of freed JSON and decode scratch in malloc's arenas;
    // give them back so the steady-state RSS reflects the cache itself. Lists are rare.
    malloc_trim(0);
#endif
    return true;
  }

  // The reason to relist after a watch ended with `st`, if any.
  static std::optional<RelistReason> RelistFor(const Status& st, bool went_back) {
    if (went_back) return RelistReason::kResourceVersionBackwards;
    if (st.code() == StatusCode::kFailedPrecondition && st.http_code() == 410) {
      return RelistReason::kExpired;
    }
    if (TooLargeResourceVersion(st)) return RelistReason::kTooLargeResourceVersion;
    return std::nullopt;
  }

  void Run(ResourceKind kind) {
    const char* kind_name = ResourceKindName(kind);
    std::chrono::milliseconds backoff = options.backoff_initial;
    bool need_list = true;
    std::string rv;
    while (!stop) {
      if (!ListIfNeeded(kind, &need_list, &rv, &backoff)) continue;
      WatchOptions wo;
      wo.resource_version = rv;
      wo.allow_bookmarks = true;
      wo.timeout_seconds = options.watch_timeout_seconds;
      wo.on_open = [this, kind] { MarkInSync(kind); };
      uint64_t received = 0;
      bool stream_error = false;  // the watch ended with an in-stream ERROR event
      bool went_back = false;
      Status st = client.Watch(
          kind, wo,
          [&](WatchEvent&& ev) {
            stream_error = stream_error || ev.type == WatchEventType::kError;
            return OnEvent(kind, std::move(ev), &rv, &received, &went_back);
          },
          &stop);
      if (stop) break;
      {
        std::lock_guard<std::mutex> lock(mu);
        stats.watch_restarts++;
      }
      if (std::optional<RelistReason> reason = RelistFor(st, went_back)) {
        CountRelist(kind, *reason);
        if (*reason == RelistReason::kExpired) {
          Log()->info("watch expired, relisting kind={} resource_version={} error=\"{}\"",
                      kind_name, rv, st.message());
        } else {
          // The API server is behind what this cache has seen: etcd was restored or the
          // server's state reset. What the cache holds may be gone; rebuild it from a list.
          MarkOutOfSync(kind);
          {
            std::lock_guard<std::mutex> lock(mu);
            max_rv[static_cast<size_t>(kind)] = 0;  // the relist's lower RV is expected now
          }
          Log()->warn(
              "resourceVersion went backwards on the API server, relisting kind={} "
              "resource_version={} reason={} error=\"{}\"",
              kind_name, rv, RelistReasonName(*reason), st.message());
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
      MarkOutOfSync(kind);
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
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (ResourceKind kind : impl_->options.kinds) {
      impl_->unsynced_since[static_cast<size_t>(kind)] = impl_->clock.Now();
    }
  }
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

std::vector<KindHealth> ClusterCache::Health() const {
  const SteadyTime now = impl_->clock.Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<KindHealth> out;
  for (ResourceKind kind : impl_->options.kinds) {
    const size_t i = static_cast<size_t>(kind);
    KindHealth h{kind};
    h.listed = impl_->synced[i];
    const auto& since = impl_->unsynced_since[i];
    // Before Start() nothing has been listed and no time has passed.
    h.in_sync = h.listed && !since;
    if (since) h.unsynced_for = std::max(now - *since, SteadyTime::duration::zero());
    h.relists = impl_->relists[i];
    out.push_back(h);
  }
  return out;
}

bool ClusterCache::Ready(std::chrono::milliseconds max_unsynced) const {
  for (const KindHealth& h : Health()) {
    if (!InSyncWithin(h, max_unsynced)) return false;
  }
  return true;
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
