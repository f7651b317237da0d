// Helpers of the feasibility table tests: objects are written as API JSON (a builder's Json()
// with fields merged in), decoded by the product's decoders, and checked through ClusterState.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/cluster_snapshot.h"
#include "scoring/feasibility.h"
#include "test/testing/builders.h"

namespace kb::scoring::testutil {

using nlohmann::json;

// `base` with `patch` merged in (RFC 7386 merge patch).
inline json Merge(json base, const json& patch) {
  base.merge_patch(patch);
  return base;
}

inline Pod DecodeOrDie(const json& j) {
  StatusOr<Pod> p = DecodePod(j);
  INFO((p.ok() ? "" : p.status().message()) << " in " << j.dump());
  REQUIRE(p.ok());
  return *p;
}
inline Node DecodeNodeOrDie(const json& j) {
  StatusOr<Node> n = DecodeNode(j);
  INFO((n.ok() ? "" : n.status().message()));
  REQUIRE(n.ok());
  return *n;
}

// A pod "ns/name" with `patch` merged into its JSON.
inline Pod MakePod(const std::string& name, const json& patch = json::object(),
                   const std::string& ns = "default") {
  return DecodeOrDie(Merge(kb::testing::PodBuilder(ns, name).Json(), patch));
}
// A Ready node (cpu 4, memory 8Gi, 110 pods) with `patch` merged into its JSON.
inline Node MakeNode(const std::string& name, const json& patch = json::object()) {
  return DecodeNodeOrDie(Merge(kb::testing::NodeBuilder(name).Json(), patch));
}

// Host ports "PROTO/IP/PORT" as one container's ports (kube-scheduler's test newPod format).
inline json Ports(const std::vector<std::string>& specs) {
  json ports = json::array();
  for (const std::string& s : specs) {
    const size_t a = s.find('/');
    const size_t b = s.find('/', a + 1);
    ports.push_back({{"containerPort", std::stoi(s.substr(b + 1))},
                     {"hostPort", std::stoi(s.substr(b + 1))},
                     {"protocol", s.substr(0, a)},
                     {"hostIP", s.substr(a + 1, b - a - 1)}});
  }
  return {{"spec", {{"containers", {{{"name", "c"}, {"ports", ports}}}}}}};
}

// Labels patch.
inline json Labels(const json& labels) { return {{"metadata", {{"labels", labels}}}}; }

// A pod placed on `node`.
inline Pod On(Pod pod, const std::string& node) {
  pod.node_name = node;
  pod.phase = "Running";
  return pod;
}

// The verdict for `pod` on `node` in a cluster of `objects`.
inline Fit CheckIn(const ClusterObjects& objects, const Pod& pod, const std::string& node,
                   FeatureGates gates = {}) {
  ClusterState state(BuildSnapshot(objects), gates);
  return state.Check(pod, node);
}

}  // namespace kb::scoring::testutil
