// Fuzzes Kubernetes quantity parsing (core/quantity: requests, limits, capacity). Every scale of
// an accepted quantity is computed (saturating, never overflowing), and the CPU and byte
// formatters write text that parses back to the same value.
#include "core/quantity.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const kb::StatusOr<kb::Quantity> q = kb::ParseQuantity(kb::fuzz::AsView(data, size));
  if (!q.ok()) return 0;
  for (int scale = -9; scale <= 18; ++scale) (void)q->ScaledValue(scale);
  (void)q->ToDouble();
  const int64_t millis = q->MilliValue();
  const kb::StatusOr<int64_t> millis_again = kb::ParseCpuMillis(kb::FormatCpuMillis(millis));
  KB_FUZZ_CHECK(millis_again.ok() && *millis_again == millis,
                "FormatCpuMillis does not round-trip");
  const int64_t bytes = q->Value();
  const kb::StatusOr<int64_t> bytes_again = kb::ParseBytes(kb::FormatBytes(bytes));
  KB_FUZZ_CHECK(bytes_again.ok() && *bytes_again == bytes, "FormatBytes does not round-trip");
  return 0;
}
