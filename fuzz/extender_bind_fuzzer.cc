// Fuzzes the decoder of ExtenderBindingArgs (/bind bodies). Property: accepted args re-encode to
// a body that decodes to the same four fields.
#include "fuzz/fuzz_check.h"
#include "server/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const kb::StatusOr<kb::server::BindingArgs> args =
      kb::server::DecodeBindingArgs(kb::fuzz::AsView(data, size));
  if (!args.ok()) return 0;
  const std::string encoded = kb::server::EncodeBindingArgs(*args);
  const kb::StatusOr<kb::server::BindingArgs> again = kb::server::DecodeBindingArgs(encoded);
  KB_FUZZ_CHECK(again.ok(), "re-encoded binding args are rejected");
  KB_FUZZ_CHECK(again->pod_name == args->pod_name && again->pod_namespace == args->pod_namespace &&
                    again->pod_uid == args->pod_uid && again->node == args->node,
                "re-encoded binding args decode to other values");
  return 0;
}
