#include "core/url.h"

#include <algorithm>

namespace kb {
namespace {

struct Bad {
  std::string_view url;
  std::string_view key;
  Status operator()(std::string_view what) const {
    return Status::InvalidArgument(std::string(key) + ": invalid value \"" + std::string(url) +
                                   "\": " + std::string(what));
  }
};

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

StatusOr<HttpUrl> ParseHttpUrl(std::string_view url, std::string_view key) {
  const Bad bad{url, key};
  HttpUrl out;
  std::string_view rest;
  if (url.substr(0, 8) == "https://") {
    out.https = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "http://") {
    out.port = 80;
    rest = url.substr(7);
  } else {
    return bad("expected http://host[:port][/path] or https://host[:port][/path]");
  }
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad("query strings and fragments are not supported");
  }
  if (authority.find('@') != std::string_view::npos) {
    return bad("credentials in the URL are not supported");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path = std::string(path);

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("bad host:port");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return bad("IPv6 hosts must be in brackets");
    }
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) return bad("missing host");
  if (has_port) {
    const int port =
        AllDigits(port_text) && port_text.size() <= 5 ? std::stoi(std::string(port_text)) : 0;
    if (port < 1 || port > 65535) {
      return bad("bad port \"" + std::string(port_text) + "\"");
    }
    out.port = port;
  }
  return out;
}

}  // namespace kb
