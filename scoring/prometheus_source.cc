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

}  // namespace

Status ParseQueryResponse(int http_status, const std::string& body, MetricKind metric,
                          const std::string& node_label, RawNodeMetrics& out) {
  MetricQueryResult& result = metric == MetricKind::kCpu ? out.cpu : out.memory;
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
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
  const json* series = Member(*data, "result");
  if (series == nullptr || !(series->is_array() || series->is_null())) {
    return Status::Unavailable("vector result is not an array").WithHttp(http_status);
  }
  if (series->is_null()) return Status::Ok();
  for (const json& s : *series) {
    const json* labels = Member(s, "metric");
    const json* value = Member(s, "value");
    if (labels == nullptr || value == nullptr || !value->is_array() || value->size() != 2 ||
        !(*value)[0].is_number()) {
      ++result.dropped;
      continue;
    }
    const std::optional<double> v = ParseSampleValue((*value)[1]);
    if (!v || *v < -kRangeTolerance || *v > 100.0 + kRangeTolerance) {
      ++result.dropped;
      continue;
    }
    const double percent = std::clamp(*v, 0.0, 100.0);
    const std::string instance_host = StripPort(StringMember(*labels, "instance"));
    std::string key =
        node_label.empty() ? std::string() : StringMember(*labels, node_label.c_str());
    if (node_label == "instance") key = instance_host;
    if (key.empty()) key = instance_host;
    if (key.empty()) {
      ++result.dropped;
      continue;
    }
    const double ts_seconds = (*value)[0].get<double>();
    const WallTime ts(
        std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(ts_seconds)));

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
        time_slot = ts;
      }
      continue;
    }
    slot = percent;
    time_slot = ts;
    ++result.samples;
  }
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

Status PrometheusSource::RunQuery(MetricKind metric, const std::string& query,
                                  RawNodeMetrics& out) {
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
  return ParseQueryResponse(res->status, res->body, metric, config_.node_label, out);
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
  out.cpu.status = RunQuery(MetricKind::kCpu, cpu_query_, out);
  out.memory.status = RunQuery(MetricKind::kMemory, memory_query_, out);
  return out;
}

}  // namespace kb::scoring
