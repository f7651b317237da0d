// Steering: the rescheduler's note to the extender after an eviction ("one brain"). For a pod whose
// controller owner (the ReplicaSet) has an active entry, the policy filters the source node(s)
// ("steered away from <source> after rescheduling") and gives the planned target the maximum score,
// so the replacement neither lands back nor herds elsewhere; nothing in the workload is modified.
// Entries expire by Clock::Now() (steady). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
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

// One entry as listed by Active() (for /debug endpoints).
struct SteerEntry {
  std::string owner_uid;
  std::string source_node;
  std::string target_node;  // "" once consumed by a binding there
  SteadyTime until{};
};

class Steering {
 public:
  explicit Steering(Clock& clock);

  // Records a move of a pod of `owner_uid` from `source_node` to `target_node`, active until
  // `until`. Several moves of one owner accumulate: every source stays avoided until its own
  // expiry; the most recent unconsumed target is preferred.
  void Steer(const std::string& owner_uid, const std::string& source_node,
             const std::string& target_node, SteadyTime until);

  // The active decision for `pod` (by its controller owner UID), or nullopt when none applies
  // (no controller, no entry, or all expired). Cost: one lock and a map lookup.
  std::optional<SteerDecision> Lookup(const Pod& pod) const;
  std::optional<SteerDecision> LookupOwner(const std::string& owner_uid) const;

  // A pod of `pod`'s owner was bound to `node`: a target preference for `node` is consumed (the
  // replacement arrived), so later pods of the owner (e.g. a scale-up) are not all pulled there.
  // Avoided sources stay until expiry.
  void OnBound(const Pod& pod, const std::string& node);

  // Removes every entry of `owner_uid`.
  void Clear(const std::string& owner_uid);

  // Active (unexpired) entries, soonest expiry first; also prunes expired ones.
  std::vector<SteerEntry> Active() const;

 private:
  void PruneLocked(SteadyTime now) const;

  Clock& clock_;
  mutable std::mutex mu_;
  mutable std::multimap<std::string, SteerEntry> entries_;  // by owner UID. Guarded by mu_.
};

}  // namespace kb::scoring
