#include "scoring/prometheus_source.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/config.h"
#include "test/testing/poll.h"

namespace kb::scoring {
namespace {

using namespace std::chrono_literals;

constexpr char kCpuQ[] = "cpu_q";
constexpr char kMemQ[] = "mem_q";

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (eq != std::string::npos)
      out[UrlDecode(pair.substr(0, eq))] = UrlDecode(pair.substr(eq + 1));
    pos = amp + 1;
  }
  return out;
}

// An in-process fake of Prometheus' /api/v1/query on 127.0.0.1 (port 0) answering canned bodies
// per query text.
class FakePrometheus {
 public:
  struct Reply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::chrono::milliseconds delay{0};
  };

  explicit FakePrometheus(const std::string& prefix = "") {
    server_.set_tcp_nodelay(true);
    server_.Post(prefix + "/api/v1/query", [this](const httplib::Request& req,
                                                  httplib::Response& res) {
      const auto form = ParseForm(req.body);
      const auto it = form.find("query");
      const std::string query = it == form.end() ? "" : it->second;
      Reply reply;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++requests_;
        last_content_type_ = req.get_header_value("Content-Type");
        last_form_ = form;
        queries_.push_back(query);
        auto r = replies_.find(query);
        reply = r == replies_.end() ? Reply{404, "no canned reply", "text/plain", {}} : r->second;
      }
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      res.status = reply.status;
      res.set_content(reply.body, reply.content_type.c_str());
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    kb::testing::PollUntil([&] { return server_.is_running(); }, 5s, 1ms);
    REQUIRE(server_.is_running());
  }
  ~FakePrometheus() {
    server_.stop();
    thread_.join();
  }

  void Set(const std::string& query, Reply reply) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_[query] = std::move(reply);
  }
  std::string Url(const std::string& prefix = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }
  int requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::string last_content_type() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_content_type_;
  }
  std::map<std::string, std::string> last_form() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_form_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, Reply> replies_;
  int requests_ = 0;
  std::string last_content_type_;
  std::map<std::string, std::string> last_form_;
  std::vector<std::string> queries_;
};

PrometheusConfig ConfigFor(const std::string& url) {
  PrometheusConfig c;
  c.url = url;
  c.cpu_query = kCpuQ;
  c.memory_query = kMemQ;
  c.node_label = "node";
  c.timeout = 2000ms;
  return c;
}

std::string Vector(const std::string& results) {
  return R"({"status":"success","data":{"resultType":"vector","result":[)" + results + "]}}";
}

WallTime At(double seconds) {
  return WallTime(
      std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(seconds)));
}

TEST_CASE("prometheus source parses a success vector keyed by the node label", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"node":"worker-1"},"value":[1795462377.780,"25.5"]},
                                  {"metric":{"node":"worker-2"},"value":[1795462377.780,"60"]})")});
  prom.Set(kMemQ, {200, Vector(R"({"metric":{"instance":"127.0.0.1:9101","node":"worker-1"},
                                   "value":[1795462377.792,"1.91"]})")});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(prom.requests() == 2);  // exactly one query per metric
  CHECK(prom.last_content_type().find("application/x-www-form-urlencoded") == 0);
  CHECK(prom.last_form().at("query") == kMemQ);
  CHECK(r->cpu.status.ok());
  CHECK(r->memory.status.ok());
  CHECK(r->cpu.samples == 2);
  CHECK(r->memory.samples == 1);
  REQUIRE(r->nodes.size() == 2);
  const RawNodeSample& w1 = r->nodes.at("worker-1");
  CHECK(*w1.cpu_percent == Approx(25.5));
  CHECK(*w1.memory_percent == Approx(1.91));
  CHECK(w1.instance_host == "127.0.0.1");
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(*w1.cpu_time - At(1795462377.780))
            .count() == 0);
  const RawNodeSample& w2 = r->nodes.at("worker-2");
  CHECK(*w2.cpu_percent == Approx(60));
  CHECK_FALSE(w2.memory_percent.has_value());
}

TEST_CASE("prometheus source drops non-finite and out-of-range values with a count", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"node":"a"},"value":[1,"NaN"]},
                                  {"metric":{"node":"b"},"value":[1,"+Inf"]},
                                  {"metric":{"node":"c"},"value":[1,"-Inf"]},
                                  {"metric":{"node":"d"},"value":[1,"150"]},
                                  {"metric":{"node":"e"},"value":[1,"-5"]},
                                  {"metric":{"node":"f"},"value":[1,"100.4"]},
                                  {"metric":{"node":"g"},"value":[1,"-0.3"]},
                                  {"metric":{"node":"h"},"value":[1,"abc"]},
                                  {"metric":{"job":"x"},"value":[1,"10"]},
                                  {"metric":{"node":"i"},"value":[1]},
                                  {"metric":{"node":"j"},"value":[1,"42"]})")});
  prom.Set(kMemQ, {200, Vector("")});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  REQUIRE(r->cpu.status.ok());
  CHECK(r->cpu.dropped == 8);  // NaN, +Inf, -Inf, 150, -5, abc, keyless, malformed value
  CHECK(r->cpu.samples == 3);
  CHECK(*r->nodes.at("f").cpu_percent == 100.0);  // clamped within tolerance
  CHECK(*r->nodes.at("g").cpu_percent == 0.0);
  CHECK(*r->nodes.at("j").cpu_percent == 42.0);
  CHECK(r->nodes.count("a") == 0);
  CHECK(r->nodes.count("d") == 0);
}

TEST_CASE("prometheus source drops samples whose timestamp is not a representable time",
          "[scoring]") {
  // A timestamp of 9.2e9 s or more overflows the int64 nanoseconds of WallTime; NaN, negative and
  // zero times cannot be scrape times either. Each drop degrades only that node.
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"node":"far"},"value":[1e10,"10"]},
                                  {"metric":{"node":"edge"},"value":[9.3e9,"10"]},
                                  {"metric":{"node":"huge"},"value":[1e300,"10"]},
                                  {"metric":{"node":"neg"},"value":[-5,"10"]},
                                  {"metric":{"node":"zero"},"value":[0,"10"]},
                                  {"metric":{"node":"str"},"value":["1795462377","10"]},
                                  {"metric":{"node":"ok"},"value":[1795462377.5,"10"]})")});
  prom.Set(kMemQ, {200, Vector("")});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  REQUIRE(r->cpu.status.ok());
  CHECK(r->cpu.dropped == 6);
  CHECK(r->cpu.samples == 1);
  CHECK(r->cpu.first_drop.find("timestamp") != std::string::npos);
  CHECK(r->cpu.first_drop.find("far") != std::string::npos);
  REQUIRE(r->nodes.size() == 1);
  CHECK(r->nodes.count("ok") == 1);
  CHECK(*r->nodes.at("ok").cpu_time == At(1795462377.5));
}

TEST_CASE("prometheus source times each node's sample by its scrape, not the evaluation",
          "[scoring]") {
  // timestamp() of the raw series is the scrape time: worker-1 was scraped 3 s before the
  // evaluation, worker-2 (a frozen exporter still inside Prometheus' lookback) 200 s before.
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"node":"worker-1"},"value":[1795462377.5,"25"]},
                                  {"metric":{"node":"worker-2"},"value":[1795462377.5,"60"]},
                                  {"metric":{"node":"worker-3"},"value":[1795462377.5,"70"]})")});
  prom.Set("cpu_ts",
           {200, Vector(R"({"metric":{"node":"worker-1"},"value":[1795462377.5,"1795462374.5"]},
                                     {"metric":{"node":"worker-2"},"value":[1795462377.5,"1795462177.5"]},
                                     {"metric":{"node":"worker-x"},"value":[1795462377.5,"1e10"]})")});
  prom.Set(kMemQ, {200, Vector(R"({"metric":{"node":"worker-1"},"value":[1795462377.5,"10"]})")});
  prom.Set("mem_ts", {503, R"({"status":"error","errorType":"unavailable","error":"tsdb"})"});
  PrometheusConfig config = ConfigFor(prom.Url());
  config.cpu_timestamp_query = "cpu_ts";
  config.memory_timestamp_query = "mem_ts";
  PrometheusSource source(config);
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(prom.requests() == 4);  // value + scrape-time query per metric
  REQUIRE(r->cpu.status.ok());
  CHECK(*r->nodes.at("worker-1").cpu_time == At(1795462374.5));
  CHECK(*r->nodes.at("worker-2").cpu_time == At(1795462177.5));
  // No scrape time for worker-3: its value could hide a frozen exporter, so it is dropped.
  CHECK_FALSE(r->nodes.at("worker-3").cpu_percent.has_value());
  CHECK(r->cpu.samples == 2);
  CHECK(r->cpu.dropped == 2);  // worker-3 without a time, worker-x's absurd time
  // A failed scrape-time query fails its metric (previous samples age out by maxAge).
  CHECK(r->memory.status.code() == StatusCode::kUnavailable);
  CHECK(r->memory.status.message().find("memoryTimestampQuery") != std::string::npos);
  CHECK_FALSE(r->nodes.at("worker-1").memory_percent.has_value());
}

TEST_CASE("prometheus source reads per-pod usage by namespace and pod", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector("")});
  prom.Set(kMemQ, {200, Vector("")});
  prom.Set(
      "pod_cpu",
      {200,
       Vector(R"({"metric":{"namespace":"default","pod":"web-0"},"value":[1795462377.5,"0.25"]},
                                      {"metric":{"namespace":"default","pod":"idle"},"value":[1795462377.5,"0.001"]},
                                      {"metric":{"namespace":"default","pod":"bad"},"value":[1795462377.5,"-1"]},
                                      {"metric":{"namespace":"default","pod":"nan"},"value":[1795462377.5,"NaN"]},
                                      {"metric":{"pod":"no-ns"},"value":[1795462377.5,"1"]})")});
  prom.Set(
      "pod_mem",
      {200,
       Vector(
           R"({"metric":{"namespace":"default","pod":"web-0"},"value":[1795462377.5,"134217728"]},
                                      {"metric":{"namespace":"default","pod":"idle"},"value":[1795462376.5,"1048576"]})")});
  PrometheusConfig config = ConfigFor(prom.Url());
  config.pod_cpu_query = "pod_cpu";
  config.pod_memory_query = "pod_mem";
  PrometheusSource source(config);
  REQUIRE(source.HasPodUsage());
  auto r = source.Fetch();
  REQUIRE(r.ok());
  REQUIRE(r->pods.status.ok());
  CHECK(r->pods.dropped == 3);
  REQUIRE(r->pod_usage.size() == 2);
  const PodUsage& web = r->pod_usage.at("default/web-0");
  CHECK(*web.cpu_millis == 250);
  CHECK(*web.memory_bytes == 134217728);
  CHECK(r->pod_usage.at("default/idle").time == At(1795462376.5));  // the older sample

  prom.Set("pod_mem", {422, R"({"status":"error","errorType":"execution","error":"boom"})"});
  r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->pods.status.code() == StatusCode::kInvalidArgument);
  CHECK(r->pod_usage.empty());
  CHECK(r->cpu.status.ok());  // node metrics are unaffected
}

TEST_CASE("prometheus source maps error envelopes to statuses with the error text", "[scoring]") {
  struct Case {
    int http;
    std::string error_type;
    StatusCode code;
  };
  const Case cases[] = {
      {400, "bad_data", StatusCode::kInvalidArgument},
      {422, "execution", StatusCode::kInvalidArgument},
      {503, "timeout", StatusCode::kDeadlineExceeded},
      {503, "unavailable", StatusCode::kUnavailable},
      {500, "internal", StatusCode::kUnavailable},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("errorType " << c.error_type << " HTTP " << c.http) {
      FakePrometheus prom;
      prom.Set(kCpuQ, {c.http, R"({"status":"error","errorType":")" + c.error_type +
                                   R"(","error":"parse error at char 3: boom"})"});
      prom.Set(kMemQ, {200, Vector(R"({"metric":{"node":"a"},"value":[1,"5"]})")});
      PrometheusSource source(ConfigFor(prom.Url()));
      auto r = source.Fetch();
      REQUIRE(r.ok());
      CHECK(r->cpu.status.code() == c.code);
      CHECK(r->cpu.status.http_code() == c.http);
      CHECK(r->cpu.status.message().find("parse error at char 3: boom") != std::string::npos);
      CHECK(r->cpu.status.message().find(c.error_type) != std::string::npos);
      // The other metric still arrives.
      CHECK(r->memory.status.ok());
      CHECK_FALSE(r->nodes.at("a").cpu_percent.has_value());
      CHECK(*r->nodes.at("a").memory_percent == 5.0);
    }
  }
}

TEST_CASE("prometheus source handles non-JSON bodies from proxies", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {502, "<html><body>502 Bad Gateway</body></html>", "text/html"});
  prom.Set(kMemQ, {200, "OK", "text/plain"});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.code() == StatusCode::kUnavailable);
  CHECK(r->cpu.status.http_code() == 502);
  CHECK(r->cpu.status.message().find("502 Bad Gateway") != std::string::npos);
  CHECK(r->memory.status.code() == StatusCode::kUnavailable);
  CHECK(r->memory.status.message().find("non-JSON") != std::string::npos);
  CHECK(r->nodes.empty());
}

TEST_CASE("prometheus source times out a slow response", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ,
           {200, Vector(R"({"metric":{"node":"a"},"value":[1,"5"]})"), "application/json", 700ms});
  prom.Set(kMemQ, {200, Vector(R"({"metric":{"node":"a"},"value":[1,"5"]})")});
  PrometheusConfig config = ConfigFor(prom.Url());
  config.timeout = 150ms;
  PrometheusSource source(config);
  const auto start = std::chrono::steady_clock::now();
  auto r = source.Fetch();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(r.ok());
  CHECK(r->cpu.status.code() == StatusCode::kDeadlineExceeded);
  CHECK(r->memory.status.ok());
  CHECK(elapsed < 650ms);  // did not wait for the slow answer
}

TEST_CASE("prometheus source accepts an empty result", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector("")});
  prom.Set(kMemQ, {200, R"({"status":"success","data":{"resultType":"vector","result":[]},
                            "warnings":["partial response"]})"});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.ok());
  CHECK(r->memory.status.ok());
  CHECK(r->nodes.empty());
  REQUIRE(r->memory.warnings.size() == 1);
  CHECK(r->memory.warnings[0] == "partial response");
}

TEST_CASE("prometheus source rejects a non-vector result", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})"});
  prom.Set(kMemQ, {200, R"({"status":"success","data":{"resultType":"scalar",
                            "result":[1, "3"]}})"});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.code() == StatusCode::kInvalidArgument);
  CHECK(r->cpu.status.message().find("matrix") != std::string::npos);
  CHECK(r->memory.status.code() == StatusCode::kInvalidArgument);
}

TEST_CASE("prometheus source keys by instance host when the node label is absent", "[scoring]") {
  FakePrometheus prom;
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"instance":"10.0.0.5:9100"},"value":[1,"10"]},
                                  {"metric":{"instance":"[fd00::7]:9100"},"value":[1,"20"]},
                                  {"metric":{"instance":"node-c"},"value":[1,"30"]},
                                  {"metric":{"instance":"10.0.0.5:9200"},"value":[1,"15"]})")});
  prom.Set(kMemQ, {200, Vector(R"({"metric":{"instance":"10.0.0.5:9100"},"value":[1,"50"]})")});
  PrometheusSource source(ConfigFor(prom.Url()));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  REQUIRE(r->nodes.size() == 3);
  CHECK(*r->nodes.at("10.0.0.5").cpu_percent == 15.0);  // duplicate key: the larger value
  CHECK(r->cpu.duplicates == 1);
  CHECK(*r->nodes.at("10.0.0.5").memory_percent == 50.0);
  CHECK(*r->nodes.at("fd00::7").cpu_percent == 20.0);
  CHECK(*r->nodes.at("node-c").cpu_percent == 30.0);
  CHECK(r->nodes.at("10.0.0.5").instance_host == "10.0.0.5");
}

TEST_CASE("prometheus source honours a path prefix in the URL", "[scoring]") {
  FakePrometheus prom("/prom");
  prom.Set(kCpuQ, {200, Vector(R"({"metric":{"node":"a"},"value":[1,"5"]})")});
  prom.Set(kMemQ, {200, Vector(R"({"metric":{"node":"a"},"value":[1,"6"]})")});
  PrometheusSource source(ConfigFor(prom.Url("/prom/")));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.ok());
  CHECK(r->memory.status.ok());
  CHECK(prom.requests() == 2);
  CHECK(prom.last_form().count("timeout") == 1);
}

TEST_CASE("prometheus source reports an unreachable server as unavailable", "[scoring]") {
  // A port that was free a moment ago and has no listener: bind without listen, then close.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  PrometheusSource source(ConfigFor("http://127.0.0.1:" + std::to_string(port)));
  auto r = source.Fetch();
  REQUIRE(r.ok());
  CHECK(r->cpu.status.code() == StatusCode::kUnavailable);
  CHECK(r->memory.status.code() == StatusCode::kUnavailable);
}

TEST_CASE("prometheus source with an invalid URL fails every fetch", "[scoring]") {
  PrometheusSource source(ConfigFor("ftp://prom"));
  auto r = source.Fetch();
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("default queries group by the node label and instance", "[scoring]") {
  CHECK(DefaultCpuQuery("node", "1m") ==
        "100 * (1 - avg by (node, instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[1m])))");
  CHECK(DefaultMemoryQuery("node") ==
        "100 * (1 - sum by (node, instance) (node_memory_MemAvailable_bytes) / sum by (node, "
        "instance) (node_memory_MemTotal_bytes))");
  CHECK(DefaultCpuQuery("instance", "5m").find("avg by (instance) (") != std::string::npos);
  PrometheusConfig config;
  config.url = "http://prom:9090";
  config.rate_window = "30s";
  PrometheusSource source(config);
  CHECK(source.cpu_query() == DefaultCpuQuery("node", "30s"));
  CHECK(source.memory_query() == DefaultMemoryQuery("node"));
}

}  // namespace
}  // namespace kb::scoring
