// ExtenderServer's verb handlers: Serve() decodes, runs and answers a verb; filter, prioritize
// and debug scores compute on at most `threads` verb workers at once, a bind runs on the
// BindRunner and is answered by its deadline.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "server/http_internal.h"
#include "server/http_server.h"
#include "server/logging.h"

namespace kb::server {
namespace {

// Filter answers at least this big are streamed from the request's bytes instead of copied.
constexpr size_t kStreamThresholdBytes = 64 * 1024;
constexpr size_t kStreamChunkBytes = 256 * 1024;

std::vector<std::string> SplitNonEmpty(const std::string& list, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0; start < list.size();) {
    size_t end = list.find(sep, start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

ExtenderServer::Answer ExtenderServer::ServeFilter(std::string body) {
  // The answer keeps the request alive: a full-Nodes answer is written straight from the
  // request's bytes.
  auto answer = std::make_shared<FilterAnswer>();
  answer->body = std::move(body);
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(answer->body);
  if (!args.ok()) {
    Log()->debug("bad request verb=filter error={}", LogValue(args.status().message()));
    return Answer::Error(400, args.status().message());
  }
  answer->args = std::move(args).value();
  answer->response = EncodeFilterResponseBody(answer->args, extender_.Filter(answer->args));
  if (answer->response.size() >= kStreamThresholdBytes) return {200, "", std::move(answer)};
  return {200, answer->response.ToString(), nullptr};
}

ExtenderServer::Answer ExtenderServer::ServePrioritize(const std::string& body) {
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  if (!args.ok()) {
    Log()->debug("bad request verb=prioritize error={}", LogValue(args.status().message()));
    return Answer::Error(400, args.status().message());
  }
  return {200, EncodePriorities(extender_.Prioritize(*args)), nullptr};
}

ExtenderServer::Answer ExtenderServer::ServeBind(const std::string& body) {
  StatusOr<BindingArgs> args = DecodeBindingArgs(body);
  if (!args.ok()) return Answer::Error(400, args.status().message());
  // A failed binding is HTTP 200 with the error text: kube-scheduler reads Error. The bind runs
  // on a bind worker; this connection waits for it at most bindTimeout.
  std::string result;
  const BindingArgs& a = *args;
  switch (binds_->Run([this, a] { return extender_.Bind(a); }, result)) {
    case BindRunner::Outcome::kDone:
      return {200, EncodeError(result), nullptr};
    case BindRunner::Outcome::kTimedOut:
      metrics_.Bindings("timeout").Increment();
      Log()->warn("binding not confirmed within bindTimeout pod={}/{} node={} bind_timeout={}",
                  LogValue(a.pod_namespace), LogValue(a.pod_name), LogValue(a.node),
                  FormatDuration(binds_->deadline()));
      return {200,
              EncodeError("binding not confirmed within bindTimeout (" +
                          FormatDuration(binds_->deadline()) +
                          "): the API server is slow or unreachable; it may still complete"),
              nullptr};
    case BindRunner::Outcome::kBusy:
      break;
  }
  metrics_.Bindings("busy").Increment();
  Log()->warn("binding refused: maxConcurrentBinds in flight pod={}/{} max_concurrent_binds={}",
              LogValue(a.pod_namespace), LogValue(a.pod_name), binds_->max_concurrent());
  return {200,
          EncodeError("too many bindings in flight (maxConcurrentBinds=" +
                      std::to_string(binds_->max_concurrent()) +
                      "): the API server is slow or unreachable"),
          nullptr};
}

ExtenderServer::Answer ExtenderServer::ServeDebugScores(const httplib::Request& req,
                                                        const std::string& body) {
  if (req.method == "POST") {
    StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
    if (!args.ok()) return Answer::Error(400, args.status().message());
    return {200, extender_.DebugScores(*args).dump(2), nullptr};
  }
  const std::string ns = req.get_param_value("namespace");
  const std::string name = req.get_param_value("name");
  if (ns.empty() || name.empty()) {
    return Answer::Error(400, "GET /debug/scores needs ?namespace=<ns>&name=<pod>[&nodes=a,b]");
  }
  StatusOr<nlohmann::json> result =
      extender_.DebugScoresForPod(ns, name, SplitNonEmpty(req.get_param_value("nodes"), ','));
  if (!result.ok()) {
    return Answer::Error(result.status().code() == StatusCode::kNotFound ? 404 : 400,
                         result.status().message());
  }
  return {200, result->dump(2), nullptr};
}

void ExtenderServer::Serve(Verb verb, const httplib::Request& req, std::string body,
                           httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  const size_t body_bytes = body.size();
  Answer answer;
  try {
    // Filter, prioritize and debug scores compute on a verb worker (CPU only, never the API
    // server); a bind waits on its own BindRunner instead.
    struct Worker {
      std::counting_semaphore<>* sem;
      explicit Worker(std::counting_semaphore<>* s) : sem(s) {
        if (sem != nullptr) sem->acquire();
      }
      ~Worker() {
        if (sem != nullptr) sem->release();
      }
    } worker(verb == Verb::kBind ? nullptr : verb_workers_.get());
    switch (verb) {
      case Verb::kFilter:
        answer = ServeFilter(std::move(body));
        break;
      case Verb::kPrioritize:
        answer = ServePrioritize(body);
        break;
      case Verb::kBind:
        answer = ServeBind(body);
        break;
      case Verb::kDebugScores:
        answer = ServeDebugScores(req, body);
        break;
      case Verb::kOther:
        answer = Answer::Error(404, "unknown path " + req.path);
        break;
    }
  } catch (const std::exception& e) {
    answer = Answer::Error(500, std::string("internal error: ") + e.what());
    metrics_.exceptions.Increment();
    Log()->error("request failed with an exception verb={} error={}", VerbName(verb),
                 LogValue(e.what()));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  metrics_.Duration(verb).Observe(std::chrono::duration<double>(elapsed).count());
  metrics_.Requests(verb, answer.code).Increment();
  if (observer_) observer_(verb, elapsed, body_bytes);
  if (answer.streamed != nullptr) {
    WriteStreamed(std::move(answer.streamed), answer.code, res);
    return;
  }
  SetJson(res, answer.code, std::move(answer.body));
}

void ExtenderServer::WriteStreamed(std::shared_ptr<FilterAnswer> streamed, int code,
                                   httplib::Response& res) {
  res.status = code;
  const size_t size = streamed->response.size();
  res.set_content_provider(size, kJson, [streamed](size_t offset, size_t, httplib::DataSink& sink) {
    // Coalesce the pieces (one per Node object) into large writes: each sink.write is a
    // poll + send pair in cpp-httplib.
    std::string chunk;
    chunk.reserve(kStreamChunkBytes);
    const bool ok =
        streamed->response.WriteFrom(offset, [&sink, &chunk](const char* data, size_t n) {
          if (chunk.size() + n > kStreamChunkBytes && !chunk.empty()) {
            if (!sink.write(chunk.data(), chunk.size())) return false;
            chunk.clear();
          }
          if (n >= kStreamChunkBytes) return sink.write(data, n);
          chunk.append(data, n);
          return true;
        });
    return ok && (chunk.empty() || sink.write(chunk.data(), chunk.size()));
  });
}

}  // namespace kb::server
