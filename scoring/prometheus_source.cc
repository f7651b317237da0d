#include "scoring/prometheus_source.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "scoring/logging.h"

namespace kb::scoring {

namespace {

using nlohmann::json;

// Utilisation computed from counters can land slightly outside 0..100 (counter resets, scrape
// jitter): values within this many points are clamped, values further out are dropped as wrong.
constexpr double kRangeTolerance = 1.0;
constexpr size_t kSnippetBytes = 200;
// Sample timestamps are seconds since the epoch as a float. WallTime counts nanoseconds in an
// int64, which holds up to ~9.22e9 s (year 2262): anything at or past this bound, negative, zero or
// non-finite cannot be a real scrape time and is dropped rather than converted (the conversion
// would overflow).
constexpr double kMaxSampleSeconds = 9.2e9;
// Per-pod usage above this is not a measurement (10^6 cores, 2^60 bytes).
constexpr double kMaxPodCpuMillis = 1e9;
constexpr double kMaxPodMemoryBytes = 1152921504606846976.0;

std::string Snippet(const std::string& body) {
  std::string s = body.substr(0, kSnippetBytes);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (body.size() > kSnippetBytes) s += "...";
  return s;
}

// "10.0.0.5:9100" -> "10.0.0.5", "[fd00::1]:9100" -> "fd00::1", "node-a" -> "node-a",
// "fd00::1" (bare IPv6, no port) -> unchanged.
std::string StripPort(const std::string& instance) {
  if (!instance.empty() && instance.front() == '[') {
    const size_t close = instance.find(']');
    if (close != std::string::npos) return instance.substr(1, close - 1);
    return instance;
  }
  const size_t first = instance.find(':');
  if (first == std::string::npos) return instance;
  if (instance.find(':', first + 1) != std::string::npos) return instance;  // bare IPv6
  return instance.substr(0, first);
}

Status HttpStatusToError(int http_status, std::string message) {
  Status s;
  if (http_status == 400 || http_status == 422) {
    s = Status::InvalidArgument(std::move(message));
  } else if (http_status == 401 || http_status == 403) {
    s = Status::PermissionDenied(std::move(message));
  } else if (http_status == 404) {
    s = Status::NotFound(std::move(message));
  } else {
    s = Status::Unavailable(std::move(message));
  }
  return std::move(s).WithHttp(http_status);
}

Status ErrorTypeToStatus(const std::string& error_type, int http_status, std::string message) {
  Status s;
  if (error_type == "bad_data" || error_type == "execution") {
    s = Status::InvalidArgument(std::move(message));
  } else if (error_type == "timeout") {
    s = Status::DeadlineExceeded(std::move(message));
  } else {
    // canceled, internal, unavailable (TSDB not ready), not_found, unknown future types.
    s = Status::Unavailable(std::move(message));
  }
  return std::move(s).WithHttp(http_status);
}

const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string StringMember(const json& obj, const char* key) {
  const json* v = Member(obj, key);
  return (v != nullptr && v->is_string()) ? v->get<std::string>() : std::string();
}

// Parses a Prometheus sample value ("0.42", "NaN", "+Inf"); nullopt when not a finite number.
std::optional<double> ParseSampleValue(const json& v) {
  if (v.is_number()) {
    const double d = v.get<double>();
    return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(d)) return std::nullopt;
  return d;
}

// The sample time of `v` (seconds since the epoch), or nullopt when it is not a representable,
// positive, finite time.
std::optional<WallTime> ParseSampleTime(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double seconds = v.get<double>();
  if (!std::isfinite(seconds) || seconds <= 0 || seconds >= kMaxSampleSeconds) return std::nullopt;
  return WallTime(
      std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(seconds)));
}

void NoteDrop(MetricQueryResult& result, const json& labels, const std::string& why) {
  ++result.dropped;
  if (!result.first_drop.empty()) return;
  result.first_drop = why + " (series " + labels.dump().substr(0, kSnippetBytes) + ")";
}

// Validates the /api/v1/query envelope and returns its vector (nullptr for a null result) in
// `*series`. `doc` holds the parsed body.
Status ParseVectorEnvelope(int http_status, const std::string& body, MetricQueryResult& result,
                           json& doc, const json** series) {
  *series = nullptr;
  doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    // Proxies and load balancers answer with HTML or plain text before Prometheus sees the query.
    std::string msg =
        "non-JSON response (HTTP " + std::to_string(http_status) + "): " + Snippet(body);
    if (http_status >= 200 && http_status < 300) {
      return Status::Unavailable(std::move(msg)).WithHttp(http_status);
    }
    return HttpStatusToError(http_status, std::move(msg));
  }
  const std::string status = StringMember(doc, "status");
  if (const json* warnings = Member(doc, "warnings"); warnings && warnings->is_array()) {
    for (const json& w : *warnings) {
      if (w.is_string()) result.warnings.push_back(w.get<std::string>());
    }
  }
  if (status == "error") {
    const std::string error_type = StringMember(doc, "errorType");
    const std::string error = StringMember(doc, "error");
    return ErrorTypeToStatus(error_type, http_status,
                             "prometheus error (HTTP " + std::to_string(http_status) +
                                 ", errorType " + (error_type.empty() ? "?" : error_type) +
                                 "): " + error);
  }
  if (http_status < 200 || http_status >= 300) {
    return HttpStatusToError(http_status,
                             "HTTP " + std::to_string(http_status) + ": " + Snippet(body));
  }
  if (status != "success") {
    return Status::Unavailable("unexpected response envelope (status \"" + status +
                               "\"): " + Snippet(body))
        .WithHttp(http_status);
  }
  const json* data = Member(doc, "data");
  if (data == nullptr || !data->is_object()) {
    return Status::Unavailable("response without data: " + Snippet(body)).WithHttp(http_status);
  }
  const std::string result_type = StringMember(*data, "resultType");
  if (result_type != "vector") {
    return Status::InvalidArgument("expected an instant vector result, got \"" + result_type +
                                   "\" (the query must return one series per node)")
        .WithHttp(http_status);
  }
  const json* vector = Member(*data, "result");
  if (vector == nullptr || !(vector->is_array() || vector->is_null())) {
    return Status::Unavailable("vector result is not an array").WithHttp(http_status);
  }
  if (vector->is_array()) *series = vector;
  return Status::Ok();
}

// One well-formed sample of a vector: labels, evaluation (or sample) time and finite value.
struct VectorSample {
  const json* labels;
  WallTime time;
  double value;
};

// Calls fn(VectorSample) for each sample whose shape, time and value are valid; counts the others.
template <class Fn>
void ForEachSample(const json* series, MetricQueryResult& result, Fn&& fn) {
  if (series == nullptr) return;
  static const json kNoLabels = json::object();
  for (const json& s : *series) {
    const json* labels = Member(s, "metric");
    const json* value = Member(s, "value");
    if (labels == nullptr || value == nullptr || !value->is_array() || value->size() != 2) {
      NoteDrop(result, labels != nullptr ? *labels : kNoLabels, "malformed sample");
      continue;
    }
    const std::optional<WallTime> ts = ParseSampleTime((*value)[0]);
    if (!ts) {
      NoteDrop(result, *labels, "timestamp " + (*value)[0].dump() + " is not a valid time");
      continue;
    }
    const std::optional<double> v = ParseSampleValue((*value)[1]);
    if (!v) {
      NoteDrop(result, *labels, "value " + (*value)[1].dump() + " is not a finite number");
      continue;
    }
    fn(VectorSample{labels, *ts, *v});
  }
}

// The node key of a series (see RawNodeMetrics) and its instance host.
std::string NodeKey(const json& labels, const std::string& node_label, std::string* instance) {
  *instance = StripPort(StringMember(labels, "instance"));
  std::string key = node_label.empty() ? std::string() : StringMember(labels, node_label.c_str());
  if (node_label == "instance") key = *instance;
  if (key.empty()) key = *instance;
  return key;
}

}  // namespace

Status ParseQueryResponse(int http_status, const std::string& body, MetricKind metric,
                          const std::string& node_label, RawNodeMetrics& out) {
  MetricQueryResult& result = metric == MetricKind::kCpu ? out.cpu : out.memory;
  json doc;
  const json* series = nullptr;
  KB_RETURN_IF_ERROR(ParseVectorEnvelope(http_status, body, result, doc, &series));
  ForEachSample(series, result, [&](const VectorSample& s) {
    if (s.value < -kRangeTolerance || s.value > 100.0 + kRangeTolerance) {
      NoteDrop(result, *s.labels, "value " + std::to_string(s.value) + " is not a percentage");
      return;
    }
    const double percent = std::clamp(s.value, 0.0, 100.0);
    std::string instance_host;
    const std::string key = NodeKey(*s.labels, node_label, &instance_host);
    if (key.empty()) {
      NoteDrop(result, *s.labels, "no node label and no instance");
      return;
    }
    RawNodeSample& sample = out.nodes[key];
    if (sample.instance_host.empty()) sample.instance_host = instance_host;
    std::optional<double>& slot =
        metric == MetricKind::kCpu ? sample.cpu_percent : sample.memory_percent;
    std::optional<WallTime>& time_slot =
        metric == MetricKind::kCpu ? sample.cpu_time : sample.memory_time;
    if (slot.has_value()) {
      // Two series for one node (e.g. a query not aggregated by the node label): keep the larger
      // value, which is the safe side for a threshold filter.
      ++result.duplicates;
      if (percent > *slot) {
        slot = percent;
        time_slot = s.time;
      }
      return;
    }
    slot = percent;
    time_slot = s.time;
    ++result.samples;
  });
  return Status::Ok();
}

Status ParseTimestampResponse(int http_status, const std::string& body,
                              const std::string& node_label, MetricQueryResult& result,
                              std::map<std::string, WallTime>& times) {
  json doc;
  const json* series = nullptr;
  KB_RETURN_IF_ERROR(ParseVectorEnvelope(http_status, body, result, doc, &series));
  ForEachSample(series, result, [&](const VectorSample& s) {
    std::string instance_host;
    const std::string key = NodeKey(*s.labels, node_label, &instance_host);
    const std::optional<WallTime> scraped = ParseSampleTime(json(s.value));
    if (key.empty() || !scraped) {
      NoteDrop(result, *s.labels, "scrape time " + std::to_string(s.value) + " is not a time");
      return;
    }
    // Several series for one node: the oldest scrape counts.
    auto [it, inserted] = times.emplace(key, *scraped);
    if (!inserted) it->second = std::min(it->second, *scraped);
  });
  return Status::Ok();
}

Status ParsePodResponse(int http_status, const std::string& body, MetricKind metric,
                        RawNodeMetrics& out) {
  json doc;
  const json* series = nullptr;
  KB_RETURN_IF_ERROR(ParseVectorEnvelope(http_status, body, out.pods, doc, &series));
  ForEachSample(series, out.pods, [&](const VectorSample& s) {
    const std::string ns = StringMember(*s.labels, "namespace");
    const std::string pod = StringMember(*s.labels, "pod");
    const double scaled = metric == MetricKind::kCpu ? s.value * 1000.0 : s.value;
    const double limit = metric == MetricKind::kCpu ? kMaxPodCpuMillis : kMaxPodMemoryBytes;
    if (ns.empty() || pod.empty() || scaled < 0 || scaled > limit) {
      NoteDrop(out.pods, *s.labels, "no namespace/pod labels or value out of range");
      return;
    }
    PodUsage& u = out.pod_usage[ns + "/" + pod];
    std::optional<int64_t>& slot = metric == MetricKind::kCpu ? u.cpu_millis : u.memory_bytes;
    const auto value = static_cast<int64_t>(std::llround(scaled));
    if (slot) {
      ++out.pods.duplicates;
      slot = std::max(*slot, value);
    } else {
      slot = value;
      ++out.pods.samples;
    }
    // The older of the pod's two samples is its time.
    u.time = u.time == WallTime{} ? s.time : std::min(u.time, s.time);
  });
  return Status::Ok();
}

struct PrometheusSource::Client {
  std::unique_ptr<httplib::ClientImpl> http;
};

PrometheusSource::PrometheusSource(PrometheusConfig config)
    : config_(std::move(config)),
      cpu_query_(config_.cpu_query.empty()
                     ? DefaultCpuQuery(config_.node_label, config_.rate_window)
                     : config_.cpu_query),
      memory_query_(config_.memory_query.empty() ? DefaultMemoryQuery(config_.node_label)
                                                 : config_.memory_query),
      endpoint_(ParseHttpUrl(config_.url, "prometheus.url")),
      client_(std::make_unique<Client>()) {
  if (!endpoint_.ok()) return;
  const HttpUrl& ep = *endpoint_;
  if (ep.https) {
    auto ssl = std::make_unique<httplib::SSLClient>(ep.host, ep.port);
    ssl->enable_server_certificate_verification(!config_.insecure_skip_verify);
    if (!config_.ca_file.empty()) ssl->set_ca_cert_path(config_.ca_file);
    client_->http = std::move(ssl);
  } else {
    client_->http = std::make_unique<httplib::ClientImpl>(ep.host, ep.port);
  }
  httplib::ClientImpl& http = *client_->http;
  http.set_connection_timeout(config_.timeout);
  http.set_read_timeout(config_.timeout);
  http.set_write_timeout(config_.timeout);
  http.set_tcp_nodelay(true);
  // Two small queries per refresh interval: a fresh connection each time avoids reusing a socket
  // the server (or a proxy) has already closed.
  http.set_keep_alive(false);
}

PrometheusSource::~PrometheusSource() = default;

std::string PrometheusSource::Describe() const { return "prometheus " + config_.url; }

StatusOr<PrometheusSource::Answer> PrometheusSource::Post(const std::string& query) {
  const std::string path = endpoint_->path + "/api/v1/query";
  httplib::Params params{{"query", query}};
  // Prometheus also caps evaluation time server-side; ask for our own timeout so a slow query is
  // aborted there too (Go duration syntax: "<n>ms").
  params.emplace("timeout", std::to_string(config_.timeout.count()) + "ms");
  const auto start = std::chrono::steady_clock::now();
  httplib::Result res = client_->http->Post(path, params);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (!res) {
    const httplib::Error err = res.error();
    std::string msg = "POST " + config_.url + path + ": " + httplib::to_string(err);
    const bool timed_out = err == httplib::Error::ConnectionTimeout ||
                           (err == httplib::Error::Read && elapsed >= config_.timeout * 9 / 10);
    if (timed_out) {
      return Status::DeadlineExceeded(msg + " (timeout " + std::to_string(config_.timeout.count()) +
                                      "ms)");
    }
    return Status::Unavailable(std::move(msg));
  }
  return Answer{res->status, std::move(res->body)};
}

Status PrometheusSource::RunNodeQuery(MetricKind metric, RawNodeMetrics& out) {
  const bool cpu = metric == MetricKind::kCpu;
  StatusOr<Answer> answer = Post(cpu ? cpu_query_ : memory_query_);
  if (!answer.ok()) return answer.status();
  KB_RETURN_IF_ERROR(
      ParseQueryResponse(answer->http, answer->body, metric, config_.node_label, out));
  const std::string& ts_query = cpu ? config_.cpu_timestamp_query : config_.memory_timestamp_query;
  if (ts_query.empty()) return Status::Ok();  // samples keep the evaluation time
  MetricQueryResult& result = cpu ? out.cpu : out.memory;
  std::map<std::string, WallTime> scraped;
  StatusOr<Answer> ts_answer = Post(ts_query);
  const Status ts_status = ts_answer.ok()
                               ? ParseTimestampResponse(ts_answer->http, ts_answer->body,
                                                        config_.node_label, result, scraped)
                               : ts_answer.status();
  for (auto& [key, sample] : out.nodes) {
    std::optional<double>& value = cpu ? sample.cpu_percent : sample.memory_percent;
    std::optional<WallTime>& time = cpu ? sample.cpu_time : sample.memory_time;
    if (!value) continue;
    auto it = scraped.find(key);
    if (ts_status.ok() && it != scraped.end()) {
      time = it->second;  // the scrape, not the evaluation
      continue;
    }
    // Without its scrape time a value could hide a frozen exporter: not used.
    value.reset();
    time.reset();
    if (ts_status.ok()) {
      --result.samples;
      ++result.dropped;
      if (result.first_drop.empty()) {
        result.first_drop = "node key \"" + key + "\" has no series in the timestamp query";
      }
    }
  }
  return ts_status.Annotate(cpu ? "cpuTimestampQuery" : "memoryTimestampQuery");
}

void PrometheusSource::RunPodQueries(RawNodeMetrics& out) {
  Status status = Status::Ok();
  for (MetricKind metric : {MetricKind::kCpu, MetricKind::kMemory}) {
    const bool cpu = metric == MetricKind::kCpu;
    StatusOr<Answer> answer = Post(cpu ? config_.pod_cpu_query : config_.pod_memory_query);
    Status s =
        answer.ok() ? ParsePodResponse(answer->http, answer->body, metric, out) : answer.status();
    if (!s.ok()) {
      status = s.Annotate(cpu ? "podCpuQuery" : "podMemoryQuery");
      break;
    }
  }
  if (!status.ok()) out.pod_usage.clear();
  out.pods.status = std::move(status);
}

StatusOr<RawNodeMetrics> PrometheusSource::Fetch() {
  if (!endpoint_.ok()) return endpoint_.status();
  if (!config_.bearer_token_file.empty()) {
    // Re-read every time: projected service-account tokens rotate.
    std::ifstream in(config_.bearer_token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (!in || token.empty()) {
      return Status::PermissionDenied("prometheus.bearerTokenFile \"" + config_.bearer_token_file +
                                      "\" is unreadable or empty");
    }
    client_->http->set_bearer_token_auth(token);
  }
  RawNodeMetrics out;
  out.cpu.status = RunNodeQuery(MetricKind::kCpu, out);
  out.memory.status = RunNodeQuery(MetricKind::kMemory, out);
  if (HasPodUsage()) RunPodQueries(out);
  return out;
}

}  // namespace kb::scoring
