// The kube-sim binary: loads a scenario, writes its port file, serves with bearer auth, exits
// cleanly on SIGTERM, and goes off the network on SIGUSR1 and back on SIGUSR2.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test/sim/sim_test_util.h"

extern char** environ;

namespace kb::sim {
namespace {

TEST_CASE("kube-sim binary serves a scenario and stops on SIGTERM", "[sim]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kube-sim-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string port_file = (dir / "port").string();
  const std::string scenario = std::string(KB_SOURCE_DIR) + "/sim/scenarios/basic.yaml";
  std::vector<std::string> args = {
      KB_KUBE_SIM_PATH, "--listen",    "127.0.0.1:0", "--token", "secret",
      "--scenario",     scenario,      "--port-file", port_file, "--pod-ready-delay",
      "10ms",           "--log-level", "warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);

  int port = 0;
  bool up = kb::testing::PollUntil(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> port) && port > 0;
      },
      std::chrono::milliseconds(5000));
  if (!up) kill(pid, SIGKILL);
  REQUIRE(up);
  {
    httplib::Client client("127.0.0.1", port);
    client.set_bearer_token_auth("secret");
    auto nodes = client.Get("/api/v1/nodes");
    REQUIRE(nodes);
    CHECK(nodes->status == 200);
    CHECK(nlohmann::json::parse(nodes->body)["items"].size() == 3);
    // The bare pod bound in the scenario is started by the kubelet stand-in.
    CHECK(kb::testing::PollUntil(
        [&] {
          auto pod = client.Get("/api/v1/namespaces/default/pods/solo");
          return pod && pod->status == 200 &&
                 nlohmann::json::parse(pod->body)["status"]["phase"] == "Running";
        },
        testing::kWaitTimeout));
    httplib::Client anonymous("127.0.0.1", port);
    auto denied = anonymous.Get("/api/v1/nodes");
    REQUIRE(denied);
    CHECK(denied->status == 401);
  }
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = -1;
  bool exited = kb::testing::PollUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                                       std::chrono::milliseconds(5000));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  fs::remove_all(dir);
}

TEST_CASE("kube-sim binary drops connectivity on SIGUSR1 and restores it on SIGUSR2", "[sim]") {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("kube-sim-outage-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string port_file = (dir / "port").string();
  const std::string scenario = std::string(KB_SOURCE_DIR) + "/sim/scenarios/basic.yaml";
  std::vector<std::string> args = {KB_KUBE_SIM_PATH, "--token",     "secret",
                                   "--scenario",     scenario,      "--port-file",
                                   port_file,        "--log-level", "warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
  int port = 0;
  const bool up = kb::testing::PollUntil(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> port) && port > 0;
      },
      std::chrono::milliseconds(5000));
  if (!up) kill(pid, SIGKILL);
  REQUIRE(up);
  auto nodes_status = [&] {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1);
    client.set_bearer_token_auth("secret");
    auto r = client.Get("/api/v1/nodes");
    return r ? r->status : 0;
  };
  CHECK(nodes_status() == 200);
  REQUIRE(kill(pid, SIGUSR1) == 0);
  CHECK(kb::testing::PollUntil([&] { return nodes_status() == 0; }, testing::kWaitTimeout));
  REQUIRE(kill(pid, SIGUSR2) == 0);
  CHECK(kb::testing::PollUntil([&] { return nodes_status() == 200; }, testing::kWaitTimeout));
  // The state survived the outage: the scenario's three nodes are still there.
  {
    httplib::Client client("127.0.0.1", port);
    client.set_bearer_token_auth("secret");
    auto nodes = client.Get("/api/v1/nodes");
    REQUIRE(nodes);
    CHECK(nlohmann::json::parse(nodes->body)["items"].size() == 3);
  }
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = -1;
  const bool exited = kb::testing::PollUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                                             std::chrono::milliseconds(5000));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK(exited);
  CHECK(WIFEXITED(status));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kb::sim
