#include "kube/watch_stream.h"

#include <nlohmann/json.hpp>

#include "core/json_reader.h"
#include "kube/http_status.h"

namespace kb::kube {

using nlohmann::json;

StatusOr<WatchEvent> ParseWatchEvent(std::string_view line, std::string_view context) {
  const std::string ctx(context);
  json ev = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (ev.is_discarded() || !ev.is_object()) {
    return Status::InvalidArgument(ctx + ": malformed watch event: " + Printable(line, 200));
  }
  auto type_it = ev.find("type");
  if (type_it == ev.end() || !type_it->is_string()) {
    return Status::InvalidArgument(
        ctx + ": type: expected string, got " +
        std::string(type_it == ev.end() ? "null" : JsonReader::TypeName(*type_it)));
  }
  const std::string& type = type_it->get_ref<const std::string&>();
  auto obj_it = ev.find("object");
  if (obj_it == ev.end() || !obj_it->is_object()) {
    return Status::InvalidArgument(
        ctx + ": object: expected object, got " +
        std::string(obj_it == ev.end() ? "null" : JsonReader::TypeName(*obj_it)));
  }
  WatchEventType t;
  if (type == "ADDED") {
    t = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    t = WatchEventType::kModified;
  } else if (type == "DELETED") {
    t = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    t = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    Status s = StatusFromKubeStatus(500, *obj_it, context);
    if (s.ok()) s = Status::Unavailable(ctx + ": ERROR event").WithHttp(500);
    return s;
  } else {
    return Status::InvalidArgument(ctx + ": type: unknown event type \"" + type + "\"");
  }
  return WatchEvent{t, std::move(*obj_it)};
}

bool WatchStreamDecoder::Line(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;
  StatusOr<WatchEvent> event = ParseWatchEvent(line, context_);
  if (!event.ok()) {
    error_ = event.status();
    return false;
  }
  if (!handler_(std::move(event).value())) {
    handler_done_ = true;
    return false;
  }
  return true;
}

bool WatchStreamDecoder::Feed(std::string_view data) {
  buffer_.append(data);
  size_t start = 0;
  for (;;) {
    const size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    const bool go_on = Line(std::string_view(buffer_).substr(start, nl - start));
    start = nl + 1;
    if (!go_on) return false;
  }
  buffer_.erase(0, start);
  if (buffer_.size() > kMaxLineBytes) {
    error_ = Status::ResourceExhausted(context_ + ": watch event larger than 64 MiB");
    return false;
  }
  return true;
}

bool WatchStreamDecoder::Finish() {
  if (buffer_.empty()) return true;
  std::string last;
  last.swap(buffer_);
  return Line(last);
}

}  // namespace kb::kube
