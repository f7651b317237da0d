#include "scoring/load_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "scoring/logging.h"
#include "scoring/metrics.h"

namespace kb::scoring {

namespace {

// The rebuild thread wakes at least this often to notice node changes (the cache has no node
// handler) by comparing snapshot versions, which costs one locked pointer copy.
constexpr Millis kPollInterval{200};

}  // namespace

struct LoadModel::State {
  explicit State(const LoadModelOptions& options) : builder(options) {}

  struct Assumed {
    AssumedPod assumed;
    uint64_t seq = 0;
    // Set for a tentative placement (prioritize / filter), cleared when /bind confirms it.
    std::optional<WallTime> tentative_until;
    // Where it was counted before its last move, and the seq it had there (Publish undoes it).
    std::string prev_node;
    uint64_t prev_seq = 0;
  };

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;                                     // Guarded by mu.
  bool dirty = false;                                    // Guarded by mu.
  std::shared_ptr<const LoadSnapshot> snapshot;          // Guarded by mu.
  uint64_t sequence = 0;                                 // Guarded by mu.
  std::unordered_map<std::string, Assumed> assumed;      // by pod key. Guarded by mu.
  uint64_t assume_seq = 0;                               // Guarded by mu.
  std::unordered_map<std::string, WallTime> seen_bound;  // Guarded by mu.
  std::set<std::string> dirty_nodes;                     // Guarded by mu.

  std::mutex build_mu;                           // serialises builds
  LoadBuilder builder;                           // Guarded by build_mu.
  int last_degraded = -1;                        // Guarded by build_mu.
  std::vector<std::string> last_degraded_names;  // Guarded by build_mu.
};

LoadModel::LoadModel(CacheProvider cache_provider, MetricsProvider metrics_provider, Clock& clock,
                     LoadModelOptions options, ScoringMetrics* metrics)
    : cache_provider_(std::move(cache_provider)),
      metrics_provider_(std::move(metrics_provider)),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics),
      state_(std::make_unique<State>(options_)) {
  auto empty = std::make_shared<LoadSnapshot>();
  empty->index_ = std::make_shared<const std::unordered_map<std::string, size_t>>();
  empty->metrics_enabled_ = options_.metrics_enabled;
  empty->metrics_source_ = options_.metrics_source;
  empty->metrics_source_reason_ = options_.metrics_source_reason;
  state_->snapshot = std::move(empty);
}

LoadModel::~LoadModel() { Stop(); }

void LoadModel::Start() {
  Rebuild();
  thread_ = std::thread([this] { Loop(); });
}

void LoadModel::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const LoadSnapshot> LoadModel::Snapshot() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->snapshot;
}

void LoadModel::Notify() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->dirty = true;
  }
  state_->cv.notify_all();
}

void LoadModel::AddBindingListener(std::function<void(const NodeLoad&)> listener) {
  binding_listeners_.push_back(std::move(listener));
}

size_t LoadModel::assumed_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->assumed.size();
}

void LoadModel::AssumeBinding(const Pod& pod, const std::string& node) {
  Assume(pod, node, /*tentative=*/false);
}

void LoadModel::AssumeTentative(const Pod& pod, const std::string& node) {
  if (options_.scoring.tentative_window.count() <= 0) return;
  Assume(pod, node, /*tentative=*/true);
}

size_t LoadModel::tentative_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  size_t n = 0;
  for (const auto& [key, a] : state_->assumed) n += a.tentative_until.has_value() ? 1 : 0;
  return n;
}

void LoadModel::Assume(const Pod& pod, const std::string& node, bool tentative) {
  auto bound = std::make_shared<Pod>(pod);
  bound->node_name = node;
  const std::string key = PodIdentity(pod);
  const WallTime now = clock_.WallNow();
  std::optional<WallTime> until;
  if (tentative) until = now + options_.scoring.tentative_window;
  std::shared_ptr<const NodeLoad> updated;
  const char* outcome = tentative ? "recorded" : nullptr;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto existing = state_->assumed.find(key);
    if (existing != state_->assumed.end()) {
      State::Assumed& a = existing->second;
      const bool was_tentative = a.tentative_until.has_value();
      if (a.assumed.node == node) {
        // A retried bind (counted already), a tentative placement confirmed by /bind, or a
        // repeated prioritize (window restarts). A firm binding never becomes tentative again.
        if (!tentative && was_tentative) {
          a.tentative_until.reset();
          a.assumed.assumed_at = now;
          outcome = "confirmed";
        } else if (tentative && was_tentative) {
          a.tentative_until = until;
        } else {
          outcome = nullptr;
        }
      } else {
        if (tentative && !was_tentative) return;  // /bind already named the node
        // Moved (the scheduler chose another node than the best score, or re-scored the pod):
        // out of the old node, into the new one, both copy-on-write.
        const auto& cur = state_->snapshot;
        auto next = std::make_shared<LoadSnapshot>(*cur);
        bool changed = false;
        if (cur->index_) {
          if (auto it = cur->index_->find(a.assumed.node); it != cur->index_->end()) {
            next->UnassumeAt(it->second, *a.assumed.pod, options_);
            changed = true;
          }
          if (auto it = cur->index_->find(node); it != cur->index_->end()) {
            updated = next->AssumeAt(it->second, *bound, options_);
            changed = true;
          }
        }
        if (changed) {
          next->sequence_ = ++state_->sequence;
          state_->snapshot = std::move(next);
        }
        a.prev_node = a.assumed.node;
        a.prev_seq = a.seq;
        a.assumed = AssumedPod{bound, node, now};
        a.seq = ++state_->assume_seq;
        a.tentative_until = until;
        if (was_tentative) outcome = "moved";
      }
    } else {
      State::Assumed& a = state_->assumed[key];
      a.assumed = AssumedPod{bound, node, now};
      a.seq = ++state_->assume_seq;
      a.tentative_until = until;
      // Copy-on-write: only this node's NodeLoad is replaced; the rest is shared.
      const auto& cur = state_->snapshot;
      if (cur->index_) {
        auto it = cur->index_->find(node);
        if (it != cur->index_->end()) {
          auto next = std::make_shared<LoadSnapshot>(*cur);
          updated = next->AssumeAt(it->second, *bound, options_);
          next->sequence_ = ++state_->sequence;
          state_->snapshot = std::move(next);
        }
      }
    }
  }
  state_->cv.notify_all();
  if (outcome != nullptr && metrics_ != nullptr) metrics_->Tentative(outcome).Increment();
  Log()->debug("assumed {} pod={} node={} counted={}",
               tentative ? "tentative placement" : "binding", NamespacedName(pod.meta), node,
               updated != nullptr);
  if (updated && !tentative) {
    for (const auto& listener : binding_listeners_) listener(*updated);
  }
}

void LoadModel::OnPodEvent(const PodEvent& event) {
  const WallTime now = clock_.WallNow();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const PodPtr& pod = event.new_pod ? event.new_pod : event.old_pod;
    if (!pod) return;
    const std::string key = PodIdentity(*pod);
    if (event.type == PodEventType::kDeleted) {
      state_->assumed.erase(key);
      state_->seen_bound.erase(key);
    } else if (event.new_pod && !event.new_pod->node_name.empty()) {
      const Pod& p = *event.new_pod;
      if (event.type == PodEventType::kModified && event.old_pod &&
          event.old_pod->node_name.empty()) {
        // We saw the binding happen (ours or another scheduler replica's).
        state_->seen_bound[key] = now;
        state_->dirty_nodes.insert(p.node_name);
      } else if (event.type == PodEventType::kAdded && p.meta.creation_timestamp &&
                 now - *p.meta.creation_timestamp <= options_.scoring.estimation_window) {
        // Created bound (nodeName set at creation, e.g. a DaemonSet or a rescheduled copy) and
        // recently: bound at creation. Old pods of the initial list are not fresh.
        state_->seen_bound[key] = *p.meta.creation_timestamp;
        state_->dirty_nodes.insert(p.node_name);
      }
      // The cache shows the pod bound: it is counted from its bucket from now on.
      state_->assumed.erase(key);
    }
    state_->dirty = true;
  }
  state_->cv.notify_all();
}

void LoadModel::Publish(std::shared_ptr<LoadSnapshot> snapshot, uint64_t assume_seq_used) {
  std::lock_guard<std::mutex> lock(state_->mu);
  // Bindings assumed while this build ran are not in it: apply them copy-on-write as
  // AssumeBinding did, so publishing never hides a binding.
  if (state_->assume_seq != assume_seq_used) {
    for (const auto& [key, a] : state_->assumed) {
      if (a.seq <= assume_seq_used) continue;
      // Moved after the build had counted it at its previous node: take it out there.
      if (!a.prev_node.empty() && a.prev_seq != 0 && a.prev_seq <= assume_seq_used) {
        if (auto prev = snapshot->index_->find(a.prev_node); prev != snapshot->index_->end()) {
          snapshot->UnassumeAt(prev->second, *a.assumed.pod, options_);
        }
      }
      auto it = snapshot->index_->find(a.assumed.node);
      if (it == snapshot->index_->end()) continue;
      snapshot->AssumeAt(it->second, *a.assumed.pod, options_);
    }
  }
  snapshot->sequence_ = ++state_->sequence;
  state_->snapshot = std::move(snapshot);
}

void LoadModel::Rebuild() {
  std::lock_guard<std::mutex> build_lock(state_->build_mu);
  const auto started = std::chrono::steady_clock::now();
  LoadInputs in;
  in.cache = cache_provider_ ? cache_provider_() : nullptr;
  in.metrics = metrics_provider_ ? metrics_provider_() : nullptr;
  in.now = clock_.WallNow();
  std::set<std::string> dirty_nodes;
  std::vector<std::string> expired_assumptions;
  int expired_tentative = 0;
  uint64_t assume_seq_used = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->dirty = false;
    dirty_nodes.swap(state_->dirty_nodes);
    // Expire what can no longer matter.
    const WallTime seen_horizon =
        in.now - std::max(options_.scoring.estimation_window, options_.max_age);
    std::erase_if(state_->seen_bound, [&](const auto& e) { return e.second < seen_horizon; });
    std::erase_if(state_->assumed, [&](const auto& e) {
      if (e.second.tentative_until) {
        // A tentative placement whose binding never came (the pod failed to schedule, or was
        // bound without the extender's /bind and the watch has not shown it yet): stop counting.
        const bool over = in.now >= *e.second.tentative_until;
        expired_tentative += over ? 1 : 0;
        return over;
      }
      const bool expired = in.now - e.second.assumed.assumed_at > options_.assume_ttl;
      if (expired) {
        expired_assumptions.push_back(NamespacedName(e.second.assumed.pod->meta) +
                                      " node=" + e.second.assumed.node);
      }
      return expired;
    });
    in.seen_bound = state_->seen_bound;
    in.assumed.reserve(state_->assumed.size());
    for (const auto& [key, a] : state_->assumed) in.assumed.push_back(a.assumed);
    assume_seq_used = state_->assume_seq;
  }

  if (expired_tentative > 0 && metrics_ != nullptr) {
    metrics_->Tentative("expired").Increment(expired_tentative);
  }
  for (const std::string& e : expired_assumptions) {
    // The binding never showed up in the cache: either the watch is badly behind or the bind was
    // lost. Stop counting it rather than skewing the node forever.
    Log()->warn("assumed binding expired unconfirmed pod={}", e);
  }

  std::vector<std::string> confirmed;
  auto snap = state_->builder.Build(in, dirty_nodes, &confirmed);
  const int degraded = snap->degraded_nodes();
  std::vector<std::string> degraded_names;
  if (degraded != state_->last_degraded) {
    for (const auto& nl : snap->nodes()) {
      if (nl->degraded) degraded_names.push_back(nl->name);
    }
  }
  Publish(std::move(snap), assume_seq_used);

  if (!confirmed.empty()) {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const std::string& key : confirmed) {
      auto it = state_->assumed.find(key);
      // Only drop what this build counted from the cache (not a newer re-assumption).
      if (it != state_->assumed.end() && it->second.seq <= assume_seq_used) {
        state_->assumed.erase(it);
      }
    }
  }

  if (degraded != state_->last_degraded) {
    if (degraded > 0) {
      Log()->warn(
          "load model degraded nodes={} names={} (metrics missing or older than maxAge: "
          "utilisation falls back to requests)",
          degraded, JoinCapped(degraded_names));
    } else if (state_->last_degraded > 0) {
      Log()->info("load model no longer degraded: every node has fresh metrics");
    }
    state_->last_degraded = degraded;
  }
  if (metrics_ != nullptr) {
    metrics_->degraded_nodes.Set(degraded);
    metrics_->rebuild_duration.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
}

void LoadModel::Loop() {
  using SteadyClock = std::chrono::steady_clock;
  auto last_build = SteadyClock::now();
  uint64_t last_cache_version = Snapshot()->cache_version();
  uint64_t last_metrics_generation = Snapshot()->metrics_generation();
  const auto poll = std::min<SteadyClock::duration>(options_.tick, kPollInterval);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->cv.wait_for(lock, poll, [this] { return state_->stop || state_->dirty; });
      if (state_->stop) return;
      // Coalesce bursts of changes: at most one rebuild per min_rebuild_interval.
      const auto earliest = last_build + options_.min_rebuild_interval;
      if (state_->dirty && SteadyClock::now() < earliest) {
        state_->cv.wait_until(lock, earliest, [this] { return state_->stop; });
        if (state_->stop) return;
      }
    }
    bool due = SteadyClock::now() - last_build >= options_.tick;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      due = due || state_->dirty;
    }
    if (!due && cache_provider_) {
      const auto cache = cache_provider_();
      due = cache && cache->version != last_cache_version;
    }
    if (!due && metrics_provider_) {
      const auto m = metrics_provider_();
      due = m && m->generation != last_metrics_generation;
    }
    if (!due) continue;
    Rebuild();
    last_build = SteadyClock::now();
    const auto snap = Snapshot();
    last_cache_version = snap->cache_version();
    last_metrics_generation = snap->metrics_generation();
  }
}

}  // namespace kb::scoring
