#include "sim/harness/testbed.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/config.h"
#include "core/logging.h"
#include "sim/k8s_json.h"
#include "sim/selectors.h"

namespace kb::sim {

using json = nlohmann::json;
using namespace std::chrono_literals;

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

double StdDev(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  return std::sqrt(var / static_cast<double>(values.size()));
}

// ---- ClusterObserver --------------------------------------------------------------------------

struct ClusterObserver::State {
  explicit State(ApiServer& s) : server(s) {}

  std::string KeyOf(const std::string& ns, const std::string& name) const {
    return ns + "/" + name;
  }

  void OnAudit(const AuditRecord& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.verb == "create" && r.resource == "pods/eviction") {
      if (r.code == 429) {
        ++refused;
      } else if (r.code == 201 || r.code == 200) {
        RecordMove(r.ns, r.name, "eviction");
      }
    } else if (r.verb == "delete" && r.resource == "pods" && (r.code == 200 || r.code == 202)) {
      RecordMove(r.ns, r.name, "delete");
    } else if (r.verb == "create" && r.resource == "pods" && r.code == 201) {
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_discarded()) created_by_balancer.insert(KeyOf(r.ns, Name(body)));
    }
  }

  void RecordMove(const std::string& ns, const std::string& name, const std::string& how) {
    ++evictions[KeyOf(ns, name)];
    Move m;
    m.ns = ns;
    m.name = name;
    m.how = how;
    m.pass = pass;
    auto it = live.find(KeyOf(ns, name));
    if (it != live.end()) {
      const PodRecord& p = pods[it->second];
      m.uid = p.uid;
      m.owner_uid = p.owner_uid;
      m.source_node = p.node;
    }
    moves.push_back(m);
  }

  void Sample() {
    bool watch_pdbs;
    {
      std::lock_guard<std::mutex> lock(mu);
      watch_pdbs = pdb_watch;
    }
    const std::vector<json> list = server.ListObjects("pods");
    const std::vector<json> pdbs =
        watch_pdbs ? server.ListObjects("poddisruptionbudgets") : std::vector<json>{};
    std::lock_guard<std::mutex> lock(mu);
    ++pass;
    std::set<std::string> present;
    live.clear();
    for (const json& pod : list) {
      const std::string uid = Uid(pod);
      PodRecord& p = pods[uid];
      if (p.uid.empty()) {
        p.uid = uid;
        p.ns = Namespace(pod);
        p.name = Name(pod);
        p.first_pass = pass;
        const json& owner = ControllerRef(pod);
        if (owner.is_object()) p.owner_uid = owner.value("uid", "");
        p.created_by_balancer = created_by_balancer.count(KeyOf(p.ns, p.name)) > 0;
      }
      p.labels = At(pod, {"metadata", "labels"});
      const std::string node = StrAt(pod, {"spec", "nodeName"});
      if (!node.empty()) {
        p.node = node;
        p.nodes.insert(node);
      }
      p.ready = IsPodReady(pod) && !IsTerminating(pod);
      if (IsTerminating(pod)) {
        if (!p.gone) p.gone_pass = pass;
        p.gone = true;
      } else {
        live[KeyOf(p.ns, p.name)] = uid;
      }
      present.insert(uid);
    }
    for (auto& [uid, p] : pods) {
      if (!present.count(uid) && !p.gone) {
        p.gone = true;
        p.gone_pass = pass;
        p.ready = false;
      }
    }
    LinkReplacements();
    if (watch_pdbs) CheckPdbs(pdbs, list);
  }

  void LinkReplacements() {
    for (Move& m : moves) {
      if (!m.replacement_uid.empty()) {
        if (m.replacement_node.empty()) m.replacement_node = pods[m.replacement_uid].node;
        continue;
      }
      const PodRecord* moved = m.uid.empty() ? nullptr : &pods[m.uid];
      const PodRecord* best = nullptr;
      for (const auto& [uid, p] : pods) {
        if (uid == m.uid || linked.count(uid)) continue;
        if (!m.owner_uid.empty()) {
          // A ReplicaSet pod: the first pod of the same ReplicaSet created after the move.
          if (p.owner_uid != m.owner_uid || p.first_pass < m.pass) continue;
        } else {
          // A bare pod: the copy kube-balancer created with the same labels.
          if (!p.created_by_balancer || moved == nullptr || p.labels != moved->labels) continue;
        }
        if (best == nullptr || p.first_pass < best->first_pass) best = &p;
      }
      if (best != nullptr) {
        m.replacement_uid = best->uid;
        m.replacement_node = best->node;
        linked.insert(best->uid);
      }
    }
  }

  void CheckPdbs(const std::vector<json>& pdbs, const std::vector<json>& list) {
    for (const json& pdb : pdbs) {
      auto selector = LabelSelector::FromJson(At(pdb, {"spec", "selector"}));
      if (!selector.ok()) continue;
      const int64_t desired = IntAt(pdb, {"status", "desiredHealthy"}, -1);
      if (desired < 0) continue;
      int64_t healthy = 0;
      for (const json& pod : list) {
        if (Namespace(pod) != Namespace(pdb) || IsTerminating(pod) || !IsPodReady(pod)) continue;
        if (selector->Matches(At(pod, {"metadata", "labels"}))) ++healthy;
      }
      const std::string key = KeyOf(Namespace(pdb), Name(pdb));
      if (healthy < desired && reported.insert(key).second) {
        pdb_violations.push_back("PodDisruptionBudget " + key + ": " + std::to_string(healthy) +
                                 " healthy pods < desiredHealthy " + std::to_string(desired) +
                                 " (pass " + std::to_string(pass) + ")");
      }
    }
  }

  ApiServer& server;
  mutable std::mutex mu;
  // State below is guarded by mu.
  uint64_t pass = 0;
  std::map<std::string, PodRecord> pods;      // uid -> record
  std::map<std::string, std::string> live;    // ns/name -> uid of the live pod
  std::set<std::string> created_by_balancer;  // ns/name
  std::vector<Move> moves;
  std::set<std::string> linked;          // replacement uids already linked
  std::map<std::string, int> evictions;  // ns/name -> successful evictions / deletions
  int refused = 0;
  bool pdb_watch = false;
  std::vector<std::string> pdb_violations;
  std::set<std::string> reported;
};

ClusterObserver::ClusterObserver(ApiServer& server) : state_(std::make_shared<State>(server)) {}

void ClusterObserver::Attach() {
  std::weak_ptr<State> weak = state_;
  state_->server.SetAuditSink([weak](const AuditRecord& r) {
    if (auto s = weak.lock()) s->OnAudit(r);
  });
  state_->server.AddController("e2e-observer", [weak] {
    if (auto s = weak.lock()) s->Sample();
  });
}

std::vector<ClusterObserver::PodRecord> ClusterObserver::Pods() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<PodRecord> out;
  for (const auto& [uid, p] : state_->pods) out.push_back(p);
  return out;
}

std::vector<ClusterObserver::Move> ClusterObserver::Moves() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->moves;
}

std::map<std::string, int> ClusterObserver::EvictionsPerPod() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->evictions;
}

int ClusterObserver::RefusedEvictions() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->refused;
}

void ClusterObserver::StartPdbWatch() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->pdb_watch = true;
}

std::vector<std::string> ClusterObserver::PdbViolations() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pdb_violations;
}

std::vector<std::string> ClusterObserver::MoveViolations() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [pod, n] : state_->evictions) {
    if (n > 1) out.push_back("pod " + pod + " was evicted " + std::to_string(n) + " times");
  }
  std::set<std::string> moved;
  for (const Move& m : state_->moves) {
    if (!m.uid.empty()) moved.insert(m.uid);
  }
  for (const Move& m : state_->moves) {
    if (m.replacement_uid.empty()) continue;
    const std::string& rname = state_->pods.at(m.replacement_uid).name;
    if (!m.replacement_node.empty() && m.replacement_node == m.source_node) {
      out.push_back("replacement " + rname + " of " + m.ns + "/" + m.name +
                    " landed back on its source node " + m.source_node);
    }
    if (moved.count(m.replacement_uid)) {
      out.push_back("replacement " + rname + " of " + m.ns + "/" + m.name + " was moved again");
    }
  }
  return out;
}

uint64_t ClusterObserver::passes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pass;
}

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

  // kube-sim, with the scheduler driver registering kube-balancer as its extender.
  KB_ASSIGN_OR_RETURN(balancer_port_, PickFreePort());
  SimClusterOptions co;
  co.api.token = "kb-e2e-token";
  co.scheduler = true;
  co.metrics_port = 0;
  co.defer_scheduler = true;  // until kube-balancer (the extender) answers
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
  KB_RETURN_IF_ERROR(cluster_->Start());

  // Prometheus, scraping every node's endpoint.
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
    const bool ready = WaitUntil(
        [&] { return !prometheus_->Running() || HttpGet(prometheus_url(), "/-/ready").ok(); },
        o.startup_timeout);
    if (ready && prometheus_->Running()) break;
    prometheus_->Stop();
    if (attempt == 2) return Status::Unavailable("prometheus did not become ready");
  }

  // kube-balancer.
  const std::string kubeconfig = work_dir_ + "/kubeconfig.yaml";
  json kc = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", {{{"name", "kube-sim"}, {"cluster", {{"server", cluster_->api().url()}}}}}},
      {"users", {{{"name", "e2e"}, {"user", {{"token", cluster_->api().token()}}}}}},
      {"contexts",
       {{{"name", "kube-sim"}, {"context", {{"cluster", "kube-sim"}, {"user", "e2e"}}}}}},
      {"current-context", "kube-sim"}};
  KB_RETURN_IF_ERROR(WriteFile(kubeconfig, kc.dump(2)));
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      KB_ASSIGN_OR_RETURN(balancer_port_, PickFreePort());
    }
    json config = {{"listen", "127.0.0.1:" + std::to_string(balancer_port_)},
                   {"schedulerName", "kube-balancer"},
                   {"prometheus",
                    {{"url", prometheus_url()},
                     {"nodeLabel", "node"},
                     {"rateWindow", o.rate_window},
                     {"refreshInterval", "1s"},
                     {"timeout", "2s"}}},
                   {"rescheduler",
                    {{"enabled", o.rescheduler},
                     {"reschedulingInterval", "2s"},
                     {"consecutiveCycles", 2},
                     {"leaderElection",
                      {{"leaseDuration", "6s"}, {"renewDeadline", "4s"}, {"retryPeriod", "1s"}}}}},
                   {"kubeClient", {{"qps", 500}, {"burst", 1000}}}};
    config.merge_patch(o.config);
    const std::string config_path = work_dir_ + "/kube-balancer.yaml";
    KB_RETURN_IF_ERROR(WriteFile(config_path, config.dump(2)));  // JSON is valid YAML
    std::vector<std::string> argv = {o.kube_balancer, "--config", config_path, "--kubeconfig",
                                     kubeconfig};
    if (o.verbosity > 0) argv.push_back("-v=" + std::to_string(o.verbosity));
    KB_ASSIGN_OR_RETURN(balancer_, ChildProcess::Spawn(argv, work_dir_ + "/kube-balancer.log"));
    const bool ready = WaitUntil(
        [&] { return !balancer_->Running() || HttpGet(kube_balancer_url(), "/readyz").ok(); },
        o.startup_timeout);
    if (ready && balancer_->Running()) break;
    if (attempt == 2 || balancer_->Running()) {
      return Status::Unavailable("kube-balancer did not become ready within " +
                                 std::to_string(o.startup_timeout.count()) + "s");
    }
    balancer_->Stop();  // most likely the port was taken meanwhile: try another
  }
  // The extender is reachable now: start placing pods.
  KB_RETURN_IF_ERROR(cluster_->StartScheduler());
  Logger("kube-sim")
      ->info("testbed ready name={} dir={} kube-sim={} prometheus={} kube-balancer={}", o.name,
             work_dir_, cluster_->api().url(), prometheus_url(), kube_balancer_url());
  return Status::Ok();
}

Testbed::~Testbed() { Stop(); }

void Testbed::Stop() {
  if (balancer_) balancer_->Stop();
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
bool Testbed::KubeBalancerRunning() { return balancer_ && balancer_->Running(); }
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

Status Testbed::WaitForMetrics(std::chrono::milliseconds timeout, double tolerance) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string cpu_query = DefaultCpuQuery("node", options_.rate_window);
  const std::string memory_query = DefaultMemoryQuery("node");
  std::string last;
  bool accurate = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto cpu = QueryByNode(cpu_query);
    auto mem = QueryByNode(memory_query);
    accurate = cpu.ok() && mem.ok();
    last = cpu.ok() ? (mem.ok() ? "" : mem.status().message()) : cpu.status().message();
    if (accurate) {
      for (const NodeSample& s : cluster_->metrics().Samples()) {
        auto c = cpu->find(s.name);
        auto m = mem->find(s.name);
        if (c == cpu->end() || m == mem->end()) {
          accurate = false;
          last = "no sample yet for node " + s.name;
          break;
        }
        if (std::abs(c->second - s.CpuPercent()) > tolerance ||
            std::abs(m->second - s.MemoryPercent()) > tolerance) {
          accurate = false;
          last = "node " + s.name + ": prometheus cpu " + std::to_string(c->second) + "% memory " +
                 std::to_string(m->second) + "%, simulated cpu " + std::to_string(s.CpuPercent()) +
                 "% memory " + std::to_string(s.MemoryPercent()) + "%";
          break;
        }
      }
    }
    if (accurate) break;
    std::this_thread::sleep_for(250ms);
  }
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
  bool refreshed = WaitUntil(
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
                                              5000ms));
  if (!refreshed) {
    return Status::DeadlineExceeded("kube-balancer did not refresh its metrics (degraded nodes)");
  }
  return Status::Ok();
}

bool Testbed::ReschedulerRunning(std::chrono::milliseconds timeout, bool wait_leader) {
  std::optional<double> leader;
  WaitUntil(
      [&] {
        auto text = KubeBalancerMetrics();
        if (!text.ok()) return false;
        leader = MetricValue(*text, "kube_balancer_rescheduler_leader");
        return leader.has_value() && (!wait_leader || *leader == 1);
      },
      timeout);
  return leader.has_value() && (!wait_leader || *leader == 1);
}

}  // namespace kb::sim
