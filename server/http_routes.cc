// ExtenderServer's routes: the admission check every request passes (framing, header count,
// body limits and encodings per route), the extender verbs' body reading, the GET endpoints,
// the 404/405 fallback and the error handlers. The verb handlers are in http_verbs.cc.
#include <httplib.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>

#include "server/http_internal.h"
#include "server/http_server.h"
#include "server/logging.h"

namespace kb::server {
namespace {

constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct Route {
  const char* path;
  const char* allow;  // the Allow header for 405
  Verb verb;          // metrics label for 405s on this path
  bool probe;         // on the metrics listener (else on the main one)
};

constexpr Route kRoutes[] = {
    {"/filter", "POST", Verb::kFilter, false},
    {"/prioritize", "POST", Verb::kPrioritize, false},
    {"/bind", "POST", Verb::kBind, false},
    {"/debug/scores", "GET, HEAD, POST", Verb::kDebugScores, false},
    {"/metrics", "GET, HEAD", Verb::kOther, true},
    {"/healthz", "GET, HEAD", Verb::kOther, true},
    {"/readyz", "GET, HEAD", Verb::kOther, true},
};

// The route of `path` among those `surface` serves (ExtenderServer::Surface bits: 1 verbs,
// 2 probes).
const Route* FindRoute(const std::string& path, unsigned surface) {
  for (const Route& r : kRoutes) {
    const unsigned bit = r.probe ? 2u : 1u;
    if (path == r.path && (surface & bit) != 0) return &r;
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
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Error";
  }
}

// Oversized verb bodies up to this much beyond maxRequestBytes (at most maxRequestBytes more)
// are drained, not cut off, so the 413 goes out on a healthy keep-alive connection.
constexpr size_t kMaxDrainAllowanceBytes = 16 * 1024 * 1024;
// Bodies on any other route (404, 405, probes): none is expected, a small one is read and
// dropped, anything larger is refused.
constexpr size_t kOtherBodyBytes = 64 * 1024;

// A Content-Length value: digits only (no sign, no spaces), at most 18 of them.
bool ParseLength(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  out = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The methods cpp-httplib reads a body for; any other method's body would be left in the stream
// and parsed as the next request.
bool ReadsBody(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

void ExtenderServer::InstallRoutes(httplib::Server& svr, Surface surface) {
  ApplyConnectionSettings(svr);
  InstallAdmission(svr, surface);
  if ((surface & kVerbs) != 0) InstallVerbRoutes(svr);
  InstallGetRoutes(svr, surface);
  InstallFallback(svr, surface);
  InstallErrorHandlers(svr);
}

void ExtenderServer::ApplyConnectionSettings(httplib::Server& svr) {
  // One thread per open connection (ConnectionServer caps them), plus a few for the connections
  // it refuses.
  const size_t max_threads = options_.limits.max_connections + 16;
  svr.new_task_queue = [max_threads] { return NewConnectionThreads(max_threads); };
  svr.set_tcp_nodelay(true);
  svr.set_socket_options(ExclusiveSocketOptions);
  // The per-request read deadline and the idle timeout are the connection layer's; these are
  // cpp-httplib's own, for anything it still reads or writes through its defaults.
  svr.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(
      std::max(options_.limits.read_timeout, std::chrono::milliseconds(1000))));
  svr.set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(
      std::max(options_.limits.write_timeout, std::chrono::milliseconds(1000))));
  svr.set_keep_alive_max_count(options_.limits.max_requests_per_connection);
  // Declared verb bodies over the limit (within the drain allowance) are drained without being
  // stored and answered 413.
  svr.set_payload_max_length(static_cast<size_t>(options_.max_request_bytes));
}

std::string ExtenderServer::TooLargeBody() const {
  return EncodeError("request body exceeds maxRequestBytes (" +
                     std::to_string(options_.max_request_bytes) + " bytes)");
}

size_t ExtenderServer::DrainAllowance() const {
  return std::min(static_cast<size_t>(options_.max_request_bytes), kMaxDrainAllowanceBytes);
}

void ExtenderServer::InstallAdmission(httplib::Server& svr, Surface surface) {
  svr.set_pre_routing_handler([this, surface](const httplib::Request& req, httplib::Response& res) {
    return Admit(req, res, surface) ? httplib::Server::HandlerResponse::Unhandled
                                    : httplib::Server::HandlerResponse::Handled;
  });
}

bool ExtenderServer::Admit(const httplib::Request& req, httplib::Response& res, Surface surface) {
  ConnectionStream* stream = CurrentConnection();
  const Route* route = FindRoute(req.path, surface);
  auto refuse = [&](int code, Rejection why, const std::string& message) {
    OnRejection(why);
    metrics_.Requests(route ? route->verb : Verb::kOther, code).Increment();
    SetJson(res, code, EncodeError(message));
    res.set_header("Connection", "close");
    if (stream != nullptr) stream->RequestClose();  // the body is not read: nothing after it is
    return false;
  };
  if (req.headers.size() > options_.max_header_count) {
    return refuse(431, Rejection::kHeaderCount,
                  "more than maxHeaderCount (" + std::to_string(options_.max_header_count) +
                      ") header fields");
  }
  // Framing: exactly one way to find the end of the body, or the request is refused.
  uint64_t declared = 0;
  const size_t lengths = req.get_header_value_count("Content-Length");
  for (size_t i = 0; i < lengths; ++i) {
    const std::string value = req.get_header_value("Content-Length", i);
    uint64_t parsed = 0;
    if (!ParseLength(value, parsed) || (i > 0 && parsed != declared)) {
      return refuse(400, Rejection::kFraming, "invalid or conflicting Content-Length headers");
    }
    declared = parsed;
  }
  const bool chunked = req.has_header("Transfer-Encoding");
  if (chunked && (req.get_header_value_count("Transfer-Encoding") > 1 ||
                  Lower(req.get_header_value("Transfer-Encoding")) != "chunked" || lengths > 0)) {
    return refuse(400, Rejection::kFraming,
                  "Transfer-Encoding must be exactly \"chunked\", without Content-Length");
  }
  const bool has_body = chunked || declared > 0;
  if (has_body && !ReadsBody(req.method)) {
    return refuse(400, Rejection::kFraming, "a request body is not accepted with " + req.method);
  }
  // Verb bodies (and the benchmark's test routes) get maxRequestBytes; any other route a few KiB.
  bool verb_body = req.method == "POST" && route != nullptr && !route->probe;
  for (const auto& entry : test_routes_)
    verb_body |= req.method == "POST" && entry.first == req.path;
  const size_t limit =
      verb_body ? static_cast<size_t>(options_.max_request_bytes) : kOtherBodyBytes;
  const size_t allowance = verb_body ? DrainAllowance() : 0;
  if (req.has_header("Content-Encoding")) {
    const std::string encoding = Lower(req.get_header_value("Content-Encoding"));
    const bool decodable = encoding == "gzip" || encoding == "deflate" || encoding == "br";
    if (encoding != "identity" && (!verb_body || !decodable)) {
      return refuse(415, Rejection::kEncoding,
                    "Content-Encoding \"" + encoding + "\" is not accepted on " + req.path);
    }
  }
  if (declared > limit + allowance) {
    return refuse(413, Rejection::kBodyBytes,
                  verb_body ? "request body exceeds maxRequestBytes (" +
                                  std::to_string(options_.max_request_bytes) + " bytes)"
                            : "request body over " + std::to_string(kOtherBodyBytes) +
                                  " bytes on " + req.path);
  }
  // The connection layer's byte budget for the body: the declared length, or for a chunked body
  // the limit plus the drain allowance plus room for the chunk framing.
  const size_t budget = chunked ? limit + allowance + limit / 8 + 4096 : declared;
  if (stream != nullptr) stream->AllowBody(budget, /*end_is_eof=*/!has_body);
  return true;
}

void ExtenderServer::ReadVerbBody(Verb verb, const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
  const size_t max_bytes = static_cast<size_t>(options_.max_request_bytes);
  const size_t allowance = DrainAllowance();
  const bool encoded = req.has_header("Content-Encoding") &&
                       Lower(req.get_header_value("Content-Encoding")) != "identity";
  ConnectionStream* stream = CurrentConnection();
  std::string body;
  if (req.has_header("Content-Length") && !encoded) {
    const size_t length =
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    body.reserve(std::min(length, max_bytes) + simdjson::SIMDJSON_PADDING);
  }
  // A declared Content-Length over the limit is drained by cpp-httplib itself
  // (set_payload_max_length) and fails the read with status 413. A chunked or compressed body is
  // counted here (decompressed bytes) and, once over the limit, drained up to the allowance.
  bool over_limit = false, over_ratio = false;
  size_t total = 0;
  const bool ok = reader([&](const char* data, size_t n) {
    total += n;
    if (encoded && stream != nullptr &&
        total > static_cast<size_t>(options_.max_compression_ratio) *
                    std::max<size_t>(stream->body_bytes_read(), 4096)) {
      over_ratio = true;
      return false;
    }
    if (!over_limit && total <= max_bytes) {
      body.append(data, n);
      return true;
    }
    if (!over_limit) {
      over_limit = true;
      std::string().swap(body);
    }
    return total <= max_bytes + allowance;
  });
  if (!ok || over_limit) {
    if (over_ratio) OnRejection(Rejection::kEncoding);
    if (over_limit && ok) OnRejection(Rejection::kBodyBytes);
    int code = (over_limit || over_ratio || res.status == 413) ? 413 : 400;
    std::string message = code == 413 ? TooLargeBody() : EncodeError("cannot read request body");
    if (over_ratio) {
      message = EncodeError("compressed request body expands more than maxCompressionRatio (" +
                            std::to_string(options_.max_compression_ratio) + "x)");
    }
    if (stream != nullptr && stream->failure() != nullptr &&
        *stream->failure() == Rejection::kReadTimeout) {
      code = 408;
      message = EncodeError("request body not received within readTimeout");
    }
    metrics_.Requests(verb, code).Increment();
    SetJson(res, code, std::move(message));
    // Unread bytes may remain when the read stopped early (a read error, a timeout, a chunked or
    // compressed body beyond the allowance): the connection ends after this answer. cpp-httplib's
    // own 413 has drained the declared body already.
    const bool drained_by_httplib = res.status == 413 && !over_limit && !over_ratio &&
                                    (stream == nullptr || stream->failure() == nullptr);
    if (!ok && !drained_by_httplib) {
      res.set_header("Connection", "close");
      if (stream != nullptr) stream->RequestClose();
    }
    return;
  }
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  Serve(verb, req, std::move(body), res);
}

void ExtenderServer::InstallVerbRoutes(httplib::Server& svr) {
  // Extender verbs: the body is read by ReadVerbBody so the size limit also holds for chunked
  // and compressed bodies and the buffer gets simdjson's padding (parsed in place, no copy).
  std::vector<std::pair<Verb, std::string>> routes = {{Verb::kDebugScores, "/debug/scores"}};
  for (Verb verb : kExtenderVerbs) routes.emplace_back(verb, std::string("/") + VerbName(verb));
  // `verb = verb`: clang 14 (the fuzz and sanitizer builds) cannot capture a structured binding.
  for (const auto& [verb, path] : routes) {
    svr.Post(path, [this, verb = verb](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
      ReadVerbBody(verb, req, res, reader);
    });
    // POST without a body (no Content-Length).
    svr.Post(path, [this, verb = verb](const httplib::Request& req, httplib::Response& res) {
      Serve(verb, req, std::string(), res);
    });
  }
  for (const auto& [path, handler] : test_routes_) {
    svr.Post(path, [this, handler = handler](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      SetJson(res, 200, handler(req.body));
      if (observer_) {
        observer_(Verb::kOther, std::chrono::steady_clock::now() - start, req.body.size());
      }
    });
  }
}

void ExtenderServer::InstallGetRoutes(httplib::Server& svr, Surface surface) {
  if ((surface & kVerbs) != 0) {
    for (const auto& [path, handler] : get_routes_) {
      svr.Get(path, [this, handler = handler](const httplib::Request&, httplib::Response& res) {
        metrics_.Requests(Verb::kOther, 200).Increment();
        SetJson(res, 200, handler());
      });
    }
    svr.Get("/debug/scores", [this](const httplib::Request& req, httplib::Response& res) {
      Serve(Verb::kDebugScores, req, std::string(), res);
    });
  }
  if ((surface & kProbes) == 0) return;
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

void ExtenderServer::InstallFallback(httplib::Server& svr, Surface surface) {
  // Everything else: 405 with Allow on a known path of this listener, else 404. Registered last
  // so the specific routes win; the admission check has bounded any body.
  auto fallback = [this, surface](const httplib::Request& req, httplib::Response& res) {
    const Route* route = FindRoute(req.path, surface);
    static constexpr Route kGetRoute = {"", "GET, HEAD", Verb::kOther, false};
    if ((surface & kVerbs) != 0) {
      for (const auto& entry : get_routes_) {
        if (route == nullptr && entry.first == req.path) route = &kGetRoute;
      }
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
  svr.Get(".*", fallback);
  svr.Post(".*", fallback);
  svr.Put(".*", fallback);
  svr.Patch(".*", fallback);
  svr.Delete(".*", fallback);
  svr.Options(".*", fallback);
}

void ExtenderServer::InstallErrorHandlers(httplib::Server& svr) {
  // Errors raised by cpp-httplib itself (malformed request line, 414, a body that failed to
  // read, unknown methods) get the same JSON shape; a read the connection layer cut off says
  // why, and the connection ends after the answer.
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ConnectionStream* stream = CurrentConnection();
        std::string detail;
        if (stream != nullptr && stream->failure() != nullptr) {
          const Rejection why = *stream->failure();
          res.status = why == Rejection::kReadTimeout   ? 408
                       : why == Rejection::kBodyBytes   ? 413
                       : why == Rejection::kHeaderBytes ? 431
                                                        : 400;
          detail = std::string(": ") + RejectionName(why);
          res.set_header("Connection", "close");
        }
        metrics_.Requests(Verb::kOther, res.status).Increment();
        res.body = EncodeError(std::string("HTTP ") + std::to_string(res.status) + " " +
                               StatusText(res.status) + detail +
                               (req.path.empty() ? "" : " (" + req.path + ")"));
        res.set_header("Content-Type", kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  // Last resort for anything a route did not catch itself: never let a connection thread die.
  svr.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        metrics_.exceptions.Increment();
        const Route* route = FindRoute(req.path, kAll);
        metrics_.Requests(route ? route->verb : Verb::kOther, 500).Increment();
        Log()->error("request failed with an exception method={} path={} error={}",
                     LogValue(req.method), LogValue(req.path), LogValue(what));
        SetJson(res, 500, EncodeError("internal error: " + what));
      });
}

}  // namespace kb::server
