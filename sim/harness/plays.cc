#include "sim/harness/plays.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>

#include "core/config.h"
#include "core/model.h"
#include "sim/harness/play.h"
#include "sim/harness/testbed.h"
#include "sim/k8s_json.h"
#include "test/testing/poll.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using plays::Balanced;
using plays::Clock;
using plays::CountByNode;
using plays::CountsText;
using plays::Fmt;
using plays::Label;
using plays::Play;
using plays::Running;
using namespace std::chrono_literals;

constexpr double kCpuThreshold = 80.0;  // kube-balancer's default rescheduler.cpuThreshold

// The 20-replica workload of the pinned and pile-up plays.
bool IsHeavy(const json& pod) { return Label(pod, "app") == "heavy-load"; }

// Waits until the 20 heavy-load replicas run on worker-1 and nowhere else (the starting point of
// the pinned and pile-up plays) and records the check `what`.
bool ExpectHeavyOnWorker1(Play& play, const std::string& what) {
  const bool placed = play.WaitPods(
      [&](const std::vector<json>& pods) {
        auto c = CountByNode(pods, IsHeavy);
        return c.size() == 1 && c.begin()->first == "worker-1" && c.begin()->second == 20;
      },
      30s);
  play.Expect(what, placed, CountsText(CountByNode(play.api().ListObjects("pods"), IsHeavy)));
  return placed;
}

// ---- seed 002: the 12 pods --------------------------------------------------------------------

PlayReport Seed002(const PlayOptions& options) {
  Play play("seed002", "Seed 002: 12 pods on 3 workers with unequal background load",
            "seed-002-twelve-pods.yaml", options);
  if (!play.Setup(false) || !play.Metrics()) return play.Finish();
  play.Table("before: kube-balancer lane", "balancer");
  play.Table("before: baseline lane (default-scheduler)", "baseline");
  if (!play.Step("submit")) return play.Finish();
  const bool all_running = play.WaitPods(
      [](const std::vector<json>& pods) {
        int running = 0;
        for (const json& p : pods) running += Running(p) ? 1 : 0;
        return running == 24;
      },
      30s);
  play.Expect("all 24 pods placed and running", all_running,
              std::to_string(play.tb().cluster().driver()->Stats().scheduled) + " bound");
  play.Table("after: kube-balancer lane", "balancer");
  play.Table("after: baseline lane (default-scheduler)", "baseline");
  const auto& t = play.report().tables;
  const double balancer = Play::CpuSpread(t[2]);
  const double baseline = Play::CpuSpread(t[3]);
  play.Figure("cpu spread kube-balancer (stddev, points)", balancer);
  play.Figure("cpu spread baseline (stddev, points)", baseline);
  play.Figure("memory spread kube-balancer (stddev, points)", Play::MemorySpread(t[2]));
  play.Figure("memory spread baseline (stddev, points)", Play::MemorySpread(t[3]));
  play.Expect("CPU usage spread after placement smaller than the requests-only baseline",
              all_running && balancer < baseline,
              "stddev of node CPU% " + Fmt(balancer) + " (kube-balancer) vs " + Fmt(baseline) +
                  " (baseline)");
  int via_extender = 0;
  for (const Placement& p : play.tb().cluster().driver()->Placements()) {
    // kube-scheduler skips scoring when a single node is feasible (schedulePod returns it at
    // once), so such a placement was filtered by the extender but never prioritized.
    if (p.scheduler_name == "kube-balancer" && p.via_extender &&
        (p.prioritize_called || p.feasible == 1)) {
      ++via_extender;
    }
  }
  play.Expect("every kube-balancer pod was filtered and scored by the extender", via_extender == 12,
              std::to_string(via_extender) + "/12 placements");
  const double lag = play.PrometheusCatchUp(20s);
  play.Figure("prometheus caught up after placement (s)", lag);
  return play.Finish();
}

// ---- burst: 50 pods at once -------------------------------------------------------------------

// `async`: the scenario's scheduler binds asynchronously (bindLatency), so kube-balancer sees the
// next pods' /prioritize before the previous /bind, as with the real kube-scheduler.
PlayReport Burst(const PlayOptions& options, bool async) {
  Play play(async ? "burst-async" : "burst",
            async ? "Burst under asynchronous binding: 50 pods, /bind arrives after the next "
                    "pods were scored"
                  : "Burst: 50 pods submitted at once, metrics lag behind bindings",
            async ? "burst-50-async.yaml" : "burst-50.yaml", options);
  if (!play.Setup(false) || !play.Metrics()) return play.Finish();
  play.Table("before");
  const auto submitted = Clock::now();
  if (!play.Step("burst")) return play.Finish();
  auto burst = [](const json& p) { return Label(p, "app") == "burst"; };
  double bind_seconds = -1;
  const bool bound = play.WaitPods(
      [&](const std::vector<json>& pods) {
        int n = 0;
        for (const json& p : pods) {
          if (burst(p) && !StrAt(p, {"spec", "nodeName"}).empty()) ++n;
        }
        if (n == 50 && bind_seconds < 0) {
          bind_seconds = std::chrono::duration<double>(Clock::now() - submitted).count();
        }
        return n == 50;
      },
      30s);
  const bool running = bound && play.WaitPods(
                                    [&](const std::vector<json>& pods) {
                                      int n = 0;
                                      for (const json& p : pods) n += burst(p) && Running(p);
                                      return n == 50;
                                    },
                                    30s);
  play.Expect("all 50 pods bound and running", running, "bound in " + Fmt(bind_seconds, 2) + "s");
  const auto counts = CountByNode(play.api().ListObjects("pods"), burst);
  const size_t nodes = play.api().ListObjects("nodes").size();
  const double fair = 50.0 / static_cast<double>(nodes);
  int max_pods = 0;
  for (const auto& [node, n] : counts) max_pods = std::max(max_pods, n);
  play.Figure("bind time for 50 pods (s)", bind_seconds);
  play.Figure("fair share (pods per node)", fair);
  play.Figure("most pods on one node", max_pods);
  play.Expect("no node received more than 1.3x its fair share", running && max_pods <= 1.3 * fair,
              "max " + std::to_string(max_pods) + " <= " + Fmt(1.3 * fair) + " (" +
                  CountsText(counts) + ")");
  play.Table("after (right after binding)");
  const double lag = play.PrometheusCatchUp(20s);
  play.Figure("prometheus caught up after the burst (s)", lag);
  play.Note("bindings finished " + Fmt(bind_seconds, 2) + "s after submission; Prometheus showed " +
            "the new load " + Fmt(lag) + "s later: kube-balancer placed the burst on its own " +
            "estimate of fresh pods, not on metrics");
  if (async) {
    play.Note("each binding was sent " +
              std::to_string(play.tb().cluster().driver()->options().bind_latency.count()) +
              "ms after its scheduling cycle, while the next pods were filtered and scored: "
              "kube-balancer counted every pod on its best node from /prioritize on");
  }
  return play.Finish();
}

// ---- seed 000 scenario 1: pinned replicas -----------------------------------------------------

PlayReport Pinned(const PlayOptions& options) {
  Play play("pinned", "Seed 000 scenario 1: 20 nginx replicas pinned to worker-1, then unpinned",
            "seed-000-pinned.yaml", options);
  if (!play.Setup(true)) return play.Finish();
  const bool placed = ExpectHeavyOnWorker1(play, "20 pinned replicas running on worker-1");
  if (!placed || !play.Metrics()) return play.Finish();
  play.Table("before (pinned)");
  const std::vector<std::string> checks = {
      "pinned pods never moved while pinned", "replicas rebalanced after the pin was removed",
      "the spread stays put (no further moves)",
      "no pod evicted twice and no replacement back on its source node"};
  if (!play.Rescheduler(checks)) return play.Finish();

  // Pinned phase: at least 4 rescheduler cycles (interval 2s, consecutiveCycles 2).
  std::set<std::string> pinned_uids;
  for (const json& p : play.api().ListObjects("pods")) {
    if (IsHeavy(p)) pinned_uids.insert(Uid(p));
  }
  bool stayed = true;
  std::string why;
  kb::testing::PollUntil(
      [&] {
        for (const json& p : play.api().ListObjects("pods")) {
          if (IsHeavy(p) && (!pinned_uids.count(Uid(p)) || IsTerminating(p) ||
                             StrAt(p, {"spec", "nodeName"}) != "worker-1")) {
            stayed = false;
            why = "pod " + Name(p) + " changed while pinned";
          }
        }
        return !stayed;
      },
      10s, 20ms);
  const auto moves_pinned = play.tb().observer().Moves();
  play.Expect("pinned pods never moved while pinned", stayed && moves_pinned.empty(),
              stayed ? std::to_string(moves_pinned.size()) + " move(s) in 10s (5 cycles)" : why);

  if (!play.Step("unpin")) return play.Finish();
  std::map<std::string, int> counts;
  const bool balanced = play.WaitPods(
      [&](const std::vector<json>& pods) { return Balanced(pods, IsHeavy, 20, 3, &counts); },
      options.outcome_timeout);
  play.Expect("replicas rebalanced after the pin was removed", balanced,
              CountsText(counts) + " (each worker between half the mean and 20% above it)");
  if (balanced) {
    play.ExpectSettled(
        [&](const std::vector<json>& pods) { return Balanced(pods, IsHeavy, 20, 3, &counts); }, 5s);
  }
  play.Table("after (unpinned)");
  play.MoveChecks("");
  play.Note(
      "removing the nodeSelector changes the pod template, so the Deployment rolls out new "
      "replicas (as in Kubernetes), placed by the extender; the rescheduler then moved " +
      std::to_string(play.tb().observer().Moves().size()) +
      " pod(s). The pile-up play covers replicas left on one worker without a rollout");
  return play.Finish();
}

// ---- pile-up: replicas on one worker with nothing pinning them --------------------------------

PlayReport PileUp(const PlayOptions& options) {
  Play play("pile-up", "Pile-up: 20 unpinned replicas on one worker after two nodes rejoin",
            "pile-up.yaml", options);
  if (!play.Setup(true)) return play.Finish();
  const bool placed =
      ExpectHeavyOnWorker1(play, "20 replicas running on worker-1 while the others are cordoned");
  if (!placed || !play.Metrics()) return play.Finish();
  const std::vector<std::string> checks = {
      "replicas rebalanced by the rescheduler", "the spread stays put (no further moves)",
      "no pod evicted twice and no replacement back on its source node"};
  if (!play.Rescheduler(checks)) return play.Finish();
  for (const char* step : {"uncordon-worker-2", "uncordon-worker-3"}) {
    if (!play.Step(step)) return play.Finish();
  }
  play.Table("before (worker-2 and worker-3 uncordoned)");
  std::map<std::string, int> counts;
  const auto started = Clock::now();
  const bool balanced = play.WaitPods(
      [&](const std::vector<json>& pods) { return Balanced(pods, IsHeavy, 20, 3, &counts); },
      options.outcome_timeout);
  play.Figure("rebalance time (s)", std::chrono::duration<double>(Clock::now() - started).count());
  const size_t moves = play.tb().observer().Moves().size();
  play.Figure("pods moved", static_cast<double>(moves));
  play.Expect("replicas rebalanced by the rescheduler", balanced && moves > 0,
              CountsText(counts) + " (each worker between half the mean and 20% above it) after " +
                  std::to_string(moves) + " eviction(s)");
  if (balanced) {
    play.ExpectSettled(
        [&](const std::vector<json>& pods) { return Balanced(pods, IsHeavy, 20, 3, &counts); }, 5s);
  }
  play.Table("after");
  play.MoveChecks("");
  return play.Finish();
}

// ---- two replicas: the scheduler calls the replica that is not the rescheduler leader ----------

// Planned targets (moved pod "<ns>/<name>" -> target node) from a replica's /debug/steering, and
// whether it showed entries read from the published ConfigMap.
void CollectSteering(Play& play, bool leader, std::map<std::string, std::string>* targets,
                     int* published) {
  auto body = play.tb().KubeBalancerGet("/debug/steering", leader);
  if (!body.ok()) return;
  const json doc = json::parse(*body, nullptr, false);
  if (!doc.is_object() || !doc["entries"].is_array()) return;
  for (const json& e : doc["entries"]) {
    const std::string pod = e.value("pod", "");
    const std::string target = e.value("target", "");
    if (leader && !pod.empty() && !target.empty()) (*targets)[pod] = target;
    if (!leader && e.value("origin", "") == "published") ++*published;
  }
}

PlayReport TwoReplicas(const PlayOptions& options) {
  Play play("two-replicas",
            "Two replicas: kube-sim's scheduler calls the replica that is not the rescheduler "
            "leader while 20 piled-up replicas are spread",
            "pile-up.yaml", options);
  if (!play.Setup(true, /*two_replicas=*/true)) return play.Finish();
  const bool placed =
      ExpectHeavyOnWorker1(play, "20 replicas running on worker-1 while the others are cordoned");
  if (!placed || !play.Metrics()) return play.Finish();
  const std::vector<std::string> checks = {
      "the scheduler's replica is not the rescheduler leader",
      "replicas rebalanced by the rescheduler", "the non-leader steered by the published decisions",
      "at least 95% of replacements on the planned target",
      "no pod evicted twice and no replacement back on its source node"};
  if (!play.Rescheduler(checks)) return play.Finish();
  auto metrics = play.tb().KubeBalancerMetrics();
  const bool follower =
      metrics.ok() && metrics->find("kube_balancer_rescheduler_leader 0") != std::string::npos;
  play.Expect("the scheduler's replica is not the rescheduler leader", follower,
              follower ? "kube_balancer_rescheduler_leader 0 on the extender replica"
                       : "the extender replica leads (or its metrics are unreadable)");
  for (const char* step : {"uncordon-worker-2", "uncordon-worker-3"}) {
    if (!play.Step(step)) return play.Finish();
  }
  play.Table("before (worker-2 and worker-3 uncordoned)");
  std::map<std::string, int> counts;
  std::map<std::string, std::string> targets;
  int published = 0;
  const bool balanced = play.WaitPods(
      [&](const std::vector<json>& pods) {
        CollectSteering(play, true, &targets, &published);
        CollectSteering(play, false, &targets, &published);
        return Balanced(pods, IsHeavy, 20, 3, &counts);
      },
      options.outcome_timeout);
  const auto moves = play.tb().observer().Moves();
  play.Expect("replicas rebalanced by the rescheduler", balanced && !moves.empty(),
              CountsText(counts) + " after " + std::to_string(moves.size()) + " eviction(s)");
  play.Expect("the non-leader steered by the published decisions", published > 0,
              std::to_string(published) + " published entries seen on the extender replica");
  int replaced = 0, on_target = 0;
  for (const auto& m : moves) {
    if (m.replacement_node.empty()) continue;
    ++replaced;
    auto t = targets.find(m.ns + "/" + m.name);
    if (t != targets.end() && t->second == m.replacement_node) ++on_target;
  }
  play.Figure("replacements", replaced);
  play.Figure("replacements on the planned target", on_target);
  play.Expect("at least 95% of replacements on the planned target",
              replaced > 0 && on_target * 100 >= 95 * replaced,
              std::to_string(on_target) + "/" + std::to_string(replaced) +
                  " replacements landed where the leader planned");
  play.Table("after");
  play.MoveChecks("");
  return play.Finish();
}

// ---- seed 000 scenario 2: node maintenance under PDBs -----------------------------------------

PlayReport Maintenance(const PlayOptions& options) {
  Play play("maintenance", "Seed 000 scenario 2: maintenance label on worker-1, pods under PDBs",
            "seed-000-maintenance.yaml", options);
  if (!play.Setup(true)) return play.Finish();
  auto managed = [](const json& p) { return !ControllerRef(p).is_null(); };
  const bool placed = play.WaitPods(
      [&](const std::vector<json>& pods) {
        int ready = 0;
        for (const json& p : pods) ready += managed(p) && Running(p) && IsPodReady(p);
        return ready == 9;
      },
      30s);
  auto on_worker1 = CountByNode(play.api().ListObjects("pods"), managed)["worker-1"];
  play.Expect("9 replicas running, some on worker-1", placed && on_worker1 > 0,
              CountsText(CountByNode(play.api().ListObjects("pods"), managed)));
  if (!placed || !play.Metrics()) return play.Finish();
  play.Table("before");
  const std::vector<std::string> checks = {
      "maintenance node drained", "no PodDisruptionBudget violated",
      "no pod evicted twice and no replacement back on its source node"};
  if (!play.Rescheduler(checks)) return play.Finish();

  play.tb().observer().StartPdbWatch();
  if (!play.Step("maintenance")) return play.Finish();
  std::map<std::string, int> counts;
  const auto started = Clock::now();
  const bool drained = play.WaitPods(
      [&](const std::vector<json>& pods) {
        counts = CountByNode(pods, managed);
        int ready = 0, left = 0;
        for (const json& p : pods) {
          if (!managed(p)) continue;
          ready += Running(p) && IsPodReady(p);
          if (StrAt(p, {"spec", "nodeName"}) == "worker-1") ++left;
        }
        return left == 0 && ready == 9;
      },
      options.outcome_timeout);
  play.Figure("drain time (s)", std::chrono::duration<double>(Clock::now() - started).count());
  play.Expect("maintenance node drained", drained,
              CountsText(counts) + "; worker-1 had " + std::to_string(on_worker1) + " replicas");
  const auto pdb = play.tb().observer().PdbViolations();
  std::string detail = std::to_string(play.tb().observer().RefusedEvictions()) +
                       " eviction(s) refused by a PDB (429)";
  for (const auto& v : pdb) detail += "; " + v;
  int deletes = 0;
  for (const auto& m : play.tb().observer().Moves()) deletes += m.how == "delete";
  if (deletes > 0) detail += "; " + std::to_string(deletes) + " pod(s) deleted without eviction";
  play.Expect("no PodDisruptionBudget violated", pdb.empty() && deletes == 0, detail);
  play.Table("after");
  play.MoveChecks("", {"worker-1"});
  return play.Finish();
}

// ---- seed 000 scenario 3: the CPU hog ---------------------------------------------------------

PlayReport CpuHog(const PlayOptions& options) {
  Play play("cpu-hog", "Seed 000 scenario 3: a CPU-hog bare pod opted in to rescheduling",
            "seed-000-cpu-hog.yaml", options);
  if (!play.Setup(true)) return play.Finish();
  auto hog = [](const json& p) { return Label(p, "run") == "cpu-hog"; };
  const bool running = play.WaitPods(
      [&](const std::vector<json>& pods) {
        for (const json& p : pods) {
          if (hog(p) && Running(p) && StrAt(p, {"spec", "nodeName"}) == "worker-1") return true;
        }
        return false;
      },
      30s);
  play.Expect("cpu-hog running on the hot node worker-1", running, "");
  if (!running || !play.Metrics()) return play.Finish();
  play.Table("before");
  const std::vector<std::string> checks = {
      "hog not moved before it opted in", "hog moved off the hot node",
      "hot node below the CPU threshold afterwards",
      "no pod evicted twice and no replacement back on its source node"};
  if (!play.Rescheduler(checks)) return play.Finish();
  // Without the opt-in label a bare pod is protected: give the rescheduler 5 cycles.
  std::this_thread::sleep_for(10s);
  play.Expect("hog not moved before it opted in", play.tb().observer().Moves().empty(),
              std::to_string(play.tb().observer().Moves().size()) + " move(s) in 10s");
  if (!play.Step("opt-in")) return play.Finish();
  std::string where;
  const auto started = Clock::now();
  const bool moved = play.WaitPods(
      [&](const std::vector<json>& pods) {
        int hogs = 0;
        bool elsewhere = false;
        for (const json& p : pods) {
          if (!hog(p)) continue;
          ++hogs;
          where = Name(p) + "@" + StrAt(p, {"spec", "nodeName"});
          elsewhere = Running(p) && IsPodReady(p) && StrAt(p, {"spec", "nodeName"}) != "worker-1";
        }
        return hogs == 1 && elsewhere;
      },
      options.outcome_timeout);
  play.Figure("move time (s)", std::chrono::duration<double>(Clock::now() - started).count());
  play.Expect("hog moved off the hot node", moved, where);
  double hot = 100;
  for (const NodeSample& s : play.tb().cluster().metrics().Samples()) {
    if (s.name == "worker-1") hot = s.CpuPercent();
  }
  play.Figure("worker-1 cpu after (%)", hot);
  play.Expect("hot node below the CPU threshold afterwards", moved && hot < kCpuThreshold,
              "worker-1 at " + Fmt(hot) + "% (threshold " + Fmt(kCpuThreshold, 0) + "%)");
  play.Table("after");
  play.MoveChecks("");
  return play.Finish();
}

}  // namespace

bool PlayReport::Passed() const {
  if (checks.empty()) return false;
  for (const Check& c : checks) {
    if (c.result != Check::Result::kPass) return false;
  }
  return true;
}

bool PlayReport::AnyFailed() const {
  for (const Check& c : checks) {
    if (c.result == Check::Result::kFail) return true;
  }
  return false;
}

double PlayReport::Figure(const std::string& name, double fallback) const {
  for (const auto& [n, v] : figures) {
    if (n == name) return v;
  }
  return fallback;
}

std::vector<std::string> PlayIds() {
  return {"seed002",     "burst",   "burst-async", "pinned",
          "maintenance", "cpu-hog", "pile-up",     "two-replicas"};
}

PlayReport RunPlay(const std::string& id, const PlayOptions& options) {
  if (id == "seed002") return Seed002(options);
  if (id == "burst") return Burst(options, false);
  if (id == "burst-async") return Burst(options, true);
  if (id == "pinned") return Pinned(options);
  if (id == "maintenance") return Maintenance(options);
  if (id == "cpu-hog") return CpuHog(options);
  if (id == "pile-up") return PileUp(options);
  if (id == "two-replicas") return TwoReplicas(options);
  PlayReport r;
  r.id = id;
  r.checks.push_back({"setup", Check::Result::kFail, "unknown play \"" + id + "\""});
  return r;
}

}  // namespace kb::sim
