// The inside of kube-sim's ApiServer (sim/api_server.h), shared by its two halves:
// sim/api_server.cc (lifecycle, direct state access, faults, scenarios) and sim/api_handlers.cc
// (the HTTP requests: routing, list, watch, writes, fault injection, audit).
// Thread-safety as documented on each member.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_routes.h"
#include "sim/api_server.h"
#include "sim/controllers.h"
#include "sim/object_store.h"
#include "sim/registry.h"
#include "sim/selectors.h"

namespace kb::sim {

struct ApiServer::Impl {
  explicit Impl(ApiServerOptions opts);

  // ---- HTTP requests (sim/api_handlers.cc) ----
  // An aggregated API's GET (SetAggregatedApi): false when no prefix matches.
  bool ServeAggregated(const httplib::Request& req, httplib::Response& res, AuditRecord& record);
  // Serves one request of any method, then hands its audit record to the sink.
  void Handle(const std::string& method, const httplib::Request& req, httplib::Response& res);
  void Dispatch(const std::string& method, const httplib::Request& req, httplib::Response& res,
                AuditRecord& record);
  // create / update / patch / delete of `route` with the parsed `body`.
  void Write(const std::string& verb, const Route& route, const httplib::Request& req,
             nlohmann::json body, httplib::Response& res);
  void List(const Route& route, const httplib::Request& req, httplib::Response& res);
  void Watch(const Route& route, const httplib::Request& req, httplib::Response& res);
  // The injected failure (if any) for the request, after sleeping the injected latency.
  std::optional<ApiError> InjectFaults(const std::string& verb, const std::string& resource);
  void Count(const std::string& verb, const std::string& resource);
  // options.idle_close_after: true when `req` came on a connection idle longer than that; the
  // connection is then shut down and the request must not be served. Otherwise *connection is
  // the connection's id (0 = unknown), whose idle period restarts when the answer is ready.
  bool DropIdleConnection(const httplib::Request& req, uint64_t* connection);

  // ---- serving (sim/api_server.cc); lifecycle_mu held ----
  // Builds, binds and serves the HTTP server on host:want_port (0 = any free port).
  Status StartHttp(const std::string& host, int want_port);
  // Closes every watch (abruptly: connection reset) and stops serving.
  void StopHttp(bool abrupt);

  // ---- control loops (sim/api_server.cc) ----
  void ControllerLoop();
  void RunControllers();

  struct FaultState {
    FaultRule rule;
    uint64_t matched = 0;
    int failures = 0;
  };

  ApiServerOptions options;
  const Clock& clock;
  ObjectStore store;
  Registry registry;
  Controllers controllers;

  std::mutex faults_mu;
  std::vector<FaultState> faults;  // Guarded by faults_mu.
  std::mt19937_64 fault_rng;       // Guarded by faults_mu.
  mutable std::mutex counts_mu;
  RequestCounts counts;  // Guarded by counts_mu.
  std::mutex audit_mu;
  std::function<void(const AuditRecord&)> audit_sink;              // Guarded by audit_mu.
  std::map<std::string, ApiServer::AggregatedHandler> aggregated;  // Guarded by audit_mu.
  std::atomic<uint64_t> expired_count{0};
  std::mutex backup_mu;
  std::optional<ObjectStore::Backup> backup;  // Guarded by backup_mu.
  std::mutex idle_mu;
  // Socket inode -> when its last request was served. Guarded by idle_mu.
  std::map<uint64_t, std::chrono::steady_clock::time_point> last_request;
  std::atomic<uint64_t> idle_dropped{0};

  std::atomic<bool> stopping{false};
  mutable std::mutex lifecycle_mu;  // serialises Start / Stop / Disconnect / Reconnect
  std::string listen_host;          // Guarded by lifecycle_mu.
  bool started = false;             // Guarded by lifecycle_mu.
  std::atomic<int> port{0};
  std::unique_ptr<httplib::Server> server;
  std::thread listen_thread;
  std::mutex loop_mu;
  std::condition_variable loop_cv;
  bool loop_stop = false;  // Guarded by loop_mu.
  std::thread controller_thread;
};

}  // namespace kb::sim
