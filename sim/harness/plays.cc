#include "sim/harness/plays.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include "core/config.h"
#include "core/model.h"
#include "sim/harness/testbed.h"
#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kLaneLabel = "kube-balancer.io/lane";
constexpr double kCpuThreshold = 80.0;  // kube-balancer's default rescheduler.cpuThreshold

std::string Fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

bool Running(const json& pod) { return PodPhase(pod) == "Running" && !IsTerminating(pod); }

std::string Label(const json& obj, const std::string& key) {
  return StrAt(obj, {"metadata", "labels", key.c_str()});
}

// Everything a play needs: the testbed, the report, and small helpers over the cluster.
class Play {
 public:
  Play(std::string id, std::string title, std::string scenario, const PlayOptions& options)
      : options_(options), start_(Clock::now()) {
    report_.id = std::move(id);
    report_.title = std::move(title);
    report_.scenario_file = "sim/scenarios/" + scenario;
  }

  // Starts the testbed; false (with a failed "setup" check) when it cannot.
  bool Setup(bool rescheduler) {
    TestbedOptions o;
    o.name = report_.id;
    o.scenario_file = options_.source_dir + "/" + report_.scenario_file;
    o.kube_balancer = options_.kube_balancer;
    o.prometheus = options_.prometheus;
    o.keep_work_dir = options_.keep_work_dirs;
    o.verbosity = options_.verbosity;
    o.rescheduler = rescheduler;
    auto tb = Testbed::Start(o);
    if (!tb.ok()) return SetupFailed(tb.status().message());
    tb_ = std::move(*tb);
    if (options_.keep_work_dirs) report_.work_dir = tb_->work_dir();
    return true;
  }

  bool SetupFailed(const std::string& message) {
    Add("setup", Check::Result::kFail, message);
    if (tb_) report_.notes.push_back("kube-balancer log tail:\n" + tb_->KubeBalancerLog(25));
    return false;
  }

  // Waits for Prometheus and kube-balancer to see the simulated load.
  bool Metrics() {
    Status st = tb_->WaitForMetrics(45s);
    if (!st.ok()) return SetupFailed(st.message());
    return true;
  }

  // For rescheduler plays: false (checks reported as not run) without a rescheduler.
  bool Rescheduler(const std::vector<std::string>& checks) {
    report_.needs_rescheduler = true;
    // The metric families are registered when kube-balancer builds its rescheduler.
    const bool exported = tb_->ReschedulerRunning(3s, /*wait_leader=*/false);
    if (exported && tb_->ReschedulerRunning(20s, /*wait_leader=*/true)) return true;
    const std::string why =
        exported ? "kube-balancer runs a rescheduler but it did not become leader within 20s"
                 : "this kube-balancer does not run the rescheduler (no "
                   "kube_balancer_rescheduler_leader metric): it is not wired into the binary yet";
    for (const std::string& c : checks) Add(c, Check::Result::kNotRun, "needs the rescheduler");
    report_.notes.push_back(why);
    return false;
  }

  bool WaitPods(const std::function<bool(const std::vector<json>&)>& ok,
                std::chrono::milliseconds timeout) {
    return WaitUntil([&] { return ok(api().ListObjects("pods")); }, timeout);
  }

  void Table(const std::string& title, const std::string& lane = "") {
    NodeTable t;
    t.title = title;
    std::map<std::string, json> nodes;
    for (const json& n : api().ListObjects("nodes")) nodes[Name(n)] = n;
    for (const NodeSample& s : tb_->cluster().metrics().Samples()) {
      const json& node = nodes[s.name];
      std::string group = Label(node, kLaneLabel);
      if (!lane.empty() && group != lane) continue;
      if (Label(node, kMaintenanceLabel) == "true") group = "maintenance";
      t.rows.push_back({s.name, group, s.CpuPercent(), s.MemoryPercent(), s.CpuRequestedPercent(),
                        s.MemoryRequestedPercent(), s.pods});
    }
    report_.tables.push_back(std::move(t));
  }

  static double CpuSpread(const NodeTable& t) {
    std::vector<double> v;
    for (const NodeRow& r : t.rows) v.push_back(r.cpu_percent);
    return StdDev(v);
  }
  static double MemorySpread(const NodeTable& t) {
    std::vector<double> v;
    for (const NodeRow& r : t.rows) v.push_back(r.memory_percent);
    return StdDev(v);
  }

  void Add(const std::string& name, Check::Result r, const std::string& detail) {
    report_.checks.push_back({name, r, detail});
  }
  void Expect(const std::string& name, bool ok, const std::string& detail) {
    Add(name, ok ? Check::Result::kPass : Check::Result::kFail, detail);
  }
  void Figure(const std::string& name, double v) { report_.figures.emplace_back(name, v); }
  void Note(const std::string& n) { report_.notes.push_back(n); }

  // Time until Prometheus' CPU answer matches the simulated usage again (metrics lag).
  double PrometheusCatchUp(std::chrono::milliseconds timeout) {
    const auto start = Clock::now();
    const std::string query = DefaultCpuQuery("node", "5s");
    const bool ok = WaitUntil(
        [&] {
          auto cpu = tb_->QueryByNode(query);
          if (!cpu.ok()) return false;
          for (const NodeSample& s : tb_->cluster().metrics().Samples()) {
            auto it = cpu->find(s.name);
            if (it == cpu->end() || std::abs(it->second - s.CpuPercent()) > 2.0) return false;
          }
          return true;
        },
        timeout);
    return ok ? std::chrono::duration<double>(Clock::now() - start).count() : -1;
  }

  // After a rebalance: no further move and the same balance over `quiet` (2+ cycles).
  void ExpectSettled(const std::function<bool(const std::vector<json>&)>& balanced,
                     std::chrono::milliseconds quiet) {
    const size_t moves = tb_->observer().Moves().size();
    std::this_thread::sleep_for(quiet);
    const size_t after = tb_->observer().Moves().size();
    const bool still = balanced(api().ListObjects("pods"));
    Expect("the spread stays put (no further moves)", after == moves && still,
           std::to_string(after - moves) + " move(s) in the " +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(quiet).count()) +
               "s after balance" + (still ? "" : ", no longer balanced"));
  }

  void MoveChecks(const std::string& scope) {
    std::vector<std::string> violations = tb_->observer().MoveViolations();
    std::string detail =
        std::to_string(tb_->observer().Moves().size()) + " move(s) by kube-balancer";
    for (const std::string& v : violations) detail += "; " + v;
    Expect("no pod evicted twice and no replacement back on its source node" + scope,
           violations.empty(), detail);
  }

  PlayReport Finish() {
    if (tb_ && !tb_->KubeBalancerRunning()) {
      Add("kube-balancer stayed up", Check::Result::kFail,
          "the kube-balancer process exited during the play");
      Note("kube-balancer log tail:\n" + tb_->KubeBalancerLog(25));
    }
    tb_.reset();  // stops everything before the report is returned
    report_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(report_);
  }

  ApiServer& api() { return tb_->cluster().api(); }
  Testbed& tb() { return *tb_; }
  PlayReport& report() { return report_; }
  const PlayOptions& options() const { return options_; }

 private:
  const PlayOptions& options_;
  const Clock::time_point start_;
  PlayReport report_;
  std::unique_ptr<Testbed> tb_;
};

std::map<std::string, int> CountByNode(const std::vector<json>& pods,
                                       const std::function<bool(const json&)>& select) {
  std::map<std::string, int> out;
  for (const json& p : pods) {
    if (select(p) && Running(p)) ++out[StrAt(p, {"spec", "nodeName"})];
  }
  return out;
}

// `want` matching pods, all Running and none terminating, on all `nodes` nodes, none holding more
// than 20% above the mean (kube-balancer's default imbalanceThreshold) nor less than half of it.
bool Balanced(const std::vector<json>& pods, const std::function<bool(const json&)>& select,
              int want, int nodes, std::map<std::string, int>* counts) {
  *counts = CountByNode(pods, select);
  int total = 0;
  for (const json& p : pods) total += select(p) ? 1 : 0;  // terminating / pending count too
  int running = 0;
  for (const auto& [node, n] : *counts) running += n;
  if (total != want || running != want || static_cast<int>(counts->size()) != nodes) return false;
  const double mean = static_cast<double>(want) / nodes;
  for (const auto& [node, n] : *counts) {
    if (n < std::floor(mean * 0.5) || n > mean * 1.2 + 1e-9) return false;
  }
  return true;
}

std::string CountsText(const std::map<std::string, int>& counts) {
  std::string s;
  for (const auto& [node, n] : counts)
    s += (s.empty() ? "" : ", ") + node + "=" + std::to_string(n);
  return s.empty() ? "none" : s;
}

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
  if (Status st = play.tb().cluster().ApplyStep("submit"); !st.ok()) {
    play.SetupFailed(st.message());
    return play.Finish();
  }
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
    if (p.scheduler_name == "kube-balancer" && p.via_extender && p.prioritize_called) {
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

PlayReport Burst(const PlayOptions& options) {
  Play play("burst", "Burst: 50 pods submitted at once, metrics lag behind bindings",
            "burst-50.yaml", options);
  if (!play.Setup(false) || !play.Metrics()) return play.Finish();
  play.Table("before");
  const auto submitted = Clock::now();
  if (Status st = play.tb().cluster().ApplyStep("burst"); !st.ok()) {
    play.SetupFailed(st.message());
    return play.Finish();
  }
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
  WaitUntil(
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
      10s);
  const auto moves_pinned = play.tb().observer().Moves();
  play.Expect("pinned pods never moved while pinned", stayed && moves_pinned.empty(),
              stayed ? std::to_string(moves_pinned.size()) + " move(s) in 10s (5 cycles)" : why);

  if (Status st = play.tb().cluster().ApplyStep("unpin"); !st.ok()) {
    play.SetupFailed(st.message());
    return play.Finish();
  }
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
    if (Status st = play.tb().cluster().ApplyStep(step); !st.ok()) {
      play.SetupFailed(st.message());
      return play.Finish();
    }
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
  if (Status st = play.tb().cluster().ApplyStep("maintenance"); !st.ok()) {
    play.SetupFailed(st.message());
    return play.Finish();
  }
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
  play.MoveChecks("");
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
  if (Status st = play.tb().cluster().ApplyStep("opt-in"); !st.ok()) {
    play.SetupFailed(st.message());
    return play.Finish();
  }
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
  return {"seed002", "burst", "pinned", "maintenance", "cpu-hog", "pile-up"};
}

PlayReport RunPlay(const std::string& id, const PlayOptions& options) {
  if (id == "seed002") return Seed002(options);
  if (id == "burst") return Burst(options);
  if (id == "pinned") return Pinned(options);
  if (id == "maintenance") return Maintenance(options);
  if (id == "cpu-hog") return CpuHog(options);
  if (id == "pile-up") return PileUp(options);
  PlayReport r;
  r.id = id;
  r.checks.push_back({"setup", Check::Result::kFail, "unknown play \"" + id + "\""});
  return r;
}

std::string FormatReport(const PlayReport& r) {
  std::ostringstream out;
  out << "=== " << r.id << ": " << r.title << "  (" << Fmt(r.seconds) << "s, " << r.scenario_file
      << ")\n";
  for (const NodeTable& t : r.tables) {
    out << "  -- " << t.title << "\n";
    char line[200];
    std::snprintf(line, sizeof(line), "    %-12s %-12s %7s %7s %9s %9s %5s\n", "node", "group",
                  "cpu%", "mem%", "cpu-req%", "mem-req%", "pods");
    out << line;
    for (const NodeRow& row : t.rows) {
      std::snprintf(line, sizeof(line), "    %-12s %-12s %7.1f %7.1f %9.1f %9.1f %5d\n",
                    row.node.c_str(), row.group.c_str(), row.cpu_percent, row.memory_percent,
                    row.cpu_requested_percent, row.memory_requested_percent, row.pods);
      out << line;
    }
  }
  for (const auto& [name, v] : r.figures) out << "  " << name << ": " << Fmt(v, 2) << "\n";
  for (const Check& c : r.checks) {
    const char* tag = c.result == Check::Result::kPass   ? "PASS"
                      : c.result == Check::Result::kFail ? "FAIL"
                                                         : "NOT RUN";
    out << "  [" << tag << "] " << c.name << (c.detail.empty() ? "" : ": " + c.detail) << "\n";
  }
  for (const std::string& n : r.notes) out << "  note: " << n << "\n";
  if (!r.work_dir.empty()) out << "  logs: " << r.work_dir << "\n";
  return out.str();
}

namespace {

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// One grouped bar chart: per node, CPU% / memory% bars (0..100) and the pod count as text.
std::string Svg(const NodeTable& t) {
  const int bar = 14, gap = 30, left = 40, top = 24, height = 140;
  const int group_w = 2 * bar + gap;
  const int width = left + static_cast<int>(t.rows.size()) * group_w + 20;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << std::max(width, 260) << "' height='"
    << top + height + 44 << "' font-family='sans-serif' font-size='10'>";
  s << "<text x='4' y='14' font-size='12' font-weight='bold'>" << Html(t.title) << "</text>";
  for (int pct : {0, 50, 80, 100}) {
    const int y = top + height - pct * height / 100;
    s << "<line x1='" << left - 4 << "' x2='" << width << "' y1='" << y << "' y2='" << y
      << "' stroke='" << (pct == 80 ? "#d33" : "#ccc") << "' stroke-dasharray='"
      << (pct == 80 ? "4,3" : "0") << "'/><text x='4' y='" << y + 3 << "'>" << pct << "%</text>";
  }
  int x = left;
  for (const NodeRow& r : t.rows) {
    const double cpu = std::clamp(r.cpu_percent, 0.0, 100.0);
    const double mem = std::clamp(r.memory_percent, 0.0, 100.0);
    const int hc = static_cast<int>(cpu * height / 100), hm = static_cast<int>(mem * height / 100);
    s << "<rect x='" << x << "' y='" << top + height - hc << "' width='" << bar << "' height='"
      << hc << "' fill='#3b7dd8'><title>" << Html(r.node) << " cpu " << Fmt(r.cpu_percent)
      << "%</title></rect>";
    s << "<rect x='" << x + bar << "' y='" << top + height - hm << "' width='" << bar
      << "' height='" << hm << "' fill='#f0a030'><title>" << Html(r.node) << " memory "
      << Fmt(r.memory_percent) << "%</title></rect>";
    s << "<text x='" << x << "' y='" << top + height + 14 << "'>" << Html(r.node) << "</text>";
    s << "<text x='" << x << "' y='" << top + height + 27 << "'>" << r.pods << " pods</text>";
    x += group_w;
  }
  s << "<text x='" << left << "' y='" << top + height + 40
    << "'><tspan fill='#3b7dd8'>&#9632; cpu</tspan> <tspan fill='#f0a030'>&#9632; memory</tspan>"
       " <tspan fill='#d33'>- - 80% threshold</tspan></text>";
  s << "</svg>";
  return s.str();
}

}  // namespace

std::string RenderHtml(const std::vector<PlayReport>& reports, const std::string& subtitle) {
  std::ostringstream h;
  h << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kube-balancer demo</title>"
       "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}"
       "section{border-top:1px solid #ccc;padding:8px 0}.charts{display:flex;flex-wrap:wrap;"
       "gap:16px}.pass{color:#080}.fail{color:#c00}.notrun{color:#888}"
       "td,th{padding:2px 8px;text-align:right}th{text-align:left}</style></head><body>";
  h << "<h1>kube-balancer demo</h1><p>" << Html(subtitle) << "</p>";
  for (const PlayReport& r : reports) {
    h << "<section><h2>" << Html(r.id) << ": " << Html(r.title) << "</h2><p>"
      << Html(r.scenario_file) << ", " << Fmt(r.seconds) << "s</p><div class='charts'>";
    for (const NodeTable& t : r.tables) h << Svg(t);
    h << "</div><ul>";
    for (const Check& c : r.checks) {
      const char* cls = c.result == Check::Result::kPass   ? "pass"
                        : c.result == Check::Result::kFail ? "fail"
                                                           : "notrun";
      const char* tag = c.result == Check::Result::kPass   ? "PASS"
                        : c.result == Check::Result::kFail ? "FAIL"
                                                           : "NOT RUN";
      h << "<li class='" << cls << "'><b>" << tag << "</b> " << Html(c.name)
        << (c.detail.empty() ? "" : ": " + Html(c.detail)) << "</li>";
    }
    h << "</ul>";
    if (!r.figures.empty()) {
      h << "<table>";
      for (const auto& [name, v] : r.figures) {
        h << "<tr><th>" << Html(name) << "</th><td>" << Fmt(v, 2) << "</td></tr>";
      }
      h << "</table>";
    }
    for (const std::string& n : r.notes) h << "<p><i>" << Html(n) << "</i></p>";
    h << "</section>";
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace kb::sim
