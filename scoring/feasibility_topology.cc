// InterPodAffinity (plugins/interpodaffinity/filtering.go) and PodTopologySpread
// (plugins/podtopologyspread/filtering.go) of kube-scheduler v1.26: PreFilter counts over the
// per-cycle indexes, Filter per node.
#include <algorithm>
#include <climits>

#include "scoring/feasibility_internal.h"

namespace kb::scoring {

namespace {

using Counts = std::unordered_map<std::string, int64_t>;

const std::string* Label(const StringMap& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

// The smallest index bucket that holds every pod `selector` can match (a matchLabels pair or a
// one-value In), or all pods of the namespace.
const std::vector<PodRef>& Candidates(const NamespaceIndex& index, const LabelSelector& selector) {
  static const std::vector<PodRef> kNone;
  const std::vector<PodRef>* best = &index.all;
  auto consider = [&](const std::string& k, const std::string& v) {
    auto it = index.by_label.find(PairKey(k, v));
    const std::vector<PodRef>& bucket = it == index.by_label.end() ? kNone : it->second;
    if (bucket.size() < best->size()) best = &bucket;
  };
  for (const auto& [k, v] : selector.match_labels) consider(k, v);
  for (const LabelSelectorRequirement& r : selector.match_expressions) {
    if (r.op == "In" && r.values.size() == 1) consider(r.key, r.values[0]);
  }
  return *best;
}

bool Excluded(const PreparedPod& p, const Pod& other) {
  return p.options.moving && other.meta.uid == p.pod->meta.uid;
}

// The namespaces an incoming pod's term reaches: its explicit ones plus, with a
// namespaceSelector, every known namespace whose labels match.
std::vector<std::string> TermNamespaces(const ClusterState::Impl& impl, const ResolvedTerm& t) {
  std::vector<std::string> out = t.namespaces;
  if (t.term->namespace_selector && impl.snapshot->namespaces) {
    for (const auto& [name, ns] : *impl.snapshot->namespaces) {
      if (t.term->namespace_selector->Matches(ns->meta.labels)) out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const StringMap* NamespaceLabels(const ClusterState::Impl& impl, const std::string& ns) {
  const Namespace* n = impl.FindNamespace(ns);
  return n == nullptr ? nullptr : &n->meta.labels;
}

void CountIncomingTerms(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out) {
  // Affinity: pods matching all terms count in every term's domain.
  if (!out->affinity.empty() && out->affinity[0].term->label_selector) {
    for (const std::string& ns : TermNamespaces(impl, out->affinity[0])) {
      const StringMap* ns_labels = NamespaceLabels(impl, ns);
      for (const PodRef& r : Candidates(impl.PodsIn(ns), *out->affinity[0].term->label_selector)) {
        if (Excluded(*out, *r.pod)) continue;
        const bool all = std::all_of(
            out->affinity.begin(), out->affinity.end(),
            [&](const ResolvedTerm& t) { return TermMatches(t, *r.pod, ns_labels, true); });
        if (!all) continue;
        const StringMap& labels = impl.nodes[r.node].node->meta.labels;
        for (const ResolvedTerm& t : out->affinity) {
          if (const std::string* v = Label(labels, t.term->topology_key)) {
            ++out->affinity_counts[PairKey(t.term->topology_key, *v)];
          }
        }
      }
    }
  }
  // Anti-affinity: each term on its own.
  for (const ResolvedTerm& t : out->anti_affinity) {
    if (!t.term->label_selector) continue;
    for (const std::string& ns : TermNamespaces(impl, t)) {
      const StringMap* ns_labels = NamespaceLabels(impl, ns);
      for (const PodRef& r : Candidates(impl.PodsIn(ns), *t.term->label_selector)) {
        if (Excluded(*out, *r.pod) || !TermMatches(t, *r.pod, ns_labels, true)) continue;
        const StringMap& labels = impl.nodes[r.node].node->meta.labels;
        if (const std::string* v = Label(labels, t.term->topology_key)) {
          ++out->anti_counts[PairKey(t.term->topology_key, *v)];
        }
      }
    }
  }
  (void)pod;
}

void CountExistingAntiAffinity(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out) {
  const StringMap* ns_labels = NamespaceLabels(impl, pod.meta.namespace_);
  for (const AntiGroup& g : impl.anti_groups) {
    const ResolvedTerm t = Resolve(*g.term, g.owner_namespace);
    if (!TermMatches(t, pod, ns_labels, false)) continue;
    for (const auto& [value, n] : g.by_domain) {
      if (n > 0) out->existing_anti_counts[PairKey(g.term->topology_key, value)] += n;
    }
  }
  // A moving pod's own terms leave with it.
  if (!out->options.moving) return;
  auto node = impl.node_index.find(pod.node_name);
  if (node == impl.node_index.end()) return;
  const StringMap& labels = impl.nodes[node->second].node->meta.labels;
  for (const PodAffinityTerm& term : pod.required_pod_anti_affinity) {
    const ResolvedTerm t = Resolve(term, pod.meta.namespace_);
    if (!TermMatches(t, pod, ns_labels, false)) continue;
    if (const std::string* v = Label(labels, term.topology_key)) {
      --out->existing_anti_counts[PairKey(term.topology_key, *v)];
    }
  }
}

}  // namespace

ResolvedTerm Resolve(const PodAffinityTerm& term, const std::string& owner_namespace) {
  ResolvedTerm r;
  r.term = &term;
  r.namespaces = term.namespaces;
  if (term.namespaces.empty() && !term.namespace_selector) r.namespaces.push_back(owner_namespace);
  return r;
}

bool TermMatches(const ResolvedTerm& t, const Pod& pod, const StringMap* ns_labels,
                 bool selector_needs_known_namespace) {
  bool ns_ok = std::find(t.namespaces.begin(), t.namespaces.end(), pod.meta.namespace_) !=
               t.namespaces.end();
  if (!ns_ok && t.term->namespace_selector) {
    static const StringMap kNoLabels;
    if (ns_labels != nullptr) {
      ns_ok = t.term->namespace_selector->Matches(*ns_labels);
    } else if (!selector_needs_known_namespace) {
      ns_ok = t.term->namespace_selector->Matches(kNoLabels);
    }
  }
  return ns_ok && t.term->label_selector && t.term->label_selector->Matches(pod.meta.labels);
}

void PrepareInterPodAffinity(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out) {
  for (const PodAffinityTerm& t : pod.required_pod_affinity) {
    out->affinity.push_back(Resolve(t, pod.meta.namespace_));
  }
  for (const PodAffinityTerm& t : pod.required_pod_anti_affinity) {
    out->anti_affinity.push_back(Resolve(t, pod.meta.namespace_));
  }
  CountIncomingTerms(impl, pod, out);
  CountExistingAntiAffinity(impl, pod, out);
  // podMatchesAllAffinityTerms(terms, pod): false without terms.
  const StringMap* ns_labels = NamespaceLabels(impl, pod.meta.namespace_);
  out->self_affine =
      !out->affinity.empty() &&
      std::all_of(out->affinity.begin(), out->affinity.end(),
                  [&](const ResolvedTerm& t) { return TermMatches(t, pod, ns_labels, true); });
}

Fit FilterInterPodAffinity(const PreparedPod& p, const Node& node) {
  const StringMap& labels = node.meta.labels;
  // satisfyPodAffinity: every term's topology label must be on the node; a domain without a
  // matching pod fails unless no pod matches anywhere and the pod matches its own terms.
  bool pods_exist = true;
  for (const ResolvedTerm& t : p.affinity) {
    const std::string* v = Label(labels, t.term->topology_key);
    if (v == nullptr) {
      return Fail(FilterPlugin::kInterPodAffinity, FitReason::kAffinityNotMatch,
                  "node(s) didn't match pod affinity rules");
    }
    auto it = p.affinity_counts.find(PairKey(t.term->topology_key, *v));
    if (it == p.affinity_counts.end() || it->second <= 0) pods_exist = false;
  }
  if (!pods_exist && !(p.affinity_counts.empty() && p.self_affine)) {
    return Fail(FilterPlugin::kInterPodAffinity, FitReason::kAffinityNotMatch,
                "node(s) didn't match pod affinity rules");
  }
  if (!p.anti_counts.empty()) {
    for (const ResolvedTerm& t : p.anti_affinity) {
      const std::string* v = Label(labels, t.term->topology_key);
      if (v == nullptr) continue;
      auto it = p.anti_counts.find(PairKey(t.term->topology_key, *v));
      if (it != p.anti_counts.end() && it->second > 0) {
        return Fail(FilterPlugin::kInterPodAffinity, FitReason::kAntiAffinityNotMatch,
                    "node(s) didn't match pod anti-affinity rules");
      }
    }
  }
  if (!p.existing_anti_counts.empty()) {
    for (const auto& [k, v] : labels) {
      auto it = p.existing_anti_counts.find(PairKey(k, v));
      if (it != p.existing_anti_counts.end() && it->second > 0) {
        return Fail(FilterPlugin::kInterPodAffinity, FitReason::kExistingAntiAffinityNotMatch,
                    "node(s) didn't satisfy existing pods anti-affinity rules");
      }
    }
  }
  return Fit{};
}

// ---- PodTopologySpread ----

namespace {

// The constraint's selector with matchLabelKeys merged (key In [the pod's value]).
std::optional<LabelSelector> SpreadSelector(const TopologySpreadConstraint& c, const Pod& pod,
                                            const FeatureGates& gates) {
  std::optional<LabelSelector> s = c.label_selector;
  if (!s || !gates.match_label_keys_in_pod_topology_spread) return s;
  for (const std::string& key : c.match_label_keys) {
    if (const std::string* v = Label(pod.meta.labels, key)) {
      s->match_expressions.push_back({key, "In", {*v}});
    }
  }
  return s;
}

// matchNodeInclusionPolicies: nodeAffinityPolicy (default Honor) and nodeTaintsPolicy (default
// Ignore).
bool NodeIncluded(const TopologySpreadConstraint& c, const Pod& pod, const Node& node) {
  if (c.node_affinity_policy != "Ignore" && !PodMatchesNodeAffinity(pod, node)) return false;
  if (c.node_taints_policy == "Honor" && FirstUntoleratedTaint(pod, node) != nullptr) return false;
  return true;
}

}  // namespace

void PrepareSpread(const ClusterState::Impl& impl, const Pod& pod, PreparedPod* out) {
  for (const TopologySpreadConstraint& c : pod.topology_spread_constraints) {
    if (c.when_unsatisfiable != "DoNotSchedule") continue;
    SpreadState s;
    s.constraint = &c;
    s.selector = SpreadSelector(c, pod, impl.gates);
    s.self_match = s.selector && s.selector->Matches(pod.meta.labels);
    out->spread.push_back(std::move(s));
  }
  if (out->spread.empty()) return;
  out->min_domains_gate = impl.gates.min_domains_in_pod_topology_spread;
  const size_t n = impl.nodes.size();
  for (const SpreadState& s : out->spread) {
    // Matching, non-terminating pods of the pod's namespace per node (an empty selector counts
    // none, as countPodsMatchSelector).
    std::vector<int64_t> per_node(n, 0);
    if (s.selector && !s.selector->Empty()) {
      for (const PodRef& r : Candidates(impl.PodsIn(pod.meta.namespace_), *s.selector)) {
        if (Excluded(*out, *r.pod) || r.pod->IsTerminating()) continue;
        if (s.selector->Matches(r.pod->meta.labels)) ++per_node[r.node];
      }
    }
    const std::string& key = s.constraint->topology_key;
    auto& domains = out->spread_counts[key];
    for (size_t i = 0; i < n; ++i) {
      const Node& node = *impl.nodes[i].node;
      const bool all_keys =
          std::all_of(out->spread.begin(), out->spread.end(), [&](const SpreadState& o) {
            return node.meta.labels.count(o.constraint->topology_key) > 0;
          });
      if (!all_keys || !NodeIncluded(*s.constraint, pod, node)) continue;
      domains[node.meta.labels.at(key)] += per_node[i];
    }
  }
}

Fit FilterSpread(const PreparedPod& p, const Node& node) {
  for (const SpreadState& s : p.spread) {
    const TopologySpreadConstraint& c = *s.constraint;
    const std::string* v = Label(node.meta.labels, c.topology_key);
    if (v == nullptr) {
      return Fail(FilterPlugin::kPodTopologySpread, FitReason::kSpreadMissingLabel,
                  "node(s) didn't match pod topology spread constraints (missing required label)");
    }
    const auto& domains = p.spread_counts.at(c.topology_key);
    int64_t min_match = INT32_MAX;
    for (const auto& [value, count] : domains) min_match = std::min(min_match, count);
    if (p.min_domains_gate) {
      const int64_t min_domains = c.min_domains.value_or(1);
      if (static_cast<int64_t>(domains.size()) < min_domains) min_match = 0;
    }
    auto it = domains.find(*v);
    const int64_t match = it == domains.end() ? 0 : it->second;
    if (match + (s.self_match ? 1 : 0) - min_match > c.max_skew) {
      return Fail(FilterPlugin::kPodTopologySpread, FitReason::kSpreadSkew,
                  "node(s) didn't match pod topology spread constraints");
    }
  }
  return Fit{};
}

}  // namespace kb::scoring
