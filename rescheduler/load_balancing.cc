// LoadBalancing: pod count (from the cache, acts at once) and CPU / memory utilisation (from
// fresh metrics only, after consecutiveCycles) above the mean of the participating nodes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "rescheduler/planner.h"
#include "rescheduler/strategies.h"

namespace kb::resched {

namespace {

std::string Fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), format, a, b, c, d);
  return buf;
}

// Shedding order for pod-count balancing: lower priority first, then pods of the workload with
// the most replicas on this node (spreads replicas), then newer pods, then by name.
std::vector<PodPtr> CountOrder(const PodList& pods) {
  std::unordered_map<std::string, int> per_workload;
  for (const PodPtr& p : pods) ++per_workload[WorkloadKey(*p)];
  std::vector<PodPtr> out;
  for (const PodPtr& p : pods) {
    if (p->IsRunning()) out.push_back(p);
  }
  std::stable_sort(out.begin(), out.end(), [&](const PodPtr& a, const PodPtr& b) {
    const int32_t pa = a->priority.value_or(0);
    const int32_t pb = b->priority.value_or(0);
    if (pa != pb) return pa < pb;
    const int wa = per_workload[WorkloadKey(*a)];
    const int wb = per_workload[WorkloadKey(*b)];
    if (wa != wb) return wa > wb;
    const WallTime ta = a->meta.creation_timestamp.value_or(WallTime{});
    const WallTime tb = b->meta.creation_timestamp.value_or(WallTime{});
    if (ta != tb) return ta > tb;
    return NamespacedName(a->meta) < NamespacedName(b->meta);
  });
  return out;
}

// One node group's balancing: its participating nodes and its imbalanceThreshold.
struct Pass {
  PlanContext& ctx;
  StrategyPlan& plan;
  const std::vector<size_t>& participating;
  size_t& left_out;
  double imbalance;
};

void BalanceCounts(Pass& p) {
  PlanContext& ctx = p.ctx;
  double sum = 0;
  for (size_t i : p.participating) sum += ctx.RunningPods(ctx.name(i));
  const double mean = sum / static_cast<double>(p.participating.size());
  if (mean <= 0) return;
  const double upper = mean * (1.0 + p.imbalance / 100.0);
  // Counts are integers: with few pods no node may fit under `upper` (2, 0, 0 has mean 0.67), so
  // a target may also reach ceil(mean), the best any integer spread can do.
  const double target_limit = std::max(upper, std::ceil(mean));
  std::set<std::string> exhausted;
  for (;;) {
    int best = -1;
    int best_count = 0;
    for (size_t i : p.participating) {
      const std::string& n = ctx.name(i);
      if (exhausted.count(n) != 0) continue;
      const int c = ctx.RunningPods(n);
      if (static_cast<double>(c) > upper && c > best_count) {
        best = static_cast<int>(i);
        best_count = c;
      }
    }
    if (best < 0 || ctx.CapReached(p.plan)) return;
    MoveAttempt attempt;
    attempt.strategy = kLoadBalancing;
    attempt.source = ctx.name(static_cast<size_t>(best));
    attempt.reason = "node " + attempt.source + " runs " + std::to_string(best_count) +
                     " pods, above the mean " +
                     Fmt("%.1f by more than %g%% (limit %.1f)", mean, p.imbalance, upper);
    attempt.target.accept = [&](const Pod&, const scoring::NodeLoad& after) {
      // The target must stay within the threshold and end below the source: no ping-pong.
      const int c = ctx.RunningPods(after.name) + 1;
      return static_cast<double>(c) <= target_limit && c < best_count;
    };
    if (!ctx.MoveOne(CountOrder(ctx.PodsOn(attempt.source)), attempt, p.plan, &p.left_out)) {
      exhausted.insert(attempt.source);
    }
  }
}

void BalanceUsage(Pass& p, bool cpu) {
  PlanContext& ctx = p.ctx;
  const char* resource = cpu ? "cpu" : "memory";
  auto util = [cpu](const scoring::NodeLoad& l) { return cpu ? l.cpu_util : l.mem_util; };
  size_t stale = 0;
  for (size_t i : p.participating) stale += ctx.load(i).metrics_fresh ? 0 : 1;
  if (stale > 0) {
    // Fail closed: a mean over partly stale data could make any node look hot.
    p.plan.notes.push_back(std::string(resource) + " balancing skipped: " + std::to_string(stale) +
                           " of " + std::to_string(p.participating.size()) +
                           " nodes lack fresh metrics (fail closed)");
    return;
  }
  double sum = 0;
  for (size_t i : p.participating) sum += util(ctx.load(i));
  const double mean = sum / static_cast<double>(p.participating.size());
  const double upper = mean + p.imbalance;
  for (size_t i : p.participating) {
    if (util(ctx.load(i)) > upper) {
      p.plan.observed.push_back(ConditionKey(kLoadBalancing, resource, ctx.name(i)));
    }
  }
  const int needed = std::max(1, ctx.config().consecutive_cycles);
  std::set<std::string> exhausted;
  for (;;) {
    int best = -1;
    double best_util = upper;
    for (size_t i : p.participating) {
      const std::string& n = ctx.name(i);
      const double u = util(ctx.load(i));
      if (u <= best_util || exhausted.count(n) != 0) continue;
      if (ctx.ledger().EffectiveCount(ConditionKey(kLoadBalancing, resource, n)) < needed) {
        continue;
      }
      best = static_cast<int>(i);
      best_util = u;
    }
    if (best < 0 || ctx.CapReached(p.plan)) return;
    const std::string source = ctx.name(static_cast<size_t>(best));
    const scoring::NodeLoad& src = ctx.load(static_cast<size_t>(best));
    const std::vector<PodPtr> pods = ctx.ShedCandidates(source, cpu, best_util - upper);
    MoveAttempt attempt;
    attempt.strategy = kLoadBalancing;
    attempt.source = source;
    attempt.condition = ConditionKey(kLoadBalancing, resource, source);
    attempt.reason = "node " + source + " " + resource +
                     Fmt(" %.1f%% is above the mean %.1f%% by more than %g points", best_util, mean,
                         p.imbalance) +
                     " for " + std::to_string(ctx.ledger().EffectiveCount(attempt.condition)) +
                     " cycles";
    attempt.target.require_fresh_metrics = true;
    attempt.target.accept = [&](const Pod& pod, const scoring::NodeLoad& after) {
      const double u = util(after);
      return u <= upper && u < best_util - ctx.UsageShare(pod, src, cpu);
    };
    if (!ctx.MoveOne(pods, attempt, p.plan, &p.left_out)) exhausted.insert(source);
  }
}

}  // namespace

StrategyPlan LoadBalancing::Plan(const PlanInput& input) const {
  StrategyPlan plan;
  PlanContext ctx(input);
  size_t left_out = 0;
  // Each node group is balanced on its own: its mean, its threshold, moves inside it.
  for (int group : ctx.groups().NonEmpty()) {
    std::vector<size_t> participating;
    for (size_t i = 0; i < ctx.node_count(); ++i) {
      if (ctx.group(i) == group && PlanContext::Participates(ctx.load(i))) {
        participating.push_back(i);
      }
    }
    const std::string where =
        ctx.groups().configured() ? " in node group " + ctx.groups().Name(group) : "";
    if (participating.size() < 2) {
      plan.notes.push_back("fewer than 2 schedulable, Ready, non-maintenance nodes" + where +
                           ": nothing to balance");
      continue;
    }
    Pass pass{ctx, plan, participating, left_out, ctx.groups().ImbalanceThreshold(group)};
    BalanceCounts(pass);
    if (input.load->metrics_enabled()) {
      BalanceUsage(pass, /*cpu=*/true);
      BalanceUsage(pass, /*cpu=*/false);
    }
  }
  if (!input.load->metrics_enabled()) {
    plan.notes.push_back("cpu/memory balancing off: no metrics source (pod count only)");
  }
  NoteLeftOut(plan, left_out);
  return plan;
}

}  // namespace kb::resched
