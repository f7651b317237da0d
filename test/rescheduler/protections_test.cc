// Every protection, each as a case: it blocks with its flag on, and (where it has a flag) lets the
// pod through with the flag off.
#include "rescheduler/protections.h"

#include <catch2/catch.hpp>
#include <functional>

#include "test/rescheduler/resched_test_util.h"

namespace kb::resched {
namespace {

using kb::testing::DeploymentBuilder;
using kb::testing::PodBuilder;
using kb::testing::ReplicaSetBuilder;
using test::OurPod;
using test::RsPodBuilder;

struct PodCase {
  const char* name;
  Protection want;
  std::function<Pod()> pod;
  std::function<void(ReschedulerConfig&)> turn_off;  // disables the rule
};

const std::vector<PodCase>& PodCases() {
  static const std::vector<PodCase> cases = {
      {"terminating pods", Protection::kTerminating,
       [] { return RsPodBuilder("p", "rs", "n1").Deleting(test::TestTime(5)).Build(); },
       [](ReschedulerConfig& c) { c.protections.terminating_pods = false; }},
      {"mirror pods", Protection::kMirror,
       [] { return RsPodBuilder("p", "rs", "n1").Mirror().Build(); },
       [](ReschedulerConfig& c) { c.protections.mirror_pods = false; }},
      {"static pods owned by their Node", Protection::kMirror,
       [] { return OurPod("p").Node("n1").Owner("v1", "Node", "n1").Ready().Build(); },
       [](ReschedulerConfig& c) {
         c.protections.mirror_pods = false;
         c.protections.bare_pods = false;  // a Node owner is a controller: not bare either way
       }},
      {"DaemonSet pods", Protection::kDaemonSet,
       [] { return OurPod("p").Node("n1").OwnedByDaemonSet("ds").Ready().Build(); },
       [](ReschedulerConfig& c) { c.protections.daemon_set_pods = false; }},
      {"system-critical priority", Protection::kSystemCritical,
       [] { return RsPodBuilder("p", "rs", "n1").Priority(2000000000).Build(); },
       [](ReschedulerConfig& c) { c.protections.system_critical_pods = false; }},
      {"excluded namespaces", Protection::kExcludedNamespace,
       [] { return OurPod("kube-system", "p").Node("n1").OwnedByReplicaSet("rs").Ready().Build(); },
       [](ReschedulerConfig& c) { c.excluded_namespaces.clear(); }},
      {"opted out by label", Protection::kOptedOut,
       [] { return RsPodBuilder("p", "rs", "n1").Label(kReschedulingLabel, "disabled").Build(); },
       [](ReschedulerConfig& c) { c.protections.opt_out_label = false; }},
      {"emptyDir volumes", Protection::kLocalStorage,
       [] { return RsPodBuilder("p", "rs", "n1").EmptyDir("cache").Build(); },
       [](ReschedulerConfig& c) { c.protections.local_storage_pods = false; }},
      {"hostPath volumes", Protection::kLocalStorage,
       [] { return RsPodBuilder("p", "rs", "n1").HostPath("logs").Build(); },
       [](ReschedulerConfig& c) { c.protections.local_storage_pods = false; }},
      {"bare pods", Protection::kBarePod, [] { return OurPod("p").Node("n1").Ready().Build(); },
       [](ReschedulerConfig& c) { c.protections.bare_pods = false; }},
      {"not-Ready pods", Protection::kNotReady,
       [] { return RsPodBuilder("p", "rs", "n1").Ready(false).Build(); },
       [](ReschedulerConfig& c) { c.protections.not_ready_pods = false; }},
      {"Pending pods", Protection::kNotReady,
       [] { return OurPod("p").OwnedByReplicaSet("rs").Build(); },
       [](ReschedulerConfig& c) { c.protections.not_ready_pods = false; }},
  };
  return cases;
}

TEST_CASE("every pod-level protection blocks, and its switch turns it off",
          "[rescheduler][protections]") {
  for (const PodCase& tc : PodCases()) {
    DYNAMIC_SECTION(tc.name) {
      const Pod pod = tc.pod();
      ReschedulerConfig config;
      ProtectionResult r = CheckPod(pod, config);
      CHECK(r.protection == tc.want);
      CHECK_FALSE(r.reason.empty());
      tc.turn_off(config);
      CHECK(CheckPod(pod, config).ok());
    }
  }
}

TEST_CASE("a plain ReplicaSet pod that is Running and Ready is movable",
          "[rescheduler][protections]") {
  CHECK(CheckPod(RsPodBuilder("p", "rs", "n1").Build(), ReschedulerConfig{}).ok());
  CHECK(CheckPod(RsPodBuilder("p", "rs", "n1").Pvc("data", "claim").Build(), ReschedulerConfig{})
            .ok());
}

TEST_CASE("an opted-in bare pod is movable and the opt-out label wins over it",
          "[rescheduler][protections]") {
  const Pod in = OurPod("p").Node("n1").Label(kReschedulingLabel, "enabled").Ready().Build();
  CHECK(CheckPod(in, ReschedulerConfig{}).ok());
  CHECK(OptedIn(in));
  CHECK(IsBarePod(in));
  CHECK(WorkloadKey(in) == "pod:default/p");
  const Pod rs = RsPodBuilder("q", "rs", "n1").Build();
  CHECK(WorkloadKey(rs) == kb::testing::TestUid("default", "rs"));
}

TEST_CASE("a workload with an unavailable replica in the cache is protected",
          "[rescheduler][protections]") {
  test::TestCluster c;
  c.Add(test::MakeNode("n1"));
  c.Add(RsPodBuilder("a", "rs", "n1").Build());
  c.Add(RsPodBuilder("b", "rs", "n1").Build());
  SECTION("all Ready: movable") { CHECK(CheckMovable(c.pods[0], *c.Cache(), {}).ok()); }
  SECTION("a sibling not Ready") {
    c.pods[1] = RsPodBuilder("b", "rs", "n1").Ready(false).Build();
    ProtectionResult r = CheckMovable(c.pods[0], *c.Cache(), {});
    CHECK(r.protection == Protection::kUnavailableWorkload);
    ReschedulerConfig off;
    off.protections.unavailable_workloads = false;
    CHECK(CheckMovable(c.pods[0], *c.Cache(), off).ok());
  }
  SECTION("a sibling Pending (a replacement not scheduled yet)") {
    c.Add(OurPod("c").OwnedByReplicaSet("rs").Label("app", "rs").Build());
    CHECK(CheckMovable(c.pods[0], *c.Cache(), {}).protection == Protection::kUnavailableWorkload);
  }
  SECTION("a sibling terminating") {
    c.pods[1] = RsPodBuilder("b", "rs", "n1").Deleting(test::TestTime(1)).Build();
    CHECK(CheckMovable(c.pods[0], *c.Cache(), {}).protection == Protection::kUnavailableWorkload);
  }
}

WorkloadInfo RsWorkload(int replicas, int ready) {
  WorkloadInfo w;
  w.owner_kind = "ReplicaSet";
  w.owner_name = "web-1";
  w.owner_pods = replicas;
  w.replica_set = ReplicaSetBuilder("default", "web-1")
                      .Replicas(replicas)
                      .StatusReplicas(replicas)
                      .ReadyReplicas(ready)
                      .AvailableReplicas(ready)
                      .Build();
  return w;
}

DeploymentBuilder Healthy(int replicas) {
  DeploymentBuilder d("default", "web");
  d.Replicas(replicas)
      .StatusReplicas(replicas)
      .UpdatedReplicas(replicas)
      .ReadyReplicas(replicas)
      .AvailableReplicas(replicas);
  return d;
}

TEST_CASE("workload rules: mid-rollout and unavailable replicas", "[rescheduler][protections]") {
  ReschedulerConfig config;
  WorkloadInfo w = RsWorkload(3, 3);
  SECTION("healthy Deployment") {
    w.deployment = Healthy(3).Build();
    CHECK(CheckWorkload(w, config).ok());
  }
  SECTION("generation not yet observed") {
    w.deployment = Healthy(3).Generation(2).ObservedGeneration(1).Build();
    CHECK(CheckWorkload(w, config).reason.find("mid-rollout") != std::string::npos);
  }
  SECTION("rollout in progress: not all replicas updated") {
    w.deployment = Healthy(3).UpdatedReplicas(1).Build();
    CHECK(CheckWorkload(w, config).protection == Protection::kUnavailableWorkload);
  }
  SECTION("surplus old pods still running") {
    w.deployment = Healthy(3).StatusReplicas(4).Build();
    CHECK(CheckWorkload(w, config).protection == Protection::kUnavailableWorkload);
  }
  SECTION("unavailable replicas") {
    w.deployment = Healthy(3).AvailableReplicas(2).UnavailableReplicas(1).Build();
    CHECK(CheckWorkload(w, config).reason.find("unavailable") != std::string::npos);
    config.protections.unavailable_workloads = false;
    CHECK(CheckWorkload(w, config).ok());
  }
  SECTION("ReplicaSet without a Deployment") {
    CHECK(CheckWorkload(RsWorkload(3, 3), config).ok());
    CHECK(CheckWorkload(RsWorkload(3, 2), config).protection == Protection::kUnavailableWorkload);
  }
}

TEST_CASE("single-replica workloads: surge restart only when the Deployment surges",
          "[rescheduler][protections]") {
  ReschedulerConfig config;
  WorkloadInfo w = RsWorkload(1, 1);
  SECTION("RollingUpdate with the default 25% maxSurge surges (rounded up to 1)") {
    w.deployment = Healthy(1).Build();
    CHECK(DecideSingleReplica(w, config).action == SingleReplicaAction::kSurgeRestart);
  }
  SECTION("Recreate") {
    w.deployment = Healthy(1).Recreate().Build();
    SingleReplicaDecision d = DecideSingleReplica(w, config);
    CHECK(d.action == SingleReplicaAction::kSkip);
    CHECK(d.reason.find("Recreate") != std::string::npos);
  }
  SECTION("maxSurge 0") {
    w.deployment = Healthy(1).MaxSurge(0).MaxUnavailable(1).Build();
    CHECK(DecideSingleReplica(w, config).reason.find("maxSurge 0") != std::string::npos);
  }
  SECTION("maxSurge 0%") {
    w.deployment = Healthy(1).MaxSurge("0%").MaxUnavailable(1).Build();
    CHECK(DecideSingleReplica(w, config).action == SingleReplicaAction::kSkip);
  }
  SECTION("paused") {
    w.deployment = Healthy(1).Paused().Build();
    CHECK(DecideSingleReplica(w, config).reason.find("paused") != std::string::npos);
  }
  SECTION("two replicas are evicted normally") {
    w.deployment = Healthy(2).Build();
    CHECK(DecideSingleReplica(w, config).action == SingleReplicaAction::kNotSingle);
  }
  SECTION("a lone ReplicaSet cannot surge") {
    CHECK(DecideSingleReplica(w, config).action == SingleReplicaAction::kSkip);
  }
  SECTION("a StatefulSet with one pod") {
    WorkloadInfo s;
    s.owner_kind = "StatefulSet";
    s.owner_name = "db";
    s.owner_pods = 1;
    CHECK(DecideSingleReplica(s, config).action == SingleReplicaAction::kSkip);
    s.owner_pods = 3;
    CHECK(DecideSingleReplica(s, config).action == SingleReplicaAction::kNotSingle);
  }
  SECTION("switched off: evicted like any other") {
    config.protections.single_replica_workloads = false;
    w.deployment = Healthy(1).Recreate().Build();
    CHECK(DecideSingleReplica(w, config).action == SingleReplicaAction::kNotSingle);
  }
}

TEST_CASE("protection names are stable", "[rescheduler][protections]") {
  CHECK(std::string(ProtectionName(Protection::kDaemonSet)) == "daemonset");
  CHECK(std::string(ProtectionName(Protection::kLocalStorage)) == "local_storage");
  CHECK(std::string(ProtectionName(Protection::kUnavailableWorkload)) == "unavailable_workload");
}

TEST_CASE("scope: only pods of schedulerNames, in the namespaces, matching podSelector move",
          "[rescheduler][protections][scope]") {
  ReschedulerConfig config;
  const Pod ours = RsPodBuilder("p", "rs", "n1").Label("tier", "web").Build();
  CHECK(CheckPod(ours, config).ok());

  SECTION("another scheduler's pod never moves (an empty name is default-scheduler)") {
    const Pod other = RsPodBuilder("p", "rs", "n1").SchedulerName("default-scheduler").Build();
    CHECK(CheckPod(other, config).protection == Protection::kOtherScheduler);
    CHECK(CheckPod(RsPodBuilder("p", "rs", "n1").SchedulerName("").Build(), config).protection ==
          Protection::kOtherScheduler);
    config.scheduler_names = {"kube-balancer", "default-scheduler"};
    CHECK(CheckPod(other, config).ok());
    CHECK(IsScopeRule(Protection::kOtherScheduler));
  }
  SECTION("namespaces.include and exclude (exclude is excludedNamespaces)") {
    config.namespaces.include = {"apps"};
    CHECK(CheckPod(ours, config).protection == Protection::kOutOfScope);
    const Pod in_apps = OurPod("apps", "q").Node("n1").OwnedByReplicaSet("rs").Ready().Build();
    CHECK(CheckPod(in_apps, config).ok());
    config.namespaces.exclude = {"apps"};
    CHECK(CheckPod(in_apps, config).protection == Protection::kExcludedNamespace);
  }
  SECTION("podSelector with matchLabels and matchExpressions") {
    config.pod_selector.match_labels = {{"tier", "web"}};
    CHECK(CheckPod(ours, config).ok());
    config.pod_selector.match_expressions = {{"pinned", "DoesNotExist", {}}};
    CHECK(CheckPod(ours, config).ok());
    const Pod pinned =
        RsPodBuilder("p", "rs", "n1").Label("tier", "web").Label("pinned", "y").Build();
    CHECK(CheckPod(pinned, config).protection == Protection::kOutOfScope);
    config.pod_selector.match_labels = {{"tier", "db"}};
    CHECK(CheckPod(ours, config).protection == Protection::kOutOfScope);
  }
  SECTION("protections.pvcPods") {
    const Pod pvc = RsPodBuilder("p", "rs", "n1").Pvc("data", "claim").Build();
    CHECK(CheckPod(pvc, config).ok());
    config.protections.pvc_pods = true;
    CHECK(CheckPod(pvc, config).protection == Protection::kPvc);
  }
}

TEST_CASE("scope: priorityThreshold by value or by PriorityClass name, fail closed",
          "[rescheduler][protections][scope]") {
  ReschedulerConfig config;
  const Pod low = RsPodBuilder("p", "rs", "n1").Priority(100).Build();
  const Pod high = RsPodBuilder("q", "rs", "n1").Priority(5000).Build();
  config.priority_threshold.value = 1000;
  CHECK(CheckPod(low, config).ok());
  CHECK(CheckPod(high, config).protection == Protection::kOutOfScope);

  config.priority_threshold = {};
  config.priority_threshold.name = "batch";
  ClusterObjects objects;
  PriorityClass batch;
  batch.meta.name = "batch";
  batch.value = 5000;
  objects.priority_classes.push_back(batch);
  auto snapshot = BuildSnapshot(objects);
  CHECK(CheckPod(low, config, snapshot.get()).ok());
  CHECK(CheckPod(high, config, snapshot.get()).protection == Protection::kOutOfScope);
  // A class that does not exist (or no snapshot): nothing moves.
  auto empty = BuildSnapshot(ClusterObjects{});
  ProtectionResult r = CheckPod(low, config, empty.get());
  CHECK(r.protection == Protection::kOutOfScope);
  CHECK_THAT(r.reason, Catch::Contains("not found"));
  CHECK(CheckPod(low, config).protection == Protection::kOutOfScope);
}

}  // namespace
}  // namespace kb::resched
