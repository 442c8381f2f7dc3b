// A test written as a user of the installed kit would write it: only
// <userstore/...> headers, linked as userstore::testing (or pkg-config
// userstore-testing) with GoogleTest's main.
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/testing/kit.h"

namespace {

using ::testing::ElementsAre;
using userstore::testing::ChangeRecorder;
using userstore::testing::HasAttributes;
using userstore::testing::HasIdentity;
using userstore::testing::IsOkAndHolds;
using userstore::testing::IsTwilioError;
using userstore::testing::UserCreated;

class ConsumerKitTest : public userstore::testing::StoreTest {};

TEST_F(ConsumerKitTest, CreatesOnceAndRefusesTheSameIdentity) {
  ChangeRecorder feed(&store());
  auto svc = MakeService("consumer");
  auto alice = MakeUser(svc, "alice", {.attributes = R"({"level": 3})"});
  EXPECT_THAT(store().GetUser(svc.sid, alice.sid), IsOkAndHolds(HasAttributes(R"({"level":3})")));
  EXPECT_THAT(Post(userstore::testing::UsersUrl(svc), {{"Identity", "alice"}}),
              IsTwilioError(409, 50201));
  EXPECT_THAT(feed.user_events(), ElementsAre(UserCreated(HasIdentity("alice"))));
}

}  // namespace
