// Controllers: the disruption controller (pkg/controller/disruption): each PodDisruptionBudget's
// status (expected pods from the scale of the pods' controllers, desired and current healthy,
// disruptionsAllowed, disrupted pods, the DisruptionAllowed condition), fail-safe when a pod's
// controller cannot be found. ControllerOptions::pdb_status_lag delays each status change as the
// real controller's informers and work queue do.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/model.h"
#include "sim/controller_kit.h"
#include "sim/controllers.h"
#include "sim/k8s_json.h"
#include "sim/selectors.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Object = ObjectStore::Object;

// The PDB controller forgets a disrupted pod that was not deleted after this long
// (DeletionTimeout in pkg/controller/disruption).
constexpr auto kDisruptionTimeout = std::chrono::minutes(2);

// The pods a PDB selects (an empty or null selector selects none).
std::vector<Object> SelectedPods(const json& pdb, const std::vector<Object>& all_pods) {
  std::vector<Object> pods;
  auto sel = LabelSelector::FromJson(At(pdb, {"spec", "selector"}));
  if (!sel.ok() || sel->Empty() || sel->IsNothing()) return pods;
  const std::string ns = Namespace(pdb);
  for (const auto& pod : all_pods) {
    if (Namespace(*pod) == ns && sel->Matches(At(*pod, {"metadata", "labels"}))) {
      pods.push_back(pod);
    }
  }
  return pods;
}

// The ReplicaSets and Deployments by uid, to find the scale of a pod's controller.
struct Owners {
  std::map<std::string, Object> rs_by_uid;
  std::map<std::string, Object> deployment_by_uid;

  // The summed scale of the controllers (a pod's Deployment, else its ReplicaSet) of `pods`;
  // sets *error (and answers 0) when a pod has none kube-sim knows.
  int64_t ControllerScale(const std::vector<Object>& pods, std::string* error) const {
    std::map<std::string, int64_t> scales;
    for (const auto& pod : pods) {
      const json& ref = ControllerRef(*pod);
      if (!ref.is_object()) {
        *error = "found no controller ref for pod \"" + Name(*pod) + "\"";
        return 0;
      }
      auto rs = ref.value("kind", "") == "ReplicaSet" ? rs_by_uid.find(ref.value("uid", ""))
                                                      : rs_by_uid.end();
      if (rs == rs_by_uid.end()) {
        *error = "found no controllers for pod \"" + Name(*pod) + "\"";
        return 0;
      }
      const json& dref = ControllerRef(*rs->second);
      auto d = dref.is_object() ? deployment_by_uid.find(dref.value("uid", ""))
                                : deployment_by_uid.end();
      if (d != deployment_by_uid.end()) {
        scales[Uid(*d->second)] = SpecReplicas(*d->second);
      } else {
        scales[Uid(*rs->second)] = SpecReplicas(*rs->second);
      }
    }
    int64_t sum = 0;
    for (const auto& [uid, scale] : scales) sum += scale;
    return sum;
  }
};

// failSafe: no disruptions and a DisruptionAllowed=False SyncFailed condition naming `error`;
// observedGeneration untouched.
void SetFailSafe(const json& pdb, const std::string& error, const std::string& now_text,
                 json& status) {
  status["disruptionsAllowed"] = 0;
  auto& conds = status["conditions"];
  json cond = {{"type", "DisruptionAllowed"},
               {"status", "False"},
               {"reason", "SyncFailed"},
               {"message", error},
               {"observedGeneration", IntAt(pdb, {"status", "observedGeneration"})},
               {"lastTransitionTime", now_text}};
  bool replaced = false;
  if (conds.is_array()) {
    for (auto& c : conds) {
      if (c.value("type", "") == "DisruptionAllowed") {
        if (c.value("status", "") == "False") cond["lastTransitionTime"] = c["lastTransitionTime"];
        c = cond;
        replaced = true;
      }
    }
  } else {
    conds = json::array();
  }
  if (!replaced) conds.push_back(cond);
}

// The disrupted pods a PDB keeps: entries for pods that still exist, are not terminating yet
// and were disrupted less than kDisruptionTimeout ago.
json KeptDisruptedPods(const json& pdb, const std::vector<Object>& pods, WallTime now) {
  json disrupted = json::object();
  const json& old_disrupted = At(pdb, {"status", "disruptedPods"});
  if (!old_disrupted.is_object()) return disrupted;
  for (const auto& [pod_name, when] : old_disrupted.items()) {
    auto pod = std::find_if(pods.begin(), pods.end(),
                            [&](const Object& p) { return Name(*p) == pod_name; });
    if (pod == pods.end() || IsTerminating(**pod)) continue;
    StatusOr<WallTime> t = ParseRfc3339(when.is_string() ? when.get<std::string>() : "");
    if (!t.ok() || *t + kDisruptionTimeout < now) continue;
    disrupted[pod_name] = when;
  }
  return disrupted;
}

// The status of a PDB whose pods' controllers were found: healthy pods, disruptionsAllowed and
// the DisruptionAllowed condition.
void SetHealth(const json& pdb, const std::vector<Object>& pods, int64_t expected, int64_t desired,
               WallTime now, const std::string& now_text, json& status) {
  const int64_t generation = IntAt(pdb, {"metadata", "generation"}, 1);
  const json disrupted = KeptDisruptedPods(pdb, pods, now);
  int64_t healthy = 0;
  for (const auto& pod : pods) {
    if (IsTerminating(*pod) || disrupted.contains(Name(*pod))) continue;
    if (IsPodReady(*pod)) ++healthy;
  }
  int64_t allowed = healthy - desired;
  if (expected <= 0 || allowed <= 0) allowed = 0;
  status["observedGeneration"] = generation;
  if (disrupted.empty()) {
    status.erase("disruptedPods");
  } else {
    status["disruptedPods"] = disrupted;
  }
  status["disruptionsAllowed"] = allowed;
  status["currentHealthy"] = healthy;
  status["desiredHealthy"] = desired;
  status["expectedPods"] = expected;
  const bool ok = allowed > 0;
  json cond = {{"type", "DisruptionAllowed"},
               {"status", ok ? "True" : "False"},
               {"reason", ok ? "SufficientPods" : "InsufficientPods"},
               {"message", ""},
               {"observedGeneration", generation},
               {"lastTransitionTime", now_text}};
  const json& old_conds = At(pdb, {"status", "conditions"});
  if (old_conds.is_array()) {
    for (const auto& c : old_conds) {
      if (c.value("type", "") == "DisruptionAllowed" && c.value("status", "") == cond["status"]) {
        cond["lastTransitionTime"] = c.value("lastTransitionTime", now_text);
      }
    }
  }
  status["conditions"] = json::array({cond});
}

}  // namespace

void Controllers::SyncPdbs() {
  auto pdbs = store_.List("poddisruptionbudgets");
  if (pdbs.empty()) return;
  auto all_pods = store_.List("pods");
  Owners owners;
  for (const auto& rs : store_.List("replicasets")) owners.rs_by_uid[Uid(*rs)] = rs;
  for (const auto& d : store_.List("deployments")) owners.deployment_by_uid[Uid(*d)] = d;
  const WallTime now = clock_.WallNow();
  const SteadyTime steady_now = clock_.Now();
  const std::string now_text = FormatRfc3339(now);
  std::set<std::string> seen;

  for (const auto& pdbp : pdbs) {
    const json& pdb = *pdbp;
    const std::vector<Object> pods = SelectedPods(pdb, all_pods);
    // Expected pods: the scale of the pods' controllers, or the pods themselves for an integer
    // minAvailable.
    std::string error;
    const json& min_available = At(pdb, {"spec", "minAvailable"});
    const json& max_unavailable = At(pdb, {"spec", "maxUnavailable"});
    int64_t expected = 0, desired = 0;
    if (!max_unavailable.is_null()) {
      expected = owners.ControllerScale(pods, &error);
      desired =
          std::max<int64_t>(0, expected - ScaledIntOrPercent(max_unavailable, expected, true));
    } else if (!min_available.is_null() && !min_available.is_string()) {
      expected = static_cast<int64_t>(pods.size());
      desired = min_available.get<int64_t>();
    } else if (!min_available.is_null()) {
      expected = owners.ControllerScale(pods, &error);
      desired = ScaledIntOrPercent(min_available, expected, true);
    }
    json next = pdb;
    json& status = next["status"];
    if (!status.is_object()) status = json::object();
    if (!error.empty()) {
      SetFailSafe(pdb, error, now_text, status);
    } else {
      SetHealth(pdb, pods, expected, desired, now, now_text, status);
    }
    seen.insert(Uid(pdb));
    if (next == pdb) {
      pdb_stale_since_.erase(Uid(pdb));
      continue;
    }
    if (options_.pdb_status_lag.count() > 0) {
      const SteadyTime since = pdb_stale_since_.emplace(Uid(pdb), steady_now).first->second;
      if (steady_now - since < options_.pdb_status_lag) continue;  // the controller lags
    }
    pdb_stale_since_.erase(Uid(pdb));
    {
      CheckControllerWrite(registry_.Update(Served("poddisruptionbudgets"), Namespace(pdb),
                                            Name(pdb), std::move(next), WriteMode::kDirect),
                           "pdb-status", Name(pdb));
    }
  }
  std::erase_if(pdb_stale_since_, [&](const auto& e) { return seen.count(e.first) == 0; });
}

}  // namespace kb::sim
