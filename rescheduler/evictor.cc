#include "rescheduler/evictor.h"

#include <algorithm>
#include <cstdio>

#include "core/logging.h"
#include "kube/api_calls.h"
#include "rescheduler/logging.h"
#include "scoring/load_model.h"

namespace kb::resched {

namespace {

using nlohmann::json;

constexpr size_t kMaxPodName = 253;
constexpr char kCopyPrefix[] = "rescheduled-";
// Kubernetes' generateName alphabet (no vowels, no confusable digits).
constexpr char kSuffixAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";

json PodObjectRef(const PodRef& pod) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"name", pod.name},
          {"namespace", pod.ns},
          {"uid", pod.uid}};
}

// Results a pod can get again every cycle: logged at info once per cooldown.
bool IsRepeatable(Result r) {
  return r == Result::kPdbBlocked || r == Result::kProtected || r == Result::kSingleReplica ||
         r == Result::kUnmovable || r == Result::kLoopBlocked || r == Result::kBudget ||
         r == Result::kPermissionDenied;
}

// Failures worth a RescheduleFailed Event on the pod (once per cooldown).
bool IsLastingFailure(Result r) {
  return r == Result::kError || r == Result::kSingleReplica || r == Result::kLandedBack ||
         r == Result::kReplacementTimeout || r == Result::kReplacementFailed ||
         r == Result::kLoopBlocked;
}

// The log level of a result; `first`: the first of its kind for the pod within the cooldown.
spdlog::level::level_enum LogLevel(Result r, bool first) {
  switch (r) {
    case Result::kError:
    case Result::kLandedBack:
    case Result::kReplacementTimeout:
    case Result::kReplacementFailed:
      return spdlog::level::warn;
    case Result::kLimitCycle:
    case Result::kLimitNode:
    case Result::kLimitNamespace:
    case Result::kInFlight:
    case Result::kCooldown:
    case Result::kNotLeader:
      return spdlog::level::debug;
    case Result::kPdbBlocked:
    case Result::kProtected:
    case Result::kSingleReplica:
    case Result::kUnmovable:
    case Result::kBudget:
      return first ? spdlog::level::info : spdlog::level::debug;
    case Result::kLoopBlocked:
      return first ? spdlog::level::warn : spdlog::level::debug;
    default:
      return spdlog::level::info;
  }
}

std::string Shorten(std::string s, size_t max) {
  if (s.size() > max) {
    s.resize(max - 3);
    s += "...";
  }
  return s;
}

}  // namespace

Evictor::Evictor(kube::KubeClient& client, Clock& clock, ReschedulerConfig config,
                 ScoringConfig scoring, scoring::Steering* steering, ReschedulerMetrics* metrics,
                 MoveLedger& ledger, EvictorOptions options)
    : client_(client),
      clock_(clock),
      config_(std::move(config)),
      scoring_(std::move(scoring)),
      steering_(steering),
      metrics_(metrics),
      ledger_(ledger),
      options_(std::move(options)),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

void Evictor::SetMayAct(std::function<bool()> may_act) { may_act_ = std::move(may_act); }

void Evictor::BeginCycle(std::shared_ptr<const ClusterSnapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  workloads_.clear();
}

void Evictor::SetInFlightMetric() {
  if (metrics_ != nullptr) metrics_->in_flight.Set(static_cast<double>(ledger_.in_flight().size()));
}

// ---- Record: the one funnel -------------------------------------------------------------------

void Evictor::CreateEvent(const std::string& ns, const json& involved, bool warning,
                          const std::string& reason, const std::string& message) {
  if (config_.dry_run || !MayAct()) return;
  const WallTime wall = clock_.WallNow();
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count();
  char suffix[40];
  std::snprintf(
      suffix, sizeof(suffix), ".%llx",
      static_cast<unsigned long long>(nanos) + static_cast<unsigned long long>(event_seq_++));
  const std::string ts = FormatRfc3339(wall);
  json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata",
       {{"name", involved.value("name", std::string("unknown")) + suffix}, {"namespace", ns}}},
      {"involvedObject", involved},
      {"reason", reason},
      {"message", Shorten(message, 1024)},
      {"type", warning ? "Warning" : "Normal"},
      {"source", {{"component", options_.component}}},
      {"firstTimestamp", ts},
      {"lastTimestamp", ts},
      {"count", 1},
      {"reportingComponent", options_.component},
      {"reportingInstance", Shorten(options_.instance, 128)}};
  if (Status s = client_.CreateEvent(ns, event); !s.ok()) {
    Log()->debug("event not created reason={} object={} error={}", reason,
                 involved.value("name", ""), s.ToString());
  }
}

void Evictor::NoteApiCall(const Status& s, const PodRef& pod) {
  if (ledger_.NoteApiCall(s, clock_.Now())) BreakerOpened(pod);
}

void Evictor::BreakerOpened(const PodRef& pod) {
  if (metrics_ != nullptr) metrics_->breaker_open.Set(1);
  const std::string message = "rescheduler paused for " + FormatDuration(config_.breaker.cool_off) +
                              ": " + ledger_.breaker_reason() +
                              "; only NodeMaintenance acts until the breaker closes";
  Log()->warn("breaker open reason=\"{}\" cool_off={} last_pod={}/{}", ledger_.breaker_reason(),
              FormatDuration(config_.breaker.cool_off), pod.ns, pod.name);
  CreateEvent(pod.ns, PodObjectRef(pod), true, "ReschedulerPaused", message);
}

void Evictor::Record(const std::string& strategy, const PodRef& pod, const std::string& source,
                     const std::string& target, Result result, const std::string& message) {
  const char* name = ResultName(result);
  if (IsCompletion(result)) {
    RememberOutcome(strategy, pod, source, target, result, message);
    if (ledger_.NoteReplacement(result, clock_.Now())) BreakerOpened(pod);
  }
  if (metrics_ != nullptr) {
    if (IsCompletion(result)) {
      metrics_->CountReplacement(strategy, name);
    } else {
      metrics_->CountEviction(strategy, name);
    }
  }
  // Repeated non-actions (a pod blocked by its PDB every cycle, a protected pod) log once at
  // info per cooldown and at debug afterwards: a cycle that cannot act must not flood the log.
  const bool first = !IsRepeatable(result) ||
                     ShouldEmit(std::string("log|") + name + "|" + pod.uid + "|" + message);
  Log()->log(LogLevel(result, first),
             "move result={} strategy={} pod={}/{} source={} target={} dry_run={} reason=\"{}\"",
             name, strategy, pod.ns, pod.name, source, target.empty() ? "-" : target,
             config_.dry_run, message);

  // Events on the pod: Rescheduled for an action, RescheduleFailed for a lasting failure.
  if (result == Result::kSuccess) {
    CreateEvent(pod.ns, PodObjectRef(pod), false, "Rescheduled",
                "Moved from " + source + " toward " + target + " by " + strategy + ": " + message);
  } else if (IsLastingFailure(result) && ShouldEmit(std::string("event|") + name + "|" + pod.uid)) {
    CreateEvent(pod.ns, PodObjectRef(pod), true, "RescheduleFailed",
                strategy + " could not move the pod off " + source + " (" + name + "): " + message);
  }
}

void Evictor::RememberOutcome(const std::string& strategy, const PodRef& pod,
                              const std::string& source, const std::string& target, Result result,
                              const std::string& message) {
  outcomes_.push_back({strategy, pod, source, target, result, message, clock_.WallNow()});
  while (outcomes_.size() > kMaxOutcomes) outcomes_.pop_front();
}

Outcome Evictor::Finish(const PlannedMove& move, Result result, std::string message) {
  Record(move.strategy, PodRef::Of(*move.pod), move.source, move.target, result, message);
  return Outcome{result, std::move(message)};
}

void Evictor::ReportUnmovable(const UnmovablePod& u) {
  const PodRef pod = PodRef::Of(*u.pod);
  Record(u.strategy, pod, u.node, "", u.result, u.reason);
  if (!u.report) return;
  if (!ShouldEmit("node|" + u.node + "|" + pod.uid + "|" + u.reason)) return;
  json involved = {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", u.node}};
  if (snapshot_) {
    if (NodePtr node = snapshot_->FindNode(u.node)) involved["uid"] = node->meta.uid;
  }
  // Node events live in "default" (core/v1 legacy rule for cluster-scoped objects).
  CreateEvent("default", involved, true, "RescheduleFailed",
              "pod " + pod.ns + "/" + pod.name + " cannot move off " + u.node + " (" + u.strategy +
                  "): " + u.reason);
  // And on the pod, where its owner looks (kubectl describe pod): never evicted, and why.
  CreateEvent(pod.ns, PodObjectRef(pod), true, "RescheduleFailed",
              "not evicted: cannot move off " + u.node + " (" + u.strategy + "): " + u.reason);
}

// ---- Execute ----------------------------------------------------------------------------------

StatusOr<WorkloadInfo> Evictor::Resolve(const Pod& pod) {
  const OwnerReference* owner = pod.meta.ControllerRef();
  WorkloadInfo info;
  if (owner == nullptr) return info;
  if (auto it = workloads_.find(owner->uid); it != workloads_.end()) return it->second;
  info.owner_kind = owner->kind;
  info.owner_name = owner->name;
  for (const PodPtr& p : snapshot_->PodsOwnedBy(owner->uid)) {
    if (!p->IsFinished()) ++info.owner_pods;
  }
  auto remember = [&](StatusOr<WorkloadInfo> r) {
    workloads_.emplace(owner->uid, r);
    return r;
  };
  if (owner->kind == "ReplicaSet") {
    StatusOr<ReplicaSet> rs = client_.GetReplicaSet(pod.meta.namespace_, owner->name);
    if (!rs.ok()) return remember(rs.status().Annotate("get ReplicaSet " + owner->name));
    if (!owner->uid.empty() && rs->meta.uid != owner->uid) {
      return remember(Status::NotFound("ReplicaSet " + owner->name + " was replaced"));
    }
    if (const OwnerReference* d = rs->meta.ControllerRef();
        d != nullptr && d->kind == "Deployment") {
      StatusOr<Deployment> dep = client_.GetDeployment(pod.meta.namespace_, d->name);
      if (!dep.ok()) return remember(dep.status().Annotate("get Deployment " + d->name));
      info.deployment = *dep;
    }
    info.replica_set = std::move(rs).value();
  }
  return remember(info);
}

InFlightMove Evictor::NewInFlight(InFlightMove::Kind kind, const PlannedMove& move,
                                  const Pod& pod) const {
  InFlightMove m;
  m.kind = kind;
  m.strategy = move.strategy;
  m.workload = WorkloadKey(pod);
  m.pod = PodRef::Of(pod);
  m.source = move.source;
  m.target = move.target;
  m.started = clock_.Now();
  // The usage the plan took off the source (sampled when per-pod metrics had it): the source's
  // sample keeps showing it until the metrics catch up, so planning discounts it meanwhile.
  m.estimate = move.usage ? *move.usage : scoring::EstimatePodUsage(pod, scoring_);
  return m;
}

void Evictor::CountAction(const PlannedMove& move) {
  ledger_.CountAction(*move.pod, move.source, *snapshot_);
}

void Evictor::Track(InFlightMove m) {
  ledger_.Track(std::move(m));
  SetInFlightMetric();
}

Outcome Evictor::Execute(const PlannedMove& move) {
  if (std::optional<Outcome> refused = Gate(move)) {
    return Finish(move, refused->result, std::move(refused->message));
  }
  return Act(move);
}

std::optional<Outcome> Evictor::Gate(const PlannedMove& move) {
  const Pod& pod = *move.pod;
  if (ledger_.Removed(pod.meta.uid)) {
    return Outcome{Result::kNotFound, "this pod was already evicted or deleted by an earlier move"};
  }
  if (auto busy = ledger_.InFlightRefusal(WorkloadKey(pod))) return busy;
  if (ProtectionResult p = CheckMovable(pod, *snapshot_, config_); !p.ok()) {
    return Outcome{Result::kProtected, std::string(ProtectionName(p.protection)) + ": " + p.reason};
  }
  // A drain must finish: maintenance moves ignore the cooldowns (never the in-flight rule).
  return ledger_.BudgetRefusal(pod, move.source, move.strategy == kNodeMaintenance, *snapshot_,
                               clock_.Now());
}

Outcome Evictor::Act(const PlannedMove& move) {
  const Pod& pod = *move.pod;
  const bool bare = IsBarePod(pod);
  WorkloadInfo workload_info;
  SingleReplicaDecision single;
  if (!bare) {
    StatusOr<WorkloadInfo> info = Resolve(pod);
    if (!info.ok()) {
      return Finish(move, Result::kError,
                    "cannot resolve the workload: " + info.status().ToString());
    }
    workload_info = std::move(info).value();
    if (ProtectionResult p = CheckWorkload(workload_info, config_); !p.ok()) {
      return Finish(move, Result::kProtected,
                    std::string(ProtectionName(p.protection)) + ": " + p.reason);
    }
    single = DecideSingleReplica(workload_info, config_);
    if (single.action == SingleReplicaAction::kSkip) {
      return Finish(move, Result::kSingleReplica, single.reason);
    }
  }
  if (config_.dry_run) return DryRun(move, bare, single.action);
  if (!MayAct()) return Finish(move, Result::kNotLeader, "leadership lost before acting");
  if (bare) {
    if (auto denied = DeniedBefore(move, kube::kFeatureBarePodMigration)) return *denied;
    return Copy(move, pod);
  }
  if (single.action == SingleReplicaAction::kSurgeRestart) {
    if (auto denied = DeniedBefore(move, kube::kFeatureSurgeRestart)) return *denied;
    return Restart(move, pod, workload_info);
  }
  return Evict(move, pod);
}

std::optional<Outcome> Evictor::DeniedBefore(const PlannedMove& move, std::string_view feature) {
  if (denied_features_.find(feature) == denied_features_.end()) return std::nullopt;
  return Finish(move, Result::kPermissionDenied,
                "not permitted: add the kustomize component deploy/components/" +
                    std::string(feature) + " (RBAC) and restart to enable this kind of move");
}

void Evictor::NoteDenied(std::string_view feature, const char* verb, const char* resource,
                         const Status& s, const Pod& pod) {
  if (metrics_ != nullptr) {
    metrics_->permission_denied.Add({{"verb", verb}, {"resource", resource}}).Increment();
  }
  if (!denied_features_.emplace(feature).second) return;
  const std::string message = std::string("RBAC refused ") + verb + " " + resource +
                              ": moves that need it (" + std::string(feature) +
                              ") are skipped until restart; grant it with the kustomize "
                              "component deploy/components/" +
                              std::string(feature);
  Log()->warn("permission denied feature={} verb={} resource={} pod={}/{} error=\"{}\"", feature,
              verb, resource, LogValue(pod.meta.namespace_), LogValue(pod.meta.name),
              LogValue(s.message()));
  CreateEvent(pod.meta.namespace_, PodObjectRef(PodRef::Of(pod)), true,
              "ReschedulePermissionDenied", message);
}

Outcome Evictor::DryRun(const PlannedMove& move, bool bare, SingleReplicaAction action) {
  CountAction(move);
  ledger_.RecordDryRun(WorkloadKey(*move.pod));
  const std::string how = bare ? "copy to the target, then delete the original"
                          : action == SingleReplicaAction::kSurgeRestart
                              ? "surge restart (restartedAt)"
                              : "eviction";
  return Finish(move, Result::kDryRun, "would move by " + how + ": " + move.reason);
}

Outcome Evictor::Evict(const PlannedMove& move, const Pod& pod) {
  kube::EvictOptions options;
  options.uid_precondition = pod.meta.uid;
  if (config_.eviction_grace_seconds >= 0) {
    options.grace_period_seconds = config_.eviction_grace_seconds;
  }
  // One brain: the extender filters the source and prefers the target for the replacement.
  // Steered before the eviction, so every replica (through the published steering) knows it
  // before the replacement exists; withdrawn when the eviction does not happen.
  std::string steer_id;
  if (steering_ != nullptr) {
    steer_id = steering_->Steer(WorkloadKey(pod), move.source, move.target,
                                clock_.Now() + config_.steer_window, NamespacedName(pod.meta));
  }
  const Status s = client_.EvictPod(pod.meta.namespace_, pod.meta.name, options);
  NoteApiCall(s, PodRef::Of(pod));
  if (s.ok()) {
    CountAction(move);
    ledger_.MarkRemoved(pod.meta.uid, clock_.Now());
    InFlightMove m = NewInFlight(InFlightMove::Kind::kEviction, move, pod);
    for (const PodPtr& p : snapshot_->PodsOwnedBy(m.workload)) m.known_uids.insert(p->meta.uid);
    m.known_uids.insert(pod.meta.uid);
    Track(std::move(m));
    return Finish(move, Result::kSuccess, "evicted: " + move.reason);
  }
  if (steering_ != nullptr && !steer_id.empty()) steering_->Remove(steer_id);
  if (s.code() == StatusCode::kUnavailable && s.cause() == "DisruptionBudget") {
    // A PDB said no: skip the pod this cycle, no retry loop (the next cycle re-plans).
    return Finish(move, Result::kPdbBlocked, s.message());
  }
  if (s.code() == StatusCode::kNotFound) return Finish(move, Result::kNotFound, "pod already gone");
  if (s.code() == StatusCode::kAborted) {
    return Finish(move, Result::kNotFound, "pod was replaced (UID precondition failed)");
  }
  return Finish(move, Result::kError, "eviction failed: " + s.ToString());
}

Outcome Evictor::Restart(const PlannedMove& move, const Pod& pod, const WorkloadInfo& workload) {
  const std::string& ns = pod.meta.namespace_;
  const std::string name = workload.deployment->meta.name;
  std::string skip_reason;
  LabelSelector selector;
  // Read-modify-write: re-read on every 409 and re-check the rules on the fresh object.
  const Status s = kube::RetryOnConflict(options_.conflict_attempts, [&]() -> Status {
    StatusOr<Deployment> d = client_.GetDeployment(ns, name);
    if (!d.ok()) return d.status();
    WorkloadInfo fresh = workload;
    fresh.deployment = *d;
    if (ProtectionResult p = CheckWorkload(fresh, config_); !p.ok()) {
      skip_reason = p.reason;
      return Status::FailedPrecondition(p.reason);
    }
    SingleReplicaDecision decision = DecideSingleReplica(fresh, config_);
    if (decision.action != SingleReplicaAction::kSurgeRestart) {
      skip_reason = decision.action == SingleReplicaAction::kSkip
                        ? decision.reason
                        : "Deployment " + name + " is no longer single-replica";
      return Status::FailedPrecondition(skip_reason);
    }
    selector = d->selector;
    const json patch = {
        {"metadata", {{"resourceVersion", d->meta.resource_version}}},
        {"spec",
         {{"template",
           {{"metadata",
             {{"annotations", {{kRestartedAtAnnotation, FormatRfc3339(clock_.WallNow())}}}}}}}}}};
    return client_.PatchDeployment(ns, name, patch).status();
  });
  if (s.code() != StatusCode::kFailedPrecondition) NoteApiCall(s, PodRef::Of(pod));
  if (s.ok()) {
    CountAction(move);
    InFlightMove m = NewInFlight(InFlightMove::Kind::kRestart, move, pod);
    m.deployment = name;
    m.selector = selector;
    Track(std::move(m));
    return Finish(move, Result::kSuccess,
                  "surge restart of single-replica Deployment " + name + ": " + move.reason);
  }
  if (s.code() == StatusCode::kFailedPrecondition) {
    return Finish(move, Result::kSingleReplica, skip_reason);
  }
  if (s.code() == StatusCode::kNotFound) {
    return Finish(move, Result::kNotFound, "Deployment " + name + " is gone");
  }
  if (s.code() == StatusCode::kPermissionDenied) {
    NoteDenied(kube::kFeatureSurgeRestart, "patch", "deployments", s, pod);
    return Finish(move, Result::kPermissionDenied,
                  "surge restart of Deployment " + name + " not permitted: " + s.message());
  }
  if (s.code() == StatusCode::kAborted) {
    return Finish(move, Result::kError,
                  "restart of Deployment " + name + " still conflicting after " +
                      std::to_string(options_.conflict_attempts) + " attempts");
  }
  return Finish(move, Result::kError, "restart of Deployment " + name + " failed: " + s.ToString());
}

std::string Evictor::RandomSuffix() {
  constexpr size_t n = sizeof(kSuffixAlphabet) - 1;
  std::string s(5, 'x');
  for (char& c : s) c = kSuffixAlphabet[rng_() % n];
  return s;
}

std::string Evictor::CopyName(const std::string& original, const std::string& suffix) {
  std::string base = original;
  // A copy being moved again keeps one prefix: rescheduled-<base>-<old suffix> -> <base>.
  const size_t prefix = sizeof(kCopyPrefix) - 1;
  if (base.size() > prefix + 6 && base.compare(0, prefix, kCopyPrefix) == 0 &&
      base[base.size() - 6] == '-' && std::all_of(base.end() - 5, base.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      })) {
    base = base.substr(prefix, base.size() - prefix - 6);
  }
  const size_t room = kMaxPodName - (sizeof(kCopyPrefix) - 1) - 1 - suffix.size();
  if (base.size() > room) base.resize(room);
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  return std::string(kCopyPrefix) + base + "-" + suffix;
}

json Evictor::MakeCopy(const json& pod_json, const std::string& target, const std::string& suffix) {
  json copy = pod_json;
  copy.erase("status");
  json& meta = copy["metadata"];
  const std::string original = meta.value("name", std::string());
  for (const char* key : {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "managedFields", "generateName",
                          "ownerReferences", "selfLink", "generation"}) {
    meta.erase(key);
  }
  meta["name"] = CopyName(original, suffix);
  // Names the original (by UID) so a later attempt finds this copy instead of making another.
  meta["labels"][kCopyOfLabel] = pod_json["metadata"].value("uid", std::string());
  json& spec = copy["spec"];
  spec.erase("nodeName");
  spec.erase("schedulingGates");  // a pod with gates must not have a nodeName
  spec["nodeName"] = target;
  return copy;
}

std::optional<Outcome> Evictor::ExistingCopy(const Pod& pod) {
  kube::ListOptions options;
  options.label_selector = std::string(kCopyOfLabel) + "=" + pod.meta.uid;
  options.limit = 0;
  StatusOr<kube::RawList> list = client_.List(kube::ResourceKind::kPods, options);
  if (!list.ok()) {
    return Outcome{Result::kError, "look for an existing copy: " + list.status().ToString()};
  }
  for (const json& item : list->items) {
    const json meta = item.value("metadata", json::object());
    if (meta.value("namespace", std::string()) != pod.meta.namespace_) continue;
    if (meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null()) continue;
    ledger_.MarkRemoved(pod.meta.uid, clock_.Now());
    return Outcome{Result::kNotFound, "a copy of this pod already exists (" +
                                          meta.value("name", std::string()) +
                                          "); not copied again"};
  }
  return std::nullopt;
}

Outcome Evictor::Copy(const PlannedMove& move, const Pod& pod) {
  const std::string& ns = pod.meta.namespace_;
  StatusOr<json> raw = client_.GetPod(ns, pod.meta.name);
  NoteApiCall(raw.status(), PodRef::Of(pod));
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) {
      return Finish(move, Result::kNotFound, "pod already gone");
    }
    return Finish(move, Result::kError, "read pod: " + raw.status().ToString());
  }
  const json meta = raw->value("metadata", json::object());
  if (meta.value("uid", std::string()) != pod.meta.uid) {
    return Finish(move, Result::kNotFound, "pod was replaced");
  }
  // The snapshot may predate a delete of the original (by an earlier move's follow-up): the API
  // is the judge.
  if (meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null()) {
    ledger_.MarkRemoved(pod.meta.uid, clock_.Now());
    return Finish(move, Result::kNotFound, "pod is terminating (already moved or being deleted)");
  }
  if (std::optional<Outcome> existing = ExistingCopy(pod)) {
    return Finish(move, existing->result, std::move(existing->message));
  }
  StatusOr<json> created = Status::Internal("no attempt");
  json copy;
  for (int attempt = 0; attempt < options_.conflict_attempts; ++attempt) {
    copy = MakeCopy(*raw, move.target, RandomSuffix());
    created = client_.CreatePod(ns, copy);
    NoteApiCall(created.status(), PodRef::Of(pod));
    if (created.ok() || created.status().code() != StatusCode::kAlreadyExists) break;
  }
  if (created.status().code() == StatusCode::kPermissionDenied) {
    NoteDenied(kube::kFeatureBarePodMigration, "create", "pods", created.status(), pod);
    return Finish(move, Result::kPermissionDenied,
                  "copy not permitted: " + created.status().message());
  }
  if (!created.ok()) {
    return Finish(move, Result::kError, "create copy: " + created.status().ToString());
  }
  CountAction(move);
  InFlightMove m = NewInFlight(InFlightMove::Kind::kCopy, move, pod);
  m.copy_name = copy["metadata"].value("name", std::string());
  if (created->contains("metadata"))
    m.copy_uid = (*created)["metadata"].value("uid", std::string());
  const std::string copy_name = m.copy_name;
  Track(std::move(m));
  return Finish(move, Result::kSuccess,
                "created copy " + copy_name + " on " + move.target +
                    " (the original goes once it is Ready): " + move.reason);
}

}  // namespace kb::resched
