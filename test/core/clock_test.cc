#include "core/clock.h"

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "core/model.h"
#include "test/testing/poll.h"

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

TEST_CASE("FakeClock WaitUntil returns at the deadline only once the clock is advanced there",
          "[core][clock]") {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool flag = false;
  bool returned = false;
  bool result = true;
  const SteadyTime deadline = clock.Now() + seconds(10);
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    result = clock.WaitUntil(lock, cv, deadline, [&] { return flag; });
    returned = true;
  });
  REQUIRE(testing::PollUntil([&] { return clock.IdleWaiters() == 1; }));
  clock.Advance(seconds(9));  // short of the deadline: the waiter looks and blocks again
  REQUIRE(testing::PollUntil([&] { return clock.IdleWaiters() == 1; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK_FALSE(returned);
  }
  clock.Advance(seconds(1));
  waiter.join();
  CHECK(returned);
  CHECK_FALSE(result);
  CHECK(clock.IdleWaiters() == 0);
}

TEST_CASE("FakeClock WaitUntil returns when notified with the predicate true", "[core][clock]") {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    result = clock.WaitUntil(lock, cv, clock.Now() + seconds(10), [&] { return flag; });
  });
  REQUIRE(testing::PollUntil([&] { return clock.IdleWaiters() == 1; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    flag = true;
  }
  cv.notify_all();
  waiter.join();
  CHECK(result);
  std::unique_lock<std::mutex> lock(mu);
  // A deadline already reached returns at once, with the predicate's value.
  CHECK(clock.WaitUntil(lock, cv, clock.Now(), [&] { return flag; }));
  flag = false;
  CHECK_FALSE(clock.WaitUntil(lock, cv, clock.Now(), [&] { return flag; }));
}

TEST_CASE("SystemClock WaitUntil waits on the real clock", "[core][clock]") {
  Clock& clock = SystemClock::Instance();
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock<std::mutex> lock(mu);
  CHECK_FALSE(clock.WaitUntil(lock, cv, clock.Now(), [] { return false; }));
  CHECK(clock.WaitUntil(lock, cv, clock.Now() + seconds(10), [] { return true; }));
}

}  // namespace
}  // namespace kb
