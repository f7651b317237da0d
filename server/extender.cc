#include "server/extender.h"

#include <spdlog/spdlog.h>

#include <array>
#include <optional>
#include <utility>

#include "server/logging.h"

namespace kb::server {
namespace {

// Reasons that preemption cannot fix: evicting pods does not take a node out of maintenance,
// make it schedulable or end a steering window. Listing them as unresolvable keeps
// kube-scheduler from preempting pods on such nodes for nothing.
bool Unresolvable(scoring::FilterReason reason) {
  return reason == scoring::FilterReason::kMaintenance ||
         reason == scoring::FilterReason::kUnschedulable ||
         reason == scoring::FilterReason::kSteered;
}

const char* BindingResult(const Status& status) {
  if (status.ok()) return "success";
  switch (status.code()) {
    case StatusCode::kAborted:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return "conflict";
    case StatusCode::kNotFound:
      return "not_found";
    default:
      return "error";
  }
}

nlohmann::json LoadJson(const scoring::NodeLoad& load, WallTime now) {
  nlohmann::json j = {
      {"metricsFresh", load.metrics_fresh},
      {"degraded", load.degraded},
      {"cpuUtil", load.cpu_util},
      {"memUtil", load.mem_util},
      {"cpuFromMetrics", load.cpu_from_metrics},
      {"memFromMetrics", load.mem_from_metrics},
      {"sampledCpu", load.sampled_cpu},
      {"sampledMem", load.sampled_mem},
      {"freshCpu", load.fresh_cpu},
      {"freshMem", load.fresh_mem},
      {"requestedCpuPct", load.requested_cpu_pct},
      {"requestedMemPct", load.requested_mem_pct},
      {"podCount", load.pod_count},
      {"freshPods", load.fresh_pods},
      {"assumedPods", load.assumed_pods},
      {"allocatable",
       {{"cpuMillis", load.allocatable.cpu_millis},
        {"memoryBytes", load.allocatable.memory_bytes},
        {"pods", load.allocatable.pods}}},
      {"requested",
       {{"cpuMillis", load.requested.cpu_millis},
        {"memoryBytes", load.requested.memory_bytes},
        {"pods", load.requested.pods}}},
  };
  if (load.sample_time) {
    j["sampleTime"] = FormatRfc3339Micro(*load.sample_time);
    j["sampleAgeSeconds"] = std::chrono::duration<double>(now - *load.sample_time).count();
  } else {
    j["sampleTime"] = nullptr;
  }
  return j;
}

}  // namespace

Extender::Extender(scoring::LoadModel& model, kube::KubeClient& client,
                   scoring::PolicyConfig policy, ExtenderMetrics& metrics,
                   scoring::Steering* steering, CacheProvider cache)
    : model_(model),
      client_(client),
      policy_(std::move(policy)),
      metrics_(metrics),
      steering_(steering),
      cache_(std::move(cache)) {}

FilterResponse Extender::Filter(const ExtenderArgs& args) const {
  const std::shared_ptr<const scoring::LoadSnapshot> snapshot = model_.Snapshot();
  const scoring::PodDemand demand = scoring::MakeDemand(args.pod, policy_.scoring);
  std::optional<scoring::SteerDecision> steer;
  if (steering_ != nullptr) steer = steering_->Lookup(args.pod);
  const scoring::SteerDecision* steer_ptr = steer ? &*steer : nullptr;

  FilterResponse response;
  response.passed.reserve(args.node_names.size());
  int unknown = 0;
  bool degraded = false;
  std::array<int, 8> failed_by_reason{};  // by FilterReason; counted once per request
  for (size_t i = 0; i < args.node_names.size(); ++i) {
    const std::string& name = args.node_names[i];
    const scoring::NodeLoad* load = snapshot->Find(name);
    if (load == nullptr) {
      ++unknown;
      response.passed.push_back(i);
      continue;
    }
    degraded |= load->degraded;
    scoring::FilterResult verdict = scoring::FilterNode(demand, load, policy_, steer_ptr);
    if (verdict.passed) {
      response.passed.push_back(i);
      continue;
    }
    const size_t reason = static_cast<size_t>(verdict.reason);
    if (reason < failed_by_reason.size()) {
      ++failed_by_reason[reason];
    } else {
      metrics_.Filtered(scoring::FilterReasonName(verdict.reason)).Increment();
    }
    if (Unresolvable(verdict.reason))
      response.failed_unresolvable.emplace_back(name, verdict.message);
    response.failed.emplace_back(name, std::move(verdict.message));
  }
  for (size_t r = 0; r < failed_by_reason.size(); ++r) {
    if (failed_by_reason[r] > 0) {
      metrics_.Filtered(scoring::FilterReasonName(static_cast<scoring::FilterReason>(r)))
          .Increment(failed_by_reason[r]);
    }
  }
  if (unknown > 0) metrics_.unknown_nodes.Increment(unknown);
  if (degraded) metrics_.Degraded(Verb::kFilter).Increment();
  // kube-scheduler does not call /prioritize when one node is left: that node is the pod's likely
  // placement (the in-tree filters ran before ours, so it passed those too).
  if (response.passed.size() == 1 && snapshot->Find(args.node_names[response.passed[0]])) {
    model_.AssumeTentative(args.pod, args.node_names[response.passed[0]]);
  }
  if (Log()->should_log(spdlog::level::debug)) {
    Log()->debug("filter pod={} candidates={} passed={} failed={} unknown={} degraded={}",
                 LogValue(NamespacedName(args.pod.meta)), args.node_names.size(),
                 response.passed.size(), response.failed.size(), unknown, degraded);
  }
  return response;
}

std::vector<HostPriority> Extender::Prioritize(const ExtenderArgs& args) const {
  const std::shared_ptr<const scoring::LoadSnapshot> snapshot = model_.Snapshot();
  const scoring::PodDemand demand = scoring::MakeDemand(args.pod, policy_.scoring);
  std::optional<scoring::SteerDecision> steer;
  if (steering_ != nullptr) steer = steering_->Lookup(args.pod);

  std::vector<scoring::ScoreCandidate> candidates;
  candidates.reserve(args.node_names.size());
  int unknown = 0;
  bool degraded = false;
  for (const std::string& name : args.node_names) {
    const scoring::NodeLoad* load = snapshot->Find(name);
    if (load == nullptr) {
      ++unknown;
    } else {
      degraded |= load->degraded;
    }
    candidates.push_back({name, load});
  }
  std::vector<scoring::ScoreBreakdown> scores =
      scoring::ScoreNodes(demand, candidates, policy_, steer ? &*steer : nullptr);

  std::vector<HostPriority> out;
  out.reserve(args.node_names.size());
  size_t best = args.node_names.size();
  for (size_t i = 0; i < args.node_names.size(); ++i) {
    // Only names from the request are ever returned, in its order.
    const int64_t score = i < scores.size() ? scores[i].score : 0;
    out.push_back({args.node_names[i], score});
    if (candidates[i].load != nullptr &&
        (best == args.node_names.size() || score > out[best].score)) {
      best = i;
    }
  }
  // The binding of this pod may reach /bind only after the next pods were scored (asynchronous
  // binding): count it on its best node now, corrected by /bind or dropped after the window.
  if (best < args.node_names.size()) model_.AssumeTentative(args.pod, args.node_names[best]);
  if (unknown > 0) metrics_.unknown_nodes.Increment(unknown);
  if (degraded) metrics_.Degraded(Verb::kPrioritize).Increment();
  if (Log()->should_log(spdlog::level::debug)) {
    std::string summary;
    for (size_t i = 0; i < out.size() && i < 20; ++i) {
      if (!summary.empty()) summary += ",";
      summary += out[i].host + ":" + std::to_string(out[i].score);
    }
    Log()->debug("prioritize pod={} candidates={} unknown={} degraded={} scores={}{}",
                 LogValue(NamespacedName(args.pod.meta)), out.size(), unknown, degraded,
                 LogValue(summary), out.size() > 20 ? ",..." : "");
  }
  return out;
}

std::string Extender::Bind(const BindingArgs& args) {
  const std::string key = args.pod_namespace + "/" + args.pod_name;
  // A pod being bound is still unbound in the cache, unless the watch was faster than this
  // answer and already shows it on the node (then it is counted from its bucket).
  const std::shared_ptr<const ClusterSnapshot> cache = cache_ ? cache_() : nullptr;
  PodPtr pending, bound;
  if (cache != nullptr) {
    pending = cache->FindPodOn("", args.pod_namespace, args.pod_name, args.pod_uid);
    if (pending == nullptr) {
      bound = cache->FindPodOn(args.node, args.pod_namespace, args.pod_name, args.pod_uid);
    }
  }
  const Status status = client_.BindPod(args.pod_namespace, args.pod_name, args.pod_uid, args.node);
  const char* result = BindingResult(status);
  metrics_.Bindings(result).Increment();
  if (!status.ok()) {
    Log()->warn("binding failed pod={} uid={} node={} result={} error={}", LogValue(key),
                LogValue(args.pod_uid), LogValue(args.node), result, LogValue(status.ToString()));
    return status.message().empty() ? status.ToString() : status.message();
  }
  // Count the binding in the load model now, so the next filter/prioritize sees it even before
  // the watch delivers the bound pod.
  if (pending != nullptr) model_.AssumeBinding(*pending, args.node);
  const PodPtr& pod = pending != nullptr ? pending : bound;
  if (pod != nullptr && steering_ != nullptr) steering_->OnBound(*pod, args.node);
  Log()->info("bound pod pod={} uid={} node={} counted={}", LogValue(key), LogValue(args.pod_uid),
              LogValue(args.node), pod != nullptr);
  return "";
}

nlohmann::json Extender::DebugScores(const ExtenderArgs& args) const {
  const std::shared_ptr<const scoring::LoadSnapshot> snapshot = model_.Snapshot();
  const scoring::PodDemand demand = scoring::MakeDemand(args.pod, policy_.scoring);
  std::optional<scoring::SteerDecision> steer;
  if (steering_ != nullptr) steer = steering_->Lookup(args.pod);
  const scoring::SteerDecision* steer_ptr = steer ? &*steer : nullptr;

  std::vector<scoring::ScoreCandidate> candidates;
  for (const std::string& name : args.node_names) {
    candidates.push_back({name, snapshot->Find(name)});
  }
  const std::vector<scoring::ScoreBreakdown> scores =
      scoring::ScoreNodes(demand, candidates, policy_, steer_ptr);
  const WallTime now = snapshot->built_at();

  nlohmann::json nodes = nlohmann::json::array();
  for (size_t i = 0; i < candidates.size(); ++i) {
    const scoring::NodeLoad* load = candidates[i].load;
    nlohmann::json node = {{"node", args.node_names[i]}, {"known", load != nullptr}};
    if (load == nullptr) {
      node["filter"] = {{"passed", true}, {"reason", "unknown"}, {"message", "not in the cache"}};
    } else {
      const scoring::FilterResult verdict = scoring::FilterNode(demand, load, policy_, steer_ptr);
      node["filter"] = {{"passed", verdict.passed},
                        {"reason", scoring::FilterReasonName(verdict.reason)},
                        {"message", verdict.message}};
      node["load"] = LoadJson(*load, now);
    }
    if (i < scores.size()) {
      const scoring::ScoreBreakdown& b = scores[i];
      node["score"] = b.score;
      node["breakdown"] = {{"raw", b.raw},
                           {"cpuUtilWithPod", b.cpu_util},
                           {"memUtilWithPod", b.mem_util},
                           {"cpuTerm", b.cpu_term},
                           {"memTerm", b.mem_term},
                           {"leastAllocatedTerm", b.least_allocated_term},
                           {"balanceTerm", b.balance_term},
                           {"degraded", b.degraded},
                           {"steeredTarget", b.steered_target},
                           {"steeredAway", b.steered_away}};
    }
    nodes.push_back(std::move(node));
  }
  nlohmann::json steering = nullptr;
  if (steer) steering = {{"avoid", steer->avoid_nodes}, {"prefer", steer->prefer_node}};
  return {
      {"pod", NamespacedName(args.pod.meta)},
      {"demand",
       {{"cpuMillis", demand.request.cpu_millis},
        {"memoryBytes", demand.request.memory_bytes},
        {"estimateCpuMillis", demand.estimate.cpu_millis},
        {"estimateMemoryBytes", demand.estimate.memory_bytes}}},
      {"thresholds", {{"cpu", policy_.cpu_threshold}, {"memory", policy_.memory_threshold}}},
      {"weights",
       {{"cpu", policy_.scoring.cpu_weight},
        {"memory", policy_.scoring.memory_weight},
        {"leastAllocated", policy_.scoring.least_allocated_weight},
        {"balance", policy_.scoring.balance_weight}}},
      {"snapshot",
       {{"sequence", snapshot->sequence()},
        {"builtAt", FormatRfc3339Micro(snapshot->built_at())},
        {"metricsEnabled", snapshot->metrics_enabled()},
        {"metricsSource", snapshot->metrics_source()},
        {"metricsSourceReason", snapshot->metrics_source_reason()},
        {"podUsageSamples", snapshot->pod_usage_count()},
        {"degradedNodes", snapshot->degraded_nodes()},
        {"nodes", snapshot->size()}}},
      {"steering", steering},
      {"nodes", std::move(nodes)},
  };
}

StatusOr<nlohmann::json> Extender::DebugScoresForPod(const std::string& ns, const std::string& name,
                                                     const std::vector<std::string>& nodes) const {
  const std::shared_ptr<const ClusterSnapshot> cache = cache_ ? cache_() : nullptr;
  const PodPtr pod = cache != nullptr ? cache->FindPod(ns, name) : nullptr;
  if (pod == nullptr) return Status::NotFound("pod " + ns + "/" + name + " is not in the cache");
  std::vector<std::string> names = nodes;
  if (names.empty()) {
    for (const auto& load : model_.Snapshot()->nodes()) names.push_back(load->name);
  }
  return DebugScores(ExtenderArgs::ForNames(*pod, std::move(names)));
}

}  // namespace kb::server
