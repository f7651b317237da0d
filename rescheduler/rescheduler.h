// Rescheduler: the leader-only background loop. Each cycle (every reschedulingInterval, or early
// via Wake) is a short pipeline: snapshot cache + load model -> plan (the strategies over the
// MoveLedger) -> gate and act (the Evictor) -> record (ledger, metrics, /debug/plan, log). The
// loop takes its time from the injected Clock.
// Thread-safe: Wake/OnBinding/PlanJson from any thread; RunOnce calls are serialised.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "kube/kube_client.h"
#include "rescheduler/evictor.h"
#include "rescheduler/metrics.h"
#include "rescheduler/move_ledger.h"
#include "rescheduler/strategy.h"
#include "scoring/load_model.h"
#include "scoring/policy.h"
#include "scoring/steering.h"

namespace kb::resched {

class LeaderElector;

// The state of one watched kind, as the sync gate reads it (from the cluster cache).
struct KindSync {
  std::string kind;        // "pods", "poddisruptionbudgets", ...
  bool listed = false;     // the initial list completed
  bool connected = false;  // no list or watch failure since the last list, event or watch end
  SteadyTime confirmed{};  // the last list, event or clean watch end
};
using SyncProvider = std::function<std::vector<KindSync>()>;

// Why a cycle must not act on `kinds` at `now`, or "" when every kind is listed, connected (no
// failure since it was last confirmed: a reconnected watch is trusted again only after a list,
// an event or a clean watch end) and confirmed within `max_age`.
std::string SyncGateReason(const std::vector<KindSync>& kinds, SteadyTime now, Millis max_age);

struct ReschedulerOptions {
  // Moves in flight are checked this often between cycles; a completed move triggers an early
  // cycle, so a workload's next pod moves as soon as the previous replacement is Ready.
  Millis follow_up_interval{1000};
  Millis min_cycle_gap{1000};  // early cycles run at most this often
  std::string identity;        // Event reportingInstance (the elector's identity)
  uint64_t seed = 0;           // bare-pod copy suffixes (0 = random)
};

// What one RunOnce() did (tests, logs).
struct CycleReport {
  bool ran = false;
  std::string skipped;  // why not ("not leader", "cache not synced"), when !ran
  int planned = 0;
  int unmovable = 0;
  int completed = 0;                   // moves in flight that ended at the start of the cycle
  std::map<std::string, int> results;  // ResultName -> count, for the planned moves
  std::vector<std::pair<PlannedMove, Outcome>> moves;
  double seconds = 0;
  double plan_seconds = 0;
};

class Rescheduler {
 public:
  using CacheProvider = std::function<std::shared_ptr<const ClusterSnapshot>()>;
  using LoadProvider = std::function<std::shared_ptr<const scoring::LoadSnapshot>()>;

  // `steering`, `metrics` and `elector` may be null (no elector: always acts). References must
  // outlive the Rescheduler. Unknown names in enabledStrategies are logged and ignored.
  Rescheduler(ReschedulerConfig config, scoring::PolicyConfig policy, kube::KubeClient& client,
              CacheProvider cache, LoadProvider load, Clock& clock, scoring::Steering* steering,
              ReschedulerMetrics* metrics, const LeaderElector* elector,
              ReschedulerOptions options = {});
  ~Rescheduler();  // Stops and joins.
  Rescheduler(const Rescheduler&) = delete;
  Rescheduler& operator=(const Rescheduler&) = delete;

  // The watched kinds' sync state, checked before every cycle (SyncGateReason); unset = not
  // checked (the cache provider alone decides). Call before Start().
  void SetSyncProvider(SyncProvider sync) { sync_ = std::move(sync); }

  // Starts the loop thread (first cycle at once). Call once.
  void Start();
  // Stops the loop promptly (a cycle in progress finishes its current API call first) and joins.
  // Idempotent.
  void Stop();
  // Runs a cycle soon (at most one per min_cycle_gap). Never blocks.
  void Wake();
  // LoadModel binding listener: wakes the loop when `load` is above cpu/memoryThreshold.
  void OnBinding(const scoring::NodeLoad& load);

  // One whole cycle on the caller's thread. Does nothing unless leader.
  CycleReport RunOnce(CycleKind kind = CycleKind::kScheduled);

  // The latest plan (GET /debug/plan): each move with strategy, pod, source, target, reason,
  // scores and outcome; unmovable pods, notes, moves in flight, usage conditions.
  nlohmann::json PlanJson() const;

  bool IsLeader() const;

 private:
  struct Snapshots {
    std::shared_ptr<const ClusterSnapshot> cache;
    std::shared_ptr<const scoring::LoadSnapshot> load;
  };
  // What the strategies planned this cycle, merged.
  struct CyclePlan {
    std::vector<StrategyPlan> plans;  // one per strategy, in order
    std::vector<PlannedMove> moves;   // one per pod: the first strategy wins
    std::vector<std::string> observed;
    std::vector<std::string> notes;  // the cycle's own (not a strategy's)
    bool truncated = false;
    WallTime now{};
  };

  void Loop();
  // Follow-up between cycles; returns the number of moves that ended.
  int FollowUpOnly();
  // Leadership (a new term starts from a clean ledger) and synced snapshots; nullopt with
  // report->skipped set when the cycle must not run.
  std::optional<Snapshots> TakeSnapshots(CycleReport* report);
  // Records a skipped cycle: report, metric, log (once per reason change), /debug/plan.
  void Skip(CycleReport* report, const std::string& metric, std::string reason);
  // Updates the breaker gauge; logs when the breaker closed.
  void WatchBreaker();
  CyclePlan Plan(const Snapshots& snapshots);
  // Notes (and logs once, until it has nodes again) each configured node group with no node.
  void CheckNodeGroups(const Snapshots& snapshots, CyclePlan* plan);
  // Gates and acts on every planned move, reports the unmovable pods, ends the cycle's ledger.
  void Act(const CyclePlan& plan, CycleReport* report);
  void Publish(CycleKind kind, const CyclePlan& plan, const CycleReport& report);
  nlohmann::json RenderPlan(CycleKind kind, const CyclePlan& plan, const CycleReport& report) const;
  void LogSummary(CycleKind kind, const CycleReport& report) const;
  std::vector<std::string> StrategyNames() const;

  const ReschedulerConfig config_;
  const scoring::PolicyConfig policy_;
  CacheProvider cache_;
  LoadProvider load_;
  Clock& clock_;
  ReschedulerMetrics* metrics_;
  const LeaderElector* elector_;
  const ReschedulerOptions options_;
  SyncProvider sync_;
  std::vector<std::unique_ptr<Strategy>> strategies_;

  std::mutex run_mu_;                   // serialises RunOnce / FollowUpOnly; guards the state below
  MoveLedger ledger_;                   // Guarded by run_mu_.
  Evictor evictor_;                     // Guarded by run_mu_.
  bool was_leader_ = false;             // Guarded by run_mu_.
  bool breaker_was_open_ = false;       // Guarded by run_mu_.
  std::set<std::string> empty_groups_;  // Guarded by run_mu_. Node groups reported empty.

  mutable std::mutex plan_mu_;
  std::shared_ptr<const nlohmann::json> plan_;  // Guarded by plan_mu_.
  nlohmann::json last_skip_;                    // Guarded by plan_mu_. {reason, at}

  std::mutex mu_;  // loop control
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  bool wake_ = false;  // Guarded by mu_.
  std::atomic<bool> has_in_flight_{false};
  std::thread thread_;
};

}  // namespace kb::resched
