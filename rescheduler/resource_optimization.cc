// ResourceOptimization: hot nodes (fresh metrics above cpuThreshold / memoryThreshold for
// consecutiveCycles) shed pods until below threshold - hysteresisMargin. A pod's usage is its
// sampled usage when the load source has a fresh per-pod sample, else its requests-based estimate
// (PlanContext::PodUsage): with per-pod metrics the pods that really burn the node move first.
#include <algorithm>
#include <cstdio>

#include "rescheduler/planner.h"
#include "rescheduler/strategies.h"

namespace kb::resched {

namespace {

struct Hot {
  size_t index;
  bool cpu;
  bool mem;
  double max_excess;  // over the threshold, points
};

// The nodes above a threshold for consecutiveCycles, hottest first. Every usage condition that
// holds this cycle is listed in plan.observed.
std::vector<Hot> HotNodes(PlanContext& ctx, StrategyPlan& plan) {
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
    // The node's group thresholds (the top-level ones outside any group).
    const double cpu_threshold = ctx.groups().CpuThreshold(ctx.group(i));
    const double mem_threshold = ctx.groups().MemoryThreshold(ctx.group(i));
    if (l.cpu_util > cpu_threshold) {
      const std::string key = ConditionKey(kResourceOptimization, "cpu", n);
      plan.observed.push_back(key);
      h.cpu = ctx.ledger().EffectiveCount(key) >= needed;
      if (h.cpu) h.max_excess = std::max(h.max_excess, l.cpu_util - cpu_threshold);
    }
    if (l.mem_util > mem_threshold) {
      const std::string key = ConditionKey(kResourceOptimization, "memory", n);
      plan.observed.push_back(key);
      h.mem = ctx.ledger().EffectiveCount(key) >= needed;
      if (h.mem) h.max_excess = std::max(h.max_excess, l.mem_util - mem_threshold);
    }
    if (h.cpu || h.mem) hot.push_back(h);
  }
  if (stale > 0) {
    plan.notes.push_back(std::to_string(stale) +
                         " nodes without fresh metrics were not evaluated (fail closed)");
  }
  std::stable_sort(hot.begin(), hot.end(),
                   [](const Hot& a, const Hot& b) { return a.max_excess > b.max_excess; });
  return hot;
}

// Sheds pods off `h`, the larger excess first, until it is below threshold - hysteresisMargin,
// the planning cap is reached or no pod can move.
void Shed(PlanContext& ctx, const Hot& h, StrategyPlan& plan, size_t* left_out) {
  const ReschedulerConfig& cfg = ctx.config();
  const double cpu_threshold = ctx.groups().CpuThreshold(ctx.group(h.index));
  const double mem_threshold = ctx.groups().MemoryThreshold(ctx.group(h.index));
  const double cpu_goal = cpu_threshold - cfg.hysteresis_margin;
  const double mem_goal = mem_threshold - cfg.hysteresis_margin;
  const std::string source = ctx.name(h.index);
  for (;;) {
    const scoring::NodeLoad& src = ctx.load(h.index);
    const double cpu_excess = h.cpu ? src.cpu_util - cpu_goal : 0.0;
    const double mem_excess = h.mem ? src.mem_util - mem_goal : 0.0;
    if (cpu_excess <= 0 && mem_excess <= 0) return;  // shed enough
    if (ctx.CapReached(plan)) return;
    const bool cpu = cpu_excess >= mem_excess;
    const std::vector<PodPtr> pods = ctx.ShedCandidates(source, cpu, cpu ? cpu_excess : mem_excess);
    MoveAttempt attempt;
    attempt.strategy = kResourceOptimization;
    attempt.source = source;
    attempt.condition = ConditionKey(kResourceOptimization, cpu ? "cpu" : "memory", source);
    char buf[256];
    std::snprintf(buf, sizeof(buf), " %.1f%% > %s %g%% for %d cycles; shedding to %g%%",
                  cpu ? src.cpu_util : src.mem_util, cpu ? "cpuThreshold" : "memoryThreshold",
                  cpu ? cpu_threshold : mem_threshold,
                  ctx.ledger().EffectiveCount(attempt.condition), cpu ? cpu_goal : mem_goal);
    attempt.reason = "node " + source + " " + (cpu ? "cpu" : "memory") + buf;
    attempt.target.require_fresh_metrics = true;
    if (!ctx.MoveOne(pods, attempt, plan, left_out)) return;
  }
}

}  // namespace

StrategyPlan ResourceOptimization::Plan(const PlanInput& input) const {
  StrategyPlan plan;
  if (!input.load->metrics_enabled()) {
    plan.notes.push_back("off: no metrics source (usage thresholds need metrics)");
    return plan;
  }
  PlanContext ctx(input);
  size_t left_out = 0;
  for (const Hot& h : HotNodes(ctx, plan)) {
    Shed(ctx, h, plan, &left_out);
    if (plan.truncated) break;
  }
  NoteLeftOut(plan, left_out);
  return plan;
}

}  // namespace kb::resched
