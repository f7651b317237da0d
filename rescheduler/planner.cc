#include "rescheduler/planner.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace kb::resched {

namespace {

const PodList& EmptyPods() {
  static const PodList kEmpty;
  return kEmpty;
}

// DaemonSet and mirror pods stay with their node by design (kubectl drain ignores them too); a
// terminating pod is already leaving.
bool StaysWithNode(Protection p) {
  return p == Protection::kDaemonSet || p == Protection::kMirror || p == Protection::kTerminating;
}

std::string Summarise(const std::map<std::string, int>& reasons, size_t others) {
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto& [reason, n] : reasons) sorted.emplace_back(n, reason);
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string out = "no feasible node among " + std::to_string(others) + " other nodes";
  if (sorted.empty()) return out;
  out += " (";
  for (size_t i = 0; i < sorted.size() && i < 3; ++i) {
    if (i > 0) out += "; ";
    out += std::to_string(sorted[i].first) + ": " + sorted[i].second;
  }
  if (sorted.size() > 3) out += "; ...";
  out += ")";
  return out;
}

}  // namespace

void AddUnmovable(StrategyPlan& plan, UnmovablePod u, size_t* left_out) {
  if (!u.report) {
    size_t listed = 0;
    for (const UnmovablePod& x : plan.unmovable) listed += x.report ? 0 : 1;
    if (listed >= kMaxUnmovableListed) {
      ++*left_out;
      return;
    }
  }
  plan.unmovable.push_back(std::move(u));
}

void NoteLeftOut(StrategyPlan& plan, size_t left_out) {
  if (left_out > 0) {
    plan.notes.push_back(std::to_string(left_out) +
                         " more pods could not move (not listed: the list is capped at " +
                         std::to_string(kMaxUnmovableListed) + ")");
  }
}

double CpuShare(const Resources& estimate, const scoring::NodeLoad& load) {
  return scoring::PercentOf(estimate.cpu_millis, load.allocatable.cpu_millis);
}

double MemShare(const Resources& estimate, const scoring::NodeLoad& load) {
  return scoring::PercentOf(estimate.memory_bytes, load.allocatable.memory_bytes);
}

void SortByExcessMatch(std::vector<PodPtr>& pods, double excess,
                       const std::function<double(const Pod&)>& share) {
  struct Keyed {
    PodPtr pod;
    double share;
    bool covers;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(pods.size());
  for (PodPtr& p : pods) {
    const double s = share(*p);
    keyed.push_back({std::move(p), s, s >= excess});
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.covers != b.covers) return a.covers;
    if (a.share != b.share) return a.covers ? a.share < b.share : a.share > b.share;
    const int32_t pa = a.pod->priority.value_or(0);
    const int32_t pb = b.pod->priority.value_or(0);
    if (pa != pb) return pa < pb;
    const WallTime ta = a.pod->meta.creation_timestamp.value_or(WallTime{});
    const WallTime tb = b.pod->meta.creation_timestamp.value_or(WallTime{});
    if (ta != tb) return ta > tb;
    return NamespacedName(a.pod->meta) < NamespacedName(b.pod->meta);
  });
  pods.clear();
  for (Keyed& k : keyed) pods.push_back(std::move(k.pod));
}

PlanContext::PlanContext(const PlanInput& input)
    : input_(input),
      state_(std::make_unique<scoring::ClusterState>(input.cache)),
      planned_(input.ledger->counts()) {
  const auto& nodes = input_.load->nodes();
  names_.reserve(nodes.size());
  current_.reserve(nodes.size());
  index_.reserve(nodes.size());
  std::vector<const Node*> node_objects;
  for (const auto& load : nodes) {
    index_.emplace(load->name, names_.size());
    names_.push_back(load->name);
    current_.push_back(load.get());
    if (load->node) node_objects.push_back(load->node.get());
  }
  groups_ = NodeGroups(input_.config, node_objects);
  // Recent evictions: a sampled utilisation is a rate over a window, so it still contains the
  // moved pod's usage until that window has passed; take its estimate out of the source.
  for (const RecentMove& m : ledger().RecentMoves()) {
    const scoring::NodeLoad* src = Find(m.source);
    if (src == nullptr) continue;
    scoring::NodeLoad settled = *src;
    if (settled.cpu_from_metrics) {
      const double share = CpuShare(m.estimate, settled);
      settled.cpu_util = std::max(0.0, settled.cpu_util - share);
      settled.sampled_cpu = std::max(0.0, settled.sampled_cpu - share);
    }
    if (settled.mem_from_metrics) {
      const double share = MemShare(m.estimate, settled);
      settled.mem_util = std::max(0.0, settled.mem_util - share);
      settled.sampled_mem = std::max(0.0, settled.sampled_mem - share);
    }
    Replace(m.source, std::move(settled));
  }
  for (const PlannedMove& m : input_.prior_moves) Apply(m);
}

const scoring::NodeLoad* PlanContext::Find(const std::string& node) const {
  auto it = index_.find(node);
  return it == index_.end() ? nullptr : current_[it->second];
}

void PlanContext::Replace(const std::string& node, scoring::NodeLoad load) {
  auto it = index_.find(node);
  if (it == index_.end()) return;
  owned_.push_back(std::make_unique<scoring::NodeLoad>(std::move(load)));
  current_[it->second] = owned_.back().get();
}

bool PlanContext::Participates(const scoring::NodeLoad& load) {
  const Node& node = *load.node;
  return node.ready && !node.unschedulable && !node.InMaintenance();
}

const PodList& PlanContext::PodsOn(const std::string& node) const {
  if (!input_.cache->pods_by_node) return EmptyPods();
  return input_.cache->PodsOnNode(node);
}

double PlanContext::UsageShare(const Pod& pod, const scoring::NodeLoad& load, bool cpu) const {
  const Resources e = PodUsage(pod).usage;
  return cpu ? CpuShare(e, load) : MemShare(e, load);
}

scoring::PodUsageEstimate PlanContext::PodUsage(const Pod& pod) const {
  return scoring::PodUsageOrEstimate(pod, *input_.load, input_.policy.scoring);
}

std::vector<PodPtr> PlanContext::ShedCandidates(const std::string& source, bool cpu,
                                                double excess) const {
  std::vector<PodPtr> pods;
  const scoring::NodeLoad* src = Find(source);
  if (src == nullptr) return pods;
  auto share = [&](const Pod& pod) { return UsageShare(pod, *src, cpu); };
  for (const PodPtr& pod : PodsOn(source)) {
    if (pod->IsRunning() && share(*pod) > 0) pods.push_back(pod);
  }
  SortByExcessMatch(pods, excess, share);
  return pods;
}

int PlanContext::RunningPods(const std::string& node) {
  auto it = running_.find(node);
  if (it == running_.end()) {
    int n = 0;
    for (const PodPtr& p : PodsOn(node)) n += p->IsRunning() ? 1 : 0;
    it = running_.emplace(node, n).first;
  }
  auto d = running_delta_.find(node);
  return it->second + (d == running_delta_.end() ? 0 : d->second);
}

std::optional<NotMovable> PlanContext::CheckPlannable(const Pod& pod, bool ignore_cooldown) const {
  if (moving_pods_.count(pod.meta.uid) != 0 || ledger().Removed(pod.meta.uid)) {
    return NotMovable{"already planned this cycle", Protection::kNone, true, true};
  }
  ProtectionResult p = CheckPod(pod, input_.config, input_.cache.get());
  if (!p.ok()) return NotMovable{p.reason, p.protection, false};
  p = CheckOwnerPods(pod, *input_.cache, input_.config);
  if (!p.ok()) return NotMovable{p.reason, p.protection, true};
  const std::string key = WorkloadKey(pod);
  const MoveLedger& ledger = this->ledger();
  if (ledger.Busy(key)) {
    return NotMovable{"a move of this workload is in flight (waiting for its replacement)",
                      Protection::kNone, true};
  }
  if (moving_workloads_.count(key) != 0) {
    return NotMovable{"another pod of this workload moves this cycle", Protection::kNone, true};
  }
  if (ledger.LoopGuarded(key, ledger.now())) {
    NotMovable nm{
        "blocked: an earlier move of this workload landed back on its source or failed "
        "within the cooldown; moving it again could loop",
        Protection::kNone, false};
    nm.loop = true;
    return nm;
  }
  if (!ignore_cooldown) {
    if (ledger.PodCoolingDown(pod.meta.uid, ledger.now())) {
      return NotMovable{"moved within cooldown", Protection::kNone, true, false, false, true};
    }
    if (ledger.WorkloadCoolingDown(key, ledger.now())) {
      return NotMovable{
          "workload rebalanced within cooldown", Protection::kNone, true, false, false, true};
    }
  }
  if (input_.config.protections.pdb_precheck) {
    if (auto why = planned_.PdbRefusal(pod, *input_.cache, "planned")) {
      return NotMovable{std::move(*why), Protection::kNone, true};
    }
  }
  return std::nullopt;
}

std::vector<size_t> PlanContext::FeasibleTargets(const Pod& pod, const scoring::PodDemand& demand,
                                                 const std::string& source,
                                                 const TargetOptions& options,
                                                 std::string* why_none) const {
  std::vector<size_t> feasible;
  std::vector<size_t> other_group;     // feasible, but outside the source's group
  std::map<std::string, int> reasons;  // why the other nodes are out, in words
  const int source_group = groups_.GroupOf(source);
  // kube-scheduler's PreFilter once; the pod's own copy is leaving its node.
  const std::shared_ptr<const scoring::PreparedPod> prepared =
      state_->Prepare(pod, scoring::CheckOptions{/*moving=*/true});
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == source) continue;
    const scoring::NodeLoad& load = *current_[i];
    const bool same_group = groups_.GroupOf(names_[i]) == source_group;
    if (!same_group && options.group == TargetOptions::Group::kSame) {
      ++reasons["in another node group"];
      continue;
    }
    if (options.require_fresh_metrics && !load.metrics_fresh) {
      ++reasons["metrics not fresh"];
      continue;
    }
    const scoring::FilterResult f = scoring::FilterNode(demand, &load, input_.policy);
    if (!f.passed) {
      ++reasons[std::string("extender filter: ") + scoring::FilterReasonName(f.reason)];
      continue;
    }
    if (!load.node->ready) {
      ++reasons["node is not Ready"];
      continue;
    }
    const scoring::Fit fit = state_->Check(*prepared, names_[i]);
    if (!fit.ok()) {
      ++reasons[std::string(scoring::FilterPluginName(fit.plugin)) + ": " + fit.message];
      continue;
    }
    (same_group ? feasible : other_group).push_back(i);
  }
  // A drain leaves the group only when no node of it can take the pod.
  if (feasible.empty()) feasible = std::move(other_group);
  if (feasible.empty()) *why_none = Summarise(reasons, names_.empty() ? 0 : names_.size() - 1);
  return feasible;
}

int PlanContext::BestAccepted(const Pod& pod, const std::vector<size_t>& feasible,
                              const std::vector<scoring::ScoreBreakdown>& scores,
                              const TargetOptions& options) const {
  int best = -1;
  for (size_t k = 0; k < feasible.size(); ++k) {
    if (options.accept) {
      const scoring::NodeLoad after =
          scoring::WithPodAdded(*current_[feasible[k]], pod, input_.policy.scoring);
      if (!options.accept(pod, after)) continue;
    }
    if (best < 0) {
      best = static_cast<int>(k);
      continue;
    }
    const auto& a = scores[k];
    const auto& b = scores[static_cast<size_t>(best)];
    if (a.score > b.score || (a.score == b.score && a.raw > b.raw)) best = static_cast<int>(k);
  }
  return best;
}

std::optional<TargetChoice> PlanContext::FindTarget(const Pod& pod, const std::string& source,
                                                    const TargetOptions& options,
                                                    std::string* why_not) {
  const scoring::NodeLoad* src = Find(source);
  if (src == nullptr) {
    *why_not = "source node " + source + " is not in the load snapshot";
    return std::nullopt;
  }
  // Pods of one workload on one node have the same demand and constraints: one failure answers
  // for all of them until the working state changes.
  const std::string memo_key = WorkloadKey(pod) + "|" + source;
  if (auto it = failed_.find(memo_key); it != failed_.end()) {
    *why_not = it->second;
    return std::nullopt;
  }
  auto fail = [&](std::string why) -> std::optional<TargetChoice> {
    *why_not = why;
    failed_.emplace(memo_key, std::move(why));
    return std::nullopt;
  };
  const scoring::PolicyConfig& policy = input_.policy;
  const scoring::PodDemand demand = scoring::MakeDemand(pod, policy.scoring);
  std::string why_none;
  const std::vector<size_t> feasible = FeasibleTargets(pod, demand, source, options, &why_none);
  if (feasible.empty()) return fail(std::move(why_none));

  // Score every feasible node and the source (as if the pod stayed) in one ScoreNodes call:
  // the 0..10 scale is exactly the one the extender answers /prioritize with for these nodes.
  const scoring::NodeLoad source_without = scoring::WithPodRemoved(*src, pod, PodUsage(pod).usage);
  std::vector<scoring::ScoreCandidate> candidates;
  candidates.reserve(feasible.size() + 1);
  for (size_t i : feasible) candidates.push_back({names_[i], current_[i]});
  candidates.push_back({source, &source_without});
  const std::vector<scoring::ScoreBreakdown> scores =
      scoring::ScoreNodes(demand, candidates, policy);

  const int best = BestAccepted(pod, feasible, scores, options);
  if (best < 0) {
    return fail(std::to_string(feasible.size()) +
                " feasible nodes, none acceptable to the strategy (would not reduce the "
                "imbalance)");
  }
  TargetChoice choice;
  choice.node = names_[feasible[static_cast<size_t>(best)]];
  choice.source_score = scores.back().score;
  choice.target_score = scores[static_cast<size_t>(best)].score;
  const int64_t gain = choice.target_score - choice.source_score;
  if (options.require_gain && static_cast<double>(gain) < input_.config.min_score_gain) {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "best target %s scores %lld vs %lld on the source: gain %lld < minScoreGain %g",
                  choice.node.c_str(), static_cast<long long>(choice.target_score),
                  static_cast<long long>(choice.source_score), static_cast<long long>(gain),
                  input_.config.min_score_gain);
    return fail(buf);
  }
  return choice;
}

void PlanContext::Apply(const PlannedMove& move) {
  const Pod& pod = *move.pod;
  const ScoringConfig& scoring = input_.policy.scoring;
  if (const scoring::NodeLoad* src = Find(move.source)) {
    Replace(move.source, move.usage ? scoring::WithPodRemoved(*src, pod, *move.usage)
                                    : scoring::WithPodRemoved(*src, pod, scoring));
  }
  if (const scoring::NodeLoad* tgt = Find(move.target)) {
    Replace(move.target, scoring::WithPodAdded(*tgt, pod, scoring));
  }
  if (pod.IsRunning()) {
    --running_delta_[move.source];
    ++running_delta_[move.target];
  }
  state_->Move(move.pod, move.source, move.target);
  moving_pods_.insert(pod.meta.uid);
  moving_workloads_.insert(WorkloadKey(pod));
  planned_.Add(pod, move.source, *input_.cache);
  failed_.clear();
}

bool PlanContext::CapReached(StrategyPlan& plan) const {
  const int cap = std::max(1, input_.config.max_reschedule_pods);
  if (plan.moves.size() < static_cast<size_t>(cap)) return false;
  plan.truncated = true;
  return true;
}

PlanContext::Tried PlanContext::TryMove(const PodPtr& pod, const MoveAttempt& attempt,
                                        StrategyPlan& plan, size_t* left_out) {
  if (auto nm = CheckPlannable(*pod, /*ignore_cooldown=*/attempt.drain)) {
    if (nm->planned || (attempt.drain && StaysWithNode(nm->protection))) return Tried::kNotMoved;
    // Pods outside the scope are not ours: listed, never reported on the node.
    const bool report = attempt.drain && !nm->transient && !IsScopeRule(nm->protection);
    // A transient refusal keeps the workload's rebalancing open (no cooldown starts); a pod
    // cooling down does not.
    UnmovablePod u{attempt.strategy, pod,    attempt.source,
                   nm->reason,       report, nm->transient && !nm->cooldown};
    if (nm->loop) u.result = Result::kLoopBlocked;
    AddUnmovable(plan, std::move(u), left_out);
    return Tried::kNotMoved;
  }
  if (CapReached(plan)) return Tried::kCapReached;
  std::string why;
  TargetOptions options = attempt.target;
  if (attempt.drain) options.group = TargetOptions::Group::kPreferSame;
  auto target = FindTarget(*pod, attempt.source, options, &why);
  if (!target) {
    AddUnmovable(plan, {attempt.strategy, pod, attempt.source, why, attempt.drain}, left_out);
    return Tried::kNotMoved;
  }
  PlannedMove m = MakeMove(attempt.strategy, pod, attempt.source, *target, attempt.reason);
  m.condition = attempt.condition;
  const scoring::PodUsageEstimate usage = PodUsage(*pod);
  m.usage = usage.usage;
  m.usage_from_metrics = usage.from_metrics;
  Apply(m);
  plan.moves.push_back(std::move(m));
  return Tried::kMoved;
}

bool PlanContext::MoveOne(const std::vector<PodPtr>& pods, const MoveAttempt& attempt,
                          StrategyPlan& plan, size_t* left_out) {
  for (const PodPtr& pod : pods) {
    if (TryMove(pod, attempt, plan, left_out) == Tried::kMoved) return true;
  }
  return false;
}

PlannedMove MakeMove(std::string strategy, PodPtr pod, const std::string& source,
                     const TargetChoice& target, std::string reason) {
  PlannedMove m;
  m.strategy = std::move(strategy);
  m.pod = std::move(pod);
  m.source = source;
  m.target = target.node;
  m.reason = std::move(reason);
  m.source_score = target.source_score;
  m.target_score = target.target_score;
  m.score_gain = target.target_score - target.source_score;
  return m;
}

}  // namespace kb::resched
