// extender_bench: throughput and server-side latency of /filter and /prioritize on the real
// ExtenderServer (loopback HTTP, keep-alive clients), at 100 and 500 nodes, in NodeNames and
// full-Nodes mode, each next to a no-op handler on the same server measured in the same run;
// plus a codec micro-benchmark (parse GB/s without HTTP).
//
// Then kube-scheduler's connection pattern: 1, 4 and 16 concurrent keep-alive clients sending
// 500-name filter requests, round-trip p50/p99 next to a no-op handler at the same concurrency.
//
//   extender_bench [--clients N] [--requests N] [--only CASE] [--dump-body names|full N]
//
// Server-side time = body fully read -> response encoded (decode + handler + encode), recorded
// by the server itself (ExtenderServer::SetLatencyObserverForTest). Targets: p99 <=
// 0.3 ms at 500 node names; full-Nodes path >= 1 GB/s of request body; round-trip p99 <= 5 ms
// at 16 concurrent clients with the default server settings.
#include <httplib.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/logging.h"
#include "scoring/policy.h"
#include "server/codec.h"
#include "server/extender.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "test/fakes/fake_kube_client.h"
#include "test/testing/builders.h"
#include "test/testing/cluster_fixture.h"

namespace {

using Clock = std::chrono::steady_clock;
using kb::server::Verb;

std::string NodeName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "node-%04d", i);
  return buf;
}

// A Node as kube-scheduler serialises it for a non-cache-capable extender: a realistic size
// (labels, annotations, taints, addresses, five conditions, nodeInfo and an image list), ~3 KB.
std::string NodeJson(int i) {
  const std::string name = NodeName(i);
  std::string images;
  for (int k = 0; k < 8; ++k) {
    if (k) images += ",";
    images +=
        R"({"names":["registry.k8s.io/some/component-)" + std::to_string(k) +
        R"(@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","registry.k8s.io/some/component-)" +
        std::to_string(k) + R"(:v1.26.7"],"sizeBytes":)" + std::to_string(10000000 + k) + "}";
  }
  std::string conditions;
  const char* types[] = {"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable",
                         "Ready"};
  for (int k = 0; k < 5; ++k) {
    if (k) conditions += ",";
    conditions +=
        std::string(R"({"type":")") + types[k] + R"(","status":")" + (k == 4 ? "True" : "False") +
        R"(","lastHeartbeatTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2025-12-01T00:00:00Z","reason":"KubeletHasSufficientResources","message":"kubelet has sufficient resources available"})";
  }
  return R"({"metadata":{"name":")" + name + R"(","uid":"uid-node-)" + name +
         R"(","resourceVersion":"123456","creationTimestamp":"2025-12-01T00:00:00Z","labels":{"beta.kubernetes.io/arch":"amd64","beta.kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","kubernetes.io/hostname":")" +
         name +
         R"(","kubernetes.io/os":"linux","node.kubernetes.io/instance-type":"m5.xlarge","topology.kubernetes.io/region":"eu-west-1","topology.kubernetes.io/zone":"eu-west-1a"},"annotations":{"node.alpha.kubernetes.io/ttl":"0","volumes.kubernetes.io/controller-managed-attach-detach":"true"}},"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"],"providerID":"aws:///eu-west-1a/i-0123456789abcdef0"},"status":{"capacity":{"cpu":"4","ephemeral-storage":"104845292Ki","hugepages-2Mi":"0","memory":"16203212Ki","pods":"110"},"allocatable":{"cpu":"4","ephemeral-storage":"96625420948","hugepages-2Mi":"0","memory":"16100812Ki","pods":"110"},"phase":"Running","conditions":[)" +
         conditions + R"(],"addresses":[{"type":"InternalIP","address":"10.0.1.)" +
         std::to_string(i % 250) + R"("},{"type":"Hostname","address":")" + name +
         R"json("}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},"nodeInfo":{"machineID":"ec2a1b2c3d4e5f60718293a4b5c6d7e8","systemUUID":"ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8","bootID":"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9","kernelVersion":"6.1.0-13-cloud-amd64","osImage":"Debian GNU/Linux 12 (bookworm)","containerRuntimeVersion":"containerd://1.6.20","kubeletVersion":"v1.26.7","kubeProxyVersion":"v1.26.7","operatingSystem":"linux","architecture":"amd64"},"images":[)json" +
         images + "]}}";
}

const char kPodJson[] =
    R"({"metadata":{"name":"web-7d4b9c-x2k9p","namespace":"default","uid":"6f1c2a4e-0d0c-4a8b-9a3e-0f6b1c2d3e4f","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c","uid":"rs-uid-1","controller":true,"blockOwnerDeletion":true}]},"spec":{"containers":[{"name":"app","image":"nginx:1.27","resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}}}],"schedulerName":"kube-balancer","priority":0},"status":{"phase":"Pending"}})";

std::string NamesBody(int nodes) {
  std::string body = std::string(R"({"Pod":)") + kPodJson + R"(,"Nodes":null,"NodeNames":[)";
  for (int i = 0; i < nodes; ++i) {
    if (i) body += ",";
    body += "\"" + NodeName(i) + "\"";
  }
  return body + "]}";
}

std::string FullBody(int nodes) {
  std::string body = std::string(R"({"Pod":)") + kPodJson + R"(,"Nodes":{"metadata":{},"items":[)";
  for (int i = 0; i < nodes; ++i) {
    if (i) body += ",";
    body += NodeJson(i);
  }
  return body + R"(]},"NodeNames":null})";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[idx];
}

// Server-side samples recorded by the observer.
struct Samples {
  std::mutex mu;
  std::vector<double> seconds;
  double bytes = 0;
  void Reset() {
    std::lock_guard<std::mutex> lock(mu);
    seconds.clear();
    bytes = 0;
  }
};

struct RunResult {
  double wall_seconds = 0;
  int ok = 0;
  int failed = 0;
  std::vector<double> client_seconds;  // round trips
  std::vector<double> server_seconds;
  double server_bytes = 0;
  std::string first_error;
};

RunResult Drive(int port, const std::string& path, const std::string& body, int clients,
                int requests, Samples& samples) {
  // Warm-up (connections, parser buffers, allocator).
  {
    httplib::Client c("127.0.0.1", port);
    for (int i = 0; i < 20; ++i) c.Post(path, body, "application/json");
  }
  samples.Reset();
  RunResult r;
  std::mutex mu;
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      c.set_read_timeout(30);
      std::vector<double> local;
      int ok = 0, failed = 0;
      std::string first_error;
      while (next.fetch_add(1) < requests) {
        const auto t0 = Clock::now();
        auto res = c.Post(path, body, "application/json");
        local.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        if (res && res->status == 200) {
          ++ok;
        } else {
          ++failed;
          if (first_error.empty()) {
            first_error =
                res ? "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 300)
                    : "transport error " + httplib::to_string(res.error());
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      r.ok += ok;
      r.failed += failed;
      if (r.first_error.empty()) r.first_error = first_error;
      r.client_seconds.insert(r.client_seconds.end(), local.begin(), local.end());
    });
  }
  for (auto& t : threads) t.join();
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::lock_guard<std::mutex> lock(samples.mu);
  r.server_seconds = samples.seconds;
  r.server_bytes = samples.bytes;
  return r;
}

struct Options {
  // Client threads share the machine with the server: half the CPUs (at least one) keeps the
  // load generator from stealing the server's CPU and inflating its tail latency.
  int clients = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  int requests = 2000;
  std::string only;  // run only cases whose label contains this
};

// Runs `call` for at least 0.5 s and 20 calls; returns the mean seconds per call.
template <class Fn>
double SecondsPerCall(Fn&& call) {
  int iterations = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  while (elapsed < 0.5 || iterations < 20) {
    call();
    ++iterations;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return elapsed / iterations;
}

void CodecBench() {
  std::printf("\nCodec micro-benchmark (no HTTP; one thread)\n");
  std::printf("%-34s %10s %12s %12s\n", "case", "body", "per call", "GB/s");
  for (int nodes : {100, 500, 5000}) {
    for (bool full : {false, true}) {
      const std::string body = full ? FullBody(nodes) : NamesBody(nodes);
      // The server's buffer has simdjson padding (it reads the body itself).
      std::string padded = body;
      padded.reserve(body.size() + 64);
      size_t sink = 0;
      const double per_call = SecondsPerCall([&] {
        auto args = kb::server::DecodeExtenderArgs(padded);
        if (!args.ok()) {
          std::printf("decode failed: %s\n", args.status().ToString().c_str());
          std::exit(1);
        }
        sink += args->node_names.size();
      });
      char label[64];
      std::snprintf(label, sizeof(label), "decode %s %d nodes", full ? "full" : "names", nodes);
      std::printf("%-34s %9.1fK %10.1f us %12.2f\n", label, body.size() / 1024.0, per_call * 1e6,
                  body.size() / per_call / 1e9);
      if (sink == 0) std::printf("(no nodes?)\n");
    }
  }
  // Decode + filter-response encode of the full path (what the server does minus the policy).
  {
    const std::string body = FullBody(500);
    std::string padded = body;
    padded.reserve(body.size() + 64);
    size_t out_bytes = 0;
    const double per_call = SecondsPerCall([&] {
      auto args = kb::server::DecodeExtenderArgs(padded);
      kb::server::FilterResponse r;
      for (size_t i = 0; i < args->node_names.size(); ++i) r.passed.push_back(i);
      out_bytes += kb::server::EncodeFilterResponse(*args, r).size();
    });
    std::printf("%-34s %9.1fK %10.1f us %12.2f\n", "decode+encode full 500 (all pass)",
                body.size() / 1024.0, per_call * 1e6, body.size() / per_call / 1e9);
    if (out_bytes == 0) std::printf("(empty output?)\n");
  }
}

struct Targets {
  bool p99 = true;          // server-side p99 <= 0.3 ms at 500 node names
  bool gbps = true;         // full-Nodes path >= 1 GB/s
  bool concurrency = true;  // round-trip p99 <= 5 ms at 16 clients
};

struct InProcess {
  std::string label;
  double p50, p99, bytes;
  size_t sink;
};

// Parses the flags; an exit code when the process should exit now (usage, --dump-body).
std::optional<int> ParseOptions(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--clients" && i + 1 < argc) {
      opt.clients = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dump-body" && i + 2 < argc) {
      // Prints a request body (for curl / wrk): --dump-body names|full NODES
      const bool full = std::string(argv[i + 1]) == "full";
      const int nodes = std::atoi(argv[i + 2]);
      std::fputs((full ? FullBody(nodes) : NamesBody(nodes)).c_str(), stdout);
      return 0;
    } else if (a == "--only" && i + 1 < argc) {
      opt.only = argv[++i];
    } else if (a == "--requests" && i + 1 < argc) {
      opt.requests = std::max(100, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: extender_bench [--clients N] [--requests N] [--only CASE] [--dump-body "
                   "names|full N]\n");
      return 2;
    }
  }
  return std::nullopt;
}

// The real ExtenderServer (default options) over `nodes` nodes of 4 CPU / 16 GiB with
// spread-out utilisation, plus a no-op POST route for the baseline.
struct BenchServer {
  explicit BenchServer(int nodes)
      : metrics(registry),
        extender(load.model(), kube, kb::scoring::PolicyConfig::From(kb::Config{}), metrics),
        server(extender, registry, metrics, kb::server::ServerOptions{}, [] { return true; }) {
    std::vector<kb::Node> node_objs;
    std::map<std::string, std::pair<double, double>> usage;
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> util(5, 95);
    for (int i = 0; i < nodes; ++i) {
      node_objs.push_back(kb::testing::NodeBuilder(NodeName(i)).Cpu("4").Memory("16Gi").Build());
      usage[NodeName(i)] = {util(rng), util(rng)};
    }
    load.SetCluster(node_objs);
    load.SetUsage(usage);
    server.SetLatencyObserverForTest([this](Verb, std::chrono::nanoseconds elapsed, size_t bytes) {
      std::lock_guard<std::mutex> lock(samples.mu);
      samples.seconds.push_back(std::chrono::duration<double>(elapsed).count());
      samples.bytes += static_cast<double>(bytes);
    });
    server.AddPostRouteForTest("/noop", [](const std::string&) { return std::string("{}"); });
  }
  bool Start() {
    const kb::Status s = server.Start();
    if (!s.ok()) std::fprintf(stderr, "cannot start server: %s\n", s.ToString().c_str());
    return s.ok();
  }

  kb::testing::LoadFixture load;
  prometheus::Registry registry;
  kb::server::ExtenderMetrics metrics;
  kb::testing::FakeKubeClient kube;
  kb::server::Extender extender;
  kb::server::ExtenderServer server;
  Samples samples;
};

bool Selected(const Options& opt, const std::string& label) {
  return opt.only.empty() || label.find(opt.only) != std::string::npos;
}

// One verb on one body: a table row. False when requests failed.
bool RunCase(BenchServer& b, const char* verb, bool full, int nodes, const std::string& body,
             int requests, const Options& opt, const RunResult& noop, Targets& targets) {
  const RunResult r =
      Drive(b.server.port(), std::string("/") + verb, body, opt.clients, requests, b.samples);
  if (r.failed > 0) {
    std::fprintf(stderr, "%s: %d requests failed, first: %s\n", verb, r.failed,
                 r.first_error.c_str());
    return false;
  }
  const double rps = r.ok / r.wall_seconds;
  const double noop_rps = noop.ok / noop.wall_seconds;
  const double srv_p50 = Percentile(r.server_seconds, 0.50) * 1e3;
  const double srv_p99 = Percentile(r.server_seconds, 0.99) * 1e3;
  double srv_total = 0;
  for (double s : r.server_seconds) srv_total += s;
  const double gbps = srv_total > 0 ? r.server_bytes / srv_total / 1e9 : 0;
  char label[64];
  std::snprintf(label, sizeof(label), "%s %s %d", verb, full ? "full" : "names", nodes);
  std::printf("%-22s %8.0fK %9.0f %7.3fms %7.3fms %7.3fms %7.3fms %8.2f %9.0f %8.2fx\n", label,
              body.size() / 1024.0, rps, srv_p50, srv_p99, Percentile(r.client_seconds, 0.50) * 1e3,
              Percentile(r.client_seconds, 0.99) * 1e3, full ? gbps : 0.0, noop_rps,
              rps / noop_rps);
  if (!full && nodes == 500 && srv_p99 > 0.3) targets.p99 = false;
  if (full && gbps < 1.0) targets.gbps = false;
  return true;
}

// Filter and prioritize in names and full mode over HTTP, each next to the no-op baseline.
bool RunHttpCases(BenchServer& b, int nodes, const Options& opt, Targets& targets) {
  for (bool full : {false, true}) {
    const std::string body = full ? FullBody(nodes) : NamesBody(nodes);
    // Full-mode bodies are big: fewer requests keep the run short.
    const int requests = full ? std::max(200, opt.requests / (nodes >= 500 ? 8 : 4)) : opt.requests;
    const std::string mode_label = std::string(full ? "full " : "names ") + std::to_string(nodes);
    if (!Selected(opt, "filter " + mode_label) && !Selected(opt, "prioritize " + mode_label)) {
      continue;
    }
    const RunResult noop = Drive(b.server.port(), "/noop", body, opt.clients, requests, b.samples);
    for (const char* verb : {"filter", "prioritize"}) {
      if (!Selected(opt, std::string(verb) + " " + mode_label)) continue;
      if (!RunCase(b, verb, full, nodes, body, requests, opt, noop, targets)) return false;
    }
    std::printf(
        "%-22s %8.0fK %9.0f %9s %9s %7.3fms %7.3fms %8s %9s %9s\n",
        (std::string("  noop ") + (full ? "full " : "names ") + std::to_string(nodes)).c_str(),
        body.size() / 1024.0, noop.ok / noop.wall_seconds, "-", "-",
        Percentile(noop.client_seconds, 0.50) * 1e3, Percentile(noop.client_seconds, 0.99) * 1e3,
        "-", "-", "-");
  }
  return true;
}

// The same work without HTTP, one thread: decode + handler + encode.
void RunInProcess(BenchServer& b, int nodes, std::vector<InProcess>& out) {
  for (bool full : {false, true}) {
    const std::string body = full ? FullBody(nodes) : NamesBody(nodes);
    std::string padded = body;
    padded.reserve(body.size() + 64);
    for (const char* verb : {"filter", "prioritize"}) {
      std::vector<double> times;
      const auto start = Clock::now();
      size_t sink = 0;
      while (times.size() < 200 ||
             std::chrono::duration<double>(Clock::now() - start).count() < 0.3) {
        const auto t0 = Clock::now();
        auto args = kb::server::DecodeExtenderArgs(padded);
        if (std::string(verb) == "filter") {
          sink += kb::server::EncodeFilterResponseBody(*args, b.extender.Filter(*args)).size();
        } else {
          sink += kb::server::EncodePriorities(b.extender.Prioritize(*args)).size();
        }
        times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
      out.push_back({std::string(verb) + (full ? " full " : " names ") + std::to_string(nodes),
                     Percentile(times, 0.5), Percentile(times, 0.99),
                     static_cast<double>(body.size()), sink});
    }
  }
}

// kube-scheduler's pattern: N concurrent keep-alive clients, 500-name filter requests, on the
// default server settings. Round-trip p50/p99 (what kube-scheduler waits for) at 1, 4 and 16
// clients, each next to the no-op route at the same concurrency.
bool RunConcurrency(BenchServer& b, const Options& opt, Targets& targets) {
  const std::string body = NamesBody(500);
  std::printf("\nConcurrent keep-alive clients, filter names 500 (default server settings)\n");
  std::printf("%-9s %9s %9s %9s %9s %11s %11s %9s\n", "clients", "req/s", "rtt p50", "rtt p99",
              "srv p99", "noop p50", "noop p99", "p99 ratio");
  for (int clients : {1, 4, 16}) {
    const int requests = std::max(opt.requests, clients * 200);
    const RunResult noop = Drive(b.server.port(), "/noop", body, clients, requests, b.samples);
    const RunResult r = Drive(b.server.port(), "/filter", body, clients, requests, b.samples);
    if (r.failed > 0 || noop.failed > 0) {
      std::fprintf(stderr, "concurrency %d: requests failed, first: %s\n", clients,
                   r.first_error.c_str());
      return false;
    }
    const double p99 = Percentile(r.client_seconds, 0.99) * 1e3;
    const double noop_p99 = Percentile(noop.client_seconds, 0.99) * 1e3;
    std::printf("%-9d %9.0f %7.3fms %7.3fms %7.3fms %9.3fms %9.3fms %8.2fx\n", clients,
                r.ok / r.wall_seconds, Percentile(r.client_seconds, 0.50) * 1e3, p99,
                Percentile(r.server_seconds, 0.99) * 1e3,
                Percentile(noop.client_seconds, 0.5) * 1e3, noop_p99,
                noop_p99 > 0 ? p99 / noop_p99 : 0.0);
    if (clients == 16 && p99 > 5.0) targets.concurrency = false;
  }
  return true;
}

void PrintSummary(const std::vector<InProcess>& in_process, const Targets& targets) {
  std::printf("\nIn-process (no HTTP, one thread): decode + handler + encode\n");
  std::printf("%-22s %9s %9s %9s %8s\n", "case", "body", "p50", "p99", "GB/s");
  for (const InProcess& r : in_process) {
    std::printf("%-22s %8.0fK %7.3fms %7.3fms %8.2f\n", r.label.c_str(), r.bytes / 1024.0,
                r.p50 * 1e3, r.p99 * 1e3, r.bytes / r.p50 / 1e9);
  }
  std::printf("\nratio = verb req/s / no-op req/s on the same server with the same body.\n");
  std::printf("target p99 <= 0.300 ms at 500 node names: %s\n", targets.p99 ? "met" : "MISSED");
  std::printf("target full-Nodes path >= 1 GB/s of request body: %s\n",
              targets.gbps ? "met" : "MISSED");
  std::printf("target round-trip p99 <= 5 ms at 16 concurrent clients: %s\n",
              targets.concurrency ? "met" : "MISSED");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (std::optional<int> exit_code = ParseOptions(argc, argv, opt)) return *exit_code;
  // Benchmarks measure the hot path, not log formatting.
  (void)kb::ConfigureLogging("text", 0);
  spdlog::set_level(spdlog::level::warn);
  kb::Logger("extender")->set_level(spdlog::level::warn);
  kb::Logger("scoring")->set_level(spdlog::level::warn);

  std::printf("extender_bench: %d keep-alive clients, %d requests per case, %u CPUs\n", opt.clients,
              opt.requests, std::thread::hardware_concurrency());
  std::printf("server-side = body read -> response encoded (decode + handler + encode)\n\n");
  std::printf("%-22s %9s %9s %9s %9s %9s %9s %8s %9s %9s\n", "case", "body", "req/s", "srv p50",
              "srv p99", "rtt p50", "rtt p99", "GB/s", "noop req/s", "ratio");
  std::vector<InProcess> in_process;
  Targets targets;
  for (int nodes : {100, 500}) {
    auto b = std::make_unique<BenchServer>(nodes);
    if (!b->Start()) return 1;
    if (!RunHttpCases(*b, nodes, opt, targets)) return 1;
    if (nodes == 500 && Selected(opt, "concurrency") && !RunConcurrency(*b, opt, targets)) {
      return 1;
    }
    b->server.Stop();
    RunInProcess(*b, nodes, in_process);
  }
  PrintSummary(in_process, targets);
  CodecBench();
  return 0;
}
