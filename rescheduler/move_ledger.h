// MoveLedger: everything the rescheduler remembers between cycles, in one value: usage-condition
// counters, moves in flight, cooldowns, rebalancing sessions, recent moves, Event / log dedup, and
// the limit and PodDisruptionBudget counts of the current window. Strategies read it (through
// PlanInput); the Evictor gates moves against it and records what it did into it;
// Rescheduler::RunOnce begins each cycle on it. No clock and no I/O: times are passed in.
// Not thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "core/cluster_snapshot.h"
#include "core/config.h"
#include "core/model.h"
#include "rescheduler/result.h"

namespace kb::resched {

enum class CycleKind {
  kScheduled,  // every reschedulingInterval: usage conditions count one more cycle
  kEarly,      // woken early: conditions count only if a reschedulingInterval has passed
};

struct PodRef {
  std::string ns;
  std::string name;
  std::string uid;
  static PodRef Of(const Pod& pod) { return {pod.meta.namespace_, pod.meta.name, pod.meta.uid}; }
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

// A recent eviction whose effect the metrics may not show yet (a rate window lags): planning
// subtracts the moved pod's usage estimate from the source's sampled utilisation.
struct RecentMove {
  std::string source;
  std::string target;
  Resources estimate;  // scoring::EstimatePodUsage of the moved pod
};

// Moves counted against the limits and the PodDisruptionBudgets. The Evictor counts what it did;
// planning counts what it planned on a copy.
struct MoveCounts {
  int window = 0;                           // moves this window (maxReschedulePods)
  std::map<std::string, int> by_node;       // by source node, this window
  std::map<std::string, int> by_namespace;  // this window
  std::map<std::string, int> by_pdb;        // disruptions by PDB namespace/name, this cycle

  // Counts one move of `pod` off `source`, and one disruption of every PDB that covers it.
  void Add(const Pod& pod, const std::string& source, const ClusterSnapshot& snapshot);
  // Why `pod`'s PodDisruptionBudgets allow no further disruption on top of the ones counted here,
  // or nullopt. `counted` names those in the message ("planned", "used this cycle"). A PDB whose
  // status the controller has not caught up with yet is left to the API server (it answers 429).
  std::optional<std::string> PdbRefusal(const Pod& pod, const ClusterSnapshot& snapshot,
                                        std::string_view counted) const;
};

// How long a usage condition has held.
struct ConditionCount {
  int cycles = 0;     // cycles counted so far
  SteadyTime last{};  // start of the cycle that counted last
};

class MoveLedger {
 public:
  // Reads cooldown, steerWindow, reschedulingInterval, the limits and pdbPrecheck.
  explicit MoveLedger(ReschedulerConfig config = {});

  // ---- Cycles

  // Starts a cycle at `now`: drops expired cooldowns, dedup keys and recent moves, and the PDB
  // counts. A scheduled cycle opens a new window: the limit counts start again. An early cycle
  // (or a follow-up between cycles) shares the current window, so maxReschedulePods bounds the
  // moves per reschedulingInterval.
  void BeginCycle(SteadyTime now, CycleKind kind);
  // Start of the current cycle.
  SteadyTime now() const { return now_; }
  // Forgets the moves in flight, cooldowns, sessions, recent moves and usage conditions
  // (leadership changed hands: the previous leader's moves are not ours to follow). The loop
  // guards and the removed pods are kept: they only ever prevent a move.
  void Reset();

  // ---- Usage conditions ("ResourceOptimization/cpu/node-a")

  // Cycles `key` has held counting this one (it holds now): 1 for a new condition. An early
  // cycle counts only once 9/10 of a reschedulingInterval has passed since the last count, so
  // waking early never shortens the consecutiveCycles persistence.
  int EffectiveCount(const std::string& key) const;
  // The conditions that hold this cycle count one more (when they may); the others reset.
  void ObserveConditions(const std::vector<std::string>& observed);
  // A move acted on `key`: the node must be seen again for consecutiveCycles before the next
  // round, so lagging metrics do not trigger a second one.
  void ForgetCondition(const std::string& key) { conditions_.erase(key); }
  const std::map<std::string, ConditionCount>& conditions() const { return conditions_; }

  // ---- What planning reads

  // A move of `workload` (WorkloadKey) is in flight.
  bool Busy(const std::string& workload) const;
  bool PodCoolingDown(const std::string& uid, SteadyTime now) const;
  bool WorkloadCoolingDown(const std::string& workload, SteadyTime now) const;
  // A move of `workload` landed back on its source or failed within the cooldown: moving it again
  // could loop, so no strategy moves it (a maintenance drain included) until the cooldown ends.
  bool LoopGuarded(const std::string& workload, SteadyTime now) const;
  // Evictions within steerWindow of the cycle's start.
  std::vector<RecentMove> RecentMoves() const;
  const MoveCounts& counts() const { return counts_; }
  const std::vector<InFlightMove>& in_flight() const { return in_flight_; }

  // ---- The Evictor's gates, in the order it applies them

  // kInFlight when `workload` has a move in flight (or a dry-run move this window).
  std::optional<Outcome> InFlightRefusal(const std::string& workload) const;
  // kLoopBlocked (every strategy); unless `ignore_cooldown` (a drain must finish): the breaker
  // and maxEvictionsPerHour (kBudget) and kCooldown; then the limits and the PDB budget.
  std::optional<Outcome> BudgetRefusal(const Pod& pod, const std::string& source,
                                       bool ignore_cooldown, const ClusterSnapshot& snapshot,
                                       SteadyTime now) const;

  // ---- What the Evictor records

  // An action was taken (or would have been, in dry-run) on `pod` off `source`.
  void CountAction(const Pod& pod, const std::string& source, const ClusterSnapshot& snapshot);
  // A dry-run move of `workload`: it counts as in flight for the rest of the window.
  void RecordDryRun(const std::string& workload) { dry_run_workloads_.insert(workload); }
  // A move started (at m.started): in flight, recent, and part of its workload's session.
  void Track(InFlightMove m);
  // Removes the moves in flight for which `done` returns true; returns how many.
  int Settle(const std::function<bool(const InFlightMove&)>& done);
  void CoolDownPod(const std::string& uid, SteadyTime now);
  // The pod with `uid` was evicted or deleted by a move: a snapshot that still shows it (the
  // cache lags) must not plan it again. Remembered for the cooldown.
  void MarkRemoved(const std::string& uid, SteadyTime now);
  bool Removed(const std::string& uid) const { return removed_.count(uid) != 0; }
  void CoolDownWorkload(const std::string& workload, SteadyTime now);
  // A replacement landed back, never came or failed: the workload cools down, its session ends,
  // and it is loop-guarded (LoopGuarded) for the cooldown.
  void BackOff(const std::string& workload, SteadyTime now);
  // Workloads whose rebalancing finished (no move in flight, none planned this cycle) cool down.
  // Workloads in `deferred` (refused only for a transient reason this cycle: a PDB that allows
  // no disruption yet, a move in flight, a limit) keep their session: a transient refusal never
  // starts a cooldown. Skipped when the plan was truncated (work may remain).
  void EndCycle(const std::unordered_set<std::string>& planned_workloads,
                const std::unordered_set<std::string>& deferred, bool plan_truncated,
                SteadyTime now);
  // True at most once per cooldown for `key` (Event and log dedup).
  bool ShouldEmit(const std::string& key, SteadyTime now);

  // ---- Circuit breaker and hourly budget (every strategy but NodeMaintenance)

  // Moves counted in the rolling hour before `now` (CountAction), against maxEvictionsPerHour.
  int MovesLastHour(SteadyTime now) const;
  // How a move in flight ended: a Ready replacement (anywhere) resets the failure streak; a
  // replacement that timed out or failed extends it. True when this opened the breaker.
  bool NoteReplacement(Result result, SteadyTime now);
  // A call that changes the cluster returned `s`: success resets the API failure streak; a server
  // failure (5xx, timeout, connection lost) extends it. True when this opened the breaker.
  bool NoteApiCall(const Status& s, SteadyTime now);
  bool BreakerOpen(SteadyTime now) const { return now < breaker_until_; }
  // Why the breaker last opened, and until when.
  const std::string& breaker_reason() const { return breaker_reason_; }
  SteadyTime breaker_until() const { return breaker_until_; }

 private:
  bool MayCount(const ConditionCount& c) const;

  ReschedulerConfig config_;
  SteadyTime now_{};
  bool scheduled_ = true;
  std::map<std::string, ConditionCount> conditions_;
  std::vector<InFlightMove> in_flight_;
  std::unordered_map<std::string, SteadyTime> cooldown_pods_;       // UID -> until
  std::unordered_map<std::string, SteadyTime> cooldown_workloads_;  // key -> until
  std::unordered_map<std::string, SteadyTime> loop_guard_;          // key -> until
  std::unordered_map<std::string, SteadyTime> removed_;             // UID -> until
  std::unordered_set<std::string> sessions_;  // workloads with a finished move this rebalancing
  struct Recent {
    RecentMove move;
    SteadyTime at;
  };
  std::vector<Recent> recent_;
  std::unordered_map<std::string, SteadyTime> emitted_;  // Event / log dedup key -> until
  MoveCounts counts_;
  std::unordered_set<std::string> dry_run_workloads_;  // this window
  std::deque<SteadyTime> hour_;                        // moves in the rolling hour
  int replacement_failures_ = 0;                       // in a row
  int api_failures_ = 0;                               // in a row
  SteadyTime breaker_until_{};
  std::string breaker_reason_;

  bool Trip(std::string reason, SteadyTime now);
};

// True for a failure of the API server itself (5xx, timeout, connection lost), not a refusal
// such as a PDB's 429 or a 404.
bool IsServerFailure(const Status& s);

}  // namespace kb::resched
