// The HTTP admission layer, probed as an attacker and a broken network would: unbounded and
// compressed bodies on every route, request smuggling behind a rejected body, conflicting
// framing headers, oversized headers, slow requests, too many connections.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test/server/raw_http.h"
#include "test/server/server_env.h"

namespace kb::server {
namespace {

using std::chrono::milliseconds;

std::string Gzip(const std::string& data) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A chunked request of `total` body bytes in 64 KiB chunks, generated lazily.
std::function<std::string()> ChunkedUpload(const std::string& head, uint64_t total) {
  auto sent = std::make_shared<uint64_t>(0);
  auto started = std::make_shared<bool>(false);
  return [=]() -> std::string {
    if (!*started) {
      *started = true;
      return head + "Transfer-Encoding: chunked\r\n\r\n";
    }
    if (*sent >= total) return "";
    static const std::string chunk = "10000\r\n" + std::string(65536, 'x') + "\r\n";
    *sent += 65536;
    return *sent >= total ? chunk + "0\r\n\r\n" : chunk;
  };
}

TEST_CASE("a 1 GiB chunked body is cut off on every route, without buffering it",
          "[http][admission]") {
  ServerEnv env;
  env.Start();
  const uint64_t kGiB = uint64_t{1} << 30;
  for (const std::string& head : {std::string("POST /nope HTTP/1.1\r\nHost: x\r\n"),
                                  std::string("PUT /filter HTTP/1.1\r\nHost: x\r\n"),
                                  std::string("POST /healthz HTTP/1.1\r\nHost: x\r\n"),
                                  std::string("POST /filter HTTP/1.1\r\nHost: x\r\n")}) {
    INFO(head);
    RawResult r = RawExchange(env.server->port(), ChunkedUpload(head, kGiB), milliseconds(10000));
    // Refused and closed after a bounded read: the sender could not push more than the route's
    // limit plus the socket buffers.
    CHECK(r.closed);
    CHECK(r.bytes_sent < 200ull * 1024 * 1024);
    CHECK(r.elapsed < milliseconds(5000));
    const std::vector<std::string> lines = StatusLines(r.received);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("HTTP/1.1 413", 0) == 0);
  }
  CHECK(env.metrics.Rejected("body_bytes").Value() >= 3);
}

TEST_CASE("gzip bombs are refused: no encoding off the verbs, a ratio cap on them",
          "[http][admission]") {
  ServerEnv env;
  env.Start();
  const std::string bomb = Gzip(std::string(48u << 20, '\0'));  // 48 MiB of zeros, ~48 KiB
  REQUIRE(bomb.size() < 200000);
  httplib::Client c = env.Client();
  httplib::Headers gzip = {{"Content-Encoding", "gzip"}};
  auto res = c.Post("/nope", gzip, bomb, "application/json");
  REQUIRE(res);
  CHECK(res->status == 415);
  res = c.Post("/healthz", gzip, bomb, "application/json");
  REQUIRE(res);
  CHECK(res->status == 415);
  // On a verb: 48 MiB is under maxRequestBytes (64 MiB), but expands ~1000x.
  res = c.Post("/filter", gzip, bomb, "application/json");
  REQUIRE(res);
  CHECK(res->status == 413);
  CHECK_THAT(res->body, Catch::Matchers::Contains("maxCompressionRatio"));
  // A normally compressed request is fine.
  res =
      c.Post("/filter", gzip, Gzip(ReadTestdata("filter-names.request.json")), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(env.metrics.Rejected("encoding").Value() == 3);
}

TEST_CASE("no request smuggling behind a rejected chunked body", "[http][admission]") {
  ServerOptions options;
  options.max_request_bytes = 4096;
  ServerEnv env(options);
  int plan_calls = 0;
  env.server->AddGetRoute("/debug/plan", [&plan_calls] {
    ++plan_calls;
    return std::string(R"({"moves":[]})");
  });
  env.Start();
  // The chunk data is full of complete requests: wherever the server stops reading the body,
  // the bytes after that point look like a GET /debug/plan.
  std::string hidden;
  while (hidden.size() < 64 * 1024) hidden += "\r\n\r\nGET /debug/plan HTTP/1.1\r\nHost: x\r\n\r\n";
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", hidden.size());
  std::string request = "POST /filter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 64; ++i) request += size_line + hidden + "\r\n";  // 4 MiB
  request += "0\r\n\r\nGET /debug/plan HTTP/1.1\r\nHost: x\r\n\r\n";
  RawResult r = RawExchange(env.server->port(), request, milliseconds(5000));
  const std::vector<std::string> lines = StatusLines(r.received);
  INFO(r.received.substr(0, 2000));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("HTTP/1.1 413", 0) == 0);
  CHECK_THAT(r.received, Catch::Matchers::Contains("Connection: close"));
  CHECK(r.closed);
  CHECK(plan_calls == 0);
}

TEST_CASE("conflicting framing headers are refused and the connection closed",
          "[http][admission]") {
  ServerEnv env;
  env.Start();
  const std::string body = ReadTestdata("filter-names.request.json");
  const std::string length = std::to_string(body.size());
  struct Case {
    std::string name;
    std::string headers;
    int code;
  };
  const std::vector<Case> cases = {
      {"two different Content-Length", "Content-Length: " + length + "\r\nContent-Length: 5\r\n",
       400},
      {"Content-Length and chunked",
       "Content-Length: " + length + "\r\nTransfer-Encoding: chunked\r\n", 400},
      {"unknown transfer coding", "Transfer-Encoding: gzip, chunked\r\n", 400},
      {"signed length", "Content-Length: +" + length + "\r\n", 400},
      {"two equal Content-Length",
       "Content-Length: " + length + "\r\nContent-Length: " + length + "\r\n", 200},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string request = "POST /filter HTTP/1.1\r\nHost: x\r\n" + c.headers + "\r\n" + body +
                                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    RawResult r = RawExchange(env.server->port(), request, milliseconds(3000));
    const std::vector<std::string> lines = StatusLines(r.received);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines[0].rfind("HTTP/1.1 " + std::to_string(c.code), 0) == 0);
    if (c.code != 200) {
      CHECK(lines.size() == 1);  // the pipelined GET is never read
      CHECK(r.closed);
    } else {
      CHECK(lines.size() == 2);  // keep-alive: the pipelined GET is answered
    }
  }
  // A body on a GET would be left in the stream (cpp-httplib does not read it): refused.
  RawResult r = RawExchange(env.server->port(),
                            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                            "GET /debug/plan HTTP/1.1\r\nHost: x\r\n\r\n",
                            milliseconds(3000));
  REQUIRE(StatusLines(r.received).size() == 1);
  CHECK(StatusLines(r.received)[0].rfind("HTTP/1.1 400", 0) == 0);
  CHECK(env.metrics.Rejected("framing").Value() == 5);
}

TEST_CASE("header count and size limits answer 431 and close", "[http][admission]") {
  ServerOptions options;
  options.max_header_count = 16;
  options.limits.max_header_bytes = 4096;
  ServerEnv env(options);
  env.Start();
  std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  RawResult r = RawExchange(env.server->port(), many + "\r\n", milliseconds(3000));
  REQUIRE(StatusLines(r.received).size() == 1);
  CHECK(StatusLines(r.received)[0].rfind("HTTP/1.1 431", 0) == 0);
  CHECK(r.closed);
  // One endless header line: refused once the header section passes maxHeaderBytes, not
  // buffered until it ends.
  auto sent_head = std::make_shared<bool>(false);
  r = RawExchange(
      env.server->port(),
      [sent_head]() -> std::string {
        if (!*sent_head) {
          *sent_head = true;
          return "GET /healthz HTTP/1.1\r\nX-Long: ";
        }
        return std::string(65536, 'a');
      },
      milliseconds(5000));
  REQUIRE(StatusLines(r.received).size() == 1);
  CHECK(StatusLines(r.received)[0].rfind("HTTP/1.1 431", 0) == 0);
  CHECK(r.closed);
  CHECK(r.bytes_sent < 64ull * 1024 * 1024);
  CHECK(env.metrics.Rejected("header_count").Value() == 1);
  CHECK(env.metrics.Rejected("header_bytes").Value() == 1);
}

TEST_CASE("a request dribbled slower than readTimeout is cut off with 408", "[http][admission]") {
  ServerOptions options;
  options.limits.read_timeout = milliseconds(800);
  ServerEnv env(options);
  env.Start();
  const std::string request = "POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
  size_t next = 0;
  RawResult r = RawExchange(
      env.server->port(),
      [&]() -> std::string {
        if (next >= request.size()) {
          std::this_thread::sleep_for(milliseconds(100));
          return " ";  // one byte of body every 100 ms, forever
        }
        std::this_thread::sleep_for(milliseconds(next == 0 ? 0 : 50));
        return std::string(1, request[next++]);
      },
      milliseconds(10000));
  CHECK(r.closed);
  CHECK(r.elapsed < milliseconds(3000));
  REQUIRE(StatusLines(r.received).size() == 1);
  CHECK(StatusLines(r.received)[0].rfind("HTTP/1.1 408", 0) == 0);
  CHECK(env.metrics.Rejected("read_timeout").Value() == 1);
}

TEST_CASE("connections beyond maxConnections get 503, the others keep working",
          "[http][admission]") {
  ServerOptions options;
  options.limits.max_connections = 4;
  ServerEnv env(options);
  env.Start();
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(ConnectLoopback(env.server->port()));
    REQUIRE(idle.back() >= 0);
  }
  httplib::Client c = env.Client();
  auto res = c.Get("/healthz");  // the 4th connection
  REQUIRE(res);
  CHECK(res->status == 200);
  // Give the server a moment to count the idle connections.
  std::this_thread::sleep_for(milliseconds(100));
  RawResult r = RawExchange(env.server->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                            milliseconds(3000));
  REQUIRE(StatusLines(r.received).size() == 1);
  CHECK(StatusLines(r.received)[0].rfind("HTTP/1.1 503", 0) == 0);
  CHECK(r.closed);
  res = c.Get("/healthz");  // the kept-alive 4th connection still works
  REQUIRE(res);
  CHECK(res->status == 200);
  for (int fd : idle) ::close(fd);
  CHECK(env.metrics.Rejected("connections").Value() == 1);
}

TEST_CASE("Connection close from the client really closes", "[http][admission]") {
  ServerEnv env;
  env.Start();
  RawResult r = RawExchange(env.server->port(),
                            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                            milliseconds(3000));
  CHECK(StatusLines(r.received).size() == 1);
  CHECK(r.closed);
}

}  // namespace
}  // namespace kb::server
