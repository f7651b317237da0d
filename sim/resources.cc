#include "sim/resources.h"

namespace kb::sim {

const std::vector<ResourceInfo>& AllResources() {
  static const std::vector<ResourceInfo> kResources = {
      {"nodes", "", "v1", "Node", false, true, false},
      {"pods", "", "v1", "Pod", true, true, false},
      {"events", "", "v1", "Event", true, false, false},
      {"poddisruptionbudgets", "policy", "v1", "PodDisruptionBudget", true, true, true},
      {"deployments", "apps", "v1", "Deployment", true, true, true},
      {"replicasets", "apps", "v1", "ReplicaSet", true, true, true},
      {"leases", "coordination.k8s.io", "v1", "Lease", true, false, false},
      {"configmaps", "", "v1", "ConfigMap", true, false, false},
      {"statefulsets", "apps", "v1", "StatefulSet", true, true, true},
      {"persistentvolumes", "", "v1", "PersistentVolume", false, true, false},
      {"persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", true, true, false},
      {"storageclasses", "storage.k8s.io", "v1", "StorageClass", false, false, false},
      {"namespaces", "", "v1", "Namespace", false, true, false},
      {"priorityclasses", "scheduling.k8s.io", "v1", "PriorityClass", false, false, false},
  };
  return kResources;
}

const ResourceInfo* FindResource(const std::string& plural) {
  for (const auto& r : AllResources()) {
    if (r.resource == plural) return &r;
  }
  return nullptr;
}

const ResourceInfo* FindResourceByKind(const std::string& kind) {
  for (const auto& r : AllResources()) {
    if (r.kind == kind) return &r;
  }
  return nullptr;
}

nlohmann::json ApiError::ToJson() const {
  nlohmann::json j = {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},
                      {"message", message}};
  if (!reason.empty()) j["reason"] = reason;
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  if (retry_after_seconds > 0) d["retryAfterSeconds"] = retry_after_seconds;
  if (!d.empty()) j["details"] = d;
  j["code"] = code;
  return j;
}

Status ApiError::ToStatus() const {
  std::string cause;
  if (details.is_object() && details.contains("causes") && details["causes"].is_array() &&
      !details["causes"].empty()) {
    cause = details["causes"][0].value("reason", "");
  }
  StatusCode sc;
  switch (code) {
    case 400:
    case 422:
    case 415:
      sc = StatusCode::kInvalidArgument;
      break;
    case 401:
    case 403:
      sc = StatusCode::kPermissionDenied;
      break;
    case 404:
      sc = StatusCode::kNotFound;
      break;
    case 405:
      sc = StatusCode::kUnimplemented;
      break;
    case 409:
      sc = reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
      break;
    case 410:
      sc = StatusCode::kFailedPrecondition;
      break;
    case 429:
      sc = cause == "DisruptionBudget" ? StatusCode::kUnavailable : StatusCode::kResourceExhausted;
      break;
    case 504:
      sc = StatusCode::kDeadlineExceeded;
      break;
    default:
      sc = code >= 500 ? StatusCode::kUnavailable : StatusCode::kInternal;
  }
  return Status(sc, message).WithHttp(code, reason, cause);
}

namespace {

nlohmann::json Details(const std::string& name, const std::string& group, const std::string& kind) {
  nlohmann::json d = nlohmann::json::object();
  if (!name.empty()) d["name"] = name;
  if (!group.empty()) d["group"] = group;
  if (!kind.empty()) d["kind"] = kind;
  return d;
}

}  // namespace

ApiError ApiError::NotFound(const ResourceInfo& r, const std::string& name) {
  return {404, "NotFound", r.Qualified() + " \"" + name + "\" not found",
          Details(name, r.group, r.resource)};
}

ApiError ApiError::AlreadyExists(const ResourceInfo& r, const std::string& name) {
  return {409, "AlreadyExists", r.Qualified() + " \"" + name + "\" already exists",
          Details(name, r.group, r.resource)};
}

ApiError ApiError::Conflict(const std::string& qualified, const std::string& group,
                            const std::string& name, const std::string& what) {
  // details.kind is the resource part of the qualified name (may contain a subresource).
  std::string kind = qualified;
  if (!group.empty() && kind.size() > group.size() + 1 &&
      kind.compare(kind.size() - group.size() - 1, std::string::npos, "." + group) == 0) {
    kind.resize(kind.size() - group.size() - 1);
  }
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + qualified + " \"" + name + "\": " + what,
          Details(name, group, kind)};
}

ApiError ApiError::OptimisticLock(const ResourceInfo& r, const std::string& name) {
  return Conflict(r.Qualified(), r.group, name,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiError ApiError::PreconditionFailed(const std::string& qualified, const std::string& group,
                                      const std::string& name, const std::string& what,
                                      const std::string& want, const std::string& have) {
  return Conflict(qualified, group, name,
                  "Precondition failed: " + what + " in precondition: " + want + ", " + what +
                      " in object meta: " + have);
}

ApiError ApiError::BadRequest(const std::string& message) { return {400, "BadRequest", message}; }

ApiError ApiError::Invalid(const std::string& kind, const std::string& group,
                           const std::string& name, const std::string& field,
                           const std::string& detail) {
  std::string qualified_kind = group.empty() ? kind : kind + "." + group;
  nlohmann::json d = Details(name, group, kind);
  d["causes"] = nlohmann::json::array(
      {{{"reason", "FieldValueInvalid"}, {"message", field + ": " + detail}, {"field", field}}});
  return {422, "Invalid", qualified_kind + " \"" + name + "\" is invalid: " + field + ": " + detail,
          d};
}

ApiError ApiError::Expired(const std::string& message) { return {410, "Expired", message}; }

ApiError ApiError::Unauthorized() { return {401, "Unauthorized", "Unauthorized"}; }

ApiError ApiError::Forbidden(const std::string& message) { return {403, "Forbidden", message}; }

ApiError ApiError::MethodNotAllowed() {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource"};
}

ApiError ApiError::PathNotFound() {
  return {404, "NotFound", "the server could not find the requested resource"};
}

ApiError ApiError::UnsupportedMediaType(const std::string& content_type) {
  return {415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, "
          "application/strategic-merge-patch+json (got \"" +
              content_type + "\")"};
}

ApiError ApiError::Internal(const std::string& message) { return {500, "InternalError", message}; }

ApiError ApiError::TooManyRequests(const std::string& message, int retry_after_seconds) {
  ApiError e{429, "TooManyRequests", message};
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

ApiError ApiError::Timeout(const std::string& message, int retry_after_seconds) {
  ApiError e{504, "Timeout", message};
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

ApiError ApiError::TooLargeResourceVersion(uint64_t requested, uint64_t current) {
  ApiError e = Timeout("Timeout: Too large resource version: " + std::to_string(requested) +
                           ", current: " + std::to_string(current),
                       1);
  e.details = {{"causes", nlohmann::json::array({{{"reason", "ResourceVersionTooLarge"},
                                                  {"message", "Too large resource version"}}})}};
  return e;
}

ApiError ApiError::ForCode(int code, const std::string& message) {
  std::string reason;
  switch (code) {
    case 400:
      reason = "BadRequest";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 403:
      reason = "Forbidden";
      break;
    case 404:
      reason = "NotFound";
      break;
    case 405:
      reason = "MethodNotAllowed";
      break;
    case 409:
      reason = "Conflict";
      break;
    case 410:
      reason = "Expired";
      break;
    case 422:
      reason = "Invalid";
      break;
    case 429:
      reason = "TooManyRequests";
      break;
    case 500:
      reason = "InternalError";
      break;
    case 503:
      reason = "ServiceUnavailable";
      break;
    case 504:
      reason = "Timeout";
      break;
    default:
      reason = code >= 500 ? "InternalError" : "";
  }
  return {code, reason, message};
}

nlohmann::json SuccessStatus(int code, const nlohmann::json& details) {
  nlohmann::json j = {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", nlohmann::json::object()},
                      {"status", "Success"}};
  if (details.is_object() && !details.empty()) j["details"] = details;
  if (code > 0) j["code"] = code;
  return j;
}

}  // namespace kb::sim
