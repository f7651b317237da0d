// Clock: the only source of time for our code, so tests never depend on the real time.
// SystemClock reads the OS clocks; FakeClock moves only when a test advances it (modelled on
// absl's SimulatedClock). Both are safe for concurrent use from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>

namespace kb {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for durations, deadlines and ages. Never blocks.
  virtual SteadyTime Now() const = 0;
  // Wall-clock time, for comparing with Kubernetes timestamps. Never blocks.
  virtual WallTime WallNow() const = 0;
  // Blocks on `cv` until `pred()` holds or this clock reaches `deadline`, and returns pred().
  // `lock` (of the mutex that guards what `pred` reads) is held on entry and on return and
  // whenever `pred` runs; whoever makes `pred` true notifies `cv`. The way for a background loop
  // to sleep, so tests drive its timing with a FakeClock.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         SteadyTime deadline, const std::function<bool()>& pred) = 0;
};

class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline, const std::function<bool()>& pred) override {
    return cv.wait_until(lock, deadline, pred);
  }
  // A process-wide instance, for main() wiring only.
  static SystemClock& Instance();
};

// Does not tick on its own: time moves only through Advance() / SetWall(). WaitUntil returns at
// a deadline only once Advance() has reached it: Advance() wakes every waiter to look again.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed steady point and at `wall` (default 2026-01-01T00:00:00Z).
  explicit FakeClock(WallTime wall = WallTime(std::chrono::seconds(1767225600)));

  SteadyTime Now() const override;
  WallTime WallNow() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline, const std::function<bool()>& pred) override;

  // Moves both clocks forward by `d` (d >= 0) and wakes the waiters.
  void Advance(std::chrono::nanoseconds d);
  // Sets the wall clock only (the steady clock never goes backwards).
  void SetWall(WallTime wall);

  // Threads blocked in WaitUntil that have looked at the time since the last Advance(). A test
  // that advanced the clock polls for its loop's waiter to be idle again before it checks what
  // the loop did (or did not do) in response.
  int IdleWaiters() const;

 private:
  struct Waiter {
    std::mutex* mu;
    std::condition_variable* cv;
    uint64_t seen = 0;     // generation_ when it last looked at the time
    bool blocked = false;  // in cv->wait
  };

  // Held by Advance() while it notifies the waiters, and by a waiter leaving the set, so Advance
  // never touches a waiter (or its mutex and condition variable) that has gone. Never taken with
  // a waiter's mutex held.
  std::mutex notify_mu_;
  mutable std::mutex mu_;
  SteadyTime steady_;          // Guarded by mu_.
  WallTime wall_;              // Guarded by mu_.
  uint64_t generation_ = 0;    // Advance() calls. Guarded by mu_.
  std::set<Waiter*> waiters_;  // Guarded by mu_.
};

}  // namespace kb
