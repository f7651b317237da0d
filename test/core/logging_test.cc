#include "core/logging.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace kb {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Restores stderr text logging at info whatever the test did.
struct LogCapture {
  std::ostringstream out;
  LogCapture() { SetLogOutputForTest(&out); }
  ~LogCapture() {
    SetLogOutputForTest(nullptr);
    (void)ConfigureLogging("text", 0);
  }
};

TEST_CASE("json logging emits one valid JSON object per line", "[core][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("json", 0).ok());
  auto log = Logger("test-json");
  log->info("bound pod pod={} node={}", "default/web-1", "n1");
  log->warn("quote \" backslash \\ newline \n tab \t done");
  log->error(std::string("bad utf8 \xff\xfe end"));
  log->debug("hidden at verbosity 0");
  std::vector<std::string> lines = Lines(cap.out.str());
  REQUIRE(lines.size() == 3);
  std::vector<nlohmann::json> objs;
  for (const std::string& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_object());
    CHECK(j["logger"] == "test-json");
    CHECK(j["ts"].get<std::string>().size() == std::string("2026-01-01T00:00:00.000000Z").size());
    objs.push_back(j);
  }
  CHECK(objs[0]["level"] == "info");
  CHECK(objs[0]["msg"] == "bound pod pod=default/web-1 node=n1");
  CHECK(objs[1]["level"] == "warning");
  CHECK(objs[1]["msg"] == "quote \" backslash \\ newline \n tab \t done");
  CHECK(objs[2]["level"] == "error");
  CHECK_THAT(objs[2]["msg"].get<std::string>(), Catch::StartsWith("bad utf8 "));
  // The first key is ts (ordered output for log shippers).
  CHECK(lines[0].rfind("{\"ts\":", 0) == 0);
}

TEST_CASE("text logging and verbosity levels", "[core][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("text", 1).ok());
  auto log = Logger("test-text");
  log->debug("visible debug");
  log->trace("hidden trace");
  REQUIRE(ConfigureLogging("text", 4).ok());
  log->trace("visible trace");
  REQUIRE(ConfigureLogging("text", 0).ok());
  log->debug("hidden debug");
  log->info("plain info k=v");
  std::vector<std::string> lines = Lines(cap.out.str());
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], Catch::Contains("debug [test-text] visible debug"));
  CHECK_THAT(lines[1], Catch::Contains("trace [test-text] visible trace"));
  CHECK_THAT(lines[2], Catch::Contains("info [test-text] plain info k=v"));
  CHECK(lines[2][10] == 'T');
}

TEST_CASE("loggers are shared by name and registered with spdlog", "[core][logging]") {
  LogCapture cap;
  auto a = Logger("test-shared");
  auto b = Logger("test-shared");
  CHECK(a == b);
  CHECK(spdlog::get("test-shared") == a);
  // A logger created after ConfigureLogging gets the current level and format.
  REQUIRE(ConfigureLogging("json", 2).ok());
  auto late = Logger("test-late");
  CHECK(late->level() == spdlog::level::debug);
  late->debug("x");
  REQUIRE(Lines(cap.out.str()).size() == 1);
  CHECK(nlohmann::json::parse(Lines(cap.out.str())[0])["logger"] == "test-late");
}

TEST_CASE("unknown log format is rejected", "[core][logging]") {
  Status s = ConfigureLogging("xml", 0);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("xml"));
}

}  // namespace
}  // namespace kb

namespace kb {
namespace {

TEST_CASE("spdlog's default logger follows the configured format", "[core][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("json", 0).ok());
  spdlog::info("from the default logger");
  std::vector<std::string> lines = Lines(cap.out.str());
  REQUIRE(lines.size() == 1);
  nlohmann::json j = nlohmann::json::parse(lines[0]);
  CHECK(j["logger"] == "kube-balancer");
  CHECK(j["msg"] == "from the default logger");
}

}  // namespace
}  // namespace kb

namespace kb {
namespace {

TEST_CASE("LogValue escapes control characters and truncates long values", "[core][logging]") {
  CHECK(LogValue("default/web-1") == "default/web-1");
  CHECK(LogValue("a\r\nb\tc\\d") == "a\\r\\nb\\tc\\\\d");
  CHECK(LogValue(std::string("x\0y\x1b\x7f", 5)) == "x\\x00y\\x1b\\x7f");
  const std::string long_value(1000, 'a');
  CHECK(LogValue(long_value) == std::string(kMaxLogValueBytes, 'a') + "...(1000 bytes)");
  // A multi-byte UTF-8 character across the cut is dropped whole, not split.
  const std::string utf8 = std::string(kMaxLogValueBytes - 1, 'a') + "\xc3\xa9" + "tail";
  CHECK(LogValue(utf8) ==
        std::string(kMaxLogValueBytes - 1, 'a') + "...(" + std::to_string(utf8.size()) + " bytes)");
}

TEST_CASE("text logging keeps one record on one line", "[core][logging]") {
  LogCapture cap;
  REQUIRE(ConfigureLogging("text", 0).ok());
  Logger("test-text-escape")->info("name={}", "a\nFORGED b\r\x1b[31m");
  std::vector<std::string> lines = Lines(cap.out.str());
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::EndsWith("name=a\\nFORGED b\\r\\x1b[31m"));
}

}  // namespace
}  // namespace kb
