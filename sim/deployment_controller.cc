// Controllers: the Deployment controller (pkg/controller/deployment, simplified): one ReplicaSet
// per pod-template hash, Recreate and RollingUpdate rollouts within maxSurge / maxUnavailable, and
// the Deployment's status.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <vector>

#include "core/model.h"
#include "sim/controller_kit.h"
#include "sim/controllers.h"
#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Object = ObjectStore::Object;

// A Deployment and the ReplicaSets it controls, as one sync pass sees them.
struct Rollout {
  const json* deployment = nullptr;
  std::string ns;
  int64_t desired = 0;
  std::string hash;          // of the current pod template
  Object new_rs;             // the ReplicaSet of the current template (null: none yet)
  std::vector<Object> olds;  // the other controlled ReplicaSets, oldest first
  int64_t old_replicas = 0;  // their spec.replicas summed
  int64_t max_revision = 0;
  bool recreate = false;
  int64_t max_surge = 0;
  int64_t max_unavailable = 0;
};

Rollout Observe(const json& d, const std::vector<Object>& all_rs) {
  Rollout r;
  r.deployment = &d;
  r.ns = Namespace(d);
  r.desired = SpecReplicas(d);
  r.hash = Controllers::TemplateHash(At(d, {"spec", "template"}));
  const std::string uid = Uid(d);
  std::vector<Object> owned;
  for (const auto& rs : all_rs) {
    if (Namespace(*rs) != r.ns || !IsControlledBy(*rs, uid)) continue;
    owned.push_back(rs);
    if (StrAt(*rs, {"metadata", "labels", kPodTemplateHash}) == r.hash) r.new_rs = rs;
    r.max_revision = std::max<int64_t>(
        r.max_revision,
        std::atoll(StrAt(*rs, {"metadata", "annotations", kRevisionAnnotation}, "0").c_str()));
  }
  std::sort(owned.begin(), owned.end(), [](const Object& a, const Object& b) {
    return StrAt(*a, {"metadata", "creationTimestamp"}) <
           StrAt(*b, {"metadata", "creationTimestamp"});
  });
  r.recreate = StrAt(d, {"spec", "strategy", "type"}) == "Recreate";
  const json& ru = At(d, {"spec", "strategy", "rollingUpdate"});
  if (!r.recreate) {
    r.max_surge = ScaledIntOrPercent(At(ru, {"maxSurge"}), r.desired, true);
    r.max_unavailable = ScaledIntOrPercent(At(ru, {"maxUnavailable"}), r.desired, false);
    if (r.max_surge == 0 && r.max_unavailable == 0) r.max_unavailable = 1;
  }
  for (const auto& rs : owned) {
    if (rs != r.new_rs) r.olds.push_back(rs);
  }
  for (const auto& rs : r.olds) r.old_replicas += SpecReplicas(*rs);
  return r;
}

// The ReplicaSet of the current template, created with the replicas the strategy allows now.
json NewReplicaSet(const Rollout& r) {
  const json& d = *r.deployment;
  int64_t initial = r.desired;
  if (r.recreate) {
    if (r.old_replicas > 0) initial = 0;
  } else if (r.old_replicas > 0) {
    initial = std::clamp<int64_t>(r.desired + r.max_surge - r.old_replicas, 0, r.desired);
  }
  const json& tmpl = At(d, {"spec", "template"});
  json rs_tmpl = tmpl;
  rs_tmpl["metadata"]["labels"][kPodTemplateHash] = r.hash;
  json selector = At(d, {"spec", "selector"});
  selector["matchLabels"][kPodTemplateHash] = r.hash;
  json labels = At(tmpl, {"metadata", "labels"});
  if (!labels.is_object()) labels = json::object();
  labels[kPodTemplateHash] = r.hash;
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", Name(d) + "-" + r.hash},
            {"namespace", r.ns},
            {"labels", labels},
            {"annotations",
             {{kRevisionAnnotation, std::to_string(r.max_revision + 1)},
              {"deployment.kubernetes.io/desired-replicas", std::to_string(r.desired)},
              {"deployment.kubernetes.io/max-replicas", std::to_string(r.desired + r.max_surge)}}},
            {"ownerReferences", json::array({MakeControllerRef(d)})}}},
          {"spec",
           {{"replicas", initial},
            {"minReadySeconds", IntAt(d, {"spec", "minReadySeconds"})},
            {"selector", selector},
            {"template", rs_tmpl}}}};
}

// The replicas of each old ReplicaSet after one rolling-update step that scaled the new one to
// `new_replicas` (pkg/controller/deployment/rolling.go, simplified): unhealthy old replicas go
// first, then available ones as far as the availability floor allows. Old RS uid -> replicas;
// empty when nothing may be scaled down.
std::map<std::string, int64_t> ScaleDownOlds(const Rollout& r, int64_t new_replicas) {
  const int64_t total = r.old_replicas + new_replicas;
  const int64_t min_available = r.desired - r.max_unavailable;
  const int64_t new_unavailable =
      std::max<int64_t>(0, new_replicas - IntAt(*r.new_rs, {"status", "availableReplicas"}));
  const int64_t max_scaled_down = total - min_available - new_unavailable;
  if (max_scaled_down <= 0) return {};
  std::map<std::string, int64_t> target;
  for (const auto& rs : r.olds) target[Uid(*rs)] = SpecReplicas(*rs);
  int64_t cleaned = 0;
  for (const auto& rs : r.olds) {
    if (cleaned >= max_scaled_down) break;
    int64_t unhealthy = SpecReplicas(*rs) - IntAt(*rs, {"status", "availableReplicas"});
    int64_t n = std::clamp<int64_t>(unhealthy, 0, max_scaled_down - cleaned);
    target[Uid(*rs)] -= n;
    cleaned += n;
  }
  int64_t available = IntAt(*r.new_rs, {"status", "availableReplicas"});
  for (const auto& rs : r.olds) available += IntAt(*rs, {"status", "availableReplicas"});
  int64_t budget = available - min_available;
  for (const auto& rs : r.olds) {
    if (budget <= 0) break;
    int64_t n = std::min(target[Uid(*rs)], budget);
    target[Uid(*rs)] -= n;
    budget -= n;
  }
  return target;
}

class RolloutStep {
 public:
  RolloutStep(Registry& registry, const Rollout& r) : registry_(registry), r_(r) {}

  void Run(const std::vector<Object>& all_pods) {
    const json& d = *r_.deployment;
    if (!r_.new_rs) {
      if (At(d, {"spec", "paused"}) == true) return;
      CheckControllerWrite(
          registry_.Create(Served("replicasets"), r_.ns, NewReplicaSet(r_), WriteMode::kDirect),
          "create-rs", Name(d));
      return;
    }
    if (r_.old_replicas == 0) return Scale(r_.new_rs, r_.desired);
    if (r_.recreate) return Recreate(all_pods);
    // Rolling update: grow the new ReplicaSet within maxSurge, shrink the old ones.
    int64_t new_replicas = SpecReplicas(*r_.new_rs);
    if (new_replicas < r_.desired) {
      int64_t room = r_.desired + r_.max_surge - (r_.old_replicas + new_replicas);
      if (room > 0) new_replicas = std::min(r_.desired, new_replicas + room);
    } else if (new_replicas > r_.desired) {
      new_replicas = r_.desired;
    }
    Scale(r_.new_rs, new_replicas);
    const std::map<std::string, int64_t> target = ScaleDownOlds(r_, new_replicas);
    if (target.empty()) return;
    for (const auto& rs : r_.olds) Scale(rs, std::max<int64_t>(0, target.at(Uid(*rs))));
  }

 private:
  // Recreate: the old ReplicaSets go to 0; the new one scales up once their pods are gone.
  void Recreate(const std::vector<Object>& all_pods) {
    for (const auto& rs : r_.olds) Scale(rs, 0);
    for (const auto& pod : all_pods) {
      for (const auto& rs : r_.olds) {
        if (IsControlledBy(*pod, Uid(*rs))) return;
      }
    }
    Scale(r_.new_rs, r_.desired);
  }

  void Scale(const Object& rs, int64_t replicas) {
    if (SpecReplicas(*rs) == replicas) return;
    json next = *rs;
    next["spec"]["replicas"] = replicas;
    CheckControllerWrite(registry_.Update(Served("replicasets"), r_.ns, Name(*rs), std::move(next),
                                          WriteMode::kDirect),
                         "scale-rs", Name(*rs));
  }

  Registry& registry_;
  const Rollout& r_;
};

}  // namespace

std::string Controllers::TemplateHash(const json& pod_template) {
  // fnv32a over the canonical (key-sorted) JSON, encoded like rand.SafeEncodeString.
  std::string text = pod_template.dump();
  uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string digits = std::to_string(h);
  std::string out;
  for (char c : digits) out.push_back(kAlphabet[static_cast<unsigned char>(c) % 27]);
  return out;
}

void Controllers::SyncDeployments() {
  auto deployments = store_.List("deployments");
  auto all_rs = store_.List("replicasets");
  auto all_pods = store_.List("pods");
  for (const auto& d : deployments) {
    const Rollout rollout = Observe(*d, all_rs);
    RolloutStep(registry_, rollout).Run(all_pods);
  }
}

void Controllers::SyncDeploymentStatus() {
  auto deployments = store_.List("deployments");
  auto all_rs = store_.List("replicasets");
  const std::string now_text = FormatRfc3339(clock_.WallNow());
  for (const auto& dp : deployments) {
    const json& d = *dp;
    const std::string ns = Namespace(d);
    const std::string uid = Uid(d);
    const std::string hash = TemplateHash(At(d, {"spec", "template"}));
    int64_t replicas = 0, ready = 0, available = 0, updated = 0;
    std::string revision;
    for (const auto& rs : all_rs) {
      if (Namespace(*rs) != ns || !IsControlledBy(*rs, uid)) continue;
      replicas += IntAt(*rs, {"status", "replicas"});
      ready += IntAt(*rs, {"status", "readyReplicas"});
      available += IntAt(*rs, {"status", "availableReplicas"});
      if (StrAt(*rs, {"metadata", "labels", kPodTemplateHash}) == hash) {
        updated = IntAt(*rs, {"status", "replicas"});
        revision = StrAt(*rs, {"metadata", "annotations", kRevisionAnnotation});
      }
    }
    const int64_t desired = SpecReplicas(d);
    const json& ru = At(d, {"spec", "strategy", "rollingUpdate"});
    int64_t max_unavailable = ScaledIntOrPercent(At(ru, {"maxUnavailable"}), desired, false);
    json next = d;
    json& status = next["status"];
    if (!status.is_object()) status = json::object();
    status["observedGeneration"] = IntAt(d, {"metadata", "generation"}, 1);
    status["replicas"] = replicas;
    status["updatedReplicas"] = updated;
    status["readyReplicas"] = ready;
    status["availableReplicas"] = available;
    status["unavailableReplicas"] = std::max<int64_t>(0, replicas - available);
    const bool enough = available >= desired - max_unavailable;
    SetCondition(next, "Available", enough ? "True" : "False",
                 enough ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable", now_text);
    const bool complete = updated == desired && replicas == desired && available == desired;
    SetCondition(next, "Progressing", "True",
                 complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", now_text);
    if (!revision.empty()) next["metadata"]["annotations"][kRevisionAnnotation] = revision;
    if (next != d) {
      CheckControllerWrite(
          registry_.Update(Served("deployments"), ns, Name(d), std::move(next), WriteMode::kDirect),
          "deployment-status", Name(d));
    }
  }
}

}  // namespace kb::sim
