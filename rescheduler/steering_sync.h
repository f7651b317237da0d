// SteeringSync: steering on every replica. kube-scheduler may call any kube-balancer replica, but
// only the rescheduler leader decides moves, so the leader publishes its steering decisions to one
// ConfigMap it owns in its lease namespace (rescheduler.steeringConfigMap), and every replica,
// the leader included, reads it back into its scoring::Steering as remote entries. No user object
// is ever written.
//
// ConfigMap layout: data["entries.json"] = a JSON array, soonest expiry first, of
//   {"id", "owner" (controller owner UID), "pod" ("<ns>/<name>"), "source", "target",
//    "expires" (RFC 3339)}
// bounded by rescheduler.steeringMaxEntries (the entries expiring soonest are dropped first) and
// pruned of expired entries at every publication. data["publisher"] names the writer's identity.
//
// Fail open: when the ConfigMap cannot be read (API error, RBAC, malformed data) the replica
// forgets the remote entries and serves without them, logs a warning once per outage, sets
// kube_balancer_steering_readable to 0 and shows the error in /debug/steering. A missing
// ConfigMap (404) is readable and empty: nothing was published yet. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "kube/kube_client.h"
#include "scoring/steering.h"

namespace kb::resched {

struct SteeringSyncOptions {
  std::string ns;    // rescheduler.leaderElection.leaseNamespace
  std::string name;  // rescheduler.steeringConfigMap
  std::string identity;
  Millis interval{1000};  // rescheduler.steeringSyncInterval
  int max_entries = 500;  // rescheduler.steeringMaxEntries
  // After publishing a new decision from Steer (before its eviction), how long the leader waits
  // so that every replica's next read sees it before the replacement pod exists: one interval.
  Millis settle{1000};

  static SteeringSyncOptions From(const ReschedulerConfig& config, std::string identity);
};

// The ConfigMap's entries as JSON and back (pure; exposed for tests and the debug endpoint).
nlohmann::json EncodeSteerEntries(const std::vector<scoring::SteerEntry>& entries);
StatusOr<std::vector<scoring::SteerEntry>> DecodeSteerEntries(const nlohmann::json& config_map);

struct SteeringSyncMetrics {
  explicit SteeringSyncMetrics(prometheus::Registry& registry);
  // kube_balancer_steering_readable: 1 while the last read of the ConfigMap succeeded.
  prometheus::Gauge& readable;
  // kube_balancer_steering_sync_errors_total{op="read"|"publish"}.
  prometheus::Family<prometheus::Counter>& errors;
  // kube_balancer_steering_published_total: ConfigMap writes by the leader.
  prometheus::Counter& published;
  // kube_balancer_steering_dropped_entries_total: entries left out by steeringMaxEntries.
  prometheus::Counter& dropped;
  // kube_balancer_steering_entries{source="local"|"remote"}: active entries on this replica.
  prometheus::Family<prometheus::Gauge>& entries;
};

class SteeringSync {
 public:
  // `is_leader` says whether this replica publishes (empty: always). `metrics` may be null.
  // References must outlive this object.
  SteeringSync(kube::KubeClient& client, scoring::Steering& steering, Clock& clock,
               SteeringSyncOptions options, std::function<bool()> is_leader,
               SteeringSyncMetrics* metrics = nullptr);
  ~SteeringSync();  // Stops.
  SteeringSync(const SteeringSync&) = delete;
  SteeringSync& operator=(const SteeringSync&) = delete;

  // Installs the Steering hook: while leading, every new decision is published at once (before
  // the caller goes on to evict), then the caller waits `settle`. Call before use.
  void PublishOnSteer();

  // Runs SyncOnce every `interval` on a thread (sleeping on the Clock). Call once.
  void Start();
  void Stop();  // Idempotent.

  // One round: the leader publishes its active entries (only when they changed), then every
  // replica reads the ConfigMap into the Steering's remote entries. Blocks on API calls.
  void SyncOnce();

  bool readable() const;
  // For /debug/steering: readable, last error, counts and every active entry with its source.
  nlohmann::json DebugJson() const;

 private:
  void Loop();
  void Read();
  void Publish();
  Status Write(const nlohmann::json& entries);

  kube::KubeClient& client_;
  scoring::Steering& steering_;
  Clock& clock_;
  const SteeringSyncOptions options_;
  std::function<bool()> is_leader_;
  SteeringSyncMetrics* metrics_;

  std::mutex publish_mu_;  // serialises Publish (the loop and the Steer hook)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;              // Guarded by mu_.
  bool readable_ = true;           // Guarded by mu_.
  std::string last_error_;         // Guarded by mu_.
  std::string resource_version_;   // of the last ConfigMap read or written. Guarded by mu_.
  nlohmann::json last_published_;  // entries of the last successful write. Guarded by mu_.
  std::string last_read_time_;     // Guarded by mu_.
  std::thread thread_;
};

}  // namespace kb::resched
