#include "sim/node_metrics.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "core/logging.h"
#include "core/quantity.h"
#include "sim/api_server.h"
#include "sim/http_listen.h"
#include "sim/k8s_json.h"
#include "sim/scenario.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

// node_exporter's CPU modes; the simulated busy time is all `user`, the rest `idle`.
constexpr const char* kCpuModes[] = {"idle",    "iowait", "irq",    "nice",
                                     "softirq", "steal",  "system", "user"};

std::string NumberText(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  std::ostringstream os;
  os.precision(17);
  os << v.get<double>();
  return os.str();
}

// A cpu / memory value: quantity string or number, or "N%".
StatusOr<UsageValue> ParseValue(const json& v, bool cpu, const std::string& where) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number()) {
    text = NumberText(v);
  } else {
    return Status::InvalidArgument(where + ": must be a quantity or a percentage like \"50%\"");
  }
  UsageValue out;
  if (!text.empty() && text.back() == '%') {
    const std::string number = text.substr(0, text.size() - 1);
    char* end = nullptr;
    const double p = std::strtod(number.c_str(), &end);
    if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(p) || p < 0) {
      return Status::InvalidArgument(where + ": \"" + text + "\" is not a valid percentage");
    }
    out.percent = true;
    out.amount = p;
    return out;
  }
  StatusOr<int64_t> amount = cpu ? ParseCpuMillis(text) : ParseBytes(text);
  if (!amount.ok() || *amount < 0) {
    return Status::InvalidArgument(where + ": \"" + text + "\" is not a valid quantity");
  }
  out.amount = static_cast<double>(*amount);
  return out;
}

StatusOr<UsageProfile::Step> ParseStep(const json& v, const std::string& where, bool in_list) {
  if (!v.is_object()) return Status::InvalidArgument(where + ": must be a mapping");
  UsageProfile::Step step;
  for (const auto& [key, value] : v.items()) {
    if (key == "cpu") {
      KB_ASSIGN_OR_RETURN(step.cpu, ParseValue(value, true, where + ".cpu"));
    } else if (key == "memory") {
      KB_ASSIGN_OR_RETURN(step.memory, ParseValue(value, false, where + ".memory"));
    } else if (key == "after" && in_list) {
      StatusOr<std::chrono::milliseconds> d = ParseDurationValue(value);
      if (!d.ok()) {
        return Status::InvalidArgument(
            where + ".after: \"" + (value.is_string() ? value.get<std::string>() : value.dump()) +
            "\" is not a duration like 30s");
      }
      step.after = *d;
    } else {
      return Status::InvalidArgument(where + ": unknown key \"" + key + "\"");
    }
  }
  return step;
}

Resources Capacity(const json& node) {
  Resources out;
  for (const char* field : {"capacity", "allocatable"}) {
    const json& r = At(node, {"status", field});
    if (out.cpu_millis == 0) out.cpu_millis = QuantityAt(r, "cpu", true).value_or(0);
    if (out.memory_bytes == 0) out.memory_bytes = QuantityAt(r, "memory", false).value_or(0);
  }
  return out;
}

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

int64_t UsageValue::Resolve(int64_t base) const {
  const double v = percent ? amount * static_cast<double>(base) / 100.0 : amount;
  return static_cast<int64_t>(std::llround(v));
}

StatusOr<UsageProfile> UsageProfile::Parse(const json& value) {
  UsageProfile profile;
  if (value.is_null()) return profile;
  if (value.is_object()) {
    KB_ASSIGN_OR_RETURN(Step step, ParseStep(value, "usage", false));
    profile.steps_.push_back(step);
    return profile;
  }
  if (!value.is_array()) {
    return Status::InvalidArgument(
        "usage: must be a mapping like {cpu: 500m, memory: 256Mi} or a list of steps like "
        "[{after: 0s, cpu: 100m}, {after: 30s, cpu: 2}]");
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string where = "usage[" + std::to_string(i) + "]";
    KB_ASSIGN_OR_RETURN(Step step, ParseStep(value[i], where, true));
    if (!seen.insert(step.after.count()).second) {
      return Status::InvalidArgument(where + ".after: two steps start at the same time");
    }
    profile.steps_.push_back(step);
  }
  std::stable_sort(profile.steps_.begin(), profile.steps_.end(),
                   [](const Step& a, const Step& b) { return a.after < b.after; });
  return profile;
}

StatusOr<UsageProfile> UsageProfile::FromAnnotation(const std::string& text) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    return Status::InvalidArgument(std::string(kUsageAnnotation) + ": invalid JSON");
  }
  return Parse(value);
}

Resources UsageProfile::At(std::chrono::milliseconds elapsed, const Resources& base,
                           const Resources& fallback) const {
  Resources out = fallback;
  for (const Step& s : steps_) {
    if (s.after > elapsed) break;
    if (s.cpu) out.cpu_millis = s.cpu->Resolve(base.cpu_millis);
    if (s.memory) out.memory_bytes = s.memory->Resolve(base.memory_bytes);
  }
  return out;
}

double NodeSample::CpuPercent() const {
  return capacity.cpu_millis > 0 ? 100.0 * used.cpu_millis / capacity.cpu_millis : 0;
}
double NodeSample::MemoryPercent() const {
  return capacity.memory_bytes > 0 ? 100.0 * used.memory_bytes / capacity.memory_bytes : 0;
}
double NodeSample::CpuRequestedPercent() const {
  return capacity.cpu_millis > 0 ? 100.0 * requested.cpu_millis / capacity.cpu_millis : 0;
}
double NodeSample::MemoryRequestedPercent() const {
  return capacity.memory_bytes > 0 ? 100.0 * requested.memory_bytes / capacity.memory_bytes : 0;
}

// ---- NodeMetrics ------------------------------------------------------------------------------

struct NodeMetrics::State {
  State(ApiServer& s, const Clock& c, NodeMetricsOptions o) : server(s), clock(c), options(o) {}

  struct Counters {
    SteadyTime first_seen;
    double idle_seconds = 0;  // per CPU (every simulated CPU carries the same share)
    double user_seconds = 0;  // per CPU
    NodeSample sample;
  };

  StatusOr<UsageProfile> Profile(const json& obj) {
    const std::string text = StrAt(obj, {"metadata", "annotations", kUsageAnnotation});
    if (text.empty()) return UsageProfile();
    auto it = profiles.find(text);
    if (it != profiles.end()) return it->second;
    StatusOr<UsageProfile> parsed = UsageProfile::FromAnnotation(text);
    if (!parsed.ok()) {
      if (warned.insert(text).second) {
        Logger("kube-sim")
            ->warn("ignoring invalid usage profile object={} error={}", Name(obj),
                   parsed.status().message());
      }
      return parsed.status();
    }
    profiles.emplace(text, *parsed);
    return parsed;
  }

  void Tick(bool force) {
    std::lock_guard<std::mutex> lock(mu);
    const SteadyTime now = clock.Now();
    if (!force && ticked && now - last_tick < options.min_tick_interval) return;
    // Integrate the usage of the previous tick over the elapsed time.
    if (ticked) {
      const double dt = std::chrono::duration<double>(now - last_tick).count();
      for (auto& [name, c] : nodes) {
        const double busy = c.sample.capacity.cpu_millis > 0
                                ? std::clamp(static_cast<double>(c.sample.used.cpu_millis) /
                                                 static_cast<double>(c.sample.capacity.cpu_millis),
                                             0.0, 1.0)
                                : 0.0;
        c.user_seconds += busy * dt;
        c.idle_seconds += (1.0 - busy) * dt;
      }
    }
    last_tick = now;
    ticked = true;

    // Recompute usage from the cluster (no store lock is held while we compute).
    const std::vector<json> node_list = server.ListObjects("nodes");
    const std::vector<json> pod_list = server.ListObjects("pods");
    std::map<std::string, Counters> next;
    for (const json& node : node_list) {
      const std::string name = Name(node);
      auto old = nodes.find(name);
      Counters c = old != nodes.end() ? old->second : Counters{now, 0, 0, {}};
      NodeSample s;
      s.name = name;
      s.capacity = Capacity(node);
      s.cpus = static_cast<int>(std::max<int64_t>(1, (s.capacity.cpu_millis + 999) / 1000));
      StatusOr<UsageProfile> bg = Profile(node);
      if (bg.ok()) {
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - c.first_seen);
        s.demand = bg->At(elapsed, s.capacity, Resources{});
      }
      c.sample = s;
      next.emplace(name, std::move(c));
    }
    std::set<std::string> live;
    std::vector<PodUsageSample> next_pods;
    for (const json& pod : pod_list) {
      const std::string node = StrAt(pod, {"spec", "nodeName"});
      const std::string phase = PodPhase(pod);
      if (node.empty() || phase == "Succeeded" || phase == "Failed") continue;
      auto n = next.find(node);
      if (n == next.end()) continue;
      NodeSample& s = n->second.sample;
      const Resources req = EffectiveRequests(pod);
      s.requested.cpu_millis += req.cpu_millis;
      s.requested.memory_bytes += req.memory_bytes;
      ++s.pods;
      if (phase != "Running") continue;
      const std::string uid = Uid(pod);
      live.insert(uid);
      auto started = pod_started.emplace(uid, now).first->second;
      const Resources requests{req.cpu_millis, req.memory_bytes, 0};
      const Resources fallback = options.default_usage_is_requests ? requests : Resources{};
      Resources usage = fallback;
      StatusOr<UsageProfile> profile = Profile(pod);
      if (profile.ok()) {
        usage = profile->At(std::chrono::duration_cast<std::chrono::milliseconds>(now - started),
                            requests, fallback);
      }
      s.demand.cpu_millis += usage.cpu_millis;
      s.demand.memory_bytes += usage.memory_bytes;
      next_pods.push_back({StrAt(pod, {"metadata", "namespace"}), Name(pod), node, usage});
    }
    std::sort(next_pods.begin(), next_pods.end(), [](const auto& a, const auto& b) {
      return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
    });
    pods = std::move(next_pods);
    for (auto it = pod_started.begin(); it != pod_started.end();) {
      it = live.count(it->first) ? std::next(it) : pod_started.erase(it);
    }
    for (auto& [name, c] : next) {
      NodeSample& s = c.sample;
      s.used.cpu_millis = std::clamp<int64_t>(s.demand.cpu_millis, 0, s.capacity.cpu_millis);
      s.used.memory_bytes = std::clamp<int64_t>(s.demand.memory_bytes, 0, s.capacity.memory_bytes);
    }
    nodes = std::move(next);
  }

  // Appends one node's series; `label` is "" or `node="<name>",`.
  static void Series(std::ostringstream& out, const Counters& c, const std::string& label,
                     bool headers) {
    const NodeSample& s = c.sample;
    if (headers) {
      out << "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
             "# TYPE node_cpu_seconds_total counter\n";
    }
    char buf[64];
    for (int cpu = 0; cpu < s.cpus; ++cpu) {
      for (const char* mode : kCpuModes) {
        double v = 0;
        if (std::string(mode) == "idle") v = c.idle_seconds;
        if (std::string(mode) == "user") v = c.user_seconds;
        std::snprintf(buf, sizeof(buf), "%.6f", v);
        out << "node_cpu_seconds_total{" << label << "cpu=\"" << cpu << "\",mode=\"" << mode
            << "\"} " << buf << "\n";
      }
    }
  }

  std::string Render(const std::string* only) {
    std::ostringstream out;
    const bool labelled = only == nullptr;
    auto label = [&](const std::string& name) {
      return labelled ? "node=\"" + Escape(name) + "\"" : std::string();
    };
    auto braces = [&](const std::string& name) {
      std::string l = label(name);
      return l.empty() ? std::string() : "{" + l + "}";
    };
    std::vector<const Counters*> selected;
    for (const auto& [name, c] : nodes) {
      if (only == nullptr || name == *only) selected.push_back(&c);
    }
    bool first = true;
    for (const Counters* c : selected) {
      std::string l = label(c->sample.name);
      Series(out, *c, l.empty() ? l : l + ",", first);
      first = false;
    }
    const std::pair<const char*, const char*> gauges[] = {
        {"node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes."},
        {"node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes."},
        {"node_memory_MemFree_bytes", "Memory information field MemFree_bytes."}};
    for (const auto& [metric, help] : gauges) {
      out << "# HELP " << metric << " " << help << "\n# TYPE " << metric << " gauge\n";
      for (const Counters* c : selected) {
        const NodeSample& s = c->sample;
        const int64_t total = s.capacity.memory_bytes;
        const int64_t value = std::string(metric) == "node_memory_MemTotal_bytes"
                                  ? total
                                  : std::max<int64_t>(0, total - s.used.memory_bytes);
        out << metric << braces(s.name) << " " << value << "\n";
      }
    }
    out << "# HELP node_uname_info Labeled system information as provided by the uname system "
           "call.\n# TYPE node_uname_info gauge\n";
    for (const Counters* c : selected) {
      std::string l = label(c->sample.name);
      out << "node_uname_info{" << (l.empty() ? l : l + ",") << "machine=\"x86_64\",nodename=\""
          << Escape(c->sample.name) << "\",release=\"6.1.0-kube-sim\",sysname=\"Linux\"} 1\n";
    }
    return out.str();
  }

  ApiServer& server;
  const Clock& clock;
  const NodeMetricsOptions options;
  std::mutex mu;
  // State below is guarded by mu.
  bool ticked = false;
  SteadyTime last_tick;
  std::map<std::string, Counters> nodes;
  std::vector<PodUsageSample> pods;
  std::map<std::string, SteadyTime> pod_started;  // pod uid -> first seen Running
  std::map<std::string, UsageProfile> profiles;   // annotation text -> parsed profile
  std::set<std::string> warned;
};

NodeMetrics::NodeMetrics(ApiServer& server, const Clock& clock, NodeMetricsOptions options)
    : state_(std::make_shared<State>(server, clock, options)) {}

NodeMetrics::~NodeMetrics() = default;

void NodeMetrics::Attach() {
  std::weak_ptr<State> weak = state_;
  state_->server.AddController("node-metrics", [weak] {
    if (auto state = weak.lock()) state->Tick(false);
  });
}

void NodeMetrics::Tick(bool force) { state_->Tick(force); }

std::vector<NodeSample> NodeMetrics::Samples() {
  state_->Tick(true);
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<NodeSample> out;
  for (const auto& [name, c] : state_->nodes) out.push_back(c.sample);
  return out;
}

std::vector<PodUsageSample> NodeMetrics::PodSamples() {
  state_->Tick(/*force=*/true);
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pods;
}

std::optional<std::string> NodeMetrics::NodeExposition(const std::string& node) {
  state_->Tick(true);
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->nodes.count(node)) return std::nullopt;
  return state_->Render(&node);
}

std::string NodeMetrics::Exposition() {
  state_->Tick(true);
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->Render(nullptr);
}

// ---- NodeExporterServer -----------------------------------------------------------------------

struct NodeExporterServer::Impl {
  explicit Impl(NodeMetrics& m) : metrics(m) {}
  NodeMetrics& metrics;
  std::mutex mu;  // serialises Start / Stop
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::string host;
  int port = 0;
};

NodeExporterServer::NodeExporterServer(NodeMetrics& metrics)
    : impl_(std::make_unique<Impl>(metrics)) {}

NodeExporterServer::~NodeExporterServer() { Stop(); }

Status NodeExporterServer::Start(const std::string& host, int port) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->server) return Status::FailedPrecondition("node exporter already started");
  auto server = std::make_unique<httplib::Server>();
  server->set_tcp_nodelay(true);
  server->set_keep_alive_timeout(2);
  Impl* impl = impl_.get();
  constexpr const char* kTextFormat = "text/plain; version=0.0.4; charset=utf-8";
  server->Get("/metrics", [impl, kTextFormat](const httplib::Request&, httplib::Response& res) {
    res.set_content(impl->metrics.Exposition(), kTextFormat);
  });
  server->Get(R"(/metrics/nodes/([^/]+))", [impl, kTextFormat](const httplib::Request& req,
                                                               httplib::Response& res) {
    std::optional<std::string> text = impl->metrics.NodeExposition(req.matches[1]);
    if (!text) {
      res.status = 404;
      res.set_content("unknown node " + std::string(req.matches[1]) + "\n", "text/plain");
      return;
    }
    res.set_content(*text, kTextFormat);
  });
  server->Get("/sd", [impl](const httplib::Request&, httplib::Response& res) {
    json targets = json::array();
    const std::string address = impl->host + ":" + std::to_string(impl->port);
    for (const NodeSample& s : impl->metrics.Samples()) {
      targets.push_back(
          {{"targets", json::array({address})},
           {"labels", {{"node", s.name}, {"__metrics_path__", "/metrics/nodes/" + s.name}}}});
    }
    res.set_content(targets.dump(), "application/json");
  });
  server->Get("/usage", [impl](const httplib::Request&, httplib::Response& res) {
    json nodes = json::array();
    for (const NodeSample& s : impl->metrics.Samples()) {
      nodes.push_back({{"node", s.name},
                       {"cpuCapacityMillis", s.capacity.cpu_millis},
                       {"memoryCapacityBytes", s.capacity.memory_bytes},
                       {"cpuUsedMillis", s.used.cpu_millis},
                       {"memoryUsedBytes", s.used.memory_bytes},
                       {"cpuDemandMillis", s.demand.cpu_millis},
                       {"memoryDemandBytes", s.demand.memory_bytes},
                       {"cpuRequestedMillis", s.requested.cpu_millis},
                       {"memoryRequestedBytes", s.requested.memory_bytes},
                       {"pods", s.pods},
                       {"cpuPercent", s.CpuPercent()},
                       {"memoryPercent", s.MemoryPercent()}});
    }
    res.set_content(json{{"nodes", nodes}}.dump(), "application/json");
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  KB_ASSIGN_OR_RETURN(const int bound, BindHttpServer(*server, host, port, "node exporter"));
  impl_->host = host;
  impl_->port = bound;
  impl_->server = std::move(server);
  ServeInBackground(*impl_->server, &impl_->thread);
  Logger("kube-sim")->info("node exporter listening url=http://{}:{}", host, bound);
  return Status::Ok();
}

void NodeExporterServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->server) return;
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->server.reset();
}

int NodeExporterServer::port() const { return impl_->port; }

std::string NodeExporterServer::url() const {
  return "http://" + impl_->host + ":" + std::to_string(impl_->port);
}

}  // namespace kb::sim
