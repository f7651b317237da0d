// Error helpers shared by the configuration's parser (config.cc) and validator
// (config_validate.cc), so every configuration error reads "<key>: invalid value "<v>": <rule>".
// Internal to core/config*.cc.
#pragma once

#include <string>

#include "core/status.h"

namespace kb::config_internal {

// `s` in double quotes, with quotes, backslashes and newlines escaped.
std::string Quote(const std::string& s);
// InvalidArgument "<key>: invalid value "<value>": <expected>".
Status Invalid(const std::string& key, const std::string& value, const std::string& expected);
// The same for a number breaking `rule`.
Status OutOfRange(const std::string& key, double value, const std::string& rule);
bool InRange(double v, double lo, double hi);

}  // namespace kb::config_internal
