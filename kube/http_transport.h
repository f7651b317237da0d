// HttpTransport: the HTTP side of HttpKubeClient: TLS material and the bearer token (re-read as it
// rotates), a pool of keep-alive connections, the client-side rate limit, retries of idempotent
// calls with backoff and full jitter, and the registry of open watches whose sockets a stop flag
// closes. Internal to kube/. Thread-safe.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/url.h"
#include "kube/http_kube_client.h"
#include "kube/kube_config.h"
#include "kube/rate_limiter.h"

namespace kb::kube {

using nlohmann::json;

struct HttpCall {
  std::string method;
  std::string path;  // path + query, without the server base path
  std::string body;
  std::string content_type;
  bool idempotent = false;
  std::string context;  // for messages: "get pod default/web-1"
};

struct HttpReply {
  int status = 0;
  std::string body;
};

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class HttpTransport {
 public:
  // Validates the TLS material of `config` (CA, client certificate and key) and the token file.
  static StatusOr<std::unique_ptr<HttpTransport>> Create(const KubeConfig& config,
                                                         HttpKubeClientOptions options,
                                                         const Clock& clock);
  HttpTransport(KubeConfig cfg, HttpKubeClientOptions opts, const Clock& clk, HttpUrl url);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;
  const KubeConfig config;
  HttpKubeClientOptions options;
  const Clock& clock;
  const HttpUrl server;
  TokenBucket limiter;

  // TLS material, parsed once at Create().
  std::string ca_pem;  // in-memory CA (certificate-authority-data)
  std::vector<X509Ptr> client_chain;
  PkeyPtr client_key;
  std::string tls_address;  // numeric address of the server when tls-server-name is used

  std::mutex token_mu;
  std::string token;             // Guarded by token_mu.
  SteadyTime token_read_at{};    // Guarded by token_mu.
  bool token_read_once = false;  // Guarded by token_mu.

  // A pooled keep-alive connection and when it was returned to the pool.
  struct Pooled {
    std::unique_ptr<httplib::ClientImpl> client;
    SteadyTime idle_since{};
  };
  std::mutex pool_mu;
  std::vector<Pooled> pool;  // Guarded by pool_mu; most recently used last.

  std::mutex rng_mu;
  std::mt19937_64 rng;  // Guarded by rng_mu.

  std::atomic<uint64_t> n_requests{0}, n_retries{0}, n_throttled{0}, n_token_reloads{0},
      n_stale_retries{0}, n_idle_closed{0};

  // Active watches, so the monitor thread can close the socket of a stopped one.
  struct ActiveWatch {
    httplib::ClientImpl* client;
    const std::atomic<bool>* stop;
  };
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  std::list<ActiveWatch> watches;  // Guarded by watch_mu.
  bool shutting_down = false;      // Guarded by watch_mu.
  std::thread monitor;             // Started with the first watch that has a stop flag.

  // --- token ---

  // Current bearer token ("" = none). Re-reads the token file when stale or `force`.
  std::string Token(bool force);

  // --- clients ---

  std::unique_ptr<httplib::ClientImpl> NewClient(std::chrono::milliseconds read_timeout);
  // A pooled connection (*reused = true) that has idled less than idle_connection_timeout, or a
  // new one; pooled connections idle longer are closed on the way.
  std::unique_ptr<httplib::ClientImpl> Acquire(bool* reused);
  void Release(std::unique_ptr<httplib::ClientImpl> cli);
  httplib::Headers BaseHeaders(bool force_token);
  void Throttle();
  std::chrono::nanoseconds Backoff(int attempt);

  // The Status of a failed send: timeouts are DeadlineExceeded, everything else Unavailable.
  Status TransportError(httplib::Error err, std::chrono::steady_clock::duration elapsed,
                        std::chrono::milliseconds read_timeout, const std::string& context);
  static bool RetryableTransport(httplib::Error err);
  // Whether a failed send on a reused connection means the server had closed it before reading
  // the request: the write failed, or the connection ended before any response arrived and
  // well before the read timeout. Such a call is repeated once on a fresh connection, POSTs
  // included. (A server that read the request and then dropped the connection without answering
  // looks the same; for kube-balancer's POSTs a replay then answers 409 or 404, never a
  // duplicate: bindings and evictions name their pod, creates carry a fixed name.)
  static bool StaleConnection(httplib::Error err, bool response_started,
                              std::chrono::steady_clock::duration elapsed,
                              std::chrono::milliseconds read_timeout);

  // Sends `call`, retrying as its idempotency allows. Returns the final reply for any HTTP
  // status, or a transport Status.
  StatusOr<HttpReply> Do(const HttpCall& call);

  // Do() + status mapping + JSON parse of a 2xx body.
  StatusOr<json> CallJson(const HttpCall& call);
  Status CallNoBody(const HttpCall& call);

  // --- watch ---

  // Watches with a stop flag are registered so the monitor thread can close their sockets.
  void RegisterWatch(httplib::ClientImpl* cli, const std::atomic<bool>* stop,
                     std::list<ActiveWatch>::iterator* it);
  void UnregisterWatch(std::list<ActiveWatch>::iterator it);
  void MonitorLoop();
};

}  // namespace kb::kube
