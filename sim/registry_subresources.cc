// Registry: the pods/binding and pods/eviction subresources (PDB logic as in
// pkg/registry/core/pod/storage/eviction.go).
#include <vector>

#include "core/model.h"
#include "sim/k8s_json.h"
#include "sim/registry.h"
#include "sim/selectors.h"
#include "sim/validation.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

const ResourceInfo& Pods() { return *FindResource("pods"); }

// The body of a pods/binding request for pod `name` in `ns`: 400 / 422 when malformed.
std::optional<ApiError> CheckBinding(const std::string& ns, const std::string& name,
                                     const json& binding) {
  static const ResourceInfo kBinding{"bindings", "", "v1", "Binding", true, false, false};
  if (auto e = CheckTypeMeta(kBinding, binding)) return e;
  if (StrAt(binding, {"metadata", "name"}) != name) {
    return ApiError::BadRequest("name in URL does not match name in Binding object");
  }
  if (auto e = CheckNamespace(StrAt(binding, {"metadata", "namespace"}), ns)) return e;
  const json& target = At(binding, {"target"});
  if (!target.is_null() && !target.is_object()) {
    return ApiError::BadRequest(
        "Binding in version \"v1\" cannot be handled as a Binding: json: "
        "cannot unmarshal " +
        std::string(JsonTypeName(target)) +
        " into Go struct field Binding.target of type v1.ObjectReference");
  }
  if (StrAt(binding, {"target", "name"}).empty()) {
    return ApiError::Invalid("Binding", "", name, "target.name", "Required value");
  }
  std::string target_kind = StrAt(binding, {"target", "kind"});
  if (!target_kind.empty() && target_kind != "Node") {
    return ApiError::Invalid("Binding", "", name, "target.kind",
                             "Invalid value: \"" + target_kind + "\": must be empty or 'Node'");
  }
  return std::nullopt;
}

// The delete options of an Eviction body for pod `name` in `ns` (grace period, preconditions,
// dry run); 400 when the body is malformed.
ApiResult<DeleteOptions> EvictionOptions(const std::string& ns, const std::string& name,
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
  if (auto e = CheckNamespace(StrAt(eviction, {"metadata", "namespace"}), ns)) return *e;
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
  opts.dry_run = dry_run || IsDryRunAll(At(del, {"dryRun"}));
  return opts;
}

// A 429 refusal by the disruption budget, with the DisruptionBudget cause.
ApiError BudgetError(const std::string& cause, int retry_after_seconds) {
  ApiError e = ApiError::TooManyRequests(
      "Cannot evict pod as it would violate the pod's disruption budget.", retry_after_seconds);
  e.details = {{"causes", json::array({{{"reason", "DisruptionBudget"}, {"message", cause}}})}};
  return e;
}

// The PodDisruptionBudget admission of evicting the running pod `pod` named `name` in `ns`:
// nullopt when it may be deleted (the budget is charged unless `dry_run`), else the refusal.
std::optional<ApiError> AdmitByBudget(ObjectStore::Txn& txn, const json& pod, const std::string& ns,
                                      const std::string& name, bool dry_run,
                                      const std::string& now) {
  const json& pod_labels = At(pod, {"metadata", "labels"});
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
  if (matching.empty()) return std::nullopt;
  const json& pdb = *matching.front();
  const std::string pdb_name = Name(pdb);
  const int64_t current_healthy = IntAt(pdb, {"status", "currentHealthy"});
  const int64_t desired_healthy = IntAt(pdb, {"status", "desiredHealthy"});
  // An unhealthy pod does not count towards the budget: evict it when the budget allows
  // (IfHealthyBudget) or always (AlwaysAllow), without decrementing.
  if (!IsPodReady(pod) && (StrAt(pdb, {"spec", "unhealthyPodEvictionPolicy"}) == "AlwaysAllow" ||
                           (current_healthy >= desired_healthy && desired_healthy > 0))) {
    return std::nullopt;
  }
  if (IntAt(pdb, {"status", "observedGeneration"}) < IntAt(pdb, {"metadata", "generation"})) {
    return BudgetError(
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
    return BudgetError("The disruption budget " + pdb_name + " needs " +
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
  return std::nullopt;
}

}  // namespace

ApiResult<json> Registry::Bind(const std::string& ns, const std::string& name, const json& binding,
                               bool dry_run) {
  if (auto e = CheckBinding(ns, name, binding)) return *e;
  const std::string node = StrAt(binding, {"target", "name"});
  const std::string want_uid = StrAt(binding, {"metadata", "uid"});
  const std::string want_rv = StrAt(binding, {"metadata", "resourceVersion"});
  const std::string now = FormatRfc3339(clock_.WallNow());
  return store_.Mutate([&](Txn& txn) -> ApiResult<json> {
    const std::string key = ObjectKey(ns, name);
    auto pod = txn.Get("pods", key);
    if (!pod) return ApiError::NotFound(Pods(), name);
    if (auto e = CheckPreconditions("pods/binding", "", name, want_uid, want_rv, *pod)) return *e;
    auto conflict = [&](const std::string& what) {
      return ApiError::Conflict("pods/binding", "", name, what);
    };
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
  ApiResult<DeleteOptions> parsed = EvictionOptions(ns, name, eviction, dry_run);
  if (!parsed.ok()) return parsed.error();
  const DeleteOptions& opts = parsed.value();
  const std::string now = FormatRfc3339(clock_.WallNow());
  const ResourceInfo& pods = Pods();
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
    if (auto e = CheckPreconditions(pods.Qualified(), "", name, opts.uid_precondition,
                                    opts.rv_precondition, *pod)) {
      return *e;
    }
    if (auto e = AdmitByBudget(txn, *pod, ns, name, opts.dry_run, now)) return *e;
    return delete_pod();
  });
}

}  // namespace kb::sim
