// The structured values of the rescheduler's scope: label selectors (podSelector and each node
// group's nodeSelector), priorityThreshold and nodeGroups. Strict like the rest of the loader:
// unknown fields, wrong types and invalid operators are errors naming the full key path.
#include <limits>
#include <set>

#include "core/config.h"
#include "core/config_internal.h"

namespace kb::config_internal {

namespace {

std::string Shape(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  return n.IsMap() ? "<mapping>" : "<sequence>";
}

// Checks that `n` is a mapping whose keys are all in `allowed`.
Status CheckMapping(const YAML::Node& n, const std::string& key,
                    const std::set<std::string>& allowed, const std::string& expected) {
  if (!n.IsMap()) return Invalid(key, Shape(n), expected);
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node k = it->first;
    if (!k.IsScalar()) return Status::InvalidArgument(key + ": keys must be strings");
    if (allowed.count(k.Scalar()) == 0) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Status::InvalidArgument("unknown key " + Quote(key + "." + k.Scalar()) +
                                     " (expected one of: " + list + ")");
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> Strings(const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence()) return Invalid(key, Shape(n), "expected a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    KB_ASSIGN_OR_RETURN(std::string v,
                        ScalarText(n[i], key + "[" + std::to_string(i) + "]", "expected a string"));
    out.push_back(std::move(v));
  }
  return out;
}

Status ParseRequirement(const YAML::Node& n, const std::string& key,
                        LabelSelectorRequirement* out) {
  KB_RETURN_IF_ERROR(CheckMapping(n, key, {"key", "operator", "values"},
                                  "expected a mapping with key, operator and values"));
  if (!n["key"].IsDefined() || n["key"].IsNull()) {
    return Invalid(key + ".key", "", "must be set");
  }
  KB_ASSIGN_OR_RETURN(out->key, ScalarText(n["key"], key + ".key", "expected a string"));
  if (out->key.empty()) return Invalid(key + ".key", "", "must not be empty");
  const std::string op_key = key + ".operator";
  static const std::string kOps = "expected In, NotIn, Exists or DoesNotExist";
  if (!n["operator"].IsDefined() || n["operator"].IsNull()) return Invalid(op_key, "", kOps);
  KB_ASSIGN_OR_RETURN(out->op, ScalarText(n["operator"], op_key, kOps));
  if (n["values"].IsDefined() && !n["values"].IsNull()) {
    KB_ASSIGN_OR_RETURN(out->values, Strings(n["values"], key + ".values"));
  }
  // apimachinery's rules: In / NotIn need values, Exists / DoesNotExist take none.
  if (out->op == "In" || out->op == "NotIn") {
    if (out->values.empty()) {
      return Invalid(key + ".values", "[]", "operator " + out->op + " needs at least one value");
    }
  } else if (out->op == "Exists" || out->op == "DoesNotExist") {
    if (!out->values.empty()) {
      return Invalid(key + ".values", out->values.front(),
                     "operator " + out->op + " takes no values");
    }
  } else {
    return Invalid(op_key, out->op, kOps);
  }
  return Status::Ok();
}

StatusOr<double> Percent(const YAML::Node& n, const std::string& key) {
  KB_ASSIGN_OR_RETURN(double v, ParseNumber(n, key));
  if (!InRange(v, 0, 100)) return OutOfRange(key, v, "must be in [0, 100]");
  return v;
}

Status ParseNodeGroup(const YAML::Node& n, const std::string& key, NodeGroup* g) {
  KB_RETURN_IF_ERROR(CheckMapping(
      n, key, {"name", "nodeSelector", "cpuThreshold", "memoryThreshold", "imbalanceThreshold"},
      "expected a mapping with name and nodeSelector"));
  if (!n["name"].IsDefined() || n["name"].IsNull())
    return Invalid(key + ".name", "", "must be set");
  KB_ASSIGN_OR_RETURN(g->name, ScalarText(n["name"], key + ".name", "expected a string"));
  if (g->name.empty()) return Invalid(key + ".name", "", "must not be empty");
  if (!n["nodeSelector"].IsDefined() || n["nodeSelector"].IsNull()) {
    return Invalid(key + ".nodeSelector", "", "must be set");
  }
  KB_RETURN_IF_ERROR(
      ParseLabelSelector(n["nodeSelector"], key + ".nodeSelector", &g->node_selector));
  if (g->node_selector.Empty()) {
    return Invalid(key + ".nodeSelector", "{}", "must not be empty (it would match every node)");
  }
  const std::pair<const char*, std::optional<double>*> thresholds[] = {
      {"cpuThreshold", &g->cpu_threshold},
      {"memoryThreshold", &g->memory_threshold},
      {"imbalanceThreshold", &g->imbalance_threshold}};
  for (const auto& [field, dest] : thresholds) {
    if (!n[field].IsDefined() || n[field].IsNull()) continue;
    KB_ASSIGN_OR_RETURN(double v, Percent(n[field], key + "." + field));
    *dest = v;
  }
  return Status::Ok();
}

}  // namespace

Status ParseLabelSelector(const YAML::Node& n, const std::string& key, LabelSelector* out) {
  KB_RETURN_IF_ERROR(CheckMapping(n, key, {"matchLabels", "matchExpressions"},
                                  "expected a label selector (matchLabels, matchExpressions)"));
  LabelSelector s;
  if (const YAML::Node labels = n["matchLabels"]; labels.IsDefined() && !labels.IsNull()) {
    if (!labels.IsMap()) return Invalid(key + ".matchLabels", Shape(labels), "expected a mapping");
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) return Status::InvalidArgument(key + ".matchLabels: keys must be strings");
      const std::string item_key = key + ".matchLabels." + k.Scalar();
      KB_ASSIGN_OR_RETURN(std::string value, ScalarText(v, item_key, "expected a string"));
      s.match_labels[k.Scalar()] = std::move(value);
    }
  }
  if (const YAML::Node exprs = n["matchExpressions"]; exprs.IsDefined() && !exprs.IsNull()) {
    if (!exprs.IsSequence()) {
      return Invalid(key + ".matchExpressions", Shape(exprs), "expected a list");
    }
    for (size_t i = 0; i < exprs.size(); ++i) {
      LabelSelectorRequirement r;
      KB_RETURN_IF_ERROR(
          ParseRequirement(exprs[i], key + ".matchExpressions[" + std::to_string(i) + "]", &r));
      s.match_expressions.push_back(std::move(r));
    }
  }
  *out = std::move(s);
  return Status::Ok();
}

Status ParsePriorityThreshold(const YAML::Node& n, const std::string& key, PriorityThreshold* out) {
  KB_RETURN_IF_ERROR(
      CheckMapping(n, key, {"value", "name"}, "expected {value: <priority>} or {name: <class>}"));
  const bool has_value = n["value"].IsDefined() && !n["value"].IsNull();
  const bool has_name = n["name"].IsDefined() && !n["name"].IsNull();
  if (has_value && has_name) {
    return Status::InvalidArgument(key +
                                   ": set either value or name, not both (a PriorityClass "
                                   "name is resolved to its value)");
  }
  PriorityThreshold t;
  if (has_value) {
    KB_ASSIGN_OR_RETURN(
        int64_t v, ParseInteger(n["value"], key + ".value", std::numeric_limits<int32_t>::min(),
                                std::numeric_limits<int32_t>::max()));
    t.value = static_cast<int32_t>(v);
  }
  if (has_name) {
    KB_ASSIGN_OR_RETURN(t.name, ScalarText(n["name"], key + ".name", "expected a string"));
    if (t.name.empty()) return Invalid(key + ".name", "", "must not be empty");
  }
  *out = std::move(t);
  return Status::Ok();
}

Status ParseNodeGroups(const YAML::Node& n, const std::string& key, std::vector<NodeGroup>* out) {
  if (!n.IsSequence()) return Invalid(key, Shape(n), "expected a list of node groups");
  std::vector<NodeGroup> groups;
  std::set<std::string> names;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string item_key = key + "[" + std::to_string(i) + "]";
    NodeGroup g;
    KB_RETURN_IF_ERROR(ParseNodeGroup(n[i], item_key, &g));
    if (!names.insert(g.name).second) return Invalid(item_key + ".name", g.name, "listed twice");
    groups.push_back(std::move(g));
  }
  *out = std::move(groups);
  return Status::Ok();
}

}  // namespace kb::config_internal
