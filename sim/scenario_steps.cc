#include "sim/scenario_steps.h"

#include <set>

#include "core/logging.h"
#include "sim/api_server.h"
#include "sim/resources.h"
#include "sim/scenario.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

Status StepError(size_t i, const json& step, const std::string& what) {
  std::string where = "steps[" + std::to_string(i) + "]";
  if (step.is_object() && step.contains("name") && step["name"].is_string()) {
    where += " (" + step["name"].get<std::string>() + ")";
  }
  return Status::InvalidArgument(where + ": " + what);
}

// {resource, name, namespace|ns} of a patch / delete target.
Status ParseTarget(size_t i, const json& step, const json& target, const std::string& default_ns,
                   const std::set<std::string>& extra_keys, ScenarioStep* out) {
  const std::string key = out->kind == ScenarioStep::Kind::kPatch ? "patch" : "delete";
  if (!target.is_object()) return StepError(i, step, key + ": must be a mapping");
  for (const auto& [k, v] : target.items()) {
    if (k != "resource" && k != "name" && k != "namespace" && k != "ns" && !extra_keys.count(k)) {
      return StepError(i, step, key + ": unknown key \"" + k + "\"");
    }
    if (k != "merge" && !v.is_string()) {
      return StepError(i, step, key + "." + k + ": must be a string");
    }
  }
  out->resource = target.value("resource", "");
  out->object_name = target.value("name", "");
  const ResourceInfo* r = FindResource(out->resource);
  if (!r) {
    return StepError(i, step,
                     key + ".resource: \"" + out->resource +
                         "\" is not a resource kube-sim serves (e.g. deployments, nodes)");
  }
  if (out->object_name.empty()) return StepError(i, step, key + ".name: is required");
  if (r->namespaced) {
    out->ns = target.value("namespace", target.value("ns", default_ns));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<ScenarioStep>> ParseSteps(const json& steps, const std::string& default_ns) {
  std::vector<ScenarioStep> out;
  if (steps.is_null()) return out;
  if (!steps.is_array()) return Status::InvalidArgument("steps: must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& s = steps[i];
    if (!s.is_object()) return StepError(i, s, "must be a mapping");
    ScenarioStep step;
    int actions = 0;
    for (const auto& [k, v] : s.items()) {
      if (k == "name" || k == "description") {
        if (!v.is_string()) return StepError(i, s, k + ": must be a string");
      } else if (k == "at") {
        StatusOr<std::chrono::milliseconds> d = ParseDurationValue(v);
        if (!d.ok()) return StepError(i, s, "at: \"" + v.dump() + "\" is not a duration like 30s");
        step.at = *d;
      } else if (k == "patch") {
        ++actions;
        step.kind = ScenarioStep::Kind::kPatch;
        KB_RETURN_IF_ERROR(ParseTarget(i, s, v, default_ns, {"merge"}, &step));
        if (!v.contains("merge") || !v["merge"].is_object()) {
          return StepError(i, s, "patch.merge: must be a mapping (a JSON merge patch)");
        }
        step.merge_patch = v["merge"];
      } else if (k == "delete") {
        ++actions;
        step.kind = ScenarioStep::Kind::kDelete;
        KB_RETURN_IF_ERROR(ParseTarget(i, s, v, default_ns, {}, &step));
      } else if (k == "create") {
        ++actions;
        step.kind = ScenarioStep::Kind::kCreate;
        if (!v.is_object()) return StepError(i, s, "create: must be a scenario mapping");
        json doc = v;
        if (!doc.contains("namespace")) doc["namespace"] = default_ns;
        for (const char* forbidden : {"scheduler", "steps", "name", "description"}) {
          if (doc.contains(forbidden)) {
            return StepError(i, s, std::string("create: key \"") + forbidden + "\" not allowed");
          }
        }
        auto expanded = ExpandScenario(doc, "1970-01-01T00:00:00Z");
        if (!expanded.ok()) return StepError(i, s, "create: " + expanded.status().message());
        step.create = doc;
      } else {
        return StepError(i, s, "unknown key \"" + k + "\"");
      }
    }
    step.name = s.value("name", "");
    step.description = s.value("description", "");
    if (step.name.empty()) return StepError(i, s, "name: is required");
    if (!names.insert(step.name).second) return StepError(i, s, "name: used twice");
    if (actions != 1) return StepError(i, s, "needs exactly one of patch, create, delete");
    out.push_back(std::move(step));
  }
  return out;
}

Status ApplyStep(ApiServer& server, const ScenarioStep& step) {
  Status st = Status::Ok();
  switch (step.kind) {
    case ScenarioStep::Kind::kPatch: {
      auto r = server.PatchObject(step.resource, step.ns, step.object_name, step.merge_patch);
      if (!r.ok()) st = r.status();
      break;
    }
    case ScenarioStep::Kind::kDelete:
      st = server.DeleteObject(step.resource, step.ns, step.object_name);
      break;
    case ScenarioStep::Kind::kCreate:
      st = server.LoadScenario(step.create);
      break;
  }
  if (!st.ok()) return st.Annotate("step " + step.name);
  Logger("kube-sim")
      ->info("scenario step applied step={} description=\"{}\"", step.name, step.description);
  return Status::Ok();
}

}  // namespace kb::sim
