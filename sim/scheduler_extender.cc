#include "sim/scheduler_extender.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "sim/k8s_json.h"

namespace kb::sim {
namespace {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

constexpr Millis kDefaultExtenderTimeout{5000};

// Wire keys (extender v1 types have no json tags: Go field names).
constexpr const char* kPod = "Pod";
constexpr const char* kNodes = "Nodes";
constexpr const char* kNodeNames = "NodeNames";
constexpr const char* kFailedNodes = "FailedNodes";
constexpr const char* kFailedAndUnresolvable = "FailedAndUnresolvableNodes";
constexpr const char* kError = "Error";
constexpr const char* kHost = "Host";
constexpr const char* kScore = "Score";

// Go's encoding/json matches keys case-insensitively; so does kube-scheduler reading replies.
const json* FindKey(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto exact = obj.find(key);
  if (exact != obj.end()) return &*exact;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() == key.size() && std::equal(k.begin(), k.end(), key.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

ExtenderClient::ExtenderClient(ExtenderConfig config) : config_(std::move(config)) {
  const std::string& url = config_.url_prefix;
  if (url.empty()) return;
  const size_t scheme_end = url.find("://");
  const size_t path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  base_ = path_start == std::string::npos ? url : url.substr(0, path_start);
  path_prefix_ = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path_prefix_.empty() && path_prefix_.back() == '/') path_prefix_.pop_back();
}

ExtenderClient::HttpReply ExtenderClient::Post(const std::string& verb, const std::string& body) {
  HttpReply reply;
  if (!client_) {
    client_ = std::make_unique<httplib::Client>(base_);
    const Millis t =
        config_.http_timeout.count() > 0 ? config_.http_timeout : kDefaultExtenderTimeout;
    client_->set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
    client_->set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
    client_->set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
    client_->set_keep_alive(true);
    client_->set_tcp_nodelay(true);
    client_->enable_server_certificate_verification(false);
  }
  const std::string path = path_prefix_ + "/" + verb;
  httplib::Result res = client_->Post(path, body, "application/json");
  if (!res) {
    reply.error = "failed " + verb + " with extender at URL " + base_ + path + ": " +
                  httplib::to_string(res.error());
    client_.reset();  // a broken connection is not reused
    return reply;
  }
  if (res->status != 200) {
    reply.error = "failed " + verb + " with extender at URL " + base_ + path + ", code " +
                  std::to_string(res->status);
    return reply;
  }
  reply.ok = true;
  reply.body = res->body;
  return reply;
}

json ExtenderClient::ExtenderArgs(const json& pod,
                                  const std::vector<const NodeInfo*>& nodes) const {
  json args = json::object();
  args[kPod] = pod;
  if (config_.node_cache_capable) {
    json names = json::array();
    for (const NodeInfo* n : nodes) names.push_back(n->name);
    args[kNodes] = nullptr;
    args[kNodeNames] = names;
  } else {
    json items = json::array();
    for (const NodeInfo* n : nodes) items.push_back(*n->node);
    args[kNodes] = {{"metadata", json::object()}, {"items", items}};
    args[kNodeNames] = nullptr;
  }
  return args;
}

StatusOr<std::vector<const NodeInfo*>> ExtenderClient::Filter(
    const json& pod, const std::vector<const NodeInfo*>& nodes,
    std::map<std::string, int>* reasons) {
  HttpReply reply = Post(config_.filter_verb, ExtenderArgs(pod, nodes).dump());
  if (!reply.ok) return Status::Unavailable(reply.error);
  json result = json::parse(reply.body, nullptr, false);
  if (result.is_discarded() || !result.is_object()) {
    return Status::InvalidArgument("extender filter: reply is not a JSON object");
  }
  if (const json* err = FindKey(result, kError);
      err && err->is_string() && !err->get<std::string>().empty()) {
    return Status::Unavailable("extender filter: " + err->get<std::string>());
  }
  std::map<std::string, const NodeInfo*> by_name;
  for (const NodeInfo* n : nodes) by_name[n->name] = n;
  std::vector<const NodeInfo*> out;
  const json* names = FindKey(result, kNodeNames);
  const json* full = FindKey(result, kNodes);
  if (config_.node_cache_capable && names && !names->is_null()) {
    if (!names->is_array()) return Status::InvalidArgument("extender filter: bad NodeNames");
    for (const json& name : *names) {
      auto it = name.is_string() ? by_name.find(name.get<std::string>()) : by_name.end();
      if (it == by_name.end()) {
        return Status::InvalidArgument("extender \"" + config_.url_prefix +
                                       "\" claims a filtered node \"" +
                                       (name.is_string() ? name.get<std::string>() : name.dump()) +
                                       "\" which is not found in the input node list");
      }
      out.push_back(it->second);
    }
  } else if (full && full->is_object()) {
    const json* items = FindKey(*full, "items");
    if (items && items->is_array()) {
      for (const json& node : *items) {
        auto it = by_name.find(StrAt(node, {"metadata", "name"}));
        if (it != by_name.end()) out.push_back(it->second);
      }
    }
  }
  // FailedAndUnresolvableNodes takes precedence over FailedNodes for the same node.
  std::set<std::string> counted;
  for (const char* key : {kFailedAndUnresolvable, kFailedNodes}) {
    const json* failed = FindKey(result, key);
    if (!failed || !failed->is_object()) continue;
    for (const auto& [node, reason] : failed->items()) {
      if (!counted.insert(node).second) continue;
      ++(*reasons)[reason.is_string() ? reason.get<std::string>() : reason.dump()];
    }
  }
  return out;
}

StatusOr<std::map<std::string, int64_t>> ExtenderClient::Prioritize(
    const json& pod, const std::vector<const NodeInfo*>& nodes) {
  HttpReply reply = Post(config_.prioritize_verb, ExtenderArgs(pod, nodes).dump());
  if (!reply.ok) return Status::Unavailable(reply.error);
  json result = json::parse(reply.body, nullptr, false);
  if (!result.is_array()) return Status::InvalidArgument("reply is not a JSON array");
  std::map<std::string, int64_t> out;
  std::set<std::string> candidates;
  for (const NodeInfo* n : nodes) candidates.insert(n->name);
  for (const json& hp : result) {
    const json* host = FindKey(hp, kHost);
    const json* score = FindKey(hp, kScore);
    if (!host || !host->is_string() || !score || !score->is_number()) continue;
    if (!candidates.count(host->get<std::string>())) continue;  // not a candidate: ignored
    out[host->get<std::string>()] = score->get<int64_t>();
  }
  return out;
}

Status ExtenderClient::Bind(const json& pod, const std::string& node) {
  json args = {{"PodName", Name(pod)},
               {"PodNamespace", Namespace(pod)},
               {"PodUID", Uid(pod)},
               {"Node", node}};
  HttpReply reply = Post(config_.bind_verb, args.dump());
  if (!reply.ok) return Status::Unavailable(reply.error);
  json result = json::parse(reply.body, nullptr, false);
  if (result.is_discarded()) return Status::InvalidArgument("extender bind: reply is not JSON");
  if (const json* err = FindKey(result, kError);
      err && err->is_string() && !err->get<std::string>().empty()) {
    return Status::Unavailable("extender bind: " + err->get<std::string>());
  }
  return Status::Ok();
}

}  // namespace kb::sim
