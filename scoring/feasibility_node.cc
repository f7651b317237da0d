// Node-local filters: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity
// (plugins/nodeunschedulable, nodename, tainttoleration, nodeaffinity), NodePorts
// (plugins/nodeports) and NodeResourcesFit (plugins/noderesources/fit.go) of kube-scheduler v1.26.
#include <algorithm>

#include "scoring/feasibility_internal.h"

namespace kb::scoring {

namespace {

constexpr char kUnschedulableTaintKey[] = "node.kubernetes.io/unschedulable";
constexpr char kBindAllHostIP[] = "0.0.0.0";
constexpr char kEphemeralStorage[] = "ephemeral-storage";

void MaxScalars(ScalarResources& into, const ScalarResources& from) {
  for (const auto& [name, v] : from) {
    if (!CountedScalar(name)) continue;
    int64_t& cur = into[name];
    cur = std::max(cur, v);
  }
}

void SumScalars(ScalarResources& into, const ScalarResources& from) {
  for (const auto& [name, v] : from) {
    if (CountedScalar(name)) into[name] += v;
  }
}

int64_t Get(const ScalarResources& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? 0 : it->second;
}

// "Insufficient <name>": the request does not fit the free amount (allocatable - requested).
bool Exceeds(int64_t want, int64_t allocatable, int64_t requested) {
  return want > 0 && want > allocatable - requested;
}

}  // namespace

bool CountedScalar(const std::string& name) {
  if (name == kEphemeralStorage) return true;
  return name.find('/') != std::string::npos || name.rfind("hugepages-", 0) == 0 ||
         name.rfind("attachable-volumes-", 0) == 0;
}

void PodRequest(const Pod& pod, Resources* request, ScalarResources* scalars) {
  // cpu and memory: Pod::EffectiveRequest (max(sum of app containers, each init container) +
  // overhead; a v1.26 API server never sets an init container's restartPolicy).
  *request = pod.EffectiveRequest();
  scalars->clear();
  for (const Container& c : pod.containers) SumScalars(*scalars, c.scalar_requests);
  for (const Container& c : pod.init_containers) MaxScalars(*scalars, c.scalar_requests);
  SumScalars(*scalars, pod.scalar_overhead);
}

std::vector<HostPort> SanitizedHostPorts(const Pod& pod) {
  std::vector<HostPort> out;
  for (const Container& c : pod.containers) {
    for (const HostPort& p : c.host_ports) {
      if (p.port <= 0) continue;
      HostPort s = p;
      if (s.host_ip.empty()) s.host_ip = kBindAllHostIP;
      if (s.protocol.empty()) s.protocol = "TCP";
      out.push_back(std::move(s));
    }
  }
  return out;
}

void PrepareResources(const Pod& pod, PreparedPod* out) {
  PodRequest(pod, &out->request, &out->scalars);
  out->ports = SanitizedHostPorts(pod);
}

Fit FilterNodeBasics(const PreparedPod& p, const Node& node) {
  const Pod& pod = *p.pod;
  if (node.unschedulable &&
      !PodToleratesTaint(pod, Taint{kUnschedulableTaintKey, "", "NoSchedule"})) {
    return Fail(FilterPlugin::kNodeUnschedulable, FitReason::kNodeUnschedulable,
                "node(s) were unschedulable");
  }
  if (!p.options.moving && !pod.node_name.empty() && pod.node_name != node.meta.name) {
    return Fail(FilterPlugin::kNodeName, FitReason::kNodeNameMismatch,
                "node(s) didn't match the requested node name");
  }
  if (const Taint* t = FirstUntoleratedTaint(pod, node)) {
    return Fail(FilterPlugin::kTaintToleration, FitReason::kUntoleratedTaint,
                "node(s) had untolerated taint {" + t->key + ": " + t->value + "}");
  }
  if (!PodMatchesNodeAffinity(pod, node)) {
    return Fail(FilterPlugin::kNodeAffinity, FitReason::kNodeAffinityMismatch,
                "node(s) didn't match Pod's node affinity/selector");
  }
  return Fit{};
}

// HostPortInfo.CheckConflict: a wanted 0.0.0.0 port conflicts with the same protocol/port on any
// IP; a specific IP conflicts with the same IP or 0.0.0.0.
Fit FilterNodePorts(const PreparedPod& p, const NodeSlot& slot) {
  for (const HostPort& want : p.ports) {
    for (const HostPort& used : slot.ports) {
      if (used.port != want.port || used.protocol != want.protocol) continue;
      if (want.host_ip == kBindAllHostIP || used.host_ip == kBindAllHostIP ||
          used.host_ip == want.host_ip) {
        return Fail(FilterPlugin::kNodePorts, FitReason::kHostPortConflict,
                    "node(s) didn't have free ports for the requested pod ports");
      }
    }
  }
  return Fit{};
}

// fitsRequest: the pod count first, then (only if the pod requests anything) cpu, memory,
// ephemeral-storage and each scalar resource (in name order here; kube-scheduler reports them
// all).
Fit FilterResources(const PreparedPod& p, const NodeSlot& slot) {
  const Node& node = *slot.node;
  auto fail = [](FitReason reason, const std::string& what) {
    return Fail(FilterPlugin::kNodeResourcesFit, reason,
                what == "pods" ? "Too many pods" : "Insufficient " + what);
  };
  if (slot.pods + 1 > node.allocatable.pods) return fail(FitReason::kTooManyPods, "pods");
  const Resources& r = p.request;
  if (Exceeds(r.cpu_millis, node.allocatable.cpu_millis, slot.requested.cpu_millis)) {
    return fail(FitReason::kInsufficientCpu, "cpu");
  }
  if (Exceeds(r.memory_bytes, node.allocatable.memory_bytes, slot.requested.memory_bytes)) {
    return fail(FitReason::kInsufficientMemory, "memory");
  }
  const int64_t eph = Get(p.scalars, kEphemeralStorage);
  if (Exceeds(eph, Get(node.scalar_allocatable, kEphemeralStorage),
              Get(slot.scalars, kEphemeralStorage))) {
    return fail(FitReason::kInsufficientEphemeralStorage, kEphemeralStorage);
  }
  for (const auto& [name, want] : p.scalars) {
    if (name == kEphemeralStorage) continue;
    if (Exceeds(want, Get(node.scalar_allocatable, name), Get(slot.scalars, name))) {
      return fail(FitReason::kInsufficientScalar, name);
    }
  }
  return Fit{};
}

}  // namespace kb::scoring
