// KubeConfig: how to reach and authenticate to the Kubernetes API server, loaded from the
// in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, token and CA files) or from a
// kubeconfig file (current-context, cluster, user), as client-go does. Pure loaders: they read
// files and the environment snapshot they are given, never global state; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "core/status.h"

namespace kb::kube {

// Connection settings. Exactly one of each *_file / *_data pair is normally set; data wins.
struct KubeConfig {
  std::string server;  // "https://host:port" or "http://host:port" (no trailing slash)
  // TLS server verification.
  std::string ca_file;          // PEM bundle path (certificate-authority / in-cluster ca.crt)
  std::string ca_data;          // PEM bytes (decoded certificate-authority-data)
  std::string tls_server_name;  // name to verify instead of the server host ("" = host)
  bool insecure_skip_tls_verify = false;  // never verify the server certificate
  // TLS client certificate authentication.
  std::string client_cert_file;  // client-certificate
  std::string client_cert_data;  // decoded client-certificate-data (PEM)
  std::string client_key_file;   // client-key
  std::string client_key_data;   // decoded client-key-data (PEM)
  // Bearer token: `token` is static; `token_file` is re-read periodically (rotating SA tokens).
  // When both are set the static token wins (client-go semantics).
  std::string token;
  std::string token_file;
  std::string namespace_;  // context namespace / in-cluster namespace file ("" = unknown)
  std::string source;      // where this came from, for logs: "in-cluster" or the file path
};

// In-cluster file locations; overridable for tests.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// The process environment the resolution reads, captured as values so tests can fake it.
struct KubeConfigEnv {
  std::optional<std::string> service_host;  // $KUBERNETES_SERVICE_HOST
  std::optional<std::string> service_port;  // $KUBERNETES_SERVICE_PORT
  std::optional<std::string> kubeconfig;    // $KUBECONFIG (':'-separated; the first entry is used)
  std::optional<std::string> home;          // $HOME
  InClusterPaths in_cluster;

  // Reads the variables above from the real environment.
  static KubeConfigEnv FromProcess();
};

// In-cluster config: server "https://" + JoinHostPort(host, port) (IPv6 bracketed), the token
// file (not read here; the client reads and re-reads it) and the CA file, which must exist.
// FailedPrecondition "not running in a cluster" when the env vars are missing.
StatusOr<KubeConfig> LoadInClusterConfig(const KubeConfigEnv& env);

// Parses kubeconfig YAML. `context` overrides current-context when non-empty; relative file
// paths are resolved against `base_dir` (the kubeconfig's directory). InvalidArgument naming the
// key on problems, e.g. `kubeconfig: users[0].user.client-key-data: invalid base64`.
StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml_text, const std::string& base_dir,
                                     const std::string& context = "");
// Reads and parses a kubeconfig file (NotFound when it does not exist).
StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path, const std::string& context = "");

// Resolution order: `explicit_kubeconfig` (--kubeconfig) > in-cluster env > $KUBECONFIG >
// ~/.kube/config. FailedPrecondition when none applies.
StatusOr<KubeConfig> ResolveKubeConfig(const std::string& explicit_kubeconfig,
                                       const KubeConfigEnv& env);

// Standard base64 (RFC 4648, padding optional, whitespace ignored). InvalidArgument on bad input.
StatusOr<std::string> Base64Decode(const std::string& in);

// "host:port", bracketing IPv6 literals like Go's net.JoinHostPort.
std::string JoinHostPort(const std::string& host, const std::string& port);

}  // namespace kb::kube
