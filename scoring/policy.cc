#include "scoring/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kb::scoring {

namespace {

double Clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

std::string Pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", v);
  return buf;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// Free share of allocatable after the pod: (alloc - requested - pod) / alloc in [0,1].
double FreeFraction(int64_t allocatable, int64_t requested, int64_t pod) {
  if (allocatable <= 0) return 0.0;
  return Clamp01(static_cast<double>(allocatable - requested - pod) /
                 static_cast<double>(allocatable));
}

}  // namespace

PolicyConfig PolicyConfig::From(const Config& config) {
  PolicyConfig p;
  p.cpu_threshold = config.rescheduler.cpu_threshold;
  p.memory_threshold = config.rescheduler.memory_threshold;
  p.scoring = config.scoring;
  return p;
}

PodDemand MakeDemand(const Pod& pod, const ScoringConfig& scoring) {
  PodDemand d;
  d.request = pod.EffectiveRequest();
  d.estimate = EstimatePodUsage(pod, scoring);
  if (const OwnerReference* owner = pod.meta.ControllerRef()) d.owner_uid = owner->uid;
  return d;
}

UtilWithPod UtilisationWithPod(const PodDemand& demand, const NodeLoad& load) {
  UtilWithPod u;
  // A sampled utilisation gets the pod's usage estimate; a requests-based one its request, so the
  // result stays in the unit of the source it extends.
  u.cpu = load.cpu_util +
          PercentOf(load.cpu_from_metrics ? demand.estimate.cpu_millis : demand.request.cpu_millis,
                    load.allocatable.cpu_millis);
  u.mem = load.mem_util + PercentOf(load.mem_from_metrics ? demand.estimate.memory_bytes
                                                          : demand.request.memory_bytes,
                                    load.allocatable.memory_bytes);
  return u;
}

const char* FilterReasonName(FilterReason reason) {
  switch (reason) {
    case FilterReason::kNone:
      return "none";
    case FilterReason::kMaintenance:
      return "maintenance";
    case FilterReason::kUnschedulable:
      return "unschedulable";
    case FilterReason::kCpu:
      return "cpu";
    case FilterReason::kMemory:
      return "memory";
    case FilterReason::kSteered:
      return "steered";
  }
  return "none";
}

FilterResult FilterNode(const PodDemand& demand, const NodeLoad* load, const PolicyConfig& config,
                        const SteerDecision* steer) {
  FilterResult r;
  if (load == nullptr) return r;
  const Node& node = *load->node;
  if (node.InMaintenance()) {
    r.passed = false;
    r.reason = FilterReason::kMaintenance;
    r.message = std::string("node is in maintenance (label ") + kMaintenanceLabel + "=true)";
    return r;
  }
  if (node.unschedulable) {
    r.passed = false;
    r.reason = FilterReason::kUnschedulable;
    r.message = "node is unschedulable (cordoned)";
    return r;
  }
  if (steer != nullptr && steer->Avoids(load->name)) {
    r.passed = false;
    r.reason = FilterReason::kSteered;
    r.message = "steered away from " + load->name + " after rescheduling";
    return r;
  }
  const UtilWithPod u = UtilisationWithPod(demand, *load);
  // Fail open: a requests-based *fallback* (metrics configured but missing or stale for this
  // node: `degraded`) does not filter unless filterOnRequests is set; the in-tree
  // NodeResourcesFit still guards capacity. Without Prometheus (no fallback, requests are the
  // configured measure) the thresholds apply to requests.
  const bool requests_configured = !load->degraded || config.scoring.filter_on_requests;
  const bool check_cpu = load->cpu_from_metrics || requests_configured;
  const bool check_mem = load->mem_from_metrics || requests_configured;
  auto over = [&r](FilterReason reason, const char* what, double util, double threshold,
                   bool from_metrics) {
    r.passed = false;
    r.reason = reason;
    r.message = std::string("node ") + what + " utilisation would be " + Pct(util) +
                " with the pod, above the " + Num(threshold) + "% threshold" +
                (from_metrics ? "" : " (from requests: metrics unavailable)");
  };
  if (check_cpu && u.cpu > config.cpu_threshold) {
    over(FilterReason::kCpu, "CPU", u.cpu, config.cpu_threshold, load->cpu_from_metrics);
  } else if (check_mem && u.mem > config.memory_threshold) {
    over(FilterReason::kMemory, "memory", u.mem, config.memory_threshold, load->mem_from_metrics);
  }
  return r;
}

FilterResult FilterNode(const Pod& pod, const NodeLoad* load, const PolicyConfig& config,
                        const SteerDecision* steer) {
  return FilterNode(MakeDemand(pod, config.scoring), load, config, steer);
}

int64_t ClampExtenderScore(double score) {
  if (!std::isfinite(score)) return kMinExtenderScore;
  return std::clamp<int64_t>(std::llround(score), kMinExtenderScore, kMaxExtenderScore);
}

double RawScore(const PodDemand& demand, const NodeLoad& load, const ScoringConfig& scoring,
                ScoreBreakdown* out) {
  const UtilWithPod u = UtilisationWithPod(demand, load);
  const double cpu_term = Clamp01(1.0 - u.cpu / 100.0);
  const double mem_term = Clamp01(1.0 - u.mem / 100.0);
  const double least_allocated =
      (FreeFraction(load.allocatable.cpu_millis, load.requested.cpu_millis,
                    demand.request.cpu_millis) +
       FreeFraction(load.allocatable.memory_bytes, load.requested.memory_bytes,
                    demand.request.memory_bytes)) /
      2.0;
  const double balance = 1.0 - std::abs(Clamp01(u.cpu / 100.0) - Clamp01(u.mem / 100.0));
  const double wc = std::max(0.0, scoring.cpu_weight);
  const double wm = std::max(0.0, scoring.memory_weight);
  const double wl = std::max(0.0, scoring.least_allocated_weight);
  const double wb = std::max(0.0, scoring.balance_weight);
  const double wsum = wc + wm + wl + wb;
  const double raw =
      wsum > 0
          ? Clamp01((wc * cpu_term + wm * mem_term + wl * least_allocated + wb * balance) / wsum)
          : 0.0;
  if (out != nullptr) {
    out->node = load.name;
    out->known = true;
    out->degraded = load.degraded;
    out->cpu_util = u.cpu;
    out->mem_util = u.mem;
    out->cpu_term = cpu_term;
    out->mem_term = mem_term;
    out->least_allocated_term = least_allocated;
    out->balance_term = balance;
    out->raw = raw;
  }
  return raw;
}

std::vector<ScoreBreakdown> ScoreNodes(const PodDemand& demand,
                                       const std::vector<ScoreCandidate>& candidates,
                                       const PolicyConfig& config, const SteerDecision* steer) {
  std::vector<ScoreBreakdown> out(candidates.size());
  double max_raw = 0.0;
  double min_raw = 1.0;
  bool any = false;
  bool has_target = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ScoreCandidate& c = candidates[i];
    ScoreBreakdown& b = out[i];
    b.node = std::string(c.name);
    if (c.load == nullptr) continue;  // unknown node: score 0
    RawScore(demand, *c.load, config.scoring, &b);
    b.node = std::string(c.name);
    if (steer != nullptr && steer->Avoids(b.node)) {
      b.steered_away = true;
      continue;
    }
    if (steer != nullptr && !steer->prefer_node.empty() && steer->prefer_node == b.node) {
      b.steered_target = true;
      has_target = true;
      continue;
    }
    max_raw = any ? std::max(max_raw, b.raw) : b.raw;
    min_raw = any ? std::min(min_raw, b.raw) : b.raw;
    any = true;
  }
  // Spread: the best node gets 10 and the scale is the observed range, but never narrower than
  // minSpread, so that near-equal nodes stay near-equal instead of noise becoming a 0-vs-10
  // verdict. With a steering target among the candidates the others spread over 0..9 only: the
  // target is the one node with the maximum, so in-tree scores and the random tie-break among
  // equal totals cannot pick another node (see docs/extender.md for the weight that makes this
  // dominant).
  const double denom = std::max(max_raw - min_raw, config.scoring.min_spread);
  const double top = static_cast<double>(has_target ? kMaxExtenderScore - 1 : kMaxExtenderScore);
  for (ScoreBreakdown& b : out) {
    if (b.steered_target) {
      b.score = kMaxExtenderScore;
    } else if (!b.known || b.steered_away) {
      b.score = kMinExtenderScore;
    } else if (denom <= 0.0) {
      b.score = static_cast<int64_t>(top);  // all equal and no minimum spread
    } else {
      b.score = std::min(static_cast<int64_t>(top),
                         ClampExtenderScore(top * (1.0 - (max_raw - b.raw) / denom)));
    }
  }
  return out;
}

std::vector<ScoreBreakdown> ScoreNodes(const Pod& pod,
                                       const std::vector<ScoreCandidate>& candidates,
                                       const PolicyConfig& config, const SteerDecision* steer) {
  return ScoreNodes(MakeDemand(pod, config.scoring), candidates, config, steer);
}

}  // namespace kb::scoring
