// Evictor, follow-up of the moves in flight: each kind of move ends when its replacement is
// Ready (or landed back, failed, or timed out); the outcome goes through Record() and into the
// ledger (cooldowns, back-offs).
#include "rescheduler/evictor.h"
#include "rescheduler/logging.h"

namespace kb::resched {

namespace {

bool IsRunningReady(const Pod& pod) { return pod.IsRunning() && pod.IsReady(); }

// A Ready replacement off the source: on the planned target, or elsewhere.
Result ReadyOutcome(const InFlightMove& m, const Pod& replacement) {
  return replacement.node_name == m.target ? Result::kOnTarget : Result::kOtherNode;
}

}  // namespace

int Evictor::FollowUp() {
  if (!snapshot_) return 0;
  const int ended = ledger_.Settle([this](const InFlightMove& m) { return Follow(m); });
  SetInFlightMetric();
  return ended;
}

bool Evictor::Follow(const InFlightMove& m) {
  switch (m.kind) {
    case InFlightMove::Kind::kEviction:
      return FollowEviction(m);
    case InFlightMove::Kind::kRestart:
      return FollowRestart(m);
    case InFlightMove::Kind::kCopy:
      return FollowCopy(m);
  }
  return false;
}

bool Evictor::FollowEviction(const InFlightMove& m) {
  const SteadyTime now = clock_.Now();
  PodPtr replacement;
  for (const PodPtr& p : snapshot_->PodsOwnedBy(m.workload)) {
    if (m.known_uids.count(p->meta.uid) != 0 || !IsRunningReady(*p)) continue;
    replacement = p;
    break;
  }
  if (replacement) {
    ledger_.CoolDownPod(replacement->meta.uid, now);
    const PodRef ref = PodRef::Of(*replacement);
    if (replacement->node_name == m.source) {
      // The scheduler prefers the source for this workload: moving it again would loop, so leave
      // it alone for the cooldown.
      ledger_.BackOff(m.workload, now);
      Record(m.strategy, ref, m.source, m.target, Result::kLandedBack,
             "replacement of " + m.pod.name + " landed back on " + m.source +
                 "; workload backed off for the cooldown");
    } else {
      Record(m.strategy, ref, m.source, replacement->node_name, ReadyOutcome(m, *replacement),
             "replacement of " + m.pod.name + " is Ready on " + replacement->node_name);
    }
    return true;
  }
  if (now - m.started > config_.replacement_timeout) {
    ledger_.BackOff(m.workload, now);
    Record(m.strategy, m.pod, m.source, m.target, Result::kReplacementTimeout,
           "no Ready replacement within replacementTimeout; workload backed off for the "
           "cooldown");
    return true;
  }
  return false;
}

bool Evictor::FollowRestart(const InFlightMove& m) {
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
      ledger_.CoolDownPod(p->meta.uid, now);
      ledger_.CoolDownWorkload(WorkloadKey(*p), now);
      landed_back = landed_back || p->node_name == m.source;
    }
    const PodRef ref = PodRef::Of(*fresh.front());
    if (landed_back) {
      // The restart made a new ReplicaSet: guard both keys against another round.
      ledger_.BackOff(m.workload, now);
      ledger_.BackOff(WorkloadKey(*fresh.front()), now);
      Record(m.strategy, ref, m.source, m.target, Result::kLandedBack,
             "restarted Deployment " + m.deployment + " landed back on " + m.source);
    } else {
      Record(m.strategy, ref, m.source, fresh.front()->node_name, ReadyOutcome(m, *fresh.front()),
             "restarted Deployment " + m.deployment + " is Ready on " + fresh.front()->node_name);
    }
    return true;
  }
  if (now - m.started > config_.replacement_timeout) {
    ledger_.BackOff(m.workload, now);
    Record(
        m.strategy, m.pod, m.source, m.target, Result::kReplacementTimeout,
        "surge restart of Deployment " + m.deployment + " not complete within replacementTimeout");
    return true;
  }
  return false;
}

bool Evictor::FollowCopy(const InFlightMove& m) {
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
    NoteApiCall(s, m.pod);
    if (s.ok() || s.code() == StatusCode::kNotFound || s.code() == StatusCode::kAborted) {
      ledger_.CoolDownPod(copy->meta.uid, now);
      ledger_.MarkRemoved(m.pod.uid, now);
      Record(m.strategy, PodRef::Of(*copy), m.source, m.target, Result::kOnTarget,
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
    NoteApiCall(s, m.pod);
    if (!s.ok() && s.code() != StatusCode::kNotFound && s.code() != StatusCode::kAborted &&
        !timed_out) {
      return false;  // try again at the next follow-up
    }
    ledger_.BackOff(m.workload, now);
    Record(m.strategy, m.pod, m.source, m.target,
           failed ? Result::kReplacementFailed : Result::kReplacementTimeout,
           "copy " + m.copy_name + (failed ? " failed" : " not Ready within replacementTimeout") +
               "; copy deleted, original kept" +
               (s.ok() ? "" : " (delete copy: " + s.ToString() + ")"));
    return true;
  }
  return false;
}

}  // namespace kb::resched
