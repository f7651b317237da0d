// Plays: the seeds' scenarios run end to end on a Testbed (kube-sim + Prometheus +
// kube-balancer), shared by `make demo` (sim/demo_main.cc) and the e2e tests (test/e2e). Each play
// loads its scenario from sim/scenarios/, waits for the condition each step needs, applies the
// step, and reports per-node tables before / after plus named outcome checks computed from ground
// truth (kube-sim's simulated usage, the pod list, kube-sim's audit of kube-balancer's requests).
// Plays that need the rescheduler report their checks as not run when kube-balancer does not run
// one. Thread-safe: plays share nothing; several may run at once.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace kb::sim {

struct NodeRow {
  std::string node;
  std::string group;  // lane / role label shown in tables ("" = none)
  double cpu_percent = 0;
  double memory_percent = 0;
  double cpu_requested_percent = 0;
  double memory_requested_percent = 0;
  int pods = 0;
};

struct NodeTable {
  std::string title;  // "before", "after: kube-balancer lane", ...
  std::vector<NodeRow> rows;
};

struct Check {
  enum class Result { kPass, kFail, kNotRun };
  std::string name;
  Result result = Result::kNotRun;
  std::string detail;
};

struct PlayReport {
  std::string id;     // "seed002", "burst", "pinned", "maintenance", "cpu-hog"
  std::string title;  // one line
  std::string scenario_file;
  std::vector<NodeTable> tables;
  std::vector<Check> checks;
  std::vector<std::pair<std::string, double>> figures;  // name -> value, in report order
  std::vector<std::string> notes;
  double seconds = 0;
  std::string work_dir;  // kept only with keep_work_dirs
  bool needs_rescheduler = false;

  // Every check ran and passed.
  bool Passed() const;
  bool AnyFailed() const;
  double Figure(const std::string& name, double fallback = -1) const;
};

struct PlayOptions {
  std::string source_dir;     // repository root (sim/scenarios/ lives there)
  std::string kube_balancer;  // path of the kube-balancer binary
  std::string prometheus = "prometheus";
  bool keep_work_dirs = false;
  int verbosity = 0;
  // Rescheduler plays: bounded waits for the outcome.
  std::chrono::seconds outcome_timeout{60};
};

// Play ids in demo order.
std::vector<std::string> PlayIds();
// Runs one play. Setup failures (a process that does not start, metrics that never arrive) are
// reported as a failed "setup" check.
PlayReport RunPlay(const std::string& id, const PlayOptions& options);

// Plain-text rendering: tables side by side with the checks.
std::string FormatReport(const PlayReport& report);
// A self-contained HTML page with one SVG bar chart per table (CPU, memory, pods per node).
std::string RenderHtml(const std::vector<PlayReport>& reports, const std::string& subtitle);

}  // namespace kb::sim
