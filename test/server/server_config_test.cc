// The serving keys of the configuration (listeners, admission limits, binds): defaults, parsing,
// validation naming the key, and how ServerOptions carries them.
#include <catch2/catch.hpp>
#include <string>

#include "core/config.h"
#include "server/http_server.h"

namespace kb {
namespace {

TEST_CASE("serving keys have the documented defaults", "[config]") {
  StatusOr<Config> c = ParseConfig("");
  REQUIRE(c.ok());
  CHECK(c->metrics_listen.empty());
  CHECK(c->max_connections == 512);
  CHECK(c->max_header_bytes == 16384);
  CHECK(c->max_header_count == 64);
  CHECK(c->max_compression_ratio == 20);
  CHECK(c->read_timeout == Millis(5000));
  CHECK(c->write_timeout == Millis(10000));
  CHECK(c->idle_timeout == Millis(120000));
  CHECK(c->scheduler_http_timeout == Millis(2000));
  CHECK(c->bind_timeout == Millis(0));
  CHECK(EffectiveBindTimeout(*c) == Millis(1500));
  CHECK(c->max_concurrent_binds == 8);
}

TEST_CASE("serving keys are read and reach ServerOptions", "[config]") {
  StatusOr<Config> c = ParseConfig(R"(
listen: "127.0.0.1:8888"
metricsListen: ":8889"
maxConnections: 100
maxHeaderBytes: 8Ki
maxHeaderCount: 32
maxCompressionRatio: 5
readTimeout: 2s
writeTimeout: 3s
idleTimeout: 100s
schedulerHttpTimeout: 5s
maxConcurrentBinds: 4
)");
  REQUIRE(c.ok());
  CHECK(EffectiveBindTimeout(*c) == Millis(3750));
  StatusOr<server::ServerOptions> o = server::ServerOptions::FromConfig(*c);
  REQUIRE(o.ok());
  CHECK(o->host == "127.0.0.1");
  CHECK(o->port == 8888);
  CHECK(o->metrics_listener);
  CHECK(o->metrics_host == "0.0.0.0");
  CHECK(o->metrics_port == 8889);
  CHECK(o->limits.max_connections == 100);
  CHECK(o->limits.max_header_bytes == 8192);
  CHECK(o->max_header_count == 32);
  CHECK(o->max_compression_ratio == 5);
  CHECK(o->limits.read_timeout == Millis(2000));
  CHECK(o->limits.write_timeout == Millis(3000));
  CHECK(o->limits.idle_timeout == Millis(100000));
  CHECK(o->bind_timeout == Millis(3750));
  CHECK(o->max_concurrent_binds == 4);

  c = ParseConfig("bindTimeout: 900ms");
  REQUIRE(c.ok());
  CHECK(server::ServerOptions::FromConfig(*c)->bind_timeout == Millis(900));
  CHECK_FALSE(server::ServerOptions::FromConfig(*ParseConfig(""))->metrics_listener);
}

TEST_CASE("bad serving keys are rejected naming the key", "[config]") {
  const std::pair<const char*, const char*> kCases[] = {
      {"metricsListen: nope", "metricsListen: invalid value \"nope\""},
      {"metricsListen: \"0.0.0.0:70000\"", "metricsListen"},
      {"listen: \":8888\"\nmetricsListen: \"127.0.0.1:8888\"", "metricsListen"},
      {"maxConnections: 0", "maxConnections"},
      {"maxHeaderBytes: 100", "maxHeaderBytes"},
      {"maxHeaderCount: 2", "maxHeaderCount"},
      {"maxCompressionRatio: 0", "maxCompressionRatio"},
      {"readTimeout: 0s", "readTimeout"},
      {"writeTimeout: 0s", "writeTimeout"},
      {"idleTimeout: 0s", "idleTimeout"},
      {"schedulerHttpTimeout: 0s", "schedulerHttpTimeout"},
      {"bindTimeout: 2s", "bindTimeout"},
      {"schedulerHttpTimeout: 1s\nbindTimeout: 1500ms", "bindTimeout"},
      {"maxConcurrentBinds: 0", "maxConcurrentBinds"},
  };
  for (const auto& [yaml, message] : kCases) {
    INFO(yaml);
    StatusOr<Config> c = ParseConfig(yaml);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(c.status().message(), Catch::Matchers::Contains(message));
  }
}

}  // namespace
}  // namespace kb
