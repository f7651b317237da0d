// Serving an httplib server on a thread, as kube-sim's API server and node-exporter endpoint do.
// Thread-compatible: call once per server.
#pragma once

#include <httplib.h>

#include <string>
#include <thread>

#include "core/status.h"

namespace kb::sim {

// Binds `server` to host:port (port 0 = any free port). Returns the bound port, or Unavailable
// "<what>: cannot listen on host:port".
StatusOr<int> BindHttpServer(httplib::Server& server, const std::string& host, int port,
                             const std::string& what);
// Serves the bound `server` on a new thread (stored in *thread) and waits (up to 5 s) until it
// accepts connections.
void ServeInBackground(httplib::Server& server, std::thread* thread);

}  // namespace kb::sim
