#include "server/cache_health.h"

#include <string>

#include "core/config.h"
#include "core/logging.h"

namespace kb::server {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("main"); }

}  // namespace

CacheHealth::CacheHealth(const kube::ClusterCache& cache, std::chrono::milliseconds max_unsynced,
                         prometheus::Registry& registry)
    : cache_(cache),
      max_unsynced_(max_unsynced),
      synced_(prometheus::BuildGauge()
                  .Name("kube_balancer_cache_synced")
                  .Help("1 when the cluster cache's kind is listed and its watch is up, else 0")
                  .Register(registry)),
      unsynced_seconds_(prometheus::BuildGauge()
                            .Name("kube_balancer_cache_unsynced_seconds")
                            .Help("How long the kind has been out of sync (0 when in sync)")
                            .Register(registry)),
      relists_(prometheus::BuildCounter()
                   .Name("kube_balancer_cache_relists_total")
                   .Help("Relists of a kind after its first list, by reason (expired, "
                         "too_large, rv_backwards)")
                   .Register(registry)) {
  Update();
}

bool CacheHealth::Update() {
  const std::vector<kube::KindHealth> health = cache_.Health();
  std::lock_guard<std::mutex> lock(mu_);
  bool ready = true;
  std::string stale;
  for (const kube::KindHealth& h : health) {
    const std::string kind = kube::ResourceKindName(h.kind);
    const double unsynced = std::chrono::duration<double>(h.unsynced_for).count();
    synced_.Add({{"kind", kind}}).Set(h.in_sync ? 1 : 0);
    unsynced_seconds_.Add({{"kind", kind}}).Set(unsynced);
    auto& counted = counted_[static_cast<size_t>(h.kind)];
    for (size_t r = 0; r < kube::kRelistReasonCount; ++r) {
      auto& c = relists_.Add(
          {{"kind", kind}, {"reason", kube::RelistReasonName(static_cast<kube::RelistReason>(r))}});
      if (h.relists[r] > counted[r]) c.Increment(static_cast<double>(h.relists[r] - counted[r]));
      counted[r] = h.relists[r];
    }
    if (!kube::InSyncWithin(h, max_unsynced_)) {
      ready = false;
      if (!stale.empty()) stale += ",";
      stale += kind;
    }
  }
  if (ready != last_ready_) {
    if (ready) {
      Log()->info("ready: every watched kind is in sync");
    } else if (last_ready_) {
      Log()->warn("not ready: cluster cache out of sync longer than {} kinds={}",
                  FormatDuration(max_unsynced_), stale);
    }
    last_ready_ = ready;
  }
  return ready;
}

}  // namespace kb::server
