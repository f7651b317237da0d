// metrics_decode_bench: one metrics-server refresh decoded as kube-balancer does it, at 5,000
// nodes / 150,000 pods (the targets: <= 0.5 s and <= 50 MiB of RSS added by the decode).
//
//   metrics_decode_bench [--nodes N] [--pods N] [--runs N]
//
// Input: a NodeMetricsList and a PodMetricsList in metrics-server v0.6's JSON shape (nanocores,
// KiB, labels, one or two containers per pod), generated up front and held in memory as the
// HTTP client would hold the bodies. Measured: DecodeNodeMetricsList + DecodePodMetricsList (the
// whole refresh's decoding, producing the per-node and per-pod maps). Baseline, in the same run:
// one pass over both bodies counting '{' (a lower bound for any parser). Memory: the peak RSS
// increase over the decode (VmHWM after resetting it through /proc/self/clear_refs), i.e. parser
// buffers plus the decoded maps, excluding the bodies themselves.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "scoring/metrics_server_source.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

// VmHWM / VmRSS of this process in MiB.
double StatusMiB(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0) {
      return std::strtod(line.c_str() + len + 1, nullptr) / 1024.0;  // kB
    }
  }
  return -1;
}

void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

std::string NodeList(int nodes) {
  std::string s = R"({"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1",)"
                  R"("metadata":{},"items":[)";
  char buf[512];
  for (int i = 0; i < nodes; ++i) {
    std::snprintf(buf, sizeof(buf),
                  R"(%s{"metadata":{"name":"node-%05d","creationTimestamp":"2026-12-02T16:00:00Z",)"
                  R"("labels":{"kubernetes.io/hostname":"node-%05d","kubernetes.io/os":"linux"}},)"
                  R"("timestamp":"2026-12-02T16:00:%02dZ","window":"20.048s",)"
                  R"("usage":{"cpu":"%lldn","memory":"%lldKi"}})",
                  i == 0 ? "" : ",", i, i, i % 60, 152347011LL * (i % 30 + 1),
                  1349348LL * (i % 7 + 1));
    s += buf;
  }
  return s + "]}";
}

std::string PodList(int pods) {
  std::string s = R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1",)"
                  R"("metadata":{},"items":[)";
  s.reserve(static_cast<size_t>(pods) * 420);
  char buf[768];
  for (int i = 0; i < pods; ++i) {
    const bool sidecar = i % 3 == 0;
    std::snprintf(
        buf, sizeof(buf),
        R"(%s{"metadata":{"name":"web-%07d-7d4b9c8f6-x2k9p","namespace":"team-%03d",)"
        R"("creationTimestamp":"2026-12-02T16:00:00Z","labels":{"app":"web-%04d",)"
        R"("pod-template-hash":"7d4b9c8f6"}},"timestamp":"2026-12-02T16:00:%02dZ",)"
        R"("window":"15.019s","containers":[{"name":"app","usage":{"cpu":"%lldn",)"
        R"("memory":"%lldKi"}}%s]})",
        i == 0 ? "" : ",", i, i % 500, i % 5000, i % 60, 2141717LL * (i % 50 + 1),
        16012LL * (i % 20 + 1),
        sidecar ? R"(,{"name":"istio-proxy","usage":{"cpu":"3123456n","memory":"45012Ki"}})" : "");
    s += buf;
  }
  return s + "]}";
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 5000;
  int pods = 150000;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--nodes") nodes = value;
    if (flag == "--pods") pods = value;
    if (flag == "--runs") runs = std::max(1, value);
  }
  const std::string node_body = NodeList(nodes);
  const std::string pod_body = PodList(pods);
  std::printf("metrics_decode_bench: %d nodes (%.1f MiB), %d pods (%.1f MiB), %d runs\n", nodes,
              static_cast<double>(node_body.size()) / (1 << 20), pods,
              static_cast<double>(pod_body.size()) / (1 << 20), runs);

  std::vector<double> baseline, decode, peak_added;
  long checksum = 0;
  for (int r = 0; r < runs; ++r) {
    const auto b0 = SteadyClock::now();
    for (const std::string* body : {&node_body, &pod_body}) {
      checksum += std::count(body->begin(), body->end(), '{');
    }
    baseline.push_back(std::chrono::duration<double>(SteadyClock::now() - b0).count());

    // The bodies as the HTTP client hands them over: read in chunks, so the string has spare
    // capacity for simdjson's 64 bytes of padding (with none, the decoder first copies the body).
    std::string nb;
    nb.reserve(node_body.size() + 64);
    nb = node_body;
    std::string pb;
    pb.reserve(pod_body.size() + 64);
    pb = pod_body;
    malloc_trim(0);
    ResetPeakRss();
    const double rss0 = StatusMiB("VmRSS:");
    const auto t0 = SteadyClock::now();
    kb::scoring::RawNodeMetrics out;
    const kb::Status ns = kb::scoring::DecodeNodeMetricsList(nb, out);
    const kb::Status ps = kb::scoring::DecodePodMetricsList(pb, out);
    decode.push_back(std::chrono::duration<double>(SteadyClock::now() - t0).count());
    peak_added.push_back(StatusMiB("VmHWM:") - rss0);
    if (!ns.ok() || !ps.ok() || out.nodes.size() != static_cast<size_t>(nodes) ||
        out.pod_usage.size() != static_cast<size_t>(pods)) {
      std::fprintf(stderr, "decode failed: %s / %s (%zu nodes, %zu pods)\n", ns.ToString().c_str(),
                   ps.ToString().c_str(), out.nodes.size(), out.pod_usage.size());
      return 1;
    }
  }
  const double base = Median(baseline);
  const double t = Median(decode);
  const double mib = *std::max_element(peak_added.begin(), peak_added.end());
  std::printf("  baseline: count '{' in both bodies %8.2f ms   (checksum %ld)\n", base * 1e3,
              checksum);
  std::printf("  decode nodes + pods, median        %8.2f ms   max %.2f ms   = %.1fx baseline\n",
              t * 1e3, *std::max_element(decode.begin(), decode.end()) * 1e3, t / base);
  std::printf("  peak RSS added by the decode       %8.1f MiB (target <= 50 MiB)\n", mib);
  std::printf("  target <= 500 ms: %s; memory: %s\n", t <= 0.5 ? "met" : "MISSED",
              mib <= 50 ? "met" : "MISSED");
  return 0;
}
