// HttpKubeClient over HTTPS against an httplib::SSLServer using a PKI generated at test time:
// CA from data and from a file, insecure-skip-tls-verify, tls-server-name, client certificates
// (data and files) and kubeconfig files wiring it all together.
#include <openssl/ssl.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <mutex>

#include "kube/http_kube_client.h"
#include "kube/kube_config.h"
#include "test/kube/kube_test_util.h"

namespace kb::kube {
namespace {

using nlohmann::json;
using test::Base64;
using test::LocalServer;
using test::Pki;
using test::TempDir;

struct TlsFixture {
  Pki pki;
  TempDir dir;
  std::unique_ptr<LocalServer> server;
  std::mutex mu;
  std::string last_client_cn;  // Guarded by mu.
  std::string last_auth;       // Guarded by mu.

  explicit TlsFixture(bool require_client_cert) {
    server = std::make_unique<LocalServer>(test::MakeTlsServer(pki, require_client_cert));
    server->server().Get("/api/v1/nodes", [this](const httplib::Request& req,
                                                 httplib::Response& res) {
      std::string cn;
      if (req.ssl != nullptr) {
        X509* peer = SSL_get_peer_certificate(req.ssl);
        if (peer != nullptr) {
          char buf[256] = {0};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof(buf));
          cn = buf;
          X509_free(peer);
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        last_client_cn = cn;
        last_auth = req.get_header_value("Authorization");
      }
      json body = {{"metadata", {{"resourceVersion", "7"}}},
                   {"items", json::array({{{"metadata", {{"name", "n1"}}}}})}};
      res.set_content(body.dump(), "application/json");
    });
    server->Start();
  }

  std::string url() const { return server->url("https"); }

  Status ListNodes(const KubeConfig& cfg) {
    HttpKubeClientOptions opts;
    opts.max_retries = 0;
    opts.qps = 0;
    opts.timeout = std::chrono::milliseconds(5000);
    auto client = HttpKubeClient::Create(cfg, opts);
    if (!client.ok()) return client.status();
    auto list = (*client)->List(ResourceKind::kNodes, {});
    if (!list.ok()) return list.status();
    if (list->items.size() != 1 || list->resource_version != "7") {
      return Status::Internal("unexpected list");
    }
    return Status::Ok();
  }

  std::string ClientCn() {
    std::lock_guard<std::mutex> lock(mu);
    return last_client_cn;
  }
};

TEST_CASE("https server verification: CA data, CA file, none, insecure", "[kube]") {
  TlsFixture f(/*require_client_cert=*/false);
  KubeConfig cfg;
  cfg.server = f.url();

  SECTION("CA from memory (certificate-authority-data)") {
    cfg.ca_data = f.pki.ca.cert_pem;
    Status st = f.ListNodes(cfg);
    CHECK(st.ok());
    INFO(st.ToString());
  }
  SECTION("CA from a file (certificate-authority)") {
    cfg.ca_file = f.dir.Write("ca.crt", f.pki.ca.cert_pem);
    CHECK(f.ListNodes(cfg).ok());
  }
  SECTION("an unrelated CA is rejected") {
    cfg.ca_data = f.pki.other_ca.cert_pem;
    Status st = f.ListNodes(cfg);
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK_THAT(st.message(), Catch::Contains("not trusted"));
  }
  SECTION("no CA: the system store does not know ours") {
    CHECK(f.ListNodes(cfg).code() == StatusCode::kUnavailable);
  }
  SECTION("insecure-skip-tls-verify accepts any server certificate") {
    cfg.ca_data = f.pki.other_ca.cert_pem;
    cfg.insecure_skip_tls_verify = true;
    CHECK(f.ListNodes(cfg).ok());
  }
  SECTION("tls-server-name verifies another name in the certificate") {
    cfg.ca_data = f.pki.ca.cert_pem;
    cfg.tls_server_name = "kubernetes";
    CHECK(f.ListNodes(cfg).ok());
    cfg.tls_server_name = "not-in-the-cert";
    CHECK(f.ListNodes(cfg).code() == StatusCode::kUnavailable);
  }
}

TEST_CASE("https: the system trust store is used only when no CA is configured", "[kube]") {
  TlsFixture f(/*require_client_cert=*/false);
  // OpenSSL's default verify paths honour SSL_CERT_FILE: make our CA the "system" store.
  std::string system_ca = f.dir.Write("system-ca.pem", f.pki.ca.cert_pem);
  setenv("SSL_CERT_FILE", system_ca.c_str(), 1);
  KubeConfig cfg;
  cfg.server = f.url();
  Status no_ca = f.ListNodes(cfg);
  cfg.ca_data = f.pki.other_ca.cert_pem;  // an explicit CA replaces the system store
  Status other_ca = f.ListNodes(cfg);
  cfg.ca_data.clear();
  cfg.ca_file = f.dir.Write("other-ca.pem", f.pki.other_ca.cert_pem);
  Status other_ca_file = f.ListNodes(cfg);
  unsetenv("SSL_CERT_FILE");
  CHECK(no_ca.ok());
  CHECK(other_ca.code() == StatusCode::kUnavailable);
  CHECK(other_ca_file.code() == StatusCode::kUnavailable);
}

TEST_CASE("https client certificate authentication", "[kube]") {
  TlsFixture f(/*require_client_cert=*/true);
  KubeConfig cfg;
  cfg.server = f.url();
  cfg.ca_data = f.pki.ca.cert_pem;

  SECTION("certificate and key from memory") {
    cfg.client_cert_data = f.pki.client.cert_pem;
    cfg.client_key_data = f.pki.client.key_pem;
    REQUIRE(f.ListNodes(cfg).ok());
    CHECK(f.ClientCn() == "rescheduler");
  }
  SECTION("certificate and key from files") {
    cfg.client_cert_file = f.dir.Write("client.crt", f.pki.client.cert_pem);
    cfg.client_key_file = f.dir.Write("client.key", f.pki.client.key_pem);
    REQUIRE(f.ListNodes(cfg).ok());
    CHECK(f.ClientCn() == "rescheduler");
  }
  SECTION("no client certificate is refused by the server") {
    CHECK(f.ListNodes(cfg).code() == StatusCode::kUnavailable);
  }
  SECTION("a certificate from another CA is refused") {
    cfg.client_cert_data = f.pki.rogue_client.cert_pem;
    cfg.client_key_data = f.pki.rogue_client.key_pem;
    CHECK(f.ListNodes(cfg).code() == StatusCode::kUnavailable);
  }
  SECTION("a key that does not match the certificate is rejected up front") {
    cfg.client_cert_data = f.pki.client.cert_pem;
    cfg.client_key_data = f.pki.rogue_client.key_pem;
    Status st = f.ListNodes(cfg);
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(st.message(), Catch::Contains("does not match"));
  }
}

TEST_CASE("kubeconfig file drives an https client with cert and token", "[kube]") {
  TlsFixture f(/*require_client_cert=*/true);
  std::string kubeconfig =
      "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
      "clusters:\n- name: c\n  cluster:\n    server: " +
      f.url() + "\n    certificate-authority-data: " + Base64(f.pki.ca.cert_pem) +
      "\nusers:\n- name: u\n  user:\n    client-certificate-data: " +
      Base64(f.pki.client.cert_pem) + "\n    client-key-data: " + Base64(f.pki.client.key_pem) +
      "\n    token: kc-token\n"
      "contexts:\n- name: test\n  context: {cluster: c, user: u}\n";
  std::string path = f.dir.Write("config", kubeconfig);
  auto cfg = LoadKubeConfigFile(path);
  REQUIRE(cfg.ok());
  REQUIRE(f.ListNodes(*cfg).ok());
  CHECK(f.ClientCn() == "rescheduler");
  std::lock_guard<std::mutex> lock(f.mu);
  CHECK(f.last_auth == "Bearer kc-token");
}

TEST_CASE("kubeconfig with insecure-skip-tls-verify and a token file", "[kube]") {
  TlsFixture f(/*require_client_cert=*/false);
  std::string token_path = f.dir.Write("sa-token", "file-token\n");
  std::string kubeconfig =
      "current-context: test\n"
      "clusters:\n- name: c\n  cluster:\n    server: " +
      f.url() +
      "\n    insecure-skip-tls-verify: true\n"
      "users:\n- name: u\n  user:\n    tokenFile: sa-token\n"
      "contexts:\n- name: test\n  context: {cluster: c, user: u}\n";
  auto cfg = LoadKubeConfigFile(f.dir.Write("config", kubeconfig));
  REQUIRE(cfg.ok());
  CHECK(cfg->token_file == token_path);
  REQUIRE(f.ListNodes(*cfg).ok());
  std::lock_guard<std::mutex> lock(f.mu);
  CHECK(f.last_auth == "Bearer file-token");
}

}  // namespace
}  // namespace kb::kube
