// NodeMaintenance: drains nodes labelled scheduler.alpha.kubernetes.io/maintenance=true. No
// minScoreGain (the extender filters the source anyway) and no cooldown: a drain must finish.
#include "rescheduler/planner.h"
#include "rescheduler/strategies.h"

namespace kb::resched {

StrategyPlan NodeMaintenance::Plan(const PlanInput& input) const {
  StrategyPlan plan;
  PlanContext ctx(input);
  size_t left_out = 0;
  for (size_t i = 0; i < ctx.node_count(); ++i) {
    if (!ctx.load(i).node->InMaintenance()) continue;
    MoveAttempt attempt;
    attempt.strategy = kNodeMaintenance;
    attempt.source = ctx.name(i);
    attempt.reason =
        "node " + attempt.source + " is in maintenance (" + kMaintenanceLabel + "=true)";
    attempt.drain = true;
    attempt.target.require_gain = false;
    // Every pod is tried, even past the cap, so the ones that cannot move are all reported.
    for (const PodPtr& pod : ctx.PodsOn(attempt.source)) {
      if (!pod->IsFinished()) ctx.TryMove(pod, attempt, plan, &left_out);
    }
  }
  NoteLeftOut(plan, left_out);
  return plan;
}

}  // namespace kb::resched
