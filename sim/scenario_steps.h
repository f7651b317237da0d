// Scenario steps: the `steps:` section of a scenario file, a list of named changes to
// the cluster (merge-patch an object, create more entries, delete an object) with the time after
// loading at which kube-sim applies them on its own. The demo and the e2e tests apply them by
// name instead, once the condition they wait for holds. Format: docs/scenario-format.md#steps.
// Pure parsing; ApplyStep is as thread-safe as ApiServer.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace kb::sim {

class ApiServer;

struct ScenarioStep {
  enum class Kind { kPatch, kCreate, kDelete };
  std::string name;
  std::string description;
  std::chrono::milliseconds at{0};  // after the scenario is loaded (kube-sim's timeline)
  Kind kind = Kind::kPatch;
  // kPatch / kDelete: the object.
  std::string resource;  // plural, e.g. "deployments"
  std::string ns;        // "" for cluster-scoped objects
  std::string object_name;
  nlohmann::json merge_patch;  // kPatch: RFC 7386 merge patch (null deletes a key)
  nlohmann::json create;       // kCreate: a scenario document (nodes, deployments, pods, ...)
};

// Parses `steps` (a list; null = none). `default_ns` is the scenario's namespace.
// InvalidArgument naming the step and key on bad input; names must be unique.
StatusOr<std::vector<ScenarioStep>> ParseSteps(const nlohmann::json& steps,
                                               const std::string& default_ns);

// Applies one step to the cluster (through ApiServer's direct access, like scenario loading).
Status ApplyStep(ApiServer& server, const ScenarioStep& step);

}  // namespace kb::sim
