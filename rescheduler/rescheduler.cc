#include "rescheduler/rescheduler.h"

#include <algorithm>
#include <unordered_set>

#include "rescheduler/leader_elector.h"
#include "rescheduler/logging.h"
#include "rescheduler/node_groups.h"

namespace kb::resched {

namespace {

using nlohmann::json;

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

json MoveJson(const PlannedMove& m, const Outcome* outcome) {
  json j = {{"strategy", m.strategy},
            {"pod", NamespacedName(m.pod->meta)},
            {"source", m.source},
            {"target", m.target},
            {"reason", m.reason},
            {"sourceScore", m.source_score},
            {"targetScore", m.target_score},
            {"scoreGain", m.score_gain}};
  if (!m.condition.empty()) j["condition"] = m.condition;
  if (m.usage) {
    j["usage"] = {{"cpuMillis", m.usage->cpu_millis},
                  {"memoryBytes", m.usage->memory_bytes},
                  {"from", m.usage_from_metrics ? "metrics" : "requests"}};
  }
  if (outcome != nullptr) {
    j["outcome"] = ResultName(outcome->result);
    j["message"] = outcome->message;
  }
  return j;
}

json InFlightJson(const InFlightMove& m, SteadyTime now) {
  json f = {{"kind", InFlightKindName(m.kind)},
            {"strategy", m.strategy},
            {"pod", m.pod.ns + "/" + m.pod.name},
            {"source", m.source},
            {"target", m.target},
            {"ageSeconds", Seconds(now - m.started)}};
  if (!m.copy_name.empty()) f["copy"] = m.copy_name;
  if (!m.deployment.empty()) f["deployment"] = m.deployment;
  return f;
}

json UnmovableJson(const UnmovablePod& u) {
  return {{"strategy", u.strategy},
          {"pod", NamespacedName(u.pod->meta)},
          {"node", u.node},
          {"reason", u.reason},
          {"reported", u.report}};
}

const char* KindName(CycleKind kind) {
  return kind == CycleKind::kScheduled ? "scheduled" : "early";
}

}  // namespace

Rescheduler::Rescheduler(ReschedulerConfig config, scoring::PolicyConfig policy,
                         kube::KubeClient& client, CacheProvider cache, LoadProvider load,
                         Clock& clock, scoring::Steering* steering, ReschedulerMetrics* metrics,
                         const LeaderElector* elector, ReschedulerOptions options)
    : config_(std::move(config)),
      policy_(std::move(policy)),
      cache_(std::move(cache)),
      load_(std::move(load)),
      clock_(clock),
      metrics_(metrics),
      elector_(elector),
      options_(std::move(options)),
      ledger_(config_),
      evictor_(client, clock, config_, policy_.scoring, steering, metrics, ledger_,
               EvictorOptions{"kube-balancer", options_.identity, 3, options_.seed}) {
  std::vector<std::string> unknown;
  strategies_ = MakeStrategies(config_.enabled_strategies, &unknown);
  for (const std::string& name : unknown) {
    Log()->warn("unknown strategy ignored name={}", name);
  }
  if (elector_ != nullptr) evictor_.SetMayAct([this] { return elector_->IsLeader(); });
}

Rescheduler::~Rescheduler() { Stop(); }

bool Rescheduler::IsLeader() const { return elector_ == nullptr || elector_->IsLeader(); }

std::vector<std::string> Rescheduler::StrategyNames() const {
  std::vector<std::string> names;
  for (const auto& s : strategies_) names.push_back(s->Name());
  return names;
}

void Rescheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  Log()->info(
      "rescheduler starting interval={} strategies={} dry_run={} max_pods={} "
      "consecutive_cycles={} min_score_gain={}",
      FormatDuration(config_.rescheduling_interval), fmt::join(StrategyNames(), ","),
      config_.dry_run, config_.max_reschedule_pods, config_.consecutive_cycles,
      config_.min_score_gain);
  thread_ = std::thread([this] { Loop(); });
}

void Rescheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Rescheduler::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Rescheduler::OnBinding(const scoring::NodeLoad& load) {
  if (load.cpu_util > config_.cpu_threshold || load.mem_util > config_.memory_threshold) Wake();
}

void Rescheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  SteadyTime next_cycle = clock_.Now();
  SteadyTime last_cycle{};
  while (!stop_) {
    SteadyTime deadline = next_cycle;
    if (has_in_flight_.load()) {
      deadline = std::min(deadline, clock_.Now() + options_.follow_up_interval);
    }
    if (!wake_) clock_.WaitUntil(lock, cv_, deadline, [&] { return stop_ || wake_; });
    if (stop_) break;
    if (wake_) {
      // At most one early cycle per min_cycle_gap, however many bindings woke us.
      const SteadyTime earliest = last_cycle + options_.min_cycle_gap;
      if (clock_.Now() < earliest) clock_.WaitUntil(lock, cv_, earliest, [&] { return stop_; });
      if (stop_) break;
    }
    enum { kNone, kScheduled, kEarly, kFollow } what = kNone;
    if (clock_.Now() >= next_cycle) {
      what = kScheduled;
    } else if (wake_) {
      what = kEarly;
    } else if (has_in_flight_.load()) {
      what = kFollow;
    }
    if (what == kNone) continue;
    if (what != kFollow) wake_ = false;
    lock.unlock();
    // A follow-up that ended a move runs an early cycle, so the workload's next pod can move.
    if (what != kFollow || FollowUpOnly() > 0) {
      RunOnce(what == kScheduled ? CycleKind::kScheduled : CycleKind::kEarly);
      last_cycle = clock_.Now();
    }
    lock.lock();
    if (what == kScheduled) next_cycle = clock_.Now() + config_.rescheduling_interval;
  }
}

int Rescheduler::FollowUpOnly() {
  std::lock_guard<std::mutex> run(run_mu_);
  if (!IsLeader() || !was_leader_) return 0;
  auto cache = cache_();
  if (!cache || !cache->pods_by_node) return 0;
  // Between cycles: shares the current window's limits, as an early cycle does.
  ledger_.BeginCycle(clock_.Now(), CycleKind::kEarly);
  evictor_.BeginCycle(cache);
  const int ended = evictor_.FollowUp();
  has_in_flight_.store(!ledger_.in_flight().empty());
  return ended;
}

std::string SyncGateReason(const std::vector<KindSync>& kinds, SteadyTime now, Millis max_age) {
  for (const KindSync& k : kinds) {
    if (!k.listed) return "cache not synced: " + k.kind + " not listed yet";
    if (!k.connected) {
      return "cache not synced: the " + k.kind +
             " watch failed and has not been confirmed since (waiting for a list, event or clean "
             "watch end)";
    }
    if (now - k.confirmed > max_age) {
      return "cache not synced: " + k.kind + " last confirmed " +
             FormatDuration(std::chrono::duration_cast<Millis>(now - k.confirmed)) +
             " ago (maxCacheAge " + FormatDuration(max_age) + ")";
    }
  }
  return "";
}

void Rescheduler::Skip(CycleReport* report, const std::string& metric, std::string reason) {
  if (metrics_ != nullptr) metrics_->CountCycle(metric);
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(plan_mu_);
    changed = last_skip_.is_null() || last_skip_.value("reason", "") != reason;
    last_skip_ = {{"reason", reason}, {"at", FormatRfc3339(clock_.WallNow())}};
  }
  if (changed && metric != "skipped_not_leader") {
    Log()->warn("cycle skipped reason=\"{}\"", reason);
  } else {
    Log()->debug("cycle skipped reason=\"{}\"", reason);
  }
  report->skipped = std::move(reason);
}

void Rescheduler::WatchBreaker() {
  const bool open = ledger_.BreakerOpen(clock_.Now());
  if (metrics_ != nullptr) metrics_->breaker_open.Set(open ? 1 : 0);
  if (breaker_was_open_ && !open) {
    Log()->info("breaker closed after cool_off={}: every strategy acts again",
                FormatDuration(config_.breaker.cool_off));
  }
  breaker_was_open_ = open;
  if (metrics_ != nullptr) {
    metrics_->evictions_last_hour.Set(ledger_.MovesLastHour(clock_.Now()));
  }
}

std::optional<Rescheduler::Snapshots> Rescheduler::TakeSnapshots(CycleReport* report) {
  const bool leader = IsLeader();
  if (metrics_ != nullptr) metrics_->leader.Set(leader ? 1 : 0);
  if (leader != was_leader_) {
    // A new term starts from nothing: the previous leader's moves are not ours to follow, and
    // our old counters may be stale.
    ledger_.Reset();
    if (metrics_ != nullptr) metrics_->in_flight.Set(0);
    was_leader_ = leader;
    has_in_flight_.store(false);
  }
  if (!leader) {
    Skip(report, "skipped_not_leader", "not leader");
    return std::nullopt;
  }
  // Act only on a synced world: a kind whose watch failed (an API outage, lost leadership) is
  // trusted again once its watch has been confirmed since.
  if (sync_) {
    std::string why = SyncGateReason(sync_(), clock_.Now(), config_.max_cache_age);
    if (!why.empty()) {
      Skip(report, "skipped_not_synced", std::move(why));
      return std::nullopt;
    }
  }
  Snapshots s{cache_(), load_()};
  if (!s.cache || !s.cache->nodes || !s.cache->pods_by_node || !s.load || !s.load->has_cache()) {
    Skip(report, "skipped_no_cache", "cache not synced");
    return std::nullopt;
  }
  return s;
}

CycleReport Rescheduler::RunOnce(CycleKind kind) {
  std::lock_guard<std::mutex> run(run_mu_);
  CycleReport report;
  std::optional<Snapshots> snapshots = TakeSnapshots(&report);
  if (!snapshots) return report;
  const auto wall_start = std::chrono::steady_clock::now();
  report.ran = true;

  ledger_.BeginCycle(clock_.Now(), kind);
  evictor_.BeginCycle(snapshots->cache);
  report.completed = evictor_.FollowUp();
  WatchBreaker();

  const auto plan_start = std::chrono::steady_clock::now();
  const CyclePlan plan = Plan(*snapshots);
  report.plan_seconds = Seconds(std::chrono::steady_clock::now() - plan_start);
  // Usage conditions: the ones that hold now count one more cycle; the others reset.
  ledger_.ObserveConditions(plan.observed);

  Act(plan, &report);
  report.seconds = Seconds(std::chrono::steady_clock::now() - wall_start);
  Publish(kind, plan, report);
  return report;
}

Rescheduler::CyclePlan Rescheduler::Plan(const Snapshots& snapshots) {
  PlanInput input;
  input.cache = snapshots.cache;
  input.load = snapshots.load;
  input.config = config_;
  input.policy = policy_;
  input.now = clock_.WallNow();
  input.ledger = &ledger_;
  CyclePlan out;
  out.now = input.now;
  // Strategies in priority order, each seeing the moves planned before it.
  for (const auto& strategy : strategies_) {
    out.plans.push_back(strategy->Plan(input));
    for (const PlannedMove& m : out.plans.back().moves) input.prior_moves.push_back(m);
  }
  // Merge: one move per pod (the first, highest-priority strategy wins).
  std::unordered_set<std::string> seen;
  for (const StrategyPlan& p : out.plans) {
    out.truncated = out.truncated || p.truncated;
    for (const PlannedMove& m : p.moves) {
      if (seen.insert(m.pod->meta.uid).second) out.moves.push_back(m);
    }
    out.observed.insert(out.observed.end(), p.observed.begin(), p.observed.end());
  }
  CheckNodeGroups(snapshots, &out);
  return out;
}

void Rescheduler::CheckNodeGroups(const Snapshots& snapshots, CyclePlan* plan) {
  if (config_.node_groups.empty()) return;
  std::vector<const Node*> nodes;
  for (const auto& load : snapshots.load->nodes()) nodes.push_back(load->node.get());
  const std::vector<std::string> empty = NodeGroups(config_, nodes).Empty();
  for (const std::string& name : empty) {
    plan->notes.push_back("node group " + name + " matches no node");
    if (empty_groups_.insert(name).second) {
      Log()->warn("node group matches no node group={} (allowed; reported once while empty)", name);
    }
  }
  std::erase_if(empty_groups_, [&](const std::string& name) {
    return std::find(empty.begin(), empty.end(), name) == empty.end();
  });
}

void Rescheduler::Act(const CyclePlan& plan, CycleReport* report) {
  std::unordered_set<std::string> planned_workloads;
  std::unordered_set<std::string> deferred;  // refused for a transient reason: no cooldown
  for (const PlannedMove& m : plan.moves) {
    Outcome outcome = evictor_.Execute(m);
    (IsTransientRefusal(outcome.result) ? deferred : planned_workloads).insert(WorkloadKey(*m.pod));
    ++report->results[ResultName(outcome.result)];
    if (outcome.result == Result::kSuccess && !m.condition.empty()) {
      ledger_.ForgetCondition(m.condition);
    }
    report->moves.emplace_back(m, std::move(outcome));
  }
  report->planned = static_cast<int>(plan.moves.size());
  for (const StrategyPlan& p : plan.plans) {
    for (const UnmovablePod& u : p.unmovable) {
      evictor_.ReportUnmovable(u);
      if (u.transient) deferred.insert(WorkloadKey(*u.pod));
      ++report->unmovable;
    }
  }
  ledger_.EndCycle(planned_workloads, deferred, plan.truncated, clock_.Now());
  has_in_flight_.store(!ledger_.in_flight().empty());
  WatchBreaker();
}

void Rescheduler::Publish(CycleKind kind, const CyclePlan& plan, const CycleReport& report) {
  if (metrics_ != nullptr) {
    metrics_->CountCycle("ran");
    metrics_->cycle_duration.Observe(report.seconds);
    metrics_->plan_duration.Observe(report.plan_seconds);
    metrics_->plan_moves.Set(report.planned);
    metrics_->plan_unmovable.Set(report.unmovable);
  }
  auto rendered = std::make_shared<const json>(RenderPlan(kind, plan, report));
  {
    std::lock_guard<std::mutex> lock(plan_mu_);
    plan_ = std::move(rendered);
  }
  LogSummary(kind, report);
}

json Rescheduler::RenderPlan(CycleKind kind, const CyclePlan& plan,
                             const CycleReport& report) const {
  json j;
  j["generatedAt"] = FormatRfc3339(plan.now);
  j["cycle"] = KindName(kind);
  j["leader"] = true;
  j["dryRun"] = config_.dry_run;
  j["durationSeconds"] = report.seconds;
  j["planSeconds"] = report.plan_seconds;
  j["strategies"] = StrategyNames();
  j["truncated"] = plan.truncated;
  j["moves"] = json::array();
  for (const auto& [m, outcome] : report.moves) j["moves"].push_back(MoveJson(m, &outcome));
  j["unmovable"] = json::array();
  j["notes"] = json::array();
  for (size_t i = 0; i < plan.plans.size(); ++i) {
    for (const UnmovablePod& u : plan.plans[i].unmovable)
      j["unmovable"].push_back(UnmovableJson(u));
    for (const std::string& note : plan.plans[i].notes) {
      j["notes"].push_back({{"strategy", strategies_[i]->Name()}, {"note", note}});
    }
  }
  for (const std::string& note : plan.notes) {
    j["notes"].push_back({{"strategy", "rescheduler"}, {"note", note}});
  }
  j["inFlight"] = json::array();
  const SteadyTime now = clock_.Now();
  for (const InFlightMove& m : ledger_.in_flight()) j["inFlight"].push_back(InFlightJson(m, now));
  j["conditions"] = json::array();
  for (const auto& [key, c] : ledger_.conditions()) {
    j["conditions"].push_back({{"key", key}, {"cycles", c.cycles}});
  }
  // How the latest moves ended, newest first.
  j["outcomes"] = json::array();
  const auto& outcomes = evictor_.outcomes();
  for (auto it = outcomes.rbegin(); it != outcomes.rend(); ++it) {
    j["outcomes"].push_back({{"strategy", it->strategy},
                             {"pod", it->pod.ns + "/" + it->pod.name},
                             {"source", it->source},
                             {"node", it->target},
                             {"outcome", ResultName(it->result)},
                             {"message", it->message},
                             {"at", FormatRfc3339(it->at)}});
  }
  const bool open = ledger_.BreakerOpen(now);
  j["breaker"] = {{"open", open},
                  {"evictionsLastHour", ledger_.MovesLastHour(now)},
                  {"maxEvictionsPerHour", config_.EvictionsPerHour()}};
  if (open) {
    j["breaker"]["reason"] = ledger_.breaker_reason();
    j["breaker"]["remainingSeconds"] = Seconds(ledger_.breaker_until() - now);
  }
  return j;
}

void Rescheduler::LogSummary(CycleKind kind, const CycleReport& report) const {
  std::string summary;
  for (const auto& [result, n] : report.results) {
    summary += (summary.empty() ? "" : ",") + result + "=" + std::to_string(n);
  }
  Log()->info(
      "cycle done kind={} planned={} unmovable={} completed={} in_flight={} results={} "
      "plan_seconds={:.4f} seconds={:.4f}",
      KindName(kind), report.planned, report.unmovable, report.completed,
      ledger_.in_flight().size(), summary.empty() ? "-" : summary, report.plan_seconds,
      report.seconds);
}

json Rescheduler::PlanJson() const {
  std::shared_ptr<const json> plan;
  {
    std::lock_guard<std::mutex> lock(plan_mu_);
    plan = plan_;
  }
  if (!plan) {
    std::lock_guard<std::mutex> lock(plan_mu_);
    return {{"generatedAt", nullptr},
            {"lastSkipped", last_skip_},
            {"leader", IsLeader()},
            {"dryRun", config_.dry_run},
            {"strategies", StrategyNames()},
            {"moves", json::array()},
            {"message",
             "no rescheduling cycle has run on this instance yet (only the leader "
             "plans)"}};
  }
  json j = *plan;
  j["leader"] = IsLeader();
  std::lock_guard<std::mutex> lock(plan_mu_);
  if (!last_skip_.is_null()) j["lastSkipped"] = last_skip_;
  return j;
}

}  // namespace kb::resched
