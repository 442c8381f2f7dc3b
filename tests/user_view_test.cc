// The zero-copy reads, UserStore::ReadUser() and UserStore::VisitUsers():
// they must show exactly what GetUser() / ListUsers() return (fields,
// presence rule, tokens, errors), never call back on an error, and leave the
// store usable when the callback throws. The same for the zero-copy forms of
// CreateUser() and UpdateUser(), whose callback runs after the commit: a
// throw there keeps the change, and its event and hooks still go out. Those
// take their requests as views (CreateUserRequestView, UpdateUserRequestView):
// the texts are read by their sizes, copied, and not kept.

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using userstore_testing::IsError;
using userstore_testing::IsOk;
using userstore_testing::SameUser;

class UserViewTest : public userstore_testing::StoreTest {
 protected:
  // ReadUser's view, copied; the status of the call in `status`.
  User Read(const std::string& user, absl::Status* status, std::string service = "") {
    if (service.empty()) service = service_;
    User out;
    int calls = 0;
    *status = store_->ReadUser(service, user, [&](const UserView& v) {
      ++calls;
      out = v.ToUser();
    });
    EXPECT_EQ(calls, status->ok() ? 1 : 0) << user;
    return out;
  }

  void SetReachability(bool on) {
    UpdateServiceRequest request;
    request.reachability_enabled = on;
    ASSERT_THAT(store_->UpdateService(service_, request), IsOk());
  }
};

TEST_F(UserViewTest, ReadShowsWhatGetShowsBySidAndIdentity) {
  CreateUserRequest request = WithIdentity("alice");
  request.friendly_name = "Alice";
  request.attributes = R"({"level": 3, "name": "\u00e9"})";
  const User alice = *store_->CreateUser(service_, request);
  MustCreate("bob");  // no friendly name, default attributes
  PresenceUpdate presence;
  presence.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", presence), IsOk());
  ASSERT_THAT(store_->JoinChannel(service_, "alice"), IsOk());

  for (bool reachability : {false, true}) {
    SetReachability(reachability);
    for (const std::string& user : {alice.sid, std::string("alice"), std::string("bob")}) {
      SCOPED_TRACE(user + (reachability ? " reachability on" : " reachability off"));
      absl::Status status;
      const User viewed = Read(user, &status);
      ASSERT_THAT(status, IsOk());
      const absl::StatusOr<User> fetched = store_->GetUser(service_, user);
      ASSERT_THAT(fetched, IsOk());
      EXPECT_TRUE(SameUser(viewed, *fetched));
    }
  }
  // The presence rule is the store's, not the caller's: on with reachability.
  absl::Status status;
  EXPECT_EQ(Read("alice", &status).is_online, std::optional<bool>(true));
  EXPECT_EQ(Read("bob", &status).friendly_name, std::nullopt);
}

TEST_F(UserViewTest, ReadErrorsAreGetErrorsAndTheReaderIsNotCalled) {
  const User alice = MustCreate("alice");
  const auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {service_, "nobody"},
      {service_, "US00000000000000000000000000000000"},
      {service_, "US" + std::string(alice.sid.substr(2)).replace(0, 1, "F")},
      {other->sid, alice.sid},
      {other->sid, "alice"},
      {"IS00000000000000000000000000000000", alice.sid},
      {"not a service", "alice"},
      {service_, std::string("bad\xff", 4)},
      {service_, std::string("nul\0", 4)},
  };
  for (const auto& [service, user] : cases) {
    SCOPED_TRACE(service + " / " + user);
    absl::Status status;
    Read(user, &status, service);
    const absl::StatusOr<User> fetched = store_->GetUser(service, user);
    ASSERT_FALSE(fetched.ok());
    EXPECT_EQ(status, fetched.status());
  }
}

TEST_F(UserViewTest, ReadAfterDeleteIsNotFound) {
  const User alice = MustCreate("alice");
  ASSERT_THAT(store_->DeleteUser(service_, alice.sid), IsOk());
  absl::Status status;
  Read(alice.sid, &status);
  EXPECT_THAT(status, IsError(404, ErrorCode::kNotFound));
}

TEST_F(UserViewTest, AThrowingReaderPropagatesAndReleasesTheLock) {
  const User alice = MustCreate("alice");
  for (const std::string& user : {alice.sid, std::string("alice")}) {
    EXPECT_THROW((void)store_->ReadUser(
                     service_, user, [](const UserView&) { throw std::runtime_error("reader"); }),
                 std::runtime_error);
  }
  ListRequest list;
  EXPECT_THROW((void)store_->VisitUsers(service_, list,
                                        [](const UserView&) { throw std::runtime_error("v"); }),
               std::runtime_error);
  // Writers need every lock the readers held.
  UpdateUserRequest update;
  update.attributes = R"({"after": true})";
  EXPECT_THAT(store_->UpdateUser(service_, alice.sid, update), IsOk());
  EXPECT_THAT(store_->DeleteUser(service_, "alice"), IsOk());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserViewTest, VisitWalksTheSamePagesAsList) {
  SetReachability(true);  // lists still show null presence
  for (int i = 0; i < 23; ++i) {
    CreateUserRequest request = WithIdentity("user" + std::to_string(i));
    if (i % 3 == 0) request.friendly_name = "name " + std::to_string(i);
    ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
    PresenceUpdate presence;
    presence.is_online = i % 2 == 0;
    ASSERT_THAT(store_->SetPresence(service_, "user" + std::to_string(i), presence), IsOk());
  }
  ASSERT_THAT(store_->DeleteUser(service_, "user5"), IsOk());

  for (Surface surface : {Surface::kCpp, Surface::kConversations}) {
    ListRequest request;
    request.page_size = 4;
    request.surface = surface;
    int pages = 0;
    int64_t users = 0;
    std::string last_previous;
    for (;;) {
      const absl::StatusOr<UserPage> listed = store_->ListUsers(service_, request);
      ASSERT_THAT(listed, IsOk());
      std::vector<User> visited;
      const absl::StatusOr<PageInfo> info = store_->VisitUsers(
          service_, request, [&](const UserView& v) { visited.push_back(v.ToUser()); });
      ASSERT_THAT(info, IsOk());
      EXPECT_EQ(info->item_count, static_cast<int64_t>(visited.size()));
      EXPECT_EQ(info->page_size, listed->page_size);
      EXPECT_EQ(info->next_page_token, listed->next_page_token);
      EXPECT_EQ(info->previous_page_token, listed->previous_page_token);
      ASSERT_EQ(visited.size(), listed->items.size());
      for (size_t i = 0; i < visited.size(); ++i) {
        EXPECT_TRUE(SameUser(visited[i], listed->items[i]));
        EXPECT_EQ(visited[i].is_online, std::nullopt);
      }
      ++pages;
      users += info->item_count;
      last_previous = info->previous_page_token;
      if (info->next_page_token.empty()) break;
      request.page_token = info->next_page_token;
    }
    EXPECT_EQ(pages, 6);
    EXPECT_EQ(users, 22);
    // A backward token visits the same page as it lists.
    ASSERT_FALSE(last_previous.empty());
    request.page_token = last_previous;
    int64_t back = 0;
    const absl::StatusOr<PageInfo> info =
        store_->VisitUsers(service_, request, [&](const UserView&) { ++back; });
    ASSERT_THAT(info, IsOk());
    EXPECT_EQ(back, 4);
    EXPECT_EQ(info->item_count, 4);
  }
}

TEST_F(UserViewTest, VisitClampsThePageSizeLikeList) {
  for (int i = 0; i < 60; ++i) MustCreate("u" + std::to_string(i));
  ListRequest request;
  request.page_size = 500;
  request.surface = Surface::kConversations;  // at most 50
  int64_t seen = 0;
  const absl::StatusOr<PageInfo> info =
      store_->VisitUsers(service_, request, [&](const UserView&) { ++seen; });
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->page_size, 50);
  EXPECT_EQ(seen, 50);
  EXPECT_FALSE(info->next_page_token.empty());
}

TEST_F(UserViewTest, VisitErrorsAreListErrorsAndTheVisitorIsNotCalled) {
  MustCreate("alice");
  MustCreate("bob");
  const auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  ListRequest first;
  first.page_size = 1;
  const std::string token = store_->ListUsers(service_, first)->next_page_token;
  ASSERT_FALSE(token.empty());

  struct Case {
    std::string service;
    ListRequest request;
  };
  std::vector<Case> cases;
  cases.push_back({"IS00000000000000000000000000000000", ListRequest()});
  ListRequest zero;
  zero.page_size = 0;
  cases.push_back({service_, zero});
  ListRequest forged;
  forged.page_token = "PAnot-a-token";
  cases.push_back({service_, forged});
  ListRequest foreign;
  foreign.page_token = token;
  cases.push_back({other->sid, foreign});  // a token of another service
  ListRequest surface;
  surface.page_token = token;
  surface.surface = Surface::kChatV2;  // a token of another surface
  cases.push_back({service_, surface});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.service + " " + c.request.page_token);
    int calls = 0;
    const absl::StatusOr<PageInfo> info =
        store_->VisitUsers(c.service, c.request, [&](const UserView&) { ++calls; });
    const absl::StatusOr<UserPage> listed = store_->ListUsers(c.service, c.request);
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(info.status(), listed.status());
    EXPECT_EQ(calls, 0);
  }
}

// --- zero-copy create and update ------------------------------------------------

TEST_F(UserViewTest, CreateViewShowsWhatCreateReturns) {
  // A twin store (same seed, same clock) takes the copying calls: the same
  // requests must give the same users, SIDs included.
  StoreOptions options;
  options.clock = clock_;
  options.seed = 42;
  UserStore twin(options);
  ASSERT_THAT(twin.CreateService(Named("test service")), IsOk());
  std::vector<CreateUserRequest> requests(3);
  requests[0] = WithIdentity("alice");
  requests[0].friendly_name = "Alice";
  requests[0].attributes = R"({"level": 3, "name": "\u00e9"})";
  requests[1] = WithIdentity("bob");
  requests[2] = WithIdentity("carol");
  requests[2].role_sid = MustCreateRole("player", "deployment").sid;
  CreateRoleRequest role;
  role.friendly_name = "player";
  role.type = "deployment";
  role.permissions = {"sendMessage"};
  ASSERT_THAT(twin.CreateRole(service_, role), IsOk());
  for (const CreateUserRequest& request : requests) {
    SCOPED_TRACE(*request.identity);
    User viewed;
    int calls = 0;
    ASSERT_THAT(store_->CreateUser(service_, request,
                                   [&](const UserView& v) {
                                     ++calls;
                                     viewed = v.ToUser();
                                   }),
                IsOk());
    EXPECT_EQ(calls, 1);
    const absl::StatusOr<User> copied = twin.CreateUser(service_, request);
    ASSERT_THAT(copied, IsOk());
    EXPECT_TRUE(SameUser(viewed, *copied));
    const absl::StatusOr<User> fetched = store_->GetUser(service_, viewed.sid);
    ASSERT_THAT(fetched, IsOk());
    EXPECT_TRUE(SameUser(viewed, *fetched));
  }
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserViewTest, CreateViewErrorsAreCreateErrorsAndTheCallbackIsNotCalled) {
  MustCreate("alice");
  std::vector<std::pair<std::string, CreateUserRequest>> cases;
  cases.emplace_back(service_, WithIdentity("alice"));  // taken
  cases.emplace_back(service_, CreateUserRequest());    // no identity
  cases.emplace_back(service_, WithIdentity(""));
  CreateUserRequest bad_json = WithIdentity("bob");
  bad_json.attributes = "{nope";
  cases.emplace_back(service_, bad_json);
  CreateUserRequest bad_role = WithIdentity("bob");
  bad_role.role_sid = "RL00000000000000000000000000000000";
  cases.emplace_back(service_, bad_role);
  cases.emplace_back("IS00000000000000000000000000000000", WithIdentity("bob"));
  cases.emplace_back("not a service", WithIdentity("bob"));
  for (const auto& [service, request] : cases) {
    SCOPED_TRACE(service + " / " + request.identity.value_or("(none)"));
    int calls = 0;
    const absl::Status status =
        store_->CreateUser(service, request, [&](const UserView&) { ++calls; });
    EXPECT_EQ(calls, 0);
    const absl::StatusOr<User> copied = store_->CreateUser(service, request);
    ASSERT_FALSE(copied.ok());
    EXPECT_EQ(status, copied.status());
  }
  EXPECT_EQ(*store_->CountUsers(service_), 1);
}

TEST_F(UserViewTest, AThrowingCreateCallbackKeepsTheUserAndItsEventAndHooks) {
  std::vector<std::string> feed;
  store_->Subscribe([&](const ChangeEvent& e) {
    if (e.user.has_value()) feed.push_back(e.user->identity);
  });
  int added = 0;
  store_->AddHook(HookType::kOnUserAdded, [&](const UserEvent&) {
    ++added;
    return absl::OkStatus();
  });
  CreateUserRequest request = WithIdentity("carol");
  request.webhooks_enabled = true;
  std::string sid_seen;
  EXPECT_THROW((void)store_->CreateUser(service_, request,
                                        [&](const UserView& v) {
                                          sid_seen = std::string(v.sid);
                                          throw std::runtime_error("created");
                                        }),
               std::runtime_error);
  // Committed before the callback: the user stays, and by the time the
  // exception reached the caller its event was delivered and its hook ran.
  const absl::StatusOr<User> carol = store_->GetUser(service_, "carol");
  ASSERT_THAT(carol, IsOk());
  EXPECT_EQ(carol->sid, sid_seen);
  EXPECT_EQ(feed, std::vector<std::string>{"carol"});
  EXPECT_EQ(added, 1);
  // Every lock was released.
  EXPECT_THAT(store_->CreateUser(service_, WithIdentity("dave")), IsOk());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserViewTest, UpdateViewShowsWhatUpdateReturns) {
  CreateUserRequest create = WithIdentity("alice");
  create.friendly_name = "Alice";
  MustCreate("bob");
  ASSERT_THAT(store_->CreateUser(service_, create), IsOk());
  PresenceUpdate presence;
  presence.is_online = true;
  ASSERT_THAT(store_->SetPresence(service_, "alice", presence), IsOk());
  int round = 0;
  for (bool reachability : {false, true}) {
    SetReachability(reachability);
    for (const std::string& user : {std::string("alice"), std::string("bob")}) {
      SCOPED_TRACE(user + (reachability ? " reachability on" : " reachability off"));
      UpdateUserRequest update;
      update.attributes = absl::StrCat(R"({"round": )", ++round, "}");
      User viewed;
      int calls = 0;
      ASSERT_THAT(store_->UpdateUser(service_, user, update,
                                     [&](const UserView& v) {
                                       ++calls;
                                       viewed = v.ToUser();
                                     }),
                  IsOk());
      EXPECT_EQ(calls, 1);
      EXPECT_EQ(viewed.attributes, *update.attributes);
      // What the copying call returns: the fetch view, presence included.
      UpdateUserRequest same;
      same.attributes = update.attributes;  // no change, so nothing moves
      const absl::StatusOr<User> copied = store_->UpdateUser(service_, user, same);
      ASSERT_THAT(copied, IsOk());
      EXPECT_TRUE(SameUser(viewed, *copied));
    }
  }
  absl::Status status;
  EXPECT_EQ(Read("alice", &status).is_online, std::optional<bool>(true));
}

TEST_F(UserViewTest, UpdateViewErrorsAndVetoesDoNotCallBack) {
  MustCreate("alice");
  int calls = 0;
  auto count = [&](const UserView&) { ++calls; };
  UpdateUserRequest update;
  update.attributes = R"({"x": 1})";
  EXPECT_THAT(store_->UpdateUser(service_, "nobody", update, count),
              IsError(404, ErrorCode::kNotFound));
  UpdateUserRequest bad;
  bad.attributes = "{nope";
  EXPECT_EQ(store_->UpdateUser(service_, "alice", bad, count),
            store_->UpdateUser(service_, "alice", bad).status());
  store_->AddHook(HookType::kOnUserUpdate,
                  [](const UserEvent&) { return absl::PermissionDeniedError("no"); });
  update.webhooks_enabled = true;
  EXPECT_THAT(store_->UpdateUser(service_, "alice", update, count),
              IsError(403, ErrorCode::kWebhookRejected));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(store_->GetUser(service_, "alice")->attributes, "{}");
}

TEST_F(UserViewTest, AThrowingUpdateCallbackKeepsTheUpdateAndItsEvent) {
  MustCreate("alice");
  std::vector<std::string> feed;
  store_->Subscribe([&](const ChangeEvent& e) {
    if (e.user.has_value()) feed.push_back(e.user->attributes);
  });
  UpdateUserRequest update;
  update.attributes = R"({"kept": true})";
  EXPECT_THROW((void)store_->UpdateUser(service_, "alice", update,
                                        [](const UserView&) { throw std::runtime_error("u"); }),
               std::runtime_error);
  EXPECT_EQ(store_->GetUser(service_, "alice")->attributes, *update.attributes);
  EXPECT_EQ(feed, std::vector<std::string>{*update.attributes});
  EXPECT_THAT(store_->DeleteUser(service_, "alice"), IsOk());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(UserViewTest, OfAndToUserRoundTrip) {
  CreateUserRequest request = WithIdentity("carol");
  request.friendly_name = "Carol";
  request.attributes = R"({"a": [1, 2]})";
  const User carol = *store_->CreateUser(service_, request);
  EXPECT_TRUE(SameUser(UserView::Of(carol).ToUser(), carol));
  User no_name = carol;
  no_name.friendly_name.reset();
  no_name.is_online = false;
  EXPECT_EQ(UserView::Of(no_name).friendly_name, std::nullopt);
  EXPECT_TRUE(SameUser(UserView::Of(no_name).ToUser(), no_name));
}

TEST_F(UserViewTest, OwningRequestsConvertToViewsOfEveryField) {
  CreateUserRequest create = WithIdentity("alice");
  create.friendly_name = "Alice";
  create.attributes = R"({"a": 1})";
  create.role_sid = "RL00000000000000000000000000000001";
  create.webhooks_enabled = true;
  const CreateUserRequestView c = create;
  ASSERT_TRUE(c.identity && c.friendly_name && c.attributes && c.role_sid);
  EXPECT_EQ(c.identity->data(), create.identity->data());  // views, not copies
  EXPECT_EQ(*c.identity, *create.identity);
  EXPECT_EQ(c.friendly_name->data(), create.friendly_name->data());
  EXPECT_EQ(*c.friendly_name, *create.friendly_name);
  EXPECT_EQ(c.attributes->data(), create.attributes->data());
  EXPECT_EQ(*c.attributes, *create.attributes);
  EXPECT_EQ(c.role_sid->data(), create.role_sid->data());
  EXPECT_EQ(*c.role_sid, *create.role_sid);
  EXPECT_TRUE(c.webhooks_enabled);
  const CreateUserRequestView none = CreateUserRequest();
  EXPECT_FALSE(none.identity || none.friendly_name || none.attributes || none.role_sid);
  EXPECT_FALSE(none.webhooks_enabled);

  UpdateUserRequest update;
  update.identity = "bob";
  update.friendly_name = "";  // supplied and empty is not unsupplied
  update.attributes = "{}";
  update.role_sid = "RL00000000000000000000000000000002";
  update.webhooks_enabled = true;
  const UpdateUserRequestView u = update;
  ASSERT_TRUE(u.identity && u.friendly_name && u.attributes && u.role_sid);
  EXPECT_EQ(u.identity->data(), update.identity->data());
  EXPECT_EQ(*u.identity, "bob");
  EXPECT_EQ(*u.friendly_name, "");
  EXPECT_EQ(u.attributes->data(), update.attributes->data());
  EXPECT_EQ(*u.role_sid, *update.role_sid);
  EXPECT_TRUE(u.webhooks_enabled);
  const UpdateUserRequestView no_update = UpdateUserRequest();
  EXPECT_FALSE(no_update.identity || no_update.friendly_name || no_update.attributes ||
               no_update.role_sid || no_update.webhooks_enabled);
}

TEST_F(UserViewTest, ViewRequestsAreReadByTheirSizesAndCopied) {
  const std::string role = MustCreateRole("player", "deployment").sid;
  // Every text is a slice of one buffer, none of them NUL-terminated.
  std::string buffer = "[alice|Alice A.|{\"level\": 3}|" + role + "x]";
  const absl::string_view all = buffer;
  CreateUserRequestView create;
  create.identity = all.substr(1, 5);
  create.friendly_name = all.substr(7, 8);
  create.attributes = all.substr(16, 12);
  create.role_sid = all.substr(29, role.size());
  User viewed;
  ASSERT_THAT(store_->CreateUser(service_, create, [&](const UserView& v) { viewed = v.ToUser(); }),
              IsOk());
  // The store kept copies: the caller's buffer may change at once.
  std::memset(&buffer[0], '#', buffer.size());
  const absl::StatusOr<User> alice = store_->GetUser(service_, "alice");
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(alice->identity, "alice");
  EXPECT_EQ(alice->friendly_name, std::optional<std::string>("Alice A."));
  EXPECT_EQ(alice->attributes, R"({"level": 3})");
  EXPECT_EQ(alice->role_sid, role);
  EXPECT_TRUE(SameUser(viewed, *alice));

  // A slice is judged on its own bytes, not on what follows it.
  const std::string text = R"({"a": 1}USabcdef0123456789abcdef0123456789)";
  const absl::string_view t = text;
  CreateUserRequestView truncated;
  truncated.identity = "bob";
  truncated.attributes = t.substr(0, 7);  // `{"a": 1` without its brace
  EXPECT_THAT(store_->CreateUser(service_, truncated, [](const UserView&) {}),
              IsError(400, ErrorCode::kAttributesNotValidJson));
  CreateUserRequestView sid_shaped;
  sid_shaped.identity = t.substr(8, 34);  // `US` and 32 hex digits
  EXPECT_THAT(store_->CreateUser(service_, sid_shaped, [](const UserView&) {}),
              IsError(400, ErrorCode::kIdentityMatchesSidPattern));
  const std::string with_nul("carol\0x", 7);
  CreateUserRequestView nul;
  nul.identity = absl::string_view(with_nul).substr(0, 6);  // "carol" and a NUL
  EXPECT_THAT(store_->CreateUser(service_, nul, [](const UserView&) {}),
              IsError(400, ErrorCode::kInvalidParameter));
  nul.identity = absl::string_view(with_nul).substr(0, 5);  // "carol"
  EXPECT_THAT(store_->CreateUser(service_, nul, [](const UserView&) {}), IsOk());

  std::string update_buffer = R"(Al|{"level": 4}|)";
  UpdateUserRequestView update;
  update.friendly_name = absl::string_view(update_buffer).substr(0, 2);
  update.attributes = absl::string_view(update_buffer).substr(3, 12);
  ASSERT_THAT(store_->UpdateUser(service_, "alice", update, [](const UserView&) {}), IsOk());
  std::memset(&update_buffer[0], '#', update_buffer.size());
  EXPECT_EQ(store_->GetUser(service_, "alice")->friendly_name, std::optional<std::string>("Al"));
  EXPECT_EQ(store_->GetUser(service_, "alice")->attributes, R"({"level": 4})");
  UpdateUserRequestView rename;
  rename.identity = absl::string_view(update_buffer).substr(0, 1);
  EXPECT_THAT(store_->UpdateUser(service_, "alice", rename, [](const UserView&) {}),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace userstore
