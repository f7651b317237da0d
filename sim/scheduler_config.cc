// The `scheduler:` section of a scenario (docs/scenario-format.md#scheduler): the scheduler
// driver's options in KubeSchedulerConfiguration's key names.
#include <string>
#include <vector>

#include "sim/scenario.h"
#include "sim/scheduler_driver.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

StatusOr<bool> Bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) return Status::InvalidArgument("scheduler: " + key + ": must be a bool");
  return v.get<bool>();
}

StatusOr<std::string> String(const json& v, const std::string& key) {
  if (!v.is_string()) return Status::InvalidArgument("scheduler: " + key + ": must be a string");
  return v.get<std::string>();
}

StatusOr<std::vector<std::string>> Strings(const json& v, const std::string& key) {
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array()) {
    return Status::InvalidArgument("scheduler: " + key + ": must be a list of strings");
  }
  std::vector<std::string> out;
  for (const json& s : v) {
    if (!s.is_string()) {
      return Status::InvalidArgument("scheduler: " + key + ": must be a list of strings");
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

StatusOr<Millis> Duration(const json& v, const std::string& key) {
  StatusOr<Millis> d = ParseDurationValue(v);
  if (!d.ok()) {
    return Status::InvalidArgument("scheduler: " + key + ": \"" +
                                   (v.is_string() ? v.get<std::string>() : v.dump()) +
                                   "\" is not a duration like 5s");
  }
  return *d;
}

}  // namespace

Status ApplySchedulerSection(const json& section, SchedulerDriverOptions* options) {
  if (section.is_null()) return Status::Ok();
  if (!section.is_object()) return Status::InvalidArgument("scheduler: must be a mapping");
  for (const auto& [key, value] : section.items()) {
    if (key == "schedulerNames") {
      KB_ASSIGN_OR_RETURN(options->scheduler_names, Strings(value, key));
    } else if (key == "defaultSchedulerNames") {
      KB_ASSIGN_OR_RETURN(options->default_scheduler_names, Strings(value, key));
    } else if (key == "seed") {
      if (!value.is_number_integer()) {
        return Status::InvalidArgument("scheduler: seed: must be an integer");
      }
      options->seed = value.get<uint64_t>();
    } else if (key == "initialBackoff") {
      KB_ASSIGN_OR_RETURN(options->initial_backoff, Duration(value, key));
    } else if (key == "maxBackoff") {
      KB_ASSIGN_OR_RETURN(options->max_backoff, Duration(value, key));
    } else if (key == "asyncBinding") {
      KB_ASSIGN_OR_RETURN(options->async_binding, Bool(value, key));
    } else if (key == "bindLatency") {
      KB_ASSIGN_OR_RETURN(options->bind_latency, Duration(value, key));
      if (options->bind_latency.count() < 0) {
        return Status::InvalidArgument("scheduler: bindLatency: must be >= 0");
      }
      options->async_binding = true;  // a latency only means something off the scheduling cycle
    } else if (key == "extender") {
      if (!value.is_object()) {
        return Status::InvalidArgument("scheduler: extender: must be a mapping");
      }
      ExtenderConfig& e = options->extender;
      for (const auto& [k, v] : value.items()) {
        const std::string where = "extender." + k;
        if (k == "urlPrefix") {
          KB_ASSIGN_OR_RETURN(e.url_prefix, String(v, where));
        } else if (k == "filterVerb") {
          KB_ASSIGN_OR_RETURN(e.filter_verb, String(v, where));
        } else if (k == "prioritizeVerb") {
          KB_ASSIGN_OR_RETURN(e.prioritize_verb, String(v, where));
        } else if (k == "bindVerb") {
          KB_ASSIGN_OR_RETURN(e.bind_verb, String(v, where));
        } else if (k == "weight") {
          if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
            return Status::InvalidArgument("scheduler: " + where + ": must be a positive integer");
          }
          e.weight = v.get<int64_t>();
        } else if (k == "nodeCacheCapable") {
          KB_ASSIGN_OR_RETURN(e.node_cache_capable, Bool(v, where));
        } else if (k == "ignorable") {
          KB_ASSIGN_OR_RETURN(e.ignorable, Bool(v, where));
        } else if (k == "httpTimeout") {
          KB_ASSIGN_OR_RETURN(e.http_timeout, Duration(v, where));
        } else {
          return Status::InvalidArgument("scheduler: unknown key \"" + where + "\"");
        }
      }
    } else {
      return Status::InvalidArgument("scheduler: unknown key \"" + key + "\"");
    }
  }
  return Status::Ok();
}

}  // namespace kb::sim
