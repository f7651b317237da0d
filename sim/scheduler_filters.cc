#include "sim/scheduler_filters.h"

#include <algorithm>
#include <climits>
#include <optional>
#include <set>

#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

const json kNull;

std::vector<std::string> Strings(const json& arr) {
  std::vector<std::string> out;
  if (!arr.is_array()) return out;
  for (const json& v : arr) out.push_back(v.is_string() ? v.get<std::string>() : "");
  return out;
}

const json& Labels(const json& obj) { return At(obj, {"metadata", "labels"}); }

std::optional<std::string> LabelOf(const json& labels, const std::string& key) {
  if (!labels.is_object()) return std::nullopt;
  auto it = labels.find(key);
  if (it == labels.end()) return std::nullopt;
  return it->is_string() ? it->get<std::string>() : std::string();
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() < 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// labels.Requirement: nullopt when the requirement is invalid (In / NotIn without values,
// Exists / DoesNotExist with values, Gt / Lt without exactly one unsigned integer).
std::optional<bool> Requirement(const std::string& key, const std::string& op,
                                const std::vector<std::string>& values, const json& labels) {
  const std::optional<std::string> have = LabelOf(labels, key);
  auto listed = [&] {
    return have && std::find(values.begin(), values.end(), *have) != values.end();
  };
  if (op == "In" || op == "NotIn") {
    if (values.empty()) return std::nullopt;
    return op == "In" ? listed() : !listed();
  }
  if (op == "Exists" || op == "DoesNotExist") {
    if (!values.empty()) return std::nullopt;
    return op == "Exists" ? have.has_value() : !have.has_value();
  }
  if (op == "Gt" || op == "Lt") {
    if (values.size() != 1 || !AllDigits(values[0])) return std::nullopt;
    if (!have) return false;
    const std::string& h = *have;
    const bool neg = !h.empty() && h[0] == '-';
    const std::string digits = (!h.empty() && (h[0] == '-' || h[0] == '+')) ? h.substr(1) : h;
    if (!AllDigits(digits)) return false;
    const long long got = std::stoll(digits) * (neg ? -1 : 1);
    const long long want = std::stoll(values[0]);
    return op == "Gt" ? got > want : got < want;
  }
  return std::nullopt;
}

// metav1.LabelSelector: null matches nothing, {} everything; an invalid one matches nothing.
bool SelectorMatches(const json& selector, const json& labels) {
  if (!selector.is_object()) return false;
  const json& ml = At(selector, {"matchLabels"});
  if (ml.is_object()) {
    for (const auto& [k, v] : ml.items()) {
      if (LabelOf(labels, k) != (v.is_string() ? v.get<std::string>() : "")) return false;
    }
  }
  const json& exprs = At(selector, {"matchExpressions"});
  if (exprs.is_array()) {
    for (const json& e : exprs) {
      // LabelSelectorAsSelector knows only the four set-based operators.
      const std::string op = StrAt(e, {"operator"});
      if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist") return false;
      std::optional<bool> m =
          Requirement(StrAt(e, {"key"}), op, Strings(At(e, {"values"})), labels);
      if (!m || !*m) return false;
    }
  }
  return true;
}

bool SelectorEmpty(const json& selector) {
  return selector.is_object() && At(selector, {"matchLabels"}).empty() &&
         At(selector, {"matchExpressions"}).empty();
}

// core/v1 NodeSelectorTerm against a node's labels and name ("" = labels only).
bool TermMatches(const json& term, const json& labels, const std::string& name) {
  const json& exprs = At(term, {"matchExpressions"});
  const json& fields = At(term, {"matchFields"});
  if (exprs.empty() && fields.empty()) return false;
  for (const json& e : exprs.is_array() ? exprs : json::array()) {
    std::optional<bool> m =
        Requirement(StrAt(e, {"key"}), StrAt(e, {"operator"}), Strings(At(e, {"values"})), labels);
    if (!m || !*m) return false;
  }
  for (const json& f : fields.is_array() ? fields : json::array()) {
    const std::vector<std::string> values = Strings(At(f, {"values"}));
    const std::string op = StrAt(f, {"operator"});
    if (StrAt(f, {"key"}) != "metadata.name" || values.size() != 1) return false;
    if (op == "In" && name != values[0]) return false;
    if (op == "NotIn" && name == values[0]) return false;
    if (op != "In" && op != "NotIn") return false;
  }
  return true;
}

bool AnyTerm(const json& terms, const json& labels, const std::string& name) {
  if (!terms.is_array()) return false;
  for (const json& t : terms) {
    if (TermMatches(t, labels, name)) return true;
  }
  return false;
}

}  // namespace

// nodeSelector + required node affinity (GetRequiredNodeAffinity(pod).Match(node)).
bool MatchesNodeAffinity(const json& pod, const json& node) {
  const json& labels = Labels(node);
  const json& sel = At(pod, {"spec", "nodeSelector"});
  if (sel.is_object()) {
    for (const auto& [k, v] : sel.items()) {
      if (LabelOf(labels, k) != (v.is_string() ? v.get<std::string>() : "")) return false;
    }
  }
  const json& req = At(
      pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (req.is_null()) return true;
  return AnyTerm(At(req, {"nodeSelectorTerms"}), labels, Name(node));
}

namespace {

// v1.Toleration.ToleratesTaint.
bool ToleratesTaint(const json& t, const json& taint) {
  const std::string effect = StrAt(t, {"effect"});
  if (!effect.empty() && effect != StrAt(taint, {"effect"})) return false;
  const std::string key = StrAt(t, {"key"});
  if (!key.empty() && key != StrAt(taint, {"key"})) return false;
  const std::string op = StrAt(t, {"operator"});
  if (op.empty() || op == "Equal") return StrAt(t, {"value"}) == StrAt(taint, {"value"});
  return op == "Exists";
}

bool Tolerated(const json& pod, const json& taint) {
  const json& ts = At(pod, {"spec", "tolerations"});
  if (!ts.is_array()) return false;
  return std::any_of(ts.begin(), ts.end(), [&](const json& t) { return ToleratesTaint(t, taint); });
}

// The first NoSchedule / NoExecute taint of `node` the pod does not tolerate (null when none).
const json* Untolerated(const json& pod, const json& node) {
  const json& taints = At(node, {"spec", "taints"});
  if (!taints.is_array()) return nullptr;
  for (const json& taint : taints) {
    const std::string e = StrAt(taint, {"effect"});
    if ((e == "NoSchedule" || e == "NoExecute") && !Tolerated(pod, taint)) return &taint;
  }
  return nullptr;
}

FilterVerdict Fail(const char* plugin, std::string reason) { return {plugin, std::move(reason)}; }

// ---- NodePorts ----

struct Port {
  std::string ip;
  std::string proto;
  int64_t port;
};
std::vector<Port> HostPorts(const json& pod) {
  std::vector<Port> out;
  const json& cs = At(pod, {"spec", "containers"});
  for (const json& c : cs.is_array() ? cs : json::array()) {
    const json& ps = At(c, {"ports"});
    for (const json& p : ps.is_array() ? ps : json::array()) {
      const int64_t hp = IntAt(p, {"hostPort"});
      if (hp <= 0) continue;
      out.push_back({StrAt(p, {"hostIP"}, "0.0.0.0"), StrAt(p, {"protocol"}, "TCP"), hp});
      if (out.back().ip.empty()) out.back().ip = "0.0.0.0";
      if (out.back().proto.empty()) out.back().proto = "TCP";
    }
  }
  return out;
}

bool PortsConflict(const json& pod, const NodeInfo& n) {
  const std::vector<Port> want = HostPorts(pod);
  if (want.empty()) return false;
  for (const json* other : n.pods) {
    for (const Port& u : HostPorts(*other)) {
      for (const Port& w : want) {
        if (u.port != w.port || u.proto != w.proto) continue;
        if (w.ip == "0.0.0.0" || u.ip == "0.0.0.0" || u.ip == w.ip) return true;
      }
    }
  }
  return false;
}

// ---- NodeResourcesFit ----

bool IsScalar(const std::string& name) {
  return name == "ephemeral-storage" || name.find('/') != std::string::npos ||
         name.rfind("hugepages-", 0) == 0 || name.rfind("attachable-volumes-", 0) == 0;
}

std::set<std::string> RequestedNames(const json& pod) {
  std::set<std::string> names;
  for (const char* list : {"containers", "initContainers"}) {
    const json& cs = At(pod, {"spec", list});
    for (const json& c : cs.is_array() ? cs : json::array()) {
      const json& r = At(c, {"resources", "requests"});
      if (r.is_object()) {
        for (const auto& [k, v] : r.items()) names.insert(k);
      }
    }
  }
  const json& o = At(pod, {"spec", "overhead"});
  if (o.is_object()) {
    for (const auto& [k, v] : o.items()) names.insert(k);
  }
  return names;
}

std::string FitResources(const json& pod, const NodeInfo& n) {
  const json& alloc = At(*n.node, {"status", "allocatable"});
  if (static_cast<int64_t>(n.pods.size()) + 1 > QuantityAt(alloc, "pods", false).value_or(0)) {
    return "Too many pods";
  }
  std::vector<std::string> order = {"cpu", "memory", "ephemeral-storage"};
  for (const std::string& name : RequestedNames(pod)) {
    if (IsScalar(name) && name != "ephemeral-storage") order.push_back(name);
  }
  for (const std::string& name : order) {
    const int64_t want = PodRequestOf(pod, name);
    if (want <= 0) continue;
    int64_t used = 0;
    for (const json* other : n.pods) used += PodRequestOf(*other, name);
    const int64_t have = QuantityAt(alloc, name.c_str(), name == "cpu").value_or(0);
    if (want > have - used) return "Insufficient " + name;
  }
  return "";
}

// ---- VolumeBinding / VolumeZone ----

std::string ClaimClass(const json& pvc) {
  const json& ann = At(pvc, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  if (ann.is_string()) return ann.get<std::string>();
  return StrAt(pvc, {"spec", "storageClassName"});
}

const json* Lookup(const std::map<std::string, const json*>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : it->second;
}

std::vector<std::string> ClaimNames(const json& pod) {
  std::vector<std::string> out;
  const json& vols = At(pod, {"spec", "volumes"});
  for (const json& v : vols.is_array() ? vols : json::array()) {
    const json& c = At(v, {"persistentVolumeClaim"});
    if (c.is_object()) out.push_back(StrAt(c, {"claimName"}));
  }
  return out;
}

// VolumeBinding's PreFilter: "" or the pod-level reason.
std::string VolumePreFilter(const json& pod, const ClusterView& view) {
  bool immediate = false;
  for (const std::string& name : ClaimNames(pod)) {
    const json* pvc = Lookup(view.pvcs, Namespace(pod) + "/" + name);
    if (pvc == nullptr) return "persistentvolumeclaim \"" + name + "\" not found";
    if (IsTerminating(*pvc)) return "persistentvolumeclaim \"" + name + "\" is being deleted";
    if (!StrAt(*pvc, {"spec", "volumeName"}).empty()) continue;
    const std::string cls = ClaimClass(*pvc);
    const json* sc = cls.empty() ? nullptr : Lookup(view.storage_classes, cls);
    if (sc == nullptr || StrAt(*sc, {"volumeBindingMode"}) != "WaitForFirstConsumer") {
      immediate = true;
    }
  }
  return immediate ? "pod has unbound immediate PersistentVolumeClaims" : "";
}

bool PvFits(const json& pv, const json& node) {
  const json& req = At(pv, {"spec", "nodeAffinity", "required"});
  if (req.is_null()) return true;
  return AnyTerm(At(req, {"nodeSelectorTerms"}), Labels(node), "");  // labels only
}

bool TopologiesAllow(const json& sc, const json& node) {
  const json& terms = At(sc, {"allowedTopologies"});
  if (!terms.is_array() || terms.empty()) return true;
  for (const json& t : terms) {
    const json& exprs = At(t, {"matchLabelExpressions"});
    if (!exprs.is_array() || exprs.empty()) continue;
    bool all = true;
    for (const json& e : exprs) {
      const std::vector<std::string> vals = Strings(At(e, {"values"}));
      const auto have = LabelOf(Labels(node), StrAt(e, {"key"}));
      all = all && have && std::find(vals.begin(), vals.end(), *have) != vals.end();
    }
    if (all) return true;
  }
  return false;
}

std::set<std::string> Zones(const std::string& v) {
  std::set<std::string> out;
  size_t start = 0;
  for (size_t at; (at = v.find("__", start)) != std::string::npos; start = at + 2) {
    out.insert(v.substr(start, at - start));
  }
  out.insert(v.substr(start));
  return out;
}

FilterVerdict VolumeFilters(const json& pod, const NodeInfo& n, const ClusterView& view) {
  const json& node = *n.node;
  std::vector<const json*> bound;
  for (const std::string& name : ClaimNames(pod)) {
    const json& pvc = *Lookup(view.pvcs, Namespace(pod) + "/" + name);
    const std::string vol = StrAt(pvc, {"spec", "volumeName"});
    if (!vol.empty()) {
      const json* pv = Lookup(view.pvs, vol);
      if (pv == nullptr) {
        return Fail("VolumeBinding",
                    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)");
      }
      if (!PvFits(*pv, node)) {
        return Fail("VolumeBinding", "node(s) had volume node affinity conflict");
      }
      bound.push_back(pv);
    }
  }
  for (const std::string& name : ClaimNames(pod)) {
    const json& pvc = *Lookup(view.pvcs, Namespace(pod) + "/" + name);
    if (!StrAt(pvc, {"spec", "volumeName"}).empty()) continue;
    const std::string cls = ClaimClass(pvc);
    const json& sc = *Lookup(view.storage_classes, cls);
    bool ok = false;
    for (const auto& [pv_name, pv] : view.pvs) {
      const std::string claim = StrAt(*pv, {"spec", "claimRef", "name"});
      const bool free =
          claim.empty() ||
          (claim == Name(pvc) && StrAt(*pv, {"spec", "claimRef", "namespace"}) == Namespace(pvc));
      if (StrAt(*pv, {"spec", "storageClassName"}) == cls &&
          StrAt(*pv, {"status", "phase"}) == "Available" && free && PvFits(*pv, node)) {
        ok = true;
      }
    }
    const std::string prov = StrAt(sc, {"provisioner"});
    if (!ok && !prov.empty() && prov != "kubernetes.io/no-provisioner") {
      ok = TopologiesAllow(sc, node);
    }
    if (!ok)
      return Fail("VolumeBinding", "node(s) didn't find available persistent volumes to bind");
  }
  static const char* kZoneKeys[] = {"failure-domain.beta.kubernetes.io/zone",
                                    "failure-domain.beta.kubernetes.io/region",
                                    "topology.kubernetes.io/zone", "topology.kubernetes.io/region"};
  bool constrained = false;
  for (const char* k : kZoneKeys) constrained |= LabelOf(Labels(node), k).has_value();
  if (!constrained) return {};
  for (const json* pv : bound) {
    for (const char* k : kZoneKeys) {
      const auto want = LabelOf(Labels(*pv), k);
      if (!want) continue;
      if (Zones(*want).count(LabelOf(Labels(node), k).value_or("")) == 0) {
        return Fail("VolumeZone", "node(s) had no available volume zone");
      }
    }
  }
  return {};
}

// ---- PodTopologySpread ----

FilterVerdict SpreadFilter(const json& pod, const NodeInfo& n, const ClusterView& view) {
  std::vector<const json*> cs;
  const json& all = At(pod, {"spec", "topologySpreadConstraints"});
  if (!all.is_array()) return {};
  for (const json& c : all) {  // pointers into the pod: no temporary copy
    if (StrAt(c, {"whenUnsatisfiable"}) == "DoNotSchedule") cs.push_back(&c);
  }
  if (cs.empty()) return {};
  // TpPairToMatchNum over the nodes that carry every constraint's key and pass its policies.
  std::map<std::string, std::map<std::string, int64_t>> domains;  // key -> value -> pods
  std::vector<json> selectors;
  for (const json* c : cs) {
    json sel = At(*c, {"labelSelector"});
    if (view.gates.match_label_keys && sel.is_object()) {
      for (const std::string& k : Strings(At(*c, {"matchLabelKeys"}))) {
        if (auto v = LabelOf(Labels(pod), k)) {
          sel["matchExpressions"].push_back({{"key", k}, {"operator", "In"}, {"values", {*v}}});
        }
      }
    }
    selectors.push_back(sel);
  }
  for (const NodeInfo* other : view.nodes) {
    const json& node = *other->node;
    bool keys = true;
    for (const json* c : cs) keys = keys && LabelOf(Labels(node), StrAt(*c, {"topologyKey"}));
    if (!keys) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      const json& c = *cs[i];
      if (StrAt(c, {"nodeAffinityPolicy"}, "Honor") == "Honor" && !MatchesNodeAffinity(pod, node)) {
        continue;
      }
      if (StrAt(c, {"nodeTaintsPolicy"}, "Ignore") == "Honor" && Untolerated(pod, node)) continue;
      const std::string key = StrAt(c, {"topologyKey"});
      int64_t count = 0;
      if (!SelectorEmpty(selectors[i])) {
        for (const json* p : other->pods) {
          if (IsTerminating(*p) || Namespace(*p) != Namespace(pod)) continue;
          if (SelectorMatches(selectors[i], Labels(*p))) ++count;
        }
      }
      domains[key][*LabelOf(Labels(node), key)] += count;
    }
  }
  for (size_t i = 0; i < cs.size(); ++i) {
    const json& c = *cs[i];
    const std::string key = StrAt(c, {"topologyKey"});
    const auto value = LabelOf(Labels(*n.node), key);
    if (!value) {
      return Fail("PodTopologySpread",
                  "node(s) didn't match pod topology spread constraints (missing required label)");
    }
    const auto& d = domains[key];
    int64_t min = INT32_MAX;
    for (const auto& [v, count] : d) min = std::min(min, count);
    if (view.gates.min_domains && static_cast<int64_t>(d.size()) < IntAt(c, {"minDomains"}, 1)) {
      min = 0;
    }
    const int64_t self = SelectorMatches(selectors[i], Labels(pod)) ? 1 : 0;
    auto it = d.find(*value);
    const int64_t match = it == d.end() ? 0 : it->second;
    if (match + self - min > IntAt(c, {"maxSkew"})) {
      return Fail("PodTopologySpread", "node(s) didn't match pod topology spread constraints");
    }
  }
  return {};
}

// ---- InterPodAffinity ----

json Required(const json& pod, const char* kind) {
  const json& t =
      At(pod, {"spec", "affinity", kind, "requiredDuringSchedulingIgnoredDuringExecution"});
  return t.is_array() ? t : json::array();
}

// Whether `term` (held by a pod in `owner_ns`) selects `target`. `incoming_term`: the term is
// the incoming pod's, whose namespaceSelector is resolved against known namespaces only.
bool AffinityTermSelects(const json& term, const std::string& owner_ns, const json& target,
                         const ClusterView& view, bool incoming_term) {
  const std::vector<std::string> nss = Strings(At(term, {"namespaces"}));
  const json& ns_sel = At(term, {"namespaceSelector"});
  const std::string ns = Namespace(target);
  bool ns_ok = false;
  if (nss.empty() && ns_sel.is_null()) {
    ns_ok = ns == owner_ns;
  } else {
    ns_ok = std::find(nss.begin(), nss.end(), ns) != nss.end();
    if (!ns_ok && !ns_sel.is_null()) {
      const json* nso = Lookup(view.namespaces, ns);
      if (nso != nullptr) {
        ns_ok = SelectorMatches(ns_sel, Labels(*nso));
      } else if (!incoming_term) {
        ns_ok = SelectorMatches(ns_sel, json::object());
      }
    }
  }
  return ns_ok && SelectorMatches(At(term, {"labelSelector"}), Labels(target));
}

FilterVerdict AffinityFilter(const json& pod, const NodeInfo& n, const ClusterView& view) {
  const json aff = Required(pod, "podAffinity");
  const json anti = Required(pod, "podAntiAffinity");
  const json& labels = Labels(*n.node);
  const std::string ns = Namespace(pod);
  if (!aff.empty()) {
    std::map<std::string, int64_t> counts;  // "key=value" -> pods matching all terms
    for (const NodeInfo* other : view.nodes) {
      for (const json* p : other->pods) {
        bool all = true;
        for (const json& t : aff) all = all && AffinityTermSelects(t, ns, *p, view, true);
        if (!all) continue;
        for (const json& t : aff) {
          const std::string k = StrAt(t, {"topologyKey"});
          if (auto v = LabelOf(Labels(*other->node), k)) ++counts[k + "=" + *v];
        }
      }
    }
    bool exist = true;
    for (const json& t : aff) {
      const std::string k = StrAt(t, {"topologyKey"});
      const auto v = LabelOf(labels, k);
      if (!v) return Fail("InterPodAffinity", "node(s) didn't match pod affinity rules");
      if (counts[k + "=" + *v] <= 0) exist = false;
    }
    bool self = true;
    for (const json& t : aff) self = self && AffinityTermSelects(t, ns, pod, view, true);
    bool any = false;
    for (const auto& [k, c] : counts) any = any || c > 0;
    if (!exist && (any || !self)) {
      return Fail("InterPodAffinity", "node(s) didn't match pod affinity rules");
    }
  }
  for (const json& t : anti) {
    const std::string k = StrAt(t, {"topologyKey"});
    const auto v = LabelOf(labels, k);
    if (!v) continue;
    for (const NodeInfo* other : view.nodes) {
      if (LabelOf(Labels(*other->node), k) != v) continue;
      for (const json* p : other->pods) {
        if (AffinityTermSelects(t, ns, *p, view, true)) {
          return Fail("InterPodAffinity", "node(s) didn't match pod anti-affinity rules");
        }
      }
    }
  }
  for (const NodeInfo* other : view.nodes) {
    for (const json* p : other->pods) {
      for (const json& t : Required(*p, "podAntiAffinity")) {
        const std::string k = StrAt(t, {"topologyKey"});
        const auto theirs = LabelOf(Labels(*other->node), k);
        if (!theirs || LabelOf(labels, k) != theirs) continue;
        if (AffinityTermSelects(t, Namespace(*p), pod, view, false)) {
          return Fail("InterPodAffinity",
                      "node(s) didn't satisfy existing pods anti-affinity rules");
        }
      }
    }
  }
  return {};
}

}  // namespace

int64_t PodRequestOf(const json& pod, const std::string& resource) {
  const bool cpu = resource == "cpu";
  auto of = [&](const json& list) {
    return std::max<int64_t>(0, QuantityAt(list, resource.c_str(), cpu).value_or(0));
  };
  int64_t sum = 0;
  const json& cs = At(pod, {"spec", "containers"});
  for (const json& c : cs.is_array() ? cs : json::array())
    sum += of(At(c, {"resources", "requests"}));
  const json& init = At(pod, {"spec", "initContainers"});
  for (const json& c : init.is_array() ? init : json::array()) {
    sum = std::max(sum, of(At(c, {"resources", "requests"})));
  }
  return sum + of(At(pod, {"spec", "overhead"}));
}

FilterVerdict RunFilters(const json& pod, const NodeInfo& n, const ClusterView& view) {
  if (std::string why = VolumePreFilter(pod, view); !why.empty()) return Fail("VolumeBinding", why);
  const json& node = *n.node;
  if (At(node, {"spec", "unschedulable"}) == true &&
      !Tolerated(pod,
                 json{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}})) {
    return Fail("NodeUnschedulable", "node(s) were unschedulable");
  }
  const std::string want = StrAt(pod, {"spec", "nodeName"});
  if (!want.empty() && want != n.name) {
    return Fail("NodeName", "node(s) didn't match the requested node name");
  }
  if (const json* t = Untolerated(pod, node)) {
    return Fail("TaintToleration", "node(s) had untolerated taint {" + StrAt(*t, {"key"}) + ": " +
                                       StrAt(*t, {"value"}) + "}");
  }
  if (!MatchesNodeAffinity(pod, node)) {
    return Fail("NodeAffinity", "node(s) didn't match Pod's node affinity/selector");
  }
  if (PortsConflict(pod, n)) {
    return Fail("NodePorts", "node(s) didn't have free ports for the requested pod ports");
  }
  if (std::string why = FitResources(pod, n); !why.empty()) return Fail("NodeResourcesFit", why);
  if (FilterVerdict v = VolumeFilters(pod, n, view); !v.ok()) return v;
  if (FilterVerdict v = SpreadFilter(pod, n, view); !v.ok()) return v;
  return AffinityFilter(pod, n, view);
}

}  // namespace kb::sim
