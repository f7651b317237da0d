#include "sim/scheduler_driver.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/logging.h"
#include "core/model.h"
#include "sim/api_server.h"
#include "sim/k8s_json.h"
#include "sim/scenario.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

constexpr int64_t kMaxExtenderPriority = 10;
constexpr Millis kDefaultExtenderTimeout{5000};
constexpr const char* kDefaultSchedulerName = "default-scheduler";

// Wire keys (extender v1 types have no json tags: Go field names).
constexpr const char* kPod = "Pod";
constexpr const char* kNodes = "Nodes";
constexpr const char* kNodeNames = "NodeNames";
constexpr const char* kFailedNodes = "FailedNodes";
constexpr const char* kFailedAndUnresolvable = "FailedAndUnresolvableNodes";
constexpr const char* kError = "Error";
constexpr const char* kHost = "Host";
constexpr const char* kScore = "Score";

// Go's encoding/json matches keys case-insensitively; so does kube-scheduler reading replies.
const json* FindKey(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto exact = obj.find(key);
  if (exact != obj.end()) return &*exact;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return &*it;
    }
  }
  return nullptr;
}

std::string Key(const json& obj) { return Namespace(obj) + "/" + Name(obj); }

StatusOr<bool> Bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) return Status::InvalidArgument("scheduler: " + key + ": must be a bool");
  return v.get<bool>();
}

StatusOr<std::string> String(const json& v, const std::string& key) {
  if (!v.is_string()) return Status::InvalidArgument("scheduler: " + key + ": must be a string");
  return v.get<std::string>();
}

StatusOr<std::vector<std::string>> Strings(const json& v, const std::string& key) {
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array()) {
    return Status::InvalidArgument("scheduler: " + key + ": must be a list of strings");
  }
  std::vector<std::string> out;
  for (const json& s : v) {
    if (!s.is_string()) {
      return Status::InvalidArgument("scheduler: " + key + ": must be a list of strings");
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

StatusOr<Millis> Duration(const json& v, const std::string& key) {
  StatusOr<Millis> d = ParseDurationValue(v);
  if (!d.ok()) {
    return Status::InvalidArgument("scheduler: " + key + ": \"" +
                                   (v.is_string() ? v.get<std::string>() : v.dump()) +
                                   "\" is not a duration like 5s");
  }
  return *d;
}

}  // namespace

Status ApplySchedulerSection(const json& section, SchedulerDriverOptions* options) {
  if (section.is_null()) return Status::Ok();
  if (!section.is_object()) return Status::InvalidArgument("scheduler: must be a mapping");
  for (const auto& [key, value] : section.items()) {
    if (key == "schedulerNames") {
      KB_ASSIGN_OR_RETURN(options->scheduler_names, Strings(value, key));
    } else if (key == "defaultSchedulerNames") {
      KB_ASSIGN_OR_RETURN(options->default_scheduler_names, Strings(value, key));
    } else if (key == "seed") {
      if (!value.is_number_integer()) {
        return Status::InvalidArgument("scheduler: seed: must be an integer");
      }
      options->seed = value.get<uint64_t>();
    } else if (key == "initialBackoff") {
      KB_ASSIGN_OR_RETURN(options->initial_backoff, Duration(value, key));
    } else if (key == "maxBackoff") {
      KB_ASSIGN_OR_RETURN(options->max_backoff, Duration(value, key));
    } else if (key == "extender") {
      if (!value.is_object()) {
        return Status::InvalidArgument("scheduler: extender: must be a mapping");
      }
      ExtenderConfig& e = options->extender;
      for (const auto& [k, v] : value.items()) {
        const std::string where = "extender." + k;
        if (k == "urlPrefix") {
          KB_ASSIGN_OR_RETURN(e.url_prefix, String(v, where));
        } else if (k == "filterVerb") {
          KB_ASSIGN_OR_RETURN(e.filter_verb, String(v, where));
        } else if (k == "prioritizeVerb") {
          KB_ASSIGN_OR_RETURN(e.prioritize_verb, String(v, where));
        } else if (k == "bindVerb") {
          KB_ASSIGN_OR_RETURN(e.bind_verb, String(v, where));
        } else if (k == "weight") {
          if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
            return Status::InvalidArgument("scheduler: " + where + ": must be a positive integer");
          }
          e.weight = v.get<int64_t>();
        } else if (k == "nodeCacheCapable") {
          KB_ASSIGN_OR_RETURN(e.node_cache_capable, Bool(v, where));
        } else if (k == "ignorable") {
          KB_ASSIGN_OR_RETURN(e.ignorable, Bool(v, where));
        } else if (k == "httpTimeout") {
          KB_ASSIGN_OR_RETURN(e.http_timeout, Duration(v, where));
        } else {
          return Status::InvalidArgument("scheduler: unknown key \"" + where + "\"");
        }
      }
    } else {
      return Status::InvalidArgument("scheduler: unknown key \"" + key + "\"");
    }
  }
  return Status::Ok();
}

// ---- the driver -------------------------------------------------------------------------------

struct SchedulerDriver::Impl {
  Impl(ApiServer& s, SchedulerDriverOptions o, const Clock& c)
      : server(s), options(std::move(o)), clock(c), rng(options.seed) {
    ParseUrl();
  }

  // Per-pod queue state (kube-scheduler's backoff / unschedulable queues in one map).
  struct PodState {
    int attempts = 0;
    SteadyTime next_attempt;
    bool unschedulable = false;
    size_t generation_at_failure = 0;
    SteadyTime failed_at;
    std::string last_message;
  };

  struct HttpReply {
    bool ok = false;
    std::string error;  // transport error or non-200 description
    std::string body;
  };

  void ParseUrl() {
    const std::string& url = options.extender.url_prefix;
    if (url.empty()) return;
    const size_t scheme_end = url.find("://");
    const size_t path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    base = path_start == std::string::npos ? url : url.substr(0, path_start);
    path_prefix = path_start == std::string::npos ? "" : url.substr(path_start);
    while (!path_prefix.empty() && path_prefix.back() == '/') path_prefix.pop_back();
  }

  Millis Timeout() const {
    return options.extender.http_timeout.count() > 0 ? options.extender.http_timeout
                                                     : kDefaultExtenderTimeout;
  }

  // POST <urlPrefix>/<verb>, Content-Type: application/json, only a 200 counts (extender.go send).
  HttpReply Post(const std::string& verb, const std::string& body) {
    HttpReply reply;
    if (!client) {
      client = std::make_unique<httplib::Client>(base);
      const Millis t = Timeout();
      client->set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
      client->set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
      client->set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      client->enable_server_certificate_verification(false);
    }
    const std::string path = path_prefix + "/" + verb;
    httplib::Result res = client->Post(path, body, "application/json");
    if (!res) {
      reply.error = "failed " + verb + " with extender at URL " + base + path + ": " +
                    httplib::to_string(res.error());
      client.reset();  // a broken connection is not reused
      return reply;
    }
    if (res->status != 200) {
      reply.error = "failed " + verb + " with extender at URL " + base + path + ", code " +
                    std::to_string(res->status);
      return reply;
    }
    reply.ok = true;
    reply.body = res->body;
    return reply;
  }

  json ExtenderArgs(const json& pod, const std::vector<const NodeInfo*>& nodes) const {
    json args = json::object();
    args[kPod] = pod;
    if (options.extender.node_cache_capable) {
      json names = json::array();
      for (const NodeInfo* n : nodes) names.push_back(n->name);
      args[kNodes] = nullptr;
      args[kNodeNames] = names;
    } else {
      json items = json::array();
      for (const NodeInfo* n : nodes) items.push_back(*n->node);
      args[kNodes] = {{"metadata", json::object()}, {"items", items}};
      args[kNodeNames] = nullptr;
    }
    return args;
  }

  // Filter: Ok with the surviving nodes (reasons of failed ones added to `reasons`), or an error.
  StatusOr<std::vector<const NodeInfo*>> Filter(const json& pod,
                                                const std::vector<const NodeInfo*>& nodes,
                                                std::map<std::string, int>* reasons) {
    Count(&SchedulerStats::filter_calls);
    HttpReply reply = Post(options.extender.filter_verb, ExtenderArgs(pod, nodes).dump());
    if (!reply.ok) return Status::Unavailable(reply.error);
    json result = json::parse(reply.body, nullptr, false);
    if (result.is_discarded() || !result.is_object()) {
      return Status::InvalidArgument("extender filter: reply is not a JSON object");
    }
    if (const json* err = FindKey(result, kError);
        err && err->is_string() && !err->get<std::string>().empty()) {
      return Status::Unavailable("extender filter: " + err->get<std::string>());
    }
    std::map<std::string, const NodeInfo*> by_name;
    for (const NodeInfo* n : nodes) by_name[n->name] = n;
    std::vector<const NodeInfo*> out;
    const json* names = FindKey(result, kNodeNames);
    const json* full = FindKey(result, kNodes);
    if (options.extender.node_cache_capable && names && !names->is_null()) {
      if (!names->is_array()) return Status::InvalidArgument("extender filter: bad NodeNames");
      for (const json& name : *names) {
        auto it = name.is_string() ? by_name.find(name.get<std::string>()) : by_name.end();
        if (it == by_name.end()) {
          return Status::InvalidArgument(
              "extender \"" + options.extender.url_prefix + "\" claims a filtered node \"" +
              (name.is_string() ? name.get<std::string>() : name.dump()) +
              "\" which is not found in the input node list");
        }
        out.push_back(it->second);
      }
    } else if (full && full->is_object()) {
      const json* items = FindKey(*full, "items");
      if (items && items->is_array()) {
        for (const json& node : *items) {
          auto it = by_name.find(StrAt(node, {"metadata", "name"}));
          if (it != by_name.end()) out.push_back(it->second);
        }
      }
    }
    // FailedAndUnresolvableNodes takes precedence over FailedNodes for the same node.
    std::set<std::string> counted;
    for (const char* key : {kFailedAndUnresolvable, kFailedNodes}) {
      const json* failed = FindKey(result, key);
      if (!failed || !failed->is_object()) continue;
      for (const auto& [node, reason] : failed->items()) {
        if (!counted.insert(node).second) continue;
        ++(*reasons)[reason.is_string() ? reason.get<std::string>() : reason.dump()];
      }
    }
    return out;
  }

  // Prioritize: node -> score; errors are ignored by kube-scheduler (the extender adds nothing).
  std::map<std::string, int64_t> Prioritize(const json& pod,
                                            const std::vector<const NodeInfo*>& nodes) {
    Count(&SchedulerStats::prioritize_calls);
    std::map<std::string, int64_t> out;
    HttpReply reply = Post(options.extender.prioritize_verb, ExtenderArgs(pod, nodes).dump());
    json result = reply.ok ? json::parse(reply.body, nullptr, false) : json();
    if (!reply.ok || !result.is_array()) {
      Count(&SchedulerStats::extender_errors);
      Count(&SchedulerStats::ignored_errors);
      Logger("kube-sim")
          ->warn("scheduler extender prioritize failed (ignored) pod={} error={}", Key(pod),
                 reply.ok ? "reply is not a JSON array" : reply.error);
      return out;
    }
    std::set<std::string> candidates;
    for (const NodeInfo* n : nodes) candidates.insert(n->name);
    for (const json& hp : result) {
      const json* host = FindKey(hp, kHost);
      const json* score = FindKey(hp, kScore);
      if (!host || !host->is_string() || !score || !score->is_number()) continue;
      if (!candidates.count(host->get<std::string>())) continue;  // not a candidate: ignored
      out[host->get<std::string>()] = score->get<int64_t>();
    }
    return out;
  }

  // Bind through the extender; Ok when bound.
  Status ExtenderBind(const json& pod, const std::string& node) {
    Count(&SchedulerStats::bind_calls);
    json args = {{"PodName", Name(pod)},
                 {"PodNamespace", Namespace(pod)},
                 {"PodUID", Uid(pod)},
                 {"Node", node}};
    HttpReply reply = Post(options.extender.bind_verb, args.dump());
    if (!reply.ok) return Status::Unavailable(reply.error);
    json result = json::parse(reply.body, nullptr, false);
    if (result.is_discarded()) return Status::InvalidArgument("extender bind: reply is not JSON");
    if (const json* err = FindKey(result, kError);
        err && err->is_string() && !err->get<std::string>().empty()) {
      return Status::Unavailable("extender bind: " + err->get<std::string>());
    }
    return Status::Ok();
  }

  void Count(uint64_t SchedulerStats::*field) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++(stats.*field);
  }

  bool ServesWithExtender(const std::string& scheduler) const {
    return std::find(options.scheduler_names.begin(), options.scheduler_names.end(), scheduler) !=
           options.scheduler_names.end();
  }
  bool ServesWithoutExtender(const std::string& scheduler) const {
    return std::find(options.default_scheduler_names.begin(), options.default_scheduler_names.end(),
                     scheduler) != options.default_scheduler_names.end();
  }

  void MarkUnschedulable(const json& pod, const std::string& message) {
    PodState& st = pods[Uid(pod)];
    if (st.last_message == message) return;
    st.last_message = message;
    json conditions = json::array();
    const json& existing = At(pod, {"status", "conditions"});
    if (existing.is_array()) {
      for (const json& c : existing) {
        if (c.value("type", "") != "PodScheduled") conditions.push_back(c);
      }
    }
    conditions.push_back({{"type", "PodScheduled"},
                          {"status", "False"},
                          {"reason", "Unschedulable"},
                          {"message", message},
                          {"lastProbeTime", nullptr},
                          {"lastTransitionTime", FormatRfc3339(clock.WallNow())}});
    // Best effort, like kube-scheduler's status update: the pod may be gone or bound meanwhile.
    (void)server.PatchObject("pods", Namespace(pod), Name(pod),
                             {{"status", {{"conditions", conditions}}}});
  }

  void Failed(const json& pod, bool unschedulable, size_t generation, const std::string& message) {
    PodState& st = pods[Uid(pod)];
    ++st.attempts;
    const SteadyTime now = clock.Now();
    Millis backoff = options.initial_backoff;
    for (int i = 1; i < st.attempts && backoff < options.max_backoff; ++i) backoff *= 2;
    backoff = std::min(backoff, options.max_backoff);
    st.next_attempt = now + backoff;
    st.unschedulable = unschedulable;
    st.generation_at_failure = generation;
    st.failed_at = now;
    if (unschedulable) {
      Count(&SchedulerStats::unschedulable);
      if (st.last_message != message) {
        Logger("kube-sim")
            ->info("pod unschedulable pod={} attempts={} message=\"{}\"", Key(pod), st.attempts,
                   message);
      }
      MarkUnschedulable(pod, message);
    } else {
      Count(&SchedulerStats::errors);
      Logger("kube-sim")
          ->warn("scheduling failed pod={} attempts={} error=\"{}\"", Key(pod), st.attempts,
                 message);
    }
  }

  bool Due(const json& pod, size_t generation, SteadyTime now) const {
    auto it = pods.find(Uid(pod));
    if (it == pods.end()) return true;
    const PodState& st = it->second;
    if (now < st.next_attempt) return false;
    if (!st.unschedulable) return true;
    return generation != st.generation_at_failure ||
           now - st.failed_at >= options.unschedulable_flush;
  }

  // Schedules one pod against `infos` (updated with the binding on success). Returns true when
  // the pod was bound.
  bool ScheduleOne(const json& pod, std::vector<NodeInfo>& infos, size_t generation) {
    Count(&SchedulerStats::cycles);
    const std::string scheduler = StrAt(pod, {"spec", "schedulerName"}, kDefaultSchedulerName);
    const bool use_extender = ServesWithExtender(scheduler) && !options.extender.url_prefix.empty();
    const Resources req = EffectiveRequests(pod);
    const Resources nonzero = NonZeroRequests(pod);

    std::vector<const NodeInfo*> feasible;
    std::map<std::string, int> reasons;
    for (const NodeInfo& n : infos) {
      std::string reason = InTreeFilter(pod, req, n);
      if (reason.empty()) {
        feasible.push_back(&n);
      } else {
        ++reasons[reason];
      }
    }
    if (!feasible.empty() && use_extender && !options.extender.filter_verb.empty()) {
      StatusOr<std::vector<const NodeInfo*>> filtered = Filter(pod, feasible, &reasons);
      if (!filtered.ok()) {
        Count(&SchedulerStats::extender_errors);
        if (!options.extender.ignorable) {
          Failed(pod, false, generation, filtered.status().message());
          return false;
        }
        Count(&SchedulerStats::ignored_errors);
        Logger("kube-sim")
            ->warn(
                "skipping extender as it returned error and has ignorable flag set pod={} "
                "error=\"{}\"",
                Key(pod), filtered.status().message());
      } else {
        feasible = *filtered;
      }
    }
    if (feasible.empty()) {
      Failed(pod, true, generation, DiagnosisMessage(infos.size(), reasons));
      return false;
    }

    Placement p;
    p.ns = Namespace(pod);
    p.name = Name(pod);
    p.uid = Uid(pod);
    p.scheduler_name = scheduler;
    p.via_extender = use_extender;
    p.feasible = static_cast<int>(feasible.size());
    const NodeInfo* chosen = feasible.front();
    if (feasible.size() == 1) {
      // "When only one node after predicate, just use it" (schedule_one.go): no prioritize.
      if (use_extender) Count(&SchedulerStats::prioritize_skipped);
    } else {
      for (const NodeInfo* n : feasible) {
        p.in_tree[n->name] = LeastAllocatedScore(nonzero, *n);
        p.total[n->name] = p.in_tree[n->name];
      }
      if (use_extender && !options.extender.prioritize_verb.empty()) {
        p.prioritize_called = true;
        p.extender = Prioritize(pod, feasible);
        for (const auto& [node, score] : p.extender) {
          p.total[node] += score * options.extender.weight * (kMaxNodeScore / kMaxExtenderPriority);
        }
      }
      // selectHost: highest total, ties broken uniformly at random (reservoir sampling).
      int64_t best = 0;
      int ties = 0;
      for (const NodeInfo* n : feasible) {
        const int64_t total = p.total[n->name];
        if (ties == 0 || total > best) {
          best = total;
          chosen = n;
          ties = 1;
        } else if (total == best) {
          ++ties;
          if (std::uniform_int_distribution<int>(0, ties - 1)(rng) == 0) chosen = n;
        }
      }
    }
    p.node = chosen->name;

    Status bound = Status::Ok();
    const bool extender_binds = use_extender && !options.extender.bind_verb.empty();
    if (extender_binds) {
      bound = ExtenderBind(pod, chosen->name);
      if (!bound.ok()) {
        Count(&SchedulerStats::extender_errors);
        // The extender may have bound the pod and failed only to answer (timeout).
        auto now_pod = server.GetObject("pods", Namespace(pod), Name(pod));
        if (now_pod.ok() && Uid(*now_pod) == Uid(pod) &&
            StrAt(*now_pod, {"spec", "nodeName"}) == chosen->name) {
          bound = Status::Ok();
        } else if (options.extender.ignorable) {
          Count(&SchedulerStats::ignored_errors);
          bound = server.BindPod(Namespace(pod), Name(pod), Uid(pod), chosen->name);
        }
      }
    } else {
      bound = server.BindPod(Namespace(pod), Name(pod), Uid(pod), chosen->name);
    }
    if (!bound.ok()) {
      Failed(pod, false, generation, "binding rejected: " + bound.message());
      return false;
    }
    // Assume the binding so the next decision of this pass sees it (kube-scheduler's cache).
    for (NodeInfo& n : infos) {
      if (&n == chosen) n.Add(req, nonzero);
    }
    pods.erase(Uid(pod));
    Count(&SchedulerStats::scheduled);
    p.at = clock.Now();
    Logger("kube-sim")
        ->info(
            "scheduled pod pod={} node={} scheduler={} feasible={} extender={} score={} "
            "extender_score={}",
            Key(pod), p.node, scheduler, p.feasible, use_extender,
            p.total.count(p.node) ? p.total[p.node] : 0,
            p.extender.count(p.node) ? p.extender[p.node] : 0);
    std::lock_guard<std::mutex> lock(stats_mu);
    placements.push_back(std::move(p));
    while (placements.size() > options.history_limit) placements.pop_front();
    return true;
  }

  int RunOnce() {
    std::lock_guard<std::mutex> run_lock(run_mu);
    const std::vector<json> nodes = server.ListObjects("nodes");
    const std::vector<json> all_pods = server.ListObjects("pods");
    std::vector<NodeInfo> infos;
    std::map<std::string, size_t> index;
    size_t generation = 0;
    std::hash<std::string> hash;
    for (const json& node : nodes) {
      NodeInfo n(node);
      index[n.name] = infos.size();
      infos.push_back(n);
      generation = generation * 31 + hash(n.name + "@" + ResourceVersion(node));
    }
    std::vector<const json*> queue;
    std::set<std::string> pending_uids;
    for (const json& pod : all_pods) {
      const std::string node = StrAt(pod, {"spec", "nodeName"});
      const std::string phase = PodPhase(pod);
      if (!node.empty()) {
        if (phase == "Succeeded" || phase == "Failed") continue;
        auto it = index.find(node);
        if (it != index.end()) infos[it->second].Add(EffectiveRequests(pod), NonZeroRequests(pod));
        generation = generation * 31 + hash(Uid(pod));
        continue;
      }
      if (IsTerminating(pod) || (phase != "Pending" && !phase.empty())) continue;
      const std::string scheduler = StrAt(pod, {"spec", "schedulerName"}, kDefaultSchedulerName);
      if (!ServesWithExtender(scheduler) && !ServesWithoutExtender(scheduler)) continue;
      queue.push_back(&pod);
      pending_uids.insert(Uid(pod));
    }
    for (auto it = pods.begin(); it != pods.end();) {
      it = pending_uids.count(it->first) ? std::next(it) : pods.erase(it);
    }
    // activeQ order: priority (higher first), then creation (timestamp, then resourceVersion).
    std::stable_sort(queue.begin(), queue.end(), [](const json* a, const json* b) {
      const int64_t pa = IntAt(*a, {"spec", "priority"});
      const int64_t pb = IntAt(*b, {"spec", "priority"});
      if (pa != pb) return pa > pb;
      const std::string ta = StrAt(*a, {"metadata", "creationTimestamp"});
      const std::string tb = StrAt(*b, {"metadata", "creationTimestamp"});
      if (ta != tb) return ta < tb;
      return std::strtoull(ResourceVersion(*a).c_str(), nullptr, 10) <
             std::strtoull(ResourceVersion(*b).c_str(), nullptr, 10);
    });
    int bound = 0;
    const SteadyTime now = clock.Now();
    for (const json* pod : queue) {
      if (stopping.load()) break;
      if (!Due(*pod, generation, now)) continue;
      if (ScheduleOne(*pod, infos, generation)) ++bound;
    }
    return bound;
  }

  void Kick() {
    {
      std::lock_guard<std::mutex> lock(kick_mu);
      kicked = true;
    }
    kick_cv.notify_all();
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(kick_mu);
    while (!stopping.load()) {
      kick_cv.wait_for(lock, options.period, [&] { return kicked || stopping.load(); });
      if (stopping.load()) break;
      kicked = false;
      lock.unlock();
      try {
        RunOnce();
      } catch (const std::exception& e) {
        Logger("kube-sim")->error("scheduler driver pass failed error={}", e.what());
      }
      lock.lock();
    }
  }

  ApiServer& server;
  const SchedulerDriverOptions options;
  const Clock& clock;
  std::string base;         // "http://host:port"
  std::string path_prefix;  // "/scheduler" (no trailing slash)

  std::mutex run_mu;  // serialises RunOnce; guards the state below
  std::unique_ptr<httplib::Client> client;
  std::mt19937_64 rng;
  std::map<std::string, PodState> pods;  // pending pod uid -> queue state

  mutable std::mutex stats_mu;  // guards stats and placements (never held across I/O)
  SchedulerStats stats;
  std::deque<Placement> placements;

  std::atomic<bool> stopping{false};
  std::mutex kick_mu;
  std::condition_variable kick_cv;
  bool kicked = false;  // Guarded by kick_mu.
  std::mutex thread_mu;
  std::thread thread;  // Guarded by thread_mu.
};

SchedulerDriver::SchedulerDriver(ApiServer& server, SchedulerDriverOptions options,
                                 const Clock& clock)
    : impl_(std::make_shared<Impl>(server, std::move(options), clock)) {}

SchedulerDriver::~SchedulerDriver() { Stop(); }

void SchedulerDriver::Attach() {
  std::weak_ptr<Impl> weak = impl_;
  impl_->server.AddController("scheduler-driver", [weak] {
    if (auto impl = weak.lock()) impl->Kick();
  });
}

void SchedulerDriver::Start() {
  std::lock_guard<std::mutex> lock(impl_->thread_mu);
  if (impl_->thread.joinable()) return;
  impl_->stopping = false;
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] { impl->Loop(); });
  Logger("kube-sim")
      ->info(
          "scheduler driver started schedulers={} baseline={} extender={} weight={} "
          "node_cache_capable={} bind_verb={}",
          fmt::join(impl_->options.scheduler_names, ","),
          fmt::join(impl_->options.default_scheduler_names, ","),
          impl_->options.extender.url_prefix.empty() ? "(none)"
                                                     : impl_->options.extender.url_prefix,
          impl_->options.extender.weight, impl_->options.extender.node_cache_capable,
          impl_->options.extender.bind_verb.empty() ? "(direct)"
                                                    : impl_->options.extender.bind_verb);
}

void SchedulerDriver::Stop() {
  std::lock_guard<std::mutex> lock(impl_->thread_mu);
  if (!impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->Kick();
  impl_->thread.join();
}

int SchedulerDriver::RunOnce() { return impl_->RunOnce(); }

SchedulerStats SchedulerDriver::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

std::vector<Placement> SchedulerDriver::Placements() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return {impl_->placements.begin(), impl_->placements.end()};
}

const SchedulerDriverOptions& SchedulerDriver::options() const { return impl_->options; }

}  // namespace kb::sim
