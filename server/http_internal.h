// Internal to server/http_*.cc: the pieces the route table (http_routes.cc) and the verb
// handlers (http_verbs.cc) share.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include "server/codec.h"
#include "server/http_server.h"

namespace kb::server {

// "; charset=utf-8" is deliberate: cpp-httplib gzips "application/json" responses whenever the
// client sends Accept-Encoding: gzip (kube-scheduler always does), which would cost far more CPU
// than it saves on a loopback / cluster network, especially for megabyte full-Nodes answers.
inline constexpr char kJson[] = "application/json; charset=utf-8";

inline void SetJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.body = std::move(body);
  res.set_header("Content-Type", kJson);
}

// Listening-socket options: SO_REUSEADDR only (http_server.cc).
void ExclusiveSocketOptions(int sock);

struct ExtenderServer::Answer {
  int code = 200;
  std::string body;
  std::shared_ptr<FilterAnswer> streamed;  // set instead of `body` for a large filter answer
  static Answer Error(int code, const std::string& message) {
    return {code, EncodeError(message), nullptr};
  }
};

}  // namespace kb::server
