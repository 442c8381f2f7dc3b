// Tests of the user rules of UserStore (SEMANTICS sections 1-3 and the error
// codes of user_store.h): create, fetch, update, delete, get-or-create,
// presence, membership, store options, hooks and the feed as users see them.

#include "userstore/user_store.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"

namespace userstore {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;
using userstore_testing::HasMessage;
using userstore_testing::IsError;
using userstore_testing::IsOk;
using userstore_testing::Matches;
using userstore_testing::StartTime;

std::string Repeat(absl::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(unit.data(), unit.size());
  return out;
}

std::string Nested(int depth) { return Repeat("[", depth) + Repeat("]", depth); }

class UserStoreTest : public userstore_testing::StoreTest {
 protected:
  std::string RoleSidNamed(const std::string& name, std::string service = "") {
    if (service.empty()) service = service_;
    ListRequest all;
    all.page_size = 1000;
    auto roles = store_->ListRoles(service, all);
    EXPECT_TRUE(roles.ok());
    for (const Role& role : roles->items) {
      if (role.friendly_name == name) return role.sid;
    }
    ADD_FAILURE() << "no role " << name;
    return "";
  }

  void EnableReachability(bool on = true) {
    UpdateServiceRequest request;
    request.reachability_enabled = on;
    ASSERT_THAT(store_->UpdateService(service_, request), IsOk());
  }
};

// --- create ----------------------------------------------------------------------------

TEST_F(UserStoreTest, CreateFillsEveryField) {
  auto user = store_->CreateUser(service_, WithIdentity("alice"));
  ASSERT_THAT(user, IsOk());
  EXPECT_TRUE(Matches(user->sid, "US[0-9a-f]{32}")) << user->sid;
  EXPECT_EQ(user->account_sid, store_->account_sid());
  EXPECT_TRUE(Matches(user->account_sid, "AC[0-9a-f]{32}")) << user->account_sid;
  EXPECT_EQ(user->service_sid, service_);
  EXPECT_EQ(user->role_sid, MustGetService().default_service_role_sid);
  EXPECT_EQ(user->identity, "alice");
  EXPECT_EQ(user->attributes, "{}");
  EXPECT_EQ(user->friendly_name, std::nullopt);
  EXPECT_EQ(user->is_online, std::nullopt);
  EXPECT_EQ(user->is_notifiable, std::nullopt);
  EXPECT_EQ(user->joined_channels_count, 0);
  EXPECT_EQ(user->date_created, StartTime());
  EXPECT_EQ(user->date_updated, StartTime());
}

TEST_F(UserStoreTest, CreateTruncatesDatesToWholeSeconds) {
  clock_->Set(StartTime() + absl::Milliseconds(1999));
  User user = MustCreate("alice");
  EXPECT_EQ(user.date_created, StartTime() + absl::Seconds(1));
  EXPECT_EQ(user.date_updated, StartTime() + absl::Seconds(1));
}

TEST_F(UserStoreTest, CreateStoresSuppliedFields) {
  CreateUserRequest request = WithIdentity("bob");
  request.friendly_name = "Bob B.";
  request.attributes = R"({"level": 3})";
  request.role_sid = RoleSidNamed("service admin");
  auto user = store_->CreateUser(service_, request);
  ASSERT_THAT(user, IsOk());
  EXPECT_THAT(user->friendly_name, Optional(std::string("Bob B.")));
  EXPECT_EQ(user->attributes, R"({"level": 3})");
  EXPECT_EQ(user->role_sid, *request.role_sid);
  auto fetched = store_->GetUser(service_, user->sid);
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->friendly_name, user->friendly_name);
  EXPECT_EQ(fetched->attributes, user->attributes);
  EXPECT_EQ(fetched->role_sid, user->role_sid);
}

TEST_F(UserStoreTest, CreateRejectsMissingIdentity) {
  auto user = store_->CreateUser(service_, CreateUserRequest());
  EXPECT_THAT(user, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(user, HasMessage("Missing required parameter Identity in the post body"));
}

TEST_F(UserStoreTest, CreateRejectsEmptyIdentity) {
  auto user = store_->CreateUser(service_, WithIdentity(""));
  EXPECT_THAT(user, IsError(400, ErrorCode::kIdentityNotProvided));
  EXPECT_THAT(user, HasMessage("Identity not provided"));
}

TEST_F(UserStoreTest, CreateAcceptsIdentityOfMaxLength) {
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(std::string(256, 'a'))), IsOk());
}

TEST_F(UserStoreTest, CreateRejectsIdentityOneTooLong) {
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(std::string(257, 'a'))),
              IsError(400, ErrorCode::kIdentityTooLong));
}

TEST_F(UserStoreTest, IdentityLengthCountsCodePointsOfFourByteCharacters) {
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(Repeat(emoji, 256))), IsOk());
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(Repeat(emoji, 257))),
              IsError(400, ErrorCode::kIdentityTooLong));
}

TEST_F(UserStoreTest, IdentityLengthCountsCodePointsOfTwoByteCharacters) {
  const std::string e_acute = "\xC3\xA9";  // U+00E9
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(Repeat(e_acute, 256))), IsOk());
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity(Repeat(e_acute, 257))),
              IsError(400, ErrorCode::kIdentityTooLong));
}

TEST_F(UserStoreTest, IdentityLimitIsAnOption) {
  StoreOptions options;
  options.max_identity_length = 4;
  Reset(options);
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity("abcd")), IsOk());
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity("abcde")),
              IsError(400, ErrorCode::kIdentityTooLong));
}

TEST_F(UserStoreTest, CreateRejectsSidShapedIdentity) {
  const std::string lower = "US" + std::string(32, 'a');
  const std::string upper = "US" + std::string(32, 'A');
  const std::string mixed = "US0123456789abcdefABCDEF0123456789";
  for (const std::string& identity : {lower, upper, mixed}) {
    auto user = store_->CreateUser(service_, WithIdentity(identity));
    EXPECT_THAT(user, IsError(400, ErrorCode::kIdentityMatchesSidPattern)) << identity;
  }
}

TEST_F(UserStoreTest, CreateAcceptsIdentitiesThatOnlyResembleSids) {
  for (const std::string& identity :
       {"US" + std::string(31, 'a'), "US" + std::string(33, 'a'), "us" + std::string(32, 'a'),
        "US" + std::string(31, 'a') + "g", "IS" + std::string(32, 'a')}) {
    EXPECT_THAT(store_->CreateUser(service_, WithIdentity(identity)), IsOk()) << identity;
  }
}

TEST_F(UserStoreTest, CreateRejectsDuplicateIdentity) {
  MustCreate("alice");
  auto again = store_->CreateUser(service_, WithIdentity("alice"));
  EXPECT_THAT(again, IsError(409, ErrorCode::kUserAlreadyExists));
  EXPECT_THAT(again, HasMessage("User already exists"));
  EXPECT_EQ(*store_->CountUsers(service_), 1);
}

TEST_F(UserStoreTest, IdentityIsCaseSensitive) {
  User upper = MustCreate("Alice");
  User lower = MustCreate("alice");
  EXPECT_NE(upper.sid, lower.sid);
  EXPECT_EQ(store_->GetUser(service_, "Alice")->sid, upper.sid);
  EXPECT_EQ(store_->GetUser(service_, "alice")->sid, lower.sid);
}

TEST_F(UserStoreTest, SameIdentityInTwoServicesIsTwoUsers) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  User a = MustCreate("alice");
  User b = MustCreate("alice", other->sid);
  EXPECT_NE(a.sid, b.sid);
  EXPECT_EQ(b.service_sid, other->sid);
}

TEST_F(UserStoreTest, CreateRejectsIdentityThatIsNotUtf8) {
  for (const std::string& identity : {std::string("bad\xFF"), std::string("\xC0\xAF"),
                                      std::string("a\0b", 3), std::string("\xED\xA0\x80")}) {
    EXPECT_THAT(store_->CreateUser(service_, WithIdentity(identity)),
                IsError(400, ErrorCode::kInvalidParameter));
  }
  EXPECT_EQ(*store_->CountUsers(service_), 0);
}

TEST_F(UserStoreTest, FriendlyNameLimits) {
  CreateUserRequest request = WithIdentity("a");
  request.friendly_name = std::string(256, 'x');
  EXPECT_THAT(store_->CreateUser(service_, request), IsOk());
  request = WithIdentity("b");
  request.friendly_name = std::string(257, 'x');
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kFriendlyNameTooLong));
  request = WithIdentity("c");
  request.friendly_name = Repeat("\xF0\x9F\x98\x80", 256);
  EXPECT_THAT(store_->CreateUser(service_, request), IsOk());
  request = WithIdentity("d");
  request.friendly_name = Repeat("\xF0\x9F\x98\x80", 257);
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kFriendlyNameTooLong));
}

TEST_F(UserStoreTest, EmptyFriendlyNameIsSetNotNull) {
  CreateUserRequest request = WithIdentity("a");
  request.friendly_name = "";
  auto user = store_->CreateUser(service_, request);
  ASSERT_THAT(user, IsOk());
  EXPECT_THAT(user->friendly_name, Optional(std::string()));
}

TEST_F(UserStoreTest, FriendlyNameMustBeUtf8) {
  CreateUserRequest request = WithIdentity("a");
  request.friendly_name = "x\xFE";
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request.friendly_name = std::string("x\0y", 3);
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(UserStoreTest, AttributesAreStoredVerbatim) {
  const std::string text = "{ \"b\" : [1, 2.50, true],\n  \"a\":null }  ";
  CreateUserRequest request = WithIdentity("a");
  request.attributes = text;
  auto user = store_->CreateUser(service_, request);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->attributes, text);
  EXPECT_EQ(store_->GetUser(service_, "a")->attributes, text);
}

TEST_F(UserStoreTest, AttributesMayBeAnyJsonValue) {
  int n = 0;
  for (const char* text : {"3", "\"text\"", "[1,2]", "null", "true", "-0.5e3", "{}"}) {
    CreateUserRequest request = WithIdentity(absl::StrCat("u", n++));
    request.attributes = text;
    auto user = store_->CreateUser(service_, request);
    ASSERT_THAT(user, IsOk()) << text;
    EXPECT_EQ(user->attributes, text);
  }
}

TEST_F(UserStoreTest, AttributesThatAreNotJsonAreRejected) {
  int n = 0;
  for (const std::string& text :
       {std::string("{"), std::string(""), std::string("{a:1}"), std::string("[1,]"),
        std::string("\"\xFF\""), std::string("{} {}")}) {
    CreateUserRequest request = WithIdentity(absl::StrCat("u", n++));
    request.attributes = text;
    auto user = store_->CreateUser(service_, request);
    EXPECT_THAT(user, IsError(400, ErrorCode::kAttributesNotValidJson)) << text;
    EXPECT_THAT(user, HasMessage("Attributes not valid JSON"));
  }
  EXPECT_EQ(*store_->CountUsers(service_), 0);
}

TEST_F(UserStoreTest, AttributesSizeLimit) {
  // A JSON string of exactly 16 KiB.
  const std::string fits = "\"" + std::string(16 * 1024 - 2, 'x') + "\"";
  CreateUserRequest request = WithIdentity("a");
  request.attributes = fits;
  EXPECT_THAT(store_->CreateUser(service_, request), IsOk());
  request = WithIdentity("b");
  request.attributes = "\"" + std::string(16 * 1024 - 1, 'x') + "\"";
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kAttributesTooLong));
}

TEST_F(UserStoreTest, AttributesDepthLimit) {
  CreateUserRequest request = WithIdentity("a");
  request.attributes = Nested(64);
  EXPECT_THAT(store_->CreateUser(service_, request), IsOk());
  request = WithIdentity("b");
  request.attributes = Nested(65);
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kAttributesTooLong));
  request = WithIdentity("c");
  request.attributes = std::string(100000, '[');
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kAttributesTooLong));
}

TEST_F(UserStoreTest, CreateWithExplicitDeploymentRole) {
  Role custom = MustCreateRole("moderator", "deployment");
  CreateUserRequest request = WithIdentity("a");
  request.role_sid = custom.sid;
  auto user = store_->CreateUser(service_, request);
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->role_sid, custom.sid);
}

TEST_F(UserStoreTest, CreateRejectsMalformedRoleSid) {
  for (const std::string& role : {std::string("RL123"), std::string("role"), std::string(""),
                                  "XX" + std::string(32, 'a'), "RL" + std::string(32, 'g')}) {
    CreateUserRequest request = WithIdentity("a");
    request.role_sid = role;
    EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kInvalidParameter))
        << role;
  }
}

TEST_F(UserStoreTest, CreateRejectsUnknownRole) {
  CreateUserRequest request = WithIdentity("a");
  request.role_sid = "RL" + std::string(32, '0');
  auto user = store_->CreateUser(service_, request);
  EXPECT_THAT(user, IsError(400, ErrorCode::kRoleNotFound));
  EXPECT_THAT(user, HasMessage("Role not found"));
}

TEST_F(UserStoreTest, UpperCaseRoleSidNamesNoRole) {
  std::string upper = RoleSidNamed("service admin");
  for (size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  CreateUserRequest request = WithIdentity("a");
  request.role_sid = upper;
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kRoleNotFound));
}

TEST_F(UserStoreTest, CreateRejectsChannelRole) {
  CreateUserRequest request = WithIdentity("a");
  request.role_sid = RoleSidNamed("channel user");
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kInvalidRoleType));
}

TEST_F(UserStoreTest, CreateRejectsRoleOfAnotherService) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  CreateUserRequest request = WithIdentity("a");
  request.role_sid = other->default_service_role_sid;
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kRoleNotFound));
}

TEST_F(UserStoreTest, CreateInUnknownServiceIs404) {
  const std::string missing = "IS" + std::string(32, 'b');
  auto user = store_->CreateUser(missing, WithIdentity("a"));
  EXPECT_THAT(user, IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(user, HasMessage("The requested resource /Services/" + missing + " was not found"));
  EXPECT_THAT(store_->CreateUser("nonsense", WithIdentity("a")),
              HasMessage("The requested resource /Services/nonsense was not found"));
}

TEST_F(UserStoreTest, UnknownServiceWinsOverInvalidParameters) {
  EXPECT_THAT(store_->CreateUser("IS" + std::string(32, 'b'), CreateUserRequest()),
              IsError(404, ErrorCode::kNotFound));
}

TEST_F(UserStoreTest, FirstInvalidFieldDecidesTheError) {
  CreateUserRequest request = WithIdentity("");
  request.friendly_name = std::string(300, 'x');
  request.attributes = "{";
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kIdentityNotProvided));
  request.identity = "ok";
  EXPECT_THAT(store_->CreateUser(service_, request), IsError(400, ErrorCode::kFriendlyNameTooLong));
  request.friendly_name.reset();
  EXPECT_THAT(store_->CreateUser(service_, request),
              IsError(400, ErrorCode::kAttributesNotValidJson));
}

// --- fetch -----------------------------------------------------------------------------

TEST_F(UserStoreTest, GetBySidAndByIdentityAgree) {
  User created = MustCreate("alice");
  auto by_sid = store_->GetUser(service_, created.sid);
  auto by_identity = store_->GetUser(service_, "alice");
  ASSERT_THAT(by_sid, IsOk());
  ASSERT_THAT(by_identity, IsOk());
  EXPECT_EQ(by_sid->sid, created.sid);
  EXPECT_EQ(by_identity->sid, created.sid);
  EXPECT_EQ(by_sid->identity, "alice");
}

TEST_F(UserStoreTest, GetUnknownUserIs404WithPath) {
  auto user = store_->GetUser(service_, "bob");
  EXPECT_THAT(user, IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(user, HasMessage("The requested resource /Services/" + service_ +
                               "/Users/bob was not found"));
  const std::string sid = "US" + std::string(32, 'c');
  EXPECT_THAT(store_->GetUser(service_, sid),
              HasMessage("The requested resource /Services/" + service_ + "/Users/" + sid +
                         " was not found"));
}

TEST_F(UserStoreTest, GetInUnknownServiceIs404ForTheService) {
  User created = MustCreate("alice");
  const std::string missing = "IS" + std::string(32, 'd');
  EXPECT_THAT(store_->GetUser(missing, created.sid),
              HasMessage("The requested resource /Services/" + missing + " was not found"));
  EXPECT_THAT(store_->GetUser(missing, "alice"),
              HasMessage("The requested resource /Services/" + missing + " was not found"));
}

TEST_F(UserStoreTest, UpperCaseSidNamesNoUser) {
  User created = MustCreate("alice");
  std::string upper = created.sid;
  for (size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  ASSERT_NE(upper, created.sid);  // the seeded SID has a hex letter
  EXPECT_THAT(store_->GetUser(service_, upper), IsError(404, ErrorCode::kNotFound));
}

TEST_F(UserStoreTest, SidOfAnotherServiceIsNotFound) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  User elsewhere = MustCreate("alice", other->sid);
  EXPECT_THAT(store_->GetUser(service_, elsewhere.sid),
              HasMessage("The requested resource /Services/" + service_ + "/Users/" +
                         elsewhere.sid + " was not found"));
  EXPECT_THAT(store_->GetUser(other->sid, elsewhere.sid), IsOk());
}

TEST_F(UserStoreTest, GetRejectsTextThatIsNotUtf8) {
  EXPECT_THAT(store_->GetUser(service_, "a\xFF"), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->GetUser(service_, std::string("a\0", 2)),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->GetUser("IS\xFF", "a"), IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(UserStoreTest, ReturnedUsersAreCopies) {
  User created = MustCreate("alice");
  created.identity = "mallory";
  EXPECT_EQ(store_->GetUser(service_, created.sid)->identity, "alice");
}

// --- update ----------------------------------------------------------------------------

TEST_F(UserStoreTest, UpdateChangesOnlySuppliedFields) {
  CreateUserRequest create = WithIdentity("alice");
  create.attributes = R"({"a":1})";
  User before = *store_->CreateUser(service_, create);
  clock_->Advance(absl::Seconds(10));
  UpdateUserRequest update;
  update.friendly_name = "Alice";
  auto after = store_->UpdateUser(service_, before.sid, update);
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->friendly_name, Optional(std::string("Alice")));
  EXPECT_EQ(after->attributes, R"({"a":1})");
  EXPECT_EQ(after->role_sid, before.role_sid);
  EXPECT_EQ(after->identity, "alice");
  EXPECT_EQ(after->date_created, before.date_created);
  EXPECT_EQ(after->date_updated, StartTime() + absl::Seconds(10));
}

TEST_F(UserStoreTest, UpdateWithNoFieldsKeepsDateUpdated) {
  User before = MustCreate("alice");
  clock_->Advance(absl::Seconds(10));
  auto after = store_->UpdateUser(service_, "alice", UpdateUserRequest());
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->date_updated, before.date_updated);
  EXPECT_EQ(after->attributes, before.attributes);
}

TEST_F(UserStoreTest, UpdateWithSameValuesKeepsDateUpdated) {
  CreateUserRequest create = WithIdentity("alice");
  create.friendly_name = "A";
  create.attributes = "[1]";
  User before = *store_->CreateUser(service_, create);
  clock_->Advance(absl::Seconds(10));
  UpdateUserRequest update;
  update.friendly_name = "A";
  update.attributes = "[1]";
  update.role_sid = before.role_sid;
  const uint64_t sequence = store_->last_sequence();
  auto after = store_->UpdateUser(service_, before.sid, update);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->date_updated, before.date_updated);
  EXPECT_EQ(store_->last_sequence(), sequence);  // nothing committed
}

TEST_F(UserStoreTest, UpdateRejectsIdentity) {
  User before = MustCreate("alice");
  UpdateUserRequest update;
  update.identity = "alice";
  update.friendly_name = "x";
  EXPECT_THAT(store_->UpdateUser(service_, before.sid, update),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(store_->GetUser(service_, before.sid)->friendly_name, std::nullopt);
}

TEST_F(UserStoreTest, UpdateValidatesLikeCreate) {
  User before = MustCreate("alice");
  UpdateUserRequest update;
  update.attributes = "{";
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kAttributesNotValidJson));
  update = UpdateUserRequest();
  update.attributes = Nested(65);
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kAttributesTooLong));
  update = UpdateUserRequest();
  update.friendly_name = std::string(257, 'x');
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kFriendlyNameTooLong));
  update = UpdateUserRequest();
  update.role_sid = "RL1";
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kInvalidParameter));
  update.role_sid = "RL" + std::string(32, '0');
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kRoleNotFound));
  update.role_sid = RoleSidNamed("channel admin");
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(400, ErrorCode::kInvalidRoleType));
  auto after = store_->GetUser(service_, "alice");
  EXPECT_EQ(after->attributes, before.attributes);
  EXPECT_EQ(after->role_sid, before.role_sid);
  EXPECT_EQ(after->date_updated, before.date_updated);
}

TEST_F(UserStoreTest, UpdateChangesRole) {
  User before = MustCreate("alice");
  UpdateUserRequest update;
  update.role_sid = RoleSidNamed("service admin");
  auto after = store_->UpdateUser(service_, "alice", update);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->role_sid, *update.role_sid);
  EXPECT_EQ(store_->GetUser(service_, before.sid)->role_sid, *update.role_sid);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserStoreTest, UpdateUnknownUserIs404) {
  UpdateUserRequest update;
  update.friendly_name = "x";
  EXPECT_THAT(
      store_->UpdateUser(service_, "ghost", update),
      HasMessage("The requested resource /Services/" + service_ + "/Users/ghost was not found"));
  // The 404 wins over a broken parameter.
  update.attributes = "{";
  EXPECT_THAT(store_->UpdateUser(service_, "ghost", update), IsError(404, ErrorCode::kNotFound));
}

TEST_F(UserStoreTest, UpdateCanGrowAndShrinkText) {
  CreateUserRequest create = WithIdentity("alice");
  create.attributes = "1";
  MustCreate("neighbour");
  ASSERT_THAT(store_->CreateUser(service_, create), IsOk());
  const std::string big = "\"" + std::string(5000, 'z') + "\"";
  UpdateUserRequest update;
  update.attributes = big;
  update.friendly_name = "a much longer friendly name than before";
  ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
  auto got = store_->GetUser(service_, "alice");
  EXPECT_EQ(got->identity, "alice");
  EXPECT_EQ(got->attributes, big);
  EXPECT_THAT(got->friendly_name, Optional(std::string("a much longer friendly name than before")));
  update = UpdateUserRequest();
  update.attributes = "2";
  update.friendly_name = "";
  ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
  got = store_->GetUser(service_, "alice");
  EXPECT_EQ(got->identity, "alice");
  EXPECT_EQ(got->attributes, "2");
  EXPECT_THAT(got->friendly_name, Optional(std::string()));
  EXPECT_EQ(store_->GetUser(service_, "neighbour")->attributes, "{}");
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

// An update that supplies one of friendly name and attributes keeps the other,
// which the store re-reads from the record's own text while rewriting it: as
// the friendly name grows and shrinks (moving the attributes after it), and
// with the whole text on either side of the size assembled without
// allocation.
TEST_F(UserStoreTest, UpdateOfOneTextFieldKeepsTheOther) {
  CreateUserRequest create = WithIdentity("alice");
  create.attributes = "{\"k\":[1,2,3]}";
  create.friendly_name = "Alice";
  ASSERT_THAT(store_->CreateUser(service_, create), IsOk());
  std::string attributes = *create.attributes;
  std::string friendly = *create.friendly_name;
  for (size_t len : {0, 40, 3, 250, 1, 0, 9, 256, 12}) {
    UpdateUserRequest update;
    friendly = std::string(len, static_cast<char>('a' + len % 26));
    update.friendly_name = friendly;
    ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
    auto got = store_->GetUser(service_, "alice");
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->identity, "alice");
    EXPECT_THAT(got->friendly_name, Optional(friendly));
    EXPECT_EQ(got->attributes, attributes) << "friendly name of " << len;
  }
  // identity (5) + friendly name (12) + attributes: around 512 bytes.
  for (size_t total : {510, 511, 512, 513, 514, 100, 2000, 30}) {
    UpdateUserRequest update;
    attributes = "\"" + std::string(total - 5 - 12 - 2, static_cast<char>('a' + total % 26)) + "\"";
    update.attributes = attributes;
    ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
    auto got = store_->GetUser(service_, "alice");
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->identity, "alice");
    EXPECT_THAT(got->friendly_name, Optional(friendly)) << "text of " << total;
    EXPECT_EQ(got->attributes, attributes);
  }
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

// --- delete ----------------------------------------------------------------------------

TEST_F(UserStoreTest, DeleteRemovesTheUser) {
  User alice = MustCreate("alice");
  ASSERT_THAT(store_->DeleteUser(service_, alice.sid), IsOk());
  EXPECT_THAT(store_->GetUser(service_, alice.sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->GetUser(service_, "alice"), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->DeleteUser(service_, alice.sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_EQ(*store_->CountUsers(service_), 0);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserStoreTest, DeleteByIdentityFreesTheIdentity) {
  User first = MustCreate("alice");
  ASSERT_THAT(store_->DeleteUser(service_, "alice"), IsOk());
  User second = MustCreate("alice");
  EXPECT_NE(first.sid, second.sid);
}

TEST_F(UserStoreTest, DeleteUnknownServiceIs404) {
  EXPECT_THAT(store_->DeleteUser("IS" + std::string(32, 'e'), "alice"),
              IsError(404, ErrorCode::kNotFound));
}

// --- get or create ---------------------------------------------------------------------

TEST_F(UserStoreTest, GetOrCreateCreatesOnce) {
  CreateUserRequest request = WithIdentity("alice");
  request.attributes = "[1]";
  auto first = store_->GetOrCreateUser(service_, request);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->user.attributes, "[1]");
  auto second = store_->GetOrCreateUser(service_, request);
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->user.sid, first->user.sid);
}

TEST_F(UserStoreTest, GetOrCreateIgnoresOtherFieldsOfAnExistingUser) {
  User alice = MustCreate("alice");
  CreateUserRequest request = WithIdentity("alice");
  request.attributes = "{ not json";
  request.role_sid = "bogus";
  auto got = store_->GetOrCreateUser(service_, request);
  ASSERT_THAT(got, IsOk());
  EXPECT_FALSE(got->created);
  EXPECT_EQ(got->user.attributes, "{}");
  EXPECT_EQ(got->user.sid, alice.sid);
}

TEST_F(UserStoreTest, GetOrCreateValidatesWhenItCreates) {
  CreateUserRequest request = WithIdentity("alice");
  request.attributes = "{ not json";
  EXPECT_THAT(store_->GetOrCreateUser(service_, request),
              IsError(400, ErrorCode::kAttributesNotValidJson));
  EXPECT_THAT(store_->GetOrCreateUser(service_, WithIdentity("")),
              IsError(400, ErrorCode::kIdentityNotProvided));
  EXPECT_THAT(store_->GetOrCreateUser(service_, CreateUserRequest()),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->GetOrCreateUser(service_, WithIdentity("US" + std::string(32, '1'))),
              IsError(400, ErrorCode::kIdentityMatchesSidPattern));
  EXPECT_EQ(*store_->CountUsers(service_), 0);
}

TEST_F(UserStoreTest, GetOrCreateFromManyThreadsMakesOneUser) {
  constexpr int kThreads = 8;
  std::atomic<int> created{0};
  std::vector<std::string> sids(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto got = store_->GetOrCreateUser(service_, WithIdentity("shared"));
      ASSERT_TRUE(got.ok());
      if (got->created) created.fetch_add(1);
      sids[i] = got->user.sid;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  for (const std::string& sid : sids) EXPECT_EQ(sid, sids[0]);
  EXPECT_EQ(*store_->CountUsers(service_), 1);
}

// --- presence --------------------------------------------------------------------------

TEST_F(UserStoreTest, PresenceIsNullWhileReachabilityIsOff) {
  MustCreate("alice");
  PresenceUpdate update;
  update.is_online = true;
  update.is_notifiable = false;
  auto shown = store_->SetPresence(service_, "alice", update);
  ASSERT_THAT(shown, IsOk());
  EXPECT_EQ(shown->is_online, std::nullopt);
  EXPECT_EQ(shown->is_notifiable, std::nullopt);
  EXPECT_EQ(store_->GetUser(service_, "alice")->is_online, std::nullopt);
}

TEST_F(UserStoreTest, PresenceShowsOnceReachabilityIsOn) {
  User alice = MustCreate("alice");
  PresenceUpdate update;
  update.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", update), IsOk());
  EnableReachability();
  auto got = store_->GetUser(service_, alice.sid);
  EXPECT_THAT(got->is_online, Optional(true));
  EXPECT_EQ(got->is_notifiable, std::nullopt);  // never set
  got = store_->GetUser(service_, "alice");
  EXPECT_THAT(got->is_online, Optional(true));
  EnableReachability(false);
  EXPECT_EQ(store_->GetUser(service_, alice.sid)->is_online, std::nullopt);
}

TEST_F(UserStoreTest, PresenceIsNullUntilSet) {
  EnableReachability();
  User alice = MustCreate("alice");
  EXPECT_EQ(alice.is_online, std::nullopt);
  EXPECT_EQ(alice.is_notifiable, std::nullopt);
  PresenceUpdate update;
  update.is_notifiable = false;
  auto shown = store_->SetPresence(service_, alice.sid, update);
  ASSERT_THAT(shown, IsOk());
  EXPECT_EQ(shown->is_online, std::nullopt);
  EXPECT_THAT(shown->is_notifiable, Optional(false));
}

TEST_F(UserStoreTest, PresenceIsNullInLists) {
  EnableReachability();
  MustCreate("alice");
  PresenceUpdate update;
  update.is_online = true;
  update.is_notifiable = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", update), IsOk());
  auto page = store_->ListUsers(service_, ListRequest());
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].is_online, std::nullopt);
  EXPECT_EQ(page->items[0].is_notifiable, std::nullopt);
}

TEST_F(UserStoreTest, PresenceChangeMovesDateUpdatedOnlyWhenItChanges) {
  User alice = MustCreate("alice");
  clock_->Advance(absl::Seconds(3));
  PresenceUpdate update;
  update.is_online = false;
  EXPECT_EQ(store_->SetPresence(service_, "alice", update)->date_updated,
            StartTime() + absl::Seconds(3));
  clock_->Advance(absl::Seconds(3));
  EXPECT_EQ(store_->SetPresence(service_, "alice", update)->date_updated,
            StartTime() + absl::Seconds(3));
  EXPECT_EQ(store_->SetPresence(service_, "alice", PresenceUpdate())->date_updated,
            StartTime() + absl::Seconds(3));
}

TEST_F(UserStoreTest, UpdateReturnsPresenceByReachability) {
  EnableReachability();
  MustCreate("alice");
  PresenceUpdate presence;
  presence.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", presence), IsOk());
  UpdateUserRequest update;
  update.friendly_name = "A";
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update)->is_online, Optional(true));
}

TEST_F(UserStoreTest, PresenceOfUnknownUserIs404) {
  EXPECT_THAT(store_->SetPresence(service_, "ghost", PresenceUpdate()),
              IsError(404, ErrorCode::kNotFound));
}

// --- membership ------------------------------------------------------------------------

TEST_F(UserStoreTest, JoinAndLeaveCountChannels) {
  MustCreate("alice");
  clock_->Advance(absl::Seconds(1));
  auto joined = store_->JoinChannel(service_, "alice");
  ASSERT_THAT(joined, IsOk());
  EXPECT_EQ(joined->joined_channels_count, 1);
  EXPECT_EQ(joined->date_updated, StartTime() + absl::Seconds(1));
  EXPECT_EQ(store_->JoinChannel(service_, "alice")->joined_channels_count, 2);
  EXPECT_EQ(store_->LeaveChannel(service_, "alice")->joined_channels_count, 1);
  EXPECT_EQ(store_->GetUser(service_, "alice")->joined_channels_count, 1);
}

TEST_F(UserStoreTest, JoinBeyondTheLimitIs403) {
  StoreOptions options;
  options.max_user_channels = 2;
  Reset(options);
  MustCreate("alice");
  ASSERT_THAT(store_->JoinChannel(service_, "alice"), IsOk());
  ASSERT_THAT(store_->JoinChannel(service_, "alice"), IsOk());
  EXPECT_THAT(store_->JoinChannel(service_, "alice"),
              IsError(403, ErrorCode::kUserChannelLimitExceeded));
  EXPECT_EQ(store_->GetUser(service_, "alice")->joined_channels_count, 2);
}

TEST_F(UserStoreTest, LeaveAtZeroIs400) {
  MustCreate("alice");
  EXPECT_THAT(store_->LeaveChannel(service_, "alice"), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(store_->GetUser(service_, "alice")->joined_channels_count, 0);
}

TEST_F(UserStoreTest, JoinUnknownUserIs404) {
  EXPECT_THAT(store_->JoinChannel(service_, "ghost"), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->LeaveChannel(service_, "ghost"), IsError(404, ErrorCode::kNotFound));
}

// --- store options ---------------------------------------------------------------------

TEST_F(UserStoreTest, SameSeedGivesSameSids) {
  StoreOptions options;
  options.seed = 7;
  options.clock = clock_;
  UserStore a(options);
  UserStore b(options);
  EXPECT_EQ(a.account_sid(), b.account_sid());
  EXPECT_EQ(a.default_conversation_service_sid(), b.default_conversation_service_sid());
  auto ua = a.CreateUser(a.default_conversation_service_sid(), WithIdentity("x"));
  auto ub = b.CreateUser(b.default_conversation_service_sid(), WithIdentity("x"));
  ASSERT_THAT(ua, IsOk());
  ASSERT_THAT(ub, IsOk());
  EXPECT_EQ(ua->sid, ub->sid);
  options.seed = 8;
  UserStore c(options);
  EXPECT_NE(c.account_sid(), a.account_sid());
}

TEST_F(UserStoreTest, GivenAccountSidIsUsed) {
  StoreOptions options;
  options.account_sid = "AC" + std::string(32, 'f');
  UserStore store(options);
  EXPECT_THAT(store.init_status(), IsOk());
  EXPECT_EQ(store.account_sid(), options.account_sid);
  auto user = store.CreateUser(store.default_conversation_service_sid(), WithIdentity("x"));
  EXPECT_EQ(user->account_sid, options.account_sid);
}

TEST_F(UserStoreTest, MalformedAccountSidIsReplaced) {
  StoreOptions options;
  options.account_sid = "AC123";
  UserStore store(options);
  EXPECT_THAT(store.init_status(), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_TRUE(Matches(store.account_sid(), "AC[0-9a-f]{32}")) << store.account_sid();
}

TEST_F(UserStoreTest, DefaultServiceExists) {
  const std::string sid = store_->default_conversation_service_sid();
  EXPECT_TRUE(Matches(sid, "IS[0-9a-f]{32}")) << sid;
  auto service = store_->GetService(sid);
  ASSERT_THAT(service, IsOk());
  EXPECT_EQ(service->friendly_name, "Default Conversations Service");
  EXPECT_THAT(store_->CreateUser(sid, WithIdentity("alice")), IsOk());
}

TEST_F(UserStoreTest, NoDefaultServiceWhenAskedNotTo) {
  StoreOptions options;
  options.create_default_service = false;
  UserStore store(options);
  EXPECT_EQ(store.default_conversation_service_sid(), "");
  EXPECT_EQ(store.last_sequence(), 0u);
  EXPECT_TRUE(store.ListServices(ListRequest())->items.empty());
}

TEST_F(UserStoreTest, ConstructionCommitsFiveChanges) {
  UserStore store;
  EXPECT_EQ(store.last_sequence(), 5u);
}

TEST_F(UserStoreTest, AnyShardCountWorks) {
  for (int shards : {0, 1, 3, 16, 5000}) {
    StoreOptions options;
    options.sid_shards = shards;
    Reset(options);
    std::vector<User> users;
    for (int i = 0; i < 40; ++i) users.push_back(MustCreate(absl::StrCat("u", i)));
    for (const User& u : users) {
      EXPECT_EQ(store_->GetUser(service_, u.sid)->identity, u.identity) << shards;
      EXPECT_EQ(store_->GetUser(service_, u.identity)->sid, u.sid) << shards;
    }
    // Writes lock a record's SID shard and identity shard (one lock when
    // they coincide, always with one shard).
    for (size_t i = 0; i < users.size(); i += 2) {
      UpdateUserRequest update;
      update.attributes = absl::StrCat("[", i, "]");
      ASSERT_THAT(store_->UpdateUser(service_, users[i].identity, update), IsOk()) << shards;
      ASSERT_THAT(store_->DeleteUser(service_, users[i + 1].sid), IsOk()) << shards;
      EXPECT_THAT(store_->GetUser(service_, users[i + 1].identity),
                  IsError(404, ErrorCode::kNotFound));
    }
    EXPECT_THAT(store_->CheckInvariants(), IsOk());
  }
}

// The identity index is keyed by (service, identity): the same identity in two
// services names two users, and deleting one leaves the other.
TEST_F(UserStoreTest, OneIdentityInTwoServicesIsTwoUsers) {
  const User here = MustCreate("sam");
  absl::StatusOr<Service> other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  const User there = MustCreate("sam", other->sid);
  EXPECT_NE(here.sid, there.sid);
  EXPECT_EQ(store_->GetUser(service_, "sam")->sid, here.sid);
  EXPECT_EQ(store_->GetUser(other->sid, "sam")->sid, there.sid);
  ASSERT_THAT(store_->DeleteService(other->sid), IsOk());
  EXPECT_EQ(store_->GetUser(service_, "sam")->sid, here.sid);
  EXPECT_THAT(store_->GetUser(other->sid, "sam"), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

// A snapshot and the invariant walk take a constant number of locks however
// many services and shards there are (ThreadSanitizer tracks at most 64 held
// at once; this runs in the TSan build too).
TEST_F(UserStoreTest, SnapshotOfManyServicesAndShards) {
  StoreOptions options;
  options.sid_shards = 1024;
  Reset(options);
  for (int i = 0; i < 100; ++i) {
    CreateServiceRequest request;
    request.friendly_name = absl::StrCat("s", i);
    absl::StatusOr<Service> service = store_->CreateService(request);
    ASSERT_THAT(service, IsOk());
    CreateUserRequest user = WithIdentity("u");
    ASSERT_THAT(store_->CreateUser(service->sid, user), IsOk());
  }
  const UserStore::SnapshotData snapshot = store_->Snapshot();
  // 102 services (with the default one and the fixture's), 4 roles each, and
  // one user in each of the 100.
  EXPECT_EQ(snapshot.events.size(), 102u * 5 + 100);
  EXPECT_EQ(snapshot.sequence, store_->last_sequence());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

// --- hooks and feed ---------------------------------------------------------------------

TEST_F(UserStoreTest, OnUserAddedFiresOnlyWhenEnabled) {
  std::vector<std::string> seen;
  store_->AddHook(HookType::kOnUserAdded, [&](const UserEvent& e) {
    seen.push_back(e.event_type + ":" + e.identity);
    return absl::OkStatus();
  });
  MustCreate("quiet");
  CreateUserRequest loud = WithIdentity("loud");
  loud.webhooks_enabled = true;
  ASSERT_THAT(store_->CreateUser(service_, loud), IsOk());
  EXPECT_THAT(seen, ElementsAre("onUserAdded:loud"));
}

TEST_F(UserStoreTest, OnUserUpdateVetoChangesNothing) {
  User alice = MustCreate("alice");
  std::optional<std::string> proposed;
  store_->AddHook(HookType::kOnUserUpdate, [&](const UserEvent& e) {
    proposed = e.friendly_name;
    return absl::PermissionDeniedError("no");
  });
  clock_->Advance(absl::Seconds(5));
  UpdateUserRequest update;
  update.friendly_name = "Alice";
  update.webhooks_enabled = true;
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update),
              IsError(403, ErrorCode::kWebhookRejected));
  EXPECT_THAT(proposed, Optional(std::string("Alice")));
  auto got = store_->GetUser(service_, "alice");
  EXPECT_EQ(got->friendly_name, std::nullopt);
  EXPECT_EQ(got->date_updated, alice.date_updated);
  // Without webhooks the hook is not asked.
  update.webhooks_enabled = false;
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
}

TEST_F(UserStoreTest, UpdateHooksSeeProposedThenCommittedUser) {
  MustCreate("alice");
  std::vector<std::string> seen;
  store_->AddHook(HookType::kOnUserUpdate, [&](const UserEvent& e) {
    seen.push_back(e.event_type + ":" + e.attributes);
    return absl::OkStatus();
  });
  store_->AddHook(HookType::kOnUserUpdated, [&](const UserEvent& e) {
    seen.push_back(e.event_type + ":" + e.attributes);
    return absl::OkStatus();
  });
  UpdateUserRequest update;
  update.attributes = "[2]";
  update.webhooks_enabled = true;
  ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
  EXPECT_THAT(seen, ElementsAre("onUserUpdate:[2]", "onUserUpdated:[2]"));
}

TEST_F(UserStoreTest, HookMayCallTheStore) {
  store_->AddHook(HookType::kOnUserAdded, [&](const UserEvent& e) {
    if (e.identity == "first") {
      auto second = store_->CreateUser(e.service_sid, WithIdentity("second"));
      EXPECT_TRUE(second.ok());
    }
    return absl::OkStatus();
  });
  CreateUserRequest request = WithIdentity("first");
  request.webhooks_enabled = true;
  ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
  EXPECT_THAT(store_->GetUser(service_, "second"), IsOk());
}

TEST_F(UserStoreTest, FeedCarriesStoredPresence) {
  MustCreate("alice");
  std::vector<ChangeEvent> events;
  store_->Subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  PresenceUpdate update;
  update.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", update), IsOk());  // reachability off
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].entity, ChangeEvent::Entity::kUser);
  EXPECT_EQ(events[0].op, ChangeEvent::Op::kUpdate);
  ASSERT_TRUE(events[0].user.has_value());
  EXPECT_THAT(events[0].user->is_online, Optional(true));
  EXPECT_EQ(events[0].sequence, store_->last_sequence());
}

TEST_F(UserStoreTest, EveryUserMutationIsPublishedInOrder) {
  std::vector<ChangeEvent> events;
  store_->Subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  User alice = MustCreate("alice");
  UpdateUserRequest update;
  update.friendly_name = "A";
  ASSERT_THAT(store_->UpdateUser(service_, "alice", update), IsOk());
  ASSERT_THAT(store_->JoinChannel(service_, "alice"), IsOk());
  ASSERT_THAT(store_->DeleteUser(service_, "alice"), IsOk());
  EXPECT_THAT(store_->DeleteUser(service_, "alice"), IsError(404, ErrorCode::kNotFound));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].op, ChangeEvent::Op::kCreate);
  EXPECT_EQ(events[1].op, ChangeEvent::Op::kUpdate);
  EXPECT_EQ(events[2].user->joined_channels_count, 1);
  EXPECT_EQ(events[3].op, ChangeEvent::Op::kDelete);
  EXPECT_EQ(events[3].user->sid, alice.sid);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, events[i - 1].sequence + 1);
  }
}

TEST_F(UserStoreTest, FailedCallsPublishNothing) {
  MustCreate("alice");
  const uint64_t before = store_->last_sequence();
  EXPECT_FALSE(store_->CreateUser(service_, WithIdentity("alice")).ok());
  EXPECT_FALSE(store_->LeaveChannel(service_, "alice").ok());
  EXPECT_FALSE(store_->DeleteUser(service_, "ghost").ok());
  EXPECT_EQ(store_->last_sequence(), before);
}

TEST_F(UserStoreTest, ReplicaFollowsTheFeed) {
  StoreOptions replica_options;
  replica_options.account_sid = store_->account_sid();
  replica_options.create_default_service = false;
  UserStore replica(replica_options);
  MustCreate("before");
  auto sub = store_->SubscribeWithSnapshot(
      [&](const ChangeEvent& e) { ASSERT_THAT(replica.Apply(e), IsOk()); });
  for (const ChangeEvent& e : sub.snapshot.events) ASSERT_THAT(replica.Apply(e), IsOk());
  MustCreate("after");
  PresenceUpdate presence;
  presence.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "before", presence), IsOk());
  ASSERT_THAT(store_->JoinChannel(service_, "after"), IsOk());
  ASSERT_THAT(store_->DeleteUser(service_, "before"), IsOk());
  MustCreate("last");
  EXPECT_EQ(replica.default_conversation_service_sid(), store_->default_conversation_service_sid());
  auto mine = store_->ListUsers(service_, ListRequest());
  auto theirs = replica.ListUsers(service_, ListRequest());
  ASSERT_THAT(theirs, IsOk());
  ASSERT_EQ(mine->items.size(), theirs->items.size());
  for (size_t i = 0; i < mine->items.size(); ++i) {
    EXPECT_EQ(mine->items[i].sid, theirs->items[i].sid);
    EXPECT_EQ(mine->items[i].identity, theirs->items[i].identity);
    EXPECT_EQ(mine->items[i].joined_channels_count, theirs->items[i].joined_channels_count);
    EXPECT_EQ(mine->items[i].date_updated, theirs->items[i].date_updated);
  }
  EXPECT_THAT(replica.CheckInvariants(), IsOk());
  store_->Unsubscribe(sub.id);
}

TEST_F(UserStoreTest, InvariantsHoldAfterMixedTraffic) {
  Role extra = MustCreateRole("extra", "deployment");
  for (int i = 0; i < 200; ++i) MustCreate(absl::StrCat("user", i));
  for (int i = 0; i < 200; i += 3) {
    ASSERT_THAT(store_->DeleteUser(service_, absl::StrCat("user", i)), IsOk());
  }
  for (int i = 1; i < 200; i += 3) {
    UpdateUserRequest update;
    update.role_sid = extra.sid;
    update.attributes = absl::StrCat("{\"i\":", i, "}");
    ASSERT_THAT(store_->UpdateUser(service_, absl::StrCat("user", i), update), IsOk());
  }
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
  EXPECT_EQ(*store_->CountUsers(service_), 200 - 67);
  EXPECT_THAT(store_->DeleteRole(service_, extra.sid), IsError(409, ErrorCode::kRoleInUse));
}

}  // namespace
}  // namespace userstore
