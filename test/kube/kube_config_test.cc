#include "kube/kube_config.h"

#include <catch2/catch.hpp>

#include "test/kube/kube_test_util.h"

namespace kb::kube {
namespace {

using test::Base64;
using test::TempDir;

std::string Kubeconfig(const std::string& cluster_extra, const std::string& user_extra,
                       const std::string& current = "dev") {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: " +
         current +
         "\n"
         "clusters:\n"
         "- name: other\n"
         "  cluster:\n"
         "    server: https://10.9.9.9:6443\n"
         "- name: dev\n"
         "  cluster:\n"
         "    server: https://10.0.0.1:6443/\n" +
         cluster_extra +
         "users:\n"
         "- name: rescheduler\n"
         "  user:\n" +
         user_extra +
         "contexts:\n"
         "- name: dev\n"
         "  context: {cluster: dev, user: rescheduler, namespace: team-a}\n"
         "- name: other\n"
         "  context: {cluster: other, user: rescheduler}\n";
}

TEST_CASE("kubeconfig with a static token and CA data", "[kube]") {
  std::string ca_pem = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
  auto cfg = ParseKubeConfig(Kubeconfig("    certificate-authority-data: " + Base64(ca_pem) +
                                            "\n    tls-server-name: kubernetes\n",
                                        "    token: s3cret\n"),
                             "/etc/kb");
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://10.0.0.1:6443");
  CHECK(cfg->ca_data == ca_pem);
  CHECK(cfg->ca_file.empty());
  CHECK(cfg->tls_server_name == "kubernetes");
  CHECK_FALSE(cfg->insecure_skip_tls_verify);
  CHECK(cfg->token == "s3cret");
  CHECK(cfg->namespace_ == "team-a");
}

TEST_CASE("kubeconfig with files resolves relative paths against its directory", "[kube]") {
  auto cfg = ParseKubeConfig(Kubeconfig("    certificate-authority: pki/ca.crt\n",
                                        "    client-certificate: pki/client.crt\n"
                                        "    client-key: /abs/client.key\n"
                                        "    tokenFile: token\n"),
                             "/home/me/.kube");
  REQUIRE(cfg.ok());
  CHECK(cfg->ca_file == "/home/me/.kube/pki/ca.crt");
  CHECK(cfg->client_cert_file == "/home/me/.kube/pki/client.crt");
  CHECK(cfg->client_key_file == "/abs/client.key");
  CHECK(cfg->token_file == "/home/me/.kube/token");
  CHECK(cfg->token.empty());
}

TEST_CASE("kubeconfig client certificate data and insecure-skip-tls-verify", "[kube]") {
  auto cfg = ParseKubeConfig(Kubeconfig("    insecure-skip-tls-verify: true\n",
                                        "    client-certificate-data: " + Base64("CERT") +
                                            "\n    client-key-data: " + Base64("KEY") + "\n"),
                             "");
  REQUIRE(cfg.ok());
  CHECK(cfg->insecure_skip_tls_verify);
  CHECK(cfg->client_cert_data == "CERT");
  CHECK(cfg->client_key_data == "KEY");
}

TEST_CASE("kubeconfig context override picks another cluster", "[kube]") {
  auto cfg = ParseKubeConfig(Kubeconfig("", "    token: t\n"), "", "other");
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://10.9.9.9:6443");
  CHECK(cfg->namespace_.empty());
}

TEST_CASE("kubeconfig problems name the key", "[kube]") {
  struct Case {
    const char* name;
    std::string yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"missing current-context", Kubeconfig("", "    token: t\n", "\"\""), "current-context"},
      {"unknown context", Kubeconfig("", "    token: t\n", "nope"), "no entry named \"nope\""},
      {"bad base64", Kubeconfig("    certificate-authority-data: '%%%'\n", "    token: t\n"),
       "clusters[1].cluster.certificate-authority-data: invalid base64"},
      {"bad bool", Kubeconfig("    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
       "clusters[1].cluster.insecure-skip-tls-verify: expected a boolean"},
      {"bad scheme",
       "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
       "clusters: [{name: c, cluster: {server: 'ftp://x'}}]\n",
       "clusters[0].cluster.server"},
      {"cert without key", Kubeconfig("", "    client-certificate-data: " + Base64("C") + "\n"),
       "users[0].user.client-key"},
      {"exec plugin", Kubeconfig("", "    exec: {command: aws}\n"), "users[0].user.exec"},
      {"not yaml", "current-context: [unclosed", "invalid YAML"},
      {"token not a string", Kubeconfig("", "    token: {a: b}\n"),
       "users[0].user.token: expected a string"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto cfg = ParseKubeConfig(c.yaml, "");
      REQUIRE_FALSE(cfg.ok());
      CHECK(cfg.status().code() == StatusCode::kInvalidArgument);
      CHECK_THAT(cfg.status().message(), Catch::Contains(c.expected));
    }
  }
}

TEST_CASE("in-cluster config brackets IPv6 hosts and needs the env vars", "[kube]") {
  TempDir dir;
  KubeConfigEnv env;
  env.in_cluster.token_file = dir.Write("token", "tok\n");
  env.in_cluster.ca_file = dir.Write("ca.crt", "pem");
  env.in_cluster.namespace_file = dir.Write("namespace", "kube-system\n");

  auto missing = LoadInClusterConfig(env);
  CHECK(missing.status().code() == StatusCode::kFailedPrecondition);

  env.service_host = "fd00::1";
  env.service_port = "443";
  auto cfg = LoadInClusterConfig(env);
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://[fd00::1]:443");
  CHECK(cfg->token_file == env.in_cluster.token_file);
  CHECK(cfg->ca_file == env.in_cluster.ca_file);
  CHECK(cfg->namespace_ == "kube-system");
  CHECK(cfg->source == "in-cluster");

  env.service_host = "10.96.0.1";
  cfg = LoadInClusterConfig(env);
  REQUIRE(cfg.ok());
  CHECK(cfg->server == "https://10.96.0.1:443");
}

TEST_CASE("config resolution order: flag, in-cluster, KUBECONFIG, home", "[kube]") {
  TempDir dir;
  std::string flag_file = dir.Write("flag.yaml", Kubeconfig("", "    token: from-flag\n"));
  std::string env_file = dir.Write("env.yaml", Kubeconfig("", "    token: from-env\n"));
  dir.Write("home/.kube/config", Kubeconfig("", "    token: from-home\n"));

  KubeConfigEnv env;
  env.in_cluster.token_file = dir.Write("sa/token", "sa-token");
  env.in_cluster.ca_file = dir.Write("sa/ca.crt", "pem");
  env.service_host = "10.96.0.1";
  env.service_port = "443";
  env.kubeconfig = env_file + ":/does/not/exist";
  env.home = dir.path() + "/home";

  auto cfg = ResolveKubeConfig(flag_file, env);
  REQUIRE(cfg.ok());
  CHECK(cfg->token == "from-flag");
  CHECK(cfg->source == flag_file);

  cfg = ResolveKubeConfig("", env);
  REQUIRE(cfg.ok());
  CHECK(cfg->source == "in-cluster");

  env.service_host.reset();
  cfg = ResolveKubeConfig("", env);
  REQUIRE(cfg.ok());
  CHECK(cfg->token == "from-env");

  env.kubeconfig.reset();
  cfg = ResolveKubeConfig("", env);
  REQUIRE(cfg.ok());
  CHECK(cfg->token == "from-home");

  env.home = dir.path() + "/nowhere";
  cfg = ResolveKubeConfig("", env);
  CHECK(cfg.status().code() == StatusCode::kFailedPrecondition);

  auto missing = ResolveKubeConfig(dir.path() + "/missing.yaml", env);
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("base64 decoding", "[kube]") {
  CHECK(Base64Decode("aGVsbG8=").value() == "hello");
  CHECK(Base64Decode("aGVsbG8").value() == "hello");
  CHECK(Base64Decode("aGVs\nbG8=").value() == "hello");
  CHECK(Base64Decode("").value().empty());
  CHECK_FALSE(Base64Decode("a").ok());
  CHECK_FALSE(Base64Decode("a$==").ok());
  CHECK_FALSE(Base64Decode("aa==aa").ok());
}

}  // namespace
}  // namespace kb::kube
