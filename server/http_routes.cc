// ExtenderServer's routes: request-size admission, the extender verbs, the GET endpoints, the
// 404/405 fallback and the error handlers, and Serve(), which decodes, runs and answers a verb.
#include <httplib.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>

#include "server/http_server.h"
#include "server/logging.h"

namespace kb::server {
namespace {

// "; charset=utf-8" is deliberate: cpp-httplib gzips "application/json" responses whenever the
// client sends Accept-Encoding: gzip (kube-scheduler always does), which would cost far more CPU
// than it saves on a loopback / cluster network, especially for megabyte full-Nodes answers.
constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct Route {
  const char* path;
  const char* allow;  // the Allow header for 405
  Verb verb;          // metrics label for 405s on this path
};

constexpr Route kRoutes[] = {
    {"/filter", "POST", Verb::kFilter},
    {"/prioritize", "POST", Verb::kPrioritize},
    {"/bind", "POST", Verb::kBind},
    {"/debug/scores", "GET, HEAD, POST", Verb::kDebugScores},
    {"/metrics", "GET, HEAD", Verb::kOther},
    {"/healthz", "GET, HEAD", Verb::kOther},
    {"/readyz", "GET, HEAD", Verb::kOther},
};

const Route* FindRoute(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

const char* StatusText(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    default:
      return "Error";
  }
}

// Filter answers at least this big are streamed from the request's bytes instead of copied.
constexpr size_t kStreamThresholdBytes = 64 * 1024;
constexpr size_t kStreamChunkBytes = 256 * 1024;
// Oversized bodies up to this much beyond maxRequestBytes are drained, not cut off.
constexpr size_t kDrainAllowanceBytes = 16 * 1024 * 1024;

void SetJson(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.body = std::move(body);
  res.set_header("Content-Type", kJson);
}

std::vector<std::string> SplitNonEmpty(const std::string& list, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0; start < list.size();) {
    size_t end = list.find(sep, start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

struct ExtenderServer::Answer {
  int code = 200;
  std::string body;
  std::shared_ptr<FilterAnswer> streamed;  // set instead of `body` for a large filter answer
  static Answer Error(int code, const std::string& message) {
    return {code, EncodeError(message), nullptr};
  }
};

void ExtenderServer::InstallRoutes() {
  ApplyConnectionSettings();
  InstallBodyLimit();
  InstallVerbRoutes();
  InstallGetRoutes();
  InstallFallback();
  InstallErrorHandlers();
}

void ExtenderServer::ApplyConnectionSettings() {
  httplib::Server& svr = *server_;
  const size_t threads = options_.threads > 0
                             ? static_cast<size_t>(options_.threads)
                             : 2 * std::max<size_t>(1, std::thread::hardware_concurrency()) + 4;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_max_count(options_.keep_alive_max_count);
  svr.set_keep_alive_timeout(options_.keep_alive_timeout.count());
  svr.set_read_timeout(options_.read_timeout);
  svr.set_write_timeout(options_.write_timeout);
  // Declared bodies over the limit are drained without being stored and answered 413.
  svr.set_payload_max_length(static_cast<size_t>(options_.max_request_bytes));
}

std::string ExtenderServer::TooLargeBody() const {
  return EncodeError("request body exceeds maxRequestBytes (" +
                     std::to_string(options_.max_request_bytes) + " bytes)");
}

void ExtenderServer::InstallBodyLimit() {
  // Oversized bodies. Up to kDrainAllowanceBytes beyond the limit, the body is read and
  // discarded (never stored): the 413 then goes out on a healthy keep-alive connection. Closing
  // with unread bytes would make the kernel reset the connection, and the client could lose the
  // 413 itself. A declared body beyond that is refused before a byte of it is read, with
  // Connection: close.
  const size_t max_bytes = static_cast<size_t>(options_.max_request_bytes);
  server_->set_pre_routing_handler(
      [this, max_bytes](const httplib::Request& req, httplib::Response& res) {
        if (req.has_header("Content-Length")) {
          const std::string value = req.get_header_value("Content-Length");
          char* end = nullptr;
          const unsigned long long length = std::strtoull(value.c_str(), &end, 10);
          if (end != value.c_str() && length > max_bytes + kDrainAllowanceBytes) {
            const Route* route = FindRoute(req.path);
            metrics_.Requests(route ? route->verb : Verb::kOther, 413).Increment();
            SetJson(res, 413, TooLargeBody());
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
          }
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
}

void ExtenderServer::ReadVerbBody(Verb verb, const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
  const size_t max_bytes = static_cast<size_t>(options_.max_request_bytes);
  std::string body;
  if (req.has_header("Content-Length")) {
    const size_t length =
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    body.reserve(std::min(length, max_bytes) + simdjson::SIMDJSON_PADDING);
  }
  // A declared Content-Length over the limit is drained by cpp-httplib itself
  // (set_payload_max_length) and fails the read with status 413. A chunked body is counted here
  // and, once over the limit, drained up to the allowance.
  bool over_limit = false;
  size_t discarded = 0;
  const bool ok = reader([&](const char* data, size_t n) {
    if (!over_limit && body.size() + n <= max_bytes) {
      body.append(data, n);
      return true;
    }
    if (!over_limit) {
      over_limit = true;
      discarded = body.size();
      std::string().swap(body);
    }
    discarded += n;
    return discarded <= max_bytes + kDrainAllowanceBytes;
  });
  if (!ok || over_limit) {
    const int code = (over_limit || res.status == 413) ? 413 : 400;
    metrics_.Requests(verb, code).Increment();
    SetJson(res, code, code == 413 ? TooLargeBody() : EncodeError("cannot read request body"));
    // Unread bytes may remain when the read stopped early (a read error, or a chunked body beyond
    // the drain allowance): drop the connection then. cpp-httplib's own 413 has drained the
    // declared body already.
    const bool drained_by_httplib = res.status == 413 && !over_limit;
    if (!ok && !drained_by_httplib) res.set_header("Connection", "close");
    return;
  }
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  Serve(verb, req, std::move(body), res);
}

void ExtenderServer::InstallVerbRoutes() {
  // Extender verbs: the body is read by ReadVerbBody so the size limit also holds for chunked
  // bodies and the buffer gets simdjson's padding (parsed in place, no copy).
  std::vector<std::pair<Verb, std::string>> routes = {{Verb::kDebugScores, "/debug/scores"}};
  for (Verb verb : kExtenderVerbs) routes.emplace_back(verb, std::string("/") + VerbName(verb));
  // `verb = verb`: clang 14 (the fuzz and sanitizer builds) cannot capture a structured binding.
  for (const auto& [verb, path] : routes) {
    server_->Post(path, [this, verb = verb](const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& reader) {
      ReadVerbBody(verb, req, res, reader);
    });
    // POST without a body (no Content-Length).
    server_->Post(path, [this, verb = verb](const httplib::Request& req, httplib::Response& res) {
      Serve(verb, req, std::string(), res);
    });
  }
  for (const auto& [path, handler] : test_routes_) {
    server_->Post(
        path, [this, handler = handler](const httplib::Request& req, httplib::Response& res) {
          const auto start = std::chrono::steady_clock::now();
          SetJson(res, 200, handler(req.body));
          if (observer_) {
            observer_(Verb::kOther, std::chrono::steady_clock::now() - start, req.body.size());
          }
        });
  }
}

void ExtenderServer::InstallGetRoutes() {
  httplib::Server& svr = *server_;
  for (const auto& [path, handler] : get_routes_) {
    svr.Get(path, [this, handler = handler](const httplib::Request&, httplib::Response& res) {
      metrics_.Requests(Verb::kOther, 200).Increment();
      SetJson(res, 200, handler());
    });
  }
  svr.Get("/debug/scores", [this](const httplib::Request& req, httplib::Response& res) {
    Serve(Verb::kDebugScores, req, std::string(), res);
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.body = prometheus::TextSerializer().Serialize(registry_.Collect());
    res.set_header("Content-Type", kMetricsContentType);
  });
  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content("ok\n", kText);
  });
  svr.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = !ready_ || ready_();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ok\n" : "not ready: cluster cache not synced\n", kText);
  });
}

void ExtenderServer::InstallFallback() {
  // Everything else: 405 with Allow on a known path, else 404. Registered last so the specific
  // routes win; as regular handlers they read (and bound) the body, keeping keep-alive clean.
  auto fallback = [this](const httplib::Request& req, httplib::Response& res) {
    const Route* route = FindRoute(req.path);
    static constexpr Route kGetRoute = {"", "GET, HEAD", Verb::kOther};
    for (const auto& entry : get_routes_) {
      if (route == nullptr && entry.first == req.path) route = &kGetRoute;
    }
    if (route != nullptr) {
      res.set_header("Allow", route->allow);
      metrics_.Requests(route->verb, 405).Increment();
      SetJson(res, 405,
              EncodeError("method " + req.method + " not allowed on " + req.path +
                          " (allowed: " + route->allow + ")"));
      return;
    }
    metrics_.Requests(Verb::kOther, 404).Increment();
    SetJson(res, 404, EncodeError("unknown path " + req.path));
  };
  httplib::Server& svr = *server_;
  svr.Get(".*", fallback);
  svr.Post(".*", fallback);
  svr.Put(".*", fallback);
  svr.Patch(".*", fallback);
  svr.Delete(".*", fallback);
  svr.Options(".*", fallback);
}

void ExtenderServer::InstallErrorHandlers() {
  // Errors raised by cpp-httplib itself (malformed request line, 414, 413 on the fallback
  // routes, unknown methods) get the same JSON shape.
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        metrics_.Requests(Verb::kOther, res.status).Increment();
        res.body =
            EncodeError(std::string("HTTP ") + std::to_string(res.status) + " " +
                        StatusText(res.status) + (req.path.empty() ? "" : " (" + req.path + ")"));
        res.set_header("Content-Type", kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  // Last resort for anything a route did not catch itself: never let a worker die.
  server_->set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        metrics_.exceptions.Increment();
        const Route* route = FindRoute(req.path);
        metrics_.Requests(route ? route->verb : Verb::kOther, 500).Increment();
        Log()->error("request failed with an exception method={} path={} error={}", req.method,
                     req.path, what);
        SetJson(res, 500, EncodeError("internal error: " + what));
      });
}

ExtenderServer::Answer ExtenderServer::ServeFilter(std::string body) {
  // The answer keeps the request alive: a full-Nodes answer is written straight from the
  // request's bytes.
  auto answer = std::make_shared<FilterAnswer>();
  answer->body = std::move(body);
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(answer->body);
  if (!args.ok()) {
    Log()->debug("bad request verb=filter error={}", args.status().message());
    return Answer::Error(400, args.status().message());
  }
  answer->args = std::move(args).value();
  answer->response = EncodeFilterResponseBody(answer->args, extender_.Filter(answer->args));
  if (answer->response.size() >= kStreamThresholdBytes) return {200, "", std::move(answer)};
  return {200, answer->response.ToString(), nullptr};
}

ExtenderServer::Answer ExtenderServer::ServePrioritize(const std::string& body) {
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  if (!args.ok()) {
    Log()->debug("bad request verb=prioritize error={}", args.status().message());
    return Answer::Error(400, args.status().message());
  }
  return {200, EncodePriorities(extender_.Prioritize(*args)), nullptr};
}

ExtenderServer::Answer ExtenderServer::ServeBind(const std::string& body) {
  StatusOr<BindingArgs> args = DecodeBindingArgs(body);
  if (!args.ok()) return Answer::Error(400, args.status().message());
  // A failed binding is HTTP 200 with the error text: kube-scheduler reads Error.
  return {200, EncodeError(extender_.Bind(*args)), nullptr};
}

ExtenderServer::Answer ExtenderServer::ServeDebugScores(const httplib::Request& req,
                                                        const std::string& body) {
  if (req.method == "POST") {
    StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
    if (!args.ok()) return Answer::Error(400, args.status().message());
    return {200, extender_.DebugScores(*args).dump(2), nullptr};
  }
  const std::string ns = req.get_param_value("namespace");
  const std::string name = req.get_param_value("name");
  if (ns.empty() || name.empty()) {
    return Answer::Error(400, "GET /debug/scores needs ?namespace=<ns>&name=<pod>[&nodes=a,b]");
  }
  StatusOr<nlohmann::json> result =
      extender_.DebugScoresForPod(ns, name, SplitNonEmpty(req.get_param_value("nodes"), ','));
  if (!result.ok()) {
    return Answer::Error(result.status().code() == StatusCode::kNotFound ? 404 : 400,
                         result.status().message());
  }
  return {200, result->dump(2), nullptr};
}

void ExtenderServer::Serve(Verb verb, const httplib::Request& req, std::string body,
                           httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  const size_t body_bytes = body.size();
  Answer answer;
  try {
    switch (verb) {
      case Verb::kFilter:
        answer = ServeFilter(std::move(body));
        break;
      case Verb::kPrioritize:
        answer = ServePrioritize(body);
        break;
      case Verb::kBind:
        answer = ServeBind(body);
        break;
      case Verb::kDebugScores:
        answer = ServeDebugScores(req, body);
        break;
      case Verb::kOther:
        answer = Answer::Error(404, "unknown path " + req.path);
        break;
    }
  } catch (const std::exception& e) {
    answer = Answer::Error(500, std::string("internal error: ") + e.what());
    metrics_.exceptions.Increment();
    Log()->error("request failed with an exception verb={} error={}", VerbName(verb), e.what());
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics_.Duration(verb).Observe(std::chrono::duration<double>(elapsed).count());
  metrics_.Requests(verb, answer.code).Increment();
  if (observer_) observer_(verb, elapsed, body_bytes);
  if (answer.streamed != nullptr) {
    WriteStreamed(std::move(answer.streamed), answer.code, res);
    return;
  }
  SetJson(res, answer.code, std::move(answer.body));
}

void ExtenderServer::WriteStreamed(std::shared_ptr<FilterAnswer> streamed, int code,
                                   httplib::Response& res) {
  res.status = code;
  const size_t size = streamed->response.size();
  res.set_content_provider(size, kJson, [streamed](size_t offset, size_t, httplib::DataSink& sink) {
    // Coalesce the pieces (one per Node object) into large writes: each sink.write is a
    // poll + send pair in cpp-httplib.
    std::string chunk;
    chunk.reserve(kStreamChunkBytes);
    const bool ok =
        streamed->response.WriteFrom(offset, [&sink, &chunk](const char* data, size_t n) {
          if (chunk.size() + n > kStreamChunkBytes && !chunk.empty()) {
            if (!sink.write(chunk.data(), chunk.size())) return false;
            chunk.clear();
          }
          if (n >= kStreamChunkBytes) return sink.write(data, n);
          chunk.append(data, n);
          return true;
        });
    return ok && (chunk.empty() || sink.write(chunk.data(), chunk.size()));
  });
}

}  // namespace kb::server
