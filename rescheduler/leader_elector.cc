#include "rescheduler/leader_elector.h"

#include <unistd.h>

#include <cstdio>

#include "rescheduler/logging.h"

namespace kb::resched {

namespace {

int32_t DurationSeconds(Millis d) {
  const auto s = (d.count() + 999) / 1000;
  return static_cast<int32_t>(std::max<int64_t>(1, s));
}

bool SameTime(const std::optional<WallTime>& a, const std::optional<WallTime>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

}  // namespace

std::string LeaderElector::DefaultIdentity() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "kube-balancer");
  }
  std::random_device rd;
  const uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(r));
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(kube::KubeClient& client, Clock& clock, LeaderElectionConfig config,
                             LeaderCallbacks callbacks, ReschedulerMetrics* metrics)
    : client_(client),
      clock_(clock),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      metrics_(metrics),
      identity_(config_.identity.empty() ? DefaultIdentity() : config_.identity),
      rng_(std::random_device{}()) {}

LeaderElector::~LeaderElector() { Stop(); }

bool LeaderElector::IsLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_ && clock_.Now() - renewed_at_ < config_.renew_deadline;
}

bool LeaderElector::LeaseValidLocked(SteadyTime now) const {
  return observed_.has_value() &&
         observed_time_ + std::chrono::seconds(observed_->lease_duration_seconds) > now;
}

bool LeaderElector::Differs(const Lease& a, const Lease& b) const {
  return a.holder_identity != b.holder_identity ||
         a.lease_duration_seconds != b.lease_duration_seconds ||
         a.lease_transitions != b.lease_transitions || !SameTime(a.acquire_time, b.acquire_time) ||
         !SameTime(a.renew_time, b.renew_time);
}

void LeaderElector::Remember(const Lease& lease, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  observed_ = lease;
  observed_time_ = now;
  renewed_at_ = now;
}

bool LeaderElector::FastRenew(SteadyTime now, WallTime wall) {
  std::optional<Lease> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leading_ && observed_ && observed_->holder_identity == identity_ && LeaseValidLocked(now)) {
      cached = observed_;
    }
  }
  if (!cached) return false;
  Lease renew = *cached;
  renew.renew_time = wall;
  renew.lease_duration_seconds = DurationSeconds(config_.lease_duration);
  StatusOr<Lease> updated = client_.UpdateLease(renew);
  if (updated.ok()) {
    Remember(*updated, now);
    return true;
  }
  Log()->debug("lease fast renew failed, falling back to get lease={}/{} error={}",
               config_.lease_namespace, config_.lease_name, updated.status().ToString());
  return false;
}

bool LeaderElector::CreateLease(SteadyTime now, WallTime wall) {
  Lease fresh;
  fresh.meta.name = config_.lease_name;
  fresh.meta.namespace_ = config_.lease_namespace;
  fresh.holder_identity = identity_;
  fresh.lease_duration_seconds = DurationSeconds(config_.lease_duration);
  fresh.acquire_time = wall;
  fresh.renew_time = wall;
  fresh.lease_transitions = 0;
  StatusOr<Lease> created = client_.CreateLease(fresh);
  if (!created.ok()) return false;  // 409 AlreadyExists: someone else won
  Remember(*created, now);
  return true;
}

bool LeaderElector::TryAcquireOrRenew() {
  std::lock_guard<std::mutex> step(step_mu_);
  const SteadyTime now = clock_.Now();
  const WallTime wall = clock_.WallNow();

  // 1. Fast path: the leader renews its cached lease while it is still valid locally.
  if (FastRenew(now, wall)) return true;

  // 2. Read the lease; create it when it does not exist.
  StatusOr<Lease> got = client_.GetLease(config_.lease_namespace, config_.lease_name);
  if (!got.ok()) {
    if (got.status().code() == StatusCode::kNotFound) return CreateLease(now, wall);
    Log()->debug("get lease failed lease={}/{} error={}", config_.lease_namespace,
                 config_.lease_name, got.status().ToString());
    return false;
  }

  // 3. Remember when the record last changed, by our own clock.
  Lease old = std::move(got).value();
  bool valid = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!observed_ || Differs(*observed_, old)) {
      observed_time_ = now;
    }
    observed_ = old;
    valid = LeaseValidLocked(now);
  }

  // 4. Held by someone else and not expired (by our clock): not ours to take.
  const bool mine = old.holder_identity == identity_;
  if (!old.holder_identity.empty() && valid && !mine) return false;

  // 5. Take or renew it, conditional on the resourceVersion we read (409 = lost the race).
  Lease next = old;
  next.holder_identity = identity_;
  next.lease_duration_seconds = DurationSeconds(config_.lease_duration);
  next.renew_time = wall;
  if (!mine) {
    next.acquire_time = wall;
    next.lease_transitions = old.lease_transitions + 1;
  }
  StatusOr<Lease> updated = client_.UpdateLease(next);
  if (!updated.ok()) {
    Log()->debug("update lease failed lease={}/{} error={}", config_.lease_namespace,
                 config_.lease_name, updated.status().ToString());
    return false;
  }
  Remember(*updated, now);
  return true;
}

void LeaderElector::SetLeading(bool leading) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leading_ == leading) return;
    leading_ = leading;
  }
  if (metrics_ != nullptr) {
    metrics_->leader.Set(leading ? 1 : 0);
    if (leading) metrics_->leader_transitions.Increment();
  }
  if (leading) {
    Log()->info("started leading lease={}/{} identity={}", config_.lease_namespace,
                config_.lease_name, identity_);
    if (callbacks_.on_started_leading) callbacks_.on_started_leading();
  } else {
    Log()->info("stopped leading lease={}/{} identity={}", config_.lease_namespace,
                config_.lease_name, identity_);
    if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
  }
}

bool LeaderElector::Step() {
  const bool ok = TryAcquireOrRenew();
  if (ok) {
    SetLeading(true);
  } else {
    bool lost = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      lost = leading_ && clock_.Now() - renewed_at_ >= config_.renew_deadline;
    }
    // Could not renew within renewDeadline: stop acting now (client-go exits the process here).
    if (lost) {
      Log()->warn("lease not renewed within renewDeadline lease={}/{} renew_deadline={}",
                  config_.lease_namespace, config_.lease_name,
                  FormatDuration(config_.renew_deadline));
      SetLeading(false);
    }
  }
  return IsLeader();
}

Status LeaderElector::Release() {
  std::lock_guard<std::mutex> step(step_mu_);
  std::optional<Lease> lease;
  bool still_ours = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!leading_) return Status::Ok();
    // Past renewDeadline the lease may already belong to someone else: never touch it then.
    still_ours = observed_ && observed_->holder_identity == identity_ &&
                 clock_.Now() - renewed_at_ < config_.renew_deadline;
    lease = observed_;
  }
  if (!still_ours) {
    SetLeading(false);
    return Status::Ok();
  }
  const WallTime wall = clock_.WallNow();
  lease->holder_identity = "";
  lease->lease_duration_seconds = 1;
  lease->renew_time = wall;
  lease->acquire_time = wall;
  StatusOr<Lease> updated = client_.UpdateLease(*lease);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (updated.ok()) {
      observed_ = *updated;
      observed_time_ = clock_.Now();
    }
  }
  SetLeading(false);
  if (!updated.ok()) {
    Log()->warn("lease release failed lease={}/{} error={}", config_.lease_namespace,
                config_.lease_name, updated.status().ToString());
    return updated.status();
  }
  Log()->info("released lease={}/{}", config_.lease_namespace, config_.lease_name);
  return Status::Ok();
}

void LeaderElector::Start() {
  std::lock_guard<std::mutex> lock(loop_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void LeaderElector::Stop() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)Release();
}

void LeaderElector::Loop() {
  std::uniform_real_distribution<double> jitter(0.0, 1.2);  // client-go JitterFactor
  std::unique_lock<std::mutex> lock(loop_mu_);
  while (!stop_) {
    lock.unlock();
    const bool leader = Step();
    lock.lock();
    if (stop_) break;
    // Renewals run every retryPeriod; acquisition attempts are jittered (x1 .. x2.2).
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(config_.retry_period);
    if (!leader) {
      wait += std::chrono::milliseconds(
          static_cast<int64_t>(jitter(rng_) * static_cast<double>(config_.retry_period.count())));
    }
    cv_.wait_for(lock, wait, [this] { return stop_; });
  }
}

}  // namespace kb::resched
