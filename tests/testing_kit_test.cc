// Tests of the GoogleTest kit (include/userstore/testing/): each matcher
// matches and mismatches with the expected description and explanation, the
// fixture gives a deterministic store, and the recorders capture in order.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/testing/kit.h"

namespace {

using ::testing::AllOf;
using ::testing::DescribeMatcher;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Matcher;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::StringMatchResultListener;
using userstore::ChangeEvent;
using userstore::ErrorCode;
using userstore::HookType;
using userstore::HttpResponse;
using userstore::MakeError;
using userstore::User;
using userstore::UserEvent;
using userstore::UserView;
using userstore::testing::ChangeRecorder;
using userstore::testing::HasAttributes;
using userstore::testing::HasAttributesText;
using userstore::testing::HasFriendlyName;
using userstore::testing::HasHeader;
using userstore::testing::HasIdentity;
using userstore::testing::HasNoFriendlyName;
using userstore::testing::HasRole;
using userstore::testing::HasSid;
using userstore::testing::HookFired;
using userstore::testing::HookRecorder;
using userstore::testing::IsHttpStatus;
using userstore::testing::IsOk;
using userstore::testing::IsOkAndHolds;
using userstore::testing::IsTwilioError;
using userstore::testing::ServiceCreated;
using userstore::testing::TestStore;
using userstore::testing::UserCreated;
using userstore::testing::UserDeleted;
using userstore::testing::UserUpdated;

HttpResponse Response(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

// What `matcher` says of `value`, as a failed EXPECT_THAT would print it
// after "Actual: ... ".
template <typename T, typename M>
std::string Explain(const M& matcher, const T& value) {
  StringMatchResultListener listener;
  ::testing::ExplainMatchResult(matcher, value, &listener);
  return listener.str();
}

template <typename T, typename M>
bool MatchesValue(const M& matcher, const T& value) {
  return Matcher<const T&>(matcher).Matches(value);
}

User Alice() {
  User user;
  user.sid = "US00000000000000000000000000000001";
  user.service_sid = "IS00000000000000000000000000000001";
  user.role_sid = "RL00000000000000000000000000000001";
  user.identity = "alice";
  user.friendly_name = "Alice";
  user.attributes = R"({"level": 3, "tags": ["a", "b"]})";
  return user;
}

// --- IsOk / IsOkAndHolds -----------------------------------------------------------

TEST(IsOkTest, MatchesOkStatusAndStatusOr) {
  EXPECT_TRUE(MatchesValue(IsOk(), absl::OkStatus()));
  EXPECT_TRUE(MatchesValue(IsOk(), absl::StatusOr<int>(3)));
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk()), "is OK");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk(), /*negation=*/true), "is not OK");
}

TEST(IsOkTest, ExplainsTheTwilioErrorOfAFailure) {
  const absl::Status taken = MakeError(ErrorCode::kUserAlreadyExists);
  EXPECT_FALSE(MatchesValue(IsOk(), taken));
  EXPECT_FALSE(MatchesValue(IsOk(), absl::StatusOr<int>(taken)));
  EXPECT_EQ(Explain(IsOk(), taken),
            "which is the Twilio error 409/50201 UserAlreadyExists: User already exists");
  EXPECT_EQ(Explain(IsOk(), absl::StatusOr<int>(taken)),
            "which is the Twilio error 409/50201 UserAlreadyExists: User already exists");
}

TEST(IsOkAndHoldsTest, MatchesTheValue) {
  const absl::StatusOr<int> three = 3;
  EXPECT_TRUE(MatchesValue(IsOkAndHolds(3), three));
  EXPECT_TRUE(MatchesValue(IsOkAndHolds(::testing::Gt(2)), three));
  EXPECT_FALSE(MatchesValue(IsOkAndHolds(4), three));
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(IsOkAndHolds(4)),
            "is OK and has a value that is equal to 4");
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(IsOkAndHolds(4), true),
            "is not OK, or has a value that isn't equal to 4");
  EXPECT_EQ(Explain(IsOkAndHolds(4), three), "which is OK and holds 3");
}

TEST(IsOkAndHoldsTest, ExplainsAnErrorAndTheInnerMismatch) {
  const absl::StatusOr<User> missing = userstore::NotFoundError("/Services/IS1/Users/bob");
  EXPECT_FALSE(MatchesValue(IsOkAndHolds(HasIdentity("bob")), missing));
  EXPECT_EQ(Explain(IsOkAndHolds(HasIdentity("bob")), missing),
            "which is the Twilio error 404/20404 NotFound: "
            "The requested resource /Services/IS1/Users/bob was not found");

  const absl::StatusOr<User> alice = Alice();
  EXPECT_TRUE(MatchesValue(IsOkAndHolds(HasIdentity("alice")), alice));
  const std::string why = Explain(IsOkAndHolds(HasIdentity("bob")), alice);
  EXPECT_THAT(why, StartsWith("which is OK and holds User{sid: \"US0000"));
  EXPECT_THAT(why, HasSubstr("identity: \"alice\", friendly_name: \"Alice\""));
  EXPECT_THAT(why, HasSubstr(", whose identity is \"alice\""));
}

// --- IsTwilioError -------------------------------------------------------------

TEST(IsTwilioErrorTest, MatchesStatusAndStatusOrByHttpStatusAndCode) {
  const absl::Status taken = MakeError(ErrorCode::kUserAlreadyExists);
  EXPECT_TRUE(MatchesValue(IsTwilioError(409, 50201), taken));
  EXPECT_TRUE(MatchesValue(IsTwilioError(409, ErrorCode::kUserAlreadyExists), taken));
  EXPECT_TRUE(MatchesValue(IsTwilioError(ErrorCode::kUserAlreadyExists), taken));
  EXPECT_TRUE(MatchesValue(IsTwilioError(409, 50201), absl::StatusOr<User>(taken)));
  EXPECT_FALSE(MatchesValue(IsTwilioError(400, 50201), taken));
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 20409), taken));
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 50201), absl::OkStatus()));
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 50201), absl::StatusOr<User>(Alice())));
}

TEST(IsTwilioErrorTest, DescribesAndExplainsInTwilioTerms) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsTwilioError(409, 50201)),
            "is the Twilio error 409/50201 UserAlreadyExists");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsTwilioError(409, 50201), true),
            "is not the Twilio error 409/50201 UserAlreadyExists");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsTwilioError(418, 12345)),
            "is the Twilio error 418/12345");
  EXPECT_EQ(Explain(IsTwilioError(409, 50201), absl::OkStatus()), "which is OK");
  EXPECT_EQ(Explain(IsTwilioError(409, 50201), MakeError(ErrorCode::kAttributesNotValidJson)),
            "which is the Twilio error 400/50304 AttributesNotValidJson: "
            "Attributes not valid JSON");
}

TEST(IsTwilioErrorTest, MatchesAnHttpResponseByStatusAndBody) {
  TestStore t;
  auto svc = t.MakeService("game");
  t.MakeUser(svc, "alice");
  const HttpResponse taken = t.Post(userstore::testing::UsersUrl(svc), {{"Identity", "alice"}});
  EXPECT_TRUE(MatchesValue(IsTwilioError(409, 50201), taken));
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 20409), taken));
  EXPECT_THAT(Explain(IsTwilioError(409, 20409), taken),
              StartsWith("which has HTTP status 409 and the error body of 409/50201 "
                         "UserAlreadyExists: "));

  // The status alone is not enough: the body must be Twilio's error body.
  const HttpResponse not_an_error = Response(409, R"({"sid": "US1"})");
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 50201), not_an_error));
  EXPECT_EQ(Explain(IsTwilioError(409, 50201), not_an_error),
            "which has HTTP status 409 and a body that is not a Twilio error: {\"sid\": \"US1\"}");
  // Nor the body alone.
  const HttpResponse wrong_status =
      Response(200, R"({"code": 50201, "status": 409, "message": "m"})");
  EXPECT_FALSE(MatchesValue(IsTwilioError(409, 50201), wrong_status));
}

TEST(IsHttpStatusTest, MatchesTheStatusAndShowsTheBody) {
  const HttpResponse created = Response(201, R"({"sid": "US1"})");
  EXPECT_TRUE(MatchesValue(IsHttpStatus(201), created));
  EXPECT_FALSE(MatchesValue(IsHttpStatus(200), created));
  EXPECT_EQ(DescribeMatcher<HttpResponse>(IsHttpStatus(200)), "has HTTP status 200");
  EXPECT_EQ(Explain(IsHttpStatus(200), created),
            "which has HTTP status 201 and body {\"sid\": \"US1\"}");
}

// --- User matchers ----------------------------------------------------------------

TEST(UserMatchersTest, MatchUsersViewsAndHookEvents) {
  const User alice = Alice();
  const UserView view = UserView::Of(alice);
  UserEvent event;
  event.user_sid = alice.sid;
  event.identity = alice.identity;
  event.friendly_name = alice.friendly_name;
  event.attributes = alice.attributes;
  event.role_sid = alice.role_sid;

  const auto all = AllOf(HasSid(alice.sid), HasIdentity("alice"), HasFriendlyName("Alice"),
                         HasRole(StartsWith("RL")), HasAttributesText(alice.attributes));
  EXPECT_TRUE(MatchesValue(all, alice));
  EXPECT_TRUE(MatchesValue(all, view));
  EXPECT_TRUE(MatchesValue(all, event));
  EXPECT_FALSE(MatchesValue(HasIdentity("bob"), view));
  EXPECT_FALSE(MatchesValue(HasSid("US1"), event));
}

TEST(UserMatchersTest, DescribeAndExplainTheField) {
  EXPECT_EQ(DescribeMatcher<User>(HasIdentity("bob")), "has identity that is equal to \"bob\"");
  EXPECT_EQ(DescribeMatcher<User>(HasIdentity("bob"), true),
            "has no identity that is equal to \"bob\"");
  EXPECT_EQ(Explain(HasIdentity("bob"), Alice()), "whose identity is \"alice\"");
  EXPECT_EQ(Explain(HasRole("RL2"), Alice()),
            "whose role_sid is \"RL00000000000000000000000000000001\"");
}

TEST(UserMatchersTest, FriendlyNameDistinguishesNullFromSet) {
  User nameless = Alice();
  nameless.friendly_name.reset();
  EXPECT_FALSE(MatchesValue(HasFriendlyName(::testing::_), nameless));
  EXPECT_EQ(Explain(HasFriendlyName("Alice"), nameless), "whose friendly_name is null");
  EXPECT_TRUE(MatchesValue(HasNoFriendlyName(), nameless));
  EXPECT_FALSE(MatchesValue(HasNoFriendlyName(), Alice()));
  EXPECT_EQ(Explain(HasNoFriendlyName(), Alice()), "whose friendly_name is \"Alice\"");
  EXPECT_EQ(DescribeMatcher<User>(HasNoFriendlyName()), "has a null friendly_name");
}

TEST(UserMatchersTest, HasAttributesComparesJsonValues) {
  const User alice = Alice();  // {"level": 3, "tags": ["a", "b"]}
  EXPECT_TRUE(MatchesValue(HasAttributes(R"({"tags":["a","b"],"level":3.0})"), alice));
  EXPECT_FALSE(MatchesValue(HasAttributes(R"({"tags":["b","a"],"level":3})"), alice));
  EXPECT_FALSE(MatchesValue(HasAttributes(R"({"level":3})"), alice));
  EXPECT_EQ(DescribeMatcher<User>(HasAttributes(R"({"level":3})")),
            "has attributes equal as JSON to {\"level\":3}");
  EXPECT_EQ(Explain(HasAttributes(R"({"level":3})"), alice),
            "whose attributes are {\"level\": 3, \"tags\": [\"a\", \"b\"]}");
}

TEST(UserMatchersTest, HasAttributesSaysWhichTextIsNotJson) {
  EXPECT_FALSE(MatchesValue(HasAttributes("{level: 3}"), Alice()));
  EXPECT_THAT(Explain(HasAttributes("{level: 3}"), Alice()),
              StartsWith("which cannot match: the expected text \"{level: 3}\" is not JSON ("));
  User broken = Alice();
  broken.attributes = "[1,";
  EXPECT_THAT(Explain(HasAttributes("[1]"), broken),
              StartsWith("whose attributes \"[1,\" are not JSON ("));
}

// --- TestStore / StoreTest ---------------------------------------------------------

TEST(TestStoreTest, IsDeterministic) {
  TestStore a;
  TestStore b;
  const auto svc_a = a.MakeService("game");
  const auto svc_b = b.MakeService("game");
  EXPECT_EQ(svc_a.sid, svc_b.sid);
  EXPECT_EQ(a.MakeUser(svc_a, "alice").sid, b.MakeUser(svc_b, "alice").sid);
  EXPECT_EQ(svc_a.date_created, userstore::testing::TestStartTime());
}

TEST(TestStoreTest, MakeUserAppliesTheFields) {
  TestStore t;
  const auto svc = t.MakeService("game");
  const User alice =
      t.MakeUser(svc, "alice", {.friendly_name = "Alice", .attributes = R"({"level":3})"});
  EXPECT_THAT(
      t.store().GetUser(svc.sid, "alice"),
      IsOkAndHolds(AllOf(HasSid(alice.sid), HasFriendlyName("Alice"),
                         HasAttributes(R"({"level":3})"), HasRole(svc.default_service_role_sid))));
}

TEST(TestStoreTest, MakeUserReportsAFailure) {
  TestStore t;
  const auto svc = t.MakeService("game");
  t.MakeUser(svc, "alice");
  User second;
  EXPECT_NONFATAL_FAILURE(second = t.MakeUser(svc, "alice"), "MakeUser(\"IS");
  EXPECT_TRUE(second.sid.empty());
}

TEST(TestStoreTest, ClockMovesDatesOnlyWhenTold) {
  TestStore t;
  const auto svc = t.MakeService("game");
  t.clock().Advance(absl::Minutes(5));
  const User alice = t.MakeUser(svc, "alice");
  EXPECT_EQ(alice.date_created, userstore::testing::TestStartTime() + absl::Minutes(5));
}

TEST(TestStoreTest, RestHelpersGoThroughTheDispatcher) {
  TestStore t;
  const auto svc = t.MakeService("game");
  EXPECT_THAT(t.Post(userstore::testing::UsersUrl(svc), {{"Identity", "bob smith"}}),
              IsHttpStatus(201));
  EXPECT_THAT(t.Get(userstore::testing::UserUrl(svc, "bob smith")), IsHttpStatus(200));
  EXPECT_THAT(t.Delete(userstore::testing::UserUrl(svc, "bob smith")), IsHttpStatus(204));
  EXPECT_THAT(t.Get(userstore::testing::UserUrl(svc, "bob smith")), IsTwilioError(404, 20404));
}

TEST(TestStoreTest, ResetStartsOverWithOtherOptions) {
  TestStore t;
  t.MakeService("game");
  userstore::StoreOptions options;
  options.max_identity_length = 3;
  t.Reset(options);
  const auto svc = t.MakeService("game");
  EXPECT_THAT(t.store().CountUsers(svc.sid), IsOkAndHolds(0));
  userstore::CreateUserRequest request;
  request.identity = "alice";
  EXPECT_THAT(t.store().CreateUser(svc.sid, request), IsTwilioError(400, 50207));
}

TEST(HasHeaderTest, MatchesAHeaderByNameInAnyCase) {
  HttpResponse limited = Response(429, "{}");
  limited.headers = {{"Retry-After", "2"}};
  EXPECT_TRUE(MatchesValue(HasHeader("retry-after", "2"), limited));
  EXPECT_FALSE(MatchesValue(HasHeader("Retry-After", "1"), limited));
  EXPECT_EQ(Explain(HasHeader("Retry-After", "1"), limited), "whose Retry-After header is \"2\"");
  EXPECT_EQ(DescribeMatcher<HttpResponse>(HasHeader("Retry-After", "1")),
            "has a Retry-After header that is equal to \"1\"");
  EXPECT_FALSE(MatchesValue(HasHeader("Retry-After", ::testing::_), Response(201, "{}")));
  EXPECT_EQ(Explain(HasHeader("Retry-After", ::testing::_), Response(201, "{}")),
            "which has no Retry-After header (status 201)");
}

TEST(TestStoreTest, InjectorIsWiredToTheDispatcherAndTheClock) {
  TestStore t;
  const auto svc = t.MakeService("game");
  userstore::RateLimit limit;
  limit.requests_per_second = 1;
  limit.burst = 1;
  limit.method = "POST";
  ASSERT_THAT(t.injector().AddRateLimit(limit), IsOk());
  EXPECT_THAT(t.Post(userstore::testing::UsersUrl(svc), {{"Identity", "a"}}), IsHttpStatus(201));
  const HttpResponse limited = t.Post(userstore::testing::UsersUrl(svc), {{"Identity", "b"}});
  EXPECT_THAT(limited, AllOf(IsTwilioError(429, 20429), HasHeader("Retry-After", "1")));
  t.clock().Advance(absl::Seconds(1));
  EXPECT_THAT(t.Post(userstore::testing::UsersUrl(svc), {{"Identity", "b"}}), IsHttpStatus(201));
  // The store itself is not behind the injector.
  EXPECT_THAT(t.store().CountUsers(svc.sid), IsOkAndHolds(2));
}

class StoreFixtureTest : public userstore::testing::StoreTest {};

TEST_F(StoreFixtureTest, ForwardsToItsTestStore) {
  auto svc = MakeService("game");
  auto alice = MakeUser(svc, "alice", {.attributes = R"({"level": 3})"});
  EXPECT_THAT(Get(userstore::testing::UserUrl(svc, "alice")), IsHttpStatus(200));
  EXPECT_THAT(store().GetUser(svc.sid, alice.sid), IsOkAndHolds(HasIdentity("alice")));
  EXPECT_EQ(&store(), &test_store().store());
}

// docs/testing.md's first example.
TEST_F(StoreFixtureTest, RenameKeepsTheAttributes) {
  auto svc = MakeService("game");
  auto alice = MakeUser(svc, "alice", {.attributes = R"({"level": 3})"});
  clock().Advance(absl::Minutes(5));

  EXPECT_THAT(Post(userstore::testing::UserUrl(svc, "alice"), {{"FriendlyName", "Al"}}),
              IsHttpStatus(200));

  EXPECT_THAT(store().GetUser(svc.sid, alice.sid),
              IsOkAndHolds(AllOf(HasFriendlyName("Al"), HasAttributes(R"({"level":3})"))));
}

// --- Recorders --------------------------------------------------------------------

TEST(ChangeRecorderTest, CapturesInOrderFromItsConstruction) {
  TestStore t;
  const auto before = t.MakeService("before");
  ChangeRecorder feed(&t.store());
  const auto svc = t.MakeService("game");
  t.MakeUser(svc, "alice");
  userstore::UpdateUserRequest rename;
  rename.friendly_name = "Al";
  ASSERT_THAT(t.store().UpdateUser(svc.sid, "alice", rename), IsOk());
  ASSERT_THAT(t.store().DeleteUser(svc.sid, "alice"), IsOk());

  EXPECT_THAT(feed.user_events(),
              ElementsAre(UserCreated(HasIdentity("alice")), UserUpdated(HasFriendlyName("Al")),
                          UserDeleted(HasIdentity("alice"))));
  const std::vector<ChangeEvent> all = feed.events();
  ASSERT_THAT(all, SizeIs(8));  // the service, its four roles, then the user's three
  EXPECT_THAT(all[0], ServiceCreated(::testing::Field(&userstore::Service::friendly_name, "game")));
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].sequence, all[i - 1].sequence + 1);
  feed.Clear();
  EXPECT_THAT(feed.events(), IsEmpty());
  EXPECT_NE(before.sid, svc.sid);
}

TEST(ChangeRecorderTest, EventMatchersExplainAMismatch) {
  ChangeEvent deleted;
  deleted.sequence = 9;
  deleted.entity = ChangeEvent::Entity::kUser;
  deleted.op = ChangeEvent::Op::kDelete;
  deleted.user = Alice();
  EXPECT_FALSE(MatchesValue(UserCreated(), deleted));
  EXPECT_EQ(Explain(UserCreated(), deleted), "which is a user delete (sequence 9)");
  EXPECT_EQ(DescribeMatcher<const ChangeEvent&>(UserCreated(HasIdentity("bob"))),
            "is a user create of one that has identity that is equal to \"bob\"");
  EXPECT_FALSE(MatchesValue(UserDeleted(HasIdentity("bob")), deleted));
  EXPECT_EQ(Explain(UserDeleted(HasIdentity("bob")), deleted),
            "which is a user delete (sequence 9) whose identity is \"alice\"");
  EXPECT_TRUE(MatchesValue(UserDeleted(HasIdentity("alice")), deleted));
}

TEST(HookRecorderTest, CapturesHooksInOrder) {
  TestStore t;
  HookRecorder hooks(&t.store());
  const auto svc = t.MakeService("game");
  t.MakeUser(svc, "quiet");  // webhooks off: no hook
  t.MakeUser(svc, "alice", {.webhooks_enabled = true});
  userstore::UpdateUserRequest rename;
  rename.friendly_name = "Al";
  rename.webhooks_enabled = true;
  ASSERT_THAT(t.store().UpdateUser(svc.sid, "alice", rename), IsOk());

  EXPECT_THAT(hooks.fired(), ElementsAre("onUserAdded", "onUserUpdate", "onUserUpdated"));
  EXPECT_THAT(hooks.events(),
              ElementsAre(HookFired(HookType::kOnUserAdded, HasIdentity("alice")),
                          HookFired(HookType::kOnUserUpdate, HasFriendlyName("Al")),
                          HookFired(HookType::kOnUserUpdated, HasFriendlyName("Al"))));
  EXPECT_EQ(Explain(HookFired(HookType::kOnUserUpdated), hooks.events()[0]),
            "which is an onUserAdded event");
}

TEST(HookRecorderTest, VetoesUpdatesWhenTold) {
  TestStore t;
  HookRecorder hooks(&t.store());
  const auto svc = t.MakeService("game");
  t.MakeUser(svc, "alice");
  hooks.VetoUpdates(absl::PermissionDeniedError("no renames"));
  userstore::UpdateUserRequest rename;
  rename.friendly_name = "Al";
  rename.webhooks_enabled = true;
  EXPECT_THAT(t.store().UpdateUser(svc.sid, "alice", rename), IsTwilioError(403, 50056));
  EXPECT_THAT(t.store().GetUser(svc.sid, "alice"), IsOkAndHolds(HasNoFriendlyName()));
  EXPECT_THAT(hooks.events(), ElementsAre(HookFired(HookType::kOnUserUpdate)));

  hooks.VetoUpdates(absl::OkStatus());
  hooks.Clear();
  EXPECT_THAT(t.store().UpdateUser(svc.sid, "alice", rename), IsOkAndHolds(HasFriendlyName("Al")));
  EXPECT_THAT(hooks.fired(), ElementsAre("onUserUpdate", "onUserUpdated"));
}

TEST(HookRecorderTest, StopsRecordingWhenDestroyed) {
  TestStore t;
  const auto svc = t.MakeService("game");
  {
    HookRecorder hooks(&t.store());
    ChangeRecorder feed(&t.store());
  }
  // The store must not call into the destroyed recorders.
  t.MakeUser(svc, "alice", {.webhooks_enabled = true});
  EXPECT_THAT(t.store().GetUser(svc.sid, "alice"), IsOk());
}

}  // namespace
