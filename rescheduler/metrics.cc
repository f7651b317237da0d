#include "rescheduler/metrics.h"

namespace kb::resched {

namespace {

prometheus::Histogram::BucketBoundaries CycleBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace

ReschedulerMetrics::ReschedulerMetrics(prometheus::Registry& registry)
    : evictions(prometheus::BuildCounter()
                    .Name("kube_balancer_rescheduler_evictions_total")
                    .Help("Outcomes of planned moves, by strategy and result.")
                    .Register(registry)),
      replacements(prometheus::BuildCounter()
                       .Name("kube_balancer_rescheduler_replacements_total")
                       .Help("How moves ended, by strategy and outcome: replacement Ready on "
                             "the planned target, Ready on another node, landed back on the "
                             "source, not Ready within replacementTimeout, or failed.")
                       .Register(registry)),
      cycle_duration(prometheus::BuildHistogram()
                         .Name("kube_balancer_rescheduler_cycle_duration_seconds")
                         .Help("Duration of one rescheduling cycle (plan and evictions).")
                         .Register(registry)
                         .Add({}, CycleBuckets())),
      plan_duration(prometheus::BuildHistogram()
                        .Name("kube_balancer_rescheduler_plan_duration_seconds")
                        .Help("Duration of the planning part of a cycle (all strategies).")
                        .Register(registry)
                        .Add({}, CycleBuckets())),
      cycles(prometheus::BuildCounter()
                 .Name("kube_balancer_rescheduler_cycles_total")
                 .Help("Rescheduling cycles, by result (ran, skipped_not_leader, "
                       "skipped_no_cache, skipped_not_synced).")
                 .Register(registry)),
      leader(prometheus::BuildGauge()
                 .Name("kube_balancer_rescheduler_leader")
                 .Help("1 while this instance is the rescheduling leader.")
                 .Register(registry)
                 .Add({})),
      leader_transitions(prometheus::BuildCounter()
                             .Name("kube_balancer_rescheduler_leader_transitions_total")
                             .Help("Times this instance acquired the rescheduler Lease.")
                             .Register(registry)
                             .Add({})),
      plan_moves(prometheus::BuildGauge()
                     .Name("kube_balancer_rescheduler_plan_moves")
                     .Help("Moves in the latest plan.")
                     .Register(registry)
                     .Add({})),
      plan_unmovable(prometheus::BuildGauge()
                         .Name("kube_balancer_rescheduler_plan_unmovable")
                         .Help("Pods reported as unable to move in the latest plan.")
                         .Register(registry)
                         .Add({})),
      in_flight(prometheus::BuildGauge()
                    .Name("kube_balancer_rescheduler_moves_in_flight")
                    .Help("Moves whose replacement pod is not Ready yet.")
                    .Register(registry)
                    .Add({})),
      breaker_open(prometheus::BuildGauge()
                       .Name("kube_balancer_rescheduler_breaker_open")
                       .Help("1 while the rescheduler's breaker pauses every strategy but "
                             "NodeMaintenance (moves kept failing).")
                       .Register(registry)
                       .Add({})),
      evictions_last_hour(prometheus::BuildGauge()
                              .Name("kube_balancer_rescheduler_evictions_last_hour")
                              .Help("Moves in the last hour, counted against "
                                    "maxEvictionsPerHour.")
                              .Register(registry)
                              .Add({})),
      permission_denied(prometheus::BuildCounter()
                            .Name("kube_balancer_rescheduler_permission_denied_total")
                            .Help("API calls of an opt-in kind of move refused by RBAC (403), by "
                                  "verb and resource; that kind of move is skipped afterwards.")
                            .Register(registry)) {}

void ReschedulerMetrics::CountEviction(const std::string& strategy, const std::string& result) {
  evictions.Add({{"strategy", strategy}, {"result", result}}).Increment();
}

void ReschedulerMetrics::CountReplacement(const std::string& strategy, const std::string& outcome) {
  replacements.Add({{"strategy", strategy}, {"outcome", outcome}}).Increment();
}

void ReschedulerMetrics::CountCycle(const std::string& result) {
  cycles.Add({{"result", result}}).Increment();
}

}  // namespace kb::resched
