// UserStore::ApplyEncoded: a replica fed the encoded events of a store ends
// in the state, and publishes the feed, that Apply() of the same events
// gives; a refused event changes what Apply's refusal changes (nothing); a
// batch with an event that does not decode applies nothing; a durable
// replica journals what it applied so that it reopens in the same state.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/fault_injection_env.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/durable/files.h"

namespace userstore {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using userstore_testing::IsError;
using userstore_testing::IsOk;

constexpr char kAccount[] = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const absl::Time kStart = absl::FromUnixSeconds(1458854719);

// Every field of an event, as bytes: its v1 encoding (sequence included).
std::string Encoded(const ChangeEvent& event) {
  std::string out;
  const absl::Status status = EncodeChangeEvent(event, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

std::vector<std::string> EncodedAll(const std::vector<ChangeEvent>& events) {
  std::vector<std::string> out;
  for (const ChangeEvent& e : events) out.push_back(Encoded(e));
  return out;
}

// What a store's feed delivered, encoded.
class FeedLog {
 public:
  ChangeListener Listener() {
    return [this](const ChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(Encoded(e));
    };
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

StoreOptions ReplicaOptions(const std::string& account = kAccount) {
  StoreOptions options;
  options.account_sid = account;
  options.create_default_service = false;
  options.seed = 4242;  // a SID drawn by a replica would show
  return options;
}

std::vector<absl::string_view> Views(const std::vector<std::string>& events) {
  return std::vector<absl::string_view>(events.begin(), events.end());
}

// A source store with a history of every kind of change: services (one
// deleted, one with reachability on), roles (created, assigned, updated
// away from, deleted), users created with and without friendly names,
// updated (texts, presence, role, channels), deleted and re-created.
// `events` holds its whole history: the snapshot of its start, then its feed.
class Source {
 public:
  explicit Source(const std::string& account = kAccount) {
    StoreOptions options;
    options.account_sid = account;
    options.clock = clock_;
    options.seed = 42;
    store_ = std::make_unique<UserStore>(options);
    UserStore::Subscription sub =
        store_->SubscribeWithSnapshot([this](const ChangeEvent& e) { events_.push_back(e); });
    // The snapshot's events (sequence 0) go first.
    events_.insert(events_.begin(), sub.snapshot.events.begin(), sub.snapshot.events.end());
  }

  UserStore& store() { return *store_; }
  const std::vector<ChangeEvent>& events() const { return events_; }
  void Advance() { clock_->Advance(absl::Seconds(7)); }

  // A random history of `steps` writes.
  void Run(int steps, uint64_t seed) {
    std::mt19937_64 rng(seed);
    CreateServiceRequest named;
    named.friendly_name = "second";
    const Service second = *store_->CreateService(named);
    UpdateServiceRequest reach;
    reach.reachability_enabled = true;
    ASSERT_THAT(store_->UpdateService(second.sid, reach), IsOk());
    named.friendly_name = "doomed";
    const Service doomed = *store_->CreateService(named);
    const std::vector<std::string> services = {store_->default_conversation_service_sid(),
                                               second.sid, doomed.sid};
    CreateRoleRequest role_request;
    role_request.friendly_name = "moderator";
    role_request.type = "deployment";
    role_request.permissions = {"editAnyMessage"};
    std::vector<std::string> roles = {store_->CreateRole(second.sid, role_request)->sid};
    for (int i = 0; i < steps; ++i) {
      if (i % 10 == 0) Advance();
      const std::string& svc = services[rng() % (i < steps / 2 ? 3 : 2)];
      const std::string identity = absl::StrCat("user", rng() % 25);
      switch (rng() % 9) {
        case 0:
        case 1: {
          CreateUserRequest req;
          req.identity = identity;
          if (rng() % 2) req.friendly_name = absl::StrCat("Name ", i);
          if (rng() % 2) req.attributes = absl::StrCat(R"({"i":)", i, "}");
          (void)store_->CreateUser(svc, req);
          break;
        }
        case 2: {
          UpdateUserRequest req;
          if (rng() % 2) req.attributes = absl::StrCat(R"({"u":)", i, "}");
          if (rng() % 3 == 0) req.friendly_name = rng() % 2 ? "" : absl::StrCat("F", i);
          if (svc == second.sid && rng() % 2) req.role_sid = roles[rng() % roles.size()];
          (void)store_->UpdateUser(svc, identity, req);
          break;
        }
        case 3:
          (void)store_->DeleteUser(svc, identity);
          break;
        case 4: {
          PresenceUpdate p;
          p.is_online = rng() % 2 == 0;
          if (rng() % 2) p.is_notifiable = rng() % 2 == 0;
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
          role_request.friendly_name = absl::StrCat("role", i);
          absl::StatusOr<Role> role = store_->CreateRole(second.sid, role_request);
          if (role.ok()) roles.push_back(role->sid);
          if (roles.size() > 3) {
            // Refused (409) while a user holds it.
            if (store_->DeleteRole(second.sid, roles[1]).ok()) roles.erase(roles.begin() + 1);
          }
          break;
        }
        default: {
          UpdateServiceRequest req;
          req.friendly_name = absl::StrCat("renamed ", i);
          (void)store_->UpdateService(svc, req);
          break;
        }
      }
      if (i == steps / 2) {
        ASSERT_THAT(store_->DeleteService(doomed.sid), IsOk());
      }
    }
  }

 private:
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kStart);
  std::unique_ptr<UserStore> store_;
  std::vector<ChangeEvent> events_;
};

// The whole state of a store, every field of every entity, in order.
std::vector<std::string> StateOf(const UserStore& store) {
  return EncodedAll(store.Snapshot().events);
}

// Applies `events` through Apply, one by one; returns the first error.
absl::Status ApplyAll(UserStore* store, const std::vector<ChangeEvent>& events) {
  for (const ChangeEvent& e : events) {
    absl::Status status = store->Apply(e);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Applies `encoded` through ApplyEncoded in batches of 1 to 100 events.
absl::Status ApplyEncodedInBatches(UserStore* store, const std::vector<std::string>& encoded,
                                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::vector<absl::string_view> views = Views(encoded);
  for (size_t i = 0; i < views.size();) {
    const size_t n = std::min<size_t>(views.size() - i, 1 + rng() % 100);
    size_t applied = 0;
    absl::Status status = store->ApplyEncoded(absl::MakeConstSpan(&views[i], n), &applied);
    if (!status.ok()) return status;
    EXPECT_EQ(applied, n);
    i += n;
  }
  return absl::OkStatus();
}

// The events of a durable store's journal segments, in order.
std::vector<std::string> JournalEvents(const std::string& dir) {
  std::map<uint64_t, std::string> segments;
  for (const std::string& name : durable_testing::Names(dir)) {
    if (std::optional<uint64_t> n = internal::durable::ParseSegmentName(name)) {
      segments[*n] = dir + "/" + name;
    }
  }
  std::vector<std::string> out;
  for (const auto& [number, path] : segments) {
    const std::string bytes = durable_testing::ReadAll(path);
    for (const auto& record : internal::durable::ScanSegment(bytes).records) {
      out.emplace_back(record.event);
    }
  }
  return out;
}

TEST(ApplyEncodedTest, EndsInApplysStateAndPublishesApplysFeed) {
  Source source;
  source.Run(600, 1);
  const std::vector<std::string> encoded = EncodedAll(source.events());
  ASSERT_GT(encoded.size(), 300u);

  UserStore by_apply(ReplicaOptions());
  UserStore by_bytes(ReplicaOptions());
  FeedLog apply_feed, bytes_feed;
  by_apply.Subscribe(apply_feed.Listener());
  by_bytes.Subscribe(bytes_feed.Listener());
  ASSERT_THAT(ApplyAll(&by_apply, source.events()), IsOk());
  ASSERT_THAT(ApplyEncodedInBatches(&by_bytes, encoded, 2), IsOk());

  const std::vector<std::string> want = StateOf(source.store());
  EXPECT_THAT(StateOf(by_apply), ElementsAreArray(want));
  EXPECT_THAT(StateOf(by_bytes), ElementsAreArray(want));
  EXPECT_EQ(by_bytes.last_sequence(), by_apply.last_sequence());
  EXPECT_EQ(by_bytes.last_sequence(), encoded.size());
  EXPECT_THAT(bytes_feed.Get(), ElementsAreArray(apply_feed.Get()));
  // The replica's feed carries the source's events, renumbered from 1.
  const std::vector<std::string> feed = bytes_feed.Get();
  ASSERT_EQ(feed.size(), encoded.size());
  for (size_t i = 0; i < feed.size(); ++i) {
    ChangeEvent e = source.events()[i];
    e.sequence = i + 1;
    EXPECT_EQ(feed[i], Encoded(e)) << i;
  }
  EXPECT_THAT(by_bytes.CheckInvariants(), IsOk());
  // SIDs, dates, presence and counts as the source has them.
  ListRequest all;
  all.page_size = 1000;
  for (const std::string& svc : {source.store().default_conversation_service_sid()}) {
    absl::StatusOr<UserPage> a = source.store().ListUsers(svc, all);
    absl::StatusOr<UserPage> b = by_bytes.ListUsers(svc, all);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->items.size(), b->items.size());
    for (size_t i = 0; i < a->items.size(); ++i) {
      EXPECT_TRUE(userstore_testing::SameUser(*source.store().GetUser(svc, a->items[i].sid),
                                              *by_bytes.GetUser(svc, a->items[i].sid)));
    }
  }
}

// A snapshot's creates carry everything a user has (presence, channel
// counts, a role other than the default, friendly names or none): a store
// built from them by ApplyEncoded is the store Apply builds.
TEST(ApplyEncodedTest, ASnapshotBuildsApplysStore) {
  Source source;
  source.Run(600, 3);
  const std::vector<ChangeEvent> snapshot = source.store().Snapshot().events;
  UserStore by_apply(ReplicaOptions());
  UserStore by_bytes(ReplicaOptions());
  FeedLog apply_feed, bytes_feed;
  by_apply.Subscribe(apply_feed.Listener());
  by_bytes.Subscribe(bytes_feed.Listener());
  ASSERT_THAT(ApplyAll(&by_apply, snapshot), IsOk());
  ASSERT_THAT(ApplyEncodedInBatches(&by_bytes, EncodedAll(snapshot), 4), IsOk());
  EXPECT_THAT(StateOf(by_bytes), ElementsAreArray(StateOf(source.store())));
  EXPECT_THAT(bytes_feed.Get(), ElementsAreArray(apply_feed.Get()));
  EXPECT_THAT(by_bytes.CheckInvariants(), IsOk());
  // What the history gave the users (checked, so that the comparison above
  // covers it).
  int online = 0, notifiable = 0, in_channels = 0, named = 0, other_role = 0;
  for (const ChangeEvent& e : snapshot) {
    if (!e.user.has_value()) continue;
    online += e.user->is_online.has_value();
    notifiable += e.user->is_notifiable.has_value();
    in_channels += e.user->joined_channels_count > 0;
    named += e.user->friendly_name.has_value();
    const absl::StatusOr<Service> svc = source.store().GetService(e.user->service_sid);
    other_role += svc.ok() && e.user->role_sid != svc->default_service_role_sid;
  }
  EXPECT_GT(online, 0);
  EXPECT_GT(notifiable, 0);
  EXPECT_GT(in_channels, 0);
  EXPECT_GT(named, 0);
  EXPECT_GT(other_role, 0);
}

// An update keeps the record's date_created whatever the event says (as
// Apply does), and the journal holds the record as it is, not the event.
TEST(ApplyEncodedTest, AnUpdateKeepsTheCreationDateAndJournalsTheRecord) {
  Source source;
  CreateUserRequest req;
  req.identity = "uma";
  const User uma =
      *source.store().CreateUser(source.store().default_conversation_service_sid(), req);
  durable_testing::TempDir dir;
  DurableOptions options;
  options.store = ReplicaOptions();
  options.segment_bytes = 1 << 20;
  options.checkpoint_min_journal_bytes = 0;
  std::vector<std::string> feed;
  {
    absl::StatusOr<std::unique_ptr<UserStore>> replica =
        OpenUserStore(dir.path() + "/store", options);
    ASSERT_TRUE(replica.ok()) << replica.status();
    FeedLog log;
    (*replica)->Subscribe(log.Listener());
    ASSERT_THAT(ApplyEncodedInBatches(replica->get(), EncodedAll(source.events()), 7), IsOk());
    ChangeEvent update;
    update.entity = ChangeEvent::Entity::kUser;
    update.op = ChangeEvent::Op::kUpdate;
    update.user = uma;
    update.user->date_created += absl::Hours(1);
    update.user->date_updated += absl::Hours(2);
    update.user->attributes = R"({"x":1})";
    const std::string bytes = Encoded(update);
    const absl::string_view view = bytes;
    ASSERT_THAT((*replica)->ApplyEncoded(absl::MakeConstSpan(&view, 1)), IsOk());
    const absl::StatusOr<User> got = (*replica)->GetUser(uma.service_sid, uma.sid);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->date_created, uma.date_created);
    EXPECT_EQ(got->date_updated, update.user->date_updated);
    EXPECT_EQ(got->attributes, R"({"x":1})");
    feed = log.Get();
  }
  const std::vector<std::string> journal = JournalEvents(dir.path() + "/store");
  EXPECT_THAT(journal, ElementsAreArray(feed));
}

// Each refusal, from ApplyEncoded and from Apply of the same event: the same
// error, and nothing changed (state, sequence, feed).
TEST(ApplyEncodedTest, RefusesWhatApplyRefusesAndChangesNothing) {
  Source source;
  CreateUserRequest sam_request;
  sam_request.identity = "sam";
  sam_request.friendly_name = "Sam";
  const User sam =
      *source.store().CreateUser(source.store().default_conversation_service_sid(), sam_request);
  CreateServiceRequest named;
  named.friendly_name = "other";
  const Service other = *source.store().CreateService(named);
  CreateUserRequest olga_request;
  olga_request.identity = "olga";
  const User olga = *source.store().CreateUser(other.sid, olga_request);

  UserStore by_apply(ReplicaOptions());
  UserStore by_bytes(ReplicaOptions());
  ASSERT_THAT(ApplyAll(&by_apply, source.events()), IsOk());
  ASSERT_THAT(ApplyEncodedInBatches(&by_bytes, EncodedAll(source.events()), 3), IsOk());
  const std::vector<std::string> before = StateOf(by_bytes);
  ASSERT_THAT(StateOf(by_apply), ElementsAreArray(before));
  const uint64_t sequence = by_bytes.last_sequence();
  FeedLog apply_feed, bytes_feed;
  by_apply.Subscribe(apply_feed.Listener());
  by_bytes.Subscribe(bytes_feed.Listener());

  auto user_event = [](ChangeEvent::Op op, User u) {
    ChangeEvent e;
    e.entity = ChangeEvent::Entity::kUser;
    e.op = op;
    e.user = std::move(u);
    return e;
  };
  struct Case {
    const char* name;
    ChangeEvent event;
    ErrorCode code;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"the SID exists", user_event(ChangeEvent::Op::kCreate, sam), ErrorCode::kUserAlreadyExists});
  User twin = sam;
  twin.sid = "US" + std::string(32, '1');
  cases.push_back({"the identity is taken", user_event(ChangeEvent::Op::kCreate, twin),
                   ErrorCode::kUserAlreadyExists});
  User moved = olga;
  moved.service_sid = sam.service_sid;
  moved.role_sid = sam.role_sid;
  cases.push_back({"the SID is another service's", user_event(ChangeEvent::Op::kCreate, moved),
                   ErrorCode::kUserAlreadyExists});
  cases.push_back({"another service's user updated", user_event(ChangeEvent::Op::kUpdate, moved),
                   ErrorCode::kNotFound});
  User orphan = sam;
  orphan.sid = "US" + std::string(32, '2');
  orphan.identity = "orphan";
  orphan.service_sid = "IS" + std::string(32, '3');
  cases.push_back(
      {"an unknown service", user_event(ChangeEvent::Op::kCreate, orphan), ErrorCode::kNotFound});
  User roleless = sam;
  roleless.sid = "US" + std::string(32, '4');
  roleless.identity = "roleless";
  roleless.role_sid = "RL" + std::string(32, '5');
  cases.push_back(
      {"an unknown role", user_event(ChangeEvent::Op::kCreate, roleless), ErrorCode::kNotFound});
  User nameless = sam;
  nameless.sid = "US" + std::string(32, '6');
  nameless.identity = "";
  cases.push_back({"no identity", user_event(ChangeEvent::Op::kCreate, nameless),
                   ErrorCode::kIdentityNotProvided});
  User ghost = sam;
  ghost.sid = "US" + std::string(32, '7');
  ghost.identity = "ghost";
  cases.push_back({"update of a missing user", user_event(ChangeEvent::Op::kUpdate, ghost),
                   ErrorCode::kNotFound});
  cases.push_back({"delete of a missing user", user_event(ChangeEvent::Op::kDelete, ghost),
                   ErrorCode::kNotFound});
  User renamed = sam;
  renamed.identity = "samuel";
  cases.push_back({"an identity changed", user_event(ChangeEvent::Op::kUpdate, renamed),
                   ErrorCode::kInvalidParameter});
  User garbled = sam;
  garbled.sid = "US" + std::string(32, '8');
  garbled.identity = "bad\xff";
  cases.push_back({"text that is not UTF-8", user_event(ChangeEvent::Op::kCreate, garbled),
                   ErrorCode::kInvalidParameter});
  User text_sid = sam;
  text_sid.sid = "not a sid";
  cases.push_back({"a malformed SID (the general path)",
                   user_event(ChangeEvent::Op::kCreate, text_sid), ErrorCode::kInvalidParameter});
  ChangeEvent dup_service;
  dup_service.entity = ChangeEvent::Entity::kService;
  dup_service.op = ChangeEvent::Op::kCreate;
  dup_service.service = other;
  cases.push_back({"a service that exists", dup_service, ErrorCode::kInvalidParameter});

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string bytes = Encoded(c.event);
    const absl::string_view view = bytes;
    size_t applied = 99;
    const absl::Status status = by_bytes.ApplyEncoded(absl::MakeConstSpan(&view, 1), &applied);
    EXPECT_EQ(ErrorCodeOf(status), c.code) << status;
    EXPECT_EQ(applied, 0u);
    const absl::Status applied_status = by_apply.Apply(c.event);
    EXPECT_EQ(status.code(), applied_status.code());
    EXPECT_EQ(status.message(), applied_status.message());
  }
  EXPECT_THAT(StateOf(by_bytes), ElementsAreArray(before));
  EXPECT_EQ(by_bytes.last_sequence(), sequence);
  EXPECT_THAT(bytes_feed.Get(), IsEmpty());
  EXPECT_THAT(apply_feed.Get(), IsEmpty());
  EXPECT_THAT(by_bytes.CheckInvariants(), IsOk());
}

// Bytes that do not decode anywhere in a batch: nothing of it is applied.
// An event that does not apply: those before it are.
TEST(ApplyEncodedTest, AMalformedEventAppliesNothingAndAFailingOneStopsTheBatch) {
  Source source;
  UserStore replica(ReplicaOptions());
  ASSERT_THAT(ApplyAll(&replica, source.events()), IsOk());
  const std::string svc = source.store().default_conversation_service_sid();
  source.Run(0, 1);  // (services and a role; no users)
  std::vector<ChangeEvent> history = source.events();
  const size_t known = replica.last_sequence();
  for (int i = 0; i < 3; ++i) {
    CreateUserRequest req;
    req.identity = absl::StrCat("u", i);
    ASSERT_TRUE(source.store().CreateUser(svc, req).ok());
  }
  history = source.events();
  std::vector<std::string> rest = EncodedAll(
      std::vector<ChangeEvent>(history.begin() + static_cast<ptrdiff_t>(known), history.end()));
  ASSERT_GE(rest.size(), 4u);
  const std::vector<std::string> before = StateOf(replica);
  const uint64_t sequence = replica.last_sequence();

  const std::string good = rest.back();
  const std::vector<std::string> malformed = {
      good.substr(0, good.size() - 1),          // cut
      good + "x",                               // trailing byte
      std::string("\x02", 1) + good.substr(1),  // another version
      "",
  };
  for (const std::string& bad : malformed) {
    std::vector<std::string> batch = rest;
    batch.insert(batch.end() - 1, bad);
    size_t applied = 99;
    const absl::Status status = replica.ApplyEncoded(Views(batch), &applied);
    EXPECT_THAT(status, IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(absl::StrCat("event ", batch.size() - 2, ": cannot decode event")));
    EXPECT_EQ(applied, 0u);
    EXPECT_THAT(StateOf(replica), ElementsAreArray(before));
    EXPECT_EQ(replica.last_sequence(), sequence);
  }

  // The last user's create twice: everything before the second applies.
  std::vector<std::string> batch = rest;
  batch.push_back(good);
  size_t applied = 0;
  EXPECT_THAT(replica.ApplyEncoded(Views(batch), &applied),
              IsError(409, ErrorCode::kUserAlreadyExists));
  EXPECT_EQ(applied, rest.size());
  EXPECT_EQ(replica.last_sequence(), sequence + rest.size());
  EXPECT_THAT(StateOf(replica), ElementsAreArray(StateOf(source.store())));
  EXPECT_THAT(replica.CheckInvariants(), IsOk());
}

// A durable replica journals each applied event as Apply would (the bytes
// it came in, or, when those are not what the record encodes to, such as
// another account's SID in them, the record's encoding): its journal holds
// its feed's events exactly, and reopened, it is in the same state.
TEST(ApplyEncodedTest, ADurableReplicaJournalsWhatApplyWouldAndReopensInTheSameState) {
  for (const std::string& account : {std::string(kAccount), "AC" + std::string(32, 'b')}) {
    SCOPED_TRACE(account);
    Source source(account);
    source.Run(1500, 5);
    const std::vector<std::string> encoded = EncodedAll(source.events());
    durable_testing::TempDir dir;
    DurableOptions options;
    options.store = ReplicaOptions();
    options.segment_bytes = 256 << 10;         // several segments
    options.checkpoint_min_journal_bytes = 0;  // the whole history stays in the journal
    std::vector<std::string> want;
    std::vector<std::string> feed;
    {
      absl::StatusOr<std::unique_ptr<UserStore>> replica =
          OpenUserStore(dir.path() + "/store", options);
      ASSERT_TRUE(replica.ok()) << replica.status();
      UserStore reference(ReplicaOptions());
      ASSERT_THAT(ApplyAll(&reference, source.events()), IsOk());
      FeedLog log;
      (*replica)->Subscribe(log.Listener());
      ASSERT_THAT(ApplyEncodedInBatches(replica->get(), encoded, 6), IsOk());
      want = StateOf(**replica);
      EXPECT_THAT(want, ElementsAreArray(StateOf(reference)));
      feed = log.Get();
      EXPECT_EQ(feed.size(), encoded.size());
    }
    EXPECT_THAT(JournalEvents(dir.path() + "/store"), ElementsAreArray(feed));
    absl::StatusOr<std::unique_ptr<UserStore>> reopened =
        OpenUserStore(dir.path() + "/store", options);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_THAT(StateOf(**reopened), ElementsAreArray(want));
    EXPECT_EQ((*reopened)->last_sequence(), encoded.size());
    EXPECT_THAT((*reopened)->CheckInvariants(), IsOk());
  }
}

// A journal that cannot take more (no new segment can be made) stops a
// call in the middle of a run: 503/20503, `applied` counts exactly the
// events in the store, and those are durable (kSyncEachWrite) before the
// answer; with room again, the rest applies.
TEST(ApplyEncodedTest, AFullJournalStopsTheCallWithWhatItAppliedDurable) {
  Source source;
  CreateUserRequest request;
  request.attributes = absl::StrCat("\"", std::string(1000, 'x'), "\"");
  for (int i = 0; i < 300; ++i) {
    request.identity = absl::StrCat("u", i);
    ASSERT_TRUE(
        source.store().CreateUser(source.store().default_conversation_service_sid(), request).ok());
  }
  const std::vector<std::string> encoded = EncodedAll(source.events());
  const std::vector<absl::string_view> views = Views(encoded);
  std::unique_ptr<FaultInjectionEnv> env = NewFaultInjectionEnv();
  DurableOptions options = durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict);
  options.store = ReplicaOptions();
  absl::StatusOr<std::unique_ptr<UserStore>> replica = OpenUserStore("/r", options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  env->FailAfter(FaultInjectionEnv::Op::kNewMappedFile, 1, absl::StatusCode::kResourceExhausted);
  size_t applied = 0;
  EXPECT_THAT((*replica)->ApplyEncoded(views, &applied),
              IsError(503, ErrorCode::kServiceUnavailable));
  ASSERT_GT(applied, 0u);
  ASSERT_LT(applied, views.size());
  EXPECT_EQ((*replica)->last_sequence(), applied);
  const std::vector<std::string> partial = StateOf(**replica);
  // Durable: a power loss now loses none of them.
  replica->reset();
  env->SimulatePowerLoss();
  env->ClearFailures();
  replica = OpenUserStore("/r", options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  EXPECT_EQ((*replica)->last_sequence(), applied);
  EXPECT_THAT(StateOf(**replica), ElementsAreArray(partial));
  // The rest, with room again.
  size_t rest = 0;
  EXPECT_THAT((*replica)->ApplyEncoded(absl::MakeConstSpan(views).subspan(applied), &rest), IsOk());
  EXPECT_EQ(applied + rest, views.size());
  EXPECT_THAT(StateOf(**replica), ElementsAreArray(StateOf(source.store())));
}

// An event longer than a durable store's journal records can hold (texts
// past its limits) is refused before anything changes.
TEST(ApplyEncodedTest, ADurableStoreRefusesAnEventItsJournalCannotHold) {
  Source source;
  durable_testing::TempDir dir;
  DurableOptions options;
  options.store = ReplicaOptions();
  options.store.max_attributes_bytes = 1024;
  options.store.max_role_permissions = 1;  // (the bound is the largest of user, role, service)
  absl::StatusOr<std::unique_ptr<UserStore>> replica =
      OpenUserStore(dir.path() + "/store", options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  ASSERT_THAT(ApplyAll(replica->get(), source.events()), IsOk());
  const std::vector<std::string> before = StateOf(**replica);
  ChangeEvent big;
  big.entity = ChangeEvent::Entity::kUser;
  big.op = ChangeEvent::Op::kCreate;
  big.user = *source.store().CreateUser(source.store().default_conversation_service_sid(), [] {
    CreateUserRequest r;
    r.identity = "big";
    r.attributes = "\"" + std::string(9000, 'x') + "\"";
    return r;
  }());
  const std::string bytes = Encoded(big);
  const absl::string_view view = bytes;
  EXPECT_THAT((*replica)->ApplyEncoded(absl::MakeConstSpan(&view, 1)),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(StateOf(**replica), ElementsAreArray(before));
}

}  // namespace
}  // namespace userstore
