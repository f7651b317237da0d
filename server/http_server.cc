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

#include "server/logging.h"

namespace kb::server {
namespace {

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

ExtenderServer::ExtenderServer(Extender& extender, const prometheus::Collectable& registry,
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

}  // namespace kb::server
