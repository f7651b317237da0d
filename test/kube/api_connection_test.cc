// HttpKubeClient's keep-alive pool against a server that closes idle connections: kube-sim with
// idle_close_after drops a request arriving on a connection idle longer than that, unanswered
// (the server's idle close crossing the request on the wire). Binds, evictions and creates after
// an idle period must all succeed: the client closes its own idle connections first, and a call
// that met an already-closed connection is repeated once on a fresh one.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "kube/http_kube_client.h"
#include "sim/api_server.h"
#include "test/testing/builders.h"

namespace kb::kube {
namespace {

using kb::sim::ApiServer;
using kb::sim::ApiServerOptions;
using kb::testing::NodeBuilder;
using kb::testing::PodBuilder;
using nlohmann::json;

constexpr std::chrono::milliseconds kServerIdleClose{600};

json Fresh(json obj) {
  obj["metadata"].erase("uid");
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("creationTimestamp");
  return obj;
}

std::unique_ptr<ApiServer> StartIdleClosingSim() {
  ApiServerOptions o;
  o.run_controllers = false;
  o.idle_close_after = kServerIdleClose;
  o.keep_alive_timeout = std::chrono::seconds(10);  // httplib's own, visible close comes later
  auto sim = std::make_unique<ApiServer>(o);
  REQUIRE(sim->Start().ok());
  REQUIRE(sim->CreateObject("nodes", "", Fresh(NodeBuilder("n1").Json())).ok());
  for (int i = 0; i < 12; ++i) {
    const std::string name = "p" + std::to_string(i);
    REQUIRE(sim->CreateObject("pods", "default", Fresh(PodBuilder(name).Json())).ok());
  }
  return sim;
}

std::unique_ptr<HttpKubeClient> Client(const ApiServer& sim,
                                       std::chrono::milliseconds idle_timeout) {
  KubeConfig cfg;
  cfg.server = sim.url();
  cfg.token = sim.token();
  HttpKubeClientOptions opts;
  opts.qps = 0;
  opts.idle_connection_timeout = idle_timeout;
  auto c = HttpKubeClient::Create(cfg, opts);
  REQUIRE(c.ok());
  return std::move(c).value();
}

// Opens `n` pooled connections at once (concurrent reads), so the idle pool holds several.
void WarmPool(HttpKubeClient& client, int n) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back(
        [&client, i] { CHECK(client.GetPod("default", "p" + std::to_string(i)).ok()); });
  }
  for (auto& t : threads) t.join();
}

TEST_CASE("a POST on a connection the server closed while idle is retried on a new one",
          "[kube][sim]") {
  auto sim = StartIdleClosingSim();
  // The client keeps connections longer than the server does: every pooled one goes stale.
  auto client = Client(*sim, std::chrono::seconds(30));
  WarmPool(*client, 4);
  std::this_thread::sleep_for(kServerIdleClose * 2);
  for (int i = 0; i < 6; ++i) {
    Status st = client->BindPod("default", "p" + std::to_string(i), "", "n1");
    INFO(i << ": " << st.ToString());
    CHECK(st.ok());
  }
  std::this_thread::sleep_for(kServerIdleClose * 2);
  for (int i = 6; i < 9; ++i) {
    Status st = client->EvictPod("default", "p" + std::to_string(i), {});
    INFO(i << ": " << st.ToString());
    CHECK(st.ok());
  }
  std::this_thread::sleep_for(kServerIdleClose * 2);
  auto created = client->CreatePod("default", Fresh(PodBuilder("new-pod").Json()));
  INFO(created.status().ToString());
  CHECK(created.ok());
  const HttpKubeClientStats stats = client->Stats();
  CHECK(stats.stale_connection_retries >= 3);  // at least one per idle period
  CHECK(stats.idle_connections_closed == 0);
  // Each retried call was served exactly once.
  CHECK(sim->Counts().Get("create", "pods/binding") == 6);
  CHECK(sim->Counts().Get("create", "pods/eviction") == 3);
  CHECK(sim->Counts().Get("create", "pods") == 1);
}

TEST_CASE("pooled connections idle longer than idleConnectionTimeout are not reused",
          "[kube][sim]") {
  auto sim = StartIdleClosingSim();
  auto client = Client(*sim, kServerIdleClose / 3);
  WarmPool(*client, 4);
  std::this_thread::sleep_for(kServerIdleClose * 2);
  for (int i = 0; i < 6; ++i) {
    Status st = client->BindPod("default", "p" + std::to_string(i), "", "n1");
    INFO(i << ": " << st.ToString());
    CHECK(st.ok());
  }
  const HttpKubeClientStats stats = client->Stats();
  CHECK(stats.stale_connection_retries == 0);  // no request ever met a server-closed connection
  CHECK(stats.idle_connections_closed >= 1);
}

}  // namespace
}  // namespace kb::kube
