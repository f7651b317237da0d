// kube-balancer: the process. Parses the command line, loads and validates the configuration
// (exit 2 on any error, before serving), then wires the real implementations together:
//   kubeconfig -> HttpKubeClient -> ClusterCache -> [PrometheusSource + MetricsRefresher]
//   -> LoadModel -> Extender -> ExtenderServer   + the leader-elected Rescheduler
// and runs until SIGTERM / SIGINT, stopping components in reverse order. The only place where
// concrete implementations are constructed.
#include <fcntl.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "core/logging.h"
#include "kube/cluster_cache.h"
#include "kube/http_kube_client.h"
#include "kube/kube_config.h"
#include "rescheduler/leader_elector.h"
#include "rescheduler/metrics.h"
#include "rescheduler/rescheduler.h"
#include "scoring/load_model.h"
#include "scoring/metrics.h"
#include "scoring/metrics_refresher.h"
#include "scoring/policy.h"
#include "scoring/prometheus_source.h"
#include "scoring/steering.h"
#include "server/extender.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace {

constexpr char kVersion[] = "kube-balancer 0.1.0";
constexpr int kExitUsage = 2;    // bad command line or configuration
constexpr int kExitStartup = 1;  // environment problems at start (kubeconfig, port, TLS files)

constexpr char kUsage[] =
    "Usage: kube-balancer --config FILE [--kubeconfig FILE] [-v N]\n"
    "\n"
    "Load-aware Kubernetes scheduler extender (filter / prioritize / bind) and rescheduler.\n"
    "\n"
    "  --config FILE      YAML configuration (every key: docs/configuration.md)\n"
    "  --kubeconfig FILE  kubeconfig to use; default: in-cluster service account, then\n"
    "                     $KUBECONFIG, then ~/.kube/config\n"
    "  -v N, --v=N        log verbosity: 0 info (default), 1-3 debug, 4+ trace\n"
    "  --version          print the version and exit\n"
    "  -h, --help         print this help and exit\n";

struct Flags {
  std::string config;
  std::string kubeconfig;
  int verbosity = 0;
};

// Signal handling: the handler only sets a flag and wakes main through a self-pipe
// (both async-signal-safe).
std::atomic<bool> g_stop{false};
int g_wake_fd = -1;

void OnSignal(int) {
  g_stop.store(true);
  if (g_wake_fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(g_wake_fd, &byte, 1);
  }
}

int UsageError(const std::string& message) {
  std::cerr << "kube-balancer: " << message << "\n\nRun 'kube-balancer --help' for usage.\n";
  return kExitUsage;
}

// Returns an exit code when the process should exit now (help, version, errors).
std::optional<int> ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_value = true;
    } else if (arg.rfind("-v", 0) == 0 && arg.size() > 2 && arg[2] != '=') {
      value = arg.substr(2);  // -v3
      arg = "-v";
      has_value = true;
    } else if (arg.rfind("-v=", 0) == 0) {
      value = arg.substr(3);
      arg = "-v";
      has_value = true;
    }
    auto take_value = [&](const std::string& name) -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      (void)name;
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << kVersion << "\n";
      return 0;
    }
    if (arg == "--config") {
      if (!take_value(arg) || value.empty()) return UsageError("--config needs a file");
      flags.config = value;
    } else if (arg == "--kubeconfig") {
      if (!take_value(arg) || value.empty()) return UsageError("--kubeconfig needs a file");
      flags.kubeconfig = value;
    } else if (arg == "-v" || arg == "--v") {
      if (!take_value(arg)) return UsageError(arg + " needs a number");
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 0 || v > 10) {
        return UsageError("invalid verbosity \"" + value + "\": expected 0..10");
      }
      flags.verbosity = static_cast<int>(v);
    } else {
      return UsageError("unknown flag \"" + std::string(argv[i]) + "\"");
    }
  }
  if (flags.config.empty()) return UsageError("--config FILE is required");
  return std::nullopt;
}

int Run(const Flags& flags) {
  kb::StatusOr<kb::Config> loaded = kb::LoadConfigFile(flags.config);
  if (!loaded.ok()) {
    std::cerr << "kube-balancer: invalid configuration: " << loaded.status().message() << "\n";
    return kExitUsage;
  }
  const kb::Config& config = *loaded;
  if (kb::Status s = kb::ConfigureLogging(config.log_format, flags.verbosity); !s.ok()) {
    std::cerr << "kube-balancer: " << s.message() << "\n";
    return kExitUsage;
  }
  kb::StatusOr<kb::server::ServerOptions> server_options =
      kb::server::ServerOptions::FromConfig(config);
  if (!server_options.ok()) {
    std::cerr << "kube-balancer: invalid configuration: " << server_options.status().message()
              << "\n";
    return kExitUsage;
  }
  auto log = kb::Logger("main");
  log->info(
      "starting version=\"{}\" config={} listen={} tls={} scheduler_name={} prometheus={} "
      "cpu_threshold={} memory_threshold={} rescheduler_enabled={} dry_run={}",
      kVersion, flags.config, config.listen, !config.tls.cert_file.empty(), config.scheduler_name,
      config.prometheus.url.empty() ? "(none: requests-based scoring)" : config.prometheus.url,
      config.rescheduler.cpu_threshold, config.rescheduler.memory_threshold,
      config.rescheduler.enabled, config.rescheduler.dry_run);

  // Signals: only a flag and a wake-up byte; everything else happens on this thread.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    log->error("cannot create the signal pipe error={}", std::strerror(errno));
    return kExitStartup;
  }
  g_wake_fd = pipe_fds[1];
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must not kill the process

  // Kubernetes API.
  kb::StatusOr<kb::kube::KubeConfig> kube_config =
      kb::kube::ResolveKubeConfig(flags.kubeconfig, kb::kube::KubeConfigEnv::FromProcess());
  if (!kube_config.ok()) {
    log->error("cannot find the Kubernetes API configuration error={}",
               kube_config.status().ToString());
    return kExitStartup;
  }
  kb::kube::HttpKubeClientOptions client_options;
  client_options.qps = config.kube_client.qps;
  client_options.burst = config.kube_client.burst;
  client_options.timeout = config.kube_client.timeout;
  kb::SystemClock& clock = kb::SystemClock::Instance();
  auto client = kb::kube::HttpKubeClient::Create(*kube_config, client_options, clock);
  if (!client.ok()) {
    log->error("cannot create the Kubernetes client source={} error={}", kube_config->source,
               client.status().ToString());
    return kExitStartup;
  }
  log->info("kubernetes api server={} source={}", kube_config->server, kube_config->source);

  prometheus::Registry registry;
  kb::scoring::ScoringMetrics scoring_metrics(registry);
  kb::server::ExtenderMetrics extender_metrics(registry);

  kb::kube::ClusterCache cache(**client, clock);

  // Metrics: only with a Prometheus URL; otherwise scoring uses requests / allocatable.
  std::unique_ptr<kb::scoring::PrometheusSource> source;
  std::unique_ptr<kb::scoring::MetricsRefresher> refresher;
  if (!config.prometheus.url.empty()) {
    source = std::make_unique<kb::scoring::PrometheusSource>(config.prometheus);
    refresher = std::make_unique<kb::scoring::MetricsRefresher>(
        *source, [&cache] { return cache.Snapshot(); }, clock, config.prometheus, &scoring_metrics);
    log->info("metrics source={} refresh_interval={} max_age={}", source->Describe(),
              kb::FormatDuration(config.prometheus.refresh_interval),
              kb::FormatDuration(config.prometheus.max_age));
  }

  kb::scoring::LoadModelOptions model_options;
  model_options.scoring = config.scoring;
  model_options.metrics_enabled = refresher != nullptr;
  model_options.max_age = config.prometheus.max_age;
  kb::scoring::LoadModel::MetricsProvider metrics_provider;
  if (refresher) metrics_provider = [&refresher] { return refresher->Snapshot(); };
  kb::scoring::LoadModel model([&cache] { return cache.Snapshot(); }, metrics_provider, clock,
                               model_options, &scoring_metrics);
  cache.AddPodHandler([&model](const kb::PodEvent& e) { model.OnPodEvent(e); });
  if (refresher) refresher->AddListener([&model] { model.Notify(); });

  // Shared with the rescheduler: it steers replacements of the pods it moves.
  kb::scoring::Steering steering(clock);

  kb::server::Extender extender(model, **client, kb::scoring::PolicyConfig::From(config),
                                extender_metrics, &steering, [&cache] { return cache.Snapshot(); });
  kb::server::ExtenderServer server(extender, registry, extender_metrics, *server_options,
                                    [&cache] { return cache.Synced(); });

  // Rescheduler (leader-elected; acts only while holding the Lease). Built before model.Start()
  // because binding listeners must be registered before the model's thread runs.
  std::unique_ptr<kb::resched::ReschedulerMetrics> resched_metrics;
  std::unique_ptr<kb::resched::LeaderElector> elector;
  std::unique_ptr<kb::resched::Rescheduler> rescheduler;
  if (config.rescheduler.enabled) {
    resched_metrics = std::make_unique<kb::resched::ReschedulerMetrics>(registry);
    std::string identity = config.rescheduler.leader_election.identity;
    if (config.rescheduler.leader_election.enabled) {
      elector = std::make_unique<kb::resched::LeaderElector>(
          **client, clock, config.rescheduler.leader_election, kb::resched::LeaderCallbacks{},
          resched_metrics.get());
      identity = elector->identity();
    } else if (identity.empty()) {
      identity = kb::resched::LeaderElector::DefaultIdentity();
    }
    kb::resched::ReschedulerOptions resched_options;
    resched_options.identity = identity;
    rescheduler = std::make_unique<kb::resched::Rescheduler>(
        config.rescheduler, kb::scoring::PolicyConfig::From(config), **client,
        [&cache]() -> std::shared_ptr<const kb::ClusterSnapshot> {
          return cache.Synced() ? cache.Snapshot() : nullptr;  // no cycle before the first sync
        },
        [&model] { return model.Snapshot(); }, clock, &steering, resched_metrics.get(),
        elector.get(), resched_options);  // elector null: leader election disabled, always acts
    model.AddBindingListener(
        [r = rescheduler.get()](const kb::scoring::NodeLoad& load) { r->OnBinding(load); });
    log->info("rescheduler enabled identity={} leader_election={} strategies={}", identity,
              config.rescheduler.leader_election.enabled,
              fmt::join(config.rescheduler.enabled_strategies, ","));
  }
  server.AddGetRoute("/debug/plan", [&rescheduler] {
    return rescheduler ? rescheduler->PlanJson().dump()
                       : std::string(R"({"enabled":false,"moves":[]})");
  });

  // Start, bottom up. The server starts before the cache has synced: /healthz answers at once
  // and /readyz stays 503 until the first list of every kind completed.
  cache.Start();
  model.Start();
  if (kb::Status s = server.Start(); !s.ok()) {
    log->error("cannot start the extender server error={}", s.ToString());
    model.Stop();
    cache.Stop();
    return kExitStartup;
  }

  // Rescheduler: started after the server so /healthz answers while it waits for the Lease.
  if (elector) elector->Start();
  if (rescheduler) rescheduler->Start();

  // Wait for a signal. Until the cache has synced, wake every 100 ms to start the metrics
  // refresher right after the sync (so its first refresh can map samples to the cluster's
  // nodes); afterwards block until a signal arrives.
  bool refresher_started = false;
  while (!g_stop.load()) {
    if (!refresher_started && cache.Synced()) {
      const auto snapshot = cache.Snapshot();
      log->info("cluster cache synced nodes={} pods={}",
                snapshot && snapshot->nodes ? snapshot->nodes->size() : 0,
                snapshot ? snapshot->PodCount() : 0);
      if (refresher) refresher->Start();
      refresher_started = true;
    }
    struct pollfd pfd = {pipe_fds[0], POLLIN, 0};
    ::poll(&pfd, 1, refresher_started ? -1 : 100);
    char drain[16];
    while (::read(pipe_fds[0], drain, sizeof(drain)) > 0) {
    }
  }
  log->info("shutting down");

  // Stop, top down (reverse order of start): the rescheduler first (the elector releases the
  // Lease so a standby takes over at once), then the server.
  if (rescheduler) rescheduler->Stop();
  if (elector) elector->Stop();
  server.Stop();
  if (refresher) refresher->Stop();
  model.Stop();
  cache.Stop();
  g_wake_fd = -1;
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  log->info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, flags)) return *exit_code;
  try {
    return Run(flags);
  } catch (const std::exception& e) {
    std::cerr << "kube-balancer: fatal: " << e.what() << "\n";
    return kExitStartup;
  }
}
