// Shared by the libFuzzer targets: an invariant check that stops the run with a readable message
// (libFuzzer then saves the input as a crash artifact), and input helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// Aborts with `what` when `cond` is false. Used for properties every input must keep (a decoded
// value re-encodes to the same value, two decoding paths agree), not for rejected inputs.
#define KB_FUZZ_CHECK(cond, what)                                                                 \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                        \
      std::abort();                                                                               \
    }                                                                                             \
  } while (false)

namespace kb::fuzz {

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace kb::fuzz
