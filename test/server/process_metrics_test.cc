// The process_* collector, build info and config gauges: parsing of /proc text (including a
// command name with spaces and parentheses), real values from this process, and the exposition
// checked by the real `promtool check metrics`.
#include "server/process_metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace kb::server {
namespace {

std::map<std::string, double> Values(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, double> out;
  for (const auto& f : families) {
    REQUIRE(f.metric.size() == 1);
    out[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                            : f.metric[0].gauge.value;
  }
  return out;
}

TEST_CASE("ParseProcStat reads the fields after the last ')' of the command name",
          "[server][process]") {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  const std::string stat =
      "4242 (kube (bal) er) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 12 0 "
      "5000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto s = ParseProcStat(stat, 100, 4096, 1'700'000'000);
  REQUIRE(s.has_value());
  CHECK(s->cpu_seconds == Approx(4.0));
  CHECK(s->resident_bytes == Approx(2560.0 * 4096));
  CHECK(s->virtual_bytes == Approx(104857600.0));
  CHECK(s->start_time_seconds == Approx(1'700'000'050.0));
  CHECK_FALSE(ParseProcStat("4242 (x) S 1 2", 100, 4096, 0).has_value());
  CHECK_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0).has_value());
  CHECK_FALSE(ParseProcStat(stat, 0, 4096, 0).has_value());
}

TEST_CASE("ParseBootTime and ParseMaxOpenFiles", "[server][process]") {
  CHECK(ParseBootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n") == 1'700'000'000.0);
  CHECK_FALSE(ParseBootTime("cpu 1 2 3\n").has_value());
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units\n"
      "Max open files            1048576              1048576              files\n";
  CHECK(ParseMaxOpenFiles(limits) == 1048576.0);
  CHECK_FALSE(ParseMaxOpenFiles("Max open files  unlimited unlimited files\n").has_value());
  CHECK_FALSE(ParseMaxOpenFiles("").has_value());
}

TEST_CASE("ProcessCollector reports this process", "[server][process]") {
  const auto values = Values(ProcessCollector().Collect());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    INFO(name);
    REQUIRE(values.count(name) == 1);
    CHECK(values.at(name) > 0);
  }
  // Opening a file is seen by the next scrape.
  const double before = values.at("process_open_fds");
  FILE* f = std::fopen("/proc/self/stat", "r");
  REQUIRE(f != nullptr);
  CHECK(Values(ProcessCollector().Collect()).at("process_open_fds") == before + 1);
  std::fclose(f);
  const double now = static_cast<double>(time(nullptr));
  CHECK(values.at("process_start_time_seconds") <= now + 1);
  CHECK(values.at("process_start_time_seconds") > now - 24 * 3600 * 365.0);
}

TEST_CASE("ProcessCollector skips what it cannot read", "[server][process]") {
  const auto values = Values(ProcessCollector("/nonexistent/self", "/nonexistent").Collect());
  CHECK(values.empty());
}

TEST_CASE("build info and config gauges pass promtool check metrics", "[server][process]") {
  prometheus::Registry registry;
  AddBuildInfo(registry, "kube-balancer 0.1.0", BuildRevision());
  ConfigGauges gauges(registry);
  Config config;
  config.rescheduler.cpu_threshold = 70;
  config.prometheus.max_age = Millis(90000);
  gauges.Set(config);
  auto families = registry.Collect();
  for (auto& f : ProcessCollector().Collect()) families.push_back(std::move(f));
  const std::string text = prometheus::TextSerializer().Serialize(families);
  INFO(text);
  CHECK(text.find("kube_balancer_config_value{key=\"rescheduler.cpuThreshold\"} 70") !=
        std::string::npos);
  CHECK(text.find("kube_balancer_config_value{key=\"prometheus.maxAge\"} 90") != std::string::npos);
  CHECK(text.find("kube_balancer_build_info{revision=\"") != std::string::npos);
  CHECK(std::string(BuildRevision()).size() > 0);
  // Set again (a reload) replaces the value.
  config.rescheduler.cpu_threshold = 65;
  gauges.Set(config);
  CHECK(prometheus::TextSerializer()
            .Serialize(registry.Collect())
            .find("kube_balancer_config_value{key=\"rescheduler.cpuThreshold\"} 65") !=
        std::string::npos);

  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("kb_process_metrics_" + std::to_string(getpid()) + ".txt");
  std::ofstream(file) << text;
  const int rc = std::system(("promtool check metrics < '" + file.string() + "'").c_str());
  std::filesystem::remove(file);
  CHECK(rc == 0);
}

}  // namespace
}  // namespace kb::server
