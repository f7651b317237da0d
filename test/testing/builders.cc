#include "test/testing/builders.h"

#include <stdexcept>

namespace kb::testing {
namespace {

using nlohmann::json;

template <class T>
T DecodeOrThrow(StatusOr<T> r) {
  if (!r.ok())
    throw std::logic_error("builder produced an undecodable object: " + r.status().ToString());
  return std::move(r).value();
}

json OwnerRef(const std::string& api_version, const std::string& kind, const std::string& ns,
              const std::string& name, bool controller) {
  return json{{"apiVersion", api_version},
              {"kind", kind},
              {"name", name},
              {"uid", TestUid(ns, name)},
              {"controller", controller},
              {"blockOwnerDeletion", true}};
}

json PodTemplateFrom(const PodBuilder& pod) {
  json p = pod.Json();
  json tmpl = json::object();
  tmpl["metadata"] = json::object();
  if (p["metadata"].contains("labels")) tmpl["metadata"]["labels"] = p["metadata"]["labels"];
  if (p["metadata"].contains("annotations")) {
    tmpl["metadata"]["annotations"] = p["metadata"]["annotations"];
  }
  tmpl["spec"] = p["spec"];
  tmpl["spec"].erase("nodeName");
  return tmpl;
}

// Adds the selector's matchLabels to the template labels so the controller owns its pods.
void SyncTemplateLabels(json* obj) {
  json& spec = (*obj)["spec"];
  for (const auto& [k, v] : spec["selector"]["matchLabels"].items()) {
    spec["template"]["metadata"]["labels"][k] = v;
  }
}

json DefaultTemplate() {
  return json{{"metadata", json::object()},
              {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "pause"}}})}}}};
}

}  // namespace

WallTime TestTime(int64_t seconds) { return WallTime(std::chrono::seconds(1767225600 + seconds)); }

std::string TestUid(const std::string& ns, const std::string& name) {
  return "uid-" + ns + "-" + name;
}

json ListJson(const std::string& kind, std::vector<json> items,
              const std::string& resource_version) {
  return json{{"apiVersion", "v1"},
              {"kind", kind},
              {"metadata", {{"resourceVersion", resource_version}}},
              {"items", std::move(items)}};
}

// ---------------------------------------------------------------------------------------------
// NodeBuilder

NodeBuilder::NodeBuilder(std::string name) {
  j_ = json{{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata",
             {{"name", name},
              {"uid", TestUid("node", name)},
              {"resourceVersion", "1"},
              {"creationTimestamp", nullptr},
              {"labels", {{kHostnameLabel, name}}}}},
            {"spec", json::object()},
            {"status",
             {{"capacity", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}},
              {"allocatable", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}},
              {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

NodeBuilder& NodeBuilder::Uid(std::string uid) {
  j_["metadata"]["uid"] = std::move(uid);
  return *this;
}
NodeBuilder& NodeBuilder::ResourceVersion(std::string rv) {
  j_["metadata"]["resourceVersion"] = std::move(rv);
  return *this;
}
NodeBuilder& NodeBuilder::Cpu(std::string quantity) {
  j_["status"]["capacity"]["cpu"] = quantity;
  j_["status"]["allocatable"]["cpu"] = std::move(quantity);
  return *this;
}
NodeBuilder& NodeBuilder::Memory(std::string quantity) {
  j_["status"]["capacity"]["memory"] = quantity;
  j_["status"]["allocatable"]["memory"] = std::move(quantity);
  return *this;
}
NodeBuilder& NodeBuilder::Pods(int64_t pods) {
  j_["status"]["capacity"]["pods"] = std::to_string(pods);
  j_["status"]["allocatable"]["pods"] = std::to_string(pods);
  return *this;
}
NodeBuilder& NodeBuilder::AllocatableCpu(std::string quantity) {
  j_["status"]["allocatable"]["cpu"] = std::move(quantity);
  return *this;
}
NodeBuilder& NodeBuilder::AllocatableMemory(std::string quantity) {
  j_["status"]["allocatable"]["memory"] = std::move(quantity);
  return *this;
}
NodeBuilder& NodeBuilder::Label(std::string key, std::string value) {
  j_["metadata"]["labels"][key] = std::move(value);
  return *this;
}
NodeBuilder& NodeBuilder::Annotation(std::string key, std::string value) {
  j_["metadata"]["annotations"][key] = std::move(value);
  return *this;
}
NodeBuilder& NodeBuilder::Taint(std::string key, std::string value, std::string effect) {
  json t = {{"key", std::move(key)}, {"effect", std::move(effect)}};
  if (!value.empty()) t["value"] = std::move(value);
  j_["spec"]["taints"].push_back(std::move(t));
  return *this;
}
NodeBuilder& NodeBuilder::Unschedulable(bool unschedulable) {
  if (unschedulable) {
    j_["spec"]["unschedulable"] = true;
  } else {
    j_["spec"].erase("unschedulable");
  }
  return *this;
}
NodeBuilder& NodeBuilder::Ready(bool ready) {
  j_["status"]["conditions"] =
      json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  return *this;
}
NodeBuilder& NodeBuilder::Maintenance(bool on) {
  if (on) {
    j_["metadata"]["labels"][kMaintenanceLabel] = "true";
  } else {
    j_["metadata"]["labels"].erase(kMaintenanceLabel);
  }
  return *this;
}
NodeBuilder& NodeBuilder::InternalIP(std::string ip) {
  j_["status"]["addresses"].push_back({{"type", "InternalIP"}, {"address", std::move(ip)}});
  return *this;
}
NodeBuilder& NodeBuilder::Created(WallTime t) {
  j_["metadata"]["creationTimestamp"] = FormatRfc3339(t);
  return *this;
}
json NodeBuilder::Json() const { return j_; }
Node NodeBuilder::Build() const { return DecodeOrThrow(DecodeNode(j_)); }

// ---------------------------------------------------------------------------------------------
// PodBuilder

PodBuilder::PodBuilder(std::string name) : PodBuilder("default", std::move(name)) {}

PodBuilder::PodBuilder(std::string ns, std::string name) {
  j_ = json{{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"uid", TestUid(ns, name)},
              {"resourceVersion", "1"},
              {"creationTimestamp", nullptr}}},
            {"spec",
             {{"containers", json::array({{{"name", "app"}, {"image", "pause"}}})},
              {"schedulerName", "default-scheduler"}}},
            {"status", {{"phase", "Pending"}}}};
}

PodBuilder& PodBuilder::Namespace(std::string ns) {
  j_["metadata"]["namespace"] = ns;
  if (!uid_set_) {
    j_["metadata"]["uid"] = TestUid(ns, j_["metadata"]["name"].get<std::string>());
  }
  return *this;
}
PodBuilder& PodBuilder::Uid(std::string uid) {
  j_["metadata"]["uid"] = std::move(uid);
  uid_set_ = true;
  return *this;
}
PodBuilder& PodBuilder::ResourceVersion(std::string rv) {
  j_["metadata"]["resourceVersion"] = std::move(rv);
  return *this;
}
PodBuilder& PodBuilder::Label(std::string key, std::string value) {
  j_["metadata"]["labels"][key] = std::move(value);
  return *this;
}
PodBuilder& PodBuilder::Annotation(std::string key, std::string value) {
  j_["metadata"]["annotations"][key] = std::move(value);
  return *this;
}
PodBuilder& PodBuilder::Mirror() { return Annotation(kMirrorPodAnnotation, "mirror-hash"); }
PodBuilder& PodBuilder::Created(WallTime t) {
  j_["metadata"]["creationTimestamp"] = FormatRfc3339(t);
  return *this;
}
PodBuilder& PodBuilder::Deleting(WallTime t) {
  j_["metadata"]["deletionTimestamp"] = FormatRfc3339(t);
  j_["metadata"]["deletionGracePeriodSeconds"] = 30;
  return *this;
}
PodBuilder& PodBuilder::Node(std::string node) {
  j_["spec"]["nodeName"] = std::move(node);
  if (!phase_set_) j_["status"]["phase"] = "Running";
  return *this;
}
PodBuilder& PodBuilder::SchedulerName(std::string name) {
  j_["spec"]["schedulerName"] = std::move(name);
  return *this;
}
PodBuilder& PodBuilder::Priority(int32_t priority) {
  j_["spec"]["priority"] = priority;
  return *this;
}
PodBuilder& PodBuilder::PriorityClass(std::string name) {
  j_["spec"]["priorityClassName"] = std::move(name);
  return *this;
}
PodBuilder& PodBuilder::NodeSelector(std::string key, std::string value) {
  j_["spec"]["nodeSelector"][key] = std::move(value);
  return *this;
}
PodBuilder& PodBuilder::RequiredNodeAffinity(std::string key, std::string op,
                                             std::vector<std::string> values) {
  return RequiredNodeAffinityTerm({NodeSelectorRequirement{key, op, values}});
}
PodBuilder& PodBuilder::RequiredNodeAffinityTerm(
    const std::vector<NodeSelectorRequirement>& exprs) {
  json term = {{"matchExpressions", json::array()}};
  for (const auto& e : exprs) {
    json req = {{"key", e.key}, {"operator", e.op}};
    if (!e.values.empty()) req["values"] = e.values;
    term["matchExpressions"].push_back(std::move(req));
  }
  j_["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    ["nodeSelectorTerms"]
        .push_back(std::move(term));
  return *this;
}
PodBuilder& PodBuilder::Toleration(std::string key, std::string op, std::string value,
                                   std::string effect) {
  json t = json::object();
  if (!key.empty()) t["key"] = std::move(key);
  if (!op.empty()) t["operator"] = std::move(op);
  if (!value.empty()) t["value"] = std::move(value);
  if (!effect.empty()) t["effect"] = std::move(effect);
  j_["spec"]["tolerations"].push_back(std::move(t));
  return *this;
}

json& PodBuilder::FirstContainer() { return j_["spec"]["containers"][0]; }

PodBuilder& PodBuilder::Cpu(std::string quantity) {
  FirstContainer()["resources"]["requests"]["cpu"] = std::move(quantity);
  return *this;
}
PodBuilder& PodBuilder::Memory(std::string quantity) {
  FirstContainer()["resources"]["requests"]["memory"] = std::move(quantity);
  return *this;
}
PodBuilder& PodBuilder::CpuLimit(std::string quantity) {
  FirstContainer()["resources"]["limits"]["cpu"] = std::move(quantity);
  return *this;
}
PodBuilder& PodBuilder::MemoryLimit(std::string quantity) {
  FirstContainer()["resources"]["limits"]["memory"] = std::move(quantity);
  return *this;
}

namespace {
json ContainerJson(std::string name, std::string cpu, std::string memory) {
  json c = {{"name", std::move(name)}, {"image", "pause"}};
  if (!cpu.empty()) c["resources"]["requests"]["cpu"] = std::move(cpu);
  if (!memory.empty()) c["resources"]["requests"]["memory"] = std::move(memory);
  return c;
}
}  // namespace

PodBuilder& PodBuilder::Container(std::string name, std::string cpu, std::string memory) {
  j_["spec"]["containers"].push_back(
      ContainerJson(std::move(name), std::move(cpu), std::move(memory)));
  return *this;
}
PodBuilder& PodBuilder::InitContainer(std::string name, std::string cpu, std::string memory,
                                      bool sidecar) {
  json c = ContainerJson(std::move(name), std::move(cpu), std::move(memory));
  if (sidecar) c["restartPolicy"] = "Always";
  j_["spec"]["initContainers"].push_back(std::move(c));
  return *this;
}
PodBuilder& PodBuilder::Overhead(std::string cpu, std::string memory) {
  if (!cpu.empty()) j_["spec"]["overhead"]["cpu"] = std::move(cpu);
  if (!memory.empty()) j_["spec"]["overhead"]["memory"] = std::move(memory);
  return *this;
}

PodBuilder& PodBuilder::OwnedByReplicaSet(std::string name) {
  return Owner("apps/v1", "ReplicaSet", std::move(name));
}
PodBuilder& PodBuilder::OwnedByDaemonSet(std::string name) {
  return Owner("apps/v1", "DaemonSet", std::move(name));
}
PodBuilder& PodBuilder::OwnedByStatefulSet(std::string name) {
  return Owner("apps/v1", "StatefulSet", std::move(name));
}
PodBuilder& PodBuilder::OwnedByJob(std::string name) {
  return Owner("batch/v1", "Job", std::move(name));
}
PodBuilder& PodBuilder::Owner(std::string api_version, std::string kind, std::string name,
                              bool controller) {
  j_["metadata"]["ownerReferences"].push_back(OwnerRef(
      api_version, kind, j_["metadata"]["namespace"].get<std::string>(), name, controller));
  return *this;
}

PodBuilder& PodBuilder::EmptyDir(std::string volume) {
  j_["spec"]["volumes"].push_back({{"name", std::move(volume)}, {"emptyDir", json::object()}});
  return *this;
}
PodBuilder& PodBuilder::HostPath(std::string volume, std::string path) {
  j_["spec"]["volumes"].push_back(
      {{"name", std::move(volume)}, {"hostPath", {{"path", std::move(path)}, {"type", ""}}}});
  return *this;
}
PodBuilder& PodBuilder::Pvc(std::string volume, std::string claim) {
  j_["spec"]["volumes"].push_back(
      {{"name", std::move(volume)}, {"persistentVolumeClaim", {{"claimName", std::move(claim)}}}});
  return *this;
}

PodBuilder& PodBuilder::Phase(std::string phase) {
  j_["status"]["phase"] = std::move(phase);
  phase_set_ = true;
  return *this;
}
PodBuilder& PodBuilder::SetCondition(const std::string& type, const std::string& status,
                                     std::optional<WallTime> t) {
  json& conds = j_["status"]["conditions"];
  if (!conds.is_array()) conds = json::array();
  json c = {{"type", type}, {"status", status}};
  c["lastTransitionTime"] = t ? json(FormatRfc3339(*t)) : json(nullptr);
  for (json& existing : conds) {
    if (existing["type"] == type) {
      existing = std::move(c);
      return *this;
    }
  }
  conds.push_back(std::move(c));
  return *this;
}
PodBuilder& PodBuilder::Ready(bool ready) {
  return SetCondition("Ready", ready ? "True" : "False", std::nullopt);
}
PodBuilder& PodBuilder::Scheduled(WallTime t) { return SetCondition("PodScheduled", "True", t); }
PodBuilder& PodBuilder::StartTime(WallTime t) {
  j_["status"]["startTime"] = FormatRfc3339(t);
  return *this;
}
json PodBuilder::Json() const { return j_; }
Pod PodBuilder::Build() const { return DecodeOrThrow(DecodePod(j_)); }

// ---------------------------------------------------------------------------------------------
// PdbBuilder

PdbBuilder::PdbBuilder(std::string ns, std::string name) {
  j_ = json{{"apiVersion", "policy/v1"},
            {"kind", "PodDisruptionBudget"},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"uid", TestUid(ns, name)},
              {"resourceVersion", "1"},
              {"generation", 1}}},
            {"spec", json::object()},
            {"status", {{"observedGeneration", 1}, {"disruptionsAllowed", 0}}}};
}
PdbBuilder& PdbBuilder::Uid(std::string uid) {
  j_["metadata"]["uid"] = std::move(uid);
  return *this;
}
PdbBuilder& PdbBuilder::ResourceVersion(std::string rv) {
  j_["metadata"]["resourceVersion"] = std::move(rv);
  return *this;
}
PdbBuilder& PdbBuilder::Generation(int64_t generation) {
  j_["metadata"]["generation"] = generation;
  return *this;
}
PdbBuilder& PdbBuilder::MinAvailable(int32_t n) {
  j_["spec"]["minAvailable"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::MinAvailablePercent(int32_t percent) {
  j_["spec"]["minAvailable"] = std::to_string(percent) + "%";
  return *this;
}
PdbBuilder& PdbBuilder::MaxUnavailable(int32_t n) {
  j_["spec"]["maxUnavailable"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::MaxUnavailablePercent(int32_t percent) {
  j_["spec"]["maxUnavailable"] = std::to_string(percent) + "%";
  return *this;
}
PdbBuilder& PdbBuilder::Selector(std::string key, std::string value) {
  j_["spec"]["selector"]["matchLabels"][key] = std::move(value);
  return *this;
}
PdbBuilder& PdbBuilder::EmptySelector() {
  j_["spec"]["selector"] = json::object();
  return *this;
}
PdbBuilder& PdbBuilder::SelectorExpression(std::string key, std::string op,
                                           std::vector<std::string> values) {
  json req = {{"key", std::move(key)}, {"operator", std::move(op)}};
  if (!values.empty()) req["values"] = std::move(values);
  j_["spec"]["selector"]["matchExpressions"].push_back(std::move(req));
  return *this;
}
PdbBuilder& PdbBuilder::DisruptionsAllowed(int32_t n) {
  j_["status"]["disruptionsAllowed"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::CurrentHealthy(int32_t n) {
  j_["status"]["currentHealthy"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::DesiredHealthy(int32_t n) {
  j_["status"]["desiredHealthy"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::ExpectedPods(int32_t n) {
  j_["status"]["expectedPods"] = n;
  return *this;
}
PdbBuilder& PdbBuilder::ObservedGeneration(int64_t generation) {
  j_["status"]["observedGeneration"] = generation;
  return *this;
}
json PdbBuilder::Json() const { return j_; }
PodDisruptionBudget PdbBuilder::Build() const {
  return DecodeOrThrow(DecodePodDisruptionBudget(j_));
}

// ---------------------------------------------------------------------------------------------
// ReplicaSetBuilder

ReplicaSetBuilder::ReplicaSetBuilder(std::string ns, std::string name) {
  j_ = json{{"apiVersion", "apps/v1"},
            {"kind", "ReplicaSet"},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"uid", TestUid(ns, name)},
              {"resourceVersion", "1"},
              {"generation", 1}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template", DefaultTemplate()}}},
            {"status", {{"replicas", 0}}}};
}
ReplicaSetBuilder& ReplicaSetBuilder::Uid(std::string uid) {
  j_["metadata"]["uid"] = std::move(uid);
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::ResourceVersion(std::string rv) {
  j_["metadata"]["resourceVersion"] = std::move(rv);
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::Replicas(int32_t n) {
  j_["spec"]["replicas"] = n;
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::Selector(std::string key, std::string value) {
  j_["spec"]["selector"] = {{"matchLabels", {{std::move(key), std::move(value)}}}};
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::Template(const PodBuilder& pod) {
  j_["spec"]["template"] = PodTemplateFrom(pod);
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::OwnedByDeployment(std::string name) {
  j_["metadata"]["ownerReferences"].push_back(OwnerRef(
      "apps/v1", "Deployment", j_["metadata"]["namespace"].get<std::string>(), name, true));
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::StatusReplicas(int32_t n) {
  j_["status"]["replicas"] = n;
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::ReadyReplicas(int32_t n) {
  j_["status"]["readyReplicas"] = n;
  return *this;
}
ReplicaSetBuilder& ReplicaSetBuilder::AvailableReplicas(int32_t n) {
  j_["status"]["availableReplicas"] = n;
  return *this;
}
json ReplicaSetBuilder::Json() const {
  json out = j_;
  SyncTemplateLabels(&out);
  return out;
}
ReplicaSet ReplicaSetBuilder::Build() const { return DecodeOrThrow(DecodeReplicaSet(Json())); }

// ---------------------------------------------------------------------------------------------
// DeploymentBuilder

DeploymentBuilder::DeploymentBuilder(std::string ns, std::string name) {
  j_ = json{{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"uid", TestUid(ns, name)},
              {"resourceVersion", "1"},
              {"generation", 1}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template", DefaultTemplate()}}},
            {"status", {{"observedGeneration", 1}}}};
}
DeploymentBuilder& DeploymentBuilder::Uid(std::string uid) {
  j_["metadata"]["uid"] = std::move(uid);
  return *this;
}
DeploymentBuilder& DeploymentBuilder::ResourceVersion(std::string rv) {
  j_["metadata"]["resourceVersion"] = std::move(rv);
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Generation(int64_t generation) {
  j_["metadata"]["generation"] = generation;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Replicas(int32_t n) {
  j_["spec"]["replicas"] = n;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Selector(std::string key, std::string value) {
  j_["spec"]["selector"] = {{"matchLabels", {{std::move(key), std::move(value)}}}};
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Template(const PodBuilder& pod) {
  json annotations = j_["spec"]["template"]["metadata"].value("annotations", json::object());
  j_["spec"]["template"] = PodTemplateFrom(pod);
  for (const auto& [k, v] : annotations.items()) {
    j_["spec"]["template"]["metadata"]["annotations"][k] = v;
  }
  return *this;
}
DeploymentBuilder& DeploymentBuilder::TemplateAnnotation(std::string key, std::string value) {
  j_["spec"]["template"]["metadata"]["annotations"][key] = std::move(value);
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Recreate() {
  j_["spec"]["strategy"] = {{"type", "Recreate"}};
  return *this;
}
DeploymentBuilder& DeploymentBuilder::MaxSurge(json int_or_percent) {
  j_["spec"]["strategy"]["type"] = "RollingUpdate";
  j_["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = std::move(int_or_percent);
  return *this;
}
DeploymentBuilder& DeploymentBuilder::MaxUnavailable(json int_or_percent) {
  j_["spec"]["strategy"]["type"] = "RollingUpdate";
  j_["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = std::move(int_or_percent);
  return *this;
}
DeploymentBuilder& DeploymentBuilder::Paused(bool paused) {
  j_["spec"]["paused"] = paused;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::ObservedGeneration(int64_t generation) {
  j_["status"]["observedGeneration"] = generation;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::StatusReplicas(int32_t n) {
  j_["status"]["replicas"] = n;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::UpdatedReplicas(int32_t n) {
  j_["status"]["updatedReplicas"] = n;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::ReadyReplicas(int32_t n) {
  j_["status"]["readyReplicas"] = n;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::AvailableReplicas(int32_t n) {
  j_["status"]["availableReplicas"] = n;
  return *this;
}
DeploymentBuilder& DeploymentBuilder::UnavailableReplicas(int32_t n) {
  j_["status"]["unavailableReplicas"] = n;
  return *this;
}
json DeploymentBuilder::Json() const {
  json out = j_;
  SyncTemplateLabels(&out);
  return out;
}
Deployment DeploymentBuilder::Build() const { return DecodeOrThrow(DecodeDeployment(Json())); }

}  // namespace kb::testing
