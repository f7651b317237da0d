// kube-balancer-demo: `make demo`. Plays the seeds' scenarios end to end on this machine: for
// each, kube-sim (in this process: API server, scheduler driver, node metrics), a real
// Prometheus and a real kube-balancer, all on 127.0.0.1 in a temporary directory. Prints per-node
// CPU / memory / pod tables before and after each play with the outcome checks, writes an HTML
// page of SVG charts, and stops every process it started (by PID; also on Ctrl-C).
//
//   kube-balancer-demo --kube-balancer PATH [--source-dir DIR] [--out FILE] [--plays a,b]
//                      [--parallel N] [--prometheus PATH] [--keep] [-v N]
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "sim/harness/plays.h"
#include "sim/harness/process.h"
#include "sim/sim_cluster.h"

namespace {

#ifndef KB_SOURCE_DIR
#define KB_SOURCE_DIR "."
#endif
#ifndef KB_DEFAULT_BALANCER
#define KB_DEFAULT_BALANCER ""
#endif

void Usage() {
  std::cerr << "usage: kube-balancer-demo [--kube-balancer PATH] [--source-dir DIR] [--out FILE]\n"
               "                          [--plays seed002,burst,burst-async,pinned,...]\n"
               "                          [--parallel N] [--prometheus PATH] [--keep] [-v N]\n";
}

void OnSignal(int) {
  // Stop every child we started, then leave (the plays' destructors cannot run from here).
  kb::sim::KillChildrenFromSignalHandler();
  const char msg[] = "\nkube-balancer-demo: interrupted, stopped every process it started\n";
  [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
  ::_exit(130);
}

struct DemoFlags {
  kb::sim::PlayOptions options;
  std::string out = "kube-balancer-demo.html";
  std::vector<std::string> plays = kb::sim::PlayIds();
  int parallel = 3;
};

// Parses the command line into *f. Returns the exit code when the program should end now (help,
// a bad flag), else -1.
int ParseFlags(int argc, char** argv, DemoFlags* f) {
  f->options.source_dir = KB_SOURCE_DIR;
  f->options.kube_balancer = KB_DEFAULT_BALANCER;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "kube-balancer-demo: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--kube-balancer") {
      f->options.kube_balancer = value();
    } else if (arg == "--source-dir") {
      f->options.source_dir = value();
    } else if (arg == "--out") {
      f->out = value();
    } else if (arg == "--plays") {
      f->plays = kb::sim::SplitCommaList(value());
    } else if (arg == "--parallel") {
      f->parallel = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--prometheus") {
      f->options.prometheus = value();
    } else if (arg == "--keep") {
      f->options.keep_work_dirs = true;
    } else if (arg == "-v") {
      f->options.verbosity = std::atoi(value().c_str());
    } else if (arg == "-h" || arg == "--help") {
      Usage();
      return 0;
    } else {
      std::cerr << "kube-balancer-demo: unknown flag " << arg << "\n";
      Usage();
      return 2;
    }
  }
  return -1;
}

// Plays `f.plays` in batches of `f.parallel` (each independent: own ports, own temporary
// directory), printing each report as it finishes.
std::vector<kb::sim::PlayReport> PlayAll(const DemoFlags& f) {
  std::vector<kb::sim::PlayReport> reports;
  const size_t parallel = static_cast<size_t>(f.parallel);
  for (size_t i = 0; i < f.plays.size(); i += parallel) {
    std::vector<std::future<kb::sim::PlayReport>> batch;
    for (size_t j = i; j < f.plays.size() && j < i + parallel; ++j) {
      std::cout << "  playing " << f.plays[j] << " ..." << std::endl;
      batch.push_back(std::async(
          std::launch::async, [id = f.plays[j], &f] { return kb::sim::RunPlay(id, f.options); }));
    }
    for (auto& future : batch) {
      reports.push_back(future.get());
      std::cout << "\n" << kb::sim::FormatReport(reports.back()) << std::flush;
    }
  }
  return reports;
}

// Prints the summary and writes the chart. Returns the exit code: 1 when a check failed.
int Summarize(const std::vector<kb::sim::PlayReport>& reports, double seconds,
              const std::string& out) {
  int passed = 0, failed = 0, not_run = 0;
  for (const auto& r : reports) {
    for (const auto& c : r.checks) {
      passed += c.result == kb::sim::Check::Result::kPass;
      failed += c.result == kb::sim::Check::Result::kFail;
      not_run += c.result == kb::sim::Check::Result::kNotRun;
    }
  }
  char subtitle[256];
  std::snprintf(subtitle, sizeof(subtitle),
                "%zu plays in %.0fs: %d checks passed, %d failed, %d not run", reports.size(),
                seconds, passed, failed, not_run);
  const std::filesystem::path out_path = std::filesystem::absolute(out);
  std::error_code ec;
  if (out_path.has_parent_path()) std::filesystem::create_directories(out_path.parent_path(), ec);
  std::ofstream html(out_path);
  html << kb::sim::RenderHtml(reports, subtitle);
  html.close();
  std::cout << "\n" << subtitle << "\n";
  if (html) {
    std::cout << "chart: " << out_path.string() << "\n";
  } else {
    std::cout << "could not write the chart to " << out_path.string() << "\n";
  }
  if (not_run > 0) {
    std::cout << "checks not run need the rescheduler inside kube-balancer (see the notes)\n";
  }
  std::cout << "processes still running: " << kb::sim::LiveChildren() << "\n";
  return failed > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  DemoFlags flags;
  const int exit_code = ParseFlags(argc, argv, &flags);
  if (exit_code >= 0) return exit_code;
  kb::sim::SetLogLevel(flags.options.verbosity > 0 ? "info" : "warn");
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGHUP, &action, nullptr);

  const auto start = std::chrono::steady_clock::now();
  std::cout << "kube-balancer demo: " << flags.plays.size() << " plays, " << flags.parallel
            << " at a time; each starts kube-sim, Prometheus (scrape 1s) and kube-balancer on "
               "127.0.0.1\n"
            << "kube-balancer: " << flags.options.kube_balancer << "\n"
            << std::flush;
  const std::vector<kb::sim::PlayReport> reports = PlayAll(flags);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Summarize(reports, seconds, flags.out);
}
