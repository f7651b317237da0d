// Serving an httplib server on a thread, as kube-sim's API server and node-exporter endpoint do.
// Thread-compatible: call once per server.
#pragma once

#include <httplib.h>

#include <cstdint>
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

// The server-side socket that carried `req`, found among the process's open sockets by its local
// and remote ports (Linux /proc/self/fd), with its inode (unique while the socket lives) in
// *inode. -1 when not found. O(open descriptors): for test-only behaviours.
int ConnectionSocket(const httplib::Request& req, uint64_t* inode);

}  // namespace kb::sim
