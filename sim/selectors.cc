#include "sim/selectors.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace kb::sim {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool ValidKey(const std::string& k) {
  if (k.empty() || k.size() > 316) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

bool ValidValue(const std::string& v) {
  if (v.size() > 63) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Splits on commas outside parentheses.
std::vector<std::string> SplitTopLevel(std::string_view s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

Status ParseError(std::string_view req, const std::string& why) {
  return Status::InvalidArgument("unable to parse requirement: \"" + std::string(req) +
                                 "\": " + why);
}

StatusOr<NodeSelectorRequirement> ParseRequirement(std::string_view raw) {
  std::string r = Trim(raw);
  if (r.empty()) return ParseError(raw, "empty requirement");
  NodeSelectorRequirement req;
  if (r[0] == '!') {
    req.key = Trim(r.substr(1));
    req.op = "DoesNotExist";
    if (!ValidKey(req.key)) return ParseError(raw, "invalid label key");
    return req;
  }
  // Set-based: "<key> in (...)" / "<key> notin (...)".
  auto paren = r.find('(');
  if (paren != std::string::npos) {
    if (r.back() != ')') return ParseError(raw, "missing ')'");
    std::string head = Trim(r.substr(0, paren));
    auto sp = head.find_last_of(" \t");
    if (sp == std::string::npos) return ParseError(raw, "expected 'in' or 'notin'");
    std::string op = Trim(head.substr(sp + 1));
    req.key = Trim(head.substr(0, sp));
    if (op == "in") {
      req.op = "In";
    } else if (op == "notin") {
      req.op = "NotIn";
    } else {
      return ParseError(raw, "unknown operator \"" + op + "\"");
    }
    std::string inner = r.substr(paren + 1, r.size() - paren - 2);
    for (const auto& v : SplitTopLevel(inner)) {
      std::string value = Trim(v);
      if (!ValidValue(value)) return ParseError(raw, "invalid label value \"" + value + "\"");
      req.values.push_back(value);
    }
    if (!ValidKey(req.key)) return ParseError(raw, "invalid label key");
    return req;
  }
  // Equality-based ("=" / "==" / "!=") and integer comparisons ("<", ">").
  size_t pos;
  size_t len = 1;
  if ((pos = r.find("!=")) != std::string::npos) {
    req.op = "NotIn";
    len = 2;
  } else if ((pos = r.find("==")) != std::string::npos) {
    req.op = "In";
    len = 2;
  } else if ((pos = r.find('=')) != std::string::npos) {
    req.op = "In";
  } else if ((pos = r.find('>')) != std::string::npos) {
    req.op = "Gt";
  } else if ((pos = r.find('<')) != std::string::npos) {
    req.op = "Lt";
  } else {
    req.key = r;
    req.op = "Exists";
    if (!ValidKey(req.key)) return ParseError(raw, "invalid label key");
    return req;
  }
  req.key = Trim(r.substr(0, pos));
  std::string value = Trim(r.substr(pos + len));
  if (!ValidKey(req.key)) return ParseError(raw, "invalid label key");
  if (!ValidValue(value)) return ParseError(raw, "invalid label value \"" + value + "\"");
  if (req.op == "Gt" || req.op == "Lt") {
    char* end = nullptr;
    std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0') return ParseError(raw, "value must be an integer");
  }
  req.values.push_back(value);
  return req;
}

// One matchExpressions entry of a metav1.LabelSelector (operators In, NotIn, Exists,
// DoesNotExist).
StatusOr<NodeSelectorRequirement> ParseExpression(const nlohmann::json& e,
                                                  const std::string& path) {
  if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("operator") ||
      !e["operator"].is_string()) {
    return Status::InvalidArgument(path + ": needs string key and operator");
  }
  NodeSelectorRequirement r;
  r.key = e["key"].get<std::string>();
  r.op = e["operator"].get<std::string>();
  if (r.op != "In" && r.op != "NotIn" && r.op != "Exists" && r.op != "DoesNotExist") {
    return Status::InvalidArgument(path + ".operator: \"" + r.op + "\" is not a valid operator");
  }
  if (e.contains("values") && e["values"].is_array()) {
    for (const auto& v : e["values"]) {
      if (!v.is_string()) return Status::InvalidArgument(path + ".values: must be strings");
      r.values.push_back(v.get<std::string>());
    }
  }
  if (r.op == "Exists" || r.op == "DoesNotExist") {
    r.values.clear();  // ignored here (kube-apiserver rejects them; kube-sim tolerates them)
  } else if (r.values.empty()) {
    return Status::InvalidArgument(path + ".values: must be non-empty for " + r.op);
  }
  return r;
}

// metadata.labels as a map (a non-string value, which validation rejects, as its JSON text).
StringMap LabelMap(const nlohmann::json& labels) {
  StringMap out;
  if (!labels.is_object()) return out;
  for (const auto& [k, v] : labels.items()) {
    out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

}  // namespace

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector s;
  if (Trim(text).empty()) return s;
  for (const auto& part : SplitTopLevel(text)) {
    auto req = ParseRequirement(part);
    if (!req.ok()) return req.status();
    s.reqs_.push_back(std::move(*req));
  }
  return s;
}

StatusOr<LabelSelector> LabelSelector::FromJson(const nlohmann::json& selector) {
  if (selector.is_null()) return Nothing();
  if (!selector.is_object()) return Status::InvalidArgument("selector: must be an object");
  LabelSelector s;
  if (selector.contains("matchLabels") && !selector["matchLabels"].is_null()) {
    const auto& ml = selector["matchLabels"];
    if (!ml.is_object()) return Status::InvalidArgument("selector.matchLabels: must be an object");
    for (const auto& [k, v] : ml.items()) {
      if (!v.is_string()) {
        return Status::InvalidArgument("selector.matchLabels." + k + ": must be a string");
      }
      s.reqs_.push_back({k, "In", {v.get<std::string>()}});
    }
  }
  if (selector.contains("matchExpressions") && !selector["matchExpressions"].is_null()) {
    const auto& me = selector["matchExpressions"];
    if (!me.is_array()) {
      return Status::InvalidArgument("selector.matchExpressions: must be an array");
    }
    for (size_t i = 0; i < me.size(); ++i) {
      KB_ASSIGN_OR_RETURN(
          NodeSelectorRequirement r,
          ParseExpression(me[i], "selector.matchExpressions[" + std::to_string(i) + "]"));
      s.reqs_.push_back(std::move(r));
    }
  }
  return s;
}

bool LabelSelector::Matches(const nlohmann::json& labels) const {
  if (nothing_) return false;
  if (reqs_.empty()) return true;
  const StringMap map = LabelMap(labels);
  for (const auto& r : reqs_) {
    if (!r.Matches(map)) return false;
  }
  return true;
}

std::string FieldValue(const nlohmann::json& object, const std::string& field) {
  const nlohmann::json* cur = &object;
  size_t start = 0;
  while (start <= field.size()) {
    size_t dot = field.find('.', start);
    std::string part =
        field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(part)) return "";
    cur = &(*cur)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_null()) return "";
  return cur->dump();
}

StatusOr<FieldSelector> FieldSelector::Parse(std::string_view text, const std::string& resource) {
  static const std::vector<std::string> kPodFields = {
      "metadata.name",      "metadata.namespace",      "spec.nodeName",    "spec.restartPolicy",
      "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
      "status.podIP",       "status.nominatedNodeName"};
  static const std::vector<std::string> kNodeFields = {"metadata.name", "spec.unschedulable"};
  static const std::vector<std::string> kEventFields = {"metadata.name",
                                                        "metadata.namespace",
                                                        "involvedObject.kind",
                                                        "involvedObject.name",
                                                        "involvedObject.namespace",
                                                        "involvedObject.uid",
                                                        "reason",
                                                        "type",
                                                        "source"};
  static const std::vector<std::string> kGeneric = {"metadata.name", "metadata.namespace"};
  const auto& allowed = resource == "pods"     ? kPodFields
                        : resource == "nodes"  ? kNodeFields
                        : resource == "events" ? kEventFields
                                               : kGeneric;
  FieldSelector s;
  if (Trim(text).empty()) return s;
  for (const auto& raw : SplitTopLevel(text)) {
    std::string part = Trim(raw);
    Term t;
    size_t pos, len;
    if ((pos = part.find("!=")) != std::string::npos) {
      t.equals = false;
      len = 2;
    } else if ((pos = part.find("==")) != std::string::npos) {
      len = 2;
    } else if ((pos = part.find('=')) != std::string::npos) {
      len = 1;
    } else {
      return Status::InvalidArgument("invalid selector: '" + std::string(text) +
                                     "'; can't understand '" + part + "'");
    }
    t.field = Trim(part.substr(0, pos));
    t.value = Trim(part.substr(pos + len));
    if (std::find(allowed.begin(), allowed.end(), t.field) == allowed.end()) {
      return Status::InvalidArgument("field label not supported: " + t.field);
    }
    s.terms_.push_back(std::move(t));
  }
  return s;
}

bool FieldSelector::Matches(const nlohmann::json& object) const {
  for (const auto& t : terms_) {
    std::string v = FieldValue(object, t.field);
    if (t.field == "spec.unschedulable" && v.empty()) v = "false";
    if (t.field == "spec.hostNetwork" && v.empty()) v = "false";
    if ((v == t.value) != t.equals) return false;
  }
  return true;
}

}  // namespace kb::sim
