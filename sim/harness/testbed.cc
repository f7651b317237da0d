#include "sim/harness/testbed.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/config.h"
#include "core/logging.h"
#include "sim/k8s_json.h"
#include "test/testing/poll.h"

namespace kb::sim {

using json = nlohmann::json;
using namespace std::chrono_literals;

// ---- Testbed ----------------------------------------------------------------------------------

namespace {

std::string PrometheusConfig(int scrape_seconds, int metrics_port,
                             const std::vector<std::string>& nodes) {
  // kube-prometheus' node-exporter relabeling sets `instance` to the node name; we also set the
  // `node` label kube-balancer's default queries group by, and point each target at its node.
  std::ostringstream out;
  out << "global:\n"
      << "  scrape_interval: " << scrape_seconds << "s\n"
      << "  scrape_timeout: " << scrape_seconds << "s\n"
      << "  evaluation_interval: " << scrape_seconds << "s\n"
      << "scrape_configs:\n"
      << "  - job_name: node-exporter\n"
      << "    static_configs:\n";
  for (const std::string& n : nodes) {
    out << "      - targets: ['127.0.0.1:" << metrics_port << "']\n"
        << "        labels: {node: '" << n << "'}\n";
  }
  out << "    relabel_configs:\n"
      << "      - {source_labels: [node], target_label: __metrics_path__, "
         "replacement: '/metrics/nodes/$1'}\n"
      << "      - {source_labels: [node], target_label: instance}\n";
  return out.str();
}

StatusOr<std::string> HttpGet(const std::string& base, const std::string& path,
                              std::chrono::milliseconds timeout = 2000ms) {
  httplib::Client client(base);
  client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  auto res = client.Get(path);
  if (!res)
    return Status::Unavailable("GET " + base + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200) {
    return Status::Unavailable("GET " + base + path + ": HTTP " + std::to_string(res->status));
  }
  return res->body;
}

// The value of the first sample of `metric` (exact name, any labels) in a text exposition.
std::optional<double> MetricValue(const std::string& text, const std::string& metric) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric, 0) != 0 || line.size() <= metric.size()) continue;
    const char next = line[metric.size()];
    if (next != ' ' && next != '{') continue;
    const size_t space = line.rfind(' ');
    return std::strtod(line.c_str() + space + 1, nullptr);
  }
  return std::nullopt;
}

// How often the testbed looks at its processes while it waits.
constexpr std::chrono::milliseconds kPoll{20};

// A kubeconfig for kube-balancer: kube-sim's URL and bearer token.
json Kubeconfig(const std::string& server, const std::string& token) {
  return {{"apiVersion", "v1"},
          {"kind", "Config"},
          {"clusters", {{{"name", "kube-sim"}, {"cluster", {{"server", server}}}}}},
          {"users", {{{"name", "e2e"}, {"user", {{"token", token}}}}}},
          {"contexts",
           {{{"name", "kube-sim"}, {"context", {{"cluster", "kube-sim"}, {"user", "e2e"}}}}}},
          {"current-context", "kube-sim"}};
}

// kube-balancer's configuration in the testbed: the defaults below, with options.config merged
// over them (JSON merge patch).
json BalancerConfig(int port, const std::string& prometheus_url, const TestbedOptions& o) {
  json config = {{"listen", "127.0.0.1:" + std::to_string(port)},
                 {"schedulerName", "kube-balancer"},
                 {"prometheus",
                  {{"url", prometheus_url},
                   {"nodeLabel", "node"},
                   {"rateWindow", o.rate_window},
                   {"refreshInterval", "1s"},
                   {"timeout", "2s"}}},
                 {"rescheduler",
                  {{"enabled", o.rescheduler},
                   {"reschedulingInterval", "2s"},
                   {"consecutiveCycles", 2},
                   {"steeringSyncInterval", "200ms"},
                   {"leaderElection",
                    {{"leaseDuration", "6s"}, {"renewDeadline", "4s"}, {"retryPeriod", "1s"}}}}},
                 {"kubeClient", {{"qps", 500}, {"burst", 1000}}}};
  config.merge_patch(o.config);
  return config;
}

// "" when Prometheus' answers to `cpu_query` and `memory_query` match every node's simulated
// usage within `tolerance` percentage points, else what does not match yet.
std::string MetricsMismatch(Testbed& tb, const std::string& cpu_query,
                            const std::string& memory_query, double tolerance) {
  auto cpu = tb.QueryByNode(cpu_query);
  if (!cpu.ok()) return cpu.status().message();
  auto mem = tb.QueryByNode(memory_query);
  if (!mem.ok()) return mem.status().message();
  for (const NodeSample& s : tb.cluster().metrics().Samples()) {
    auto c = cpu->find(s.name);
    auto m = mem->find(s.name);
    if (c == cpu->end() || m == mem->end()) return "no sample yet for node " + s.name;
    if (std::abs(c->second - s.CpuPercent()) > tolerance ||
        std::abs(m->second - s.MemoryPercent()) > tolerance) {
      return "node " + s.name + ": prometheus cpu " + std::to_string(c->second) + "% memory " +
             std::to_string(m->second) + "%, simulated cpu " + std::to_string(s.CpuPercent()) +
             "% memory " + std::to_string(s.MemoryPercent()) + "%";
    }
  }
  return "";
}

}  // namespace

StatusOr<std::unique_ptr<Testbed>> Testbed::Start(TestbedOptions options) {
  std::unique_ptr<Testbed> tb(new Testbed());
  tb->options_ = std::move(options);
  Status st = tb->StartAll();
  if (!st.ok()) {
    std::string detail;
    if (tb->balancer_) detail = "\nkube-balancer log tail:\n" + tb->balancer_->LogTail(30);
    if (tb->prometheus_ && !tb->prometheus_->Running()) {
      detail += "\nprometheus log tail:\n" + tb->prometheus_->LogTail(20);
    }
    tb->Stop();
    return Status(st.code(), st.message() + detail);
  }
  return tb;
}

Status Testbed::StartAll() {
  const TestbedOptions& o = options_;
  if (o.kube_balancer.empty() || FindExecutable(o.kube_balancer).empty()) {
    return Status::FailedPrecondition("kube-balancer binary not found: \"" + o.kube_balancer +
                                      "\" (build it: cmake --build <dir> --target kube-balancer)");
  }
  if (FindExecutable(o.prometheus).empty()) {
    return Status::FailedPrecondition("prometheus not found (\"" + o.prometheus +
                                      "\"): install the Debian package prometheus (make deps)");
  }
  if (o.work_dir.empty()) {
    KB_ASSIGN_OR_RETURN(tmp_, TempDir::Create("kb-" + o.name + "-"));
    if (o.keep_work_dir) tmp_->Keep();
    work_dir_ = tmp_->path();
  } else {
    work_dir_ = o.work_dir;
    std::error_code ec;
    std::filesystem::create_directories(work_dir_, ec);
  }
  KB_ASSIGN_OR_RETURN(balancer_port_, PickFreePort());
  KB_RETURN_IF_ERROR(StartKubeSim());
  KB_RETURN_IF_ERROR(StartPrometheus());
  KB_RETURN_IF_ERROR(StartKubeBalancer());
  // The extender is reachable now: start placing pods.
  KB_RETURN_IF_ERROR(cluster_->StartScheduler());
  Logger("kube-sim")
      ->info("testbed ready name={} dir={} kube-sim={} prometheus={} kube-balancer={}", o.name,
             work_dir_, cluster_->api().url(), prometheus_url(), kube_balancer_url());
  return Status::Ok();
}

// kube-sim, with the scheduler driver registering kube-balancer (on balancer_port_) as its
// extender; the driver starts once the extender answers.
Status Testbed::StartKubeSim() {
  const TestbedOptions& o = options_;
  SimClusterOptions co;
  co.api.token = "kb-e2e-token";
  co.scheduler = true;
  co.metrics_port = 0;
  co.defer_scheduler = true;
  const std::string extender_url = "http://127.0.0.1:" + std::to_string(balancer_port_);
  co.driver_overrides = [&o, extender_url](SchedulerDriverOptions* d) {
    d->extender.url_prefix = extender_url;
    d->extender.filter_verb = "filter";
    d->extender.prioritize_verb = "prioritize";
    d->extender.bind_verb = o.extender_binds ? "bind" : "";
    d->extender.weight = o.extender_weight;
    d->extender.node_cache_capable = o.node_cache_capable;
    d->extender.ignorable = o.ignorable;
    d->extender.http_timeout = 5s;
  };
  cluster_ = std::make_unique<SimCluster>(co);
  if (!o.scenario_file.empty()) {
    KB_RETURN_IF_ERROR(cluster_->LoadScenarioFile(o.scenario_file));
  } else if (!o.scenario.is_null()) {
    KB_RETURN_IF_ERROR(cluster_->LoadScenario(o.scenario));
  }
  observer_ = std::make_unique<ClusterObserver>(cluster_->api());
  observer_->Attach();
  return cluster_->Start();
}

// Prometheus, scraping every node's endpoint; up to three ports are tried.
Status Testbed::StartPrometheus() {
  const TestbedOptions& o = options_;
  std::vector<std::string> nodes;
  for (const json& n : cluster_->api().ListObjects("nodes")) nodes.push_back(Name(n));
  const std::string prom_config = work_dir_ + "/prometheus.yml";
  KB_RETURN_IF_ERROR(WriteFile(
      prom_config, PrometheusConfig(o.scrape_interval_seconds, cluster_->metrics_port(), nodes)));
  for (int attempt = 0;; ++attempt) {
    KB_ASSIGN_OR_RETURN(prometheus_port_, PickFreePort());
    KB_ASSIGN_OR_RETURN(
        prometheus_,
        ChildProcess::Spawn({o.prometheus, "--config.file=" + prom_config,
                             "--storage.tsdb.path=" + work_dir_ + "/prometheus-data",
                             "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
                             "--log.level=warn", "--storage.tsdb.retention.time=1d"},
                            work_dir_ + "/prometheus.log"));
    const bool ready = kb::testing::PollUntil(
        [&] { return !prometheus_->Running() || HttpGet(prometheus_url(), "/-/ready").ok(); },
        o.startup_timeout, kPoll);
    if (ready && prometheus_->Running()) return Status::Ok();
    prometheus_->Stop();
    if (attempt == 2) return Status::Unavailable("prometheus did not become ready");
  }
}

// kube-balancer with the testbed's configuration. With two_replicas the leader replica starts
// first and is waited for until it holds the Lease, so the one kube-sim's scheduler calls is not
// the leader.
Status Testbed::StartKubeBalancer() {
  const TestbedOptions& o = options_;
  const std::string kubeconfig = work_dir_ + "/kubeconfig.yaml";
  KB_RETURN_IF_ERROR(
      WriteFile(kubeconfig, Kubeconfig(cluster_->api().url(), cluster_->api().token()).dump(2)));
  if (o.two_replicas) {
    KB_ASSIGN_OR_RETURN(leader_port_, PickFreePort());
    KB_RETURN_IF_ERROR(StartBalancerProcess("kube-balancer-leader", &leader_port_, &leader_));
    if (o.rescheduler && !ReschedulerRunning(o.startup_timeout, /*wait_leader=*/true)) {
      return Status::Unavailable("the first kube-balancer replica did not become leader");
    }
  }
  return StartBalancerProcess("kube-balancer", &balancer_port_, &balancer_);
}

Status Testbed::StartBalancerProcess(const std::string& tag, int* port,
                                     std::unique_ptr<ChildProcess>* process) {
  const TestbedOptions& o = options_;
  const std::string kubeconfig = work_dir_ + "/kubeconfig.yaml";
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      KB_ASSIGN_OR_RETURN(*port, PickFreePort());
    }
    json config = BalancerConfig(*port, prometheus_url(), o);
    const std::string config_path = work_dir_ + "/" + tag + ".yaml";
    KB_RETURN_IF_ERROR(WriteFile(config_path, config.dump(2)));  // JSON is valid YAML
    std::vector<std::string> argv = {o.kube_balancer, "--config", config_path, "--kubeconfig",
                                     kubeconfig};
    if (o.verbosity > 0) argv.push_back("-v=" + std::to_string(o.verbosity));
    KB_ASSIGN_OR_RETURN(*process, ChildProcess::Spawn(argv, work_dir_ + "/" + tag + ".log"));
    const std::string url = "http://127.0.0.1:" + std::to_string(*port);
    ChildProcess& p = **process;
    const bool ready = kb::testing::PollUntil(
        [&] { return !p.Running() || HttpGet(url, "/readyz").ok(); }, o.startup_timeout, kPoll);
    if (ready && p.Running()) return Status::Ok();
    if (attempt == 2 || p.Running()) {
      return Status::Unavailable(tag + " did not become ready within " +
                                 std::to_string(o.startup_timeout.count()) + "s");
    }
    p.Stop();  // most likely the port was taken meanwhile: try another
  }
}

Testbed::~Testbed() { Stop(); }

void Testbed::Stop() {
  if (balancer_) balancer_->Stop();
  if (leader_) leader_->Stop();
  if (prometheus_) prometheus_->Stop();
  if (cluster_) cluster_->Stop();
}

SimCluster& Testbed::cluster() { return *cluster_; }
ClusterObserver& Testbed::observer() { return *observer_; }
const std::string& Testbed::work_dir() const { return work_dir_; }
std::string Testbed::prometheus_url() const {
  return "http://127.0.0.1:" + std::to_string(prometheus_port_);
}
std::string Testbed::kube_balancer_url() const {
  return "http://127.0.0.1:" + std::to_string(balancer_port_);
}
std::string Testbed::leader_url() const {
  return leader_ ? "http://127.0.0.1:" + std::to_string(leader_port_) : kube_balancer_url();
}
bool Testbed::KubeBalancerRunning() {
  return balancer_ && balancer_->Running() && (!leader_ || leader_->Running());
}
std::string Testbed::KubeBalancerLog(int lines) const {
  return balancer_ ? balancer_->LogTail(lines) : "";
}

StatusOr<std::map<std::string, double>> Testbed::QueryByNode(const std::string& promql) const {
  KB_ASSIGN_OR_RETURN(std::string body,
                      HttpGet(prometheus_url(), "/api/v1/query?query=" +
                                                    httplib::detail::encode_query_param(promql)));
  json reply = json::parse(body, nullptr, false);
  if (reply.is_discarded() || reply.value("status", "") != "success") {
    return Status::Unavailable("prometheus query failed: " + body.substr(0, 200));
  }
  std::map<std::string, double> out;
  for (const json& r : At(reply, {"data", "result"})) {
    const json& metric = r["metric"];
    std::string node = metric.value("node", metric.value("instance", ""));
    const json& value = r["value"];
    if (!value.is_array() || value.size() != 2 || !value[1].is_string()) continue;
    out[node] = std::strtod(value[1].get<std::string>().c_str(), nullptr);
  }
  return out;
}

StatusOr<std::string> Testbed::KubeBalancerMetrics() const {
  return HttpGet(kube_balancer_url(), "/metrics");
}

StatusOr<std::string> Testbed::KubeBalancerGet(const std::string& path, bool leader) const {
  return HttpGet(leader ? leader_url() : kube_balancer_url(), path);
}

Status Testbed::WaitForMetrics(std::chrono::milliseconds timeout, double tolerance) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string cpu_query = DefaultCpuQuery("node", options_.rate_window);
  const std::string memory_query = DefaultMemoryQuery("node");
  std::string last;
  const bool accurate = kb::testing::PollUntil(
      [&] {
        last = MetricsMismatch(*this, cpu_query, memory_query, tolerance);
        return last.empty();
      },
      timeout, 250ms);
  if (!accurate) {
    return Status::DeadlineExceeded("prometheus did not report the simulated usage in time: " +
                                    last);
  }
  // kube-balancer refreshes every second: wait for two refreshes that started after now.
  auto refreshes = [&]() -> double {
    auto text = KubeBalancerMetrics();
    if (!text.ok()) return -1;
    return MetricValue(*text, "kube_balancer_scoring_refresh_duration_seconds_count").value_or(0);
  };
  const double start = refreshes();
  bool refreshed = kb::testing::PollUntil(
      [&] {
        auto text = KubeBalancerMetrics();
        if (!text.ok()) return false;
        const double degraded =
            MetricValue(*text, "kube_balancer_scoring_degraded_nodes").value_or(1);
        return refreshes() >= start + 2 && degraded == 0;
      },
      std::max<std::chrono::milliseconds>(2000ms,
                                          std::chrono::duration_cast<std::chrono::milliseconds>(
                                              deadline - std::chrono::steady_clock::now()) +
                                              5000ms),
      kPoll);
  if (!refreshed) {
    return Status::DeadlineExceeded("kube-balancer did not refresh its metrics (degraded nodes)");
  }
  return Status::Ok();
}

bool Testbed::ReschedulerRunning(std::chrono::milliseconds timeout, bool wait_leader) {
  std::optional<double> leader;
  kb::testing::PollUntil(
      [&] {
        auto text = HttpGet(leader_url(), "/metrics");
        if (!text.ok()) return false;
        leader = MetricValue(*text, "kube_balancer_rescheduler_leader");
        return leader.has_value() && (!wait_leader || *leader == 1);
      },
      timeout, kPoll);
  return leader.has_value() && (!wait_leader || *leader == 1);
}

}  // namespace kb::sim
