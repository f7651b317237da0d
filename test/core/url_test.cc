#include "core/url.h"

#include <catch2/catch.hpp>

namespace kb {
namespace {

TEST_CASE("urls parse into scheme and host and port and path", "[core]") {
  auto a = ParseHttpUrl("http://prom:9090", "url");
  REQUIRE(a.ok());
  CHECK(std::string(a->scheme()) == "http");
  CHECK_FALSE(a->https);
  CHECK(a->host == "prom");
  CHECK(a->port == 9090);
  CHECK(a->path.empty());
  auto b = ParseHttpUrl("https://prom.example/thanos/", "url");
  REQUIRE(b.ok());
  CHECK(b->https);
  CHECK(b->port == 443);
  CHECK(b->path == "/thanos");
  auto c = ParseHttpUrl("http://[::1]:9090/x", "url");
  REQUIRE(c.ok());
  CHECK(c->host == "::1");
  CHECK(c->port == 9090);
  CHECK(c->path == "/x");
  CHECK(ParseHttpUrl("http://prom", "url").value().port == 80);
  CHECK(ParseHttpUrl("https://[fd00::1]", "url").value().host == "fd00::1");
  CHECK(ParseHttpUrl("https://10.0.0.1:6443/", "url").value().path.empty());
}

TEST_CASE("malformed urls are rejected with the url named", "[core]") {
  for (const char* bad :
       {"", "prom:9090", "ftp://prom", "http://", "https://", "http://:9090", "http://prom:0",
        "http://prom:99999", "http://prom:99999/x", "http://prom:x",
        "http://prom:", "http://::1:9090", "http://[::1", "http://[::1]x", "http://user:pw@prom",
        "http://prom/?q=1", "http://prom#frag", "http://prom:123456"}) {
    CAPTURE(bad);
    auto r = ParseHttpUrl(bad, "prometheus.url");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message().rfind("prometheus.url: invalid value \"" + std::string(bad) + "\": ",
                                     0) == 0);
  }
}

}  // namespace
}  // namespace kb
