// kube-sim's API server, HTTP side: one request from routing to the answer (list with snapshot
// pages and continue tokens, watch streams, writes through the Registry), with request counting,
// fault injection and the audit record.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>

#include "core/logging.h"
#include "sim/api_server_impl.h"
#include "sim/http_listen.h"
#include "sim/k8s_json.h"
#include "sim/patch.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

std::shared_ptr<spdlog::logger> Log() { return Logger("kube-sim"); }

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

const char kContinueExpired[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter.";

ApiError InvalidRv(const std::string& rv) {
  return ApiError::BadRequest("resourceVersion: Invalid value: \"" + rv +
                              "\": must be a decimal resourceVersion");
}

// The DeleteOptions of a DELETE: query parameters, then the body (which wins).
ApiResult<DeleteOptions> DeleteOptionsOf(const httplib::Request& req, const json& body,
                                         bool dry_run) {
  DeleteOptions opts;
  opts.dry_run = dry_run;
  if (req.has_param("gracePeriodSeconds")) {
    auto g = ParseIntParam(req.get_param_value("gracePeriodSeconds"));
    if (!g) return ApiError::BadRequest("gracePeriodSeconds: must be an integer");
    opts.grace_period_seconds = *g;
  }
  if (req.has_param("propagationPolicy")) {
    opts.propagation_policy = req.get_param_value("propagationPolicy");
  }
  if (body.is_null()) return opts;
  if (!body.is_object()) return ApiError::BadRequest("DeleteOptions: must be a JSON object");
  if (body.contains("gracePeriodSeconds") && !body["gracePeriodSeconds"].is_null()) {
    if (!body["gracePeriodSeconds"].is_number_integer()) {
      return ApiError::BadRequest("DeleteOptions.gracePeriodSeconds: must be an integer");
    }
    opts.grace_period_seconds = body["gracePeriodSeconds"].get<int64_t>();
  }
  opts.uid_precondition = StrAt(body, {"preconditions", "uid"});
  opts.rv_precondition = StrAt(body, {"preconditions", "resourceVersion"});
  std::string policy = StrAt(body, {"propagationPolicy"});
  if (!policy.empty()) opts.propagation_policy = policy;
  if (At(body, {"orphanDependents"}) == true) opts.propagation_policy = "Orphan";
  if (IsDryRunAll(At(body, {"dryRun"}))) opts.dry_run = true;
  return opts;
}

struct Selectors {
  LabelSelector labels;
  FieldSelector fields;
};

ApiResult<Selectors> ParseSelectors(const ResourceInfo& r, const httplib::Request& req) {
  auto labels = LabelSelector::Parse(req.get_param_value("labelSelector"));
  if (!labels.ok()) return ApiError::BadRequest(labels.status().message());
  auto fields = FieldSelector::Parse(req.get_param_value("fieldSelector"), r.resource);
  if (!fields.ok()) return ApiError::BadRequest(fields.status().message());
  return Selectors{std::move(*labels), std::move(*fields)};
}

// Where a list reads: the resourceVersion of its snapshot (0 = now) and, for a continued list,
// the key its page starts after.
struct ListStart {
  uint64_t at = 0;
  ContinueToken token;
  bool continued = false;
};

// The resourceVersion, resourceVersionMatch and continue parameters of a list, checked as
// kube-apiserver does (400), against the store's current resourceVersion `current` (504 for a
// future one, 410 for a continue token older than `max_age` resourceVersions).
ApiResult<ListStart> ResolveListStart(const httplib::Request& req, uint64_t current,
                                      size_t max_age) {
  const std::string rv_param = req.get_param_value("resourceVersion");
  const std::string match = req.get_param_value("resourceVersionMatch");
  const std::string cont = req.get_param_value("continue");
  if (!rv_param.empty() && rv_param != "0" && !ParseRv(rv_param)) return InvalidRv(rv_param);
  if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
    return ApiError::BadRequest("resourceVersionMatch: Unsupported value: \"" + match + "\"");
  }
  if (!match.empty() && rv_param.empty()) {
    return ApiError::BadRequest(
        "resourceVersionMatch is forbidden unless resourceVersion is provided");
  }
  if (match == "Exact" && rv_param == "0") {
    return ApiError::BadRequest(
        "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"");
  }
  ListStart start;
  if (!cont.empty()) {
    if (!rv_param.empty()) {
      return ApiError::BadRequest("specifying resource version is not allowed when using continue");
    }
    auto t = DecodeContinue(cont);
    if (!t) {
      return ApiError::BadRequest(
          "continue key is not valid: incorrect encoded start resourceVersion (version "
          "meta.k8s.io/v1)");
    }
    start.continued = true;
    start.token = *t;
    start.at = t->rv;
    if (current - start.at > max_age || t->rv == 0) return ApiError::Expired(kContinueExpired);
  } else if (match == "Exact") {
    start.at = *ParseRv(rv_param);
  } else if (!rv_param.empty() && rv_param != "0" && *ParseRv(rv_param) > current) {
    return ApiError::TooLargeResourceVersion(*ParseRv(rv_param), current);
  }
  return start;
}

// One page of `items` (sorted by key) from `start`: the objects of `ns` ("" = all) that match
// `sel`, at most `limit` (0 = all), as a <Kind>List at resourceVersion `rv`.
json ListPage(const ResourceInfo& r, const std::string& ns, const Selectors& sel, int64_t limit,
              const ObjectStore::ListResult& snapshot, const ContinueToken& start) {
  const auto& items = snapshot.items;
  const bool filtered = !sel.labels.Empty() || !sel.fields.Empty();
  json out_items = json::array();
  std::string last_key;
  size_t i = 0;
  if (!start.start.empty()) {
    i = std::upper_bound(items.begin(), items.end(), start.start,
                         [](const std::string& k, const auto& item) { return k < item.first; }) -
        items.begin();
  }
  bool more = false;
  int64_t remaining = 0;
  for (; i < items.size(); ++i) {
    const json& obj = *items[i].second;
    if (!ns.empty() && Namespace(obj) != ns) continue;
    if (filtered) {
      static const json kNoLabels;
      const json& labels = At(obj, {"metadata", "labels"});
      if (!sel.labels.Matches(labels.is_null() ? kNoLabels : labels) || !sel.fields.Matches(obj)) {
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
  json meta = {{"resourceVersion", std::to_string(snapshot.rv)}};
  if (more) {
    meta["continue"] = EncodeContinue({snapshot.rv, last_key});
    if (!filtered) meta["remainingItemCount"] = remaining;
  }
  return {{"kind", r.kind + "List"},
          {"apiVersion", r.ApiVersion()},
          {"metadata", meta},
          {"items", std::move(out_items)}};
}

// The chunked body of a watch: the watcher's lines as they come, BOOKMARKs every
// `bookmark_interval` when asked for, until `deadline`, the watcher's close or the server's stop.
class WatchStream {
 public:
  WatchStream(std::shared_ptr<Watcher> watcher, ObjectStore* store, std::atomic<bool>* stopping,
              std::chrono::steady_clock::time_point deadline, bool bookmarks,
              std::chrono::milliseconds bookmark_interval)
      : watcher_(std::move(watcher)),
        store_(store),
        stopping_(stopping),
        deadline_(deadline),
        bookmarks_(bookmarks),
        bookmark_interval_(bookmark_interval),
        next_bookmark_(std::chrono::steady_clock::now() + bookmark_interval) {}

  // httplib's content provider: false ends the stream abruptly.
  bool Next(httplib::DataSink& sink) {
    if (stopping_->load()) watcher_->Close(false);
    // A client that went away frees its worker even when no event is due.
    if (!sink.is_writable()) return false;
    auto now = std::chrono::steady_clock::now();
    auto wake = std::min(
        {deadline_, now + std::chrono::milliseconds(100), bookmarks_ ? next_bookmark_ : deadline_});
    auto batch = watcher_->Take(std::chrono::duration_cast<std::chrono::milliseconds>(
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
    if (now >= deadline_) {
      sink.done();
      return true;
    }
    if (bookmarks_ && now >= next_bookmark_) {
      store_->Bookmark(*watcher_);
      next_bookmark_ = now + bookmark_interval_;
    }
    return true;
  }
  void Done() { store_->StopWatch(watcher_); }

 private:
  std::shared_ptr<Watcher> watcher_;
  ObjectStore* store_;
  std::atomic<bool>* stopping_;
  const std::chrono::steady_clock::time_point deadline_;
  const bool bookmarks_;
  const std::chrono::milliseconds bookmark_interval_;
  std::chrono::steady_clock::time_point next_bookmark_;
};

}  // namespace

void ApiServer::Impl::Count(const std::string& verb, const std::string& resource) {
  std::lock_guard<std::mutex> lock(counts_mu);
  ++counts.counts[{verb, resource}];
}

std::optional<ApiError> ApiServer::Impl::InjectFaults(const std::string& verb,
                                                      const std::string& resource) {
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

void ApiServer::Impl::Handle(const std::string& method, const httplib::Request& req,
                             httplib::Response& res) {
  uint64_t connection = 0;
  if (options.idle_close_after.count() > 0 && DropIdleConnection(req, &connection)) {
    res.status = 503;  // never reaches the client: its connection is already shut down
    return;
  }
  AuditRecord record;
  try {
    Dispatch(method, req, res, record);
  } catch (const std::exception& e) {
    Log()->error("request failed method={} path={} error={}", method, req.path, e.what());
    WriteError(res, ApiError::Internal(std::string("kube-sim internal error: ") + e.what()));
  }
  if (connection != 0) {
    std::lock_guard<std::mutex> lock(idle_mu);  // the idle period starts when the answer is ready
    last_request[connection] = std::chrono::steady_clock::now();
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

bool ApiServer::Impl::ServeAggregated(const httplib::Request& req, httplib::Response& res,
                                      AuditRecord& record) {
  ApiServer::AggregatedHandler handler;
  {
    std::lock_guard<std::mutex> lock(audit_mu);
    for (const auto& [prefix, h] : aggregated) {
      if (req.path.rfind(prefix, 0) == 0) handler = h;
    }
  }
  if (!handler) return false;
  Count("get", "aggregated");
  record.method = "GET";
  record.verb = "get";
  record.resource = "aggregated";
  if (!options.token.empty() &&
      req.get_header_value("Authorization") != "Bearer " + options.token) {
    WriteError(res, ApiError::Unauthorized());
    return true;
  }
  if (auto fault = InjectFaults("get", "aggregated")) {
    WriteError(res, *fault);
    return true;
  }
  std::string target = req.path;
  if (!req.params.empty()) {
    char sep = '?';
    for (const auto& [k, v] : req.params) {
      target += sep + k + "=" + v;
      sep = '&';
    }
  }
  const ApiServer::AggregatedAnswer answer = handler(target);
  res.status = answer.code;
  res.set_content(answer.body, "application/json");
  return true;
}

bool ApiServer::Impl::DropIdleConnection(const httplib::Request& req, uint64_t* connection) {
  uint64_t inode = 0;
  const int fd = ConnectionSocket(req, &inode);
  if (fd < 0) return false;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(idle_mu);
  auto [it, inserted] = last_request.try_emplace(inode, now);
  if (!inserted && now - it->second > options.idle_close_after) {
    last_request.erase(it);
    ::shutdown(fd, SHUT_RDWR);
    idle_dropped++;
    Log()->info("dropped a request on an idle connection method={} path={} idle_close_after_ms={}",
                req.method, req.path, options.idle_close_after.count());
    return true;
  }
  it->second = now;
  *connection = inode;
  if (last_request.size() > 4096) {
    // Forget connections not seen for ten idle periods (closed ones never come back).
    for (auto i = last_request.begin(); i != last_request.end();) {
      i = now - i->second > options.idle_close_after * 10 ? last_request.erase(i) : std::next(i);
    }
  }
  return false;
}

void ApiServer::Impl::Dispatch(const std::string& method, const httplib::Request& req,
                               httplib::Response& res, AuditRecord& record) {
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
  if (method == "GET" && ServeAggregated(req, res, record)) return;
  auto route = ParseRoute(req.path);
  const bool watch = req.has_param("watch") && IsTrue(req.get_param_value("watch"));
  const std::string verb = route ? VerbOf(method, *route, watch) : "";
  const std::string resource = route ? CountedResource(*route) : "unknown";
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
    return WriteError(res, ApiError::Unauthorized());
  }
  if (!route) return WriteError(res, ApiError::PathNotFound());
  if (verb.empty()) return WriteError(res, ApiError::MethodNotAllowed());
  if (auto fault = InjectFaults(verb, resource)) return WriteError(res, *fault);
  if (verb == "list") return List(*route, req, res);
  if (verb == "watch") return Watch(*route, req, res);
  if (verb == "get") {
    return WriteResult(res, 200, registry.Get(*route->res, route->ns, route->name));
  }
  json body;
  if (verb != "delete" || !req.body.empty()) {
    try {
      body = json::parse(req.body);
    } catch (const json::parse_error& e) {
      return WriteError(
          res, ApiError::BadRequest(std::string("couldn't get version/kind; json parse error: ") +
                                    e.what()));
    }
  }
  Write(verb, *route, req, std::move(body), res);
}

void ApiServer::Impl::Write(const std::string& verb, const Route& route,
                            const httplib::Request& req, json body, httplib::Response& res) {
  const ResourceInfo& r = *route.res;
  const bool dry_run = req.get_param_value("dryRun") == "All";
  const WriteMode mode = route.sub == "status" ? WriteMode::kStatus : WriteMode::kClient;
  if (verb == "create") {
    if (route.legacy_bindings || route.sub == "binding") {
      std::string name = route.legacy_bindings ? StrAt(body, {"metadata", "name"}) : route.name;
      return WriteResult(res, 201, registry.Bind(route.ns, name, body, dry_run));
    }
    if (route.sub == "eviction") {
      return WriteResult(res, 201, registry.Evict(route.ns, route.name, body, dry_run));
    }
    return WriteResult(res, 201, registry.Create(r, route.ns, std::move(body), mode, dry_run));
  }
  if (verb == "update") {
    return WriteResult(res, 200,
                       registry.Update(r, route.ns, route.name, std::move(body), mode, dry_run));
  }
  if (verb == "patch") {
    auto type = PatchTypeFromContentType(req.get_header_value("Content-Type"));
    if (!type.ok()) {
      return WriteError(res, ApiError::UnsupportedMediaType(req.get_header_value("Content-Type")));
    }
    return WriteResult(res, 200,
                       registry.Patch(r, route.ns, route.name, *type, body, mode, dry_run));
  }
  ApiResult<DeleteOptions> opts = DeleteOptionsOf(req, body, dry_run);
  if (!opts.ok()) return WriteError(res, opts.error());
  WriteResult(res, 200, registry.Delete(r, route.ns, route.name, opts.value()));
}

void ApiServer::Impl::List(const Route& route, const httplib::Request& req,
                           httplib::Response& res) {
  const ResourceInfo& r = *route.res;
  ApiResult<Selectors> sel = ParseSelectors(r, req);
  if (!sel.ok()) return WriteError(res, sel.error());
  int64_t limit = 0;
  if (req.has_param("limit")) {
    auto l = ParseIntParam(req.get_param_value("limit"));
    if (!l || *l < 0) {
      return WriteError(res, ApiError::BadRequest("limit: must be a non-negative integer"));
    }
    limit = *l;
  }
  ApiResult<ListStart> start =
      ResolveListStart(req, store.CurrentRv(), options.continue_token_max_age);
  if (!start.ok()) return WriteError(res, start.error());
  auto snapshot = store.ListAt(r.resource, start.value().at);
  if (!snapshot.ok()) {
    ApiError e = snapshot.error();
    if (start.value().continued && e.code == 410) e.message = kContinueExpired;
    return WriteError(res, e);
  }
  WriteJson(res, 200,
            ListPage(r, route.ns, sel.value(), limit, snapshot.value(), start.value().token));
}

void ApiServer::Impl::Watch(const Route& route, const httplib::Request& req,
                            httplib::Response& res) {
  const ResourceInfo& r = *route.res;
  ApiResult<Selectors> sel = ParseSelectors(r, req);
  if (!sel.ok()) return WriteError(res, sel.error());
  const std::string rv_param = req.get_param_value("resourceVersion");
  std::optional<uint64_t> from;
  if (!rv_param.empty() && rv_param != "0") {
    from = ParseRv(rv_param);
    if (!from) return WriteError(res, InvalidRv(rv_param));
  }
  auto timeout = options.max_watch_timeout;
  if (req.has_param("timeoutSeconds")) {
    auto t = ParseIntParam(req.get_param_value("timeoutSeconds"));
    if (!t || *t < 0) {
      return WriteError(res,
                        ApiError::BadRequest("timeoutSeconds: must be a non-negative integer"));
    }
    if (*t > 0) timeout = std::min(timeout, std::chrono::seconds(*t));
  }
  WatchFilter filter{
      r.resource, route.ns,      std::move(sel.value().labels), std::move(sel.value().fields),
      r.kind,     r.ApiVersion()};
  auto watcher = std::make_shared<Watcher>(std::move(filter), options.watch_queue_limit);
  if (auto err = store.StartWatch(watcher, from)) {
    bool as_http = options.expired_watch_mode == ExpiredWatchMode::kHttp410 ||
                   (options.expired_watch_mode == ExpiredWatchMode::kAlternate &&
                    expired_count.fetch_add(1) % 2 == 1);
    if (as_http) return WriteError(res, *err);
    watcher->Push("{\"type\":\"ERROR\",\"object\":" + err->ToJson().dump() + "}\n");
    watcher->Close(false);
  }
  Log()->debug("watch started resource={} ns={} rv={}", r.resource, route.ns, rv_param);
  auto stream = std::make_shared<WatchStream>(
      watcher, &store, &stopping, std::chrono::steady_clock::now() + timeout,
      IsTrue(req.get_param_value("allowWatchBookmarks")), options.bookmark_interval);
  // Watches are JSON lines; the media type keeps httplib from gzip-buffering the stream.
  res.set_chunked_content_provider(
      "application/json;stream=watch",
      [stream](size_t, httplib::DataSink& sink) { return stream->Next(sink); },
      [stream](bool) { stream->Done(); });
}

}  // namespace kb::sim
