// Evictor: the only part of the rescheduler that changes the cluster. It gates a planned move
// (safety re-checks, and the MoveLedger's in-flight, cooldown, limit and PDB rules), acts (a
// policy/v1 eviction, a surge restart or a bare-pod copy), follows moves in flight, records what
// it did into the ledger, and funnels every outcome through Record().
// Not thread-safe: used from the rescheduler thread only.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "kube/kube_client.h"
#include "rescheduler/metrics.h"
#include "rescheduler/move_ledger.h"
#include "rescheduler/protections.h"
#include "rescheduler/result.h"
#include "rescheduler/strategy.h"
#include "scoring/steering.h"

namespace kb::resched {

// Label on a bare-pod copy naming the original's UID: the copy of one original is made once.
inline constexpr char kCopyOfLabel[] = "kube-balancer.io/copy-of";

struct EvictorOptions {
  std::string component = "kube-balancer";  // Event source.component / reportingComponent
  std::string instance;                     // Event reportingInstance (the holder identity)
  int conflict_attempts = 3;                // RetryOnConflict bound for read-modify-writes
  uint64_t seed = 0;                        // copy-name suffix PRNG (0 = random)
};

// How one move in flight ended (on_target, other_node, landed_back, pending_timeout, failed).
struct MoveOutcome {
  std::string strategy;
  PodRef pod;  // the replacement when there is one, else the moved pod
  std::string source;
  std::string target;  // where the replacement is (or was planned to go)
  Result result = Result::kOnTarget;
  std::string message;
  WallTime at{};
};

class Evictor {
 public:
  // `steering` and `metrics` may be null. References must outlive the Evictor.
  Evictor(kube::KubeClient& client, Clock& clock, ReschedulerConfig config, ScoringConfig scoring,
          scoring::Steering* steering, ReschedulerMetrics* metrics, MoveLedger& ledger,
          EvictorOptions options = {});

  // Checked before every call that changes the cluster (leadership); default: always true.
  void SetMayAct(std::function<bool()> may_act);

  // Starts a cycle over `snapshot` (non-null): the workloads read from the API are read again.
  // The ledger's cycle is begun by the caller (MoveLedger::BeginCycle).
  void BeginCycle(std::shared_ptr<const ClusterSnapshot> snapshot);
  // Advances the moves in flight against the cycle's snapshot (call after BeginCycle): a Ready
  // replacement ends a move; a bare-pod copy that is Ready gets its original deleted; timeouts
  // back the workload off. May call the API. Returns how many moves ended.
  int FollowUp();
  // Runs one planned move (after BeginCycle). Every outcome goes through Record().
  Outcome Execute(const PlannedMove& move);
  // How the latest moves ended (newest last, at most kMaxOutcomes), for /debug/plan.
  const std::deque<MoveOutcome>& outcomes() const { return outcomes_; }
  static constexpr size_t kMaxOutcomes = 50;

  // Reports a pod a strategy could not move: logged, and when `u.report`, an Event on the node
  // (deduplicated for `cooldown`).
  void ReportUnmovable(const UnmovablePod& u);

  // The funnel: counts the metric, writes one log line (strategy, pod, source, target, result,
  // reason) and creates the Event (Rescheduled / RescheduleFailed on the pod; never in dry-run,
  // never for limits; repeated failures of one pod deduplicated for `cooldown`).
  void Record(const std::string& strategy, const PodRef& pod, const std::string& source,
              const std::string& target, Result result, const std::string& message);

  // The bare-pod copy of `pod_json` (API JSON) for `target`: name rescheduled-<base>-<suffix>,
  // spec.nodeName = target, labelled kCopyOfLabel=<original UID>; status, uid, resourceVersion,
  // creationTimestamp, deletion fields, managedFields, generateName, ownerReferences and
  // schedulingGates removed.
  static nlohmann::json MakeCopy(const nlohmann::json& pod_json, const std::string& target,
                                 const std::string& suffix);
  // "rescheduled-<base>-<suffix>", where <base> drops an earlier rescheduled-...-xxxxx wrapper
  // and is cut so the name stays within 253 characters.
  static std::string CopyName(const std::string& original, const std::string& suffix);

 private:
  Outcome Finish(const PlannedMove& move, Result result, std::string message);
  // Why `move` must not run now (in flight, protections, cooldown, limits, PDB), or nullopt.
  std::optional<Outcome> Gate(const PlannedMove& move);
  StatusOr<WorkloadInfo> Resolve(const Pod& pod);
  // The workload checks that need the API (owner state, single replica), then the action.
  Outcome Act(const PlannedMove& move);
  Outcome DryRun(const PlannedMove& move, bool bare, SingleReplicaAction action);
  Outcome Evict(const PlannedMove& move, const Pod& pod);
  Outcome Restart(const PlannedMove& move, const Pod& pod, const WorkloadInfo& workload);
  Outcome Copy(const PlannedMove& move, const Pod& pod);
  // A live copy of `pod` (labelled kCopyOfLabel=<its UID>) already exists, or the lookup failed:
  // the outcome to report instead of copying. nullopt: no copy yet.
  std::optional<Outcome> ExistingCopy(const Pod& pod);
  // An in-flight record of `move` of `pod` started now (the fields every kind shares).
  InFlightMove NewInFlight(InFlightMove::Kind kind, const PlannedMove& move, const Pod& pod) const;
  void CountAction(const PlannedMove& move);
  void Track(InFlightMove m);
  bool Follow(const InFlightMove& m);
  bool FollowEviction(const InFlightMove& m);
  bool FollowRestart(const InFlightMove& m);
  bool FollowCopy(const InFlightMove& m);
  void CreateEvent(const std::string& ns, const nlohmann::json& involved, bool warning,
                   const std::string& reason, const std::string& message);
  bool ShouldEmit(const std::string& key) { return ledger_.ShouldEmit(key, clock_.Now()); }
  std::string RandomSuffix();
  bool MayAct() const { return !may_act_ || may_act_(); }
  // Feeds the breaker with the result of a call that changes (or reads before changing) the
  // cluster; opens it (log, Event on `pod`, gauge) when server failures keep coming.
  void NoteApiCall(const Status& s, const PodRef& pod);
  void BreakerOpened(const PodRef& pod);
  void RememberOutcome(const std::string& strategy, const PodRef& pod, const std::string& source,
                       const std::string& target, Result result, const std::string& message);
  void SetInFlightMetric();
  // Opt-in moves whose RBAC the API server refused. The first 403 of a feature is reported once
  // (warning log, Event on the pod, permission_denied_total); later moves of that kind are
  // skipped without an API call until the process restarts (RBAC is granted by adding the
  // feature's kustomize component, which restarts nothing by itself).
  std::optional<Outcome> DeniedBefore(const PlannedMove& move, std::string_view feature);
  void NoteDenied(std::string_view feature, const char* verb, const char* resource, const Status& s,
                  const Pod& pod);
  std::set<std::string, std::less<>> denied_features_;

  kube::KubeClient& client_;
  Clock& clock_;
  const ReschedulerConfig config_;
  const ScoringConfig scoring_;
  scoring::Steering* steering_;
  ReschedulerMetrics* metrics_;
  MoveLedger& ledger_;
  const EvictorOptions options_;
  std::function<bool()> may_act_;
  std::mt19937_64 rng_;
  uint64_t event_seq_ = 0;

  std::deque<MoveOutcome> outcomes_;  // newest last, at most kMaxOutcomes

  // Per cycle.
  std::shared_ptr<const ClusterSnapshot> snapshot_;
  std::unordered_map<std::string, StatusOr<WorkloadInfo>> workloads_;  // by owner UID
};

}  // namespace kb::resched
