// Error helpers shared by the configuration's parser (config.cc) and validator
// (config_validate.cc), so every configuration error reads "<key>: invalid value "<v>": <rule>".
// Internal to core/config*.cc.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace kb::config_internal {

// `s` in double quotes, with quotes, backslashes and newlines escaped.
std::string Quote(const std::string& s);
// InvalidArgument "<key>: invalid value "<value>": <expected>".
Status Invalid(const std::string& key, const std::string& value, const std::string& expected);
// The same for a number breaking `rule`.
Status OutOfRange(const std::string& key, double value, const std::string& rule);
bool InRange(double v, double lo, double hi);

// A scalar's text, or an error naming the key when the node is a mapping or a sequence.
StatusOr<std::string> ScalarText(const YAML::Node& node, const std::string& key,
                                 const std::string& expected);
StatusOr<double> ParseNumber(const YAML::Node& node, const std::string& key);
StatusOr<int64_t> ParseInteger(const YAML::Node& node, const std::string& key, int64_t min,
                               int64_t max);

// Structured rescheduler values (config_rescheduler.cc). Each rejects unknown fields and invalid
// values with an error naming the full key path ("rescheduler.nodeGroups[1].nodeSelector...").
Status ParseLabelSelector(const YAML::Node& node, const std::string& key, LabelSelector* out);
Status ParsePriorityThreshold(const YAML::Node& node, const std::string& key,
                              PriorityThreshold* out);
Status ParseNodeGroups(const YAML::Node& node, const std::string& key, std::vector<NodeGroup>* out);

// Setters for the loader's field table: `get` returns the destination inside a Config.
template <class Get>
auto LabelSelectorField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    return ParseLabelSelector(n, key, &get(c));
  };
}
template <class Get>
auto PriorityThresholdField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    return ParsePriorityThreshold(n, key, &get(c));
  };
}
template <class Get>
auto NodeGroupsField(Get get) {
  return [get](const YAML::Node& n, const std::string& key, Config& c) -> Status {
    return ParseNodeGroups(n, key, &get(c));
  };
}

}  // namespace kb::config_internal
