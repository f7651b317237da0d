#include "scoring/steering.h"

#include <algorithm>

namespace kb::scoring {

bool SteerDecision::Avoids(const std::string& node) const {
  return std::binary_search(avoid_nodes.begin(), avoid_nodes.end(), node);
}

Steering::Steering(Clock& clock) : clock_(clock) {}

std::string Steering::Steer(const std::string& owner_uid, const std::string& source_node,
                            const std::string& target_node, SteadyTime until,
                            const std::string& pod) {
  if (owner_uid.empty()) return "";
  const SteadyTime now = clock_.Now();
  SteerEntry e{"", owner_uid, pod, source_node, target_node, until, {}, false};
  e.expires_at = clock_.WallNow() + std::chrono::duration_cast<WallTime::duration>(until - now);
  e.id = owner_uid + "/" + source_node + "/" + FormatRfc3339Micro(e.expires_at);
  const std::string id = e.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PruneLocked(now);
    entries_.emplace(owner_uid, std::move(e));
  }
  if (on_steer_) on_steer_();
  return id;
}

void Steering::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(entries_, [this, &id](const auto& kv) {
    if (kv.second.id != id) return false;
    withdrawn_[id] = kv.second.until;
    return true;
  });
  std::erase_if(remote_, [&id](const auto& kv) { return kv.second.id == id; });
}

void Steering::AppendLocked(const std::multimap<std::string, SteerEntry>& from,
                            const std::string& owner_uid, SteadyTime now,
                            std::vector<const SteerEntry*>* out) const {
  auto [begin, end] = from.equal_range(owner_uid);
  for (auto it = begin; it != end; ++it) {
    if (it->second.until > now) out->push_back(&it->second);
  }
}

std::optional<SteerDecision> Steering::LookupOwner(const std::string& owner_uid) const {
  if (owner_uid.empty()) return std::nullopt;
  const SteadyTime now = clock_.Now();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const SteerEntry*> found;
  AppendLocked(entries_, owner_uid, now, &found);
  AppendLocked(remote_, owner_uid, now, &found);
  if (found.empty()) return std::nullopt;
  // The most recent decision (latest expiry: every entry lives steerWindow) names the target.
  std::stable_sort(found.begin(), found.end(), [](const SteerEntry* a, const SteerEntry* b) {
    return a->expires_at < b->expires_at;
  });
  SteerDecision d;
  for (const SteerEntry* e : found) {
    if (!e->source_node.empty()) d.avoid_nodes.push_back(e->source_node);
    if (!e->target_node.empty()) d.prefer_node = e->target_node;
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
  // Consume one preference for this node: the replacement arrived where it was steered.
  for (auto* map : {&entries_, &remote_}) {
    auto [begin, end] = map->equal_range(owner->uid);
    for (auto it = begin; it != end; ++it) {
      if (it->second.target_node != node) continue;
      it->second.target_node.clear();
      // Also remembered by id: the leader may still publish the target (it learns of this
      // binding only if it served it), and a re-read must not revive it here.
      consumed_[it->second.id] = it->second.until;
      return;
    }
  }
}

void Steering::Clear(const std::string& owner_uid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [begin, end] = entries_.equal_range(owner_uid);
  for (auto it = begin; it != end; ++it) withdrawn_[it->second.id] = it->second.until;
  entries_.erase(owner_uid);
  remote_.erase(owner_uid);
}

void Steering::SetRemote(const std::vector<SteerEntry>& entries) {
  const SteadyTime now = clock_.Now();
  const WallTime wall = clock_.WallNow();
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked(now);
  std::erase_if(consumed_, [now](const auto& kv) { return kv.second <= now; });
  std::erase_if(withdrawn_, [now](const auto& kv) { return kv.second <= now; });
  std::set<std::string> local_ids;
  for (const auto& [owner, e] : entries_) local_ids.insert(e.id);
  remote_.clear();
  for (SteerEntry e : entries) {
    if (e.owner_uid.empty() || e.expires_at <= wall || local_ids.count(e.id) > 0 ||
        withdrawn_.count(e.id) > 0) {
      continue;
    }
    e.until = now + std::chrono::duration_cast<SteadyTime::duration>(e.expires_at - wall);
    e.remote = true;
    if (consumed_.count(e.id) > 0) e.target_node.clear();
    remote_.emplace(e.owner_uid, std::move(e));
  }
}

void Steering::ClearRemote() {
  std::lock_guard<std::mutex> lock(mu_);
  remote_.clear();
}

std::vector<SteerEntry> Steering::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked(clock_.Now());
  std::vector<SteerEntry> out;
  out.reserve(entries_.size() + remote_.size());
  for (const auto& [owner, e] : entries_) out.push_back(e);
  for (const auto& [owner, e] : remote_) out.push_back(e);
  std::stable_sort(out.begin(), out.end(),
                   [](const SteerEntry& a, const SteerEntry& b) { return a.until < b.until; });
  return out;
}

void Steering::PruneLocked(SteadyTime now) const {
  for (auto* map : {&entries_, &remote_}) {
    std::erase_if(*map, [now](const auto& kv) { return kv.second.until <= now; });
  }
}

}  // namespace kb::scoring
