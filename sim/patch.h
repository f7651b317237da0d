// The PATCH bodies kube-sim accepts: JSON merge patch (RFC 7386), a strategic merge patch that
// covers what clients of built-in types send (maps merge; lists of containers, volumes, env,
// conditions, ownerReferences, ... merge by their Kubernetes patchMergeKey; other lists are
// replaced; `$patch: delete|replace` honoured; other `$` directives ignored) and JSON patch
// (RFC 6902). Pure functions: thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace kb::sim {

enum class PatchType { kJsonMerge, kStrategicMerge, kJsonPatch };

// From a Content-Type header (parameters after ';' ignored). InvalidArgument when unsupported.
StatusOr<PatchType> PatchTypeFromContentType(std::string_view content_type);

// Applies `patch` to `target`. InvalidArgument when the patch cannot be applied (e.g. a failed
// JSON-patch `test` op or a patch of the wrong JSON type).
StatusOr<nlohmann::json> ApplyPatch(PatchType type, const nlohmann::json& target,
                                    const nlohmann::json& patch);

}  // namespace kb::sim
