#include "sim/registry.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/model.h"
#include "sim/k8s_json.h"
#include "sim/validation.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

// A status-subresource write: the stored object with the body's status.
json StatusWrite(const json& old, const json& obj) {
  json next = old;
  if (obj.contains("status") && !obj["status"].is_null()) {
    next["status"] = obj["status"];
  } else {
    next.erase("status");
  }
  return next;
}

// A write of the main resource: the body, keeping what the server owns (uid, creation and
// deletion timestamps, and for client writes the status of a resource with a status
// subresource), defaulted and validated.
ApiResult<json> MainWrite(const ResourceInfo& r, const json& old, json obj, WriteMode mode) {
  json& md = obj["metadata"];
  const json& omd = old["metadata"];
  md["uid"] = omd.value("uid", "");
  md["creationTimestamp"] = omd.value("creationTimestamp", "");
  for (const char* k : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
    if (omd.contains(k)) {
      md[k] = omd[k];
    } else if (mode != WriteMode::kDirect) {
      md.erase(k);
    }
  }
  if (mode == WriteMode::kClient && r.has_status) {
    if (old.contains("status")) {
      obj["status"] = old["status"];
    } else {
      obj.erase("status");
    }
  }
  if (auto e = DefaultAndValidate(r, obj)) return *e;
  if (mode == WriteMode::kClient && r.resource == "pods") {
    if (auto e = ValidatePodUpdate(r, old, obj)) return *e;
  }
  return obj;
}

// The namespace of a write: the URL's for namespaced resources (a different one in the body is
// a 400), none for cluster-scoped ones.
std::optional<ApiError> SetNamespace(const ResourceInfo& r, const std::string& ns, json& md) {
  if (!r.namespaced) {
    md.erase("namespace");
    return std::nullopt;
  }
  if (auto e = CheckNamespace(md.value("namespace", ""), ns)) return e;
  md["namespace"] = ns;
  return std::nullopt;
}

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
  if (auto e = SetNamespace(r, ns, md)) return *e;
  if (r.namespaced && ns.empty()) {
    return ApiError::BadRequest("a namespace is required for " + r.resource);
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
  if (auto e = ValidateName(r, name)) return *e;
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
  if (auto e = DefaultAndValidate(r, obj)) return *e;
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
  if (auto e = SetNamespace(r, ns, md)) return *e;
  const std::string key = ObjectKey(r.namespaced ? ns : "", name);
  auto old = txn.Get(r.resource, key);
  if (!old) return ApiError::NotFound(r, name);
  std::string body_rv = md.value("resourceVersion", "");
  if (!body_rv.empty() && body_rv != ResourceVersion(*old)) {
    return ApiError::OptimisticLock(r, name);
  }
  if (auto e = CheckPreconditions(r.Qualified(), r.group, name, md.value("uid", ""), "", *old)) {
    return *e;
  }
  json next;
  if (mode == WriteMode::kStatus) {
    next = StatusWrite(*old, obj);
  } else {
    ApiResult<json> merged = MainWrite(r, *old, std::move(obj), mode);
    if (!merged.ok()) return merged.error();
    next = std::move(merged).value();
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
  if (auto e = CheckPreconditions(conflict_resource, r.group, name, options.uid_precondition,
                                  options.rv_precondition, *old)) {
    return *e;
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

}  // namespace kb::sim
