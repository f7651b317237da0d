// kube-apiserver's admission for the resources kube-sim serves, on the JSON as sent: the decoding
// checks that answer 400 (wrong kind / apiVersion, a field of the wrong JSON type, named after
// the Go struct field), object names, defaulting (schedulerName, restartPolicy, requests from
// limits, Deployment strategy), and the validation that answers 422 (containers, quantities,
// selectors matching templates, PDB minAvailable / maxUnavailable, immutable pod fields, legacy
// event namespaces), with kube-apiserver's messages.
//
// Independent on purpose: an oracle for the product's API use. It mirrors kube-apiserver's own
// rules rather than core's decoders (core/model.h), so a request the real server would refuse
// fails against kube-sim too, even where core would accept it.
// Pure functions: thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sim/resources.h"

namespace kb::sim {

// "string", "number", "bool", "array", "object": as Go's json errors name a JSON value.
const char* JsonTypeName(const nlohmann::json& v);
// kind and apiVersion must match `r` when given; metadata must be an object (400).
std::optional<ApiError> CheckTypeMeta(const ResourceInfo& r, const nlohmann::json& obj);
// Fields of the wrong JSON type for `r` (400 naming the Go struct field).
std::optional<ApiError> CheckTypes(const ResourceInfo& r, const nlohmann::json& obj);
// A body's metadata.namespace must be empty or the URL's namespace (400).
std::optional<ApiError> CheckNamespace(const std::string& body_ns, const std::string& url_ns);
// The uid / resourceVersion preconditions of a write (empty = none) against the stored `obj`
// (409 naming `qualified`, e.g. "pods" or "pods/binding").
std::optional<ApiError> CheckPreconditions(const std::string& qualified, const std::string& group,
                                           const std::string& name, const std::string& want_uid,
                                           const std::string& want_rv, const nlohmann::json& obj);
// metadata.name must be a lowercase RFC 1123 subdomain (422).
std::optional<ApiError> ValidateName(const ResourceInfo& r, const std::string& name);

// What kube-apiserver does to the object of a create or update: sets kind and apiVersion, fills
// the defaults, then validates (422).
std::optional<ApiError> DefaultAndValidate(const ResourceInfo& r, nlohmann::json& obj);
// ValidatePodUpdate: a client may change only images, activeDeadlineSeconds,
// terminationGracePeriodSeconds, schedulingGates and add tolerations (422 otherwise).
std::optional<ApiError> ValidatePodUpdate(const ResourceInfo& r, const nlohmann::json& old_pod,
                                          const nlohmann::json& new_pod);

}  // namespace kb::sim
