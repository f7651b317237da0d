#include "sim/k8s_json.h"

#include <algorithm>

#include "core/model.h"
#include "core/quantity.h"

namespace kb::sim {

const nlohmann::json& At(const nlohmann::json& obj, std::initializer_list<const char*> path) {
  static const nlohmann::json kNull;
  const nlohmann::json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(p);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string StrAt(const nlohmann::json& obj, std::initializer_list<const char*> path,
                  const std::string& fallback) {
  const auto& v = At(obj, path);
  return v.is_string() ? v.get<std::string>() : fallback;
}

int64_t IntAt(const nlohmann::json& obj, std::initializer_list<const char*> path,
              int64_t fallback) {
  const auto& v = At(obj, path);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

std::string Name(const nlohmann::json& obj) { return StrAt(obj, {"metadata", "name"}); }
std::string Namespace(const nlohmann::json& obj) { return StrAt(obj, {"metadata", "namespace"}); }
std::string Uid(const nlohmann::json& obj) { return StrAt(obj, {"metadata", "uid"}); }
std::string ResourceVersion(const nlohmann::json& obj) {
  return StrAt(obj, {"metadata", "resourceVersion"});
}

bool IsDryRunAll(const nlohmann::json& dry_run) {
  return dry_run.is_array() &&
         std::find(dry_run.begin(), dry_run.end(), nlohmann::json("All")) != dry_run.end();
}

std::optional<int64_t> QuantityAt(const nlohmann::json& list, const char* name, bool cpu) {
  const nlohmann::json& v = At(list, {name});
  if (!v.is_string() && !v.is_number()) return std::nullopt;
  const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  StatusOr<int64_t> amount = cpu ? ParseCpuMillis(text) : ParseBytes(text);
  if (!amount.ok()) return std::nullopt;
  return *amount;
}

bool IsTerminating(const nlohmann::json& pod) {
  const auto& ts = At(pod, {"metadata", "deletionTimestamp"});
  return !ts.is_null();
}

std::string PodPhase(const nlohmann::json& pod) { return StrAt(pod, {"status", "phase"}); }

bool IsPodReady(const nlohmann::json& pod) {
  const auto& conds = At(pod, {"status", "conditions"});
  if (!conds.is_array()) return false;
  for (const auto& c : conds) {
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

bool IsPodActive(const nlohmann::json& pod) {
  std::string phase = PodPhase(pod);
  return !IsTerminating(pod) && phase != "Succeeded" && phase != "Failed";
}

std::optional<WallTime> ConditionTrueSince(const nlohmann::json& obj, const std::string& type) {
  const auto& conds = At(obj, {"status", "conditions"});
  if (!conds.is_array()) return std::nullopt;
  for (const auto& c : conds) {
    if (c.is_object() && c.value("type", "") == type) {
      if (c.value("status", "") != "True") return std::nullopt;
      StatusOr<WallTime> t = ParseRfc3339(c.value("lastTransitionTime", ""));
      if (!t.ok()) return std::nullopt;
      return *t;
    }
  }
  return std::nullopt;
}

void SetCondition(nlohmann::json& obj, const std::string& type, const std::string& status,
                  const std::string& reason, const std::string& now) {
  auto& conds = obj["status"]["conditions"];
  if (!conds.is_array()) conds = nlohmann::json::array();
  for (auto& c : conds) {
    if (c.is_object() && c.value("type", "") == type) {
      if (c.value("status", "") != status) c["lastTransitionTime"] = now;
      c["status"] = status;
      if (!reason.empty()) c["reason"] = reason;
      return;
    }
  }
  nlohmann::json c = {{"type", type}, {"status", status}, {"lastTransitionTime", now}};
  if (!reason.empty()) c["reason"] = reason;
  conds.push_back(std::move(c));
}

const nlohmann::json& ControllerRef(const nlohmann::json& obj) {
  static const nlohmann::json kNull;
  const auto& refs = At(obj, {"metadata", "ownerReferences"});
  if (!refs.is_array()) return kNull;
  for (const auto& r : refs) {
    if (r.is_object() && r.value("controller", false)) return r;
  }
  return kNull;
}

nlohmann::json MakeControllerRef(const nlohmann::json& owner) {
  return {{"apiVersion", owner.value("apiVersion", "")},
          {"kind", owner.value("kind", "")},
          {"name", Name(owner)},
          {"uid", Uid(owner)},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

}  // namespace kb::sim
