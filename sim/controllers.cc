#include "sim/controllers.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/logging.h"
#include "core/model.h"
#include "sim/controller_kit.h"
#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;

}  // namespace

const ResourceInfo& Served(const char* plural) { return *FindResource(plural); }

void CheckControllerWrite(const ApiResult<json>& r, const char* what, const std::string& name) {
  if (r.ok() || r.error().code == 409 || r.error().code == 404) return;
  Logger("kube-sim")
      ->warn("controller write failed action={} object={} code={} message={}", what, name,
             r.error().code, r.error().message);
}

bool IsControlledBy(const json& obj, const std::string& owner_uid) {
  const json& ref = ControllerRef(obj);
  return ref.is_object() && ref.value("uid", "") == owner_uid;
}

int64_t SpecReplicas(const json& obj) { return IntAt(obj, {"spec", "replicas"}, 1); }

int64_t ScaledIntOrPercent(const json& v, int64_t total, bool round_up) {
  IntOrPercent value;
  if (v.is_number_integer()) {
    value = {false, v.get<int64_t>()};
  } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().back() == '%') {
    value = {true, std::atoll(v.get<std::string>().c_str())};
  }
  return value.Resolve(total, round_up);
}

Controllers::Controllers(Registry& registry, ControllerOptions options)
    : registry_(registry), store_(registry.store()), clock_(registry.clock()), options_(options) {}

void Controllers::Add(std::string name, Loop loop) {
  std::lock_guard<std::mutex> lock(run_mu_);
  extra_loops_.emplace_back(std::move(name), std::move(loop));
}

void Controllers::RunOnce() {
  std::lock_guard<std::mutex> lock(run_mu_);
  FinalizeDeletions();
  if (options_.garbage_collector) CollectGarbage();
  SyncDeployments();
  SyncReplicaSets();
  RunKubelet();
  SyncPdbs();
  SyncDeploymentStatus();
  for (auto& [name, loop] : extra_loops_) loop();
}

void Controllers::FinalizeDeletions() { registry_.FinalizePodDeletions(); }

void Controllers::CollectGarbage() {
  // Lists in dependency order (dependents first) so an owner created meanwhile is seen.
  auto pods = store_.List("pods");
  auto rss = store_.List("replicasets");
  auto deployments = store_.List("deployments");
  std::set<std::string> rs_uids, deployment_uids;
  for (const auto& rs : rss) rs_uids.insert(Uid(*rs));
  for (const auto& d : deployments) deployment_uids.insert(Uid(*d));
  for (const auto& pod : pods) {
    const json& ref = ControllerRef(*pod);
    if (!ref.is_object() || ref.value("kind", "") != "ReplicaSet" || IsTerminating(*pod)) continue;
    if (rs_uids.count(ref.value("uid", ""))) continue;
    DeleteOptions opts;
    opts.uid_precondition = Uid(*pod);
    CheckControllerWrite(registry_.Delete(Served("pods"), Namespace(*pod), Name(*pod), opts),
                         "gc-pod", Name(*pod));
  }
  for (const auto& rs : rss) {
    const json& ref = ControllerRef(*rs);
    if (!ref.is_object() || ref.value("kind", "") != "Deployment") continue;
    if (deployment_uids.count(ref.value("uid", ""))) continue;
    DeleteOptions opts;
    opts.uid_precondition = Uid(*rs);
    CheckControllerWrite(registry_.Delete(Served("replicasets"), Namespace(*rs), Name(*rs), opts),
                         "gc-rs", Name(*rs));
  }
}

}  // namespace kb::sim
