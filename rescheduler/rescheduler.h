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
    bool truncated = false;
    WallTime now{};
  };

  void Loop();
  // Follow-up between cycles; returns the number of moves that ended.
  int FollowUpOnly();
  // Leadership (a new term starts from a clean ledger) and synced snapshots; nullopt with
  // report->skipped set when the cycle must not run.
  std::optional<Snapshots> TakeSnapshots(CycleReport* report);
  CyclePlan Plan(const Snapshots& snapshots);
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
  std::vector<std::unique_ptr<Strategy>> strategies_;

  std::mutex run_mu_;        // serialises RunOnce / FollowUpOnly; guards the state below
  MoveLedger ledger_;        // Guarded by run_mu_.
  Evictor evictor_;          // Guarded by run_mu_.
  bool was_leader_ = false;  // Guarded by run_mu_.

  mutable std::mutex plan_mu_;
  std::shared_ptr<const nlohmann::json> plan_;  // Guarded by plan_mu_.

  std::mutex mu_;  // loop control
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  bool wake_ = false;  // Guarded by mu_.
  std::atomic<bool> has_in_flight_{false};
  std::thread thread_;
};

}  // namespace kb::resched
