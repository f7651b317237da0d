// Steering: the rescheduler's note to the extender after an eviction ("one brain"). For a pod whose
// controller owner (the ReplicaSet) has an active entry, the policy filters the source node(s)
// ("steered away from <source> after rescheduling") and gives the planned target the maximum score,
// so the replacement neither lands back nor herds elsewhere; nothing in the workload is modified.
//
// Entries come from two places: this process's rescheduler (Steer: "local") and the decisions the
// rescheduler leader published for every replica (SetRemote, fed by rescheduler/steering_sync.h:
// "remote"). Lookup merges both, so whichever replica kube-scheduler calls steers alike. Entries
// expire by Clock::Now() (steady); each also carries its wall-clock expiry for publication.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/model.h"

namespace kb::scoring {

// What the policy needs for one pod: nodes to avoid and the preferred node ("" = none).
struct SteerDecision {
  std::vector<std::string> avoid_nodes;  // sorted, unique
  std::string prefer_node;
  bool Avoids(const std::string& node) const;
};

// One decision, as listed by Active() and as published.
struct SteerEntry {
  std::string id;  // unique per decision: "<owner>/<source>/<expiry>" (dedupes local vs remote)
  std::string owner_uid;
  std::string pod;  // the moved pod, "<namespace>/<name>" ("" when unknown); for operators
  std::string source_node;
  std::string target_node;  // "" once consumed by a binding there
  SteadyTime until{};
  WallTime expires_at{};  // the same instant on the wall clock (what replicas exchange)
  bool remote = false;    // read from the published decisions, not decided by this process
};

class Steering {
 public:
  explicit Steering(Clock& clock);

  // Records a move of a pod of `owner_uid` from `source_node` to `target_node`, active until
  // `until`, and returns its id ("" when `owner_uid` is empty). Several moves of one owner
  // accumulate: every source stays avoided until its own expiry; the most recent unconsumed
  // target is preferred. Then runs the hook (SetOnSteer), on the caller's thread.
  std::string Steer(const std::string& owner_uid, const std::string& source_node,
                    const std::string& target_node, SteadyTime until, const std::string& pod = "");

  // Withdraws the local entry `id` (the move it was recorded for did not happen).
  void Remove(const std::string& id);

  // `hook` runs after every Steer, outside the lock (rescheduler/steering_sync.h publishes the
  // decision to the other replicas there, before the eviction). Set before use; not thread-safe.
  void SetOnSteer(std::function<void()> hook) { on_steer_ = std::move(hook); }

  // The active decision for `pod` (by its controller owner UID), or nullopt when none applies
  // (no controller, no entry, or all expired). Cost: one lock and two map lookups.
  std::optional<SteerDecision> Lookup(const Pod& pod) const;
  std::optional<SteerDecision> LookupOwner(const std::string& owner_uid) const;

  // A pod of `pod`'s owner was bound to `node`: a target preference for `node` is consumed (the
  // replacement arrived), so later pods of the owner (e.g. a scale-up) are not all pulled there.
  // Avoided sources stay until expiry. A consumed remote entry stays consumed when re-read.
  void OnBound(const Pod& pod, const std::string& node);

  // Removes every local entry of `owner_uid` (a published copy read back is ignored).
  void Clear(const std::string& owner_uid);

  // Replaces every remote entry with `entries` (their `until` is derived from `expires_at`;
  // expired ones and ones with the id of a local entry are ignored).
  void SetRemote(const std::vector<SteerEntry>& entries);
  // Forgets every remote entry: the published decisions cannot be read (fail open).
  void ClearRemote();

  // Active (unexpired) entries, local and remote (an id present in both listed once, as local),
  // soonest expiry first; also prunes expired ones.
  std::vector<SteerEntry> Active() const;

 private:
  void PruneLocked(SteadyTime now) const;
  void AppendLocked(const std::multimap<std::string, SteerEntry>& from,
                    const std::string& owner_uid, SteadyTime now,
                    std::vector<const SteerEntry*>* out) const;

  Clock& clock_;
  std::function<void()> on_steer_;
  mutable std::mutex mu_;
  mutable std::multimap<std::string, SteerEntry> entries_;  // local, by owner UID. Guarded by mu_.
  mutable std::multimap<std::string, SteerEntry> remote_;   // by owner UID. Guarded by mu_.
  std::map<std::string, SteadyTime> consumed_;  // remote ids consumed here -> until. Guarded.
  // Local ids removed or cleared -> until: a published copy read back is not adopted. Guarded.
  std::map<std::string, SteadyTime> withdrawn_;
};

}  // namespace kb::scoring
