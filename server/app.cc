#include "server/app.h"

#include <poll.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include "core/clock.h"
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

namespace kb::server {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("main"); }

}  // namespace

// Members in construction order; destroyed in reverse.
struct App::Parts {
  Config config;
  Clock& clock = SystemClock::Instance();
  prometheus::Registry registry;
  std::unique_ptr<kube::HttpKubeClient> client;
  std::unique_ptr<scoring::ScoringMetrics> scoring_metrics;
  std::unique_ptr<ExtenderMetrics> extender_metrics;
  std::unique_ptr<kube::ClusterCache> cache;
  std::unique_ptr<scoring::PrometheusSource> source;
  std::unique_ptr<scoring::MetricsRefresher> refresher;
  std::unique_ptr<scoring::LoadModel> model;
  std::unique_ptr<scoring::Steering> steering;
  std::unique_ptr<Extender> extender;
  std::unique_ptr<ExtenderServer> server;
  std::unique_ptr<resched::ReschedulerMetrics> resched_metrics;
  std::unique_ptr<resched::LeaderElector> elector;
  std::unique_ptr<resched::Rescheduler> rescheduler;
  bool started = false;
  bool refresher_started = false;

  Status BuildClient(const AppOptions& options);
  void BuildScoring();
  Status BuildServer();
  void BuildRescheduler();
};

Status App::Parts::BuildClient(const AppOptions& options) {
  StatusOr<kube::KubeConfig> kube_config =
      kube::ResolveKubeConfig(options.kubeconfig, kube::KubeConfigEnv::FromProcess());
  if (!kube_config.ok()) {
    return Status::FailedPrecondition("cannot find the Kubernetes API configuration: " +
                                      kube_config.status().ToString());
  }
  kube::HttpKubeClientOptions client_options;
  client_options.qps = config.kube_client.qps;
  client_options.burst = config.kube_client.burst;
  client_options.timeout = config.kube_client.timeout;
  auto created = kube::HttpKubeClient::Create(*kube_config, client_options, clock);
  if (!created.ok()) {
    return Status::FailedPrecondition("cannot create the Kubernetes client (source " +
                                      kube_config->source + "): " + created.status().ToString());
  }
  client = std::move(created).value();
  Log()->info("kubernetes api server={} source={}", kube_config->server, kube_config->source);
  return Status::Ok();
}

void App::Parts::BuildScoring() {
  scoring_metrics = std::make_unique<scoring::ScoringMetrics>(registry);
  extender_metrics = std::make_unique<ExtenderMetrics>(registry);
  cache = std::make_unique<kube::ClusterCache>(*client, clock);
  kube::ClusterCache& c = *cache;
  // Metrics: only with a Prometheus URL; otherwise scoring uses requests / allocatable.
  if (!config.prometheus.url.empty()) {
    source = std::make_unique<scoring::PrometheusSource>(config.prometheus);
    refresher = std::make_unique<scoring::MetricsRefresher>(
        *source, [&c] { return c.Snapshot(); }, clock, config.prometheus, scoring_metrics.get());
    Log()->info("metrics source={} refresh_interval={} max_age={}", source->Describe(),
                FormatDuration(config.prometheus.refresh_interval),
                FormatDuration(config.prometheus.max_age));
  }
  scoring::LoadModelOptions model_options;
  model_options.scoring = config.scoring;
  model_options.metrics_enabled = refresher != nullptr;
  model_options.max_age = config.prometheus.max_age;
  scoring::LoadModel::MetricsProvider metrics_provider;
  if (refresher) metrics_provider = [r = refresher.get()] { return r->Snapshot(); };
  model = std::make_unique<scoring::LoadModel>([&c] { return c.Snapshot(); }, metrics_provider,
                                               clock, model_options, scoring_metrics.get());
  cache->AddPodHandler([m = model.get()](const PodEvent& e) { m->OnPodEvent(e); });
  if (refresher) refresher->AddListener([m = model.get()] { m->Notify(); });
  // Shared with the rescheduler: it steers replacements of the pods it moves.
  steering = std::make_unique<scoring::Steering>(clock);
}

Status App::Parts::BuildServer() {
  StatusOr<ServerOptions> server_options = ServerOptions::FromConfig(config);
  if (!server_options.ok()) return server_options.status();
  kube::ClusterCache& c = *cache;
  extender =
      std::make_unique<Extender>(*model, *client, scoring::PolicyConfig::From(config),
                                 *extender_metrics, steering.get(), [&c] { return c.Snapshot(); });
  server = std::make_unique<ExtenderServer>(*extender, registry, *extender_metrics, *server_options,
                                            [&c] { return c.Synced(); });
  return Status::Ok();
}

void App::Parts::BuildRescheduler() {
  // Built before model->Start(): binding listeners must be registered before the model's thread
  // runs.
  if (config.rescheduler.enabled) {
    resched_metrics = std::make_unique<resched::ReschedulerMetrics>(registry);
    std::string identity = config.rescheduler.leader_election.identity;
    if (config.rescheduler.leader_election.enabled) {
      elector = std::make_unique<resched::LeaderElector>(
          *client, clock, config.rescheduler.leader_election, resched::LeaderCallbacks{},
          resched_metrics.get());
      identity = elector->identity();
    } else if (identity.empty()) {
      identity = resched::LeaderElector::DefaultIdentity();
    }
    resched::ReschedulerOptions resched_options;
    resched_options.identity = identity;
    kube::ClusterCache& c = *cache;
    rescheduler = std::make_unique<resched::Rescheduler>(
        config.rescheduler, scoring::PolicyConfig::From(config), *client,
        [&c]() -> std::shared_ptr<const ClusterSnapshot> {
          return c.Synced() ? c.Snapshot() : nullptr;  // no cycle before the first sync
        },
        [m = model.get()] { return m->Snapshot(); }, clock, steering.get(), resched_metrics.get(),
        elector.get(),
        resched_options);  // elector null: leader election disabled, always acts
    model->AddBindingListener(
        [r = rescheduler.get()](const scoring::NodeLoad& load) { r->OnBinding(load); });
    Log()->info("rescheduler enabled identity={} leader_election={} strategies={}", identity,
                config.rescheduler.leader_election.enabled,
                fmt::join(config.rescheduler.enabled_strategies, ","));
  }
  server->AddGetRoute("/debug/plan", [r = rescheduler.get()] {
    return r != nullptr ? r->PlanJson().dump() : std::string(R"({"enabled":false,"moves":[]})");
  });
}

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

App::~App() { Stop(); }

StatusOr<std::unique_ptr<App>> App::Create(const Config& config, const AppOptions& options) {
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  // The server's options are checked first: a bad listen address is a configuration error.
  KB_RETURN_IF_ERROR(ServerOptions::FromConfig(config).status());
  Log()->info(
      "starting version=\"{}\" config={} listen={} metrics_listen={} tls={} scheduler_name={} "
      "prometheus={} cpu_threshold={} memory_threshold={} rescheduler_enabled={} dry_run={}",
      options.version, options.config_path, config.listen,
      config.metrics_listen.empty() ? "(on listen)" : config.metrics_listen,
      !config.tls.cert_file.empty(), config.scheduler_name,
      config.prometheus.url.empty() ? "(none: requests-based scoring)" : config.prometheus.url,
      config.rescheduler.cpu_threshold, config.rescheduler.memory_threshold,
      config.rescheduler.enabled, config.rescheduler.dry_run);
  KB_RETURN_IF_ERROR(parts->BuildClient(options));
  parts->BuildScoring();
  KB_RETURN_IF_ERROR(parts->BuildServer());
  parts->BuildRescheduler();
  return std::unique_ptr<App>(new App(std::move(parts)));
}

Status App::Start() {
  Parts& p = *parts_;
  // Bottom up. The server starts before the cache has synced: /healthz answers at once and
  // /readyz stays 503 until the first list of every kind completed.
  p.cache->Start();
  p.model->Start();
  p.started = true;
  if (Status s = p.server->Start(); !s.ok()) return s;
  // Started after the server so /healthz answers while it waits for the Lease.
  if (p.elector) p.elector->Start();
  if (p.rescheduler) p.rescheduler->Start();
  return Status::Ok();
}

void App::Run(const std::atomic<bool>& stop, int wake_fd) {
  Parts& p = *parts_;
  // Until the cache has synced, wake every 100 ms to start the metrics refresher right after the
  // sync; afterwards block until the wake fd fires.
  while (!stop.load()) {
    if (!p.refresher_started && p.cache->Synced()) {
      const auto snapshot = p.cache->Snapshot();
      Log()->info("cluster cache synced nodes={} pods={}",
                  snapshot && snapshot->nodes ? snapshot->nodes->size() : 0,
                  snapshot ? snapshot->PodCount() : 0);
      if (p.refresher) p.refresher->Start();
      p.refresher_started = true;
    }
    struct pollfd pfd = {wake_fd, POLLIN, 0};
    ::poll(&pfd, 1, p.refresher_started ? -1 : 100);
    char drain[16];
    while (::read(wake_fd, drain, sizeof(drain)) > 0) {
    }
  }
}

void App::Stop() {
  Parts& p = *parts_;
  if (!p.started) return;
  p.started = false;
  // Top down (reverse order of start): the rescheduler first (the elector releases the Lease so
  // a standby takes over at once), then the server.
  if (p.rescheduler) p.rescheduler->Stop();
  if (p.elector) p.elector->Stop();
  p.server->Stop();
  if (p.refresher) p.refresher->Stop();
  p.model->Stop();
  p.cache->Stop();
}

}  // namespace kb::server
