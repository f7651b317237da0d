// FakeKubeClient: an in-memory KubeClient for unit tests of the rescheduler, the server and the
// cache. It stores objects as API JSON with a monotonic resourceVersion, records every mutating
// call (binds, evictions, creates, deletes, events, patches), can fail the Nth call of a verb with
// a chosen Status, paginates List (equality label / field selectors only), and serves Watch from
// its own event log (ADDED / MODIFIED / DELETED; no BOOKMARKs; selectors ignored; 410 once the
// history is forgotten). It runs no controllers and no PDB logic: evictions succeed unless a
// failure is injected. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube/kube_client.h"

namespace kb::testing {

// Verb names for failure injection and call counts.
inline constexpr char kVerbList[] = "list";
inline constexpr char kVerbWatch[] = "watch";
inline constexpr char kVerbGetPod[] = "get_pod";
inline constexpr char kVerbCreatePod[] = "create_pod";
inline constexpr char kVerbDeletePod[] = "delete_pod";
inline constexpr char kVerbBindPod[] = "bind_pod";
inline constexpr char kVerbEvictPod[] = "evict_pod";
inline constexpr char kVerbGetDeployment[] = "get_deployment";
inline constexpr char kVerbGetReplicaSet[] = "get_replicaset";
inline constexpr char kVerbPatchDeployment[] = "patch_deployment";
inline constexpr char kVerbCreateEvent[] = "create_event";
inline constexpr char kVerbGetLease[] = "get_lease";
inline constexpr char kVerbCreateLease[] = "create_lease";
inline constexpr char kVerbUpdateLease[] = "update_lease";
inline constexpr char kVerbGetRaw[] = "get_raw";
inline constexpr char kVerbGetConfigMap[] = "get_configmap";
inline constexpr char kVerbCreateConfigMap[] = "create_configmap";
inline constexpr char kVerbUpdateConfigMap[] = "update_configmap";

class FakeKubeClient final : public kube::KubeClient {
 public:
  // Resource names for the state API: "nodes", "pods", "poddisruptionbudgets", "deployments",
  // "replicasets", "leases", "configmaps". Cluster-scoped objects (nodes) use ns "".
  struct Binding {
    std::string ns, name, uid, node;
  };
  struct Eviction {
    std::string ns, name;
    kube::EvictOptions options;
  };
  struct Patch {
    std::string ns, name;
    nlohmann::json patch;
  };

  FakeKubeClient();
  ~FakeKubeClient() override;

  // --- State (not counted as calls; emits watch events for every kind in kResourceKinds) ---
  // Creates or replaces the object. Missing metadata.uid is generated; resourceVersion is always
  // assigned. Returns the stored object.
  nlohmann::json Put(const std::string& resource, nlohmann::json object);
  // Removes the object; false if absent.
  bool Remove(const std::string& resource, const std::string& ns, const std::string& name);
  std::optional<nlohmann::json> Get(const std::string& resource, const std::string& ns,
                                    const std::string& name) const;
  std::vector<nlohmann::json> Objects(const std::string& resource) const;
  std::string CurrentResourceVersion() const;

  // --- Failure injection ---
  // The `n`th (1-based, counted from now) call of `verb` returns `status` instead of running.
  void FailNthCall(const std::string& verb, int n, Status status);
  // Every call of `verb` returns `status` until ClearFailures().
  void FailAlways(const std::string& verb, Status status);
  void ClearFailures();
  // Evictions delete the pod (default true); when false they only record.
  void SetEvictionDeletesPod(bool deletes);

  // --- Recorded calls ---
  int CallCount(const std::string& verb) const;
  std::vector<Binding> Bindings() const;
  std::vector<Eviction> Evictions() const;
  std::vector<nlohmann::json> CreatedPods() const;
  std::vector<std::string> DeletedPods() const;  // "<ns>/<name>"
  std::vector<nlohmann::json> Events() const;    // created core/v1 Events
  std::vector<Patch> DeploymentPatches() const;

  // --- Watch control ---
  // Every open Watch returns OK (as when the server's timeoutSeconds elapses).
  void EndWatches();
  // Forgets the event history: open watches return 410 and older resourceVersions get 410.
  void ExpireWatches();

  // --- KubeClient ---
  StatusOr<kube::RawList> List(kube::ResourceKind kind, const kube::ListOptions& options) override;
  Status Watch(kube::ResourceKind kind, const kube::WatchOptions& options,
               const kube::WatchHandler& handler, const std::atomic<bool>* stop) override;
  StatusOr<nlohmann::json> GetPod(const std::string& ns, const std::string& name) override;
  StatusOr<nlohmann::json> CreatePod(const std::string& ns, const nlohmann::json& pod) override;
  Status DeletePod(const std::string& ns, const std::string& name,
                   const std::string& uid_precondition = "") override;
  Status BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::string& node) override;
  Status EvictPod(const std::string& ns, const std::string& name,
                  const kube::EvictOptions& options) override;
  StatusOr<Deployment> GetDeployment(const std::string& ns, const std::string& name) override;
  StatusOr<ReplicaSet> GetReplicaSet(const std::string& ns, const std::string& name) override;
  StatusOr<Deployment> PatchDeployment(const std::string& ns, const std::string& name,
                                       const nlohmann::json& merge_patch) override;
  Status CreateEvent(const std::string& ns, const nlohmann::json& event) override;
  StatusOr<Lease> GetLease(const std::string& ns, const std::string& name) override;
  StatusOr<Lease> CreateLease(const Lease& lease) override;
  StatusOr<Lease> UpdateLease(const Lease& lease) override;
  // Answers the body set with SetRaw(path); an unset path is 404 (kNotFound), as the API server
  // answers for a group it does not serve.
  StatusOr<std::string> GetRaw(const std::string& path) override;

  // --- Raw GET bodies (GetRaw) ---
  void SetRaw(const std::string& path, std::string body);
  void ClearRaw(const std::string& path);
  StatusOr<nlohmann::json> GetConfigMap(const std::string& ns, const std::string& name) override;
  StatusOr<nlohmann::json> CreateConfigMap(const std::string& ns,
                                           const nlohmann::json& config_map) override;
  StatusOr<nlohmann::json> UpdateConfigMap(const std::string& ns,
                                           const nlohmann::json& config_map) override;

 private:
  struct Rule {
    std::string verb;
    int remaining;  // calls to let through before failing; -1 = fail always
    Status status;
    bool done = false;
  };
  struct LoggedEvent {
    std::string resource;
    kube::WatchEventType type;
    nlohmann::json object;
    int64_t rv;
  };

  Status BeginCall(const std::string& verb);  // counts the call; returns an injected failure
  nlohmann::json PutLocked(const std::string& resource, nlohmann::json object);
  bool RemoveLocked(const std::string& resource, const std::string& key);
  void LogEventLocked(const std::string& resource, kube::WatchEventType type,
                      const nlohmann::json& object);
  StatusOr<nlohmann::json> PatchLocked(const std::string& resource, const std::string& ns,
                                       const std::string& name, const nlohmann::json& patch);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // State below is guarded by mu_.
  int64_t rv_ = 0;
  int64_t uid_counter_ = 0;
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_;  // resource -> key -> obj
  std::deque<LoggedEvent> history_;
  int64_t oldest_rv_ = 0;  // events with rv <= oldest_rv_ are forgotten
  uint64_t end_generation_ = 0;
  uint64_t expire_generation_ = 0;
  std::vector<Rule> rules_;
  std::map<std::string, int> calls_;
  bool evict_deletes_ = true;
  std::vector<Binding> bindings_;
  std::vector<Eviction> evictions_;
  std::vector<nlohmann::json> created_pods_;
  std::vector<std::string> deleted_pods_;
  std::vector<nlohmann::json> events_;
  std::vector<Patch> deployment_patches_;
  std::map<std::string, std::string> raw_;  // GetRaw bodies by path
};

}  // namespace kb::testing
