#include "rescheduler/move_ledger.h"

#include <algorithm>

#include "rescheduler/protections.h"

namespace kb::resched {

namespace {

int CountOf(const std::map<std::string, int>& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace

const char* InFlightKindName(InFlightMove::Kind kind) {
  switch (kind) {
    case InFlightMove::Kind::kEviction:
      return "eviction";
    case InFlightMove::Kind::kRestart:
      return "restart";
    case InFlightMove::Kind::kCopy:
      return "copy";
  }
  return "eviction";
}

// ---- MoveCounts -------------------------------------------------------------------------------

void MoveCounts::Add(const Pod& pod, const std::string& source, const ClusterSnapshot& snapshot) {
  ++window;
  ++by_node[source];
  ++by_namespace[pod.meta.namespace_];
  for (const PdbPtr& pdb : snapshot.PdbsForPod(pod)) ++by_pdb[NamespacedName(pdb->meta)];
}

std::optional<std::string> MoveCounts::PdbRefusal(const Pod& pod, const ClusterSnapshot& snapshot,
                                                  std::string_view counted) const {
  for (const PdbPtr& pdb : snapshot.PdbsForPod(pod)) {
    if (pdb->observed_generation < pdb->meta.generation) continue;
    const std::string key = NamespacedName(pdb->meta);
    const int used = CountOf(by_pdb, key);
    if (pdb->disruptions_allowed - used <= 0) {
      return "PodDisruptionBudget " + key + " allows no disruption now (" +
             std::to_string(pdb->disruptions_allowed) + " allowed, " + std::to_string(used) + " " +
             std::string(counted) + ")";
    }
  }
  return std::nullopt;
}

// ---- MoveLedger -------------------------------------------------------------------------------

MoveLedger::MoveLedger(ReschedulerConfig config) : config_(std::move(config)) {}

void MoveLedger::BeginCycle(SteadyTime now, CycleKind kind) {
  now_ = now;
  scheduled_ = kind == CycleKind::kScheduled;
  if (scheduled_) {
    counts_ = MoveCounts{};
    dry_run_workloads_.clear();
  }
  // The PDB counts are this cycle's disruptions on top of the snapshot's status.
  counts_.by_pdb.clear();
  std::erase_if(cooldown_pods_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(cooldown_workloads_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(loop_guard_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(removed_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(emitted_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(recent_, [&](const Recent& r) { return now - r.at > config_.steer_window; });
  while (!hour_.empty() && now - hour_.front() >= std::chrono::hours(1)) hour_.pop_front();
}

void MoveLedger::Reset() {
  conditions_.clear();
  in_flight_.clear();
  cooldown_pods_.clear();
  cooldown_workloads_.clear();
  sessions_.clear();
  recent_.clear();
}

bool MoveLedger::MayCount(const ConditionCount& c) const {
  return scheduled_ || now_ - c.last >= config_.rescheduling_interval * 9 / 10;
}

int MoveLedger::EffectiveCount(const std::string& key) const {
  auto it = conditions_.find(key);
  if (it == conditions_.end()) return 1;
  return it->second.cycles + (MayCount(it->second) ? 1 : 0);
}

void MoveLedger::ObserveConditions(const std::vector<std::string>& observed) {
  std::map<std::string, ConditionCount> next;
  for (const std::string& key : observed) {
    if (next.count(key) != 0) continue;
    auto it = conditions_.find(key);
    ConditionCount c = it == conditions_.end() ? ConditionCount{0, now_} : it->second;
    if (it == conditions_.end() || MayCount(it->second)) {
      c.cycles += 1;
      c.last = now_;
    }
    next[key] = c;
  }
  conditions_ = std::move(next);
}

bool MoveLedger::Busy(const std::string& workload) const {
  return std::any_of(in_flight_.begin(), in_flight_.end(),
                     [&](const InFlightMove& m) { return m.workload == workload; });
}

bool MoveLedger::PodCoolingDown(const std::string& uid, SteadyTime now) const {
  auto it = cooldown_pods_.find(uid);
  return it != cooldown_pods_.end() && it->second > now;
}

bool MoveLedger::WorkloadCoolingDown(const std::string& workload, SteadyTime now) const {
  auto it = cooldown_workloads_.find(workload);
  return it != cooldown_workloads_.end() && it->second > now;
}

bool MoveLedger::LoopGuarded(const std::string& workload, SteadyTime now) const {
  auto it = loop_guard_.find(workload);
  return it != loop_guard_.end() && it->second > now;
}

std::vector<RecentMove> MoveLedger::RecentMoves() const {
  std::vector<RecentMove> out;
  for (const Recent& r : recent_) {
    if (now_ - r.at <= config_.steer_window) out.push_back(r.move);
  }
  return out;
}

std::optional<Outcome> MoveLedger::InFlightRefusal(const std::string& workload) const {
  if (Busy(workload) || dry_run_workloads_.count(workload) != 0) {
    return Outcome{Result::kInFlight, "a move of this workload is in flight"};
  }
  return std::nullopt;
}

std::optional<Outcome> MoveLedger::BudgetRefusal(const Pod& pod, const std::string& source,
                                                 bool ignore_cooldown,
                                                 const ClusterSnapshot& snapshot,
                                                 SteadyTime now) const {
  if (LoopGuarded(WorkloadKey(pod), now)) {
    return Outcome{Result::kLoopBlocked,
                   "an earlier move of this workload landed back or failed within the cooldown; "
                   "not moved again"};
  }
  if (!ignore_cooldown && BreakerOpen(now)) {
    return Outcome{Result::kBudget, "breaker open (" + breaker_reason_ +
                                        "): only NodeMaintenance acts until it closes"};
  }
  if (!ignore_cooldown && MovesLastHour(now) >= config_.EvictionsPerHour()) {
    return Outcome{Result::kBudget, "maxEvictionsPerHour " +
                                        std::to_string(config_.EvictionsPerHour()) +
                                        " reached in the last hour"};
  }
  if (!ignore_cooldown &&
      (PodCoolingDown(pod.meta.uid, now) || WorkloadCoolingDown(WorkloadKey(pod), now))) {
    return Outcome{Result::kCooldown, "moved within cooldown"};
  }
  if (counts_.window >= config_.max_reschedule_pods) {
    return Outcome{
        Result::kLimitCycle,
        "maxReschedulePods " + std::to_string(config_.max_reschedule_pods) + " reached this cycle"};
  }
  if (CountOf(counts_.by_node, source) >= config_.max_reschedule_pods_per_node) {
    return Outcome{Result::kLimitNode, "maxReschedulePodsPerNode " +
                                           std::to_string(config_.max_reschedule_pods_per_node) +
                                           " reached for " + source};
  }
  const std::string& ns = pod.meta.namespace_;
  if (CountOf(counts_.by_namespace, ns) >= config_.max_reschedule_pods_per_namespace) {
    return Outcome{Result::kLimitNamespace,
                   "maxReschedulePodsPerNamespace " +
                       std::to_string(config_.max_reschedule_pods_per_namespace) + " reached for " +
                       ns};
  }
  if (config_.protections.pdb_precheck) {
    if (auto why = counts_.PdbRefusal(pod, snapshot, "used this cycle")) {
      return Outcome{Result::kPdbBlocked, std::move(*why)};
    }
  }
  return std::nullopt;
}

void MoveLedger::CountAction(const Pod& pod, const std::string& source,
                             const ClusterSnapshot& snapshot) {
  counts_.Add(pod, source, snapshot);
  hour_.push_back(now_);
}

int MoveLedger::MovesLastHour(SteadyTime now) const {
  const SteadyTime from = now - std::chrono::hours(1);
  return static_cast<int>(
      std::count_if(hour_.begin(), hour_.end(), [from](SteadyTime t) { return t > from; }));
}

bool MoveLedger::Trip(std::string reason, SteadyTime now) {
  if (BreakerOpen(now)) return false;  // already open: the streak keeps counting
  breaker_until_ = now + config_.breaker.cool_off;
  breaker_reason_ = std::move(reason);
  replacement_failures_ = 0;
  api_failures_ = 0;
  return true;
}

bool MoveLedger::NoteReplacement(Result result, SteadyTime now) {
  if (result == Result::kReplacementTimeout || result == Result::kReplacementFailed) {
    if (++replacement_failures_ < config_.breaker.failures) return false;
    return Trip(std::to_string(replacement_failures_) +
                    " moves in a row whose replacement never became Ready",
                now);
  }
  if (IsCompletion(result)) replacement_failures_ = 0;
  return false;
}

bool MoveLedger::NoteApiCall(const Status& s, SteadyTime now) {
  if (!IsServerFailure(s)) {
    if (s.ok()) api_failures_ = 0;
    return false;
  }
  if (++api_failures_ < config_.breaker.failures) return false;
  return Trip(
      std::to_string(api_failures_) + " API server failures in a row (last: " + s.ToString() + ")",
      now);
}

bool IsServerFailure(const Status& s) {
  if (s.ok()) return false;
  if (s.http_code() >= 500 || s.code() == StatusCode::kDeadlineExceeded) return true;
  // A transport error (no HTTP answer at all); a PDB's 429 carries its HTTP code.
  return s.code() == StatusCode::kUnavailable && s.http_code() == 0;
}

void MoveLedger::Track(InFlightMove m) {
  sessions_.insert(m.workload);
  recent_.push_back({RecentMove{m.source, m.target, m.estimate}, m.started});
  in_flight_.push_back(std::move(m));
}

int MoveLedger::Settle(const std::function<bool(const InFlightMove&)>& done) {
  int ended = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (done(*it)) {
      ++ended;
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  return ended;
}

void MoveLedger::CoolDownPod(const std::string& uid, SteadyTime now) {
  cooldown_pods_[uid] = now + config_.cooldown;
}

void MoveLedger::MarkRemoved(const std::string& uid, SteadyTime now) {
  // At least a replacement timeout: the cache shows a deleted pod no longer than that.
  removed_[uid] = now + std::max(config_.cooldown, config_.replacement_timeout);
}

void MoveLedger::CoolDownWorkload(const std::string& workload, SteadyTime now) {
  cooldown_workloads_[workload] = now + config_.cooldown;
}

void MoveLedger::BackOff(const std::string& workload, SteadyTime now) {
  CoolDownWorkload(workload, now);
  loop_guard_[workload] = now + config_.cooldown;
  sessions_.erase(workload);
}

void MoveLedger::EndCycle(const std::unordered_set<std::string>& planned_workloads,
                          const std::unordered_set<std::string>& deferred, bool plan_truncated,
                          SteadyTime now) {
  if (plan_truncated) return;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (!Busy(*it) && planned_workloads.count(*it) == 0 && deferred.count(*it) == 0) {
      CoolDownWorkload(*it, now);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

bool MoveLedger::ShouldEmit(const std::string& key, SteadyTime now) {
  auto it = emitted_.find(key);
  if (it != emitted_.end() && it->second > now) return false;
  emitted_[key] = now + config_.cooldown;
  return true;
}

}  // namespace kb::resched
