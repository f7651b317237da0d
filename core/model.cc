#include "core/model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/json_reader.h"
#include "core/quantity.h"

namespace kb {
namespace {

// GCC/Clang extension; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;

using nlohmann::json;

bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Pod-level sum for requests or limits, following k8s.io/kubernetes resource helpers
// (PodRequests): regular containers add up, restartable ("sidecar") init containers add up and
// keep running during later init containers, and the pod needs the max of both phases.
template <class Get>
Resources PodTotal(const Pod& pod, Get get) {
  Resources sum;
  for (const Container& c : pod.containers) sum += get(c);
  Resources init_max;
  Resources sidecars;
  for (const Container& c : pod.init_containers) {
    Resources r = get(c);
    if (c.restartable) {
      sum += r;
      sidecars += r;
      r = sidecars;
    } else {
      r += sidecars;
    }
    init_max = Resources::Max(init_max, r);
  }
  Resources total = Resources::Max(sum, init_max);
  total += pod.overhead;
  total.pods = 1;
  return total;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Resources Resources::Max(const Resources& a, const Resources& b) {
  return Resources{std::max(a.cpu_millis, b.cpu_millis), std::max(a.memory_bytes, b.memory_bytes),
                   std::max(a.pods, b.pods)};
}

const OwnerReference* ObjectMeta::ControllerRef() const {
  for (const OwnerReference& o : owner_references) {
    if (o.controller) return &o;
  }
  return nullptr;
}

bool LabelSelector::Matches(const StringMap& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const LabelSelectorRequirement& r : match_expressions) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    if (r.op == "In") {
      // apimachinery rejects In/NotIn without values; an invalid selector matches nothing.
      if (r.values.empty()) return false;
      if (!has || !Contains(r.values, it->second)) return false;
    } else if (r.op == "NotIn") {
      if (r.values.empty()) return false;
      if (has && Contains(r.values, it->second)) return false;
    } else if (r.op == "Exists") {
      if (!r.values.empty()) return false;
      if (!has) return false;
    } else if (r.op == "DoesNotExist") {
      if (!r.values.empty()) return false;
      if (has) return false;
    } else {
      return false;
    }
  }
  return true;
}

namespace {
bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (*begin == '+') {  // strconv.ParseInt accepts one leading '+'
    ++begin;
    if (begin != end && *begin == '-') return false;
  }
  auto res = std::from_chars(begin, end, *out);
  return res.ec == std::errc() && res.ptr == end && begin != end;
}
}  // namespace

bool NodeSelectorRequirement::Matches(const StringMap& labels) const {
  auto it = labels.find(key);
  const bool has = it != labels.end();
  if (op == "In") {
    return !values.empty() && has && Contains(values, it->second);
  }
  if (op == "NotIn") {
    return !values.empty() && (!has || !Contains(values, it->second));
  }
  if (op == "Exists") return values.empty() && has;
  if (op == "DoesNotExist") return values.empty() && !has;
  if (op == "Gt" || op == "Lt") {
    int64_t want = 0;
    int64_t got = 0;
    // The value must also be a valid label value, so no sign: "-1" makes the term invalid.
    if (values.size() != 1 || values[0].empty() || !std::isdigit(values[0][0]) ||
        !ParseInt64(values[0], &want)) {
      return false;
    }
    if (!has || !ParseInt64(it->second, &got)) return false;
    return op == "Gt" ? got > want : got < want;
  }
  return false;
}

bool NodeSelectorTerm::Matches(const Node& node) const {
  if (match_expressions.empty() && match_fields.empty()) return false;
  for (const NodeSelectorRequirement& r : match_expressions) {
    if (!r.Matches(node.meta.labels)) return false;
  }
  if (!match_fields.empty()) {
    const StringMap fields = {{"metadata.name", node.meta.name}};
    for (const NodeSelectorRequirement& r : match_fields) {
      // Only metadata.name with In/NotIn and exactly one value is a valid field selector
      // (nodeSelectorRequirementsAsFieldSelector).
      if (r.key != "metadata.name" || (r.op != "In" && r.op != "NotIn") || r.values.size() != 1) {
        return false;
      }
      if (!r.Matches(fields)) return false;
    }
  }
  return true;
}

bool PodMatchesNodeAffinity(const Pod& pod, const Node& node) {
  for (const auto& [k, v] : pod.node_selector) {
    auto it = node.meta.labels.find(k);
    if (it == node.meta.labels.end() || it->second != v) return false;
  }
  if (pod.required_node_affinity.empty()) return !pod.required_node_affinity_set;
  for (const NodeSelectorTerm& term : pod.required_node_affinity) {
    if (term.Matches(node)) return true;
  }
  return false;
}

bool PodToleratesTaint(const Pod& pod, const Taint& taint) {
  return std::any_of(pod.tolerations.begin(), pod.tolerations.end(),
                     [&](const Toleration& t) { return t.Tolerates(taint); });
}

const Taint* FirstUntoleratedTaint(const Pod& pod, const Node& node) {
  for (const Taint& taint : node.taints) {
    if (taint.effect != "NoSchedule" && taint.effect != "NoExecute") continue;
    if (!PodToleratesTaint(pod, taint)) return &taint;
  }
  return nullptr;
}

int64_t IntOrPercent::Resolve(int64_t total, bool round_up) const {
  if (!is_percent) return value;
  Int128 prod = static_cast<Int128>(value) * total;
  Int128 q = prod / 100;
  Int128 rem = prod % 100;
  if (rem != 0 && round_up && prod > 0) q += 1;
  if (rem != 0 && !round_up && prod < 0) q -= 1;
  return static_cast<int64_t>(q);
}

bool Toleration::Tolerates(const Taint& taint) const {
  if (!effect.empty() && effect != taint.effect) return false;
  if (!key.empty() && key != taint.key) return false;
  if (op.empty() || op == "Equal") return value == taint.value;
  if (op == "Exists") return true;
  return false;
}

bool Node::InMaintenance() const {
  auto it = meta.labels.find(kMaintenanceLabel);
  return it != meta.labels.end() && it->second == "true";
}

std::string Node::InternalIP() const {
  for (const NodeAddress& a : addresses) {
    if (a.type == "InternalIP") return a.address;
  }
  return "";
}

Resources Pod::EffectiveRequest() const {
  return PodTotal(*this, [](const Container& c) { return c.requests; });
}

Resources Pod::EffectiveLimit() const {
  return PodTotal(*this, [](const Container& c) {
    Resources r;
    r.cpu_millis = c.limits.cpu_millis > 0 ? c.limits.cpu_millis : c.requests.cpu_millis;
    r.memory_bytes = c.limits.memory_bytes > 0 ? c.limits.memory_bytes : c.requests.memory_bytes;
    return r;
  });
}

bool Pod::IsMirror() const { return meta.annotations.count(kMirrorPodAnnotation) > 0; }

bool Pod::IsDaemonSetPod() const {
  const OwnerReference* ref = meta.ControllerRef();
  return ref != nullptr && ref->kind == "DaemonSet";
}

bool Pod::IsFinished() const { return phase == "Succeeded" || phase == "Failed"; }

bool Pod::IsReady() const {
  const PodCondition* c = Condition("Ready");
  return c != nullptr && c->status == "True";
}

const PodCondition* Pod::Condition(const std::string& type) const {
  for (const PodCondition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::optional<WallTime> Pod::ScheduledTime() const {
  const PodCondition* c = Condition("PodScheduled");
  if (c == nullptr || c->status != "True") return std::nullopt;
  return c->last_transition_time;
}

std::string NamespacedName(const ObjectMeta& meta) { return meta.namespace_ + "/" + meta.name; }

}  // namespace kb
