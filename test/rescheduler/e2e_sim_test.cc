// End to end against kube-sim: the real HttpKubeClient, ClusterCache, LoadModel, Steering and
// Rescheduler, plus a small scheduler loop that binds Pending pods with the extender's own
// FilterNode / ClusterState::Check / ScoreNodes and LoadModel::AssumeBinding (a stand-in for the
// real scheduler driver). kube-sim's controllers create replacement pods, run a kubelet stand-in
// and keep PDB status; its eviction subresource enforces PDBs (429).
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kube/cluster_cache.h"
#include "kube/http_kube_client.h"
#include "rescheduler/rescheduler.h"
#include "scoring/feasibility.h"
#include "scoring/load_model.h"
#include "scoring/policy.h"
#include "scoring/steering.h"
#include "sim/api_server.h"
#include "test/rescheduler/resched_test_util.h"
#include "test/testing/poll.h"

namespace kb::resched {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The scenarios wait for kube-sim's controllers and the scheduler loop: longer than a unit test.
template <class Cond>
bool WaitFor(Cond&& cond) {
  return kb::testing::PollUntil(std::forward<Cond>(cond), 20s);
}

bool PodReady(const json& pod) {
  if (pod["metadata"].contains("deletionTimestamp")) return false;
  if (!pod.contains("status") || !pod["status"].contains("conditions")) return false;
  for (const json& c : pod["status"]["conditions"]) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

std::string Label(const json& obj, const std::string& key) {
  const json& labels = obj["metadata"].value("labels", json::object());
  return labels.value(key, "");
}

json NodeJson(const std::string& name, bool unschedulable) {
  json n = kb::testing::NodeBuilder(name).Label(kHostnameLabel, name).Json();
  n["metadata"].erase("uid");
  n["metadata"].erase("resourceVersion");
  n["metadata"].erase("creationTimestamp");
  if (unschedulable) n["spec"]["unschedulable"] = true;
  return n;
}

json DeploymentJson(const std::string& name, int replicas, const json& strategy) {
  json labels = {{"app", name}};
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec",
             {{"replicas", replicas},
              {"selector", {{"matchLabels", labels}}},
              {"template",
               {{"metadata", {{"labels", labels}}},
                {"spec",
                 {{"schedulerName", test::kOurScheduler},
                  {"containers",
                   json::array({{{"name", "app"},
                                 {"image", "nginx:1.27"},
                                 {"resources",
                                  {{"requests", {{"cpu", "50m"}, {"memory", "32Mi"}}}}}}})}}}}}}}};
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

json PdbJson(const std::string& name, const std::string& app, int min_available) {
  return {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", name}, {"namespace", "default"}}},
      {"spec", {{"selector", {{"matchLabels", {{"app", app}}}}}, {"minAvailable", min_available}}}};
}

// A cluster in kube-sim with kube-balancer's rescheduling half and a test scheduler.
class SimCluster {
 public:
  explicit SimCluster(ReschedulerConfig config) : config_(std::move(config)) {
    sim::ApiServerOptions o;
    o.controller_period = 10ms;
    o.pod_ready_delay = 40ms;
    o.bookmark_interval = 200ms;
    o.random_seed = 7;
    o.worker_threads = 16;
    server_ = std::make_unique<sim::ApiServer>(o);
    REQUIRE(server_->Start().ok());
    kube::KubeConfig kc;
    kc.server = server_->url();
    kc.token = server_->token();
    kube::HttpKubeClientOptions ho;
    ho.qps = 0;
    ho.backoff_base = 10ms;
    ho.backoff_max = 50ms;
    auto client = kube::HttpKubeClient::Create(kc, ho);
    REQUIRE(client.ok());
    client_ = std::move(client).value();
  }

  ~SimCluster() {
    stop_ = true;
    if (scheduler_.joinable()) scheduler_.join();
    if (monitor_.joinable()) monitor_.join();
    resched_.reset();
    if (model_) model_->Stop();
    if (cache_) cache_->Stop();
    model_.reset();
    cache_.reset();
    client_.reset();
    server_->Stop();
  }

  sim::ApiServer& server() { return *server_; }
  Rescheduler& resched() { return *resched_; }

  void Create(const std::string& resource, const json& obj) {
    auto r = server_->CreateObject(resource, obj["metadata"].value("namespace", ""), obj);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
  }
  void Patch(const std::string& resource, const std::string& ns, const std::string& name,
             const json& patch) {
    auto r = server_->PatchObject(resource, ns, name, patch);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
  }

  // Starts the cache, load model, scheduler loop and rescheduler (no thread: tests call RunOnce).
  void Start() {
    cache_ = std::make_unique<kube::ClusterCache>(*client_, SystemClock::Instance(),
                                                  kube::ClusterCacheOptions{});
    scoring::LoadModelOptions mo;
    model_ = std::make_unique<scoring::LoadModel>([this] { return cache_->Snapshot(); }, nullptr,
                                                  SystemClock::Instance(), mo);
    cache_->AddPodHandler([this](const PodEvent& e) { model_->OnPodEvent(e); });
    cache_->Start();
    REQUIRE(cache_->WaitForSync(10s));
    model_->Start();
    steering_ = std::make_unique<scoring::Steering>(SystemClock::Instance());
    resched_ = std::make_unique<Rescheduler>(
        config_, test::PolicyFor(config_), *client_, [this] { return cache_->Snapshot(); },
        [this] { return model_->Snapshot(); }, SystemClock::Instance(), steering_.get(), nullptr,
        nullptr, ReschedulerOptions{1000ms, 1000ms, "e2e", 3});
    scheduler_ = std::thread([this] { ScheduleLoop(); });
  }

  // The scheduler the extender serves, reduced to its decision: filter + feasibility + score.
  void ScheduleLoop() {
    const scoring::PolicyConfig policy = test::PolicyFor(config_);
    std::set<std::string> bound;
    while (!stop_) {
      auto snap = cache_->Snapshot();
      auto load = model_->Snapshot();
      if (snap && snap->pods_by_node && load) {
        const scoring::ClusterState state(snap);
        for (const PodPtr& pod : snap->PodsOnNode("")) {
          if (pod->IsTerminating() || bound.count(pod->meta.uid) != 0) continue;
          std::optional<scoring::SteerDecision> steer = steering_->Lookup(*pod);
          const scoring::SteerDecision* s = steer ? &*steer : nullptr;
          std::vector<scoring::ScoreCandidate> candidates;
          for (const auto& l : load->nodes()) {
            if (!scoring::FilterNode(*pod, l.get(), policy, s).passed) continue;
            if (!l->node->ready || !state.Check(*pod, l->name).ok()) continue;
            candidates.push_back({l->name, l.get()});
          }
          if (candidates.empty()) continue;
          auto scores = scoring::ScoreNodes(*pod, candidates, policy, s);
          size_t best = 0;
          for (size_t i = 1; i < scores.size(); ++i) {
            if (scores[i].score > scores[best].score ||
                (scores[i].score == scores[best].score && scores[i].raw > scores[best].raw)) {
              best = i;
            }
          }
          const std::string node = scores[best].node;
          if (server_->BindPod(pod->meta.namespace_, pod->meta.name, pod->meta.uid, node).ok()) {
            bound.insert(pod->meta.uid);
            model_->AssumeBinding(*pod, node);
            steering_->OnBound(*pod, node);
            std::lock_guard<std::mutex> lock(mu_);
            bindings_.push_back({pod->meta.name, pod->meta.uid, node});
          }
        }
      }
      std::this_thread::sleep_for(5ms);
    }
  }

  std::vector<json> Pods(const std::string& app) {
    std::vector<json> out;
    for (json& p : server_->ListObjects("pods", "default")) {
      if (Label(p, "app") == app) out.push_back(std::move(p));
    }
    return out;
  }
  int ReadyPods(const std::string& app) {
    int n = 0;
    for (const json& p : Pods(app)) n += PodReady(p) ? 1 : 0;
    return n;
  }
  std::map<std::string, int> ReadyByNode(const std::string& app) {
    std::map<std::string, int> out;
    for (const json& p : Pods(app)) {
      if (PodReady(p)) ++out[p["spec"].value("nodeName", "")];
    }
    return out;
  }
  // Waits until the cache shows `app` with `n` Ready pods.
  void WaitCacheReady(const std::string& app, int n) {
    REQUIRE(WaitFor([&] {
      auto snap = cache_->Snapshot();
      int ready = 0;
      for (const auto& [node, pods] : *snap->pods_by_node) {
        for (const PodPtr& p : *pods) {
          auto it = p->meta.labels.find("app");
          if (it != p->meta.labels.end() && it->second == app && p->phase == "Running" &&
              p->IsReady() && !p->IsTerminating()) {
            ++ready;
          }
        }
      }
      return ready == n;
    }));
  }

  // Samples the Ready pod count of each app (and the PDB's currentHealthy) in the background;
  // MinReady() is the lowest count seen.
  void Monitor(std::vector<std::string> apps) {
    monitor_ = std::thread([this, apps] {
      while (!stop_) {
        for (const std::string& app : apps) {
          const int ready = ReadyPods(app);
          std::lock_guard<std::mutex> lock(mu_);
          auto it = min_ready_.find(app);
          if (it == min_ready_.end() || ready < it->second) min_ready_[app] = ready;
        }
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  int MinReady(const std::string& app) {
    std::lock_guard<std::mutex> lock(mu_);
    return min_ready_.count(app) ? min_ready_[app] : -1;
  }

  struct Binding {
    std::string pod, uid, node;
  };
  std::vector<Binding> Bindings() {
    std::lock_guard<std::mutex> lock(mu_);
    return bindings_;
  }

  // Runs cycles until `done` or the deadline; returns the successful moves.
  std::vector<PlannedMove> RunUntil(const std::function<bool()>& done,
                                    std::chrono::milliseconds timeout = 30s,
                                    std::map<std::string, int>* results = nullptr) {
    std::vector<PlannedMove> moved;
    kb::testing::PollUntil(
        [&] {
          if (done()) return true;
          CycleReport r = resched_->RunOnce();
          for (const auto& [m, o] : r.moves) {
            if (o.result == Result::kSuccess) moved.push_back(m);
            if (results != nullptr) ++(*results)[ResultName(o.result)];
          }
          return false;
        },
        timeout, 20ms);
    return moved;
  }

 private:
  ReschedulerConfig config_;
  std::unique_ptr<sim::ApiServer> server_;
  std::unique_ptr<kube::HttpKubeClient> client_;
  std::unique_ptr<kube::ClusterCache> cache_;
  std::unique_ptr<scoring::LoadModel> model_;
  std::unique_ptr<scoring::Steering> steering_;
  std::unique_ptr<Rescheduler> resched_;
  std::atomic<bool> stop_{false};
  std::thread scheduler_;
  std::thread monitor_;
  std::mutex mu_;
  std::vector<Binding> bindings_;         // Guarded by mu_.
  std::map<std::string, int> min_ready_;  // Guarded by mu_.
};

ReschedulerConfig E2eConfig() {
  ReschedulerConfig c;
  c.enabled_strategies = {kNodeMaintenance, kLoadBalancing};
  return c;
}

TEST_CASE(
    "e2e: 20 replicas on one of three workers are rebalanced, none moved twice, none "
    "back on its source",
    "[rescheduler][e2e][integration]") {
  SimCluster c(E2eConfig());
  c.Create("nodes", NodeJson("w1", false));
  c.Create("nodes", NodeJson("w2", true));  // cordoned while the pods are placed
  c.Create("nodes", NodeJson("w3", true));
  c.Create("poddisruptionbudgets", PdbJson("rebalance-me", "rebalance-me", 18));
  c.Create("deployments", DeploymentJson("rebalance-me", 20, nullptr));
  c.Start();
  REQUIRE(WaitFor([&] { return c.ReadyByNode("rebalance-me")["w1"] == 20; }));
  c.WaitCacheReady("rebalance-me", 20);
  std::set<std::string> original;
  for (const json& p : c.Pods("rebalance-me")) original.insert(p["metadata"]["uid"]);

  // While the other workers are cordoned nothing can move.
  CHECK(c.resched().RunOnce().results["success"] == 0);

  c.Patch("nodes", "", "w2", {{"spec", {{"unschedulable", false}}}});
  c.Patch("nodes", "", "w3", {{"spec", {{"unschedulable", false}}}});
  c.Monitor({"rebalance-me"});
  const size_t bindings_before = c.Bindings().size();
  auto balanced = [&] {
    auto by_node = c.ReadyByNode("rebalance-me");
    return by_node["w1"] <= 8 && by_node["w1"] + by_node["w2"] + by_node["w3"] == 20 &&
           c.resched().PlanJson()["inFlight"].empty();
  };
  std::vector<PlannedMove> moved = c.RunUntil(balanced);
  REQUIRE(balanced());
  auto by_node = c.ReadyByNode("rebalance-me");
  INFO("w1=" << by_node["w1"] << " w2=" << by_node["w2"] << " w3=" << by_node["w3"]);
  CHECK(by_node["w2"] <= 8);
  CHECK(by_node["w3"] <= 8);
  CHECK(moved.size() == 12);  // 20 -> 8: exactly the moves needed

  // No pod moved twice: every moved pod is an original, each once.
  std::set<std::string> moved_uids;
  for (const PlannedMove& m : moved) {
    CHECK(original.count(m.pod->meta.uid) == 1);
    CHECK(moved_uids.insert(m.pod->meta.uid).second);
    CHECK(m.source == "w1");
  }
  // No replacement landed back on its source.
  auto bindings = c.Bindings();
  REQUIRE(bindings.size() == bindings_before + moved.size());
  for (size_t i = bindings_before; i < bindings.size(); ++i) CHECK(bindings[i].node != "w1");
  // The PDB (minAvailable 18) held throughout; one move in flight keeps 19 Ready.
  CHECK(c.MinReady("rebalance-me") >= 19);

  // Balanced: further cycles plan nothing.
  for (int i = 0; i < 3; ++i) CHECK(c.resched().RunOnce().results.empty());
}

TEST_CASE("e2e: a maintenance drain under a PDB never violates it and a single replica surges",
          "[rescheduler][e2e][integration]") {
  SimCluster c(E2eConfig());
  c.Create("nodes", NodeJson("w1", false));
  c.Create("nodes", NodeJson("w2", true));
  c.Create("nodes", NodeJson("w3", true));
  c.Create("poddisruptionbudgets", PdbJson("web", "web", 5));
  c.Create("deployments", DeploymentJson("web", 6, nullptr));
  c.Create("deployments",
           DeploymentJson("single", 1,
                          {{"type", "RollingUpdate"},
                           {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}));
  c.Create("deployments", DeploymentJson("fragile", 1, {{"type", "Recreate"}}));
  c.Start();
  REQUIRE(WaitFor([&] {
    return c.ReadyByNode("web")["w1"] == 6 && c.ReadyByNode("single")["w1"] == 1 &&
           c.ReadyByNode("fragile")["w1"] == 1;
  }));
  c.WaitCacheReady("web", 6);
  c.WaitCacheReady("single", 1);
  c.Patch("nodes", "", "w2", {{"spec", {{"unschedulable", false}}}});
  c.Patch("nodes", "", "w3", {{"spec", {{"unschedulable", false}}}});
  c.Patch("nodes", "", "w1", {{"metadata", {{"labels", {{kMaintenanceLabel, "true"}}}}}});
  c.Monitor({"web", "single"});

  std::map<std::string, int> results;
  auto drained = [&] {
    return c.ReadyByNode("web")["w1"] == 0 && c.ReadyByNode("web").size() >= 1 &&
           c.ReadyPods("web") == 6 && c.ReadyByNode("single")["w1"] == 0 &&
           c.ReadyPods("single") == 1 && c.resched().PlanJson()["inFlight"].empty();
  };
  std::vector<PlannedMove> moved = c.RunUntil(drained, 30s, &results);
  REQUIRE(drained());
  CHECK(c.MinReady("web") >= 5);          // the PDB held at every sample
  CHECK(c.MinReady("single") >= 1);       // surge restart: no downtime
  CHECK(moved.size() == 7);               // 6 evictions + 1 surge restart
  CHECK(results["single_replica"] >= 1);  // the Recreate Deployment is skipped and reported
  CHECK(c.ReadyByNode("fragile")["w1"] == 1);
  auto restarted = c.server().GetObject("deployments", "default", "single");
  REQUIRE(restarted.ok());
  CHECK(
      (*restarted)["spec"]["template"]["metadata"]["annotations"].contains(kRestartedAtAnnotation));
}

TEST_CASE("e2e: injected 429, 409 and 500 are handled without storms",
          "[rescheduler][e2e][integration]") {
  ReschedulerConfig cfg = E2eConfig();
  cfg.protections.pdb_precheck = false;  // let kube-sim's eviction subresource answer 429
  SimCluster c(cfg);
  c.Create("nodes", NodeJson("w1", false));
  c.Create("nodes", NodeJson("w2", true));
  c.Create("poddisruptionbudgets", PdbJson("guarded", "guarded", 2));  // allows 0
  c.Create("deployments", DeploymentJson("guarded", 2, nullptr));
  c.Create("deployments", DeploymentJson("web", 2, nullptr));
  c.Create("deployments",
           DeploymentJson("single", 1,
                          {{"type", "RollingUpdate"},
                           {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}}));
  c.Start();
  REQUIRE(WaitFor([&] {
    return c.ReadyPods("guarded") == 2 && c.ReadyPods("web") == 2 && c.ReadyPods("single") == 1;
  }));
  c.WaitCacheReady("guarded", 2);
  c.WaitCacheReady("web", 2);
  c.WaitCacheReady("single", 1);
  c.Patch("nodes", "", "w2", {{"spec", {{"unschedulable", false}}}});
  c.Patch("nodes", "", "w1", {{"metadata", {{"labels", {{kMaintenanceLabel, "true"}}}}}});

  // 500 on the first eviction, 409 on the first Deployment patch.
  c.server().AddFault({"create", "pods/eviction", 1, 0, 500, 0ms, 1});
  c.server().AddFault({"patch", "deployments", 1, 0, 409, 0ms, 1});
  test::LogCapture logs;
  std::map<std::string, int> results;
  auto done = [&] {
    return c.ReadyByNode("web")["w1"] == 0 && c.ReadyPods("web") == 2 &&
           c.ReadyByNode("single")["w1"] == 0 && c.ReadyPods("single") == 1 &&
           c.resched().PlanJson()["inFlight"].empty();
  };
  c.RunUntil(done, 30s, &results);
  REQUIRE(done());
  CHECK(results["error"] == 1);  // the injected 500, retried by the next cycle
  CHECK(results["pdb_blocked"] >= 2);
  // The guarded pods stay: every cycle asked once (no retry loop) and logged at info once each.
  CHECK(c.ReadyByNode("guarded")["w1"] == 2);
  // One pod of the workload is tried per cycle (one move per workload): one info line in all.
  CHECK(logs.Count({"result=pdb_blocked", "guarded"}, "info") == 1);
  CHECK(logs.Count({"result=pdb_blocked"}, "warning") == 0);
  // Exactly one eviction request per attempt: the 2 web pods, every PDB refusal, the 500.
  CHECK(c.server().Counts().Get("create", "pods/eviction") ==
        static_cast<uint64_t>(2 + results["pdb_blocked"] + 1));
  // The 409 on the restart patch was re-read and retried within the same cycle.
  CHECK(c.server().Counts().Get("patch", "deployments") == 2);
  // A throttling 429 (no PDB cause) is an error, not a PDB block.
  c.server().AddFault({"create", "pods/eviction", 0, 0, 429, 0ms, -1});
  std::map<std::string, int> throttled;
  c.RunUntil([] { return false; }, 300ms, &throttled);
  CHECK(throttled["error"] >= 1);
  CHECK(throttled["pdb_blocked"] == 0);
}

}  // namespace
}  // namespace kb::resched
