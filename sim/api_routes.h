// The request side of kube-sim's API server (sim/api_server.h): which resource, namespace, name
// and subresource a URL names and which verb a method on it is, and the query-parameter codecs
// (continue tokens in kube's format, resourceVersions, integers, booleans).
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sim/resources.h"

namespace kb::sim {

// A resource URL: /api/v1/[namespaces/{ns}/]{resource}[/{name}[/{sub}]] or the group form
// /apis/{group}/{version}/...
struct Route {
  const ResourceInfo* res = nullptr;
  std::string ns;  // from /namespaces/{ns}/
  std::string name;
  std::string sub;               // "binding", "eviction", "status"
  bool legacy_bindings = false;  // POST /api/v1/namespaces/{ns}/bindings
};

// nullopt for a path that names no served resource.
std::optional<Route> ParseRoute(const std::string& path);
// The verb of a request (for counting, fault rules and method checks); "" = not allowed.
std::string VerbOf(const std::string& method, const Route& r, bool watch);
// The resource name requests are counted and audited under: "pods", "pods/eviction",
// "pods/binding" (also for the legacy bindings path), "deployments/status", ...
std::string CountedResource(const Route& r);

// A list continue token: base64url(JSON {"v","rv","start"}) without padding, like kube's.
struct ContinueToken {
  uint64_t rv = 0;
  std::string start;  // the last key returned; the next page starts after it
};
std::string EncodeContinue(const ContinueToken& t);
// Accepts the URL-safe and the standard base64 alphabet, with or without padding.
std::optional<ContinueToken> DecodeContinue(const std::string& s);

// A decimal resourceVersion.
std::optional<uint64_t> ParseRv(const std::string& s);
// A decimal integer query parameter (limit, timeoutSeconds, gracePeriodSeconds).
std::optional<int64_t> ParseIntParam(const std::string& s);
// A boolean query parameter ("1", "true", "True").
bool IsTrue(const std::string& v);

}  // namespace kb::sim
