// App: the serving process's composition root, the one place the real implementations are built
// and wired together:
//   kubeconfig -> HttpKubeClient -> ClusterCache -> [PrometheusSource + MetricsRefresher]
//   -> LoadModel -> Extender -> ExtenderServer   + the leader-elected Rescheduler
// Create() builds everything (no I/O beyond reading the kubeconfig), Start() starts it bottom up,
// Run() waits for the stop signal, Stop() stops top down. Used by main() only; not thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace kb::server {

struct AppOptions {
  std::string kubeconfig;   // --kubeconfig ("" = in-cluster, $KUBECONFIG, ~/.kube/config)
  std::string config_path;  // for the start-up log line
  std::string version;
};

class App {
 public:
  // InvalidArgument for a configuration the server cannot use (exit 2); other codes for the
  // environment (kubeconfig, client set-up: exit 1).
  static StatusOr<std::unique_ptr<App>> Create(const Config& config, const AppOptions& options);
  ~App();  // Stops.
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Starts the cache, the model, the server (its listen error is returned), then the elector and
  // the rescheduler.
  Status Start();
  // Blocks until `stop` is set; `wake_fd` becomes readable when it may have changed. Starts the
  // metrics refresher once the cache has synced (its first refresh maps samples to nodes).
  void Run(const std::atomic<bool>& stop, int wake_fd);
  // Stops everything, top down. Idempotent.
  void Stop();

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace kb::server
