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
#include "kube/http_status.h"
#include "kube/http_transport.h"
#include "kube/watch_stream.h"

namespace kb::kube {
namespace {

using nlohmann::json;

constexpr size_t kMaxErrorBody = 64 * 1024;

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

}  // namespace

StatusOr<std::unique_ptr<HttpKubeClient>> HttpKubeClient::Create(const KubeConfig& config,
                                                                 HttpKubeClientOptions options,
                                                                 const Clock& clock) {
  KB_ASSIGN_OR_RETURN(std::unique_ptr<HttpTransport> transport,
                      HttpTransport::Create(config, std::move(options), clock));
  return std::unique_ptr<HttpKubeClient>(new HttpKubeClient(std::move(transport)));
}

HttpKubeClient::HttpKubeClient(std::unique_ptr<HttpTransport> transport)
    : impl_(std::move(transport)) {}
HttpKubeClient::~HttpKubeClient() = default;

const KubeConfig& HttpKubeClient::config() const { return impl_->config; }

HttpKubeClientStats HttpKubeClient::Stats() const {
  HttpKubeClientStats s;
  s.requests = impl_->n_requests.load();
  s.retries = impl_->n_retries.load();
  s.throttled = impl_->n_throttled.load();
  s.token_reloads = impl_->n_token_reloads.load();
  s.stale_connection_retries = impl_->n_stale_retries.load();
  s.idle_connections_closed = impl_->n_idle_closed.load();
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
                std::string(KindInfo(kind).collection_path) + q.str(),
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
  const std::string path =
      impl_->server.path + std::string(KindInfo(kind).collection_path) + q.str();
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
    bool cancelled = false;
    WatchStreamDecoder decoder(context, handler);
    httplib::Request req;
    req.method = "GET";
    req.path = path;
    req.headers = impl_->BaseHeaders(/*force_token=*/false);
    req.response_handler = [&](const httplib::Response& r) {
      http_status = r.status;
      if (r.status == 200 && options.on_open) options.on_open();
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
      return decoder.Feed(std::string_view(data, n));
    };

    std::list<HttpTransport::ActiveWatch>::iterator reg;
    if (stop != nullptr) impl_->RegisterWatch(cli.get(), stop, &reg);
    impl_->n_requests++;
    auto started = std::chrono::steady_clock::now();
    httplib::Result res = cli->send(req);
    auto elapsed = std::chrono::steady_clock::now() - started;
    if (stop != nullptr) impl_->UnregisterWatch(reg);

    if (cancelled || (stop != nullptr && stop->load())) {
      return Status::Cancelled(context + ": stopped");
    }
    if (decoder.handler_done()) return Status::Ok();
    if (decoder.error()) return *decoder.error();
    if (!res) return impl_->TransportError(res.error(), elapsed, read_timeout, context);
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
    if (!decoder.Finish() && decoder.error()) return *decoder.error();
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

StatusOr<std::string> HttpKubeClient::GetRaw(const std::string& path) {
  const HttpCall call{"GET", path, "", "", true, "get " + path};
  KB_ASSIGN_OR_RETURN(HttpReply reply, impl_->Do(call));
  KB_RETURN_IF_ERROR(StatusFromHttp(reply.status, reply.body, call.context));
  return std::move(reply.body);
}

namespace {
std::string ConfigMapPath(const std::string& ns, const std::string& name) {
  std::string p = "/api/v1/namespaces/" + UrlEncode(ns) + "/configmaps";
  if (!name.empty()) p += "/" + UrlEncode(name);
  return p;
}
std::string MetaName(const json& obj) {
  const auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  return m->value("name", "");
}
}  // namespace

StatusOr<json> HttpKubeClient::GetConfigMap(const std::string& ns, const std::string& name) {
  return impl_->CallJson(
      {"GET", ConfigMapPath(ns, name), "", "", true, "get configmap " + ns + "/" + name});
}

StatusOr<json> HttpKubeClient::CreateConfigMap(const std::string& ns, const json& config_map) {
  return impl_->CallJson({"POST", ConfigMapPath(ns, ""), config_map.dump(), "", false,
                          "create configmap " + ns + "/" + MetaName(config_map)});
}

StatusOr<json> HttpKubeClient::UpdateConfigMap(const std::string& ns, const json& config_map) {
  const std::string name = MetaName(config_map);
  if (name.empty()) return Status::InvalidArgument("update configmap: metadata.name is empty");
  // With a resourceVersion the PUT is conditional, so retrying it is safe.
  const bool conditional = config_map.contains("metadata") && config_map["metadata"].is_object() &&
                           config_map["metadata"].contains("resourceVersion");
  return impl_->CallJson({"PUT", ConfigMapPath(ns, name), config_map.dump(), "", conditional,
                          "update configmap " + ns + "/" + name});
}

}  // namespace kb::kube
