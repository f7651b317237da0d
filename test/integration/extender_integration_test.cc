// End-to-end test of the extender: the real kube-balancer binary (spawned with a generated config
// and kubeconfig) against kube-sim (in process) as the API server and a real Prometheus (Debian's
// /usr/bin/prometheus) holding node_exporter history backfilled with promtool. Checks that scores
// and the filter follow the loads, then kills Prometheus mid-test: every request must still be
// answered 200, the degraded metric must rise and /readyz must stay ready. Every wait is bounded
// and every process is killed on exit (RAII), also when an assertion fails.
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_server.h"
#include "test/testing/builders.h"
#include "test/testing/poll.h"

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

// A child process whose stdout/stderr go to a file. The destructor stops it (SIGTERM, then
// SIGKILL after a bounded wait) so no test run leaves daemons behind.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path)
      : log_path_(log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      // If the test process dies without running destructors (a sanitizer abort, a crash), the
      // child must not outlive it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~ChildProcess() { Stop(SIGTERM, seconds(10)); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  bool running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
      return false;
    }
    return true;
  }
  // Sends `sig` and waits up to `timeout` (then SIGKILL). Returns the wait status, or -1.
  int Stop(int sig, milliseconds timeout) {
    if (pid_ <= 0) return -1;
    if (!exited_) {
      ::kill(pid_, sig);
      kb::testing::PollUntil([this] { return !running(); }, timeout, milliseconds(10));
      if (!exited_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exited_ = true;
        exit_status_ = status;
      }
    }
    return exit_status_;
  }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = -1;
  std::string log_path_;
};

// A temporary directory removed at the end.
struct TempDir {
  TempDir() {
    path =
        fs::temp_directory_path() / ("kb-integration-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(SteadyClock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Polls `condition` every 100 ms until it holds or `timeout` passes.
template <class F>
bool WaitFor(F condition, milliseconds timeout) {
  return kb::testing::PollUntil(condition, timeout, milliseconds(100));
}

struct NodeLoad {
  std::string name;
  std::string ip;
  double cpu_percent;
  double mem_percent;
};

// node_exporter-shaped OpenMetrics history for promtool: one hour before now up to now + 10 min
// (so "now" queries keep answering), 15 s steps, timestamps in seconds, each series in time
// order, families not interleaved, ending with # EOF.
std::string OpenMetricsHistory(const std::vector<NodeLoad>& nodes) {
  const int64_t now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t start = now - 3600;
  const int64_t end = now + 600;
  const double kMemTotal = 16e9;
  std::ostringstream out;
  out.precision(17);
  out << "# TYPE node_cpu_seconds counter\n";
  for (const NodeLoad& n : nodes) {
    const double idle_fraction = 1.0 - n.cpu_percent / 100.0;
    for (int64_t t = start; t <= end; t += 15) {
      out << "node_cpu_seconds_total{cpu=\"0\",instance=\"" << n.ip
          << ":9100\",job=\"node-exporter\",mode=\"idle\",node=\"" << n.name << "\"} "
          << 1000.0 + idle_fraction * static_cast<double>(t - start) << " " << t << "\n";
    }
  }
  for (const char* family : {"node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"}) {
    out << "# TYPE " << family << " gauge\n";
    for (const NodeLoad& n : nodes) {
      const double value = std::string(family) == "node_memory_MemTotal_bytes"
                               ? kMemTotal
                               : kMemTotal * (1.0 - n.mem_percent / 100.0);
      for (int64_t t = start; t <= end; t += 15) {
        out << family << "{instance=\"" << n.ip << ":9100\",job=\"node-exporter\",node=\"" << n.name
            << "\"} " << value << " " << t << "\n";
      }
    }
  }
  out << "# EOF\n";
  return out.str();
}

int RunCommand(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// The value of one sample line in Prometheus text output, or -1.
double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::map<std::string, int> Scores(const std::string& body) {
  std::map<std::string, int> out;
  for (const auto& p : nlohmann::json::parse(body)) out[p["Host"]] = p["Score"];
  return out;
}

TEST_CASE("extender end to end: scores follow Prometheus loads and survive Prometheus dying",
          "[integration]") {
  // Prerequisites are declared dependencies (Makefile DEB_PACKAGES / this build): fail loudly.
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(kPrometheus));
  REQUIRE(fs::exists(kPromtool));
  REQUIRE(fs::exists(binary));

  TempDir dir;
  const std::vector<NodeLoad> loads = {{"node-a", "10.0.0.1", 90, 80},
                                       {"node-b", "10.0.0.2", 50, 50},
                                       {"node-c", "10.0.0.3", 10, 20}};

  // --- kube-sim with three nodes and one pending pod.
  kb::sim::ApiServer sim;
  REQUIRE(sim.Start().ok());
  for (const NodeLoad& n : loads) {
    auto created = sim.CreateObject(
        "nodes", "",
        kb::testing::NodeBuilder(n.name).Cpu("4").Memory("16Gi").InternalIP(n.ip).Json());
    INFO(created.status().ToString());
    REQUIRE(created.ok());
  }
  REQUIRE(sim.CreateObject("pods", "default",
                           kb::testing::PodBuilder("default", "pending")
                               .Cpu("100m")
                               .Memory("128Mi")
                               .SchedulerName("kube-balancer")
                               .Json())
              .ok());

  // --- Prometheus with backfilled history.
  const fs::path data = dir.path / "prometheus-data";
  fs::create_directories(data);
  WriteFile(dir.path / "history.om", OpenMetricsHistory(loads));
  REQUIRE(RunCommand(std::string(kPromtool) + " tsdb create-blocks-from openmetrics " +
                     (dir.path / "history.om").string() + " " + data.string()) == 0);
  WriteFile(dir.path / "prometheus.yml", "global:\n  scrape_interval: 15s\n");
  const int prom_port = FreePort();
  auto prometheus = std::make_unique<ChildProcess>(
      std::vector<std::string>{
          kPrometheus, "--config.file=" + (dir.path / "prometheus.yml").string(),
          "--storage.tsdb.path=" + data.string(),
          "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      (dir.path / "prometheus.log").string());
  REQUIRE(prometheus->started());
  httplib::Client prom("127.0.0.1", prom_port);
  prom.set_connection_timeout(1);
  const bool prom_ready = WaitFor(
      [&] {
        auto r = prom.Get("/api/v1/query?query=count(node_memory_MemTotal_bytes)");
        return r && r->status == 200 && r->body.find("\"3\"") != std::string::npos;
      },
      seconds(30));
  INFO("prometheus log: " << prometheus->Log());
  REQUIRE(prom_ready);

  // --- kube-balancer, configured for fast refreshes and a short maxAge.
  WriteFile(dir.path / "kubeconfig",
            "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
            "clusters: [{name: sim, cluster: {server: \"" +
                sim.url() +
                "\"}}]\n"
                "users: [{name: sim, user: {token: \"" +
                sim.token() +
                "\"}}]\n"
                "contexts: [{name: sim, context: {cluster: sim, user: sim}}]\n");
  WriteFile(dir.path / "config.yaml",
            "listen: \"127.0.0.1:0\"\n"
            "schedulerName: kube-balancer\n"
            "prometheus:\n"
            "  url: \"http://127.0.0.1:" +
                std::to_string(prom_port) +
                "\"\n"
                "  refreshInterval: 500ms\n"
                "  maxAge: 3s\n"
                "  timeout: 1s\n"
                "rescheduler:\n"
                "  enabled: false\n");
  auto balancer = std::make_unique<ChildProcess>(
      std::vector<std::string>{binary, "--config", (dir.path / "config.yaml").string(),
                               "--kubeconfig", (dir.path / "kubeconfig").string()},
      (dir.path / "kube-balancer.log").string());
  REQUIRE(balancer->started());

  // The port is chosen by the OS (listen :0) and logged.
  int port = 0;
  const std::regex listening(R"(extender listening address=http://127\.0\.0\.1:(\d+))");
  const bool listening_logged = WaitFor(
      [&] {
        std::smatch m;
        const std::string log = balancer->Log();
        if (std::regex_search(log, m, listening)) port = std::stoi(m[1]);
        return port > 0 || !balancer->running();
      },
      seconds(30));
  INFO("kube-balancer log:\n" << balancer->Log());
  REQUIRE(listening_logged);
  REQUIRE(port > 0);
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(5);

  REQUIRE(WaitFor(
      [&] {
        auto r = c.Get("/readyz");
        return r && r->status == 200;
      },
      seconds(30)));

  const std::string pod = kb::testing::PodBuilder("default", "pending")
                              .Cpu("100m")
                              .Memory("128Mi")
                              .SchedulerName("kube-balancer")
                              .Json()
                              .dump();
  const std::string names_request =
      R"({"Pod":)" + pod + R"(,"Nodes":null,"NodeNames":["node-a","node-b","node-c"]})";

  // --- Scores follow the loads: the cold node wins, the hot node scores lowest.
  std::map<std::string, int> scores;
  const bool ordered = WaitFor(
      [&] {
        auto r = c.Post("/prioritize", names_request, "application/json");
        if (!r || r->status != 200) return false;
        scores = Scores(r->body);
        return scores["node-c"] > scores["node-b"] && scores["node-b"] > scores["node-a"];
      },
      seconds(30));
  INFO("scores: c=" << scores["node-c"] << " b=" << scores["node-b"] << " a=" << scores["node-a"]);
  REQUIRE(ordered);
  CHECK(scores["node-c"] == 10);
  CHECK(scores["node-a"] == 0);

  // The filter rejects the node above the CPU threshold (90% > 80%) with a reason.
  auto filtered = c.Post("/filter", names_request, "application/json");
  REQUIRE(filtered);
  REQUIRE(filtered->status == 200);
  const nlohmann::json f = nlohmann::json::parse(filtered->body);
  CHECK(f["NodeNames"] == nlohmann::json::array({"node-b", "node-c"}));
  REQUIRE(f["FailedNodes"].contains("node-a"));
  CHECK_THAT(f["FailedNodes"]["node-a"].get<std::string>(), Catch::Matchers::Contains("CPU"));

  // The per-node breakdown shows metrics in use.
  auto debug = c.Get("/debug/scores?namespace=default&name=pending");
  REQUIRE(debug);
  REQUIRE(debug->status == 200);
  const nlohmann::json d = nlohmann::json::parse(debug->body);
  REQUIRE(d["nodes"].size() == 3);
  for (const auto& n : d["nodes"]) CHECK(n["load"]["metricsFresh"] == true);

  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  const std::string degraded_series = R"(kube_balancer_extender_degraded_total{verb="prioritize"})";
  const double degraded_before = MetricValue(metrics->body, degraded_series);
  REQUIRE(degraded_before >= 0);

  // --- Prometheus dies. Scheduling keeps answering, falling back to requests per node.
  REQUIRE(prometheus->Stop(SIGKILL, seconds(5)) != -1);
  int requests = 0;
  int failures = 0;
  bool degraded_seen = false;
  const auto deadline = SteadyClock::now() + seconds(20);
  while (SteadyClock::now() < deadline) {
    for (const char* verb : {"/filter", "/prioritize"}) {
      auto r = c.Post(verb, names_request, "application/json");
      ++requests;
      if (!r || r->status != 200) ++failures;
    }
    auto ready = c.Get("/readyz");
    ++requests;
    if (!ready || ready->status != 200) ++failures;
    auto m = c.Get("/metrics");
    if (m && MetricValue(m->body, degraded_series) > degraded_before) {
      degraded_seen = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  INFO("requests=" << requests << " failures=" << failures << "\nkube-balancer log:\n"
                   << balancer->Log());
  CHECK(failures == 0);
  REQUIRE(degraded_seen);

  // Degraded answers are still valid: every candidate scored, nothing outside the request.
  auto degraded_answer = c.Post("/prioritize", names_request, "application/json");
  REQUIRE(degraded_answer);
  CHECK(degraded_answer->status == 200);
  CHECK(Scores(degraded_answer->body).size() == 3);
  auto debug_after = c.Get("/debug/scores?namespace=default&name=pending");
  REQUIRE(debug_after);
  // Keep the parsed document alive: a range-for over a member of a temporary dangles (C++20).
  const nlohmann::json debug_doc = nlohmann::json::parse(debug_after->body);
  for (const auto& n : debug_doc["nodes"]) {
    CHECK(n["load"]["degraded"] == true);
  }
  CHECK_THAT(balancer->Log(), Catch::Matchers::Contains("warn"));

  // The whole /metrics page of the process (extender and scoring families) passes promtool.
  auto all_metrics = c.Get("/metrics");
  REQUIRE(all_metrics);
  WriteFile(dir.path / "metrics.txt", all_metrics->body);
  CHECK(RunCommand(std::string(kPromtool) + " check metrics < " +
                   (dir.path / "metrics.txt").string()) == 0);
  CHECK_THAT(all_metrics->body, Catch::Matchers::Contains("kube_balancer_scoring_"));

  // --- Graceful shutdown on SIGTERM: exit status 0.
  const int status = balancer->Stop(SIGTERM, seconds(15));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  sim.Stop();
}

TEST_CASE("kube-balancer exits 2 naming the key on a bad config, before serving", "[integration]") {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(binary));
  TempDir dir;
  WriteFile(dir.path / "bad.yaml", "rescheduler:\n  cpuThresold: 80\n");
  ChildProcess p({binary, "--config", (dir.path / "bad.yaml").string()},
                 (dir.path / "out.log").string());
  REQUIRE(WaitFor([&] { return !p.running(); }, seconds(10)));
  const int status = p.Stop(SIGTERM, seconds(1));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(p.Log(), Catch::Matchers::Contains("rescheduler.cpuThresold"));

  ChildProcess flags({binary, "--config", (dir.path / "bad.yaml").string(), "--frobnicate"},
                     (dir.path / "flags.log").string());
  REQUIRE(WaitFor([&] { return !flags.running(); }, seconds(10)));
  CHECK(WEXITSTATUS(flags.Stop(SIGTERM, seconds(1))) == 2);
  CHECK_THAT(flags.Log(), Catch::Matchers::Contains("--frobnicate"));
}

TEST_CASE("kube-balancer --check-config validates a file and exits 0 or 2", "[integration]") {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  REQUIRE(fs::exists(binary));
  TempDir dir;
  // Points at an API server and a Prometheus that do not exist: --check-config reads neither.
  WriteFile(dir.path / "good.yaml",
            "listen: 127.0.0.1:1\nprometheus:\n  url: http://127.0.0.1:1\n"
            "rescheduler:\n  cpuThreshold: 70\n");
  WriteFile(dir.path / "bad-key.yaml", "rescheduler:\n  cpuThresold: 80\n");
  WriteFile(dir.path / "bad-listen.yaml", "listen: \"127.0.0.1:99999\"\n");
  const auto run = [&](const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{binary};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = std::make_unique<ChildProcess>(argv, (dir.path / log).string());
    REQUIRE(WaitFor([&] { return !p->running(); }, seconds(10)));
    const int status = p->Stop(SIGTERM, seconds(1));
    REQUIRE(WIFEXITED(status));
    return std::make_pair(WEXITSTATUS(status), p->Log());
  };
  const auto [good, good_log] =
      run({"--check-config", (dir.path / "good.yaml").string(), "--kubeconfig", "/nonexistent"},
          "good.log");
  CHECK(good == 0);
  CHECK_THAT(good_log, Catch::Matchers::Contains("is valid"));
  const auto [bad, bad_log] =
      run({"--check-config", (dir.path / "bad-key.yaml").string()}, "b.log");
  CHECK(bad == 2);
  CHECK_THAT(bad_log, Catch::Matchers::Contains("rescheduler.cpuThresold"));
  const auto [listen, listen_log] =
      run({"--check-config=" + (dir.path / "bad-listen.yaml").string()}, "l.log");
  CHECK(listen == 2);
  CHECK_THAT(listen_log, Catch::Matchers::Contains("listen"));
  const auto [missing, missing_log] =
      run({"--check-config", (dir.path / "missing.yaml").string()}, "m.log");
  CHECK(missing == 2);
  CHECK_THAT(missing_log, Catch::Matchers::Contains("missing.yaml"));
}

}  // namespace
