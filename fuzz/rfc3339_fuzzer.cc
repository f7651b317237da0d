// Fuzzes RFC 3339 timestamp parsing (core/rfc3339: creationTimestamp, Lease times, conditions).
// Property: within the years the internal time type holds (1678-2261), a parsed time formats to
// text that parses back to the same second, and the microsecond format to the same microsecond.
#include <chrono>

#include "core/model.h"
#include "fuzz/fuzz_check.h"

namespace {

int FormattedYear(const std::string& s) { return s.size() >= 4 ? std::stoi(s.substr(0, 4)) : 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const kb::StatusOr<kb::WallTime> t = kb::ParseRfc3339(text);
  if (!t.ok()) return 0;
  const std::string seconds = kb::FormatRfc3339(*t);
  const std::string micros = kb::FormatRfc3339Micro(*t);
  const int year = FormattedYear(seconds);
  if (year < 1678 || year > 2261) return 0;
  using std::chrono::floor;
  const kb::StatusOr<kb::WallTime> again = kb::ParseRfc3339(seconds);
  KB_FUZZ_CHECK(again.ok(), "FormatRfc3339 wrote text ParseRfc3339 rejects");
  KB_FUZZ_CHECK(floor<std::chrono::seconds>(*again) == floor<std::chrono::seconds>(*t),
                "FormatRfc3339 does not round-trip to the second");
  const kb::StatusOr<kb::WallTime> again_micro = kb::ParseRfc3339(micros);
  KB_FUZZ_CHECK(again_micro.ok(), "FormatRfc3339Micro wrote text ParseRfc3339 rejects");
  KB_FUZZ_CHECK(
      floor<std::chrono::microseconds>(*again_micro) == floor<std::chrono::microseconds>(*t),
      "FormatRfc3339Micro does not round-trip to the microsecond");
  return 0;
}
