#include "sim/controllers.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/logging.h"
#include "core/model.h"
#include "sim/k8s_json.h"
#include "sim/scheduler_predicates.h"
#include "sim/selectors.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Object = ObjectStore::Object;

constexpr const char* kPodTemplateHash = "pod-template-hash";
constexpr const char* kRevision = "deployment.kubernetes.io/revision";
// The PDB controller forgets a disrupted pod that was not deleted after this long
// (DeletionTimeout in pkg/controller/disruption).
constexpr auto kDisruptionTimeout = std::chrono::minutes(2);

const ResourceInfo& Res(const char* plural) { return *FindResource(plural); }

// Controllers race with clients; a conflict or a vanished object is retried on the next pass.
void Check(const ApiResult<json>& r, const char* what, const std::string& name) {
  if (r.ok() || r.error().code == 409 || r.error().code == 404) return;
  Logger("kube-sim")
      ->warn("controller write failed action={} object={} code={} message={}", what, name,
             r.error().code, r.error().message);
}

bool OwnedBy(const json& obj, const std::string& owner_uid) {
  const json& ref = ControllerRef(obj);
  return ref.is_object() && ref.value("uid", "") == owner_uid;
}

// An intstr.IntOrString field (maxSurge, maxUnavailable, minAvailable): an integer or "<n>%".
// Anything else counts as 0.
IntOrPercent IntOrPercentOf(const json& v) {
  if (v.is_number_integer()) return {false, v.get<int64_t>()};
  if (!v.is_string()) return {};
  const std::string s = v.get<std::string>();
  if (s.empty() || s.back() != '%') return {};
  return {true, std::atoll(s.c_str())};
}

// GetScaledValueFromIntOrPercent.
int64_t ScaledValue(const json& v, int64_t total, bool round_up) {
  return IntOrPercentOf(v).Resolve(total, round_up);
}

bool IsPercent(const json& v) { return v.is_string(); }

int64_t Replicas(const json& obj) { return IntAt(obj, {"spec", "replicas"}, 1); }

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

// The node's allocatable `res`; -1 (no limit) when unknown.
int64_t Allocatable(const json& node, const char* res, bool cpu) {
  return QuantityAt(At(node, {"status", "allocatable"}), res, cpu).value_or(-1);
}

json RunningStatus(const json& pod, const json& node, const std::string& pod_ip,
                   const std::string& now) {
  json status = At(pod, {"status"});
  if (!status.is_object()) status = json::object();
  status["phase"] = "Running";
  status["startTime"] = now;
  std::string host_ip;
  const json& addrs = At(node, {"status", "addresses"});
  if (addrs.is_array()) {
    for (const auto& a : addrs) {
      if (a.value("type", "") == "InternalIP") host_ip = a.value("address", "");
    }
  }
  if (!host_ip.empty()) status["hostIP"] = host_ip;
  status["podIP"] = pod_ip;
  status["podIPs"] = json::array({{{"ip", pod_ip}}});
  json statuses = json::array();
  const json& containers = At(pod, {"spec", "containers"});
  if (containers.is_array()) {
    for (const auto& c : containers) {
      statuses.push_back({{"name", c.value("name", "")},
                          {"image", c.value("image", "")},
                          {"imageID", ""},
                          {"containerID", "containerd://" + Uid(pod) + "-" + c.value("name", "")},
                          {"ready", true},
                          {"started", true},
                          {"restartCount", 0},
                          {"state", {{"running", {{"startedAt", now}}}}}});
    }
  }
  status["containerStatuses"] = statuses;
  json out = pod;
  out["status"] = status;
  for (const char* type : {"Initialized", "ContainersReady", "Ready", "PodScheduled"}) {
    SetCondition(out, type, "True", "", now);
  }
  return out;
}

}  // namespace

Controllers::Controllers(Registry& registry, ControllerOptions options)
    : registry_(registry), store_(registry.store()), clock_(registry.clock()), options_(options) {}

void Controllers::Add(std::string name, Loop loop) {
  std::lock_guard<std::mutex> lock(run_mu_);
  extra_loops_.emplace_back(std::move(name), std::move(loop));
}

void Controllers::RunOnce() {
  std::lock_guard<std::mutex> lock(run_mu_);
  FinalizeDeletions();
  if (options_.garbage_collector) CollectGarbage();
  SyncDeployments();
  SyncReplicaSets();
  RunKubelet();
  SyncPdbs();
  SyncDeploymentStatus();
  for (auto& [name, loop] : extra_loops_) loop();
}

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

void Controllers::FinalizeDeletions() { registry_.FinalizePodDeletions(); }

void Controllers::CollectGarbage() {
  // Lists in dependency order (dependents first) so an owner created meanwhile is seen.
  auto pods = store_.List("pods");
  auto rss = store_.List("replicasets");
  auto deployments = store_.List("deployments");
  std::set<std::string> rs_uids, deployment_uids;
  for (const auto& rs : rss) rs_uids.insert(Uid(*rs));
  for (const auto& d : deployments) deployment_uids.insert(Uid(*d));
  for (const auto& pod : pods) {
    const json& ref = ControllerRef(*pod);
    if (!ref.is_object() || ref.value("kind", "") != "ReplicaSet" || IsTerminating(*pod)) continue;
    if (rs_uids.count(ref.value("uid", ""))) continue;
    DeleteOptions opts;
    opts.uid_precondition = Uid(*pod);
    Check(registry_.Delete(Res("pods"), Namespace(*pod), Name(*pod), opts), "gc-pod", Name(*pod));
  }
  for (const auto& rs : rss) {
    const json& ref = ControllerRef(*rs);
    if (!ref.is_object() || ref.value("kind", "") != "Deployment") continue;
    if (deployment_uids.count(ref.value("uid", ""))) continue;
    DeleteOptions opts;
    opts.uid_precondition = Uid(*rs);
    Check(registry_.Delete(Res("replicasets"), Namespace(*rs), Name(*rs), opts), "gc-rs",
          Name(*rs));
  }
}

void Controllers::SyncDeployments() {
  const ResourceInfo& rs_res = Res("replicasets");
  auto deployments = store_.List("deployments");
  auto all_rs = store_.List("replicasets");
  auto all_pods = store_.List("pods");
  for (const auto& dp : deployments) {
    const json& d = *dp;
    const std::string ns = Namespace(d);
    const std::string uid = Uid(d);
    const int64_t desired = Replicas(d);
    const json& tmpl = At(d, {"spec", "template"});
    const std::string hash = TemplateHash(tmpl);
    std::vector<Object> owned;
    Object new_rs;
    int64_t max_revision = 0;
    for (const auto& rs : all_rs) {
      if (Namespace(*rs) != ns || !OwnedBy(*rs, uid)) continue;
      owned.push_back(rs);
      if (StrAt(*rs, {"metadata", "labels", kPodTemplateHash}) == hash) new_rs = rs;
      max_revision = std::max<int64_t>(
          max_revision,
          std::atoll(StrAt(*rs, {"metadata", "annotations", kRevision}, "0").c_str()));
    }
    std::sort(owned.begin(), owned.end(), [](const Object& a, const Object& b) {
      return StrAt(*a, {"metadata", "creationTimestamp"}) <
             StrAt(*b, {"metadata", "creationTimestamp"});
    });
    const bool recreate = StrAt(d, {"spec", "strategy", "type"}) == "Recreate";
    const json& ru = At(d, {"spec", "strategy", "rollingUpdate"});
    int64_t max_surge = recreate ? 0 : ScaledValue(At(ru, {"maxSurge"}), desired, true);
    int64_t max_unavailable =
        recreate ? 0 : ScaledValue(At(ru, {"maxUnavailable"}), desired, false);
    if (!recreate && max_surge == 0 && max_unavailable == 0) max_unavailable = 1;
    std::vector<Object> olds;
    for (const auto& rs : owned) {
      if (rs != new_rs) olds.push_back(rs);
    }
    int64_t old_replicas = 0;
    for (const auto& rs : olds) old_replicas += Replicas(*rs);

    auto scale = [&](const Object& rs, int64_t replicas) {
      if (Replicas(*rs) == replicas) return;
      json next = *rs;
      next["spec"]["replicas"] = replicas;
      Check(registry_.Update(rs_res, ns, Name(*rs), std::move(next), WriteMode::kDirect),
            "scale-rs", Name(*rs));
    };

    if (!new_rs) {
      if (At(d, {"spec", "paused"}) == true) continue;
      int64_t initial = desired;
      if (recreate) {
        if (old_replicas > 0) initial = 0;
      } else if (old_replicas > 0) {
        initial = std::clamp<int64_t>(desired + max_surge - old_replicas, 0, desired);
      }
      json rs_tmpl = tmpl;
      rs_tmpl["metadata"]["labels"][kPodTemplateHash] = hash;
      json selector = At(d, {"spec", "selector"});
      selector["matchLabels"][kPodTemplateHash] = hash;
      json labels = At(tmpl, {"metadata", "labels"});
      if (!labels.is_object()) labels = json::object();
      labels[kPodTemplateHash] = hash;
      json rs = {
          {"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", Name(d) + "-" + hash},
            {"namespace", ns},
            {"labels", labels},
            {"annotations",
             {{kRevision, std::to_string(max_revision + 1)},
              {"deployment.kubernetes.io/desired-replicas", std::to_string(desired)},
              {"deployment.kubernetes.io/max-replicas", std::to_string(desired + max_surge)}}},
            {"ownerReferences", json::array({MakeControllerRef(d)})}}},
          {"spec",
           {{"replicas", initial},
            {"minReadySeconds", IntAt(d, {"spec", "minReadySeconds"})},
            {"selector", selector},
            {"template", rs_tmpl}}}};
      Check(registry_.Create(rs_res, ns, std::move(rs), WriteMode::kDirect), "create-rs", Name(d));
      continue;
    }

    if (old_replicas == 0) {
      scale(new_rs, desired);
      continue;
    }
    if (recreate) {
      for (const auto& rs : olds) scale(rs, 0);
      bool old_pods_left = false;
      for (const auto& pod : all_pods) {
        for (const auto& rs : olds) {
          if (OwnedBy(*pod, Uid(*rs))) old_pods_left = true;
        }
      }
      if (!old_pods_left) scale(new_rs, desired);
      continue;
    }
    // Rolling update (pkg/controller/deployment/rolling.go, simplified).
    int64_t new_replicas = Replicas(*new_rs);
    int64_t total = old_replicas + new_replicas;
    if (new_replicas < desired) {
      int64_t room = desired + max_surge - total;
      if (room > 0) new_replicas = std::min(desired, new_replicas + room);
    } else if (new_replicas > desired) {
      new_replicas = desired;
    }
    scale(new_rs, new_replicas);
    total = old_replicas + new_replicas;
    const int64_t min_available = desired - max_unavailable;
    const int64_t new_unavailable =
        std::max<int64_t>(0, new_replicas - IntAt(*new_rs, {"status", "availableReplicas"}));
    int64_t max_scaled_down = total - min_available - new_unavailable;
    if (max_scaled_down <= 0) continue;
    std::map<std::string, int64_t> target;  // old RS uid -> replicas
    for (const auto& rs : olds) target[Uid(*rs)] = Replicas(*rs);
    // Unhealthy old replicas go first.
    int64_t cleaned = 0;
    for (const auto& rs : olds) {
      if (cleaned >= max_scaled_down) break;
      int64_t unhealthy = Replicas(*rs) - IntAt(*rs, {"status", "availableReplicas"});
      int64_t n = std::clamp<int64_t>(unhealthy, 0, max_scaled_down - cleaned);
      target[Uid(*rs)] -= n;
      cleaned += n;
    }
    // Then available ones, as far as the availability floor allows.
    int64_t available = IntAt(*new_rs, {"status", "availableReplicas"});
    for (const auto& rs : olds) available += IntAt(*rs, {"status", "availableReplicas"});
    int64_t budget = available - min_available;
    for (const auto& rs : olds) {
      if (budget <= 0) break;
      int64_t n = std::min(target[Uid(*rs)], budget);
      target[Uid(*rs)] -= n;
      budget -= n;
    }
    for (const auto& rs : olds) scale(rs, std::max<int64_t>(0, target[Uid(*rs)]));
  }
}

void Controllers::SyncReplicaSets() {
  const ResourceInfo& pods_res = Res("pods");
  const ResourceInfo& rs_res = Res("replicasets");
  auto all_rs = store_.List("replicasets");
  auto all_pods = store_.List("pods");
  const WallTime now = clock_.WallNow();
  for (const auto& rsp : all_rs) {
    const json& rs = *rsp;
    const std::string ns = Namespace(rs);
    const std::string uid = Uid(rs);
    std::vector<Object> active;
    for (const auto& pod : all_pods) {
      if (Namespace(*pod) == ns && OwnedBy(*pod, uid) && IsPodActive(*pod)) active.push_back(pod);
    }
    const int64_t desired = Replicas(rs);
    const int64_t diff = static_cast<int64_t>(active.size()) - desired;
    int64_t created = 0;
    std::set<std::string> deleted;
    if (diff < 0) {
      const json& tmpl = At(rs, {"spec", "template"});
      for (int64_t i = 0; i < std::min<int64_t>(-diff, 500); ++i) {
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
        auto r = registry_.Create(pods_res, ns, std::move(pod), WriteMode::kDirect);
        if (r.ok()) ++created;
        Check(r, "create-pod", Name(rs));
      }
    } else if (diff > 0) {
      std::vector<Object> ranked = active;
      std::sort(ranked.begin(), ranked.end(), DeleteFirst);
      for (int64_t i = 0; i < diff; ++i) {
        DeleteOptions opts;
        opts.uid_precondition = Uid(*ranked[i]);
        auto r = registry_.Delete(pods_res, ns, Name(*ranked[i]), opts);
        if (r.ok()) deleted.insert(Uid(*ranked[i]));
        Check(r, "delete-pod", Name(*ranked[i]));
      }
    }
    // Status as of the end of this pass: never count a pod just deleted as available (the
    // Deployment controller scales old ReplicaSets down on these counts).
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
    json status = {{"replicas", replicas},
                   {"fullyLabeledReplicas", fully_labeled},
                   {"readyReplicas", ready},
                   {"availableReplicas", available},
                   {"observedGeneration", IntAt(rs, {"metadata", "generation"}, 1)}};
    if (At(rs, {"status"}) != status) {
      json next = rs;
      next["status"] = status;
      Check(registry_.Update(rs_res, ns, Name(rs), std::move(next), WriteMode::kDirect),
            "rs-status", Name(rs));
    }
  }
}

void Controllers::RunKubelet() {
  const ResourceInfo& pods_res = Res("pods");
  auto all_pods = store_.List("pods");
  std::map<std::string, Object> nodes;
  for (const auto& n : store_.List("nodes")) nodes[Name(*n)] = n;
  const SteadyTime now = clock_.Now();
  const std::string now_text = FormatRfc3339(clock_.WallNow());

  // Requests of the admitted pods per node.
  std::map<std::string, Resources> used;
  std::set<std::string> present;
  std::vector<Object> candidates;
  for (const auto& pod : all_pods) {
    present.insert(Uid(*pod));
    const std::string node = StrAt(*pod, {"spec", "nodeName"});
    if (node.empty()) continue;
    const std::string phase = PodPhase(*pod);
    if (phase == "Succeeded" || phase == "Failed") continue;
    if (phase == "Pending" && !ready_at_.count(Uid(*pod))) {
      if (!IsTerminating(*pod)) candidates.push_back(pod);
      continue;
    }
    used[node] += EffectiveRequests(*pod);
  }
  for (auto it = ready_at_.begin(); it != ready_at_.end();) {
    it = present.count(it->first) ? std::next(it) : ready_at_.erase(it);
  }
  // Admission, oldest pod first (the kubelet admits in arrival order).
  std::sort(candidates.begin(), candidates.end(), [](const Object& a, const Object& b) {
    auto ka = std::make_pair(StrAt(*a, {"metadata", "creationTimestamp"}), Name(*a));
    auto kb = std::make_pair(StrAt(*b, {"metadata", "creationTimestamp"}), Name(*b));
    return ka < kb;
  });
  for (const auto& pod : candidates) {
    const std::string node_name = StrAt(*pod, {"spec", "nodeName"});
    auto n = nodes.find(node_name);
    if (n == nodes.end()) continue;  // no such node: no kubelet will ever run it
    const json& node = *n->second;
    std::string reason, message;
    if (options_.kubelet_admission) {
      const Resources req = EffectiveRequests(*pod);
      Resources& u = used[node_name];
      const int64_t cpu = Allocatable(node, "cpu", true);
      const int64_t memory = Allocatable(node, "memory", false);
      const int64_t max_pods = Allocatable(node, "pods", false);
      if (!MatchesNodeAffinity(*pod, node)) {
        reason = "NodeAffinity";
        message = "Predicate NodeAffinity failed";
      } else if (max_pods >= 0 && u.pods + 1 > max_pods) {
        reason = "OutOfpods";
        message = "Node didn't have enough resource: pods, requested: 1, used: " +
                  std::to_string(u.pods) + ", capacity: " + std::to_string(max_pods);
      } else if (cpu >= 0 && u.cpu_millis + req.cpu_millis > cpu) {
        reason = "OutOfcpu";
        message = "Pod Node didn't have enough resource: cpu, requested: " +
                  std::to_string(req.cpu_millis) + ", used: " + std::to_string(u.cpu_millis) +
                  ", capacity: " + std::to_string(cpu);
      } else if (memory >= 0 && u.memory_bytes + req.memory_bytes > memory) {
        reason = "OutOfmemory";
        message = "Pod Node didn't have enough resource: memory, requested: " +
                  std::to_string(req.memory_bytes) + ", used: " + std::to_string(u.memory_bytes) +
                  ", capacity: " + std::to_string(memory);
      }
      if (reason.empty()) u += req;
    }
    if (!reason.empty()) {
      json next = *pod;
      next["status"]["phase"] = "Failed";
      next["status"]["reason"] = reason;
      next["status"]["message"] = message;
      const std::string name = Name(next), ns = Namespace(next);
      Check(registry_.Update(pods_res, ns, name, std::move(next), WriteMode::kDirect),
            "kubelet-reject", name);
      continue;
    }
    ready_at_[Uid(*pod)] = now + options_.pod_ready_delay;
  }
  // Readiness, once the delay has passed.
  std::map<std::string, Object> by_uid;
  for (const auto& pod : all_pods) by_uid[Uid(*pod)] = pod;
  for (const auto& [uid, at] : ready_at_) {
    if (now < at) continue;
    auto p = by_uid.find(uid);
    if (p == by_uid.end()) continue;
    const json& pod = *p->second;
    if (PodPhase(pod) != "Pending" || IsTerminating(pod)) continue;
    auto n = nodes.find(StrAt(pod, {"spec", "nodeName"}));
    if (n == nodes.end()) continue;
    uint64_t ip = next_pod_ip_++;
    std::string pod_ip =
        "10.244." + std::to_string((ip / 250) % 250) + "." + std::to_string(ip % 250 + 2);
    json next = RunningStatus(pod, *n->second, pod_ip, now_text);
    const std::string name = Name(next), ns = Namespace(next);
    Check(registry_.Update(pods_res, ns, name, std::move(next), WriteMode::kDirect),
          "kubelet-ready", name);
  }
}

void Controllers::SyncPdbs() {
  const ResourceInfo& pdb_res = Res("poddisruptionbudgets");
  auto pdbs = store_.List("poddisruptionbudgets");
  if (pdbs.empty()) return;
  auto all_pods = store_.List("pods");
  std::map<std::string, Object> rs_by_uid, deployment_by_uid;
  for (const auto& rs : store_.List("replicasets")) rs_by_uid[Uid(*rs)] = rs;
  for (const auto& d : store_.List("deployments")) deployment_by_uid[Uid(*d)] = d;
  const WallTime now = clock_.WallNow();
  const std::string now_text = FormatRfc3339(now);

  for (const auto& pdbp : pdbs) {
    const json& pdb = *pdbp;
    const std::string ns = Namespace(pdb);
    const int64_t generation = IntAt(pdb, {"metadata", "generation"}, 1);
    auto sel = LabelSelector::FromJson(At(pdb, {"spec", "selector"}));
    std::vector<Object> pods;
    if (sel.ok() && !sel->Empty() && !sel->IsNothing()) {
      for (const auto& pod : all_pods) {
        if (Namespace(*pod) == ns && sel->Matches(At(*pod, {"metadata", "labels"}))) {
          pods.push_back(pod);
        }
      }
    }
    // Expected pods from the scale of the pods' controllers.
    std::string error;
    auto controller_scale = [&]() -> int64_t {
      std::map<std::string, int64_t> scales;
      for (const auto& pod : pods) {
        const json& ref = ControllerRef(*pod);
        if (!ref.is_object()) {
          error = "found no controller ref for pod \"" + Name(*pod) + "\"";
          return 0;
        }
        if (ref.value("kind", "") != "ReplicaSet") {
          error = "found no controllers for pod \"" + Name(*pod) + "\"";
          return 0;
        }
        auto rs = rs_by_uid.find(ref.value("uid", ""));
        if (rs == rs_by_uid.end()) {
          error = "found no controllers for pod \"" + Name(*pod) + "\"";
          return 0;
        }
        const json& dref = ControllerRef(*rs->second);
        auto d = dref.is_object() ? deployment_by_uid.find(dref.value("uid", ""))
                                  : deployment_by_uid.end();
        if (d != deployment_by_uid.end()) {
          scales[Uid(*d->second)] = Replicas(*d->second);
        } else {
          scales[Uid(*rs->second)] = Replicas(*rs->second);
        }
      }
      int64_t sum = 0;
      for (const auto& [k, v] : scales) sum += v;
      return sum;
    };
    const json& min_available = At(pdb, {"spec", "minAvailable"});
    const json& max_unavailable = At(pdb, {"spec", "maxUnavailable"});
    int64_t expected = 0, desired = 0;
    if (!max_unavailable.is_null()) {
      expected = controller_scale();
      desired = std::max<int64_t>(0, expected - ScaledValue(max_unavailable, expected, true));
    } else if (!min_available.is_null() && !IsPercent(min_available)) {
      expected = static_cast<int64_t>(pods.size());
      desired = min_available.get<int64_t>();
    } else if (!min_available.is_null()) {
      expected = controller_scale();
      desired = ScaledValue(min_available, expected, true);
    }

    json next = pdb;
    json& status = next["status"];
    if (!status.is_object()) status = json::object();
    if (!error.empty()) {
      // failSafe: no disruptions, observedGeneration untouched.
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
            if (c.value("status", "") == "False")
              cond["lastTransitionTime"] = c["lastTransitionTime"];
            c = cond;
            replaced = true;
          }
        }
      } else {
        conds = json::array();
      }
      if (!replaced) conds.push_back(cond);
    } else {
      // Disrupted pods: kept while the pod exists, is not yet terminating and the entry is recent.
      json disrupted = json::object();
      const json& old_disrupted = At(pdb, {"status", "disruptedPods"});
      std::set<std::string> disrupted_names;
      if (old_disrupted.is_object()) {
        for (const auto& [pod_name, when] : old_disrupted.items()) {
          auto pod = std::find_if(pods.begin(), pods.end(),
                                  [&](const Object& p) { return Name(*p) == pod_name; });
          if (pod == pods.end() || IsTerminating(**pod)) continue;
          StatusOr<WallTime> t = ParseRfc3339(when.is_string() ? when.get<std::string>() : "");
          if (!t.ok() || *t + kDisruptionTimeout < now) continue;
          disrupted[pod_name] = when;
          disrupted_names.insert(pod_name);
        }
      }
      int64_t healthy = 0;
      for (const auto& pod : pods) {
        if (IsTerminating(*pod) || disrupted_names.count(Name(*pod))) continue;
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
      json conds = json::array();
      const json& old_conds = At(pdb, {"status", "conditions"});
      if (old_conds.is_array()) {
        for (const auto& c : old_conds) {
          if (c.value("type", "") == "DisruptionAllowed" &&
              c.value("status", "") == cond["status"]) {
            cond["lastTransitionTime"] = c.value("lastTransitionTime", now_text);
          }
        }
      }
      conds.push_back(cond);
      status["conditions"] = conds;
    }
    if (next != pdb) {
      Check(registry_.Update(pdb_res, ns, Name(pdb), std::move(next), WriteMode::kDirect),
            "pdb-status", Name(pdb));
    }
  }
}

void Controllers::SyncDeploymentStatus() {
  const ResourceInfo& d_res = Res("deployments");
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
      if (Namespace(*rs) != ns || !OwnedBy(*rs, uid)) continue;
      replicas += IntAt(*rs, {"status", "replicas"});
      ready += IntAt(*rs, {"status", "readyReplicas"});
      available += IntAt(*rs, {"status", "availableReplicas"});
      if (StrAt(*rs, {"metadata", "labels", kPodTemplateHash}) == hash) {
        updated = IntAt(*rs, {"status", "replicas"});
        revision = StrAt(*rs, {"metadata", "annotations", kRevision});
      }
    }
    const int64_t desired = Replicas(d);
    const json& ru = At(d, {"spec", "strategy", "rollingUpdate"});
    int64_t max_unavailable = ScaledValue(At(ru, {"maxUnavailable"}), desired, false);
    json next = d;
    json& status = next["status"];
    if (!status.is_object()) status = json::object();
    status["observedGeneration"] = IntAt(d, {"metadata", "generation"}, 1);
    status["replicas"] = replicas;
    status["updatedReplicas"] = updated;
    status["readyReplicas"] = ready;
    status["availableReplicas"] = available;
    status["unavailableReplicas"] = std::max<int64_t>(0, replicas - available);
    SetCondition(next, "Available", available >= desired - max_unavailable ? "True" : "False",
                 available >= desired - max_unavailable ? "MinimumReplicasAvailable"
                                                        : "MinimumReplicasUnavailable",
                 now_text);
    const bool complete = updated == desired && replicas == desired && available == desired;
    SetCondition(next, "Progressing", "True",
                 complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", now_text);
    if (!revision.empty()) next["metadata"]["annotations"][kRevision] = revision;
    if (next != d) {
      Check(registry_.Update(d_res, ns, Name(d), std::move(next), WriteMode::kDirect),
            "deployment-status", Name(d));
    }
  }
}

}  // namespace kb::sim
