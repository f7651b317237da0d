#include "server/bind_runner.h"

namespace kb::server {

struct BindRunner::Call {
  std::function<std::string()> bind;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;   // Guarded by mu.
  std::string result;  // Guarded by mu.
};

BindRunner::BindRunner(size_t max_concurrent, std::chrono::milliseconds deadline)
    : max_concurrent_(std::max<size_t>(1, max_concurrent)), deadline_(deadline) {
  // One worker per allowed bind: an admitted bind never waits for a worker.
  for (size_t i = 0; i < max_concurrent_; ++i) workers_.emplace_back([this] { Work(); });
}

BindRunner::~BindRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

BindRunner::Outcome BindRunner::Run(std::function<std::string()> bind, std::string& result) {
  auto call = std::make_shared<Call>();
  call->bind = std::move(bind);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ >= max_concurrent_ || stopping_) return Outcome::kBusy;
    ++in_flight_;
    queue_.push_back(call);
  }
  cv_.notify_one();
  std::unique_lock<std::mutex> lock(call->mu);
  if (!call->cv.wait_for(lock, deadline_, [&call] { return call->done; })) {
    return Outcome::kTimedOut;
  }
  result = std::move(call->result);
  return Outcome::kDone;
}

void BindRunner::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::shared_ptr<Call> call = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::string result;
    try {
      result = call->bind();
    } catch (const std::exception& e) {
      result = std::string("internal error: ") + e.what();
    }
    {
      std::lock_guard<std::mutex> call_lock(call->mu);
      call->done = true;
      call->result = std::move(result);
    }
    call->cv.notify_all();
    lock.lock();
    --in_flight_;
  }
}

}  // namespace kb::server
