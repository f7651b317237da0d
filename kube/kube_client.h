// KubeClient: the Kubernetes API verbs kube-balancer uses, and nothing more. The real
// implementation is HttpKubeClient (kube/http_kube_client.h); tests use kube-sim over real HTTP or
// test/fakes/fake_kube_client.h. Implementations are thread-safe; every call blocks on I/O and
// must never be made on the extender's hot path (filter / prioritize).
//
// HTTP results map to Status once, in the implementation:
//   transport error / 5xx -> kUnavailable     timeout -> kDeadlineExceeded
//   400 / 422 -> kInvalidArgument             401 / 403 -> kPermissionDenied
//   404 -> kNotFound                          409 Conflict -> kAborted
//   409 AlreadyExists -> kAlreadyExists       410 Expired/Gone -> kFailedPrecondition
//   429 with cause DisruptionBudget -> kUnavailable (PDB refused the eviction)
//   429 otherwise -> kResourceExhausted
// and the returned Status keeps the HTTP code, the Kubernetes Status reason / first cause, and the
// Status message (Status::http_code(), reason(), cause(), message()).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace kb::kube {

// The kinds the watch cache mirrors (the order of kResourceKinds).
enum class ResourceKind {
  kNodes,
  kPods,
  kPodDisruptionBudgets,
  kReplicaSets,
  kDeployments,
  kStatefulSets,
  kPersistentVolumes,
  kPersistentVolumeClaims,
  kStorageClasses,
  kNamespaces,
  kPriorityClasses,
};
struct ResourceKindInfo {
  ResourceKind kind;
  const char* name;             // plural resource name: "pods"
  const char* group;            // API group: "" = core
  const char* collection_path;  // the all-namespaces collection: "/api/v1/pods"
  bool namespaced;
};
inline constexpr ResourceKindInfo kResourceKinds[] = {
    {ResourceKind::kNodes, "nodes", "", "/api/v1/nodes", false},
    {ResourceKind::kPods, "pods", "", "/api/v1/pods", true},
    {ResourceKind::kPodDisruptionBudgets, "poddisruptionbudgets", "policy",
     "/apis/policy/v1/poddisruptionbudgets", true},
    {ResourceKind::kReplicaSets, "replicasets", "apps", "/apis/apps/v1/replicasets", true},
    {ResourceKind::kDeployments, "deployments", "apps", "/apis/apps/v1/deployments", true},
    {ResourceKind::kStatefulSets, "statefulsets", "apps", "/apis/apps/v1/statefulsets", true},
    {ResourceKind::kPersistentVolumes, "persistentvolumes", "", "/api/v1/persistentvolumes", false},
    {ResourceKind::kPersistentVolumeClaims, "persistentvolumeclaims", "",
     "/api/v1/persistentvolumeclaims", true},
    {ResourceKind::kStorageClasses, "storageclasses", "storage.k8s.io",
     "/apis/storage.k8s.io/v1/storageclasses", false},
    {ResourceKind::kNamespaces, "namespaces", "", "/api/v1/namespaces", false},
    {ResourceKind::kPriorityClasses, "priorityclasses", "scheduling.k8s.io",
     "/apis/scheduling.k8s.io/v1/priorityclasses", false},
};
inline constexpr size_t kResourceKindCount = std::size(kResourceKinds);
const ResourceKindInfo& KindInfo(ResourceKind kind);
const char* ResourceKindName(ResourceKind kind);  // "nodes", "pods", "poddisruptionbudgets", ...

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 500;  // page size; 0 = unpaginated
  std::string continue_token;
  std::string resource_version;  // "" = most recent
};

// One page of a list, items still as API JSON (the informer decodes them).
struct RawList {
  std::vector<nlohmann::json> items;
  std::string resource_version;  // ListMeta.resourceVersion
  std::string continue_token;    // ListMeta.continue ("" on the last page)
};

struct WatchOptions {
  std::string resource_version;  // start after this version (from a list or a bookmark)
  bool allow_bookmarks = true;
  int timeout_seconds = 300;  // server-side timeoutSeconds
  std::string label_selector;
  std::string field_selector;
  // Called once the server has accepted the watch (HTTP 200), before any event; may be empty.
  std::function<void()> on_open;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
struct WatchEvent {
  WatchEventType type;
  nlohmann::json object;  // the object (or, for kError, the Kubernetes Status)
};
// Return false to end the watch.
using WatchHandler = std::function<bool(WatchEvent&&)>;

struct EvictOptions {
  std::optional<int64_t> grace_period_seconds;
  std::string uid_precondition;  // preconditions.uid when non-empty
  bool dry_run = false;          // ?dryRun=All
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // One page of nodes / pods / PDBs (all namespaces). Retries transient failures.
  virtual StatusOr<RawList> List(ResourceKind kind, const ListOptions& options) = 0;

  // Streams watch events to `handler` until the server closes the stream (returns OK), the
  // handler returns false (OK), `*stop` becomes true (kCancelled), or an error occurs.
  // A 410 (HTTP status, or an in-stream ERROR event with code 410) returns kFailedPrecondition
  // with http_code() == 410: the caller must relist. Not retried internally.
  virtual Status Watch(ResourceKind kind, const WatchOptions& options, const WatchHandler& handler,
                       const std::atomic<bool>* stop) = 0;

  virtual StatusOr<nlohmann::json> GetPod(const std::string& ns, const std::string& name) = 0;
  // POST a pod; returns the created object. 409 AlreadyExists -> kAlreadyExists.
  virtual StatusOr<nlohmann::json> CreatePod(const std::string& ns, const nlohmann::json& pod) = 0;
  // DELETE with an optional UID precondition. 404 -> kNotFound.
  virtual Status DeletePod(const std::string& ns, const std::string& name,
                           const std::string& uid_precondition = "") = 0;

  // POST pods/{name}/binding with metadata.uid = `uid` as a precondition. 409 when already bound.
  virtual Status BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                         const std::string& node) = 0;
  // POST pods/{name}/eviction (policy/v1). 429 + DisruptionBudget -> kUnavailable with
  // cause() == "DisruptionBudget"; 404 -> kNotFound (the caller treats it as done).
  virtual Status EvictPod(const std::string& ns, const std::string& name,
                          const EvictOptions& options) = 0;

  virtual StatusOr<Deployment> GetDeployment(const std::string& ns, const std::string& name) = 0;
  virtual StatusOr<ReplicaSet> GetReplicaSet(const std::string& ns, const std::string& name) = 0;
  // application/merge-patch+json. Put metadata.resourceVersion in the patch to make it
  // conditional (409 -> kAborted on mismatch).
  virtual StatusOr<Deployment> PatchDeployment(const std::string& ns, const std::string& name,
                                               const nlohmann::json& merge_patch) = 0;

  // core/v1 Event (POST /api/v1/namespaces/{ns}/events).
  virtual Status CreateEvent(const std::string& ns, const nlohmann::json& event) = 0;

  // coordination.k8s.io/v1 Lease.
  virtual StatusOr<Lease> GetLease(const std::string& ns, const std::string& name) = 0;
  virtual StatusOr<Lease> CreateLease(const Lease& lease) = 0;
  // PUT with lease.meta.resource_version; 409 -> kAborted.
  virtual StatusOr<Lease> UpdateLease(const Lease& lease) = 0;

  // GET `path` (absolute API path plus query, e.g. "/apis/metrics.k8s.io/v1beta1/nodes") and
  // return the 2xx body unparsed, for callers with their own decoder (the metrics.k8s.io source
  // decodes hundreds of thousands of items with simdjson). Same auth, rate limit and retries as
  // every GET; non-2xx answers map to Status as above (an API group that is not served: 404 ->
  // kNotFound).
  virtual StatusOr<std::string> GetRaw(const std::string& path) = 0;
  // core/v1 ConfigMap, as API JSON: only the steering ConfigMap kube-balancer owns in its lease
  // namespace (rescheduler/steering_sync.h). Create: 409 AlreadyExists -> kAlreadyExists. Update
  // is a PUT carrying metadata.resourceVersion; 409 -> kAborted.
  virtual StatusOr<nlohmann::json> GetConfigMap(const std::string& ns, const std::string& name) = 0;
  virtual StatusOr<nlohmann::json> CreateConfigMap(const std::string& ns,
                                                   const nlohmann::json& config_map) = 0;
  virtual StatusOr<nlohmann::json> UpdateConfigMap(const std::string& ns,
                                                   const nlohmann::json& config_map) = 0;
};

// Bounded read-modify-write: calls `attempt` up to `max_attempts` times while it returns
// kAborted (a 409 conflict), so each attempt re-reads the object. Returns the last status.
Status RetryOnConflict(int max_attempts, const std::function<Status()>& attempt);

}  // namespace kb::kube
