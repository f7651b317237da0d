// kube-sim's server-side failure modes for clients: the exact 504 ResourceVersionTooLarge
// answer, an etcd backup restored (resourceVersions go backwards), the idle keep-alive close
// racing a request, and an outage (Disconnect / Reconnect).
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::MakeNode;
using testing::MakePod;
using testing::Sim;
using json = nlohmann::json;

TEST_CASE("a list or watch from a future resourceVersion is 504 ResourceVersionTooLarge", "[sim]") {
  Sim sim;
  const uint64_t current = std::stoull(sim.server().CurrentResourceVersion());
  const std::string future = std::to_string(current + 7);
  const json expected = {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", json::object()},
                         {"status", "Failure"},
                         {"message", "Timeout: Too large resource version: " + future +
                                         ", current: " + std::to_string(current)},
                         {"reason", "Timeout"},
                         {"details",
                          {{"causes", json::array({{{"reason", "ResourceVersionTooLarge"},
                                                    {"message", "Too large resource version"}}})},
                           {"retryAfterSeconds", 1}}},
                         {"code", 504}};
  auto list = sim.Get("/api/v1/pods?resourceVersion=" + future);
  CHECK(list.status == 504);
  CHECK(list.body == expected);
  ApiServerOptions http_mode = testing::FastOptions();
  http_mode.expired_watch_mode = ExpiredWatchMode::kHttp410;
  Sim sim2(http_mode);
  const std::string future2 =
      std::to_string(std::stoull(sim2.server().CurrentResourceVersion()) + 7);
  auto watch = sim2.Get("/api/v1/pods?watch=1&resourceVersion=" + future2);
  CHECK(watch.status == 504);
  CHECK(watch.body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge");
  // The default mode answers 200 and the same Status as an ERROR event.
  auto event = sim.Get("/api/v1/pods?watch=1&resourceVersion=" + future);
  CHECK(event.status == 200);
  const json line = json::parse(event.raw.substr(0, event.raw.find('\n')));
  CHECK(line["type"] == "ERROR");
  CHECK(line["object"]["code"] == 504);
  CHECK(line["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge");
}

TEST_CASE("restoring a backup moves resourceVersions and objects back", "[sim]") {
  Sim sim;
  REQUIRE(sim.Post("/api/v1/nodes", MakeNode("n1")).status == 201);
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("kept")).status == 201);
  sim.server().SaveBackup();
  const uint64_t backup_rv = std::stoull(sim.server().CurrentResourceVersion());
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("lost")).status == 201);
  REQUIRE(sim.Delete("/api/v1/namespaces/default/pods/kept").status == 200);
  const uint64_t before_restore = std::stoull(sim.server().CurrentResourceVersion());
  REQUIRE(sim.server().RestoreBackup().ok());
  CHECK(std::stoull(sim.server().CurrentResourceVersion()) == backup_rv);
  CHECK(sim.Get("/api/v1/namespaces/default/pods/kept").status == 200);
  CHECK(sim.Get("/api/v1/namespaces/default/pods/lost").status == 404);
  // New writes reuse resourceVersions the clients have already seen.
  auto created = sim.Post("/api/v1/namespaces/default/pods", MakePod("after"));
  REQUIRE(created.status == 201);
  CHECK(std::stoull(created.body["metadata"]["resourceVersion"].get<std::string>()) <=
        before_restore);
  // A watch resuming from before the restore is refused as too old; from after it, too large.
  auto old = sim.Get("/api/v1/pods?watch=1&resourceVersion=1");
  CHECK(old.raw.find("\"code\":410") != std::string::npos);
  auto ahead =
      sim.Get("/api/v1/pods?watch=1&resourceVersion=" + std::to_string(before_restore + 1));
  CHECK(ahead.raw.find("ResourceVersionTooLarge") != std::string::npos);
  ApiServer fresh;
  CHECK(fresh.RestoreBackup().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("idle_close_after drops a request on an idle keep-alive connection unanswered", "[sim]") {
  ApiServerOptions o = testing::FastOptions();
  o.idle_close_after = std::chrono::milliseconds(300);
  o.keep_alive_timeout = std::chrono::seconds(5);
  Sim sim(o);
  auto client = sim.NewClient();
  client->set_keep_alive(true);
  auto first = client->Get("/api/v1/nodes");
  REQUIRE(first);
  CHECK(first->status == 200);
  auto quick = client->Get("/api/v1/nodes");  // same connection, not idle for long
  REQUIRE(quick);
  CHECK(quick->status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  auto late = client->Get("/api/v1/nodes");
  CHECK_FALSE(late);                                       // the connection ended before any answer
  CHECK(sim.server().Counts().Get("list", "nodes") == 2);  // the dropped request was not served
  auto fresh = client->Get("/api/v1/nodes");               // a new connection works
  REQUIRE(fresh);
  CHECK(fresh->status == 200);
}

TEST_CASE("Disconnect refuses connections and Reconnect serves the same state again", "[sim]") {
  Sim sim;
  REQUIRE(sim.Post("/api/v1/nodes", MakeNode("n1")).status == 201);
  CHECK(sim.server().Connected());
  sim.server().Disconnect();
  CHECK_FALSE(sim.server().Connected());
  auto client = sim.NewClient();
  CHECK_FALSE(client->Get("/api/v1/nodes"));
  // The cluster keeps changing while unreachable (direct access, as its controllers do).
  auto created = sim.server().CreateObject("nodes", "", MakeNode("n2"));
  REQUIRE(created.ok());
  REQUIRE(sim.server().Reconnect().ok());
  CHECK(sim.server().Connected());
  auto nodes = client->Get("/api/v1/nodes");
  REQUIRE(nodes);
  CHECK(json::parse(nodes->body)["items"].size() == 2);
}

}  // namespace
}  // namespace kb::sim
