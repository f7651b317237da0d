// ResourceOptimization: hot nodes (fresh metrics above cpuThreshold / memoryThreshold for
// consecutiveCycles) shed pods until below threshold - hysteresisMargin. A pod's usage is
// estimated by its requests (scoring::EstimatePodUsage): there are no per-pod metrics.
#include <algorithm>
#include <cstdio>

#include "rescheduler/planner.h"
#include "rescheduler/strategies.h"

namespace kb::resched {

namespace {

bool IsRunning(const Pod& pod) { return pod.phase == "Running" && !pod.IsTerminating(); }

struct Hot {
  size_t index;
  bool cpu;
  bool mem;
  double max_excess;  // over the threshold, points
};

}  // namespace

StrategyPlan ResourceOptimization::Plan(const PlanInput& input) const {
  StrategyPlan plan;
  if (!input.load->metrics_enabled()) {
    plan.notes.push_back("off: no metrics source (usage thresholds need metrics)");
    return plan;
  }
  PlanContext ctx(input);
  const ReschedulerConfig& cfg = ctx.config();
  const int needed = std::max(1, cfg.consecutive_cycles);
  std::vector<Hot> hot;
  size_t stale = 0;
  for (size_t i = 0; i < ctx.node_count(); ++i) {
    const scoring::NodeLoad& l = ctx.load(i);
    if (l.node->InMaintenance()) continue;  // NodeMaintenance drains it
    if (!l.metrics_fresh) {
      // Fail closed: a node without fresh metrics is never called hot.
      ++stale;
      continue;
    }
    Hot h{i, false, false, 0};
    const std::string& n = ctx.name(i);
    if (l.cpu_util > cfg.cpu_threshold) {
      const std::string key = ConditionKey(kResourceOptimization, "cpu", n);
      plan.observed.push_back(key);
      h.cpu = EffectiveCount(input.state, key) >= needed;
      if (h.cpu) h.max_excess = std::max(h.max_excess, l.cpu_util - cfg.cpu_threshold);
    }
    if (l.mem_util > cfg.memory_threshold) {
      const std::string key = ConditionKey(kResourceOptimization, "memory", n);
      plan.observed.push_back(key);
      h.mem = EffectiveCount(input.state, key) >= needed;
      if (h.mem) h.max_excess = std::max(h.max_excess, l.mem_util - cfg.memory_threshold);
    }
    if (h.cpu || h.mem) hot.push_back(h);
  }
  if (stale > 0) {
    plan.notes.push_back(std::to_string(stale) +
                         " nodes without fresh metrics were not evaluated (fail closed)");
  }
  std::stable_sort(hot.begin(), hot.end(),
                   [](const Hot& a, const Hot& b) { return a.max_excess > b.max_excess; });

  const ScoringConfig& scoring = input.policy.scoring;
  const double cpu_goal = cfg.cpu_threshold - cfg.hysteresis_margin;
  const double mem_goal = cfg.memory_threshold - cfg.hysteresis_margin;
  int moves = 0;
  size_t left_out = 0;
  for (const Hot& h : hot) {
    const std::string source = ctx.name(h.index);
    for (;;) {
      const scoring::NodeLoad& src = ctx.load(h.index);
      const double cpu_excess = h.cpu ? src.cpu_util - cpu_goal : 0.0;
      const double mem_excess = h.mem ? src.mem_util - mem_goal : 0.0;
      if (cpu_excess <= 0 && mem_excess <= 0) break;  // shed enough
      if (moves >= ctx.MoveCap()) {
        plan.truncated = true;
        break;
      }
      const bool cpu = cpu_excess >= mem_excess;
      const double excess = cpu ? cpu_excess : mem_excess;
      const std::string key = ConditionKey(kResourceOptimization, cpu ? "cpu" : "memory", source);
      auto share = [&](const Pod& pod) {
        const Resources e = scoring::EstimatePodUsage(pod, scoring);
        return cpu ? CpuShare(e, src) : MemShare(e, src);
      };
      std::vector<PodPtr> pods;
      for (const PodPtr& pod : ctx.PodsOn(source)) {
        // A pod without a request has no usage estimate: moving it frees nothing we can see.
        if (IsRunning(*pod) && share(*pod) > 0) pods.push_back(pod);
      }
      SortByExcessMatch(pods, excess, share);
      bool moved = false;
      for (const PodPtr& pod : pods) {
        if (auto nm = ctx.CheckPlannable(*pod, /*ignore_cooldown=*/false)) {
          if (nm->planned) continue;
          if (nm->planned) continue;
          AddUnmovable(plan, {kResourceOptimization, pod, source, nm->reason, false}, &left_out);
          continue;
        }
        TargetOptions opts;
        opts.require_fresh_metrics = true;
        std::string why;
        auto target = ctx.FindTarget(*pod, source, opts, &why);
        if (!target) {
          AddUnmovable(plan, {kResourceOptimization, pod, source, why, false}, &left_out);
          continue;
        }
        const double util = cpu ? src.cpu_util : src.mem_util;
        const double threshold = cpu ? cfg.cpu_threshold : cfg.memory_threshold;
        char buf[256];
        std::snprintf(buf, sizeof(buf), " %.1f%% > %s %g%% for %d cycles; shedding to %g%%", util,
                      cpu ? "cpuThreshold" : "memoryThreshold", threshold,
                      EffectiveCount(input.state, key), cpu ? cpu_goal : mem_goal);
        PlannedMove m = MakeMove(kResourceOptimization, pod, source, *target,
                                 "node " + source + " " + (cpu ? "cpu" : "memory") + buf);
        m.condition = key;
        ctx.Apply(m);
        plan.moves.push_back(std::move(m));
        ++moves;
        moved = true;
        break;
      }
      if (!moved) break;
    }
    if (plan.truncated) break;
  }
  NoteLeftOut(plan, left_out);
  return plan;
}

}  // namespace kb::resched
