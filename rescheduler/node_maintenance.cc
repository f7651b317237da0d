// NodeMaintenance: drains nodes labelled scheduler.alpha.kubernetes.io/maintenance=true. No
// minScoreGain (the extender filters the source anyway) and no cooldown: a drain must finish.
#include "rescheduler/planner.h"
#include "rescheduler/strategies.h"

namespace kb::resched {

StrategyPlan NodeMaintenance::Plan(const PlanInput& input) const {
  StrategyPlan plan;
  PlanContext ctx(input);
  int moves = 0;
  size_t left_out = 0;
  for (size_t i = 0; i < ctx.node_count(); ++i) {
    if (!ctx.load(i).node->InMaintenance()) continue;
    const std::string source = ctx.name(i);
    for (const PodPtr& pod : ctx.PodsOn(source)) {
      if (pod->IsFinished()) continue;
      if (auto nm = ctx.CheckPlannable(*pod, /*ignore_cooldown=*/true)) {
        if (nm->planned) continue;
        // DaemonSet and mirror pods stay with their node by design (kubectl drain ignores them
        // too); a terminating pod is already leaving.
        if (nm->protection == Protection::kDaemonSet || nm->protection == Protection::kMirror ||
            nm->protection == Protection::kTerminating) {
          continue;
        }
        AddUnmovable(plan, {kNodeMaintenance, pod, source, nm->reason, !nm->transient}, &left_out);
        continue;
      }
      if (moves >= ctx.MoveCap()) {
        plan.truncated = true;
        continue;
      }
      TargetOptions opts;
      opts.require_gain = false;
      std::string why;
      auto target = ctx.FindTarget(*pod, source, opts, &why);
      if (!target) {
        AddUnmovable(plan, {kNodeMaintenance, pod, source, why, true}, &left_out);
        continue;
      }
      PlannedMove m =
          MakeMove(kNodeMaintenance, pod, source, *target,
                   "node " + source + " is in maintenance (" + kMaintenanceLabel + "=true)");
      ctx.Apply(m);
      plan.moves.push_back(std::move(m));
      ++moves;
    }
  }
  NoteLeftOut(plan, left_out);
  return plan;
}

}  // namespace kb::resched
