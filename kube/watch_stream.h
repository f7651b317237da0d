// WatchStreamDecoder: decodes the body of a Kubernetes watch response as it arrives: one JSON
// event per line ({"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}), handed to a
// WatchHandler. Malformed events, unknown types, ERROR events (their Kubernetes Status) and lines
// over a size bound end the stream with a Status. Pure (no I/O); one decoder per response, used
// from one thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "kube/kube_client.h"

namespace kb::kube {

// One watch line decoded. An ERROR event becomes its Status (e.g. 410 Gone -> FailedPrecondition).
// `context` prefixes error messages ("watch pods").
StatusOr<WatchEvent> ParseWatchEvent(std::string_view line, std::string_view context);

class WatchStreamDecoder {
 public:
  static constexpr size_t kMaxLineBytes = 64 * 1024 * 1024;

  WatchStreamDecoder(std::string context, const WatchHandler& handler)
      : context_(std::move(context)), handler_(handler) {}

  // Feeds the next bytes of the body. Returns false when the stream must end: the handler asked
  // to stop (handler_done()) or an error was found (error()).
  bool Feed(std::string_view data);
  // The body ended: decodes a last event that had no trailing newline. Same result as Feed().
  bool Finish();

  bool handler_done() const { return handler_done_; }
  const std::optional<Status>& error() const { return error_; }

 private:
  bool Line(std::string_view line);

  const std::string context_;
  const WatchHandler& handler_;
  std::string buffer_;
  bool handler_done_ = false;
  std::optional<Status> error_;
};

}  // namespace kb::kube
