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

std::string PodKey(const Pod& pod) {
  return pod.meta.uid.empty() ? NamespacedName(pod.meta) : pod.meta.uid;
}

// When the pod became bound, as far as we know: its PodScheduled=True time, or the time this
// process saw it bound, whichever is later. nullopt for pods bound before we started without a
// PodScheduled time (clarifications: not fresh).
std::optional<WallTime> BoundTime(const Pod& pod,
                                  const std::unordered_map<std::string, WallTime>& seen_bound) {
  std::optional<WallTime> t = pod.ScheduledTime();
  if (!seen_bound.empty()) {
    auto it = seen_bound.find(PodKey(pod));
    if (it != seen_bound.end() && (!t || it->second > *t)) t = it->second;
  }
  return t;
}

bool IsFresh(WallTime bound, WallTime now, Millis window, const std::optional<WallTime>& sample) {
  if (bound >= now || now - bound <= window) return true;
  // Bound after the node's last sample: the sample cannot contain it yet.
  return sample.has_value() && bound > *sample;
}

bool BucketHas(const PodList* bucket, const std::string& key) {
  if (bucket == nullptr) return false;
  for (const PodPtr& p : *bucket) {
    if (p && PodKey(*p) == key) return true;
  }
  return false;
}

// Derives every utilisation field of `nl` from its sums and the chosen sources.
void Finalize(NodeLoad& nl, bool metrics_enabled) {
  nl.requested_cpu_pct = PercentOf(nl.requested.cpu_millis, nl.allocatable.cpu_millis);
  nl.requested_mem_pct = PercentOf(nl.requested.memory_bytes, nl.allocatable.memory_bytes);
  nl.fresh_cpu = PercentOf(nl.fresh_usage.cpu_millis, nl.allocatable.cpu_millis);
  nl.fresh_mem = PercentOf(nl.fresh_usage.memory_bytes, nl.allocatable.memory_bytes);
  nl.cpu_util = nl.cpu_from_metrics ? nl.sampled_cpu + nl.fresh_cpu : nl.requested_cpu_pct;
  nl.mem_util = nl.mem_from_metrics ? nl.sampled_mem + nl.fresh_mem : nl.requested_mem_pct;
  nl.metrics_fresh = nl.cpu_from_metrics && nl.mem_from_metrics;
  nl.degraded = metrics_enabled && !nl.metrics_fresh;
}

void AddAssumed(NodeLoad& nl, const Pod& pod, const ScoringConfig& scoring) {
  nl.requested += pod.EffectiveRequest();
  ++nl.pod_count;
  nl.fresh_usage += EstimatePodUsage(pod, scoring);
  ++nl.fresh_pods;
  ++nl.assumed_pods;
}

}  // namespace

double PercentOf(int64_t part, int64_t whole) {
  if (whole <= 0) return part > 0 ? 100.0 : 0.0;
  return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

Resources EstimatePodUsage(const Pod& pod, const ScoringConfig& scoring) {
  const Resources base =
      scoring.fresh_pod_usage == "limits" ? pod.EffectiveLimit() : pod.EffectiveRequest();
  const double f = std::max(0.0, scoring.fresh_pod_fraction);
  Resources out;
  out.cpu_millis = std::llround(static_cast<double>(base.cpu_millis) * f);
  out.memory_bytes = std::llround(static_cast<double>(base.memory_bytes) * f);
  out.pods = 1;
  return out;
}

NodeLoad WithPodAdded(const NodeLoad& load, const Pod& pod, const ScoringConfig& scoring) {
  NodeLoad out = load;
  AddAssumed(out, pod, scoring);
  --out.assumed_pods;  // planned, not bound by us
  // Metrics were enabled iff the node was degraded or fresh: Finalize keeps the flag as it was.
  Finalize(out, load.degraded || load.metrics_fresh);
  return out;
}

NodeLoad WithPodRemoved(const NodeLoad& load, const Pod& pod, const ScoringConfig& scoring) {
  NodeLoad out = load;
  out.requested -= pod.EffectiveRequest();
  out.requested.cpu_millis = std::max<int64_t>(0, out.requested.cpu_millis);
  out.requested.memory_bytes = std::max<int64_t>(0, out.requested.memory_bytes);
  out.requested.pods = std::max<int64_t>(0, out.requested.pods);
  out.pod_count = std::max(0, out.pod_count - 1);
  const Resources estimate = EstimatePodUsage(pod, scoring);
  out.sampled_cpu =
      std::max(0.0, out.sampled_cpu - PercentOf(estimate.cpu_millis, out.allocatable.cpu_millis));
  out.sampled_mem = std::max(
      0.0, out.sampled_mem - PercentOf(estimate.memory_bytes, out.allocatable.memory_bytes));
  Finalize(out, load.degraded || load.metrics_fresh);
  return out;
}

const NodeLoad* LoadSnapshot::Find(const std::string& node) const {
  if (!index_) return nullptr;
  auto it = index_->find(node);
  return it == index_->end() ? nullptr : nodes_[it->second].get();
}

LoadSnapshot::NodeLoadPtr LoadSnapshot::FindShared(const std::string& node) const {
  if (!index_) return nullptr;
  auto it = index_->find(node);
  return it == index_->end() ? nullptr : nodes_[it->second];
}

// Builds LoadSnapshots, reusing per-node pod sums while a node's pod bucket (copied on write by the
// cache) is the same object: a rebuild costs O(nodes + pods of changed nodes + fresh candidates),
// not O(pods).
class LoadBuilder {
 public:
  explicit LoadBuilder(const LoadModelOptions& options) : options_(options) {}

  // `dirty_nodes`: nodes whose cached sums must be recomputed although their bucket is unchanged
  // (a pod's seen-bound time was recorded). Fills `confirmed` with the keys of assumed pods the
  // cache now shows on their node.
  std::shared_ptr<LoadSnapshot> Build(const LoadInputs& in,
                                      const std::set<std::string>& dirty_nodes,
                                      std::vector<std::string>* confirmed) {
    auto snap = std::make_shared<LoadSnapshot>();
    snap->built_at_ = in.now;
    snap->metrics_enabled_ = options_.metrics_enabled;
    snap->has_cache_ = in.cache != nullptr && in.cache->nodes != nullptr;
    snap->cache_version_ = in.cache ? in.cache->version : 0;
    snap->metrics_generation_ = in.metrics ? in.metrics->generation : 0;
    if (!snap->has_cache_) {
      snap->index_ = std::make_shared<const std::unordered_map<std::string, size_t>>();
      aggs_.clear();
      return snap;
    }
    const auto& nodes = *in.cache->nodes;
    const Millis window = options_.scoring.estimation_window;
    // Bound times older than this can never make a pod fresh again (neither by the window nor,
    // with a fresh sample, by being newer than it), so such pods are not kept as candidates.
    const WallTime horizon = in.now - std::max(window, options_.max_age);

    std::unordered_map<std::string, std::vector<const AssumedPod*>> assumed_by_node;
    for (const AssumedPod& a : in.assumed) {
      if (a.pod) assumed_by_node[a.node].push_back(&a);
    }

    if (index_nodes_ != in.cache->nodes || !index_) {
      auto index = std::make_shared<std::unordered_map<std::string, size_t>>();
      index->reserve(nodes.size());
      size_t i = 0;
      for (const auto& entry : nodes) (*index)[entry.first] = i++;
      index_ = std::move(index);
      index_nodes_ = in.cache->nodes;
    }
    snap->index_ = index_;
    snap->nodes_.reserve(nodes.size());

    std::unordered_map<std::string, Agg> next_aggs;
    next_aggs.reserve(nodes.size());
    for (const auto& [name, node_ptr] : nodes) {
      std::shared_ptr<const PodList> bucket;
      if (in.cache->pods_by_node) {
        auto it = in.cache->pods_by_node->find(name);
        if (it != in.cache->pods_by_node->end()) bucket = it->second;
      }
      Agg agg;
      auto old = aggs_.find(name);
      if (old != aggs_.end() && old->second.bucket == bucket && bucket != nullptr &&
          dirty_nodes.count(name) == 0) {
        agg = std::move(old->second);
        // Drop candidates that fell behind the horizon.
        std::erase_if(agg.candidates, [&](const Candidate& c) { return c.bound < horizon; });
      } else {
        agg = Compute(bucket, in.seen_bound, horizon);
      }

      auto nl = std::make_shared<NodeLoad>();
      nl->node = node_ptr;
      nl->name = name;
      if (node_ptr) nl->allocatable = node_ptr->allocatable;
      nl->requested = agg.requested;
      nl->pod_count = agg.pod_count;

      const NodeMetrics* m = in.metrics ? in.metrics->Find(name) : nullptr;
      if (m != nullptr) {
        nl->sampled_cpu = m->cpu_percent.value_or(0.0);
        nl->sampled_mem = m->memory_percent.value_or(0.0);
        nl->sample_time = m->OldestSample();
        if (options_.metrics_enabled) {
          nl->cpu_from_metrics = m->CpuFreshAt(in.now, options_.max_age);
          nl->mem_from_metrics = m->MemoryFreshAt(in.now, options_.max_age);
        }
      }
      for (const Candidate& c : agg.candidates) {
        if (IsFresh(c.bound, in.now, window, nl->sample_time)) {
          nl->fresh_usage += c.estimate;
          ++nl->fresh_pods;
        }
      }
      if (auto a = assumed_by_node.find(name); a != assumed_by_node.end()) {
        for (const AssumedPod* ap : a->second) {
          const std::string key = PodKey(*ap->pod);
          if (BucketHas(bucket.get(), key)) {
            if (confirmed) confirmed->push_back(key);
            continue;
          }
          AddAssumed(*nl, *ap->pod, options_.scoring);
        }
      }
      Finalize(*nl, options_.metrics_enabled);
      if (nl->degraded) ++snap->degraded_nodes_;
      snap->nodes_.push_back(std::move(nl));
      next_aggs.emplace(name, std::move(agg));
    }
    aggs_ = std::move(next_aggs);
    return snap;
  }

 private:
  struct Candidate {
    WallTime bound;
    Resources estimate;
  };
  struct Agg {
    std::shared_ptr<const PodList> bucket;
    Resources requested;
    int pod_count = 0;
    std::vector<Candidate> candidates;  // pods with a known bound time >= horizon
  };

  Agg Compute(const std::shared_ptr<const PodList>& bucket,
              const std::unordered_map<std::string, WallTime>& seen_bound, WallTime horizon) {
    Agg agg;
    agg.bucket = bucket;
    if (!bucket) return agg;
    for (const PodPtr& pod : *bucket) {
      if (!pod || pod->IsFinished()) continue;
      agg.requested += pod->EffectiveRequest();
      ++agg.pod_count;
      if (const auto bound = BoundTime(*pod, seen_bound); bound && *bound >= horizon) {
        agg.candidates.push_back({*bound, EstimatePodUsage(*pod, options_.scoring)});
      }
    }
    return agg;
  }

  const LoadModelOptions& options_;
  std::unordered_map<std::string, Agg> aggs_;
  std::shared_ptr<const std::map<std::string, NodePtr>> index_nodes_;
  std::shared_ptr<const std::unordered_map<std::string, size_t>> index_;
};

struct LoadModel::State {
  explicit State(const LoadModelOptions& options) : builder(options) {}

  struct Assumed {
    AssumedPod assumed;
    uint64_t seq = 0;
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
  auto bound = std::make_shared<Pod>(pod);
  bound->node_name = node;
  const std::string key = PodKey(pod);
  const WallTime now = clock_.WallNow();
  std::shared_ptr<const NodeLoad> updated;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto existing = state_->assumed.find(key);
    if (existing != state_->assumed.end()) {
      if (existing->second.assumed.node == node) return;  // a retried bind: counted already
      // Re-bound elsewhere: the next rebuild recounts both nodes.
      existing->second.assumed = AssumedPod{bound, node, now};
      existing->second.seq = ++state_->assume_seq;
      state_->dirty = true;
    } else {
      State::Assumed& a = state_->assumed[key];
      a.assumed = AssumedPod{bound, node, now};
      a.seq = ++state_->assume_seq;
      // Copy-on-write: only this node's NodeLoad is replaced; the rest is shared.
      const auto& cur = state_->snapshot;
      if (cur->index_) {
        auto it = cur->index_->find(node);
        if (it != cur->index_->end()) {
          auto nl = std::make_shared<NodeLoad>(*cur->nodes_[it->second]);
          AddAssumed(*nl, *bound, options_.scoring);
          const bool was_degraded = nl->degraded;
          Finalize(*nl, options_.metrics_enabled);
          auto next = std::make_shared<LoadSnapshot>(*cur);
          next->nodes_[it->second] = nl;
          next->degraded_nodes_ += (nl->degraded ? 1 : 0) - (was_degraded ? 1 : 0);
          next->sequence_ = ++state_->sequence;
          state_->snapshot = std::move(next);
          updated = std::move(nl);
        }
      }
    }
  }
  state_->cv.notify_all();
  Log()->debug("assumed binding pod={} node={} counted={}", NamespacedName(pod.meta), node,
               updated != nullptr);
  if (updated) {
    for (const auto& listener : binding_listeners_) listener(*updated);
  }
}

bool LoadModel::AssumeBinding(const std::string& pod_namespace, const std::string& pod_name,
                              const std::string& pod_uid, const std::string& node) {
  const auto cache = cache_provider_ ? cache_provider_() : nullptr;
  if (!cache || !cache->pods_by_node) return false;
  auto match = [&](const PodPtr& p) {
    return p && p->meta.namespace_ == pod_namespace && p->meta.name == pod_name &&
           (pod_uid.empty() || p->meta.uid == pod_uid);
  };
  // Pending pods sit in the "" bucket; the scan is O(pending pods), on /bind only.
  if (auto it = cache->pods_by_node->find(""); it != cache->pods_by_node->end() && it->second) {
    for (const PodPtr& p : *it->second) {
      if (match(p)) {
        AssumeBinding(*p, node);
        return true;
      }
    }
  }
  // Already shown bound on that node (the watch was faster than the /bind answer): counted.
  if (auto it = cache->pods_by_node->find(node); it != cache->pods_by_node->end() && it->second) {
    for (const PodPtr& p : *it->second) {
      if (match(p)) return true;
    }
  }
  return false;
}

void LoadModel::ForgetBinding(const std::string& pod_uid) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (auto it = state_->assumed.begin(); it != state_->assumed.end(); ++it) {
      if (it->first == pod_uid || it->second.assumed.pod->meta.uid == pod_uid) {
        state_->assumed.erase(it);
        state_->dirty = true;
        break;
      }
    }
  }
  state_->cv.notify_all();
}

void LoadModel::OnPodEvent(const PodEvent& event) {
  const WallTime now = clock_.WallNow();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const PodPtr& pod = event.new_pod ? event.new_pod : event.old_pod;
    if (!pod) return;
    const std::string key = PodKey(*pod);
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
      auto it = snapshot->index_->find(a.assumed.node);
      if (it == snapshot->index_->end()) continue;
      auto nl = std::make_shared<NodeLoad>(*snapshot->nodes_[it->second]);
      const bool was_degraded = nl->degraded;
      AddAssumed(*nl, *a.assumed.pod, options_.scoring);
      Finalize(*nl, options_.metrics_enabled);
      snapshot->degraded_nodes_ += (nl->degraded ? 1 : 0) - (was_degraded ? 1 : 0);
      snapshot->nodes_[it->second] = std::move(nl);
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

std::shared_ptr<const LoadSnapshot> LoadModel::Build(const LoadInputs& inputs,
                                                     const LoadModelOptions& options) {
  LoadBuilder builder(options);
  return builder.Build(inputs, {}, nullptr);
}

}  // namespace kb::scoring
