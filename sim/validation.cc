#include "sim/validation.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "core/quantity.h"
#include "sim/k8s_json.h"
#include "sim/selectors.h"

namespace kb::sim {

using json = nlohmann::json;

// ---- type checks (what Go's json decoding into the typed struct would reject: 400) -------------

namespace {

enum class Want { kString, kInt, kBool, kObject, kArray, kStringMap, kIntOrString };

struct TypeRule {
  const char* resource;  // "*" = every resource
  std::vector<const char*> path;
  Want want;
  const char* go_type;
};

const std::vector<TypeRule>& TypeRules() {
  static const std::vector<TypeRule> kRules = {
      {"*", {"metadata", "name"}, Want::kString, "string"},
      {"*", {"metadata", "namespace"}, Want::kString, "string"},
      {"*", {"metadata", "generateName"}, Want::kString, "string"},
      {"*", {"metadata", "resourceVersion"}, Want::kString, "string"},
      {"*", {"metadata", "uid"}, Want::kString, "types.UID"},
      {"*", {"metadata", "labels"}, Want::kStringMap, "map[string]string"},
      {"*", {"metadata", "annotations"}, Want::kStringMap, "map[string]string"},
      {"*", {"metadata", "ownerReferences"}, Want::kArray, "[]v1.OwnerReference"},
      {"*", {"spec"}, Want::kObject, "struct"},
      {"*", {"status"}, Want::kObject, "struct"},
      {"pods", {"spec", "nodeName"}, Want::kString, "string"},
      {"pods", {"spec", "schedulerName"}, Want::kString, "string"},
      {"pods", {"spec", "containers"}, Want::kArray, "[]v1.Container"},
      {"pods", {"spec", "initContainers"}, Want::kArray, "[]v1.Container"},
      {"pods", {"spec", "nodeSelector"}, Want::kStringMap, "map[string]string"},
      {"pods", {"spec", "tolerations"}, Want::kArray, "[]v1.Toleration"},
      {"pods", {"spec", "priority"}, Want::kInt, "int32"},
      {"pods", {"spec", "terminationGracePeriodSeconds"}, Want::kInt, "int64"},
      {"pods", {"status", "phase"}, Want::kString, "v1.PodPhase"},
      {"pods", {"status", "conditions"}, Want::kArray, "[]v1.PodCondition"},
      {"deployments", {"spec", "replicas"}, Want::kInt, "int32"},
      {"deployments", {"spec", "selector"}, Want::kObject, "v1.LabelSelector"},
      {"deployments", {"spec", "template"}, Want::kObject, "v1.PodTemplateSpec"},
      {"deployments", {"spec", "paused"}, Want::kBool, "bool"},
      {"deployments", {"spec", "minReadySeconds"}, Want::kInt, "int32"},
      {"deployments", {"spec", "strategy"}, Want::kObject, "v1.DeploymentStrategy"},
      {"replicasets", {"spec", "replicas"}, Want::kInt, "int32"},
      {"replicasets", {"spec", "selector"}, Want::kObject, "v1.LabelSelector"},
      {"replicasets", {"spec", "template"}, Want::kObject, "v1.PodTemplateSpec"},
      {"replicasets", {"spec", "minReadySeconds"}, Want::kInt, "int32"},
      {"poddisruptionbudgets", {"spec", "selector"}, Want::kObject, "v1.LabelSelector"},
      {"poddisruptionbudgets", {"spec", "minAvailable"}, Want::kIntOrString, "intstr.IntOrString"},
      {"poddisruptionbudgets",
       {"spec", "maxUnavailable"},
       Want::kIntOrString,
       "intstr.IntOrString"},
      {"poddisruptionbudgets", {"status", "disruptionsAllowed"}, Want::kInt, "int32"},
      {"poddisruptionbudgets", {"status", "observedGeneration"}, Want::kInt, "int64"},
      {"nodes", {"spec", "unschedulable"}, Want::kBool, "bool"},
      {"nodes", {"spec", "taints"}, Want::kArray, "[]v1.Taint"},
      {"nodes", {"status", "allocatable"}, Want::kObject, "v1.ResourceList"},
      {"nodes", {"status", "capacity"}, Want::kObject, "v1.ResourceList"},
      {"leases", {"spec", "holderIdentity"}, Want::kString, "string"},
      {"leases", {"spec", "leaseDurationSeconds"}, Want::kInt, "int32"},
      {"leases", {"spec", "leaseTransitions"}, Want::kInt, "int32"},
      {"leases", {"spec", "acquireTime"}, Want::kString, "v1.MicroTime"},
      {"leases", {"spec", "renewTime"}, Want::kString, "v1.MicroTime"},
      {"configmaps", {"data"}, Want::kStringMap, "map[string]string"},
      {"events", {"involvedObject"}, Want::kObject, "v1.ObjectReference"},
      {"events", {"count"}, Want::kInt, "int32"},
  };
  return kRules;
}

bool TypeOk(const json& v, Want want) {
  if (v.is_null()) return true;  // Go decodes null as the zero value
  switch (want) {
    case Want::kString:
      return v.is_string();
    case Want::kInt:
      return v.is_number_integer();
    case Want::kBool:
      return v.is_boolean();
    case Want::kObject:
      return v.is_object();
    case Want::kArray:
      return v.is_array();
    case Want::kIntOrString:
      return v.is_number_integer() || v.is_string();
    case Want::kStringMap:
      if (!v.is_object()) return false;
      for (const auto& [k, x] : v.items()) {
        if (!x.is_string()) return false;
      }
      return true;
  }
  return false;
}

const json* Lookup(const json& obj, const std::vector<const char*>& path) {
  const json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

}  // namespace

const char* JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

std::optional<ApiError> CheckTypes(const ResourceInfo& r, const json& obj) {
  for (const auto& rule : TypeRules()) {
    if (std::string(rule.resource) != "*" && r.resource != rule.resource) continue;
    const json* v = Lookup(obj, rule.path);
    if (!v || TypeOk(*v, rule.want)) continue;
    std::string path;
    for (const char* p : rule.path) path += (path.empty() ? "" : ".") + std::string(p);
    const char* jt = JsonTypeName(*v);
    if (rule.want == Want::kStringMap && v->is_object()) jt = "non-string value";
    return ApiError::BadRequest(r.kind + " in version \"" + r.version +
                                "\" cannot be handled as a " + r.kind +
                                ": json: cannot unmarshal " + jt + " into Go struct field " +
                                r.kind + "." + path + " of type " + rule.go_type);
  }
  return std::nullopt;
}

std::optional<ApiError> CheckTypeMeta(const ResourceInfo& r, const json& obj) {
  if (!obj.is_object()) {
    return ApiError::BadRequest(
        "couldn't get version/kind; json parse error: the body must be a "
        "JSON object");
  }
  auto k = obj.find("kind");
  if (k != obj.end() && !k->is_null()) {
    if (!k->is_string()) return ApiError::BadRequest("kind: must be a string");
    if (*k != r.kind && !k->get<std::string>().empty()) {
      return ApiError::BadRequest("the object provided is unrecognized (must be of type " + r.kind +
                                  "): kind \"" + k->get<std::string>() + "\"");
    }
  }
  auto av = obj.find("apiVersion");
  if (av != obj.end() && !av->is_null()) {
    if (!av->is_string()) return ApiError::BadRequest("apiVersion: must be a string");
    if (*av != r.ApiVersion() && !av->get<std::string>().empty()) {
      return ApiError::BadRequest("the API version in the data (" + av->get<std::string>() +
                                  ") does not match the expected API version (" + r.ApiVersion() +
                                  ")");
    }
  }
  auto md = obj.find("metadata");
  if (md != obj.end() && !md->is_null() && !md->is_object()) {
    return ApiError::BadRequest(
        r.kind + " in version \"" + r.version + "\" cannot be handled as a " + r.kind +
        ": json: cannot unmarshal " + JsonTypeName(*md) + " into Go struct field " + r.kind +
        ".metadata of type v1.ObjectMeta");
  }
  return std::nullopt;
}

// ---- names ------------------------------------------------------------------------------------

namespace {

bool IsDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  auto alnum = [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c));
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (alnum(c) || c == '-') continue;
    if (c == '.' && i > 0 && alnum(s[i - 1]) && i + 1 < s.size() && alnum(s[i + 1])) continue;
    return false;
  }
  return true;
}

const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

}  // namespace

std::optional<ApiError> CheckNamespace(const std::string& body_ns, const std::string& url_ns) {
  if (body_ns.empty() || body_ns == url_ns) return std::nullopt;
  return ApiError::BadRequest(
      "the namespace of the provided object does not match the namespace sent on the request");
}

std::optional<ApiError> CheckPreconditions(const std::string& qualified, const std::string& group,
                                           const std::string& name, const std::string& want_uid,
                                           const std::string& want_rv, const json& obj) {
  if (!want_uid.empty() && want_uid != Uid(obj)) {
    return ApiError::PreconditionFailed(qualified, group, name, "UID", want_uid, Uid(obj));
  }
  if (!want_rv.empty() && want_rv != ResourceVersion(obj)) {
    return ApiError::PreconditionFailed(qualified, group, name, "ResourceVersion", want_rv,
                                        ResourceVersion(obj));
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateName(const ResourceInfo& r, const std::string& name) {
  if (IsDnsSubdomain(name)) return std::nullopt;
  return ApiError::Invalid(r.kind, r.group, name, "metadata.name",
                           "Invalid value: \"" + name + "\": " + kSubdomainMsg);
}

// ---- defaulting -------------------------------------------------------------------------------

namespace {

void DefaultPodSpec(json& spec) {
  if (!spec.is_object()) return;
  if (!spec.contains("schedulerName") || spec["schedulerName"].is_null() ||
      spec["schedulerName"] == "") {
    spec["schedulerName"] = "default-scheduler";
  }
  if (!spec.contains("restartPolicy") || spec["restartPolicy"].is_null()) {
    spec["restartPolicy"] = "Always";
  }
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object()) continue;
      // Requests default to the limits of the resources that have no request.
      const json& limits = At(c, {"resources", "limits"});
      if (!limits.is_object()) continue;
      for (const auto& [res, v] : limits.items()) {
        json& requests = c["resources"]["requests"];
        if (!requests.is_object()) requests = json::object();
        if (!requests.contains(res)) requests[res] = v;
      }
    }
  }
}

void ApplyDefaults(const ResourceInfo& r, json& obj) {
  if (r.resource == "pods") {
    if (!obj.contains("spec") || obj["spec"].is_null()) obj["spec"] = json::object();
    DefaultPodSpec(obj["spec"]);
  } else if (r.resource == "deployments" || r.resource == "replicasets") {
    if (!obj.contains("spec") || obj["spec"].is_null()) obj["spec"] = json::object();
    json& spec = obj["spec"];
    if (!spec.contains("replicas") || spec["replicas"].is_null()) spec["replicas"] = 1;
    if (spec.contains("template") && spec["template"].is_object() &&
        spec["template"].contains("spec")) {
      DefaultPodSpec(spec["template"]["spec"]);
    }
    if (r.resource == "deployments") {
      json& st = spec["strategy"];
      if (!st.is_object()) st = json::object();
      if (!st.contains("type") || st["type"].is_null()) st["type"] = "RollingUpdate";
      if (st["type"] == "RollingUpdate") {
        json& ru = st["rollingUpdate"];
        if (!ru.is_object()) ru = json::object();
        if (!ru.contains("maxSurge") || ru["maxSurge"].is_null()) ru["maxSurge"] = "25%";
        if (!ru.contains("maxUnavailable") || ru["maxUnavailable"].is_null()) {
          ru["maxUnavailable"] = "25%";
        }
      }
      if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
      if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
    }
  }
}

}  // namespace

// ---- validation (422) -------------------------------------------------------------------------

namespace {

// Validates every requests/limits quantity under `spec` (containers and initContainers). Returns
// the field path and message of the first bad one, or nullopt.
std::optional<std::pair<std::string, std::string>> CheckQuantities(const nlohmann::json& spec,
                                                                   const std::string& path) {
  for (const char* list : {"containers", "initContainers"}) {
    const auto& cs = At(spec, {list});
    if (!cs.is_array()) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      for (const char* kind : {"requests", "limits"}) {
        const auto& q = At(cs[i], {"resources", kind});
        if (q.is_null()) continue;
        std::string base = path + "." + list + "[" + std::to_string(i) + "].resources." + kind;
        if (!q.is_object()) return std::make_pair(base, "must be an object");
        for (const auto& [res, v] : q.items()) {
          std::string text = v.is_string() ? v.get<std::string>() : v.dump();
          if (!v.is_string() && !v.is_number()) {
            return std::make_pair(base + "[" + res + "]", "must be a quantity");
          }
          if (!ParseQuantity(text).ok()) {
            return std::make_pair(base + "[" + res + "]",
                                  "Invalid value: \"" + text +
                                      "\": quantities must match the regular expression "
                                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ValidatePodSpec(const ResourceInfo& r, const std::string& name,
                                        const json& spec, const std::string& path) {
  const json& cs = At(spec, {"containers"});
  if (!cs.is_array() || cs.empty()) {
    return ApiError::Invalid(r.kind, r.group, name, path + ".containers", "Required value");
  }
  for (const char* list : {"containers", "initContainers"}) {
    const json& l = At(spec, {list});
    if (!l.is_array()) continue;
    for (size_t i = 0; i < l.size(); ++i) {
      std::string p = path + "." + list + "[" + std::to_string(i) + "]";
      if (!l[i].is_object()) return ApiError::Invalid(r.kind, r.group, name, p, "Required value");
      if (l[i].value("name", "").empty()) {
        return ApiError::Invalid(r.kind, r.group, name, p + ".name", "Required value");
      }
      if (l[i].value("image", "").empty()) {
        return ApiError::Invalid(r.kind, r.group, name, p + ".image", "Required value");
      }
    }
  }
  if (auto bad = CheckQuantities(spec, path)) {
    return ApiError::Invalid(r.kind, r.group, name, bad->first, bad->second);
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateIntOrPercent(const ResourceInfo& r, const std::string& name,
                                             const json& v, const std::string& field) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0) {
      return ApiError::Invalid(
          r.kind, r.group, name, field,
          "Invalid value: " + v.dump() + ": must be greater than or equal to 0");
    }
    return std::nullopt;
  }
  std::string s = v.get<std::string>();
  bool ok = s.size() >= 2 && s.back() == '%' &&
            std::all_of(s.begin(), s.end() - 1, [](char c) { return std::isdigit(c); });
  if (!ok) {
    return ApiError::Invalid(r.kind, r.group, name, field,
                             "Invalid value: \"" + s + "\": a valid percent string must be a " +
                                 "numeric string followed by an ending '%'");
  }
  return std::nullopt;
}

// Pod spec fields a client may change on update (ValidatePodUpdate).
json MaskMutablePodFields(json spec) {
  if (!spec.is_object()) return spec;
  for (const char* list : {"containers", "initContainers"}) {
    if (spec.contains(list) && spec[list].is_array()) {
      for (auto& c : spec[list]) {
        if (c.is_object()) c.erase("image");
      }
    }
  }
  spec.erase("activeDeadlineSeconds");
  spec.erase("terminationGracePeriodSeconds");
  spec.erase("schedulingGates");
  return spec;
}

std::optional<ApiError> Validate(const ResourceInfo& r, const json& obj) {
  const std::string name = Name(obj);
  if (r.resource == "pods") {
    return ValidatePodSpec(r, name, At(obj, {"spec"}), "spec");
  }
  if (r.resource == "deployments" || r.resource == "replicasets") {
    const json& spec = At(obj, {"spec"});
    if (IntAt(spec, {"replicas"}, 0) < 0) {
      return ApiError::Invalid(r.kind, r.group, name, "spec.replicas",
                               "Invalid value: " + At(spec, {"replicas"}).dump() +
                                   ": must be greater than or equal to 0");
    }
    const json& sel = At(spec, {"selector"});
    if (sel.is_null()) {
      return ApiError::Invalid(r.kind, r.group, name, "spec.selector", "Required value");
    }
    auto selector = LabelSelector::FromJson(sel);
    if (!selector.ok()) {
      return ApiError::Invalid(r.kind, r.group, name, "spec.selector",
                               "Invalid value: " + selector.status().message());
    }
    if (selector->Empty()) {
      return ApiError::Invalid(r.kind, r.group, name, "spec.selector",
                               "Invalid value: \"{}\": empty selector is invalid for deployment");
    }
    const json& labels = At(spec, {"template", "metadata", "labels"});
    if (!selector->Matches(labels)) {
      return ApiError::Invalid(
          r.kind, r.group, name, "spec.template.metadata.labels",
          "Invalid value: " + labels.dump() + ": `selector` does not match template `labels`");
    }
    return ValidatePodSpec(r, name, At(spec, {"template", "spec"}), "spec.template.spec");
  }
  if (r.resource == "poddisruptionbudgets") {
    const json& spec = At(obj, {"spec"});
    const json& min = At(spec, {"minAvailable"});
    const json& max = At(spec, {"maxUnavailable"});
    if (!min.is_null() && !max.is_null()) {
      return ApiError::Invalid(r.kind, r.group, name, "spec",
                               "Invalid value: \"\": minAvailable and maxUnavailable cannot be "
                               "both set");
    }
    if (auto e = ValidateIntOrPercent(r, name, min, "spec.minAvailable")) return e;
    if (auto e = ValidateIntOrPercent(r, name, max, "spec.maxUnavailable")) return e;
    const json& sel = At(spec, {"selector"});
    if (!sel.is_null()) {
      auto selector = LabelSelector::FromJson(sel);
      if (!selector.ok()) {
        return ApiError::Invalid(r.kind, r.group, name, "spec.selector",
                                 "Invalid value: " + selector.status().message());
      }
    }
    return std::nullopt;
  }
  if (r.resource == "events") {
    // Legacy core/v1 rule (ValidateEventCreate -> legacyValidateEvent) when eventTime is unset.
    if (At(obj, {"eventTime"}).is_null()) {
      std::string event_ns = Namespace(obj);
      std::string involved_ns = StrAt(obj, {"involvedObject", "namespace"});
      bool ok = involved_ns.empty() ? (event_ns.empty() || event_ns == "default")
                                    : event_ns == involved_ns;
      if (!ok) {
        return ApiError::Invalid(
            r.kind, r.group, name, "involvedObject.namespace",
            "Invalid value: \"" + involved_ns + "\": does not match event.namespace");
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> DefaultAndValidate(const ResourceInfo& r, json& obj) {
  obj["kind"] = r.kind;
  obj["apiVersion"] = r.ApiVersion();
  ApplyDefaults(r, obj);
  return Validate(r, obj);
}

std::optional<ApiError> ValidatePodUpdate(const ResourceInfo& r, const json& old_pod,
                                          const json& new_pod) {
  json old_spec = MaskMutablePodFields(At(old_pod, {"spec"}));
  json new_spec = MaskMutablePodFields(At(new_pod, {"spec"}));
  // Tolerations may only be added to.
  json old_tol = old_spec.is_object() && old_spec.contains("tolerations") ? old_spec["tolerations"]
                                                                          : json::array();
  json new_tol = new_spec.is_object() && new_spec.contains("tolerations") ? new_spec["tolerations"]
                                                                          : json::array();
  bool tol_ok = true;
  if (old_tol.is_array()) {
    for (const auto& t : old_tol) {
      if (!new_tol.is_array() || std::find(new_tol.begin(), new_tol.end(), t) == new_tol.end()) {
        tol_ok = false;
      }
    }
  }
  if (old_spec.is_object()) old_spec.erase("tolerations");
  if (new_spec.is_object()) new_spec.erase("tolerations");
  if (tol_ok && old_spec == new_spec) return std::nullopt;
  return ApiError::Invalid(
      r.kind, r.group, Name(new_pod), "spec",
      "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
      "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
      "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
      "set to 1 if it was previously negative)");
}

}  // namespace kb::sim
