// ClusterObserver: what happened to pods during a demo play or an e2e test (placements,
// evictions, moves, PDB health), from kube-sim's audit stream (the requests kube-balancer made)
// and a sample of the pod list on every controller pass: the ground truth the plays and tests
// assert on.
// Thread-safe: internally synchronised (the audit sink and the control loop call it from
// kube-sim's threads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "sim/api_server.h"

namespace kb::sim {

class ClusterObserver {
 public:
  struct PodRecord {
    std::string uid, ns, name, owner_uid;  // owner: controller ownerReference uid ("" = bare)
    nlohmann::json labels;
    std::string node;                  // last node seen ("" = not bound yet)
    std::set<std::string> nodes;       // every node it was seen on
    bool created_by_balancer = false;  // kube-balancer POSTed it (a bare-pod copy)
    bool ready = false;                // Ready at the last sample
    bool gone = false;                 // deleted / terminating
    uint64_t first_pass = 0, gone_pass = 0;
  };
  struct Move {  // a pod kube-balancer evicted or deleted
    std::string uid, ns, name, owner_uid, source_node, how;  // how: "eviction" | "delete"
    uint64_t pass = 0;
    std::string replacement_uid;  // linked replacement ("" = none seen yet)
    std::string replacement_node;
  };

  explicit ClusterObserver(ApiServer& server);
  // Registers the audit sink and the sampling control loop (safe to outlive the observer).
  void Attach();

  std::vector<PodRecord> Pods() const;
  std::vector<Move> Moves() const;
  // Successful evictions (HTTP 201) and pod deletions by kube-balancer, per pod name.
  std::map<std::string, int> EvictionsPerPod() const;
  int RefusedEvictions() const;  // 429s
  // Starts checking every PDB on every pass: Ready, non-terminating pods matching the selector
  // must stay >= status.desiredHealthy. Violations() lists each breach once per PDB.
  void StartPdbWatch();
  std::vector<std::string> PdbViolations() const;
  // Problems in the move history: a pod evicted twice, a replacement placed back on the node its
  // predecessor left, a replacement moved again.
  // Pods evicted twice, replacements back on their source, and replacements moved again. A
  // replacement moved again off a node in `drained` (a node put in maintenance after the first
  // move) is not a violation: a drain moves every pod, a recent successful move's cooldown
  // included (docs/rescheduler.md); only land-backs and failed moves block it.
  std::vector<std::string> MoveViolations(const std::set<std::string>& drained = {}) const;
  uint64_t passes() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace kb::sim
