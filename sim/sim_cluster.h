// SimCluster: kube-sim as a whole: the API server plus the scheduler driver, the node
// metrics and their node_exporter endpoint, and the scenario's steps. The kube-sim binary, the
// demo and the e2e tests all build the cluster through it, so they behave the same.
// Thread-safe as its parts: Start / Stop / ApplyStep may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "sim/api_server.h"
#include "sim/node_metrics.h"
#include "sim/scenario_steps.h"
#include "sim/scheduler_driver.h"

namespace kb::sim {

struct SimClusterOptions {
  ApiServerOptions api;  // api.clock: time of the whole cluster (nullptr = SystemClock)
  std::string host = "127.0.0.1";
  int port = 0;  // API server port (0 = any free port)

  // Scheduler driver: runs when `scheduler` is true or the scenario has a `scheduler:` section.
  // `driver` holds the defaults; the scenario section is applied on top of them, then
  // `driver_overrides` (command-line flags) on top of that.
  bool scheduler = false;
  SchedulerDriverOptions driver;
  std::function<void(SchedulerDriverOptions*)> driver_overrides;
  // Start the driver only with StartScheduler() (e.g. once the extender is up), not in Start().
  bool defer_scheduler = false;

  // Node metrics: always computed; served over HTTP when metrics_port >= 0 (0 = any free port).
  NodeMetricsOptions metrics;
  std::string metrics_host = "127.0.0.1";
  int metrics_port = -1;

  // Apply the scenario's steps at their `at` times after Start() (the kube-sim binary). The demo
  // and the tests leave it off and call ApplyStep() themselves.
  bool play_steps = false;
};

class SimCluster {
 public:
  explicit SimCluster(SimClusterOptions options);
  ~SimCluster();  // Stops.
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;

  // Loads a scenario (before Start): its objects, `scheduler:` section and `steps:`.
  Status LoadScenario(const nlohmann::json& scenario);
  Status LoadScenarioFile(const std::string& path);

  // Starts the API server, the node-metrics endpoint and the scheduler driver (when enabled).
  Status Start();
  void Stop();  // Idempotent; stops in reverse order.
  // Starts the scheduler driver after a deferred Start(). Idempotent; FailedPrecondition when the
  // cluster is not started or the driver is not enabled.
  Status StartScheduler();

  // Applies the scenario step named `name` now. NotFound for an unknown step.
  Status ApplyStep(const std::string& name);
  const std::vector<ScenarioStep>& steps() const;

  ApiServer& api();
  NodeMetrics& metrics();
  SchedulerDriver* driver();  // null when the driver does not run
  // The driver options in effect (defaults + scenario section + overrides).
  const SchedulerDriverOptions& driver_options() const;
  bool scheduler_enabled() const;
  int metrics_port() const;         // -1 when not served
  std::string metrics_url() const;  // "" when not served
  const nlohmann::json& scenario() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets the level ("trace", "debug", "info", "warn", ...) of kube-sim's logger and of every other
// logger of the process (for the kube-sim and demo binaries).
void SetLogLevel(const std::string& level);

// "a,b,,c" -> {"a", "b", "c"}: comma-separated command-line lists (empty items dropped).
std::vector<std::string> SplitCommaList(const std::string& s);

}  // namespace kb::sim
