#include "sim/k8s_json.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

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

std::string FormatTime(WallTime t) {
  std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<WallTime> ParseTime(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t secs = timegm(&tm);
  auto t = std::chrono::system_clock::from_time_t(secs);
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    ++i;
    double scale = 0.1;
    double frac = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      frac += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    t += std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::duration<double>(frac));
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    auto off = std::chrono::hours(hh) + std::chrono::minutes(mm);
    t = s[i] == '+' ? t - off : t + off;
  } else if (i >= s.size() || (s[i] != 'Z' && s[i] != 'z')) {
    return std::nullopt;
  }
  return t;
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
      return ParseTime(c.value("lastTransitionTime", ""));
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

namespace {

int64_t Quantity(const nlohmann::json& list, const char* name, bool cpu) {
  if (!list.is_object()) return 0;
  auto it = list.find(name);
  if (it == list.end()) return 0;
  std::string text = it->is_string() ? it->get<std::string>() : it->dump();
  auto v = cpu ? ParseCpuMillis(text) : ParseBytes(text);
  return v.ok() ? *v : 0;
}

}  // namespace

PodRequests EffectiveRequests(const nlohmann::json& pod) {
  PodRequests sum;
  const auto& containers = At(pod, {"spec", "containers"});
  if (containers.is_array()) {
    for (const auto& c : containers) {
      const auto& req = At(c, {"resources", "requests"});
      sum.cpu_millis += Quantity(req, "cpu", true);
      sum.memory_bytes += Quantity(req, "memory", false);
    }
  }
  const auto& inits = At(pod, {"spec", "initContainers"});
  if (inits.is_array()) {
    for (const auto& c : inits) {
      const auto& req = At(c, {"resources", "requests"});
      sum.cpu_millis = std::max(sum.cpu_millis, Quantity(req, "cpu", true));
      sum.memory_bytes = std::max(sum.memory_bytes, Quantity(req, "memory", false));
    }
  }
  const auto& overhead = At(pod, {"spec", "overhead"});
  sum.cpu_millis += Quantity(overhead, "cpu", true);
  sum.memory_bytes += Quantity(overhead, "memory", false);
  return sum;
}

std::optional<std::pair<std::string, std::string>> CheckQuantities(const nlohmann::json& spec,
                                                                   const std::string& path) {
  for (const char* list : {"containers", "initContainers"}) {
    const auto& cs = At(spec, {list});
    if (!cs.is_array()) continue;
    for (size_t i = 0; i < cs.size(); ++i) {
      for (const char* kind : {"requests", "limits"}) {
        const auto& q = At(cs[i], {"resources", kind});
        if (q.is_null()) continue;
        std::string base = path + "." + list + "[" + std::to_string(i) + "].resources." + kind;
        if (!q.is_object()) return std::make_pair(base, "must be an object");
        for (const auto& [res, v] : q.items()) {
          std::string text = v.is_string() ? v.get<std::string>() : v.dump();
          if (!v.is_string() && !v.is_number()) {
            return std::make_pair(base + "[" + res + "]", "must be a quantity");
          }
          if (!ParseQuantity(text).ok()) {
            return std::make_pair(base + "[" + res + "]",
                                  "Invalid value: \"" + text +
                                      "\": quantities must match the regular expression "
                                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
          }
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace kb::sim
