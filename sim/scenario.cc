#include "sim/scenario.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/quantity.h"
#include "sim/node_metrics.h"
#include "sim/resources.h"
#include "sim/scenario_steps.h"
#include "sim/scheduler_driver.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

constexpr const char* kDefaultImage = "registry.k8s.io/pause:3.9";

json ScalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted or explicitly tagged: a string
  if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) {
    try {
      return std::stoll(s);
    } catch (...) {
      return s;
    }
  }
  if (std::regex_match(s, kFloat)) {
    try {
      return std::stod(s);
    } catch (...) {
      return s;
    }
  }
  return s;
}

json NodeToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ScalarToJson(n);
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& x : n) a.push_back(NodeToJson(x));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = NodeToJson(kv.second);
      return o;
    }
  }
  return nullptr;
}

// ---- entry helpers ----------------------------------------------------------------------------

class Entry {
 public:
  Entry(std::string section, size_t index, const json& value)
      : section_(std::move(section)), index_(index), value_(value) {}

  std::string Where() const {
    std::string w = section_ + "[" + std::to_string(index_) + "]";
    if (value_.is_object() && value_.contains("name") && value_["name"].is_string()) {
      w += " (" + value_["name"].get<std::string>() + ")";
    }
    return w;
  }
  Status Error(const std::string& key, const std::string& what) const {
    return Status::InvalidArgument(Where() + (key.empty() ? "" : ": " + key) + ": " + what);
  }
  Status CheckKeys(const std::set<std::string>& allowed) const {
    if (!value_.is_object()) return Status::InvalidArgument(Where() + ": must be a mapping");
    for (const auto& [k, v] : value_.items()) {
      if (!allowed.count(k))
        return Status::InvalidArgument(Where() + ": unknown key \"" + k + "\"");
    }
    return Status::Ok();
  }
  bool Has(const std::string& key) const { return value_.contains(key) && !value_[key].is_null(); }
  const json& Get(const std::string& key) const { return value_[key]; }

  StatusOr<std::string> String(const std::string& key, const std::string& fallback) const {
    if (!Has(key)) return fallback;
    if (!value_[key].is_string()) return Error(key, "must be a string");
    return value_[key].get<std::string>();
  }
  StatusOr<int64_t> Int(const std::string& key, int64_t fallback) const {
    if (!Has(key)) return fallback;
    if (!value_[key].is_number_integer()) return Error(key, "must be an integer");
    return value_[key].get<int64_t>();
  }
  StatusOr<json> StringMap(const std::string& key) const {
    if (!Has(key)) return json::object();
    const json& m = value_[key];
    if (!m.is_object()) return Error(key, "must be a mapping of strings");
    json out = json::object();
    for (const auto& [k, v] : m.items()) {
      if (v.is_string()) {
        out[k] = v;
      } else if (v.is_number() || v.is_boolean()) {
        out[k] = v.dump();  // labels like `tier: 1` are strings in Kubernetes
      } else {
        return Error(key + "." + k, "must be a string");
      }
    }
    return out;
  }
  StatusOr<json> Array(const std::string& key) const {
    if (!Has(key)) return json::array();
    if (!value_[key].is_array()) return Error(key, "must be a list");
    return value_[key];
  }
  // A quantity given as a string or a number.
  StatusOr<std::string> Quantity(const std::string& key, const std::string& fallback) const {
    if (!Has(key)) return fallback;
    const json& v = value_[key];
    std::string text;
    if (v.is_string()) {
      text = v.get<std::string>();
    } else if (v.is_number_integer()) {
      text = std::to_string(v.get<int64_t>());
    } else if (v.is_number()) {
      std::ostringstream os;
      os << v.get<double>();
      text = os.str();
    } else {
      return Error(key, "must be a quantity");
    }
    if (!ParseQuantity(text).ok()) return Error(key, "\"" + text + "\" is not a valid quantity");
    return text;
  }
  // {cpu, memory, ...} -> a ResourceList of strings.
  StatusOr<json> Resources(const std::string& key) const {
    if (!Has(key)) return json();
    if (!value_[key].is_object()) return Error(key, "must be a mapping like {cpu: 100m}");
    json out = json::object();
    for (const auto& [res, v] : value_[key].items()) {
      auto q = Entry(section_, index_, json{{res, v}}).Quantity(res, "");
      if (!q.ok()) return Error(key + "." + res, "\"" + v.dump() + "\" is not a valid quantity");
      out[res] = *q;
    }
    return out;
  }

 private:
  std::string section_;
  size_t index_;
  const json& value_;
};

const std::set<std::string> kPodSpecKeys = {"requests",
                                            "limits",
                                            "image",
                                            "nodeSelector",
                                            "tolerations",
                                            "affinity",
                                            "schedulerName",
                                            "priorityClassName",
                                            "priority",
                                            "terminationGracePeriodSeconds",
                                            "containers",
                                            "usage",
                                            "topologySpreadConstraints",
                                            "volumes"};

std::set<std::string> With(std::set<std::string> a, std::initializer_list<std::string> b) {
  a.insert(b.begin(), b.end());
  return a;
}

// The pod spec shared by deployments and bare pods.
StatusOr<json> PodSpec(const Entry& e) {
  json spec = json::object();
  if (e.Has("containers")) {
    KB_ASSIGN_OR_RETURN(json containers, e.Array("containers"));
    spec["containers"] = containers;
  } else {
    KB_ASSIGN_OR_RETURN(std::string image, e.String("image", kDefaultImage));
    json c = {{"name", "app"}, {"image", image}};
    KB_ASSIGN_OR_RETURN(json requests, e.Resources("requests"));
    KB_ASSIGN_OR_RETURN(json limits, e.Resources("limits"));
    if (!requests.is_null()) c["resources"]["requests"] = requests;
    if (!limits.is_null()) c["resources"]["limits"] = limits;
    spec["containers"] = json::array({c});
  }
  if (e.Has("nodeSelector")) {
    KB_ASSIGN_OR_RETURN(json ns, e.StringMap("nodeSelector"));
    spec["nodeSelector"] = ns;
  }
  if (e.Has("tolerations")) {
    KB_ASSIGN_OR_RETURN(json t, e.Array("tolerations"));
    spec["tolerations"] = t;
  }
  if (e.Has("affinity")) {
    if (!e.Get("affinity").is_object()) return e.Error("affinity", "must be a mapping");
    spec["affinity"] = e.Get("affinity");
  }
  // Passed through as written (the API server's validation checks them on create).
  for (const char* key : {"topologySpreadConstraints", "volumes"}) {
    if (!e.Has(key)) continue;
    KB_ASSIGN_OR_RETURN(json list, e.Array(key));
    spec[key] = list;
  }
  KB_ASSIGN_OR_RETURN(std::string scheduler, e.String("schedulerName", ""));
  if (!scheduler.empty()) spec["schedulerName"] = scheduler;
  KB_ASSIGN_OR_RETURN(std::string pcn, e.String("priorityClassName", ""));
  if (!pcn.empty()) spec["priorityClassName"] = pcn;
  if (e.Has("priority")) {
    KB_ASSIGN_OR_RETURN(int64_t p, e.Int("priority", 0));
    spec["priority"] = p;
  }
  if (e.Has("terminationGracePeriodSeconds")) {
    KB_ASSIGN_OR_RETURN(int64_t g, e.Int("terminationGracePeriodSeconds", 0));
    spec["terminationGracePeriodSeconds"] = g;
  }
  return spec;
}

StatusOr<json> Annotations(const Entry& e) {
  KB_ASSIGN_OR_RETURN(json annotations, e.StringMap("annotations"));
  if (e.Has("usage")) {
    // The node-metrics generator's schema (sim/node_metrics.h); checked here so a typo fails
    // the load instead of silently meaning "no usage".
    StatusOr<UsageProfile> profile = UsageProfile::Parse(e.Get("usage"));
    if (!profile.ok()) return e.Error("", profile.status().message());
    annotations[kUsageAnnotation] = e.Get("usage").dump();
  }
  return annotations;
}

StatusOr<std::string> Namespace(const Entry& e, const std::string& fallback) {
  KB_ASSIGN_OR_RETURN(std::string ns, e.String("namespace", ""));
  KB_ASSIGN_OR_RETURN(std::string short_ns, e.String("ns", ""));
  if (!ns.empty() && !short_ns.empty() && ns != short_ns) {
    return e.Error("ns", "conflicts with namespace");
  }
  if (ns.empty()) ns = short_ns;
  return ns.empty() ? fallback : ns;
}

StatusOr<std::vector<ScenarioObject>> Nodes(const json& list, const std::string& now) {
  std::vector<ScenarioObject> out;
  int address = 10;
  for (size_t i = 0; i < list.size(); ++i) {
    Entry e("nodes", i, list[i]);
    KB_RETURN_IF_ERROR(e.CheckKeys({"name", "count", "cpu", "memory", "pods", "labels",
                                    "annotations", "taints", "unschedulable", "usage"}));
    KB_ASSIGN_OR_RETURN(std::string name, e.String("name", ""));
    if (name.empty()) return e.Error("name", "is required");
    KB_ASSIGN_OR_RETURN(int64_t count, e.Int("count", 0));
    KB_ASSIGN_OR_RETURN(std::string cpu, e.Quantity("cpu", "4"));
    KB_ASSIGN_OR_RETURN(std::string memory, e.Quantity("memory", "8Gi"));
    KB_ASSIGN_OR_RETURN(int64_t pods, e.Int("pods", 110));
    KB_ASSIGN_OR_RETURN(json labels, e.StringMap("labels"));
    KB_ASSIGN_OR_RETURN(json annotations, Annotations(e));
    KB_ASSIGN_OR_RETURN(json taints, e.Array("taints"));
    for (size_t t = 0; t < taints.size(); ++t) {
      if (!taints[t].is_object() || !taints[t].contains("key") || !taints[t].contains("effect")) {
        return e.Error("taints[" + std::to_string(t) + "]", "needs key and effect");
      }
    }
    bool unschedulable = false;
    if (e.Has("unschedulable")) {
      if (!e.Get("unschedulable").is_boolean()) return e.Error("unschedulable", "must be a bool");
      unschedulable = e.Get("unschedulable").get<bool>();
    }
    if (count < 0) return e.Error("count", "must be >= 0");
    std::vector<std::string> names;
    if (count == 0) {
      names.push_back(name);
    } else {
      for (int64_t k = 1; k <= count; ++k) names.push_back(name + "-" + std::to_string(k));
    }
    for (const auto& n : names) {
      json node_labels = {{"kubernetes.io/hostname", n},
                          {"kubernetes.io/os", "linux"},
                          {"kubernetes.io/arch", "amd64"}};
      node_labels.update(labels);
      json resources = {{"cpu", cpu}, {"memory", memory}, {"pods", std::to_string(pods)}};
      json node = {
          {"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", n}, {"labels", node_labels}}},
          {"spec", json::object()},
          {"status",
           {{"capacity", resources},
            {"allocatable", resources},
            {"conditions", json::array({{{"type", "Ready"},
                                         {"status", "True"},
                                         {"reason", "KubeletReady"},
                                         {"message", "kubelet is posting ready status"},
                                         {"lastHeartbeatTime", now},
                                         {"lastTransitionTime", now}}})},
            {"addresses", json::array({{{"type", "InternalIP"},
                                        {"address", "10.0.0." + std::to_string(address++)}},
                                       {{"type", "Hostname"}, {"address", n}}})},
            {"nodeInfo",
             {{"kubeletVersion", "v1.26.7"},
              {"operatingSystem", "linux"},
              {"architecture", "amd64"},
              {"containerRuntimeVersion", "containerd://1.7.0"}}}}}};
      if (!annotations.empty()) node["metadata"]["annotations"] = annotations;
      if (!taints.empty()) node["spec"]["taints"] = taints;
      if (unschedulable) node["spec"]["unschedulable"] = true;
      out.push_back({"nodes", "", std::move(node)});
    }
  }
  return out;
}

StatusOr<json> Strategy(const Entry& e) {
  const json& s = e.Get("strategy");
  if (!s.is_object()) return e.Error("strategy", "must be a mapping");
  std::string type = s.value("type", "RollingUpdate");
  if (type != "RollingUpdate" && type != "Recreate") {
    return e.Error("strategy.type", "must be RollingUpdate or Recreate");
  }
  json out = {{"type", type}};
  if (s.contains("rollingUpdate")) {
    out["rollingUpdate"] = s["rollingUpdate"];
  } else if (type == "RollingUpdate") {
    json ru = json::object();
    for (const char* k : {"maxSurge", "maxUnavailable"}) {
      if (s.contains(k)) ru[k] = s[k];
    }
    if (!ru.empty()) out["rollingUpdate"] = ru;
  }
  for (const auto& [k, v] : s.items()) {
    if (k != "type" && k != "rollingUpdate" && k != "maxSurge" && k != "maxUnavailable") {
      return e.Error("strategy", "unknown key \"" + k + "\"");
    }
  }
  return out;
}

StatusOr<std::vector<ScenarioObject>> Deployments(const json& list, const std::string& default_ns) {
  std::vector<ScenarioObject> out;
  for (size_t i = 0; i < list.size(); ++i) {
    Entry e("deployments", i, list[i]);
    KB_RETURN_IF_ERROR(
        e.CheckKeys(With(kPodSpecKeys, {"name", "namespace", "ns", "replicas", "labels",
                                        "annotations", "strategy", "minReadySeconds"})));
    KB_ASSIGN_OR_RETURN(std::string name, e.String("name", ""));
    if (name.empty()) return e.Error("name", "is required");
    KB_ASSIGN_OR_RETURN(std::string ns, Namespace(e, default_ns));
    KB_ASSIGN_OR_RETURN(int64_t replicas, e.Int("replicas", 1));
    if (replicas < 0) return e.Error("replicas", "must be >= 0");
    KB_ASSIGN_OR_RETURN(json labels, e.StringMap("labels"));
    if (labels.empty()) labels = {{"app", name}};
    KB_ASSIGN_OR_RETURN(json annotations, Annotations(e));
    KB_ASSIGN_OR_RETURN(json spec, PodSpec(e));
    json tmpl_md = {{"labels", labels}};
    if (!annotations.empty()) tmpl_md["annotations"] = annotations;
    json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", labels}}},
                {"template", {{"metadata", tmpl_md}, {"spec", spec}}}}}};
    if (e.Has("strategy")) {
      KB_ASSIGN_OR_RETURN(json strategy, Strategy(e));
      d["spec"]["strategy"] = strategy;
    }
    if (e.Has("minReadySeconds")) {
      KB_ASSIGN_OR_RETURN(int64_t mrs, e.Int("minReadySeconds", 0));
      d["spec"]["minReadySeconds"] = mrs;
    }
    out.push_back({"deployments", ns, std::move(d)});
  }
  return out;
}

StatusOr<std::vector<ScenarioObject>> Pods(const json& list, const std::string& default_ns) {
  std::vector<ScenarioObject> out;
  for (size_t i = 0; i < list.size(); ++i) {
    Entry e("pods", i, list[i]);
    KB_RETURN_IF_ERROR(e.CheckKeys(
        With(kPodSpecKeys, {"name", "namespace", "ns", "labels", "annotations", "nodeName"})));
    KB_ASSIGN_OR_RETURN(std::string name, e.String("name", ""));
    if (name.empty()) return e.Error("name", "is required");
    KB_ASSIGN_OR_RETURN(std::string ns, Namespace(e, default_ns));
    KB_ASSIGN_OR_RETURN(json labels, e.StringMap("labels"));
    KB_ASSIGN_OR_RETURN(json annotations, Annotations(e));
    KB_ASSIGN_OR_RETURN(json spec, PodSpec(e));
    KB_ASSIGN_OR_RETURN(std::string node, e.String("nodeName", ""));
    if (!node.empty()) spec["nodeName"] = node;
    json md = {{"name", name}, {"namespace", ns}};
    if (!labels.empty()) md["labels"] = labels;
    if (!annotations.empty()) md["annotations"] = annotations;
    json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md}, {"spec", spec}};
    out.push_back({"pods", ns, std::move(pod)});
  }
  return out;
}

StatusOr<std::vector<ScenarioObject>> Pdbs(const json& list, const std::string& default_ns) {
  std::vector<ScenarioObject> out;
  for (size_t i = 0; i < list.size(); ++i) {
    Entry e("pdbs", i, list[i]);
    KB_RETURN_IF_ERROR(e.CheckKeys({"name", "namespace", "ns", "selector", "minAvailable",
                                    "maxUnavailable", "unhealthyPodEvictionPolicy"}));
    KB_ASSIGN_OR_RETURN(std::string name, e.String("name", ""));
    if (name.empty()) return e.Error("name", "is required");
    KB_ASSIGN_OR_RETURN(std::string ns, Namespace(e, default_ns));
    if (!e.Has("selector")) return e.Error("selector", "is required");
    const json& sel = e.Get("selector");
    if (!sel.is_object()) return e.Error("selector", "must be a mapping");
    json selector;
    if (sel.contains("matchLabels") || sel.contains("matchExpressions")) {
      selector = sel;
    } else {
      KB_ASSIGN_OR_RETURN(json labels, e.StringMap("selector"));
      selector = {{"matchLabels", labels}};
    }
    json spec = {{"selector", selector}};
    for (const char* k : {"minAvailable", "maxUnavailable"}) {
      if (!e.Has(k)) continue;
      const json& v = e.Get(k);
      if (!v.is_number_integer() && !v.is_string()) {
        return e.Error(k, "must be an integer or a percentage like \"50%\"");
      }
      spec[k] = v;
    }
    KB_ASSIGN_OR_RETURN(std::string policy, e.String("unhealthyPodEvictionPolicy", ""));
    if (!policy.empty()) spec["unhealthyPodEvictionPolicy"] = policy;
    json pdb = {{"apiVersion", "policy/v1"},
                {"kind", "PodDisruptionBudget"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"spec", spec}};
    out.push_back({"poddisruptionbudgets", ns, std::move(pdb)});
  }
  return out;
}

StatusOr<std::vector<ScenarioObject>> RawObjects(const json& list, const std::string& default_ns) {
  std::vector<ScenarioObject> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& o = list[i];
    std::string where = "objects[" + std::to_string(i) + "]";
    if (!o.is_object()) return Status::InvalidArgument(where + ": must be a mapping");
    std::string kind = o.value("kind", "");
    const ResourceInfo* r = FindResourceByKind(kind);
    if (!r) {
      return Status::InvalidArgument(where + ": kind \"" + kind + "\" is not served by kube-sim");
    }
    std::string ns;
    if (r->namespaced) {
      ns = o.contains("metadata") && o["metadata"].is_object()
               ? o["metadata"].value("namespace", default_ns)
               : default_ns;
    }
    out.push_back({r->resource, ns, o});
  }
  return out;
}

Status Append(std::vector<ScenarioObject>& out, StatusOr<std::vector<ScenarioObject>> more) {
  if (!more.ok()) return more.status();
  for (auto& o : *more) out.push_back(std::move(o));
  return Status::Ok();
}

}  // namespace

StatusOr<json> YamlToJson(const std::string& yaml_text) {
  try {
    return NodeToJson(YAML::Load(yaml_text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
}

StatusOr<std::chrono::milliseconds> ParseDurationValue(const json& value) {
  if (value.is_number_integer() && value.get<int64_t>() == 0) return std::chrono::milliseconds(0);
  if (!value.is_string()) return Status::InvalidArgument("a duration must be a string like 30s");
  return ParseDuration(value.get<std::string>());
}

StatusOr<json> ReadScenarioFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read scenario file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(path + ": invalid JSON");
    return j;
  }
  auto j = YamlToJson(text);
  if (!j.ok()) return j.status().Annotate(path);
  return j;
}

StatusOr<std::vector<ScenarioObject>> ExpandScenario(const json& scenario, const std::string& now) {
  if (scenario.is_null()) return std::vector<ScenarioObject>{};
  if (!scenario.is_object()) return Status::InvalidArgument("scenario: must be a mapping");
  static const std::set<std::string> kTop = {"name",      "description", "namespace", "nodes",
                                             "pdbs",      "deployments", "pods",      "objects",
                                             "scheduler", "steps"};
  for (const auto& [k, v] : scenario.items()) {
    if (!kTop.count(k)) return Status::InvalidArgument("scenario: unknown key \"" + k + "\"");
  }
  std::string default_ns = "default";
  if (scenario.contains("namespace")) {
    if (!scenario["namespace"].is_string()) {
      return Status::InvalidArgument("scenario: namespace: must be a string");
    }
    default_ns = scenario["namespace"].get<std::string>();
  }
  auto list = [&](const char* key) -> StatusOr<json> {
    if (!scenario.contains(key) || scenario[key].is_null()) return json::array();
    if (!scenario[key].is_array()) {
      return Status::InvalidArgument(std::string("scenario: ") + key + ": must be a list");
    }
    return scenario[key];
  };
  std::vector<ScenarioObject> out;
  KB_ASSIGN_OR_RETURN(json nodes, list("nodes"));
  KB_RETURN_IF_ERROR(Append(out, Nodes(nodes, now)));
  KB_ASSIGN_OR_RETURN(json pdbs, list("pdbs"));
  KB_RETURN_IF_ERROR(Append(out, Pdbs(pdbs, default_ns)));
  KB_ASSIGN_OR_RETURN(json deployments, list("deployments"));
  KB_RETURN_IF_ERROR(Append(out, Deployments(deployments, default_ns)));
  KB_ASSIGN_OR_RETURN(json pods, list("pods"));
  KB_RETURN_IF_ERROR(Append(out, Pods(pods, default_ns)));
  KB_ASSIGN_OR_RETURN(json objects, list("objects"));
  KB_RETURN_IF_ERROR(Append(out, RawObjects(objects, default_ns)));
  // `scheduler:` and `steps:` create no objects; they are validated here and read by SimCluster.
  if (scenario.contains("scheduler")) {
    SchedulerDriverOptions unused;
    KB_RETURN_IF_ERROR(ApplySchedulerSection(scenario["scheduler"], &unused));
  }
  if (scenario.contains("steps")) {
    KB_RETURN_IF_ERROR(ParseSteps(scenario["steps"], default_ns).status());
  }
  return out;
}

}  // namespace kb::sim
