// ClusterState: the per-cycle indexes, Prepare (PreFilter) and Check (Filter in the default
// profile's order). The plugins live in feasibility_node.cc, feasibility_volume.cc and
// feasibility_topology.cc.
#include <algorithm>

#include "scoring/feasibility_internal.h"

namespace kb::scoring {

namespace {

// The canonical text of an anti-affinity term (its group key, with the owner's namespace).
std::string SelectorText(const std::optional<LabelSelector>& s) {
  if (!s) return "~";
  std::string out = "{";
  for (const auto& [k, v] : s->match_labels) out += k + "=" + v + ",";
  out += "|";
  for (const LabelSelectorRequirement& r : s->match_expressions) {
    out += r.key + " " + r.op + " (";
    for (const std::string& v : r.values) out += v + ",";
    out += ");";
  }
  return out + "}";
}

std::string TermText(const std::string& owner_ns, const PodAffinityTerm& t) {
  std::string out = owner_ns + "\n" + t.topology_key + "\n" + SelectorText(t.label_selector) +
                    "\n" + SelectorText(t.namespace_selector) + "\n";
  for (const std::string& ns : t.namespaces) out += ns + ",";
  return out;
}

void AddScalars(ScalarResources& into, const ScalarResources& from, int sign) {
  for (const auto& [name, v] : from) into[name] += sign * v;
}

}  // namespace

std::string PairKey(const std::string& key, const std::string& value) {
  std::string out;
  out.reserve(key.size() + value.size() + 1);
  out += key;
  out += '\x1f';
  out += value;
  return out;
}

Fit Fail(FilterPlugin plugin, FitReason reason, std::string message) {
  Fit f;
  f.plugin = plugin;
  f.reason = reason;
  f.message = std::move(message);
  return f;
}

const char* FilterPluginName(FilterPlugin plugin) {
  switch (plugin) {
    case FilterPlugin::kNone:
      return "none";
    case FilterPlugin::kNodeUnschedulable:
      return "NodeUnschedulable";
    case FilterPlugin::kNodeName:
      return "NodeName";
    case FilterPlugin::kTaintToleration:
      return "TaintToleration";
    case FilterPlugin::kNodeAffinity:
      return "NodeAffinity";
    case FilterPlugin::kNodePorts:
      return "NodePorts";
    case FilterPlugin::kNodeResourcesFit:
      return "NodeResourcesFit";
    case FilterPlugin::kVolumeBinding:
      return "VolumeBinding";
    case FilterPlugin::kVolumeZone:
      return "VolumeZone";
    case FilterPlugin::kPodTopologySpread:
      return "PodTopologySpread";
    case FilterPlugin::kInterPodAffinity:
      return "InterPodAffinity";
  }
  return "none";
}

const char* FitReasonName(FitReason reason) {
  switch (reason) {
    case FitReason::kNone:
      return "None";
    case FitReason::kNodeUnschedulable:
      return "NodeUnschedulable";
    case FitReason::kNodeNameMismatch:
      return "NodeNameMismatch";
    case FitReason::kUntoleratedTaint:
      return "UntoleratedTaint";
    case FitReason::kNodeAffinityMismatch:
      return "NodeAffinityMismatch";
    case FitReason::kHostPortConflict:
      return "HostPortConflict";
    case FitReason::kTooManyPods:
      return "TooManyPods";
    case FitReason::kInsufficientCpu:
      return "InsufficientCpu";
    case FitReason::kInsufficientMemory:
      return "InsufficientMemory";
    case FitReason::kInsufficientEphemeralStorage:
      return "InsufficientEphemeralStorage";
    case FitReason::kInsufficientScalar:
      return "InsufficientScalarResource";
    case FitReason::kPvcNotFound:
      return "PvcNotFound";
    case FitReason::kPvcDeleting:
      return "PvcDeleting";
    case FitReason::kUnboundImmediatePvc:
      return "UnboundImmediatePvc";
    case FitReason::kVolumeNodeConflict:
      return "VolumeNodeConflict";
    case FitReason::kVolumeBindConflict:
      return "VolumeBindConflict";
    case FitReason::kPvNotExist:
      return "PvNotExist";
    case FitReason::kVolumeZoneConflict:
      return "VolumeZoneConflict";
    case FitReason::kSpreadMissingLabel:
      return "SpreadMissingLabel";
    case FitReason::kSpreadSkew:
      return "SpreadSkew";
    case FitReason::kAffinityNotMatch:
      return "AffinityNotMatch";
    case FitReason::kAntiAffinityNotMatch:
      return "AntiAffinityNotMatch";
    case FitReason::kExistingAntiAffinityNotMatch:
      return "ExistingAntiAffinityNotMatch";
  }
  return "None";
}

// ---- Impl ----

const Namespace* ClusterState::Impl::FindNamespace(const std::string& name) const {
  return ClusterSnapshot::Find(snapshot->namespaces, name).get();
}

const NamespaceIndex& ClusterState::Impl::PodsIn(const std::string& ns) const {
  auto it = by_namespace.find(ns);
  if (it != by_namespace.end()) return it->second;
  NamespaceIndex& index = by_namespace[ns];
  auto pods = namespace_pods.find(ns);
  if (pods == namespace_pods.end()) return index;
  index.all = pods->second;
  for (const PodRef& r : index.all) {
    for (const auto& [k, v] : r.pod->meta.labels) index.by_label[PairKey(k, v)].push_back(r);
  }
  return index;
}

void ClusterState::Impl::AddPod(const Pod& pod, uint32_t node, int sign) {
  NodeSlot& slot = nodes[node];
  Resources request;
  ScalarResources scalars;
  PodRequest(pod, &request, &scalars);
  if (sign > 0) {
    slot.requested += request;
  } else {
    slot.requested -= request;
  }
  AddScalars(slot.scalars, scalars, sign);
  slot.pods += sign;
  for (const HostPort& p : SanitizedHostPorts(pod)) {
    if (sign > 0) {
      slot.ports.push_back(p);
      continue;
    }
    auto it = std::find_if(slot.ports.begin(), slot.ports.end(), [&](const HostPort& q) {
      return q.port == p.port && q.protocol == p.protocol && q.host_ip == p.host_ip;
    });
    if (it != slot.ports.end()) slot.ports.erase(it);
  }
  const PodRef ref{&pod, node};
  std::vector<PodRef>& on = pods_on[node];
  auto same = [&](const PodRef& r) { return r.pod->meta.uid == pod.meta.uid && r.node == node; };
  std::vector<PodRef>& in_ns = namespace_pods[pod.meta.namespace_];
  if (sign > 0) {
    on.push_back(ref);
    in_ns.push_back(ref);
  } else {
    on.erase(std::remove_if(on.begin(), on.end(), same), on.end());
    in_ns.erase(std::remove_if(in_ns.begin(), in_ns.end(), same), in_ns.end());
  }
  if (auto it = by_namespace.find(pod.meta.namespace_); it != by_namespace.end()) {
    NamespaceIndex& index = it->second;
    auto update = [&](std::vector<PodRef>& v) {
      if (sign > 0) {
        v.push_back(ref);
      } else {
        v.erase(std::remove_if(v.begin(), v.end(), same), v.end());
      }
    };
    update(index.all);
    for (const auto& [k, v] : pod.meta.labels) update(index.by_label[PairKey(k, v)]);
  }
  for (const PodAffinityTerm& term : pod.required_pod_anti_affinity) {
    const std::string key = TermText(pod.meta.namespace_, term);
    auto [it, added] = anti_group_index.emplace(key, anti_groups.size());
    if (added) anti_groups.push_back(AntiGroup{&term, pod.meta.namespace_, {}});
    AntiGroup& group = anti_groups[it->second];
    const StringMap& labels = slot.node->meta.labels;
    if (auto l = labels.find(term.topology_key); l != labels.end()) {
      group.by_domain[l->second] += sign;
    }
  }
}

// ---- ClusterState ----

ClusterState::ClusterState(std::shared_ptr<const ClusterSnapshot> snapshot, FeatureGates gates)
    : snapshot_(std::move(snapshot)), gates_(gates), impl_(std::make_unique<Impl>()) {
  impl_->snapshot = snapshot_.get();
  impl_->gates = gates_;
  if (snapshot_->nodes) {
    impl_->nodes.reserve(snapshot_->nodes->size());
    for (const auto& [name, node] : *snapshot_->nodes) {
      impl_->node_index.emplace(name, static_cast<uint32_t>(impl_->nodes.size()));
      NodeSlot slot;
      slot.node = node;
      impl_->nodes.push_back(std::move(slot));
    }
  }
  impl_->pods_on.resize(impl_->nodes.size());
  if (!snapshot_->pods_by_node) return;
  for (const auto& [node, pods] : *snapshot_->pods_by_node) {
    auto it = impl_->node_index.find(node);
    if (node.empty() || it == impl_->node_index.end()) continue;
    impl_->pods_on[it->second].reserve(pods->size());
    // kube-scheduler's pod informer leaves out Succeeded and Failed pods.
    for (const PodPtr& pod : *pods) {
      if (!pod->IsFinished()) impl_->AddPod(*pod, it->second, +1);
    }
  }
}

ClusterState::~ClusterState() = default;

std::shared_ptr<const PreparedPod> ClusterState::Prepare(const Pod& pod,
                                                         CheckOptions options) const {
  auto p = std::make_shared<PreparedPod>();
  p->pod = &pod;
  p->options = options;
  PrepareResources(pod, p.get());
  PrepareVolumes(*snapshot_, pod, p.get());
  PrepareSpread(*impl_, pod, p.get());
  PrepareInterPodAffinity(*impl_, pod, p.get());
  return p;
}

Fit ClusterState::Check(const PreparedPod& p, const std::string& node) const {
  if (!p.prefilter.ok()) return p.prefilter;
  auto it = impl_->node_index.find(node);
  if (it == impl_->node_index.end()) {
    return Fail(FilterPlugin::kNodeName, FitReason::kNodeNameMismatch,
                "node \"" + node + "\" not found");
  }
  const NodeSlot& slot = impl_->nodes[it->second];
  const Node& n = *slot.node;
  Fit f = FilterNodeBasics(p, n);
  if (f.ok()) f = FilterNodePorts(p, slot);
  if (f.ok()) f = FilterResources(p, slot);
  if (f.ok()) f = FilterVolumes(*snapshot_, p, n);
  if (f.ok()) f = FilterSpread(p, n);
  if (f.ok()) f = FilterInterPodAffinity(p, n);
  return f;
}

Fit ClusterState::Check(const Pod& pod, const std::string& node, CheckOptions options) const {
  return Check(*Prepare(pod, options), node);
}

void ClusterState::Move(const PodPtr& pod, const std::string& from, const std::string& to) {
  if (auto it = impl_->node_index.find(from); it != impl_->node_index.end()) {
    impl_->AddPod(*pod, it->second, -1);
  }
  if (auto it = impl_->node_index.find(to); it != impl_->node_index.end()) {
    impl_->keep_alive.push_back(pod);
    impl_->AddPod(*pod, it->second, +1);
  }
}

}  // namespace kb::scoring
