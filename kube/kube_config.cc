#include "kube/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kb::kube {
namespace {

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::Internal("error reading file " + path);
  return ss.str();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string ResolvePath(const std::string& base_dir, const std::string& p) {
  if (p.empty() || base_dir.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

Status KeyError(const std::string& key, const std::string& what) {
  return Status::InvalidArgument("kubeconfig: " + key + ": " + what);
}

// Reads an optional scalar string at node[key]; path names the node for errors.
Status ReadString(const YAML::Node& node, const char* key, const std::string& path,
                  std::string* out) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return Status::Ok();
  if (!v.IsScalar()) return KeyError(path + "." + key, "expected a string");
  *out = v.Scalar();
  return Status::Ok();
}

Status ReadBool(const YAML::Node& node, const char* key, const std::string& path, bool* out) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return Status::Ok();
  bool b = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
    return KeyError(path + "." + key, "expected a boolean");
  }
  *out = b;
  return Status::Ok();
}

Status ReadBase64(const YAML::Node& node, const char* key, const std::string& path,
                  std::string* out) {
  std::string raw;
  KB_RETURN_IF_ERROR(ReadString(node, key, path, &raw));
  if (raw.empty()) return Status::Ok();
  auto decoded = Base64Decode(raw);
  if (!decoded.ok()) return KeyError(path + "." + key, "invalid base64");
  *out = std::move(decoded).value();
  return Status::Ok();
}

// Finds the entry `name` in a list of {name, <field>: {...}}; returns its <field> node and sets
// *path to e.g. "clusters[2].cluster".
StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* field,
                               const std::string& name, const std::string& referrer,
                               std::string* path) {
  const YAML::Node items = root[list];
  if (items && !items.IsNull() && !items.IsSequence()) {
    return KeyError(list, "expected a list");
  }
  if (items && items.IsSequence()) {
    for (size_t i = 0; i < items.size(); ++i) {
      const YAML::Node item = items[i];
      std::string item_path = std::string(list) + "[" + std::to_string(i) + "]";
      if (!item.IsMap()) return KeyError(item_path, "expected a map");
      std::string item_name;
      KB_RETURN_IF_ERROR(ReadString(item, "name", item_path, &item_name));
      if (item_name != name) continue;
      const YAML::Node body = item[field];
      *path = item_path + "." + field;
      if (!body || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
      if (!body.IsMap()) return KeyError(*path, "expected a map");
      return body;
    }
  }
  return KeyError(referrer, "no entry named \"" + name + "\" in " + list);
}

StatusOr<KubeConfig> ParseKubeConfigImpl(const YAML::Node& root, const std::string& base_dir,
                                         const std::string& context_override) {
  if (!root.IsMap()) return Status::InvalidArgument("kubeconfig: expected a YAML map");
  std::string context_name = context_override;
  if (context_name.empty()) {
    KB_RETURN_IF_ERROR(ReadString(root, "current-context", "", &context_name));
    if (context_name.empty()) return KeyError("current-context", "not set");
  }
  std::string ctx_path;
  KB_ASSIGN_OR_RETURN(
      YAML::Node ctx,
      FindNamed(root, "contexts", "context", context_name,
                context_override.empty() ? "current-context" : "context", &ctx_path));
  KubeConfig cfg;
  std::string cluster_name, user_name;
  KB_RETURN_IF_ERROR(ReadString(ctx, "cluster", ctx_path, &cluster_name));
  KB_RETURN_IF_ERROR(ReadString(ctx, "user", ctx_path, &user_name));
  KB_RETURN_IF_ERROR(ReadString(ctx, "namespace", ctx_path, &cfg.namespace_));
  if (cluster_name.empty()) return KeyError(ctx_path + ".cluster", "not set");

  std::string cl_path;
  KB_ASSIGN_OR_RETURN(YAML::Node cluster, FindNamed(root, "clusters", "cluster", cluster_name,
                                                    ctx_path + ".cluster", &cl_path));
  KB_RETURN_IF_ERROR(ReadString(cluster, "server", cl_path, &cfg.server));
  if (cfg.server.empty()) return KeyError(cl_path + ".server", "not set");
  while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return KeyError(cl_path + ".server",
                    "\"" + cfg.server + "\" must start with https:// or http://");
  }
  KB_RETURN_IF_ERROR(ReadString(cluster, "certificate-authority", cl_path, &cfg.ca_file));
  cfg.ca_file = ResolvePath(base_dir, cfg.ca_file);
  KB_RETURN_IF_ERROR(ReadBase64(cluster, "certificate-authority-data", cl_path, &cfg.ca_data));
  KB_RETURN_IF_ERROR(ReadString(cluster, "tls-server-name", cl_path, &cfg.tls_server_name));
  KB_RETURN_IF_ERROR(
      ReadBool(cluster, "insecure-skip-tls-verify", cl_path, &cfg.insecure_skip_tls_verify));

  if (!user_name.empty()) {
    std::string u_path;
    KB_ASSIGN_OR_RETURN(YAML::Node user,
                        FindNamed(root, "users", "user", user_name, ctx_path + ".user", &u_path));
    KB_RETURN_IF_ERROR(ReadString(user, "client-certificate", u_path, &cfg.client_cert_file));
    cfg.client_cert_file = ResolvePath(base_dir, cfg.client_cert_file);
    KB_RETURN_IF_ERROR(ReadBase64(user, "client-certificate-data", u_path, &cfg.client_cert_data));
    KB_RETURN_IF_ERROR(ReadString(user, "client-key", u_path, &cfg.client_key_file));
    cfg.client_key_file = ResolvePath(base_dir, cfg.client_key_file);
    KB_RETURN_IF_ERROR(ReadBase64(user, "client-key-data", u_path, &cfg.client_key_data));
    KB_RETURN_IF_ERROR(ReadString(user, "token", u_path, &cfg.token));
    KB_RETURN_IF_ERROR(ReadString(user, "tokenFile", u_path, &cfg.token_file));
    cfg.token_file = ResolvePath(base_dir, cfg.token_file);

    bool has_cert = !cfg.client_cert_file.empty() || !cfg.client_cert_data.empty();
    bool has_key = !cfg.client_key_file.empty() || !cfg.client_key_data.empty();
    if (has_cert != has_key) {
      return KeyError(u_path + (has_cert ? ".client-key" : ".client-certificate"),
                      "client certificate and key must be given together");
    }
    bool has_token = !cfg.token.empty() || !cfg.token_file.empty();
    if (!has_cert && !has_token) {
      for (const char* unsupported : {"exec", "auth-provider", "username"}) {
        const YAML::Node n = user[unsupported];
        if (n && !n.IsNull()) {
          return KeyError(u_path + "." + unsupported,
                          "not supported; use a token, tokenFile or a client certificate");
        }
      }
    }
  }
  return cfg;
}

}  // namespace

KubeConfigEnv KubeConfigEnv::FromProcess() {
  KubeConfigEnv env;
  env.service_host = GetEnv("KUBERNETES_SERVICE_HOST");
  env.service_port = GetEnv("KUBERNETES_SERVICE_PORT");
  env.kubeconfig = GetEnv("KUBECONFIG");
  env.home = GetEnv("HOME");
  return env;
}

std::string JoinHostPort(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

StatusOr<std::string> Base64Decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return Status::InvalidArgument("base64: data after padding");
    int v = value(c);
    if (v < 0) return Status::InvalidArgument("base64: invalid character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || padding > 2) return Status::InvalidArgument("base64: truncated input");
  return out;
}

StatusOr<KubeConfig> LoadInClusterConfig(const KubeConfigEnv& env) {
  if (!env.service_host || env.service_host->empty() || !env.service_port ||
      env.service_port->empty()) {
    return Status::FailedPrecondition(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set");
  }
  KubeConfig cfg;
  cfg.source = "in-cluster";
  cfg.server = "https://" + JoinHostPort(*env.service_host, *env.service_port);
  cfg.token_file = env.in_cluster.token_file;
  if (!FileExists(cfg.token_file)) {
    return Status::FailedPrecondition("in-cluster: token file " + cfg.token_file +
                                      " does not exist");
  }
  cfg.ca_file = env.in_cluster.ca_file;
  if (!FileExists(cfg.ca_file)) {
    return Status::FailedPrecondition("in-cluster: CA file " + cfg.ca_file + " does not exist");
  }
  auto ns = ReadWholeFile(env.in_cluster.namespace_file);
  if (ns.ok()) cfg.namespace_ = Trim(*ns);
  return cfg;
}

StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml_text, const std::string& base_dir,
                                     const std::string& context) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    return ParseKubeConfigImpl(root, base_dir, context);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("kubeconfig: invalid YAML: ") + e.what());
  }
}

StatusOr<KubeConfig> LoadKubeConfigFile(const std::string& path, const std::string& context) {
  KB_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  auto cfg = ParseKubeConfig(text, base_dir, context);
  if (!cfg.ok()) return cfg.status().Annotate(path);
  cfg->source = path;
  return cfg;
}

StatusOr<KubeConfig> ResolveKubeConfig(const std::string& explicit_kubeconfig,
                                       const KubeConfigEnv& env) {
  if (!explicit_kubeconfig.empty()) return LoadKubeConfigFile(explicit_kubeconfig);
  if (env.service_host && !env.service_host->empty() && env.service_port &&
      !env.service_port->empty()) {
    return LoadInClusterConfig(env);
  }
  if (env.kubeconfig && !env.kubeconfig->empty()) {
    std::string first = env.kubeconfig->substr(0, env.kubeconfig->find(':'));
    if (!first.empty()) return LoadKubeConfigFile(first);
  }
  if (env.home && !env.home->empty()) {
    std::string path = *env.home + "/.kube/config";
    if (FileExists(path)) return LoadKubeConfigFile(path);
  }
  return Status::FailedPrecondition(
      "no Kubernetes configuration: pass --kubeconfig, run in a cluster, set $KUBECONFIG or "
      "create ~/.kube/config");
}

}  // namespace kb::kube
