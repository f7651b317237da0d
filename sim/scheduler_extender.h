// The scheduler stand-in's client of one HTTP scheduler extender, as kube-scheduler v1.26's
// HTTPExtender (pkg/scheduler/extender.go) speaks to it: POST <urlPrefix>/<verb> with
// ExtenderArgs (full Nodes, or NodeNames when nodeCacheCapable) and the Go field names of the
// extender v1 types, replies read with Go's case-insensitive key matching, only HTTP 200 counts,
// httpTimeout (default 5s) on every call. Wire format: docs/extender.md.
// Thread-compatible: one caller at a time (the driver's serialised RunOnce).
#pragma once

#include <httplib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/scheduler_driver.h"
#include "sim/scheduler_predicates.h"

namespace kb::sim {

class ExtenderClient {
 public:
  explicit ExtenderClient(ExtenderConfig config);

  // Filter: the surviving nodes, the reasons of the failed ones added to `reasons`
  // (FailedAndUnresolvableNodes over FailedNodes for the same node); an error for a failed call,
  // an Error reply, or a reply naming a node it was not sent.
  StatusOr<std::vector<const NodeInfo*>> Filter(const nlohmann::json& pod,
                                                const std::vector<const NodeInfo*>& nodes,
                                                std::map<std::string, int>* reasons);
  // Prioritize: node -> score (0..10 as returned; hosts that were not candidates are dropped).
  StatusOr<std::map<std::string, int64_t>> Prioritize(const nlohmann::json& pod,
                                                      const std::vector<const NodeInfo*>& nodes);
  // Bind: Ok when the extender bound the pod.
  Status Bind(const nlohmann::json& pod, const std::string& node);

 private:
  struct HttpReply {
    bool ok = false;
    std::string error;  // transport error or non-200 description
    std::string body;
  };
  // POST <urlPrefix>/<verb>, Content-Type: application/json, only a 200 counts (extender.go send).
  HttpReply Post(const std::string& verb, const std::string& body);
  nlohmann::json ExtenderArgs(const nlohmann::json& pod,
                              const std::vector<const NodeInfo*>& nodes) const;

  const ExtenderConfig config_;
  std::string base_;         // "http://host:port"
  std::string path_prefix_;  // "/scheduler" (no trailing slash)
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace kb::sim
