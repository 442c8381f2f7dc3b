// The chat backend's tests, with userstore's testing kit standing in for
// Twilio (docs/testing.md explains each part).

#include "chat_backend.h"

#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/fault_injection.h"
#include "userstore/rest.h"
#include "userstore/testing/kit.h"

namespace chat_backend {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::userstore::testing::ChangeRecorder;
using ::userstore::testing::HasFriendlyName;
using ::userstore::testing::HasIdentity;
using ::userstore::testing::IsOkAndHolds;
using ::userstore::testing::IsTwilioError;
using ::userstore::testing::UserCreated;
using ::userstore::testing::UserDeleted;

// The backend's HttpClient for tests: Twilio is userstore's Dispatcher, in
// process.
class DispatcherHttpClient : public HttpClient {
 public:
  explicit DispatcherHttpClient(const userstore::Dispatcher* twilio) : twilio_(twilio) {}
  HttpReply Send(const HttpCall& call) override {
    userstore::HttpResponse response =
        twilio_->Handle({call.method, call.url, {}, userstore::FormEncode(call.form)});
    return {response.status, response.headers, response.body};
  }

 private:
  const userstore::Dispatcher* twilio_;
};

// The backend's Sleeper for tests: a wait moves the store's clock, at once.
class ClockSleeper : public Sleeper {
 public:
  explicit ClockSleeper(userstore::ManualClock* clock) : clock_(clock) {}
  void Sleep(absl::Duration duration) override {
    slept.push_back(duration);
    clock_->Advance(duration);
  }
  std::vector<absl::Duration> slept;

 private:
  userstore::ManualClock* clock_;
};

class ChatBackendTest : public userstore::testing::StoreTest {
 protected:
  userstore::Service chat_ = MakeService("chat");
  DispatcherHttpClient http_{&dispatcher()};
  ClockSleeper sleeper_{&clock()};
  ChatBackend backend_{&http_, &sleeper_, {.service_sid = chat_.sid}};
  Profile profile_;
};

TEST_F(ChatBackendTest, FirstLoginCreatesTheUser) {
  ChangeRecorder feed(&store());

  ASSERT_EQ(backend_.Login("alice", "Alice", &profile_), ChatError::kOk);

  EXPECT_TRUE(profile_.created);
  EXPECT_THAT(store().GetUser(chat_.sid, profile_.user_sid),
              IsOkAndHolds(AllOf(HasIdentity("alice"), HasFriendlyName("Alice"))));
  EXPECT_THAT(feed.events(), ElementsAre(UserCreated(HasIdentity("alice"))));
}

TEST_F(ChatBackendTest, LaterLoginsFindTheSameUser) {
  auto alice = MakeUser(chat_, "alice", {.friendly_name = "Alice"});
  ChangeRecorder feed(&store());

  ASSERT_EQ(backend_.Login("alice", "Someone else", &profile_), ChatError::kOk);

  EXPECT_FALSE(profile_.created);
  EXPECT_EQ(profile_.user_sid, alice.sid);
  EXPECT_EQ(profile_.display_name, "Alice");
  EXPECT_THAT(feed.events(), IsEmpty());  // nothing written
}

TEST_F(ChatBackendTest, LosingAFirstLoginRaceFetchesTheWinner) {
  auto winner = MakeUser(chat_, "alice");
  // Our fetch ran before the other login's create: it answered 404.
  auto stale = userstore::FaultRule::Next(1, userstore::ErrorCode::kNotFound);
  stale.method = "GET";
  ASSERT_THAT(injector().AddFault(stale), userstore::testing::IsOk());

  ASSERT_EQ(backend_.Login("alice", "Alice", &profile_), ChatError::kOk);

  EXPECT_FALSE(profile_.created);
  EXPECT_EQ(profile_.user_sid, winner.sid);
  EXPECT_THAT(store().CountUsers(chat_.sid), IsOkAndHolds(1));
}

TEST_F(ChatBackendTest, RetriesA429AfterItsRetryAfter) {
  userstore::RateLimit limit;  // one create every two seconds
  limit.requests_per_second = 0.5;
  limit.burst = 1;
  limit.method = "POST";
  ASSERT_THAT(injector().AddRateLimit(limit), userstore::testing::IsOk());
  ASSERT_EQ(backend_.Login("alice", "Alice", &profile_), ChatError::kOk);

  ASSERT_EQ(backend_.Login("bob", "Bob", &profile_), ChatError::kOk);

  EXPECT_THAT(sleeper_.slept, ElementsAre(absl::Seconds(2)));  // Retry-After: 2
  EXPECT_THAT(injector().Injected(), testing::SizeIs(1));
  EXPECT_THAT(store().GetUser(chat_.sid, "bob"),
              IsOkAndHolds(testing::Field(&userstore::User::date_created,
                                          userstore::testing::TestStartTime() + absl::Seconds(2))));
}

TEST_F(ChatBackendTest, GivesUpAsBusyAfterMaxAttempts) {
  auto flood = userstore::FaultRule::Next(10, userstore::ErrorCode::kTooManyRequests);
  flood.retry_after_seconds = 1;
  ASSERT_THAT(injector().AddFault(flood), userstore::testing::IsOk());

  EXPECT_EQ(backend_.Login("alice", "Alice", &profile_), ChatError::kBusy);

  EXPECT_THAT(sleeper_.slept, ElementsAre(absl::Seconds(1), absl::Seconds(1), absl::Seconds(1)));
  EXPECT_THAT(injector().Injected(), testing::SizeIs(4));  // max_attempts calls
  EXPECT_THAT(store().GetUser(chat_.sid, "alice"), IsTwilioError(404, 20404));
}

TEST_F(ChatBackendTest, BacksOffExponentiallyWithoutRetryAfter) {
  auto flood = userstore::FaultRule::Next(2, userstore::ErrorCode::kActionsPerSecondLimitExceeded);
  ASSERT_THAT(injector().AddFault(flood), userstore::testing::IsOk());

  ASSERT_EQ(backend_.Login("alice", "Alice", &profile_), ChatError::kOk);

  EXPECT_THAT(sleeper_.slept, ElementsAre(absl::Milliseconds(500), absl::Seconds(1)));
  EXPECT_TRUE(profile_.created);
}

TEST_F(ChatBackendTest, MapsTwilioErrorsToItsOwn) {
  MakeUser(chat_, "alice");

  EXPECT_EQ(backend_.Login("", "Nobody", &profile_), ChatError::kInvalidIdentity);
  EXPECT_EQ(backend_.Login(std::string(300, 'x'), "Long", &profile_), ChatError::kInvalidIdentity);
  EXPECT_EQ(backend_.Rename("alice", std::string(300, 'y')), ChatError::kInvalidDisplayName);
  EXPECT_EQ(backend_.Rename("bob", "Bob"), ChatError::kNotFound);

  auto outage = userstore::FaultRule::Next(1, userstore::ErrorCode::kServiceUnavailable);
  ASSERT_THAT(injector().AddFault(outage), userstore::testing::IsOk());
  EXPECT_EQ(backend_.Forget("alice"), ChatError::kUnavailable);
}

TEST_F(ChatBackendTest, RenameAndForgetChangeTheUser) {
  MakeUser(chat_, "alice", {.friendly_name = "Alice"});
  ChangeRecorder feed(&store());

  EXPECT_EQ(backend_.Rename("alice", "Queen Alice"), ChatError::kOk);
  EXPECT_THAT(store().GetUser(chat_.sid, "alice"), IsOkAndHolds(HasFriendlyName("Queen Alice")));
  EXPECT_EQ(backend_.Forget("alice"), ChatError::kOk);

  EXPECT_THAT(feed.user_events(),
              ElementsAre(userstore::testing::UserUpdated(), UserDeleted(HasIdentity("alice"))));
}

}  // namespace
}  // namespace chat_backend
