// The extender's decision rules as pure functions over NodeLoad: FilterNode (filter verb) and
// ScoreNodes (prioritize verb). kube-scheduler's own filters are scoring/feasibility.h.
// The rescheduler calls the same functions on the same snapshot ("one brain"). The formulas are
// documented in docs/scoring.md. No I/O, no allocation beyond the results; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/model.h"
#include "scoring/load_model.h"
#include "scoring/steering.h"

namespace kb::scoring {

inline constexpr int64_t kMinExtenderScore = 0;
inline constexpr int64_t kMaxExtenderScore = 10;

// Settings the policy reads; build with PolicyConfig::From(config).
struct PolicyConfig {
  double cpu_threshold = 80.0;     // rescheduler.cpuThreshold, percent
  double memory_threshold = 80.0;  // rescheduler.memoryThreshold, percent
  ScoringConfig scoring;           // weights, fresh-pod estimate, minSpread

  static PolicyConfig From(const Config& config);
};

// What one pod adds to a node, computed once per request.
struct PodDemand {
  Resources request;      // EffectiveRequest()
  Resources estimate;     // EstimatePodUsage(): added to sampled utilisation
  std::string owner_uid;  // controller owner UID ("" for bare pods)
};
PodDemand MakeDemand(const Pod& pod, const ScoringConfig& scoring);

// Utilisation of `load` with the pod added, in percent: for each resource, a sampled utilisation
// adds the pod's estimate, a requests-based one adds its request.
struct UtilWithPod {
  double cpu = 0;
  double mem = 0;
};
UtilWithPod UtilisationWithPod(const PodDemand& demand, const NodeLoad& load);

// ---- Filter ----

enum class FilterReason { kNone, kMaintenance, kUnschedulable, kCpu, kMemory, kSteered };
// Metric label value: "none", "maintenance", "unschedulable", "cpu", "memory", "steered".
const char* FilterReasonName(FilterReason reason);

struct FilterResult {
  bool passed = true;
  FilterReason reason = FilterReason::kNone;
  std::string message;  // human-readable, for FailedNodes ("" when passed)
};

// Fails when the node is labelled scheduler.alpha.kubernetes.io/maintenance=true, is unschedulable,
// is a node the pod's owner is steered away from, or when its utilisation with the pod added would
// exceed cpu_threshold / memory_threshold (strictly greater). The threshold check applies to a
// resource whose utilisation comes from fresh metrics; a requests-based fallback (metrics missing
// or stale) passes unless scoring.filterOnRequests is set (fail open: stale data never makes a node
// unschedulable). `load == nullptr` (node not in the cache) passes: the caller counts it. `steer`
// may be null.
FilterResult FilterNode(const PodDemand& demand, const NodeLoad* load, const PolicyConfig& config,
                        const SteerDecision* steer = nullptr);
FilterResult FilterNode(const Pod& pod, const NodeLoad* load, const PolicyConfig& config,
                        const SteerDecision* steer = nullptr);

// ---- Score ----

struct ScoreCandidate {
  std::string_view name;
  const NodeLoad* load = nullptr;  // nullptr: node not in the cache
};

struct ScoreBreakdown {
  std::string node;
  bool known = false;           // in the load snapshot
  bool degraded = false;        // NodeLoad::degraded
  bool steered_target = false;  // got the maximum score because of steering
  bool steered_away = false;    // a steered-away source (score 0)
  double cpu_util = 0;          // percent, with the pod added
  double mem_util = 0;
  double cpu_term = 0;              // 1 - cpu_util/100, in [0,1]
  double mem_term = 0;              // 1 - mem_util/100, in [0,1]
  double least_allocated_term = 0;  // mean over cpu, mem of (alloc - requested - pod) / alloc
  double balance_term = 0;          // 1 - |cpu_util - mem_util| / 100
  double raw = 0;                   // weighted mean of the terms, in [0,1]
  int64_t score = 0;                // final extender score, 0..10
};

// Scores every candidate (same order as `candidates`): raw score per node, then spread over 0..10
// across the known candidates (best -> 10; see docs/scoring.md for minSpread); unknown nodes get 0;
// a steering target gets 10 and is then the only node with 10 (the others spread over 0..9), a
// steered-away node 0.
std::vector<ScoreBreakdown> ScoreNodes(const PodDemand& demand,
                                       const std::vector<ScoreCandidate>& candidates,
                                       const PolicyConfig& config,
                                       const SteerDecision* steer = nullptr);
std::vector<ScoreBreakdown> ScoreNodes(const Pod& pod,
                                       const std::vector<ScoreCandidate>& candidates,
                                       const PolicyConfig& config,
                                       const SteerDecision* steer = nullptr);

// Raw score of one node in [0,1] (fills every term of `out` except `score`). Exposed for the
// rescheduler's comparisons and tests.
double RawScore(const PodDemand& demand, const NodeLoad& load, const ScoringConfig& scoring,
                ScoreBreakdown* out = nullptr);

// The one place extender scores are rounded and clamped to [0, 10].
int64_t ClampExtenderScore(double score);

}  // namespace kb::scoring
