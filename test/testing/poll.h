// PollUntil: the one bounded wait of the test suite. Tests that wait on another thread or process
// (a watch, a server, a child process) poll a condition with a deadline instead of sleeping a
// fixed time, so they are as fast as the system under test and still fail instead of hanging.
#pragma once

#include <chrono>
#include <thread>

namespace kb::testing {

inline constexpr std::chrono::milliseconds kDefaultPollTimeout{10000};

// Evaluates `cond` every `interval` until it holds or `timeout` passes; returns its last value.
template <class Cond>
bool PollUntil(Cond&& cond, std::chrono::milliseconds timeout = kDefaultPollTimeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (static_cast<bool>(cond())) return true;
    std::this_thread::sleep_for(interval);
  }
  return static_cast<bool>(cond());
}

}  // namespace kb::testing
