#include "sim/harness/play.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/config.h"
#include "core/model.h"
#include "sim/k8s_json.h"
#include "test/testing/poll.h"

namespace kb::sim::plays {
namespace {

using namespace std::chrono_literals;

constexpr const char* kLaneLabel = "kube-balancer.io/lane";
// How often the plays look at the cluster while they wait.
constexpr std::chrono::milliseconds kPoll{20};

// Population standard deviation.
double StdDev(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  return std::sqrt(var / static_cast<double>(values.size()));
}

}  // namespace

std::string Fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

bool Running(const json& pod) { return PodPhase(pod) == "Running" && !IsTerminating(pod); }

std::string Label(const json& obj, const std::string& key) {
  return StrAt(obj, {"metadata", "labels", key.c_str()});
}

Play::Play(std::string id, std::string title, std::string scenario, const PlayOptions& options)
    : options_(options), start_(Clock::now()) {
  report_.id = std::move(id);
  report_.title = std::move(title);
  report_.scenario_file = "sim/scenarios/" + scenario;
}

bool Play::Setup(bool rescheduler, bool two_replicas) {
  TestbedOptions o;
  o.name = report_.id;
  o.scenario_file = options_.source_dir + "/" + report_.scenario_file;
  o.kube_balancer = options_.kube_balancer;
  o.prometheus = options_.prometheus;
  o.keep_work_dir = options_.keep_work_dirs;
  o.verbosity = options_.verbosity;
  o.rescheduler = rescheduler;
  o.two_replicas = two_replicas;
  auto tb = Testbed::Start(o);
  if (!tb.ok()) return SetupFailed(tb.status().message());
  tb_ = std::move(*tb);
  if (options_.keep_work_dirs) report_.work_dir = tb_->work_dir();
  return true;
}

bool Play::SetupFailed(const std::string& message) {
  Add("setup", Check::Result::kFail, message);
  if (tb_) report_.notes.push_back("kube-balancer log tail:\n" + tb_->KubeBalancerLog(25));
  return false;
}

bool Play::Metrics() {
  Status st = tb_->WaitForMetrics(45s);
  if (!st.ok()) return SetupFailed(st.message());
  return true;
}

bool Play::Rescheduler(const std::vector<std::string>& checks) {
  report_.needs_rescheduler = true;
  // The metric families are registered when kube-balancer builds its rescheduler.
  const bool exported = tb_->ReschedulerRunning(3s, /*wait_leader=*/false);
  if (exported && tb_->ReschedulerRunning(20s, /*wait_leader=*/true)) return true;
  const std::string why =
      exported ? "kube-balancer runs a rescheduler but it did not become leader within 20s"
               : "this kube-balancer does not run the rescheduler (no "
                 "kube_balancer_rescheduler_leader metric): it is not wired into the binary yet";
  for (const std::string& c : checks) Add(c, Check::Result::kNotRun, "needs the rescheduler");
  report_.notes.push_back(why);
  return false;
}

bool Play::WaitPods(const std::function<bool(const std::vector<json>&)>& ok,
                    std::chrono::milliseconds timeout) {
  return kb::testing::PollUntil([&] { return ok(api().ListObjects("pods")); }, timeout, kPoll);
}

void Play::Table(const std::string& title, const std::string& lane) {
  NodeTable t;
  t.title = title;
  std::map<std::string, json> nodes;
  for (const json& n : api().ListObjects("nodes")) nodes[Name(n)] = n;
  for (const NodeSample& s : tb_->cluster().metrics().Samples()) {
    const json& node = nodes[s.name];
    std::string group = Label(node, kLaneLabel);
    if (!lane.empty() && group != lane) continue;
    if (Label(node, kMaintenanceLabel) == "true") group = "maintenance";
    t.rows.push_back({s.name, group, s.CpuPercent(), s.MemoryPercent(), s.CpuRequestedPercent(),
                      s.MemoryRequestedPercent(), s.pods});
  }
  report_.tables.push_back(std::move(t));
}

double Play::CpuSpread(const NodeTable& t) {
  std::vector<double> v;
  for (const NodeRow& r : t.rows) v.push_back(r.cpu_percent);
  return StdDev(v);
}

double Play::MemorySpread(const NodeTable& t) {
  std::vector<double> v;
  for (const NodeRow& r : t.rows) v.push_back(r.memory_percent);
  return StdDev(v);
}

void Play::Add(const std::string& name, Check::Result r, const std::string& detail) {
  report_.checks.push_back({name, r, detail});
}

void Play::Expect(const std::string& name, bool ok, const std::string& detail) {
  Add(name, ok ? Check::Result::kPass : Check::Result::kFail, detail);
}

double Play::PrometheusCatchUp(std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  const std::string query = DefaultCpuQuery("node", "5s");
  const bool ok = kb::testing::PollUntil(
      [&] {
        auto cpu = tb_->QueryByNode(query);
        if (!cpu.ok()) return false;
        for (const NodeSample& s : tb_->cluster().metrics().Samples()) {
          auto it = cpu->find(s.name);
          if (it == cpu->end() || std::abs(it->second - s.CpuPercent()) > 2.0) return false;
        }
        return true;
      },
      timeout, kPoll);
  return ok ? std::chrono::duration<double>(Clock::now() - start).count() : -1;
}

void Play::ExpectSettled(const std::function<bool(const std::vector<json>&)>& balanced,
                         std::chrono::milliseconds quiet) {
  const size_t moves = tb_->observer().Moves().size();
  std::this_thread::sleep_for(quiet);
  const size_t after = tb_->observer().Moves().size();
  const bool still = balanced(api().ListObjects("pods"));
  Expect("the spread stays put (no further moves)", after == moves && still,
         std::to_string(after - moves) + " move(s) in the " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(quiet).count()) +
             "s after balance" + (still ? "" : ", no longer balanced"));
}

void Play::MoveChecks(const std::string& scope, const std::set<std::string>& drained) {
  std::vector<std::string> violations = tb_->observer().MoveViolations(drained);
  std::string detail = std::to_string(tb_->observer().Moves().size()) + " move(s) by kube-balancer";
  for (const std::string& v : violations) detail += "; " + v;
  Expect("no pod evicted twice and no replacement back on its source node" + scope,
         violations.empty(), detail);
}

bool Play::Step(const std::string& name) {
  Status st = tb_->cluster().ApplyStep(name);
  if (!st.ok()) return SetupFailed(st.message());
  return true;
}

PlayReport Play::Finish() {
  if (tb_ && !tb_->KubeBalancerRunning()) {
    Add("kube-balancer stayed up", Check::Result::kFail,
        "the kube-balancer process exited during the play");
    Note("kube-balancer log tail:\n" + tb_->KubeBalancerLog(25));
  }
  tb_.reset();  // stops everything before the report is returned
  report_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  return std::move(report_);
}

std::map<std::string, int> CountByNode(const std::vector<json>& pods,
                                       const std::function<bool(const json&)>& select) {
  std::map<std::string, int> out;
  for (const json& p : pods) {
    if (select(p) && Running(p)) ++out[StrAt(p, {"spec", "nodeName"})];
  }
  return out;
}

bool Balanced(const std::vector<json>& pods, const std::function<bool(const json&)>& select,
              int want, int nodes, std::map<std::string, int>* counts) {
  *counts = CountByNode(pods, select);
  int total = 0;
  for (const json& p : pods) total += select(p) ? 1 : 0;  // terminating / pending count too
  int running = 0;
  for (const auto& [node, n] : *counts) running += n;
  if (total != want || running != want || static_cast<int>(counts->size()) != nodes) return false;
  const double mean = static_cast<double>(want) / nodes;
  for (const auto& [node, n] : *counts) {
    if (n < std::floor(mean * 0.5) || n > mean * 1.2 + 1e-9) return false;
  }
  return true;
}

std::string CountsText(const std::map<std::string, int>& counts) {
  std::string s;
  for (const auto& [node, n] : counts)
    s += (s.empty() ? "" : ", ") + node + "=" + std::to_string(n);
  return s.empty() ? "none" : s;
}

}  // namespace kb::sim::plays
