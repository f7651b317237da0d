#include "kube/api_calls.h"

#include <string_view>

namespace kb::kube {
namespace {

// True when the query string (without '?') has watch=1 or watch=true.
bool HasWatch(std::string_view query) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (param == "watch=1" || param == "watch=true") return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

// Next '/'-separated segment of `path` (which starts after a '/'); advances `path`.
std::string_view NextSegment(std::string_view& path) {
  const size_t slash = path.find('/');
  std::string_view seg = path.substr(0, slash);
  path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  return seg;
}

bool PathMatches(std::string_view pattern, std::string_view path) {
  if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
  pattern.remove_prefix(1);
  path.remove_prefix(1);
  for (;;) {
    const bool pattern_done = pattern.empty();
    const bool path_done = path.empty();
    if (pattern_done || path_done) return pattern_done && path_done;
    const std::string_view want = NextSegment(pattern);
    const std::string_view got = NextSegment(path);
    const bool placeholder = want.size() >= 2 && want.front() == '{' && want.back() == '}';
    if (placeholder ? got.empty() : want != got) return false;
  }
}

}  // namespace

const ApiCall* FindApiCall(std::string_view http_method, std::string_view target) {
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  const bool watch = HasWatch(query);
  for (const ApiCall& call : kApiCalls) {
    if (call.http_method != http_method) continue;
    const size_t pq = call.path.find('?');
    const bool row_watch = pq != std::string_view::npos;
    if (row_watch != watch) continue;
    if (PathMatches(call.path.substr(0, pq), path)) return &call;
  }
  return nullptr;
}

}  // namespace kb::kube
