#include "core/clock.h"

#include <cassert>
#include <vector>

namespace kb {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

FakeClock::FakeClock(WallTime wall) : steady_(std::chrono::hours(1000)), wall_(wall) {}

SteadyTime FakeClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steady_;
}

WallTime FakeClock::WallNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wall_;
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  assert(d.count() >= 0);
  std::lock_guard<std::mutex> notify(notify_mu_);
  std::vector<Waiter*> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    steady_ += std::chrono::duration_cast<SteadyTime::duration>(d);
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
    ++generation_;
    waiters.assign(waiters_.begin(), waiters_.end());
  }
  // With the waiter's mutex held, so a waiter between looking at the time and blocking cannot
  // miss the notification.
  for (Waiter* w : waiters) {
    std::lock_guard<std::mutex> lock(*w->mu);
    w->cv->notify_all();
  }
}

bool FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          SteadyTime deadline, const std::function<bool()>& pred) {
  Waiter self{lock.mutex(), &cv};
  {
    std::lock_guard<std::mutex> g(mu_);
    waiters_.insert(&self);
  }
  while (!pred()) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (steady_ >= deadline) break;
      self.seen = generation_;
      self.blocked = true;
    }
    cv.wait(lock);
    std::lock_guard<std::mutex> g(mu_);
    self.blocked = false;
  }
  // Leave the set without the caller's mutex: Advance() may be waiting for it while holding
  // notify_mu_.
  lock.unlock();
  {
    std::lock_guard<std::mutex> notify(notify_mu_);
    std::lock_guard<std::mutex> g(mu_);
    waiters_.erase(&self);
  }
  lock.lock();
  return pred();
}

int FakeClock::IdleWaiters() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const Waiter* w : waiters_) n += w->blocked && w->seen == generation_ ? 1 : 0;
  return n;
}

void FakeClock::SetWall(WallTime wall) {
  std::lock_guard<std::mutex> lock(mu_);
  wall_ = wall;
}

}  // namespace kb
