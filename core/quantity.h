// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource.Quantity): parsing of the
// full grammar and conversion to the integer units we compute with. Pure functions, thread-safe.
//
//   <quantity> ::= <signedNumber><suffix>
//   <suffix>   ::= <binarySI> (Ki Mi Gi Ti Pi Ei) | <decimalSI> (n u m "" k M G T P E)
//                | <decimalExponent> (e<signedNumber> | E<signedNumber>)
//   <number>   ::= digits | digits.digits | digits. | .digits
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kb {

// An exactly parsed quantity: value = sign * mantissa * 10^exp10 * 2^exp2.
struct Quantity {
  bool negative = false;
  std::string mantissa_digits;  // decimal digits without leading zeros ("0" for zero)
  int exp10 = 0;
  int exp2 = 0;

  // value * 10^-scale rounded as Kubernetes' Quantity.ScaledValue does: the magnitude rounds up
  // (away from zero, so "1n" -> 1 milli and "-1500m" -> -2), saturating at +/-(2^63-1).
  // MilliValue() == ScaledValue(-3); Value() == ScaledValue(0).
  int64_t ScaledValue(int scale) const;
  int64_t MilliValue() const { return ScaledValue(-3); }
  int64_t Value() const { return ScaledValue(0); }
  double ToDouble() const;
};

// Parses `s`. Malformed input (empty, "1.2.3", "5Mi3", "Ki", "1e", " 1", ...) gives
// InvalidArgument naming the string.
StatusOr<Quantity> ParseQuantity(std::string_view s);

// CPU in millicores, rounded up ("100m" -> 100, "0.5" -> 500, "1n" -> 1).
StatusOr<int64_t> ParseCpuMillis(std::string_view s);
// Memory (or any byte count) in bytes, rounded up ("1.5Gi" -> 1610612736, "1k" -> 1000).
StatusOr<int64_t> ParseBytes(std::string_view s);

// Formats millicores as Kubernetes would print them ("250m", "2").
std::string FormatCpuMillis(int64_t millis);
// Formats bytes compactly ("128Mi", "1Gi", "1000").
std::string FormatBytes(int64_t bytes);

}  // namespace kb
