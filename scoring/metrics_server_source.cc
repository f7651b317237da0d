#include "scoring/metrics_server_source.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/quantity.h"

namespace kb::scoring {

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// Years a sample time may have: earlier or later cannot be a metrics-server timestamp (and later
// than 2261 does not fit WallTime's int64 nanoseconds).
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2261;
// Absolute usage above this is not a measurement (10^6 cores, 2^60 bytes).
constexpr int64_t kMaxCpuMillis = 1'000'000'000;
constexpr int64_t kMaxMemoryBytes = int64_t{1} << 60;

// One decoded item. Views point into the parser's buffers (valid while the document lives).
struct Item {
  std::string_view name;
  std::string_view ns;
  std::string_view timestamp;
  std::optional<int64_t> cpu_millis;
  std::optional<int64_t> memory_bytes;
  int containers = 0;
  std::string bad;  // why the item is unusable ("" = fine so far)
};

void MarkBad(Item& item, std::string why) {
  if (item.bad.empty()) item.bad = std::move(why);
}

// A quantity field: a string ("132304527n", "1179492Ki") or a JSON number. Unparsable, negative
// or absurd values mark the item bad. Only structural errors are returned.
error_code ReadQuantity(od::value value, bool cpu, std::optional<int64_t>& out, Item& item) {
  const char* what = cpu ? "cpu" : "memory";
  od::json_type type;
  if (error_code e = value.type().get(type)) return e;
  StatusOr<int64_t> parsed = Status::InvalidArgument("not a quantity");
  if (type == od::json_type::string) {
    std::string_view text;
    if (error_code e = value.get_string().get(text)) return e;
    parsed = cpu ? ParseCpuMillis(text) : ParseBytes(text);
  } else if (type == od::json_type::number) {
    double number = 0;
    if (error_code e = value.get_double().get(number)) return e;
    const double scaled = cpu ? number * 1000 : number;
    if (std::isfinite(scaled) && std::abs(scaled) < 9e18) {
      parsed = static_cast<int64_t>(std::ceil(scaled));
    }
  }
  const int64_t limit = cpu ? kMaxCpuMillis : kMaxMemoryBytes;
  if (!parsed.ok() || *parsed < 0 || *parsed > limit) {
    MarkBad(item, std::string("usage.") + what + " is not a valid non-negative quantity");
    return simdjson::SUCCESS;
  }
  out = out.value_or(0) + *parsed;
  return simdjson::SUCCESS;
}

// usage: {cpu, memory}. Both are required.
error_code ReadUsage(od::value value, Item& item) {
  od::object usage;
  if (error_code e = value.get_object().get(usage)) {
    if (e != simdjson::INCORRECT_TYPE) return e;
    MarkBad(item, "usage is not an object");
    return simdjson::SUCCESS;
  }
  bool cpu = false;
  bool memory = false;
  for (auto field : usage) {
    od::raw_json_string key;  // compared unescaped: Go never escapes these keys
    if (error_code e = field.key().get(key)) return e;
    od::value v;
    if (error_code e = field.value().get(v)) return e;
    if (key == "cpu") {
      cpu = true;
      if (error_code e = ReadQuantity(v, true, item.cpu_millis, item)) return e;
    } else if (key == "memory") {
      memory = true;
      if (error_code e = ReadQuantity(v, false, item.memory_bytes, item)) return e;
    }
  }
  if (!cpu || !memory) MarkBad(item, "usage lacks cpu or memory");
  return simdjson::SUCCESS;
}

error_code ReadString(od::value value, std::string_view& out, Item& item, const char* what) {
  if (error_code e = value.get_string().get(out)) {
    if (e != simdjson::INCORRECT_TYPE) return e;
    MarkBad(item, std::string(what) + " is not a string");
  }
  return simdjson::SUCCESS;
}

error_code ReadMetadata(od::value value, Item& item) {
  od::object meta;
  if (error_code e = value.get_object().get(meta)) {
    if (e != simdjson::INCORRECT_TYPE) return e;
    MarkBad(item, "metadata is not an object");
    return simdjson::SUCCESS;
  }
  for (auto field : meta) {
    od::raw_json_string key;  // compared unescaped: Go never escapes these keys
    if (error_code e = field.key().get(key)) return e;
    if (key != "name" && key != "namespace") continue;
    od::value v;
    if (error_code e = field.value().get(v)) return e;
    if (error_code e = ReadString(v, key == "name" ? item.name : item.ns, item, "metadata.name")) {
      return e;
    }
  }
  return simdjson::SUCCESS;
}

// containers: [{name, usage}], summed.
error_code ReadContainers(od::value value, Item& item) {
  od::array containers;
  if (error_code e = value.get_array().get(containers)) {
    if (e != simdjson::INCORRECT_TYPE) return e;
    MarkBad(item, "containers is not an array");
    return simdjson::SUCCESS;
  }
  for (auto element : containers) {
    od::object container;
    if (error_code e = element.get_object().get(container)) {
      if (e != simdjson::INCORRECT_TYPE) return e;
      MarkBad(item, "a container is not an object");
      continue;
    }
    ++item.containers;
    bool has_usage = false;
    for (auto field : container) {
      od::raw_json_string key;
      if (error_code e = field.key().get(key)) return e;
      if (key != "usage") continue;
      has_usage = true;
      od::value v;
      if (error_code e = field.value().get(v)) return e;
      if (error_code e = ReadUsage(v, item)) return e;
    }
    if (!has_usage) MarkBad(item, "a container has no usage");
  }
  return simdjson::SUCCESS;
}

error_code ReadItem(od::object object, Item& item) {
  for (auto field : object) {
    od::raw_json_string key;  // compared unescaped: Go never escapes these keys
    if (error_code e = field.key().get(key)) return e;
    od::value v;
    if (error_code e = field.value().get(v)) return e;
    error_code e = simdjson::SUCCESS;
    if (key == "metadata") {
      e = ReadMetadata(v, item);
    } else if (key == "timestamp") {
      e = ReadString(v, item.timestamp, item, "timestamp");
    } else if (key == "usage") {
      e = ReadUsage(v, item);
    } else if (key == "containers") {
      e = ReadContainers(v, item);
    }
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

// The last timestamp text parsed and its value: the items of one list share a few timestamps
// (one per scrape), so most items skip the parse.
struct TimeCache {
  std::string text;
  WallTime value{};
};

// The item's sample time, or nullopt (marking it bad) when absent or not a plausible time.
std::optional<WallTime> SampleTime(Item& item, TimeCache& cache) {
  const std::string_view ts = item.timestamp;
  if (!cache.text.empty() && ts == cache.text) return cache.value;
  int year = 0;
  for (size_t i = 0; i < 4 && i < ts.size(); ++i) {
    if (ts[i] < '0' || ts[i] > '9') break;
    year = year * 10 + (ts[i] - '0');
  }
  if (ts.size() < 20 || year < kMinYear || year > kMaxYear) {
    MarkBad(item, "timestamp \"" + std::string(ts.substr(0, 40)) + "\" is not a valid time");
    return std::nullopt;
  }
  StatusOr<WallTime> t = ParseRfc3339(std::string(ts));
  if (!t.ok()) {
    MarkBad(item, "timestamp \"" + std::string(ts.substr(0, 40)) + "\" is not RFC 3339");
    return std::nullopt;
  }
  cache.text.assign(ts);
  cache.value = *t;
  return *t;
}

void NoteDrop(MetricQueryResult& result, const Item& item, const char* kind) {
  ++result.dropped;
  if (result.first_drop.empty()) {
    std::string who = item.ns.empty() ? std::string(item.name)
                                      : std::string(item.ns) + "/" + std::string(item.name);
    result.first_drop = std::string(kind) + " \"" + who.substr(0, 200) + "\": " + item.bad;
  }
}

Status Malformed(const char* kind, error_code e) {
  return Status::Unavailable(std::string("malformed ") + kind + ": " + simdjson::error_message(e));
}

// Parses `body` as a list of `kind` and calls on_item(Item&) for each item. Items that are not
// objects are passed with `bad` set.
template <class OnItem>
Status DecodeItems(od::array items, const char* kind, OnItem& on_item) {
  for (auto element : items) {
    Item item;
    od::object object;
    if (error_code e = element.get_object().get(object)) {
      if (e != simdjson::INCORRECT_TYPE) return Malformed(kind, e);
      MarkBad(item, "item is not an object");
    } else if (error_code e2 = ReadItem(object, item)) {
      return Malformed(kind, e2);
    }
    on_item(item);
  }
  return Status::Ok();
}

// Parses a whole list document held in `padded` (simdjson padding readable past its end).
template <class OnItem>
Status DecodeWhole(od::parser& parser, simdjson::padded_string_view padded, const char* kind,
                   OnItem& on_item) {
  od::document doc;
  if (error_code e = parser.iterate(padded).get(doc)) return Malformed(kind, e);
  od::object root;
  if (error_code e = doc.get_object().get(root)) return Malformed(kind, e);
  bool has_items = false;
  for (auto field : root) {
    std::string_view key;
    if (error_code e = field.unescaped_key().get(key)) return Malformed(kind, e);
    od::value v;
    if (error_code e = field.value().get(v)) return Malformed(kind, e);
    if (key == "kind") {
      std::string_view k;
      if (error_code e = v.get_string().get(k)) return Malformed(kind, e);
      if (k != kind) {
        return Status::Unavailable(std::string("expected kind ") + kind + ", got \"" +
                                   std::string(k.substr(0, 100)) + "\"");
      }
    } else if (key == "items") {
      has_items = true;
      bool is_null = false;
      if (error_code e = v.is_null().get(is_null)) return Malformed(kind, e);
      if (is_null) continue;
      od::array items;
      if (error_code e = v.get_array().get(items)) return Malformed(kind, e);
      KB_RETURN_IF_ERROR(DecodeItems(items, kind, on_item));
    }
  }
  if (error_code e = doc.current_location().error(); e != simdjson::OUT_OF_BOUNDS) {
    return Status::Unavailable(std::string("malformed ") + kind + ": trailing content");
  }
  if (!has_items) return Status::Unavailable(std::string("malformed ") + kind + ": no items");
  return Status::Ok();
}

// Where the root object's "items" array lies in a list body, and the commas between its
// elements: a byte scan that follows strings and nesting only (simdjson validates every piece).
struct ItemsLayout {
  size_t open = std::string_view::npos;  // '[' of the items array
  size_t close = 0;                      // its ']'
  std::vector<size_t> commas;            // element separators, in order
};

ItemsLayout ScanItems(std::string_view s) {
  ItemsLayout out;
  int depth = 0;
  bool in_string = false;
  size_t key_begin = 0;
  size_t key_end = 0;
  bool items_next = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        key_end = i;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        key_begin = i + 1;
        break;
      case ':':
        if (depth == 1) items_next = s.substr(key_begin, key_end - key_begin) == "items";
        break;
      case '[':
      case '{':
        ++depth;
        if (c == '[' && depth == 2 && items_next && out.open == std::string_view::npos) {
          out.open = i;
        }
        break;
      case ']':
      case '}':
        if (c == ']' && depth == 2 && out.open != std::string_view::npos && out.close == 0) {
          out.close = i;
        }
        --depth;
        break;
      case ',':
        if (depth == 1) items_next = false;
        if (depth == 2 && out.open != std::string_view::npos && out.close == 0) {
          out.commas.push_back(i);
        }
        break;
      default:
        break;
    }
  }
  if (out.close == 0) out.open = std::string_view::npos;
  return out;
}

// Items are parsed in pieces of about this many bytes, so the parser's buffers (structural
// indexes: 4 bytes per JSON token) stay small whatever the list's size.
constexpr size_t kChunkBytes = 1 << 20;

// A padded copy of "[" + text + "]".
std::string_view Bracketed(std::string_view text, std::string& buffer) {
  buffer.clear();
  buffer.reserve(text.size() + 2 + simdjson::SIMDJSON_PADDING);
  buffer += '[';
  buffer += text;
  buffer += ']';
  return buffer;
}

template <class OnItem>
Status DecodeList(std::string& body, const char* kind, OnItem&& on_item) {
  od::parser parser;
  const ItemsLayout layout = body.size() > kChunkBytes ? ScanItems(body) : ItemsLayout{};
  if (layout.open == std::string_view::npos) {
    if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
      body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    }
    return DecodeWhole(parser,
                       simdjson::padded_string_view(body.data(), body.size(), body.capacity()),
                       kind, on_item);
  }
  // The envelope with an empty item list: kind, the items key and trailing content checked.
  std::string envelope = body.substr(0, layout.open) + "[]" + body.substr(layout.close + 1);
  envelope.reserve(envelope.size() + simdjson::SIMDJSON_PADDING);
  KB_RETURN_IF_ERROR(DecodeWhole(
      parser, simdjson::padded_string_view(envelope.data(), envelope.size(), envelope.capacity()),
      kind, on_item));
  const std::string_view all(body);
  std::string chunk;
  size_t begin = layout.open + 1;
  for (size_t i = 0; i <= layout.commas.size(); ++i) {
    const size_t end = i < layout.commas.size() ? layout.commas[i] : layout.close;
    if (end - begin < kChunkBytes && i < layout.commas.size()) continue;
    const std::string_view text = Bracketed(all.substr(begin, end - begin), chunk);
    od::document doc;
    if (error_code e =
            parser.iterate(simdjson::padded_string_view(text.data(), text.size(), chunk.capacity()))
                .get(doc)) {
      return Malformed(kind, e);
    }
    od::array items;
    if (error_code e = doc.get_array().get(items)) return Malformed(kind, e);
    KB_RETURN_IF_ERROR(DecodeItems(items, kind, on_item));
    if (error_code e = doc.current_location().error(); e != simdjson::OUT_OF_BOUNDS) {
      return Status::Unavailable(std::string("malformed ") + kind + ": items");
    }
    begin = end + 1;
  }
  return Status::Ok();
}

}  // namespace

Status DecodeNodeMetricsList(std::string& body, RawNodeMetrics& out) {
  TimeCache times;
  return DecodeList(body, "NodeMetricsList", [&](Item& item) {
    if (item.name.empty()) MarkBad(item, "no metadata.name");
    const std::optional<WallTime> time = item.bad.empty() ? SampleTime(item, times) : std::nullopt;
    if (!item.bad.empty() || !time) {
      NoteDrop(out.cpu, item, "node");
      NoteDrop(out.memory, item, "node");
      return;
    }
    auto [it, inserted] = out.nodes.try_emplace(std::string(item.name));
    RawNodeSample& s = it->second;
    if (!inserted) {
      // A node listed twice: keep the larger usage (the safe side for a threshold).
      ++out.cpu.duplicates;
      ++out.memory.duplicates;
      if (*item.cpu_millis > s.cpu_millis_used.value_or(-1)) {
        s.cpu_millis_used = item.cpu_millis;
        s.cpu_time = time;
      }
      if (*item.memory_bytes > s.memory_bytes_used.value_or(-1)) {
        s.memory_bytes_used = item.memory_bytes;
        s.memory_time = time;
      }
      return;
    }
    s.cpu_millis_used = item.cpu_millis;
    s.memory_bytes_used = item.memory_bytes;
    s.cpu_time = time;
    s.memory_time = time;
    ++out.cpu.samples;
    ++out.memory.samples;
  });
}

Status DecodePodMetricsList(std::string& body, RawNodeMetrics& out) {
  TimeCache times;
  out.pod_usage.reserve(body.size() / 256);
  std::string key;
  return DecodeList(body, "PodMetricsList", [&](Item& item) {
    if (item.name.empty() || item.ns.empty()) MarkBad(item, "no metadata.name or namespace");
    if (item.bad.empty() && item.containers == 0) MarkBad(item, "no containers");
    const std::optional<WallTime> time = item.bad.empty() ? SampleTime(item, times) : std::nullopt;
    if (!item.bad.empty() || !time) {
      NoteDrop(out.pods, item, "pod");
      return;
    }
    key.assign(item.ns);
    key += '/';
    key += item.name;
    auto [it, inserted] = out.pod_usage.try_emplace(key);
    PodUsage& u = it->second;
    if (!inserted) {
      ++out.pods.duplicates;
      if (*item.cpu_millis + *item.memory_bytes <=
          u.cpu_millis.value_or(0) + u.memory_bytes.value_or(0)) {
        return;
      }
    } else {
      ++out.pods.samples;
    }
    u.cpu_millis = item.cpu_millis;
    u.memory_bytes = item.memory_bytes;
    u.time = *time;
  });
}

MetricsServerSource::MetricsServerSource(RawGet get) : get_(std::move(get)) {}

MetricsServerSource::~MetricsServerSource() = default;

std::string MetricsServerSource::Describe() const {
  return "metrics-server (metrics.k8s.io/v1beta1)";
}

StatusOr<RawNodeMetrics> MetricsServerSource::Fetch() {
  RawNodeMetrics out;
  StatusOr<std::string> nodes = get_(kNodeMetricsPath);
  Status node_status = nodes.ok() ? DecodeNodeMetricsList(*nodes, out) : nodes.status();
  if (!node_status.ok()) {
    out.nodes.clear();
    node_status = std::move(node_status).Annotate("list NodeMetrics");
  }
  out.cpu.status = node_status;
  out.memory.status = node_status;
  StatusOr<std::string> pods = get_(kPodMetricsPath);
  Status pod_status = pods.ok() ? DecodePodMetricsList(*pods, out) : pods.status();
  if (!pod_status.ok()) {
    out.pod_usage.clear();
    pod_status = std::move(pod_status).Annotate("list PodMetrics");
  }
  out.pods.status = std::move(pod_status);
  return out;
}

}  // namespace kb::scoring
