#include "sim/scheduler_predicates.h"

#include <algorithm>
#include <cstdlib>
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

// labels.Requirement for node-affinity expressions: In, NotIn, Exists, DoesNotExist, Gt, Lt
// (Gt / Lt compare integers); an unknown operator matches nothing.
bool ExpressionMatches(const json& e, const json& labels) {
  const std::string key = e.value("key", "");
  const std::string op = e.value("operator", "");
  std::vector<std::string> values;
  if (e.contains("values") && e["values"].is_array()) {
    for (const json& v : e["values"]) {
      if (v.is_string()) values.push_back(v.get<std::string>());
    }
  }
  const bool has = labels.is_object() && labels.contains(key);
  std::string value;
  if (has) value = labels[key].is_string() ? labels[key].get<std::string>() : labels[key].dump();
  const bool listed = std::find(values.begin(), values.end(), value) != values.end();
  if (op == "In") return has && listed;
  if (op == "NotIn") return !has || !listed;
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    if (!has || values.size() != 1) return false;
    char* end = nullptr;
    const long long have = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') return false;
    const long long want = std::strtoll(values[0].c_str(), nullptr, 10);
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

bool ExpressionsMatch(const json& exprs, const json& labels) {
  if (!exprs.is_array()) return true;
  for (const json& e : exprs) {
    if (!ExpressionMatches(e, labels)) return false;
  }
  return true;
}

bool Tolerates(const json& toleration, const json& taint) {
  const std::string effect = toleration.value("effect", "");
  if (!effect.empty() && effect != taint.value("effect", "")) return false;
  const std::string key = toleration.value("key", "");
  const std::string op = toleration.value("operator", "Equal");
  if (key.empty()) return op == "Exists";  // empty key + Exists tolerates everything
  if (key != taint.value("key", "")) return false;
  if (op == "Exists") return true;
  return toleration.value("value", "") == taint.value("value", "");
}

bool ToleratesAll(const json& pod, const json& taint) {
  const json& tolerations = At(pod, {"spec", "tolerations"});
  if (!tolerations.is_array()) return false;
  for (const json& t : tolerations) {
    if (t.is_object() && Tolerates(t, taint)) return true;
  }
  return false;
}

// The first NoSchedule / NoExecute taint the pod does not tolerate (null when none).
json UntoleratedTaint(const json& pod, const NodeInfo& n) {
  const json& taints = At(*n.node, {"spec", "taints"});
  if (!taints.is_array()) return nullptr;
  for (const json& taint : taints) {
    const std::string effect = taint.value("effect", "");
    if (effect != "NoSchedule" && effect != "NoExecute") continue;
    if (!ToleratesAll(pod, taint)) return taint;
  }
  return nullptr;
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

bool MatchesNodeAffinity(const json& pod, const json& node) {
  const json& labels = At(node, {"metadata", "labels"});
  const json& selector = At(pod, {"spec", "nodeSelector"});
  if (selector.is_object()) {
    for (const auto& [k, v] : selector.items()) {
      if (!labels.is_object() || !labels.contains(k) || labels[k] != v) return false;
    }
  }
  const json& required = At(
      pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (required.is_null()) return true;
  const json& terms = At(required, {"nodeSelectorTerms"});
  if (!terms.is_array()) return false;
  const json fields = {{"metadata.name", Name(node)}};
  for (const json& term : terms) {
    const json& exprs = At(term, {"matchExpressions"});
    const json& field_exprs = At(term, {"matchFields"});
    const bool empty =
        (!exprs.is_array() || exprs.empty()) && (!field_exprs.is_array() || field_exprs.empty());
    if (empty) continue;  // an empty term matches no node
    if (ExpressionsMatch(exprs, labels.is_object() ? labels : json::object()) &&
        ExpressionsMatch(field_exprs, fields)) {
      return true;
    }
  }
  return false;
}

NodeInfo::NodeInfo(const json& node_object) : node(&node_object), name(Name(node_object)) {
  const json& alloc = At(node_object, {"status", "allocatable"});
  allocatable.cpu_millis = std::max<int64_t>(0, QuantityAt(alloc, "cpu", true).value_or(0));
  allocatable.memory_bytes = std::max<int64_t>(0, QuantityAt(alloc, "memory", false).value_or(0));
  allocatable.pods = std::max<int64_t>(0, QuantityAt(alloc, "pods", false).value_or(0));
}

void NodeInfo::Add(const Resources& request, const Resources& nonzero_request) {
  requested += request;
  nonzero.cpu_millis += nonzero_request.cpu_millis;
  nonzero.memory_bytes += nonzero_request.memory_bytes;
}

std::string InTreeFilter(const json& pod, const Resources& request, const NodeInfo& n) {
  if (At(*n.node, {"spec", "unschedulable"}) == true &&
      !ToleratesAll(pod,
                    json{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}})) {
    return "node(s) were unschedulable";
  }
  if (!MatchesNodeAffinity(pod, *n.node))
    return "node(s) didn't match Pod's node affinity/selector";
  json taint = UntoleratedTaint(pod, n);
  if (!taint.is_null()) {
    std::string kv = taint.value("key", "");
    if (!taint.value("value", "").empty()) kv += ": " + taint.value("value", "");
    return "node(s) had untolerated taint {" + kv + "}";
  }
  if (n.requested.pods + 1 > n.allocatable.pods) return "Too many pods";
  if (request.cpu_millis > 0 &&
      n.requested.cpu_millis + request.cpu_millis > n.allocatable.cpu_millis) {
    return "Insufficient cpu";
  }
  if (request.memory_bytes > 0 &&
      n.requested.memory_bytes + request.memory_bytes > n.allocatable.memory_bytes) {
    return "Insufficient memory";
  }
  return "";
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
