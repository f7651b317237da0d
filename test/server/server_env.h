// ServerEnv: a started ExtenderServer over a small fixed cluster, shared by the test/server
// suites that talk HTTP to it.
#pragma once

#include <httplib.h>
#include <prometheus/registry.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "server/extender.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "test/fakes/fake_kube_client.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace kb::server {

using kb::testing::NodeBuilder;
using kb::testing::PodBuilder;

inline std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(KB_SOURCE_DIR) + "/test/testdata/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A server over the three nodes of the captured payloads (node-0000..2, node-0001 hot)
// and the pending pod default/pod-00000.
struct ServerEnv {
  // `kube`: the API the extender binds through (nullptr = the FakeKubeClient member).
  explicit ServerEnv(ServerOptions options = {}, kube::KubeClient* kube_client = nullptr)
      : metrics(registry) {
    const Pod pod = PodBuilder("default", "pod-00000")
                        .Uid("uid-default-pod-00000")
                        .Cpu("100m")
                        .Memory("128Mi")
                        .Build();
    load.SetCluster({NodeBuilder("node-0000").Build(), NodeBuilder("node-0001").Build(),
                     NodeBuilder("node-0002").Build()},
                    {pod});
    load.SetUsage({{"node-0000", {20, 30}}, {"node-0001", {95, 30}}, {"node-0002", {50, 50}}});
    kube.Put("pods", PodBuilder("default", "pod-00000")
                         .Uid("uid-default-pod-00000")
                         .Cpu("100m")
                         .Memory("128Mi")
                         .Json());
    extender = std::make_unique<Extender>(
        load.model(), kube_client != nullptr ? *kube_client : kube,
        scoring::PolicyConfig::From(Config{}), metrics, nullptr, [this] { return load.Cache(); });
    server = std::make_unique<ExtenderServer>(*extender, registry, metrics, std::move(options),
                                              [this] { return ready.load(); });
  }
  void Start() {
    Status s = server->Start();
    INFO(s.ToString());
    REQUIRE(s.ok());
    REQUIRE(server->port() > 0);
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server->port());
    c.set_keep_alive(true);   // as kube-scheduler's Go client
    c.set_tcp_nodelay(true);  // Go sets TCP_NODELAY on every connection
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    return c;
  }

  prometheus::Registry registry;
  ExtenderMetrics metrics;
  kb::testing::LoadFixture load;
  kb::testing::FakeKubeClient kube;
  std::unique_ptr<Extender> extender;
  std::atomic<bool> ready{true};
  std::unique_ptr<ExtenderServer> server;
};

}  // namespace kb::server
