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

#include "server/http_internal.h"
#include "server/logging.h"

namespace kb::server {
namespace {

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// The address a local client dials for a listen host.
std::string DialHost(std::string host) {
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host;
}

std::string HostPort(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

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

}  // namespace

StatusOr<ServerOptions> ServerOptions::FromConfig(const Config& config) {
  KB_ASSIGN_OR_RETURN(auto host_port, ParseHostPort(config.listen));
  ServerOptions o;
  o.host = host_port.first;
  o.port = host_port.second;
  if (!config.metrics_listen.empty()) {
    KB_ASSIGN_OR_RETURN(auto metrics, ParseHostPort(config.metrics_listen, "metricsListen"));
    o.metrics_listener = true;
    o.metrics_host = metrics.first;
    o.metrics_port = metrics.second;
  }
  o.tls = config.tls;
  o.max_request_bytes = config.max_request_bytes;
  o.threads = config.server_threads;
  o.limits.max_connections = static_cast<size_t>(config.max_connections);
  o.limits.max_header_bytes = static_cast<size_t>(config.max_header_bytes);
  o.limits.read_timeout = config.read_timeout;
  o.limits.write_timeout = config.write_timeout;
  o.limits.idle_timeout = config.idle_timeout;
  o.max_header_count = static_cast<size_t>(config.max_header_count);
  o.max_compression_ratio = config.max_compression_ratio;
  o.max_concurrent_binds = static_cast<size_t>(config.max_concurrent_binds);
  o.bind_timeout = EffectiveBindTimeout(config);
  return o;
}

ExtenderServer::ExtenderServer(Extender& extender, const prometheus::Collectable& registry,
                               ExtenderMetrics& metrics, ServerOptions options,
                               std::function<bool()> ready)
    : extender_(extender),
      registry_(registry),
      metrics_(metrics),
      options_(std::move(options)),
      ready_(std::move(ready)) {
  // Every reason at 0 from the start, so alerts on increase() see the first rejection.
  for (size_t r = 0; r < kRejectionCount; ++r) {
    metrics_.Rejected(RejectionName(static_cast<Rejection>(r)));
  }
}

ExtenderServer::~ExtenderServer() { Stop(); }

bool ExtenderServer::tls() const { return !options_.tls.cert_file.empty(); }

std::string ExtenderServer::url() const {
  return std::string(tls() ? "https://" : "http://") + DialHost(options_.host) + ":" +
         std::to_string(port_);
}

std::string ExtenderServer::metrics_url() const {
  if (!options_.metrics_listener) return url();
  return "http://" + DialHost(options_.metrics_host) + ":" + std::to_string(metrics_port_);
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

// SO_REUSEADDR only (a restarted process rebinds despite TIME_WAIT). cpp-httplib's default also
// sets SO_REUSEPORT, which lets a second process bind the same address and silently take half
// of the connections.
void ExclusiveSocketOptions(int sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

struct ExtenderServer::Listener {
  std::unique_ptr<ConnectionServer> server;
  std::thread thread;
};

namespace {

StatusOr<SSL_CTX*> MakeSslContext(const TlsConfig& t) {
  for (const std::string& f : {t.cert_file, t.key_file, t.client_ca_file}) {
    if (!f.empty() && !Readable(f))
      return Status::InvalidArgument("tls: cannot read \"" + f + "\"");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Internal("tls: " + OpenSslError());
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> owned(ctx, SSL_CTX_free);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, t.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("tls: certFile/keyFile: " + OpenSslError());
  }
  if (!t.client_ca_file.empty()) {
    // mTLS: kube-scheduler sends no credentials, a client certificate is its identity.
    if (SSL_CTX_load_verify_locations(ctx, t.client_ca_file.c_str(), nullptr) != 1) {
      return Status::InvalidArgument("tls.clientCAFile: " + OpenSslError());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return owned.release();
}

}  // namespace

StatusOr<int> ExtenderServer::StartListener(Listener& l, const std::string& host, int port,
                                            SSL_CTX* ssl_ctx, Surface surface) {
  l.server = std::make_unique<ConnectionServer>(options_.limits, ssl_ctx,
                                                [this](Rejection r) { OnRejection(r); });
  InstallRoutes(*l.server, surface);
  int bound = port;
  if (port == 0) {
    bound = l.server->bind_to_any_port(host);
  } else if (!l.server->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return Status::Unavailable("cannot listen on " + HostPort(host, port) +
                               ": address in use or not available");
  }
  ConnectionServer* server = l.server.get();
  l.thread = std::thread([server] { server->listen_after_bind(); });
  // The socket already accepts (bind + listen); wait for the accept loop for a clean Stop().
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return bound;
}

Status ExtenderServer::Start() {
  if (started_.exchange(true)) return Status::FailedPrecondition("server already started");
  SSL_CTX* ssl_ctx = nullptr;
  if (tls()) {
    KB_ASSIGN_OR_RETURN(ssl_ctx, MakeSslContext(options_.tls));
  }
  const size_t threads = options_.threads > 0
                             ? static_cast<size_t>(options_.threads)
                             : 2 * std::max<size_t>(1, std::thread::hardware_concurrency()) + 4;
  verb_workers_ = std::make_unique<std::counting_semaphore<>>(static_cast<ptrdiff_t>(threads));
  binds_ = std::make_unique<BindRunner>(options_.max_concurrent_binds, options_.bind_timeout);
  main_ = std::make_unique<Listener>();
  const Surface main_surface = options_.metrics_listener ? kVerbs : kAll;
  KB_ASSIGN_OR_RETURN(port_,
                      StartListener(*main_, options_.host, options_.port, ssl_ctx, main_surface));
  if (options_.metrics_listener) {
    metrics_listener_ = std::make_unique<Listener>();
    KB_ASSIGN_OR_RETURN(metrics_port_, StartListener(*metrics_listener_, options_.metrics_host,
                                                     options_.metrics_port, nullptr, kProbes));
  }
  Log()->info(
      "extender listening address={} metrics_address={} tls={} mtls={} verb_workers={} "
      "max_connections={} max_request_bytes={} bind_timeout={} max_concurrent_binds={}",
      url(), metrics_url(), tls(), !options_.tls.client_ca_file.empty(), threads,
      options_.limits.max_connections, options_.max_request_bytes,
      FormatDuration(options_.bind_timeout), options_.max_concurrent_binds);
  return Status::Ok();
}

void ExtenderServer::Stop() {
  bool stopped = false;
  for (auto* l : {main_.get(), metrics_listener_.get()}) {
    if (l != nullptr && l->thread.joinable()) {
      l->server->Shutdown();
      l->thread.join();
      stopped = true;
    }
  }
  if (stopped) Log()->info("extender stopped");
  binds_.reset();
}

void ExtenderServer::OnRejection(Rejection r) {
  metrics_.Rejected(RejectionName(r)).Increment();
  // One warning per reason per 10 s, with the count since the last one: a flood of bad requests
  // must not become a flood of log lines.
  const auto now = std::chrono::steady_clock::now();
  const size_t i = static_cast<size_t>(r);
  uint64_t count = 0;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    ++unlogged_[i];
    if (last_logged_[i] != std::chrono::steady_clock::time_point{} &&
        now - last_logged_[i] < std::chrono::seconds(10)) {
      return;
    }
    last_logged_[i] = now;
    count = unlogged_[i];
    unlogged_[i] = 0;
  }
  Log()->warn("http request rejected reason={} count={} (kube_balancer_http_rejected_total)",
              RejectionName(r), count);
}

}  // namespace kb::server
