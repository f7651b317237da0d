#include "sim/scheduler_driver.h"

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
#include "sim/scheduler_extender.h"
#include "sim/scheduler_filters.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

constexpr int64_t kMaxExtenderPriority = 10;
constexpr const char* kDefaultSchedulerName = "default-scheduler";

std::string Key(const json& obj) { return Namespace(obj) + "/" + Name(obj); }

}  // namespace

// ---- the driver -------------------------------------------------------------------------------

struct SchedulerDriver::Impl {
  Impl(ApiServer& s, SchedulerDriverOptions o, const Clock& c)
      : server(s),
        options(std::move(o)),
        clock(c),
        extender(options.extender),
        bind_extender(options.extender),
        rng(options.seed) {}

  // A pod assumed on its node whose binding cycle has not finished (kube-scheduler's assumed
  // pods in its cache).
  struct Assumed {
    std::string node;
    json pod;  // a copy: the node infos of later cycles point at it (AddPod)
  };
  // One binding cycle handed to the binder thread.
  struct PendingBind {
    json pod;
    bool use_extender = false;
    size_t generation = 0;
    SteadyTime due;
    Placement placement;
  };

  // Per-pod queue state (kube-scheduler's backoff / unschedulable queues in one map).
  struct PodState {
    int attempts = 0;
    SteadyTime next_attempt;
    bool unschedulable = false;
    size_t generation_at_failure = 0;
    SteadyTime failed_at;
    std::string last_message;
  };

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

  // The nodes `pod` fits: the in-tree filters, then the extender's filter when it serves `pod`.
  // nullopt (the failure recorded) when the cycle ends here.
  std::optional<std::vector<const NodeInfo*>> FeasibleNodes(const json& pod,
                                                            const std::vector<NodeInfo>& infos,
                                                            const ClusterView& view,
                                                            bool use_extender, size_t generation) {
    std::vector<const NodeInfo*> feasible;
    std::map<std::string, int> reasons;
    for (const NodeInfo& n : infos) {
      const FilterVerdict v = RunFilters(pod, n, view);
      if (v.ok()) {
        feasible.push_back(&n);
      } else {
        ++reasons[v.reason];
      }
    }
    if (!feasible.empty() && use_extender && !options.extender.filter_verb.empty()) {
      Count(&SchedulerStats::filter_calls);
      StatusOr<std::vector<const NodeInfo*>> filtered = extender.Filter(pod, feasible, &reasons);
      if (!filtered.ok()) {
        Count(&SchedulerStats::extender_errors);
        if (!options.extender.ignorable) {
          Failed(pod, false, generation, filtered.status().message());
          return std::nullopt;
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
      return std::nullopt;
    }
    return feasible;
  }

  // The extender's scores; kube-scheduler ignores a failed prioritize (the extender adds nothing).
  std::map<std::string, int64_t> Prioritize(const json& pod,
                                            const std::vector<const NodeInfo*>& nodes) {
    Count(&SchedulerStats::prioritize_calls);
    StatusOr<std::map<std::string, int64_t>> scores = extender.Prioritize(pod, nodes);
    if (scores.ok()) return *scores;
    Count(&SchedulerStats::extender_errors);
    Count(&SchedulerStats::ignored_errors);
    Logger("kube-sim")
        ->warn("scheduler extender prioritize failed (ignored) pod={} error={}", Key(pod),
               scores.status().message());
    return {};
  }

  // Scores the feasible nodes (in-tree least-allocated + extender score x weight x 10) and picks
  // the host as selectHost does: highest total, ties broken uniformly at random. Fills `p`.
  const NodeInfo* SelectHost(const json& pod, const Resources& nonzero,
                             const std::vector<const NodeInfo*>& feasible, bool use_extender,
                             Placement& p) {
    p.feasible = static_cast<int>(feasible.size());
    if (feasible.size() == 1) {
      // "When only one node after predicate, just use it" (schedule_one.go): no prioritize.
      if (use_extender) Count(&SchedulerStats::prioritize_skipped);
      return feasible.front();
    }
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
    // Reservoir sampling over the best totals.
    const NodeInfo* chosen = feasible.front();
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
    return chosen;
  }

  // Binds `pod` to `node`: through the extender's bindVerb when it binds for `pod`, else (or when
  // an ignorable extender fails) directly.
  // `client` is the scheduling thread's extender client or the binder's (one HTTP client each).
  Status Bind(ExtenderClient& client, const json& pod, const std::string& node, bool use_extender) {
    if (!use_extender || options.extender.bind_verb.empty()) {
      return server.BindPod(Namespace(pod), Name(pod), Uid(pod), node);
    }
    Count(&SchedulerStats::bind_calls);
    Status bound = client.Bind(pod, node);
    if (bound.ok()) return bound;
    Count(&SchedulerStats::extender_errors);
    // The extender may have bound the pod and failed only to answer (timeout).
    auto now_pod = server.GetObject("pods", Namespace(pod), Name(pod));
    if (now_pod.ok() && Uid(*now_pod) == Uid(pod) &&
        StrAt(*now_pod, {"spec", "nodeName"}) == node) {
      return Status::Ok();
    }
    if (!options.extender.ignorable) return bound;
    Count(&SchedulerStats::ignored_errors);
    return server.BindPod(Namespace(pod), Name(pod), Uid(pod), node);
  }

  // Schedules one pod against `infos` (updated with the binding on success). Returns true when
  // the pod was bound.
  bool ScheduleOne(const json& pod, std::vector<NodeInfo>& infos, const ClusterView& view,
                   size_t generation) {
    Count(&SchedulerStats::cycles);
    const std::string scheduler = StrAt(pod, {"spec", "schedulerName"}, kDefaultSchedulerName);
    const bool use_extender = ServesWithExtender(scheduler) && !options.extender.url_prefix.empty();
    const Resources nonzero = NonZeroRequests(pod);
    std::optional<std::vector<const NodeInfo*>> feasible =
        FeasibleNodes(pod, infos, view, use_extender, generation);
    if (!feasible) return false;
    Placement p;
    p.ns = Namespace(pod);
    p.name = Name(pod);
    p.uid = Uid(pod);
    p.scheduler_name = scheduler;
    p.via_extender = use_extender;
    const NodeInfo* chosen = SelectHost(pod, nonzero, *feasible, use_extender, p);
    p.node = chosen->name;
    if (options.async_binding) {
      // Assume, then bind on the binder thread while the next pods are scheduled.
      Assumed& a = assumed[p.uid];
      a = Assumed{p.node, pod};
      for (NodeInfo& n : infos) {
        if (&n == chosen) n.AddPod(a.pod);
      }
      EnqueueBind(PendingBind{pod, use_extender, generation, clock.Now() + options.bind_latency,
                              std::move(p)});
      return true;
    }
    Status bound = Bind(extender, pod, chosen->name, use_extender);
    if (!bound.ok()) {
      Failed(pod, false, generation, "binding rejected: " + bound.message());
      return false;
    }
    // Assume the binding so the next decision of this pass sees it (kube-scheduler's cache).
    for (NodeInfo& n : infos) {
      if (&n == chosen) n.AddPod(pod);
    }
    Scheduled(pod, std::move(p));
    return true;
  }

  // Books a finished binding of `pod`. Requires run_mu.
  void Scheduled(const json& pod, Placement p) {
    pods.erase(Uid(pod));
    Count(&SchedulerStats::scheduled);
    p.at = clock.Now();
    Logger("kube-sim")
        ->info(
            "scheduled pod pod={} node={} scheduler={} feasible={} extender={} score={} "
            "extender_score={} async={}",
            Key(pod), p.node, p.scheduler_name, p.feasible, p.via_extender,
            p.total.count(p.node) ? p.total[p.node] : 0,
            p.extender.count(p.node) ? p.extender[p.node] : 0, options.async_binding);
    std::lock_guard<std::mutex> lock(stats_mu);
    placements.push_back(std::move(p));
    while (placements.size() > options.history_limit) placements.pop_front();
  }

  void EnqueueBind(PendingBind bind) {
    std::lock_guard<std::mutex> lock(bind_mu);
    bind_queue.push_back(std::move(bind));
    if (!binder.joinable()) {
      bind_stop = false;
      binder = std::thread([this] { BindLoop(); });
    }
    bind_cv.notify_all();
  }

  // The binding cycles, in the order their scheduling cycles ended, each at its due time.
  void BindLoop() {
    std::unique_lock<std::mutex> lock(bind_mu);
    while (!bind_stop) {
      if (bind_queue.empty() || clock.Now() < bind_queue.front().due) {
        // Short real-time naps: the due time is on `clock`, which a test may drive.
        bind_cv.wait_for(lock, Millis(5));
        continue;
      }
      PendingBind b = std::move(bind_queue.front());
      bind_queue.pop_front();
      ++binds_running;
      lock.unlock();
      const Status bound = Bind(bind_extender, b.pod, b.placement.node, b.use_extender);
      {
        std::lock_guard<std::mutex> run_lock(run_mu);
        assumed.erase(b.placement.uid);
        if (bound.ok()) {
          Scheduled(b.pod, std::move(b.placement));
        } else {
          // kube-scheduler forgets the assumed pod and requeues it with backoff.
          Failed(b.pod, false, b.generation, "binding rejected: " + bound.message());
        }
      }
      Kick();
      lock.lock();
      --binds_running;
    }
  }

  void StopBinder() {
    {
      std::lock_guard<std::mutex> lock(bind_mu);
      bind_stop = true;
    }
    bind_cv.notify_all();
    if (binder.joinable()) binder.join();
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
        assumed.erase(Uid(pod));  // the binding is visible: counted from the pod from now on
        if (phase == "Succeeded" || phase == "Failed") continue;
        auto it = index.find(node);
        if (it != index.end()) infos[it->second].AddPod(pod);
        generation = generation * 31 + hash(Uid(pod));
        continue;
      }
      if (IsTerminating(pod) || (phase != "Pending" && !phase.empty())) continue;
      const std::string scheduler = StrAt(pod, {"spec", "schedulerName"}, kDefaultSchedulerName);
      if (!ServesWithExtender(scheduler) && !ServesWithoutExtender(scheduler)) continue;
      pending_uids.insert(Uid(pod));
      if (assumed.count(Uid(pod)) > 0) continue;  // its binding cycle is running
      queue.push_back(&pod);
    }
    // Assumed pods whose binding is still in flight take their node's capacity.
    for (auto it = assumed.begin(); it != assumed.end();) {
      if (pending_uids.count(it->first) == 0) {
        it = assumed.erase(it);  // gone meanwhile
        continue;
      }
      auto n = index.find(it->second.node);
      if (n != index.end()) infos[n->second].AddPod(it->second.pod);
      ++it;
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
    // The objects the volume and inter-pod filters read.
    const std::vector<json> pvcs = server.ListObjects("persistentvolumeclaims");
    const std::vector<json> pvs = server.ListObjects("persistentvolumes");
    const std::vector<json> classes = server.ListObjects("storageclasses");
    const std::vector<json> namespaces = server.ListObjects("namespaces");
    ClusterView view;
    for (const NodeInfo& n : infos) view.nodes.push_back(&n);
    for (const json& o : pvcs) view.pvcs[Namespace(o) + "/" + Name(o)] = &o;
    for (const json& o : pvs) view.pvs[Name(o)] = &o;
    for (const json& o : classes) view.storage_classes[Name(o)] = &o;
    for (const json& o : namespaces) view.namespaces[Name(o)] = &o;
    int bound = 0;
    const SteadyTime now = clock.Now();
    for (const json* pod : queue) {
      if (stopping.load()) break;
      if (!Due(*pod, generation, now)) continue;
      if (ScheduleOne(*pod, infos, view, generation)) ++bound;
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

  std::mutex run_mu;  // serialises RunOnce; guards the state below
  ExtenderClient extender;
  ExtenderClient bind_extender;  // the binder thread's own HTTP client (async_binding)
  std::mt19937_64 rng;
  std::map<std::string, PodState> pods;    // pending pod uid -> queue state
  std::map<std::string, Assumed> assumed;  // pod uid -> node, binding in flight

  mutable std::mutex bind_mu;  // guards the binder state below
  std::condition_variable bind_cv;
  std::deque<PendingBind> bind_queue;
  size_t binds_running = 0;
  bool bind_stop = false;
  std::thread binder;

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
  if (impl_->thread.joinable()) {
    impl_->stopping = true;
    impl_->Kick();
    impl_->thread.join();
  }
  impl_->StopBinder();  // bindings not sent yet are dropped, as when a scheduler exits
}

int SchedulerDriver::RunOnce() { return impl_->RunOnce(); }

size_t SchedulerDriver::PendingBindings() const {
  std::lock_guard<std::mutex> lock(impl_->bind_mu);
  return impl_->bind_queue.size() + impl_->binds_running;
}

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
