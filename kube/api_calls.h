// ApiCalls: the one table of every Kubernetes API request kube-balancer makes, with the RBAC rule
// each needs. deploy/base/rbac.yaml must grant exactly these (test/deploy checks both ways, and
// checks that every request HttpKubeClient sends matches a row). Constant data; thread-safe.
#pragma once

#include <string_view>

namespace kb::kube {

// One kind of request. RBAC resources for subresources are "<resource>/<subresource>".
struct ApiCall {
  std::string_view http_method;  // "GET", "POST", "PUT", "PATCH", "DELETE"
  // Path pattern as HttpKubeClient sends it (after the server's base path). "{ns}" and "{name}"
  // match one path segment; a trailing "?watch=1" means the query must carry watch=1 (a GET of
  // the same collection without it is a list).
  std::string_view path;
  std::string_view group;     // API group; "" = core
  std::string_view resource;  // RBAC resource, incl. subresource: "pods/eviction"
  std::string_view verb;      // RBAC verb: get list watch create update patch delete
  bool namespaced;            // the resource is namespaced (false: cluster-scoped)
  // Config key naming the only namespace the rule may be limited to (a Role there instead of the
  // ClusterRole); "" = every namespace (ClusterRole).
  std::string_view namespace_key;
  // Config key naming the only object the rule may be limited to (RBAC resourceNames); "" = any.
  // RBAC cannot restrict create by name (there is no name at authorisation time).
  std::string_view resource_name_key;
  std::string_view client_method;  // the KubeClient method that sends it
  std::string_view used_by;        // the code path that needs it
  // The opt-in feature whose kustomize component (deploy/components/<feature>/) grants the rule;
  // "" = the base grants it. Without the component the feature's moves are skipped (reported
  // once as permission denied).
  std::string_view feature = {};
};

// The opt-in features with their own RBAC component (deploy/components/<name>/).
inline constexpr std::string_view kFeatureBarePodMigration = "bare-pod-migration";
inline constexpr std::string_view kFeatureSurgeRestart = "surge-restart";

// Every request HttpKubeClient (kube/http_kube_client.cc) can make. Adding a KubeClient method or
// a new request means adding its row here, its rule in deploy/base/rbac.yaml and a call in
// test/deploy/api_calls_test.cc; the tests fail until all three agree.
inline constexpr ApiCall kApiCalls[] = {
    // ClusterCache informer (kube/cluster_cache.cc): paginated LIST then WATCH, all namespaces.
    {"GET", "/api/v1/nodes", "", "nodes", "list", false, "", "", "KubeClient::List",
     "kube/cluster_cache.cc informer: node list (initial sync, relist after 410)"},
    {"GET", "/api/v1/nodes?watch=1", "", "nodes", "watch", false, "", "", "KubeClient::Watch",
     "kube/cluster_cache.cc informer: node watch"},
    {"GET", "/api/v1/pods", "", "pods", "list", true, "", "", "KubeClient::List",
     "kube/cluster_cache.cc informer: pod list, all namespaces"},
    {"GET", "/api/v1/pods?watch=1", "", "pods", "watch", true, "", "", "KubeClient::Watch",
     "kube/cluster_cache.cc informer: pod watch, all namespaces"},
    {"GET", "/apis/policy/v1/poddisruptionbudgets", "policy", "poddisruptionbudgets", "list", true,
     "", "", "KubeClient::List", "kube/cluster_cache.cc informer: PDB list (rescheduler safety)"},
    {"GET", "/apis/policy/v1/poddisruptionbudgets?watch=1", "policy", "poddisruptionbudgets",
     "watch", true, "", "", "KubeClient::Watch", "kube/cluster_cache.cc informer: PDB watch"},
    {"GET", "/apis/apps/v1/replicasets", "apps", "replicasets", "list", true, "", "",
     "KubeClient::List",
     "kube/cluster_cache.cc informer: replicasets list (workload resolution and protections)"},
    {"GET", "/apis/apps/v1/replicasets?watch=1", "apps", "replicasets", "watch", true, "", "",
     "KubeClient::Watch", "kube/cluster_cache.cc informer: replicasets watch"},
    {"GET", "/apis/apps/v1/deployments", "apps", "deployments", "list", true, "", "",
     "KubeClient::List",
     "kube/cluster_cache.cc informer: deployments list (workload protections and surge restarts)"},
    {"GET", "/apis/apps/v1/deployments?watch=1", "apps", "deployments", "watch", true, "", "",
     "KubeClient::Watch", "kube/cluster_cache.cc informer: deployments watch"},
    {"GET", "/apis/apps/v1/statefulsets", "apps", "statefulsets", "list", true, "", "",
     "KubeClient::List",
     "kube/cluster_cache.cc informer: statefulsets list (workload protections)"},
    {"GET", "/apis/apps/v1/statefulsets?watch=1", "apps", "statefulsets", "watch", true, "", "",
     "KubeClient::Watch", "kube/cluster_cache.cc informer: statefulsets watch"},
    {"GET", "/api/v1/persistentvolumes", "", "persistentvolumes", "list", false, "", "",
     "KubeClient::List",
     "kube/cluster_cache.cc informer: persistentvolumes list (volume topology of bound claims)"},
    {"GET", "/api/v1/persistentvolumes?watch=1", "", "persistentvolumes", "watch", false, "", "",
     "KubeClient::Watch", "kube/cluster_cache.cc informer: persistentvolumes watch"},
    {"GET", "/api/v1/persistentvolumeclaims", "", "persistentvolumeclaims", "list", true, "", "",
     "KubeClient::List",
     "kube/cluster_cache.cc informer: persistentvolumeclaims list (the volumes a pod needs)"},
    {"GET", "/api/v1/persistentvolumeclaims?watch=1", "", "persistentvolumeclaims", "watch", true,
     "", "", "KubeClient::Watch", "kube/cluster_cache.cc informer: persistentvolumeclaims watch"},
    {"GET", "/apis/storage.k8s.io/v1/storageclasses", "storage.k8s.io", "storageclasses", "list",
     false, "", "", "KubeClient::List",
     "kube/cluster_cache.cc informer: storageclasses list (binding mode, allowed topologies)"},
    {"GET", "/apis/storage.k8s.io/v1/storageclasses?watch=1", "storage.k8s.io", "storageclasses",
     "watch", false, "", "", "KubeClient::Watch",
     "kube/cluster_cache.cc informer: storageclasses watch"},
    {"GET", "/api/v1/namespaces", "", "namespaces", "list", false, "", "", "KubeClient::List",
     "kube/cluster_cache.cc informer: namespaces list (labels for namespaceSelector)"},
    {"GET", "/api/v1/namespaces?watch=1", "", "namespaces", "watch", false, "", "",
     "KubeClient::Watch", "kube/cluster_cache.cc informer: namespaces watch"},
    {"GET", "/apis/scheduling.k8s.io/v1/priorityclasses", "scheduling.k8s.io", "priorityclasses",
     "list", false, "", "", "KubeClient::List",
     "kube/cluster_cache.cc informer: priorityclasses list (priority threshold by name)"},
    {"GET", "/apis/scheduling.k8s.io/v1/priorityclasses?watch=1", "scheduling.k8s.io",
     "priorityclasses", "watch", false, "", "", "KubeClient::Watch",
     "kube/cluster_cache.cc informer: priorityclasses watch"},
    // Extender bind verb (server/extender.cc): POST pods/{name}/binding with the pod UID as guard.
    {"POST", "/api/v1/namespaces/{ns}/pods/{name}/binding", "", "pods/binding", "create", true, "",
     "", "KubeClient::BindPod", "server/extender.cc Extender::Bind (extender bindVerb)"},
    // Rescheduler evictor: policy/v1 eviction (respects PDBs), never plain DELETE for moves.
    {"POST", "/api/v1/namespaces/{ns}/pods/{name}/eviction", "", "pods/eviction", "create", true,
     "", "", "KubeClient::EvictPod",
     "rescheduler/evictor.cc: evict a controller-owned pod (?dryRun=All: same RBAC request)"},
    // Rescheduler, opted-in bare pods: copy on the target, wait Ready, delete the original (or the
    // copy on timeout); re-read on 409.
    {"GET", "/api/v1/namespaces/{ns}/pods/{name}", "", "pods", "get", true, "", "",
     "KubeClient::GetPod",
     "rescheduler/evictor.cc: re-read a pod (bare-pod copy readiness, 409 retries)"},
    {"POST", "/api/v1/namespaces/{ns}/pods", "", "pods", "create", true, "", "",
     "KubeClient::CreatePod", "rescheduler/evictor.cc: bare-pod copy rescheduled-<name>-<suffix>",
     kFeatureBarePodMigration},
    {"DELETE", "/api/v1/namespaces/{ns}/pods/{name}", "", "pods", "delete", true, "", "",
     "KubeClient::DeletePod",
     "rescheduler/evictor.cc: delete the bare original once its copy is Ready (or the copy)",
     kFeatureBarePodMigration},
    // Rescheduler workload resolution (pod -> ReplicaSet -> Deployment) and the surge restart of a
    // single-replica Deployment (pod-template kubectl.kubernetes.io/restartedAt).
    {"GET", "/apis/apps/v1/namespaces/{ns}/deployments/{name}", "apps", "deployments", "get", true,
     "", "", "KubeClient::GetDeployment",
     "rescheduler/evictor.cc: owner resolution, replicas and rollout strategy"},
    {"PATCH", "/apis/apps/v1/namespaces/{ns}/deployments/{name}", "apps", "deployments", "patch",
     true, "", "", "KubeClient::PatchDeployment",
     "rescheduler/evictor.cc: surge restart of a single-replica Deployment (restartedAt)",
     kFeatureSurgeRestart},
    {"GET", "/apis/apps/v1/namespaces/{ns}/replicasets/{name}", "apps", "replicasets", "get", true,
     "", "", "KubeClient::GetReplicaSet",
     "rescheduler/evictor.cc: owner resolution pod -> ReplicaSet"},
    // Events (core/v1) on moved pods (Rescheduled, RescheduleFailed) and on nodes in maintenance.
    {"POST", "/api/v1/namespaces/{ns}/events", "", "events", "create", true, "", "",
     "KubeClient::CreateEvent",
     "rescheduler/evictor.cc: Rescheduled / RescheduleFailed / node Events"},
    // Leader election (coordination.k8s.io/v1 Lease), only in rescheduler.leaderElection's
    // namespace and, where RBAC allows it, only for its lease name.
    {"GET", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", "coordination.k8s.io",
     "leases", "get", true, "rescheduler.leaderElection.leaseNamespace",
     "rescheduler.leaderElection.leaseName", "KubeClient::GetLease",
     "rescheduler/leader_elector.cc: read the lease"},
    {"POST", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", "coordination.k8s.io", "leases",
     "create", true, "rescheduler.leaderElection.leaseNamespace", "", "KubeClient::CreateLease",
     "rescheduler/leader_elector.cc: create the lease on first start (404 on get)"},
    {"PUT", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}", "coordination.k8s.io",
     "leases", "update", true, "rescheduler.leaderElection.leaseNamespace",
     "rescheduler.leaderElection.leaseName", "KubeClient::UpdateLease",
     "rescheduler/leader_elector.cc: acquire, renew, release on shutdown"},
    // Load from metrics-server (metrics.source metricsServer, or auto without a Prometheus URL):
    // one list of each kind per refresh; the node list also probes at start-up whether the
    // group is served (404: it is not).
    {"GET", "/apis/metrics.k8s.io/v1beta1/nodes", "metrics.k8s.io", "nodes", "list", false, "", "",
     "KubeClient::GetRaw",
     "scoring/metrics_server_source.cc: NodeMetrics list per refresh; server/app.cc auto probe"},
    {"GET", "/apis/metrics.k8s.io/v1beta1/pods", "metrics.k8s.io", "pods", "list", true, "", "",
     "KubeClient::GetRaw",
     "scoring/metrics_server_source.cc: PodMetrics list per refresh, all namespaces"},
    // Steering decisions (core/v1 ConfigMap kube-balancer owns), only in the lease namespace and,
    // where RBAC allows it, only for its name: the leader writes, every replica reads.
    {"GET", "/api/v1/namespaces/{ns}/configmaps/{name}", "", "configmaps", "get", true,
     "rescheduler.leaderElection.leaseNamespace", "rescheduler.steeringConfigMap",
     "KubeClient::GetConfigMap",
     "rescheduler/steering_sync.cc: every replica reads the published steering decisions"},
    {"POST", "/api/v1/namespaces/{ns}/configmaps", "", "configmaps", "create", true,
     "rescheduler.leaderElection.leaseNamespace", "", "KubeClient::CreateConfigMap",
     "rescheduler/steering_sync.cc: the leader creates the steering ConfigMap (404 on get)"},
    {"PUT", "/api/v1/namespaces/{ns}/configmaps/{name}", "", "configmaps", "update", true,
     "rescheduler.leaderElection.leaseNamespace", "rescheduler.steeringConfigMap",
     "KubeClient::UpdateConfigMap",
     "rescheduler/steering_sync.cc: the leader publishes steering decisions"},
};

// The row matching a request as sent on the wire: `target` is the path (without the server's
// base path) plus the query string. Only the `watch` parameter matters (a watch is its own RBAC
// verb); every other parameter (limit, dryRun, ...) is ignored. nullptr when no row matches.
const ApiCall* FindApiCall(std::string_view http_method, std::string_view target);

}  // namespace kb::kube
