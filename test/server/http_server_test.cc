// ExtenderServer over real loopback HTTP(S): routes, wire shapes from kube-scheduler's payloads,
// error codes (400/404/405/413/500), /metrics (checked with promtool), /healthz, /readyz,
// /debug/scores, keep-alive, no gzip on JSON answers, and HTTPS with mTLS.
#include "server/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test/server/server_env.h"

namespace kb::server {
namespace {

TEST_CASE("server answers kube-scheduler's filter and prioritize payloads", "[http]") {
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();

  auto res = c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").rfind("application/json", 0) == 0);
  nlohmann::json j = nlohmann::json::parse(res->body);
  CHECK(j["NodeNames"] == nlohmann::json::array({"node-0000", "node-0002"}));
  CHECK(j["Nodes"].is_null());
  CHECK(j["FailedNodes"].contains("node-0001"));
  CHECK(j["FailedAndUnresolvableNodes"] == nlohmann::json::object());
  CHECK(j["Error"] == "");

  const std::string full = ReadTestdata("filter-full.request.json");
  res = c.Post("/filter", full, "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  j = nlohmann::json::parse(res->body);
  const nlohmann::json items = nlohmann::json::parse(full)["Nodes"]["items"];
  CHECK(j["NodeNames"].is_null());
  CHECK(j["Nodes"]["items"] == nlohmann::json::array({items[0], items[2]}));

  res = c.Post("/prioritize", ReadTestdata("prioritize-names.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  j = nlohmann::json::parse(res->body);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 3);
  CHECK(j[0]["Host"] == "node-0000");
  CHECK(j[1]["Host"] == "node-0001");
  CHECK(j[2]["Host"] == "node-0002");
  CHECK(j[0]["Score"].get<int>() > j[2]["Score"].get<int>());
  CHECK(j[2]["Score"].get<int>() > j[1]["Score"].get<int>());

  res = c.Post("/prioritize", ReadTestdata("prioritize-full.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body).size() == 3);

  CHECK(env.metrics.Requests(Verb::kFilter, 200).Value() == 2);
  CHECK(env.metrics.Requests(Verb::kPrioritize, 200).Value() == 2);
}

TEST_CASE("server binds through the API and answers Error empty", "[http]") {
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();
  auto res = c.Post("/bind", ReadTestdata("bind.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"Error":""})");
  REQUIRE(env.kube.Bindings().size() == 1);
  CHECK(env.kube.Bindings()[0].node == "node-0002");
  CHECK(env.kube.Bindings()[0].uid == "uid-default-pod-00000");

  // Binding again: the API refuses (already bound); still HTTP 200 with the error text.
  res = c.Post("/bind", ReadTestdata("bind.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body)["Error"] != "");
}

TEST_CASE("server error codes: 400, 404, 405 with Allow, 500", "[http]") {
  ServerEnv env;
  env.server->AddPostRouteForTest(
      "/throw", [](const std::string&) -> std::string { throw std::runtime_error("boom"); });
  env.Start();
  httplib::Client c = env.Client();

  auto res = c.Post("/filter", "{\"Pod\":", "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK_THAT(nlohmann::json::parse(res->body)["Error"].get<std::string>(),
             Catch::Matchers::Contains("malformed JSON"));

  res = c.Post("/prioritize", R"({"Pod":null,"NodeNames":["a"]})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK_THAT(nlohmann::json::parse(res->body)["Error"].get<std::string>(),
             Catch::Matchers::Contains("Pod"));

  res = c.Post("/bind", R"({"PodName":"x"})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);

  res = c.Post("/filter", "", "application/json");
  REQUIRE(res);
  CHECK(res->status == 400);

  res = c.Get("/filter");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "POST");
  CHECK(nlohmann::json::parse(res->body).contains("Error"));

  res = c.Delete("/metrics");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "GET, HEAD");

  res = c.Get("/no/such/path");
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(nlohmann::json::parse(res->body).contains("Error"));
  res = c.Post("/filterx", "{}", "application/json");
  REQUIRE(res);
  CHECK(res->status == 404);

  res = c.Post("/throw", "{}", "application/json");
  REQUIRE(res);
  CHECK(res->status == 500);
  CHECK(env.metrics.exceptions.Value() == 1);

  // The same keep-alive client still works after every error.
  res = c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(env.metrics.Requests(Verb::kFilter, 400).Value() == 2);
  CHECK(env.metrics.Requests(Verb::kFilter, 405).Value() == 1);
}

TEST_CASE("bodies over maxRequestBytes get 413, declared or chunked", "[http]") {
  ServerOptions options;
  options.max_request_bytes = 4096;
  ServerEnv env(options);
  env.Start();
  // Over the limit, but within the drain allowance (min(maxRequestBytes, 16 MiB) beyond it).
  const std::string big(7000, ' ');

  {
    httplib::Client c = env.Client();
    auto res = c.Post("/filter", big, "application/json");
    REQUIRE(res);
    CHECK(res->status == 413);
    CHECK_THAT(nlohmann::json::parse(res->body)["Error"].get<std::string>(),
               Catch::Matchers::Contains("maxRequestBytes"));
    CHECK(res->get_header_value("Connection") != "close");
    // The body was drained: the keep-alive connection is still good.
    res = c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  {
    // No Content-Length: enforced while reading.
    httplib::Client c = env.Client();
    auto res = c.Post(
        "/filter",
        [&big](size_t offset, httplib::DataSink& sink) {
          if (offset < big.size()) {
            sink.write(big.data() + offset, std::min<size_t>(1000, big.size() - offset));
          } else {
            sink.done();
          }
          return true;
        },
        "application/json");
    REQUIRE(res);
    CHECK(res->status == 413);
    res = c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  {
    // A declared body far beyond the limit is refused before it is sent: no byte of it is read.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(env.server->port()));
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const std::string head =
        "POST /filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 999999999999\r\n\r\n";
    REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(head.size()));
    std::string response;
    char buf[4096];
    while (response.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      response.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    CHECK(response.rfind("HTTP/1.1 413", 0) == 0);
    CHECK_THAT(response, Catch::Matchers::Contains("Connection: close"));
  }
  {
    // A body just under the limit is served.
    httplib::Client c = env.Client();
    auto res = c.Post("/filter", ReadTestdata("filter-full.request.json"), "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  CHECK(env.metrics.Requests(Verb::kFilter, 413).Value() == 3);
}

TEST_CASE("JSON answers are not gzip-compressed although kube-scheduler accepts gzip", "[http]") {
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();
  httplib::Headers headers = {{"Accept-Encoding", "gzip"}};
  auto res =
      c.Post("/filter", headers, ReadTestdata("filter-full.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK_FALSE(res->has_header("Content-Encoding"));
}

TEST_CASE("GET routes added for the rescheduler answer JSON and refuse other methods", "[http]") {
  ServerEnv env;
  int calls = 0;
  env.server->AddGetRoute("/debug/plan", [&calls] {
    ++calls;
    return std::string(R"({"moves":[]})");
  });
  env.Start();
  httplib::Client c = env.Client();
  auto res = c.Get("/debug/plan");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"moves":[]})");
  CHECK(calls == 1);
  res = c.Post("/debug/plan", "{}", "application/json");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(res->get_header_value("Allow") == "GET, HEAD");
  CHECK(calls == 1);
}

TEST_CASE("healthz, readyz and metrics", "[http]") {
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();
  auto res = c.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  res = c.Get("/readyz");
  REQUIRE(res);
  CHECK(res->status == 200);
  env.ready = false;
  res = c.Get("/readyz");
  REQUIRE(res);
  CHECK(res->status == 503);
  env.ready = true;

  REQUIRE(c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json"));
  res = c.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK_THAT(res->body,
             Catch::Matchers::Contains(
                 R"(kube_balancer_extender_requests_total{code="200",verb="filter"} 1)"));
  CHECK_THAT(res->body,
             Catch::Matchers::Contains("kube_balancer_extender_request_duration_seconds_bucket"));
  CHECK_THAT(res->body, Catch::Matchers::Contains(
                            R"(kube_balancer_extender_filtered_nodes_total{reason="cpu"} 1)"));
  CHECK_THAT(res->body, Catch::Matchers::Contains("kube_balancer_extender_unknown_nodes_total"));
  CHECK_THAT(res->body, Catch::Matchers::Contains("kube_balancer_extender_bindings_total"));
  CHECK_THAT(res->body, Catch::Matchers::Contains("kube_balancer_extender_degraded_total"));
}

TEST_CASE("the /metrics output passes promtool check metrics", "[http][promtool]") {
  // prometheus (promtool) is a declared dependency (Makefile DEB_PACKAGES): missing is a failure.
  REQUIRE(std::filesystem::exists("/usr/bin/promtool"));
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();
  REQUIRE(c.Post("/filter", ReadTestdata("filter-names.request.json"), "application/json"));
  REQUIRE(c.Post("/prioritize", "garbage", "application/json"));
  auto res = c.Get("/metrics");
  REQUIRE(res);
  const std::string path = std::filesystem::temp_directory_path() /
                           ("kb-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path);
    out << res->body;
  }
  const std::string cmd = "/usr/bin/promtool check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int rc = ::pclose(pipe);
  std::filesystem::remove(path);
  INFO("promtool: " << output);
  CHECK(rc == 0);
}

TEST_CASE("debug scores by pod name and by posted args", "[http]") {
  ServerEnv env;
  env.Start();
  httplib::Client c = env.Client();
  auto res = c.Get("/debug/scores?namespace=default&name=pod-00000");
  REQUIRE(res);
  CHECK(res->status == 200);
  nlohmann::json j = nlohmann::json::parse(res->body);
  CHECK(j["pod"] == "default/pod-00000");
  CHECK(j["nodes"].size() == 3);

  res = c.Get("/debug/scores?namespace=default&name=pod-00000&nodes=node-0001");
  REQUIRE(res);
  j = nlohmann::json::parse(res->body);
  REQUIRE(j["nodes"].size() == 1);
  CHECK(j["nodes"][0]["filter"]["reason"] == "cpu");

  res = c.Get("/debug/scores?namespace=default&name=missing");
  REQUIRE(res);
  CHECK(res->status == 404);
  res = c.Get("/debug/scores");
  REQUIRE(res);
  CHECK(res->status == 400);

  res = c.Post("/debug/scores", ReadTestdata("filter-names.request.json"), "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body)["nodes"].size() == 3);
}

TEST_CASE("many keep-alive requests from concurrent clients all succeed", "[http]") {
  ServerEnv env;
  env.Start();
  const std::string body = ReadTestdata("filter-names.request.json");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      httplib::Client c = env.Client();
      for (int i = 0; i < 50; ++i) {
        auto res = c.Post("/filter", body, "application/json");
        if (res && res->status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 200);
}

// Runs a shell command; true when it exits 0.
bool Run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

TEST_CASE("HTTPS with client-certificate authentication (mTLS)", "[http][tls]") {
  REQUIRE(Run("command -v openssl"));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kb-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string d = dir.string();
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  REQUIRE(Run("openssl req -x509" + ec + "-keyout " + d + "/ca.key -out " + d +
              "/ca.crt -days 2 -subj /CN=kb-test-ca"));
  REQUIRE(Run("openssl req" + ec + "-keyout " + d + "/server.key -out " + d +
              "/server.csr -subj /CN=127.0.0.1"));
  {
    std::ofstream ext(d + "/san.ext");
    ext << "subjectAltName=IP:127.0.0.1\n";
  }
  REQUIRE(Run("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d +
              "/ca.key -CAcreateserial -out " + d + "/server.crt -days 2 -extfile " + d +
              "/san.ext"));
  REQUIRE(Run("openssl req" + ec + "-keyout " + d + "/client.key -out " + d +
              "/client.csr -subj /CN=kube-scheduler"));
  REQUIRE(Run("openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.crt -CAkey " + d +
              "/ca.key -CAcreateserial -out " + d + "/client.crt -days 2"));

  ServerOptions options;
  options.tls.cert_file = d + "/server.crt";
  options.tls.key_file = d + "/server.key";
  options.tls.client_ca_file = d + "/ca.crt";
  ServerEnv env(options);
  env.Start();
  CHECK(env.server->url().rfind("https://127.0.0.1:", 0) == 0);
  const std::string body = ReadTestdata("filter-names.request.json");

  {
    httplib::SSLClient c("127.0.0.1", env.server->port(), d + "/client.crt", d + "/client.key");
    c.set_ca_cert_path((d + "/ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_connection_timeout(5);
    auto res = c.Post("/filter", body, "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  {
    // No client certificate: the handshake is refused.
    httplib::SSLClient c("127.0.0.1", env.server->port());
    c.set_ca_cert_path((d + "/ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    auto res = c.Post("/filter", body, "application/json");
    CHECK_FALSE(res);
  }
  env.server->Stop();
  std::filesystem::remove_all(dir);

  // Unreadable key material is reported before serving.
  ServerOptions bad;
  bad.tls.cert_file = d + "/missing.crt";
  bad.tls.key_file = d + "/missing.key";
  ServerEnv broken(bad);
  const Status s = broken.server->Start();
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Matchers::Contains("missing.crt"));
}

}  // namespace
}  // namespace kb::server
