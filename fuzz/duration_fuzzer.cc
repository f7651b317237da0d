// Fuzzes Go-style duration parsing (core/config ParseDuration, used for every duration key) and
// the "host:port" splitter. Properties: an accepted duration is not negative, and FormatDuration
// writes it back as text ParseDuration reads as the same value.
#include "core/config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const kb::StatusOr<kb::Millis> d = kb::ParseDuration(text);
  if (d.ok()) {
    KB_FUZZ_CHECK(d->count() >= 0, "a negative duration was accepted");
    const std::string formatted = kb::FormatDuration(*d);
    const kb::StatusOr<kb::Millis> again = kb::ParseDuration(formatted);
    KB_FUZZ_CHECK(again.ok() && *again == *d, "FormatDuration does not round-trip");
  }
  const auto host_port = kb::ParseHostPort(text);
  if (host_port.ok()) {
    KB_FUZZ_CHECK(host_port->second >= 0 && host_port->second <= 65535, "a port out of range");
  }
  return 0;
}
