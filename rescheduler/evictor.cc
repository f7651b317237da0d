#include "rescheduler/evictor.h"

#include <algorithm>
#include <cstdio>

#include "rescheduler/logging.h"
#include "scoring/load_model.h"

namespace kb::resched {

namespace {

using nlohmann::json;

constexpr size_t kMaxPodName = 253;
constexpr char kCopyPrefix[] = "rescheduled-";
// Kubernetes' generateName alphabet (no vowels, no confusable digits).
constexpr char kSuffixAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";

bool IsRunningReady(const Pod& pod) {
  return pod.phase == "Running" && pod.IsReady() && !pod.IsTerminating();
}

json PodObjectRef(const PodRef& pod) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"name", pod.name},
          {"namespace", pod.ns},
          {"uid", pod.uid}};
}

std::string Shorten(std::string s, size_t max) {
  if (s.size() > max) {
    s.resize(max - 3);
    s += "...";
  }
  return s;
}

}  // namespace

const char* ResultName(Result r) {
  switch (r) {
    case Result::kSuccess:
      return "success";
    case Result::kDryRun:
      return "dry_run";
    case Result::kLimitCycle:
      return "limit_cycle";
    case Result::kLimitNode:
      return "limit_node";
    case Result::kLimitNamespace:
      return "limit_namespace";
    case Result::kPdbBlocked:
      return "pdb_blocked";
    case Result::kProtected:
      return "protected";
    case Result::kInFlight:
      return "in_flight";
    case Result::kCooldown:
      return "cooldown";
    case Result::kSingleReplica:
      return "single_replica";
    case Result::kNotFound:
      return "not_found";
    case Result::kUnmovable:
      return "unmovable";
    case Result::kNotLeader:
      return "not_leader";
    case Result::kError:
      return "error";
    case Result::kReplacementReady:
      return "ready";
    case Result::kLandedBack:
      return "landed_back";
    case Result::kReplacementTimeout:
      return "timeout";
    case Result::kReplacementFailed:
      return "failed";
  }
  return "error";
}

const char* InFlightKindName(InFlightMove::Kind kind) {
  switch (kind) {
    case InFlightMove::Kind::kEviction:
      return "eviction";
    case InFlightMove::Kind::kRestart:
      return "restart";
    case InFlightMove::Kind::kCopy:
      return "copy";
  }
  return "eviction";
}

Evictor::Evictor(kube::KubeClient& client, Clock& clock, ReschedulerConfig config,
                 ScoringConfig scoring, scoring::Steering* steering, ReschedulerMetrics* metrics,
                 EvictorOptions options)
    : client_(client),
      clock_(clock),
      config_(std::move(config)),
      scoring_(std::move(scoring)),
      steering_(steering),
      metrics_(metrics),
      options_(std::move(options)),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

void Evictor::SetMayAct(std::function<bool()> may_act) { may_act_ = std::move(may_act); }

void Evictor::BeginCycle(std::shared_ptr<const ClusterSnapshot> snapshot, bool new_window) {
  snapshot_ = std::move(snapshot);
  if (new_window) {
    cycle_moves_ = 0;
    node_moves_.clear();
    namespace_moves_.clear();
    dry_run_workloads_.clear();
  }
  // The PDB ledger counts this cycle's evictions on top of the snapshot's status.
  pdb_used_.clear();
  workloads_.clear();
  const SteadyTime now = clock_.Now();
  std::erase_if(cooldown_pods_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(cooldown_workloads_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(emitted_, [now](const auto& e) { return e.second <= now; });
  std::erase_if(recent_, [&](const Recent& r) { return now - r.at > config_.steer_window; });
}

void Evictor::Reset() {
  in_flight_.clear();
  cooldown_pods_.clear();
  cooldown_workloads_.clear();
  sessions_.clear();
  recent_.clear();
  if (metrics_ != nullptr) metrics_->in_flight.Set(0);
}

PlanState Evictor::PlanningState() const {
  PlanState s;
  for (const InFlightMove& m : in_flight_) s.busy_workloads.insert(m.workload);
  const SteadyTime now = clock_.Now();
  for (const auto& [uid, until] : cooldown_pods_) {
    if (until > now) s.cooldown_pods.insert(uid);
  }
  for (const auto& [key, until] : cooldown_workloads_) {
    if (until > now) s.cooldown_workloads.insert(key);
  }
  for (const Recent& r : recent_) {
    if (now - r.at <= config_.steer_window) s.recent_moves.push_back(r.move);
  }
  return s;
}

// ---- Record: the one funnel -------------------------------------------------------------------

bool Evictor::ShouldEmit(const std::string& key) {
  const SteadyTime now = clock_.Now();
  auto it = emitted_.find(key);
  if (it != emitted_.end() && it->second > now) return false;
  emitted_[key] = now + config_.cooldown;
  return true;
}

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

void Evictor::Record(const std::string& strategy, const PodRef& pod, const std::string& source,
                     const std::string& target, Result result, const std::string& message) {
  const char* name = ResultName(result);
  const bool completion = result == Result::kReplacementReady || result == Result::kLandedBack ||
                          result == Result::kReplacementTimeout ||
                          result == Result::kReplacementFailed;
  if (metrics_ != nullptr) {
    if (completion) {
      metrics_->CountReplacement(strategy, name);
    } else {
      metrics_->CountEviction(strategy, name);
    }
  }
  // Repeated non-actions (a pod blocked by its PDB every cycle, a protected pod) log once at
  // info per cooldown and at debug afterwards: no error storm (anchors pitfall 5).
  bool first = true;
  switch (result) {
    case Result::kPdbBlocked:
    case Result::kProtected:
    case Result::kSingleReplica:
    case Result::kUnmovable:
      first = ShouldEmit(std::string("log|") + name + "|" + pod.uid + "|" + message);
      break;
    default:
      break;
  }
  auto log = Log();
  spdlog::level::level_enum level = spdlog::level::info;
  switch (result) {
    case Result::kError:
    case Result::kLandedBack:
    case Result::kReplacementTimeout:
    case Result::kReplacementFailed:
      level = spdlog::level::warn;
      break;
    case Result::kLimitCycle:
    case Result::kLimitNode:
    case Result::kLimitNamespace:
    case Result::kInFlight:
    case Result::kCooldown:
    case Result::kNotLeader:
      level = spdlog::level::debug;
      break;
    case Result::kPdbBlocked:
    case Result::kProtected:
    case Result::kSingleReplica:
    case Result::kUnmovable:
      level = first ? spdlog::level::info : spdlog::level::debug;
      break;
    default:
      break;
  }
  log->log(level,
           "move result={} strategy={} pod={}/{} source={} target={} dry_run={} reason=\"{}\"",
           name, strategy, pod.ns, pod.name, source, target.empty() ? "-" : target, config_.dry_run,
           message);

  // Events on the pod: Rescheduled for an action, RescheduleFailed for a lasting failure.
  switch (result) {
    case Result::kSuccess:
      CreateEvent(
          pod.ns, PodObjectRef(pod), false, "Rescheduled",
          "Moved from " + source + " toward " + target + " by " + strategy + ": " + message);
      break;
    case Result::kError:
    case Result::kSingleReplica:
    case Result::kLandedBack:
    case Result::kReplacementTimeout:
    case Result::kReplacementFailed:
      if (ShouldEmit(std::string("event|") + name + "|" + pod.uid)) {
        CreateEvent(
            pod.ns, PodObjectRef(pod), true, "RescheduleFailed",
            strategy + " could not move the pod off " + source + " (" + name + "): " + message);
      }
      break;
    default:
      break;
  }
}

Outcome Evictor::Finish(const PlannedMove& move, Result result, std::string message) {
  Record(move.strategy, PodRef::Of(*move.pod), move.source, move.target, result, message);
  return Outcome{result, std::move(message)};
}

void Evictor::ReportUnmovable(const UnmovablePod& u) {
  const PodRef pod = PodRef::Of(*u.pod);
  Record(u.strategy, pod, u.node, "", Result::kUnmovable, u.reason);
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
  m.estimate = scoring::EstimatePodUsage(pod, scoring_);
  return m;
}

void Evictor::CountAction(const PlannedMove& move) {
  ++cycle_moves_;
  ++node_moves_[move.source];
  ++namespace_moves_[move.pod->meta.namespace_];
  for (const PdbPtr& pdb : snapshot_->PdbsForPod(*move.pod)) {
    ++pdb_used_[NamespacedName(pdb->meta)];
  }
}

void Evictor::Track(InFlightMove m) {
  sessions_.insert(m.workload);
  recent_.push_back({RecentMove{m.source, m.target, m.estimate}, clock_.Now()});
  in_flight_.push_back(std::move(m));
  if (metrics_ != nullptr) metrics_->in_flight.Set(static_cast<double>(in_flight_.size()));
}

Outcome Evictor::Execute(const PlannedMove& move) {
  const Pod& pod = *move.pod;
  const std::string workload = WorkloadKey(pod);
  const bool busy = std::any_of(in_flight_.begin(), in_flight_.end(),
                                [&](const InFlightMove& m) { return m.workload == workload; });
  if (busy || dry_run_workloads_.count(workload) != 0) {
    return Finish(move, Result::kInFlight, "a move of this workload is in flight");
  }
  if (ProtectionResult p = CheckMovable(pod, *snapshot_, config_); !p.ok()) {
    return Finish(move, Result::kProtected,
                  std::string(ProtectionName(p.protection)) + ": " + p.reason);
  }
  // A drain must finish: maintenance moves ignore the cooldowns (never the in-flight rule).
  if (move.strategy != kNodeMaintenance) {
    const SteadyTime now = clock_.Now();
    auto p = cooldown_pods_.find(pod.meta.uid);
    auto w = cooldown_workloads_.find(workload);
    if ((p != cooldown_pods_.end() && p->second > now) ||
        (w != cooldown_workloads_.end() && w->second > now)) {
      return Finish(move, Result::kCooldown, "moved within cooldown");
    }
  }
  if (cycle_moves_ >= config_.max_reschedule_pods) {
    return Finish(
        move, Result::kLimitCycle,
        "maxReschedulePods " + std::to_string(config_.max_reschedule_pods) + " reached this cycle");
  }
  if (node_moves_[move.source] >= config_.max_reschedule_pods_per_node) {
    return Finish(move, Result::kLimitNode,
                  "maxReschedulePodsPerNode " +
                      std::to_string(config_.max_reschedule_pods_per_node) + " reached for " +
                      move.source);
  }
  if (namespace_moves_[pod.meta.namespace_] >= config_.max_reschedule_pods_per_namespace) {
    return Finish(move, Result::kLimitNamespace,
                  "maxReschedulePodsPerNamespace " +
                      std::to_string(config_.max_reschedule_pods_per_namespace) + " reached for " +
                      pod.meta.namespace_);
  }
  if (config_.protections.pdb_precheck) {
    for (const PdbPtr& pdb : snapshot_->PdbsForPod(pod)) {
      if (pdb->observed_generation < pdb->meta.generation) continue;  // the API server decides
      const int used = pdb_used_[NamespacedName(pdb->meta)];
      if (pdb->disruptions_allowed - used <= 0) {
        return Finish(move, Result::kPdbBlocked,
                      "PodDisruptionBudget " + NamespacedName(pdb->meta) +
                          " allows no disruption now (" + std::to_string(pdb->disruptions_allowed) +
                          " allowed, " + std::to_string(used) + " used this cycle)");
      }
    }
  }

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

  if (config_.dry_run) {
    CountAction(move);
    dry_run_workloads_.insert(workload);
    std::string how = bare ? "copy to the target, then delete the original"
                      : single.action == SingleReplicaAction::kSurgeRestart
                          ? "surge restart (restartedAt)"
                          : "eviction";
    return Finish(move, Result::kDryRun, "would move by " + how + ": " + move.reason);
  }
  if (!MayAct()) return Finish(move, Result::kNotLeader, "leadership lost before acting");
  if (bare) return Copy(move, pod);
  if (single.action == SingleReplicaAction::kSurgeRestart) {
    return Restart(move, pod, workload_info);
  }
  return Evict(move, pod);
}

Outcome Evictor::Evict(const PlannedMove& move, const Pod& pod) {
  kube::EvictOptions options;
  options.uid_precondition = pod.meta.uid;
  if (config_.eviction_grace_seconds >= 0) {
    options.grace_period_seconds = config_.eviction_grace_seconds;
  }
  const Status s = client_.EvictPod(pod.meta.namespace_, pod.meta.name, options);
  if (s.ok()) {
    CountAction(move);
    InFlightMove m = NewInFlight(InFlightMove::Kind::kEviction, move, pod);
    for (const PodPtr& p : snapshot_->PodsOwnedBy(m.workload)) m.known_uids.insert(p->meta.uid);
    m.known_uids.insert(pod.meta.uid);
    // One brain: the extender filters the source and prefers the target for the replacement.
    if (steering_ != nullptr) {
      steering_->Steer(m.workload, move.source, move.target, clock_.Now() + config_.steer_window);
    }
    Track(std::move(m));
    return Finish(move, Result::kSuccess, "evicted: " + move.reason);
  }
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
  json& spec = copy["spec"];
  spec.erase("nodeName");
  spec.erase("schedulingGates");  // a pod with gates must not have a nodeName
  spec["nodeName"] = target;
  return copy;
}

Outcome Evictor::Copy(const PlannedMove& move, const Pod& pod) {
  const std::string& ns = pod.meta.namespace_;
  StatusOr<json> raw = client_.GetPod(ns, pod.meta.name);
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) {
      return Finish(move, Result::kNotFound, "pod already gone");
    }
    return Finish(move, Result::kError, "read pod: " + raw.status().ToString());
  }
  const std::string uid =
      raw->contains("metadata") ? (*raw)["metadata"].value("uid", std::string()) : "";
  if (uid != pod.meta.uid) return Finish(move, Result::kNotFound, "pod was replaced");
  StatusOr<json> created = Status::Internal("no attempt");
  json copy;
  for (int attempt = 0; attempt < options_.conflict_attempts; ++attempt) {
    copy = MakeCopy(*raw, move.target, RandomSuffix());
    created = client_.CreatePod(ns, copy);
    if (created.ok() || created.status().code() != StatusCode::kAlreadyExists) break;
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

// ---- Follow-up --------------------------------------------------------------------------------

int Evictor::FollowUp() {
  if (!snapshot_) return 0;
  int ended = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    bool done = false;
    switch (it->kind) {
      case InFlightMove::Kind::kEviction:
        done = FollowEviction(*it);
        break;
      case InFlightMove::Kind::kRestart:
        done = FollowRestart(*it);
        break;
      case InFlightMove::Kind::kCopy:
        done = FollowCopy(*it);
        break;
    }
    if (done) {
      ++ended;
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  if (metrics_ != nullptr) metrics_->in_flight.Set(static_cast<double>(in_flight_.size()));
  return ended;
}

bool Evictor::FollowEviction(InFlightMove& m) {
  const SteadyTime now = clock_.Now();
  PodPtr replacement;
  for (const PodPtr& p : snapshot_->PodsOwnedBy(m.workload)) {
    if (m.known_uids.count(p->meta.uid) != 0 || !IsRunningReady(*p)) continue;
    replacement = p;
    break;
  }
  if (replacement) {
    cooldown_pods_[replacement->meta.uid] = now + config_.cooldown;
    const PodRef ref = PodRef::Of(*replacement);
    if (replacement->node_name == m.source) {
      // Closed loop (anchors pitfall 2): never try this workload again within cooldown.
      cooldown_workloads_[m.workload] = now + config_.cooldown;
      sessions_.erase(m.workload);
      Record(m.strategy, ref, m.source, m.target, Result::kLandedBack,
             "replacement of " + m.pod.name + " landed back on " + m.source +
                 "; workload backed off for the cooldown");
    } else {
      Record(m.strategy, ref, m.source, replacement->node_name, Result::kReplacementReady,
             "replacement of " + m.pod.name + " is Ready on " + replacement->node_name);
    }
    return true;
  }
  if (now - m.started > config_.replacement_timeout) {
    cooldown_workloads_[m.workload] = now + config_.cooldown;
    sessions_.erase(m.workload);
    Record(m.strategy, m.pod, m.source, m.target, Result::kReplacementTimeout,
           "no Ready replacement within replacementTimeout; workload backed off for the "
           "cooldown");
    return true;
  }
  return false;
}

bool Evictor::FollowRestart(InFlightMove& m) {
  const SteadyTime now = clock_.Now();
  bool original_present = false;
  std::vector<PodPtr> fresh;
  bool any_ready = false;
  for (const auto& [node, pods] : *snapshot_->pods_by_node) {
    for (const PodPtr& p : *pods) {
      if (p->meta.namespace_ != m.pod.ns) continue;
      if (p->meta.uid == m.pod.uid) {
        original_present = !p->IsFinished();
        continue;
      }
      if (p->IsTerminating() || p->IsFinished() || !m.selector.Matches(p->meta.labels)) continue;
      fresh.push_back(p);
      any_ready = any_ready || IsRunningReady(*p);
    }
  }
  if (!original_present && any_ready) {
    bool landed_back = false;
    for (const PodPtr& p : fresh) {
      cooldown_pods_[p->meta.uid] = now + config_.cooldown;
      cooldown_workloads_[WorkloadKey(*p)] = now + config_.cooldown;
      landed_back = landed_back || p->node_name == m.source;
    }
    const PodRef ref = PodRef::Of(*fresh.front());
    if (landed_back) {
      Record(m.strategy, ref, m.source, m.target, Result::kLandedBack,
             "restarted Deployment " + m.deployment + " landed back on " + m.source);
    } else {
      Record(m.strategy, ref, m.source, fresh.front()->node_name, Result::kReplacementReady,
             "restarted Deployment " + m.deployment + " is Ready on " + fresh.front()->node_name);
    }
    return true;
  }
  if (now - m.started > config_.replacement_timeout) {
    cooldown_workloads_[m.workload] = now + config_.cooldown;
    Record(
        m.strategy, m.pod, m.source, m.target, Result::kReplacementTimeout,
        "surge restart of Deployment " + m.deployment + " not complete within replacementTimeout");
    return true;
  }
  return false;
}

bool Evictor::FollowCopy(InFlightMove& m) {
  const SteadyTime now = clock_.Now();
  PodPtr copy;
  for (const PodPtr& p : snapshot_->PodsOnNode(m.target)) {
    if (p->meta.namespace_ == m.pod.ns && p->meta.name == m.copy_name) {
      copy = p;
      break;
    }
  }
  const bool timed_out = now - m.started > config_.replacement_timeout;
  const bool failed = copy && copy->phase == "Failed";
  if (copy && IsRunningReady(*copy)) {
    if (!MayAct()) return false;
    // The copy serves: now the original may go (UID precondition: never a namesake).
    const Status s = client_.DeletePod(m.pod.ns, m.pod.name, m.pod.uid);
    if (s.ok() || s.code() == StatusCode::kNotFound || s.code() == StatusCode::kAborted) {
      cooldown_pods_[copy->meta.uid] = now + config_.cooldown;
      Record(m.strategy, PodRef::Of(*copy), m.source, m.target, Result::kReplacementReady,
             "copy " + m.copy_name + " is Ready on " + m.target + "; original " + m.pod.name +
                 " deleted");
      return true;
    }
    if (!timed_out) {
      Log()->warn("delete original failed pod={}/{} copy={} error={} (retrying next cycle)",
                  m.pod.ns, m.pod.name, m.copy_name, s.ToString());
      return false;
    }
    Record(
        m.strategy, m.pod, m.source, m.target, Result::kReplacementFailed,
        "copy " + m.copy_name + " is Ready but the original could not be deleted: " + s.ToString());
    return true;
  }
  if (failed || timed_out) {
    if (!MayAct()) return false;
    const Status s = client_.DeletePod(m.pod.ns, m.copy_name, m.copy_uid);
    if (!s.ok() && s.code() != StatusCode::kNotFound && s.code() != StatusCode::kAborted &&
        !timed_out) {
      return false;  // try again at the next follow-up
    }
    cooldown_workloads_[m.workload] = now + config_.cooldown;
    Record(m.strategy, m.pod, m.source, m.target,
           failed ? Result::kReplacementFailed : Result::kReplacementTimeout,
           "copy " + m.copy_name + (failed ? " failed" : " not Ready within replacementTimeout") +
               "; copy deleted, original kept" +
               (s.ok() ? "" : " (delete copy: " + s.ToString() + ")"));
    return true;
  }
  return false;
}

void Evictor::EndCycle(const std::unordered_set<std::string>& planned_workloads,
                       bool plan_truncated) {
  if (plan_truncated) return;
  const SteadyTime now = clock_.Now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const bool busy = std::any_of(in_flight_.begin(), in_flight_.end(),
                                  [&](const InFlightMove& m) { return m.workload == *it; });
    if (!busy && planned_workloads.count(*it) == 0) {
      cooldown_workloads_[*it] = now + config_.cooldown;
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kb::resched
