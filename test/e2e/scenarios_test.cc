// The seeds' scenarios end to end: kube-sim in process (scheduler driver + node metrics), a real
// Prometheus scraping it every second and the real kube-balancer binary, via the same plays as
// `make demo` (sim/harness/plays.h). Each test asserts the play's outcome checks, computed from
// ground truth (simulated usage, the pod list, kube-sim's audit of kube-balancer's requests).
// The plays that exercise kube-balancer's rescheduler (pinned, maintenance, cpu-hog, pile-up) are
// tagged [e2e-rescheduler]; KB_E2E_KUBE_BALANCER=<path> runs the plays against another
// kube-balancer binary.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "sim/harness/plays.h"

#ifndef KB_BALANCER_PATH
#define KB_BALANCER_PATH ""
#endif

#define KB_RESCHEDULER_TAGS "[e2e][integration][e2e-rescheduler]"

namespace kb::sim::e2e {
namespace {

PlayReport Play(const std::string& id) {
  PlayOptions o;
  o.source_dir = KB_SOURCE_DIR;
  // KB_E2E_KUBE_BALANCER points the plays at another kube-balancer build.
  const char* other = std::getenv("KB_E2E_KUBE_BALANCER");
  o.kube_balancer = other != nullptr && *other != '\0' ? other : KB_BALANCER_PATH;
  o.outcome_timeout = std::chrono::seconds(60);
  return RunPlay(id, o);
}

// Every check must have run and passed; the report explains a failure.
void RequirePassed(const PlayReport& r) {
  INFO(FormatReport(r));
  REQUIRE_FALSE(r.checks.empty());
  for (const Check& c : r.checks) {
    INFO(c.name << ": " << c.detail);
    CHECK(c.result == Check::Result::kPass);
  }
}

TEST_CASE("seed 002 placement spreads CPU usage better than the requests-only baseline",
          "[e2e][integration]") {
  const PlayReport r = Play("seed002");
  RequirePassed(r);
  CHECK(r.Figure("cpu spread kube-balancer (stddev, points)") <
        r.Figure("cpu spread baseline (stddev, points)"));
}

TEST_CASE("a burst of 50 pods gives no node more than 1.3 times its fair share",
          "[e2e][integration]") {
  const PlayReport r = Play("burst");
  RequirePassed(r);
  CHECK(r.Figure("most pods on one node") <= 1.3 * r.Figure("fair share (pods per node)"));
}

TEST_CASE("a burst under asynchronous binding gives no node more than 1.3 times its fair share",
          "[e2e][integration]") {
  const PlayReport r = Play("burst-async");
  RequirePassed(r);
  CHECK(r.Figure("most pods on one node") <= 1.3 * r.Figure("fair share (pods per node)"));
}

TEST_CASE("pinned replicas never move while pinned and spread once unpinned", KB_RESCHEDULER_TAGS) {
  RequirePassed(Play("pinned"));
}

TEST_CASE("the maintenance node is drained without violating a PodDisruptionBudget",
          KB_RESCHEDULER_TAGS) {
  RequirePassed(Play("maintenance"));
}

TEST_CASE("the opted-in cpu hog leaves the hot node exactly once", KB_RESCHEDULER_TAGS) {
  RequirePassed(Play("cpu-hog"));
}

TEST_CASE("with two replicas the scheduler's replica steers by the leader's published decisions",
          KB_RESCHEDULER_TAGS) {
  RequirePassed(Play("two-replicas"));
}

TEST_CASE("replicas piled up on one worker are spread by the rescheduler", KB_RESCHEDULER_TAGS) {
  RequirePassed(Play("pile-up"));
}

}  // namespace
}  // namespace kb::sim::e2e
