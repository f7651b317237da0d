// Evictor: the only part of the rescheduler that changes the cluster: safety re-checks, limits,
// one move in flight per workload, cooldowns, then a policy/v1 eviction, a surge restart or a
// bare-pod copy; it follows moves in flight and funnels every outcome through Record().
// Not thread-safe: used from the rescheduler thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "kube/kube_client.h"
#include "rescheduler/metrics.h"
#include "rescheduler/protections.h"
#include "rescheduler/strategy.h"
#include "scoring/steering.h"

namespace kb::resched {

// Outcome of a planned move (label `result` of kube_balancer_rescheduler_evictions_total), and
// of a move in flight (kube_balancer_rescheduler_replacements_total).
enum class Result {
  // Planned moves.
  kSuccess,         // evicted / surge restart patched / bare-pod copy created
  kDryRun,          // would have acted (dryRun: true)
  kLimitCycle,      // maxReschedulePods reached this cycle
  kLimitNode,       // maxReschedulePodsPerNode reached for the source node
  kLimitNamespace,  // maxReschedulePodsPerNamespace reached
  kPdbBlocked,      // a PodDisruptionBudget refused (HTTP 429) or allows no disruption now
  kProtected,       // a protection applies (see protections.h)
  kInFlight,        // the workload already has a move in flight
  kCooldown,        // the pod or workload moved within `cooldown`
  kSingleReplica,   // the only replica and no surge restart possible: skipped
  kNotFound,        // the pod is already gone or was replaced (404 / UID precondition 409)
  kUnmovable,       // no feasible target (reported by a strategy)
  kNotLeader,       // leadership lost before acting
  kError,           // the API call failed
  // Moves in flight.
  kReplacementReady,    // the replacement (or copy) is Ready: move done
  kLandedBack,          // the replacement came back on the source node
  kReplacementTimeout,  // no Ready replacement within replacementTimeout
  kReplacementFailed,   // the bare-pod copy failed (e.g. rejected by the kubelet)
};
const char* ResultName(Result r);  // "success", "dry_run", ..., "ready", "landed_back", ...

struct PodRef {
  std::string ns;
  std::string name;
  std::string uid;
  static PodRef Of(const Pod& pod) { return {pod.meta.namespace_, pod.meta.name, pod.meta.uid}; }
};

struct Outcome {
  Result result = Result::kError;
  std::string message;
};

// A move whose replacement is not Ready yet.
struct InFlightMove {
  enum class Kind { kEviction, kRestart, kCopy };
  Kind kind = Kind::kEviction;
  std::string strategy;
  std::string workload;  // WorkloadKey() of the moved pod
  PodRef pod;            // the moved (original) pod
  std::string source;
  std::string target;
  SteadyTime started{};
  Resources estimate;                // usage estimate of the moved pod (recent-move settling)
  std::set<std::string> known_uids;  // kEviction: the owner's pods when it was evicted
  std::string deployment;            // kRestart: Deployment name
  LabelSelector selector;            // kRestart: its pod selector
  std::string copy_name;             // kCopy
  std::string copy_uid;              // kCopy
};
const char* InFlightKindName(InFlightMove::Kind kind);  // "eviction" | "restart" | "copy"

struct EvictorOptions {
  std::string component = "kube-balancer";  // Event source.component / reportingComponent
  std::string instance;                     // Event reportingInstance (the holder identity)
  int conflict_attempts = 3;                // RetryOnConflict bound for read-modify-writes
  uint64_t seed = 0;                        // copy-name suffix PRNG (0 = random)
};

class Evictor {
 public:
  // `steering` and `metrics` may be null. References must outlive the Evictor.
  Evictor(kube::KubeClient& client, Clock& clock, ReschedulerConfig config, ScoringConfig scoring,
          scoring::Steering* steering, ReschedulerMetrics* metrics, EvictorOptions options = {});

  // Checked before every call that changes the cluster (leadership); default: always true.
  void SetMayAct(std::function<bool()> may_act);

  // Starts a cycle over `snapshot` (non-null): clears the workload cache and prunes expired
  // cooldowns; with `new_window` (a scheduled cycle) also resets the limit counters and the PDB
  // ledger. Early cycles (woken between scheduled ones) share the current window's limits, so
  // maxReschedulePods bounds the moves per reschedulingInterval.
  void BeginCycle(std::shared_ptr<const ClusterSnapshot> snapshot, bool new_window = true);
  // Advances the moves in flight against the cycle's snapshot (call after BeginCycle): a Ready
  // replacement ends a move; a bare-pod copy that is Ready gets its original deleted; timeouts
  // back the workload off. May call the API. Returns how many moves ended.
  int FollowUp();
  // Runs one planned move (after BeginCycle). Every outcome goes through Record().
  Outcome Execute(const PlannedMove& move);
  // Reports a pod a strategy could not move: logged, and when `u.report`, an Event on the node
  // (deduplicated for `cooldown`).
  void ReportUnmovable(const UnmovablePod& u);
  // Ends a cycle: workloads with a finished rebalancing (no move in flight and none planned this
  // cycle) enter cooldown. Skipped when the plan was truncated (work may remain).
  void EndCycle(const std::unordered_set<std::string>& planned_workloads, bool plan_truncated);

  // Busy workloads, cooldowns and recent moves for the next plan (conditions are the
  // Rescheduler's).
  PlanState PlanningState() const;
  const std::vector<InFlightMove>& in_flight() const { return in_flight_; }
  // Forgets every move in flight, cooldown and session (leadership changed hands).
  void Reset();

  // The funnel: counts the metric, writes one log line (strategy, pod, source, target, result,
  // reason) and creates the Event (Rescheduled / RescheduleFailed on the pod; never in dry-run,
  // never for limits; repeated failures of one pod deduplicated for `cooldown`).
  void Record(const std::string& strategy, const PodRef& pod, const std::string& source,
              const std::string& target, Result result, const std::string& message);

  // The bare-pod copy of `pod_json` (API JSON) for `target`: name rescheduled-<base>-<suffix>,
  // spec.nodeName = target; status, uid, resourceVersion, creationTimestamp, deletion fields,
  // managedFields, generateName, ownerReferences and schedulingGates removed. Exposed for tests.
  static nlohmann::json MakeCopy(const nlohmann::json& pod_json, const std::string& target,
                                 const std::string& suffix);
  // "rescheduled-<base>-<suffix>", where <base> drops an earlier rescheduled-...-xxxxx wrapper
  // and is cut so the name stays within 253 characters.
  static std::string CopyName(const std::string& original, const std::string& suffix);

 private:
  Outcome Finish(const PlannedMove& move, Result result, std::string message);
  StatusOr<WorkloadInfo> Resolve(const Pod& pod);
  Outcome Evict(const PlannedMove& move, const Pod& pod);
  Outcome Restart(const PlannedMove& move, const Pod& pod, const WorkloadInfo& workload);
  Outcome Copy(const PlannedMove& move, const Pod& pod);
  // An in-flight record of `move` of `pod` started now (the fields every kind shares).
  InFlightMove NewInFlight(InFlightMove::Kind kind, const PlannedMove& move, const Pod& pod) const;
  void CountAction(const PlannedMove& move);
  void Track(InFlightMove m);
  bool FollowEviction(InFlightMove& m);
  bool FollowRestart(InFlightMove& m);
  bool FollowCopy(InFlightMove& m);
  void CreateEvent(const std::string& ns, const nlohmann::json& involved, bool warning,
                   const std::string& reason, const std::string& message);
  bool ShouldEmit(const std::string& key);
  std::string RandomSuffix();
  bool MayAct() const { return !may_act_ || may_act_(); }

  kube::KubeClient& client_;
  Clock& clock_;
  const ReschedulerConfig config_;
  const ScoringConfig scoring_;
  scoring::Steering* steering_;
  ReschedulerMetrics* metrics_;
  const EvictorOptions options_;
  std::function<bool()> may_act_;
  std::mt19937_64 rng_;
  uint64_t event_seq_ = 0;

  // Per cycle.
  std::shared_ptr<const ClusterSnapshot> snapshot_;
  int cycle_moves_ = 0;
  std::map<std::string, int> node_moves_;
  std::map<std::string, int> namespace_moves_;
  std::map<std::string, int> pdb_used_;
  std::unordered_set<std::string> dry_run_workloads_;
  std::unordered_map<std::string, StatusOr<WorkloadInfo>> workloads_;  // by owner UID

  // Across cycles.
  std::vector<InFlightMove> in_flight_;
  std::unordered_map<std::string, SteadyTime> cooldown_pods_;       // UID -> until
  std::unordered_map<std::string, SteadyTime> cooldown_workloads_;  // key -> until
  std::unordered_set<std::string> sessions_;  // workloads with a finished move this rebalancing
  struct Recent {
    RecentMove move;
    SteadyTime at;
  };
  std::vector<Recent> recent_;
  std::unordered_map<std::string, SteadyTime> emitted_;  // Event / log dedup key -> until
};

}  // namespace kb::resched
