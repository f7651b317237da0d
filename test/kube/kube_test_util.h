// Helpers for the kube tests: a scratch directory, file writing, a local httplib server on
// 127.0.0.1 (plain or TLS), and a throwaway PKI (CA, server and client certificates) generated
// with the OpenSSL API at test time. Header-only; test code only.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "test/testing/poll.h"

namespace kb::kube::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kbkube-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }

 private:
  std::string path_;
};

inline std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Runs an httplib server (plain or TLS) on 127.0.0.1:<any port> in a thread.
class LocalServer {
 public:
  explicit LocalServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    server_->set_tcp_nodelay(true);
  }
  LocalServer() : LocalServer(std::make_unique<httplib::Server>()) {}
  ~LocalServer() { Stop(); }
  httplib::Server& server() { return *server_; }
  void Start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("bind failed");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    kb::testing::PollUntil([&] { return server_->is_running(); }, std::chrono::seconds(5),
                           std::chrono::milliseconds(1));
  }
  void Stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }
  int port() const { return port_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// --- PKI ---

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;

struct Issued {
  Key key;
  Cert cert;
  std::string key_pem;
  std::string cert_pem;
};

inline std::string ToPem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

inline std::string ToPem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

inline void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("bad extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Issues a certificate for `cn`, signed by `ca` (self-signed when ca == nullptr).
// `san` e.g. "IP:127.0.0.1,DNS:localhost"; `usage` "serverAuth" / "clientAuth" / "" for a CA.
inline Issued Issue(const std::string& cn, const Issued* ca, const std::string& san,
                    const std::string& usage) {
  static long serial = 1;
  Issued out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer = ca ? ca->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer));
  if (ca == nullptr) {
    AddExt(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    if (!usage.empty()) AddExt(x, issuer, NID_ext_key_usage, usage.c_str());
    if (!san.empty()) AddExt(x, issuer, NID_subject_alt_name, san.c_str());
  }
  X509_sign(x, ca ? ca->key.get() : out.key.get(), EVP_sha256());
  out.cert_pem = ToPem(x);
  out.key_pem = ToPem(out.key.get());
  return out;
}

struct Pki {
  Issued ca = Issue("kb-test-ca", nullptr, "", "");
  Issued server =
      Issue("kube-apiserver", &ca, "IP:127.0.0.1,DNS:localhost,DNS:kubernetes", "serverAuth");
  Issued client = Issue("rescheduler", &ca, "", "clientAuth");
  Issued other_ca = Issue("kb-other-ca", nullptr, "", "");
  Issued rogue_client = Issue("rogue", &other_ca, "", "clientAuth");
};

// An httplib::SSLServer with `pki.server`'s certificate; when `require_client_cert`, clients
// must present a certificate signed by `pki.ca`.
inline std::unique_ptr<httplib::Server> MakeTlsServer(const Pki& pki, bool require_client_cert) {
  X509_STORE* store = nullptr;
  if (require_client_cert) {
    store = X509_STORE_new();
    X509_STORE_add_cert(store, pki.ca.cert.get());
  }
  // SSLServer copies what it needs into its SSL_CTX (and takes ownership of `store`).
  return std::make_unique<httplib::SSLServer>(pki.server.cert.get(), pki.server.key.get(), store);
}

}  // namespace kb::kube::test
