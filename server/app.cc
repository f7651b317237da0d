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
#include "rescheduler/steering_sync.h"
#include "scoring/load_model.h"
#include "scoring/metrics.h"
#include "scoring/metrics_refresher.h"
#include "scoring/metrics_server_source.h"
#include "scoring/policy.h"
#include "scoring/prometheus_source.h"
#include "scoring/source_choice.h"
#include "scoring/steering.h"
#include "server/cache_health.h"
#include "server/extender.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/process_metrics.h"

namespace kb::server {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("main"); }

}  // namespace

// Members in construction order; destroyed in reverse.
struct App::Parts {
  Config config;
  Clock& clock = SystemClock::Instance();
  prometheus::Registry registry;
  MetricsExposition exposition{registry};  // /metrics: the registry plus process_* series
  std::unique_ptr<ConfigGauges> config_gauges;
  std::unique_ptr<kube::HttpKubeClient> client;
  std::unique_ptr<scoring::ScoringMetrics> scoring_metrics;
  std::unique_ptr<ExtenderMetrics> extender_metrics;
  std::unique_ptr<kube::ClusterCache> cache;
  std::unique_ptr<CacheHealth> cache_health;
  std::unique_ptr<scoring::MetricsSource> source;
  std::unique_ptr<scoring::MetricsRefresher> refresher;
  std::unique_ptr<scoring::LoadModel> model;
  std::unique_ptr<scoring::Steering> steering;
  std::unique_ptr<Extender> extender;
  std::unique_ptr<ExtenderServer> server;
  std::unique_ptr<resched::ReschedulerMetrics> resched_metrics;
  std::unique_ptr<resched::LeaderElector> elector;
  std::unique_ptr<resched::Rescheduler> rescheduler;
  std::unique_ptr<resched::SteeringSyncMetrics> steering_metrics;
  std::unique_ptr<resched::SteeringSync> steering_sync;
  bool started = false;
  bool refresher_started = false;

  Status BuildClient(const AppOptions& options);
  void BuildScoring();
  scoring::SourceChoice BuildSource();
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
  client_options.idle_connection_timeout = config.kube_client.idle_connection_timeout;
  auto created = kube::HttpKubeClient::Create(*kube_config, client_options, clock);
  if (!created.ok()) {
    return Status::FailedPrecondition("cannot create the Kubernetes client (source " +
                                      kube_config->source + "): " + created.status().ToString());
  }
  client = std::move(created).value();
  Log()->info("kubernetes api server={} source={}", kube_config->server, kube_config->source);
  return Status::Ok();
}

// Chooses the load source (metrics.source) and builds it; null for none.
scoring::SourceChoice App::Parts::BuildSource() {
  kube::KubeClient* kube_client = client.get();
  // The probe and the source's lists go through the Kubernetes client: its auth and QPS limit.
  const scoring::SourceChoice choice = scoring::ChooseMetricsSource(config, [kube_client] {
    return kube_client->GetRaw(std::string(scoring::kNodeMetricsPath) + "?limit=1").status();
  });
  if (choice.source == kMetricsSourcePrometheus) {
    source = std::make_unique<scoring::PrometheusSource>(config.prometheus);
    const PrometheusConfig& p = config.prometheus;
    if (p.cpu_timestamp_query.empty() || p.memory_timestamp_query.empty()) {
      Log()->warn(
          "a custom prometheus cpuQuery/memoryQuery has no cpuTimestampQuery/memoryTimestampQuery: "
          "its sample age is the query evaluation time, so an exporter whose series froze is not "
          "seen as stale while Prometheus still returns it");
    }
  } else if (choice.source == kMetricsSourceMetricsServer) {
    source = std::make_unique<scoring::MetricsServerSource>(
        [kube_client](const std::string& path) { return kube_client->GetRaw(path); });
  }
  scoring_metrics->SetMetricsSource(choice.source);
  Log()->info("metrics source={} reason=\"{}\" refresh_interval={} max_age={}", choice.source,
              choice.reason, FormatDuration(config.prometheus.refresh_interval),
              FormatDuration(config.prometheus.max_age));
  return choice;
}

void App::Parts::BuildScoring() {
  scoring_metrics = std::make_unique<scoring::ScoringMetrics>(registry);
  extender_metrics = std::make_unique<ExtenderMetrics>(registry);
  cache = std::make_unique<kube::ClusterCache>(*client, clock);
  cache_health =
      std::make_unique<CacheHealth>(*cache, config.kube_client.max_cache_staleness, registry);
  kube::ClusterCache& c = *cache;
  // Without a source, scoring uses requests / allocatable.
  const scoring::SourceChoice choice = BuildSource();
  if (source) {
    refresher = std::make_unique<scoring::MetricsRefresher>(
        *source, [&c] { return c.Snapshot(); }, clock, config.prometheus, scoring_metrics.get());
  }
  scoring::LoadModelOptions model_options;
  model_options.scoring = config.scoring;
  model_options.metrics_enabled = refresher != nullptr;
  model_options.max_age = config.prometheus.max_age;
  model_options.metrics_source = choice.source;
  model_options.metrics_source_reason = choice.reason;
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
  // /readyz: every kind listed and none out of sync longer than kubeClient.maxCacheStaleness.
  server =
      std::make_unique<ExtenderServer>(*extender, exposition, *extender_metrics, *server_options,
                                       [h = cache_health.get()] { return h->Update(); });
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
    // The rescheduler acts only while every watched kind is current (see SyncGateReason).
    rescheduler->SetSyncProvider([&c] {
      std::vector<resched::KindSync> kinds;
      for (const kube::KindSyncState& k : c.SyncStates()) {
        kinds.push_back({kube::ResourceKindName(k.kind), k.listed, k.connected, k.confirmed});
      }
      return kinds;
    });
    model->AddBindingListener(
        [r = rescheduler.get()](const scoring::NodeLoad& load) { r->OnBinding(load); });
    // Steering on every replica: the leader publishes its decisions, every replica reads them.
    steering_metrics = std::make_unique<resched::SteeringSyncMetrics>(registry);
    std::function<bool()> is_leader;
    if (elector) is_leader = [e = elector.get()] { return e->IsLeader(); };
    steering_sync = std::make_unique<resched::SteeringSync>(
        *client, *steering, clock, resched::SteeringSyncOptions::From(config.rescheduler, identity),
        std::move(is_leader), steering_metrics.get());
    steering_sync->PublishOnSteer();
    Log()->info("rescheduler enabled identity={} leader_election={} strategies={}", identity,
                config.rescheduler.leader_election.enabled,
                fmt::join(config.rescheduler.enabled_strategies, ","));
  }
  server->AddGetRoute("/debug/plan", [r = rescheduler.get()] {
    return r != nullptr ? r->PlanJson().dump() : std::string(R"({"enabled":false,"moves":[]})");
  });
  server->AddGetRoute("/debug/steering", [s = steering_sync.get()] {
    return s != nullptr ? s->DebugJson().dump()
                        : std::string(R"({"enabled":false,"readable":false,"entries":[]})");
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
  // "kube-balancer 0.1.0" -> version label "0.1.0".
  AddBuildInfo(parts->registry, options.version.substr(options.version.rfind(' ') + 1),
               BuildRevision());
  parts->config_gauges = std::make_unique<ConfigGauges>(parts->registry);
  parts->config_gauges->Set(config);
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
  if (p.steering_sync) p.steering_sync->Start();
  if (p.rescheduler) p.rescheduler->Start();
  return Status::Ok();
}

void App::Run(const std::atomic<bool>& stop, int wake_fd) {
  Parts& p = *parts_;
  // Until the cache has synced, wake every 100 ms to start the metrics refresher right after the
  // sync; afterwards every second, to keep the cache's health gauges current between scrapes of
  // /readyz.
  while (!stop.load()) {
    p.cache_health->Update();
    if (!p.refresher_started && p.cache->Synced()) {
      const auto snapshot = p.cache->Snapshot();
      Log()->info("cluster cache synced nodes={} pods={}",
                  snapshot && snapshot->nodes ? snapshot->nodes->size() : 0,
                  snapshot ? snapshot->PodCount() : 0);
      if (p.refresher) p.refresher->Start();
      p.refresher_started = true;
    }
    struct pollfd pfd = {wake_fd, POLLIN, 0};
    ::poll(&pfd, 1, p.refresher_started ? 1000 : 100);
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
  if (p.steering_sync) p.steering_sync->Stop();
  if (p.elector) p.elector->Stop();
  p.server->Stop();
  if (p.refresher) p.refresher->Stop();
  p.model->Stop();
  p.cache->Stop();
}

}  // namespace kb::server
