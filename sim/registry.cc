#include "sim/registry.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/model.h"
#include "sim/k8s_json.h"
#include "sim/selectors.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

// ---- type checks (what Go's json decoding into the typed struct would reject: 400) -------------

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
      {"events", {"involvedObject"}, Want::kObject, "v1.ObjectReference"},
      {"events", {"count"}, Want::kInt, "int32"},
  };
  return kRules;
}

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

// ---- defaulting -------------------------------------------------------------------------------

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

// ---- validation (422) -------------------------------------------------------------------------

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

std::string PreconditionMessage(const char* what, const std::string& want,
                                const std::string& have) {
  return std::string("Precondition failed: ") + what + " in precondition: " + want + ", " + what +
         " in object meta: " + have;
}

const ResourceInfo& Res(const char* plural) { return *FindResource(plural); }

}  // namespace

Registry::Registry(ObjectStore& store, const Clock& clock, int64_t default_grace_seconds,
                   uint64_t seed)
    : store_(store),
      clock_(clock),
      default_grace_seconds_(default_grace_seconds),
      rng_(seed != 0 ? seed : std::random_device{}()) {}

std::string Registry::NewUid() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t a = rng_(), b = rng_();
  // RFC 4122 version 4 layout.
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string Registry::RandomSuffix(size_t n) {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";  // k8s.io/apimachinery rand
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(kAlphabet[rng_() % (sizeof(kAlphabet) - 1)]);
  return out;
}

ApiResult<json> Registry::Get(const ResourceInfo& r, const std::string& ns,
                              const std::string& name) const {
  auto obj = store_.Get(r.resource, ObjectKey(r.namespaced ? ns : "", name));
  if (!obj) return ApiError::NotFound(r, name);
  return *obj;
}

ApiResult<json> Registry::Create(const ResourceInfo& r, const std::string& ns, json object,
                                 WriteMode mode, bool dry_run) {
  return store_.Mutate(
      [&](Txn& txn) { return CreateIn(txn, r, ns, std::move(object), mode, dry_run); });
}

ApiResult<json> Registry::CreateIn(Txn& txn, const ResourceInfo& r, const std::string& ns, json obj,
                                   WriteMode mode, bool dry_run) {
  if (auto e = CheckTypeMeta(r, obj)) return *e;
  if (auto e = CheckTypes(r, obj)) return *e;
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  if (r.namespaced) {
    std::string body_ns = md.value("namespace", "");
    if (!body_ns.empty() && body_ns != ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    if (ns.empty()) return ApiError::BadRequest("a namespace is required for " + r.resource);
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  std::string name = md.value("name", "");
  if (name.empty()) {
    std::string gen = md.value("generateName", "");
    if (gen.empty()) {
      return ApiError::Invalid(r.kind, r.group, "", "metadata.name",
                               "Required value: name or generateName is required");
    }
    if (gen.size() > 58) gen.resize(58);
    for (int attempt = 0; attempt < 16 && name.empty(); ++attempt) {
      std::string candidate = gen + RandomSuffix();
      if (!txn.Get(r.resource, ObjectKey(md.value("namespace", ""), candidate))) name = candidate;
    }
    if (name.empty()) {
      return ApiError::AlreadyExists(r, gen + "?????");
    }
  }
  if (!IsDnsSubdomain(name)) {
    return ApiError::Invalid(r.kind, r.group, name, "metadata.name",
                             "Invalid value: \"" + name + "\": " + kSubdomainMsg);
  }
  const std::string key = ObjectKey(md.value("namespace", ""), name);
  if (txn.Get(r.resource, key)) return ApiError::AlreadyExists(r, name);
  md["name"] = name;
  md["uid"] = NewUid();
  md["creationTimestamp"] = FormatRfc3339(clock_.WallNow());
  md.erase("resourceVersion");
  if (mode != WriteMode::kDirect) {
    md.erase("deletionTimestamp");
    md.erase("deletionGracePeriodSeconds");
  }
  if (r.generation_on_spec) {
    md["generation"] = 1;
  } else {
    md.erase("generation");
  }
  obj["kind"] = r.kind;
  obj["apiVersion"] = r.ApiVersion();
  ApplyDefaults(r, obj);
  if (auto e = Validate(r, obj)) return *e;
  // PrepareForCreate resets the status of pods, deployments, replicasets and PDBs; nodes keep
  // theirs (the kubelet registers a node with its capacity).
  if (r.has_status && mode != WriteMode::kDirect && r.resource != "nodes") obj.erase("status");
  if (r.resource == "pods") {
    json& status = obj["status"];
    if (!status.is_object()) status = json::object();
    if (!status.contains("phase")) status["phase"] = "Pending";
  }
  if (dry_run) return obj;
  return *txn.Put(r.resource, key, std::move(obj));
}

ApiResult<json> Registry::Update(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, json object, WriteMode mode,
                                 bool dry_run) {
  return store_.Mutate(
      [&](Txn& txn) { return UpdateIn(txn, r, ns, name, std::move(object), mode, dry_run); });
}

ApiResult<json> Registry::UpdateIn(Txn& txn, const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, json obj, WriteMode mode,
                                   bool dry_run) {
  if (auto e = CheckTypeMeta(r, obj)) return *e;
  if (auto e = CheckTypes(r, obj)) return *e;
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  std::string body_name = md.value("name", "");
  if (body_name.empty()) {
    md["name"] = name;
  } else if (body_name != name) {
    return ApiError::BadRequest("the name of the object (" + body_name +
                                ") does not match the name on the URL (" + name + ")");
  }
  if (r.namespaced) {
    std::string body_ns = md.value("namespace", "");
    if (!body_ns.empty() && body_ns != ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }
  const std::string key = ObjectKey(r.namespaced ? ns : "", name);
  auto old = txn.Get(r.resource, key);
  if (!old) return ApiError::NotFound(r, name);
  std::string body_rv = md.value("resourceVersion", "");
  if (!body_rv.empty() && body_rv != ResourceVersion(*old)) {
    return ApiError::OptimisticLock(r, name);
  }
  std::string body_uid = md.value("uid", "");
  if (!body_uid.empty() && body_uid != Uid(*old)) {
    return ApiError::Conflict(r.Qualified(), r.group, name,
                              PreconditionMessage("UID", body_uid, Uid(*old)));
  }
  json next;
  if (mode == WriteMode::kStatus) {
    next = *old;
    if (obj.contains("status") && !obj["status"].is_null()) {
      next["status"] = obj["status"];
    } else {
      next.erase("status");
    }
  } else {
    next = std::move(obj);
    json& nmd = next["metadata"];
    const json& omd = (*old)["metadata"];
    nmd["uid"] = omd.value("uid", "");
    nmd["creationTimestamp"] = omd.value("creationTimestamp", "");
    for (const char* k : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
      if (omd.contains(k)) {
        nmd[k] = omd[k];
      } else if (mode != WriteMode::kDirect) {
        nmd.erase(k);
      }
    }
    if (mode == WriteMode::kClient && r.has_status) {
      if (old->contains("status")) {
        next["status"] = (*old)["status"];
      } else {
        next.erase("status");
      }
    }
    next["kind"] = r.kind;
    next["apiVersion"] = r.ApiVersion();
    ApplyDefaults(r, next);
    if (auto e = Validate(r, next)) return *e;
    if (mode == WriteMode::kClient && r.resource == "pods") {
      if (auto e = ValidatePodUpdate(r, *old, next)) return *e;
    }
  }
  if (r.generation_on_spec) {
    int64_t gen = IntAt(*old, {"metadata", "generation"}, 1);
    if (At(next, {"spec"}) != At(*old, {"spec"})) ++gen;
    next["metadata"]["generation"] = gen;
  } else {
    next["metadata"].erase("generation");
  }
  next["metadata"]["resourceVersion"] = ResourceVersion(*old);
  // A write that changes nothing keeps the resourceVersion (and emits no event), as in kube.
  if (next == *old) return *old;
  if (dry_run) return next;
  return *txn.Put(r.resource, key, std::move(next));
}

ApiResult<json> Registry::Patch(const ResourceInfo& r, const std::string& ns,
                                const std::string& name, PatchType type, const json& patch,
                                WriteMode mode, bool dry_run) {
  return store_.Mutate([&](Txn& txn) -> ApiResult<json> {
    auto old = txn.Get(r.resource, ObjectKey(r.namespaced ? ns : "", name));
    if (!old) return ApiError::NotFound(r, name);
    auto patched = ApplyPatch(type, *old, patch);
    if (!patched.ok()) {
      return ApiError{422, "Invalid", patched.status().message()};
    }
    return UpdateIn(txn, r, ns, name, std::move(*patched), mode, dry_run);
  });
}

ApiResult<json> Registry::Delete(const ResourceInfo& r, const std::string& ns,
                                 const std::string& name, const DeleteOptions& options) {
  return store_.Mutate(
      [&](Txn& txn) { return DeleteIn(txn, r, ns, name, options, r.Qualified()); });
}

ApiResult<json> Registry::DeleteIn(Txn& txn, const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, const DeleteOptions& options,
                                   const std::string& conflict_resource) {
  const std::string key = ObjectKey(r.namespaced ? ns : "", name);
  auto old = txn.Get(r.resource, key);
  if (!old) return ApiError::NotFound(r, name);
  if (!options.uid_precondition.empty() && options.uid_precondition != Uid(*old)) {
    return ApiError::Conflict(conflict_resource, r.group, name,
                              PreconditionMessage("UID", options.uid_precondition, Uid(*old)));
  }
  if (!options.rv_precondition.empty() && options.rv_precondition != ResourceVersion(*old)) {
    return ApiError::Conflict(
        conflict_resource, r.group, name,
        PreconditionMessage("ResourceVersion", options.rv_precondition, ResourceVersion(*old)));
  }
  if (r.resource == "pods") return DeletePodIn(txn, *old, options);
  json details = {{"name", name}, {"kind", r.resource}, {"uid", Uid(*old)}};
  if (!r.group.empty()) details["group"] = r.group;
  if (options.dry_run) return SuccessStatus(0, details);
  if (options.propagation_policy == "Orphan") {
    const char* dependents = r.resource == "deployments"   ? "replicasets"
                             : r.resource == "replicasets" ? "pods"
                                                           : nullptr;
    if (dependents) {
      for (const auto& dep : txn.List(dependents)) {
        const json& refs = At(*dep, {"metadata", "ownerReferences"});
        if (!refs.is_array()) continue;
        json kept = json::array();
        for (const auto& ref : refs) {
          if (ref.value("uid", "") != Uid(*old)) kept.push_back(ref);
        }
        if (kept.size() == refs.size()) continue;
        json copy = *dep;
        if (kept.empty()) {
          copy["metadata"].erase("ownerReferences");
        } else {
          copy["metadata"]["ownerReferences"] = kept;
        }
        const std::string dep_key = ObjectKey(Namespace(copy), Name(copy));
        txn.Put(dependents, dep_key, std::move(copy));
      }
    }
  }
  txn.Remove(r.resource, key);
  return SuccessStatus(0, details);
}

ApiResult<json> Registry::DeletePodIn(Txn& txn, const json& pod, const DeleteOptions& options) {
  int64_t grace = default_grace_seconds_;
  if (options.grace_period_seconds) {
    grace = *options.grace_period_seconds;
  } else if (At(pod, {"spec", "terminationGracePeriodSeconds"}).is_number_integer()) {
    grace = IntAt(pod, {"spec", "terminationGracePeriodSeconds"});
  }
  if (grace < 0) grace = 1;
  std::string phase = PodPhase(pod);
  // pkg/registry/core/pod/strategy.go CheckGracefulDelete: unscheduled and finished pods go now.
  if (StrAt(pod, {"spec", "nodeName"}).empty() || phase == "Succeeded" || phase == "Failed") {
    grace = 0;
  }
  const std::string key = ObjectKey(Namespace(pod), Name(pod));
  if (options.dry_run) return pod;
  const std::string uid = Uid(pod);
  if (grace == 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      deadlines_.erase(uid);
    }
    return *txn.Remove("pods", key);
  }
  const auto now_steady = clock_.Now();
  const auto now_wall = clock_.WallNow();
  if (IsTerminating(pod)) {
    int64_t current = IntAt(pod, {"metadata", "deletionGracePeriodSeconds"}, grace);
    if (grace >= current) return pod;
  }
  json next = pod;
  next["metadata"]["deletionTimestamp"] = FormatRfc3339(now_wall + std::chrono::seconds(grace));
  next["metadata"]["deletionGracePeriodSeconds"] = grace;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deadlines_[uid] = now_steady + std::chrono::seconds(grace);
  }
  return *txn.Put("pods", key, std::move(next));
}

int Registry::FinalizePodDeletions() {
  const auto now_steady = clock_.Now();
  const auto now_wall = clock_.WallNow();
  return store_.Mutate([&](Txn& txn) {
    int removed = 0;
    for (const auto& pod : txn.List("pods")) {
      if (!IsTerminating(*pod)) continue;
      const std::string uid = Uid(*pod);
      bool due;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = deadlines_.find(uid);
        if (it != deadlines_.end()) {
          due = now_steady >= it->second;
        } else {
          StatusOr<WallTime> ts = ParseRfc3339(StrAt(*pod, {"metadata", "deletionTimestamp"}));
          due = !ts.ok() || now_wall >= *ts;
        }
        if (due) deadlines_.erase(uid);
      }
      if (due) {
        txn.Remove("pods", ObjectKey(Namespace(*pod), Name(*pod)));
        ++removed;
      }
    }
    return removed;
  });
}

ApiResult<json> Registry::Bind(const std::string& ns, const std::string& name, const json& binding,
                               bool dry_run) {
  static const ResourceInfo kBinding{"bindings", "", "v1", "Binding", true, false, false};
  if (auto e = CheckTypeMeta(kBinding, binding)) return *e;
  std::string body_name = StrAt(binding, {"metadata", "name"});
  if (body_name != name) {
    return ApiError::BadRequest("name in URL does not match name in Binding object");
  }
  std::string body_ns = StrAt(binding, {"metadata", "namespace"});
  if (!body_ns.empty() && body_ns != ns) {
    return ApiError::BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  const json& target = At(binding, {"target"});
  if (!target.is_null() && !target.is_object()) {
    return ApiError::BadRequest(
        "Binding in version \"v1\" cannot be handled as a Binding: json: "
        "cannot unmarshal " +
        std::string(JsonTypeName(target)) +
        " into Go struct field Binding.target of type v1.ObjectReference");
  }
  std::string node = StrAt(binding, {"target", "name"});
  if (node.empty()) {
    return ApiError::Invalid("Binding", "", name, "target.name", "Required value");
  }
  std::string target_kind = StrAt(binding, {"target", "kind"});
  if (!target_kind.empty() && target_kind != "Node") {
    return ApiError::Invalid("Binding", "", name, "target.kind",
                             "Invalid value: \"" + target_kind + "\": must be empty or 'Node'");
  }
  const std::string want_uid = StrAt(binding, {"metadata", "uid"});
  const std::string want_rv = StrAt(binding, {"metadata", "resourceVersion"});
  const std::string now = FormatRfc3339(clock_.WallNow());
  return store_.Mutate([&](Txn& txn) -> ApiResult<json> {
    const std::string key = ObjectKey(ns, name);
    auto pod = txn.Get("pods", key);
    if (!pod) return ApiError::NotFound(Res("pods"), name);
    auto conflict = [&](const std::string& what) {
      return ApiError::Conflict("pods/binding", "", name, what);
    };
    if (!want_uid.empty() && want_uid != Uid(*pod)) {
      return conflict(PreconditionMessage("UID", want_uid, Uid(*pod)));
    }
    if (!want_rv.empty() && want_rv != ResourceVersion(*pod)) {
      return conflict(PreconditionMessage("ResourceVersion", want_rv, ResourceVersion(*pod)));
    }
    if (IsTerminating(*pod)) {
      return conflict("pod " + name + " is being deleted, cannot be assigned to a host");
    }
    std::string current = StrAt(*pod, {"spec", "nodeName"});
    if (!current.empty()) {
      return conflict("pod " + name + " is already assigned to node \"" + current + "\"");
    }
    const json& gates = At(*pod, {"spec", "schedulingGates"});
    if (gates.is_array() && !gates.empty()) {
      return conflict("pod " + name + " has non-empty .spec.schedulingGates");
    }
    json next = *pod;
    next["spec"]["nodeName"] = node;
    const json& annotations = At(binding, {"metadata", "annotations"});
    if (annotations.is_object()) {
      for (const auto& [k, v] : annotations.items()) next["metadata"]["annotations"][k] = v;
    }
    SetCondition(next, "PodScheduled", "True", "", now);
    if (!dry_run) txn.Put("pods", key, std::move(next));
    return SuccessStatus(201);
  });
}

ApiResult<json> Registry::Evict(const std::string& ns, const std::string& name,
                                const json& eviction, bool dry_run) {
  if (!eviction.is_object()) {
    return ApiError::BadRequest(
        "couldn't get version/kind; json parse error: the body must be "
        "a JSON object");
  }
  std::string kind = eviction.value("kind", "");
  std::string api_version = eviction.value("apiVersion", "");
  if (!kind.empty() && kind != "Eviction") {
    return ApiError::BadRequest(
        "the object provided is unrecognized (must be of type Eviction): "
        "kind \"" +
        kind + "\"");
  }
  if (!api_version.empty() && api_version != "policy/v1" && api_version != "policy/v1beta1") {
    return ApiError::BadRequest("the API version in the data (" + api_version +
                                ") does not match the expected API version (policy/v1)");
  }
  if (StrAt(eviction, {"metadata", "name"}) != name) {
    return ApiError::BadRequest("name in URL does not match name in Eviction object");
  }
  std::string body_ns = StrAt(eviction, {"metadata", "namespace"});
  if (!body_ns.empty() && body_ns != ns) {
    return ApiError::BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  DeleteOptions opts;
  const json& del = At(eviction, {"deleteOptions"});
  if (!del.is_null() && !del.is_object()) {
    return ApiError::BadRequest("deleteOptions: must be an object");
  }
  if (At(del, {"gracePeriodSeconds"}).is_number_integer()) {
    opts.grace_period_seconds = IntAt(del, {"gracePeriodSeconds"});
  }
  opts.uid_precondition = StrAt(del, {"preconditions", "uid"});
  opts.rv_precondition = StrAt(del, {"preconditions", "resourceVersion"});
  const json& dry = At(del, {"dryRun"});
  if (dry.is_array() && std::find(dry.begin(), dry.end(), json("All")) != dry.end()) {
    dry_run = true;
  }
  opts.dry_run = dry_run;
  const std::string now = FormatRfc3339(clock_.WallNow());
  const ResourceInfo& pods = Res("pods");

  return store_.Mutate([&](Txn& txn) -> ApiResult<json> {
    auto pod = txn.Get("pods", ObjectKey(ns, name));
    if (!pod) return ApiError::NotFound(pods, name);
    auto delete_pod = [&]() -> ApiResult<json> {
      auto r = DeleteIn(txn, pods, ns, name, opts, pods.Qualified());
      if (!r.ok()) return r.error();
      return SuccessStatus(201);
    };
    // eviction.go: finished, pending and terminating pods are deleted without a PDB check.
    std::string phase = PodPhase(*pod);
    if (phase == "Succeeded" || phase == "Failed" || phase == "Pending" || IsTerminating(*pod)) {
      return delete_pod();
    }
    // Preconditions are checked before the budget is touched.
    if (!opts.uid_precondition.empty() && opts.uid_precondition != Uid(*pod)) {
      return ApiError::Conflict(pods.Qualified(), "", name,
                                PreconditionMessage("UID", opts.uid_precondition, Uid(*pod)));
    }
    if (!opts.rv_precondition.empty() && opts.rv_precondition != ResourceVersion(*pod)) {
      return ApiError::Conflict(
          pods.Qualified(), "", name,
          PreconditionMessage("ResourceVersion", opts.rv_precondition, ResourceVersion(*pod)));
    }
    const json& pod_labels = At(*pod, {"metadata", "labels"});
    std::vector<ObjectStore::Object> matching;
    for (const auto& pdb : txn.List("poddisruptionbudgets")) {
      if (Namespace(*pdb) != ns) continue;
      auto sel = LabelSelector::FromJson(At(*pdb, {"spec", "selector"}));
      // LabelSelectorAsSelector: nil matches nothing; here an empty selector matches nothing too.
      if (!sel.ok() || sel->Empty() || sel->IsNothing()) continue;
      if (sel->Matches(pod_labels)) matching.push_back(pdb);
    }
    if (matching.size() > 1) {
      return ApiError{500, "",
                      "This pod has more than one PodDisruptionBudget, which the eviction "
                      "subresource does not support."};
    }
    if (matching.empty()) return delete_pod();
    const json& pdb = *matching.front();
    const std::string pdb_name = Name(pdb);
    const int64_t current_healthy = IntAt(pdb, {"status", "currentHealthy"});
    const int64_t desired_healthy = IntAt(pdb, {"status", "desiredHealthy"});
    if (!IsPodReady(*pod)) {
      // An unhealthy pod does not count towards the budget: evict it when the budget allows
      // (IfHealthyBudget) or always (AlwaysAllow), without decrementing.
      if (StrAt(pdb, {"spec", "unhealthyPodEvictionPolicy"}) == "AlwaysAllow" ||
          (current_healthy >= desired_healthy && desired_healthy > 0)) {
        return delete_pod();
      }
    }
    auto budget_error = [&](const std::string& cause, int retry) {
      ApiError e = ApiError::TooManyRequests(
          "Cannot evict pod as it would violate the pod's disruption budget.", retry);
      e.details = {{"causes", json::array({{{"reason", "DisruptionBudget"}, {"message", cause}}})}};
      return e;
    };
    if (IntAt(pdb, {"status", "observedGeneration"}) < IntAt(pdb, {"metadata", "generation"})) {
      return budget_error(
          "The disruption budget " + pdb_name + " is still being processed by the server.", 10);
    }
    const int64_t allowed = IntAt(pdb, {"status", "disruptionsAllowed"});
    if (allowed < 0) {
      return ApiError::Forbidden("poddisruptionbudgets.policy \"" + pdb_name +
                                 "\" is forbidden: pdb disruptions allowed is negative");
    }
    const json& disrupted = At(pdb, {"status", "disruptedPods"});
    if (disrupted.is_object() && disrupted.size() > 2000) {
      return ApiError::Forbidden("poddisruptionbudgets.policy \"" + pdb_name +
                                 "\" is forbidden: DisruptedPods map too big - too many "
                                 "evictions not confirmed by PDB controller");
    }
    if (allowed == 0) {
      return budget_error("The disruption budget " + pdb_name + " needs " +
                              std::to_string(desired_healthy) + " healthy pods and has " +
                              std::to_string(current_healthy) + " currently",
                          0);
    }
    if (!dry_run) {
      json next = pdb;
      next["status"]["disruptionsAllowed"] = allowed - 1;
      if (!next["status"]["disruptedPods"].is_object()) {
        next["status"]["disruptedPods"] = json::object();
      }
      next["status"]["disruptedPods"][name] = now;
      txn.Put("poddisruptionbudgets", ObjectKey(ns, pdb_name), std::move(next));
    }
    return delete_pod();
  });
}

}  // namespace kb::sim
