// Fuzzes the configuration loader (core/config: YAML text -> Config, every key's parser and the
// cross-field validation). Property: whatever ParseConfig accepts also passes ValidateConfig.
#include "core/config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  const kb::StatusOr<kb::Config> config = kb::ParseConfig(yaml);
  if (config.ok()) {
    KB_FUZZ_CHECK(kb::ValidateConfig(*config).ok(), "an accepted config fails validation");
  }
  return 0;
}
