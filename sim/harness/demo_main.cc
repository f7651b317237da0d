// kube-balancer-demo: `make demo`. Plays the seeds' scenarios end to end on this machine: for
// each, kube-sim (in this process: API server, scheduler driver, node metrics), a real
// Prometheus and a real kube-balancer, all on 127.0.0.1 in a temporary directory. Prints per-node
// CPU / memory / pod tables before and after each play with the outcome checks, writes an HTML
// page of SVG charts, and stops every process it started (by PID; also on Ctrl-C).
//
//   kube-balancer-demo --kube-balancer PATH [--source-dir DIR] [--out FILE] [--plays a,b]
//                      [--parallel N] [--prometheus PATH] [--keep] [-v N]
#include <signal.h>
#include <spdlog/spdlog.h>
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
               "                          [--plays seed002,burst,pinned,maintenance,cpu-hog]\n"
               "                          [--parallel N] [--prometheus PATH] [--keep] [-v N]\n";
}

void OnSignal(int) {
  // Stop every child we started, then leave (the plays' destructors cannot run from here).
  kb::sim::KillChildrenFromSignalHandler();
  const char msg[] = "\nkube-balancer-demo: interrupted, stopped every process it started\n";
  [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
  ::_exit(130);
}

}  // namespace

int main(int argc, char** argv) {
  kb::sim::PlayOptions options;
  options.source_dir = KB_SOURCE_DIR;
  options.kube_balancer = KB_DEFAULT_BALANCER;
  std::string out = "kube-balancer-demo.html";
  std::vector<std::string> plays = kb::sim::PlayIds();
  int parallel = 3;
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
      options.kube_balancer = value();
    } else if (arg == "--source-dir") {
      options.source_dir = value();
    } else if (arg == "--out") {
      out = value();
    } else if (arg == "--plays") {
      plays = kb::sim::SplitCommaList(value());
    } else if (arg == "--parallel") {
      parallel = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--prometheus") {
      options.prometheus = value();
    } else if (arg == "--keep") {
      options.keep_work_dirs = true;
    } else if (arg == "-v") {
      options.verbosity = std::atoi(value().c_str());
    } else if (arg == "-h" || arg == "--help") {
      Usage();
      return 0;
    } else {
      std::cerr << "kube-balancer-demo: unknown flag " << arg << "\n";
      Usage();
      return 2;
    }
  }
  spdlog::set_level(options.verbosity > 0 ? spdlog::level::info : spdlog::level::warn);
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGHUP, &action, nullptr);

  const auto start = std::chrono::steady_clock::now();
  std::cout << "kube-balancer demo: " << plays.size() << " plays, " << parallel
            << " at a time; each starts kube-sim, Prometheus (scrape 1s) and kube-balancer on "
               "127.0.0.1\n"
            << "kube-balancer: " << options.kube_balancer << "\n"
            << std::flush;
  // Plays run in batches of `parallel`; each is independent (own ports, own temp directory).
  std::vector<kb::sim::PlayReport> reports;
  for (size_t i = 0; i < plays.size(); i += static_cast<size_t>(parallel)) {
    std::vector<std::future<kb::sim::PlayReport>> batch;
    for (size_t j = i; j < plays.size() && j < i + static_cast<size_t>(parallel); ++j) {
      std::cout << "  playing " << plays[j] << " ..." << std::endl;
      batch.push_back(std::async(
          std::launch::async, [id = plays[j], &options] { return kb::sim::RunPlay(id, options); }));
    }
    for (auto& f : batch) {
      reports.push_back(f.get());
      std::cout << "\n" << kb::sim::FormatReport(reports.back()) << std::flush;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

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
