#include "scoring/metrics_refresher.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "scoring/logging.h"
#include "scoring/metrics.h"

namespace kb::scoring {

namespace {

bool FreshSample(const std::optional<double>& value, const std::optional<WallTime>& time,
                 WallTime now, Millis max_age) {
  if (!value || !time) return false;
  if (*time >= now) return true;  // clock skew: a sample "from the future" is as fresh as can be
  return now - *time <= max_age;
}

void MergeMax(std::optional<double>& value, std::optional<WallTime>& time,
              const std::optional<double>& new_value, const std::optional<WallTime>& new_time) {
  if (!new_value) return;
  if (!value || *new_value > *value) {
    value = new_value;
    time = new_time;
  }
}

// `used` as a percentage of `allocatable`, clamped to 0..100 like a Prometheus utilisation (usage
// can exceed allocatable, which is capacity minus reservations); nullopt when there is no
// allocatable or the value is absurd.
std::optional<double> PercentOfAllocatable(const std::optional<int64_t>& used, int64_t allocatable,
                                           bool* absurd) {
  if (!used) return std::nullopt;
  if (allocatable <= 0 || *used < 0 ||
      static_cast<double>(*used) > kMaxUsageOfAllocatable * static_cast<double>(allocatable)) {
    *absurd = true;
    return std::nullopt;
  }
  return std::min(100.0, 100.0 * static_cast<double>(*used) / static_cast<double>(allocatable));
}

// The percentages of `sample`, filling absent ones from its absolute usage and `node`.
RawNodeSample WithPercentages(const RawNodeSample& sample, const Node& node, int64_t* dropped) {
  RawNodeSample out = sample;
  bool absurd = false;
  if (!out.cpu_percent) {
    out.cpu_percent =
        PercentOfAllocatable(out.cpu_millis_used, node.allocatable.cpu_millis, &absurd);
  }
  if (!out.memory_percent) {
    out.memory_percent =
        PercentOfAllocatable(out.memory_bytes_used, node.allocatable.memory_bytes, &absurd);
  }
  if (absurd) ++*dropped;
  return out;
}

}  // namespace

bool NodeMetrics::CpuFreshAt(WallTime now, Millis max_age) const {
  return FreshSample(cpu_percent, cpu_time, now, max_age);
}

bool NodeMetrics::MemoryFreshAt(WallTime now, Millis max_age) const {
  return FreshSample(memory_percent, memory_time, now, max_age);
}

bool NodeMetrics::FreshAt(WallTime now, Millis max_age) const {
  return CpuFreshAt(now, max_age) && MemoryFreshAt(now, max_age);
}

std::optional<WallTime> NodeMetrics::OldestSample() const {
  if (!cpu_time || !memory_time) return std::nullopt;
  return std::min(*cpu_time, *memory_time);
}

const NodeMetrics* MetricsSnapshot::Find(const std::string& node) const {
  auto it = nodes.find(node);
  return it == nodes.end() ? nullptr : &it->second;
}

MetricsSnapshot MapSamplesToNodes(const RawNodeMetrics& raw,
                                  const std::map<std::string, NodePtr>& cluster_nodes,
                                  const MetricsSnapshot* previous, WallTime now, Millis max_age) {
  MetricsSnapshot snap;
  snap.refreshed_at = now;
  snap.max_age = max_age;
  snap.last_fetch_ok = raw.cpu.status.ok() && raw.memory.status.ok();

  std::unordered_map<std::string, std::string> by_ip;
  for (const auto& [name, node] : cluster_nodes) {
    if (!node) continue;
    const std::string ip = node->InternalIP();
    if (!ip.empty()) by_ip.emplace(ip, name);
  }

  for (const auto& [key, sample] : raw.nodes) {
    std::string node_name;
    std::string how;
    if (cluster_nodes.count(key) != 0) {
      node_name = key;
      how = "name";
    } else if (auto it = by_ip.find(key); it != by_ip.end()) {
      node_name = it->second;
      how = "instance-ip";
    } else if (!sample.instance_host.empty()) {
      if (auto ip_it = by_ip.find(sample.instance_host); ip_it != by_ip.end()) {
        node_name = ip_it->second;
        how = "instance-ip";
      } else if (cluster_nodes.count(sample.instance_host) != 0) {
        node_name = sample.instance_host;
        how = "instance-name";
      }
    }
    if (node_name.empty()) {
      snap.unmatched_keys.push_back(key);
      continue;
    }
    NodeMetrics& m = snap.nodes[node_name];
    if (m.matched_by.empty()) m.matched_by = how;
    static const Node kNoNode;
    const NodePtr& node = cluster_nodes.at(node_name);
    const RawNodeSample s = WithPercentages(sample, node ? *node : kNoNode, &snap.dropped_absolute);
    MergeMax(m.cpu_percent, m.cpu_time, s.cpu_percent, s.cpu_time);
    MergeMax(m.memory_percent, m.memory_time, s.memory_percent, s.memory_time);
  }

  // A failed query keeps the previous samples of that metric: they age out by maxAge rather than
  // vanishing, so one bad refresh does not flip every node to requests-based scoring.
  if (previous != nullptr && (!raw.cpu.status.ok() || !raw.memory.status.ok())) {
    for (const auto& [name, prev] : previous->nodes) {
      if (cluster_nodes.count(name) == 0) continue;
      if (!raw.cpu.status.ok() && prev.cpu_percent) {
        NodeMetrics& m = snap.nodes[name];
        m.cpu_percent = prev.cpu_percent;
        m.cpu_time = prev.cpu_time;
        if (m.matched_by.empty()) m.matched_by = prev.matched_by;
      }
      if (!raw.memory.status.ok() && prev.memory_percent) {
        NodeMetrics& m = snap.nodes[name];
        m.memory_percent = prev.memory_percent;
        m.memory_time = prev.memory_time;
        if (m.matched_by.empty()) m.matched_by = prev.matched_by;
      }
    }
  }

  if (raw.pods.status.ok()) {
    snap.pods = std::make_shared<const PodUsageMap>(raw.pod_usage);
  } else if (previous != nullptr) {
    snap.pods = previous->pods;
  }

  for (const auto& [name, node] : cluster_nodes) {
    const NodeMetrics* m = snap.Find(name);
    if (m == nullptr || !m->cpu_percent || !m->memory_percent) {
      snap.nodes_without_sample.push_back(name);
    }
  }
  std::sort(snap.unmatched_keys.begin(), snap.unmatched_keys.end());
  return snap;
}

MetricsRefresher::MetricsRefresher(MetricsSource& source, CacheProvider cache, Clock& clock,
                                   PrometheusConfig config, ScoringMetrics* metrics)
    : source_(source),
      cache_(std::move(cache)),
      clock_(clock),
      config_(std::move(config)),
      metrics_(metrics) {
  auto empty = std::make_shared<MetricsSnapshot>();
  empty->max_age = config_.max_age;
  empty->last_fetch_ok = false;
  snapshot_ = std::move(empty);
}

MetricsRefresher::~MetricsRefresher() { Stop(); }

void MetricsRefresher::Start() {
  Log()->info("metrics refresher starting source=\"{}\" refresh_interval_ms={} max_age_ms={}",
              source_.Describe(), config_.refresh_interval.count(), config_.max_age.count());
  thread_ = std::thread([this] { Loop(); });
}

void MetricsRefresher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MetricsRefresher::Loop() {
  while (true) {
    (void)RefreshOnce();
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, config_.refresh_interval, [this] { return stop_; })) return;
  }
}

void MetricsRefresher::AddListener(std::function<void()> listener) {
  listeners_.push_back(std::move(listener));
}

std::shared_ptr<const MetricsSnapshot> MetricsRefresher::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

uint64_t MetricsRefresher::refresh_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refresh_count_;
}

uint64_t MetricsRefresher::error_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_count_;
}

bool MetricsRefresher::ReportQuery(MetricKind kind, const MetricQueryResult& r) {
  const char* name = kind == MetricKind::kCpu ? "cpu" : "memory";
  int& failures = consecutive_failures_[kind == MetricKind::kCpu ? 0 : 1];
  if (!r.status.ok()) {
    ++failures;
    // Warn on the first failure and then every 20th, so an outage is visible without a line
    // per refresh; the error counter has every one.
    if (failures == 1 || failures % 20 == 0) {
      Log()->warn(
          "metrics query failed metric={} source=\"{}\" consecutive_failures={} error=\"{}\" "
          "(keeping previous samples until they are older than maxAge)",
          name, source_.Describe(), failures, r.status.ToString());
    } else {
      Log()->debug("metrics query failed metric={} consecutive_failures={} error=\"{}\"", name,
                   failures, r.status.ToString());
    }
  } else if (failures > 0) {
    Log()->info("metrics query recovered metric={} after_failures={}", name, failures);
    failures = 0;
  }
  if (r.dropped > 0) {
    // Bad samples (NaN, out-of-range values or times) degrade only their node: warn on the first
    // refresh that drops any and then every 20th such refresh; the counter has every sample.
    int& drops = refreshes_with_drops_[kind == MetricKind::kCpu ? 0 : 1];
    if (drops++ % 20 == 0) {
      Log()->warn(
          "metrics samples dropped metric={} source=\"{}\" count={} first=\"{}\" (those nodes "
          "fall back to requests)",
          name, source_.Describe(), r.dropped, r.first_drop);
    } else {
      Log()->debug("metrics samples dropped metric={} count={} first=\"{}\"", name, r.dropped,
                   r.first_drop);
    }
  }
  if (r.duplicates > 0) {
    Log()->debug("metrics duplicate series for one node metric={} count={}", name, r.duplicates);
  }
  for (const std::string& w : r.warnings) {
    Log()->debug("metrics query warning metric={} warning=\"{}\"", name, w);
  }
  if (metrics_ != nullptr) {
    prometheus::Counter& err =
        kind == MetricKind::kCpu ? metrics_->cpu_errors : metrics_->memory_errors;
    prometheus::Counter& dropped =
        kind == MetricKind::kCpu ? metrics_->cpu_dropped : metrics_->memory_dropped;
    if (!r.status.ok()) err.Increment();
    if (r.dropped > 0) dropped.Increment(static_cast<double>(r.dropped));
  }
  return r.status.ok();
}

void MetricsRefresher::ReportPods(const MetricQueryResult& r, int64_t dropped_absolute) {
  // Per-pod usage is optional input (the rescheduler falls back to requests per pod): its
  // failures and drops warn on the first occurrence and every 20th, like the node queries.
  if (!r.status.ok()) {
    if (pod_failures_++ % 20 == 0) {
      Log()->warn(
          "per-pod usage unavailable source=\"{}\" consecutive_failures={} error=\"{}\" "
          "(pods fall back to their requests once the previous values are older than maxAge)",
          source_.Describe(), pod_failures_, r.status.ToString());
    }
  } else if (pod_failures_ > 0) {
    Log()->info("per-pod usage recovered after_failures={}", pod_failures_);
    pod_failures_ = 0;
  }
  if (r.dropped > 0 && pod_drops_++ % 20 == 0) {
    Log()->warn("per-pod samples dropped count={} first=\"{}\" (those pods fall back to requests)",
                r.dropped, r.first_drop);
  }
  if (dropped_absolute > 0 && node_usage_drops_++ % 20 == 0) {
    Log()->warn(
        "node usage dropped count={} (no allocatable, negative, or over {}x allocatable: those "
        "nodes fall back to requests)",
        dropped_absolute, kMaxUsageOfAllocatable);
  }
  if (metrics_ != nullptr) {
    if (!r.status.ok()) metrics_->pod_errors.Increment();
    if (r.dropped > 0) metrics_->pod_dropped.Increment(static_cast<double>(r.dropped));
    if (dropped_absolute > 0) {
      metrics_->node_usage_dropped.Increment(static_cast<double>(dropped_absolute));
    }
  }
}

void MetricsRefresher::ObserveRefresh(const MetricsSnapshot& next, double seconds, WallTime now) {
  if (metrics_ == nullptr) return;
  metrics_->refresh_duration.Observe(seconds);
  metrics_->nodes_without_sample.Set(static_cast<double>(next.nodes_without_sample.size()));
  std::map<std::string, double> ages;
  for (const auto& [name, m] : next.nodes) {
    if (const auto oldest = m.OldestSample()) {
      ages[name] = std::max(0.0, std::chrono::duration<double>(now - *oldest).count());
    }
  }
  metrics_->SetNodeAges(ages);
}

void MetricsRefresher::SelfCheck(const MetricsSnapshot& next,
                                 const std::map<std::string, NodePtr>& cluster_nodes,
                                 size_t sample_count) {
  // An empty node map means the cache has not synced yet: nothing meaningful to report.
  if (!cluster_nodes.empty() && (!logged_missing_ || next.nodes_without_sample != last_missing_)) {
    if (next.nodes_without_sample.empty()) {
      Log()->info("metrics cover every node nodes={} samples={}", cluster_nodes.size(),
                  sample_count);
    } else {
      Log()->warn(
          "nodes without metric sample count={} nodes={} unmatched_keys={} node_label={} "
          "(these nodes fall back to requests-based utilisation)",
          next.nodes_without_sample.size(), JoinCapped(next.nodes_without_sample),
          JoinCapped(next.unmatched_keys), config_.node_label);
    }
    logged_missing_ = true;
    last_missing_ = next.nodes_without_sample;
  }
}

Status MetricsRefresher::RefreshOnce() {
  std::lock_guard<std::mutex> refresh_lock(refresh_mu_);
  const auto started = std::chrono::steady_clock::now();
  StatusOr<RawNodeMetrics> fetched = source_.Fetch();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  RawNodeMetrics raw;
  if (fetched.ok()) {
    raw = std::move(fetched).value();
  } else {
    raw.cpu.status = fetched.status();
    raw.memory.status = fetched.status();
  }

  const auto cache = cache_ ? cache_() : nullptr;
  static const std::map<std::string, NodePtr> kNoNodes;
  const auto& cluster_nodes = (cache && cache->nodes) ? *cache->nodes : kNoNodes;
  const WallTime now = clock_.WallNow();

  const std::shared_ptr<const MetricsSnapshot> previous = Snapshot();
  auto next = std::make_shared<MetricsSnapshot>(
      MapSamplesToNodes(raw, cluster_nodes, previous.get(), now, config_.max_age));
  next->generation = previous->generation + 1;

  int errors = 0;
  for (MetricKind kind : {MetricKind::kCpu, MetricKind::kMemory}) {
    errors += ReportQuery(kind, kind == MetricKind::kCpu ? raw.cpu : raw.memory) ? 0 : 1;
  }
  if (source_.HasPodUsage()) ReportPods(raw.pods, next->dropped_absolute);
  ObserveRefresh(*next, seconds, now);
  SelfCheck(*next, cluster_nodes, raw.nodes.size());

  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(next);
    ++refresh_count_;
    error_count_ += static_cast<uint64_t>(errors);
  }
  for (const auto& listener : listeners_) listener();

  if (!raw.cpu.status.ok()) return raw.cpu.status.Annotate("cpu query");
  if (!raw.memory.status.ok()) return raw.memory.status.Annotate("memory query");
  return Status::Ok();
}

}  // namespace kb::scoring
