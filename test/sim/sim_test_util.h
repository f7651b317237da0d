// Helpers for kube-sim tests: a started ApiServer plus an authenticated httplib client, JSON
// request shortcuts, the wait timeout, and a background watch reader. Test-only.
#pragma once

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sim/api_server.h"
#include "test/testing/poll.h"

namespace kb::sim::testing {

using json = nlohmann::json;
using namespace std::chrono_literals;

// How long the kube-sim tests wait (kb::testing::PollUntil) for the server's asynchronous effects.
inline constexpr std::chrono::milliseconds kWaitTimeout{3000};

struct Reply {
  int status = 0;
  json body;
  httplib::Headers headers;
  std::string raw;
};

inline ApiServerOptions FastOptions() {
  ApiServerOptions o;
  o.controller_period = std::chrono::milliseconds(5);
  o.pod_ready_delay = std::chrono::milliseconds(20);
  o.bookmark_interval = std::chrono::milliseconds(100);
  o.random_seed = 42;
  o.worker_threads = 8;
  return o;
}

// A started kube-sim and a client authenticated with its token. The client is destroyed before
// the server (member order), so no idle keep-alive connection delays Stop().
class Sim {
 public:
  explicit Sim(ApiServerOptions options = FastOptions()) : server_(std::move(options)) {
    auto st = server_.Start();
    REQUIRE(st.ok());
    client_ = NewClient();
  }

  ApiServer& server() { return server_; }
  std::unique_ptr<httplib::Client> NewClient(bool auth = true) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_.port());
    if (auth && !server_.token().empty()) c->set_bearer_token_auth(server_.token().c_str());
    c->set_read_timeout(std::chrono::seconds(10));
    c->set_connection_timeout(std::chrono::seconds(2));
    return c;
  }

  static Reply ToReply(const httplib::Result& r) {
    Reply out;
    REQUIRE(r);  // transport succeeded
    out.status = r->status;
    out.raw = r->body;
    out.headers = r->headers;
    out.body = json::parse(r->body, nullptr, false);
    return out;
  }
  Reply Get(const std::string& path) { return ToReply(client_->Get(path.c_str())); }
  Reply Post(const std::string& path, const json& body) {
    return ToReply(client_->Post(path.c_str(), body.dump(), "application/json"));
  }
  Reply PostRaw(const std::string& path, const std::string& body) {
    return ToReply(client_->Post(path.c_str(), body, "application/json"));
  }
  Reply Put(const std::string& path, const json& body) {
    return ToReply(client_->Put(path.c_str(), body.dump(), "application/json"));
  }
  Reply Patch(const std::string& path, const json& body,
              const std::string& type = "application/merge-patch+json") {
    return ToReply(client_->Patch(path.c_str(), body.dump(), type.c_str()));
  }
  Reply Delete(const std::string& path, const json& body = nullptr) {
    if (body.is_null()) return ToReply(client_->Delete(path.c_str()));
    return ToReply(client_->Delete(path.c_str(), body.dump(), "application/json"));
  }

 private:
  ApiServer server_;
  std::unique_ptr<httplib::Client> client_;
};

inline json MakePod(const std::string& name, const std::string& ns = "default",
                    const json& labels = json::object(), const std::string& node = "") {
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
      {"spec",
       {{"containers",
         json::array({{{"name", "app"},
                       {"image", "registry.k8s.io/pause:3.9"},
                       {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}}}}}})}}}};
  if (!node.empty()) pod["spec"]["nodeName"] = node;
  return pod;
}

inline json MakeNode(const std::string& name, const std::string& cpu = "4",
                     const std::string& memory = "8Gi", const json& labels = json::object()) {
  json resources = {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}};
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"status",
           {{"capacity", resources},
            {"allocatable", resources},
            {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
}

inline json MakeDeployment(const std::string& name, int replicas,
                           const std::string& ns = "default") {
  json labels = {{"app", name}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "app"},
                               {"image", "nginx:1.25"},
                               {"resources", {{"requests", {{"cpu", "100m"}}}}}}})}}}}}}}};
}

inline json MakePdb(const std::string& name, const json& match_labels, const json& min_available,
                    const std::string& ns = "default") {
  return {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"spec", {{"selector", {{"matchLabels", match_labels}}}, {"minAvailable", min_available}}}};
}

// Reads a watch stream on its own thread and collects the parsed JSON lines.
class WatchReader {
 public:
  WatchReader(Sim& sim, const std::string& path) : client_(sim.NewClient()) {
    thread_ = std::thread([this, path] {
      auto r = client_->Get(
          path.c_str(), httplib::Headers{},
          [this](const httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mu_);
            status_ = res.status;
            content_type_ = res.get_header_value("Content-Type");
            return true;
          },
          [this](const char* data, size_t len) {
            std::lock_guard<std::mutex> lock(mu_);
            buffer_.append(data, len);
            size_t nl;
            while ((nl = buffer_.find('\n')) != std::string::npos) {
              lines_.push_back(json::parse(buffer_.substr(0, nl), nullptr, false));
              buffer_.erase(0, nl + 1);
            }
            return !stop_.load();
          });
      std::lock_guard<std::mutex> lock(mu_);
      if (!r) {
        error_ = true;
      } else if (status_ == 0) {
        status_ = r->status;
      }
      // With a content receiver the body of an error reply arrives there, unterminated.
      if (status_ != 200) error_body_ = json::parse(buffer_ + (r ? r->body : ""), nullptr, false);
      ended_ = true;
    });
  }
  ~WatchReader() {
    stop_ = true;
    client_->stop();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<json> Lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  // Lines whose type is not BOOKMARK.
  std::vector<json> Events() {
    std::vector<json> out;
    for (auto& l : Lines()) {
      if (l.value("type", "") != "BOOKMARK") out.push_back(l);
    }
    return out;
  }
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = kWaitTimeout) {
    return kb::testing::PollUntil([&] { return Events().size() >= n; }, timeout);
  }
  bool WaitForEnd(std::chrono::milliseconds timeout = kWaitTimeout) {
    return kb::testing::PollUntil(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          return ended_;
        },
        timeout);
  }
  int status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
  }
  bool transport_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  json error_body() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_body_;
  }

 private:
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string buffer_;        // Guarded by mu_.
  std::vector<json> lines_;   // Guarded by mu_.
  int status_ = 0;            // Guarded by mu_.
  std::string content_type_;  // Guarded by mu_.
  bool ended_ = false;        // Guarded by mu_.
  bool error_ = false;        // Guarded by mu_.
  json error_body_;           // Guarded by mu_.
};

}  // namespace kb::sim::testing
