// The kube-scheduler extender v1 wire format (k8s.io/kube-scheduler/extender/v1): request decoding
// and response encoding for /filter, /prioritize and /bind, and nothing else. Every wire key lives
// here. Requests are matched case-insensitively at the top level (old schedulers send lowercase),
// `null` is accepted wherever Go could send it, and responses use Go's CapitalCase field names.
// The request envelope and Nodes.items are parsed with simdjson On-Demand (the full-Nodes path
// carries megabytes); only the small Pod object goes through nlohmann. Pure functions; the
// decoder uses a thread-local parser, so any thread may call any function concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace kb::server {

// Wire keys (extender/v1 types.go has no json tags: Go writes the field names).
inline constexpr char kKeyPod[] = "Pod";
inline constexpr char kKeyNodes[] = "Nodes";
inline constexpr char kKeyNodeNames[] = "NodeNames";
inline constexpr char kKeyFailedNodes[] = "FailedNodes";
inline constexpr char kKeyFailedAndUnresolvableNodes[] = "FailedAndUnresolvableNodes";
inline constexpr char kKeyError[] = "Error";
inline constexpr char kKeyHost[] = "Host";
inline constexpr char kKeyScore[] = "Score";
inline constexpr char kKeyPodName[] = "PodName";
inline constexpr char kKeyPodNamespace[] = "PodNamespace";
inline constexpr char kKeyPodUid[] = "PodUID";
inline constexpr char kKeyNode[] = "Node";

// One item of a full-Nodes request: its metadata.name and its exact JSON text.
struct RawNode {
  std::string name;
  std::string_view json;  // byte-identical slice of the request; see ExtenderArgs lifetime
};

// ExtenderArgs as decoded. In NodeNames mode (nodeCacheCapable: true) `node_names` is the
// request's list; in full-Nodes mode `nodes` holds the items and `node_names` their names, in
// request order. `node_names` is always the candidate list the handlers work on.
//
// Lifetime: RawNode::json views point either into the body passed to DecodeExtenderArgs (when it
// had spare capacity for simdjson's padding) or into `buffer`, which the args own. Keep the body
// alive as long as the args when decoding from a std::string.
struct ExtenderArgs {
  Pod pod;
  bool has_node_names = false;  // the request carried a non-null NodeNames
  bool has_nodes = false;       // the request carried a non-null Nodes
  std::vector<std::string> node_names;
  std::vector<RawNode> nodes;
  std::shared_ptr<const char[]> buffer;  // padded copy of the body, when one was needed

  // Args of a NodeNames-mode request (tests, /debug/scores).
  static ExtenderArgs ForNames(Pod pod, std::vector<std::string> names);
};

// ExtenderBindingArgs.
struct BindingArgs {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string node;
};

// The outcome of a filter call, independent of the wire mode. `passed` indexes
// ExtenderArgs::node_names (request order); failed nodes carry a human-readable reason.
struct FilterResponse {
  std::vector<size_t> passed;
  std::vector<std::pair<std::string, std::string>> failed;  // node -> reason (FailedNodes)
  std::vector<std::pair<std::string, std::string>> failed_unresolvable;  // preemption can't help
  std::string error;  // non-empty: kube-scheduler treats the call as failed
};

// HostPriority.
struct HostPriority {
  std::string host;
  int64_t score = 0;
};

// Decodes an ExtenderArgs body. InvalidArgument (-> HTTP 400) for malformed JSON, a non-object
// root, a wrong type for Pod / Nodes / NodeNames / an item's metadata.name, a null or missing Pod
// (there is nothing to score), or a Pod the model decoder rejects. The message names the offending
// field. The std::string overload parses in place when `body.capacity()` leaves room for simdjson's
// padding; the string_view overload always copies into `ExtenderArgs::buffer`.
StatusOr<ExtenderArgs> DecodeExtenderArgs(const std::string& body);
StatusOr<ExtenderArgs> DecodeExtenderArgs(std::string_view body);

// Decodes ExtenderBindingArgs (keys case-insensitive). PodName, PodNamespace and Node are
// required; PodUID may be empty (no precondition then).
StatusOr<BindingArgs> DecodeBindingArgs(std::string_view body);

// An encoded response made of the encoder's own bytes plus verbatim slices of the request (the
// surviving Node objects of a full-Nodes filter), so a megabyte answer reaches the socket without
// being copied into one string. The slices point into the ExtenderArgs it was encoded from: keep
// those args (and their body) alive while the ResponseBody is used.
class ResponseBody {
 public:
  size_t size() const { return text_.size() + external_bytes_; }
  std::string ToString() const;
  // Feeds the bytes from `offset` on to `write`, in order; returns false as soon as `write` does.
  bool WriteFrom(size_t offset, const std::function<bool(const char*, size_t)>& write) const;

  std::string& text() { return text_; }  // append own bytes here
  void AppendExternal(std::string_view slice) {
    slices_.push_back({text_.size(), slice});
    external_bytes_ += slice.size();
  }

 private:
  struct Slice {
    size_t text_pos;  // inserted before text_[text_pos]
    std::string_view bytes;
  };
  std::string text_;
  std::vector<Slice> slices_;
  size_t external_bytes_ = 0;
};

// ExtenderFilterResult. NodeNames mode: "NodeNames" is always an array (possibly []: a missing
// NodeNames makes kube-scheduler drop every node) and "Nodes" is null. Full mode: "Nodes" is
// {"metadata":{},"items":[...]} with the surviving items' original bytes and "NodeNames" null.
// "FailedNodes" and "FailedAndUnresolvableNodes" are always objects, "Error" always a string.
std::string EncodeFilterResponse(const ExtenderArgs& args, const FilterResponse& response);
// The same bytes as pieces (no copy of the Node objects).
ResponseBody EncodeFilterResponseBody(const ExtenderArgs& args, const FilterResponse& response);
// HostPriorityList: a bare array [{"Host":"n1","Score":7},...].
std::string EncodePriorities(const std::vector<HostPriority>& priorities);
// ExtenderBindingResult {"Error":"..."}; also the body of every error response.
std::string EncodeError(std::string_view error);
std::string EncodeBindingArgs(const BindingArgs& args);  // for clients and tests

// Appends `s` as a JSON string literal (quotes included) to `out`.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace kb::server
