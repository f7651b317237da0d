#include "core/model.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test/testing/builders.h"

namespace kb {
namespace {

using nlohmann::json;

json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// A pod as `kubectl get pod -o json` prints it from a v1.26 cluster (trimmed managedFields).
constexpr char kRealisticPod[] = R"json({
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T10:00:00Z"},
    "creationTimestamp": "2026-01-01T10:00:05Z",
    "generateName": "web-7d4b9c6f5d-",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c6f5d"},
    "managedFields": [{"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}},
                       "manager": "kube-controller-manager", "operation": "Update",
                       "time": "2026-01-01T10:00:05Z"}],
    "name": "web-7d4b9c6f5d-x2x9z",
    "namespace": "shop",
    "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true,
                         "kind": "ReplicaSet", "name": "web-7d4b9c6f5d",
                         "uid": "0b1c2d3e-aaaa-bbbb-cccc-000000000001"}],
    "resourceVersion": "482913",
    "uid": "6f1e2d3c-1111-2222-3333-444455556666"
  },
  "spec": {
    "affinity": {
      "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
          "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In",
                                   "values": ["amd64", "arm64"]},
                                  {"key": "gpu", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}
          ]
        },
        "preferredDuringSchedulingIgnoredDuringExecution": [
          {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In",
                                                             "values": ["a"]}]}}]
      },
      "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}
    },
    "containers": [
      {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
       "ports": [{"containerPort": 80, "protocol": "TCP"}],
       "resources": {"limits": {"cpu": "1", "memory": "512Mi"},
                     "requests": {"cpu": "250m", "memory": "256Mi",
                                  "ephemeral-storage": "1Gi"}},
       "terminationMessagePath": "/dev/termination-log",
       "volumeMounts": [{"mountPath": "/cache", "name": "cache"}]},
      {"name": "sidecar", "image": "envoy", "resources": {"requests": {"cpu": "50m",
                                                                       "memory": "64Mi"}}}
    ],
    "dnsPolicy": "ClusterFirst",
    "enableServiceLinks": true,
    "initContainers": [
      {"name": "migrate", "image": "migrate", "resources": {"requests": {"cpu": "500m",
                                                                         "memory": "128Mi"}}}
    ],
    "nodeName": "worker-2",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "overhead": {"cpu": "10m", "memory": "16Mi"},
    "preemptionPolicy": "PreemptLowerPriority",
    "priority": 1000,
    "priorityClassName": "shop-high",
    "restartPolicy": "Always",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "serviceAccountName": "default",
    "terminationGracePeriodSeconds": 30,
    "tolerations": [
      {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
       "tolerationSeconds": 300},
      {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "tolerationSeconds": 300},
      {"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}
    ],
    "volumes": [
      {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
      {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
      {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
      {"name": "kube-api-access-abcde",
       "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607,
                                                                             "path": "token"}}]}}
    ]
  },
  "status": {
    "conditions": [
      {"lastProbeTime": null, "lastTransitionTime": "2026-01-01T10:00:07Z", "status": "True",
       "type": "Initialized"},
      {"lastProbeTime": null, "lastTransitionTime": "2026-01-01T10:00:09.5Z", "status": "True",
       "type": "Ready"},
      {"lastProbeTime": null, "lastTransitionTime": "2026-01-01T10:00:09Z", "status": "True",
       "type": "ContainersReady"},
      {"lastProbeTime": null, "lastTransitionTime": "2026-01-01T10:00:05Z", "status": "True",
       "type": "PodScheduled"}
    ],
    "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                           "state": {"running": {"startedAt": "2026-01-01T10:00:08Z"}}}],
    "hostIP": "10.0.0.12",
    "phase": "Running",
    "podIP": "10.244.2.17",
    "podIPs": [{"ip": "10.244.2.17"}],
    "qosClass": "Burstable",
    "startTime": "2026-01-01T10:00:05Z"
  }
})json";

constexpr char kRealisticNode[] = R"json({
  "apiVersion": "v1",
  "kind": "Node",
  "metadata": {
    "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
    "creationTimestamp": "2025-12-01T08:00:00Z",
    "labels": {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "worker-2",
               "kubernetes.io/os": "linux", "scheduler.alpha.kubernetes.io/maintenance": "true"},
    "name": "worker-2",
    "resourceVersion": "99120",
    "uid": "aaaabbbb-cccc-dddd-eeee-ffff00001111"
  },
  "spec": {
    "podCIDR": "10.244.2.0/24",
    "podCIDRs": ["10.244.2.0/24"],
    "taints": [{"effect": "NoSchedule", "key": "dedicated", "value": "shop"},
               {"effect": "PreferNoSchedule", "key": "spot"}],
    "unschedulable": true
  },
  "status": {
    "addresses": [{"address": "worker-2", "type": "Hostname"},
                  {"address": "10.0.0.12", "type": "InternalIP"},
                  {"address": "10.0.0.99", "type": "InternalIP"}],
    "allocatable": {"cpu": "7800m", "ephemeral-storage": "95026644016",
                    "hugepages-2Mi": "0", "memory": "31998356Ki", "pods": "110"},
    "capacity": {"cpu": "8", "ephemeral-storage": "103110508Ki", "hugepages-2Mi": "0",
                 "memory": "32802260Ki", "pods": "110"},
    "conditions": [
      {"lastHeartbeatTime": "2026-01-01T10:00:00Z", "lastTransitionTime": "2025-12-01T08:00:30Z",
       "message": "kubelet has sufficient memory available", "reason": "KubeletHasSufficientMemory",
       "status": "False", "type": "MemoryPressure"},
      {"lastHeartbeatTime": "2026-01-01T10:00:00Z", "lastTransitionTime": "2025-12-01T08:00:30Z",
       "message": "kubelet is posting ready status", "reason": "KubeletReady",
       "status": "True", "type": "Ready"}
    ],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
    "images": [{"names": ["nginx@sha256:abc", "nginx:1.25"], "sizeBytes": 70000000}],
    "nodeInfo": {"architecture": "amd64", "kubeletVersion": "v1.26.7", "operatingSystem": "linux"}
  }
})json";

TEST_CASE("decodes the pod and nodes kube-scheduler v1.26.7 sends", "[core][model]") {
  json req = ReadJsonFile(std::string(KB_SOURCE_DIR) + "/test/testdata/filter-full.request.json");
  StatusOr<Pod> pod = DecodePod(req["Pod"]);
  REQUIRE(pod.ok());
  CHECK(pod->meta.name == "pod-00000");
  CHECK(pod->meta.namespace_ == "default");
  CHECK(pod->meta.uid == "uid-default-pod-00000");
  CHECK_FALSE(pod->meta.creation_timestamp.has_value());  // "creationTimestamp": null
  CHECK(pod->scheduler_name == "default-scheduler");
  REQUIRE(pod->containers.size() == 1);
  CHECK(pod->containers[0].requests.cpu_millis == 100);
  CHECK(pod->containers[0].requests.memory_bytes == 128 * 1024 * 1024);
  CHECK(pod->EffectiveRequest() == Resources{100, 128 * 1024 * 1024, 1});
  CHECK(pod->phase.empty());  // "status": {}

  const json& items = req["Nodes"]["items"];
  REQUIRE(items.size() == 3);
  for (size_t i = 0; i < items.size(); ++i) {
    StatusOr<Node> node = DecodeNode(items[i]);
    REQUIRE(node.ok());
    CHECK(node->meta.name == "node-000" + std::to_string(i));
    CHECK(node->meta.labels.at(kHostnameLabel) == node->meta.name);
    CHECK(node->ready);
    CHECK(node->allocatable == Resources{4000, 8LL << 30, 110});
    CHECK(node->capacity == node->allocatable);
    CHECK_FALSE(node->unschedulable);
    CHECK(node->taints.empty());
  }
}

TEST_CASE("decodes every field of a realistic pod", "[core][model]") {
  StatusOr<Pod> r = DecodePod(json::parse(kRealisticPod));
  REQUIRE(r.ok());
  const Pod& p = *r;
  CHECK(p.meta.name == "web-7d4b9c6f5d-x2x9z");
  CHECK(p.meta.namespace_ == "shop");
  CHECK(p.meta.uid == "6f1e2d3c-1111-2222-3333-444455556666");
  CHECK(p.meta.resource_version == "482913");
  CHECK(p.meta.labels.at("app") == "web");
  CHECK(p.meta.annotations.at(kRestartedAtAnnotation) == "2026-01-01T10:00:00Z");
  REQUIRE(p.meta.creation_timestamp.has_value());
  CHECK(FormatRfc3339(*p.meta.creation_timestamp) == "2026-01-01T10:00:05Z");
  CHECK_FALSE(p.IsTerminating());
  REQUIRE(p.meta.owner_references.size() == 1);
  const OwnerReference* ref = p.meta.ControllerRef();
  REQUIRE(ref != nullptr);
  CHECK(ref->kind == "ReplicaSet");
  CHECK(ref->name == "web-7d4b9c6f5d");
  CHECK(ref->api_version == "apps/v1");
  CHECK(ref->uid == "0b1c2d3e-aaaa-bbbb-cccc-000000000001");
  CHECK(NamespacedName(p.meta) == "shop/web-7d4b9c6f5d-x2x9z");

  CHECK(p.node_name == "worker-2");
  CHECK(p.scheduler_name == "default-scheduler");
  CHECK(p.priority == 1000);
  CHECK(p.priority_class_name == "shop-high");
  CHECK(p.node_selector == StringMap{{"kubernetes.io/os", "linux"}});

  REQUIRE(p.required_node_affinity.size() == 2);
  const NodeSelectorTerm& t0 = p.required_node_affinity[0];
  REQUIRE(t0.match_expressions.size() == 2);
  CHECK(t0.match_expressions[0].key == "kubernetes.io/arch");
  CHECK(t0.match_expressions[0].op == "In");
  CHECK(t0.match_expressions[0].values == std::vector<std::string>{"amd64", "arm64"});
  CHECK(t0.match_expressions[1].op == "DoesNotExist");
  CHECK(t0.match_expressions[1].values.empty());
  CHECK(t0.match_fields.empty());
  const NodeSelectorTerm& t1 = p.required_node_affinity[1];
  CHECK(t1.match_expressions.empty());
  REQUIRE(t1.match_fields.size() == 1);
  CHECK(t1.match_fields[0].key == "metadata.name");
  CHECK(t1.match_fields[0].values == std::vector<std::string>{"n9"});

  REQUIRE(p.tolerations.size() == 3);
  CHECK(p.tolerations[0].key == "node.kubernetes.io/not-ready");
  CHECK(p.tolerations[0].op == "Exists");
  CHECK(p.tolerations[0].effect == "NoExecute");
  CHECK(p.tolerations[2].value == "shop");

  REQUIRE(p.volumes.size() == 4);
  CHECK(p.volumes[0].kind == Volume::Kind::kEmptyDir);
  CHECK(p.volumes[1].kind == Volume::Kind::kHostPath);
  CHECK(p.volumes[2].kind == Volume::Kind::kPersistentVolumeClaim);
  CHECK(p.volumes[2].claim_name == "web-data");
  CHECK(p.volumes[3].kind == Volume::Kind::kOther);
  CHECK(p.volumes[3].name == "kube-api-access-abcde");

  REQUIRE(p.containers.size() == 2);
  CHECK(p.containers[0].name == "web");
  CHECK(p.containers[0].requests == Resources{250, 256LL << 20, 0});
  CHECK(p.containers[0].limits == Resources{1000, 512LL << 20, 0});
  CHECK(p.containers[1].requests == Resources{50, 64LL << 20, 0});
  REQUIRE(p.init_containers.size() == 1);
  CHECK_FALSE(p.init_containers[0].restartable);
  CHECK(p.overhead == Resources{10, 16LL << 20, 0});
  // max(300m + 320Mi, 500m + 128Mi) + overhead, per resource.
  CHECK(p.EffectiveRequest() == Resources{510, (320LL + 16) << 20, 1});
  // Limits: web 1 cpu/512Mi, sidecar falls back to its requests (50m/64Mi); init 500m/128Mi.
  CHECK(p.EffectiveLimit() == Resources{1060, (576LL + 16) << 20, 1});

  CHECK(p.phase == "Running");
  CHECK(p.IsReady());
  CHECK_FALSE(p.IsFinished());
  CHECK_FALSE(p.IsMirror());
  CHECK_FALSE(p.IsDaemonSetPod());
  REQUIRE(p.conditions.size() == 4);
  const PodCondition* ready = p.Condition("Ready");
  REQUIRE(ready != nullptr);
  REQUIRE(ready->last_transition_time.has_value());
  CHECK(FormatRfc3339Micro(*ready->last_transition_time) == "2026-01-01T10:00:09.500000Z");
  REQUIRE(p.ScheduledTime().has_value());
  CHECK(FormatRfc3339(*p.ScheduledTime()) == "2026-01-01T10:00:05Z");
  REQUIRE(p.start_time.has_value());
  CHECK(*p.start_time == *p.meta.creation_timestamp);
  CHECK(p.Condition("Nope") == nullptr);
}

TEST_CASE("decodes every field of a realistic node", "[core][model]") {
  StatusOr<Node> r = DecodeNode(json::parse(kRealisticNode));
  REQUIRE(r.ok());
  const Node& n = *r;
  CHECK(n.meta.name == "worker-2");
  CHECK(n.meta.namespace_.empty());
  CHECK(n.meta.resource_version == "99120");
  CHECK(n.unschedulable);
  CHECK(n.InMaintenance());
  REQUIRE(n.taints.size() == 2);
  CHECK(n.taints[0].key == "dedicated");
  CHECK(n.taints[0].value == "shop");
  CHECK(n.taints[0].effect == "NoSchedule");
  CHECK(n.taints[1].value.empty());
  CHECK(n.capacity == Resources{8000, 32802260LL * 1024, 110});
  CHECK(n.allocatable == Resources{7800, 31998356LL * 1024, 110});
  CHECK(n.InternalIP() == "10.0.0.12");
  REQUIRE(n.addresses.size() == 3);
  CHECK(n.addresses[0].type == "Hostname");
  CHECK(n.ready);  // Ready True even though MemoryPressure is listed first
}

TEST_CASE("decoders drop the last-applied-configuration annotation", "[core][model]") {
  json j = json::parse(kRealisticPod);
  j["metadata"]["annotations"][kLastAppliedAnnotation] = std::string(4096, 'x');
  auto pod = DecodePod(j);
  REQUIRE(pod.ok());
  CHECK(pod->meta.annotations.count(kLastAppliedAnnotation) == 0);
  CHECK(pod->meta.annotations.count("kubectl.kubernetes.io/restartedAt") == 1);
}

TEST_CASE("node readiness and maintenance follow conditions and labels", "[core][model]") {
  CHECK_FALSE(testing::NodeBuilder("n").NotReady().Build().ready);
  CHECK(testing::NodeBuilder("n").Build().ready);
  json no_conditions = testing::NodeBuilder("n").Json();
  no_conditions["status"].erase("conditions");
  CHECK_FALSE(DecodeNode(no_conditions)->ready);
  json unknown = testing::NodeBuilder("n").Json();
  unknown["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", "Unknown"}}});
  CHECK_FALSE(DecodeNode(unknown)->ready);
  CHECK_FALSE(testing::NodeBuilder("n").Label(kMaintenanceLabel, "false").Build().InMaintenance());
  CHECK(testing::NodeBuilder("n").Maintenance().Build().InMaintenance());
  CHECK(testing::NodeBuilder("n").Build().InternalIP().empty());
}

struct WrongTypeCase {
  const char* name;
  const char* json_pointer;  // where to write the bad value in a valid pod
  json bad_value;
  const char* expected_message;
};

TEST_CASE("a wrong field type names the kind, object and field path", "[core][model]") {
  const WrongTypeCase cases[] = {
      {"request cpu boolean", "/spec/containers/0/resources/requests/cpu", true,
       "Pod default/p: spec.containers[0].resources.requests.cpu: expected string, got boolean"},
      {"bad quantity", "/spec/containers/1/resources/limits/memory", "12XB",
       "Pod default/p: spec.containers[1].resources.limits.memory: invalid quantity \"12XB\""},
      {"labels number", "/metadata/labels", 5,
       "Pod default/p: metadata.labels: expected object, got number"},
      {"label value number", "/metadata/labels/app", 5,
       "Pod default/p: metadata.labels[app]: expected string, got number"},
      {"tolerations object", "/spec/tolerations", json::object(),
       "Pod default/p: spec.tolerations: expected array, got object"},
      {"toleration key", "/spec/tolerations/0/key", json::array(),
       "Pod default/p: spec.tolerations[0].key: expected string, got array"},
      {"priority string", "/spec/priority", "100",
       "Pod default/p: spec.priority: expected integer, got string"},
      {"priority float", "/spec/priority", 1.5,
       "Pod default/p: spec.priority: expected integer, got number"},
      {"priority out of range", "/spec/priority", 3000000000LL,
       "Pod default/p: spec.priority: integer 3000000000 out of int32 range"},
      {"nodeName number", "/spec/nodeName", 7,
       "Pod default/p: spec.nodeName: expected string, got number"},
      {"affinity term",
       "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
       "nodeSelectorTerms/0/matchExpressions/0/values",
       "a",
       "Pod default/p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
       ".nodeSelectorTerms[0].matchExpressions[0].values: expected array, got string"},
      {"owner controller", "/metadata/ownerReferences/0/controller", "yes",
       "Pod default/p: metadata.ownerReferences[0].controller: expected boolean, got string"},
      {"creation time", "/metadata/creationTimestamp", "yesterday",
       "Pod default/p: metadata.creationTimestamp: invalid RFC 3339 time \"yesterday\""},
      {"condition status", "/status/conditions/0/status", false,
       "Pod default/p: status.conditions[0].status: expected string, got boolean"},
      {"volume pvc", "/spec/volumes/0/persistentVolumeClaim", "x",
       "Pod default/p: spec.volumes[0].persistentVolumeClaim: expected object, got string"},
      {"spec array", "/spec", json::array(), "Pod default/p: spec: expected object, got array"},
      {"name number", "/metadata/name", 1, "Pod: metadata.name: expected string, got number"},
      {"metadata array", "/metadata", json::array(), "Pod: metadata: expected object, got array"},
  };
  json base = testing::PodBuilder("p")
                  .Label("app", "web")
                  .Cpu("100m")
                  .Container("second", "1", "1Gi")
                  .Toleration("k", "Exists", "", "")
                  .RequiredNodeAffinity("zone", "In", {"a"})
                  .OwnedByReplicaSet("rs")
                  .Pvc("data", "claim")
                  .Ready()
                  .Json();
  base["spec"]["containers"][1]["resources"]["limits"]["memory"] = "1Gi";
  REQUIRE(DecodePod(base).ok());
  for (const WrongTypeCase& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      json j = base;
      j[json::json_pointer(tc.json_pointer)] = tc.bad_value;
      StatusOr<Pod> r = DecodePod(j);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
      CHECK_THAT(r.status().message(), Catch::StartsWith(tc.expected_message));
    }
  }
}

TEST_CASE("wrong types in nodes, PDBs and workloads name their paths", "[core][model]") {
  json node = testing::NodeBuilder("n1").Taint("a", "b", "NoSchedule").Json();
  node["spec"]["taints"][0]["effect"] = 3;
  CHECK(DecodeNode(node).status().message() ==
        "Node n1: spec.taints[0].effect: expected string, got number");
  node = testing::NodeBuilder("n1").Json();
  node["status"]["allocatable"]["memory"] = "abc";
  CHECK_THAT(DecodeNode(node).status().message(),
             Catch::StartsWith("Node n1: status.allocatable.memory: invalid quantity \"abc\""));
  CHECK(DecodeNode(json::array()).status().message() == "Node: expected object, got array");
  CHECK(DecodeNode(json(nullptr)).status().message() == "Node: expected object, got null");

  json pdb = testing::PdbBuilder("ns", "b").MinAvailable(1).Json();
  pdb["spec"]["minAvailable"] = "half";
  CHECK(DecodePodDisruptionBudget(pdb).status().message() ==
        "PodDisruptionBudget ns/b: spec.minAvailable: invalid int or percentage \"half\"");
  pdb["spec"]["minAvailable"] = true;
  CHECK(DecodePodDisruptionBudget(pdb).status().message() ==
        "PodDisruptionBudget ns/b: spec.minAvailable: expected integer or percentage string, "
        "got boolean");
  pdb = testing::PdbBuilder("ns", "b").Json();
  pdb["status"]["disruptionsAllowed"] = "1";
  CHECK(DecodePodDisruptionBudget(pdb).status().message() ==
        "PodDisruptionBudget ns/b: status.disruptionsAllowed: expected integer, got string");

  json dep = testing::DeploymentBuilder("ns", "d").Json();
  dep["spec"]["replicas"] = "3";
  CHECK(DecodeDeployment(dep).status().message() ==
        "Deployment ns/d: spec.replicas: expected integer, got string");
  dep = testing::DeploymentBuilder("ns", "d").Json();
  dep["spec"]["selector"]["matchExpressions"] = {{{"key", "a"}, {"operator", 1}}};
  CHECK(DecodeDeployment(dep).status().message() ==
        "Deployment ns/d: spec.selector.matchExpressions[0].operator: expected string, got "
        "number");
  json rs = testing::ReplicaSetBuilder("ns", "r").Json();
  rs["status"]["readyReplicas"] = 1.0;
  CHECK(DecodeReplicaSet(rs).status().message() ==
        "ReplicaSet ns/r: status.readyReplicas: expected integer, got number");
  json lease = {{"metadata", {{"name", "l"}, {"namespace", "kube-system"}}},
                {"spec", {{"renewTime", 5}}}};
  CHECK(DecodeLease(lease).status().message() ==
        "Lease kube-system/l: spec.renewTime: expected string, got number");
}

TEST_CASE("JSON null reads as absent everywhere", "[core][model]") {
  json j = {{"metadata",
             {{"name", "p"},
              {"namespace", "default"},
              {"creationTimestamp", nullptr},
              {"deletionTimestamp", nullptr},
              {"labels", {{"a", nullptr}, {"b", "x"}}},
              {"annotations", nullptr},
              {"ownerReferences", nullptr}}},
            {"spec",
             {{"containers", {{{"name", "c"}, {"resources", nullptr}}, nullptr}},
              {"initContainers", nullptr},
              {"priority", nullptr},
              {"nodeName", nullptr},
              {"affinity", {{"nodeAffinity", nullptr}}},
              {"tolerations", {nullptr}},
              {"volumes", {{{"name", "v"}, {"emptyDir", nullptr}}}},
              {"overhead", nullptr}}},
            {"status", nullptr}};
  StatusOr<Pod> r = DecodePod(j);
  REQUIRE(r.ok());
  CHECK_FALSE(r->meta.creation_timestamp.has_value());
  CHECK(r->meta.labels == StringMap{{"a", ""}, {"b", "x"}});
  CHECK_FALSE(r->priority.has_value());
  REQUIRE(r->containers.size() == 2);  // a null element decodes as an empty container
  CHECK(r->containers[0].requests == Resources{});
  REQUIRE(r->tolerations.size() == 1);
  CHECK(r->tolerations[0].key.empty());
  REQUIRE(r->volumes.size() == 1);
  CHECK(r->volumes[0].kind == Volume::Kind::kOther);  // emptyDir: null is no emptyDir
  CHECK(r->EffectiveRequest() == Resources{0, 0, 1});

  // Quantities given as JSON numbers are accepted, as Quantity.UnmarshalJSON does.
  json nums = testing::PodBuilder("p").Json();
  nums["spec"]["containers"][0]["resources"]["requests"] = {{"cpu", 0.1}, {"memory", 1e9}};
  nums["spec"]["containers"][0]["resources"]["limits"] = {{"cpu", 2}, {"memory", " 1Gi "}};
  StatusOr<Pod> n = DecodePod(nums);
  REQUIRE(n.ok());
  CHECK(n->containers[0].requests.cpu_millis == 100);
  CHECK(n->containers[0].requests.memory_bytes == 1000000000);
  CHECK(n->containers[0].limits.cpu_millis == 2000);
  CHECK(n->containers[0].limits.memory_bytes == 1LL << 30);

  // Unknown fields anywhere are ignored.
  json extra = testing::PodBuilder("p").Json();
  extra["spec"]["futureField"] = {{"x", {1, 2, 3}}};
  extra["metadata"]["labels"] = {{"a", "b"}};
  extra["status"]["resize"] = "Proposed";
  CHECK(DecodePod(extra).ok());
}

TEST_CASE("effective request is max(sum of containers, each init container) + overhead",
          "[core][model]") {
  using testing::PodBuilder;
  struct Case {
    const char* name;
    Pod pod;
    Resources want;
  };
  const Case cases[] = {
      {"no requests", PodBuilder("p").Build(), {0, 0, 1}},
      {"containers add up",
       PodBuilder("p").Cpu("100m").Memory("100Mi").Container("b", "200m", "50Mi").Build(),
       {300, 150LL << 20, 1}},
      {"init container dominates cpu only",
       PodBuilder("p")
           .Cpu("100m")
           .Memory("1Gi")
           .Container("b", "200m", "")
           .InitContainer("init", "500m", "10Mi")
           .Build(),
       {500, 1LL << 30, 1}},
      {"each init container separately, not their sum",
       PodBuilder("p")
           .Cpu("100m")
           .InitContainer("i1", "300m", "")
           .InitContainer("i2", "400m", "")
           .Build(),
       {400, 0, 1}},
      {"overhead added after the max",
       PodBuilder("p").Cpu("100m").InitContainer("i", "1", "").Overhead("50m", "20Mi").Build(),
       {1050, 20LL << 20, 1}},
      // Sidecars (restartPolicy: Always) run beside later init containers and the app.
      {"sidecar adds to containers and later init containers",
       PodBuilder("p")
           .Cpu("100m")
           .InitContainer("side", "100m", "", /*sidecar=*/true)
           .InitContainer("init", "200m", "")
           .Build(),
       {300, 0, 1}},
      {"init container before a sidecar does not include it",
       PodBuilder("p")
           .Cpu("100m")
           .InitContainer("init", "250m", "")
           .InitContainer("side", "100m", "", /*sidecar=*/true)
           .Build(),
       {250, 0, 1}},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) { CHECK(tc.pod.EffectiveRequest() == tc.want); }
  }
}

TEST_CASE("effective limit uses the request where a limit is missing", "[core][model]") {
  Pod p = testing::PodBuilder("p")
              .Cpu("100m")
              .CpuLimit("1")
              .Memory("1Gi")
              .Container("b", "200m", "64Mi")
              .InitContainer("i", "2", "")
              .Overhead("10m", "")
              .Build();
  // cpu: max(1000 + 200, 2000) + 10; memory: max(1Gi + 64Mi, 0).
  CHECK(p.EffectiveLimit() == Resources{2010, (1024LL + 64) << 20, 1});
}

TEST_CASE("Resources arithmetic and Max are component-wise", "[core][model]") {
  Resources a{100, 200, 1};
  Resources b{50, 300, 2};
  CHECK(a + b == Resources{150, 500, 3});
  CHECK(a - b == Resources{50, -100, -1});
  CHECK(Resources::Max(a, b) == Resources{100, 300, 2});
}

TEST_CASE("toleration matching follows core/v1 ToleratesTaint", "[core][model]") {
  struct Case {
    const char* name;
    Toleration tol;
    Taint taint;
    bool want;
  };
  const Case cases[] = {
      {"equal key value effect", {"k", "Equal", "v", "NoSchedule"}, {"k", "v", "NoSchedule"}, true},
      {"empty operator means Equal", {"k", "", "v", "NoSchedule"}, {"k", "v", "NoSchedule"}, true},
      {"value differs", {"k", "Equal", "v1", "NoSchedule"}, {"k", "v2", "NoSchedule"}, false},
      {"key differs", {"k1", "Equal", "v", "NoSchedule"}, {"k2", "v", "NoSchedule"}, false},
      {"effect differs", {"k", "Equal", "v", "NoSchedule"}, {"k", "v", "NoExecute"}, false},
      {"empty effect matches all", {"k", "Equal", "v", ""}, {"k", "v", "NoExecute"}, true},
      {"exists ignores value", {"k", "Exists", "", "NoSchedule"}, {"k", "any", "NoSchedule"}, true},
      {"exists with wrong key", {"k", "Exists", "", ""}, {"other", "", "NoSchedule"}, false},
      {"empty key exists tolerates everything",
       {"", "Exists", "", ""},
       {"x", "y", "NoExecute"},
       true},
      {"empty key exists respects effect",
       {"", "Exists", "", "NoSchedule"},
       {"x", "y", "NoExecute"},
       false},
      {"empty key equal compares value only",
       {"", "Equal", "y", ""},
       {"x", "y", "NoSchedule"},
       true},
      {"empty taint value equal empty",
       {"k", "Equal", "", ""},
       {"k", "", "PreferNoSchedule"},
       true},
      {"unknown operator", {"k", "Gt", "v", ""}, {"k", "v", "NoSchedule"}, false},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) { CHECK(tc.tol.Tolerates(tc.taint) == tc.want); }
  }
}

TEST_CASE("label selectors follow apimachinery semantics", "[core][model]") {
  const StringMap labels = {{"app", "web"}, {"tier", "front"}, {"env", "prod"}};
  struct Case {
    const char* name;
    LabelSelector sel;
    bool want;
  };
  const Case cases[] = {
      {"empty selector matches everything", {}, true},
      {"matchLabels subset", {{{"app", "web"}}, {}}, true},
      {"matchLabels value differs", {{{"app", "db"}}, {}}, false},
      {"matchLabels key missing", {{{"zone", "a"}}, {}}, false},
      {"In", {{}, {{"env", "In", {"dev", "prod"}}}}, true},
      {"In missing key", {{}, {{"zone", "In", {"a"}}}}, false},
      {"In other value", {{}, {{"env", "In", {"dev"}}}}, false},
      {"In without values is invalid", {{}, {{"env", "In", {}}}}, false},
      {"NotIn", {{}, {{"env", "NotIn", {"dev"}}}}, true},
      {"NotIn excluded value", {{}, {{"env", "NotIn", {"prod"}}}}, false},
      {"NotIn missing key matches", {{}, {{"zone", "NotIn", {"a"}}}}, true},
      {"Exists", {{}, {{"tier", "Exists", {}}}}, true},
      {"Exists missing", {{}, {{"zone", "Exists", {}}}}, false},
      {"DoesNotExist", {{}, {{"zone", "DoesNotExist", {}}}}, true},
      {"DoesNotExist present", {{}, {{"app", "DoesNotExist", {}}}}, false},
      {"Exists with values is invalid", {{}, {{"app", "Exists", {"web"}}}}, false},
      {"unknown operator", {{}, {{"app", "Gt", {"1"}}}}, false},
      {"labels and expressions are ANDed",
       {{{"app", "web"}}, {{"env", "In", {"prod"}}, {"tier", "NotIn", {"front"}}}},
       false},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) { CHECK(tc.sel.Matches(labels) == tc.want); }
  }
  CHECK(LabelSelector{}.Empty());
  CHECK(LabelSelector{}.Matches({}));
}

TEST_CASE("PDB decodes int and percent budgets and selectors", "[core][model]") {
  PodDisruptionBudget a = testing::PdbBuilder("ns", "a")
                              .MinAvailable(2)
                              .Selector("app", "web")
                              .DisruptionsAllowed(1)
                              .CurrentHealthy(3)
                              .DesiredHealthy(2)
                              .ExpectedPods(3)
                              .ObservedGeneration(4)
                              .Build();
  REQUIRE(a.min_available.has_value());
  CHECK_FALSE(a.min_available->is_percent);
  CHECK(a.min_available->value == 2);
  CHECK_FALSE(a.max_unavailable.has_value());
  REQUIRE(a.selector.has_value());
  CHECK(a.selector->match_labels == StringMap{{"app", "web"}});
  CHECK(a.disruptions_allowed == 1);
  CHECK(a.current_healthy == 3);
  CHECK(a.desired_healthy == 2);
  CHECK(a.expected_pods == 3);
  CHECK(a.observed_generation == 4);
  CHECK(a.meta.generation == 1);

  PodDisruptionBudget b = testing::PdbBuilder("ns", "b").MaxUnavailablePercent(30).Build();
  REQUIRE(b.max_unavailable.has_value());
  CHECK(b.max_unavailable->is_percent);
  CHECK(b.max_unavailable->value == 30);
  CHECK_FALSE(b.selector.has_value());  // no selector: matches nothing

  PodDisruptionBudget c = testing::PdbBuilder("ns", "c").MinAvailable(1).EmptySelector().Build();
  REQUIRE(c.selector.has_value());
  CHECK(c.selector->Empty());

  json null_selector = testing::PdbBuilder("ns", "d").Json();
  null_selector["spec"]["selector"] = nullptr;
  CHECK_FALSE(DecodePodDisruptionBudget(null_selector)->selector.has_value());
}

TEST_CASE("IntOrPercent resolves like GetScaledValueFromIntOrPercent", "[core][model]") {
  CHECK(IntOrPercent{false, 3}.Resolve(10, true) == 3);
  CHECK(IntOrPercent{false, 3}.Resolve(10, false) == 3);
  CHECK(IntOrPercent{true, 25}.Resolve(10, true) == 3);   // 2.5 up
  CHECK(IntOrPercent{true, 25}.Resolve(10, false) == 2);  // 2.5 down
  CHECK(IntOrPercent{true, 50}.Resolve(10, true) == 5);
  CHECK(IntOrPercent{true, 100}.Resolve(7, false) == 7);
  CHECK(IntOrPercent{true, 0}.Resolve(7, true) == 0);
  CHECK(IntOrPercent{true, 1}.Resolve(1, true) == 1);
  CHECK(IntOrPercent{true, 1}.Resolve(1, false) == 0);
  CHECK(IntOrPercent{true, 30}.Resolve(0, true) == 0);
}

TEST_CASE("Deployment and ReplicaSet decode with Kubernetes defaults", "[core][model]") {
  Deployment d = testing::DeploymentBuilder("ns", "web").Build();
  CHECK(d.replicas == 1);
  CHECK(d.strategy.type == "RollingUpdate");
  CHECK(d.strategy.max_surge.is_percent);
  CHECK(d.strategy.max_surge.value == 25);
  CHECK(d.strategy.max_unavailable.is_percent);
  CHECK(d.strategy.max_unavailable.value == 25);
  CHECK_FALSE(d.paused);
  CHECK(d.selector.match_labels == StringMap{{"app", "web"}});

  json no_replicas = testing::DeploymentBuilder("ns", "web").Json();
  no_replicas["spec"].erase("replicas");
  CHECK(DecodeDeployment(no_replicas)->replicas == 1);
  json zero = testing::DeploymentBuilder("ns", "web").Replicas(0).Json();
  CHECK(DecodeDeployment(zero)->replicas == 0);

  Deployment e = testing::DeploymentBuilder("ns", "api")
                     .Replicas(5)
                     .MaxSurge(1)
                     .MaxUnavailable("0%")
                     .Paused()
                     .TemplateAnnotation(kRestartedAtAnnotation, "2026-01-01T00:00:00Z")
                     .Generation(7)
                     .ObservedGeneration(6)
                     .StatusReplicas(5)
                     .UpdatedReplicas(4)
                     .ReadyReplicas(3)
                     .AvailableReplicas(3)
                     .UnavailableReplicas(2)
                     .Build();
  CHECK(e.replicas == 5);
  CHECK(e.strategy.type == "RollingUpdate");
  CHECK_FALSE(e.strategy.max_surge.is_percent);
  CHECK(e.strategy.max_surge.value == 1);
  CHECK(e.strategy.max_unavailable.is_percent);
  CHECK(e.strategy.max_unavailable.value == 0);
  CHECK(e.paused);
  CHECK(e.template_annotations.at(kRestartedAtAnnotation) == "2026-01-01T00:00:00Z");
  CHECK(e.meta.generation == 7);
  CHECK(e.observed_generation == 6);
  CHECK(e.status_replicas == 5);
  CHECK(e.updated_replicas == 4);
  CHECK(e.ready_replicas == 3);
  CHECK(e.available_replicas == 3);
  CHECK(e.unavailable_replicas == 2);

  json only_surge = testing::DeploymentBuilder("ns", "x").MaxSurge("50%").Json();
  Deployment s = *DecodeDeployment(only_surge);
  CHECK(s.strategy.max_surge.value == 50);
  CHECK(s.strategy.max_unavailable.value == 25);  // default kept

  CHECK(testing::DeploymentBuilder("ns", "r").Recreate().Build().strategy.type == "Recreate");

  ReplicaSet rs = testing::ReplicaSetBuilder("ns", "web-abc")
                      .Replicas(3)
                      .OwnedByDeployment("web")
                      .StatusReplicas(3)
                      .ReadyReplicas(2)
                      .AvailableReplicas(1)
                      .Build();
  CHECK(rs.replicas == 3);
  CHECK(rs.status_replicas == 3);
  CHECK(rs.ready_replicas == 2);
  CHECK(rs.available_replicas == 1);
  REQUIRE(rs.meta.ControllerRef() != nullptr);
  CHECK(rs.meta.ControllerRef()->kind == "Deployment");
  CHECK(rs.meta.ControllerRef()->uid == testing::TestUid("ns", "web"));
  json rs_no_replicas = testing::ReplicaSetBuilder("ns", "x").Json();
  rs_no_replicas["spec"].erase("replicas");
  CHECK(DecodeReplicaSet(rs_no_replicas)->replicas == 1);
}

TEST_CASE("Lease round-trips through EncodeLease and DecodeLease", "[core][model]") {
  Lease l;
  l.meta.name = "kube-balancer-rescheduler";
  l.meta.namespace_ = "kube-system";
  l.meta.resource_version = "12345";
  l.meta.uid = "lease-uid";
  l.holder_identity = "pod-a_1234";
  l.lease_duration_seconds = 15;
  l.acquire_time = testing::TestTime(10) + std::chrono::microseconds(123456);
  l.renew_time = testing::TestTime(20) + std::chrono::microseconds(5);
  l.lease_transitions = 3;
  json j = EncodeLease(l);
  CHECK(j["apiVersion"] == "coordination.k8s.io/v1");
  CHECK(j["kind"] == "Lease");
  CHECK(j["metadata"]["resourceVersion"] == "12345");
  CHECK(j["spec"]["acquireTime"] == "2026-01-01T00:00:10.123456Z");
  CHECK(j["spec"]["renewTime"] == "2026-01-01T00:00:20.000005Z");
  CHECK(j["spec"]["leaseDurationSeconds"] == 15);

  StatusOr<Lease> back = DecodeLease(json::parse(j.dump()));
  REQUIRE(back.ok());
  CHECK(back->meta.name == l.meta.name);
  CHECK(back->meta.namespace_ == l.meta.namespace_);
  CHECK(back->meta.resource_version == l.meta.resource_version);
  CHECK(back->meta.uid == l.meta.uid);
  CHECK(back->holder_identity == l.holder_identity);
  CHECK(back->lease_duration_seconds == 15);
  CHECK(back->acquire_time == l.acquire_time);
  CHECK(back->renew_time == l.renew_time);
  CHECK(back->lease_transitions == 3);

  Lease empty;
  empty.meta.name = "x";
  json ej = EncodeLease(empty);
  CHECK_FALSE(ej["metadata"].contains("resourceVersion"));
  CHECK_FALSE(ej["spec"].contains("renewTime"));
  StatusOr<Lease> eb = DecodeLease(ej);
  REQUIRE(eb.ok());
  CHECK_FALSE(eb->renew_time.has_value());
}

TEST_CASE("RFC 3339 timestamps parse and format", "[core][model]") {
  using std::chrono::microseconds;
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  const WallTime base = testing::TestTime(12 * 3600);  // 2026-01-01T12:00:00Z
  CHECK(*ParseRfc3339("2026-01-01T12:00:00Z") == base);
  CHECK(*ParseRfc3339("2026-01-01t12:00:00z") == base);
  CHECK(*ParseRfc3339("2026-01-01T14:00:00+02:00") == base);
  CHECK(*ParseRfc3339("2026-01-01T06:30:00-05:30") == base);
  CHECK(*ParseRfc3339("2026-01-01T12:00:00.123456Z") == base + microseconds(123456));
  CHECK(*ParseRfc3339("2026-01-01T12:00:00.5Z") == base + microseconds(500000));
  CHECK(*ParseRfc3339("2026-01-01T12:00:00.123456789Z") ==
        base + std::chrono::duration_cast<WallTime::duration>(nanoseconds(123456789)));
  CHECK(*ParseRfc3339("2026-01-01T12:00:00.1234567891Z") ==
        base + std::chrono::duration_cast<WallTime::duration>(nanoseconds(123456789)));
  CHECK(*ParseRfc3339("1970-01-01T00:00:00Z") == WallTime{});
  CHECK(*ParseRfc3339("2024-02-29T00:00:00Z") == WallTime(seconds(1709164800)));
  CHECK(*ParseRfc3339("1969-12-31T23:59:59Z") == WallTime(seconds(-1)));

  const char* const kBad[] = {"",
                              "2026-01-01",
                              "2026-01-01 12:00:00Z",
                              "2026-01-01T12:00:00",
                              "2026-13-01T12:00:00Z",
                              "2026-02-29T12:00:00Z",
                              "2026-01-01T24:00:00Z",
                              "2026-01-01T12:60:00Z",
                              "2026-01-01T12:00:60Z",
                              "2026-01-01T12:00:00.Z",
                              "2026-01-01T12:00:00+2:00",
                              "2026-01-01T12:00:00+0200",
                              "2026-01-01T12:00:00Zjunk",
                              "26-01-01T12:00:00Z"};
  for (const char* s : kBad) {
    DYNAMIC_SECTION("bad " << s) {
      StatusOr<WallTime> t = ParseRfc3339(s);
      REQUIRE_FALSE(t.ok());
      CHECK(t.status().code() == StatusCode::kInvalidArgument);
    }
  }

  CHECK(FormatRfc3339(base) == "2026-01-01T12:00:00Z");
  CHECK(FormatRfc3339(base + microseconds(999999)) == "2026-01-01T12:00:00Z");  // truncates
  CHECK(FormatRfc3339Micro(base) == "2026-01-01T12:00:00.000000Z");
  CHECK(FormatRfc3339Micro(base + microseconds(42)) == "2026-01-01T12:00:00.000042Z");
  CHECK(FormatRfc3339(WallTime{}) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339(WallTime(seconds(-1))) == "1969-12-31T23:59:59Z");
  CHECK(FormatRfc3339Micro(WallTime(microseconds(-1))) == "1969-12-31T23:59:59.999999Z");
  CHECK(FormatRfc3339(WallTime(seconds(4102444800))) == "2100-01-01T00:00:00Z");
  // Round trip over a spread of instants, including leap days and century years.
  for (int64_t s = -2208988800; s < 4102444800; s += 7776131) {
    WallTime t = WallTime(seconds(s)) + microseconds(s % 1000000 < 0 ? 0 : s % 1000000);
    StatusOr<WallTime> back = ParseRfc3339(FormatRfc3339Micro(t));
    REQUIRE(back.ok());
    REQUIRE(*back == t);
  }
}

TEST_CASE("pod predicates: mirror, DaemonSet, finished, terminating", "[core][model]") {
  using testing::PodBuilder;
  CHECK(PodBuilder("p").Mirror().Build().IsMirror());
  CHECK(PodBuilder("p").OwnedByDaemonSet("ds").Build().IsDaemonSetPod());
  CHECK_FALSE(PodBuilder("p").OwnedByReplicaSet("rs").Build().IsDaemonSetPod());
  CHECK_FALSE(PodBuilder("p")
                  .Owner("apps/v1", "DaemonSet", "ds", /*controller=*/false)
                  .Build()
                  .IsDaemonSetPod());
  CHECK(PodBuilder("p").Phase("Succeeded").Build().IsFinished());
  CHECK(PodBuilder("p").Phase("Failed").Build().IsFinished());
  CHECK_FALSE(PodBuilder("p").Node("n").Build().IsFinished());
  CHECK(PodBuilder("p").Deleting(testing::TestTime()).Build().IsTerminating());
  CHECK_FALSE(PodBuilder("p").Ready(false).Build().IsReady());
  CHECK_FALSE(PodBuilder("p").Build().ScheduledTime().has_value());
  json unscheduled = PodBuilder("p").Json();
  unscheduled["status"]["conditions"] = {{{"type", "PodScheduled"}, {"status", "False"}}};
  CHECK_FALSE(DecodePod(unscheduled)->ScheduledTime().has_value());
}

}  // namespace
}  // namespace kb
