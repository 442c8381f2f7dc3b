// Hooks, the change feed, presence and membership, through `UserStore`
// (SEMANTICS 2 and 7, userstore/events.h). Each test names the behaviour it
// guards; each would fail if that behaviour broke.

#include "userstore/events.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kAccount[] = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const absl::Time kStart = absl::FromUnixSeconds(1458854719);

// Thread-safe list of what `on_hook_error` received.
class ErrorLog {
 public:
  void Add(const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(s);
  }
  std::vector<absl::Status> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::vector<absl::Status> errors_;
};

// Records feed events. Delivery is one event at a time, but from whichever
// thread delivers, hence the lock.
class FeedLog {
 public:
  ChangeListener Listener() {
    return [this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    };
  }
  std::vector<ChangeEvent> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::vector<ChangeEvent> events_;
};

std::string Opt(const std::optional<bool>& b) { return b ? (*b ? "true" : "false") : "null"; }
std::string Opt(const std::optional<std::string>& s) { return s ? "\"" + *s + "\"" : "null"; }

// A complete textual image of a change event (every field), so that two
// events compare equal exactly when they carry the same data.
std::string Describe(const ChangeEvent& e, bool with_sequence) {
  static const char* kEntity[] = {"service", "role", "user"};
  static const char* kOp[] = {"create", "update", "delete"};
  std::string out =
      absl::StrCat(kEntity[static_cast<int>(e.entity)], " ", kOp[static_cast<int>(e.op)],
                   e.default_conversation_service ? " default" : "");
  if (with_sequence) out = absl::StrCat(e.sequence, " ", out);
  if (e.service) {
    const Service& s = *e.service;
    absl::StrAppend(&out, " ", s.sid, " ", s.account_sid, " ", s.friendly_name, " ",
                    s.default_service_role_sid, " ", s.default_channel_role_sid, " ",
                    s.default_channel_creator_role_sid, " reach=", s.reachability_enabled, " ",
                    absl::ToUnixSeconds(s.date_created), " ", absl::ToUnixSeconds(s.date_updated));
  }
  if (e.role) {
    const Role& r = *e.role;
    absl::StrAppend(&out, " ", r.sid, " ", r.account_sid, " ", r.service_sid, " ", r.friendly_name,
                    " type=", static_cast<int>(r.type), " [", absl::StrJoin(r.permissions, ","),
                    "] ", absl::ToUnixSeconds(r.date_created), " ",
                    absl::ToUnixSeconds(r.date_updated));
  }
  if (e.user) {
    const User& u = *e.user;
    absl::StrAppend(&out, " ", u.sid, " ", u.account_sid, " ", u.service_sid, " ", u.role_sid,
                    " id=", u.identity, " attrs=", u.attributes, " fn=", Opt(u.friendly_name),
                    " online=", Opt(u.is_online), " notifiable=", Opt(u.is_notifiable),
                    " channels=", u.joined_channels_count, " ", absl::ToUnixSeconds(u.date_created),
                    " ", absl::ToUnixSeconds(u.date_updated));
  }
  return out;
}

std::vector<std::string> DescribeAll(const std::vector<ChangeEvent>& events) {
  std::vector<std::string> out;
  for (const ChangeEvent& e : events) out.push_back(Describe(e, false));
  return out;
}

std::string Kind(const ChangeEvent& e) {
  static const char* kEntity[] = {"service", "role", "user"};
  static const char* kOp[] = {"create", "update", "delete"};
  return absl::StrCat(kEntity[static_cast<int>(e.entity)], ":", kOp[static_cast<int>(e.op)]);
}

template <typename Fn>
void RunThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back([&fn, t] { fn(t); });
  for (auto& th : threads) th.join();
}

class EventsTest : public ::testing::Test {
 protected:
  EventsTest() { Reset(StoreOptions()); }

  void Reset(StoreOptions options) {
    clock_ = std::make_shared<ManualClock>(kStart);
    options.clock = clock_;
    options.seed = 17;
    options.account_sid = kAccount;
    options.on_hook_error = [this](const absl::Status& s) { errors_.Add(s); };
    store_ = std::make_unique<UserStore>(options);
    CreateServiceRequest req;
    req.friendly_name = "events";
    absl::StatusOr<Service> s = store_->CreateService(req);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *s;
  }

  User MustCreate(const std::string& identity, bool webhooks = false) {
    CreateUserRequest req;
    req.identity = identity;
    req.webhooks_enabled = webhooks;
    absl::StatusOr<User> u = store_->CreateUser(service_.sid, req);
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : User();
  }

  User MustGet(const std::string& user) {
    absl::StatusOr<User> u = store_->GetUser(service_.sid, user);
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : User();
  }

  void SetReachability(bool on) {
    UpdateServiceRequest req;
    req.reachability_enabled = on;
    ASSERT_TRUE(store_->UpdateService(service_.sid, req).ok());
  }

  // Records every hook call of `type` (thread-safe).
  struct HookLog {
    std::mutex mu;
    std::vector<UserEvent> events;
    std::vector<UserEvent> Get() {
      std::lock_guard<std::mutex> lock(mu);
      return events;
    }
  };
  uint64_t Record(HookType type, HookLog* log, absl::Status result = absl::OkStatus()) {
    return store_->AddHook(type, [log, result](const UserEvent& e) {
      std::lock_guard<std::mutex> lock(log->mu);
      log->events.push_back(e);
      return result;
    });
  }

  std::shared_ptr<ManualClock> clock_;
  ErrorLog errors_;
  std::unique_ptr<UserStore> store_;
  Service service_;
};

// --- hooks ------------------------------------------------------------------------

TEST_F(EventsTest, HooksFireOnlyWhenWebhooksAreEnabled) {
  HookLog added, update, updated;
  Record(HookType::kOnUserAdded, &added);
  Record(HookType::kOnUserUpdate, &update);
  Record(HookType::kOnUserUpdated, &updated);

  MustCreate("quiet");
  UpdateUserRequest change;
  change.friendly_name = "Q";
  ASSERT_TRUE(store_->UpdateUser(service_.sid, "quiet", change).ok());
  PresenceUpdate presence;
  presence.is_online = true;
  ASSERT_TRUE(store_->SetPresence(service_.sid, "quiet", presence).ok());
  EXPECT_THAT(added.Get(), IsEmpty());
  EXPECT_THAT(update.Get(), IsEmpty());
  EXPECT_THAT(updated.Get(), IsEmpty());

  MustCreate("loud", /*webhooks=*/true);
  change.friendly_name = "L";
  change.webhooks_enabled = true;
  ASSERT_TRUE(store_->UpdateUser(service_.sid, "loud", change).ok());
  EXPECT_EQ(added.Get().size(), 1u);
  EXPECT_EQ(update.Get().size(), 1u);
  EXPECT_EQ(updated.Get().size(), 1u);
}

TEST_F(EventsTest, OnUserAddedCarriesTwilioFields) {
  HookLog added;
  Record(HookType::kOnUserAdded, &added);
  clock_->Advance(absl::Seconds(30));
  CreateUserRequest req;
  req.identity = "alice";
  req.friendly_name = "Alice";
  req.attributes = R"({"level": 3})";
  req.webhooks_enabled = true;
  absl::StatusOr<User> alice = store_->CreateUser(service_.sid, req);
  ASSERT_TRUE(alice.ok()) << alice.status();
  std::vector<UserEvent> events = added.Get();
  ASSERT_EQ(events.size(), 1u);
  const UserEvent& e = events[0];
  EXPECT_EQ(e.event_type, "onUserAdded");
  EXPECT_EQ(e.account_sid, kAccount);
  EXPECT_EQ(e.service_sid, service_.sid);
  EXPECT_EQ(e.user_sid, alice->sid);
  EXPECT_EQ(e.identity, "alice");
  EXPECT_EQ(e.friendly_name, std::optional<std::string>("Alice"));
  EXPECT_EQ(e.attributes, R"({"level": 3})");
  EXPECT_EQ(e.role_sid, service_.default_service_role_sid);
  EXPECT_EQ(e.date_created, kStart + absl::Seconds(30));
  EXPECT_EQ(e.date_updated, kStart + absl::Seconds(30));
  EXPECT_EQ(e.is_online, std::nullopt);
  EXPECT_EQ(e.is_notifiable, std::nullopt);
  EXPECT_EQ(e.source, "API");
}

TEST_F(EventsTest, OnUserUpdateCarriesTheProposedValues) {
  MustCreate("bob");
  CreateRoleRequest role_req;
  role_req.friendly_name = "moderator";
  role_req.type = "deployment";
  role_req.permissions = {"editAnyMessage"};
  absl::StatusOr<Role> moderator = store_->CreateRole(service_.sid, role_req);
  ASSERT_TRUE(moderator.ok());
  HookLog update;
  Record(HookType::kOnUserUpdate, &update);
  clock_->Advance(absl::Seconds(9));
  UpdateUserRequest req;
  req.attributes = R"({"new":true})";
  req.role_sid = moderator->sid;
  req.webhooks_enabled = true;
  ASSERT_TRUE(store_->UpdateUser(service_.sid, "bob", req).ok());
  std::vector<UserEvent> events = update.Get();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "onUserUpdate");
  EXPECT_EQ(events[0].identity, "bob");
  EXPECT_EQ(events[0].attributes, R"({"new":true})");
  EXPECT_EQ(events[0].role_sid, moderator->sid);
  EXPECT_EQ(events[0].friendly_name, std::nullopt);  // unchanged, never set
  EXPECT_EQ(events[0].date_created, kStart);
  EXPECT_EQ(events[0].date_updated, kStart + absl::Seconds(9));
}

TEST_F(EventsTest, OnUserUpdatedCarriesTheCommittedUser) {
  MustCreate("carol");
  HookLog updated;
  Record(HookType::kOnUserUpdated, &updated);
  UpdateUserRequest req;
  req.friendly_name = "Carol";
  req.webhooks_enabled = true;
  absl::StatusOr<User> result = store_->UpdateUser(service_.sid, "carol", req);
  ASSERT_TRUE(result.ok());
  std::vector<UserEvent> events = updated.Get();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "onUserUpdated");
  EXPECT_EQ(events[0].user_sid, result->sid);
  EXPECT_EQ(events[0].friendly_name, std::optional<std::string>("Carol"));
  EXPECT_EQ(events[0].attributes, "{}");
}

TEST_F(EventsTest, VetoRefusesTheUpdateWith403AndChangesNothing) {
  User before = MustCreate("dave");
  HookLog updated;
  Record(HookType::kOnUserUpdated, &updated);
  store_->AddHook(HookType::kOnUserUpdate, [](const UserEvent& e) {
    return e.attributes.find("forbidden") != std::string::npos
               ? absl::PermissionDeniedError("no forbidden words")
               : absl::OkStatus();
  });
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  const uint64_t seq = store_->last_sequence();
  clock_->Advance(absl::Seconds(5));
  UpdateUserRequest req;
  req.attributes = R"({"word":"forbidden"})";
  req.friendly_name = "Dave";
  req.webhooks_enabled = true;
  absl::StatusOr<User> result = store_->UpdateUser(service_.sid, "dave", req);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorCodeOf(result.status()), ErrorCode::kWebhookRejected);
  EXPECT_EQ(HttpStatusOf(result.status()), 403);
  User after = MustGet("dave");
  EXPECT_EQ(after.attributes, "{}");
  EXPECT_EQ(after.friendly_name, std::nullopt);
  EXPECT_EQ(after.date_updated, before.date_updated);
  EXPECT_EQ(store_->last_sequence(), seq);
  EXPECT_THAT(feed.Get(), IsEmpty());
  EXPECT_THAT(updated.Get(), IsEmpty());  // no post-event for a refused update
  EXPECT_THAT(errors_.Get(), IsEmpty());  // a veto is an answer, not an error

  // The same update without webhooks is not subject to the hook.
  req.webhooks_enabled = false;
  EXPECT_TRUE(store_->UpdateUser(service_.sid, "dave", req).ok());
  EXPECT_EQ(MustGet("dave").attributes, R"({"word":"forbidden"})");
}

TEST_F(EventsTest, ThrowingPreEventHookRefusesTheUpdateAndIsReported) {
  MustCreate("erin");
  store_->AddHook(HookType::kOnUserUpdate,
                  [](const UserEvent&) -> absl::Status { throw std::runtime_error("hook bug"); });
  UpdateUserRequest req;
  req.friendly_name = "Erin";
  req.webhooks_enabled = true;
  absl::StatusOr<User> result = store_->UpdateUser(service_.sid, "erin", req);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorCodeOf(result.status()), ErrorCode::kInternal);
  EXPECT_EQ(HttpStatusOf(result.status()), 500);
  EXPECT_EQ(MustGet("erin").friendly_name, std::nullopt);
  std::vector<absl::Status> errors = errors_.Get();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("hook bug"));
}

TEST_F(EventsTest, ThrowingOrFailingPostHooksAreReportedAndTheChangeStays) {
  store_->AddHook(HookType::kOnUserAdded,
                  [](const UserEvent&) -> absl::Status { throw std::runtime_error("added bug"); });
  store_->AddHook(HookType::kOnUserUpdated,
                  [](const UserEvent&) { return absl::UnavailableError("downstream down"); });
  User frank = MustCreate("frank", /*webhooks=*/true);
  EXPECT_FALSE(frank.sid.empty());
  UpdateUserRequest req;
  req.friendly_name = "Frank";
  req.webhooks_enabled = true;
  absl::StatusOr<User> result = store_->UpdateUser(service_.sid, "frank", req);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(MustGet("frank").friendly_name, std::optional<std::string>("Frank"));
  std::vector<absl::Status> errors = errors_.Get();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("added bug"));
  EXPECT_EQ(errors[1].message(), "downstream down");
}

TEST_F(EventsTest, HookMayCallTheStoreReentrantly) {
  // onUserAdded fills in the new user's profile; onUserUpdated bumps a counter
  // in the attributes, with webhooks on, until it reaches 3 (hooks recursing
  // through the store).
  store_->AddHook(HookType::kOnUserAdded, [this](const UserEvent& e) {
    absl::StatusOr<User> self = store_->GetUser(e.service_sid, e.user_sid);
    if (!self.ok()) return self.status();
    UpdateUserRequest req;
    req.friendly_name = "Profile of " + e.identity;
    req.attributes = R"({"n":0})";
    req.webhooks_enabled = true;
    return store_->UpdateUser(e.service_sid, e.user_sid, req).status();
  });
  std::atomic<int> updated_runs{0};
  store_->AddHook(HookType::kOnUserUpdated, [this, &updated_runs](const UserEvent& e) {
    updated_runs.fetch_add(1);
    const int n = e.attributes[5] - '0';
    if (n >= 3) return absl::OkStatus();
    UpdateUserRequest req;
    req.attributes = absl::StrCat(R"({"n":)", n + 1, "}");
    req.webhooks_enabled = true;
    return store_->UpdateUser(e.service_sid, e.user_sid, req).status();
  });
  MustCreate("gina", /*webhooks=*/true);
  User gina = MustGet("gina");
  EXPECT_EQ(gina.friendly_name, std::optional<std::string>("Profile of gina"));
  EXPECT_EQ(gina.attributes, R"({"n":3})");
  EXPECT_EQ(updated_runs.load(), 4);
  EXPECT_THAT(errors_.Get(), IsEmpty());
}

TEST_F(EventsTest, RemoveHookStopsItAndRefusesUnknownIds) {
  HookLog added;
  const uint64_t id = Record(HookType::kOnUserAdded, &added);
  MustCreate("h1", true);
  EXPECT_TRUE(store_->RemoveHook(id));
  EXPECT_FALSE(store_->RemoveHook(id));
  EXPECT_FALSE(store_->RemoveHook(id + 1000));
  MustCreate("h2", true);
  std::vector<UserEvent> events = added.Get();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].identity, "h1");
}

TEST_F(EventsTest, HooksRunInRegistrationOrder) {
  std::vector<int> order;
  for (int i = 0; i < 4; ++i) {
    store_->AddHook(HookType::kOnUserAdded, [&order, i](const UserEvent&) {
      order.push_back(i);
      return absl::OkStatus();
    });
  }
  MustCreate("ordered", true);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3));
}

TEST_F(EventsTest, PresenceFiresOnlyThePostEventAndDeleteFiresNothing) {
  MustCreate("ivy");
  HookLog added, update, updated;
  Record(HookType::kOnUserAdded, &added);
  Record(HookType::kOnUserUpdate, &update);
  Record(HookType::kOnUserUpdated, &updated);
  PresenceUpdate presence;
  presence.is_online = true;
  presence.webhooks_enabled = true;
  ASSERT_TRUE(store_->SetPresence(service_.sid, "ivy", presence).ok());
  EXPECT_THAT(update.Get(), IsEmpty());
  ASSERT_EQ(updated.Get().size(), 1u);
  EXPECT_EQ(updated.Get()[0].is_online, std::optional<bool>(true));  // the stored value
  ASSERT_TRUE(store_->DeleteUser(service_.sid, "ivy").ok());
  // GetOrCreate of an existing user creates nothing and fires nothing.
  MustCreate("jo");
  CreateUserRequest req;
  req.identity = "jo";
  req.webhooks_enabled = true;
  absl::StatusOr<GetOrCreateResult> again = store_->GetOrCreateUser(service_.sid, req);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_THAT(added.Get(), IsEmpty());
  EXPECT_EQ(updated.Get().size(), 1u);
}

// --- the change feed ------------------------------------------------------------

TEST_F(EventsTest, ConstructionCommitsTheDefaultServiceAndItsRoles) {
  StoreOptions options;
  options.seed = 1;
  UserStore fresh(options);
  EXPECT_EQ(fresh.last_sequence(), 5u);
  UserStore::SnapshotData snap = fresh.Snapshot();
  EXPECT_EQ(snap.sequence, 5u);
  ASSERT_EQ(snap.events.size(), 5u);
  EXPECT_EQ(Kind(snap.events[0]), "service:create");
  EXPECT_TRUE(snap.events[0].default_conversation_service);
  EXPECT_EQ(snap.events[0].service->sid, fresh.default_conversation_service_sid());
  for (int i = 1; i < 5; ++i) EXPECT_EQ(Kind(snap.events[i]), "role:create");
  options.create_default_service = false;
  UserStore replica(options);
  EXPECT_EQ(replica.last_sequence(), 0u);
  EXPECT_THAT(replica.Snapshot().events, IsEmpty());
}

TEST_F(EventsTest, FeedPublishesEveryMutationInCommitOrderWithoutGaps) {
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  const uint64_t start = store_->last_sequence();

  CreateServiceRequest sreq;
  sreq.friendly_name = "second";
  absl::StatusOr<Service> second = store_->CreateService(sreq);
  ASSERT_TRUE(second.ok());
  UpdateServiceRequest reach;
  reach.reachability_enabled = true;
  ASSERT_TRUE(store_->UpdateService(second->sid, reach).ok());
  CreateRoleRequest rreq;
  rreq.friendly_name = "extra";
  rreq.type = "channel";
  rreq.permissions = {"sendMessage"};
  absl::StatusOr<Role> extra = store_->CreateRole(second->sid, rreq);
  ASSERT_TRUE(extra.ok());
  CreateUserRequest ureq;
  ureq.identity = "kim";
  ASSERT_TRUE(store_->CreateUser(second->sid, ureq).ok());
  UpdateUserRequest upd;
  upd.attributes = "[1]";
  ASSERT_TRUE(store_->UpdateUser(second->sid, "kim", upd).ok());
  PresenceUpdate presence;
  presence.is_online = false;
  ASSERT_TRUE(store_->SetPresence(second->sid, "kim", presence).ok());
  ASSERT_TRUE(store_->JoinChannel(second->sid, "kim").ok());
  ASSERT_TRUE(store_->LeaveChannel(second->sid, "kim").ok());
  ASSERT_TRUE(store_->DeleteUser(second->sid, "kim").ok());
  ASSERT_TRUE(store_->DeleteRole(second->sid, extra->sid).ok());
  ureq.identity = "lee";
  ASSERT_TRUE(store_->CreateUser(second->sid, ureq).ok());
  ASSERT_TRUE(store_->DeleteService(second->sid).ok());

  std::vector<ChangeEvent> events = feed.Get();
  std::vector<std::string> kinds;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, start + 1 + i) << "gap or reorder at " << i;
    kinds.push_back(Kind(events[i]));
  }
  EXPECT_THAT(kinds, ElementsAre("service:create", "role:create", "role:create", "role:create",
                                 "role:create", "service:update", "role:create", "user:create",
                                 "user:update", "user:update", "user:update", "user:update",
                                 "user:delete", "role:delete", "user:create", "service:delete"));
  EXPECT_EQ(store_->last_sequence(), start + events.size());
  ASSERT_EQ(events.size(), 16u);
  // Payloads: the state after the change; deletes carry the state before.
  EXPECT_TRUE(events[5].service->reachability_enabled);
  EXPECT_EQ(events[8].user->attributes, "[1]");
  EXPECT_EQ(events[9].user->is_online, std::optional<bool>(false));  // stored presence
  EXPECT_EQ(events[10].user->joined_channels_count, 1);
  EXPECT_EQ(events[11].user->joined_channels_count, 0);
  EXPECT_EQ(events[12].user->identity, "kim");
  EXPECT_EQ(events[13].role->sid, extra->sid);
  EXPECT_EQ(events[15].service->sid, second->sid);
  for (const ChangeEvent& e : events) {
    const int set = e.service.has_value() + e.role.has_value() + e.user.has_value();
    EXPECT_EQ(set, 1) << "exactly one payload per event";
  }
}

TEST_F(EventsTest, FeedIgnoresFailedMutations) {
  MustCreate("mia");
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  const uint64_t seq = store_->last_sequence();
  CreateUserRequest dup;
  dup.identity = "mia";
  EXPECT_FALSE(store_->CreateUser(service_.sid, dup).ok());
  UpdateUserRequest bad;
  bad.attributes = "{not json";
  EXPECT_FALSE(store_->UpdateUser(service_.sid, "mia", bad).ok());
  EXPECT_FALSE(store_->LeaveChannel(service_.sid, "mia").ok());
  EXPECT_FALSE(store_->DeleteUser(service_.sid, "nobody").ok());
  EXPECT_FALSE(store_->DeleteService(store_->default_conversation_service_sid()).ok());
  EXPECT_FALSE(store_->DeleteRole(service_.sid, service_.default_service_role_sid).ok());
  EXPECT_EQ(store_->last_sequence(), seq);
  EXPECT_THAT(feed.Get(), IsEmpty());
}

TEST_F(EventsTest, ListenerMayCallTheStoreAndSeesItsOwnChangesNext) {
  std::vector<std::string> seen;  // delivery is serialized; one thread here
  store_->Subscribe([&](const ChangeEvent& e) {
    seen.push_back(absl::StrCat(e.sequence, " ", Kind(e)));
    if (e.entity == ChangeEvent::Entity::kUser && e.op == ChangeEvent::Op::kCreate) {
      // Re-entrant: a write from inside delivery must not deadlock, and its
      // event must be delivered after this call returns, not inside it.
      UpdateUserRequest req;
      req.friendly_name = "seen by the feed";
      const size_t before = seen.size();
      EXPECT_TRUE(store_->UpdateUser(e.user->service_sid, e.user->sid, req).ok());
      EXPECT_EQ(seen.size(), before);
      EXPECT_TRUE(store_->Snapshot().events.size() > 0);
    }
  });
  const uint64_t seq = store_->last_sequence();
  MustCreate("noa");
  EXPECT_THAT(seen, ElementsAre(absl::StrCat(seq + 1, " user:create"),
                                absl::StrCat(seq + 2, " user:update")));
  EXPECT_EQ(MustGet("noa").friendly_name, std::optional<std::string>("seen by the feed"));
}

TEST_F(EventsTest, ThrowingListenerIsReportedAndTheChangeCommits) {
  store_->Subscribe([](const ChangeEvent&) { throw std::runtime_error("listener bug"); });
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  MustCreate("omar");
  MustCreate("pia");
  EXPECT_EQ(MustGet("omar").identity, "omar");
  EXPECT_EQ(feed.size(), 2u);  // the other subscriber still gets everything
  std::vector<absl::Status> errors = errors_.Get();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("listener bug"));
}

TEST_F(EventsTest, UnsubscribeStopsDelivery) {
  FeedLog feed;
  const uint64_t id = store_->Subscribe(feed.Listener());
  MustCreate("quin");
  EXPECT_TRUE(store_->Unsubscribe(id));
  EXPECT_FALSE(store_->Unsubscribe(id));
  MustCreate("rae");
  EXPECT_EQ(feed.size(), 1u);
}

TEST_F(EventsTest, FeedIsGapFreeAndInCommitOrderUnderEightWriters) {
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  const uint64_t start = store_->last_sequence();
  MustCreate("counter");
  constexpr int kThreads = 8;
  constexpr int kJoinsEach = 25;  // 200 joins < 250
  RunThreads(kThreads, [&](int t) {
    std::mt19937_64 rng(t);
    for (int i = 0; i < kJoinsEach; ++i) {
      EXPECT_TRUE(store_->JoinChannel(service_.sid, "counter").ok());
      const std::string identity = absl::StrCat("w", t, "-", i % 5);
      CreateUserRequest req;
      req.identity = identity;
      (void)store_->CreateUser(service_.sid, req);
      UpdateUserRequest upd;
      upd.attributes = absl::StrCat("[", i, "]");
      (void)store_->UpdateUser(service_.sid, identity, upd);
      if (rng() % 3 == 0) (void)store_->DeleteUser(service_.sid, identity);
    }
  });
  // Every call has returned, so every event has been delivered.
  std::vector<ChangeEvent> events = feed.Get();
  ASSERT_EQ(events.size(), store_->last_sequence() - start);
  std::map<std::string, std::vector<const ChangeEvent*>> by_user;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].sequence, start + 1 + i);
    by_user[events[i].user->sid].push_back(&events[i]);
  }
  for (const auto& [sid, list] : by_user) {
    EXPECT_EQ(list.front()->op, ChangeEvent::Op::kCreate) << sid;
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_NE(list[i - 1]->op, ChangeEvent::Op::kDelete) << "an event after a delete";
      EXPECT_NE(list[i]->op, ChangeEvent::Op::kCreate) << "a second create";
    }
  }
  // Sequence order is commit order: the joins of the shared user are numbered
  // exactly in the order their counts were taken.
  const std::string counter = MustGet("counter").sid;
  int expected = 0;
  for (const ChangeEvent* e : by_user[counter]) {
    EXPECT_EQ(e->user->joined_channels_count, expected++);
  }
  EXPECT_EQ(expected, kThreads * kJoinsEach + 1);
}

// Builds a replica from `source`: the snapshot first, then the feed. Events
// delivered before the snapshot is applied are buffered, so the replica sees
// exactly the source's history, in order, whenever the writers run.
class Replicator {
 public:
  Replicator(UserStore* source, UserStore* replica) : replica_(replica) {
    UserStore::Subscription sub = source->SubscribeWithSnapshot([this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ready_) {
        pending_.push_back(e);
        return;
      }
      ApplyLocked(e);
    });
    std::lock_guard<std::mutex> lock(mu_);
    for (const ChangeEvent& e : sub.snapshot.events) ApplyLocked(e);
    // The feed continues exactly where the snapshot ends.
    last_ = sub.snapshot.sequence;
    for (const ChangeEvent& e : pending_) ApplyLocked(e);
    pending_.clear();
    ready_ = true;
    id_ = sub.id;
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  uint64_t id() const { return id_; }

 private:
  void ApplyLocked(const ChangeEvent& e) {
    if (e.sequence != 0) {
      if (e.sequence != last_ + 1) {
        failures_.push_back(absl::StrCat("sequence ", e.sequence, " after ", last_));
      }
      last_ = e.sequence;
    }
    absl::Status s = replica_->Apply(e);
    if (!s.ok()) failures_.push_back(Describe(e, true) + ": " + s.ToString());
  }

  UserStore* replica_;
  std::mutex mu_;
  bool ready_ = false;
  uint64_t last_ = 0;
  uint64_t id_ = 0;
  std::vector<ChangeEvent> pending_;
  std::vector<std::string> failures_;
};

StoreOptions ReplicaOptions(const std::string& account_sid) {
  StoreOptions options;
  options.account_sid = account_sid;
  options.create_default_service = false;
  options.seed = 4242;  // different SIDs would show if Apply generated any
  return options;
}

TEST_F(EventsTest, ReplicaFedBySnapshotAndFeedEndsInTheSameState) {
  constexpr int kThreads = 8;
  std::atomic<int> progress{0};
  std::unique_ptr<UserStore> replica;
  std::unique_ptr<UserStore> chained;
  std::unique_ptr<Replicator> link, chain_link;
  std::vector<std::string> services = {service_.sid, store_->default_conversation_service_sid()};
  RunThreads(kThreads + 1, [&](int t) {
    if (t == kThreads) {
      // Join mid-stream, while the writers are busy.
      while (progress.load() < 300) std::this_thread::yield();
      chained = std::make_unique<UserStore>(ReplicaOptions(kAccount));
      replica = std::make_unique<UserStore>(ReplicaOptions(kAccount));
      // The chained replica follows the replica's own feed (subscribed while
      // the replica is still empty).
      chain_link = std::make_unique<Replicator>(replica.get(), chained.get());
      link = std::make_unique<Replicator>(store_.get(), replica.get());
      return;
    }
    std::mt19937_64 rng(t * 7 + 1);
    std::string own_service;
    for (int i = 0; i < 250; ++i) {
      progress.fetch_add(1);
      if (t == 0 && i % 50 == 0) clock_->Advance(absl::Seconds(1));
      const std::string& svc =
          (!own_service.empty() && rng() % 2 == 0) ? own_service : services[rng() % 2];
      const std::string identity = absl::StrCat("u", rng() % 30);
      switch (rng() % 12) {
        case 0:
        case 1: {
          CreateUserRequest req;
          req.identity = identity;
          req.friendly_name = absl::StrCat("T", t);
          (void)store_->CreateUser(svc, req);
          break;
        }
        case 2: {
          UpdateUserRequest req;
          req.attributes = absl::StrCat(R"({"i":)", i, "}");
          if (rng() % 2) req.friendly_name = "x";
          (void)store_->UpdateUser(svc, identity, req);
          break;
        }
        case 3:
          (void)store_->DeleteUser(svc, identity);
          break;
        case 4: {
          PresenceUpdate p;
          p.is_online = rng() % 2 == 0;
          if (rng() % 2) p.is_notifiable = true;
          (void)store_->SetPresence(svc, identity, p);
          break;
        }
        case 5:
          (void)store_->JoinChannel(svc, identity);
          break;
        case 6:
          (void)store_->LeaveChannel(svc, identity);
          break;
        case 7: {
          CreateUserRequest req;
          req.identity = identity;
          req.attributes = "[true]";
          (void)store_->GetOrCreateUser(svc, req);
          break;
        }
        case 8: {
          // Services come and go; users and roles go with them.
          if (!own_service.empty() && rng() % 3 == 0) {
            (void)store_->DeleteService(own_service);
            own_service.clear();
          } else if (own_service.empty()) {
            CreateServiceRequest req;
            req.friendly_name = absl::StrCat("svc", t, "-", i);
            absl::StatusOr<Service> s = store_->CreateService(req);
            if (s.ok()) own_service = s->sid;
          }
          break;
        }
        case 9: {
          UpdateServiceRequest req;
          req.reachability_enabled = rng() % 2 == 0;
          if (rng() % 4 == 0) req.friendly_name = absl::StrCat("renamed", i);
          (void)store_->UpdateService(svc, req);
          break;
        }
        case 10: {
          CreateRoleRequest req;
          req.friendly_name = absl::StrCat("role", t, "-", i);
          req.type = "deployment";
          req.permissions = {"p1", "p2"};
          absl::StatusOr<Role> r = store_->CreateRole(svc, req);
          if (r.ok()) {
            UpdateUserRequest assign;
            assign.role_sid = r->sid;
            (void)store_->UpdateUser(svc, identity, assign);
            if (rng() % 2) (void)store_->DeleteRole(svc, r->sid);  // 409 when assigned
          }
          break;
        }
        default: {
          absl::StatusOr<Service> s = store_->GetService(svc);
          if (s.ok() && rng() % 2) {
            UpdateServiceRequest req;
            req.default_service_role_sid = s->default_service_role_sid;
            (void)store_->UpdateService(svc, req);
          }
          break;
        }
      }
    }
  });
  ASSERT_NE(replica, nullptr);
  EXPECT_THAT(link->failures(), IsEmpty());
  EXPECT_THAT(chain_link->failures(), IsEmpty());
  const std::vector<std::string> want = DescribeAll(store_->Snapshot().events);
  EXPECT_GT(want.size(), 10u);
  EXPECT_EQ(DescribeAll(replica->Snapshot().events), want);
  EXPECT_EQ(DescribeAll(chained->Snapshot().events), want);
  EXPECT_EQ(replica->default_conversation_service_sid(),
            store_->default_conversation_service_sid());
  EXPECT_EQ(replica->account_sid(), store_->account_sid());
  EXPECT_TRUE(replica->CheckInvariants().ok()) << replica->CheckInvariants();
  EXPECT_TRUE(chained->CheckInvariants().ok()) << chained->CheckInvariants();
  EXPECT_TRUE(store_->CheckInvariants().ok());
  // Reads through the replica match reads through the source.
  for (const std::string& svc : services) {
    ListRequest req;
    req.page_size = 1000;
    absl::StatusOr<UserPage> a = store_->ListUsers(svc, req);
    absl::StatusOr<UserPage> b = replica->ListUsers(svc, req);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->items.size(), b->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
      EXPECT_EQ(a->items[i].sid, b->items[i].sid);
      absl::StatusOr<User> fa = store_->GetUser(svc, a->items[i].sid);
      absl::StatusOr<User> fb = replica->GetUser(svc, a->items[i].identity);
      ASSERT_TRUE(fa.ok() && fb.ok());
      EXPECT_EQ(fa->is_online, fb->is_online);
      EXPECT_EQ(fa->date_updated, fb->date_updated);
    }
  }
}

TEST_F(EventsTest, ApplyFailuresChangeNothing) {
  MustCreate("sam");
  auto replica = std::make_unique<UserStore>(ReplicaOptions(kAccount));
  Replicator link(store_.get(), replica.get());
  ASSERT_THAT(link.failures(), IsEmpty());
  ASSERT_TRUE(store_->Unsubscribe(link.id()));
  const std::vector<std::string> before = DescribeAll(replica->Snapshot().events);
  const uint64_t seq = replica->last_sequence();
  FeedLog replica_feed;
  replica->Subscribe(replica_feed.Listener());

  const User sam = MustGet("sam");
  auto user_event = [&](ChangeEvent::Op op, User u) {
    ChangeEvent e;
    e.entity = ChangeEvent::Entity::kUser;
    e.op = op;
    e.user = std::move(u);
    return e;
  };
  // Creating a user SID that exists: 409/50201.
  EXPECT_EQ(ErrorCodeOf(replica->Apply(user_event(ChangeEvent::Op::kCreate, sam))),
            ErrorCode::kUserAlreadyExists);
  // A user of a missing service: 404.
  User orphan = sam;
  orphan.sid = "US" + std::string(32, '1');
  orphan.identity = "orphan";
  orphan.service_sid = "IS" + std::string(32, '2');
  EXPECT_EQ(ErrorCodeOf(replica->Apply(user_event(ChangeEvent::Op::kCreate, orphan))),
            ErrorCode::kNotFound);
  // A user with a role the service does not have: 404.
  User roleless = sam;
  roleless.sid = "US" + std::string(32, '3');
  roleless.identity = "roleless";
  roleless.role_sid = "RL" + std::string(32, '4');
  EXPECT_EQ(ErrorCodeOf(replica->Apply(user_event(ChangeEvent::Op::kCreate, roleless))),
            ErrorCode::kNotFound);
  // Updating or deleting a missing user: 404.
  User ghost = sam;
  ghost.sid = "US" + std::string(32, '5');
  ghost.identity = "ghost";
  EXPECT_EQ(ErrorCodeOf(replica->Apply(user_event(ChangeEvent::Op::kUpdate, ghost))),
            ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeOf(replica->Apply(user_event(ChangeEvent::Op::kDelete, ghost))),
            ErrorCode::kNotFound);
  // An event whose payload does not match its entity.
  ChangeEvent empty;
  empty.entity = ChangeEvent::Entity::kRole;
  EXPECT_FALSE(replica->Apply(empty).ok());
  // A service that exists already.
  ChangeEvent dup_service;
  dup_service.entity = ChangeEvent::Entity::kService;
  dup_service.op = ChangeEvent::Op::kCreate;
  dup_service.service = *store_->GetService(service_.sid);
  EXPECT_FALSE(replica->Apply(dup_service).ok());
  // A malformed SID.
  User bad = sam;
  bad.sid = "not a sid";
  EXPECT_FALSE(replica->Apply(user_event(ChangeEvent::Op::kCreate, bad)).ok());

  EXPECT_EQ(DescribeAll(replica->Snapshot().events), before);
  EXPECT_EQ(replica->last_sequence(), seq);
  EXPECT_THAT(replica_feed.Get(), IsEmpty());
  EXPECT_TRUE(replica->CheckInvariants().ok());
  // And a good event still applies, and is published on the replica's feed.
  User tom = sam;
  tom.sid = "US" + std::string(32, '6');
  tom.identity = "tom";
  EXPECT_TRUE(replica->Apply(user_event(ChangeEvent::Op::kCreate, tom)).ok());
  EXPECT_EQ(replica_feed.size(), 1u);
  absl::StatusOr<User> got_tom = replica->GetUser(service_.sid, "tom");
  ASSERT_TRUE(got_tom.ok()) << got_tom.status();
  EXPECT_EQ(got_tom->sid, tom.sid);
}

TEST_F(EventsTest, ApplyFiresNoHooks) {
  auto replica = std::make_unique<UserStore>(ReplicaOptions(kAccount));
  std::atomic<int> calls{0};
  replica->AddHook(HookType::kOnUserAdded, [&](const UserEvent&) {
    calls.fetch_add(1);
    return absl::OkStatus();
  });
  Replicator link(store_.get(), replica.get());
  MustCreate("uma", true);
  EXPECT_THAT(link.failures(), IsEmpty());
  EXPECT_TRUE(replica->GetUser(service_.sid, "uma").ok());
  EXPECT_EQ(calls.load(), 0);
}

// --- presence ---------------------------------------------------------------------

TEST_F(EventsTest, PresenceIsNullWhileReachabilityIsOff) {
  User created = MustCreate("val");
  EXPECT_EQ(created.is_online, std::nullopt);
  PresenceUpdate p;
  p.is_online = true;
  p.is_notifiable = true;
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  absl::StatusOr<User> shown = store_->SetPresence(service_.sid, "val", p);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->is_online, std::nullopt);
  EXPECT_EQ(shown->is_notifiable, std::nullopt);
  EXPECT_EQ(MustGet("val").is_online, std::nullopt);
  UpdateUserRequest upd;
  upd.friendly_name = "Val";
  absl::StatusOr<User> updated = store_->UpdateUser(service_.sid, "val", upd);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->is_online, std::nullopt);
  EXPECT_EQ(updated->is_notifiable, std::nullopt);
  // The feed carries the stored values, so that a replica is exact.
  std::vector<ChangeEvent> events = feed.Get();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].user->is_online, std::optional<bool>(true));
  EXPECT_EQ(events[0].user->is_notifiable, std::optional<bool>(true));
  // Turning reachability on shows what was stored meanwhile.
  SetReachability(true);
  EXPECT_EQ(MustGet("val").is_online, std::optional<bool>(true));
  SetReachability(false);
  EXPECT_EQ(MustGet("val").is_online, std::nullopt);
}

TEST_F(EventsTest, PresenceIsNullUntilFirstSetThenShownOnFetchCreateAndUpdate) {
  SetReachability(true);
  User created = MustCreate("wes");
  EXPECT_EQ(created.is_online, std::nullopt);
  EXPECT_EQ(created.is_notifiable, std::nullopt);
  EXPECT_EQ(MustGet("wes").is_online, std::nullopt);
  PresenceUpdate online;
  online.is_online = true;
  absl::StatusOr<User> shown = store_->SetPresence(service_.sid, "wes", online);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(shown->is_online, std::optional<bool>(true));
  EXPECT_EQ(shown->is_notifiable, std::nullopt);  // never set
  PresenceUpdate notifiable;
  notifiable.is_notifiable = false;
  ASSERT_TRUE(store_->SetPresence(service_.sid, "wes", notifiable).ok());
  User fetched = MustGet("wes");
  EXPECT_EQ(fetched.is_online, std::optional<bool>(true));  // kept
  EXPECT_EQ(fetched.is_notifiable, std::optional<bool>(false));
  UpdateUserRequest upd;
  upd.attributes = "[]";
  absl::StatusOr<User> updated = store_->UpdateUser(service_.sid, fetched.sid, upd);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->is_online, std::optional<bool>(true));
  EXPECT_EQ(updated->is_notifiable, std::optional<bool>(false));
  CreateUserRequest again;
  again.identity = "wes";
  absl::StatusOr<GetOrCreateResult> goc = store_->GetOrCreateUser(service_.sid, again);
  ASSERT_TRUE(goc.ok());
  EXPECT_EQ(goc->user.is_online, std::optional<bool>(true));
  EXPECT_EQ(store_->JoinChannel(service_.sid, "wes")->is_notifiable, std::optional<bool>(false));
}

TEST_F(EventsTest, PresenceIsNullInEveryList) {
  SetReachability(true);
  for (const char* id : {"xa", "xb", "xc"}) {
    MustCreate(id);
    PresenceUpdate p;
    p.is_online = true;
    p.is_notifiable = true;
    ASSERT_TRUE(store_->SetPresence(service_.sid, id, p).ok());
  }
  for (Surface surface :
       {Surface::kCpp, Surface::kChatV2, Surface::kChatV1, Surface::kConversations}) {
    ListRequest req;
    req.surface = surface;
    req.page_size = 2;
    for (int page = 0; page < 3; ++page) {
      absl::StatusOr<UserPage> p = store_->ListUsers(service_.sid, req);
      ASSERT_TRUE(p.ok()) << p.status();
      for (const User& u : p->items) {
        EXPECT_EQ(u.is_online, std::nullopt);
        EXPECT_EQ(u.is_notifiable, std::nullopt);
      }
      if (p->next_page_token.empty()) break;
      req.page_token = p->next_page_token;
    }
  }
  EXPECT_EQ(MustGet("xa").is_online, std::optional<bool>(true));
}

TEST_F(EventsTest, SetPresenceMovesDateUpdatedOnlyWhenAValueChanges) {
  SetReachability(true);
  MustCreate("yan");
  clock_->Advance(absl::Seconds(10));
  PresenceUpdate p;
  p.is_online = false;
  ASSERT_TRUE(store_->SetPresence(service_.sid, "yan", p).ok());
  EXPECT_EQ(MustGet("yan").date_updated, kStart + absl::Seconds(10));
  clock_->Advance(absl::Seconds(10));
  const uint64_t seq = store_->last_sequence();
  ASSERT_TRUE(store_->SetPresence(service_.sid, "yan", p).ok());                 // same value
  ASSERT_TRUE(store_->SetPresence(service_.sid, "yan", PresenceUpdate()).ok());  // nothing
  EXPECT_EQ(MustGet("yan").date_updated, kStart + absl::Seconds(10));
  EXPECT_EQ(store_->last_sequence(), seq);
  EXPECT_EQ(ErrorCodeOf(store_->SetPresence(service_.sid, "nobody", p).status()),
            ErrorCode::kNotFound);
}

// --- membership -------------------------------------------------------------------

TEST_F(EventsTest, JoinAndLeaveKeepTheCountAndNeverGoBelowZero) {
  User zed = MustCreate("zed");
  EXPECT_EQ(zed.joined_channels_count, 0);
  absl::Status at_zero = store_->LeaveChannel(service_.sid, "zed").status();
  EXPECT_EQ(ErrorCodeOf(at_zero), ErrorCode::kInvalidParameter);
  EXPECT_EQ(HttpStatusOf(at_zero), 400);
  clock_->Advance(absl::Seconds(3));
  absl::StatusOr<User> joined = store_->JoinChannel(service_.sid, zed.sid);
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->joined_channels_count, 1);
  EXPECT_EQ(joined->date_updated, kStart + absl::Seconds(3));
  ASSERT_TRUE(store_->JoinChannel(service_.sid, "zed").ok());
  absl::StatusOr<User> left = store_->LeaveChannel(service_.sid, "zed");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->joined_channels_count, 1);
  EXPECT_EQ(MustGet("zed").joined_channels_count, 1);
  EXPECT_EQ(ErrorCodeOf(store_->JoinChannel(service_.sid, "nobody").status()),
            ErrorCode::kNotFound);
}

TEST_F(EventsTest, JoinBeyondTheDefaultLimitIs403) {
  MustCreate("max");
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(store_->JoinChannel(service_.sid, "max").ok()) << i;
  absl::Status over = store_->JoinChannel(service_.sid, "max").status();
  EXPECT_EQ(ErrorCodeOf(over), ErrorCode::kUserChannelLimitExceeded);
  EXPECT_EQ(HttpStatusOf(over), 403);
  EXPECT_EQ(MustGet("max").joined_channels_count, 250);
  ASSERT_TRUE(store_->LeaveChannel(service_.sid, "max").ok());
  EXPECT_TRUE(store_->JoinChannel(service_.sid, "max").ok());
}

TEST_F(EventsTest, ChannelLimitIsConfigurable) {
  StoreOptions options;
  options.max_user_channels = 3;
  Reset(options);
  MustCreate("few");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->JoinChannel(service_.sid, "few").ok());
  EXPECT_EQ(ErrorCodeOf(store_->JoinChannel(service_.sid, "few").status()),
            ErrorCode::kUserChannelLimitExceeded);
}

TEST_F(EventsTest, ConcurrentJoinsAndLeavesAreAtomic) {
  MustCreate("busy");
  constexpr int kThreads = 8;
  std::atomic<int> joins{0}, leaves{0}, refused_leaves{0}, bad{0};
  RunThreads(kThreads, [&](int t) {
    std::mt19937_64 rng(t + 100);
    for (int i = 0; i < 150; ++i) {
      const bool join = rng() % 5 < 3;
      absl::StatusOr<User> u = join ? store_->JoinChannel(service_.sid, "busy")
                                    : store_->LeaveChannel(service_.sid, "busy");
      if (u.ok()) {
        (join ? joins : leaves).fetch_add(1);
        if (u->joined_channels_count < 0 || u->joined_channels_count > 250) bad.fetch_add(1);
      } else if (!join && ErrorCodeOf(u.status()) == ErrorCode::kInvalidParameter) {
        refused_leaves.fetch_add(1);
      } else {
        bad.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(MustGet("busy").joined_channels_count, joins.load() - leaves.load());
  EXPECT_TRUE(store_->CheckInvariants().ok());
}

TEST_F(EventsTest, ConcurrentJoinsStopExactlyAtTheLimit) {
  MustCreate("full");
  constexpr int kThreads = 8;
  std::atomic<int> ok{0}, refused{0};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < 50; ++i) {  // 400 attempts for 250 places
      absl::Status s = store_->JoinChannel(service_.sid, "full").status();
      if (s.ok()) {
        ok.fetch_add(1);
      } else if (ErrorCodeOf(s) == ErrorCode::kUserChannelLimitExceeded) {
        refused.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(ok.load(), 250);
  EXPECT_EQ(refused.load(), 150);
  EXPECT_EQ(MustGet("full").joined_channels_count, 250);
}

// --- get-or-create ----------------------------------------------------------------

TEST_F(EventsTest, GetOrCreateHammeredPublishesOneCreatePerIdentity) {
  FeedLog feed;
  store_->Subscribe(feed.Listener());
  HookLog added;
  Record(HookType::kOnUserAdded, &added);
  constexpr int kThreads = 16;
  constexpr int kIdentities = 20;
  std::vector<std::map<std::string, std::string>> sids(kThreads);
  std::atomic<int> created{0};
  RunThreads(kThreads, [&](int t) {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < kIdentities; ++i) {
        CreateUserRequest req;
        req.identity = absl::StrCat("g", (i + t) % kIdentities);
        req.webhooks_enabled = true;
        absl::StatusOr<GetOrCreateResult> r = store_->GetOrCreateUser(service_.sid, req);
        ASSERT_TRUE(r.ok()) << r.status();
        if (r->created) created.fetch_add(1);
        auto [it, inserted] = sids[t].emplace(*req.identity, r->user.sid);
        EXPECT_EQ(it->second, r->user.sid) << "one identity, two SIDs";
      }
    }
  });
  EXPECT_EQ(created.load(), kIdentities);
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(sids[t], sids[0]);
  EXPECT_EQ(feed.size(), static_cast<size_t>(kIdentities));
  EXPECT_EQ(added.Get().size(), static_cast<size_t>(kIdentities));
}

}  // namespace
}  // namespace userstore
