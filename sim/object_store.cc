#include "sim/object_store.h"

#include <algorithm>

namespace kb::sim {
namespace {

std::string Line(const char* type, const std::string& object_json) {
  std::string line;
  line.reserve(object_json.size() + 32);
  line.append("{\"type\":\"").append(type).append("\",\"object\":").append(object_json);
  line.append("}\n");
  return line;
}

// Which event (if any) a filtered watcher sees for a store event: objects entering the filter
// appear as ADDED, objects leaving it as DELETED (as kube-apiserver's cacher does).
const char* FilteredType(const WatchFilter& f, const ObjectStore::Event& e) {
  switch (e.type) {
    case ObjectStore::EventType::kAdded:
      return f.Matches(*e.object) ? "ADDED" : nullptr;
    case ObjectStore::EventType::kDeleted:
      return f.Matches(*e.object) ? "DELETED" : nullptr;
    case ObjectStore::EventType::kModified: {
      bool now = f.Matches(*e.object);
      bool before = e.prev && f.Matches(*e.prev);
      if (now && before) return "MODIFIED";
      if (now) return "ADDED";
      if (before) return "DELETED";
      return nullptr;
    }
  }
  return nullptr;
}

const nlohmann::json& Metadata(const nlohmann::json& object) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

bool WatchFilter::Matches(const nlohmann::json& object) const {
  const auto& md = Metadata(object);
  if (!ns.empty() && md.value("namespace", "") != ns) return false;
  static const nlohmann::json kNoLabels;
  auto it = md.find("labels");
  return labels.Matches(it != md.end() ? *it : kNoLabels) && fields.Matches(object);
}

Watcher::Batch Watcher::Take(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || !lines_.empty(); });
  Batch b;
  b.lines.assign(std::make_move_iterator(lines_.begin()), std::make_move_iterator(lines_.end()));
  lines_.clear();
  b.closed = closed_;
  b.abrupt = abrupt_;
  return b;
}

void Watcher::Push(std::string line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    if (lines_.size() >= max_queue_) {
      // kube-apiserver also terminates watchers that stop reading ("unresponsive consumer").
      closed_ = true;
      abrupt_ = true;
      lines_.clear();
    } else {
      lines_.push_back(std::move(line));
    }
  }
  cv_.notify_all();
}

void Watcher::Close(bool abrupt) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) {
      closed_ = true;
      abrupt_ = abrupt;
    }
  }
  cv_.notify_all();
}

bool Watcher::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

ObjectStore::ObjectStore(size_t history_limit)
    : history_limit_(std::max<size_t>(1, history_limit)) {}

uint64_t ObjectStore::CurrentRv() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

ObjectStore::Object ObjectStore::Get(const std::string& resource, const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = objects_.find(resource);
  if (r == objects_.end()) return nullptr;
  auto it = r->second.find(key);
  return it == r->second.end() ? nullptr : it->second;
}

std::vector<ObjectStore::Object> ObjectStore::List(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Object> out;
  auto r = objects_.find(resource);
  if (r == objects_.end()) return out;
  out.reserve(r->second.size());
  for (const auto& [k, v] : r->second) out.push_back(v);
  return out;
}

uint64_t ObjectStore::HistoryFloor(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = floor_.find(resource);
  return f == floor_.end() ? 0 : f->second;
}

ApiResult<ObjectStore::ListResult> ObjectStore::ListAt(const std::string& resource,
                                                       uint64_t rv) const {
  std::lock_guard<std::mutex> lock(mu_);
  ListResult out;
  std::map<std::string, Object> state;
  auto r = objects_.find(resource);
  if (r != objects_.end()) state = r->second;
  if (rv == 0 || rv == rv_) {
    out.rv = rv_;
  } else if (rv > rv_) {
    return ApiError::TooLargeResourceVersion(rv, rv_);
  } else {
    auto f = floor_.find(resource);
    uint64_t floor = f == floor_.end() ? 0 : f->second;
    if (rv < floor) {
      return ApiError::Expired("too old resource version: " + std::to_string(rv) + " (" +
                               std::to_string(floor) + ")");
    }
    // Undo, newest first, every event after rv.
    auto h = history_.find(resource);
    if (h != history_.end()) {
      for (auto it = h->second.rbegin(); it != h->second.rend() && it->rv > rv; ++it) {
        if (it->type == EventType::kAdded) {
          state.erase(it->key);
        } else {
          state[it->key] = it->prev;
        }
      }
    }
    out.rv = rv;
  }
  out.items.assign(state.begin(), state.end());
  return out;
}

ObjectStore::Object ObjectStore::Txn::Get(const std::string& resource,
                                          const std::string& key) const {
  auto r = store_.objects_.find(resource);
  if (r == store_.objects_.end()) return nullptr;
  auto it = r->second.find(key);
  return it == r->second.end() ? nullptr : it->second;
}

std::vector<ObjectStore::Object> ObjectStore::Txn::List(const std::string& resource) const {
  std::vector<Object> out;
  auto r = store_.objects_.find(resource);
  if (r == store_.objects_.end()) return out;
  for (const auto& [k, v] : r->second) out.push_back(v);
  return out;
}

ObjectStore::Object ObjectStore::Txn::Put(const std::string& resource, const std::string& key,
                                          nlohmann::json object) {
  uint64_t rv = ++store_.rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  auto stored = std::make_shared<const nlohmann::json>(std::move(object));
  auto& slot = store_.objects_[resource][key];
  Event e;
  e.rv = rv;
  e.type = slot ? EventType::kModified : EventType::kAdded;
  e.key = key;
  e.object = stored;
  e.prev = slot;
  slot = stored;
  store_.Record(resource, std::move(e));
  return stored;
}

ObjectStore::Object ObjectStore::Txn::Remove(const std::string& resource, const std::string& key) {
  auto r = store_.objects_.find(resource);
  if (r == store_.objects_.end()) return nullptr;
  auto it = r->second.find(key);
  if (it == r->second.end()) return nullptr;
  uint64_t rv = ++store_.rv_;
  nlohmann::json last = *it->second;
  last["metadata"]["resourceVersion"] = std::to_string(rv);
  Event e;
  e.rv = rv;
  e.type = EventType::kDeleted;
  e.key = key;
  e.object = std::make_shared<const nlohmann::json>(std::move(last));
  e.prev = it->second;
  r->second.erase(it);
  Object out = e.object;
  store_.Record(resource, std::move(e));
  return out;
}

void ObjectStore::Record(const std::string& resource, Event event) {
  auto w = watchers_.find(resource);
  if (w != watchers_.end() && !w->second.empty()) {
    std::string dumped = event.object->dump();
    for (const auto& watcher : w->second) {
      if (const char* type = FilteredType(watcher->filter(), event)) {
        watcher->Push(Line(type, dumped));
      }
    }
  }
  auto& h = history_[resource];
  h.push_back(std::move(event));
  while (h.size() > history_limit_) {
    floor_[resource] = h.front().rv;
    h.pop_front();
  }
}

std::optional<ApiError> ObjectStore::StartWatch(const std::shared_ptr<Watcher>& watcher,
                                                std::optional<uint64_t> from_rv) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& resource = watcher->filter().resource;
  if (!from_rv) {
    auto r = objects_.find(resource);
    if (r != objects_.end()) {
      for (const auto& [k, obj] : r->second) {
        if (watcher->filter().Matches(*obj)) watcher->Push(Line("ADDED", obj->dump()));
      }
    }
  } else {
    if (*from_rv > rv_) return ApiError::TooLargeResourceVersion(*from_rv, rv_);
    uint64_t floor = floor_.count(resource) ? floor_[resource] : 0;
    if (*from_rv < floor) {
      return ApiError::Expired("too old resource version: " + std::to_string(*from_rv) + " (" +
                               std::to_string(floor) + ")");
    }
    auto h = history_.find(resource);
    if (h != history_.end()) {
      auto it = std::upper_bound(h->second.begin(), h->second.end(), *from_rv,
                                 [](uint64_t rv, const Event& e) { return rv < e.rv; });
      for (; it != h->second.end(); ++it) {
        if (const char* type = FilteredType(watcher->filter(), *it)) {
          watcher->Push(Line(type, it->object->dump()));
        }
      }
    }
  }
  watchers_[resource].push_back(watcher);
  return std::nullopt;
}

void ObjectStore::StopWatch(const std::shared_ptr<Watcher>& watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& v = watchers_[watcher->filter().resource];
  v.erase(std::remove(v.begin(), v.end(), watcher), v.end());
}

void ObjectStore::Bookmark(Watcher& watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json obj = {{"kind", watcher.filter().kind},
                        {"apiVersion", watcher.filter().api_version},
                        {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
  watcher.Push(Line("BOOKMARK", obj.dump()));
}

void ObjectStore::CloseAllWatchers(bool abrupt) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [res, v] : watchers_) {
    for (auto& w : v) w->Close(abrupt);
    v.clear();
  }
}

size_t ObjectStore::WatcherCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [res, v] : watchers_) n += v.size();
  return n;
}

void ObjectStore::ForgetHistory() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : AllResources()) {
    history_[r.resource].clear();
    floor_[r.resource] = rv_;
  }
}

ObjectStore::Backup ObjectStore::TakeBackup() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Backup{rv_, objects_};
}

void ObjectStore::Restore(const Backup& backup) {
  std::lock_guard<std::mutex> lock(mu_);
  rv_ = backup.rv;
  objects_ = backup.objects;
  for (const auto& r : AllResources()) {
    history_[r.resource].clear();
    floor_[r.resource] = rv_;
  }
  for (auto& [res, v] : watchers_) {
    for (auto& w : v) w->Close(/*abrupt=*/true);
    v.clear();
  }
}

}  // namespace kb::sim
