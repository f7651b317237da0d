// HttpKubeClient against small local httplib servers: status mapping, retries, decoding errors,
// watch stream framing, stop, query encoding, tokens and the rate limiter.
#include "kube/http_kube_client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/logging.h"
#include "kube/rate_limiter.h"
#include "test/kube/kube_test_util.h"
#include "test/testing/poll.h"

namespace kb::kube {
namespace {

using nlohmann::json;
using test::LocalServer;
using test::TempDir;

json KubeStatus(int code, const std::string& reason, const std::string& message,
                const std::string& cause = "") {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!cause.empty()) {
    s["details"] = {{"causes", json::array({{{"reason", cause}, {"message", "budget"}}})}};
  }
  return s;
}

json PodJson(const std::string& name, const std::string& rv = "1") {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}, {"resourceVersion", rv}}},
      {"spec", {{"containers", json::array({{{"name", "app"}}})}}}};
}

HttpKubeClientOptions FastOptions() {
  HttpKubeClientOptions o;
  o.qps = 0;
  o.max_retries = 0;
  o.timeout = std::chrono::milliseconds(5000);
  o.jitter_seed = 7;
  o.sleep = [](std::chrono::nanoseconds) {};
  return o;
}

std::unique_ptr<HttpKubeClient> MakeClient(const std::string& server,
                                           HttpKubeClientOptions options = FastOptions(),
                                           const Clock& clock = SystemClock::Instance()) {
  KubeConfig cfg;
  cfg.server = server;
  auto c = HttpKubeClient::Create(cfg, std::move(options), clock);
  REQUIRE(c.ok());
  return std::move(c).value();
}

TEST_CASE("HTTP status mapping table", "[kube]") {
  LocalServer srv;
  // GET /api/v1/namespaces/default/pods/<code>-<reason>[-<cause>] answers that status.
  auto answer = [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    std::istringstream parts(name);
    std::string code_s, reason, cause;
    std::getline(parts, code_s, '-');
    std::getline(parts, reason, '-');
    std::getline(parts, cause, '-');
    int code = std::stoi(code_s);
    res.status = code;
    if (reason == "plain") {
      res.set_content("upstream connect error", "text/plain");
    } else {
      res.set_content(KubeStatus(code, reason, "message for " + name, cause).dump(),
                      "application/json");
    }
  };
  srv.server().Get(R"(/api/v1/namespaces/default/pods/([^/]+))", answer);
  srv.server().Post(R"(/api/v1/namespaces/default/pods/([^/]+)/eviction)", answer);
  srv.Start();
  auto client = MakeClient(srv.url());

  struct Case {
    std::string name;
    StatusCode code;
    std::string reason;
    std::string cause;
  };
  const Case cases[] = {
      {"400-BadRequest", StatusCode::kInvalidArgument, "BadRequest", ""},
      {"401-Unauthorized", StatusCode::kPermissionDenied, "Unauthorized", ""},
      {"403-Forbidden", StatusCode::kPermissionDenied, "Forbidden", ""},
      {"404-NotFound", StatusCode::kNotFound, "NotFound", ""},
      {"409-Conflict", StatusCode::kAborted, "Conflict", ""},
      {"409-AlreadyExists", StatusCode::kAlreadyExists, "AlreadyExists", ""},
      {"410-Expired", StatusCode::kFailedPrecondition, "Expired", ""},
      {"410-Gone", StatusCode::kFailedPrecondition, "Gone", ""},
      {"422-Invalid", StatusCode::kInvalidArgument, "Invalid", ""},
      {"429-TooManyRequests-DisruptionBudget", StatusCode::kUnavailable, "TooManyRequests",
       "DisruptionBudget"},
      {"429-TooManyRequests", StatusCode::kResourceExhausted, "TooManyRequests", ""},
      {"500-InternalError", StatusCode::kUnavailable, "InternalError", ""},
      {"503-ServiceUnavailable", StatusCode::kUnavailable, "ServiceUnavailable", ""},
      {"504-Timeout", StatusCode::kUnavailable, "Timeout", ""},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Status st = client->GetPod("default", c.name).status();
      CHECK(st.code() == c.code);
      CHECK(st.http_code() == std::stoi(c.name.substr(0, 3)));
      CHECK(st.reason() == c.reason);
      CHECK(st.cause() == c.cause);
      CHECK_THAT(st.message(), Catch::Contains("message for " + c.name));
      CHECK_THAT(st.message(), Catch::Contains("get pod default/" + c.name));
    }
  }
  SECTION("eviction 429 with the DisruptionBudget cause is Unavailable") {
    Status st = client->EvictPod("default", "429-TooManyRequests-DisruptionBudget", {});
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.cause() == "DisruptionBudget");
    CHECK(st.http_code() == 429);
  }
  SECTION("a non-Status body keeps its text") {
    Status st = client->GetPod("default", "502-plain").status();
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.http_code() == 502);
    CHECK_THAT(st.message(), Catch::Contains("upstream connect error"));
  }
}

TEST_CASE("StatusFromHttp parses Kubernetes Status bodies", "[kube]") {
  Status ok = StatusFromHttp(201, "", "create");
  CHECK(ok.ok());
  Status st = StatusFromHttp(
      409, KubeStatus(409, "AlreadyExists", "pods \"a\" already exists").dump(), "create pod");
  CHECK(st.code() == StatusCode::kAlreadyExists);
  CHECK(st.message() == "create pod: pods \"a\" already exists");
  Status garbage = StatusFromHttp(500, "\x01\x02{{{", "x");
  CHECK(garbage.code() == StatusCode::kUnavailable);
  Status weird = StatusFromHttp(418, R"({"message": 5, "reason": ["x"]})", "x");
  CHECK(weird.code() == StatusCode::kInvalidArgument);
  CHECK(weird.http_code() == 418);
}

TEST_CASE("idempotent calls retry 5xx with backoff, POSTs do not", "[kube]") {
  LocalServer srv;
  std::atomic<int> gets{0}, posts{0};
  srv.server().Get(R"(/api/v1/namespaces/default/pods/web)", [&](const httplib::Request&,
                                                                 httplib::Response& res) {
    if (++gets <= 2) {
      res.status = 503;
      res.set_content(KubeStatus(503, "ServiceUnavailable", "busy").dump(), "application/json");
      return;
    }
    res.set_content(PodJson("web").dump(), "application/json");
  });
  srv.server().Post(
      R"(/api/v1/namespaces/default/pods)", [&](const httplib::Request&, httplib::Response& res) {
        ++posts;
        res.status = 503;
        res.set_content(KubeStatus(503, "ServiceUnavailable", "busy").dump(), "application/json");
      });
  srv.Start();
  std::vector<std::chrono::nanoseconds> sleeps;
  auto opts = FastOptions();
  opts.max_retries = 3;
  opts.backoff_base = std::chrono::milliseconds(100);
  opts.sleep = [&](std::chrono::nanoseconds d) { sleeps.push_back(d); };
  auto client = MakeClient(srv.url(), opts);

  auto pod = client->GetPod("default", "web");
  REQUIRE(pod.ok());
  CHECK((*pod)["metadata"]["name"] == "web");
  CHECK(gets == 3);
  CHECK(client->Stats().retries == 2);
  REQUIRE(sleeps.size() == 2);
  CHECK(sleeps[0] <= std::chrono::milliseconds(100));  // full jitter within base * 2^attempt
  CHECK(sleeps[1] <= std::chrono::milliseconds(200));

  Status created = client->CreatePod("default", PodJson("new")).status();
  CHECK(created.code() == StatusCode::kUnavailable);
  CHECK(posts == 1);

  SECTION("attempts are bounded") {
    gets = -100;  // keep failing
    Status st = client->GetPod("default", "web").status();
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(gets == -100 + 4);
  }
}

TEST_CASE("connection errors are Unavailable and retried only when idempotent", "[kube]") {
  int port;
  {
    LocalServer probe;
    probe.Start();
    port = probe.port();
  }  // nothing listens on `port` now
  auto opts = FastOptions();
  opts.max_retries = 2;
  auto client = MakeClient("http://127.0.0.1:" + std::to_string(port), opts);
  Status st = client->GetPod("default", "x").status();
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK(client->Stats().requests == 3);
  Status bind = client->BindPod("default", "x", "uid", "node-a");
  CHECK(bind.code() == StatusCode::kUnavailable);
  CHECK(client->Stats().requests == 4);
}

TEST_CASE("malformed JSON and wrong field types name the problem", "[kube]") {
  LocalServer srv;
  srv.server().Get(R"(/apis/apps/v1/namespaces/default/deployments/(\w+))",
                   [](const httplib::Request& req, httplib::Response& res) {
                     std::string name = req.matches[1];
                     if (name == "broken") {
                       res.set_content("{\"metadata\": {\"name\": ", "application/json");
                     } else {
                       json d = {{"metadata", {{"name", name}, {"namespace", "default"}}},
                                 {"spec", {{"replicas", "three"}}}};
                       res.set_content(d.dump(), "application/json");
                     }
                   });
  srv.server().Get("/api/v1/pods", [](const httplib::Request& req, httplib::Response& res) {
    std::string variant = req.get_param_value("labelSelector");
    json body;
    if (variant == "items") body = {{"metadata", {{"resourceVersion", "5"}}}, {"items", "x"}};
    if (variant == "rv") body = {{"metadata", {{"resourceVersion", 5}}}, {"items", json::array()}};
    if (variant == "item") body = {{"metadata", json::object()}, {"items", {PodJson("a"), 3}}};
    if (variant == "array") body = json::array();
    res.set_content(body.dump(), "application/json");
  });
  srv.Start();
  auto client = MakeClient(srv.url());

  Status broken = client->GetDeployment("default", "broken").status();
  CHECK(broken.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(broken.message(), Catch::Contains("malformed JSON"));

  Status typed = client->GetDeployment("default", "web").status();
  CHECK(typed.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(typed.message(), Catch::Contains("spec.replicas"));
  CHECK_THAT(typed.message(), Catch::Contains("get deployment default/web"));

  auto list = [&](const std::string& variant) {
    ListOptions o;
    o.label_selector = variant;
    return client->List(ResourceKind::kPods, o).status();
  };
  CHECK_THAT(list("items").message(), Catch::Contains("items: expected array"));
  CHECK_THAT(list("rv").message(), Catch::Contains("metadata.resourceVersion: expected string"));
  CHECK_THAT(list("item").message(), Catch::Contains("items[1]: expected object"));
  CHECK(list("array").code() == StatusCode::kInvalidArgument);
}

TEST_CASE("list encodes selectors and pagination parameters", "[kube]") {
  LocalServer srv;
  std::mutex mu;
  httplib::Params seen;
  srv.server().Get("/apis/policy/v1/poddisruptionbudgets",
                   [&](const httplib::Request& req, httplib::Response& res) {
                     {
                       std::lock_guard<std::mutex> lock(mu);
                       seen = req.params;
                     }
                     json body = {{"metadata", {{"resourceVersion", "42"}, {"continue", "tok2"}}},
                                  {"items", json::array({{{"metadata", {{"name", "p"}}}}})}};
                     res.set_content(body.dump(), "application/json");
                   });
  srv.Start();
  auto client = MakeClient(srv.url());
  ListOptions o;
  o.label_selector = "app in (a,b),tier!=db";
  o.field_selector = "spec.nodeName=node-a";
  o.limit = 2;
  o.continue_token = "abc+/=";
  auto page = client->List(ResourceKind::kPodDisruptionBudgets, o);
  REQUIRE(page.ok());
  CHECK(page->resource_version == "42");
  CHECK(page->continue_token == "tok2");
  CHECK(page->items.size() == 1);
  std::lock_guard<std::mutex> lock(mu);
  auto get = [&](const char* k) {
    auto it = seen.find(k);
    return it == seen.end() ? std::string("<absent>") : it->second;
  };
  CHECK(get("labelSelector") == "app in (a,b),tier!=db");
  CHECK(get("fieldSelector") == "spec.nodeName=node-a");
  CHECK(get("limit") == "2");
  CHECK(get("continue") == "abc+/=");
  CHECK(get("resourceVersion") == "<absent>");
}

// Serves a watch whose body is `lines` cut into `chunk`-byte pieces.
void ServeChunkedWatch(httplib::Server& s, const std::string& path, std::string body, size_t chunk,
                       std::atomic<int>* requests = nullptr) {
  s.Get(path, [body, chunk, requests](const httplib::Request&, httplib::Response& res) {
    if (requests) ++*requests;
    auto offset = std::make_shared<size_t>(0);
    res.set_chunked_content_provider("application/json",
                                     [body, chunk, offset](size_t, httplib::DataSink& sink) {
                                       if (*offset >= body.size()) {
                                         sink.done();
                                         return true;
                                       }
                                       size_t n = std::min(chunk, body.size() - *offset);
                                       sink.write(body.data() + *offset, n);
                                       *offset += n;
                                       return true;
                                     });
  });
}

std::string EventLine(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

TEST_CASE("watch splits JSON lines across chunk boundaries", "[kube]") {
  LocalServer srv;
  std::string body =
      EventLine("ADDED", PodJson("a", "10")) + EventLine("MODIFIED", PodJson("a", "11")) +
      EventLine("BOOKMARK", {{"kind", "Pod"}, {"metadata", {{"resourceVersion", "12"}}}}) +
      EventLine("DELETED", PodJson("a", "13"));
  size_t chunk = GENERATE(as<size_t>{}, 1, 7, 64, 100000);
  ServeChunkedWatch(srv.server(), "/api/v1/pods", body, chunk);
  srv.Start();
  auto client = MakeClient(srv.url());
  std::vector<std::pair<WatchEventType, std::string>> got;
  WatchOptions wo;
  wo.resource_version = "9";
  Status st = client->Watch(
      ResourceKind::kPods, wo,
      [&](WatchEvent&& ev) {
        got.emplace_back(ev.type, ev.object["metadata"]["resourceVersion"].get<std::string>());
        return true;
      },
      nullptr);
  CHECK(st.ok());
  REQUIRE(got.size() == 4);
  CHECK(got[0] == std::make_pair(WatchEventType::kAdded, std::string("10")));
  CHECK(got[1] == std::make_pair(WatchEventType::kModified, std::string("11")));
  CHECK(got[2] == std::make_pair(WatchEventType::kBookmark, std::string("12")));
  CHECK(got[3] == std::make_pair(WatchEventType::kDeleted, std::string("13")));
}

TEST_CASE("watch errors: in-stream 410, HTTP 410, malformed lines, handler stop", "[kube]") {
  LocalServer srv;
  ServeChunkedWatch(
      srv.server(), "/api/v1/nodes",
      EventLine("ADDED", {{"metadata", {{"name", "n1"}, {"resourceVersion", "5"}}}}) +
          EventLine("ERROR", KubeStatus(410, "Expired", "too old resource version: 1 (4)")),
      5);
  ServeChunkedWatch(srv.server(), "/apis/policy/v1/poddisruptionbudgets",
                    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n{\"type\": ADDED}\n", 8);
  srv.server().Get("/api/v1/pods", [](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("resourceVersion") == "1") {
      res.status = 410;
      res.set_content(KubeStatus(410, "Expired", "too old resource version: 1 (4)").dump(),
                      "application/json");
      return;
    }
    std::string body = EventLine("ADDED", PodJson("a", "10")) + EventLine("ADDED", PodJson("b"));
    res.set_content(body, "application/json");
  });
  srv.Start();
  auto client = MakeClient(srv.url());
  auto count = [](int* n) {
    return [n](WatchEvent&&) {
      ++*n;
      return true;
    };
  };

  int n = 0;
  Status st = client->Watch(ResourceKind::kNodes, {}, count(&n), nullptr);
  CHECK(n == 1);
  CHECK(st.code() == StatusCode::kFailedPrecondition);
  CHECK(st.http_code() == 410);
  CHECK(st.reason() == "Expired");

  WatchOptions old;
  old.resource_version = "1";
  n = 0;
  st = client->Watch(ResourceKind::kPods, old, count(&n), nullptr);
  CHECK(n == 0);
  CHECK(st.code() == StatusCode::kFailedPrecondition);
  CHECK(st.http_code() == 410);

  n = 0;
  st = client->Watch(ResourceKind::kPodDisruptionBudgets, {}, count(&n), nullptr);
  CHECK(n == 1);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(st.message(), Catch::Contains("malformed watch event"));

  n = 0;
  st = client->Watch(
      ResourceKind::kPods, {},
      [&](WatchEvent&&) {
        ++n;
        return false;
      },
      nullptr);
  CHECK(st.ok());
  CHECK(n == 1);
}

TEST_CASE("a stop flag ends an idle watch promptly", "[kube]") {
  LocalServer srv;
  std::atomic<bool> server_quit{false};
  srv.server().Get("/api/v1/nodes", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      // Idle: no events, until the client goes away.
      while (!server_quit && sink.is_writable()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return false;
    });
  });
  srv.Start();
  auto client = MakeClient(srv.url());
  std::atomic<bool> stop{false};
  std::atomic<bool> returned{false};
  Status result;
  std::thread watcher([&] {
    WatchOptions wo;
    wo.timeout_seconds = 300;
    result = client->Watch(
        ResourceKind::kNodes, wo, [](WatchEvent&&) { return true; }, &stop);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(returned);
  auto t0 = std::chrono::steady_clock::now();
  stop = true;
  bool ended =
      kb::testing::PollUntil([&] { return returned.load(); }, std::chrono::milliseconds(3000));
  server_quit = true;
  watcher.join();
  CHECK(ended);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  CHECK(result.code() == StatusCode::kCancelled);
}

TEST_CASE("bearer token from a file is re-read periodically and after a 401", "[kube]") {
  TempDir dir;
  std::string token_file = dir.Write("token", "token-1\n");
  LocalServer srv;
  std::mutex mu;
  std::string accepted = "token-1";
  std::vector<std::string> seen;
  int unauthorized = 0;
  srv.server().Get(R"(/api/v1/namespaces/default/pods/(\w+))", [&](const httplib::Request& req,
                                                                   httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    std::string auth = req.get_header_value("Authorization");
    seen.push_back(auth);
    if (auth != "Bearer " + accepted) {
      ++unauthorized;
      res.status = 401;
      res.set_content(KubeStatus(401, "Unauthorized", "Unauthorized").dump(), "application/json");
      return;
    }
    res.set_content(PodJson("p").dump(), "application/json");
  });
  srv.Start();

  std::ostringstream logs;
  SetLogOutputForTest(&logs);
  FakeClock clock;
  KubeConfig cfg;
  cfg.server = srv.url();
  cfg.token_file = token_file;
  auto created = HttpKubeClient::Create(cfg, FastOptions(), clock);
  REQUIRE(created.ok());
  auto& client = *created;

  REQUIRE(client->GetPod("default", "p").ok());
  CHECK(client->Stats().token_reloads == 1);

  SECTION("rotation noticed after a 401") {
    dir.Write("token", "token-2");
    {
      std::lock_guard<std::mutex> lock(mu);
      accepted = "token-2";
    }
    REQUIRE(client->GetPod("default", "p").ok());
    std::lock_guard<std::mutex> lock(mu);
    CHECK(unauthorized == 1);
    CHECK(seen.back() == "Bearer token-2");
  }
  SECTION("rotation picked up after the refresh period without a 401") {
    dir.Write("token", "token-3");
    {
      std::lock_guard<std::mutex> lock(mu);
      accepted = "token-3";
    }
    clock.Advance(std::chrono::seconds(61));
    REQUIRE(client->GetPod("default", "p").ok());
    std::lock_guard<std::mutex> lock(mu);
    CHECK(unauthorized == 0);
    CHECK(seen.back() == "Bearer token-3");
  }
  SECTION("a wrong token stays 401 after one re-read") {
    {
      std::lock_guard<std::mutex> lock(mu);
      accepted = "something-else";
    }
    Status st = client->GetPod("default", "p").status();
    CHECK(st.code() == StatusCode::kPermissionDenied);
    CHECK(st.http_code() == 401);
    std::lock_guard<std::mutex> lock(mu);
    CHECK(unauthorized == 2);
  }
  SetLogOutputForTest(nullptr);
  CHECK(logs.str().find("token-") == std::string::npos);
}

TEST_CASE("token bucket allows a burst, then qps", "[kube]") {
  FakeClock clock;
  TokenBucket bucket(5, 2, clock);
  CHECK(bucket.Reserve().count() == 0);
  CHECK(bucket.Reserve().count() == 0);
  CHECK(bucket.Reserve() == std::chrono::milliseconds(200));
  CHECK(bucket.Reserve() == std::chrono::milliseconds(400));
  clock.Advance(std::chrono::seconds(10));  // refills to the burst, not beyond
  CHECK(bucket.Reserve().count() == 0);
  CHECK(bucket.Reserve().count() == 0);
  CHECK(bucket.Reserve() == std::chrono::milliseconds(200));
  TokenBucket unlimited(0, 1, clock);
  for (int i = 0; i < 100; ++i) CHECK(unlimited.Reserve().count() == 0);
}

TEST_CASE("client requests are paced by qps and burst", "[kube]") {
  LocalServer srv;
  srv.server().Get(R"(/api/v1/namespaces/default/pods/(\w+))",
                   [](const httplib::Request&, httplib::Response& res) {
                     res.set_content(PodJson("p").dump(), "application/json");
                   });
  srv.Start();
  FakeClock clock;
  std::chrono::nanoseconds slept{0};
  auto opts = FastOptions();
  opts.qps = 5;
  opts.burst = 2;
  opts.sleep = [&](std::chrono::nanoseconds d) {
    slept += d;
    clock.Advance(d);
  };
  auto client = MakeClient(srv.url(), opts, clock);
  for (int i = 0; i < 10; ++i) REQUIRE(client->GetPod("default", "p").ok());
  // 2 immediate, then one every 200 ms: 8 waits.
  CHECK(client->Stats().throttled == 8);
  CHECK(slept >= std::chrono::milliseconds(1599));
  CHECK(slept <= std::chrono::milliseconds(1601));
}

TEST_CASE("client rejects bad settings at creation", "[kube]") {
  KubeConfig cfg;
  cfg.server = "ftp://x";
  CHECK(HttpKubeClient::Create(cfg).status().code() == StatusCode::kInvalidArgument);
  cfg.server = "https://127.0.0.1:6443";
  cfg.ca_data = "not a pem";
  auto bad_ca = HttpKubeClient::Create(cfg);
  CHECK(bad_ca.status().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(bad_ca.status().message(), Catch::Contains("certificate-authority-data"));
  cfg.ca_data.clear();
  cfg.token_file = "/does/not/exist/token";
  CHECK(HttpKubeClient::Create(cfg).status().code() == StatusCode::kNotFound);
  cfg.token_file.clear();
  cfg.client_cert_data = "x";
  CHECK(HttpKubeClient::Create(cfg).status().code() == StatusCode::kInvalidArgument);
  cfg.server = "http://[::1";
  cfg.client_cert_data.clear();
  CHECK(HttpKubeClient::Create(cfg).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("request bodies: binding, eviction, delete preconditions, merge patch", "[kube]") {
  LocalServer srv;
  std::mutex mu;
  std::map<std::string, std::pair<std::string, json>> seen;  // path -> (content type, body)
  auto record = [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    json body = req.body.empty() ? json() : json::parse(req.body);
    seen[req.method + " " + req.path] = {req.get_header_value("Content-Type"), body};
    res.status = req.method == "POST" ? 201 : 200;
    if (req.path.find("deployments") != std::string::npos) {
      res.set_content(json{{"metadata", {{"name", "web"}, {"namespace", "default"}}}}.dump(),
                      "application/json");
    } else {
      res.set_content(json{{"kind", "Status"}, {"status", "Success"}}.dump(), "application/json");
    }
  };
  srv.server().Post(R"(/api/v1/namespaces/default/pods/web-1/(binding|eviction))", record);
  srv.server().Delete(R"(/api/v1/namespaces/default/pods/web-1)", record);
  srv.server().Patch(R"(/apis/apps/v1/namespaces/default/deployments/web)", record);
  srv.Start();
  auto client = MakeClient(srv.url());

  REQUIRE(client->BindPod("default", "web-1", "u-1", "node-a").ok());
  EvictOptions eo;
  eo.grace_period_seconds = 30;
  eo.uid_precondition = "u-1";
  eo.dry_run = true;
  REQUIRE(client->EvictPod("default", "web-1", eo).ok());
  REQUIRE(client->DeletePod("default", "web-1", "u-1").ok());
  json patch = {{"spec", {{"template", {{"metadata", {{"annotations", {{"a", "b"}}}}}}}}}};
  REQUIRE(client->PatchDeployment("default", "web", patch).ok());

  std::lock_guard<std::mutex> lock(mu);
  json binding = seen["POST /api/v1/namespaces/default/pods/web-1/binding"].second;
  CHECK(binding["kind"] == "Binding");
  CHECK(binding["metadata"]["uid"] == "u-1");
  CHECK(binding["target"]["name"] == "node-a");
  json eviction = seen["POST /api/v1/namespaces/default/pods/web-1/eviction"].second;
  CHECK(eviction["apiVersion"] == "policy/v1");
  CHECK(eviction["deleteOptions"]["gracePeriodSeconds"] == 30);
  CHECK(eviction["deleteOptions"]["preconditions"]["uid"] == "u-1");
  json del = seen["DELETE /api/v1/namespaces/default/pods/web-1"].second;
  CHECK(del["preconditions"]["uid"] == "u-1");
  auto p = seen["PATCH /apis/apps/v1/namespaces/default/deployments/web"];
  CHECK(p.first == "application/merge-patch+json");
  CHECK(p.second == patch);
}

}  // namespace
}  // namespace kb::kube
