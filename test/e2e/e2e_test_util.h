// Helpers for the e2e suite: a recording fake extender (an httplib server on 127.0.0.1:0 whose
// verb handlers the test sets), node / pod JSON builders in kube-sim's storage shape, and paths
// of the binaries under test. Test-only.
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_server.h"
#include "test/testing/poll.h"

namespace kb::sim::e2e {

using json = nlohmann::json;
using namespace std::chrono_literals;

// One request the fake extender received.
struct Received {
  std::string path;
  std::string content_type;
  json body;
};

// A scheduler extender stand-in: answers POST <prefix>/<verb> with the handler set for the verb
// (default: filter keeps every node, prioritize scores 0, bind answers {"Error": ""}).
class FakeExtender {
 public:
  using Handler = std::function<void(const json& body, httplib::Response& res)>;

  explicit FakeExtender(std::string prefix = "") : prefix_(std::move(prefix)) {
    server_.set_tcp_nodelay(true);
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body, nullptr, false);
      Handler h;
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back({req.path, req.get_header_value("Content-Type"), body});
        auto it = handlers_.find(req.path);
        if (it != handlers_.end()) h = it->second;
      }
      if (h) {
        h(body, res);
        return;
      }
      if (req.path == prefix_ + "/filter") {
        json names = body["NodeNames"];
        if (names.is_null()) {
          res.set_content(
              json{{"Nodes", body["Nodes"]}, {"NodeNames", nullptr}, {"Error", ""}}.dump(),
              "application/json");
        } else {
          res.set_content(
              json{{"NodeNames", names}, {"FailedNodes", json::object()}, {"Error", ""}}.dump(),
              "application/json");
        }
      } else if (req.path == prefix_ + "/prioritize") {
        res.set_content("[]", "application/json");
      } else {
        res.set_content(R"({"Error":""})", "application/json");
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    kb::testing::PollUntil([&] { return server_.is_running(); }, 5s, 1ms);
  }
  ~FakeExtender() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + prefix_; }
  void On(const std::string& verb, Handler h) {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_[prefix_ + "/" + verb] = std::move(h);
  }
  std::vector<Received> Requests(const std::string& verb = "") const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Received> out;
    for (const Received& r : received_) {
      if (verb.empty() || r.path == prefix_ + "/" + verb) out.push_back(r);
    }
    return out;
  }

 private:
  std::string prefix_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Received> received_;           // Guarded by mu_.
  std::map<std::string, Handler> handlers_;  // Guarded by mu_.
};

inline json Node(const std::string& name, const std::string& cpu = "4",
                 const std::string& memory = "8Gi", const std::string& pods = "110") {
  json r = {{"cpu", cpu}, {"memory", memory}, {"pods", pods}};
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"spec", json::object()},
          {"status",
           {{"capacity", r},
            {"allocatable", r},
            {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

inline json Pod(const std::string& name, const std::string& scheduler = "kube-balancer",
                const std::string& cpu = "100m", const std::string& memory = "64Mi") {
  json spec = {
      {"containers",
       json::array({{{"name", "app"},
                     {"image", "nginx"},
                     {"resources", {{"requests", {{"cpu", cpu}, {"memory", memory}}}}}}})}};
  if (!scheduler.empty()) spec["schedulerName"] = scheduler;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec},
          {"status", {{"phase", "Pending"}}}};
}

// A kube-sim without HTTP or controller threads: the tests drive it directly.
inline ApiServerOptions QuietOptions(const Clock* clock = nullptr) {
  ApiServerOptions o;
  o.run_controllers = false;
  o.random_seed = 7;
  o.clock = clock;
  return o;
}

inline std::string NodeOf(ApiServer& server, const std::string& pod) {
  auto p = server.GetObject("pods", "default", pod);
  REQUIRE(p.ok());
  return (*p)["spec"].value("nodeName", "");
}

}  // namespace kb::sim::e2e
