// Fuzzes the decoder of kube-scheduler's ExtenderArgs (/filter and /prioritize bodies, NodeNames
// and full-Nodes modes) and the encoders that echo it back. Properties: the std::string overload
// (parses in place when the body has spare capacity) and the string_view overload (parses a padded
// copy) agree; an accepted request encodes to a filter response and a priority list that are
// valid JSON, and the zero-copy response body holds the same bytes as the flat one.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "server/codec.h"

namespace {

using kb::server::DecodeExtenderArgs;
using kb::server::ExtenderArgs;

void CheckSame(const kb::StatusOr<ExtenderArgs>& a, const kb::StatusOr<ExtenderArgs>& b) {
  KB_FUZZ_CHECK(a.ok() == b.ok(), "the two overloads disagree on acceptance");
  if (!a.ok()) {
    KB_FUZZ_CHECK(a.status().code() == b.status().code(), "the two overloads give other codes");
    return;
  }
  KB_FUZZ_CHECK(a->node_names == b->node_names, "the two overloads give other node names");
  KB_FUZZ_CHECK(a->nodes.size() == b->nodes.size(), "the two overloads give other node items");
  for (size_t i = 0; i < a->nodes.size(); ++i) {
    KB_FUZZ_CHECK(a->nodes[i].json == b->nodes[i].json, "a node item's bytes differ");
  }
  KB_FUZZ_CHECK(a->pod.meta.name == b->pod.meta.name, "the two overloads decode other pods");
}

void CheckEncoders(const ExtenderArgs& args) {
  kb::server::FilterResponse response;
  std::vector<kb::server::HostPriority> priorities;
  for (size_t i = 0; i < args.node_names.size(); ++i) {
    // Every other node passes, so both the kept items and FailedNodes are exercised.
    if (i % 2 == 0) {
      response.passed.push_back(i);
    } else {
      response.failed.emplace_back(args.node_names[i], "fuzz: " + args.node_names[i]);
    }
    priorities.push_back({args.node_names[i], static_cast<int64_t>(i % 11)});
  }
  const std::string flat = kb::server::EncodeFilterResponse(args, response);
  KB_FUZZ_CHECK(kb::server::EncodeFilterResponseBody(args, response).ToString() == flat,
                "the zero-copy filter response differs from the flat one");
  KB_FUZZ_CHECK(nlohmann::json::accept(flat), "the filter response is not valid JSON");
  KB_FUZZ_CHECK(nlohmann::json::accept(kb::server::EncodePriorities(priorities)),
                "the priority list is not valid JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view view = kb::fuzz::AsView(data, size);
  // Exact capacity: the std::string overload takes its copying path. A reserved body: in place.
  const std::string exact(view);
  std::string roomy;
  roomy.reserve(size + 256);
  roomy.assign(view);
  const kb::StatusOr<ExtenderArgs> from_view = DecodeExtenderArgs(view);
  const kb::StatusOr<ExtenderArgs> from_exact = DecodeExtenderArgs(exact);
  const kb::StatusOr<ExtenderArgs> from_roomy = DecodeExtenderArgs(roomy);
  CheckSame(from_view, from_exact);
  CheckSame(from_view, from_roomy);
  if (from_view.ok()) {
    CheckEncoders(*from_view);
    CheckEncoders(*from_roomy);
  }
  return 0;
}
