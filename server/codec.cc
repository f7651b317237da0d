#include "server/codec.h"

#include <simdjson.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_set>

namespace kb::server {
namespace {

namespace od = simdjson::ondemand;

// One parser per thread: it keeps its buffers between requests, so a steady stream of requests
// allocates nothing in simdjson after warm-up.
od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

// ASCII case-insensitive equality with an all-lowercase `lower` (Go's json key matching).
bool KeyIs(std::string_view key, std::string_view lower) {
  if (key.size() != lower.size()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

Status Malformed(simdjson::error_code error, std::string_view where = "") {
  std::string message = "malformed JSON";
  if (!where.empty()) message += " in " + std::string(where);
  message += ": ";
  message += simdjson::error_message(error);
  return Status::InvalidArgument(std::move(message));
}

Status WrongType(std::string_view field, std::string_view expected, od::json_type got) {
  const char* name = "unknown";
  switch (got) {
    case od::json_type::array:
      name = "array";
      break;
    case od::json_type::object:
      name = "object";
      break;
    case od::json_type::number:
      name = "number";
      break;
    case od::json_type::string:
      name = "string";
      break;
    case od::json_type::boolean:
      name = "boolean";
      break;
    case od::json_type::null:
      name = "null";
      break;
  }
  return Status::InvalidArgument(std::string(field) + ": expected " + std::string(expected) +
                                 ", got " + name);
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

Status DecodePodValue(od::value& value, ExtenderArgs& args, bool& have_pod) {
  od::json_type type;
  if (auto e = value.type().get(type)) return Malformed(e, kKeyPod);
  if (type == od::json_type::null) {
    have_pod = false;  // a later duplicate key decides, as in Go (last one wins)
    return Status::Ok();
  }
  if (type != od::json_type::object) return WrongType(kKeyPod, "an object", type);
  od::object object;
  std::string_view raw;
  if (auto e = value.get_object().get(object)) return Malformed(e, kKeyPod);
  if (auto e = object.raw_json().get(raw)) return Malformed(e, kKeyPod);
  nlohmann::json j = nlohmann::json::parse(raw.begin(), raw.end(), nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("Pod: malformed JSON");
  try {
    StatusOr<Pod> pod = DecodePod(j);
    if (!pod.ok()) return pod.status().Annotate(kKeyPod);
    args.pod = std::move(pod).value();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("Pod: ") + e.what());
  }
  have_pod = true;
  return Status::Ok();
}

Status DecodeNodeNames(od::value& value, ExtenderArgs& args) {
  od::json_type type;
  if (auto e = value.type().get(type)) return Malformed(e, kKeyNodeNames);
  args.node_names.clear();
  if (type == od::json_type::null) {
    args.has_node_names = false;
    return Status::Ok();
  }
  if (type != od::json_type::array) return WrongType(kKeyNodeNames, "an array", type);
  od::array array;
  if (auto e = value.get_array().get(array)) return Malformed(e, kKeyNodeNames);
  size_t index = 0;
  for (auto element : array) {
    od::value item;
    if (auto e = element.get(item)) return Malformed(e, kKeyNodeNames);
    std::string_view name;
    if (auto e = item.get_string().get(name)) {
      if (e != simdjson::INCORRECT_TYPE) return Malformed(e, kKeyNodeNames);
      od::json_type got = od::json_type::null;
      (void)item.type().get(got);
      return WrongType("NodeNames[" + std::to_string(index) + "]", "a string", got);
    }
    args.node_names.emplace_back(name);
    ++index;
  }
  args.has_node_names = true;
  return Status::Ok();
}

// One Nodes.items element: its metadata.name and its raw bytes.
Status DecodeNodeItem(od::value& element, size_t index, ExtenderArgs& args) {
  const auto where = [index](std::string_view rest) {
    return "Nodes.items[" + std::to_string(index) + "]" + std::string(rest);
  };
  od::json_type type;
  if (auto e = element.type().get(type)) return Malformed(e, where(""));
  if (type != od::json_type::object) return WrongType(where(""), "an object", type);
  od::object item;
  if (auto e = element.get_object().get(item)) return Malformed(e, where(""));
  std::string_view name;
  bool have_name = false;
  {
    od::value metadata;
    auto e = item.find_field_unordered("metadata").get(metadata);
    if (e == simdjson::SUCCESS) {
      od::json_type mtype;
      if (auto e2 = metadata.type().get(mtype)) return Malformed(e2, where(".metadata"));
      if (mtype == od::json_type::object) {
        od::object meta_object;
        if (auto e2 = metadata.get_object().get(meta_object)) {
          return Malformed(e2, where(".metadata"));
        }
        od::value name_value;
        auto e3 = meta_object.find_field_unordered("name").get(name_value);
        if (e3 == simdjson::SUCCESS) {
          if (auto e4 = name_value.get_string().get(name)) {
            if (e4 != simdjson::INCORRECT_TYPE) return Malformed(e4, where(".metadata.name"));
            od::json_type got = od::json_type::null;
            (void)name_value.type().get(got);
            return WrongType(where(".metadata.name"), "a string", got);
          }
          have_name = true;
        } else if (e3 != simdjson::NO_SUCH_FIELD) {
          return Malformed(e3, where(".metadata"));
        }
      } else if (mtype != od::json_type::null) {
        return WrongType(where(".metadata"), "an object", mtype);
      }
    } else if (e != simdjson::NO_SUCH_FIELD) {
      return Malformed(e, where(""));
    }
  }
  if (!have_name || name.empty()) {
    return Status::InvalidArgument(where(".metadata.name") + ": required");
  }
  // The name may point into the parser's string buffer: copy it before raw_json() moves on.
  RawNode node;
  node.name.assign(name);
  std::string_view raw;
  if (auto e = item.raw_json().get(raw)) return Malformed(e, where(""));
  node.json = TrimRight(raw);
  args.nodes.push_back(std::move(node));
  return Status::Ok();
}

Status DecodeNodes(od::value& value, ExtenderArgs& args) {
  od::json_type type;
  if (auto e = value.type().get(type)) return Malformed(e, kKeyNodes);
  args.nodes.clear();
  if (type == od::json_type::null) {
    args.has_nodes = false;
    return Status::Ok();
  }
  if (type != od::json_type::object) return WrongType(kKeyNodes, "an object (a NodeList)", type);
  od::object list;
  if (auto e = value.get_object().get(list)) return Malformed(e, kKeyNodes);
  for (auto field_result : list) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return Malformed(e, kKeyNodes);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return Malformed(e, kKeyNodes);
    if (!KeyIs(key, "items")) continue;
    od::value items = field.value();
    od::json_type items_type;
    if (auto e = items.type().get(items_type)) return Malformed(e, "Nodes.items");
    args.nodes.clear();
    if (items_type == od::json_type::null) continue;
    if (items_type != od::json_type::array) return WrongType("Nodes.items", "an array", items_type);
    od::array array;
    if (auto e = items.get_array().get(array)) return Malformed(e, "Nodes.items");
    size_t index = 0;
    for (auto element_result : array) {
      od::value element;
      if (auto e = element_result.get(element)) return Malformed(e, "Nodes.items");
      KB_RETURN_IF_ERROR(DecodeNodeItem(element, index, args));
      ++index;
    }
  }
  args.has_nodes = true;
  return Status::Ok();
}

StatusOr<ExtenderArgs> DecodePadded(const char* data, size_t size, size_t capacity,
                                    std::shared_ptr<const char[]> buffer) {
  ExtenderArgs args;
  args.buffer = std::move(buffer);
  od::document doc;
  if (auto e = ThreadParser().iterate(data, size, capacity).get(doc)) return Malformed(e);
  od::object root;
  if (auto e = doc.get_object().get(root)) {
    if (e == simdjson::INCORRECT_TYPE) {
      return Status::InvalidArgument("request body must be a JSON object (ExtenderArgs)");
    }
    return Malformed(e);
  }
  bool have_pod = false;
  for (auto field_result : root) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return Malformed(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return Malformed(e);
    od::value value = field.value();
    if (KeyIs(key, "pod")) {
      KB_RETURN_IF_ERROR(DecodePodValue(value, args, have_pod));
    } else if (KeyIs(key, "nodenames")) {
      KB_RETURN_IF_ERROR(DecodeNodeNames(value, args));
    } else if (KeyIs(key, "nodes")) {
      KB_RETURN_IF_ERROR(DecodeNodes(value, args));
    }
    // Other keys are skipped, as Go's decoder ignores unknown fields.
  }
  // current_location() is OUT_OF_BOUNDS exactly when every token was consumed.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return Status::InvalidArgument("malformed JSON: trailing content after the request object");
  }
  if (!have_pod) return Status::InvalidArgument("Pod: required (null or missing)");
  if (!args.has_node_names) {
    args.node_names.reserve(args.nodes.size());
    for (const RawNode& node : args.nodes) args.node_names.push_back(node.name);
  }
  return args;
}

bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

ExtenderArgs ExtenderArgs::ForNames(Pod pod, std::vector<std::string> names) {
  ExtenderArgs args;
  args.pod = std::move(pod);
  args.has_node_names = true;
  args.node_names = std::move(names);
  return args;
}

StatusOr<ExtenderArgs> DecodeExtenderArgs(const std::string& body) {
  if (body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING) {
    return DecodePadded(body.data(), body.size(), body.capacity(), nullptr);
  }
  return DecodeExtenderArgs(std::string_view(body));
}

StatusOr<ExtenderArgs> DecodeExtenderArgs(std::string_view body) {
  const size_t capacity = body.size() + simdjson::SIMDJSON_PADDING;
  // new char[] (not make_shared) leaves the bytes uninitialised: no extra pass over the body.
  std::shared_ptr<char[]> buffer(new char[capacity]);
  std::memcpy(buffer.get(), body.data(), body.size());
  std::memset(buffer.get() + body.size(), ' ', simdjson::SIMDJSON_PADDING);
  const char* data = buffer.get();
  return DecodePadded(data, body.size(), capacity, std::move(buffer));
}

StatusOr<BindingArgs> DecodeBindingArgs(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("malformed JSON");
  if (!j.is_object()) {
    return Status::InvalidArgument("request body must be a JSON object (ExtenderBindingArgs)");
  }
  BindingArgs args;
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string* target = nullptr;
    const char* name = nullptr;
    if (KeyIs(it.key(), "podname")) {
      target = &args.pod_name;
      name = kKeyPodName;
    } else if (KeyIs(it.key(), "podnamespace")) {
      target = &args.pod_namespace;
      name = kKeyPodNamespace;
    } else if (KeyIs(it.key(), "poduid")) {
      target = &args.pod_uid;
      name = kKeyPodUid;
    } else if (KeyIs(it.key(), "node")) {
      target = &args.node;
      name = kKeyNode;
    } else {
      continue;
    }
    if (it.value().is_null()) {
      target->clear();
    } else if (it.value().is_string()) {
      *target = it.value().get<std::string>();
    } else {
      return Status::InvalidArgument(std::string(name) + ": expected a string, got " +
                                     it.value().type_name());
    }
  }
  if (args.pod_name.empty()) return Status::InvalidArgument("PodName: required");
  if (args.pod_namespace.empty()) return Status::InvalidArgument("PodNamespace: required");
  if (args.node.empty()) return Status::InvalidArgument("Node: required");
  return args;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!NeedsEscape(c)) continue;
    out.append(s.data() + start, i - start);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default: {
        static const char kHex[] = "0123456789abcdef";
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, sizeof(esc));
      }
    }
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
  out.push_back('"');
}

namespace {

void AppendFailedMap(std::string& out, const std::vector<std::pair<std::string, std::string>>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [node, reason] : m) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, node);
    out.push_back(':');
    AppendJsonString(out, reason);
  }
  out.push_back('}');
}

}  // namespace

std::string ResponseBody::ToString() const {
  std::string out;
  out.reserve(size());
  WriteFrom(0, [&out](const char* data, size_t n) {
    out.append(data, n);
    return true;
  });
  return out;
}

bool ResponseBody::WriteFrom(size_t offset,
                             const std::function<bool(const char*, size_t)>& write) const {
  size_t text_pos = 0;
  auto emit = [&offset, &write](const char* data, size_t n) {
    if (offset >= n) {
      offset -= n;
      return true;
    }
    data += offset;
    n -= offset;
    offset = 0;
    return n == 0 || write(data, n);
  };
  for (const Slice& slice : slices_) {
    if (!emit(text_.data() + text_pos, slice.text_pos - text_pos)) return false;
    text_pos = slice.text_pos;
    if (!emit(slice.bytes.data(), slice.bytes.size())) return false;
  }
  return emit(text_.data() + text_pos, text_.size() - text_pos);
}

ResponseBody EncodeFilterResponseBody(const ExtenderArgs& args, const FilterResponse& response) {
  // NodeNames mode unless the request carried only full Nodes; a request with neither is answered
  // in NodeNames mode (an empty list), never with both fields null.
  const bool full_mode = args.has_nodes && !args.has_node_names;
  ResponseBody body;
  std::string& out = body.text();
  size_t reserve = 128 + response.failed.size() * 96 + response.failed_unresolvable.size() * 96;
  if (!full_mode) {
    for (size_t i : response.passed) {
      if (i < args.node_names.size()) reserve += args.node_names[i].size() + 3;
    }
  }
  out.reserve(reserve);

  out.append("{\"");
  out.append(kKeyNodeNames);
  out.append("\":");
  if (full_mode) {
    out.append("null");
  } else {
    out.push_back('[');
    bool first = true;
    for (size_t i : response.passed) {
      if (i >= args.node_names.size()) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(out, args.node_names[i]);
    }
    out.push_back(']');
  }

  out.append(",\"");
  out.append(kKeyNodes);
  out.append("\":");
  if (!args.has_nodes) {
    out.append("null");
  } else {
    out.append("{\"metadata\":{},\"items\":[");
    bool first = true;
    auto append_item = [&](const RawNode& node) {
      if (!first) out.push_back(',');
      first = false;
      body.AppendExternal(node.json);
    };
    if (full_mode) {
      for (size_t i : response.passed) {
        if (i < args.nodes.size()) append_item(args.nodes[i]);
      }
    } else {
      // Both lists were sent: return the items whose names survived.
      std::unordered_set<std::string_view> survivors;
      for (size_t i : response.passed) {
        if (i < args.node_names.size()) survivors.insert(args.node_names[i]);
      }
      for (const RawNode& node : args.nodes) {
        if (survivors.count(node.name)) append_item(node);
      }
    }
    out.append("]}");
  }

  out.append(",\"");
  out.append(kKeyFailedNodes);
  out.append("\":");
  AppendFailedMap(out, response.failed);
  out.append(",\"");
  out.append(kKeyFailedAndUnresolvableNodes);
  out.append("\":");
  AppendFailedMap(out, response.failed_unresolvable);
  out.append(",\"");
  out.append(kKeyError);
  out.append("\":");
  AppendJsonString(out, response.error);
  out.push_back('}');
  return body;
}

std::string EncodeFilterResponse(const ExtenderArgs& args, const FilterResponse& response) {
  return EncodeFilterResponseBody(args, response).ToString();
}

std::string EncodePriorities(const std::vector<HostPriority>& priorities) {
  std::string out;
  out.reserve(2 + priorities.size() * 40);
  out.push_back('[');
  bool first = true;
  for (const HostPriority& p : priorities) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"");
    out.append(kKeyHost);
    out.append("\":");
    AppendJsonString(out, p.host);
    out.append(",\"");
    out.append(kKeyScore);
    out.append("\":");
    out.append(std::to_string(p.score));
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

std::string EncodeError(std::string_view error) {
  std::string out = "{\"";
  out.append(kKeyError);
  out.append("\":");
  AppendJsonString(out, error);
  out.push_back('}');
  return out;
}

std::string EncodeBindingArgs(const BindingArgs& args) {
  std::string out = "{";
  const std::pair<const char*, const std::string*> fields[] = {
      {kKeyPodName, &args.pod_name},
      {kKeyPodNamespace, &args.pod_namespace},
      {kKeyPodUid, &args.pod_uid},
      {kKeyNode, &args.node}};
  bool first = true;
  for (const auto& [key, value] : fields) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, key);
    out.push_back(':');
    AppendJsonString(out, *value);
  }
  out.push_back('}');
  return out;
}

}  // namespace kb::server
