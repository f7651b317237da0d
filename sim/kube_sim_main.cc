// kube-sim: the simulated Kubernetes API server as a standalone program, for the demo, the e2e
// tests and manual poking with curl / kubectl --raw.
//
//   kube-sim --listen 127.0.0.1:0 --token T --scenario FILE [--pod-ready-delay 100ms]
//            [--event-history N] [--port-file PATH] [--log-level info]
//            [--metrics-listen 127.0.0.1:0 --metrics-port-file PATH]
//            [--scheduler true --extender-url URL --extender-weight 5 ...]
//
// The scheduler driver runs when the scenario has a `scheduler:` section or with
// --scheduler true; the --extender-* / --scheduler-* flags override the section's values.
// Node metrics (node_exporter format) are served with --metrics-listen.
//
// Serves until SIGTERM or SIGINT.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "sim/api_server.h"
#include "sim/sim_cluster.h"

namespace {

void Usage() {
  std::cerr
      << "usage: kube-sim [--listen HOST:PORT] [--token TOKEN] [--scenario FILE]\n"
         "                [--pod-ready-delay DURATION] [--event-history N]\n"
         "                [--controller-period DURATION] [--bookmark-interval DURATION]\n"
         "                [--default-grace-seconds N] [--workers N] [--seed N]\n"
         "                [--expired-watch error-event|http-410|alternate]\n"
         "                [--port-file PATH] [--log-level LEVEL]\n"
         "                [--metrics-listen HOST:PORT] [--metrics-port-file PATH]\n"
         "                [--play-steps BOOL]\n"
         "                [--scheduler BOOL] [--scheduler-names A,B] [--baseline-names A,B]\n"
         "                [--scheduler-seed N] [--extender-url URL] [--extender-weight N]\n"
         "                [--extender-node-cache-capable BOOL] [--extender-ignorable BOOL]\n"
         "                [--extender-timeout DURATION] [--extender-filter-verb VERB]\n"
         "                [--extender-prioritize-verb VERB] [--extender-bind-verb VERB]\n"
         "DURATION: <n>ms | <n>s | <n>m. --listen defaults to 127.0.0.1:0 (any free port);\n"
         "--token \"\" disables auth (default token: kube-sim-token).\n"
         "The scheduler driver runs when the scenario has a `scheduler:` section or with\n"
         "--scheduler true; the --extender-* and --scheduler-* flags override the section.\n"
         "--metrics-listen serves node_exporter series: GET /metrics/nodes/<node>, /metrics.\n"
         "--play-steps true applies the scenario's steps at their `at` times.\n";
}

bool ParseDuration(const std::string& s, std::chrono::milliseconds* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0) return false;
  std::string unit(end);
  double ms;
  if (unit == "ms") {
    ms = v;
  } else if (unit == "s" || unit.empty()) {
    ms = v * 1000;
  } else if (unit == "m") {
    ms = v * 60000;
  } else {
    return false;
  }
  *out = std::chrono::milliseconds(static_cast<int64_t>(ms));
  return true;
}

bool ParseBool(const std::string& s, bool* out) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no" || s == "off") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

bool ParseInt(const std::string& s, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  auto colon = listen.rfind(':');
  int64_t p = 0;
  if (colon == std::string::npos || !ParseInt(listen.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return false;
  }
  *host = listen.substr(0, colon);
  *port = static_cast<int>(p);
  return true;
}

bool WritePortFile(const std::string& path, int port) {
  // Written atomically so a script polling for the file never reads a partial port.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
    if (!out) {
      std::cerr << "kube-sim: cannot write " << tmp << "\n";
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::cerr << "kube-sim: cannot rename " << tmp << " to " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  kb::sim::SimClusterOptions cluster_options;
  kb::sim::ApiServerOptions& options = cluster_options.api;
  std::vector<std::function<void(kb::sim::SchedulerDriverOptions*)>> overrides;
  std::string metrics_listen;
  std::string metrics_port_file;
  std::string listen = "127.0.0.1:0";
  std::string scenario;
  std::string port_file;
  std::string log_level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg == "-h" || arg == "--help") {
      Usage();
      return 0;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::cerr << "kube-sim: " << arg << " needs a value\n";
      Usage();
      return 2;
    }
    bool ok = true;
    int64_t n = 0;
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--token") {
      options.token = value;
    } else if (arg == "--scenario") {
      scenario = value;
    } else if (arg == "--port-file") {
      port_file = value;
    } else if (arg == "--log-level") {
      log_level = value;
    } else if (arg == "--pod-ready-delay") {
      ok = ParseDuration(value, &options.pod_ready_delay);
    } else if (arg == "--controller-period") {
      ok =
          ParseDuration(value, &options.controller_period) && options.controller_period.count() > 0;
    } else if (arg == "--bookmark-interval") {
      ok =
          ParseDuration(value, &options.bookmark_interval) && options.bookmark_interval.count() > 0;
    } else if (arg == "--event-history") {
      ok = ParseInt(value, &n) && n > 0;
      options.event_history = static_cast<size_t>(n);
    } else if (arg == "--default-grace-seconds") {
      ok = ParseInt(value, &n) && n >= 0;
      options.default_grace_seconds = n;
    } else if (arg == "--workers") {
      ok = ParseInt(value, &n) && n > 0;
      options.worker_threads = static_cast<int>(n);
    } else if (arg == "--seed") {
      ok = ParseInt(value, &n);
      options.random_seed = static_cast<uint64_t>(n);
    } else if (arg == "--metrics-listen") {
      metrics_listen = value;
    } else if (arg == "--metrics-port-file") {
      metrics_port_file = value;
    } else if (arg == "--play-steps") {
      ok = ParseBool(value, &cluster_options.play_steps);
    } else if (arg == "--scheduler") {
      ok = ParseBool(value, &cluster_options.scheduler);
    } else if (arg == "--scheduler-names") {
      overrides.push_back(
          [v = kb::sim::SplitCommaList(value)](auto* o) { o->scheduler_names = v; });
    } else if (arg == "--baseline-names") {
      overrides.push_back(
          [v = kb::sim::SplitCommaList(value)](auto* o) { o->default_scheduler_names = v; });
    } else if (arg == "--scheduler-seed") {
      ok = ParseInt(value, &n);
      overrides.push_back([n](auto* o) { o->seed = static_cast<uint64_t>(n); });
    } else if (arg == "--extender-url") {
      overrides.push_back([value](auto* o) { o->extender.url_prefix = value; });
    } else if (arg == "--extender-weight") {
      ok = ParseInt(value, &n) && n > 0;
      overrides.push_back([n](auto* o) { o->extender.weight = n; });
    } else if (arg == "--extender-node-cache-capable") {
      bool b = false;
      ok = ParseBool(value, &b);
      overrides.push_back([b](auto* o) { o->extender.node_cache_capable = b; });
    } else if (arg == "--extender-ignorable") {
      bool b = false;
      ok = ParseBool(value, &b);
      overrides.push_back([b](auto* o) { o->extender.ignorable = b; });
    } else if (arg == "--extender-timeout") {
      std::chrono::milliseconds d{0};
      ok = ParseDuration(value, &d);
      overrides.push_back([d](auto* o) { o->extender.http_timeout = d; });
    } else if (arg == "--extender-filter-verb") {
      overrides.push_back([value](auto* o) { o->extender.filter_verb = value; });
    } else if (arg == "--extender-prioritize-verb") {
      overrides.push_back([value](auto* o) { o->extender.prioritize_verb = value; });
    } else if (arg == "--extender-bind-verb") {
      overrides.push_back([value](auto* o) { o->extender.bind_verb = value; });
    } else if (arg == "--expired-watch") {
      if (value == "error-event") {
        options.expired_watch_mode = kb::sim::ExpiredWatchMode::kErrorEvent;
      } else if (value == "http-410") {
        options.expired_watch_mode = kb::sim::ExpiredWatchMode::kHttp410;
      } else if (value == "alternate") {
        options.expired_watch_mode = kb::sim::ExpiredWatchMode::kAlternate;
      } else {
        ok = false;
      }
    } else {
      std::cerr << "kube-sim: unknown flag " << arg << "\n";
      Usage();
      return 2;
    }
    if (!ok) {
      std::cerr << "kube-sim: invalid value for " << arg << ": \"" << value << "\"\n";
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (!SplitHostPort(listen, &cluster_options.host, &cluster_options.port)) {
    std::cerr << "kube-sim: --listen must be HOST:PORT, got \"" << listen << "\"\n";
    return 2;
  }
  if (!metrics_listen.empty() && !SplitHostPort(metrics_listen, &cluster_options.metrics_host,
                                                &cluster_options.metrics_port)) {
    std::cerr << "kube-sim: --metrics-listen must be HOST:PORT, got \"" << metrics_listen << "\"\n";
    return 2;
  }
  cluster_options.driver_overrides = [overrides](kb::sim::SchedulerDriverOptions* o) {
    for (const auto& f : overrides) f(o);
  };

  // Block the stop signals in every thread; main waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kb::sim::SimCluster cluster(cluster_options);
  if (!scenario.empty()) {
    auto st = cluster.LoadScenarioFile(scenario);
    if (!st.ok()) {
      std::cerr << "kube-sim: " << st.message() << "\n";
      return 1;
    }
  }
  auto st = cluster.Start();
  if (!st.ok()) {
    std::cerr << "kube-sim: " << st.message() << "\n";
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, cluster.api().port())) return 1;
  if (!metrics_port_file.empty() && cluster.metrics_port() >= 0 &&
      !WritePortFile(metrics_port_file, cluster.metrics_port())) {
    return 1;
  }
  std::cout << "kube-sim serving " << cluster.api().url() << std::endl;
  if (cluster.metrics_port() >= 0) {
    std::cout << "kube-sim node metrics " << cluster.metrics_url() << "/metrics/nodes/<node>"
              << std::endl;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("kube-sim stopping signal={}", sig);
  cluster.Stop();
  return 0;
}
