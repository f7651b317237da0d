#include "sim/api_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "core/logging.h"
#include "core/model.h"
#include "sim/controllers.h"
#include "sim/k8s_json.h"
#include "sim/object_store.h"
#include "sim/patch.h"
#include "sim/registry.h"
#include "sim/scenario.h"
#include "sim/selectors.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube-sim"); }

// ---- continue tokens: base64url(JSON {"v","rv","start"}) without padding, like kube's -------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(const std::string& in) {
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kB64[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kB64[((val << 8) >> (bits + 8)) & 0x3F]);
  return out;
}

// Accepts the URL-safe and the standard alphabet, with or without padding.
std::optional<std::string> Base64Decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    int v;
    if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else {
      const char* p = c == '\0' ? nullptr : std::strchr(kB64, c);
      if (!p) return std::nullopt;
      v = static_cast<int>(p - kB64);
    }
    val = (val << 6) + v;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

struct ContinueToken {
  uint64_t rv = 0;
  std::string start;  // the last key returned; the next page starts after it
};

std::string EncodeContinue(const ContinueToken& t) {
  return Base64UrlEncode(json{{"v", "meta.k8s.io/v1"}, {"rv", t.rv}, {"start", t.start}}.dump());
}

std::optional<ContinueToken> DecodeContinue(const std::string& s) {
  auto raw = Base64Decode(s);
  if (!raw) return std::nullopt;
  json j = json::parse(*raw, nullptr, false);
  if (!j.is_object() || j.value("v", "") != "meta.k8s.io/v1" || !j.contains("rv") ||
      !j["rv"].is_number_unsigned() || !j.contains("start") || !j["start"].is_string()) {
    return std::nullopt;
  }
  return ContinueToken{j["rv"].get<uint64_t>(), j["start"].get<std::string>()};
}

std::optional<uint64_t> ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoull(s);
}

std::optional<int64_t> ParseInt(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  return std::stoll(s);
}

// ---- routing ----------------------------------------------------------------------------------

struct Route {
  const ResourceInfo* res = nullptr;
  std::string ns;  // from /namespaces/{ns}/
  std::string name;
  std::string sub;               // "binding", "eviction", "status"
  bool legacy_bindings = false;  // POST /api/v1/namespaces/{ns}/bindings
};

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::optional<Route> ParseRoute(const std::string& path) {
  auto seg = SplitPath(path);
  std::string group, version;
  size_t i;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  Route r;
  bool ns_path = false;
  if (i + 1 < seg.size() && seg[i] == "namespaces") {
    r.ns = seg[i + 1];
    ns_path = true;
    i += 2;
  }
  if (i >= seg.size() || seg.size() - i > 3) return std::nullopt;
  if (ns_path && group.empty() && version == "v1" && seg[i] == "bindings" && seg.size() - i == 1) {
    r.res = FindResource("pods");
    r.legacy_bindings = true;
    return r;
  }
  r.res = FindResource(seg[i]);
  if (!r.res || r.res->group != group || r.res->version != version) return std::nullopt;
  if (ns_path != r.res->namespaced && (ns_path || seg.size() - i > 1)) return std::nullopt;
  if (seg.size() - i >= 2) r.name = seg[i + 1];
  if (seg.size() - i == 3) {
    r.sub = seg[i + 2];
    bool ok = r.sub == "status" ||
              (r.res->resource == "pods" && (r.sub == "binding" || r.sub == "eviction"));
    if (!ok) return std::nullopt;
  }
  return r;
}

// The verb of a request (for counting, fault rules and method checks); "" = not allowed.
std::string VerbOf(const std::string& method, const Route& r, bool watch) {
  if (r.legacy_bindings) return method == "POST" ? "create" : "";
  if (method == "GET") {
    if (r.name.empty()) return watch ? "watch" : "list";
    if (r.sub.empty() || r.sub == "status") return "get";
    return "";
  }
  if (method == "POST") {
    if (r.name.empty() && (!r.res->namespaced || !r.ns.empty())) return "create";
    if (r.sub == "binding" || r.sub == "eviction") return "create";
    return "";
  }
  if (r.name.empty()) return "";
  if (method == "PUT" && (r.sub.empty() || r.sub == "status")) return "update";
  if (method == "PATCH" && (r.sub.empty() || r.sub == "status")) return "patch";
  if (method == "DELETE" && r.sub.empty()) return "delete";
  return "";
}

bool IsTrue(const std::string& v) { return v == "1" || v == "true" || v == "True"; }

struct FaultState {
  FaultRule rule;
  uint64_t matched = 0;
  int failures = 0;
};

}  // namespace

uint64_t RequestCounts::Get(const std::string& verb, const std::string& resource) const {
  auto it = counts.find({verb, resource});
  return it == counts.end() ? 0 : it->second;
}

struct ApiServer::Impl {
  explicit Impl(ApiServerOptions opts)
      : options(std::move(opts)),
        clock(options.clock ? *options.clock : SystemClock::Instance()),
        store(options.event_history),
        registry(store, clock, options.default_grace_seconds, options.random_seed),
        controllers(registry, ControllerOptions{options.pod_ready_delay, options.kubelet_admission,
                                                options.garbage_collector}),
        fault_rng(options.fault_seed) {}

  // ---- plumbing ----
  void WriteJson(httplib::Response& res, int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  }
  void WriteError(httplib::Response& res, const ApiError& e) {
    if (e.retry_after_seconds > 0) {
      res.set_header("Retry-After", std::to_string(e.retry_after_seconds));
    }
    WriteJson(res, e.code, e.ToJson());
  }
  template <class T>
  void WriteResult(httplib::Response& res, int code, const ApiResult<T>& r) {
    if (r.ok()) {
      WriteJson(res, code, r.value());
    } else {
      WriteError(res, r.error());
    }
  }

  void Count(const std::string& verb, const std::string& resource) {
    std::lock_guard<std::mutex> lock(counts_mu);
    ++counts.counts[{verb, resource}];
  }

  // Returns the injected failure (if any) after sleeping the injected latency.
  std::optional<ApiError> InjectFaults(const std::string& verb, const std::string& resource) {
    std::chrono::milliseconds latency{0};
    int status = 0;
    {
      std::lock_guard<std::mutex> lock(faults_mu);
      for (auto& f : faults) {
        if ((f.rule.verb != "*" && f.rule.verb != verb) ||
            (f.rule.resource != "*" && f.rule.resource != resource)) {
          continue;
        }
        ++f.matched;
        bool fire;
        if (f.rule.nth > 0) {
          fire = f.matched == static_cast<uint64_t>(f.rule.nth);
        } else if (f.rule.percent > 0) {
          fire = std::uniform_real_distribution<double>(0, 100)(fault_rng) < f.rule.percent;
        } else {
          fire = true;
        }
        if (!fire || (f.rule.max_failures >= 0 && f.failures >= f.rule.max_failures)) continue;
        ++f.failures;
        latency += f.rule.latency;
        if (status == 0) status = f.rule.status;
      }
    }
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
    if (status == 0) return std::nullopt;
    return ApiError::ForCode(status, "kube-sim: injected fault (" + verb + " " + resource + ")");
  }

  void Handle(const std::string& method, const httplib::Request& req, httplib::Response& res) {
    AuditRecord record;
    try {
      Dispatch(method, req, res, record);
    } catch (const std::exception& e) {
      Log()->error("request failed method={} path={} error={}", method, req.path, e.what());
      WriteError(res, ApiError::Internal(std::string("kube-sim internal error: ") + e.what()));
    }
    if (record.method.empty()) return;  // health / version probes are not audited
    std::function<void(const AuditRecord&)> sink;
    {
      std::lock_guard<std::mutex> lock(audit_mu);
      sink = audit_sink;
    }
    if (!sink) return;
    record.code = res.status;
    record.user_agent = req.get_header_value("User-Agent");
    if (method != "GET" && method != "DELETE") record.body = req.body;
    sink(record);
  }

  void Dispatch(const std::string& method, const httplib::Request& req, httplib::Response& res,
                AuditRecord& record) {
    if (method == "GET" &&
        (req.path == "/healthz" || req.path == "/readyz" || req.path == "/livez")) {
      res.set_content("ok", "text/plain");
      return;
    }
    if (method == "GET" && req.path == "/version") {
      WriteJson(res, 200,
                {{"major", "1"},
                 {"minor", "26"},
                 {"gitVersion", "v1.26.7-kube-sim"},
                 {"platform", "linux/amd64"}});
      return;
    }
    auto route = ParseRoute(req.path);
    const bool watch = req.has_param("watch") && IsTrue(req.get_param_value("watch"));
    std::string verb = route ? VerbOf(method, *route, watch) : "";
    std::string resource = route ? route->res->resource : "unknown";
    if (route && route->legacy_bindings) {
      resource = "pods/binding";
    } else if (route && !route->sub.empty()) {
      resource += "/" + route->sub;
    }
    Count(verb.empty() ? method : verb, resource);
    record.method = method;
    record.verb = verb;
    record.resource = resource;
    if (route) {
      record.ns = route->ns;
      record.name = route->name;
    }
    Log()->debug("request method={} path={} verb={} resource={}", method, req.path, verb, resource);
    if (!options.token.empty() &&
        req.get_header_value("Authorization") != "Bearer " + options.token) {
      WriteError(res, ApiError::Unauthorized());
      return;
    }
    if (!route) {
      WriteError(res, ApiError::PathNotFound());
      return;
    }
    if (verb.empty()) {
      WriteError(res, ApiError::MethodNotAllowed());
      return;
    }
    if (auto fault = InjectFaults(verb, resource)) {
      WriteError(res, *fault);
      return;
    }
    const ResourceInfo& r = *route->res;
    const bool dry_run = req.get_param_value("dryRun") == "All";
    const WriteMode mode = route->sub == "status" ? WriteMode::kStatus : WriteMode::kClient;

    if (verb == "list") return List(*route, req, res);
    if (verb == "watch") return Watch(*route, req, res);
    if (verb == "get") return WriteResult(res, 200, registry.Get(r, route->ns, route->name));

    json body;
    if (verb == "create" || verb == "update" || verb == "patch" ||
        (verb == "delete" && !req.body.empty())) {
      try {
        body = json::parse(req.body);
      } catch (const json::parse_error& e) {
        WriteError(res, ApiError::BadRequest(std::string("couldn't get version/kind; json parse "
                                                         "error: ") +
                                             e.what()));
        return;
      }
    }
    if (verb == "create") {
      if (route->legacy_bindings || route->sub == "binding") {
        std::string name = route->legacy_bindings ? StrAt(body, {"metadata", "name"}) : route->name;
        return WriteResult(res, 201, registry.Bind(route->ns, name, body, dry_run));
      }
      if (route->sub == "eviction") {
        return WriteResult(res, 201, registry.Evict(route->ns, route->name, body, dry_run));
      }
      return WriteResult(res, 201, registry.Create(r, route->ns, std::move(body), mode, dry_run));
    }
    if (verb == "update") {
      return WriteResult(
          res, 200, registry.Update(r, route->ns, route->name, std::move(body), mode, dry_run));
    }
    if (verb == "patch") {
      auto type = PatchTypeFromContentType(req.get_header_value("Content-Type"));
      if (!type.ok()) {
        WriteError(res, ApiError::UnsupportedMediaType(req.get_header_value("Content-Type")));
        return;
      }
      return WriteResult(res, 200,
                         registry.Patch(r, route->ns, route->name, *type, body, mode, dry_run));
    }
    // delete
    DeleteOptions opts;
    opts.dry_run = dry_run;
    if (req.has_param("gracePeriodSeconds")) {
      auto g = ParseInt(req.get_param_value("gracePeriodSeconds"));
      if (!g) {
        WriteError(res, ApiError::BadRequest("gracePeriodSeconds: must be an integer"));
        return;
      }
      opts.grace_period_seconds = *g;
    }
    if (req.has_param("propagationPolicy")) {
      opts.propagation_policy = req.get_param_value("propagationPolicy");
    }
    if (!body.is_null()) {
      if (!body.is_object()) {
        WriteError(res, ApiError::BadRequest("DeleteOptions: must be a JSON object"));
        return;
      }
      if (body.contains("gracePeriodSeconds") && !body["gracePeriodSeconds"].is_null()) {
        if (!body["gracePeriodSeconds"].is_number_integer()) {
          WriteError(res, ApiError::BadRequest("DeleteOptions.gracePeriodSeconds: must be an "
                                               "integer"));
          return;
        }
        opts.grace_period_seconds = body["gracePeriodSeconds"].get<int64_t>();
      }
      opts.uid_precondition = StrAt(body, {"preconditions", "uid"});
      opts.rv_precondition = StrAt(body, {"preconditions", "resourceVersion"});
      std::string policy = StrAt(body, {"propagationPolicy"});
      if (!policy.empty()) opts.propagation_policy = policy;
      if (At(body, {"orphanDependents"}) == true) opts.propagation_policy = "Orphan";
      const json& dry = At(body, {"dryRun"});
      if (dry.is_array() && std::find(dry.begin(), dry.end(), json("All")) != dry.end()) {
        opts.dry_run = true;
      }
    }
    return WriteResult(res, 200, registry.Delete(r, route->ns, route->name, opts));
  }

  struct Selectors {
    LabelSelector labels;
    FieldSelector fields;
  };
  std::optional<Selectors> ParseSelectors(const ResourceInfo& r, const httplib::Request& req,
                                          httplib::Response& res) {
    auto labels = LabelSelector::Parse(req.get_param_value("labelSelector"));
    if (!labels.ok()) {
      WriteError(res, ApiError::BadRequest(labels.status().message()));
      return std::nullopt;
    }
    auto fields = FieldSelector::Parse(req.get_param_value("fieldSelector"), r.resource);
    if (!fields.ok()) {
      WriteError(res, ApiError::BadRequest(fields.status().message()));
      return std::nullopt;
    }
    return Selectors{std::move(*labels), std::move(*fields)};
  }

  void List(const Route& route, const httplib::Request& req, httplib::Response& res) {
    const ResourceInfo& r = *route.res;
    auto sel = ParseSelectors(r, req, res);
    if (!sel) return;
    int64_t limit = 0;
    if (req.has_param("limit")) {
      auto l = ParseInt(req.get_param_value("limit"));
      if (!l || *l < 0) {
        WriteError(res, ApiError::BadRequest("limit: must be a non-negative integer"));
        return;
      }
      limit = *l;
    }
    const std::string rv_param = req.get_param_value("resourceVersion");
    const std::string match = req.get_param_value("resourceVersionMatch");
    const std::string cont = req.get_param_value("continue");
    if (!rv_param.empty() && rv_param != "0" && !ParseRv(rv_param)) {
      WriteError(res, ApiError::BadRequest("resourceVersion: Invalid value: \"" + rv_param +
                                           "\": must be a decimal resourceVersion"));
      return;
    }
    if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
      WriteError(
          res, ApiError::BadRequest("resourceVersionMatch: Unsupported value: \"" + match + "\""));
      return;
    }
    if (!match.empty() && rv_param.empty()) {
      WriteError(res, ApiError::BadRequest(
                          "resourceVersionMatch is forbidden unless resourceVersion is provided"));
      return;
    }
    if (match == "Exact" && rv_param == "0") {
      WriteError(res, ApiError::BadRequest(
                          "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\""));
      return;
    }
    ContinueToken token;
    uint64_t at = 0;
    if (!cont.empty()) {
      if (!rv_param.empty()) {
        WriteError(res, ApiError::BadRequest(
                            "specifying resource version is not allowed when using continue"));
        return;
      }
      auto t = DecodeContinue(cont);
      if (!t) {
        WriteError(res, ApiError::BadRequest("continue key is not valid: incorrect encoded start "
                                             "resourceVersion (version meta.k8s.io/v1)"));
        return;
      }
      token = *t;
      at = token.rv;
      if (store.CurrentRv() - at > options.continue_token_max_age) at = 0, token.rv = 0;
    } else if (match == "Exact") {
      at = *ParseRv(rv_param);
    } else if (!rv_param.empty() && rv_param != "0") {
      uint64_t want = *ParseRv(rv_param);
      if (want > store.CurrentRv()) {
        WriteError(res, ApiError::Timeout("Too large resource version: " + rv_param +
                                              ", current: " + std::to_string(store.CurrentRv()),
                                          1));
        return;
      }
    }
    const char* kContinueExpired =
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter.";
    if (!cont.empty() && token.rv == 0) {
      WriteError(res, ApiError::Expired(kContinueExpired));
      return;
    }
    auto snapshot = store.ListAt(r.resource, at);
    if (!snapshot.ok()) {
      ApiError e = snapshot.error();
      if (!cont.empty() && e.code == 410) e.message = kContinueExpired;
      WriteError(res, e);
      return;
    }
    auto& items = snapshot.value().items;
    const bool filtered = !sel->labels.Empty() || !sel->fields.Empty();
    json out_items = json::array();
    std::string last_key;
    size_t i = 0;
    if (!token.start.empty()) {
      i = std::upper_bound(items.begin(), items.end(), token.start,
                           [](const std::string& k, const auto& item) { return k < item.first; }) -
          items.begin();
    }
    bool more = false;
    int64_t remaining = 0;
    for (; i < items.size(); ++i) {
      const json& obj = *items[i].second;
      if (!route.ns.empty() && Namespace(obj) != route.ns) continue;
      if (filtered) {
        static const json kNoLabels;
        const json& labels = At(obj, {"metadata", "labels"});
        if (!sel->labels.Matches(labels.is_null() ? kNoLabels : labels) ||
            !sel->fields.Matches(obj)) {
          continue;
        }
      }
      if (limit > 0 && static_cast<int64_t>(out_items.size()) >= limit) {
        more = true;
        ++remaining;
        continue;
      }
      json item = obj;
      item.erase("kind");
      item.erase("apiVersion");
      out_items.push_back(std::move(item));
      last_key = items[i].first;
    }
    json meta = {{"resourceVersion", std::to_string(snapshot.value().rv)}};
    if (more) {
      meta["continue"] = EncodeContinue({snapshot.value().rv, last_key});
      if (!filtered) meta["remainingItemCount"] = remaining;
    }
    WriteJson(res, 200,
              {{"kind", r.kind + "List"},
               {"apiVersion", r.ApiVersion()},
               {"metadata", meta},
               {"items", std::move(out_items)}});
  }

  void Watch(const Route& route, const httplib::Request& req, httplib::Response& res) {
    const ResourceInfo& r = *route.res;
    auto sel = ParseSelectors(r, req, res);
    if (!sel) return;
    const std::string rv_param = req.get_param_value("resourceVersion");
    std::optional<uint64_t> from;
    if (!rv_param.empty() && rv_param != "0") {
      from = ParseRv(rv_param);
      if (!from) {
        WriteError(res, ApiError::BadRequest("resourceVersion: Invalid value: \"" + rv_param +
                                             "\": must be a decimal resourceVersion"));
        return;
      }
    }
    auto timeout = options.max_watch_timeout;
    if (req.has_param("timeoutSeconds")) {
      auto t = ParseInt(req.get_param_value("timeoutSeconds"));
      if (!t || *t < 0) {
        WriteError(res, ApiError::BadRequest("timeoutSeconds: must be a non-negative integer"));
        return;
      }
      if (*t > 0) timeout = std::min(timeout, std::chrono::seconds(*t));
    }
    const bool bookmarks = IsTrue(req.get_param_value("allowWatchBookmarks"));
    WatchFilter filter{r.resource, route.ns,      std::move(sel->labels), std::move(sel->fields),
                       r.kind,     r.ApiVersion()};
    auto watcher = std::make_shared<Watcher>(std::move(filter), options.watch_queue_limit);
    if (auto err = store.StartWatch(watcher, from)) {
      bool as_http = options.expired_watch_mode == ExpiredWatchMode::kHttp410 ||
                     (options.expired_watch_mode == ExpiredWatchMode::kAlternate &&
                      expired_count.fetch_add(1) % 2 == 1);
      if (as_http) {
        WriteError(res, *err);
        return;
      }
      watcher->Push("{\"type\":\"ERROR\",\"object\":" + err->ToJson().dump() + "}\n");
      watcher->Close(false);
    }
    Log()->debug("watch started resource={} ns={} rv={}", r.resource, route.ns, rv_param);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto next_bookmark = std::chrono::steady_clock::now() + options.bookmark_interval;
    const auto bookmark_interval = options.bookmark_interval;
    ObjectStore* store_ptr = &store;
    std::atomic<bool>* stopping_ptr = &stopping;
    // Watches are JSON lines; the media type keeps httplib from gzip-buffering the stream.
    res.set_chunked_content_provider(
        "application/json;stream=watch",
        [watcher, deadline, next_bookmark, bookmarks, bookmark_interval, store_ptr, stopping_ptr](
            size_t, httplib::DataSink& sink) mutable {
          if (stopping_ptr->load()) watcher->Close(false);
          // A client that went away frees its worker even when no event is due.
          if (!sink.is_writable()) return false;
          auto now = std::chrono::steady_clock::now();
          auto wake = std::min({deadline, now + std::chrono::milliseconds(100),
                                bookmarks ? next_bookmark : deadline});
          auto batch = watcher->Take(std::chrono::duration_cast<std::chrono::milliseconds>(
              std::max(wake - now, std::chrono::steady_clock::duration::zero())));
          for (const auto& line : batch.lines) {
            if (!sink.write(line.data(), line.size())) return false;
          }
          if (batch.closed) {
            if (batch.abrupt) return false;
            sink.done();
            return true;
          }
          now = std::chrono::steady_clock::now();
          if (now >= deadline) {
            sink.done();
            return true;
          }
          if (bookmarks && now >= next_bookmark) {
            store_ptr->Bookmark(*watcher);
            next_bookmark = now + bookmark_interval;
          }
          return true;
        },
        [watcher, store_ptr](bool) { store_ptr->StopWatch(watcher); });
  }

  void ControllerLoop() {
    std::unique_lock<std::mutex> lock(loop_mu);
    while (!loop_stop) {
      loop_cv.wait_for(lock, options.controller_period, [&] { return loop_stop; });
      if (loop_stop) break;
      lock.unlock();
      RunControllers();
      lock.lock();
    }
  }

  void RunControllers() {
    try {
      controllers.RunOnce();
    } catch (const std::exception& e) {
      Log()->error("controller pass failed error={}", e.what());
    }
  }

  ApiServerOptions options;
  const Clock& clock;
  ObjectStore store;
  Registry registry;
  Controllers controllers;

  std::mutex faults_mu;
  std::vector<FaultState> faults;  // Guarded by faults_mu.
  std::mt19937_64 fault_rng;       // Guarded by faults_mu.
  mutable std::mutex counts_mu;
  RequestCounts counts;  // Guarded by counts_mu.
  std::mutex audit_mu;
  std::function<void(const AuditRecord&)> audit_sink;  // Guarded by audit_mu.
  std::atomic<uint64_t> expired_count{0};

  std::atomic<bool> stopping{false};
  std::mutex lifecycle_mu;  // serialises Start / Stop
  bool started = false;     // Guarded by lifecycle_mu.
  std::atomic<int> port{0};
  std::unique_ptr<httplib::Server> server;
  std::thread listen_thread;
  std::mutex loop_mu;
  std::condition_variable loop_cv;
  bool loop_stop = false;  // Guarded by loop_mu.
  std::thread controller_thread;
};

ApiServer::ApiServer(ApiServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start(const std::string& host, int port) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->started) return Status::FailedPrecondition("kube-sim already started");
  Impl* impl = impl_.get();
  auto server = std::make_unique<httplib::Server>();
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(100000);
  server->set_keep_alive_timeout(impl->options.keep_alive_timeout.count());
  server->set_read_timeout(std::chrono::seconds(30));
  server->set_write_timeout(std::chrono::seconds(10));
  server->set_payload_max_length(64 << 20);
  const size_t workers = static_cast<size_t>(std::max(4, impl->options.worker_threads));
  server->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    std::string m = method;
    auto handler = [impl, m](const httplib::Request& req, httplib::Response& res) {
      impl->Handle(m, req, res);
    };
    if (m == "GET") server->Get(".*", handler);
    if (m == "POST") server->Post(".*", handler);
    if (m == "PUT") server->Put(".*", handler);
    if (m == "PATCH") server->Patch(".*", handler);
    if (m == "DELETE") server->Delete(".*", handler);
  }
  server->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        Log()->error("unhandled exception path={}", req.path);
        res.status = 500;
        res.set_content(ApiError::Internal("kube-sim: unhandled exception").ToJson().dump(),
                        "application/json");
      });
  int bound =
      port == 0 ? server->bind_to_any_port(host) : (server->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return Status::Unavailable("kube-sim: cannot listen on " + host + ":" + std::to_string(port));
  }
  impl->port = bound;
  impl->stopping = false;
  impl->server = std::move(server);
  impl->listen_thread = std::thread([impl] { impl->server->listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl->server->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl->options.run_controllers) {
    {
      std::lock_guard<std::mutex> l(impl->loop_mu);
      impl->loop_stop = false;
    }
    impl->controller_thread = std::thread([impl] { impl->ControllerLoop(); });
  }
  impl->started = true;
  Log()->info("kube-sim listening url=http://{}:{} auth={} event_history={}", host, bound,
              impl->options.token.empty() ? "none" : "bearer", impl->options.event_history);
  return Status::Ok();
}

void ApiServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started) return;
  impl_->started = false;
  impl_->stopping = true;
  {
    std::lock_guard<std::mutex> l(impl_->loop_mu);
    impl_->loop_stop = true;
  }
  impl_->loop_cv.notify_all();
  if (impl_->controller_thread.joinable()) impl_->controller_thread.join();
  impl_->store.CloseAllWatchers(false);
  impl_->server->stop();
  if (impl_->listen_thread.joinable()) impl_->listen_thread.join();
  impl_->server.reset();
  Log()->info("kube-sim stopped");
}

int ApiServer::port() const { return impl_->port; }

std::string ApiServer::url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

const std::string& ApiServer::token() const { return impl_->options.token; }

namespace {

StatusOr<const ResourceInfo*> Resource(const std::string& resource) {
  const ResourceInfo* r = FindResource(resource);
  if (!r) return Status::InvalidArgument("kube-sim does not serve resource \"" + resource + "\"");
  return r;
}

StatusOr<json> ToStatusOr(const ApiResult<json>& r) {
  if (!r.ok()) return r.error().ToStatus();
  return r.value();
}

}  // namespace

StatusOr<json> ApiServer::CreateObject(const std::string& resource, const std::string& ns,
                                       json object) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(impl_->registry.Create(*r, ns, std::move(object), WriteMode::kDirect));
}

StatusOr<json> ApiServer::UpdateObject(const std::string& resource, const std::string& ns,
                                       json object) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  std::string name = StrAt(object, {"metadata", "name"});
  if (name.empty()) return Status::InvalidArgument("UpdateObject: metadata.name is required");
  return ToStatusOr(impl_->registry.Update(*r, ns, name, std::move(object), WriteMode::kDirect));
}

StatusOr<json> ApiServer::PatchObject(const std::string& resource, const std::string& ns,
                                      const std::string& name, const json& merge_patch) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(
      impl_->registry.Patch(*r, ns, name, PatchType::kJsonMerge, merge_patch, WriteMode::kDirect));
}

Status ApiServer::DeleteObject(const std::string& resource, const std::string& ns,
                               const std::string& name) {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  DeleteOptions opts;
  opts.grace_period_seconds = 0;
  auto res = impl_->registry.Delete(*r, ns, name, opts);
  if (!res.ok()) return res.error().ToStatus();
  return Status::Ok();
}

StatusOr<json> ApiServer::GetObject(const std::string& resource, const std::string& ns,
                                    const std::string& name) const {
  KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(resource));
  return ToStatusOr(impl_->registry.Get(*r, ns, name));
}

std::vector<json> ApiServer::ListObjects(const std::string& resource, const std::string& ns) const {
  std::vector<json> out;
  for (const auto& obj : impl_->store.List(resource)) {
    if (ns.empty() || Namespace(*obj) == ns) out.push_back(*obj);
  }
  return out;
}

std::string ApiServer::CurrentResourceVersion() const {
  return std::to_string(impl_->store.CurrentRv());
}

Status ApiServer::BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                          const std::string& node) {
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  if (!uid.empty()) binding["metadata"]["uid"] = uid;
  auto r = impl_->registry.Bind(ns, name, binding);
  if (!r.ok()) return r.error().ToStatus();
  return Status::Ok();
}

Status ApiServer::LoadScenario(const json& scenario) {
  auto objects = ExpandScenario(scenario, FormatRfc3339(impl_->clock.WallNow()));
  if (!objects.ok()) return objects.status();
  for (auto& o : *objects) {
    const std::string name = StrAt(o.object, {"metadata", "name"});
    KB_ASSIGN_OR_RETURN(const ResourceInfo* r, Resource(o.resource));
    auto created = impl_->registry.Create(*r, o.ns, std::move(o.object), WriteMode::kDirect);
    if (!created.ok()) {
      return created.error().ToStatus().Annotate("scenario: " + o.resource + " \"" + name + "\"");
    }
  }
  Log()->info("scenario loaded objects={}", objects->size());
  return Status::Ok();
}

Status ApiServer::LoadScenarioFile(const std::string& path) {
  KB_ASSIGN_OR_RETURN(json scenario, ReadScenarioFile(path));
  return LoadScenario(scenario).Annotate(path);
}

void ApiServer::AddFault(const FaultRule& rule) {
  std::lock_guard<std::mutex> lock(impl_->faults_mu);
  impl_->faults.push_back({rule, 0, 0});
}

void ApiServer::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->faults_mu);
  impl_->faults.clear();
}

void ApiServer::DropWatches(bool abrupt) { impl_->store.CloseAllWatchers(abrupt); }

size_t ApiServer::OpenWatches() const { return impl_->store.WatcherCount(); }

void ApiServer::ForgetHistory() { impl_->store.ForgetHistory(); }

RequestCounts ApiServer::Counts() const {
  std::lock_guard<std::mutex> lock(impl_->counts_mu);
  return impl_->counts;
}

void ApiServer::ResetCounts() {
  std::lock_guard<std::mutex> lock(impl_->counts_mu);
  impl_->counts.counts.clear();
}

void ApiServer::SetAuditSink(std::function<void(const AuditRecord&)> sink) {
  std::lock_guard<std::mutex> lock(impl_->audit_mu);
  impl_->audit_sink = std::move(sink);
}

void ApiServer::RunControllersOnce() { impl_->RunControllers(); }

void ApiServer::AddController(std::string name, std::function<void()> loop) {
  impl_->controllers.Add(std::move(name), std::move(loop));
}

}  // namespace kb::sim
