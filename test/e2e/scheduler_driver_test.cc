// The scheduler driver against a recording fake extender: the exact kube-scheduler wire format
// (names / full-Nodes mode, headers, bind args), which verbs run when, score arithmetic,
// ignorable errors, in-tree feasibility, tie-breaking and backoff.
#include "sim/scheduler_driver.h"

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "sim/api_server.h"
#include "test/e2e/e2e_test_util.h"
#include "test/testing/poll.h"

namespace kb::sim::e2e {
namespace {

struct Cluster {
  explicit Cluster(const Clock* clock = nullptr) : server(QuietOptions(clock)) {}
  void AddNode(json node) { REQUIRE(server.CreateObject("nodes", "", std::move(node)).ok()); }
  void AddPod(json pod) { REQUIRE(server.CreateObject("pods", "default", std::move(pod)).ok()); }
  ApiServer server;
};

SchedulerDriverOptions WithExtender(const std::string& url, bool cache_capable = true) {
  SchedulerDriverOptions o;
  o.extender.url_prefix = url;
  o.extender.node_cache_capable = cache_capable;
  o.extender.weight = 5;
  o.extender.http_timeout = 2s;
  return o;
}

TEST_CASE("names mode sends the kube-scheduler filter and prioritize wire format",
          "[e2e][driver]") {
  FakeExtender ext("/scheduler");
  Cluster c;
  c.AddNode(Node("n1"));
  c.AddNode(Node("n2"));
  c.AddPod(Pod("web"));
  SchedulerDriver driver(c.server, WithExtender(ext.url() + "/"), SystemClock::Instance());
  REQUIRE(driver.RunOnce() == 1);

  const auto filter = ext.Requests("filter");
  REQUIRE(filter.size() == 1);
  CHECK(filter[0].path == "/scheduler/filter");  // trailing '/' of urlPrefix trimmed
  CHECK(filter[0].content_type == "application/json");
  const json& body = filter[0].body;
  CHECK(body.size() == 3);
  CHECK(body["Nodes"].is_null());
  CHECK(body["NodeNames"] == json::array({"n1", "n2"}));
  // "Pod" is the full stored pod object.
  auto stored = c.server.ListObjects("pods");
  CHECK(body["Pod"]["metadata"]["uid"] == stored[0]["metadata"]["uid"]);
  CHECK(body["Pod"]["metadata"]["resourceVersion"].is_string());
  CHECK(body["Pod"]["spec"]["containers"] == stored[0]["spec"]["containers"]);

  const auto prioritize = ext.Requests("prioritize");
  REQUIRE(prioritize.size() == 1);
  CHECK(prioritize[0].body == body);    // same ExtenderArgs as filter
  CHECK(ext.Requests("bind").empty());  // no bindVerb: the driver binds
  CHECK_FALSE(NodeOf(c.server, "web").empty());
}

TEST_CASE("full mode sends Node objects and reads the surviving Nodes back", "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  c.AddNode(Node("n1"));
  c.AddNode(Node("n2"));
  c.AddPod(Pod("web"));
  ext.On("filter", [](const json& body, httplib::Response& res) {
    json keep = {{"metadata", json::object()}, {"items", json::array({body["Nodes"]["items"][1]})}};
    // Lower-case keys: kube-scheduler decodes replies case-insensitively.
    res.set_content(json{{"nodes", keep}, {"failedNodes", {{"n1", "too hot"}}}}.dump(),
                    "application/json");
  });
  SchedulerDriver driver(c.server, WithExtender(ext.url(), false), SystemClock::Instance());
  REQUIRE(driver.RunOnce() == 1);
  const json body = ext.Requests("filter").at(0).body;
  CHECK(body["NodeNames"].is_null());
  CHECK(body["Nodes"]["metadata"] == json::object());
  REQUIRE(body["Nodes"]["items"].size() == 2);
  CHECK(body["Nodes"]["items"][0] == c.server.ListObjects("nodes")[0]);
  CHECK(NodeOf(c.server, "web") == "n2");
  // One node left after filter: prioritize is not called.
  CHECK(ext.Requests("prioritize").empty());
  CHECK(driver.Stats().prioritize_skipped == 1);
}

TEST_CASE("prioritize is skipped when only one node is feasible", "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  c.AddNode(Node("big", "8"));
  c.AddNode(Node("small", "1"));
  c.AddPod(Pod("fat", "kube-balancer", "2"));
  SchedulerDriver driver(c.server, WithExtender(ext.url()), SystemClock::Instance());
  REQUIRE(driver.RunOnce() == 1);
  CHECK(NodeOf(c.server, "fat") == "big");
  REQUIRE(ext.Requests("filter").size() == 1);
  CHECK(ext.Requests("filter")[0].body["NodeNames"] == json::array({"big"}));
  CHECK(ext.Requests("prioritize").empty());
}

TEST_CASE("final score is least-allocated plus extender score times weight times 10",
          "[e2e][driver]") {
  // n1 is emptier (higher least-allocated score); the extender prefers n2.
  auto run = [](int64_t weight, int64_t ext_score) {
    FakeExtender ext;
    Cluster c;
    c.AddNode(Node("n1", "4", "8Gi"));
    c.AddNode(Node("n2", "4", "8Gi"));
    json busy = Pod("busy", "default-scheduler", "2", "4Gi");
    busy["spec"]["nodeName"] = "n2";
    busy["status"]["phase"] = "Running";
    c.AddPod(busy);
    c.AddPod(Pod("web"));
    ext.On("prioritize", [ext_score](const json&, httplib::Response& res) {
      res.set_content(json::array({{{"Host", "n1"}, {"Score", 0}},
                                   {{"Host", "n2"}, {"Score", ext_score}},
                                   {{"Host", "not-a-candidate"}, {"Score", 10}}})
                          .dump(),
                      "application/json");
    });
    SchedulerDriverOptions o = WithExtender(ext.url());
    o.extender.weight = weight;
    SchedulerDriver driver(c.server, o, SystemClock::Instance());
    REQUIRE(driver.RunOnce() == 1);
    auto placements = driver.Placements();
    REQUIRE(placements.size() == 1);
    return placements[0];
  };
  // Least-allocated: n1 (100m+64Mi of 4 cpu / 8Gi) = (97 + 99) / 2 = 98;
  // n2 (2.1 cpu / 4Gi+64Mi) = (47 + 49) / 2 = 48.
  Placement p = run(1, 3);
  CHECK(p.in_tree.at("n1") == 98);
  CHECK(p.in_tree.at("n2") == 48);
  CHECK(p.total.at("n1") == 98);
  CHECK(p.total.at("n2") == 48 + 3 * 1 * 10);
  CHECK(p.total.count("not-a-candidate") == 0);
  CHECK(p.node == "n1");
  p = run(2, 3);  // 48 + 60 = 108 > 98
  CHECK(p.total.at("n2") == 108);
  CHECK(p.node == "n2");
}

TEST_CASE("a filter error fails the cycle unless the extender is ignorable", "[e2e][driver]") {
  FakeExtender ext;
  ext.On("filter", [](const json&, httplib::Response& res) {
    res.status = 500;
    res.set_content("boom", "text/plain");
  });
  for (bool ignorable : {false, true}) {
    DYNAMIC_SECTION("ignorable " << ignorable) {
      Cluster c;
      c.AddNode(Node("n1"));
      c.AddNode(Node("n2"));
      c.AddPod(Pod("web"));
      SchedulerDriverOptions o = WithExtender(ext.url());
      o.extender.ignorable = ignorable;
      SchedulerDriver driver(c.server, o, SystemClock::Instance());
      CHECK(driver.RunOnce() == (ignorable ? 1 : 0));
      CHECK(NodeOf(c.server, "web").empty() == !ignorable);
      CHECK(driver.Stats().extender_errors == 1);
      CHECK(driver.Stats().errors == (ignorable ? 0u : 1u));
    }
  }
}

TEST_CASE("filter error texts and unknown node names fail the cycle", "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  c.AddNode(Node("n1"));
  c.AddNode(Node("n2"));
  c.AddPod(Pod("web"));
  SECTION("Error field") {
    ext.On("filter", [](const json&, httplib::Response& res) {
      res.set_content(R"({"NodeNames":["n1"],"Error":"metrics unavailable"})", "application/json");
    });
  }
  SECTION("a node that was not sent") {
    ext.On("filter", [](const json&, httplib::Response& res) {
      res.set_content(R"({"NodeNames":["n1","ghost"],"Error":""})", "application/json");
    });
  }
  SECTION("neither NodeNames nor Nodes: every node filtered out") {
    ext.On("filter", [](const json&, httplib::Response& res) {
      res.set_content(R"({"Error":""})", "application/json");
    });
  }
  SchedulerDriver driver(c.server, WithExtender(ext.url()), SystemClock::Instance());
  CHECK(driver.RunOnce() == 0);
  CHECK(NodeOf(c.server, "web").empty());
}

TEST_CASE("prioritize errors are ignored and the in-tree score decides", "[e2e][driver]") {
  FakeExtender ext;
  ext.On("prioritize", [](const json&, httplib::Response& res) {
    res.status = 503;
    res.set_content("", "text/plain");
  });
  Cluster c;
  c.AddNode(Node("n1", "2"));
  c.AddNode(Node("n2", "8"));
  c.AddPod(Pod("web"));
  SchedulerDriver driver(c.server, WithExtender(ext.url()), SystemClock::Instance());
  REQUIRE(driver.RunOnce() == 1);
  CHECK(NodeOf(c.server, "web") == "n2");
  CHECK(driver.Stats().ignored_errors == 1);
}

TEST_CASE("bindVerb binds through the extender with the binding args", "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  c.AddNode(Node("n1"));
  c.AddPod(Pod("web"));
  ext.On("bind", [&c](const json& body, httplib::Response& res) {
    Status st =
        c.server.BindPod(body["PodNamespace"], body["PodName"], body["PodUID"], body["Node"]);
    res.set_content(json{{"Error", st.ok() ? "" : st.message()}}.dump(), "application/json");
  });
  SchedulerDriverOptions o = WithExtender(ext.url());
  o.extender.bind_verb = "bind";
  SchedulerDriver driver(c.server, o, SystemClock::Instance());
  REQUIRE(driver.RunOnce() == 1);
  const auto bind = ext.Requests("bind");
  REQUIRE(bind.size() == 1);
  const std::string uid = c.server.ListObjects("pods")[0]["metadata"]["uid"];
  CHECK(bind[0].body ==
        json{{"PodName", "web"}, {"PodNamespace", "default"}, {"PodUID", uid}, {"Node", "n1"}});
  CHECK(NodeOf(c.server, "web") == "n1");

  SECTION("a bind error leaves the pod pending for a retry") {
    c.AddPod(Pod("api"));
    ext.On("bind", [](const json&, httplib::Response& res) {
      res.set_content(R"({"Error":"conflict"})", "application/json");
    });
    CHECK(driver.RunOnce() == 0);
    CHECK(NodeOf(c.server, "api").empty());
    CHECK(driver.Stats().errors == 1);
  }
}

TEST_CASE("default-scheduler pods are placed without the extender and others are ignored",
          "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  c.AddNode(Node("n1"));
  c.AddPod(Pod("baseline", ""));  // empty schedulerName = default-scheduler
  c.AddPod(Pod("explicit", "default-scheduler"));
  c.AddPod(Pod("foreign", "someone-else"));
  SchedulerDriver driver(c.server, WithExtender(ext.url()), SystemClock::Instance());
  CHECK(driver.RunOnce() == 2);
  CHECK(ext.Requests().empty());
  CHECK(NodeOf(c.server, "baseline") == "n1");
  CHECK(NodeOf(c.server, "explicit") == "n1");
  CHECK(NodeOf(c.server, "foreign").empty());
  for (const Placement& p : driver.Placements()) CHECK_FALSE(p.via_extender);
}

TEST_CASE("in-tree feasibility follows kube-scheduler's filters", "[e2e][driver]") {
  struct Case {
    const char* name;
    std::function<void(json& node)> node;
    std::function<void(json& pod)> pod;
    bool fits;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"fits", [](json&) {}, [](json&) {}, true, ""},
      {"too much cpu", [](json&) {},
       [](json& p) { p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "5"; }, false,
       "1 Insufficient cpu"},
      {"too much memory", [](json&) {},
       [](json& p) { p["spec"]["containers"][0]["resources"]["requests"]["memory"] = "9Gi"; },
       false, "1 Insufficient memory"},
      {"pod count", [](json& n) { n["status"]["allocatable"]["pods"] = "0"; }, [](json&) {}, false,
       "1 Too many pods"},
      {"nodeSelector", [](json&) {},
       [](json& p) {
         p["spec"]["nodeSelector"] = {{"disk", "ssd"}};
       },
       false, "1 node(s) didn't match Pod's node affinity/selector"},
      {"nodeSelector matches", [](json& n) { n["metadata"]["labels"]["disk"] = "ssd"; },
       [](json& p) {
         p["spec"]["nodeSelector"] = {{"disk", "ssd"}};
       },
       true, ""},
      {"required affinity", [](json& n) { n["metadata"]["labels"]["zone"] = "a"; },
       [](json& p) {
         p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
          ["nodeSelectorTerms"] = json::array(
              {{{"matchExpressions",
                 json::array({{{"key", "zone"}, {"operator", "In"}, {"values", {"b"}}}})}},
               {{"matchFields",
                 json::array(
                     {{{"key", "metadata.name"}, {"operator", "NotIn"}, {"values", {"n1"}}}})}}});
       },
       false, "1 node(s) didn't match Pod's node affinity/selector"},
      {"required affinity, second term matches",
       [](json& n) { n["metadata"]["labels"]["zone"] = "a"; },
       [](json& p) {
         p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
          ["nodeSelectorTerms"] = json::array(
              {{{"matchExpressions",
                 json::array({{{"key", "zone"}, {"operator", "In"}, {"values", {"b"}}}})}},
               {{"matchExpressions", json::array({{{"key", "zone"}, {"operator", "Exists"}}})}}});
       },
       true, ""},
      {"NoSchedule taint",
       [](json& n) {
         n["spec"]["taints"] =
             json::array({{{"key", "gpu"}, {"value", "true"}, {"effect", "NoSchedule"}}});
       },
       [](json&) {}, false, "1 node(s) had untolerated taint {gpu: true}"},
      {"tolerated taint",
       [](json& n) {
         n["spec"]["taints"] =
             json::array({{{"key", "gpu"}, {"value", "true"}, {"effect", "NoExecute"}}});
       },
       [](json& p) {
         p["spec"]["tolerations"] = json::array({{{"key", "gpu"}, {"operator", "Exists"}}});
       },
       true, ""},
      {"PreferNoSchedule is not a filter",
       [](json& n) {
         n["spec"]["taints"] = json::array({{{"key", "x"}, {"effect", "PreferNoSchedule"}}});
       },
       [](json&) {}, true, ""},
      {"unschedulable", [](json& n) { n["spec"]["unschedulable"] = true; }, [](json&) {}, false,
       "1 node(s) were unschedulable"},
      {"unschedulable tolerated", [](json& n) { n["spec"]["unschedulable"] = true; },
       [](json& p) {
         p["spec"]["tolerations"] = json::array({{{"key", "node.kubernetes.io/unschedulable"},
                                                  {"operator", "Exists"},
                                                  {"effect", "NoSchedule"}}});
       },
       true, ""},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      Cluster c;
      json node = Node("n1");
      tc.node(node);
      c.AddNode(node);
      json pod = Pod("web", "default-scheduler");
      tc.pod(pod);
      c.AddPod(pod);
      SchedulerDriver driver(c.server, SchedulerDriverOptions{}, SystemClock::Instance());
      CHECK(driver.RunOnce() == (tc.fits ? 1 : 0));
      auto stored = c.server.GetObject("pods", "default", "web");
      REQUIRE(stored.ok());
      if (tc.fits) {
        CHECK((*stored)["spec"]["nodeName"] == "n1");
      } else {
        json cond;
        for (const json& cnd : (*stored)["status"]["conditions"]) {
          if (cnd["type"] == "PodScheduled") cond = cnd;
        }
        CHECK(cond["status"] == "False");
        CHECK(cond["reason"] == "Unschedulable");
        CHECK(cond["message"] == std::string("0/1 nodes are available: ") + tc.reason + ".");
      }
    }
  }
}

TEST_CASE("each decision sees the previous bindings of the pass", "[e2e][driver]") {
  Cluster c;
  c.AddNode(Node("n1", "1"));
  c.AddNode(Node("n2", "1"));
  for (int i = 0; i < 4; ++i) c.AddPod(Pod("p" + std::to_string(i), "default-scheduler", "400m"));
  SchedulerDriver driver(c.server, SchedulerDriverOptions{}, SystemClock::Instance());
  CHECK(driver.RunOnce() == 4);
  std::map<std::string, int> per_node;
  for (int i = 0; i < 4; ++i) ++per_node[NodeOf(c.server, "p" + std::to_string(i))];
  CHECK(per_node == std::map<std::string, int>{{"n1", 2}, {"n2", 2}});
  c.AddPod(Pod("p4", "default-scheduler", "400m"));  // 3 x 400m fits nowhere
  CHECK(driver.RunOnce() == 0);
  CHECK(driver.Stats().unschedulable == 1);
}

TEST_CASE("asynchronous binding: the next pods are scored before the previous bind",
          "[e2e][driver]") {
  FakeExtender ext;
  FakeClock clock;
  Cluster c(&clock);
  c.AddNode(Node("n1"));
  c.AddNode(Node("n2"));
  for (int i = 0; i < 3; ++i) c.AddPod(Pod("p" + std::to_string(i)));
  std::vector<std::string> order;  // verbs in arrival order
  std::mutex order_mu;
  auto record = [&](const std::string& verb) {
    std::lock_guard<std::mutex> lock(order_mu);
    order.push_back(verb);
  };
  ext.On("prioritize", [&](const json& body, httplib::Response& res) {
    record("prioritize");
    json out = json::array();
    for (const json& n : body["NodeNames"]) out.push_back({{"Host", n}, {"Score", 5}});
    res.set_content(out.dump(), "application/json");
  });
  ext.On("bind", [&](const json& body, httplib::Response& res) {
    record("bind");
    Status st =
        c.server.BindPod(body["PodNamespace"], body["PodName"], body["PodUID"], body["Node"]);
    res.set_content(json{{"Error", st.ok() ? "" : st.message()}}.dump(), "application/json");
  });
  SchedulerDriverOptions o = WithExtender(ext.url());
  o.extender.bind_verb = "bind";
  o.bind_latency = 200ms;
  o.async_binding = true;
  SchedulerDriver driver(c.server, o, clock);

  // One pass: three scheduling cycles, no binding yet (each waits bindLatency on the clock).
  CHECK(driver.RunOnce() == 3);
  CHECK(ext.Requests("prioritize").size() == 3);
  CHECK(ext.Requests("bind").empty());
  CHECK(driver.PendingBindings() == 3);
  for (int i = 0; i < 3; ++i) CHECK(NodeOf(c.server, "p" + std::to_string(i)).empty());
  // The assumed pods are not scheduled again while their bindings are in flight.
  CHECK(driver.RunOnce() == 0);
  CHECK(ext.Requests("prioritize").size() == 3);

  clock.Advance(200ms);
  REQUIRE(kb::testing::PollUntil([&] { return driver.PendingBindings() == 0; }));
  CHECK(ext.Requests("bind").size() == 3);
  for (int i = 0; i < 3; ++i) CHECK_FALSE(NodeOf(c.server, "p" + std::to_string(i)).empty());
  CHECK(driver.Stats().scheduled == 3);
  {
    std::lock_guard<std::mutex> lock(order_mu);
    CHECK(order == std::vector<std::string>{"prioritize", "prioritize", "prioritize", "bind",
                                            "bind", "bind"});
  }
  // The assumed pods took capacity in the driver's cache: 3 x 100m spread over equal nodes by
  // least-allocated, never all on one.
  std::map<std::string, int> per_node;
  for (int i = 0; i < 3; ++i) ++per_node[NodeOf(c.server, "p" + std::to_string(i))];
  CHECK(per_node.size() == 2);

  SECTION("a failed binding forgets the assumption and backs the pod off") {
    c.AddPod(Pod("late"));
    ext.On("bind", [](const json&, httplib::Response& res) {
      res.set_content(R"({"Error":"conflict"})", "application/json");
    });
    CHECK(driver.RunOnce() == 1);
    clock.Advance(200ms);
    REQUIRE(kb::testing::PollUntil([&] { return driver.PendingBindings() == 0; }));
    CHECK(NodeOf(c.server, "late").empty());
    CHECK(driver.Stats().errors == 1);
    clock.Advance(1s);             // initialBackoff
    CHECK(driver.RunOnce() == 1);  // scheduled again
  }
}

TEST_CASE("default-scheduler pods ignore the maintenance label, extender pods do not",
          "[e2e][driver]") {
  FakeExtender ext;
  Cluster c;
  json maint = Node("maint");
  maint["metadata"]["labels"]["scheduler.alpha.kubernetes.io/maintenance"] = "true";
  c.AddNode(maint);
  c.AddPod(Pod("stock", "default-scheduler"));
  c.AddPod(Pod("ours"));
  // kube-balancer's filter rejects the node in maintenance.
  ext.On("filter", [](const json& body, httplib::Response& res) {
    json failed = json::object();
    for (const json& n : body["NodeNames"]) failed[n.get<std::string>()] = "maintenance";
    res.set_content(json{{"NodeNames", json::array()}, {"FailedNodes", failed}}.dump(),
                    "application/json");
  });
  SchedulerDriver driver(c.server, WithExtender(ext.url()), SystemClock::Instance());
  CHECK(driver.RunOnce() == 1);
  CHECK(NodeOf(c.server, "stock") == "maint");
  CHECK(NodeOf(c.server, "ours").empty());
}

TEST_CASE("ties are broken by the seeded random generator", "[e2e][driver]") {
  auto run = [](uint64_t seed) {
    Cluster c;
    for (int n = 1; n <= 3; ++n) c.AddNode(Node("n" + std::to_string(n), "1000", "1000Gi"));
    for (int i = 0; i < 30; ++i) {
      c.AddPod(Pod("p" + std::to_string(100 + i), "default-scheduler", "10m", "1Mi"));
    }
    SchedulerDriverOptions o;
    o.seed = seed;
    SchedulerDriver driver(c.server, o, SystemClock::Instance());
    REQUIRE(driver.RunOnce() == 30);
    std::vector<std::string> nodes;
    for (int i = 0; i < 30; ++i) nodes.push_back(NodeOf(c.server, "p" + std::to_string(100 + i)));
    return nodes;
  };
  const auto a = run(1);
  CHECK(a == run(1));  // deterministic for a seed
  CHECK(a != run(2));
  std::map<std::string, int> count;
  for (const auto& n : a) ++count[n];
  CHECK(count.size() == 3);  // every tie is a fair draw, not always the first node
}

TEST_CASE("failed pods back off and unschedulable pods wait for a cluster change",
          "[e2e][driver]") {
  FakeClock clock;
  FakeExtender ext;
  ext.On("filter", [](const json&, httplib::Response& res) { res.status = 500; });
  Cluster c(&clock);
  c.AddNode(Node("n1", "1"));
  c.AddPod(Pod("web"));
  SchedulerDriverOptions o = WithExtender(ext.url());
  o.initial_backoff = 1s;
  o.max_backoff = 4s;
  SchedulerDriver driver(c.server, o, clock);
  driver.RunOnce();
  CHECK(driver.Stats().cycles == 1);
  driver.RunOnce();  // still backing off
  CHECK(driver.Stats().cycles == 1);
  clock.Advance(1s);
  driver.RunOnce();
  CHECK(driver.Stats().cycles == 2);
  clock.Advance(1s);  // second backoff is 2s
  driver.RunOnce();
  CHECK(driver.Stats().cycles == 2);
  clock.Advance(1s);
  driver.RunOnce();
  CHECK(driver.Stats().cycles == 3);

  // Unschedulable: retried only after backoff AND a cluster change.
  c.AddPod(Pod("fat", "default-scheduler", "2"));
  driver.RunOnce();
  const uint64_t cycles = driver.Stats().cycles;
  CHECK(driver.Stats().unschedulable == 1);
  clock.Advance(5s);
  driver.RunOnce();  // web retries (error backoff), fat waits for a change
  CHECK(driver.Stats().unschedulable == 1);
  c.AddNode(Node("n2", "4"));
  clock.Advance(5s);
  driver.RunOnce();
  CHECK(driver.Stats().cycles > cycles);
  CHECK(NodeOf(c.server, "fat") == "n2");
}

TEST_CASE("scheduler section of a scenario configures the driver", "[e2e][driver]") {
  SchedulerDriverOptions o;
  REQUIRE(ApplySchedulerSection(json::parse(R"({
    "schedulerNames": ["a", "b"], "defaultSchedulerNames": "base", "seed": 9,
    "initialBackoff": "500ms", "maxBackoff": "3s",
    "extender": {"urlPrefix": "http://127.0.0.1:1/x", "filterVerb": "f", "prioritizeVerb": "p",
                 "bindVerb": "b", "weight": 7, "nodeCacheCapable": true, "ignorable": true,
                 "httpTimeout": "2s"}})"),
                                &o)
              .ok());
  CHECK(o.scheduler_names == std::vector<std::string>{"a", "b"});
  CHECK(o.default_scheduler_names == std::vector<std::string>{"base"});
  CHECK(o.seed == 9);
  CHECK(o.initial_backoff == 500ms);
  CHECK(o.max_backoff == 3s);
  CHECK(o.extender.url_prefix == "http://127.0.0.1:1/x");
  CHECK(o.extender.filter_verb == "f");
  CHECK(o.extender.prioritize_verb == "p");
  CHECK(o.extender.bind_verb == "b");
  CHECK(o.extender.weight == 7);
  CHECK(o.extender.node_cache_capable);
  CHECK(o.extender.ignorable);
  CHECK(o.extender.http_timeout == 2s);
  CHECK_FALSE(o.async_binding);
  REQUIRE(ApplySchedulerSection(json::parse(R"({"bindLatency": "150ms"})"), &o).ok());
  CHECK(o.async_binding);  // a latency implies asynchronous binding
  CHECK(o.bind_latency == 150ms);
  REQUIRE(ApplySchedulerSection(json::parse(R"({"asyncBinding": false})"), &o).ok());
  CHECK_FALSE(o.async_binding);
  CHECK(ApplySchedulerSection(json::parse(R"({"extender": {"wieght": 1}})"), &o).message() ==
        "scheduler: unknown key \"extender.wieght\"");
  CHECK(ApplySchedulerSection(json::parse(R"({"extender": {"weight": 0}})"), &o).message() ==
        "scheduler: extender.weight: must be a positive integer");
  CHECK(ApplySchedulerSection(json::parse(R"({"extender": {"httpTimeout": "soon"}})"), &o)
            .message() == "scheduler: extender.httpTimeout: \"soon\" is not a duration like 5s");
}

}  // namespace
}  // namespace kb::sim::e2e
