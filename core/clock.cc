#include "core/clock.h"

#include <cassert>

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
  std::lock_guard<std::mutex> lock(mu_);
  steady_ += std::chrono::duration_cast<SteadyTime::duration>(d);
  wall_ += std::chrono::duration_cast<WallTime::duration>(d);
}

void FakeClock::SetWall(WallTime wall) {
  std::lock_guard<std::mutex> lock(mu_);
  wall_ = wall;
}

}  // namespace kb
