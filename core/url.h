// ParseHttpUrl: the one parser of the http(s) URLs kube-balancer is configured with (the API
// server of a kubeconfig, prometheus.url). Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace kb {

struct HttpUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6
  int port = 0;      // defaulted from the scheme (80 / 443) when absent
  std::string path;  // "" or "/prefix" (no trailing slash)
  const char* scheme() const { return https ? "https" : "http"; }
};

// Parses http(s)://host[:port][/path]. InvalidArgument, worded as a configuration error
// (`<key>: invalid value "<url>": <what is wrong>`), when the scheme is not
// http or https, the host is empty, an IPv6 host is not in brackets or its bracket is not closed,
// the URL carries credentials (user@host), a query string or a fragment, or the port is not a
// number in 1..65535.
StatusOr<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view key);

}  // namespace kb
