// Helpers of the integration tests: child processes (killed on exit, also when an assertion
// fails), temporary directories, free ports, bounded polling, the kube-balancer binary started
// against kube-sim with a generated kubeconfig, and readers of /metrics and /prioritize answers.
// Header-only; test code only.
#pragma once

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "sim/api_server.h"
#include "test/testing/poll.h"

namespace kb::integration {

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

inline int FreePort() {
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

inline void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Polls `condition` every 100 ms until it holds or `timeout` passes.
template <class F>
inline bool WaitFor(F condition, milliseconds timeout) {
  return kb::testing::PollUntil(condition, timeout, milliseconds(100));
}

inline int RunCommand(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

// The value of one sample line in Prometheus text output, or -1.
inline double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

inline std::map<std::string, int> Scores(const std::string& body) {
  std::map<std::string, int> out;
  for (const auto& p : nlohmann::json::parse(body)) out[p["Host"]] = p["Score"];
  return out;
}

struct NodeLoad {
  std::string name;
  std::string ip;
  double cpu_percent;
  double mem_percent;
  // The node's exporter series stop this many seconds after the history is written (a frozen
  // exporter: Prometheus keeps returning the last sample for its 5-minute lookback).
  int64_t end_offset_seconds = 600;
};

// node_exporter-shaped OpenMetrics history for promtool: one hour before now up to now + each
// node's end offset (so "now" queries keep answering), 1 s steps (the scrape time a query sees is
// at most 1 s old), timestamps in seconds, each series in time order, families not interleaved,
// ending with # EOF.
inline std::string OpenMetricsHistory(const std::vector<NodeLoad>& nodes) {
  const int64_t now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t start = now - 3600;
  const double kMemTotal = 16e9;
  std::ostringstream out;
  out.precision(17);
  out << "# TYPE node_cpu_seconds counter\n";
  for (const NodeLoad& n : nodes) {
    const double idle_fraction = 1.0 - n.cpu_percent / 100.0;
    for (int64_t t = start; t <= now + n.end_offset_seconds; ++t) {
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
      for (int64_t t = start; t <= now + n.end_offset_seconds; ++t) {
        out << family << "{instance=\"" << n.ip << ":9100\",job=\"node-exporter\",node=\"" << n.name
            << "\"} " << value << " " << t << "\n";
      }
    }
  }
  out << "# EOF\n";
  return out.str();
}

// Prometheus (the Debian binary) over a TSDB backfilled with `nodes`' history by promtool, on a
// free port, waiting until it answers for every node. `port` stays 0 on failure.
struct PrometheusProcess {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};

inline PrometheusProcess StartPrometheus(const fs::path& dir, const std::vector<NodeLoad>& nodes) {
  PrometheusProcess p;
  const fs::path data = dir / "prometheus-data";
  fs::create_directories(data);
  WriteFile(dir / "history.om", OpenMetricsHistory(nodes));
  if (RunCommand(std::string(kPromtool) + " tsdb create-blocks-from openmetrics " +
                 (dir / "history.om").string() + " " + data.string()) != 0) {
    return p;
  }
  WriteFile(dir / "prometheus.yml", "global:\n  scrape_interval: 15s\n");
  const int port = FreePort();
  p.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{kPrometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                               "--storage.tsdb.path=" + data.string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(port),
                               "--log.level=warn"},
      (dir / "prometheus.log").string());
  if (!p.process->started()) return p;
  httplib::Client prom("127.0.0.1", port);
  prom.set_connection_timeout(1);
  const std::string want = "\"" + std::to_string(nodes.size()) + "\"";
  if (WaitFor(
          [&] {
            auto r = prom.Get("/api/v1/query?query=count(node_memory_MemTotal_bytes)");
            return r && r->status == 200 && r->body.find(want) != std::string::npos;
          },
          seconds(30))) {
    p.port = port;
  }
  return p;
}

// kube-balancer (the built binary) against `sim` with `config_yaml`, in `dir`: started, its
// listening port parsed from the log, and /readyz answering 200. `port` stays 0 on failure.
struct Balancer {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string Log() const { return process ? process->Log() : std::string(); }
};

inline Balancer StartBalancer(const fs::path& dir, const kb::sim::ApiServer& sim,
                              const std::string& config_yaml) {
  const std::string binary = std::string(KB_BINARY_DIR) + "/server/kube-balancer";
  WriteFile(dir / "kubeconfig",
            "apiVersion: v1\nkind: Config\ncurrent-context: sim\n"
            "clusters: [{name: sim, cluster: {server: \"" +
                sim.url() +
                "\"}}]\n"
                "users: [{name: sim, user: {token: \"" +
                sim.token() +
                "\"}}]\n"
                "contexts: [{name: sim, context: {cluster: sim, user: sim}}]\n");
  WriteFile(dir / "config.yaml", config_yaml);
  Balancer b;
  b.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{binary, "--config", (dir / "config.yaml").string(), "--kubeconfig",
                               (dir / "kubeconfig").string()},
      (dir / "kube-balancer.log").string());
  if (!b.process->started()) return b;
  const std::regex listening(R"(extender listening address=http://127\.0\.0\.1:(\d+))");
  int port = 0;
  WaitFor(
      [&] {
        std::smatch m;
        const std::string log = b.process->Log();
        if (std::regex_search(log, m, listening)) port = std::stoi(m[1]);
        return port > 0 || !b.process->running();
      },
      seconds(30));
  if (port == 0) return b;
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  if (WaitFor(
          [&] {
            auto r = c.Get("/readyz");
            return r && r->status == 200;
          },
          seconds(30))) {
    b.port = port;
  }
  return b;
}

}  // namespace kb::integration
