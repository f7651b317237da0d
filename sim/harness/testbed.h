// Testbed: the whole product on one machine for the demo and the e2e tests: kube-sim
// in process (API server, scheduler driver, node metrics + node_exporter endpoint), a real
// Prometheus scraping it every second with the node label set as kube-prometheus does, and a
// real kube-balancer process (extender + rescheduler) talking to both. Everything binds
// 127.0.0.1, lives in one temporary directory and is stopped by PID when the Testbed goes away.
// Its ClusterObserver (sim/harness/observer.h) records what happened to pods as ground truth for
// assertions.
// Thread-safety: a Testbed is driven by one thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/harness/observer.h"
#include "sim/harness/process.h"
#include "sim/sim_cluster.h"

namespace kb::sim {

struct TestbedOptions {
  std::string name = "testbed";  // for logs and the work directory name
  std::string scenario_file;     // loaded into kube-sim (or `scenario` when empty)
  nlohmann::json scenario;
  std::string kube_balancer;              // path of the kube-balancer binary (required)
  std::string prometheus = "prometheus";  // path, or name looked up in PATH
  std::string work_dir;                   // "" = a fresh temporary directory
  bool keep_work_dir = false;             // keep the temporary directory (logs) afterwards
  std::string rate_window = "5s";         // prometheus.rateWindow (>= 4 scrape intervals)
  int scrape_interval_seconds = 1;
  // How kube-sim's scheduler driver registers kube-balancer (KubeSchedulerConfiguration terms).
  int64_t extender_weight = 5;
  bool node_cache_capable = true;
  bool extender_binds = true;  // bindVerb: bind
  bool ignorable = false;
  // kube-balancer configuration merged (JSON merge patch) over the testbed defaults: listen,
  // prometheus (url, rateWindow, refreshInterval 1s), rescheduler (interval 2s,
  // consecutiveCycles 2, steeringSyncInterval 200ms, short leader election).
  nlohmann::json config = nlohmann::json::object();
  bool rescheduler = false;  // rescheduler.enabled
  // Two kube-balancer replicas: one is started first and waited for until it holds the
  // rescheduler Lease; kube-sim's scheduler calls the other one, which is not the leader (as when
  // kube-scheduler reaches any replica behind a Service). Steering must reach it through the
  // published steering ConfigMap.
  bool two_replicas = false;
  int verbosity = 0;  // kube-balancer -v
  std::chrono::seconds startup_timeout{30};
};

class Testbed {
 public:
  // Starts kube-sim, Prometheus and kube-balancer and waits until kube-balancer is ready.
  static StatusOr<std::unique_ptr<Testbed>> Start(TestbedOptions options);
  ~Testbed();  // Stop()
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;
  // Stops kube-balancer, Prometheus and kube-sim (by PID, in reverse order). Idempotent.
  void Stop();

  SimCluster& cluster();
  ClusterObserver& observer();
  const std::string& work_dir() const;
  std::string prometheus_url() const;
  std::string kube_balancer_url() const;
  // The replica holding the rescheduler Lease with two_replicas, else kube_balancer_url().
  std::string leader_url() const;
  bool KubeBalancerRunning();
  std::string KubeBalancerLog(int lines = 40) const;

  // Waits until Prometheus' answer to kube-balancer's default CPU query matches every node's
  // simulated CPU within `tolerance` percentage points and its memory query does too, then until
  // kube-balancer has refreshed its metrics after that moment.
  Status WaitForMetrics(std::chrono::milliseconds timeout, double tolerance = 2.0);
  // Runs an instant query; result: label `node` (else `instance`) -> value.
  StatusOr<std::map<std::string, double>> QueryByNode(const std::string& promql) const;
  // kube-balancer's /metrics text.
  StatusOr<std::string> KubeBalancerMetrics() const;
  // GET `path` from the replica kube-sim's scheduler calls, or from the leader replica.
  StatusOr<std::string> KubeBalancerGet(const std::string& path, bool leader = false) const;
  // True when kube-balancer runs a rescheduler (its leader gauge is exported); waits up to
  // `timeout` for this instance (with two_replicas: the leader replica) to become the leader
  // when `wait_leader`.
  bool ReschedulerRunning(std::chrono::milliseconds timeout, bool wait_leader);

 private:
  Testbed() = default;
  Status StartAll();
  Status StartKubeSim();
  Status StartPrometheus();
  Status StartKubeBalancer();
  // Starts one kube-balancer process listening on *port (another free port is tried when it exits
  // before it is ready); `tag` names its config and log files.
  Status StartBalancerProcess(const std::string& tag, int* port,
                              std::unique_ptr<ChildProcess>* process);
  TestbedOptions options_;
  std::unique_ptr<TempDir> tmp_;
  std::string work_dir_;
  std::unique_ptr<SimCluster> cluster_;
  std::unique_ptr<ClusterObserver> observer_;
  std::unique_ptr<ChildProcess> prometheus_;
  std::unique_ptr<ChildProcess> balancer_;
  std::unique_ptr<ChildProcess> leader_;  // two_replicas: the replica holding the Lease
  int leader_port_ = 0;
  int prometheus_port_ = 0;
  int balancer_port_ = 0;
};

}  // namespace kb::sim
