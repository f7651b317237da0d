// Label and field selectors evaluated directly on Kubernetes JSON, as kube-apiserver evaluates
// `labelSelector` / `fieldSelector` query parameters and metav1.LabelSelector objects (PDB,
// ReplicaSet and Deployment selectors). kube-sim parses them; each label requirement is matched by
// core's labels.Requirement (core/model.h NodeSelectorRequirement).
// Immutable value types once built: thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace kb::sim {

class LabelSelector {
 public:
  // Matches every object (no requirements).
  static LabelSelector Everything() { return LabelSelector(); }
  // Matches no object.
  static LabelSelector Nothing() {
    LabelSelector s;
    s.nothing_ = true;
    return s;
  }
  // The query-string form: "a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3". "" = everything.
  // InvalidArgument naming the bad requirement.
  static StatusOr<LabelSelector> Parse(std::string_view text);
  // A metav1.LabelSelector {matchLabels, matchExpressions}. null -> Nothing (as
  // LabelSelectorAsSelector does); {} -> Everything. Values given to Exists / DoesNotExist are
  // ignored.
  static StatusOr<LabelSelector> FromJson(const nlohmann::json& selector);

  // `labels` is a metadata.labels object (null / missing = no labels).
  bool Matches(const nlohmann::json& labels) const;
  // True when the selector has no requirements and is not Nothing.
  bool Empty() const { return !nothing_ && reqs_.empty(); }
  bool IsNothing() const { return nothing_; }

 private:
  // "=" is In and "!=" NotIn with one value.
  std::vector<NodeSelectorRequirement> reqs_;
  bool nothing_ = false;
};

class FieldSelector {
 public:
  // "spec.nodeName=n1,status.phase!=Failed" ("=" / "==" / "!="). Only the fields kube-apiserver
  // supports for `resource` are accepted; others give InvalidArgument
  // "field label not supported: <field>".
  static StatusOr<FieldSelector> Parse(std::string_view text, const std::string& resource);
  bool Matches(const nlohmann::json& object) const;
  bool Empty() const { return terms_.empty(); }

 private:
  struct Term {
    std::string field;
    bool equals = true;
    std::string value;
  };
  std::vector<Term> terms_;
};

// The string value of a selectable field of an object ("" when absent).
std::string FieldValue(const nlohmann::json& object, const std::string& field);

}  // namespace kb::sim
