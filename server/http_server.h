// ExtenderServer: the one HTTP(S) port of kube-balancer, on cpp-httplib. It maps requests to the
// codec and the Extender (POST /filter /prioritize /bind), and serves /metrics (Prometheus text
// format 0.0.4), /healthz, /readyz and /debug/scores. Errors are JSON {"Error": ...}: 400
// malformed body, 404 unknown path, 405 wrong method (with Allow), 413 body over
// maxRequestBytes, 500 handler exception. Read / write / keep-alive timeouts bound every worker.
// Start/Stop from the owner thread; handlers run on the server's worker pool.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "server/extender.h"
#include "server/metrics.h"

namespace prometheus {
class Registry;
}
namespace httplib {
class Server;
struct Request;
class ContentReader;
struct Response;
}  // namespace httplib

namespace kb::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                            // 0 = any free port (see ExtenderServer::port())
  TlsConfig tls;                           // HTTPS when cert and key are set; mTLS with a client CA
  int64_t max_request_bytes = 67108864;    // larger bodies get 413
  int threads = 0;                         // worker threads; 0 = 2 * ncpu + 4
  std::chrono::seconds read_timeout{10};   // a request must arrive within this
  std::chrono::seconds write_timeout{10};  // a response must drain within this
  std::chrono::seconds keep_alive_timeout{5};  // idle keep-alive connections close after this
  size_t keep_alive_max_count = 1000;          // requests per connection before it is recycled

  // listen, tls, maxRequestBytes and serverThreads from the configuration.
  static StatusOr<ServerOptions> FromConfig(const Config& config);
};

// Called after each extender request with the server-side time (body fully read -> response
// encoded) and the request body size. For benchmarks.
using LatencyObserver =
    std::function<void(Verb verb, std::chrono::nanoseconds elapsed, size_t body_bytes)>;

class ExtenderServer {
 public:
  // `ready` answers /readyz (e.g. the cluster cache has synced); `/metrics` serves what `registry`
  // collects (a prometheus::Registry, or the process's MetricsExposition). References must
  // outlive the server.
  ExtenderServer(Extender& extender, const prometheus::Collectable& registry,
                 ExtenderMetrics& metrics, ServerOptions options, std::function<bool()> ready);
  ~ExtenderServer();  // Stops.
  ExtenderServer(const ExtenderServer&) = delete;
  ExtenderServer& operator=(const ExtenderServer&) = delete;

  // Binds host:port and starts serving on a background thread; returns once the socket accepts
  // connections. InvalidArgument for unreadable TLS files, Unavailable when the port is taken.
  Status Start();
  // Stops accepting, lets in-flight requests finish and joins. Idempotent.
  void Stop();

  int port() const { return port_; }
  bool tls() const;
  // "http://127.0.0.1:8888" / "https://..." (the bound address).
  std::string url() const;

  // Adds GET `path` answering handler() with 200 application/json (e.g. /debug/plan, served by
  // the rescheduler). Call before Start(). Other methods on `path` get 405.
  void AddGetRoute(const std::string& path, std::function<std::string()> handler);

  // Test and benchmark hooks; call before Start().
  void SetLatencyObserverForTest(LatencyObserver observer);
  // Adds POST `path` answering handler(body) with 200 application/json, timed like the verbs
  // (reported as Verb::kOther). The benchmark's no-op baseline on the same server.
  void AddPostRouteForTest(const std::string& path,
                           std::function<std::string(const std::string& body)> handler);

 private:
  // A decoded filter request and its encoded answer, kept alive until the answer is written.
  struct FilterAnswer {
    std::string body;
    ExtenderArgs args;
    ResponseBody response;
  };
  struct Answer;  // a verb's HTTP code and body (or streamed filter answer)

  // Route installation (http_routes.cc), in this order.
  void InstallRoutes();
  void ApplyConnectionSettings();
  void InstallBodyLimit();
  void InstallVerbRoutes();
  void InstallGetRoutes();
  void InstallFallback();
  void InstallErrorHandlers();
  std::string TooLargeBody() const;

  // Reads a verb's body within maxRequestBytes (413 beyond it), then Serve()s it.
  void ReadVerbBody(Verb verb, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader);
  // Decodes `body`, runs the verb and writes the JSON response (timed and counted).
  void Serve(Verb verb, const httplib::Request& req, std::string body, httplib::Response& res);
  Answer ServeFilter(std::string body);
  Answer ServePrioritize(const std::string& body);
  Answer ServeBind(const std::string& body);
  Answer ServeDebugScores(const httplib::Request& req, const std::string& body);
  void WriteStreamed(std::shared_ptr<FilterAnswer> streamed, int code, httplib::Response& res);

  Extender& extender_;
  const prometheus::Collectable& registry_;
  ExtenderMetrics& metrics_;
  ServerOptions options_;
  std::function<bool()> ready_;
  LatencyObserver observer_;
  std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> test_routes_;
  std::vector<std::pair<std::string, std::function<std::string()>>> get_routes_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> started_{false};
};

}  // namespace kb::server
