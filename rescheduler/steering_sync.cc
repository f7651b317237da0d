#include "rescheduler/steering_sync.h"

#include <algorithm>
#include <utility>

#include "rescheduler/logging.h"

namespace kb::resched {
namespace {

using nlohmann::json;

constexpr char kEntriesKey[] = "entries.json";

StatusOr<std::string> StringField(const json& e, const char* key, size_t index, bool required) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) {
    if (required) {
      return Status::InvalidArgument("entry " + std::to_string(index) + ": missing \"" + key +
                                     "\"");
    }
    return std::string();
  }
  if (!it->is_string()) {
    return Status::InvalidArgument("entry " + std::to_string(index) + ": \"" + key +
                                   "\" is not a string");
  }
  return it->get<std::string>();
}

}  // namespace

SteeringSyncOptions SteeringSyncOptions::From(const ReschedulerConfig& config,
                                              std::string identity) {
  SteeringSyncOptions o;
  o.ns = config.leader_election.lease_namespace;
  o.name = config.steering_config_map;
  o.identity = std::move(identity);
  o.interval = config.steering_sync_interval;
  o.max_entries = config.steering_max_entries;
  o.settle = config.steering_sync_interval;
  return o;
}

json EncodeSteerEntries(const std::vector<scoring::SteerEntry>& entries) {
  json out = json::array();
  for (const scoring::SteerEntry& e : entries) {
    out.push_back({{"id", e.id},
                   {"owner", e.owner_uid},
                   {"pod", e.pod},
                   {"source", e.source_node},
                   {"target", e.target_node},
                   {"expires", FormatRfc3339Micro(e.expires_at)}});
  }
  return out;
}

StatusOr<std::vector<scoring::SteerEntry>> DecodeSteerEntries(const json& config_map) {
  std::vector<scoring::SteerEntry> out;
  if (!config_map.is_object()) return Status::InvalidArgument("not a JSON object");
  auto data = config_map.find("data");
  if (data == config_map.end() || data->is_null()) return out;
  if (!data->is_object()) return Status::InvalidArgument("data is not an object");
  auto text = data->find(kEntriesKey);
  if (text == data->end()) return out;
  if (!text->is_string()) return Status::InvalidArgument("data.entries.json is not a string");
  json list = json::parse(text->get<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return Status::InvalidArgument("data.entries.json is not a JSON array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    if (!e.is_object()) {
      return Status::InvalidArgument("entry " + std::to_string(i) + " is not an object");
    }
    scoring::SteerEntry entry;
    KB_ASSIGN_OR_RETURN(entry.id, StringField(e, "id", i, true));
    KB_ASSIGN_OR_RETURN(entry.owner_uid, StringField(e, "owner", i, true));
    KB_ASSIGN_OR_RETURN(entry.pod, StringField(e, "pod", i, false));
    KB_ASSIGN_OR_RETURN(entry.source_node, StringField(e, "source", i, false));
    KB_ASSIGN_OR_RETURN(entry.target_node, StringField(e, "target", i, false));
    KB_ASSIGN_OR_RETURN(std::string expires, StringField(e, "expires", i, true));
    StatusOr<WallTime> t = ParseRfc3339(expires);
    if (!t.ok()) {
      return Status::InvalidArgument("entry " + std::to_string(i) + ": bad \"expires\" " + expires);
    }
    entry.expires_at = *t;
    entry.remote = true;
    out.push_back(std::move(entry));
  }
  return out;
}

SteeringSyncMetrics::SteeringSyncMetrics(prometheus::Registry& registry)
    : readable(prometheus::BuildGauge()
                   .Name("kube_balancer_steering_readable")
                   .Help("1 while the last read of the steering ConfigMap succeeded; 0: this "
                         "replica serves without the published steering (fail open).")
                   .Register(registry)
                   .Add({})),
      errors(prometheus::BuildCounter()
                 .Name("kube_balancer_steering_sync_errors_total")
                 .Help("Failed reads and publications of the steering ConfigMap, by op.")
                 .Register(registry)),
      published(prometheus::BuildCounter()
                    .Name("kube_balancer_steering_published_total")
                    .Help("Writes of the steering ConfigMap by the rescheduler leader.")
                    .Register(registry)
                    .Add({})),
      dropped(prometheus::BuildCounter()
                  .Name("kube_balancer_steering_dropped_entries_total")
                  .Help("Steering entries left out of the ConfigMap by steeringMaxEntries.")
                  .Register(registry)
                  .Add({})),
      entries(prometheus::BuildGauge()
                  .Name("kube_balancer_steering_entries")
                  .Help("Active steering entries on this replica, by source (local, remote).")
                  .Register(registry)) {
  readable.Set(1);
}

SteeringSync::SteeringSync(kube::KubeClient& client, scoring::Steering& steering, Clock& clock,
                           SteeringSyncOptions options, std::function<bool()> is_leader,
                           SteeringSyncMetrics* metrics)
    : client_(client),
      steering_(steering),
      clock_(clock),
      options_(std::move(options)),
      is_leader_(std::move(is_leader)),
      metrics_(metrics) {}

SteeringSync::~SteeringSync() {
  Stop();
  steering_.SetOnSteer({});
}

void SteeringSync::PublishOnSteer() {
  steering_.SetOnSteer([this] {
    if (is_leader_ && !is_leader_()) return;
    Publish();
    if (options_.settle.count() <= 0) return;
    std::unique_lock<std::mutex> lock(mu_);
    clock_.WaitUntil(lock, cv_, clock_.Now() + options_.settle, [this] { return stop_; });
  });
}

void SteeringSync::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void SteeringSync::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SteeringSync::Loop() {
  while (true) {
    SyncOnce();
    std::unique_lock<std::mutex> lock(mu_);
    if (clock_.WaitUntil(lock, cv_, clock_.Now() + options_.interval, [this] { return stop_; })) {
      return;
    }
  }
}

void SteeringSync::SyncOnce() {
  Read();
  if (!is_leader_ || is_leader_()) Publish();
  if (metrics_ != nullptr) {
    int local = 0, remote = 0;
    for (const scoring::SteerEntry& e : steering_.Active()) (e.remote ? remote : local) += 1;
    metrics_->entries.Add({{"source", "local"}}).Set(local);
    metrics_->entries.Add({{"source", "remote"}}).Set(remote);
  }
}

void SteeringSync::Read() {
  StatusOr<json> cm = client_.GetConfigMap(options_.ns, options_.name);
  std::string rv;
  Status failure = Status::Ok();
  if (cm.ok()) {
    StatusOr<std::vector<scoring::SteerEntry>> entries = DecodeSteerEntries(*cm);
    if (entries.ok()) {
      steering_.SetRemote(*entries);
      if (auto m = cm->find("metadata"); m != cm->end() && m->is_object()) {
        rv = m->value("resourceVersion", "");
      }
    } else {
      failure = entries.status().Annotate("malformed steering ConfigMap " + options_.ns + "/" +
                                          options_.name);
    }
  } else if (cm.status().code() == StatusCode::kNotFound) {
    steering_.SetRemote({});  // nothing published yet
  } else {
    failure = cm.status();
  }
  if (!failure.ok()) steering_.ClearRemote();  // fail open: no steering rather than stale
  bool was_readable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_readable = readable_;
    readable_ = failure.ok();
    last_error_ = failure.ok() ? "" : failure.ToString();
    if (failure.ok()) resource_version_ = rv;
    last_read_time_ = FormatRfc3339Micro(clock_.WallNow());
  }
  if (metrics_ != nullptr) {
    metrics_->readable.Set(failure.ok() ? 1 : 0);
    if (!failure.ok()) metrics_->errors.Add({{"op", "read"}}).Increment();
  }
  if (!failure.ok() && was_readable) {
    Log()->warn(
        "cannot read the steering ConfigMap {}/{}: serving without the leader's steering "
        "decisions until it is readable again error={}",
        options_.ns, options_.name, failure.ToString());
  } else if (failure.ok() && !was_readable) {
    Log()->info("steering ConfigMap {}/{} readable again", options_.ns, options_.name);
  }
}

void SteeringSync::Publish() {
  std::lock_guard<std::mutex> publish_lock(publish_mu_);
  std::vector<scoring::SteerEntry> active = steering_.Active();  // soonest expiry first
  size_t drop = 0;
  if (active.size() > static_cast<size_t>(options_.max_entries)) {
    drop = active.size() - static_cast<size_t>(options_.max_entries);
    active.erase(active.begin(), active.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  const json entries = EncodeSteerEntries(active);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries == last_published_) return;
    // Nothing to say and nothing published yet: no need to create the object.
    if (entries.empty() && resource_version_.empty() && last_published_.is_null()) return;
  }
  if (drop > 0) {
    Log()->warn("steering ConfigMap {}/{} full: dropped the {} entries expiring soonest (max {})",
                options_.ns, options_.name, drop, options_.max_entries);
    if (metrics_ != nullptr) metrics_->dropped.Increment(static_cast<double>(drop));
  }
  const Status s = Write(entries);
  if (!s.ok()) {
    if (metrics_ != nullptr) metrics_->errors.Add({{"op", "publish"}}).Increment();
    // A conflict (another writer, or a stale resourceVersion) is settled by the next round's
    // read; anything else is worth a warning.
    if (s.code() == StatusCode::kAborted || s.code() == StatusCode::kAlreadyExists) {
      Log()->debug("steering publication conflicted, retrying next round error={}", s.ToString());
    } else {
      Log()->warn("cannot publish steering decisions to {}/{} error={}", options_.ns, options_.name,
                  s.ToString());
    }
    return;
  }
  if (metrics_ != nullptr) metrics_->published.Increment();
}

Status SteeringSync::Write(const json& entries) {
  std::string rv;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rv = resource_version_;
  }
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", options_.name},
               {"namespace", options_.ns},
               {"labels", {{"app.kubernetes.io/name", "kube-balancer"}}}}},
             {"data", {{kEntriesKey, entries.dump()}, {"publisher", options_.identity}}}};
  if (!rv.empty()) cm["metadata"]["resourceVersion"] = rv;
  StatusOr<json> written = rv.empty() ? client_.CreateConfigMap(options_.ns, cm)
                                      : client_.UpdateConfigMap(options_.ns, cm);
  if (!written.ok()) return written.status();
  std::lock_guard<std::mutex> lock(mu_);
  last_published_ = entries;
  if (auto m = written->find("metadata"); m != written->end() && m->is_object()) {
    resource_version_ = m->value("resourceVersion", "");
  }
  return Status::Ok();
}

bool SteeringSync::readable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return readable_;
}

json SteeringSync::DebugJson() const {
  const std::vector<scoring::SteerEntry> active = steering_.Active();
  json entries = json::array();
  for (const scoring::SteerEntry& e : active) {
    entries.push_back({{"id", e.id},
                       {"owner", e.owner_uid},
                       {"pod", e.pod},
                       {"source", e.source_node},
                       {"target", e.target_node},
                       {"expires", FormatRfc3339Micro(e.expires_at)},
                       {"origin", e.remote ? "published" : "local"}});
  }
  std::lock_guard<std::mutex> lock(mu_);
  return {{"configMap", options_.ns + "/" + options_.name},
          {"readable", readable_},
          {"error", last_error_.empty() ? json(nullptr) : json(last_error_)},
          {"lastRead", last_read_time_},
          {"leader", !is_leader_ || is_leader_()},
          {"resourceVersion", resource_version_},
          {"entries", std::move(entries)}};
}

}  // namespace kb::resched
