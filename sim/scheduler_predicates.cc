#include "sim/scheduler_predicates.h"

#include <algorithm>
#include <vector>

#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

// kube-scheduler's scoring defaults for containers without requests
// (pkg/scheduler/util/pod_resources.go).
constexpr int64_t kDefaultMilliCpuRequest = 100;
constexpr int64_t kDefaultMemoryRequest = 200 * 1024 * 1024;

// max(sum of `containers`, each init container) + overhead, each container's request given by
// `request`.
template <class Request>
Resources SumRequests(const json& pod, Request request) {
  Resources sum;
  const json& containers = At(pod, {"spec", "containers"});
  if (containers.is_array()) {
    for (const json& c : containers) sum += request(c);
  }
  const json& init = At(pod, {"spec", "initContainers"});
  if (init.is_array()) {
    for (const json& c : init) sum = Resources::Max(sum, request(c));
  }
  const json& overhead = At(pod, {"spec", "overhead"});
  sum.cpu_millis += std::max<int64_t>(0, QuantityAt(overhead, "cpu", true).value_or(0));
  sum.memory_bytes += std::max<int64_t>(0, QuantityAt(overhead, "memory", false).value_or(0));
  sum.pods = 1;
  return sum;
}

}  // namespace

Resources EffectiveRequests(const json& pod) {
  return SumRequests(pod, [](const json& c) {
    const json& req = At(c, {"resources", "requests"});
    return Resources{QuantityAt(req, "cpu", true).value_or(0),
                     QuantityAt(req, "memory", false).value_or(0), 0};
  });
}

Resources NonZeroRequests(const json& pod) {
  return SumRequests(pod, [](const json& c) {
    const json& req = At(c, {"resources", "requests"});
    return Resources{QuantityAt(req, "cpu", true).value_or(kDefaultMilliCpuRequest),
                     QuantityAt(req, "memory", false).value_or(kDefaultMemoryRequest), 0};
  });
}

NodeInfo::NodeInfo(const json& node_object) : node(&node_object), name(Name(node_object)) {
  const json& alloc = At(node_object, {"status", "allocatable"});
  allocatable.cpu_millis = std::max<int64_t>(0, QuantityAt(alloc, "cpu", true).value_or(0));
  allocatable.memory_bytes = std::max<int64_t>(0, QuantityAt(alloc, "memory", false).value_or(0));
  allocatable.pods = std::max<int64_t>(0, QuantityAt(alloc, "pods", false).value_or(0));
}

void NodeInfo::AddPod(const json& pod) {
  pods.push_back(&pod);
  Add(EffectiveRequests(pod), NonZeroRequests(pod));
}

void NodeInfo::Add(const Resources& request, const Resources& nonzero_request) {
  requested += request;
  nonzero.cpu_millis += nonzero_request.cpu_millis;
  nonzero.memory_bytes += nonzero_request.memory_bytes;
}

int64_t LeastAllocatedScore(const Resources& nonzero_request, const NodeInfo& n) {
  auto score = [](int64_t requested, int64_t capacity) -> int64_t {
    if (capacity <= 0 || requested > capacity) return 0;
    return (capacity - requested) * kMaxNodeScore / capacity;
  };
  const int64_t cpu =
      score(n.nonzero.cpu_millis + nonzero_request.cpu_millis, n.allocatable.cpu_millis);
  const int64_t mem =
      score(n.nonzero.memory_bytes + nonzero_request.memory_bytes, n.allocatable.memory_bytes);
  return (cpu + mem) / 2;
}

std::string DiagnosisMessage(size_t total, const std::map<std::string, int>& reasons) {
  std::vector<std::string> parts;
  for (const auto& [reason, count] : reasons) parts.push_back(std::to_string(count) + " " + reason);
  std::sort(parts.begin(), parts.end());
  std::string msg = "0/" + std::to_string(total) + " nodes are available";
  for (size_t i = 0; i < parts.size(); ++i) msg += (i == 0 ? ": " : ", ") + parts[i];
  return msg + ".";
}

}  // namespace kb::sim
