// The two listeners: the verbs and /debug/* on `listen`, /metrics /healthz /readyz on
// `metricsListen`, neither serving the other's paths; an address already in use is an error
// naming it (no SO_REUSEPORT sharing), in process and as kube-balancer's exit code.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test/server/raw_http.h"
#include "test/server/server_env.h"

namespace kb::server {
namespace {

// A loopback listening socket on a free port, with SO_REUSEPORT set as cpp-httplib's default
// options (and so an older kube-balancer) set it: a second bind succeeds only if it sets
// SO_REUSEPORT too.
struct PortHolder {
  int fd = -1;
  int port = 0;
  PortHolder() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~PortHolder() { ::close(fd); }
};

TEST_CASE("the verbs and the probes are split between listen and metricsListen", "[http][listen]") {
  ServerOptions options;
  options.metrics_listener = true;
  ServerEnv env(options);
  env.server->AddGetRoute("/debug/plan", [] { return std::string("{}"); });
  env.Start();
  REQUIRE(env.server->metrics_port() > 0);
  REQUIRE(env.server->metrics_port() != env.server->port());
  httplib::Client verbs = env.Client();
  httplib::Client probes("127.0.0.1", env.server->metrics_port());
  const std::string filter = ReadTestdata("filter-names.request.json");

  auto res = verbs.Post("/filter", filter, "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  for (const char* path : {"/debug/plan", "/debug/scores?namespace=default&name=pod-00000"}) {
    INFO(path);
    res = verbs.Get(path);
    REQUIRE(res);
    CHECK(res->status == 200);
    res = probes.Get(path);
    REQUIRE(res);
    CHECK(res->status == 404);
  }
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
    INFO(path);
    res = probes.Get(path);
    REQUIRE(res);
    CHECK(res->status == 200);
    res = verbs.Get(path);
    REQUIRE(res);
    CHECK(res->status == 404);
  }
  for (const char* verb : {"/filter", "/prioritize", "/bind"}) {
    INFO(verb);
    res = probes.Post(verb, filter, "application/json");
    REQUIRE(res);
    CHECK(res->status == 404);
  }
  CHECK(env.server->metrics_url() ==
        "http://127.0.0.1:" + std::to_string(env.server->metrics_port()));
}

TEST_CASE("an address in use fails Start naming it, for either listener", "[http][listen]") {
  PortHolder holder;
  {
    ServerOptions options;
    options.port = holder.port;
    ServerEnv env(options);
    const Status s = env.server->Start();
    CHECK(s.code() == StatusCode::kUnavailable);
    CHECK_THAT(s.message(), Catch::Matchers::Contains("127.0.0.1:" + std::to_string(holder.port)));
  }
  {
    ServerOptions options;
    options.metrics_listener = true;
    options.metrics_port = holder.port;
    ServerEnv env(options);
    const Status s = env.server->Start();
    CHECK(s.code() == StatusCode::kUnavailable);
    CHECK_THAT(s.message(), Catch::Matchers::Contains("127.0.0.1:" + std::to_string(holder.port)));
  }
  {
    // Two servers on one port: the second fails instead of sharing the traffic.
    ServerEnv first;
    first.Start();
    ServerOptions options;
    options.port = first.server->port();
    ServerEnv second(options);
    CHECK(second.server->Start().code() == StatusCode::kUnavailable);
  }
}

// Runs kube-balancer with `config` (and a kubeconfig for an API server that is not there); its
// exit code and output.
std::pair<int, std::string> RunKubeBalancer(const std::string& config) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kb-listen-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.yaml") << config;
  std::ofstream(dir / "kubeconfig") << R"(apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)";
  const std::string cmd = "timeout 30 " + std::string(KB_BINARY_DIR) +
                          "/server/kube-balancer --config " + (dir / "config.yaml").string() +
                          " --kubeconfig " + (dir / "kubeconfig").string() + " > " +
                          (dir / "out.log").string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::stringstream out;
  out << std::ifstream(dir / "out.log").rdbuf();
  fs::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out.str()};
}

TEST_CASE("kube-balancer exits 1 naming the address when either listener's port is taken",
          "[http][listen][process]") {
  PortHolder holder;
  const std::string taken = "127.0.0.1:" + std::to_string(holder.port);
  const std::string base = "rescheduler:\n  enabled: false\n";
  auto [code, out] = RunKubeBalancer("listen: \"" + taken + "\"\n" + base);
  INFO(out);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Matchers::Contains(taken));
  auto [code2, out2] =
      RunKubeBalancer("listen: \"127.0.0.1:0\"\nmetricsListen: \"" + taken + "\"\n" + base);
  INFO(out2);
  CHECK(code2 == 1);
  CHECK_THAT(out2, Catch::Matchers::Contains(taken));
}

}  // namespace
}  // namespace kb::server
