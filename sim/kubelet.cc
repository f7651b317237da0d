// Controllers: the kubelet stand-in. A pod bound to an existing node is admitted (node affinity
// and allocatable cpu / memory / pods, as the real kubelet's admission reuses the scheduler's
// predicates: sim/scheduler_predicates.h) or failed, and becomes Running and Ready
// pod_ready_delay after admission, with a pod IP and container statuses.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/model.h"
#include "sim/controller_kit.h"
#include "sim/controllers.h"
#include "sim/k8s_json.h"
#include "sim/scheduler_filters.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Object = ObjectStore::Object;

// The node's allocatable `res`; -1 (no limit) when unknown.
int64_t Allocatable(const json& node, const char* res, bool cpu) {
  return QuantityAt(At(node, {"status", "allocatable"}), res, cpu).value_or(-1);
}

// Why the kubelet on `node` rejects `pod` (reason, message), given the requests `used` of the
// pods it admitted before; nullopt when it admits it.
std::optional<std::pair<std::string, std::string>> AdmissionFailure(const json& pod,
                                                                    const json& node,
                                                                    const Resources& used) {
  const Resources req = EffectiveRequests(pod);
  const int64_t cpu = Allocatable(node, "cpu", true);
  const int64_t memory = Allocatable(node, "memory", false);
  const int64_t max_pods = Allocatable(node, "pods", false);
  if (!MatchesNodeAffinity(pod, node)) {
    return std::make_pair("NodeAffinity", "Predicate NodeAffinity failed");
  }
  if (max_pods >= 0 && used.pods + 1 > max_pods) {
    return std::make_pair(
        "OutOfpods", "Node didn't have enough resource: pods, requested: 1, used: " +
                         std::to_string(used.pods) + ", capacity: " + std::to_string(max_pods));
  }
  if (cpu >= 0 && used.cpu_millis + req.cpu_millis > cpu) {
    return std::make_pair(
        "OutOfcpu",
        "Pod Node didn't have enough resource: cpu, requested: " + std::to_string(req.cpu_millis) +
            ", used: " + std::to_string(used.cpu_millis) + ", capacity: " + std::to_string(cpu));
  }
  if (memory >= 0 && used.memory_bytes + req.memory_bytes > memory) {
    return std::make_pair("OutOfmemory",
                          "Pod Node didn't have enough resource: memory, requested: " +
                              std::to_string(req.memory_bytes) +
                              ", used: " + std::to_string(used.memory_bytes) +
                              ", capacity: " + std::to_string(memory));
  }
  return std::nullopt;
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

void Controllers::RunKubelet() {
  auto all_pods = store_.List("pods");
  std::map<std::string, Object> nodes;
  for (const auto& n : store_.List("nodes")) nodes[Name(*n)] = n;
  const SteadyTime now = clock_.Now();
  const std::string now_text = FormatRfc3339(clock_.WallNow());
  // Requests of the admitted pods per node, and the bound pods waiting for admission.
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
    Resources& u = used[node_name];
    auto failure =
        options_.kubelet_admission ? AdmissionFailure(*pod, *n->second, u) : std::nullopt;
    if (failure) {
      json next = *pod;
      next["status"]["phase"] = "Failed";
      next["status"]["reason"] = failure->first;
      next["status"]["message"] = failure->second;
      const std::string name = Name(next), ns = Namespace(next);
      CheckControllerWrite(
          registry_.Update(Served("pods"), ns, name, std::move(next), WriteMode::kDirect),
          "kubelet-reject", name);
      continue;
    }
    if (options_.kubelet_admission) u += EffectiveRequests(*pod);
    ready_at_[Uid(*pod)] = now + options_.pod_ready_delay;
  }
  MarkReady(all_pods, nodes, now, now_text);
}

void Controllers::MarkReady(const std::vector<ObjectStore::Object>& all_pods,
                            const std::map<std::string, ObjectStore::Object>& nodes, SteadyTime now,
                            const std::string& now_text) {
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
    CheckControllerWrite(
        registry_.Update(Served("pods"), ns, name, std::move(next), WriteMode::kDirect),
        "kubelet-ready", name);
  }
}

}  // namespace kb::sim
