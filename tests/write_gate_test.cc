// UserStore's replication calls (user_store.h, "Replication"; replication.h):
// every write passes the write gate, Apply and reads do not; a refusal changes
// nothing; AfterWrite sees the write's sequence and its error is the answer;
// concurrent writers with a gate; sid_draws and AdvanceSidDraws, in memory
// and on a durable store; a refused write through the REST dispatcher.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/rest_testing.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/durable.h"
#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/replication.h"
#include "userstore/resources.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using durable_testing::Fingerprint;
using durable_testing::SameState;

// A gate that records its calls and answers what the test sets.
class RecordingGate : public WriteGate {
 public:
  absl::Status BeforeWrite() override {
    before_calls.fetch_add(1);
    if (refuse.load()) return MakeError(ErrorCode::kForbidden);
    return absl::OkStatus();
  }

  absl::Status AfterWrite(uint64_t sequence) override {
    std::lock_guard<std::mutex> lock(mu);
    after_sequences.push_back(sequence);
    return after_answer;
  }

  std::vector<uint64_t> AfterSequences() {
    std::lock_guard<std::mutex> lock(mu);
    return after_sequences;
  }

  std::atomic<bool> refuse{false};
  std::atomic<int> before_calls{0};
  std::mutex mu;
  std::vector<uint64_t> after_sequences;
  absl::Status after_answer;
};

// One write call of the store's API, by name.
struct WriteCall {
  std::string name;
  std::function<absl::Status(UserStore&)> call;
};

// A store with a service, a channel role, a deployment role, and users
// "alice" (in 2 channels) and "bob"; and every write method of the API, each
// of which succeeds on that store, in an order where each still succeeds
// after the ones before it.
class WriteGateTest : public ::testing::Test {
 protected:
  WriteGateTest() : clock_(std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719))) {
    StoreOptions options;
    options.seed = 42;
    options.clock = clock_;
    store_ = std::make_unique<UserStore>(options);
    CreateServiceRequest service;
    service.friendly_name = "game";
    auto created = store_->CreateService(service);
    EXPECT_TRUE(created.ok()) << created.status();
    is_ = created->sid;
    second_is_ = store_->CreateService(service)->sid;
    CreateRoleRequest role;
    role.friendly_name = "moderator";
    role.type = "deployment";
    role.permissions = {"addMember"};
    deployment_role_ = store_->CreateRole(is_, role)->sid;
    role.friendly_name = "spare";
    spare_role_ = store_->CreateRole(is_, role)->sid;
    for (const char* identity : {"alice", "bob"}) {
      CreateUserRequest user;
      user.identity = identity;
      EXPECT_TRUE(store_->CreateUser(is_, user).ok());
    }
    EXPECT_TRUE(store_->JoinChannel(is_, "alice").ok());
    EXPECT_TRUE(store_->JoinChannel(is_, "alice").ok());
    clock_->Advance(absl::Seconds(1));
  }

  std::vector<WriteCall> WriteCalls() {
    std::vector<WriteCall> calls;
    calls.push_back({"CreateUser", [this](UserStore& s) {
                       CreateUserRequest r;
                       r.identity = "carol";
                       return s.CreateUser(is_, r).status();
                     }});
    calls.push_back({"CreateUser(view)", [this](UserStore& s) {
                       CreateUserRequestView r;
                       r.identity = "dave";
                       return s.CreateUser(is_, r, [](const UserView&) {});
                     }});
    calls.push_back({"GetOrCreateUser", [this](UserStore& s) {
                       CreateUserRequest r;
                       r.identity = "erin";
                       return s.GetOrCreateUser(is_, r).status();
                     }});
    calls.push_back({"UpdateUser", [this](UserStore& s) {
                       UpdateUserRequest r;
                       r.friendly_name = "Alice";
                       r.role_sid = deployment_role_;
                       return s.UpdateUser(is_, "alice", r).status();
                     }});
    calls.push_back({"UpdateUser(view)", [this](UserStore& s) {
                       UpdateUserRequestView r;
                       r.attributes = R"({"a":1})";
                       return s.UpdateUser(is_, "bob", r, [](const UserView&) {});
                     }});
    calls.push_back({"SetPresence", [this](UserStore& s) {
                       PresenceUpdate p;
                       p.is_online = true;
                       p.is_notifiable = false;
                       return s.SetPresence(is_, "alice", p).status();
                     }});
    calls.push_back(
        {"JoinChannel", [this](UserStore& s) { return s.JoinChannel(is_, "bob").status(); }});
    calls.push_back(
        {"LeaveChannel", [this](UserStore& s) { return s.LeaveChannel(is_, "alice").status(); }});
    calls.push_back({"DeleteUser", [this](UserStore& s) { return s.DeleteUser(is_, "bob"); }});
    calls.push_back({"CreateService", [](UserStore& s) {
                       CreateServiceRequest r;
                       r.friendly_name = "another";
                       return s.CreateService(r).status();
                     }});
    calls.push_back({"UpdateService", [this](UserStore& s) {
                       UpdateServiceRequest r;
                       r.friendly_name = "renamed";
                       r.reachability_enabled = true;
                       return s.UpdateService(is_, r).status();
                     }});
    calls.push_back({"CreateRole", [this](UserStore& s) {
                       CreateRoleRequest r;
                       r.friendly_name = "reader";
                       r.type = "channel";
                       r.permissions = {"sendMessage"};
                       return s.CreateRole(is_, r).status();
                     }});
    calls.push_back(
        {"DeleteRole", [this](UserStore& s) { return s.DeleteRole(is_, spare_role_); }});
    calls.push_back(
        {"DeleteService", [this](UserStore& s) { return s.DeleteService(second_is_); }});
    return calls;
  }

  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<UserStore> store_;
  std::string is_;
  std::string second_is_;
  std::string deployment_role_;
  std::string spare_role_;
};

TEST_F(WriteGateTest, ARefusedWriteAnswersTheGatesErrorAndChangesNothing) {
  RecordingGate gate;
  gate.refuse = true;
  store_->SetWriteGate(&gate);
  const std::string before = Fingerprint(*store_);
  const uint64_t draws = store_->sid_draws();
  int calls = 0;
  for (const WriteCall& w : WriteCalls()) {
    SCOPED_TRACE(w.name);
    const absl::Status status = w.call(*store_);
    EXPECT_THAT(status, userstore_testing::IsError(403, ErrorCode::kForbidden));
    EXPECT_EQ("Forbidden", status.message());
    EXPECT_EQ(++calls, gate.before_calls.load());
    EXPECT_TRUE(SameState(Fingerprint(*store_), before));
    EXPECT_EQ(draws, store_->sid_draws());
  }
  EXPECT_TRUE(gate.AfterSequences().empty());
  EXPECT_TRUE(store_->CheckInvariants().ok());
}

TEST_F(WriteGateTest, EveryWritePassesTheGateAndAfterWriteSeesItsSequence) {
  RecordingGate gate;
  store_->SetWriteGate(&gate);
  std::vector<uint64_t> published;
  store_->Subscribe([&published](const ChangeEvent& e) { published.push_back(e.sequence); });
  int calls = 0;
  for (const WriteCall& w : WriteCalls()) {
    SCOPED_TRACE(w.name);
    const uint64_t before = store_->last_sequence();
    published.clear();
    ASSERT_TRUE(w.call(*store_).ok());
    EXPECT_EQ(++calls, gate.before_calls.load());
    const std::vector<uint64_t> after = gate.AfterSequences();
    ASSERT_EQ(static_cast<size_t>(calls), after.size());
    // The write published (at least) one event; AfterWrite saw the store's
    // last sequence, which covers the write's own events.
    ASSERT_FALSE(published.empty());
    EXPECT_GT(published.front(), before);
    EXPECT_EQ(store_->last_sequence(), after.back());
    EXPECT_GE(after.back(), published.back());
  }
}

TEST_F(WriteGateTest, AFailedWriteDoesNotCallAfterWrite) {
  RecordingGate gate;
  store_->SetWriteGate(&gate);
  CreateUserRequest again;
  again.identity = "alice";
  EXPECT_THAT(store_->CreateUser(is_, again),
              userstore_testing::IsError(409, ErrorCode::kUserAlreadyExists));
  EXPECT_THAT(store_->DeleteUser(is_, "nobody"),
              userstore_testing::IsError(404, ErrorCode::kNotFound));
  EXPECT_EQ(2, gate.before_calls.load());
  EXPECT_TRUE(gate.AfterSequences().empty());
}

TEST_F(WriteGateTest, AfterWritesErrorIsTheAnswerButTheWriteStays) {
  RecordingGate gate;
  gate.after_answer = MakeError(ErrorCode::kServiceUnavailable, "the log did not acknowledge");
  store_->SetWriteGate(&gate);
  CreateUserRequest carol;
  carol.identity = "carol";
  const uint64_t before = store_->last_sequence();
  EXPECT_THAT(store_->CreateUser(is_, carol),
              userstore_testing::IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_EQ(before + 1, store_->last_sequence());
  EXPECT_TRUE(store_->GetUser(is_, "carol").ok());
  // The caller's retry meets the user it made.
  gate.after_answer = absl::OkStatus();
  EXPECT_THAT(store_->CreateUser(is_, carol),
              userstore_testing::IsError(409, ErrorCode::kUserAlreadyExists));
  ASSERT_EQ(1u, gate.AfterSequences().size());
  EXPECT_EQ(before + 1, gate.AfterSequences()[0]);
}

TEST_F(WriteGateTest, ApplyAndReadsDoNotPassTheGate) {
  // A follower of this store, with a gate that refuses every write.
  StoreOptions follower_options;
  follower_options.account_sid = store_->account_sid();
  follower_options.create_default_service = false;
  UserStore follower(follower_options);
  RecordingGate gate;
  gate.refuse = true;
  follower.SetWriteGate(&gate);
  std::vector<ChangeEvent> feed;
  const UserStore::Subscription sub =
      store_->SubscribeWithSnapshot([&feed](const ChangeEvent& e) { feed.push_back(e); });
  for (const ChangeEvent& e : sub.snapshot.events) ASSERT_TRUE(follower.Apply(e).ok());
  for (const WriteCall& w : WriteCalls()) ASSERT_TRUE(w.call(*store_).ok()) << w.name;
  for (const ChangeEvent& e : feed) ASSERT_TRUE(follower.Apply(e).ok()) << e.sequence;
  EXPECT_EQ(Fingerprint(*store_).substr(Fingerprint(*store_).find('\n')),
            Fingerprint(follower).substr(Fingerprint(follower).find('\n')));

  // Every read.
  EXPECT_TRUE(follower.GetUser(is_, "alice").ok());
  EXPECT_TRUE(follower.ReadUser(is_, "alice", [](const UserView&) {}).ok());
  const std::vector<absl::string_view> users = {"alice", "carol"};
  EXPECT_TRUE(follower.ReadUsers(is_, users, [](size_t, const UserView&) {}).ok());
  EXPECT_TRUE(follower.ListUsers(is_, ListRequest()).ok());
  EXPECT_TRUE(follower.VisitUsers(is_, ListRequest(), [](const UserView&) {}).ok());
  EXPECT_TRUE(follower.CountUsers(is_).ok());
  EXPECT_TRUE(follower.GetService(is_).ok());
  EXPECT_TRUE(follower.ListServices(ListRequest()).ok());
  EXPECT_TRUE(follower.GetRole(is_, deployment_role_).ok());
  EXPECT_TRUE(follower.ListRoles(is_, ListRequest()).ok());
  (void)follower.Snapshot();
  EXPECT_EQ(0, gate.before_calls.load());
  EXPECT_TRUE(gate.AfterSequences().empty());

  // A write is refused, and unsetting the gate lets writes through again.
  CreateUserRequest zed;
  zed.identity = "zed";
  EXPECT_THAT(follower.CreateUser(is_, zed),
              userstore_testing::IsError(403, ErrorCode::kForbidden));
  EXPECT_EQ(1, gate.before_calls.load());
  follower.SetWriteGate(nullptr);
  EXPECT_TRUE(follower.CreateUser(is_, zed).ok());
  EXPECT_EQ(1, gate.before_calls.load());
}

// A gate that refuses while `refuse` is set, and records the sequence
// AfterWrite sees for each write, keyed by the identity the writing thread
// is creating (`current`).
class IdentityGate : public WriteGate {
 public:
  absl::Status BeforeWrite() override {
    return refuse.load() ? MakeError(ErrorCode::kForbidden) : absl::OkStatus();
  }
  absl::Status AfterWrite(uint64_t sequence) override {
    std::lock_guard<std::mutex> lock(mu);
    after[*current] = sequence;
    return absl::OkStatus();
  }
  std::atomic<bool> refuse{false};
  std::mutex mu;
  std::map<std::string, uint64_t> after;
  static thread_local const std::string* current;
};
thread_local const std::string* IdentityGate::current = nullptr;

// Writers on several threads while another thread flips the gate between
// refusing and allowing: every write is answered by the gate or applied,
// never both, and every AfterWrite covers its own write.
TEST(WriteGateConcurrency, ConcurrentWritersWithAGate) {
  StoreOptions options;
  options.seed = 9;
  UserStore store(options);
  CreateServiceRequest service;
  service.friendly_name = "game";
  const std::string is = store.CreateService(service)->sid;

  // The sequence of each user's create, from the feed.
  std::mutex feed_mu;
  std::map<std::string, uint64_t> created_at;
  store.Subscribe([&](const ChangeEvent& e) {
    if (e.entity == ChangeEvent::Entity::kUser && e.op == ChangeEvent::Op::kCreate) {
      std::lock_guard<std::mutex> lock(feed_mu);
      created_at[e.user->identity] = e.sequence;
    }
  });

  IdentityGate gate;
  store.SetWriteGate(&gate);

  constexpr int kThreads = 4;
  constexpr int kPerThread = 150;
  std::atomic<bool> done{false};
  std::thread flipper([&] {
    while (!done.load()) {
      gate.refuse.store(!gate.refuse.load());
      std::this_thread::yield();
    }
  });
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<int> refused(kThreads, 0);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string identity = absl::StrCat("u", t, "-", i);
        IdentityGate::current = &identity;
        CreateUserRequest r;
        r.identity = identity;
        const absl::StatusOr<User> user = store.CreateUser(is, r);
        if (user.ok()) {
          made[t].push_back(identity);
        } else {
          EXPECT_EQ(ErrorCode::kForbidden, ErrorCodeOf(user.status())) << user.status();
          ++refused[t];
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  flipper.join();

  size_t total_made = 0;
  for (int t = 0; t < kThreads; ++t) {
    total_made += made[t].size();
    EXPECT_EQ(kPerThread, static_cast<int>(made[t].size()) + refused[t]);
    for (const std::string& identity : made[t]) {
      ASSERT_TRUE(store.GetUser(is, identity).ok()) << identity;
      std::lock_guard<std::mutex> lock(gate.mu);
      std::lock_guard<std::mutex> feed_lock(feed_mu);
      ASSERT_EQ(1u, gate.after.count(identity)) << identity;
      ASSERT_EQ(1u, created_at.count(identity)) << identity;
      EXPECT_GE(gate.after[identity], created_at[identity]) << identity;
      EXPECT_LE(gate.after[identity], store.last_sequence()) << identity;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(total_made), *store.CountUsers(is));
  std::lock_guard<std::mutex> lock(gate.mu);
  EXPECT_EQ(total_made, gate.after.size());
  EXPECT_TRUE(store.CheckInvariants().ok());
}

// --- SID draws ---------------------------------------------------------------------

TEST(SidDraws, AdvanceMakesTwoStoresWithTheSameSeedHandOutTheSameSid) {
  StoreOptions options;
  options.seed = 42;
  options.clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
  UserStore leader(options);
  UserStore follower(options);
  EXPECT_EQ(leader.sid_draws(), follower.sid_draws());
  const std::string is = leader.default_conversation_service_sid();
  for (int i = 0; i < 5; ++i) {
    CreateUserRequest r;
    r.identity = absl::StrCat("user", i);
    ASSERT_TRUE(leader.CreateUser(is, r).ok());
  }
  CreateServiceRequest service;
  service.friendly_name = "game";
  ASSERT_TRUE(leader.CreateService(service).ok());  // five draws: the service and its roles
  const uint64_t draws = leader.sid_draws();
  EXPECT_EQ(follower.sid_draws() + 5 + 5, draws);

  EXPECT_TRUE(follower.AdvanceSidDraws(draws).ok());
  EXPECT_EQ(draws, follower.sid_draws());
  // Backwards (or to the same count) is a no-op.
  EXPECT_TRUE(follower.AdvanceSidDraws(draws - 3).ok());
  EXPECT_TRUE(follower.AdvanceSidDraws(0).ok());
  EXPECT_TRUE(follower.AdvanceSidDraws(draws).ok());
  EXPECT_EQ(draws, follower.sid_draws());

  CreateUserRequest next;
  next.identity = "next";
  const absl::StatusOr<User> a = leader.CreateUser(is, next);
  const absl::StatusOr<User> b = follower.CreateUser(is, next);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sid, b->sid);
  EXPECT_EQ(leader.sid_draws(), follower.sid_draws());
}

TEST(SidDraws, WithoutTheAdvanceTheStoresCollide) {
  // The point of the advance: a promoted follower that did not take over the
  // count would hand out its old leader's SIDs.
  StoreOptions options;
  options.seed = 42;
  UserStore leader(options);
  UserStore follower(options);
  const std::string is = leader.default_conversation_service_sid();
  CreateUserRequest r;
  r.identity = "first";
  const absl::StatusOr<User> a = leader.CreateUser(is, r);
  r.identity = "second";
  const absl::StatusOr<User> b = follower.CreateUser(is, r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sid, b->sid);
}

TEST(SidDraws, ADurableStoreReopensAfterALargeAdvance) {
  durable_testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  DurableOptions options;
  options.store.seed = 5;
  options.durability = Durability::kSyncEachWrite;
  std::string sid_after;
  uint64_t draws_after = 0;
  std::string state;
  {
    auto store = OpenUserStore(dir.path(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    const std::string is = (*store)->default_conversation_service_sid();
    CreateUserRequest r;
    r.identity = "before";
    ASSERT_TRUE((*store)->CreateUser(is, r).ok());
    const uint64_t target = (*store)->sid_draws() + 100000;
    ASSERT_TRUE((*store)->AdvanceSidDraws(target).ok());
    EXPECT_EQ(target, (*store)->sid_draws());
    r.identity = "after";
    auto after = (*store)->CreateUser(is, r);
    ASSERT_TRUE(after.ok()) << after.status();
    sid_after = after->sid;
    draws_after = (*store)->sid_draws();
    state = Fingerprint(**store);
  }
  auto reopened = OpenUserStore(dir.path(), options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(SameState(Fingerprint(**reopened), state));
  EXPECT_EQ(draws_after, (*reopened)->sid_draws());
  EXPECT_EQ(sid_after,
            (*reopened)->GetUser((*reopened)->default_conversation_service_sid(), "after")->sid);
}

// --- through REST ------------------------------------------------------------------

TEST(WriteGateRest, ARefusedWriteIsTwilios403) {
  userstore_test::RestHarness h;
  RecordingGate gate;
  gate.refuse = true;
  h.store().SetWriteGate(&gate);
  const std::string users = "/v1/Users";
  const userstore_test::Reply created = h.Call("POST", users, {{"Identity", "alice"}});
  EXPECT_TRUE(userstore_test::IsError(created, 403, 20403, "Forbidden")) << created.body;
  const userstore_test::Reply listed = h.Call("GET", users);
  EXPECT_EQ(200, listed.status) << listed.body;
  gate.refuse = false;
  ASSERT_EQ(201, h.Call("POST", users, {{"Identity", "alice"}}).status);
  gate.refuse = true;
  EXPECT_TRUE(userstore_test::IsError(h.Call("POST", users + "/alice", {{"FriendlyName", "A"}}),
                                      403, 20403, "Forbidden"));
  EXPECT_TRUE(userstore_test::IsError(h.Call("DELETE", users + "/alice"), 403, 20403));
  EXPECT_EQ(200, h.Call("GET", users + "/alice").status);
  h.store().SetWriteGate(nullptr);
}

}  // namespace
}  // namespace userstore
