// kube-sim list and watch: pagination with continue tokens on a consistent snapshot, selectors,
// watch event streams, bookmarks, 410 Expired (both forms), drops, timeouts and Stop.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "sim/api_server.h"
#include "test/sim/sim_test_util.h"

namespace kb::sim {
namespace {

using testing::json;
using testing::MakePod;
using testing::Sim;
using testing::WatchReader;

ApiServerOptions NoControllers() {
  ApiServerOptions o = testing::FastOptions();
  o.run_controllers = false;
  return o;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::vector<std::string> Names(const json& list) {
  std::vector<std::string> out;
  for (const auto& item : list["items"]) out.push_back(item["metadata"]["name"]);
  return out;
}

TEST_CASE("list pages share one resourceVersion and a consistent snapshot", "[sim]") {
  Sim sim(NoControllers());
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "p%02d", i);
    REQUIRE(
        sim.server()
            .CreateObject("pods", i % 2 ? "ns-b" : "ns-a", MakePod(name, i % 2 ? "ns-b" : "ns-a"))
            .ok());
  }
  auto page1 = sim.Get("/api/v1/pods?limit=10");
  REQUIRE(page1.status == 200);
  CHECK(page1.body["kind"] == "PodList");
  CHECK(page1.body["items"].size() == 10);
  CHECK_FALSE(page1.body["items"][0].contains("kind"));  // list items carry no TypeMeta
  const std::string list_rv = page1.body["metadata"]["resourceVersion"];
  const std::string token1 = page1.body["metadata"]["continue"];
  CHECK(page1.body["metadata"]["remainingItemCount"] == 15);

  // Changes after the first page are invisible to the following pages.
  REQUIRE(sim.server().CreateObject("pods", "ns-b", MakePod("zz-new", "ns-b")).ok());
  REQUIRE(sim.server().DeleteObject("pods", "ns-b", "p21").ok());
  REQUIRE(sim.server()
              .PatchObject("pods", "ns-b", "p23", {{"metadata", {{"labels", {{"x", "y"}}}}}})
              .ok());

  auto page2 = sim.Get("/api/v1/pods?limit=10&continue=" + UrlEncode(token1));
  REQUIRE(page2.status == 200);
  CHECK(page2.body["metadata"]["resourceVersion"] == list_rv);
  auto page3 = sim.Get("/api/v1/pods?limit=10&continue=" +
                       UrlEncode(page2.body["metadata"]["continue"].get<std::string>()));
  REQUIRE(page3.status == 200);
  CHECK(page3.body["metadata"]["resourceVersion"] == list_rv);
  CHECK_FALSE(page3.body["metadata"].contains("continue"));
  std::set<std::string> all;
  for (const auto* page : {&page1, &page2, &page3}) {
    for (const auto& n : Names(page->body)) all.insert(n);
  }
  CHECK(all.size() == 25);
  CHECK(all.count("p21") == 1);
  CHECK(all.count("zz-new") == 0);
  for (const auto& item : page3.body["items"]) {
    if (item["metadata"]["name"] == "p23") CHECK_FALSE(item["metadata"]["labels"].contains("x"));
  }
  // A fresh list sees the changes.
  auto fresh = sim.Get("/api/v1/pods");
  CHECK(fresh.body["items"].size() == 25);
  CHECK(std::stoull(fresh.body["metadata"]["resourceVersion"].get<std::string>()) >
        std::stoull(list_rv));

  // Namespaced list, exact resourceVersion list.
  CHECK(sim.Get("/api/v1/namespaces/ns-a/pods").body["items"].size() == 13);
  auto exact = sim.Get("/api/v1/pods?resourceVersion=" + list_rv + "&resourceVersionMatch=Exact");
  REQUIRE(exact.status == 200);
  CHECK(exact.body["items"].size() == 25);
  auto exact_names = Names(exact.body);
  CHECK(std::count(exact_names.begin(), exact_names.end(), "p21") == 1);
  CHECK(std::count(exact_names.begin(), exact_names.end(), "zz-new") == 0);

  SECTION("continue with resourceVersion is rejected") {
    auto r = sim.Get("/api/v1/pods?limit=10&resourceVersion=1&continue=" + UrlEncode(token1));
    CHECK(r.status == 400);
  }
  SECTION("a garbled continue token is a 400") {
    CHECK(sim.Get("/api/v1/pods?limit=10&continue=bm9wZQ%3D%3D").status == 400);
  }
  SECTION("an expired continue token is a 410 Expired") {
    sim.server().ForgetHistory();
    auto r = sim.Get("/api/v1/pods?limit=10&continue=" + UrlEncode(token1));
    CHECK(r.status == 410);
    CHECK(r.body["reason"] == "Expired");
    CHECK_THAT(r.body["message"].get<std::string>(),
               Catch::StartsWith("The provided continue parameter is too old"));
    auto e = sim.Get("/api/v1/pods?resourceVersion=" + list_rv + "&resourceVersionMatch=Exact");
    CHECK(e.status == 410);
  }
}

TEST_CASE("continue tokens expire after continue_token_max_age resourceVersions", "[sim]") {
  ApiServerOptions o = NoControllers();
  o.continue_token_max_age = 5;
  Sim sim(o);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(sim.server().CreateObject("pods", "default", MakePod("p" + std::to_string(i))).ok());
  }
  auto page1 = sim.Get("/api/v1/pods?limit=2");
  const std::string token = page1.body["metadata"]["continue"];
  for (int i = 0; i < 6; ++i) {
    REQUIRE(sim.server()
                .PatchObject("pods", "default", "p0",
                             {{"metadata", {{"labels", {{"n", std::to_string(i)}}}}}})
                .ok());
  }
  CHECK(sim.Get("/api/v1/pods?limit=2&continue=" + UrlEncode(token)).status == 410);
}

TEST_CASE("label and field selectors filter lists", "[sim]") {
  Sim sim(NoControllers());
  auto& s = sim.server();
  REQUIRE(s.CreateObject("pods", "default",
                         MakePod("a", "default", {{"app", "web"}, {"tier", "1"}}, "n1"))
              .ok());
  REQUIRE(s.CreateObject("pods", "default", MakePod("b", "default", {{"app", "web"}}, "n2")).ok());
  REQUIRE(s.CreateObject("pods", "default", MakePod("c", "default", {{"app", "db"}})).ok());
  REQUIRE(s.CreateObject("nodes", "", testing::MakeNode("n1")).ok());
  auto names = [&](const std::string& query) {
    auto r = sim.Get("/api/v1/pods?" + query);
    REQUIRE(r.status == 200);
    return Names(r.body);
  };
  using V = std::vector<std::string>;
  CHECK(names("labelSelector=" + UrlEncode("app=web")) == V{"a", "b"});
  CHECK(names("labelSelector=" + UrlEncode("app==web,tier")) == V{"a"});
  CHECK(names("labelSelector=" + UrlEncode("app!=web")) == V{"c"});
  CHECK(names("labelSelector=" + UrlEncode("app in (db, cache)")) == V{"c"});
  CHECK(names("labelSelector=" + UrlEncode("app notin (db),!tier")) == V{"b"});
  CHECK(names("fieldSelector=" + UrlEncode("spec.nodeName=n1")) == V{"a"});
  CHECK(names("fieldSelector=" + UrlEncode("spec.nodeName=")) == V{"c"});
  CHECK(names("fieldSelector=" + UrlEncode("spec.nodeName!=,status.phase!=Failed")) == V{"a", "b"});
  CHECK(names("fieldSelector=" + UrlEncode("metadata.name==b")) == V{"b"});
  CHECK(names("labelSelector=app%3Dweb&limit=1") == V{"a"});
  auto bad = sim.Get("/api/v1/pods?fieldSelector=" + UrlEncode("spec.foo=bar"));
  CHECK(bad.status == 400);
  CHECK(bad.body["message"] == "field label not supported: spec.foo");
  CHECK(sim.Get("/api/v1/pods?labelSelector=" + UrlEncode("app in (")).status == 400);
  CHECK(
      Names(sim.Get("/api/v1/nodes?fieldSelector=" + UrlEncode("spec.unschedulable=false")).body) ==
      V{"n1"});
}

TEST_CASE("watch streams ADDED, MODIFIED, DELETED and BOOKMARK events", "[sim]") {
  Sim sim(NoControllers());
  auto list = sim.Get("/api/v1/namespaces/default/pods");
  const std::string rv = list.body["metadata"]["resourceVersion"];
  WatchReader watch(
      sim,
      "/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv);
  REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                 testing::kWaitTimeout));
  CHECK(watch.content_type() == "application/json;stream=watch");
  REQUIRE(sim.Post("/api/v1/namespaces/default/pods", MakePod("w")).status == 201);
  REQUIRE(sim.Post("/api/v1/namespaces/other/pods", MakePod("elsewhere", "other")).status == 201);
  REQUIRE(sim.Patch("/api/v1/namespaces/default/pods/w", {{"metadata", {{"labels", {{"a", "b"}}}}}})
              .status == 200);
  REQUIRE(sim.Delete("/api/v1/namespaces/default/pods/w").status == 200);
  REQUIRE(watch.WaitForEvents(3));
  auto events = watch.Events();
  REQUIRE(events.size() == 3);
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[1]["type"] == "MODIFIED");
  CHECK(events[1]["object"]["metadata"]["labels"]["a"] == "b");
  CHECK(events[2]["type"] == "DELETED");
  CHECK(events[0]["object"]["kind"] == "Pod");
  uint64_t last = 0;
  for (const auto& e : events) {
    uint64_t v = std::stoull(e["object"]["metadata"]["resourceVersion"].get<std::string>());
    CHECK(v > last);
    last = v;
  }
  // Bookmarks carry only kind, apiVersion and metadata.resourceVersion.
  REQUIRE(kb::testing::PollUntil([&] { return watch.Lines().size() > events.size(); },
                                 std::chrono::milliseconds(2000)));
  json bookmark;
  for (const auto& l : watch.Lines()) {
    if (l["type"] == "BOOKMARK") bookmark = l;
  }
  REQUIRE(bookmark.is_object());
  CHECK(bookmark["object"] ==
        json({{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata", {{"resourceVersion", sim.server().CurrentResourceVersion()}}}}));
  CHECK(sim.server().Counts().Get("watch", "pods") == 1);
  CHECK(sim.server().Counts().Get("list", "pods") == 1);
}

TEST_CASE("watch from resourceVersion 0 starts with synthetic ADDED events", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(sim.server().CreateObject("nodes", "", testing::MakeNode("n1")).ok());
  REQUIRE(sim.server().CreateObject("nodes", "", testing::MakeNode("n2")).ok());
  WatchReader watch(sim, "/api/v1/nodes?watch=true&resourceVersion=0");
  REQUIRE(watch.WaitForEvents(2));
  REQUIRE(sim.server().PatchObject("nodes", "", "n1", {{"spec", {{"unschedulable", true}}}}).ok());
  REQUIRE(watch.WaitForEvents(3));
  auto events = watch.Events();
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[0]["object"]["metadata"]["name"] == "n1");
  CHECK(events[1]["type"] == "ADDED");
  CHECK(events[2]["type"] == "MODIFIED");
}

TEST_CASE("a selector watch sees objects enter and leave as ADDED and DELETED", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(
      sim.server().CreateObject("pods", "default", MakePod("p", "default", {{"app", "x"}})).ok());
  WatchReader watch(sim, "/api/v1/pods?watch=1&labelSelector=app%3Dweb&resourceVersion=" +
                             sim.server().CurrentResourceVersion());
  REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                 testing::kWaitTimeout));
  REQUIRE(sim.server()
              .PatchObject("pods", "default", "p", {{"metadata", {{"labels", {{"app", "web"}}}}}})
              .ok());
  REQUIRE(sim.server()
              .PatchObject("pods", "default", "p", {{"metadata", {{"labels", {{"v", "2"}}}}}})
              .ok());
  REQUIRE(sim.server()
              .PatchObject("pods", "default", "p", {{"metadata", {{"labels", {{"app", "db"}}}}}})
              .ok());
  REQUIRE(watch.WaitForEvents(3));
  auto events = watch.Events();
  CHECK(events[0]["type"] == "ADDED");
  CHECK(events[1]["type"] == "MODIFIED");
  CHECK(events[2]["type"] == "DELETED");
  CHECK(events[2]["object"]["metadata"]["labels"]["app"] == "db");
}

TEST_CASE("watch resumes from a resourceVersion inside the history", "[sim]") {
  Sim sim(NoControllers());
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("a")).ok());
  const std::string after_a = sim.server().CurrentResourceVersion();
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("b")).ok());
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("c")).ok());
  WatchReader watch(sim, "/api/v1/pods?watch=1&resourceVersion=" + after_a);
  REQUIRE(watch.WaitForEvents(2));
  auto events = watch.Events();
  CHECK(events[0]["object"]["metadata"]["name"] == "b");
  CHECK(events[1]["object"]["metadata"]["name"] == "c");
}

void MakeHistory(Sim& sim, int n) {
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("churn")).ok());
  for (int i = 0; i < n; ++i) {
    REQUIRE(sim.server()
                .PatchObject("pods", "default", "churn",
                             {{"metadata", {{"labels", {{"i", std::to_string(i)}}}}}})
                .ok());
  }
}

TEST_CASE("a too-old watch resourceVersion gets an in-stream 410 ERROR event by default", "[sim]") {
  ApiServerOptions o = NoControllers();
  o.event_history = 5;
  Sim sim(o);
  MakeHistory(sim, 20);
  WatchReader watch(sim, "/api/v1/pods?watch=1&resourceVersion=2");
  REQUIRE(watch.WaitForEnd());
  CHECK(watch.status() == 200);
  auto lines = watch.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["type"] == "ERROR");
  CHECK(lines[0]["object"] == json::parse(R"j({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"too old resource version: 2 (16)","reason":"Expired",
    "code":410})j"));
  // The history still serves recent resourceVersions.
  WatchReader recent(sim, "/api/v1/pods?watch=1&resourceVersion=16");
  REQUIRE(recent.WaitForEvents(5));
}

TEST_CASE("a too-old watch resourceVersion gets HTTP 410 in kHttp410 mode", "[sim]") {
  ApiServerOptions o = NoControllers();
  o.event_history = 5;
  o.expired_watch_mode = ExpiredWatchMode::kHttp410;
  Sim sim(o);
  MakeHistory(sim, 20);
  auto r = sim.Get("/api/v1/pods?watch=1&resourceVersion=3");
  CHECK(r.status == 410);
  CHECK(r.body["reason"] == "Expired");
  CHECK(r.body["message"] == "too old resource version: 3 (16)");
}

TEST_CASE("kAlternate mode alternates between the two 410 forms, ForgetHistory expires all",
          "[sim]") {
  ApiServerOptions o = NoControllers();
  o.expired_watch_mode = ExpiredWatchMode::kAlternate;
  Sim sim(o);
  MakeHistory(sim, 3);
  const std::string rv = sim.server().CurrentResourceVersion();
  {
    WatchReader ok(sim, "/api/v1/pods?watch=1&resourceVersion=1");
    REQUIRE(ok.WaitForEvents(3));  // within the history: no error
  }
  sim.server().ForgetHistory();
  {
    WatchReader first(sim, "/api/v1/pods?watch=1&resourceVersion=1");
    REQUIRE(first.WaitForEnd());
    CHECK(first.status() == 200);
    REQUIRE(first.Lines().size() == 1);
    CHECK(first.Lines()[0]["object"]["code"] == 410);
  }
  auto second = sim.Get("/api/v1/pods?watch=1&resourceVersion=1");
  CHECK(second.status == 410);
  // The current resourceVersion is still a valid starting point.
  WatchReader current(sim, "/api/v1/pods?watch=1&resourceVersion=" + rv);
  REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                 testing::kWaitTimeout));
  REQUIRE(sim.server().CreateObject("pods", "default", MakePod("after")).ok());
  REQUIRE(current.WaitForEvents(1));
}

TEST_CASE("DropWatches, timeoutSeconds and Stop end watch streams promptly", "[sim]") {
  Sim sim(NoControllers());
  SECTION("clean drop") {
    WatchReader watch(sim, "/api/v1/pods?watch=1");
    REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                   testing::kWaitTimeout));
    sim.server().DropWatches();
    REQUIRE(watch.WaitForEnd());
    CHECK_FALSE(watch.transport_error());
    CHECK(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 0; },
                                 testing::kWaitTimeout));
  }
  SECTION("abrupt drop") {
    WatchReader watch(sim, "/api/v1/pods?watch=1");
    REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                   testing::kWaitTimeout));
    sim.server().DropWatches(/*abrupt=*/true);
    REQUIRE(watch.WaitForEnd());
    CHECK(watch.transport_error());
  }
  SECTION("a client that goes away releases its watch and worker") {
    {
      WatchReader watch(sim, "/api/v1/pods?watch=1");
      REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                     testing::kWaitTimeout));
    }  // the reader's client disconnects; no event is ever written to the stream
    CHECK(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 0; },
                                 std::chrono::milliseconds(2000)));
  }
  SECTION("timeoutSeconds") {
    const auto start = std::chrono::steady_clock::now();
    WatchReader watch(sim, "/api/v1/pods?watch=1&timeoutSeconds=1");
    REQUIRE(watch.WaitForEnd(std::chrono::milliseconds(3000)));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(900));
    CHECK(took < std::chrono::milliseconds(2500));
  }
  SECTION("Stop") {
    WatchReader watch(sim, "/api/v1/pods?watch=1");
    REQUIRE(kb::testing::PollUntil([&] { return sim.server().OpenWatches() == 1; },
                                   testing::kWaitTimeout));
    const auto start = std::chrono::steady_clock::now();
    sim.server().Stop();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
    REQUIRE(watch.WaitForEnd());
  }
}

TEST_CASE("a watcher that resumes after drops reconstructs the store exactly", "[sim]") {
  Sim sim(NoControllers());
  auto& server = sim.server();
  std::mt19937 rng(7);
  std::map<std::string, std::pair<std::string, std::string>> seen;  // name -> (uid, rv)
  std::string last_rv = server.CurrentResourceVersion();
  int created = 0;
  auto random_ops = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto pods = server.ListObjects("pods");
      int op = pods.empty() ? 0 : static_cast<int>(rng() % 3);
      if (op == 0) {
        REQUIRE(
            server.CreateObject("pods", "default", MakePod("p" + std::to_string(created++))).ok());
      } else {
        std::string name = pods[rng() % pods.size()]["metadata"]["name"];
        if (op == 1) {
          REQUIRE(server
                      .PatchObject("pods", "default", name,
                                   {{"metadata", {{"labels", {{"i", std::to_string(i)}}}}}})
                      .ok());
        } else {
          REQUIRE(server.DeleteObject("pods", "default", name).ok());
        }
      }
    }
  };
  for (int round = 0; round < 6; ++round) {
    random_ops(20);  // while disconnected: served from the history on resume
    WatchReader watch(sim,
                      "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" + last_rv);
    random_ops(60);
    const std::string target = server.CurrentResourceVersion();
    REQUIRE(kb::testing::PollUntil(
        [&] {
          auto lines = watch.Lines();
          return !lines.empty() && lines.back()["object"]["metadata"]["resourceVersion"] == target;
        },
        testing::kWaitTimeout));
    server.DropWatches(/*abrupt=*/round % 2 == 1);
    REQUIRE(watch.WaitForEnd());
    for (const auto& e : watch.Lines()) {
      const json& md = e["object"]["metadata"];
      last_rv = md["resourceVersion"];
      if (e["type"] == "BOOKMARK") continue;
      if (e["type"] == "DELETED") {
        seen.erase(md["name"].get<std::string>());
      } else {
        seen[md["name"]] = {md["uid"], md["resourceVersion"]};
      }
    }
  }
  std::map<std::string, std::pair<std::string, std::string>> actual;
  for (const auto& pod : server.ListObjects("pods")) {
    const json& md = pod["metadata"];
    actual[md["name"]] = {md["uid"], md["resourceVersion"]};
  }
  CHECK(seen == actual);
  CHECK(created > 50);
}

TEST_CASE("watch parameter errors", "[sim]") {
  Sim sim(NoControllers());
  CHECK(sim.Get("/api/v1/pods?watch=1&resourceVersion=abc").status == 400);
  CHECK(sim.Get("/api/v1/pods?watch=1&timeoutSeconds=-1").status == 400);
  CHECK(sim.Get("/api/v1/pods?watch=1&labelSelector=a%20in%20(").status == 400);
}

}  // namespace
}  // namespace kb::sim
