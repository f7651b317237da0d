// ExtenderServer: kube-balancer's HTTP(S) listeners, on cpp-httplib over the connection layer of
// http_connection.h. It maps requests to the codec and the Extender (POST /filter /prioritize
// /bind), and serves /metrics (Prometheus text format 0.0.4), /healthz, /readyz and /debug/*.
// With a metrics address, /metrics /healthz /readyz move to that second listener and the verbs
// and /debug/* stay on the main one (each answers 404 for the other's paths). Errors are JSON
// {"Error": ...}: 400 malformed body or framing, 404 unknown path, 405 wrong method (with Allow),
// 408 request too slow, 413 body over its limit, 415 encoding, 431 headers over their limits,
// 500 handler exception, 503 over maxConnections.
// Every request passes one admission check before its route (Admit in http_routes.cc); filter,
// prioritize and debug scores compute on at most `threads` threads at once, binds run on their
// own BindRunner. Start/Stop from the owner thread; handlers run on connection threads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "server/bind_runner.h"
#include "server/extender.h"
#include "server/http_connection.h"
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
  int port = 0;                   // 0 = any free port (see ExtenderServer::port())
  bool metrics_listener = false;  // serve /metrics /healthz /readyz on metrics_host:port
  std::string metrics_host = "127.0.0.1";
  int metrics_port = 0;                  // 0 = any free port (see metrics_port())
  TlsConfig tls;                         // HTTPS when cert and key are set; mTLS with a client CA
  int64_t max_request_bytes = 67108864;  // larger verb bodies get 413
  int threads = 0;                       // verb workers (filter/prioritize); 0 = 2 * ncpu + 4
  ConnectionLimits limits;               // connections, header bytes, timeouts
  size_t max_header_count = 64;          // more header fields get 431
  int max_compression_ratio = 20;        // decompressed / compressed body bytes
  size_t max_concurrent_binds = 8;       // binds in flight; more get an extender error
  std::chrono::milliseconds bind_timeout{1500};  // a bind answers by then (error on timeout)

  // listen, metricsListen, tls, maxRequestBytes, serverThreads and the admission keys of the
  // configuration.
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

  // Binds host:port (and the metrics address) and starts serving on background threads;
  // returns once the sockets accept connections. InvalidArgument for unreadable TLS files,
  // Unavailable naming the address when one is taken (no SO_REUSEPORT: a second process on the
  // same address fails instead of sharing its traffic).
  Status Start();
  // Stops accepting, lets in-flight requests finish and joins. Idempotent.
  void Stop();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 without a metrics listener
  bool tls() const;
  // "http://127.0.0.1:8888" / "https://..." (the bound address).
  std::string url() const;
  // The metrics listener's URL (plain HTTP), or url() without one.
  std::string metrics_url() const;

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

  // Which paths a listener serves.
  enum Surface : unsigned { kVerbs = 1, kProbes = 2, kAll = 3 };
  struct Listener;

  // Route installation (http_routes.cc), in this order.
  void InstallRoutes(httplib::Server& svr, Surface surface);
  void ApplyConnectionSettings(httplib::Server& svr);
  void InstallAdmission(httplib::Server& svr, Surface surface);
  void InstallVerbRoutes(httplib::Server& svr);
  void InstallGetRoutes(httplib::Server& svr, Surface surface);
  void InstallFallback(httplib::Server& svr, Surface surface);
  void InstallErrorHandlers(httplib::Server& svr);
  std::string TooLargeBody() const;
  size_t DrainAllowance() const;
  // The admission check every request passes before its route (http_routes.cc).
  bool Admit(const httplib::Request& req, httplib::Response& res, Surface surface);
  void OnRejection(Rejection r);

  // Binds and starts one listener; its port.
  StatusOr<int> StartListener(Listener& l, const std::string& host, int port, SSL_CTX* ssl_ctx,
                              Surface surface);

  // Reads a verb's body within maxRequestBytes (413 beyond it), then Serve()s it.
  void ReadVerbBody(Verb verb, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader);
  // Decodes `body`, runs the verb and writes the JSON response (timed and counted).
  void Serve(Verb verb, const httplib::Request& req, std::string body, httplib::Response& res);
  Answer ServeFilter(std::string body);
  Answer ServePrioritize(const std::string& body);
  Answer ServeBind(const std::string& body);
  Answer Compute(Verb verb, const httplib::Request& req, std::string body);
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
  std::unique_ptr<Listener> main_;
  std::unique_ptr<Listener> metrics_listener_;
  std::unique_ptr<std::counting_semaphore<>> verb_workers_;
  std::unique_ptr<BindRunner> binds_;
  int port_ = 0;
  int metrics_port_ = 0;
  std::atomic<bool> started_{false};
  std::mutex log_mu_;
  std::array<std::chrono::steady_clock::time_point, kRejectionCount> last_logged_{};
  std::array<uint64_t, kRejectionCount> unlogged_{};
};

}  // namespace kb::server
