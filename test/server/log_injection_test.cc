// Request-derived strings in the log: a pod name with CR/LF cannot forge a log line, and a
// megabyte name cannot make a megabyte line, in the text and the JSON format.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/logging.h"
#include "test/server/server_env.h"

namespace kb::server {
namespace {

struct LogCapture {
  std::ostringstream out;
  LogCapture() { SetLogOutputForTest(&out); }
  ~LogCapture() {
    SetLogOutputForTest(nullptr);
    (void)ConfigureLogging("text", 0);
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

// Binds a pod that does not exist under a hostile name: the extender logs the failure with the
// name, the node and the API error (which quotes the name again).
void BindHostileNames(ServerEnv& env) {
  httplib::Client c = env.Client();
  const std::string forged =
      "web\r\n2026-01-01T00:00:00.000000Z info [extender] bound pod pod=default/forged "
      "node=n1 counted=true\n\x1b[31m";
  for (const std::string& name : {forged, std::string(1 << 20, 'n')}) {
    nlohmann::json args = {{"PodName", name},
                           {"PodNamespace", "default"},
                           {"PodUID", "uid\n1"},
                           {"Node", "node-0002\r\nX"}};
    auto res = c.Post("/bind", args.dump(), "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(nlohmann::json::parse(res->body)["Error"] != "");
  }
}

TEST_CASE("text logs escape and truncate request-derived strings", "[http][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("text", 0).ok());
  ServerEnv env;
  env.Start();
  BindHostileNames(env);
  env.server->Stop();
  const std::regex line_start(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \w+ \[[\w-]+\] )");
  int binding_failed = 0;
  for (const std::string& line : cap.Lines()) {
    INFO(line.substr(0, 300));
    CHECK(std::regex_search(line, line_start));
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.size() < 4 * kMaxLogValueBytes);
    CHECK(line.rfind("2026-01-01T00:00:00.000000Z", 0) != 0);  // no forged record
    if (line.find("binding failed") != std::string::npos) {
      ++binding_failed;
      CHECK(line.find("uid=uid\\n1") != std::string::npos);
    }
  }
  CHECK(binding_failed == 2);
  CHECK_THAT(cap.out.str(), Catch::Matchers::Contains("web\\r\\n2026-01-01"));
  CHECK_THAT(cap.out.str(), Catch::Matchers::Contains("...(1048584 bytes)"));
}

TEST_CASE("JSON logs truncate request-derived strings and stay one object per line",
          "[http][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("json", 0).ok());
  ServerEnv env;
  env.Start();
  BindHostileNames(env);
  env.server->Stop();
  int binding_failed = 0;
  for (const std::string& line : cap.Lines()) {
    INFO(line.substr(0, 300));
    CHECK(line.size() < 4 * kMaxLogValueBytes);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    const std::string msg = j["msg"];
    CHECK(msg.find('\n') == std::string::npos);
    if (msg.find("binding failed") != std::string::npos) ++binding_failed;
  }
  CHECK(binding_failed == 2);
}

}  // namespace
}  // namespace kb::server
