// Controllers: the ReplicaSet controller (pkg/controller/replicaset): pods created from the
// template or deleted (least valuable first) until the active pods match spec.replicas, and the
// ReplicaSet's status.
#include <algorithm>
#include <set>
#include <vector>

#include "sim/controller_kit.h"
#include "sim/controllers.h"
#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Object = ObjectStore::Object;

// Ready for at least minReadySeconds.
bool IsAvailable(const json& pod, int64_t min_ready_seconds, WallTime now) {
  if (!IsPodReady(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  auto since = ConditionTrueSince(pod, "Ready");
  return since && now - *since >= std::chrono::seconds(min_ready_seconds);
}

// Ranks pods for scale-down as ReplicaSet's ActivePods ordering does: unassigned < assigned,
// Pending < Running, not ready < ready, newer < older.
bool DeleteFirst(const Object& a, const Object& b) {
  auto key = [](const json& p) {
    return std::make_tuple(!StrAt(p, {"spec", "nodeName"}).empty(), PodPhase(p) == "Running",
                           IsPodReady(p));
  };
  auto ka = key(*a), kb = key(*b);
  if (ka != kb) return ka < kb;
  return StrAt(*a, {"metadata", "creationTimestamp"}) >
         StrAt(*b, {"metadata", "creationTimestamp"});
}

// Creates up to `n` pods (at most 500 a pass) from `rs`'s template. Returns how many were created.
int64_t CreatePods(Registry& registry, const json& rs, int64_t n) {
  const std::string ns = Namespace(rs);
  const json& tmpl = At(rs, {"spec", "template"});
  int64_t created = 0;
  for (int64_t i = 0; i < std::min<int64_t>(n, 500); ++i) {
    json md = {{"generateName", Name(rs) + "-"},
               {"namespace", ns},
               {"ownerReferences", json::array({MakeControllerRef(rs)})}};
    const json& labels = At(tmpl, {"metadata", "labels"});
    if (labels.is_object()) md["labels"] = labels;
    const json& annotations = At(tmpl, {"metadata", "annotations"});
    if (annotations.is_object()) md["annotations"] = annotations;
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", md},
                {"spec", At(tmpl, {"spec"})},
                {"status", {{"phase", "Pending"}}}};
    auto r = registry.Create(Served("pods"), ns, std::move(pod), WriteMode::kDirect);
    if (r.ok()) ++created;
    CheckControllerWrite(r, "create-pod", Name(rs));
  }
  return created;
}

// Deletes the `n` least valuable of `active`. Returns the uids deleted.
std::set<std::string> DeletePods(Registry& registry, std::vector<Object> active, int64_t n) {
  std::set<std::string> deleted;
  std::sort(active.begin(), active.end(), DeleteFirst);
  for (int64_t i = 0; i < n; ++i) {
    DeleteOptions opts;
    opts.uid_precondition = Uid(*active[i]);
    auto r = registry.Delete(Served("pods"), Namespace(*active[i]), Name(*active[i]), opts);
    if (r.ok()) deleted.insert(Uid(*active[i]));
    CheckControllerWrite(r, "delete-pod", Name(*active[i]));
  }
  return deleted;
}

// The status as of the end of this pass: `created` new pods, `active` without the `deleted` ones
// (a pod just deleted never counts as available: the Deployment controller scales old
// ReplicaSets down on these counts).
json ReplicaSetStatus(const json& rs, const std::vector<Object>& active,
                      const std::set<std::string>& deleted, int64_t created, WallTime now) {
  const int64_t min_ready = IntAt(rs, {"spec", "minReadySeconds"});
  auto template_labels = At(rs, {"spec", "template", "metadata", "labels"});
  int64_t ready = 0, available = 0, fully_labeled = created, replicas = created;
  for (const auto& pod : active) {
    if (deleted.count(Uid(*pod))) continue;
    ++replicas;
    if (IsPodReady(*pod)) ++ready;
    if (IsAvailable(*pod, min_ready, now)) ++available;
    bool labeled = true;
    if (template_labels.is_object()) {
      const json& pl = At(*pod, {"metadata", "labels"});
      for (const auto& [k, v] : template_labels.items()) {
        if (!pl.is_object() || !pl.contains(k) || pl[k] != v) labeled = false;
      }
    }
    if (labeled) ++fully_labeled;
  }
  return {{"replicas", replicas},
          {"fullyLabeledReplicas", fully_labeled},
          {"readyReplicas", ready},
          {"availableReplicas", available},
          {"observedGeneration", IntAt(rs, {"metadata", "generation"}, 1)}};
}

}  // namespace

void Controllers::SyncReplicaSets() {
  auto all_rs = store_.List("replicasets");
  auto all_pods = store_.List("pods");
  const WallTime now = clock_.WallNow();
  for (const auto& rsp : all_rs) {
    const json& rs = *rsp;
    const std::string ns = Namespace(rs);
    const std::string uid = Uid(rs);
    std::vector<Object> active;
    for (const auto& pod : all_pods) {
      if (Namespace(*pod) == ns && IsControlledBy(*pod, uid) && IsPodActive(*pod)) {
        active.push_back(pod);
      }
    }
    const int64_t diff = static_cast<int64_t>(active.size()) - SpecReplicas(rs);
    int64_t created = 0;
    std::set<std::string> deleted;
    if (diff < 0) {
      created = CreatePods(registry_, rs, -diff);
    } else if (diff > 0) {
      deleted = DeletePods(registry_, active, diff);
    }
    json status = ReplicaSetStatus(rs, active, deleted, created, now);
    if (At(rs, {"status"}) != status) {
      json next = rs;
      next["status"] = status;
      CheckControllerWrite(registry_.Update(Served("replicasets"), ns, Name(rs), std::move(next),
                                            WriteMode::kDirect),
                           "rs-status", Name(rs));
    }
  }
}

}  // namespace kb::sim
