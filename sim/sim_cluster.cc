#include "sim/sim_cluster.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/logging.h"
#include "sim/scenario.h"

namespace kb::sim {

using json = nlohmann::json;

struct SimCluster::Impl {
  explicit Impl(SimClusterOptions o)
      : options(std::move(o)),
        clock(options.api.clock ? *options.api.clock : SystemClock::Instance()),
        api(options.api),
        metrics(api, clock, options.metrics),
        exporter(metrics) {
    driver_options = options.driver;
  }

  void Timeline(SteadyTime start) {
    std::unique_lock<std::mutex> lock(mu);
    for (const ScenarioStep& step : steps) {
      const auto due = start + step.at;
      // The steady clock of a FakeClock does not move on its own: poll it.
      while (!stopping && clock.Now() < due) {
        cv.wait_for(lock, std::chrono::milliseconds(20));
      }
      if (stopping) return;
      lock.unlock();
      Status st = kb::sim::ApplyStep(api, step);
      if (!st.ok()) Logger("kube-sim")->error("scenario step failed error={}", st.ToString());
      lock.lock();
    }
  }

  SimClusterOptions options;
  const Clock& clock;
  ApiServer api;
  NodeMetrics metrics;
  NodeExporterServer exporter;
  std::unique_ptr<SchedulerDriver> driver;
  SchedulerDriverOptions driver_options;
  bool scheduler = false;
  std::vector<ScenarioStep> steps;
  json scenario = json::object();

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // Guarded by mu.
  bool started = false;   // Guarded by mu.
  std::thread timeline;
};

SimCluster::SimCluster(SimClusterOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->scheduler = impl_->options.scheduler;
}

SimCluster::~SimCluster() { Stop(); }

Status SimCluster::LoadScenario(const json& scenario) {
  std::string ns = "default";
  if (scenario.is_object() && scenario.contains("namespace") && scenario["namespace"].is_string()) {
    ns = scenario["namespace"].get<std::string>();
  }
  std::vector<ScenarioStep> steps;
  if (scenario.is_object() && scenario.contains("steps")) {
    KB_ASSIGN_OR_RETURN(steps, ParseSteps(scenario["steps"], ns));
  }
  SchedulerDriverOptions driver = impl_->driver_options;
  const bool has_section = scenario.is_object() && scenario.contains("scheduler");
  if (has_section) KB_RETURN_IF_ERROR(ApplySchedulerSection(scenario["scheduler"], &driver));
  KB_RETURN_IF_ERROR(impl_->api.LoadScenario(scenario));
  impl_->driver_options = driver;
  if (has_section) impl_->scheduler = true;
  for (auto& s : steps) impl_->steps.push_back(std::move(s));
  impl_->scenario = scenario;
  return Status::Ok();
}

Status SimCluster::LoadScenarioFile(const std::string& path) {
  KB_ASSIGN_OR_RETURN(json scenario, ReadScenarioFile(path));
  return LoadScenario(scenario).Annotate(path);
}

Status SimCluster::Start() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->started) return Status::FailedPrecondition("kube-sim cluster already started");
    impl_->started = true;
    impl_->stopping = false;
  }
  if (impl_->options.driver_overrides) impl_->options.driver_overrides(&impl_->driver_options);
  KB_RETURN_IF_ERROR(impl_->api.Start(impl_->options.host, impl_->options.port));
  impl_->metrics.Attach();
  if (impl_->options.metrics_port >= 0) {
    KB_RETURN_IF_ERROR(
        impl_->exporter.Start(impl_->options.metrics_host, impl_->options.metrics_port));
  }
  if (impl_->scheduler && !impl_->options.defer_scheduler) KB_RETURN_IF_ERROR(StartScheduler());
  if (impl_->options.play_steps && !impl_->steps.empty()) {
    Impl* impl = impl_.get();
    const SteadyTime start = impl_->clock.Now();  // the steps' `at` counts from here
    impl_->timeline = std::thread([impl, start] { impl->Timeline(start); });
  }
  return Status::Ok();
}

Status SimCluster::StartScheduler() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started) return Status::FailedPrecondition("kube-sim cluster not started");
  if (!impl_->scheduler) return Status::FailedPrecondition("the scheduler driver is not enabled");
  if (impl_->driver) return Status::Ok();
  impl_->driver =
      std::make_unique<SchedulerDriver>(impl_->api, impl_->driver_options, impl_->clock);
  impl_->driver->Attach();
  impl_->driver->Start();
  return Status::Ok();
}

void SimCluster::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->started) return;
    impl_->started = false;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->timeline.joinable()) impl_->timeline.join();
  if (impl_->driver) impl_->driver->Stop();
  impl_->exporter.Stop();
  impl_->api.Stop();
}

Status SimCluster::ApplyStep(const std::string& name) {
  for (const ScenarioStep& step : impl_->steps) {
    if (step.name == name) return kb::sim::ApplyStep(impl_->api, step);
  }
  return Status::NotFound("scenario has no step \"" + name + "\"");
}

const std::vector<ScenarioStep>& SimCluster::steps() const { return impl_->steps; }
ApiServer& SimCluster::api() { return impl_->api; }
NodeMetrics& SimCluster::metrics() { return impl_->metrics; }
SchedulerDriver* SimCluster::driver() { return impl_->driver.get(); }
const SchedulerDriverOptions& SimCluster::driver_options() const { return impl_->driver_options; }
bool SimCluster::scheduler_enabled() const { return impl_->scheduler; }
int SimCluster::metrics_port() const {
  return impl_->options.metrics_port >= 0 ? impl_->exporter.port() : -1;
}
std::string SimCluster::metrics_url() const {
  return impl_->options.metrics_port >= 0 ? impl_->exporter.url() : "";
}
const json& SimCluster::scenario() const { return impl_->scenario; }

void SetLogLevel(const std::string& level) {
  Logger("kube-sim");  // registered first, so the level applies to it too
  spdlog::set_level(spdlog::level::from_str(level));
}

std::vector<std::string> SplitCommaList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace kb::sim
