#include "scoring/steering.h"

#include <algorithm>

namespace kb::scoring {

bool SteerDecision::Avoids(const std::string& node) const {
  return std::binary_search(avoid_nodes.begin(), avoid_nodes.end(), node);
}

Steering::Steering(Clock& clock) : clock_(clock) {}

void Steering::Steer(const std::string& owner_uid, const std::string& source_node,
                     const std::string& target_node, SteadyTime until) {
  if (owner_uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked(clock_.Now());
  entries_.emplace(owner_uid, SteerEntry{owner_uid, source_node, target_node, until});
}

std::optional<SteerDecision> Steering::LookupOwner(const std::string& owner_uid) const {
  if (owner_uid.empty()) return std::nullopt;
  const SteadyTime now = clock_.Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = entries_.equal_range(owner_uid);
  if (begin == end) return std::nullopt;
  SteerDecision d;
  for (auto it = begin; it != end; ++it) {
    const SteerEntry& e = it->second;
    if (e.until <= now) continue;
    if (!e.source_node.empty()) d.avoid_nodes.push_back(e.source_node);
    // multimap keeps insertion order among equal keys: the last unconsumed target wins.
    if (!e.target_node.empty()) d.prefer_node = e.target_node;
  }
  std::sort(d.avoid_nodes.begin(), d.avoid_nodes.end());
  d.avoid_nodes.erase(std::unique(d.avoid_nodes.begin(), d.avoid_nodes.end()), d.avoid_nodes.end());
  // A target that is also a recent source (A->B, then B->A) is avoided, not preferred.
  if (!d.prefer_node.empty() && d.Avoids(d.prefer_node)) d.prefer_node.clear();
  if (d.avoid_nodes.empty() && d.prefer_node.empty()) return std::nullopt;
  return d;
}

std::optional<SteerDecision> Steering::Lookup(const Pod& pod) const {
  const OwnerReference* owner = pod.meta.ControllerRef();
  if (owner == nullptr) return std::nullopt;
  return LookupOwner(owner->uid);
}

void Steering::OnBound(const Pod& pod, const std::string& node) {
  const OwnerReference* owner = pod.meta.ControllerRef();
  if (owner == nullptr || owner->uid.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = entries_.equal_range(owner->uid);
  // Consume one preference for this node: the replacement arrived where it was steered.
  for (auto it = begin; it != end; ++it) {
    if (it->second.target_node == node) {
      it->second.target_node.clear();
      break;
    }
  }
}

void Steering::Clear(const std::string& owner_uid) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(owner_uid);
}

std::vector<SteerEntry> Steering::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked(clock_.Now());
  std::vector<SteerEntry> out;
  out.reserve(entries_.size());
  for (const auto& [owner, e] : entries_) out.push_back(e);
  std::stable_sort(out.begin(), out.end(),
                   [](const SteerEntry& a, const SteerEntry& b) { return a.until < b.until; });
  return out;
}

void Steering::PruneLocked(SteadyTime now) const {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.until <= now) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kb::scoring
