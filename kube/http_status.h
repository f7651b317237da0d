// How the Kubernetes client turns an HTTP answer into a Status (once, for every call): the
// mapping documented in kube_client.h, the message taken from a Kubernetes `Status` body when there
// is one. Also the query encoding the client's paths use. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kb::kube {

// Maps an HTTP status and response body to a Status as described in kube_client.h. A Kubernetes
// `Status` body contributes its message, reason and first cause; any other body contributes its
// first 256 bytes. `context` prefixes the message ("evict pod default/web-1"). 2xx -> OK.
Status StatusFromHttp(int http_code, std::string_view body, std::string_view context);
// The same for an already parsed Kubernetes Status object (e.g. a watch ERROR event);
// `http_code` is used when the object has no `code`.
Status StatusFromKubeStatus(int http_code, const nlohmann::json& status, std::string_view context);

// Percent-encodes a query-parameter value (everything but RFC 3986 unreserved characters).
std::string UrlEncode(std::string_view s);

// At most `limit` bytes of `body` for a log or error message: control characters replaced, "..."
// when cut.
std::string Printable(std::string_view body, size_t limit);

}  // namespace kb::kube
