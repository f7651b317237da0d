// ReschedulerMetrics: the rescheduler's prometheus-cpp families, built once from the process
// registry and passed by pointer (nullable in tests). No pod labels. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace kb::resched {

struct ReschedulerMetrics {
  explicit ReschedulerMetrics(prometheus::Registry& registry);
  ReschedulerMetrics(const ReschedulerMetrics&) = delete;
  ReschedulerMetrics& operator=(const ReschedulerMetrics&) = delete;

  // kube_balancer_rescheduler_evictions_total{strategy,result}: one per planned move outcome
  // (result: success | dry_run | limit_cycle | limit_node | limit_namespace | pdb_blocked |
  // protected | in_flight | cooldown | loop_blocked | budget | single_replica | not_found |
  // unmovable | not_leader | error).
  prometheus::Family<prometheus::Counter>& evictions;
  // kube_balancer_rescheduler_replacements_total{strategy,outcome}: how moves ended
  // (on_target | other_node | landed_back | pending_timeout | failed).
  prometheus::Family<prometheus::Counter>& replacements;
  // kube_balancer_rescheduler_cycle_duration_seconds: one RunOnce() (plan + evictions).
  prometheus::Histogram& cycle_duration;
  // kube_balancer_rescheduler_plan_duration_seconds: the pure planning part of a cycle.
  prometheus::Histogram& plan_duration;
  // kube_balancer_rescheduler_cycles_total{result}: ran | skipped_not_leader | skipped_no_cache |
  // skipped_not_synced.
  prometheus::Family<prometheus::Counter>& cycles;
  // kube_balancer_rescheduler_leader: 1 while this instance holds the Lease (or needs none).
  prometheus::Gauge& leader;
  // kube_balancer_rescheduler_leader_transitions_total: times this instance started leading.
  prometheus::Counter& leader_transitions;
  // kube_balancer_rescheduler_plan_moves / _plan_unmovable: size of the latest plan.
  prometheus::Gauge& plan_moves;
  prometheus::Gauge& plan_unmovable;
  // kube_balancer_rescheduler_moves_in_flight: evictions whose replacement is not Ready yet.
  prometheus::Gauge& in_flight;
  // kube_balancer_rescheduler_breaker_open: 1 while the breaker pauses every strategy but
  // NodeMaintenance.
  prometheus::Gauge& breaker_open;
  // kube_balancer_rescheduler_evictions_last_hour: moves counted against maxEvictionsPerHour.
  prometheus::Gauge& evictions_last_hour;
  // kube_balancer_rescheduler_permission_denied_total{verb,resource}: API calls an opt-in move
  // needed that RBAC refused (403); the kind of move is skipped from then on.
  prometheus::Family<prometheus::Counter>& permission_denied;

  void CountEviction(const std::string& strategy, const std::string& result);
  void CountReplacement(const std::string& strategy, const std::string& outcome);
  void CountCycle(const std::string& result);
};

}  // namespace kb::resched
