// deploy/ and docs/ against the code: every kustomization renders offline (kubectl kustomize) into
// named objects; RBAC grants exactly kube/api_calls.h; the KubeSchedulerConfiguration's extender
// block matches the server (verbs, port); the ConfigMaps' config parses with kb::ParseConfig;
// workloads carry probes, limits and a locked-down securityContext; docs/configuration.md lists
// exactly kb::ConfigKeys(); the examples follow the seeds; the dashboard queries real metrics.

#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "kube/api_calls.h"
#include "server/metrics.h"

namespace kb {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = KB_SOURCE_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `command` through /bin/sh, capturing stdout and stderr separately.
CommandResult Run(const std::string& command) {
  CommandResult result;
  const fs::path err_file =
      fs::temp_directory_path() / ("kb_deploy_test_" + std::to_string(getpid()) + ".err");
  FILE* pipe = popen((command + " 2>'" + err_file.string() + "'").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 8192> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = ReadFile(err_file);
  std::error_code ec;
  fs::remove(err_file, ec);
  return result;
}

// kubectl from PATH, else /usr/bin/kubectl; "" when there is none.
std::string Kubectl() {
  static const std::string path = [] {
    CommandResult r = Run("command -v kubectl");
    std::string p = r.out.substr(0, r.out.find('\n'));
    if (r.exit_code == 0 && !p.empty()) return p;
    return fs::exists("/usr/bin/kubectl") ? std::string("/usr/bin/kubectl") : std::string();
  }();
  return path;
}

std::string Str(const YAML::Node& node) {
  return node && node.IsScalar() ? node.Scalar() : std::string();
}

std::string Describe(const YAML::Node& doc) {
  return Str(doc["kind"]) + " " + Str(doc["metadata"]["namespace"]) + "/" +
         Str(doc["metadata"]["name"]);
}

// The rendered output of one kustomization.
struct Rendering {
  std::string dir;  // relative to the source dir, e.g. "deploy/overlays/kind"
  std::vector<YAML::Node> docs;

  std::vector<YAML::Node> OfKind(const std::string& kind) const {
    std::vector<YAML::Node> out;
    for (const YAML::Node& d : docs) {
      if (Str(d["kind"]) == kind) out.push_back(d);
    }
    return out;
  }
  std::optional<YAML::Node> Find(const std::string& kind, const std::string& name,
                                 const std::string& ns = "") const {
    for (const YAML::Node& d : docs) {
      if (Str(d["kind"]) == kind && Str(d["metadata"]["name"]) == name &&
          (ns.empty() || Str(d["metadata"]["namespace"]) == ns)) {
        return d;
      }
    }
    return std::nullopt;
  }
};

// Every directory that `kubectl kustomize` must render: deploy/ and each overlay.
std::vector<std::string> KustomizeDirs() {
  std::vector<std::string> dirs = {"deploy"};
  std::vector<std::string> overlays;
  for (const auto& entry : fs::directory_iterator(kSourceDir / "deploy" / "overlays")) {
    if (entry.is_directory() && fs::exists(entry.path() / "kustomization.yaml")) {
      overlays.push_back("deploy/overlays/" + entry.path().filename().string());
    }
  }
  std::sort(overlays.begin(), overlays.end());
  dirs.insert(dirs.end(), overlays.begin(), overlays.end());
  return dirs;
}

// Renders `dir` once per process (kubectl takes ~0.1 s per call).
const Rendering& Render(const std::string& dir) {
  static std::map<std::string, Rendering> cache;
  auto it = cache.find(dir);
  if (it != cache.end()) return it->second;
  const std::string kubectl = Kubectl();
  if (kubectl.empty()) {
    FAIL(
        "kubectl not found on PATH or at /usr/bin/kubectl: the deploy tests render the "
        "kustomizations with `kubectl kustomize` (kubectl >= 1.27, offline)");
  }
  CommandResult r = Run("'" + kubectl + "' kustomize '" + (kSourceDir / dir).string() + "'");
  INFO("kubectl kustomize " << dir << " stderr:\n" << r.err);
  REQUIRE(r.exit_code == 0);
  Rendering rendering;
  rendering.dir = dir;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(r.out)) {
      if (doc.IsNull()) continue;
      rendering.docs.push_back(doc);
    }
  } catch (const YAML::Exception& e) {
    FAIL("kubectl kustomize " << dir << " printed invalid YAML: " << e.what());
  }
  return cache.emplace(dir, std::move(rendering)).first->second;
}

struct Url {
  std::string scheme, host;
  int port = -1;
};
std::optional<Url> ParseUrl(const std::string& text) {
  static const std::regex re(R"(^(https?)://([^/:]+):(\d+)(/.*)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  return Url{m[1], m[2], std::stoi(m[3])};
}

// "--config=PATH" from a container's command and args ("" if absent).
std::string ConfigFlag(const YAML::Node& container) {
  for (const char* field : {"command", "args"}) {
    const YAML::Node list = container[field];
    if (!list || !list.IsSequence()) continue;
    for (const YAML::Node& a : list) {
      const std::string s = Str(a);
      if (s.rfind("--config=", 0) == 0) return s.substr(9);
    }
  }
  return "";
}

// The text of the file a container's --config flag points at, resolved through its volume
// mount to the ConfigMap key in the rendering; FAILs (naming the step) when the chain breaks.
std::string ConfigTextOf(const Rendering& r, const YAML::Node& deployment,
                         const YAML::Node& container) {
  const std::string path = ConfigFlag(container);
  INFO(Describe(deployment) << " container " << Str(container["name"]) << " --config=" << path);
  REQUIRE(!path.empty());
  const fs::path p(path);
  const std::string dir = p.parent_path().string();
  const std::string key = p.filename().string();
  std::string volume;
  for (const YAML::Node& m : container["volumeMounts"]) {
    if (Str(m["mountPath"]) == dir) volume = Str(m["name"]);
  }
  INFO("no volumeMount at " << dir);
  REQUIRE(!volume.empty());
  std::string config_map;
  for (const YAML::Node& v : deployment["spec"]["template"]["spec"]["volumes"]) {
    if (Str(v["name"]) == volume) config_map = Str(v["configMap"]["name"]);
  }
  INFO("volume " << volume << " is not a ConfigMap volume");
  REQUIRE(!config_map.empty());
  auto cm = r.Find("ConfigMap", config_map, Str(deployment["metadata"]["namespace"]));
  INFO("ConfigMap " << config_map << " is not in the rendering");
  REQUIRE(cm.has_value());
  INFO("ConfigMap " << config_map << " has no key " << key);
  REQUIRE((*cm)["data"][key]);
  return Str((*cm)["data"][key]);
}

std::optional<YAML::Node> ContainerNamed(const YAML::Node& deployment, const std::string& name) {
  for (const YAML::Node& c : deployment["spec"]["template"]["spec"]["containers"]) {
    if (Str(c["name"]) == name) return c;
  }
  return std::nullopt;
}

bool SelectorMatches(const YAML::Node& match_labels, const YAML::Node& labels) {
  if (!match_labels || !match_labels.IsMap() || match_labels.size() == 0) return false;
  for (auto it = match_labels.begin(); it != match_labels.end(); ++it) {
    if (Str(labels[it->first.Scalar()]) != Str(it->second)) return false;
  }
  return true;
}

// The kube-balancer and kube-scheduler containers of a rendering, with their pods.
struct Workloads {
  YAML::Node balancer_deployment, balancer;    // container "kube-balancer"
  YAML::Node scheduler_deployment, scheduler;  // container "kube-scheduler"
  Config config;                               // kube-balancer's parsed config
  YAML::Node scheduler_config;                 // the KubeSchedulerConfiguration
};

Workloads FindWorkloads(const Rendering& r) {
  Workloads w;
  int balancers = 0, schedulers = 0;
  for (const YAML::Node& d : r.OfKind("Deployment")) {
    if (auto c = ContainerNamed(d, "kube-balancer")) {
      w.balancer_deployment = d;
      w.balancer = *c;
      ++balancers;
    }
    if (auto c = ContainerNamed(d, "kube-scheduler")) {
      w.scheduler_deployment = d;
      w.scheduler = *c;
      ++schedulers;
    }
  }
  INFO(r.dir << ": expected exactly one kube-balancer and one kube-scheduler container");
  REQUIRE(balancers == 1);
  REQUIRE(schedulers == 1);
  const std::string text = ConfigTextOf(r, w.balancer_deployment, w.balancer);
  StatusOr<Config> config = ParseConfig(text);
  INFO(r.dir << ": kube-balancer config does not parse: " << config.status().ToString() << "\n"
             << text);
  REQUIRE(config.ok());
  w.config = *config;
  const std::string sched_text = ConfigTextOf(r, w.scheduler_deployment, w.scheduler);
  try {
    w.scheduler_config = YAML::Load(sched_text);
  } catch (const YAML::Exception& e) {
    FAIL(r.dir << ": scheduler config is not YAML: " << e.what());
  }
  return w;
}

int ListenPort(const Config& config) {
  auto hp = ParseHostPort(config.listen);
  REQUIRE(hp.ok());
  return hp->second;
}

// The port of /metrics, /healthz and /readyz: metricsListen's, or listen's without it.
int MetricsPort(const Config& config) {
  if (config.metrics_listen.empty()) return ListenPort(config);
  auto hp = ParseHostPort(config.metrics_listen, "metricsListen");
  REQUIRE(hp.ok());
  return hp->second;
}

// The extender verb routes the server registers (POST /<verb> for each of kExtenderVerbs), so the
// manifests cannot drift from the code without this test noticing.
std::set<std::string> ServerVerbRoutes() {
  std::set<std::string> verbs;
  for (server::Verb verb : server::kExtenderVerbs) verbs.insert(server::VerbName(verb));
  CHECK(!verbs.empty());
  return verbs;
}

TEST_CASE("every kustomization renders offline into named Kubernetes objects", "[deploy]") {
  const std::vector<std::string> dirs = KustomizeDirs();
  CHECK(std::count(dirs.begin(), dirs.end(), "deploy/overlays/kind") == 1);
  CHECK(std::count(dirs.begin(), dirs.end(), "deploy/overlays/production") == 1);
  for (const std::string& dir : dirs) {
    DYNAMIC_SECTION(dir) {
      const Rendering& r = Render(dir);
      CHECK(r.docs.size() >= 10);
      std::set<std::string> ids;
      for (const YAML::Node& doc : r.docs) {
        INFO(dir << ": document\n" << YAML::Dump(doc));
        REQUIRE(doc.IsMap());
        CHECK(!Str(doc["apiVersion"]).empty());
        CHECK(!Str(doc["kind"]).empty());
        CHECK(!Str(doc["metadata"]["name"]).empty());
        CHECK(ids.insert(Str(doc["apiVersion"]) + " " + Describe(doc)).second);
      }
      for (const char* kind :
           {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}) {
        INFO(dir << " renders no " << kind);
        CHECK(!r.OfKind(kind).empty());
      }
    }
  }
}

TEST_CASE("the scheduler's extender block matches the server's verbs and port", "[deploy]") {
  for (const std::string& dir : KustomizeDirs()) {
    DYNAMIC_SECTION(dir) {
      const Rendering& r = Render(dir);
      const Workloads w = FindWorkloads(r);
      const YAML::Node& sc = w.scheduler_config;
      CHECK(Str(sc["apiVersion"]) == "kubescheduler.config.k8s.io/v1");
      CHECK(Str(sc["kind"]) == "KubeSchedulerConfiguration");
      // One profile: the extender (shared by all profiles of the process) only sees opted-in pods.
      REQUIRE(sc["profiles"].IsSequence());
      REQUIRE(sc["profiles"].size() == 1);
      CHECK(Str(sc["profiles"][0]["schedulerName"]) == w.config.scheduler_name);
      CHECK_FALSE(sc["profiles"][0]["extenders"]);  // extenders are top-level only
      // Its own lease, neither the cluster scheduler's nor kube-balancer's.
      CHECK(sc["leaderElection"]["leaderElect"].as<bool>());
      const std::string lease = Str(sc["leaderElection"]["resourceName"]);
      CHECK(!lease.empty());
      CHECK(lease != "kube-scheduler");
      CHECK(lease != w.config.rescheduler.leader_election.lease_name);

      REQUIRE(sc["extenders"].IsSequence());
      REQUIRE(sc["extenders"].size() == 1);
      const YAML::Node ext = sc["extenders"][0];
      // The server's POST-only routes (server/http_server.cc kRoutes) are exactly the verbs.
      const std::set<std::string> verbs = {Str(ext["filterVerb"]), Str(ext["prioritizeVerb"]),
                                           Str(ext["bindVerb"])};
      CHECK(verbs == std::set<std::string>{"filter", "prioritize", "bind"});
      CHECK(verbs == ServerVerbRoutes());
      CHECK_FALSE(ext["preemptVerb"]);  // no /preempt route
      // The scores are spread over 0..10: weight 5 (docs/design-decisions.md).
      CHECK(ext["weight"].as<int>() == 5);
      CHECK(ext["nodeCacheCapable"].as<bool>());
      CHECK(ext["ignorable"].IsScalar());
      const std::string timeout = Str(ext["httpTimeout"]);
      auto timeout_ms = ParseDuration(timeout);
      INFO("httpTimeout " << timeout);
      REQUIRE(timeout_ms.ok());
      CHECK(*timeout_ms >= Millis(1000));
      CHECK(*timeout_ms < Millis(5000));  // below kube-scheduler's 5 s default

      const std::string prefix = Str(ext["urlPrefix"]);
      auto url = ParseUrl(prefix);
      INFO("urlPrefix " << prefix);
      REQUIRE(url.has_value());
      // HTTPS exactly when kube-balancer serves TLS; enableHTTPS does not rewrite the scheme.
      CHECK((url->scheme == "https") == !w.config.tls.cert_file.empty());
      CHECK(url->port == ListenPort(w.config));
      if (url->host == "127.0.0.1" || url->host == "localhost") {
        // Sidecar: the scheduler and kube-balancer share the pod's network namespace.
        CHECK(Str(w.scheduler_deployment["metadata"]["name"]) ==
              Str(w.balancer_deployment["metadata"]["name"]));
      } else {
        // Through a Service "<name>.<namespace>.svc" selecting the kube-balancer pods.
        static const std::regex svc_re(R"(^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?$)");
        std::smatch m;
        REQUIRE(std::regex_match(url->host, m, svc_re));
        auto svc = r.Find("Service", m[1], m[2]);
        REQUIRE(svc.has_value());
        CHECK(SelectorMatches((*svc)["spec"]["selector"],
                              w.balancer_deployment["spec"]["template"]["metadata"]["labels"]));
        bool port_ok = false;
        for (const YAML::Node& p : (*svc)["spec"]["ports"]) {
          if (p["port"].as<int>() != url->port) continue;
          const std::string target = Str(p["targetPort"]);
          for (const YAML::Node& cp : w.balancer["ports"]) {
            if (Str(cp["name"]) == target || Str(cp["containerPort"]) == target) {
              port_ok = cp["containerPort"].as<int>() == ListenPort(w.config);
            }
          }
        }
        CHECK(port_ok);
      }
    }
  }
}

// One RBAC permission: (group, resource, verb), where it applies and to which names.
struct Grant {
  std::string group, resource, verb;
  std::string ns;               // "" = every namespace (ClusterRole via ClusterRoleBinding)
  std::set<std::string> names;  // resourceNames; empty = any
  std::string from;             // "Role kube-system/x" for messages
};

// The system roles the second kube-scheduler may be bound to (docs/deployment.md, RBAC).
const std::set<std::string> kSchedulerSystemRoles = {
    "ClusterRole/system:kube-scheduler", "ClusterRole/system:volume-scheduler",
    "Role/extension-apiserver-authentication-reader"};

struct Bound {
  std::vector<Grant> grants;           // from roles defined in the rendering
  std::set<std::string> system_roles;  // "ClusterRole/system:kube-scheduler", ...
};

// Everything the ServiceAccount `ns/sa` is granted by the rendering.
Bound GrantsOf(const Rendering& r, const std::string& ns, const std::string& sa) {
  Bound out;
  for (const char* binding_kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const YAML::Node& b : r.OfKind(binding_kind)) {
      bool subject = false;
      for (const YAML::Node& s : b["subjects"]) {
        if (Str(s["kind"]) == "ServiceAccount" && Str(s["name"]) == sa &&
            Str(s["namespace"]) == ns) {
          subject = true;
        }
      }
      if (!subject) continue;
      const std::string role_kind = Str(b["roleRef"]["kind"]);
      const std::string role_name = Str(b["roleRef"]["name"]);
      const std::string binding_ns =
          std::string(binding_kind) == "RoleBinding" ? Str(b["metadata"]["namespace"]) : "";
      INFO(Describe(b) << " binds " << role_kind << " " << role_name);
      CHECK((role_kind == "ClusterRole" || binding_ns != ""));
      auto role = r.Find(role_kind, role_name, role_kind == "Role" ? binding_ns : "");
      if (!role) {
        // Only the documented system roles may come from outside the rendering.
        CHECK(kSchedulerSystemRoles.count(role_kind + "/" + role_name) == 1);
        out.system_roles.insert(role_kind + "/" + role_name);
        continue;
      }
      for (const YAML::Node& rule : (*role)["rules"]) {
        CHECK_FALSE(rule["nonResourceURLs"]);
        std::set<std::string> names;
        for (const YAML::Node& n : rule["resourceNames"]) names.insert(Str(n));
        for (const YAML::Node& g : rule["apiGroups"]) {
          for (const YAML::Node& res : rule["resources"]) {
            for (const YAML::Node& v : rule["verbs"]) {
              CHECK(Str(g) != "*");
              CHECK(Str(res) != "*");
              CHECK(Str(v) != "*");
              out.grants.push_back(
                  Grant{Str(g), Str(res), Str(v), binding_ns, names, Describe(*role)});
            }
          }
        }
      }
    }
  }
  return out;
}

std::string ConfigValue(const Config& config, std::string_view key) {
  if (key == "rescheduler.leaderElection.leaseNamespace") {
    return config.rescheduler.leader_election.lease_namespace;
  }
  if (key == "rescheduler.leaderElection.leaseName") {
    return config.rescheduler.leader_election.lease_name;
  }
  if (key == "rescheduler.steeringConfigMap") return config.rescheduler.steering_config_map;
  FAIL("kube/api_calls.h names config key " << key << " that this test does not resolve");
  return "";
}

// Does `g` grant exactly what `call` needs, in the scope the table allows?
// The opt-in features (deploy/components/<feature>/) a kustomization includes, following its
// resources into other kustomizations (an overlay's ../../base).
std::set<std::string> EnabledFeatures(const fs::path& dir) {
  std::set<std::string> out;
  const fs::path file = dir / "kustomization.yaml";
  if (!fs::exists(file)) return out;
  const YAML::Node k = YAML::LoadFile(file.string());
  for (const YAML::Node& c : k["components"]) {
    out.insert(fs::path(Str(c)).lexically_normal().filename().string());
  }
  for (const YAML::Node& r : k["resources"]) {
    const fs::path sub = (dir / Str(r)).lexically_normal();
    if (fs::is_directory(sub)) out.merge(EnabledFeatures(sub));
  }
  return out;
}

bool Covers(const Grant& g, const kube::ApiCall& call, const Config& config) {
  if (g.group != call.group || g.resource != call.resource || g.verb != call.verb) return false;
  const std::string want_ns =
      call.namespace_key.empty() ? "" : ConfigValue(config, call.namespace_key);
  const std::set<std::string> want_names =
      call.resource_name_key.empty()
          ? std::set<std::string>{}
          : std::set<std::string>{ConfigValue(config, call.resource_name_key)};
  return g.ns == want_ns && g.names == want_names;
}

TEST_CASE("RBAC grants exactly the API calls the code makes", "[deploy]") {
  for (const std::string& dir : KustomizeDirs()) {
    DYNAMIC_SECTION(dir) {
      const Rendering& r = Render(dir);
      const Workloads w = FindWorkloads(r);
      const std::string ns = Str(w.balancer_deployment["metadata"]["namespace"]);
      const std::string balancer_sa =
          Str(w.balancer_deployment["spec"]["template"]["spec"]["serviceAccountName"]);
      const std::string sched_ns = Str(w.scheduler_deployment["metadata"]["namespace"]);
      const std::string sched_sa =
          Str(w.scheduler_deployment["spec"]["template"]["spec"]["serviceAccountName"]);
      REQUIRE(r.Find("ServiceAccount", balancer_sa, ns).has_value());
      REQUIRE(r.Find("ServiceAccount", sched_sa, sched_ns).has_value());

      // The scheduler's only extra rule: get/update on its own lease.
      const std::string sched_lease = Str(w.scheduler_config["leaderElection"]["resourceName"]);
      const std::string sched_lease_ns =
          Str(w.scheduler_config["leaderElection"]["resourceNamespace"]);
      auto is_scheduler_lease = [&](const Grant& g) {
        return g.group == "coordination.k8s.io" && g.resource == "leases" &&
               (g.verb == "get" || g.verb == "update") && g.ns == sched_lease_ns &&
               g.names == std::set<std::string>{sched_lease};
      };
      const Bound sched = GrantsOf(r, sched_ns, sched_sa);
      for (const std::string& role : {std::string("ClusterRole/system:kube-scheduler"),
                                      std::string("ClusterRole/system:volume-scheduler")}) {
        INFO("the scheduler's ServiceAccount is not bound to " << role);
        CHECK(sched.system_roles.count(role) == 1);
      }
      for (const char* verb : {"get", "update"}) {
        bool found = false;
        for (const Grant& g : sched.grants) found |= is_scheduler_lease(g) && g.verb == verb;
        INFO("the scheduler may not " << verb << " its lease " << sched_lease_ns << "/"
                                      << sched_lease);
        CHECK(found);
      }

      const Bound balancer = GrantsOf(r, ns, balancer_sa);
      if (balancer_sa != sched_sa || ns != sched_ns) {
        // Separate identities: kube-balancer gets nothing of the scheduler's.
        CHECK(balancer.system_roles.empty());
      }
      // Nothing more: every grant of the rendering's roles is a table row in its scope (or the
      // scheduler's lease rule).
      for (const char* role_kind : {"ClusterRole", "Role"}) {
        for (const YAML::Node& role : r.OfKind(role_kind)) {
          for (const YAML::Node& rule : role["rules"]) {
            INFO(Describe(role) << " rule " << YAML::Dump(rule));
            CHECK(rule["apiGroups"].IsSequence());
            CHECK(rule["resources"].IsSequence());
          }
        }
      }
      std::vector<Grant> all = balancer.grants;
      if (balancer_sa != sched_sa || ns != sched_ns) {
        all.insert(all.end(), sched.grants.begin(), sched.grants.end());
      }
      for (const Grant& g : all) {
        if (is_scheduler_lease(g)) continue;
        bool known = false;
        for (const kube::ApiCall& call : kube::kApiCalls) known |= Covers(g, call, w.config);
        std::string names;
        for (const std::string& n : g.names) names += n + " ";
        INFO(g.from << " grants " << g.verb << " " << g.group << "/" << g.resource
                    << " in namespace '" << g.ns << "' names [" << names
                    << "]: not a call in kube/api_calls.h (or wider than its scope)");
        CHECK(known);
      }
      // Everything the code calls is granted to kube-balancer, in scope; an opt-in feature's
      // calls exactly when the kustomization includes the feature's component.
      const std::set<std::string> features = EnabledFeatures(kSourceDir / dir);
      for (const kube::ApiCall& call : kube::kApiCalls) {
        bool granted = false;
        for (const Grant& g : balancer.grants) granted |= Covers(g, call, w.config);
        const bool wanted = call.feature.empty() || features.count(std::string(call.feature)) > 0;
        const std::string may =
            wanted ? " may not " : " may (without component " + std::string(call.feature) + ") ";
        INFO("kube-balancer's ServiceAccount "
             << ns << "/" << balancer_sa << may << call.verb << " " << call.group << "/"
             << call.resource << " (" << call.client_method << ", " << call.used_by << ")");
        CHECK(granted == wanted);
      }
    }
  }
}

TEST_CASE("each RBAC file names the KubeClient method behind every rule", "[deploy]") {
  for (const kube::ApiCall& call : kube::kApiCalls) {
    const fs::path file = call.feature.empty() ? kSourceDir / "deploy" / "base" / "rbac.yaml"
                                               : kSourceDir / "deploy" / "components" /
                                                     std::string(call.feature) / "rbac.yaml";
    const std::string rbac = ReadFile(file);
    std::string method(call.client_method);
    method = method.substr(0, method.find(' '));
    INFO("no comment in " << file.string() << " mentions " << method);
    CHECK(rbac.find(method) != std::string::npos);
  }
}

// Each opt-in feature's component grants exactly its rows of kube/api_calls.h (the kind overlay
// renders both on top of the base; the RBAC test above checks the result both ways).
TEST_CASE("every RBAC component grants only its feature's calls", "[deploy]") {
  for (const std::string_view feature :
       {kube::kFeatureBarePodMigration, kube::kFeatureSurgeRestart}) {
    const fs::path dir = kSourceDir / "deploy" / "components" / std::string(feature);
    REQUIRE(fs::exists(dir / "kustomization.yaml"));
    std::vector<YAML::Node> all = YAML::LoadAllFromFile((dir / "rbac.yaml").string());
    int rules = 0;
    for (const YAML::Node& doc : all) {
      if (Str(doc["kind"]) != "ClusterRole") continue;
      for (const YAML::Node& rule : doc["rules"]) {
        for (const YAML::Node& resource : rule["resources"]) {
          for (const YAML::Node& verb : rule["verbs"]) {
            ++rules;
            bool known = false;
            for (const kube::ApiCall& call : kube::kApiCalls) {
              known |= call.feature == feature && call.resource == Str(resource) &&
                       call.verb == Str(verb) && call.group == Str(rule["apiGroups"][0]);
            }
            INFO(feature << " grants " << Str(verb) << " " << Str(resource)
                         << ", which is no call of that feature in kube/api_calls.h");
            CHECK(known);
          }
        }
      }
    }
    int calls = 0;
    for (const kube::ApiCall& call : kube::kApiCalls) calls += call.feature == feature;
    CHECK(rules == calls);
  }
}

TEST_CASE("workloads: probes, resources, locked-down security context, priority, PDB", "[deploy]") {
  for (const std::string& dir : KustomizeDirs()) {
    DYNAMIC_SECTION(dir) {
      const Rendering& r = Render(dir);
      const Workloads w = FindWorkloads(r);
      const int metrics_port = MetricsPort(w.config);
      for (const YAML::Node& d : r.OfKind("Deployment")) {
        INFO(Describe(d));
        const YAML::Node pod = d["spec"]["template"]["spec"];
        const YAML::Node labels = d["spec"]["template"]["metadata"]["labels"];
        CHECK(Str(pod["priorityClassName"]) == "system-cluster-critical");
        CHECK(pod["securityContext"]["runAsNonRoot"].as<bool>());
        CHECK(pod["securityContext"]["runAsUser"].as<int>() > 0);
        CHECK(Str(pod["securityContext"]["seccompProfile"]["type"]) == "RuntimeDefault");
        CHECK(r.Find("ServiceAccount", Str(pod["serviceAccountName"]),
                     Str(d["metadata"]["namespace"]))
                  .has_value());
        bool pdb = false;
        for (const YAML::Node& p : r.OfKind("PodDisruptionBudget")) {
          pdb |= Str(p["metadata"]["namespace"]) == Str(d["metadata"]["namespace"]) &&
                 SelectorMatches(p["spec"]["selector"]["matchLabels"], labels);
        }
        CHECK(pdb);
        for (const YAML::Node& c : pod["containers"]) {
          INFO("container " << Str(c["name"]));
          const YAML::Node sc = c["securityContext"];
          CHECK(sc["allowPrivilegeEscalation"].IsScalar());
          CHECK_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
          CHECK(sc["readOnlyRootFilesystem"].as<bool>());
          CHECK_FALSE((sc["privileged"].IsDefined() && sc["privileged"].as<bool>()));
          bool drops_all = false;
          for (const YAML::Node& cap : sc["capabilities"]["drop"]) drops_all |= Str(cap) == "ALL";
          CHECK(drops_all);
          CHECK_FALSE(sc["capabilities"]["add"]);
          for (const char* kind : {"requests", "limits"}) {
            for (const char* res : {"cpu", "memory"}) {
              INFO("resources." << kind << "." << res);
              CHECK(!Str(c["resources"][kind][res]).empty());
            }
          }
          CHECK(c["livenessProbe"]);
          CHECK(c["readinessProbe"]);
        }
      }
      // kube-balancer's probes hit its own metrics port (metricsListen, else listen).
      auto probe_port = [&](const YAML::Node& probe) {
        const std::string port = Str(probe["httpGet"]["port"]);
        for (const YAML::Node& cp : w.balancer["ports"]) {
          if (Str(cp["name"]) == port) return cp["containerPort"].as<int>();
        }
        return std::atoi(port.c_str());
      };
      CHECK(Str(w.balancer["livenessProbe"]["httpGet"]["path"]) == "/healthz");
      CHECK(Str(w.balancer["readinessProbe"]["httpGet"]["path"]) == "/readyz");
      CHECK(probe_port(w.balancer["livenessProbe"]) == metrics_port);
      CHECK(probe_port(w.balancer["readinessProbe"]) == metrics_port);
      CHECK(Str(w.scheduler["image"]).find("registry.k8s.io/kube-scheduler:v1.") == 0);
    }
  }
}

TEST_CASE("docs/configuration.md documents exactly the keys the loader accepts", "[deploy]") {
  const fs::path doc = kSourceDir / "docs" / "configuration.md";
  INFO("docs/configuration.md is missing");
  REQUIRE(fs::exists(doc));
  // Table rows whose first cell is a key in backticks: | `rescheduler.cpuThreshold` | ...
  static const std::regex row(R"(^\|\s*`([A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*)`\s*\|)");
  std::set<std::string> documented;
  std::istringstream in(ReadFile(doc));
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) documented.insert(m[1]);
  }
  const std::vector<std::string> keys = ConfigKeys();
  const std::set<std::string> code(keys.begin(), keys.end());
  REQUIRE(code.size() > 20);
  for (const std::string& k : code) {
    INFO("key accepted by core/config.cc but not documented in docs/configuration.md: " << k);
    CHECK(documented.count(k) == 1);
  }
  for (const std::string& k : documented) {
    INFO("key documented in docs/configuration.md but unknown to kb::ConfigKeys(): " << k);
    CHECK(code.count(k) == 1);
  }
}

std::vector<YAML::Node> LoadExample(const std::string& name) {
  const fs::path path = kSourceDir / "deploy" / "examples" / name;
  INFO(path);
  REQUIRE(fs::exists(path));
  std::vector<YAML::Node> docs;
  try {
    for (const YAML::Node& d : YAML::LoadAll(ReadFile(path))) {
      if (!d.IsNull()) docs.push_back(d);
    }
  } catch (const YAML::Exception& e) {
    FAIL(name << " is not valid YAML: " << e.what());
  }
  return docs;
}

TEST_CASE("examples: kind cluster, the 12 test pods and the seed scenarios", "[deploy]") {
  SECTION("every example manifest is a named object; workloads opt in to kube-balancer") {
    for (const auto& entry : fs::directory_iterator(kSourceDir / "deploy" / "examples")) {
      if (entry.path().extension() != ".yaml") continue;
      const std::string name = entry.path().filename().string();
      if (name == "kind-config.yaml" || name == "kube-prometheus-stack-values.yaml") continue;
      for (const YAML::Node& d : LoadExample(name)) {
        INFO(name << ": " << YAML::Dump(d));
        CHECK(!Str(d["apiVersion"]).empty());
        CHECK(!Str(d["metadata"]["name"]).empty());
        const std::string kind = Str(d["kind"]);
        if (kind == "Pod") CHECK(Str(d["spec"]["schedulerName"]) == "kube-balancer");
        if (kind == "Deployment") {
          CHECK(Str(d["spec"]["template"]["spec"]["schedulerName"]) == "kube-balancer");
        }
      }
    }
  }
  SECTION("kind: 1 control plane + 3 workers") {
    auto docs = LoadExample("kind-config.yaml");
    REQUIRE(docs.size() == 1);
    CHECK(Str(docs[0]["kind"]) == "Cluster");
    CHECK(Str(docs[0]["apiVersion"]) == "kind.x-k8s.io/v1alpha4");
    std::map<std::string, int> roles;
    for (const YAML::Node& n : docs[0]["nodes"]) roles[Str(n["role"])]++;
    CHECK(roles == std::map<std::string, int>{{"control-plane", 1}, {"worker", 3}});
  }
  SECTION("seed 002: the 12 test pods with the seed's requests") {
    const std::map<std::string, std::pair<std::string, std::string>> seed = {
        {"pod-1", {"500m", "500Mi"}},    {"pod-2", {"1000m", "1024Mi"}},
        {"pod-3", {"1000m", "1536Mi"}},  {"pod-4", {"2000m", "2048Mi"}},
        {"pod-5", {"250m", "256Mi"}},    {"pod-6", {"1500m", "2048Mi"}},
        {"pod-7", {"500m", "1024Mi"}},   {"pod-8", {"2000m", "4096Mi"}},
        {"pod-9", {"3000m", "3072Mi"}},  {"pod-10", {"750m", "512Mi"}},
        {"pod-11", {"1000m", "1024Mi"}}, {"pod-12", {"250m", "128Mi"}}};
    std::map<std::string, std::pair<std::string, std::string>> found;
    for (const YAML::Node& d : LoadExample("test-pods.yaml")) {
      if (Str(d["kind"]) != "Pod") continue;
      const YAML::Node req = d["spec"]["containers"][0]["resources"]["requests"];
      found[Str(d["metadata"]["name"])] = {Str(req["cpu"]), Str(req["memory"])};
    }
    CHECK(found == seed);
  }
  SECTION("seed 000: 20 replicas pinned to one worker, maintenance under a PDB, cpu-hog") {
    bool pinned = false;
    for (const YAML::Node& d : LoadExample("scenario-load-balancing.yaml")) {
      if (Str(d["kind"]) != "Deployment") continue;
      pinned = d["spec"]["replicas"].as<int>() == 20 &&
               Str(d["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"]) ==
                   "kube-balancer-worker";
    }
    CHECK(pinned);
    YAML::Node deployment, pdb;
    for (const YAML::Node& d : LoadExample("scenario-maintenance.yaml")) {
      if (Str(d["kind"]) == "Deployment") deployment = d;
      if (Str(d["kind"]) == "PodDisruptionBudget") pdb = d;
    }
    REQUIRE(deployment);
    REQUIRE(pdb);
    CHECK(SelectorMatches(pdb["spec"]["selector"]["matchLabels"],
                          deployment["spec"]["template"]["metadata"]["labels"]));
    bool hog = false;
    for (const YAML::Node& d : LoadExample("scenario-cpu-hog.yaml")) {
      if (Str(d["kind"]) != "Pod") continue;
      hog =
          Str(d["metadata"]["name"]) == "cpu-hog" &&
          Str(d["metadata"]["labels"]["scheduler.alpha.kubernetes.io/rescheduling"]) == "enabled" &&
          !d["metadata"]["ownerReferences"];
    }
    CHECK(hog);
  }
}

// The kind demo cluster pins its node image, and the stock kube-scheduler the manifests run is the
// same Kubernetes version (a scheduler newer than the API server is outside the skew policy).
TEST_CASE("kind's node image and the kube-scheduler image are the same Kubernetes version",
          "[deploy]") {
  static const std::regex kind_image(R"(kindest/node:(v\d+\.\d+\.\d+)@sha256:[0-9a-f]{64})");
  std::set<std::string> node_versions;
  for (const YAML::Node& d : LoadExample("kind-config.yaml")) {
    for (const YAML::Node& node : d["nodes"]) {
      std::smatch m;
      const std::string image = Str(node["image"]);
      INFO("kind node " << Str(node["role"]) << " image '" << image
                        << "' is not kindest/node:vX.Y.Z@sha256:<digest>");
      REQUIRE(std::regex_match(image, m, kind_image));
      node_versions.insert(m[1].str());
    }
  }
  REQUIRE(node_versions.size() == 1);
  const std::string version = *node_versions.begin();
  for (const std::string dir :
       {"deploy/base", "deploy/overlays/kind", "deploy/overlays/standalone"}) {
    const Rendering& r = Render(dir);
    int schedulers = 0;
    for (const YAML::Node& deployment : r.OfKind("Deployment")) {
      for (const YAML::Node& c : deployment["spec"]["template"]["spec"]["containers"]) {
        const std::string image = Str(c["image"]);
        if (image.find("kube-scheduler") == std::string::npos) continue;
        ++schedulers;
        INFO(dir << ": " << image << " is not the kind node version " << version);
        CHECK(image == "registry.k8s.io/kube-scheduler:" + version);
      }
    }
    INFO(dir << " renders no kube-scheduler container");
    CHECK(schedulers == 1);
  }
}

// Every kube_balancer_* family named in `exprs` (PromQL) is defined somewhere in the code as a
// string literal.
void CheckMetricsDefined(const std::string& exprs, const std::string& who) {
  std::string sources;
  for (const char* module : {"server", "scoring", "rescheduler", "kube", "core"}) {
    if (!fs::exists(kSourceDir / module)) continue;
    for (const auto& entry : fs::directory_iterator(kSourceDir / module)) {
      if (entry.path().extension() == ".cc" || entry.path().extension() == ".h") {
        sources += ReadFile(entry.path());
      }
    }
  }
  static const std::regex metric(R"(kube_balancer_[a-z_]+)");
  for (auto it = std::sregex_iterator(exprs.begin(), exprs.end(), metric);
       it != std::sregex_iterator(); ++it) {
    std::string name = it->str();
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.ends_with(s)) name.resize(name.size() - s.size());
    }
    INFO(who << " queries " << name << ", which no server/scoring/rescheduler source "
             << "defines as \"" << name << "\"");
    CHECK(sources.find("\"" + name + "\"") != std::string::npos);
  }
}

TEST_CASE("the Grafana dashboard queries metrics the code exports", "[deploy]") {
  const fs::path path =
      kSourceDir / "deploy" / "components" / "monitoring" / "kube-balancer-dashboard.json";
  nlohmann::json dash = nlohmann::json::parse(ReadFile(path), nullptr, false);
  REQUIRE_FALSE(dash.is_discarded());
  std::string exprs;
  for (const auto& panel : dash["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const auto& t : panel["targets"]) exprs += t.value("expr", "") + "\n";
  }
  INFO(exprs);
  for (const char* needed :
       {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "kube_pod_info",
        "histogram_quantile(0.99, sum by (verb, le) "
        "(rate(kube_balancer_extender_request_duration_seconds_bucket",
        "kube_balancer_extender_bindings_total",
        "sum by (strategy, result) (increase(kube_balancer_rescheduler_evictions_total",
        "kube_balancer_scoring_metric_age_seconds"}) {
    INFO("dashboard lacks " << needed);
    CHECK(exprs.find(needed) != std::string::npos);
  }
  CheckMetricsDefined(exprs, "the dashboard");
}

// The shipped PrometheusRule: valid for promtool, its unit tests (test/deploy/alerts_test.yaml)
// pass, every alert is documented in docs/operations.md, and it only queries exported metrics.
TEST_CASE("the PrometheusRule passes promtool check rules and test rules", "[deploy]") {
  const fs::path rule_path =
      kSourceDir / "deploy" / "components" / "monitoring" / "prometheusrule.yaml";
  const YAML::Node rule = YAML::LoadFile(rule_path.string());
  REQUIRE(Str(rule["kind"]) == "PrometheusRule");
  const YAML::Node kustomization =
      YAML::LoadFile((kSourceDir / "deploy/components/monitoring/kustomization.yaml").string());
  bool listed = false;
  for (const YAML::Node& r : kustomization["resources"]) listed |= Str(r) == "prometheusrule.yaml";
  CHECK(listed);

  const fs::path dir = fs::temp_directory_path() / ("kb_alerts_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    YAML::Emitter out;
    out << rule["spec"];
    std::ofstream(dir / "kube-balancer-rules.yaml") << out.c_str() << "\n";
  }
  fs::copy_file(kSourceDir / "test" / "deploy" / "alerts_test.yaml", dir / "alerts_test.yaml",
                fs::copy_options::overwrite_existing);
  const CommandResult check =
      Run("cd '" + dir.string() + "' && promtool check rules kube-balancer-rules.yaml");
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  const CommandResult test =
      Run("cd '" + dir.string() + "' && promtool test rules alerts_test.yaml");
  INFO(test.out << test.err);
  CHECK(test.exit_code == 0);
  fs::remove_all(dir);

  std::string exprs;
  const std::string ops = ReadFile(kSourceDir / "docs" / "operations.md");
  const std::string tests = ReadFile(kSourceDir / "test" / "deploy" / "alerts_test.yaml");
  for (const YAML::Node& group : rule["spec"]["groups"]) {
    for (const YAML::Node& r : group["rules"]) {
      const std::string alert = Str(r["alert"]);
      exprs += Str(r["expr"]) + "\n";
      INFO("alert " << alert << " is not documented in docs/operations.md or has no promtool test");
      CHECK(ops.find(alert) != std::string::npos);
      CHECK(tests.find("alertname: " + alert) != std::string::npos);
    }
  }
  CheckMetricsDefined(exprs, "the PrometheusRule");
}

}  // namespace
}  // namespace kb
