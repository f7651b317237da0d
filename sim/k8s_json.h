// Small helpers over Kubernetes objects kept as JSON (kube-sim deliberately does not decode into
// the core model, so it can store and echo every field a client sends): safe field access,
// resource quantities, pod readiness / phase, owner references, conditions. Timestamps are
// core's RFC 3339 (core/model.h: FormatRfc3339, ParseRfc3339).
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/clock.h"

namespace kb::sim {

// obj[a][b]... without inserting or throwing; null when any step is missing.
const nlohmann::json& At(const nlohmann::json& obj, std::initializer_list<const char*> path);
std::string StrAt(const nlohmann::json& obj, std::initializer_list<const char*> path,
                  const std::string& fallback = "");
int64_t IntAt(const nlohmann::json& obj, std::initializer_list<const char*> path,
              int64_t fallback = 0);

std::string Name(const nlohmann::json& obj);
std::string Namespace(const nlohmann::json& obj);
std::string Uid(const nlohmann::json& obj);
std::string ResourceVersion(const nlohmann::json& obj);

// True when a DeleteOptions.dryRun value is a list holding "All".
bool IsDryRunAll(const nlohmann::json& dry_run);

// The quantity `name` of a resource list (requests, limits, overhead, allocatable), given as a
// string or a number: millicores when `cpu`, else units (bytes, pods). nullopt when absent or not
// a valid quantity.
std::optional<int64_t> QuantityAt(const nlohmann::json& list, const char* name, bool cpu);

bool IsTerminating(const nlohmann::json& pod);  // metadata.deletionTimestamp set
std::string PodPhase(const nlohmann::json& pod);
bool IsPodReady(const nlohmann::json& pod);  // condition Ready=True
// Running or Pending, and not terminating: what a ReplicaSet counts as its replicas.
bool IsPodActive(const nlohmann::json& pod);
// The lastTransitionTime of condition `type` when its status is True.
std::optional<WallTime> ConditionTrueSince(const nlohmann::json& obj, const std::string& type);
// Sets (or replaces) status.conditions[type]; keeps lastTransitionTime when the status is
// unchanged.
void SetCondition(nlohmann::json& obj, const std::string& type, const std::string& status,
                  const std::string& reason, const std::string& now);

// The ownerReference with controller: true (null when none).
const nlohmann::json& ControllerRef(const nlohmann::json& obj);
nlohmann::json MakeControllerRef(const nlohmann::json& owner);

}  // namespace kb::sim
