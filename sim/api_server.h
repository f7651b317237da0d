// kube-sim's API server: a strict simulated Kubernetes API server on 127.0.0.1 for tests, the
// demo and the e2e scenarios. It serves the REST subset kube-balancer uses with the real server's
// semantics: monotonic resourceVersions, 409 Status bodies on stale updates, 404 Status bodies,
// list pagination with continue tokens, watch streams (JSON lines, ADDED / MODIFIED / DELETED /
// BOOKMARK / ERROR) with a bounded event history and 410 Expired for a too-old resourceVersion,
// bearer-token auth (401 without it), pods/binding, and pods/eviction with PodDisruptionBudgets
// honoured as kube-apiserver does. Small control loops (Deployment -> ReplicaSet -> Pods, a
// kubelet stand-in, PDB status, graceful deletion) make it behave like a cluster.
// Thread-safe: the HTTP workers, the controller thread and test threads may call it concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace kb::sim {

// Resource names used in URLs, counters and fault rules: "nodes", "pods", "pods/binding",
// "pods/eviction", "poddisruptionbudgets", "deployments", "replicasets", "events", "leases".
// Verbs: "list", "watch", "get", "create", "update", "patch", "delete".

// Fails or delays matching requests. A rule matches when verb and resource match ("*" = any).
// It fires on the Nth match (`nth`), on a share of matches (`percent`), or, when both are 0, on
// every match; a firing rule adds `latency`, then fails the request with `status` (if non-zero).
struct FaultRule {
  std::string verb = "*";
  std::string resource = "*";
  int nth = 0;         // fail only the Nth matching request (1-based); 0 = use `percent`
  double percent = 0;  // fail this share of matching requests (0..100), deterministic PRNG;
                       // 0 together with nth 0 = every matching request
  int status = 500;    // HTTP status of the injected failure (0 = no failure, latency only)
  std::chrono::milliseconds latency{0};  // added before answering (or failing)
  int max_failures = -1;                 // stop failing after this many (-1 = unlimited)
};

// How a watch from a resourceVersion older than the event history is refused. kube-apiserver
// does both: the watch cache answers HTTP 200 and an in-stream ERROR event (410 Expired), other
// paths answer HTTP 410 with the Status body.
enum class ExpiredWatchMode {
  kErrorEvent,  // HTTP 200, then {"type":"ERROR","object":<Status 410 Expired>}, then end
  kHttp410,     // HTTP 410 with the Status body
  kAlternate,   // alternate between the two, starting with kErrorEvent
};

struct ApiServerOptions {
  std::string token = "kube-sim-token";  // bearer token required on every request ("" = no auth)
  size_t event_history = 1000;           // watch events kept; older resourceVersions get 410
  std::chrono::milliseconds bookmark_interval{1000};  // BOOKMARK cadence on idle watches
  // Controllers: ReplicaSet/Deployment reconciliation, kubelet stand-in, PDB status, deletion.
  bool run_controllers = true;
  std::chrono::milliseconds controller_period{20};
  // Kubelet stand-in: a bound pod becomes Running and Ready after this delay.
  std::chrono::milliseconds pod_ready_delay{100};
  // Default grace period for deletions/evictions when the request gives none.
  int64_t default_grace_seconds = 0;
  // Continue tokens older than this many resourceVersions answer 410 Expired.
  size_t continue_token_max_age = 100000;
  // HTTP worker threads. Every open watch occupies one worker for its whole life.
  int worker_threads = 32;
  uint64_t fault_seed = 1;
  // Added by kube-sim's implementation:
  const Clock* clock = nullptr;  // time for timestamps and controllers (nullptr = SystemClock)
  ExpiredWatchMode expired_watch_mode = ExpiredWatchMode::kErrorEvent;
  // Watches end after this long when the request gives no (or a larger) timeoutSeconds.
  std::chrono::seconds max_watch_timeout{1800};
  size_t watch_queue_limit = 100000;            // a watcher this many events behind is closed
  bool kubelet_admission = true;                // see sim/controllers.h ControllerOptions
  bool garbage_collector = true;                // see sim/controllers.h ControllerOptions
  std::chrono::milliseconds pdb_status_lag{0};  // see sim/controllers.h ControllerOptions
  uint64_t random_seed = 0;                     // uids and generated names (0 = random)
  // Idle keep-alive connections are closed after this long (also bounds Stop()).
  std::chrono::seconds keep_alive_timeout{1};
  // When > 0: a request arriving on a keep-alive connection that has been idle longer than this
  // is dropped unanswered and the connection closed, as when kube-apiserver's idle timer (90 s)
  // closes the connection while the client's request is on the wire. (A connection the server
  // closes visibly ahead of time is noticed by the client; this race is what a client must
  // survive.) The request is not served. Set keep_alive_timeout above it.
  std::chrono::milliseconds idle_close_after{0};
};

// One served API request, as kube-apiserver's audit log would record it (the e2e tests attribute
// evictions, pod creations and patches to the client that made them).
struct AuditRecord {
  std::string method;      // "GET", "POST", ...
  std::string verb;        // "list", "create", ... ("" when the path names no resource)
  std::string resource;    // "pods", "pods/eviction", "deployments", ... ("unknown" when none)
  std::string ns;          // namespace from the URL ("" for cluster-scoped / all namespaces)
  std::string name;        // object name from the URL ("" for collections)
  int code = 0;            // HTTP status answered (for watches: the status the stream opened with)
  std::string user_agent;  // the client's User-Agent header
  std::string body;        // request body of create / update / patch / eviction requests
};

struct RequestCounts {
  // (verb, resource) -> count, e.g. {"list","pods"} -> 3.
  std::map<std::pair<std::string, std::string>, uint64_t> counts;
  uint64_t Get(const std::string& verb, const std::string& resource) const;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options = {});
  ~ApiServer();  // Stops.
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds host:port (port 0 = any free port) and starts serving and the controllers.
  // Returns once the server accepts connections.
  Status Start(const std::string& host = "127.0.0.1", int port = 0);
  // Stops serving (closing open watches) and the controllers. Idempotent.
  void Stop();
  // An outage: stops serving (every watch is reset, new connections are refused) while the
  // cluster's control loops keep running. Reconnect() serves again on the same port. Both are
  // no-ops when already in that state.
  void Disconnect();
  Status Reconnect();
  bool Connected() const;
  int port() const;
  std::string url() const;  // "http://127.0.0.1:<port>"
  const std::string& token() const;

  // Direct state access for tests and scenario loading. These go through the same storage as
  // HTTP requests (resourceVersions bump, watch events are emitted, validation applies) but are
  // not counted as requests. Unlike HTTP writes they store the object as given, status included
  // (HTTP writes follow kube's status-subresource rules). `resource` is a plural name as above;
  // cluster-scoped kinds (nodes) take ns "".
  StatusOr<nlohmann::json> CreateObject(const std::string& resource, const std::string& ns,
                                        nlohmann::json object);
  // Replaces the object; a non-empty metadata.resourceVersion must match (else 409 Aborted).
  StatusOr<nlohmann::json> UpdateObject(const std::string& resource, const std::string& ns,
                                        nlohmann::json object);
  // Deletes immediately (no grace period).
  Status DeleteObject(const std::string& resource, const std::string& ns, const std::string& name);
  StatusOr<nlohmann::json> GetObject(const std::string& resource, const std::string& ns,
                                     const std::string& name) const;
  std::vector<nlohmann::json> ListObjects(const std::string& resource,
                                          const std::string& ns = "") const;
  // The current resourceVersion (as a decimal string).
  std::string CurrentResourceVersion() const;
  // Applies a JSON merge patch (RFC 7386) directly (same rules as UpdateObject).
  StatusOr<nlohmann::json> PatchObject(const std::string& resource, const std::string& ns,
                                       const std::string& name, const nlohmann::json& merge_patch);
  // pods/binding without HTTP (the scheduler driver's path); `uid` is a precondition when set.
  Status BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::string& node);

  // Control loops. RunControllersOnce() runs one pass of every loop (tests with
  // run_controllers = false drive the cluster with it). AddController() appends a loop run after
  // the built-in ones on every pass (the scheduler driver, the node metrics); it must not call
  // AddController or RunControllersOnce itself.
  void RunControllersOnce();
  void AddController(std::string name, std::function<void()> loop);

  // Loads a scenario document (format: docs/scenario-format.md): nodes, deployments, bare pods,
  // PDBs. InvalidArgument naming the offending entry on bad input.
  Status LoadScenario(const nlohmann::json& scenario);
  Status LoadScenarioFile(const std::string& path);  // YAML or JSON

  // Fault injection and observation.
  void AddFault(const FaultRule& rule);
  void ClearFaults();
  // Closes every open watch stream now: cleanly (terminating chunk, as a server-side timeout
  // does) or abruptly (connection reset mid-stream).
  void DropWatches(bool abrupt = false);
  size_t OpenWatches() const;
  void ForgetHistory();  // drops the event history: any older RV now gets 410
  // etcd backup and restore: SaveBackup() records every object and the resourceVersion;
  // RestoreBackup() puts them back as an etcd restore plus an API server restart do: objects
  // created since vanish, deleted ones return, resourceVersions go backwards, every watch is
  // reset, and a client resuming from a newer resourceVersion gets 504 ResourceVersionTooLarge.
  // FailedPrecondition when no backup was saved.
  void SaveBackup();
  Status RestoreBackup();
  RequestCounts Counts() const;  // requests served (including injected failures)
  void ResetCounts();
  // Calls `sink` after every answered API request (not /healthz or /version), from the HTTP
  // worker that served it; it must be fast and thread-safe. Replaces any previous sink; an empty
  // function removes it.
  void SetAuditSink(std::function<void(const AuditRecord&)> sink);

  // An aggregated API (as kube-aggregator proxies an APIService, e.g. metrics-server's
  // metrics.k8s.io): authenticated GETs whose path starts with `prefix` ("/apis/metrics.k8s.io/")
  // go to `handler` (path plus the raw query string) instead of the built-in resources; it answers
  // an HTTP code and a JSON body. Counted as verb "get" and resource "aggregated" (plus faults
  // for that pair). Replaces a handler with the same prefix; an empty function removes it (the
  // group is then not served: 404).
  struct AggregatedAnswer {
    int code = 200;
    std::string body;
  };
  using AggregatedHandler = std::function<AggregatedAnswer(const std::string& path)>;
  void SetAggregatedApi(const std::string& prefix, AggregatedHandler handler);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kb::sim
