#include "sim/http_listen.h"

#include <chrono>

namespace kb::sim {

StatusOr<int> BindHttpServer(httplib::Server& server, const std::string& host, int port,
                             const std::string& what) {
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return Status::Unavailable(what + ": cannot listen on " + host + ":" + std::to_string(port));
  }
  return bound;
}

void ServeInBackground(httplib::Server& server, std::thread* thread) {
  *thread = std::thread([&server] { server.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace kb::sim
