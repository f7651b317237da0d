// The kube-balancer binary's /readyz through an API-server outage: kube-sim (in process) goes
// off the network and comes back. /readyz must turn 503 once the cache has been out of sync for
// kubeClient.maxCacheStaleness, say which kinds in kube_balancer_cache_synced, and turn 200 again
// after the API server returns.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "sim/api_server.h"
#include "test/testing/poll.h"

namespace kb::sim {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// kube-balancer as a child process logging to a file; SIGKILLed when the test ends.
class Balancer {
 public:
  Balancer(const fs::path& dir, const std::string& kubeconfig, const std::string& config)
      : log_((dir / "kube-balancer.log").string()) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      std::vector<std::string> args = {KB_BALANCER_PATH, "--config", config, "--kubeconfig",
                                       kubeconfig};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
  }
  ~Balancer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

int ReadyzStatus(httplib::Client& c) {
  auto r = c.Get("/readyz");
  return r ? r->status : 0;
}

// The value of `series` (e.g. `kube_balancer_cache_synced{kind="pods"}`) in /metrics, or -1.
double Metric(httplib::Client& c, const std::string& series) {
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  const size_t at = r->body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r->body.substr(at + series.size() + 2));
}

TEST_CASE("kube-balancer /readyz: API server outage -> 503 after the bound -> 200 after restore",
          "[sim][integration]") {
  const fs::path dir = fs::temp_directory_path() / ("kb-readyz-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ApiServerOptions o;
  o.bookmark_interval = milliseconds(200);
  ApiServer sim(o);
  REQUIRE(sim.Start().ok());
  const std::string kubeconfig = (dir / "kubeconfig").string();
  std::ofstream(kubeconfig) << "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
                               "clusters: [{name: sim, cluster: {server: \""
                            << sim.url() << "\"}}]\nusers: [{name: sim, user: {token: \""
                            << sim.token()
                            << "\"}}]\ncontexts: [{name: sim, context: {cluster: sim, user: "
                               "sim}}]\n";
  const std::string config = (dir / "config.yaml").string();
  std::ofstream(config) << "listen: \"127.0.0.1:0\"\n"
                           "rescheduler: {enabled: false}\n"
                           "kubeClient: {maxCacheStaleness: 2s}\n";
  Balancer balancer(dir, kubeconfig, config);
  int port = 0;
  const std::regex listening(R"(extender listening address=http://127\.0\.0\.1:(\d+))");
  REQUIRE(kb::testing::PollUntil(
      [&] {
        std::smatch m;
        const std::string log = balancer.Log();
        if (std::regex_search(log, m, listening)) port = std::stoi(m[1]);
        return port > 0;
      },
      seconds(30)));
  INFO("kube-balancer log:\n" << balancer.Log());
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);
  REQUIRE(kb::testing::PollUntil([&] { return ReadyzStatus(c) == 200; }, seconds(30)));
  CHECK(Metric(c, R"(kube_balancer_cache_synced{kind="pods"})") == 1);

  const auto down = steady_clock::now();
  sim.Disconnect();  // returns once open connections are closed: the watches fail during it
  REQUIRE(kb::testing::PollUntil([&] { return ReadyzStatus(c) == 503; }, seconds(20),
                                 milliseconds(50)));
  const auto unready_after = steady_clock::now() - down;
  CHECK(unready_after >= milliseconds(1900));  // not before the bound (2 s)...
  CHECK(unready_after < seconds(5));           // ...and soon after it
  CHECK(Metric(c, R"(kube_balancer_cache_synced{kind="pods"})") == 0);
  CHECK(Metric(c, R"(kube_balancer_cache_unsynced_seconds{kind="nodes"})") >= 2);

  REQUIRE(sim.Reconnect().ok());
  const auto up = steady_clock::now();
  REQUIRE(kb::testing::PollUntil([&] { return ReadyzStatus(c) == 200; }, seconds(20),
                                 milliseconds(50)));
  CHECK(steady_clock::now() - up < seconds(8));
  CHECK(kb::testing::PollUntil(
      [&] { return Metric(c, R"(kube_balancer_cache_synced{kind="pods"})") == 1; }, seconds(5)));
  const std::string log = balancer.Log();
  CHECK(log.find("not ready: cluster cache out of sync") != std::string::npos);
  sim.Stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace kb::sim
