#include "server/http_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/logging.h"

namespace kb::server {
namespace {

// "; charset=utf-8" is deliberate: cpp-httplib gzips "application/json" responses whenever the
// client sends Accept-Encoding: gzip (kube-scheduler always does), which would cost far more CPU
// than it saves on a loopback / cluster network, especially for megabyte full-Nodes answers.
constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = Logger("extender");
  return logger;
}

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

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
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

}  // namespace

StatusOr<ServerOptions> ServerOptions::FromConfig(const Config& config) {
  KB_ASSIGN_OR_RETURN(auto host_port, ParseHostPort(config.listen));
  ServerOptions o;
  o.host = host_port.first;
  o.port = host_port.second;
  o.tls = config.tls;
  o.max_request_bytes = config.max_request_bytes;
  o.threads = config.server_threads;
  return o;
}

ExtenderServer::ExtenderServer(Extender& extender, prometheus::Registry& registry,
                               ExtenderMetrics& metrics, ServerOptions options,
                               std::function<bool()> ready)
    : extender_(extender),
      registry_(registry),
      metrics_(metrics),
      options_(std::move(options)),
      ready_(std::move(ready)) {
  if (options_.tls.cert_file.empty()) server_ = std::make_unique<httplib::Server>();
}

ExtenderServer::~ExtenderServer() { Stop(); }

bool ExtenderServer::tls() const { return !options_.tls.cert_file.empty(); }

std::string ExtenderServer::url() const {
  std::string host = options_.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls() ? "https://" : "http://") + host + ":" + std::to_string(port_);
}

void ExtenderServer::SetLatencyObserverForTest(LatencyObserver observer) {
  observer_ = std::move(observer);
}

void ExtenderServer::AddGetRoute(const std::string& path, std::function<std::string()> handler) {
  get_routes_.emplace_back(path, std::move(handler));
}

void ExtenderServer::AddPostRouteForTest(
    const std::string& path, std::function<std::string(const std::string& body)> handler) {
  test_routes_.emplace_back(path, std::move(handler));
}

Status ExtenderServer::Start() {
  if (started_.exchange(true)) return Status::FailedPrecondition("server already started");
  if (tls()) {
    const TlsConfig& t = options_.tls;
    for (const std::string& f : {t.cert_file, t.key_file, t.client_ca_file}) {
      if (!f.empty() && !Readable(f)) {
        return Status::InvalidArgument("tls: cannot read \"" + f + "\"");
      }
    }
    std::string tls_error;
    auto setup = [&t, &tls_error](SSL_CTX& ctx) -> bool {
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      if (SSL_CTX_use_certificate_chain_file(&ctx, t.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(&ctx, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(&ctx) != 1) {
        tls_error = "tls: certFile/keyFile: " + OpenSslError();
        return false;
      }
      if (!t.client_ca_file.empty()) {
        // mTLS: kube-scheduler sends no credentials, a client certificate is its identity.
        if (SSL_CTX_load_verify_locations(&ctx, t.client_ca_file.c_str(), nullptr) != 1) {
          tls_error = "tls.clientCAFile: " + OpenSslError();
          return false;
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str());
        if (names != nullptr) SSL_CTX_set_client_CA_list(&ctx, names);
        SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      }
      return true;
    };
    auto ssl_server = std::make_unique<httplib::SSLServer>(setup);
    if (!ssl_server->is_valid()) {
      return Status::InvalidArgument(tls_error.empty() ? "tls: invalid certificate setup"
                                                       : tls_error);
    }
    server_ = std::move(ssl_server);
  }
  InstallRoutes();

  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ < 0) {
      return Status::Unavailable("cannot listen on " + options_.host + ":0");
    }
  } else {
    if (!server_->bind_to_port(options_.host, options_.port)) {
      return Status::Unavailable("cannot listen on " + options_.host + ":" +
                                 std::to_string(options_.port) + " (address in use?)");
    }
    port_ = options_.port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // The socket already accepts (bind + listen); wait for the accept loop for a clean Stop().
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Log()->info("extender listening address={} tls={} mtls={} threads={} max_request_bytes={}", url(),
              tls(), !options_.tls.client_ca_file.empty(),
              options_.threads > 0 ? options_.threads
                                   : 2 * static_cast<int>(std::thread::hardware_concurrency()) + 4,
              options_.max_request_bytes);
  return Status::Ok();
}

void ExtenderServer::Stop() {
  if (server_ != nullptr && thread_.joinable()) {
    server_->stop();
    thread_.join();
    Log()->info("extender stopped");
  }
}

void ExtenderServer::InstallRoutes() {
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

  const size_t max_bytes = static_cast<size_t>(options_.max_request_bytes);
  const std::string too_large =
      EncodeError("request body exceeds maxRequestBytes (" + std::to_string(max_bytes) + " bytes)");

  // Oversized bodies. Up to kDrainAllowanceBytes beyond the limit, the body is read and
  // discarded (never stored): the 413 then goes out on a healthy keep-alive connection. Closing
  // with unread bytes would make the kernel reset the connection, and the client could lose the
  // 413 itself. A declared body beyond that is refused before a byte of it is read, with
  // Connection: close.
  svr.set_pre_routing_handler(
      [this, max_bytes, too_large](const httplib::Request& req, httplib::Response& res) {
        if (req.has_header("Content-Length")) {
          const std::string value = req.get_header_value("Content-Length");
          char* end = nullptr;
          const unsigned long long length = std::strtoull(value.c_str(), &end, 10);
          if (end != value.c_str() && length > max_bytes + kDrainAllowanceBytes) {
            const Route* route = FindRoute(req.path);
            metrics_.Requests(route ? route->verb : Verb::kOther, 413).Increment();
            SetJson(res, 413, too_large);
            res.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
          }
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });

  // Extender verbs: the body is read here so the size limit also holds for chunked bodies and
  // the buffer gets simdjson's padding (parsed in place, no copy).
  auto verb_route = [this, max_bytes, too_large](Verb verb) {
    return [this, verb, max_bytes, too_large](const httplib::Request& req, httplib::Response& res,
                                              const httplib::ContentReader& reader) {
      std::string body;
      if (req.has_header("Content-Length")) {
        const size_t length =
            std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        body.reserve(std::min(length, max_bytes) + simdjson::SIMDJSON_PADDING);
      }
      // A declared Content-Length over the limit is drained by cpp-httplib itself
      // (set_payload_max_length) and fails the read with status 413. A chunked body is counted
      // here and, once over the limit, drained up to the allowance.
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
        SetJson(res, code, code == 413 ? too_large : EncodeError("cannot read request body"));
        // Unread bytes may remain when the read stopped early (a read error, or a chunked body
        // beyond the drain allowance): drop the connection then. cpp-httplib's own 413 has
        // drained the declared body already.
        const bool drained_by_httplib = res.status == 413 && !over_limit;
        if (!ok && !drained_by_httplib) res.set_header("Connection", "close");
        return;
      }
      if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
        body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
      }
      Serve(verb, req, std::move(body), res);
    };
  };
  auto verb_route_no_body = [this](Verb verb) {
    return [this, verb](const httplib::Request& req, httplib::Response& res) {
      Serve(verb, req, std::string(), res);
    };
  };
  for (Verb verb : {Verb::kFilter, Verb::kPrioritize, Verb::kBind, Verb::kDebugScores}) {
    const std::string path =
        verb == Verb::kDebugScores ? "/debug/scores" : std::string("/") + VerbName(verb);
    svr.Post(path, verb_route(verb));
    svr.Post(path, verb_route_no_body(verb));  // POST without a body (no Content-Length)
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
  svr.Get(".*", fallback);
  svr.Post(".*", fallback);
  svr.Put(".*", fallback);
  svr.Patch(".*", fallback);
  svr.Delete(".*", fallback);
  svr.Options(".*", fallback);

  // Errors raised by cpp-httplib itself (malformed request line, 414, 413 on the fallback
  // routes, unknown methods) get the same JSON shape.
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
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
        const Route* route = FindRoute(req.path);
        metrics_.Requests(route ? route->verb : Verb::kOther, 500).Increment();
        Log()->error("request failed with an exception method={} path={} error={}", req.method,
                     req.path, what);
        SetJson(res, 500, EncodeError("internal error: " + what));
      });
}

void ExtenderServer::Serve(Verb verb, const httplib::Request& req, std::string body,
                           httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  const size_t body_bytes = body.size();
  int code = 200;
  std::string out;
  std::shared_ptr<FilterAnswer> streamed;
  try {
    switch (verb) {
      case Verb::kFilter: {
        // The answer keeps the request alive: a full-Nodes answer is written straight from the
        // request's bytes.
        auto answer = std::make_shared<FilterAnswer>();
        answer->body = std::move(body);
        StatusOr<ExtenderArgs> args = DecodeExtenderArgs(answer->body);
        if (!args.ok()) {
          code = 400;
          out = EncodeError(args.status().message());
          Log()->debug("bad request verb={} error={}", VerbName(verb), args.status().message());
          break;
        }
        answer->args = std::move(args).value();
        answer->response = EncodeFilterResponseBody(answer->args, extender_.Filter(answer->args));
        if (answer->response.size() >= kStreamThresholdBytes) {
          streamed = std::move(answer);
        } else {
          out = answer->response.ToString();
        }
        break;
      }
      case Verb::kPrioritize: {
        StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
        if (!args.ok()) {
          code = 400;
          out = EncodeError(args.status().message());
          Log()->debug("bad request verb={} error={}", VerbName(verb), args.status().message());
          break;
        }
        out = EncodePriorities(extender_.Prioritize(*args));
        break;
      }
      case Verb::kBind: {
        StatusOr<BindingArgs> args = DecodeBindingArgs(body);
        if (!args.ok()) {
          code = 400;
          out = EncodeError(args.status().message());
          break;
        }
        // A failed binding is HTTP 200 with the error text: kube-scheduler reads Error.
        out = EncodeError(extender_.Bind(*args));
        break;
      }
      case Verb::kDebugScores: {
        if (req.method == "POST") {
          StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
          if (!args.ok()) {
            code = 400;
            out = EncodeError(args.status().message());
            break;
          }
          out = extender_.DebugScores(*args).dump(2);
          break;
        }
        const std::string ns = req.get_param_value("namespace");
        const std::string name = req.get_param_value("name");
        if (ns.empty() || name.empty()) {
          code = 400;
          out = EncodeError("GET /debug/scores needs ?namespace=<ns>&name=<pod>[&nodes=a,b]");
          break;
        }
        std::vector<std::string> nodes;
        const std::string list = req.get_param_value("nodes");
        for (size_t start_pos = 0; start_pos < list.size();) {
          size_t comma = list.find(',', start_pos);
          if (comma == std::string::npos) comma = list.size();
          if (comma > start_pos) nodes.push_back(list.substr(start_pos, comma - start_pos));
          start_pos = comma + 1;
        }
        StatusOr<nlohmann::json> result = extender_.DebugScoresForPod(ns, name, nodes);
        if (!result.ok()) {
          code = result.status().code() == StatusCode::kNotFound ? 404 : 400;
          out = EncodeError(result.status().message());
          break;
        }
        out = result->dump(2);
        break;
      }
      case Verb::kOther:
        code = 404;
        out = EncodeError("unknown path " + req.path);
        break;
    }
  } catch (const std::exception& e) {
    code = 500;
    out = EncodeError(std::string("internal error: ") + e.what());
    metrics_.exceptions.Increment();
    Log()->error("request failed with an exception verb={} error={}", VerbName(verb), e.what());
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics_.Duration(verb).Observe(std::chrono::duration<double>(elapsed).count());
  metrics_.Requests(verb, code).Increment();
  if (observer_) observer_(verb, elapsed, body_bytes);
  if (streamed != nullptr) {
    res.status = code;
    const size_t size = streamed->response.size();
    res.set_content_provider(
        size, kJson, [streamed](size_t offset, size_t, httplib::DataSink& sink) {
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
    return;
  }
  SetJson(res, code, std::move(out));
}

}  // namespace kb::server
