// kube-balancer: the process. Parses the command line, loads and validates the configuration
// (exit 2 on any error, before serving), then builds and runs the App (server/app.h, where the
// real implementations are wired together) until SIGTERM / SIGINT.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/logging.h"
#include "server/app.h"
#include "server/http_server.h"

namespace {

constexpr char kVersion[] = "kube-balancer 0.1.0";
constexpr int kExitUsage = 2;    // bad command line or configuration
constexpr int kExitStartup = 1;  // environment problems at start (kubeconfig, port, TLS files)

constexpr char kUsage[] =
    "Usage: kube-balancer --config FILE [--kubeconfig FILE] [-v N]\n"
    "       kube-balancer --check-config FILE\n"
    "\n"
    "Load-aware Kubernetes scheduler extender (filter / prioritize / bind) and rescheduler.\n"
    "\n"
    "  --config FILE      YAML configuration (every key: docs/configuration.md)\n"
    "  --kubeconfig FILE  kubeconfig to use; default: in-cluster service account, then\n"
    "                     $KUBECONFIG, then ~/.kube/config\n"
    "  --check-config FILE  validate FILE as --config would and exit: 0 valid, 2 invalid\n"
    "                     (reads nothing else: no cluster, no Prometheus)\n"
    "  -v N, --v=N        log verbosity: 0 info (default), 1-3 debug, 4+ trace\n"
    "  --version          print the version and exit\n"
    "  -h, --help         print this help and exit\n";

struct Flags {
  std::string config;
  bool check_only = false;  // --check-config: validate `config` and exit
  std::string kubeconfig;
  int verbosity = 0;
};

// Signal handling: the handler only sets a flag and wakes main through a self-pipe
// (both async-signal-safe).
std::atomic<bool> g_stop{false};
int g_wake_fd = -1;

void OnSignal(int) {
  g_stop.store(true);
  if (g_wake_fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(g_wake_fd, &byte, 1);
  }
}

int UsageError(const std::string& message) {
  std::cerr << "kube-balancer: " << message << "\n\nRun 'kube-balancer --help' for usage.\n";
  return kExitUsage;
}

// Returns an exit code when the process should exit now (help, version, errors).
std::optional<int> ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_value = true;
    } else if (arg.rfind("-v", 0) == 0 && arg.size() > 2 && arg[2] != '=') {
      value = arg.substr(2);  // -v3
      arg = "-v";
      has_value = true;
    } else if (arg.rfind("-v=", 0) == 0) {
      value = arg.substr(3);
      arg = "-v";
      has_value = true;
    }
    auto take_value = [&](const std::string& name) -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      (void)name;
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << kVersion << "\n";
      return 0;
    }
    if (arg == "--config" || arg == "--check-config") {
      if (!take_value(arg) || value.empty()) return UsageError(arg + " needs a file");
      if (!flags.config.empty() && flags.config != value) {
        return UsageError("--config and --check-config name different files");
      }
      flags.config = value;
      flags.check_only |= arg == "--check-config";
    } else if (arg == "--kubeconfig") {
      if (!take_value(arg) || value.empty()) return UsageError("--kubeconfig needs a file");
      flags.kubeconfig = value;
    } else if (arg == "-v" || arg == "--v") {
      if (!take_value(arg)) return UsageError(arg + " needs a number");
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < 0 || v > 10) {
        return UsageError("invalid verbosity \"" + value + "\": expected 0..10");
      }
      flags.verbosity = static_cast<int>(v);
    } else {
      return UsageError("unknown flag \"" + std::string(argv[i]) + "\"");
    }
  }
  if (flags.config.empty()) return UsageError("--config FILE is required");
  return std::nullopt;
}

// Signals only set the flag and write a wake-up byte (both async-signal-safe); everything else
// happens on the main thread.
bool InstallSignalHandlers(int pipe_fds[2]) {
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  g_wake_fd = pipe_fds[1];
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write must not kill the process
  return true;
}

// --check-config: everything the server checks before it touches the cluster (the file, every
// key, cross-field rules, the listen addresses and TLS settings).
int CheckConfig(const std::string& path) {
  kb::StatusOr<kb::Config> loaded = kb::LoadConfigFile(path);
  kb::Status status = loaded.status();
  if (status.ok()) status = kb::server::ServerOptions::FromConfig(*loaded).status();
  if (!status.ok()) {
    std::cerr << "kube-balancer: invalid configuration: " << status.message() << "\n";
    return kExitUsage;
  }
  std::cout << "kube-balancer: configuration " << path << " is valid\n";
  return 0;
}

int Run(const Flags& flags) {
  if (flags.check_only) return CheckConfig(flags.config);
  kb::StatusOr<kb::Config> loaded = kb::LoadConfigFile(flags.config);
  if (!loaded.ok()) {
    std::cerr << "kube-balancer: invalid configuration: " << loaded.status().message() << "\n";
    return kExitUsage;
  }
  if (kb::Status s = kb::ConfigureLogging(loaded->log_format, flags.verbosity); !s.ok()) {
    std::cerr << "kube-balancer: " << s.message() << "\n";
    return kExitUsage;
  }
  auto log = kb::Logger("main");
  int pipe_fds[2];
  if (!InstallSignalHandlers(pipe_fds)) {
    log->error("cannot create the signal pipe error={}", std::strerror(errno));
    return kExitStartup;
  }
  auto app = kb::server::App::Create(*loaded, {flags.kubeconfig, flags.config, kVersion});
  if (!app.ok()) {
    if (app.status().code() == kb::StatusCode::kInvalidArgument) {
      std::cerr << "kube-balancer: invalid configuration: " << app.status().message() << "\n";
      return kExitUsage;
    }
    log->error("cannot start error={}", app.status().message());
    return kExitStartup;
  }
  if (kb::Status s = (*app)->Start(); !s.ok()) {
    log->error("cannot start the extender server error={}", s.ToString());
    return kExitStartup;
  }
  (*app)->Run(g_stop, pipe_fds[0]);
  log->info("shutting down");
  (*app)->Stop();
  g_wake_fd = -1;
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  log->info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, flags)) return *exit_code;
  try {
    return Run(flags);
  } catch (const std::exception& e) {
    std::cerr << "kube-balancer: fatal: " << e.what() << "\n";
    return kExitStartup;
  }
}
