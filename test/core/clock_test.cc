#include "core/clock.h"

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "core/model.h"

namespace kb {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("FakeClock starts at 2026-01-01 and moves only when advanced", "[core][clock]") {
  FakeClock clock;
  CHECK(FormatRfc3339(clock.WallNow()) == "2026-01-01T00:00:00Z");
  const SteadyTime s0 = clock.Now();
  const WallTime w0 = clock.WallNow();
  CHECK(clock.Now() == s0);
  CHECK(clock.WallNow() == w0);
  clock.Advance(seconds(5));
  CHECK(clock.Now() - s0 == seconds(5));
  CHECK(clock.WallNow() - w0 == seconds(5));
  clock.Advance(milliseconds(250));
  CHECK(clock.Now() - s0 == milliseconds(5250));
}

TEST_CASE("FakeClock SetWall moves only the wall clock", "[core][clock]") {
  FakeClock clock(WallTime(seconds(1000)));
  CHECK(clock.WallNow() == WallTime(seconds(1000)));
  const SteadyTime s0 = clock.Now();
  clock.SetWall(WallTime(seconds(10)));  // backwards is allowed for wall time
  CHECK(clock.WallNow() == WallTime(seconds(10)));
  CHECK(clock.Now() == s0);
}

TEST_CASE("FakeClock is safe to advance from several threads", "[core][clock]") {
  FakeClock clock;
  const SteadyTime s0 = clock.Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) {
        clock.Advance(milliseconds(1));
        (void)clock.Now();
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(clock.Now() - s0 == seconds(4));
}

TEST_CASE("SystemClock is monotonic and near the real time", "[core][clock]") {
  Clock& clock = SystemClock::Instance();
  const SteadyTime a = clock.Now();
  const SteadyTime b = clock.Now();
  CHECK(b >= a);
  const auto diff = clock.WallNow() - std::chrono::system_clock::now();
  CHECK(std::chrono::abs(diff) < seconds(1));
  CHECK(&SystemClock::Instance() == &SystemClock::Instance());
}

}  // namespace
}  // namespace kb
