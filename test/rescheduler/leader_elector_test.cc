// Lease leader election (client-go's algorithm) with two electors on one FakeClock, against
// FakeKubeClient and against kube-sim over HTTP: exactly one leads, the other takes over once the
// holder stops renewing, and at no step do both lead.
#include "rescheduler/leader_elector.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "kube/http_kube_client.h"
#include "rescheduler/rescheduler.h"
#include "sim/api_server.h"
#include "test/fakes/fake_kube_client.h"
#include "test/rescheduler/resched_test_util.h"
#include "test/testing/poll.h"

namespace kb::resched {
namespace {

using kb::testing::FakeKubeClient;
using namespace std::chrono_literals;

LeaderElectionConfig Cfg(const std::string& identity) {
  LeaderElectionConfig c;
  c.identity = identity;
  c.lease_name = "kube-balancer";
  c.lease_namespace = "kube-system";
  return c;  // 15s / 10s / 2s
}

// Steps both electors every 2 s until the holder stops; checks mutual exclusion at every step.
void RunTakeover(kube::KubeClient& client_a, kube::KubeClient& client_b, kube::KubeClient& reader) {
  FakeClock clock;
  int a_started = 0, a_stopped = 0;
  LeaderElector a(client_a, clock, Cfg("a"), {[&] { ++a_started; }, [&] { ++a_stopped; }});
  LeaderElector b(client_b, clock, Cfg("b"));
  auto never_both = [&] { REQUIRE_FALSE((a.IsLeader() && b.IsLeader())); };

  CHECK(a.Step());
  never_both();
  CHECK_FALSE(b.Step());
  never_both();
  CHECK(a_started == 1);
  for (int i = 0; i < 20; ++i) {
    clock.Advance(2s);
    CHECK(a.Step());
    never_both();
    CHECK_FALSE(b.Step());
    never_both();
  }
  StatusOr<Lease> held = reader.GetLease("kube-system", "kube-balancer");
  REQUIRE(held.ok());
  CHECK(held->holder_identity == "a");
  CHECK(held->lease_duration_seconds == 15);
  CHECK(held->lease_transitions == 0);
  const auto acquired = held->acquire_time;

  // The holder stops renewing (a crash: no release). b must wait a full leaseDuration from the
  // last change it observed; a must stop acting after renewDeadline.
  int steps = 0;
  bool b_leads = false;
  while (!b_leads && steps < 40) {
    clock.Advance(500ms);
    never_both();
    b_leads = b.Step();
    never_both();
    ++steps;
  }
  REQUIRE(b_leads);
  // b observed a's last renewal at its previous step (<= 2 s before a stopped); it may not take
  // the lease before 15 s after that observation, and takes it within one retry period after.
  CHECK(steps * 500 >= 13000);
  CHECK(steps * 500 <= 17500);
  CHECK_FALSE(a.IsLeader());
  // a notices at its next step and runs its callback.
  CHECK_FALSE(a.Step());
  CHECK(a_stopped == 1);
  StatusOr<Lease> taken = reader.GetLease("kube-system", "kube-balancer");
  REQUIRE(taken.ok());
  CHECK(taken->holder_identity == "b");
  CHECK(taken->lease_transitions == 1);
  CHECK(taken->acquire_time != acquired);
  never_both();
  for (int i = 0; i < 5; ++i) {
    clock.Advance(2s);
    CHECK(b.Step());
    never_both();
  }
}

TEST_CASE("leader election: one leader, takeover after the holder stops, never both",
          "[rescheduler][leader]") {
  FakeKubeClient fake;
  RunTakeover(fake, fake, fake);
}

TEST_CASE("a leader that cannot renew stops leading at renewDeadline", "[rescheduler][leader]") {
  FakeKubeClient fake;
  FakeClock clock;
  int stopped = 0;
  LeaderElector a(fake, clock, Cfg("a"), {nullptr, [&] { ++stopped; }});
  REQUIRE(a.Step());
  fake.FailAlways(testing::kVerbUpdateLease,
                  Status::Unavailable("injected").WithHttp(500, "InternalError"));
  for (int i = 0; i < 4; ++i) {
    clock.Advance(2s);
    CHECK_FALSE(a.TryAcquireOrRenew());
    CHECK(a.Step());  // still within renewDeadline
  }
  clock.Advance(1900ms);  // 9.9 s after the last renewal
  CHECK(a.IsLeader());
  clock.Advance(100ms);  // 10 s: IsLeader() turns false at once, before the loop notices
  CHECK_FALSE(a.IsLeader());
  CHECK(stopped == 0);
  CHECK_FALSE(a.Step());
  CHECK(stopped == 1);
  // Renewal works again: a new term.
  fake.ClearFailures();
  CHECK(a.Step());
}

TEST_CASE("release hands the lease over at once", "[rescheduler][leader]") {
  FakeKubeClient fake;
  FakeClock clock;
  LeaderElector a(fake, clock, Cfg("a"));
  LeaderElector b(fake, clock, Cfg("b"));
  REQUIRE(a.Step());
  REQUIRE_FALSE(b.Step());
  REQUIRE(a.Release().ok());
  CHECK_FALSE(a.IsLeader());
  StatusOr<Lease> released = fake.GetLease("kube-system", "kube-balancer");
  REQUIRE(released.ok());
  CHECK(released->holder_identity.empty());
  CHECK(released->lease_duration_seconds == 1);
  clock.Advance(100ms);
  CHECK(b.Step());
  CHECK(fake.GetLease("kube-system", "kube-balancer")->holder_identity == "b");
}

TEST_CASE("losing the update race (409) is not leadership", "[rescheduler][leader]") {
  FakeKubeClient fake;
  FakeClock clock;
  LeaderElector a(fake, clock, Cfg("a"));
  LeaderElector b(fake, clock, Cfg("b"));
  REQUIRE(a.Step());
  REQUIRE_FALSE(b.Step());  // b observes a's record now
  clock.Advance(16s);       // a is gone; the lease expired by b's clock
  fake.FailNthCall(testing::kVerbUpdateLease, 1,
                   Status::Aborted("conflict").WithHttp(409, "Conflict"));
  CHECK_FALSE(b.TryAcquireOrRenew());
  CHECK_FALSE(b.IsLeader());
  CHECK(b.Step());
}

TEST_CASE("renewals keep acquireTime and the expiry uses the local clock, not renewTime",
          "[rescheduler][leader]") {
  FakeKubeClient fake;
  FakeClock clock;
  LeaderElector a(fake, clock, Cfg("a"));
  REQUIRE(a.Step());
  const Lease first = *fake.GetLease("kube-system", "kube-balancer");
  clock.Advance(2s);
  REQUIRE(a.Step());
  const Lease renewed = *fake.GetLease("kube-system", "kube-balancer");
  CHECK(renewed.acquire_time == first.acquire_time);
  CHECK(renewed.renew_time != first.renew_time);
  // A lease whose renewTime lies far in the past (clock skew) is still valid for leaseDuration
  // from the moment b first sees it.
  FakeClock skewed(kb::WallTime(std::chrono::seconds(1767225600 + 3600)));
  LeaderElector b(fake, skewed, Cfg("b"));
  CHECK_FALSE(b.Step());
  skewed.Advance(14s);
  CHECK_FALSE(b.Step());
}

TEST_CASE("default identity is <hostname>_<random>", "[rescheduler][leader]") {
  const std::string id = LeaderElector::DefaultIdentity();
  const size_t us = id.rfind('_');
  REQUIRE(us != std::string::npos);
  CHECK(us > 0);
  CHECK(id.size() - us - 1 == 16);
  CHECK(id != LeaderElector::DefaultIdentity());
}

TEST_CASE("the elector thread acquires, and Stop releases", "[rescheduler][leader]") {
  FakeKubeClient fake;
  LeaderElectionConfig c = Cfg("t");
  c.retry_period = 20ms;
  LeaderElector e(fake, SystemClock::Instance(), c);
  e.Start();
  REQUIRE(kb::testing::PollUntil([&] { return e.IsLeader(); }));
  REQUIRE(e.IsLeader());
  e.Stop();
  CHECK_FALSE(e.IsLeader());
  CHECK(fake.GetLease("kube-system", "kube-balancer")->holder_identity.empty());
}

std::unique_ptr<kube::HttpKubeClient> SimClient(const sim::ApiServer& server) {
  kube::KubeConfig cfg;
  cfg.server = server.url();
  cfg.token = server.token();
  kube::HttpKubeClientOptions o;
  o.qps = 0;
  o.max_retries = 0;  // a failed renewal is the elector's business
  auto c = kube::HttpKubeClient::Create(cfg, o);
  REQUIRE(c.ok());
  return std::move(c).value();
}

TEST_CASE("leader election against kube-sim: takeover, never both", "[rescheduler][leader][sim]") {
  sim::ApiServerOptions o;
  o.run_controllers = false;
  sim::ApiServer server(o);
  REQUIRE(server.Start().ok());
  auto ca = SimClient(server);
  auto cb = SimClient(server);
  RunTakeover(*ca, *cb, *ca);
  // The stored object carries MicroTime timestamps as the API server writes them.
  auto raw = server.GetObject("leases", "kube-system", "kube-balancer");
  REQUIRE(raw.ok());
  const std::string renew = (*raw)["spec"]["renewTime"];
  CHECK(renew.size() == std::string("2026-01-01T00:00:00.000000Z").size());
}

TEST_CASE("two rescheduler instances against kube-sim: only the Lease holder acts",
          "[rescheduler][leader][sim]") {
  sim::ApiServerOptions o;
  o.run_controllers = false;
  sim::ApiServer server(o);
  REQUIRE(server.Start().ok());
  auto lease_a = SimClient(server);
  auto lease_b = SimClient(server);
  FakeClock clock;
  LeaderElector ea(*lease_a, clock, Cfg("a"));
  LeaderElector eb(*lease_b, clock, Cfg("b"));

  // The same cluster seen by both: a node in maintenance with 20 single-pod workloads to drain.
  test::TestCluster cluster;
  cluster.Add(kb::testing::NodeBuilder("m").Maintenance().Build()).Add(test::MakeNode("w2"));
  FakeKubeClient act_a, act_b;  // what each instance does to the cluster
  for (int i = 0; i < 20; ++i) {
    const std::string rs = "rs" + std::to_string(i);
    auto rsj = kb::testing::ReplicaSetBuilder("default", rs)
                   .Replicas(2)
                   .StatusReplicas(2)
                   .ReadyReplicas(2)
                   .AvailableReplicas(2)
                   .Json();
    act_a.Put("replicasets", rsj);
    act_b.Put("replicasets", rsj);
    for (const char* node : {"m", "w2"}) {
      auto p = test::RsPodBuilder(rs + "-" + node, rs, node);
      act_a.Put("pods", p.Json());
      act_b.Put("pods", p.Json());
      cluster.Add(p.Build());
    }
  }
  ReschedulerConfig config;
  config.max_reschedule_pods = 1;
  auto make = [&](kube::KubeClient& client, const LeaderElector& e) {
    return std::make_unique<Rescheduler>(
        config, test::PolicyFor(config), client, [&] { return cluster.Cache(); },
        [&] { return cluster.Load(cluster.Cache()); }, clock, nullptr, nullptr, &e);
  };
  auto ra = make(act_a, ea);
  auto rb = make(act_b, eb);

  size_t a_moves = 0, b_moves = 0;
  auto cycle = [&](bool a_alive) {
    if (a_alive) ea.Step();
    eb.Step();
    ra->RunOnce();
    rb->RunOnce();
    const size_t a_now = act_a.Evictions().size();
    const size_t b_now = act_b.Evictions().size();
    // Never both in one cycle.
    REQUIRE_FALSE((a_now > a_moves && b_now > b_moves));
    if (a_now > a_moves) CHECK(ea.IsLeader());
    if (b_now > b_moves) CHECK(eb.IsLeader());
    a_moves = a_now;
    b_moves = b_now;
  };
  for (int i = 0; i < 5; ++i) {
    cycle(true);
    clock.Advance(2s);
  }
  CHECK(a_moves == 5);  // a leads and drains one pod per cycle
  CHECK(b_moves == 0);
  // a stops renewing: within renewDeadline it stops acting; b takes over after leaseDuration.
  for (int i = 0; i < 12; ++i) {
    cycle(false);
    clock.Advance(2s);
  }
  CHECK(a_moves <= 10);
  CHECK(b_moves >= 1);
  CHECK_FALSE(ea.IsLeader());
  CHECK(eb.IsLeader());
}

}  // namespace
}  // namespace kb::resched
