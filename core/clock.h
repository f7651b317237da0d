// Clock: the only source of time for our code, so tests never depend on the real time.
// SystemClock reads the OS clocks; FakeClock moves only when a test advances it (modelled on
// absl's SimulatedClock). Both are safe for concurrent use from any thread.
#pragma once

#include <chrono>
#include <mutex>

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
};

class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  // A process-wide instance, for main() wiring only.
  static SystemClock& Instance();
};

// Does not tick on its own: time moves only through Advance() / SetWall().
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed steady point and at `wall` (default 2026-01-01T00:00:00Z).
  explicit FakeClock(WallTime wall = WallTime(std::chrono::seconds(1767225600)));

  SteadyTime Now() const override;
  WallTime WallNow() const override;

  // Moves both clocks forward by `d` (d >= 0).
  void Advance(std::chrono::nanoseconds d);
  // Sets the wall clock only (the steady clock never goes backwards).
  void SetWall(WallTime wall);

 private:
  mutable std::mutex mu_;
  SteadyTime steady_;  // Guarded by mu_.
  WallTime wall_;      // Guarded by mu_.
};

}  // namespace kb
