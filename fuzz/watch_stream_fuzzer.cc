// Fuzzes the framing of watch responses (kube/watch_stream): newline-separated JSON events fed in
// arbitrary pieces. The first input byte picks the piece sizes; the rest is the body. Property:
// the events and the outcome do not depend on where the body was cut. Each event's object also
// goes through the Pod and Node decoders, as the watch cache would.
#include <string>
#include <vector>

#include "core/model.h"
#include "fuzz/fuzz_check.h"
#include "kube/watch_stream.h"

namespace {

struct Outcome {
  std::vector<kb::kube::WatchEventType> types;
  bool error = false;
  kb::StatusCode code = kb::StatusCode::kOk;
};

Outcome Decode(std::string_view body, size_t piece_seed) {
  Outcome out;
  const kb::kube::WatchHandler handler = [&out](kb::kube::WatchEvent&& event) {
    out.types.push_back(event.type);
    (void)kb::DecodePod(event.object);
    (void)kb::DecodeNode(event.object);
    return true;
  };
  kb::kube::WatchStreamDecoder decoder("watch fuzz", handler);
  bool more = true;
  size_t pos = 0;
  size_t step = 0;
  while (more && pos < body.size()) {
    // Piece sizes cycle through 1..piece_seed+1 bytes (the whole body when piece_seed is 0).
    const size_t n = piece_seed == 0 ? body.size() : 1 + (step++ % (piece_seed + 1));
    more = decoder.Feed(body.substr(pos, n));
    pos += n;
  }
  if (more) decoder.Finish();
  if (decoder.error().has_value()) {
    out.error = true;
    out.code = decoder.error()->code();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body = kb::fuzz::AsView(data + 1, size - 1);
  const Outcome whole = Decode(body, 0);
  const Outcome pieces = Decode(body, data[0] % 64);
  KB_FUZZ_CHECK(whole.types == pieces.types, "events depend on where the body was cut");
  KB_FUZZ_CHECK(whole.error == pieces.error && whole.code == pieces.code,
                "the outcome depends on where the body was cut");
  return 0;
}
