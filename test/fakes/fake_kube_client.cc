#include "test/fakes/fake_kube_client.h"

#include <algorithm>
#include <chrono>

namespace kb::testing {
namespace {

using nlohmann::json;

std::string Key(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string MetaField(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto v = m->find(key);
  return v != m->end() && v->is_string() ? v->get<std::string>() : "";
}

std::string KeyOf(const json& obj) {
  return Key(MetaField(obj, "namespace"), MetaField(obj, "name"));
}

Status HttpError(StatusCode code, int http, const std::string& reason, std::string message,
                 const std::string& cause = "") {
  return Status(code, std::move(message)).WithHttp(http, reason, cause);
}

Status NotFound(const std::string& resource, const std::string& key) {
  return HttpError(StatusCode::kNotFound, 404, "NotFound", resource + " \"" + key + "\" not found");
}

Status Conflict(const std::string& resource, const std::string& key, const std::string& why) {
  return HttpError(StatusCode::kAborted, 409, "Conflict",
                   "Operation cannot be fulfilled on " + resource + " \"" + key + "\": " + why);
}

// Equality-only selectors: "a=b,c==d" over labels, or field paths for fieldSelector.
bool MatchesSelector(const std::string& selector, const json& obj, bool fields) {
  size_t pos = 0;
  while (pos < selector.size()) {
    size_t comma = selector.find(',', pos);
    std::string term =
        selector.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? selector.size() : comma + 1;
    if (term.empty()) continue;
    bool negate = false;
    size_t eq = term.find("!=");
    size_t vstart;
    if (eq != std::string::npos) {
      negate = true;
      vstart = eq + 2;
    } else {
      eq = term.find('=');
      if (eq == std::string::npos) return false;
      vstart = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
    }
    std::string key = term.substr(0, eq), want = term.substr(vstart);
    std::string have;
    if (fields) {
      const json* cur = &obj;
      size_t p = 0;
      while (cur != nullptr && p <= key.size()) {
        size_t dot = key.find('.', p);
        std::string part = key.substr(p, dot == std::string::npos ? std::string::npos : dot - p);
        cur = cur->is_object() && cur->contains(part) ? &(*cur)[part] : nullptr;
        if (dot == std::string::npos) break;
        p = dot + 1;
      }
      if (cur != nullptr && cur->is_string()) have = cur->get<std::string>();
    } else {
      const json* labels = nullptr;
      if (obj.contains("metadata") && obj["metadata"].is_object() &&
          obj["metadata"].contains("labels")) {
        labels = &obj["metadata"]["labels"];
      }
      if (labels != nullptr && labels->is_object() && labels->contains(key) &&
          (*labels)[key].is_string()) {
        have = (*labels)[key].get<std::string>();
      } else if (!negate) {
        return false;
      }
    }
    if ((have == want) == negate) return false;
  }
  return true;
}

}  // namespace

FakeKubeClient::FakeKubeClient() = default;
FakeKubeClient::~FakeKubeClient() = default;

// --- state ---

json FakeKubeClient::PutLocked(const std::string& resource, json object) {
  if (!object.is_object()) object = json::object();
  json& meta = object["metadata"];
  if (!meta.is_object()) meta = json::object();
  auto& store = objects_[resource];
  std::string key = KeyOf(object);
  auto existing = store.find(key);
  if (!meta.contains("uid") || !meta["uid"].is_string() || meta["uid"].get<std::string>().empty()) {
    meta["uid"] = existing != store.end() && !MetaField(existing->second, "uid").empty()
                      ? MetaField(existing->second, "uid")
                      : "fake-uid-" + std::to_string(++uid_counter_);
  }
  meta["resourceVersion"] = std::to_string(++rv_);
  bool added = existing == store.end();
  store[key] = object;
  LogEventLocked(resource, added ? kube::WatchEventType::kAdded : kube::WatchEventType::kModified,
                 object);
  return object;
}

bool FakeKubeClient::RemoveLocked(const std::string& resource, const std::string& key) {
  auto& store = objects_[resource];
  auto it = store.find(key);
  if (it == store.end()) return false;
  json last = std::move(it->second);
  store.erase(it);
  last["metadata"]["resourceVersion"] = std::to_string(++rv_);
  LogEventLocked(resource, kube::WatchEventType::kDeleted, last);
  return true;
}

void FakeKubeClient::LogEventLocked(const std::string& resource, kube::WatchEventType type,
                                    const json& object) {
  const bool watched =
      std::any_of(std::begin(kube::kResourceKinds), std::end(kube::kResourceKinds),
                  [&](const kube::ResourceKindInfo& k) { return resource == k.name; });
  if (!watched) return;
  history_.push_back({resource, type, object, rv_});
  cv_.notify_all();
}

json FakeKubeClient::Put(const std::string& resource, json object) {
  std::lock_guard<std::mutex> lock(mu_);
  return PutLocked(resource, std::move(object));
}

bool FakeKubeClient::Remove(const std::string& resource, const std::string& ns,
                            const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return RemoveLocked(resource, Key(ns, name));
}

std::optional<json> FakeKubeClient::Get(const std::string& resource, const std::string& ns,
                                        const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = objects_.find(resource);
  if (r == objects_.end()) return std::nullopt;
  auto it = r->second.find(Key(ns, name));
  if (it == r->second.end()) return std::nullopt;
  return it->second;
}

std::vector<json> FakeKubeClient::Objects(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  auto r = objects_.find(resource);
  if (r == objects_.end()) return out;
  for (const auto& [k, v] : r->second) out.push_back(v);
  return out;
}

std::string FakeKubeClient::CurrentResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::to_string(rv_);
}

// --- failures and records ---

void FakeKubeClient::FailNthCall(const std::string& verb, int n, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back({verb, std::max(n, 1) - 1, std::move(status)});
}

void FakeKubeClient::FailAlways(const std::string& verb, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back({verb, -1, std::move(status)});
}

void FakeKubeClient::ClearFailures() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

void FakeKubeClient::SetEvictionDeletesPod(bool deletes) {
  std::lock_guard<std::mutex> lock(mu_);
  evict_deletes_ = deletes;
}

Status FakeKubeClient::BeginCall(const std::string& verb) {
  // Caller holds mu_.
  calls_[verb]++;
  std::optional<Status> fail;
  for (Rule& r : rules_) {
    if (r.verb != verb || r.done) continue;
    if (r.remaining < 0) {
      if (!fail) fail = r.status;
      continue;
    }
    if (r.remaining == 0) {
      r.done = true;
      if (!fail) fail = r.status;
    } else {
      r.remaining--;
    }
  }
  return fail ? *fail : Status::Ok();
}

int FakeKubeClient::CallCount(const std::string& verb) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(verb);
  return it == calls_.end() ? 0 : it->second;
}

#define KB_FAKE_GETTER(Type, Name, field)  \
  Type FakeKubeClient::Name() const {      \
    std::lock_guard<std::mutex> lock(mu_); \
    return field;                          \
  }
KB_FAKE_GETTER(std::vector<FakeKubeClient::Binding>, Bindings, bindings_)
KB_FAKE_GETTER(std::vector<FakeKubeClient::Eviction>, Evictions, evictions_)
KB_FAKE_GETTER(std::vector<json>, CreatedPods, created_pods_)
KB_FAKE_GETTER(std::vector<std::string>, DeletedPods, deleted_pods_)
KB_FAKE_GETTER(std::vector<json>, Events, events_)
KB_FAKE_GETTER(std::vector<FakeKubeClient::Patch>, DeploymentPatches, deployment_patches_)
#undef KB_FAKE_GETTER

void FakeKubeClient::EndWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  end_generation_++;
  cv_.notify_all();
}

void FakeKubeClient::ExpireWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  expire_generation_++;
  history_.clear();
  oldest_rv_ = rv_;
  cv_.notify_all();
}

// --- KubeClient ---

StatusOr<kube::RawList> FakeKubeClient::List(kube::ResourceKind kind,
                                             const kube::ListOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbList));
  const auto& store = objects_[kube::ResourceKindName(kind)];
  kube::RawList out;
  out.resource_version = std::to_string(rv_);
  auto it =
      options.continue_token.empty() ? store.begin() : store.upper_bound(options.continue_token);
  for (; it != store.end(); ++it) {
    if (!options.label_selector.empty() &&
        !MatchesSelector(options.label_selector, it->second, false)) {
      continue;
    }
    if (!options.field_selector.empty() &&
        !MatchesSelector(options.field_selector, it->second, true)) {
      continue;
    }
    if (options.limit > 0 && static_cast<int64_t>(out.items.size()) >= options.limit) {
      out.continue_token = std::prev(it)->first;
      break;
    }
    out.items.push_back(it->second);
  }
  return out;
}

Status FakeKubeClient::Watch(kube::ResourceKind kind, const kube::WatchOptions& options,
                             const kube::WatchHandler& handler, const std::atomic<bool>* stop) {
  const std::string resource = kube::ResourceKindName(kind);
  std::unique_lock<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbWatch));
  int64_t cursor = rv_;
  if (!options.resource_version.empty()) {
    try {
      cursor = std::stoll(options.resource_version);
    } catch (...) {
      return HttpError(StatusCode::kInvalidArgument, 400, "BadRequest",
                       "invalid resourceVersion \"" + options.resource_version + "\"");
    }
  }
  auto expired = [&] {
    return HttpError(StatusCode::kFailedPrecondition, 410, "Expired",
                     "too old resource version: " + std::to_string(cursor) + " (" +
                         std::to_string(oldest_rv_) + ")");
  };
  if (cursor < oldest_rv_) return expired();
  const uint64_t end_gen = end_generation_, expire_gen = expire_generation_;
  for (;;) {
    if (stop != nullptr && stop->load()) return Status::Cancelled("watch stopped");
    if (expire_generation_ != expire_gen) return expired();
    if (end_generation_ != end_gen) return Status::Ok();
    std::vector<kube::WatchEvent> batch;
    for (const LoggedEvent& e : history_) {
      if (e.rv > cursor && e.resource == resource) batch.push_back({e.type, e.object});
    }
    if (!history_.empty()) cursor = std::max(cursor, history_.back().rv);
    if (batch.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      continue;
    }
    lock.unlock();
    for (kube::WatchEvent& ev : batch) {
      if (!handler(std::move(ev))) return Status::Ok();
    }
    lock.lock();
  }
}

StatusOr<json> FakeKubeClient::GetPod(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetPod));
  auto& store = objects_["pods"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("pods", name);
  return it->second;
}

StatusOr<json> FakeKubeClient::CreatePod(const std::string& ns, const json& pod) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbCreatePod));
  json obj = pod;
  if (!obj.is_object()) {
    return HttpError(StatusCode::kInvalidArgument, 400, "BadRequest", "pod must be an object");
  }
  obj["metadata"]["namespace"] = ns;
  std::string name = MetaField(obj, "name");
  if (name.empty()) {
    return HttpError(StatusCode::kInvalidArgument, 422, "Invalid", "metadata.name: Required");
  }
  if (objects_["pods"].count(Key(ns, name)) > 0) {
    return HttpError(StatusCode::kAlreadyExists, 409, "AlreadyExists",
                     "pods \"" + name + "\" already exists");
  }
  obj["metadata"].erase("uid");
  created_pods_.push_back(obj);
  return PutLocked("pods", std::move(obj));
}

Status FakeKubeClient::DeletePod(const std::string& ns, const std::string& name,
                                 const std::string& uid_precondition) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbDeletePod));
  auto& store = objects_["pods"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("pods", name);
  if (!uid_precondition.empty() && MetaField(it->second, "uid") != uid_precondition) {
    return Conflict("pods", name,
                    "Precondition failed: UID in precondition: " + uid_precondition +
                        ", UID in object meta: " + MetaField(it->second, "uid"));
  }
  deleted_pods_.push_back(Key(ns, name));
  RemoveLocked("pods", Key(ns, name));
  return Status::Ok();
}

Status FakeKubeClient::BindPod(const std::string& ns, const std::string& name,
                               const std::string& uid, const std::string& node) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbBindPod));
  auto& store = objects_["pods"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("pods", name);
  if (!uid.empty() && MetaField(it->second, "uid") != uid) {
    return Conflict("pods/binding", name, "Precondition failed: UID in precondition: " + uid);
  }
  json pod = it->second;
  std::string current = pod.contains("spec") && pod["spec"].is_object() &&
                                pod["spec"].contains("nodeName") &&
                                pod["spec"]["nodeName"].is_string()
                            ? pod["spec"]["nodeName"].get<std::string>()
                            : "";
  if (!current.empty()) {
    return Conflict("pods/binding", name,
                    "pod " + name + " is already assigned to node \"" + current + "\"");
  }
  bindings_.push_back({ns, name, uid, node});
  pod["spec"]["nodeName"] = node;
  PutLocked("pods", std::move(pod));
  return Status::Ok();
}

Status FakeKubeClient::EvictPod(const std::string& ns, const std::string& name,
                                const kube::EvictOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbEvictPod));
  auto& store = objects_["pods"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("pods", name);
  if (!options.uid_precondition.empty() &&
      MetaField(it->second, "uid") != options.uid_precondition) {
    return Conflict("pods", name,
                    "Precondition failed: UID in precondition: " + options.uid_precondition);
  }
  evictions_.push_back({ns, name, options});
  if (evict_deletes_ && !options.dry_run) RemoveLocked("pods", Key(ns, name));
  return Status::Ok();
}

StatusOr<Deployment> FakeKubeClient::GetDeployment(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetDeployment));
  auto& store = objects_["deployments"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("deployments.apps", name);
  return DecodeDeployment(it->second);
}

StatusOr<ReplicaSet> FakeKubeClient::GetReplicaSet(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetReplicaSet));
  auto& store = objects_["replicasets"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("replicasets.apps", name);
  return DecodeReplicaSet(it->second);
}

StatusOr<json> FakeKubeClient::PatchLocked(const std::string& resource, const std::string& ns,
                                           const std::string& name, const json& patch) {
  auto& store = objects_[resource];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound(resource + ".apps", name);
  std::string want_rv = MetaField(patch, "resourceVersion");
  if (!want_rv.empty() && want_rv != MetaField(it->second, "resourceVersion")) {
    return Conflict(resource + ".apps", name,
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again");
  }
  json obj = it->second;
  obj.merge_patch(patch);
  return PutLocked(resource, std::move(obj));
}

StatusOr<Deployment> FakeKubeClient::PatchDeployment(const std::string& ns, const std::string& name,
                                                     const json& patch) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbPatchDeployment));
  KB_ASSIGN_OR_RETURN(json obj, PatchLocked("deployments", ns, name, patch));
  deployment_patches_.push_back({ns, name, patch});
  return DecodeDeployment(obj);
}

Status FakeKubeClient::CreateEvent(const std::string& ns, const json& event) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbCreateEvent));
  json e = event;
  if (e.is_object()) e["metadata"]["namespace"] = ns;
  events_.push_back(std::move(e));
  return Status::Ok();
}

StatusOr<Lease> FakeKubeClient::GetLease(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetLease));
  auto& store = objects_["leases"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("leases.coordination.k8s.io", name);
  return DecodeLease(it->second);
}

StatusOr<Lease> FakeKubeClient::CreateLease(const Lease& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbCreateLease));
  auto& store = objects_["leases"];
  if (store.count(Key(lease.meta.namespace_, lease.meta.name)) > 0) {
    return HttpError(StatusCode::kAlreadyExists, 409, "AlreadyExists",
                     "leases.coordination.k8s.io \"" + lease.meta.name + "\" already exists");
  }
  json obj = EncodeLease(lease);
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("uid");
  return DecodeLease(PutLocked("leases", std::move(obj)));
}

StatusOr<Lease> FakeKubeClient::UpdateLease(const Lease& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbUpdateLease));
  auto& store = objects_["leases"];
  auto it = store.find(Key(lease.meta.namespace_, lease.meta.name));
  if (it == store.end()) return NotFound("leases.coordination.k8s.io", lease.meta.name);
  if (!lease.meta.resource_version.empty() &&
      lease.meta.resource_version != MetaField(it->second, "resourceVersion")) {
    return Conflict("leases.coordination.k8s.io", lease.meta.name,
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again");
  }
  json obj = EncodeLease(lease);
  obj["metadata"]["uid"] = MetaField(it->second, "uid");
  return DecodeLease(PutLocked("leases", std::move(obj)));
}

StatusOr<std::string> FakeKubeClient::GetRaw(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetRaw));
  auto it = raw_.find(path);
  if (it == raw_.end()) {
    return HttpError(StatusCode::kNotFound, 404, "NotFound",
                     "the server could not find the requested resource");
  }
  return it->second;
}

void FakeKubeClient::SetRaw(const std::string& path, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  raw_[path] = std::move(body);
}

void FakeKubeClient::ClearRaw(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  raw_.erase(path);
}

StatusOr<json> FakeKubeClient::GetConfigMap(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbGetConfigMap));
  auto& store = objects_["configmaps"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("configmaps", name);
  return it->second;
}

StatusOr<json> FakeKubeClient::CreateConfigMap(const std::string& ns, const json& config_map) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbCreateConfigMap));
  json obj = config_map;
  obj["metadata"]["namespace"] = ns;
  const std::string name = MetaField(obj, "name");
  auto& store = objects_["configmaps"];
  if (store.count(Key(ns, name)) > 0) {
    return HttpError(StatusCode::kAlreadyExists, 409, "AlreadyExists",
                     "configmaps \"" + name + "\" already exists");
  }
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("uid");
  return PutLocked("configmaps", std::move(obj));
}

StatusOr<json> FakeKubeClient::UpdateConfigMap(const std::string& ns, const json& config_map) {
  std::lock_guard<std::mutex> lock(mu_);
  KB_RETURN_IF_ERROR(BeginCall(kVerbUpdateConfigMap));
  json obj = config_map;
  obj["metadata"]["namespace"] = ns;
  const std::string name = MetaField(obj, "name");
  auto& store = objects_["configmaps"];
  auto it = store.find(Key(ns, name));
  if (it == store.end()) return NotFound("configmaps", name);
  const std::string rv = MetaField(obj, "resourceVersion");
  if (!rv.empty() && rv != MetaField(it->second, "resourceVersion")) {
    return Conflict("configmaps", name,
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again");
  }
  obj["metadata"]["uid"] = MetaField(it->second, "uid");
  return PutLocked("configmaps", std::move(obj));
}

}  // namespace kb::testing
