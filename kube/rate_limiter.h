// TokenBucket: the client-side QPS/burst limiter of HttpKubeClient (client-go's flowcontrol
// token bucket). Reserve() never blocks: it takes a token, possibly going into debt, and says how
// long the caller must wait, so the caller chooses how to sleep (tests advance a FakeClock).
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>

#include "core/clock.h"

namespace kb::kube {

class TokenBucket {
 public:
  // `qps` <= 0 disables limiting. `burst` < 1 is treated as 1.
  TokenBucket(double qps, int burst, const Clock& clock);

  // Takes one token and returns how long to wait before using it (zero when one was available).
  std::chrono::nanoseconds Reserve();

 private:
  const double qps_;
  const double burst_;
  const Clock& clock_;
  std::mutex mu_;
  double tokens_;    // Guarded by mu_. May go negative (debt of reserved tokens).
  SteadyTime last_;  // Guarded by mu_.
};

}  // namespace kb::kube
