// What kube-sim's control loops (sim/controllers.h) share: the served resource by name, the
// handling of a write that races with a client, owner and replica helpers, the Deployment
// labels. Defined in sim/controllers.cc. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "sim/resources.h"

namespace kb::sim {

inline constexpr const char kPodTemplateHash[] = "pod-template-hash";
inline constexpr const char kRevisionAnnotation[] = "deployment.kubernetes.io/revision";

// The served resource `plural` ("pods", "replicasets", ...).
const ResourceInfo& Served(const char* plural);
// Controllers race with clients; a conflict or a vanished object is retried on the next pass, any
// other failure of the write `what` on `name` is logged.
void CheckControllerWrite(const ApiResult<nlohmann::json>& r, const char* what,
                          const std::string& name);
// True when `obj`'s controller ownerReference has uid `owner_uid`.
bool IsControlledBy(const nlohmann::json& obj, const std::string& owner_uid);
// spec.replicas (default 1).
int64_t SpecReplicas(const nlohmann::json& obj);
// An intstr.IntOrString field (maxSurge, maxUnavailable, minAvailable; an integer or "<n>%",
// anything else 0) resolved against `total` (GetScaledValueFromIntOrPercent).
int64_t ScaledIntOrPercent(const nlohmann::json& v, int64_t total, bool round_up);

}  // namespace kb::sim
