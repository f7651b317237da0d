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
// Serves until SIGTERM or SIGINT. SIGUSR1 cuts the API server off the network (the listener
// closes and every watch is reset, as in an outage; the cluster's control loops keep running);
// SIGUSR2 brings it back on the same port.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/logging.h"
#include "sim/api_server.h"
#include "sim/sim_cluster.h"

namespace {

using kb::sim::SchedulerDriverOptions;

void Usage() {
  std::cerr
      << "usage: kube-sim [--listen HOST:PORT] [--token TOKEN] [--scenario FILE]\n"
         "                [--pod-ready-delay DURATION] [--pdb-status-lag DURATION]\n"
         "                [--event-history N]\n"
         "                [--controller-period DURATION] [--bookmark-interval DURATION]\n"
         "                [--default-grace-seconds N] [--workers N] [--seed N]\n"
         "                [--expired-watch error-event|http-410|alternate]\n"
         "                [--idle-close-after DURATION]\n"
         "                [--port-file PATH] [--log-level LEVEL]\n"
         "                [--metrics-listen HOST:PORT] [--metrics-port-file PATH]\n"
         "                [--play-steps BOOL]\n"
         "                [--scheduler BOOL] [--scheduler-names A,B] [--baseline-names A,B]\n"
         "                [--scheduler-seed N] [--async-binding BOOL] [--bind-latency DURATION]\n"
         "                [--extender-url URL] [--extender-weight N]\n"
         "                [--extender-node-cache-capable BOOL] [--extender-ignorable BOOL]\n"
         "                [--extender-timeout DURATION] [--extender-filter-verb VERB]\n"
         "                [--extender-prioritize-verb VERB] [--extender-bind-verb VERB]\n"
         "DURATION: e.g. 100ms, 5s, 2m. --listen defaults to 127.0.0.1:0 (any free port);\n"
         "--token \"\" disables auth (default token: kube-sim-token).\n"
         "The scheduler driver runs when the scenario has a `scheduler:` section or with\n"
         "--scheduler true; the --extender-* and --scheduler-* flags override the section.\n"
         "--metrics-listen serves node_exporter series: GET /metrics/nodes/<node>, /metrics.\n"
         "--play-steps true applies the scenario's steps at their `at` times.\n"
         "--idle-close-after drops a request arriving on a keep-alive connection idle longer\n"
         "than DURATION, unanswered (the server's idle close racing the request).\n"
         "SIGUSR1 takes the API server off the network, SIGUSR2 brings it back.\n";
}

bool ParseDuration(const std::string& s, std::chrono::milliseconds* out) {
  kb::StatusOr<kb::Millis> d = kb::ParseDuration(s);
  if (!d.ok()) return false;
  *out = *d;
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
  kb::StatusOr<std::pair<std::string, int>> address = kb::ParseHostPort(listen);
  if (!address.ok()) return false;
  std::tie(*host, *port) = *address;
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

struct Flags {
  kb::sim::SimClusterOptions cluster;
  // --extender-* / --scheduler-* flags, applied over the scenario's `scheduler:` section.
  std::vector<std::function<void(SchedulerDriverOptions*)>> overrides;
  std::string listen = "127.0.0.1:0";
  std::string metrics_listen;
  std::string metrics_port_file;
  std::string scenario;
  std::string port_file;
  std::string log_level = "info";
};

bool ParseExpiredWatchMode(const std::string& value, kb::sim::ExpiredWatchMode* mode) {
  if (value == "error-event") {
    *mode = kb::sim::ExpiredWatchMode::kErrorEvent;
  } else if (value == "http-410") {
    *mode = kb::sim::ExpiredWatchMode::kHttp410;
  } else if (value == "alternate") {
    *mode = kb::sim::ExpiredWatchMode::kAlternate;
  } else {
    return false;
  }
  return true;
}

// The API server, node-metrics and process flags. Sets *known to false for another flag;
// returns false on an invalid value.
bool ApplyServerFlag(const std::string& arg, const std::string& value, Flags* f, bool* known) {
  kb::sim::ApiServerOptions& options = f->cluster.api;
  int64_t n = 0;
  *known = true;
  if (arg == "--listen") {
    f->listen = value;
  } else if (arg == "--token") {
    options.token = value;
  } else if (arg == "--scenario") {
    f->scenario = value;
  } else if (arg == "--port-file") {
    f->port_file = value;
  } else if (arg == "--log-level") {
    f->log_level = value;
  } else if (arg == "--pod-ready-delay") {
    return ParseDuration(value, &options.pod_ready_delay);
  } else if (arg == "--pdb-status-lag") {
    return ParseDuration(value, &options.pdb_status_lag);
  } else if (arg == "--controller-period") {
    return ParseDuration(value, &options.controller_period) &&
           options.controller_period.count() > 0;
  } else if (arg == "--bookmark-interval") {
    return ParseDuration(value, &options.bookmark_interval) &&
           options.bookmark_interval.count() > 0;
  } else if (arg == "--event-history") {
    const bool ok = ParseInt(value, &n) && n > 0;
    options.event_history = static_cast<size_t>(n);
    return ok;
  } else if (arg == "--default-grace-seconds") {
    const bool ok = ParseInt(value, &n) && n >= 0;
    options.default_grace_seconds = n;
    return ok;
  } else if (arg == "--workers") {
    const bool ok = ParseInt(value, &n) && n > 0;
    options.worker_threads = static_cast<int>(n);
    return ok;
  } else if (arg == "--seed") {
    const bool ok = ParseInt(value, &n);
    options.random_seed = static_cast<uint64_t>(n);
    return ok;
  } else if (arg == "--metrics-listen") {
    f->metrics_listen = value;
  } else if (arg == "--metrics-port-file") {
    f->metrics_port_file = value;
  } else if (arg == "--play-steps") {
    return ParseBool(value, &f->cluster.play_steps);
  } else if (arg == "--expired-watch") {
    return ParseExpiredWatchMode(value, &options.expired_watch_mode);
  } else if (arg == "--idle-close-after") {
    if (!ParseDuration(value, &options.idle_close_after) || options.idle_close_after.count() <= 0) {
      return false;
    }
    // httplib's own idle close must come later, or the client would see it in time.
    const auto idle = std::chrono::duration_cast<std::chrono::seconds>(options.idle_close_after);
    options.keep_alive_timeout =
        std::max(options.keep_alive_timeout, idle * 3 + std::chrono::seconds(1));
  } else {
    *known = false;
  }
  return true;
}

// The scheduler driver flags (--scheduler, --scheduler-*, --baseline-names, --extender-*).
// Sets *known to false for another flag; returns false on an invalid value.
bool ApplySchedulerFlag(const std::string& arg, const std::string& value, Flags* f, bool* known) {
  auto& overrides = f->overrides;
  int64_t n = 0;
  bool b = false;
  bool ok = true;
  *known = true;
  if (arg == "--scheduler") {
    ok = ParseBool(value, &f->cluster.scheduler);
  } else if (arg == "--scheduler-names") {
    overrides.push_back([v = kb::sim::SplitCommaList(value)](auto* o) { o->scheduler_names = v; });
  } else if (arg == "--baseline-names") {
    overrides.push_back(
        [v = kb::sim::SplitCommaList(value)](auto* o) { o->default_scheduler_names = v; });
  } else if (arg == "--scheduler-seed") {
    ok = ParseInt(value, &n);
    overrides.push_back([n](auto* o) { o->seed = static_cast<uint64_t>(n); });
  } else if (arg == "--async-binding") {
    ok = ParseBool(value, &b);
    overrides.push_back([b](auto* o) { o->async_binding = b; });
  } else if (arg == "--bind-latency") {
    std::chrono::milliseconds d{0};
    ok = ParseDuration(value, &d);
    overrides.push_back([d](auto* o) {
      o->async_binding = true;
      o->bind_latency = d;
    });
  } else if (arg == "--extender-url") {
    overrides.push_back([value](auto* o) { o->extender.url_prefix = value; });
  } else if (arg == "--extender-weight") {
    ok = ParseInt(value, &n) && n > 0;
    overrides.push_back([n](auto* o) { o->extender.weight = n; });
  } else if (arg == "--extender-node-cache-capable") {
    ok = ParseBool(value, &b);
    overrides.push_back([b](auto* o) { o->extender.node_cache_capable = b; });
  } else if (arg == "--extender-ignorable") {
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
  } else {
    *known = false;
  }
  return ok;
}

// Parses the command line into *f. Returns the exit code when the program should end now (help,
// a bad flag), else -1.
int ParseFlags(int argc, char** argv, Flags* f) {
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
    bool known = false;
    bool ok = ApplyServerFlag(arg, value, f, &known);
    if (!known) ok = ApplySchedulerFlag(arg, value, f, &known);
    if (!known) {
      std::cerr << "kube-sim: unknown flag " << arg << "\n";
      Usage();
      return 2;
    }
    if (!ok) {
      std::cerr << "kube-sim: invalid value for " << arg << ": \"" << value << "\"\n";
      return 2;
    }
  }
  if (!SplitHostPort(f->listen, &f->cluster.host, &f->cluster.port)) {
    std::cerr << "kube-sim: --listen must be HOST:PORT, got \"" << f->listen << "\"\n";
    return 2;
  }
  if (!f->metrics_listen.empty() &&
      !SplitHostPort(f->metrics_listen, &f->cluster.metrics_host, &f->cluster.metrics_port)) {
    std::cerr << "kube-sim: --metrics-listen must be HOST:PORT, got \"" << f->metrics_listen
              << "\"\n";
    return 2;
  }
  f->cluster.driver_overrides = [overrides = f->overrides](SchedulerDriverOptions* o) {
    for (const auto& apply : overrides) apply(o);
  };
  return -1;
}

// Runs the cluster until SIGTERM or SIGINT; returns the exit code.
int Serve(const Flags& f) {
  // Block the stop signals in every thread; this one waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  kb::sim::SimCluster cluster(f.cluster);
  if (!f.scenario.empty()) {
    auto st = cluster.LoadScenarioFile(f.scenario);
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
  if (!f.port_file.empty() && !WritePortFile(f.port_file, cluster.api().port())) return 1;
  if (!f.metrics_port_file.empty() && cluster.metrics_port() >= 0 &&
      !WritePortFile(f.metrics_port_file, cluster.metrics_port())) {
    return 1;
  }
  std::cout << "kube-sim serving " << cluster.api().url() << std::endl;
  if (cluster.metrics_port() >= 0) {
    std::cout << "kube-sim node metrics " << cluster.metrics_url() << "/metrics/nodes/<node>"
              << std::endl;
  }
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && (sig == SIGUSR1 || sig == SIGUSR2)) {
    if (sig == SIGUSR1) {
      cluster.api().Disconnect();
    } else if (kb::Status s = cluster.api().Reconnect(); !s.ok()) {
      kb::Logger("kube-sim")->error("cannot reconnect error=\"{}\"", s.message());
    }
  }
  kb::Logger("kube-sim")->info("kube-sim stopping signal={}", sig);
  cluster.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  const int exit_code = ParseFlags(argc, argv, &flags);
  if (exit_code >= 0) return exit_code;
  kb::sim::SetLogLevel(flags.log_level);
  return Serve(flags);
}
