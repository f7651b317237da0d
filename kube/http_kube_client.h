// HttpKubeClient: the real KubeClient, speaking the Kubernetes REST API over cpp-httplib (http or
// https with a CA, client certificates and/or a bearer token that is re-read as it rotates). It
// maps HTTP results to Status once (see kube_client.h), retries idempotent calls on transient
// failures with exponential backoff and full jitter, and limits its own request rate.
// Thread-safe: any number of threads may call it; each call blocks on I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "kube/http_status.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"

namespace kb::kube {

class HttpTransport;

struct HttpKubeClientOptions {
  double qps = 50;  // sustained client-side request rate (token bucket); <= 0 = unlimited
  int burst = 100;  // requests allowed at once above qps
  std::chrono::milliseconds timeout{30000};          // per-request read/write timeout
  std::chrono::milliseconds connect_timeout{10000};  // TCP (+TLS) connect timeout
  // Extra attempts for idempotent calls (GET, LIST, PUT with a resourceVersion, merge PATCH,
  // DELETE with a UID precondition) after 5xx, 429, timeouts and connection errors. POSTs
  // (create, binding, eviction, events) are not retried after the server may have seen them; any
  // call is retried once, at once, on a fresh connection when a reused keep-alive connection
  // turns out to be closed already (see HttpKubeClientStats::stale_connection_retries).
  int max_retries = 4;
  // Pooled keep-alive connections idle this long are closed instead of reused, so the client
  // never writes into a connection the server is about to close (kube-apiserver closes idle ones
  // after 90 s; proxies and load balancers often sooner).
  std::chrono::milliseconds idle_connection_timeout{30000};
  std::chrono::milliseconds backoff_base{200};   // first retry waits up to this (full jitter)
  std::chrono::milliseconds backoff_max{10000};  // cap of the backoff and of Retry-After
  // The token file is re-read at least this often (and once right after a 401).
  std::chrono::seconds token_refresh_period{60};
  // A watch's read timeout is its timeoutSeconds plus this slack: a silent, dead connection is
  // noticed even if the server never closes it.
  std::chrono::seconds watch_read_slack{30};
  // How often an idle watch checks its stop flag (a stop closes the socket from another thread).
  std::chrono::milliseconds stop_poll_interval{50};
  std::string user_agent = "kube-balancer";
  uint64_t jitter_seed = 0;  // PRNG seed for backoff jitter (0 = random)
  // How the client waits (throttling, backoff). Default: std::this_thread::sleep_for. Tests pass
  // a function that advances a FakeClock.
  std::function<void(std::chrono::nanoseconds)> sleep;
};

// Counters for tests and metrics.
struct HttpKubeClientStats {
  uint64_t requests = 0;       // HTTP requests sent (every attempt, including watches)
  uint64_t retries = 0;        // attempts repeated after a transient failure
  uint64_t throttled = 0;      // requests that waited for the rate limiter
  uint64_t token_reloads = 0;  // successful reads of the token file
  // Calls repeated on a fresh connection because the reused one had been closed by the server
  // (write failed, or the connection ended before any response).
  uint64_t stale_connection_retries = 0;
  uint64_t idle_connections_closed = 0;  // pooled connections dropped for idling too long
};

class HttpKubeClient final : public KubeClient {
 public:
  // Validates `config` (server URL, CA / client cert PEM parse, token file readable) and builds
  // the client. InvalidArgument / NotFound naming the bad setting. `clock` must outlive the
  // client; it times token refreshes and the rate limiter.
  static StatusOr<std::unique_ptr<HttpKubeClient>> Create(
      const KubeConfig& config, HttpKubeClientOptions options = {},
      const Clock& clock = SystemClock::Instance());
  ~HttpKubeClient() override;
  HttpKubeClient(const HttpKubeClient&) = delete;
  HttpKubeClient& operator=(const HttpKubeClient&) = delete;

  StatusOr<RawList> List(ResourceKind kind, const ListOptions& options) override;
  Status Watch(ResourceKind kind, const WatchOptions& options, const WatchHandler& handler,
               const std::atomic<bool>* stop) override;
  StatusOr<nlohmann::json> GetPod(const std::string& ns, const std::string& name) override;
  StatusOr<nlohmann::json> CreatePod(const std::string& ns, const nlohmann::json& pod) override;
  Status DeletePod(const std::string& ns, const std::string& name,
                   const std::string& uid_precondition = "") override;
  Status BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::string& node) override;
  Status EvictPod(const std::string& ns, const std::string& name,
                  const EvictOptions& options) override;
  StatusOr<Deployment> GetDeployment(const std::string& ns, const std::string& name) override;
  StatusOr<ReplicaSet> GetReplicaSet(const std::string& ns, const std::string& name) override;
  StatusOr<Deployment> PatchDeployment(const std::string& ns, const std::string& name,
                                       const nlohmann::json& merge_patch) override;
  Status CreateEvent(const std::string& ns, const nlohmann::json& event) override;
  StatusOr<Lease> GetLease(const std::string& ns, const std::string& name) override;
  StatusOr<Lease> CreateLease(const Lease& lease) override;
  StatusOr<Lease> UpdateLease(const Lease& lease) override;
  StatusOr<std::string> GetRaw(const std::string& path) override;
  StatusOr<nlohmann::json> GetConfigMap(const std::string& ns, const std::string& name) override;
  StatusOr<nlohmann::json> CreateConfigMap(const std::string& ns,
                                           const nlohmann::json& config_map) override;
  StatusOr<nlohmann::json> UpdateConfigMap(const std::string& ns,
                                           const nlohmann::json& config_map) override;

  HttpKubeClientStats Stats() const;
  const KubeConfig& config() const;

 private:
  explicit HttpKubeClient(std::unique_ptr<HttpTransport> transport);
  std::unique_ptr<HttpTransport> impl_;
};

}  // namespace kb::kube
