// Scenario files for kube-sim (format: docs/scenario-format.md): a compact description of a
// cluster (nodes, deployments, bare pods, PDBs, raw Kubernetes objects) expanded into the
// Kubernetes objects kube-sim stores. YAML or JSON. Pure functions: thread-safe.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace kb::sim {

// Annotation carrying an entry's `usage:` profile (compact JSON), on nodes and on pods / pod
// templates, so replacement pods keep it. Read by the node metrics (sim/node_metrics.h).
inline constexpr const char* kUsageAnnotation = "kube-sim.kube-balancer.io/usage";

// YAML (one document) to JSON with YAML 1.2 core-schema typing of plain scalars: quoted scalars
// stay strings, `3` is an integer, `0.5` a number, `true` a boolean, `~` / `null` null.
StatusOr<nlohmann::json> YamlToJson(const std::string& yaml_text);

// A duration of a scenario file (`at`, `after`, `initialBackoff`, ...): a Go-style duration
// string ("300ms", "30s", "1m30s", as core/config.h's ParseDuration reads it) or the number 0.
// InvalidArgument otherwise.
StatusOr<std::chrono::milliseconds> ParseDurationValue(const nlohmann::json& value);

// Reads a scenario file: JSON when the path ends in ".json", YAML otherwise.
StatusOr<nlohmann::json> ReadScenarioFile(const std::string& path);

struct ScenarioObject {
  std::string resource;  // plural, e.g. "deployments"
  std::string ns;        // "" for cluster-scoped objects
  nlohmann::json object;
};

// Expands `scenario` into the objects to create, in creation order (nodes, PDBs, deployments,
// pods, raw objects). InvalidArgument naming the entry and key on bad input, e.g.
// `deployments[1] (web): unknown key "replcas"`. `now` (RFC 3339) stamps node conditions.
StatusOr<std::vector<ScenarioObject>> ExpandScenario(const nlohmann::json& scenario,
                                                     const std::string& now);

}  // namespace kb::sim
