// kube/api_calls.h: the table's own consistency, FindApiCall, and that every request the real
// HttpKubeClient sends (recorded by a loopback HTTP server) matches a row and every row is sent.

#include "kube/api_calls.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kube/http_kube_client.h"
#include "kube/kube_config.h"

namespace kb::kube {
namespace {

std::string Describe(const ApiCall& c) {
  return std::string(c.http_method) + " " + std::string(c.path) + " (" + std::string(c.verb) + " " +
         std::string(c.group) + "/" + std::string(c.resource) + ")";
}

TEST_CASE("api call table rows are consistent", "[deploy]") {
  const std::set<std::string> verbs = {"get",    "list",  "watch", "create",
                                       "update", "patch", "delete"};
  std::set<std::pair<std::string, std::string>> seen;
  for (const ApiCall& c : kApiCalls) {
    INFO(Describe(c));
    CHECK(verbs.count(std::string(c.verb)) == 1);
    CHECK(seen.emplace(std::string(c.http_method), std::string(c.path)).second);
    CHECK(!c.resource.empty());
    CHECK(!c.client_method.empty());
    CHECK(!c.used_by.empty());
    const bool watch_path = c.path.find("?watch=1") != std::string_view::npos;
    if (c.http_method == "GET") {
      const bool named = c.path.substr(0, c.path.find('?')).ends_with("{name}");
      CHECK(c.verb == (watch_path ? "watch" : named ? "get" : "list"));
    } else {
      CHECK_FALSE(watch_path);
      const std::string want = c.http_method == "POST"    ? "create"
                               : c.http_method == "PUT"   ? "update"
                               : c.http_method == "PATCH" ? "patch"
                                                          : "delete";
      CHECK(c.verb == want);
    }
    // Subresources are only ever created (binding, eviction).
    if (c.resource.find('/') != std::string_view::npos) CHECK(c.verb == "create");
    // RBAC cannot limit create / list / watch by name.
    if (!c.resource_name_key.empty()) {
      CHECK((c.verb == "get" || c.verb == "update" || c.verb == "patch" || c.verb == "delete"));
      CHECK(!c.namespace_key.empty());
    }
    if (!c.namespace_key.empty()) CHECK(c.namespaced);
    // The path says where the group lives.
    const std::string prefix = c.group.empty() ? "/api/v1/" : "/apis/" + std::string(c.group) + "/";
    CHECK(c.path.starts_with(prefix));
    if (c.path.find("{ns}") != std::string_view::npos) CHECK(c.namespaced);
    if (c.resource == "nodes") CHECK_FALSE(c.namespaced);
  }
}

TEST_CASE("FindApiCall maps wire requests to rows", "[deploy]") {
  auto verb_of = [](std::string_view method, std::string_view target) -> std::string {
    const ApiCall* c = FindApiCall(method, target);
    return c == nullptr ? "<none>"
                        : std::string(c->verb) + " " + std::string(c->group) + "/" +
                              std::string(c->resource);
  };
  CHECK(verb_of("GET", "/api/v1/nodes") == "list /nodes");
  CHECK(verb_of("GET", "/api/v1/nodes?limit=500&continue=abc") == "list /nodes");
  CHECK(verb_of("GET", "/api/v1/nodes?watch=1&resourceVersion=7&allowWatchBookmarks=true") ==
        "watch /nodes");
  CHECK(verb_of("GET", "/api/v1/pods?resourceVersion=1&watch=true") == "watch /pods");
  CHECK(verb_of("GET", "/apis/policy/v1/poddisruptionbudgets?limit=500") ==
        "list policy/poddisruptionbudgets");
  CHECK(verb_of("GET", "/api/v1/namespaces/default/pods/web-1") == "get /pods");
  CHECK(verb_of("DELETE", "/api/v1/namespaces/default/pods/web-1") == "delete /pods");
  CHECK(verb_of("POST", "/api/v1/namespaces/default/pods") == "create /pods");
  CHECK(verb_of("POST", "/api/v1/namespaces/default/pods/web-1/binding") == "create /pods/binding");
  CHECK(verb_of("POST", "/api/v1/namespaces/default/pods/web-1/eviction?dryRun=All") ==
        "create /pods/eviction");
  CHECK(verb_of("PATCH", "/apis/apps/v1/namespaces/a/deployments/web") == "patch apps/deployments");
  CHECK(verb_of("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kb") ==
        "update coordination.k8s.io/leases");
  CHECK(verb_of("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases") ==
        "create coordination.k8s.io/leases");
  // Requests kube-balancer never makes.
  CHECK(verb_of("GET", "/api/v1/namespaces/default/pods") == "<none>");  // namespaced list
  CHECK(verb_of("DELETE", "/api/v1/nodes/node-a") == "<none>");
  CHECK(verb_of("GET", "/api/v1/nodes/node-a") == "<none>");
  CHECK(verb_of("PUT", "/api/v1/namespaces/default/pods/web-1") == "<none>");
  CHECK(verb_of("GET", "/api/v1/namespaces/default/pods?watch=1") == "<none>");
  CHECK(verb_of("POST", "/api/v1/namespaces/default/bindings") == "<none>");
  CHECK(verb_of("POST", "/apis/events.k8s.io/v1/namespaces/default/events") == "<none>");
  CHECK(verb_of("GET", "/api/v1/namespaces//pods/x") == "<none>");  // empty segment
  CHECK(verb_of("GET", "/api/v1/namespaces/default/pods/web-1/extra") == "<none>");
  CHECK(verb_of("GET", "") == "<none>");
}

// A loopback API server that records every request and answers 404 with a Kubernetes Status.
class RecordingServer {
 public:
  RecordingServer() {
    auto record = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.emplace_back(req.method, req.target);
      }
      res.status = 404;
      res.set_content(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                      R"("message":"not found","reason":"NotFound","code":404})",
                      "application/json");
    };
    server_.Get(".*", record);
    server_.Post(".*", record);
    server_.Put(".*", record);
    server_.Patch(".*", record);
    server_.Delete(".*", record);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket already listens (bind_to_any_port); wait, bounded, for the accept loop.
    for (int i = 0; i < 500 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~RecordingServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> requests_;
};

TEST_CASE("every request HttpKubeClient sends is in the api call table, and vice versa",
          "[deploy]") {
  RecordingServer server;
  REQUIRE(server.port() > 0);
  KubeConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(server.port());
  HttpKubeClientOptions options;
  options.max_retries = 0;
  options.timeout = std::chrono::seconds(5);
  options.connect_timeout = std::chrono::seconds(5);
  options.qps = 0;  // unlimited: no throttling waits
  auto client_or = HttpKubeClient::Create(config, options);
  REQUIRE(client_or.ok());
  HttpKubeClient& client = **client_or;

  // One call of every KubeClient method (results are 404 errors; only the requests matter).
  // Adding a KubeClient method means adding it here and its row to kube/api_calls.h.
  for (const ResourceKindInfo& info : kResourceKinds) {
    const ResourceKind kind = info.kind;
    CHECK_FALSE(client.List(kind, ListOptions{}).ok());
    WatchOptions watch;
    watch.resource_version = "1";
    watch.timeout_seconds = 1;
    std::atomic<bool> stop{false};
    CHECK_FALSE(client
                    .Watch(
                        kind, watch, [](WatchEvent&&) { return false; }, &stop)
                    .ok());
  }
  CHECK_FALSE(client.GetPod("default", "web-1").ok());
  CHECK_FALSE(client
                  .CreatePod("default", nlohmann::json{{"apiVersion", "v1"},
                                                       {"kind", "Pod"},
                                                       {"metadata", {{"name", "web-1-copy"}}}})
                  .ok());
  CHECK_FALSE(client.DeletePod("default", "web-1").ok());
  CHECK_FALSE(client.DeletePod("default", "web-1", "uid-1").ok());
  CHECK_FALSE(client.BindPod("default", "web-1", "uid-1", "node-a").ok());
  CHECK_FALSE(client.EvictPod("default", "web-1", EvictOptions{}).ok());
  EvictOptions dry_run;
  dry_run.dry_run = true;
  dry_run.uid_precondition = "uid-1";
  CHECK_FALSE(client.EvictPod("default", "web-1", dry_run).ok());
  CHECK_FALSE(client.GetDeployment("default", "web").ok());
  CHECK_FALSE(client.GetReplicaSet("default", "web-abc").ok());
  CHECK_FALSE(client.PatchDeployment("default", "web", nlohmann::json::object()).ok());
  CHECK_FALSE(client.CreateEvent("default", nlohmann::json{{"kind", "Event"}}).ok());
  Lease lease;
  lease.meta.name = "kube-balancer";
  lease.meta.namespace_ = "kube-system";
  lease.meta.resource_version = "5";
  lease.holder_identity = "me";
  lease.lease_duration_seconds = 15;
  CHECK_FALSE(client.GetLease("kube-system", "kube-balancer").ok());
  CHECK_FALSE(client.CreateLease(lease).ok());
  CHECK_FALSE(client.UpdateLease(lease).ok());
  CHECK_FALSE(client.GetRaw("/apis/metrics.k8s.io/v1beta1/nodes").ok());
  CHECK_FALSE(client.GetRaw("/apis/metrics.k8s.io/v1beta1/pods").ok());
  const nlohmann::json config_map = {{"apiVersion", "v1"},
                                     {"kind", "ConfigMap"},
                                     {"metadata",
                                      {{"name", "kube-balancer-steering"},
                                       {"namespace", "kube-system"},
                                       {"resourceVersion", "3"}}}};
  CHECK_FALSE(client.GetConfigMap("kube-system", "kube-balancer-steering").ok());
  CHECK_FALSE(client.CreateConfigMap("kube-system", config_map).ok());
  CHECK_FALSE(client.UpdateConfigMap("kube-system", config_map).ok());

  const auto requests = server.requests();
  REQUIRE(requests.size() >= 20);
  std::set<const ApiCall*> hit;
  for (const auto& [method, target] : requests) {
    INFO(method << " " << target);
    const ApiCall* call = FindApiCall(method, target);
    CHECK(call != nullptr);  // a request kube/api_calls.h (and so the RBAC) does not know
    if (call != nullptr) hit.insert(call);
  }
  for (const ApiCall& c : kApiCalls) {
    INFO("table row never sent by HttpKubeClient: " << Describe(c));
    CHECK(hit.count(&c) == 1);
  }
}

}  // namespace
}  // namespace kb::kube
