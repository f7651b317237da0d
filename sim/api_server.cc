#include "sim/api_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/logging.h"
#include "core/model.h"
#include "sim/api_server_impl.h"
#include "sim/http_listen.h"
#include "sim/k8s_json.h"
#include "sim/scenario.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube-sim"); }

}  // namespace

uint64_t RequestCounts::Get(const std::string& verb, const std::string& resource) const {
  auto it = counts.find({verb, resource});
  return it == counts.end() ? 0 : it->second;
}

ApiServer::Impl::Impl(ApiServerOptions opts)
    : options(std::move(opts)),
      clock(options.clock ? *options.clock : SystemClock::Instance()),
      store(options.event_history),
      registry(store, clock, options.default_grace_seconds, options.random_seed),
      controllers(registry, ControllerOptions{options.pod_ready_delay, options.kubelet_admission,
                                              options.garbage_collector, options.pdb_status_lag}),
      fault_rng(options.fault_seed) {}

void ApiServer::Impl::ControllerLoop() {
  std::unique_lock<std::mutex> lock(loop_mu);
  while (!loop_stop) {
    loop_cv.wait_for(lock, options.controller_period, [&] { return loop_stop; });
    if (loop_stop) break;
    lock.unlock();
    RunControllers();
    lock.lock();
  }
}

void ApiServer::Impl::RunControllers() {
  try {
    controllers.RunOnce();
  } catch (const std::exception& e) {
    Log()->error("controller pass failed error={}", e.what());
  }
}

ApiServer::ApiServer(ApiServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Impl::StartHttp(const std::string& host, int want_port) {
  auto srv = std::make_unique<httplib::Server>();
  srv->set_tcp_nodelay(true);
  srv->set_keep_alive_max_count(100000);
  srv->set_keep_alive_timeout(options.keep_alive_timeout.count());
  srv->set_read_timeout(std::chrono::seconds(30));
  srv->set_write_timeout(std::chrono::seconds(10));
  srv->set_payload_max_length(64 << 20);
  const size_t workers = static_cast<size_t>(std::max(4, options.worker_threads));
  srv->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  Impl* impl = this;
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    std::string m = method;
    auto handler = [impl, m](const httplib::Request& req, httplib::Response& res) {
      impl->Handle(m, req, res);
    };
    if (m == "GET") srv->Get(".*", handler);
    if (m == "POST") srv->Post(".*", handler);
    if (m == "PUT") srv->Put(".*", handler);
    if (m == "PATCH") srv->Patch(".*", handler);
    if (m == "DELETE") srv->Delete(".*", handler);
  }
  srv->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        Log()->error("unhandled exception path={}", req.path);
        res.status = 500;
        res.set_content(ApiError::Internal("kube-sim: unhandled exception").ToJson().dump(),
                        "application/json");
      });
  KB_ASSIGN_OR_RETURN(const int bound, BindHttpServer(*srv, host, want_port, "kube-sim"));
  port = bound;
  listen_host = host;
  stopping = false;
  server = std::move(srv);
  ServeInBackground(*server, &listen_thread);
  return Status::Ok();
}

void ApiServer::Impl::StopHttp(bool abrupt) {
  store.CloseAllWatchers(abrupt);  // before `stopping`, which would end the streams cleanly
  stopping = true;
  server->stop();
  if (listen_thread.joinable()) listen_thread.join();
  server.reset();
}

Status ApiServer::Start(const std::string& host, int port) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->started) return Status::FailedPrecondition("kube-sim already started");
  Impl* impl = impl_.get();
  KB_RETURN_IF_ERROR(impl->StartHttp(host, port));
  if (impl->options.run_controllers) {
    {
      std::lock_guard<std::mutex> l(impl->loop_mu);
      impl->loop_stop = false;
    }
    impl->controller_thread = std::thread([impl] { impl->ControllerLoop(); });
  }
  impl->started = true;
  Log()->info("kube-sim listening url=http://{}:{} auth={} event_history={}", host,
              impl->port.load(), impl->options.token.empty() ? "none" : "bearer",
              impl->options.event_history);
  return Status::Ok();
}

void ApiServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started) return;
  impl_->started = false;
  impl_->stopping = true;
  {
    std::lock_guard<std::mutex> l(impl_->loop_mu);
    impl_->loop_stop = true;
  }
  impl_->loop_cv.notify_all();
  if (impl_->controller_thread.joinable()) impl_->controller_thread.join();
  if (impl_->server) impl_->StopHttp(/*abrupt=*/false);
  Log()->info("kube-sim stopped");
}

void ApiServer::Disconnect() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started || !impl_->server) return;
  impl_->StopHttp(/*abrupt=*/true);
  Log()->warn("kube-sim disconnected: the API is unreachable until Reconnect port={}",
              impl_->port.load());
}

Status ApiServer::Reconnect() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started) return Status::FailedPrecondition("kube-sim is not started");
  if (impl_->server) return Status::Ok();
  KB_RETURN_IF_ERROR(impl_->StartHttp(impl_->listen_host, impl_->port));
  Log()->info("kube-sim reconnected port={}", impl_->port.load());
  return Status::Ok();
}

bool ApiServer::Connected() const {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  return impl_->started && impl_->server != nullptr;
}

void ApiServer::SaveBackup() {
  ObjectStore::Backup b = impl_->store.TakeBackup();
  std::lock_guard<std::mutex> lock(impl_->backup_mu);
  impl_->backup = std::move(b);
}

Status ApiServer::RestoreBackup() {
  std::lock_guard<std::mutex> lock(impl_->backup_mu);
  if (!impl_->backup) return Status::FailedPrecondition("kube-sim: no backup saved");
  impl_->store.Restore(*impl_->backup);
  Log()->warn("kube-sim restored a backup resource_version={}", impl_->backup->rv);
  return Status::Ok();
}

int ApiServer::port() const { return impl_->port; }

std::string ApiServer::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

const std::string& ApiServer::token() const { return impl_->options.token; }

namespace {

StatusOr<const ResourceInfo*> Resource(const std::string& resource) {
  const ResourceInfo* r = FindResource(resource);
  if (!r) return Status::InvalidArgument("kube-sim does not serve resource \"" + resource + "\"");
  return r;
}

StatusOr<json> ToStatusOr(const ApiResult<json>& r) {
  if (!r.ok()) return r.error().ToStatus();
  return r.value();
}

}  // namespace

StatusOr<json> ApiServer::CreateObject(const std::string& resource, const std::string& ns,
                                       json object) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(impl_->registry.Create(*r, ns, std::move(object), WriteMode::kDirect));
}

StatusOr<json> ApiServer::UpdateObject(const std::string& resource, const std::string& ns,
                                       json object) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  std::string name = StrAt(object, {"metadata", "name"});
  if (name.empty()) return Status::InvalidArgument("UpdateObject: metadata.name is required");
  return ToStatusOr(impl_->registry.Update(*r, ns, name, std::move(object), WriteMode::kDirect));
}

StatusOr<json> ApiServer::PatchObject(const std::string& resource, const std::string& ns,
                                      const std::string& name, const json& merge_patch) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(
      impl_->registry.Patch(*r, ns, name, PatchType::kJsonMerge, merge_patch, WriteMode::kDirect));
}

Status ApiServer::DeleteObject(const std::string& resource, const std::string& ns,
                               const std::string& name) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  DeleteOptions opts;
  opts.grace_period_seconds = 0;
  auto res = impl_->registry.Delete(*r, ns, name, opts);
  if (!res.ok()) return res.error().ToStatus();
  return Status::Ok();
}

StatusOr<json> ApiServer::GetObject(const std::string& resource, const std::string& ns,
                                    const std::string& name) const {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(impl_->registry.Get(*r, ns, name));
}

std::vector<json> ApiServer::ListObjects(const std::string& resource, const std::string& ns) const {
  std::vector<json> out;
  for (const auto& obj : impl_->store.List(resource)) {
    if (ns.empty() || Namespace(*obj) == ns) out.push_back(*obj);
  }
  return out;
}

std::string ApiServer::CurrentResourceVersion() const {
  return std::to_string(impl_->store.CurrentRv());
}

Status ApiServer::BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                          const std::string& node) {
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  if (!uid.empty()) binding["metadata"]["uid"] = uid;
  auto r = impl_->registry.Bind(ns, name, binding);
  if (!r.ok()) return r.error().ToStatus();
  return Status::Ok();
}

Status ApiServer::LoadScenario(const json& scenario) {
  auto objects = ExpandScenario(scenario, FormatRfc3339(impl_->clock.WallNow()));
  if (!objects.ok()) return objects.status();
  for (auto& o : *objects) {
    const std::string name = StrAt(o.object, {"metadata", "name"});
    KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(o.resource));
    auto created = impl_->registry.Create(*r, o.ns, std::move(o.object), WriteMode::kDirect);
    if (!created.ok()) {
      return created.error().ToStatus().Annotate("scenario: " + o.resource + " \"" + name + "\"");
    }
  }
  Log()->info("scenario loaded objects={}", objects->size());
  return Status::Ok();
}

Status ApiServer::LoadScenarioFile(const std::string& path) {
  KB_ASSIGN_OR_RETURN(json scenario, ReadScenarioFile(path));
  return LoadScenario(scenario).Annotate(path);
}

void ApiServer::AddFault(const FaultRule& rule) {
  std::lock_guard<std::mutex> lock(impl_->faults_mu);
  impl_->faults.push_back({rule, 0, 0});
}

void ApiServer::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->faults_mu);
  impl_->faults.clear();
}

void ApiServer::DropWatches(bool abrupt) { impl_->store.CloseAllWatchers(abrupt); }

size_t ApiServer::OpenWatches() const { return impl_->store.WatcherCount(); }

void ApiServer::ForgetHistory() { impl_->store.ForgetHistory(); }

RequestCounts ApiServer::Counts() const {
  std::lock_guard<std::mutex> lock(impl_->counts_mu);
  return impl_->counts;
}

void ApiServer::ResetCounts() {
  std::lock_guard<std::mutex> lock(impl_->counts_mu);
  impl_->counts.counts.clear();
}

void ApiServer::SetAuditSink(std::function<void(const AuditRecord&)> sink) {
  std::lock_guard<std::mutex> lock(impl_->audit_mu);
  impl_->audit_sink = std::move(sink);
}

void ApiServer::SetAggregatedApi(const std::string& prefix, AggregatedHandler handler) {
  std::lock_guard<std::mutex> lock(impl_->audit_mu);
  if (handler) {
    impl_->aggregated[prefix] = std::move(handler);
  } else {
    impl_->aggregated.erase(prefix);
  }
}

void ApiServer::RunControllersOnce() { impl_->RunControllers(); }

void ApiServer::AddController(std::string name, std::function<void()> loop) {
  impl_->controllers.Add(std::move(name), std::move(loop));
}

}  // namespace kb::sim
