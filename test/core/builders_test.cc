#include "test/testing/builders.h"

#include <catch2/catch.hpp>

namespace kb {
namespace {

using namespace kb::testing;  // NOLINT

TEST_CASE("NodeBuilder defaults and setters", "[core][builders]") {
  Node n = NodeBuilder("n1").Build();
  CHECK(n.meta.name == "n1");
  CHECK(n.meta.uid == "uid-node-n1");
  CHECK(n.ready);
  CHECK(n.allocatable == Resources{4000, 8LL << 30, 110});

  Node m = NodeBuilder("n2")
               .Cpu("8")
               .Memory("16Gi")
               .AllocatableCpu("7500m")
               .Pods(50)
               .Label("zone", "a")
               .Annotation("a", "b")
               .Taint("k", "v", "NoSchedule")
               .Unschedulable()
               .InternalIP("10.0.0.2")
               .Created(TestTime(60))
               .Build();
  CHECK(m.capacity == Resources{8000, 16LL << 30, 50});
  CHECK(m.allocatable == Resources{7500, 16LL << 30, 50});
  CHECK(m.meta.labels.at("zone") == "a");
  CHECK(m.meta.annotations.at("a") == "b");
  REQUIRE(m.taints.size() == 1);
  CHECK(m.taints[0].value == "v");
  CHECK(m.unschedulable);
  CHECK(m.InternalIP() == "10.0.0.2");
  CHECK(m.meta.creation_timestamp == TestTime(60));
  CHECK_FALSE(NodeBuilder("n").Unschedulable().Unschedulable(false).Build().unschedulable);
}

TEST_CASE("PodBuilder builds decodable pods", "[core][builders]") {
  Pod p = PodBuilder("web-1").Build();
  CHECK(p.meta.namespace_ == "default");
  CHECK(p.meta.uid == "uid-default-web-1");
  CHECK(p.phase == "Pending");
  CHECK(p.scheduler_name == "default-scheduler");
  REQUIRE(p.containers.size() == 1);

  Pod q = PodBuilder("shop", "api-1")
              .Node("n1")
              .Cpu("250m")
              .Memory("256Mi")
              .CpuLimit("1")
              .MemoryLimit("512Mi")
              .OwnedByReplicaSet("api-abc")
              .Label("app", "api")
              .Priority(100)
              .PriorityClass("high")
              .EmptyDir("tmp")
              .HostPath("logs")
              .Pvc("data", "api-data")
              .Ready()
              .Scheduled(TestTime(5))
              .StartTime(TestTime(6))
              .Created(TestTime(1))
              .SchedulerName("custom")
              .Build();
  CHECK(q.phase == "Running");
  CHECK(q.node_name == "n1");
  CHECK(q.containers[0].requests == Resources{250, 256LL << 20, 0});
  CHECK(q.containers[0].limits == Resources{1000, 512LL << 20, 0});
  REQUIRE(q.meta.ControllerRef() != nullptr);
  CHECK(q.meta.ControllerRef()->uid == TestUid("shop", "api-abc"));
  CHECK(q.priority == 100);
  CHECK(q.priority_class_name == "high");
  REQUIRE(q.volumes.size() == 3);
  CHECK(q.volumes[2].claim_name == "api-data");
  CHECK(q.IsReady());
  CHECK(q.ScheduledTime() == TestTime(5));
  CHECK(q.start_time == TestTime(6));
  CHECK(q.scheduler_name == "custom");

  CHECK(PodBuilder("p").Phase("Pending").Node("n").Build().phase == "Pending");
  CHECK(PodBuilder("p").Namespace("other").Build().meta.uid == "uid-other-p");
  CHECK(PodBuilder("p").Uid("u").Namespace("other").Build().meta.uid == "u");
  Pod r = PodBuilder("p").Ready().Ready(false).Build();
  CHECK(r.conditions.size() == 1);
  CHECK_FALSE(r.IsReady());
}

TEST_CASE("workload builders keep selector and template labels consistent", "[core][builders]") {
  nlohmann::json d = DeploymentBuilder("ns", "web")
                         .Template(PodBuilder("x").Cpu("100m").Label("tier", "front"))
                         .TemplateAnnotation("a", "b")
                         .Json();
  CHECK(d["spec"]["template"]["metadata"]["labels"]["app"] == "web");
  CHECK(d["spec"]["template"]["metadata"]["labels"]["tier"] == "front");
  CHECK(d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "100m");
  CHECK_FALSE(d["spec"]["template"]["spec"].contains("nodeName"));
  CHECK(d["spec"]["template"]["metadata"]["annotations"]["a"] == "b");

  nlohmann::json rs = ReplicaSetBuilder("ns", "web-1").Selector("app", "web").Json();
  CHECK(rs["spec"]["template"]["metadata"]["labels"]["app"] == "web");
  ReplicaSet built = ReplicaSetBuilder("ns", "web-1").Selector("app", "web").Build();
  CHECK(built.selector.Matches({{"app", "web"}}));

  nlohmann::json list = ListJson("PodList", {PodBuilder("a").Json(), PodBuilder("b").Json()}, "7");
  CHECK(list["items"].size() == 2);
  CHECK(list["metadata"]["resourceVersion"] == "7");

  CHECK_THROWS_AS(DeploymentBuilder("ns", "d").MaxSurge("lots").Build(), std::logic_error);
}

}  // namespace
}  // namespace kb
