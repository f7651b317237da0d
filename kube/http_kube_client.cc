#include "kube/http_kube_client.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <list>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "core/json_reader.h"
#include "core/logging.h"
#include "core/url.h"
#include "kube/rate_limiter.h"

namespace kb::kube {
namespace {

using nlohmann::json;

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxWatchLine = 64 * 1024 * 1024;
constexpr size_t kMaxPooledClients = 8;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube"); }

const char* HttpReasonPhrase(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

StatusCode CodeForHttp(int http_code, const std::string& reason, const std::string& cause) {
  if (http_code >= 200 && http_code < 300) return StatusCode::kOk;
  switch (http_code) {
    case 400:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kFailedPrecondition;
    case 429:
      return cause == "DisruptionBudget" ? StatusCode::kUnavailable
                                         : StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (http_code >= 500) return StatusCode::kUnavailable;
  if (http_code == 413) return StatusCode::kResourceExhausted;
  if (http_code >= 400) return StatusCode::kInvalidArgument;
  return StatusCode::kInternal;  // 1xx / 3xx: we never follow redirects
}

std::string Printable(std::string_view body, size_t limit) {
  std::string out;
  for (char c : body.substr(0, limit)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u == '\n' || u == '\r' || u == '\t' ? ' ' : (u < 0x20 ? '?' : c));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > limit) out += "...";
  return out;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses JSON, returning InvalidArgument with the parser's position on malformed input.
StatusOr<json> ParseJson(std::string_view text, std::string_view context) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string(context) +
                                   ": malformed JSON in response: " + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// OpenSSL helpers (RAII).

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

StatusOr<std::vector<X509Ptr>> ParseCertificates(const std::string& pem, const std::string& what) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  ERR_clear_error();  // the loop ends with a benign "no start line"
  if (certs.empty()) return Status::InvalidArgument(what + ": no PEM certificate found");
  return certs;
}

StatusOr<PkeyPtr> ParsePrivateKey(const std::string& pem, const std::string& what) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  if (key == nullptr) return Status::InvalidArgument(what + ": no PEM private key found");
  return PkeyPtr(key);
}

// ---------------------------------------------------------------------------------------------

// Resolves `host` to a numeric address (httplib's address map needs one).
std::string ResolveNumeric(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return host;
  char buf[INET6_ADDRSTRLEN] = {0};
  std::string out = host;
  if (getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) ==
      0) {
    out = buf;
  }
  freeaddrinfo(res);
  return out;
}

std::string KindCollectionPath(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kNodes:
      return "/api/v1/nodes";
    case ResourceKind::kPods:
      return "/api/v1/pods";
    case ResourceKind::kPodDisruptionBudgets:
      return "/apis/policy/v1/poddisruptionbudgets";
  }
  return "/";
}

class QueryBuilder {
 public:
  QueryBuilder& Add(std::string_view key, std::string_view value) {
    query_ += query_.empty() ? '?' : '&';
    query_ += key;
    query_ += '=';
    query_ += UrlEncode(value);
    return *this;
  }
  QueryBuilder& AddIf(bool cond, std::string_view key, std::string_view value) {
    return cond ? Add(key, value) : *this;
  }
  const std::string& str() const { return query_; }

 private:
  std::string query_;
};

struct HttpCall {
  std::string method;
  std::string path;  // path + query, without the server base path
  std::string body;
  std::string content_type;
  bool idempotent = false;
  std::string context;  // for messages: "get pod default/web-1"
};

struct HttpReply {
  int status = 0;
  std::string body;
};

}  // namespace

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

Status StatusFromKubeStatus(int http_code, const json& status, std::string_view context) {
  std::string message, reason, cause;
  int code = http_code;
  if (status.is_object()) {
    auto str = [&](const char* key) -> std::string {
      auto it = status.find(key);
      return it != status.end() && it->is_string() ? it->get<std::string>() : "";
    };
    message = str("message");
    reason = str("reason");
    auto c = status.find("code");
    if (c != status.end() && c->is_number_integer()) code = c->get<int>();
    auto details = status.find("details");
    if (details != status.end() && details->is_object()) {
      auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array() && !causes->empty() &&
          (*causes)[0].is_object()) {
        auto r = (*causes)[0].find("reason");
        if (r != (*causes)[0].end() && r->is_string()) cause = r->get<std::string>();
      }
    }
  }
  StatusCode sc = CodeForHttp(code, reason, cause);
  if (sc == StatusCode::kOk) return Status::Ok();
  std::string msg(context);
  msg += ": ";
  if (!message.empty()) {
    msg += message;
  } else {
    msg += "HTTP " + std::to_string(code);
    if (!reason.empty()) msg += " " + reason;
  }
  return Status(sc, std::move(msg)).WithHttp(code, std::move(reason), std::move(cause));
}

Status StatusFromHttp(int http_code, std::string_view body, std::string_view context) {
  if (http_code >= 200 && http_code < 300) return Status::Ok();
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && (parsed.contains("message") || parsed.contains("reason"))) {
    // The HTTP status line wins over a body's `code` (they agree on a real server).
    parsed["code"] = http_code;
    return StatusFromKubeStatus(http_code, parsed, context);
  }
  std::string msg(context);
  msg += ": HTTP " + std::to_string(http_code);
  const char* phrase = HttpReasonPhrase(http_code);
  if (*phrase) msg += std::string(" ") + phrase;
  std::string text = Printable(body, 256);
  if (!text.empty()) msg += ": " + text;
  return Status(CodeForHttp(http_code, "", ""), std::move(msg)).WithHttp(http_code);
}

// ---------------------------------------------------------------------------------------------

struct HttpKubeClient::Impl {
  Impl(KubeConfig cfg, HttpKubeClientOptions opts, const Clock& clk, HttpUrl url)
      : config(std::move(cfg)),
        options(std::move(opts)),
        clock(clk),
        server(std::move(url)),
        limiter(options.qps, options.burst, clk),
        rng(options.jitter_seed != 0 ? options.jitter_seed : std::random_device{}()) {
    if (!options.sleep) {
      options.sleep = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
    }
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(watch_mu);
      shutting_down = true;
    }
    watch_cv.notify_all();
    if (monitor.joinable()) monitor.join();
  }

  const KubeConfig config;
  HttpKubeClientOptions options;
  const Clock& clock;
  const HttpUrl server;
  TokenBucket limiter;

  // TLS material, parsed once at Create().
  std::string ca_pem;  // in-memory CA (certificate-authority-data)
  std::vector<X509Ptr> client_chain;
  PkeyPtr client_key;
  std::string tls_address;  // numeric address of the server when tls-server-name is used

  std::mutex token_mu;
  std::string token;             // Guarded by token_mu.
  SteadyTime token_read_at{};    // Guarded by token_mu.
  bool token_read_once = false;  // Guarded by token_mu.

  std::mutex pool_mu;
  std::vector<std::unique_ptr<httplib::ClientImpl>> pool;  // Guarded by pool_mu.

  std::mutex rng_mu;
  std::mt19937_64 rng;  // Guarded by rng_mu.

  std::atomic<uint64_t> n_requests{0}, n_retries{0}, n_throttled{0}, n_token_reloads{0};

  // Active watches, so the monitor thread can close the socket of a stopped one.
  struct ActiveWatch {
    httplib::ClientImpl* client;
    const std::atomic<bool>* stop;
  };
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  std::list<ActiveWatch> watches;  // Guarded by watch_mu.
  bool shutting_down = false;      // Guarded by watch_mu.
  std::thread monitor;             // Started with the first watch that has a stop flag.

  // --- token ---

  // Current bearer token ("" = none). Re-reads the token file when stale or `force`.
  std::string Token(bool force) {
    if (!config.token.empty()) return config.token;
    if (config.token_file.empty()) return "";
    std::lock_guard<std::mutex> lock(token_mu);
    SteadyTime now = clock.Now();
    if (force || !token_read_once || now - token_read_at >= options.token_refresh_period) {
      auto text = ReadFile(config.token_file);
      if (text.ok()) {
        std::string t = Trim(*text);
        if (!t.empty()) {
          token = std::move(t);
          n_token_reloads++;
        }
      } else {
        Log()->warn("token file unreadable path={} error=\"{}\" keeping_previous={}",
                    config.token_file, text.status().message(), !token.empty());
      }
      token_read_once = true;
      token_read_at = now;
    }
    return token;
  }

  // --- clients ---

  std::unique_ptr<httplib::ClientImpl> NewClient(std::chrono::milliseconds read_timeout) {
    std::unique_ptr<httplib::ClientImpl> cli;
    const std::string& host = config.tls_server_name.empty() ? server.host : config.tls_server_name;
    if (server.https) {
      auto ssl = std::make_unique<httplib::SSLClient>(
          host, server.port, client_chain.empty() ? nullptr : client_chain.front().get(),
          client_key.get());
      if (ssl->ssl_context() != nullptr) {
        for (size_t i = 1; i < client_chain.size(); ++i) {
          SSL_CTX_add1_chain_cert(ssl->ssl_context(), client_chain[i].get());
        }
      }
      if (config.insecure_skip_tls_verify) {
        ssl->enable_server_certificate_verification(false);
      } else if (!ca_pem.empty()) {
        // The SSL_CTX takes ownership of the store, so each client gets its own.
        X509_STORE* store = X509_STORE_new();
        auto certs = ParseCertificates(ca_pem, "certificate-authority-data");
        if (certs.ok()) {
          for (auto& c : *certs) X509_STORE_add_cert(store, c.get());
        }
        ssl->set_ca_cert_store(store);
        // Without a CA path httplib adds the system trust store to ours; point it at a
        // directory that does not exist so only the configured CA is trusted.
        ssl->set_ca_cert_path("", "/nonexistent/kube-balancer/no-system-ca");
      } else if (!config.ca_file.empty()) {
        ssl->set_ca_cert_path(config.ca_file);
      }
      cli = std::move(ssl);
    } else {
      cli = std::make_unique<httplib::ClientImpl>(server.host, server.port);
    }
    if (!config.tls_server_name.empty() && server.https) {
      cli->set_hostname_addr_map({{config.tls_server_name, tls_address}});
    }
    cli->set_tcp_nodelay(true);
    cli->set_keep_alive(true);
    cli->set_url_encode(false);  // we encode paths and queries ourselves
    cli->set_follow_location(false);
    cli->set_connection_timeout(options.connect_timeout);
    cli->set_read_timeout(read_timeout);
    cli->set_write_timeout(options.timeout);
    return cli;
  }

  std::unique_ptr<httplib::ClientImpl> Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!pool.empty()) {
        auto cli = std::move(pool.back());
        pool.pop_back();
        return cli;
      }
    }
    return NewClient(options.timeout);
  }

  void Release(std::unique_ptr<httplib::ClientImpl> cli) {
    std::lock_guard<std::mutex> lock(pool_mu);
    if (pool.size() < kMaxPooledClients) pool.push_back(std::move(cli));
  }

  httplib::Headers BaseHeaders(bool force_token) {
    httplib::Headers h;
    h.emplace("Accept", "application/json");
    h.emplace("User-Agent", options.user_agent);
    std::string t = Token(force_token);
    if (!t.empty()) h.emplace("Authorization", "Bearer " + t);
    return h;
  }

  void Throttle() {
    auto wait = limiter.Reserve();
    if (wait.count() > 0) {
      n_throttled++;
      options.sleep(wait);
    }
  }

  std::chrono::nanoseconds Backoff(int attempt) {
    auto cap = options.backoff_base * (int64_t{1} << std::min(attempt, 20));
    auto ceiling = std::min<std::chrono::milliseconds>(cap, options.backoff_max);
    std::lock_guard<std::mutex> lock(rng_mu);
    std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(ceiling.count(), 0) * 1000);
    return std::chrono::microseconds(dist(rng));
  }

  Status TransportError(httplib::Error err, std::chrono::steady_clock::duration elapsed,
                        std::chrono::milliseconds read_timeout, const std::string& context) {
    std::string msg = context + ": " + httplib::to_string(err);
    switch (err) {
      case httplib::Error::ConnectionTimeout:
        return Status::DeadlineExceeded(msg + " (connect timeout)");
      case httplib::Error::Read:
        if (elapsed >= read_timeout * 9 / 10) {
          return Status::DeadlineExceeded(msg + " (read timeout)");
        }
        return Status::Unavailable(msg + " (connection closed)");
      case httplib::Error::Canceled:
        return Status::Cancelled(msg);
      case httplib::Error::SSLServerVerification:
        return Status::Unavailable(msg + " (server certificate not trusted)");
      default:
        return Status::Unavailable(msg);
    }
  }

  static bool RetryableTransport(httplib::Error err) {
    return err != httplib::Error::SSLServerVerification && err != httplib::Error::SSLLoadingCerts &&
           err != httplib::Error::Canceled;
  }

  // Sends `call`, retrying as its idempotency allows. Returns the final reply for any HTTP
  // status, or a transport Status.
  StatusOr<HttpReply> Do(const HttpCall& call) {
    int attempt = 0;
    bool reauthed = false;
    for (;;) {
      Throttle();
      httplib::Request req;
      req.method = call.method;
      req.path = server.path + call.path;
      req.headers = BaseHeaders(/*force_token=*/false);
      if (!call.body.empty() || call.method == "POST" || call.method == "PUT" ||
          call.method == "PATCH") {
        req.body = call.body;
        req.headers.emplace("Content-Type",
                            call.content_type.empty() ? "application/json" : call.content_type);
      }
      auto cli = Acquire();
      n_requests++;
      auto start = std::chrono::steady_clock::now();
      httplib::Result res = cli->send(req);
      auto elapsed = std::chrono::steady_clock::now() - start;
      if (!res) {
        httplib::Error err = res.error();
        Status st = TransportError(err, elapsed, options.timeout, call.context);
        if (call.idempotent && attempt < options.max_retries && RetryableTransport(err)) {
          Log()->debug("retrying request method={} path={} attempt={} error=\"{}\"", call.method,
                       call.path, attempt + 1, st.message());
          n_retries++;
          options.sleep(Backoff(attempt++));
          continue;
        }
        return st;
      }
      Release(std::move(cli));
      int status = res->status;
      Log()->debug("request method={} path={} status={} duration_ms={}", call.method, call.path,
                   status, std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
      if (status == 401 && !config.token_file.empty() && config.token.empty() && !reauthed) {
        // Service-account tokens rotate: re-read the file once and try again. The request was
        // rejected before it took effect, so this is safe for POSTs too.
        reauthed = true;
        Token(/*force=*/true);
        continue;
      }
      bool transient = status >= 500 ? status != 501 : status == 429;
      if (transient && call.idempotent && attempt < options.max_retries) {
        auto wait = Backoff(attempt++);
        if (res->has_header("Retry-After")) {
          long secs = std::strtol(res->get_header_value("Retry-After").c_str(), nullptr, 10);
          if (secs > 0) {
            wait = std::max<std::chrono::nanoseconds>(
                wait, std::min<std::chrono::nanoseconds>(std::chrono::seconds(secs),
                                                         options.backoff_max));
          }
        }
        Log()->debug("retrying request method={} path={} attempt={} status={}", call.method,
                     call.path, attempt, status);
        n_retries++;
        options.sleep(wait);
        continue;
      }
      return HttpReply{status, std::move(res->body)};
    }
  }

  // Do() + status mapping + JSON parse of a 2xx body.
  StatusOr<json> CallJson(const HttpCall& call) {
    KB_ASSIGN_OR_RETURN(HttpReply reply, Do(call));
    KB_RETURN_IF_ERROR(StatusFromHttp(reply.status, reply.body, call.context));
    return ParseJson(reply.body, call.context);
  }

  Status CallNoBody(const HttpCall& call) {
    KB_ASSIGN_OR_RETURN(HttpReply reply, Do(call));
    return StatusFromHttp(reply.status, reply.body, call.context);
  }

  // --- watch ---

  void RegisterWatch(httplib::ClientImpl* cli, const std::atomic<bool>* stop,
                     std::list<ActiveWatch>::iterator* it) {
    std::lock_guard<std::mutex> lock(watch_mu);
    *it = watches.insert(watches.end(), ActiveWatch{cli, stop});
    if (!monitor.joinable()) monitor = std::thread([this] { MonitorLoop(); });
  }

  void UnregisterWatch(std::list<ActiveWatch>::iterator it) {
    std::lock_guard<std::mutex> lock(watch_mu);
    watches.erase(it);
  }

  void MonitorLoop() {
    std::unique_lock<std::mutex> lock(watch_mu);
    while (!shutting_down) {
      watch_cv.wait_for(lock, options.stop_poll_interval);
      for (ActiveWatch& w : watches) {
        // Shutting the socket down from here is the thread-safe part of ClientImpl::stop().
        if (w.stop->load()) w.client->stop();
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<HttpKubeClient>> HttpKubeClient::Create(const KubeConfig& config,
                                                                 HttpKubeClientOptions options,
                                                                 const Clock& clock) {
  KB_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(config.server, "server"));
  auto impl = std::make_unique<Impl>(config, std::move(options), clock, url);
  if (url.https) {
    if (!config.ca_data.empty()) {
      KB_RETURN_IF_ERROR(ParseCertificates(config.ca_data, "certificate-authority-data").status());
      impl->ca_pem = config.ca_data;
    } else if (!config.ca_file.empty()) {
      KB_ASSIGN_OR_RETURN(std::string pem, ReadFile(config.ca_file));
      KB_RETURN_IF_ERROR(
          ParseCertificates(pem, "certificate-authority " + config.ca_file).status());
    }
    std::string cert_pem = config.client_cert_data;
    if (cert_pem.empty() && !config.client_cert_file.empty()) {
      KB_ASSIGN_OR_RETURN(cert_pem, ReadFile(config.client_cert_file));
    }
    std::string key_pem = config.client_key_data;
    if (key_pem.empty() && !config.client_key_file.empty()) {
      KB_ASSIGN_OR_RETURN(key_pem, ReadFile(config.client_key_file));
    }
    if (cert_pem.empty() != key_pem.empty()) {
      return Status::InvalidArgument("client certificate and client key must be given together");
    }
    if (!cert_pem.empty()) {
      KB_ASSIGN_OR_RETURN(impl->client_chain, ParseCertificates(cert_pem, "client-certificate"));
      KB_ASSIGN_OR_RETURN(impl->client_key, ParsePrivateKey(key_pem, "client-key"));
      if (X509_check_private_key(impl->client_chain.front().get(), impl->client_key.get()) != 1) {
        ERR_clear_error();
        return Status::InvalidArgument("client-key does not match client-certificate");
      }
    }
    if (!config.tls_server_name.empty()) impl->tls_address = ResolveNumeric(url.host);
  } else if (!config.client_cert_data.empty() || !config.client_cert_file.empty()) {
    return Status::InvalidArgument("client certificates need an https:// server, got " +
                                   config.server);
  }
  if (config.token.empty() && !config.token_file.empty()) {
    if (!std::ifstream(config.token_file)) {
      return Status::NotFound("token file " + config.token_file + " is not readable");
    }
  }
  Log()->info("kubernetes client server={} source={} auth={} qps={} burst={}", config.server,
              config.source,
              !config.token.empty() || !config.token_file.empty()
                  ? (impl->client_key ? "token+cert" : "token")
                  : (impl->client_key ? "cert" : "none"),
              impl->options.qps, impl->options.burst);
  return std::unique_ptr<HttpKubeClient>(new HttpKubeClient(std::move(impl)));
}

HttpKubeClient::HttpKubeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpKubeClient::~HttpKubeClient() = default;

const KubeConfig& HttpKubeClient::config() const { return impl_->config; }

HttpKubeClientStats HttpKubeClient::Stats() const {
  HttpKubeClientStats s;
  s.requests = impl_->n_requests.load();
  s.retries = impl_->n_retries.load();
  s.throttled = impl_->n_throttled.load();
  s.token_reloads = impl_->n_token_reloads.load();
  return s;
}

StatusOr<RawList> HttpKubeClient::List(ResourceKind kind, const ListOptions& options) {
  QueryBuilder q;
  q.AddIf(!options.label_selector.empty(), "labelSelector", options.label_selector)
      .AddIf(!options.field_selector.empty(), "fieldSelector", options.field_selector)
      .AddIf(options.limit > 0, "limit", std::to_string(options.limit))
      .AddIf(!options.continue_token.empty(), "continue", options.continue_token)
      .AddIf(!options.resource_version.empty(), "resourceVersion", options.resource_version);
  HttpCall call{"GET",
                KindCollectionPath(kind) + q.str(),
                "",
                "",
                /*idempotent=*/true,
                std::string("list ") + ResourceKindName(kind)};
  KB_ASSIGN_OR_RETURN(json doc, impl_->CallJson(call));
  RawList out;
  JsonReader root(doc);
  auto annotate = [&](const Status& s) { return s.Annotate(call.context); };
  Status st = root.ExpectObject();
  if (st.ok() && root.absent()) st = root.Error("expected object, got null");
  if (!st.ok()) return annotate(st);
  JsonReader meta = root.Field("metadata");
  if (Status s = meta.ExpectObject(); !s.ok()) return annotate(s);
  if (Status s = meta.Field("resourceVersion").ReadString(&out.resource_version); !s.ok()) {
    return annotate(s);
  }
  if (Status s = meta.Field("continue").ReadString(&out.continue_token); !s.ok()) {
    return annotate(s);
  }
  JsonReader items = root.Field("items");
  if (!items.absent() && !items.value()->is_array()) return annotate(items.TypeError("array"));
  Status each = items.ForEach([&](const JsonReader& item, size_t) -> Status {
    if (item.absent() || !item.value()->is_object()) return item.TypeError("object");
    return Status::Ok();
  });
  if (!each.ok()) return annotate(each);
  auto it = doc.find("items");
  if (it != doc.end() && it->is_array()) {
    out.items.reserve(it->size());
    for (json& item : *it) out.items.push_back(std::move(item));
  }
  return out;
}

Status HttpKubeClient::Watch(ResourceKind kind, const WatchOptions& options,
                             const WatchHandler& handler, const std::atomic<bool>* stop) {
  const std::string context = std::string("watch ") + ResourceKindName(kind);
  QueryBuilder q;
  q.Add("watch", "1")
      .AddIf(!options.resource_version.empty(), "resourceVersion", options.resource_version)
      .AddIf(options.allow_bookmarks, "allowWatchBookmarks", "true")
      .AddIf(options.timeout_seconds > 0, "timeoutSeconds", std::to_string(options.timeout_seconds))
      .AddIf(!options.label_selector.empty(), "labelSelector", options.label_selector)
      .AddIf(!options.field_selector.empty(), "fieldSelector", options.field_selector);
  const std::string path = impl_->server.path + KindCollectionPath(kind) + q.str();
  auto read_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::seconds(std::max(options.timeout_seconds, 0)) + impl_->options.watch_read_slack);

  bool reauthed = false;
  for (;;) {
    if (stop != nullptr && stop->load()) return Status::Cancelled(context + ": stopped");
    impl_->Throttle();
    auto cli = impl_->NewClient(read_timeout);
    cli->set_keep_alive(false);

    int http_status = 0;
    std::string error_body;
    std::string buffer;
    bool cancelled = false;
    bool handler_done = false;
    std::optional<Status> stream_status;

    auto process_line = [&](std::string_view line) -> bool {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;
      json ev = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
      if (ev.is_discarded() || !ev.is_object()) {
        stream_status =
            Status::InvalidArgument(context + ": malformed watch event: " + Printable(line, 200));
        return false;
      }
      auto type_it = ev.find("type");
      if (type_it == ev.end() || !type_it->is_string()) {
        stream_status = Status::InvalidArgument(
            context + ": type: expected string, got " +
            std::string(type_it == ev.end() ? "null" : JsonReader::TypeName(*type_it)));
        return false;
      }
      const std::string& type = type_it->get_ref<const std::string&>();
      auto obj_it = ev.find("object");
      if (obj_it == ev.end() || !obj_it->is_object()) {
        stream_status = Status::InvalidArgument(
            context + ": object: expected object, got " +
            std::string(obj_it == ev.end() ? "null" : JsonReader::TypeName(*obj_it)));
        return false;
      }
      WatchEventType t;
      if (type == "ADDED") {
        t = WatchEventType::kAdded;
      } else if (type == "MODIFIED") {
        t = WatchEventType::kModified;
      } else if (type == "DELETED") {
        t = WatchEventType::kDeleted;
      } else if (type == "BOOKMARK") {
        t = WatchEventType::kBookmark;
      } else if (type == "ERROR") {
        Status s = StatusFromKubeStatus(500, *obj_it, context);
        if (s.ok()) s = Status::Unavailable(context + ": ERROR event").WithHttp(500);
        stream_status = std::move(s);
        return false;
      } else {
        stream_status =
            Status::InvalidArgument(context + ": type: unknown event type \"" + type + "\"");
        return false;
      }
      if (!handler(WatchEvent{t, std::move(*obj_it)})) {
        handler_done = true;
        return false;
      }
      return true;
    };

    httplib::Request req;
    req.method = "GET";
    req.path = path;
    req.headers = impl_->BaseHeaders(/*force_token=*/false);
    req.response_handler = [&](const httplib::Response& r) {
      http_status = r.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) -> bool {
      if (stop != nullptr && stop->load()) {
        cancelled = true;
        return false;
      }
      if (http_status != 200) {
        if (error_body.size() < kMaxErrorBody) error_body.append(data, n);
        return true;
      }
      buffer.append(data, n);
      size_t start = 0;
      for (;;) {
        size_t nl = buffer.find('\n', start);
        if (nl == std::string::npos) break;
        bool go_on = process_line(std::string_view(buffer).substr(start, nl - start));
        start = nl + 1;
        if (!go_on) return false;
      }
      buffer.erase(0, start);
      if (buffer.size() > kMaxWatchLine) {
        stream_status = Status::ResourceExhausted(context + ": watch event larger than 64 MiB");
        return false;
      }
      return true;
    };

    std::list<Impl::ActiveWatch>::iterator reg;
    if (stop != nullptr) impl_->RegisterWatch(cli.get(), stop, &reg);
    impl_->n_requests++;
    auto started = std::chrono::steady_clock::now();
    httplib::Result res = cli->send(req);
    auto elapsed = std::chrono::steady_clock::now() - started;
    if (stop != nullptr) impl_->UnregisterWatch(reg);

    if (cancelled || (stop != nullptr && stop->load())) {
      return Status::Cancelled(context + ": stopped");
    }
    if (handler_done) return Status::Ok();
    if (stream_status) return *stream_status;
    if (!res) {
      return impl_->TransportError(res.error(), elapsed, read_timeout, context);
    }
    if (res->status == 401 && !impl_->config.token_file.empty() && impl_->config.token.empty() &&
        !reauthed) {
      reauthed = true;
      impl_->Token(/*force=*/true);
      continue;
    }
    if (res->status != 200) {
      return StatusFromHttp(res->status, error_body.empty() ? res->body : error_body, context);
    }
    // A final event without a trailing newline.
    if (!buffer.empty() && !process_line(buffer)) {
      if (handler_done) return Status::Ok();
      if (stream_status) return *stream_status;
    }
    return Status::Ok();
  }
}

namespace {
std::string PodPath(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + UrlEncode(ns) + "/pods/" + UrlEncode(name);
}
}  // namespace

StatusOr<json> HttpKubeClient::GetPod(const std::string& ns, const std::string& name) {
  return impl_->CallJson({"GET", PodPath(ns, name), "", "", true, "get pod " + ns + "/" + name});
}

StatusOr<json> HttpKubeClient::CreatePod(const std::string& ns, const json& pod) {
  std::string name = pod.is_object() && pod.contains("metadata") && pod["metadata"].is_object() &&
                             pod["metadata"].contains("name") && pod["metadata"]["name"].is_string()
                         ? pod["metadata"]["name"].get<std::string>()
                         : "";
  return impl_->CallJson({"POST", "/api/v1/namespaces/" + UrlEncode(ns) + "/pods", pod.dump(), "",
                          false, "create pod " + ns + "/" + name});
}

Status HttpKubeClient::DeletePod(const std::string& ns, const std::string& name,
                                 const std::string& uid_precondition) {
  std::string body;
  if (!uid_precondition.empty()) {
    body = json{{"apiVersion", "v1"},
                {"kind", "DeleteOptions"},
                {"preconditions", {{"uid", uid_precondition}}}}
               .dump();
  }
  // Deleting by name alone is not idempotent: a retry could delete a re-created pod.
  return impl_->CallNoBody({"DELETE", PodPath(ns, name), body, "", !uid_precondition.empty(),
                            "delete pod " + ns + "/" + name});
}

Status HttpKubeClient::BindPod(const std::string& ns, const std::string& name,
                               const std::string& uid, const std::string& node) {
  json meta = {{"name", name}, {"namespace", ns}};
  if (!uid.empty()) meta["uid"] = uid;
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", meta},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  return impl_->CallNoBody({"POST", PodPath(ns, name) + "/binding", binding.dump(), "", false,
                            "bind pod " + ns + "/" + name + " to " + node});
}

Status HttpKubeClient::EvictPod(const std::string& ns, const std::string& name,
                                const EvictOptions& options) {
  json delete_options = json::object();
  if (options.grace_period_seconds) {
    delete_options["gracePeriodSeconds"] = *options.grace_period_seconds;
  }
  if (!options.uid_precondition.empty()) {
    delete_options["preconditions"] = {{"uid", options.uid_precondition}};
  }
  json eviction = {{"apiVersion", "policy/v1"},
                   {"kind", "Eviction"},
                   {"metadata", {{"name", name}, {"namespace", ns}}}};
  if (!delete_options.empty()) eviction["deleteOptions"] = delete_options;
  std::string path = PodPath(ns, name) + "/eviction" + (options.dry_run ? "?dryRun=All" : "");
  return impl_->CallNoBody(
      {"POST", path, eviction.dump(), "", false, "evict pod " + ns + "/" + name});
}

namespace {
std::string AppsPath(const char* resource, const std::string& ns, const std::string& name) {
  return std::string("/apis/apps/v1/namespaces/") + UrlEncode(ns) + "/" + resource + "/" +
         UrlEncode(name);
}
std::string LeasePath(const std::string& ns, const std::string& name) {
  std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + UrlEncode(ns) + "/leases";
  if (!name.empty()) p += "/" + UrlEncode(name);
  return p;
}

template <class T, class Decode>
StatusOr<T> DecodeAs(StatusOr<json> doc, const std::string& context, Decode decode) {
  if (!doc.ok()) return doc.status();
  auto out = decode(*doc);
  if (!out.ok()) return out.status().Annotate(context);
  return std::move(out).value();
}
}  // namespace

StatusOr<Deployment> HttpKubeClient::GetDeployment(const std::string& ns, const std::string& name) {
  std::string ctx = "get deployment " + ns + "/" + name;
  return DecodeAs<Deployment>(
      impl_->CallJson({"GET", AppsPath("deployments", ns, name), "", "", true, ctx}), ctx,
      DecodeDeployment);
}

StatusOr<ReplicaSet> HttpKubeClient::GetReplicaSet(const std::string& ns, const std::string& name) {
  std::string ctx = "get replicaset " + ns + "/" + name;
  return DecodeAs<ReplicaSet>(
      impl_->CallJson({"GET", AppsPath("replicasets", ns, name), "", "", true, ctx}), ctx,
      DecodeReplicaSet);
}

StatusOr<Deployment> HttpKubeClient::PatchDeployment(const std::string& ns, const std::string& name,
                                                     const json& merge_patch) {
  std::string ctx = "patch deployment " + ns + "/" + name;
  // A JSON merge patch is idempotent (applying it twice gives the same object).
  return DecodeAs<Deployment>(
      impl_->CallJson({"PATCH", AppsPath("deployments", ns, name), merge_patch.dump(),
                       "application/merge-patch+json", true, ctx}),
      ctx, DecodeDeployment);
}

Status HttpKubeClient::CreateEvent(const std::string& ns, const json& event) {
  return impl_->CallNoBody({"POST", "/api/v1/namespaces/" + UrlEncode(ns) + "/events", event.dump(),
                            "", false, "create event in " + ns});
}

StatusOr<Lease> HttpKubeClient::GetLease(const std::string& ns, const std::string& name) {
  std::string ctx = "get lease " + ns + "/" + name;
  return DecodeAs<Lease>(impl_->CallJson({"GET", LeasePath(ns, name), "", "", true, ctx}), ctx,
                         DecodeLease);
}

StatusOr<Lease> HttpKubeClient::CreateLease(const Lease& lease) {
  std::string ctx = "create lease " + lease.meta.namespace_ + "/" + lease.meta.name;
  json body = EncodeLease(lease);
  if (body.contains("metadata") && body["metadata"].is_object()) {
    body["metadata"].erase("resourceVersion");
  }
  return DecodeAs<Lease>(
      impl_->CallJson({"POST", LeasePath(lease.meta.namespace_, ""), body.dump(), "", false, ctx}),
      ctx, DecodeLease);
}

StatusOr<Lease> HttpKubeClient::UpdateLease(const Lease& lease) {
  std::string ctx = "update lease " + lease.meta.namespace_ + "/" + lease.meta.name;
  return DecodeAs<Lease>(
      impl_->CallJson({"PUT", LeasePath(lease.meta.namespace_, lease.meta.name),
                       EncodeLease(lease).dump(), "", !lease.meta.resource_version.empty(), ctx}),
      ctx, DecodeLease);
}

}  // namespace kb::kube
