// LeaderElector: client-go's Lease leader election (tools/leaderelection), so one replica runs the
// rescheduler: expiry judged by the local clock since the record last changed, leadership lost
// at renewDeadline (IsLeader() turns false at once), lease released on Stop().
// Thread-safe: IsLeader() from any thread; Step/TryAcquireOrRenew/Release serialised internally.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "core/model.h"
#include "kube/kube_client.h"
#include "rescheduler/metrics.h"

namespace kb::resched {

struct LeaderCallbacks {
  std::function<void()> on_started_leading;  // on the elector's thread; keep quick
  std::function<void()> on_stopped_leading;
};

class LeaderElector {
 public:
  // `config.identity` "" = <hostname>_<random hex>. `metrics` may be null.
  LeaderElector(kube::KubeClient& client, Clock& clock, LeaderElectionConfig config,
                LeaderCallbacks callbacks = {}, ReschedulerMetrics* metrics = nullptr);
  ~LeaderElector();  // Stops (and releases).
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts the acquire / renew loop thread. Call once.
  void Start();
  // Stops the loop and, when leading, releases the lease. Idempotent.
  void Stop();

  // True while this instance holds the lease: it acquired or renewed it, and its last successful
  // renewal started less than renewDeadline ago (checked against the Clock on every call, so
  // leadership ends on time even while the loop is blocked in an API call). Never blocks.
  bool IsLeader() const;
  const std::string& identity() const { return identity_; }

  // One attempt of client-go's tryAcquireOrRenew: true when this instance holds the lease
  // afterwards. Blocks on API calls.
  bool TryAcquireOrRenew();
  // One tick of the loop: acquire when not leading; renew when leading, and give up leadership
  // once renewDeadline has passed since the last successful renewal. Returns IsLeader().
  bool Step();
  // Gives the lease up (holder "", leaseDurationSeconds 1) when leading. Blocks on one API call.
  Status Release();

  // <hostname>_<16 random hex digits>.
  static std::string DefaultIdentity();

 private:
  void Loop();
  void SetLeading(bool leading);  // runs callbacks on a change
  // The lease as written or read at `now` becomes what we observed, renewed at `now`.
  void Remember(const Lease& lease, SteadyTime now);
  // The leader renews its cached lease while it is still valid by our clock; false when not
  // leading or when the update failed (then the caller reads the lease).
  bool FastRenew(SteadyTime now, WallTime wall);
  // Creates the lease, held by us (after a 404). False when another instance created it first.
  bool CreateLease(SteadyTime now, WallTime wall);
  bool LeaseValidLocked(SteadyTime now) const;
  bool Differs(const Lease& a, const Lease& b) const;

  kube::KubeClient& client_;
  Clock& clock_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  ReschedulerMetrics* metrics_;
  std::string identity_;

  std::mutex step_mu_;  // serialises TryAcquireOrRenew / Step / Release
  mutable std::mutex mu_;
  // Guarded by mu_ (written under step_mu_ too).
  bool leading_ = false;
  SteadyTime renewed_at_{};        // start of the last successful acquire / renew
  std::optional<Lease> observed_;  // the lease record as last seen
  SteadyTime observed_time_{};     // when it was last seen changing (local clock)

  std::mutex loop_mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by loop_mu_.
  std::mt19937_64 rng_;
  std::thread thread_;
};

}  // namespace kb::resched
