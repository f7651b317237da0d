// The resource table of kube-sim: which Kubernetes resources it serves, under which API group and
// version, and the per-resource rules its storage applies (namespaced, status subresource,
// generation). Also the Kubernetes `Status` error values the simulated server answers with.
// Immutable data and value types: thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"

namespace kb::sim {

struct ResourceInfo {
  std::string resource;  // plural, e.g. "pods"
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Pod"
  bool namespaced = true;
  bool has_status = false;          // writes to the main resource keep the stored status
  bool generation_on_spec = false;  // metadata.generation bumps when spec changes

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "pods", "deployments.apps": the name used in error messages.
  std::string Qualified() const { return group.empty() ? resource : resource + "." + group; }
};

// All served resources. Returns nullptr when unknown.
const ResourceInfo* FindResource(const std::string& plural);
const ResourceInfo* FindResourceByKind(const std::string& kind);
const std::vector<ResourceInfo>& AllResources();

// A Kubernetes `Status` failure (or, with code 2xx, nothing: use Success bodies directly).
struct ApiError {
  int code = 500;
  std::string reason;                                 // "NotFound", "Conflict", ...
  std::string message;                                // Status.message
  nlohmann::json details = nlohmann::json::object();  // Status.details (omitted when empty)
  int retry_after_seconds = 0;  // also sent as the Retry-After header when > 0

  // The wire body: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}.
  nlohmann::json ToJson() const;
  // Maps to a kb::Status the way kube/kube_client.h documents (keeps code, reason, first cause).
  Status ToStatus() const;

  // Builders with the exact messages kube-apiserver uses.
  static ApiError NotFound(const ResourceInfo& r, const std::string& name);
  static ApiError AlreadyExists(const ResourceInfo& r, const std::string& name);
  // "Operation cannot be fulfilled on <qualified> \"<name>\": <what>" (409 Conflict).
  static ApiError Conflict(const std::string& qualified, const std::string& group,
                           const std::string& name, const std::string& what);
  static ApiError OptimisticLock(const ResourceInfo& r, const std::string& name);
  // A failed uid / resourceVersion precondition (409): "Precondition failed: UID in
  // precondition: <want>, UID in object meta: <have>".
  static ApiError PreconditionFailed(const std::string& qualified, const std::string& group,
                                     const std::string& name, const std::string& what,
                                     const std::string& want, const std::string& have);
  static ApiError BadRequest(const std::string& message);
  // 422 "<Kind> \"<name>\" is invalid: <field>: <detail>".
  static ApiError Invalid(const std::string& kind, const std::string& group,
                          const std::string& name, const std::string& field,
                          const std::string& detail);
  static ApiError Expired(const std::string& message);
  static ApiError Unauthorized();
  static ApiError Forbidden(const std::string& message);
  static ApiError MethodNotAllowed();
  static ApiError PathNotFound();
  static ApiError UnsupportedMediaType(const std::string& content_type);
  static ApiError Internal(const std::string& message);
  static ApiError TooManyRequests(const std::string& message, int retry_after_seconds);
  static ApiError Timeout(const std::string& message, int retry_after_seconds);
  // kube-apiserver's answer to a list or watch asking for a resourceVersion newer than its own
  // (storage.NewTooLargeResourceVersionError): 504 Timeout "Timeout: Too large resource version:
  // <requested>, current: <current>", retryAfterSeconds 1 and the cause ResourceVersionTooLarge.
  static ApiError TooLargeResourceVersion(uint64_t requested, uint64_t current);
  // A generic failure with the reason kube-apiserver uses for `code` (for fault injection).
  static ApiError ForCode(int code, const std::string& message);
};

// A Success Status body (binding / eviction creates answer code 201; deletes omit the code: 0).
nlohmann::json SuccessStatus(int code, const nlohmann::json& details = nullptr);

// Either a T or an ApiError.
template <class T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace kb::sim
