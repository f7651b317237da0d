// The kit the plays (sim/harness/plays.h) are written with: a Play owns one Testbed and the
// report it fills (tables, named checks, figures, notes), with bounded waits on the pod list;
// helpers count and judge pods per node. Used by sim/harness/plays.cc only.
// Thread-compatible: one Play per thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "sim/harness/plays.h"
#include "sim/harness/testbed.h"

namespace kb::sim::plays {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// "12.3": `v` with `decimals` decimals.
std::string Fmt(double v, int decimals = 1);
// Phase Running and not terminating.
bool Running(const json& pod);
// metadata.labels[key] ("" when absent).
std::string Label(const json& obj, const std::string& key);

// Everything a play needs: the testbed, the report, and small helpers over the cluster.
class Play {
 public:
  Play(std::string id, std::string title, std::string scenario, const PlayOptions& options);

  // Starts the testbed; false (with a failed "setup" check) when it cannot. `two_replicas`: see
  // TestbedOptions::two_replicas.
  bool Setup(bool rescheduler, bool two_replicas = false);

  bool SetupFailed(const std::string& message);

  // Waits for Prometheus and kube-balancer to see the simulated load.
  bool Metrics();

  // For rescheduler plays: false (checks reported as not run) without a rescheduler.
  bool Rescheduler(const std::vector<std::string>& checks);

  bool WaitPods(const std::function<bool(const std::vector<json>&)>& ok,
                std::chrono::milliseconds timeout);

  void Table(const std::string& title, const std::string& lane = "");

  static double CpuSpread(const NodeTable& t);
  static double MemorySpread(const NodeTable& t);

  void Add(const std::string& name, Check::Result r, const std::string& detail);
  void Expect(const std::string& name, bool ok, const std::string& detail);
  void Figure(const std::string& name, double v) { report_.figures.emplace_back(name, v); }
  void Note(const std::string& n) { report_.notes.push_back(n); }

  // Time until Prometheus' CPU answer matches the simulated usage again (metrics lag).
  double PrometheusCatchUp(std::chrono::milliseconds timeout);

  // After a rebalance: no further move and the same balance over `quiet` (2+ cycles).
  void ExpectSettled(const std::function<bool(const std::vector<json>&)>& balanced,
                     std::chrono::milliseconds quiet);

  // `drained`: nodes put in maintenance by the play (see ClusterObserver::MoveViolations).
  void MoveChecks(const std::string& scope, const std::set<std::string>& drained = {});

  // Applies the scenario step `name`; false (with a failed "setup" check) when it fails.
  bool Step(const std::string& name);

  PlayReport Finish();

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

// Running pods selected by `select`, per node.
std::map<std::string, int> CountByNode(const std::vector<json>& pods,
                                       const std::function<bool(const json&)>& select);
// `want` selected pods, all Running and none terminating, on all `nodes` nodes, none holding more
// than 20% above the mean (kube-balancer's default imbalanceThreshold) nor less than half of it.
// *counts: the Running pods per node.
bool Balanced(const std::vector<json>& pods, const std::function<bool(const json&)>& select,
              int want, int nodes, std::map<std::string, int>* counts);
// "worker-1=7, worker-2=6" ("none" when empty).
std::string CountsText(const std::map<std::string, int>& counts);

}  // namespace kb::sim::plays
