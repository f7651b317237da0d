#include "sim/harness/observer.h"

#include <mutex>

#include "sim/k8s_json.h"
#include "sim/selectors.h"

namespace kb::sim {

namespace {
using json = nlohmann::json;
}  // namespace

struct ClusterObserver::State {
  explicit State(ApiServer& s) : server(s) {}

  std::string KeyOf(const std::string& ns, const std::string& name) const {
    return ns + "/" + name;
  }

  void OnAudit(const AuditRecord& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.verb == "create" && r.resource == "pods/eviction") {
      if (r.code == 429) {
        ++refused;
      } else if (r.code == 201 || r.code == 200) {
        RecordMove(r.ns, r.name, "eviction");
      }
    } else if (r.verb == "delete" && r.resource == "pods" && (r.code == 200 || r.code == 202)) {
      RecordMove(r.ns, r.name, "delete");
    } else if (r.verb == "create" && r.resource == "pods" && r.code == 201) {
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_discarded()) created_by_balancer.insert(KeyOf(r.ns, Name(body)));
    }
  }

  void RecordMove(const std::string& ns, const std::string& name, const std::string& how) {
    ++evictions[KeyOf(ns, name)];
    Move m;
    m.ns = ns;
    m.name = name;
    m.how = how;
    m.pass = pass;
    auto it = live.find(KeyOf(ns, name));
    if (it != live.end()) {
      const PodRecord& p = pods[it->second];
      m.uid = p.uid;
      m.owner_uid = p.owner_uid;
      m.source_node = p.node;
    }
    moves.push_back(m);
  }

  void Sample() {
    bool watch_pdbs;
    {
      std::lock_guard<std::mutex> lock(mu);
      watch_pdbs = pdb_watch;
    }
    const std::vector<json> list = server.ListObjects("pods");
    const std::vector<json> pdbs =
        watch_pdbs ? server.ListObjects("poddisruptionbudgets") : std::vector<json>{};
    std::lock_guard<std::mutex> lock(mu);
    ++pass;
    std::set<std::string> present;
    live.clear();
    for (const json& pod : list) {
      const std::string uid = Uid(pod);
      PodRecord& p = pods[uid];
      if (p.uid.empty()) {
        p.uid = uid;
        p.ns = Namespace(pod);
        p.name = Name(pod);
        p.first_pass = pass;
        const json& owner = ControllerRef(pod);
        if (owner.is_object()) p.owner_uid = owner.value("uid", "");
        p.created_by_balancer = created_by_balancer.count(KeyOf(p.ns, p.name)) > 0;
      }
      p.labels = At(pod, {"metadata", "labels"});
      const std::string node = StrAt(pod, {"spec", "nodeName"});
      if (!node.empty()) {
        p.node = node;
        p.nodes.insert(node);
      }
      p.ready = IsPodReady(pod) && !IsTerminating(pod);
      if (IsTerminating(pod)) {
        if (!p.gone) p.gone_pass = pass;
        p.gone = true;
      } else {
        live[KeyOf(p.ns, p.name)] = uid;
      }
      present.insert(uid);
    }
    for (auto& [uid, p] : pods) {
      if (!present.count(uid) && !p.gone) {
        p.gone = true;
        p.gone_pass = pass;
        p.ready = false;
      }
    }
    LinkReplacements();
    if (watch_pdbs) CheckPdbs(pdbs, list);
  }

  void LinkReplacements() {
    for (Move& m : moves) {
      if (!m.replacement_uid.empty()) {
        if (m.replacement_node.empty()) m.replacement_node = pods[m.replacement_uid].node;
        continue;
      }
      const PodRecord* moved = m.uid.empty() ? nullptr : &pods[m.uid];
      const PodRecord* best = nullptr;
      for (const auto& [uid, p] : pods) {
        if (uid == m.uid || linked.count(uid)) continue;
        if (!m.owner_uid.empty()) {
          // A ReplicaSet pod: the first pod of the same ReplicaSet created after the move.
          if (p.owner_uid != m.owner_uid || p.first_pass < m.pass) continue;
        } else {
          // A bare pod: the copy kube-balancer created with the same labels.
          if (!p.created_by_balancer || moved == nullptr || p.labels != moved->labels) continue;
        }
        if (best == nullptr || p.first_pass < best->first_pass) best = &p;
      }
      if (best != nullptr) {
        m.replacement_uid = best->uid;
        m.replacement_node = best->node;
        linked.insert(best->uid);
      }
    }
  }

  void CheckPdbs(const std::vector<json>& pdbs, const std::vector<json>& list) {
    for (const json& pdb : pdbs) {
      auto selector = LabelSelector::FromJson(At(pdb, {"spec", "selector"}));
      if (!selector.ok()) continue;
      const int64_t desired = IntAt(pdb, {"status", "desiredHealthy"}, -1);
      if (desired < 0) continue;
      int64_t healthy = 0;
      for (const json& pod : list) {
        if (Namespace(pod) != Namespace(pdb) || IsTerminating(pod) || !IsPodReady(pod)) continue;
        if (selector->Matches(At(pod, {"metadata", "labels"}))) ++healthy;
      }
      const std::string key = KeyOf(Namespace(pdb), Name(pdb));
      if (healthy < desired && reported.insert(key).second) {
        pdb_violations.push_back("PodDisruptionBudget " + key + ": " + std::to_string(healthy) +
                                 " healthy pods < desiredHealthy " + std::to_string(desired) +
                                 " (pass " + std::to_string(pass) + ")");
      }
    }
  }

  ApiServer& server;
  mutable std::mutex mu;
  // State below is guarded by mu.
  uint64_t pass = 0;
  std::map<std::string, PodRecord> pods;      // uid -> record
  std::map<std::string, std::string> live;    // ns/name -> uid of the live pod
  std::set<std::string> created_by_balancer;  // ns/name
  std::vector<Move> moves;
  std::set<std::string> linked;          // replacement uids already linked
  std::map<std::string, int> evictions;  // ns/name -> successful evictions / deletions
  int refused = 0;
  bool pdb_watch = false;
  std::vector<std::string> pdb_violations;
  std::set<std::string> reported;
};

ClusterObserver::ClusterObserver(ApiServer& server) : state_(std::make_shared<State>(server)) {}

void ClusterObserver::Attach() {
  std::weak_ptr<State> weak = state_;
  state_->server.SetAuditSink([weak](const AuditRecord& r) {
    if (auto s = weak.lock()) s->OnAudit(r);
  });
  state_->server.AddController("e2e-observer", [weak] {
    if (auto s = weak.lock()) s->Sample();
  });
}

std::vector<ClusterObserver::PodRecord> ClusterObserver::Pods() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<PodRecord> out;
  for (const auto& [uid, p] : state_->pods) out.push_back(p);
  return out;
}

std::vector<ClusterObserver::Move> ClusterObserver::Moves() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->moves;
}

std::map<std::string, int> ClusterObserver::EvictionsPerPod() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->evictions;
}

int ClusterObserver::RefusedEvictions() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->refused;
}

void ClusterObserver::StartPdbWatch() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->pdb_watch = true;
}

std::vector<std::string> ClusterObserver::PdbViolations() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pdb_violations;
}

std::vector<std::string> ClusterObserver::MoveViolations(
    const std::set<std::string>& drained) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [pod, n] : state_->evictions) {
    if (n > 1) out.push_back("pod " + pod + " was evicted " + std::to_string(n) + " times");
  }
  std::set<std::string> moved;
  for (const Move& m : state_->moves) {
    if (!m.uid.empty() && drained.count(m.source_node) == 0) moved.insert(m.uid);
  }
  for (const Move& m : state_->moves) {
    if (m.replacement_uid.empty()) continue;
    const std::string& rname = state_->pods.at(m.replacement_uid).name;
    if (!m.replacement_node.empty() && m.replacement_node == m.source_node) {
      out.push_back("replacement " + rname + " of " + m.ns + "/" + m.name +
                    " landed back on its source node " + m.source_node);
    }
    if (moved.count(m.replacement_uid)) {
      out.push_back("replacement " + rname + " of " + m.ns + "/" + m.name + " was moved again");
    }
  }
  return out;
}

uint64_t ClusterObserver::passes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pass;
}

}  // namespace kb::sim
