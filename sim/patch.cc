#include "sim/patch.h"

#include <map>
#include <string>

namespace kb::sim {
namespace {

// patchMergeKey of the list fields built-in types declare (k8s.io/api core/v1, apps/v1, meta/v1).
const std::map<std::string, std::string>& MergeKeys() {
  static const std::map<std::string, std::string> kKeys = {
      {"containers", "name"},
      {"initContainers", "name"},
      {"ephemeralContainers", "name"},
      {"volumes", "name"},
      {"env", "name"},
      {"imagePullSecrets", "name"},
      {"volumeMounts", "mountPath"},
      {"volumeDevices", "devicePath"},
      {"ports", "containerPort"},
      {"conditions", "type"},
      {"ownerReferences", "uid"},
      {"hostAliases", "ip"},
      {"topologySpreadConstraints", "topologyKey"},
      {"resourceClaims", "name"},
      {"schedulingGates", "name"}};
  return kKeys;
}

bool IsDirective(const std::string& key) { return !key.empty() && key[0] == '$'; }

nlohmann::json StripDirectives(const nlohmann::json& v) {
  if (v.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, x] : v.items()) {
      if (!IsDirective(k)) out[k] = StripDirectives(x);
    }
    return out;
  }
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v) out.push_back(StripDirectives(x));
    return out;
  }
  return v;
}

nlohmann::json StrategicMerge(nlohmann::json target, const nlohmann::json& patch);

nlohmann::json MergeList(nlohmann::json target, const nlohmann::json& patch,
                         const std::string& key) {
  for (const auto& item : patch) {
    if (!item.is_object() || !item.contains(key)) {
      target.push_back(StripDirectives(item));
      continue;
    }
    const bool del = item.contains("$patch") && item["$patch"] == "delete";
    bool found = false;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i].is_object() && target[i].contains(key) && target[i][key] == item[key]) {
        found = true;
        if (del) {
          target.erase(i);
        } else {
          target[i] = StrategicMerge(target[i], item);
        }
        break;
      }
    }
    if (!found && !del) target.push_back(StripDirectives(item));
  }
  return target;
}

nlohmann::json StrategicMerge(nlohmann::json target, const nlohmann::json& patch) {
  if (!patch.is_object()) return patch;
  if (patch.contains("$patch")) {
    if (patch["$patch"] == "replace") return StripDirectives(patch);
    if (patch["$patch"] == "delete") return nullptr;
  }
  if (!target.is_object()) target = nlohmann::json::object();
  for (const auto& [k, v] : patch.items()) {
    if (IsDirective(k)) continue;
    if (v.is_null()) {
      target.erase(k);
      continue;
    }
    auto mk = MergeKeys().find(k);
    if (v.is_array() && mk != MergeKeys().end() && target.contains(k) && target[k].is_array()) {
      target[k] = MergeList(target[k], v, mk->second);
    } else if (v.is_object()) {
      nlohmann::json merged = StrategicMerge(target.contains(k) ? target[k] : nlohmann::json(), v);
      if (merged.is_null()) {
        target.erase(k);
      } else {
        target[k] = std::move(merged);
      }
    } else {
      target[k] = StripDirectives(v);
    }
  }
  return target;
}

}  // namespace

StatusOr<PatchType> PatchTypeFromContentType(std::string_view content_type) {
  std::string_view ct = content_type.substr(0, content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  if (ct == "application/merge-patch+json") return PatchType::kJsonMerge;
  if (ct == "application/strategic-merge-patch+json") return PatchType::kStrategicMerge;
  if (ct == "application/json-patch+json") return PatchType::kJsonPatch;
  return Status::InvalidArgument("unsupported patch content type \"" + std::string(content_type) +
                                 "\"");
}

StatusOr<nlohmann::json> ApplyPatch(PatchType type, const nlohmann::json& target,
                                    const nlohmann::json& patch) {
  try {
    switch (type) {
      case PatchType::kJsonMerge: {
        if (!patch.is_object()) return Status::InvalidArgument("merge patch must be an object");
        nlohmann::json out = target;
        out.merge_patch(patch);
        return out;
      }
      case PatchType::kStrategicMerge:
        if (!patch.is_object()) {
          return Status::InvalidArgument("strategic merge patch must be an object");
        }
        return StrategicMerge(target, patch);
      case PatchType::kJsonPatch:
        if (!patch.is_array()) return Status::InvalidArgument("json patch must be an array");
        return target.patch(patch);
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("the patch could not be applied: ") + e.what());
  }
  return Status::InvalidArgument("unknown patch type");
}

}  // namespace kb::sim
