// Registry: the kube-apiserver storage strategies on top of ObjectStore: create / update / patch /
// delete with kube's validation (sim/validation.h), defaulting, optimistic concurrency,
// status-subresource rules and graceful pod deletion (sim/registry.cc), plus the pods/binding and
// pods/eviction subresources with PodDisruptionBudgets honoured as
// pkg/registry/core/pod/storage/eviction.go does (sim/registry_subresources.cc). Each call is one
// atomic read-modify-write.
//
// Independent on purpose: an oracle for the rescheduler's eviction and disruption-budget rules.
// The eviction decision mirrors kube-apiserver, not core's ClusterSnapshot::PdbsForPod or the
// rescheduler's budget checks, so a move the real server would refuse is refused here too (only
// the matching of a label requirement is core's, see sim/selectors.h).
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "core/clock.h"
#include "sim/object_store.h"
#include "sim/patch.h"
#include "sim/resources.h"

namespace kb::sim {

// Who writes, which decides how much of the object a write may change.
enum class WriteMode {
  kClient,  // HTTP write of the main resource: status is kept (reset on create), pod specs are
            // immutable except the fields kube allows.
  kStatus,  // HTTP write of the /status subresource: only status changes.
  kDirect,  // tests, scenario loading and the controllers: the object as given.
};

struct DeleteOptions {
  std::optional<int64_t> grace_period_seconds;
  std::string uid_precondition;
  std::string rv_precondition;
  std::string propagation_policy;  // "Orphan" strips dependents' ownerReferences
  bool dry_run = false;
};

class Registry {
 public:
  // `default_grace_seconds`: pod deletion grace period when neither the request nor the pod's
  // spec.terminationGracePeriodSeconds gives one. `seed` drives uids and generated names
  // (0 = random).
  Registry(ObjectStore& store, const Clock& clock, int64_t default_grace_seconds, uint64_t seed);

  ApiResult<nlohmann::json> Get(const ResourceInfo& r, const std::string& ns,
                                const std::string& name) const;
  ApiResult<nlohmann::json> Create(const ResourceInfo& r, const std::string& ns,
                                   nlohmann::json object, WriteMode mode, bool dry_run = false);
  // `name` is the name in the URL (the body's must match; empty body name takes it).
  ApiResult<nlohmann::json> Update(const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, nlohmann::json object, WriteMode mode,
                                   bool dry_run = false);
  ApiResult<nlohmann::json> Patch(const ResourceInfo& r, const std::string& ns,
                                  const std::string& name, PatchType type,
                                  const nlohmann::json& patch, WriteMode mode,
                                  bool dry_run = false);
  // Pods: graceful (deletionTimestamp set, removed later by FinalizePodDeletions) unless the
  // grace period is 0 or the pod is unscheduled / finished; answers the pod. Other resources are
  // removed now; answers a Success Status.
  ApiResult<nlohmann::json> Delete(const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, const DeleteOptions& options);
  // POST pods/{name}/binding. Answers the 201 Success Status.
  ApiResult<nlohmann::json> Bind(const std::string& ns, const std::string& name,
                                 const nlohmann::json& binding, bool dry_run = false);
  // POST pods/{name}/eviction (policy/v1 or v1beta1 Eviction). Answers the 201 Success Status.
  ApiResult<nlohmann::json> Evict(const std::string& ns, const std::string& name,
                                  const nlohmann::json& eviction, bool dry_run = false);

  // Removes terminating pods whose grace period is over. Returns how many were removed.
  int FinalizePodDeletions();

  ObjectStore& store() { return store_; }
  const Clock& clock() const { return clock_; }
  std::string NewUid();
  std::string RandomSuffix(size_t n = 5);  // kube's generateName alphabet

 private:
  using Txn = ObjectStore::Txn;
  ApiResult<nlohmann::json> CreateIn(Txn& txn, const ResourceInfo& r, const std::string& ns,
                                     nlohmann::json object, WriteMode mode, bool dry_run);
  ApiResult<nlohmann::json> UpdateIn(Txn& txn, const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, nlohmann::json object, WriteMode mode,
                                     bool dry_run);
  ApiResult<nlohmann::json> DeleteIn(Txn& txn, const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, const DeleteOptions& options,
                                     const std::string& conflict_resource);
  ApiResult<nlohmann::json> DeletePodIn(Txn& txn, const nlohmann::json& pod,
                                        const DeleteOptions& options);

  ObjectStore& store_;
  const Clock& clock_;
  const int64_t default_grace_seconds_;
  std::mutex mu_;
  std::mt19937_64 rng_;                          // Guarded by mu_.
  std::map<std::string, SteadyTime> deadlines_;  // pod uid -> removal time. Guarded by mu_.
};

}  // namespace kb::sim
