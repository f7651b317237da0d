#include "core/model.h"

#include <algorithm>
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

// ---------------------------------------------------------------------------------------------
// Civil time without timegm/locale: Howard Hinnant's days_from_civil / civil_from_days.

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

std::string FormatTime(WallTime t, bool micro) {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  int64_t ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
  int64_t sub_ns = ns - secs * 1000000000;
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned mo, d;
  CivilFromDays(days, &y, &mo, &d);
  char buf[64];
  if (micro) {
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                  static_cast<long long>(y), mo, d, static_cast<int>(sod / 3600),
                  static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                  static_cast<long long>(sub_ns / 1000));
  } else {
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y),
                  mo, d, static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                  static_cast<int>(sod % 60));
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers. Each takes the reader of the node it decodes.

Status DecodeOwnerReference(const JsonReader& r, OwnerReference* o) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  KB_RETURN_IF_ERROR(r.Field("apiVersion").ReadString(&o->api_version));
  KB_RETURN_IF_ERROR(r.Field("kind").ReadString(&o->kind));
  KB_RETURN_IF_ERROR(r.Field("name").ReadString(&o->name));
  KB_RETURN_IF_ERROR(r.Field("uid").ReadString(&o->uid));
  return r.Field("controller").ReadBool(&o->controller);
}

Status DecodeMeta(const JsonReader& r, ObjectMeta* m) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  KB_RETURN_IF_ERROR(r.Field("name").ReadString(&m->name));
  KB_RETURN_IF_ERROR(r.Field("namespace").ReadString(&m->namespace_));
  KB_RETURN_IF_ERROR(r.Field("uid").ReadString(&m->uid));
  KB_RETURN_IF_ERROR(r.Field("resourceVersion").ReadString(&m->resource_version));
  KB_RETURN_IF_ERROR(r.Field("generation").ReadInt64(&m->generation));
  KB_RETURN_IF_ERROR(r.Field("labels").ReadStringMap(&m->labels));
  KB_RETURN_IF_ERROR(r.Field("annotations").ReadStringMap(&m->annotations));
  // kubectl apply's copy of the whole object: often kilobytes per pod, never read by us, and the
  // cache holds every pod of the cluster.
  m->annotations.erase(kLastAppliedAnnotation);
  KB_RETURN_IF_ERROR(r.Field("ownerReferences").ForEach([m](const JsonReader& e, size_t) {
    OwnerReference o;
    KB_RETURN_IF_ERROR(DecodeOwnerReference(e, &o));
    m->owner_references.push_back(std::move(o));
    return Status::Ok();
  }));
  KB_RETURN_IF_ERROR(r.Field("creationTimestamp").ReadTime(&m->creation_timestamp));
  return r.Field("deletionTimestamp").ReadTime(&m->deletion_timestamp);
}

// Reads cpu (millicores), memory (bytes) and pods (count) from a ResourceList; other resources
// are ignored.
Status DecodeResourceList(const JsonReader& r, Resources* out) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  std::optional<Quantity> q;
  KB_RETURN_IF_ERROR(r.Field("cpu").ReadQuantity(&q));
  if (q) out->cpu_millis = q->MilliValue();
  q.reset();
  KB_RETURN_IF_ERROR(r.Field("memory").ReadQuantity(&q));
  if (q) out->memory_bytes = q->Value();
  q.reset();
  KB_RETURN_IF_ERROR(r.Field("pods").ReadQuantity(&q));
  if (q) out->pods = q->Value();
  return Status::Ok();
}

Status DecodeContainer(const JsonReader& r, Container* c) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  KB_RETURN_IF_ERROR(r.Field("name").ReadString(&c->name));
  JsonReader res = r.Field("resources");
  KB_RETURN_IF_ERROR(res.ExpectObject());
  KB_RETURN_IF_ERROR(DecodeResourceList(res.Field("requests"), &c->requests));
  KB_RETURN_IF_ERROR(DecodeResourceList(res.Field("limits"), &c->limits));
  std::string restart_policy;
  KB_RETURN_IF_ERROR(r.Field("restartPolicy").ReadString(&restart_policy));
  c->restartable = restart_policy == "Always";
  return Status::Ok();
}

Status DecodeContainers(const JsonReader& r, std::vector<Container>* out) {
  return r.ForEach([out](const JsonReader& e, size_t) {
    Container c;
    KB_RETURN_IF_ERROR(DecodeContainer(e, &c));
    out->push_back(std::move(c));
    return Status::Ok();
  });
}

Status DecodeLabelSelector(const JsonReader& r, LabelSelector* s) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  KB_RETURN_IF_ERROR(r.Field("matchLabels").ReadStringMap(&s->match_labels));
  return r.Field("matchExpressions").ForEach([s](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    LabelSelectorRequirement req;
    KB_RETURN_IF_ERROR(e.Field("key").ReadString(&req.key));
    KB_RETURN_IF_ERROR(e.Field("operator").ReadString(&req.op));
    KB_RETURN_IF_ERROR(e.Field("values").ReadStringList(&req.values));
    s->match_expressions.push_back(std::move(req));
    return Status::Ok();
  });
}

Status DecodeNodeSelectorRequirements(const JsonReader& r,
                                      std::vector<NodeSelectorRequirement>* out) {
  return r.ForEach([out](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    NodeSelectorRequirement req;
    KB_RETURN_IF_ERROR(e.Field("key").ReadString(&req.key));
    KB_RETURN_IF_ERROR(e.Field("operator").ReadString(&req.op));
    KB_RETURN_IF_ERROR(e.Field("values").ReadStringList(&req.values));
    out->push_back(std::move(req));
    return Status::Ok();
  });
}

// intstr.IntOrString restricted to what the API server accepts for PDBs and rollouts: an
// integer or "<digits>%".
Status DecodeIntOrPercent(const JsonReader& r, std::optional<IntOrPercent>* out) {
  if (r.absent()) return Status::Ok();
  const json& v = *r.value();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() < 2 || s.back() != '%' || s.size() > 12) {
      return r.Error("invalid int or percentage \"" + s + "\"");
    }
    int64_t n = 0;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return r.Error("invalid int or percentage \"" + s + "\"");
      n = n * 10 + (s[i] - '0');
    }
    *out = IntOrPercent{true, n};
    return Status::Ok();
  }
  if (v.is_number()) {
    int32_t n = 0;
    KB_RETURN_IF_ERROR(r.ReadInt32(&n));
    *out = IntOrPercent{false, n};
    return Status::Ok();
  }
  return r.TypeError("integer or percentage string");
}

bool HasCondition(const JsonReader& conditions, const char* type, const char* status,
                  Status* error) {
  bool found = false;
  *error = conditions.ForEach([&](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    std::string t, s;
    KB_RETURN_IF_ERROR(e.Field("type").ReadString(&t));
    KB_RETURN_IF_ERROR(e.Field("status").ReadString(&s));
    if (t == type && s == status) found = true;
    return Status::Ok();
  });
  return found;
}

// Runs `decode` on a fresh T, prefixing errors with "<Kind> <ns>/<name>: " (or "<Kind>: " when
// the name is unknown), and turns any stray exception into InvalidArgument.
template <class T, class Fn>
StatusOr<T> DecodeObject(const json& j, const char* kind, Fn&& decode) {
  T obj;
  std::string prefix = kind;
  try {
    JsonReader root(j);
    if (root.absent() || !j.is_object()) {
      return root.TypeError("object").Annotate(prefix);
    }
    JsonReader meta = root.Field("metadata");
    // Name the object in errors even when the rest of its metadata is malformed.
    std::string name, ns;
    if (meta.ExpectObject().ok()) {
      (void)meta.Field("name").ReadString(&name);
      (void)meta.Field("namespace").ReadString(&ns);
    }
    if (!name.empty()) {
      prefix += " ";
      if (!ns.empty()) prefix += ns + "/";
      prefix += name;
    }
    Status st = DecodeMeta(meta, &obj.meta);
    if (st.ok()) st = decode(root, &obj);
    if (!st.ok()) return st.Annotate(prefix);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(prefix + ": " + e.what());
  }
  return obj;
}

Status DecodeNodeBody(const JsonReader& root, Node* n) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("unschedulable").ReadBool(&n->unschedulable));
  KB_RETURN_IF_ERROR(spec.Field("taints").ForEach([n](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    Taint t;
    KB_RETURN_IF_ERROR(e.Field("key").ReadString(&t.key));
    KB_RETURN_IF_ERROR(e.Field("value").ReadString(&t.value));
    KB_RETURN_IF_ERROR(e.Field("effect").ReadString(&t.effect));
    n->taints.push_back(std::move(t));
    return Status::Ok();
  }));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(DecodeResourceList(status.Field("capacity"), &n->capacity));
  KB_RETURN_IF_ERROR(DecodeResourceList(status.Field("allocatable"), &n->allocatable));
  KB_RETURN_IF_ERROR(status.Field("addresses").ForEach([n](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    NodeAddress a;
    KB_RETURN_IF_ERROR(e.Field("type").ReadString(&a.type));
    KB_RETURN_IF_ERROR(e.Field("address").ReadString(&a.address));
    n->addresses.push_back(std::move(a));
    return Status::Ok();
  }));
  Status st;
  n->ready = HasCondition(status.Field("conditions"), "Ready", "True", &st);
  return st;
}

Status DecodePodSpec(const JsonReader& spec, Pod* p) {
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("nodeName").ReadString(&p->node_name));
  KB_RETURN_IF_ERROR(spec.Field("schedulerName").ReadString(&p->scheduler_name));
  KB_RETURN_IF_ERROR(spec.Field("priority").ReadOptionalInt32(&p->priority));
  KB_RETURN_IF_ERROR(spec.Field("priorityClassName").ReadString(&p->priority_class_name));
  KB_RETURN_IF_ERROR(spec.Field("nodeSelector").ReadStringMap(&p->node_selector));

  JsonReader affinity = spec.Field("affinity");
  KB_RETURN_IF_ERROR(affinity.ExpectObject());
  JsonReader node_affinity = affinity.Field("nodeAffinity");
  KB_RETURN_IF_ERROR(node_affinity.ExpectObject());
  JsonReader required = node_affinity.Field("requiredDuringSchedulingIgnoredDuringExecution");
  KB_RETURN_IF_ERROR(required.ExpectObject());
  KB_RETURN_IF_ERROR(required.Field("nodeSelectorTerms").ForEach([p](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    NodeSelectorTerm term;
    KB_RETURN_IF_ERROR(
        DecodeNodeSelectorRequirements(e.Field("matchExpressions"), &term.match_expressions));
    KB_RETURN_IF_ERROR(DecodeNodeSelectorRequirements(e.Field("matchFields"), &term.match_fields));
    p->required_node_affinity.push_back(std::move(term));
    return Status::Ok();
  }));

  KB_RETURN_IF_ERROR(spec.Field("tolerations").ForEach([p](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    Toleration t;
    KB_RETURN_IF_ERROR(e.Field("key").ReadString(&t.key));
    KB_RETURN_IF_ERROR(e.Field("operator").ReadString(&t.op));
    KB_RETURN_IF_ERROR(e.Field("value").ReadString(&t.value));
    KB_RETURN_IF_ERROR(e.Field("effect").ReadString(&t.effect));
    p->tolerations.push_back(std::move(t));
    return Status::Ok();
  }));

  KB_RETURN_IF_ERROR(spec.Field("volumes").ForEach([p](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    Volume v;
    KB_RETURN_IF_ERROR(e.Field("name").ReadString(&v.name));
    JsonReader pvc = e.Field("persistentVolumeClaim");
    JsonReader empty_dir = e.Field("emptyDir");
    JsonReader host_path = e.Field("hostPath");
    if (!pvc.absent()) {
      KB_RETURN_IF_ERROR(pvc.ExpectObject());
      v.kind = Volume::Kind::kPersistentVolumeClaim;
      KB_RETURN_IF_ERROR(pvc.Field("claimName").ReadString(&v.claim_name));
    } else if (!empty_dir.absent()) {
      KB_RETURN_IF_ERROR(empty_dir.ExpectObject());
      v.kind = Volume::Kind::kEmptyDir;
    } else if (!host_path.absent()) {
      KB_RETURN_IF_ERROR(host_path.ExpectObject());
      v.kind = Volume::Kind::kHostPath;
    }
    p->volumes.push_back(std::move(v));
    return Status::Ok();
  }));

  KB_RETURN_IF_ERROR(DecodeContainers(spec.Field("containers"), &p->containers));
  KB_RETURN_IF_ERROR(DecodeContainers(spec.Field("initContainers"), &p->init_containers));
  return DecodeResourceList(spec.Field("overhead"), &p->overhead);
}

Status DecodePodBody(const JsonReader& root, Pod* p) {
  KB_RETURN_IF_ERROR(DecodePodSpec(root.Field("spec"), p));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(status.Field("phase").ReadString(&p->phase));
  KB_RETURN_IF_ERROR(status.Field("startTime").ReadTime(&p->start_time));
  return status.Field("conditions").ForEach([p](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    PodCondition c;
    KB_RETURN_IF_ERROR(e.Field("type").ReadString(&c.type));
    KB_RETURN_IF_ERROR(e.Field("status").ReadString(&c.status));
    KB_RETURN_IF_ERROR(e.Field("lastTransitionTime").ReadTime(&c.last_transition_time));
    p->conditions.push_back(std::move(c));
    return Status::Ok();
  });
}

Status DecodePdbBody(const JsonReader& root, PodDisruptionBudget* pdb) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(DecodeIntOrPercent(spec.Field("minAvailable"), &pdb->min_available));
  KB_RETURN_IF_ERROR(DecodeIntOrPercent(spec.Field("maxUnavailable"), &pdb->max_unavailable));
  JsonReader selector = spec.Field("selector");
  if (!selector.absent()) {
    LabelSelector s;
    KB_RETURN_IF_ERROR(DecodeLabelSelector(selector, &s));
    pdb->selector = std::move(s);
  }
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(status.Field("observedGeneration").ReadInt64(&pdb->observed_generation));
  KB_RETURN_IF_ERROR(status.Field("disruptionsAllowed").ReadInt32(&pdb->disruptions_allowed));
  KB_RETURN_IF_ERROR(status.Field("currentHealthy").ReadInt32(&pdb->current_healthy));
  KB_RETURN_IF_ERROR(status.Field("desiredHealthy").ReadInt32(&pdb->desired_healthy));
  return status.Field("expectedPods").ReadInt32(&pdb->expected_pods);
}

Status DecodeReplicaSetBody(const JsonReader& root, ReplicaSet* rs) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("replicas").ReadInt32(&rs->replicas));
  KB_RETURN_IF_ERROR(DecodeLabelSelector(spec.Field("selector"), &rs->selector));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(status.Field("replicas").ReadInt32(&rs->status_replicas));
  KB_RETURN_IF_ERROR(status.Field("readyReplicas").ReadInt32(&rs->ready_replicas));
  return status.Field("availableReplicas").ReadInt32(&rs->available_replicas);
}

Status DecodeDeploymentBody(const JsonReader& root, Deployment* d) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("replicas").ReadInt32(&d->replicas));
  KB_RETURN_IF_ERROR(DecodeLabelSelector(spec.Field("selector"), &d->selector));
  KB_RETURN_IF_ERROR(spec.Field("paused").ReadBool(&d->paused));
  JsonReader strategy = spec.Field("strategy");
  KB_RETURN_IF_ERROR(strategy.ExpectObject());
  KB_RETURN_IF_ERROR(strategy.Field("type").ReadString(&d->strategy.type));
  if (d->strategy.type.empty()) d->strategy.type = "RollingUpdate";
  JsonReader rolling = strategy.Field("rollingUpdate");
  KB_RETURN_IF_ERROR(rolling.ExpectObject());
  std::optional<IntOrPercent> v;
  KB_RETURN_IF_ERROR(DecodeIntOrPercent(rolling.Field("maxSurge"), &v));
  if (v) d->strategy.max_surge = *v;
  v.reset();
  KB_RETURN_IF_ERROR(DecodeIntOrPercent(rolling.Field("maxUnavailable"), &v));
  if (v) d->strategy.max_unavailable = *v;
  JsonReader tmpl = spec.Field("template");
  KB_RETURN_IF_ERROR(tmpl.ExpectObject());
  JsonReader tmeta = tmpl.Field("metadata");
  KB_RETURN_IF_ERROR(tmeta.ExpectObject());
  KB_RETURN_IF_ERROR(tmeta.Field("annotations").ReadStringMap(&d->template_annotations));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(status.Field("observedGeneration").ReadInt64(&d->observed_generation));
  KB_RETURN_IF_ERROR(status.Field("replicas").ReadInt32(&d->status_replicas));
  KB_RETURN_IF_ERROR(status.Field("updatedReplicas").ReadInt32(&d->updated_replicas));
  KB_RETURN_IF_ERROR(status.Field("readyReplicas").ReadInt32(&d->ready_replicas));
  KB_RETURN_IF_ERROR(status.Field("availableReplicas").ReadInt32(&d->available_replicas));
  return status.Field("unavailableReplicas").ReadInt32(&d->unavailable_replicas);
}

Status DecodeLeaseBody(const JsonReader& root, Lease* l) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("holderIdentity").ReadString(&l->holder_identity));
  KB_RETURN_IF_ERROR(spec.Field("leaseDurationSeconds").ReadInt32(&l->lease_duration_seconds));
  KB_RETURN_IF_ERROR(spec.Field("acquireTime").ReadTime(&l->acquire_time));
  KB_RETURN_IF_ERROR(spec.Field("renewTime").ReadTime(&l->renew_time));
  return spec.Field("leaseTransitions").ReadInt32(&l->lease_transitions);
}

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
    if (values.size() != 1 || !ParseInt64(values[0], &want)) return false;
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
      // Only metadata.name with In/NotIn is a valid field selector.
      if (r.key != "metadata.name" || (r.op != "In" && r.op != "NotIn")) return false;
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
  if (pod.required_node_affinity.empty()) return true;
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

StatusOr<Node> DecodeNode(const json& j) { return DecodeObject<Node>(j, "Node", DecodeNodeBody); }

StatusOr<Pod> DecodePod(const json& j) { return DecodeObject<Pod>(j, "Pod", DecodePodBody); }

StatusOr<PodDisruptionBudget> DecodePodDisruptionBudget(const json& j) {
  return DecodeObject<PodDisruptionBudget>(j, "PodDisruptionBudget", DecodePdbBody);
}

StatusOr<ReplicaSet> DecodeReplicaSet(const json& j) {
  return DecodeObject<ReplicaSet>(j, "ReplicaSet", DecodeReplicaSetBody);
}

StatusOr<Deployment> DecodeDeployment(const json& j) {
  return DecodeObject<Deployment>(j, "Deployment", DecodeDeploymentBody);
}

StatusOr<Lease> DecodeLease(const json& j) {
  return DecodeObject<Lease>(j, "Lease", DecodeLeaseBody);
}

json EncodeLease(const Lease& lease) {
  json meta = json::object();
  meta["name"] = lease.meta.name;
  if (!lease.meta.namespace_.empty()) meta["namespace"] = lease.meta.namespace_;
  if (!lease.meta.uid.empty()) meta["uid"] = lease.meta.uid;
  if (!lease.meta.resource_version.empty()) {
    meta["resourceVersion"] = lease.meta.resource_version;
  }
  if (!lease.meta.labels.empty()) meta["labels"] = lease.meta.labels;
  if (!lease.meta.annotations.empty()) meta["annotations"] = lease.meta.annotations;
  json spec = json::object();
  spec["holderIdentity"] = lease.holder_identity;
  spec["leaseDurationSeconds"] = lease.lease_duration_seconds;
  if (lease.acquire_time) spec["acquireTime"] = FormatRfc3339Micro(*lease.acquire_time);
  if (lease.renew_time) spec["renewTime"] = FormatRfc3339Micro(*lease.renew_time);
  spec["leaseTransitions"] = lease.lease_transitions;
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", std::move(meta)},
              {"spec", std::move(spec)}};
}

StatusOr<WallTime> ParseRfc3339(const std::string& s) {
  auto bad = [&s](const char* why) {
    return Status::InvalidArgument("invalid RFC 3339 time \"" + s + "\": " + why);
  };
  size_t i = 0;
  auto digits = [&](int n, int64_t* out) {
    if (i + n > s.size()) return false;
    int64_t v = 0;
    for (int k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    *out = v;
    return true;
  };
  auto expect = [&](char a, char b) {
    if (i < s.size() && (s[i] == a || s[i] == b)) {
      ++i;
      return true;
    }
    return false;
  };
  int64_t year, month, day, hour, minute, second;
  if (!digits(4, &year) || !expect('-', '-') || !digits(2, &month) || !expect('-', '-') ||
      !digits(2, &day) || !expect('T', 't') || !digits(2, &hour) || !expect(':', ':') ||
      !digits(2, &minute) || !expect(':', ':') || !digits(2, &second)) {
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  }
  if (month < 1 || month > 12) return bad("month out of range");
  if (day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month))) {
    return bad("day out of range");
  }
  if (hour > 23) return bad("hour out of range");
  if (minute > 59) return bad("minute out of range");
  if (second > 59) return bad("second out of range");
  int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      // Digits beyond nanoseconds are truncated, as Go does.
      if (n < 9) {
        nanos = nanos * 10 + (s[i] - '0');
        ++n;
      }
      ++i;
    }
    if (n == 0) return bad("empty fraction");
    for (; n < 9; ++n) nanos *= 10;
  }
  int64_t offset_seconds = 0;
  if (expect('Z', 'z')) {
    // UTC
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const bool neg = s[i] == '-';
    ++i;
    int64_t oh, om;
    if (!digits(2, &oh) || !expect(':', ':') || !digits(2, &om)) return bad("bad offset");
    if (oh > 23 || om > 59) return bad("offset out of range");
    offset_seconds = (oh * 3600 + om * 60) * (neg ? -1 : 1);
  } else {
    return bad("missing zone (Z or +hh:mm)");
  }
  if (i != s.size()) return bad("trailing characters");
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  auto since_epoch = std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos);
  return WallTime(std::chrono::duration_cast<WallTime::duration>(since_epoch));
}

std::string FormatRfc3339(WallTime t) { return FormatTime(t, /*micro=*/false); }

std::string FormatRfc3339Micro(WallTime t) { return FormatTime(t, /*micro=*/true); }

std::string NamespacedName(const ObjectMeta& meta) { return meta.namespace_ + "/" + meta.name; }

}  // namespace kb
