#include "scoring/node_load.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace kb::scoring {

namespace {

// When the pod became bound, as far as we know: its PodScheduled=True time, or the time this
// process saw it bound, whichever is later. nullopt for pods bound before we started without a
// PodScheduled time (not fresh: their load is in the sample).
std::optional<WallTime> BoundTime(const Pod& pod,
                                  const std::unordered_map<std::string, WallTime>& seen_bound) {
  std::optional<WallTime> t = pod.ScheduledTime();
  if (!seen_bound.empty()) {
    auto it = seen_bound.find(PodIdentity(pod));
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
    if (p && PodIdentity(*p) == key) return true;
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

void RemoveAssumed(NodeLoad& nl, const Pod& pod, const ScoringConfig& scoring) {
  const Resources request = pod.EffectiveRequest();
  const Resources estimate = EstimatePodUsage(pod, scoring);
  nl.requested.cpu_millis = std::max<int64_t>(0, nl.requested.cpu_millis - request.cpu_millis);
  nl.requested.memory_bytes =
      std::max<int64_t>(0, nl.requested.memory_bytes - request.memory_bytes);
  nl.requested.pods = std::max<int64_t>(0, nl.requested.pods - request.pods);
  nl.pod_count = std::max(0, nl.pod_count - 1);
  nl.fresh_usage.cpu_millis = std::max<int64_t>(0, nl.fresh_usage.cpu_millis - estimate.cpu_millis);
  nl.fresh_usage.memory_bytes =
      std::max<int64_t>(0, nl.fresh_usage.memory_bytes - estimate.memory_bytes);
  nl.fresh_usage.pods = std::max<int64_t>(0, nl.fresh_usage.pods - estimate.pods);
  nl.fresh_pods = std::max(0, nl.fresh_pods - 1);
  nl.assumed_pods = std::max(0, nl.assumed_pods - 1);
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
  return WithPodRemoved(load, pod, EstimatePodUsage(pod, scoring));
}

NodeLoad WithPodRemoved(const NodeLoad& load, const Pod& pod, const Resources& usage) {
  NodeLoad out = load;
  out.requested -= pod.EffectiveRequest();
  out.requested.cpu_millis = std::max<int64_t>(0, out.requested.cpu_millis);
  out.requested.memory_bytes = std::max<int64_t>(0, out.requested.memory_bytes);
  out.requested.pods = std::max<int64_t>(0, out.requested.pods);
  out.pod_count = std::max(0, out.pod_count - 1);
  const Resources& estimate = usage;
  out.sampled_cpu =
      std::max(0.0, out.sampled_cpu - PercentOf(estimate.cpu_millis, out.allocatable.cpu_millis));
  out.sampled_mem = std::max(
      0.0, out.sampled_mem - PercentOf(estimate.memory_bytes, out.allocatable.memory_bytes));
  Finalize(out, load.degraded || load.metrics_fresh);
  return out;
}

const PodUsage* LoadSnapshot::FreshPodUsage(const Pod& pod) const {
  if (!pod_usage_ || pod_usage_->empty()) return nullptr;
  auto it = pod_usage_->find(NamespacedName(pod.meta));
  if (it == pod_usage_->end()) return nullptr;
  const PodUsage& u = it->second;
  if (!u.cpu_millis || !u.memory_bytes || !u.FreshAt(built_at_, max_age_)) return nullptr;
  return &u;
}

PodUsageEstimate PodUsageOrEstimate(const Pod& pod, const LoadSnapshot& load,
                                    const ScoringConfig& scoring) {
  PodUsageEstimate out;
  if (const PodUsage* u = load.FreshPodUsage(pod)) {
    out.usage.cpu_millis = *u->cpu_millis;
    out.usage.memory_bytes = *u->memory_bytes;
    out.usage.pods = 1;
    out.from_metrics = true;
    return out;
  }
  out.usage = EstimatePodUsage(pod, scoring);
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

std::string PodIdentity(const Pod& pod) {
  return pod.meta.uid.empty() ? NamespacedName(pod.meta) : pod.meta.uid;
}

LoadSnapshot::NodeLoadPtr LoadSnapshot::AssumeAt(size_t index, const Pod& pod,
                                                 const LoadBuildOptions& options) {
  auto nl = std::make_shared<NodeLoad>(*nodes_[index]);
  const bool was_degraded = nl->degraded;
  AddAssumed(*nl, pod, options.scoring);
  Finalize(*nl, options.metrics_enabled);
  degraded_nodes_ += (nl->degraded ? 1 : 0) - (was_degraded ? 1 : 0);
  nodes_[index] = nl;
  return nl;
}

LoadSnapshot::NodeLoadPtr LoadSnapshot::UnassumeAt(size_t index, const Pod& pod,
                                                   const LoadBuildOptions& options) {
  auto nl = std::make_shared<NodeLoad>(*nodes_[index]);
  const bool was_degraded = nl->degraded;
  RemoveAssumed(*nl, pod, options.scoring);
  Finalize(*nl, options.metrics_enabled);
  degraded_nodes_ += (nl->degraded ? 1 : 0) - (was_degraded ? 1 : 0);
  nodes_[index] = nl;
  return nl;
}

std::shared_ptr<LoadSnapshot> LoadBuilder::Build(const LoadInputs& in,
                                                 const std::set<std::string>& dirty_nodes,
                                                 std::vector<std::string>* confirmed) {
  auto snap = std::make_shared<LoadSnapshot>();
  snap->built_at_ = in.now;
  snap->metrics_enabled_ = options_.metrics_enabled;
  snap->metrics_source_ = options_.metrics_source;
  snap->metrics_source_reason_ = options_.metrics_source_reason;
  snap->max_age_ = options_.max_age;
  if (in.metrics) snap->pod_usage_ = in.metrics->pods;
  snap->has_cache_ = in.cache != nullptr && in.cache->nodes != nullptr;
  snap->cache_version_ = in.cache ? in.cache->version : 0;
  snap->metrics_generation_ = in.metrics ? in.metrics->generation : 0;
  if (!snap->has_cache_) {
    snap->index_ = std::make_shared<const std::unordered_map<std::string, size_t>>();
    aggs_.clear();
    return snap;
  }
  const auto& nodes = *in.cache->nodes;
  // Bound times older than this can never make a pod fresh again (neither by the window nor,
  // with a fresh sample, by being newer than it), so such pods are not kept as candidates.
  const WallTime horizon = in.now - std::max(options_.scoring.estimation_window, options_.max_age);

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
    std::shared_ptr<NodeLoad> nl = NodeFrom(name, node_ptr, agg, in);
    if (auto a = assumed_by_node.find(name); a != assumed_by_node.end()) {
      for (const AssumedPod* ap : a->second) {
        const std::string key = PodIdentity(*ap->pod);
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

// A node's load from its pod sums, its metrics and its fresh pods (assumed bindings and the
// derived utilisations are added by the caller).
std::shared_ptr<NodeLoad> LoadBuilder::NodeFrom(const std::string& name, const NodePtr& node,
                                                const Agg& agg, const LoadInputs& in) const {
  auto nl = std::make_shared<NodeLoad>();
  nl->node = node;
  nl->name = name;
  if (node) nl->allocatable = node->allocatable;
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
    if (IsFresh(c.bound, in.now, options_.scoring.estimation_window, nl->sample_time)) {
      nl->fresh_usage += c.estimate;
      ++nl->fresh_pods;
    }
  }
  return nl;
}

LoadBuilder::Agg LoadBuilder::Compute(const std::shared_ptr<const PodList>& bucket,
                                      const std::unordered_map<std::string, WallTime>& seen_bound,
                                      WallTime horizon) const {
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

std::shared_ptr<const LoadSnapshot> BuildLoadSnapshot(const LoadInputs& inputs,
                                                      const LoadBuildOptions& options) {
  LoadBuilder builder(options);
  return builder.Build(inputs, {}, nullptr);
}

}  // namespace kb::scoring
