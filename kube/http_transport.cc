#include "kube/http_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/logging.h"
#include "kube/http_status.h"

namespace kb::kube {
namespace {

constexpr size_t kMaxPooledClients = 8;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube"); }

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

}  // namespace

StatusOr<std::unique_ptr<HttpTransport>> HttpTransport::Create(const KubeConfig& config,
                                                               HttpKubeClientOptions options,
                                                               const Clock& clock) {
  KB_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(config.server, "server"));
  auto impl = std::make_unique<HttpTransport>(config, std::move(options), clock, url);
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
  return impl;
}

HttpTransport::HttpTransport(KubeConfig cfg, HttpKubeClientOptions opts, const Clock& clk,
                             HttpUrl url)
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

HttpTransport::~HttpTransport() {
  {
    std::lock_guard<std::mutex> lock(watch_mu);
    shutting_down = true;
  }
  watch_cv.notify_all();
  if (monitor.joinable()) monitor.join();
}

std::string HttpTransport::Token(bool force) {
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

std::unique_ptr<httplib::ClientImpl> HttpTransport::NewClient(
    std::chrono::milliseconds read_timeout) {
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

std::unique_ptr<httplib::ClientImpl> HttpTransport::Acquire(bool* reused) {
  std::vector<Pooled> expired;  // closed outside the lock
  std::unique_ptr<httplib::ClientImpl> cli;
  {
    std::lock_guard<std::mutex> lock(pool_mu);
    const SteadyTime now = clock.Now();
    // The pool is ordered by return time: everything before the first fresh entry has expired.
    auto fresh = std::find_if(pool.begin(), pool.end(), [&](const Pooled& p) {
      return now - p.idle_since < options.idle_connection_timeout;
    });
    std::move(pool.begin(), fresh, std::back_inserter(expired));
    pool.erase(pool.begin(), fresh);
    if (!pool.empty()) {
      cli = std::move(pool.back().client);
      pool.pop_back();
    }
  }
  if (!expired.empty()) {
    n_idle_closed += expired.size();
    Log()->debug("closed idle api connections count={} idle_timeout_ms={}", expired.size(),
                 options.idle_connection_timeout.count());
  }
  *reused = cli != nullptr;
  return cli ? std::move(cli) : NewClient(options.timeout);
}

void HttpTransport::Release(std::unique_ptr<httplib::ClientImpl> cli) {
  std::lock_guard<std::mutex> lock(pool_mu);
  if (pool.size() < kMaxPooledClients) pool.push_back(Pooled{std::move(cli), clock.Now()});
}

httplib::Headers HttpTransport::BaseHeaders(bool force_token) {
  httplib::Headers h;
  h.emplace("Accept", "application/json");
  h.emplace("User-Agent", options.user_agent);
  std::string t = Token(force_token);
  if (!t.empty()) h.emplace("Authorization", "Bearer " + t);
  return h;
}

void HttpTransport::Throttle() {
  auto wait = limiter.Reserve();
  if (wait.count() > 0) {
    n_throttled++;
    options.sleep(wait);
  }
}

std::chrono::nanoseconds HttpTransport::Backoff(int attempt) {
  auto cap = options.backoff_base * (int64_t{1} << std::min(attempt, 20));
  auto ceiling = std::min<std::chrono::milliseconds>(cap, options.backoff_max);
  std::lock_guard<std::mutex> lock(rng_mu);
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(ceiling.count(), 0) * 1000);
  return std::chrono::microseconds(dist(rng));
}

bool HttpTransport::StaleConnection(httplib::Error err, bool response_started,
                                    std::chrono::steady_clock::duration elapsed,
                                    std::chrono::milliseconds read_timeout) {
  if (err == httplib::Error::Write) return true;
  return err == httplib::Error::Read && !response_started && elapsed < read_timeout / 2;
}

bool HttpTransport::RetryableTransport(httplib::Error err) {
  return err != httplib::Error::SSLServerVerification && err != httplib::Error::SSLLoadingCerts &&
         err != httplib::Error::Canceled;
}

StatusOr<HttpReply> HttpTransport::Do(const HttpCall& call) {
  int attempt = 0;
  bool reauthed = false;
  bool stale_retried = false, fresh_connection = false;
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
    bool reused = false;
    auto cli = fresh_connection ? NewClient(options.timeout) : Acquire(&reused);
    fresh_connection = false;
    bool response_started = false;
    req.response_handler = [&response_started](const httplib::Response&) {
      response_started = true;
      return true;
    };
    n_requests++;
    auto start = std::chrono::steady_clock::now();
    httplib::Result res = cli->send(req);
    auto elapsed = std::chrono::steady_clock::now() - start;
    if (!res) {
      httplib::Error err = res.error();
      Status st = TransportError(err, elapsed, options.timeout, call.context);
      if (reused && !stale_retried &&
          StaleConnection(err, response_started, elapsed, options.timeout)) {
        // The server closed this keep-alive connection before our request reached it.
        Log()->info(
            "api connection was closed by the server, retrying on a new connection "
            "method={} path={} error=\"{}\"",
            call.method, call.path, st.message());
        stale_retried = fresh_connection = true;
        n_stale_retries++;
        continue;
      }
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
              wait,
              std::min<std::chrono::nanoseconds>(std::chrono::seconds(secs), options.backoff_max));
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

StatusOr<json> HttpTransport::CallJson(const HttpCall& call) {
  KB_ASSIGN_OR_RETURN(HttpReply reply, Do(call));
  KB_RETURN_IF_ERROR(StatusFromHttp(reply.status, reply.body, call.context));
  return ParseJson(reply.body, call.context);
}

Status HttpTransport::CallNoBody(const HttpCall& call) {
  KB_ASSIGN_OR_RETURN(HttpReply reply, Do(call));
  return StatusFromHttp(reply.status, reply.body, call.context);
}

void HttpTransport::UnregisterWatch(std::list<ActiveWatch>::iterator it) {
  std::lock_guard<std::mutex> lock(watch_mu);
  watches.erase(it);
}

void HttpTransport::MonitorLoop() {
  std::unique_lock<std::mutex> lock(watch_mu);
  while (!shutting_down) {
    watch_cv.wait_for(lock, options.stop_poll_interval);
    for (ActiveWatch& w : watches) {
      // Shutting the socket down from here is the thread-safe part of ClientImpl::stop().
      if (w.stop->load()) w.client->stop();
    }
  }
}

Status HttpTransport::TransportError(httplib::Error err,
                                     std::chrono::steady_clock::duration elapsed,
                                     std::chrono::milliseconds read_timeout,
                                     const std::string& context) {
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

void HttpTransport::RegisterWatch(httplib::ClientImpl* cli, const std::atomic<bool>* stop,
                                  std::list<ActiveWatch>::iterator* it) {
  std::lock_guard<std::mutex> lock(watch_mu);
  *it = watches.insert(watches.end(), ActiveWatch{cli, stop});
  if (!monitor.joinable()) monitor = std::thread([this] { MonitorLoop(); });
}

}  // namespace kb::kube
