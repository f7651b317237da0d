// BindRunner: runs /bind calls off the connection threads, with their own concurrency limit and a
// deadline below kube-scheduler's httpTimeout. A bind waits on the API server; filter and
// prioritize never do, and they share nothing with binds: a stalled API server fills at most
// `max_concurrent` bind workers, and each /bind is answered by its deadline either way.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kb::server {

class BindRunner {
 public:
  enum class Outcome {
    kDone,      // `result` holds the bind's answer
    kTimedOut,  // not finished by the deadline; it goes on in the background
    kBusy,      // max_concurrent binds already in flight: not started
  };

  BindRunner(size_t max_concurrent, std::chrono::milliseconds deadline);
  ~BindRunner();  // Waits for the binds in flight (bounded by the Kubernetes client's timeout).
  BindRunner(const BindRunner&) = delete;
  BindRunner& operator=(const BindRunner&) = delete;

  Outcome Run(std::function<std::string()> bind, std::string& result);
  std::chrono::milliseconds deadline() const { return deadline_; }
  size_t max_concurrent() const { return max_concurrent_; }

 private:
  struct Call;
  void Work();

  const size_t max_concurrent_;
  const std::chrono::milliseconds deadline_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Call>> queue_;  // Guarded by mu_.
  size_t in_flight_ = 0;                     // Guarded by mu_: queued + running.
  bool stopping_ = false;                    // Guarded by mu_.
  std::vector<std::thread> workers_;
};

}  // namespace kb::server
