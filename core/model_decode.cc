// Decoders of the Kubernetes objects kube-balancer reads (declared in model.h): API JSON in, the
// model's value types out, with the failing field path named on a wrong type.
#include <nlohmann/json.hpp>

#include "core/json_reader.h"
#include "core/model.h"
#include "core/quantity.h"

namespace kb {
namespace {

using nlohmann::json;

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

// The resources of a ResourceList other than cpu, memory and pods (Quantity::Value() units).
Status DecodeScalarResources(const JsonReader& r, ScalarResources* out) {
  return r.ForEachMember([out](const std::string& name, const JsonReader& v) {
    if (name == "cpu" || name == "memory" || name == "pods") return Status::Ok();
    std::optional<Quantity> q;
    KB_RETURN_IF_ERROR(v.ReadQuantity(&q));
    if (q) (*out)[name] = q->Value();
    return Status::Ok();
  });
}

// ports[] entries with a hostPort > 0.
Status DecodeHostPorts(const JsonReader& r, std::vector<HostPort>* out) {
  return r.ForEach([out](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    HostPort p;
    KB_RETURN_IF_ERROR(e.Field("hostPort").ReadInt32(&p.port));
    KB_RETURN_IF_ERROR(e.Field("hostIP").ReadString(&p.host_ip));
    KB_RETURN_IF_ERROR(e.Field("protocol").ReadString(&p.protocol));
    if (p.port > 0) out->push_back(std::move(p));
    return Status::Ok();
  });
}

Status DecodeContainer(const JsonReader& r, Container* c) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  KB_RETURN_IF_ERROR(r.Field("name").ReadString(&c->name));
  JsonReader res = r.Field("resources");
  KB_RETURN_IF_ERROR(res.ExpectObject());
  KB_RETURN_IF_ERROR(DecodeResourceList(res.Field("requests"), &c->requests));
  KB_RETURN_IF_ERROR(DecodeScalarResources(res.Field("requests"), &c->scalar_requests));
  KB_RETURN_IF_ERROR(DecodeResourceList(res.Field("limits"), &c->limits));
  KB_RETURN_IF_ERROR(DecodeHostPorts(r.Field("ports"), &c->host_ports));
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

// core/v1 NodeSelector.nodeSelectorTerms (pod and volume node affinity).
Status DecodeNodeSelectorTerms(const JsonReader& r, std::vector<NodeSelectorTerm>* out) {
  return r.ForEach([out](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    NodeSelectorTerm term;
    KB_RETURN_IF_ERROR(
        DecodeNodeSelectorRequirements(e.Field("matchExpressions"), &term.match_expressions));
    KB_RETURN_IF_ERROR(DecodeNodeSelectorRequirements(e.Field("matchFields"), &term.match_fields));
    out->push_back(std::move(term));
    return Status::Ok();
  });
}

// An optional metav1.LabelSelector: absent stays nullopt (a null selector), {} is empty.
Status DecodeOptionalSelector(const JsonReader& r, std::optional<LabelSelector>* out) {
  if (r.absent()) return Status::Ok();
  out->emplace();
  return DecodeLabelSelector(r, &**out);
}

// podAffinity / podAntiAffinity: only requiredDuringSchedulingIgnoredDuringExecution is read.
Status DecodeRequiredPodAffinity(const JsonReader& r, std::vector<PodAffinityTerm>* out) {
  KB_RETURN_IF_ERROR(r.ExpectObject());
  return r.Field("requiredDuringSchedulingIgnoredDuringExecution")
      .ForEach([out](const JsonReader& e, size_t) {
        KB_RETURN_IF_ERROR(e.ExpectObject());
        PodAffinityTerm t;
        KB_RETURN_IF_ERROR(DecodeOptionalSelector(e.Field("labelSelector"), &t.label_selector));
        KB_RETURN_IF_ERROR(e.Field("namespaces").ReadStringList(&t.namespaces));
        KB_RETURN_IF_ERROR(
            DecodeOptionalSelector(e.Field("namespaceSelector"), &t.namespace_selector));
        KB_RETURN_IF_ERROR(e.Field("topologyKey").ReadString(&t.topology_key));
        out->push_back(std::move(t));
        return Status::Ok();
      });
}

Status DecodeSpreadConstraints(const JsonReader& r, std::vector<TopologySpreadConstraint>* out) {
  return r.ForEach([out](const JsonReader& e, size_t) {
    KB_RETURN_IF_ERROR(e.ExpectObject());
    TopologySpreadConstraint c;
    KB_RETURN_IF_ERROR(e.Field("maxSkew").ReadInt32(&c.max_skew));
    KB_RETURN_IF_ERROR(e.Field("topologyKey").ReadString(&c.topology_key));
    KB_RETURN_IF_ERROR(e.Field("whenUnsatisfiable").ReadString(&c.when_unsatisfiable));
    KB_RETURN_IF_ERROR(DecodeOptionalSelector(e.Field("labelSelector"), &c.label_selector));
    KB_RETURN_IF_ERROR(e.Field("minDomains").ReadOptionalInt32(&c.min_domains));
    KB_RETURN_IF_ERROR(e.Field("nodeAffinityPolicy").ReadString(&c.node_affinity_policy));
    KB_RETURN_IF_ERROR(e.Field("nodeTaintsPolicy").ReadString(&c.node_taints_policy));
    KB_RETURN_IF_ERROR(e.Field("matchLabelKeys").ReadStringList(&c.match_label_keys));
    out->push_back(std::move(c));
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
  KB_RETURN_IF_ERROR(DecodeScalarResources(status.Field("allocatable"), &n->scalar_allocatable));
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
  p->required_node_affinity_set = !required.absent();
  KB_RETURN_IF_ERROR(
      DecodeNodeSelectorTerms(required.Field("nodeSelectorTerms"), &p->required_node_affinity));
  KB_RETURN_IF_ERROR(
      DecodeRequiredPodAffinity(affinity.Field("podAffinity"), &p->required_pod_affinity));
  KB_RETURN_IF_ERROR(
      DecodeRequiredPodAffinity(affinity.Field("podAntiAffinity"), &p->required_pod_anti_affinity));
  KB_RETURN_IF_ERROR(DecodeSpreadConstraints(spec.Field("topologySpreadConstraints"),
                                             &p->topology_spread_constraints));

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
  KB_RETURN_IF_ERROR(DecodeScalarResources(spec.Field("overhead"), &p->scalar_overhead));
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

Status DecodeStatefulSetBody(const JsonReader& root, StatefulSet* s) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("replicas").ReadInt32(&s->replicas));
  KB_RETURN_IF_ERROR(DecodeLabelSelector(spec.Field("selector"), &s->selector));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  KB_RETURN_IF_ERROR(status.Field("observedGeneration").ReadInt64(&s->observed_generation));
  KB_RETURN_IF_ERROR(status.Field("replicas").ReadInt32(&s->status_replicas));
  KB_RETURN_IF_ERROR(status.Field("readyReplicas").ReadInt32(&s->ready_replicas));
  KB_RETURN_IF_ERROR(status.Field("availableReplicas").ReadInt32(&s->available_replicas));
  return status.Field("updatedReplicas").ReadInt32(&s->updated_replicas);
}

Status DecodeNamespaceBody(const JsonReader& root, Namespace* n) {
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  return status.Field("phase").ReadString(&n->phase);
}

Status DecodePriorityClassBody(const JsonReader& root, PriorityClass* p) {
  KB_RETURN_IF_ERROR(root.Field("value").ReadInt32(&p->value));
  return root.Field("globalDefault").ReadBool(&p->global_default);
}

Status DecodePersistentVolumeBody(const JsonReader& root, PersistentVolume* pv) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  KB_RETURN_IF_ERROR(spec.Field("storageClassName").ReadString(&pv->storage_class_name));
  JsonReader node_affinity = spec.Field("nodeAffinity");
  KB_RETURN_IF_ERROR(node_affinity.ExpectObject());
  JsonReader required = node_affinity.Field("required");
  KB_RETURN_IF_ERROR(required.ExpectObject());
  if (!required.absent()) {
    pv->node_affinity.emplace();
    KB_RETURN_IF_ERROR(
        DecodeNodeSelectorTerms(required.Field("nodeSelectorTerms"), &*pv->node_affinity));
  }
  JsonReader claim = spec.Field("claimRef");
  KB_RETURN_IF_ERROR(claim.ExpectObject());
  KB_RETURN_IF_ERROR(claim.Field("namespace").ReadString(&pv->claim_namespace));
  KB_RETURN_IF_ERROR(claim.Field("name").ReadString(&pv->claim_name));
  KB_RETURN_IF_ERROR(claim.Field("uid").ReadString(&pv->claim_uid));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  return status.Field("phase").ReadString(&pv->phase);
}

Status DecodePersistentVolumeClaimBody(const JsonReader& root, PersistentVolumeClaim* pvc) {
  JsonReader spec = root.Field("spec");
  KB_RETURN_IF_ERROR(spec.ExpectObject());
  JsonReader sc = spec.Field("storageClassName");
  if (!sc.absent()) {
    std::string name;
    KB_RETURN_IF_ERROR(sc.ReadString(&name));
    pvc->storage_class_name = std::move(name);
  }
  KB_RETURN_IF_ERROR(spec.Field("volumeName").ReadString(&pvc->volume_name));
  JsonReader status = root.Field("status");
  KB_RETURN_IF_ERROR(status.ExpectObject());
  return status.Field("phase").ReadString(&pvc->phase);
}

Status DecodeStorageClassBody(const JsonReader& root, StorageClass* sc) {
  KB_RETURN_IF_ERROR(root.Field("provisioner").ReadString(&sc->provisioner));
  std::string mode;
  KB_RETURN_IF_ERROR(root.Field("volumeBindingMode").ReadString(&mode));
  if (!mode.empty()) sc->volume_binding_mode = mode;
  // allowedTopologies[].matchLabelExpressions[] = {key, values}: "key In values".
  return root.Field("allowedTopologies").ForEach([sc](const JsonReader& t, size_t) {
    KB_RETURN_IF_ERROR(t.ExpectObject());
    NodeSelectorTerm term;
    KB_RETURN_IF_ERROR(
        t.Field("matchLabelExpressions").ForEach([&term](const JsonReader& e, size_t) {
          KB_RETURN_IF_ERROR(e.ExpectObject());
          NodeSelectorRequirement req;
          req.op = "In";
          KB_RETURN_IF_ERROR(e.Field("key").ReadString(&req.key));
          KB_RETURN_IF_ERROR(e.Field("values").ReadStringList(&req.values));
          term.match_expressions.push_back(std::move(req));
          return Status::Ok();
        }));
    sc->allowed_topologies.push_back(std::move(term));
    return Status::Ok();
  });
}

}  // namespace

StatusOr<StatefulSet> DecodeStatefulSet(const json& j) {
  return DecodeObject<StatefulSet>(j, "StatefulSet", DecodeStatefulSetBody);
}

StatusOr<Namespace> DecodeNamespace(const json& j) {
  return DecodeObject<Namespace>(j, "Namespace", DecodeNamespaceBody);
}

StatusOr<PriorityClass> DecodePriorityClass(const json& j) {
  return DecodeObject<PriorityClass>(j, "PriorityClass", DecodePriorityClassBody);
}

StatusOr<PersistentVolume> DecodePersistentVolume(const json& j) {
  return DecodeObject<PersistentVolume>(j, "PersistentVolume", DecodePersistentVolumeBody);
}

StatusOr<PersistentVolumeClaim> DecodePersistentVolumeClaim(const json& j) {
  return DecodeObject<PersistentVolumeClaim>(j, "PersistentVolumeClaim",
                                             DecodePersistentVolumeClaimBody);
}

StatusOr<StorageClass> DecodeStorageClass(const json& j) {
  return DecodeObject<StorageClass>(j, "StorageClass", DecodeStorageClassBody);
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

}  // namespace kb
