// Tests of services and roles (SEMANTICS 6) through UserStore: CRUD, the four
// default roles, reachability, default-role rules, cascading deletes, the
// undeletable default service, role validation and "role in use"; plus the
// snapshot and Apply() as they concern services and roles.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using userstore_testing::HasMessage;
using userstore_testing::IsError;
using userstore_testing::IsOk;
using userstore_testing::Matches;
using userstore_testing::StartTime;

class ServicesRolesTest : public userstore_testing::StoreTest {
 protected:
  std::vector<Role> AllRoles(std::string service = "") {
    if (service.empty()) service = service_;
    ListRequest request;
    request.page_size = 1000;
    auto page = store_->ListRoles(service, request);
    EXPECT_THAT(page, IsOk());
    return page.ok() ? page->items : std::vector<Role>();
  }

  static CreateRoleRequest RoleRequest(const std::string& name, const std::string& type) {
    CreateRoleRequest request;
    request.friendly_name = name;
    request.type = type;
    request.permissions = {"sendMessage", "leaveChannel"};
    return request;
  }

  const std::string missing_service_ = "IS" + std::string(32, '9');
};

// --- services --------------------------------------------------------------------------

TEST_F(ServicesRolesTest, CreateServiceFillsEveryField) {
  clock_->Advance(absl::Seconds(2));
  auto service = store_->CreateService(Named("game"));
  ASSERT_THAT(service, IsOk());
  EXPECT_TRUE(Matches(service->sid, "IS[0-9a-f]{32}")) << service->sid;
  EXPECT_EQ(service->account_sid, store_->account_sid());
  EXPECT_EQ(service->friendly_name, "game");
  EXPECT_FALSE(service->reachability_enabled);
  EXPECT_EQ(service->date_created, StartTime() + absl::Seconds(2));
  EXPECT_EQ(service->date_updated, StartTime() + absl::Seconds(2));
}

TEST_F(ServicesRolesTest, NewServiceHasFourDefaultRoles) {
  Service service = MustGetService();
  std::vector<Role> roles = AllRoles();
  ASSERT_EQ(roles.size(), 4u);
  EXPECT_EQ(roles[0].friendly_name, "service admin");
  EXPECT_EQ(roles[0].type, RoleType::kDeployment);
  EXPECT_EQ(roles[1].friendly_name, "service user");
  EXPECT_EQ(roles[1].type, RoleType::kDeployment);
  EXPECT_EQ(roles[2].friendly_name, "channel admin");
  EXPECT_EQ(roles[2].type, RoleType::kChannel);
  EXPECT_EQ(roles[3].friendly_name, "channel user");
  EXPECT_EQ(roles[3].type, RoleType::kChannel);
  EXPECT_EQ(service.default_service_role_sid, roles[1].sid);
  EXPECT_EQ(service.default_channel_role_sid, roles[3].sid);
  EXPECT_EQ(service.default_channel_creator_role_sid, roles[2].sid);
  for (const Role& role : roles) {
    EXPECT_TRUE(Matches(role.sid, "RL[0-9a-f]{32}")) << role.sid;
    EXPECT_EQ(role.service_sid, service_);
    EXPECT_EQ(role.account_sid, store_->account_sid());
    EXPECT_FALSE(role.permissions.empty()) << role.friendly_name;
  }
}

TEST_F(ServicesRolesTest, EachServiceHasItsOwnRoles) {
  auto other = store_->CreateService(Named("other"));
  ASSERT_THAT(other, IsOk());
  EXPECT_NE(other->default_service_role_sid, MustGetService().default_service_role_sid);
  EXPECT_THAT(store_->GetRole(other->sid, MustGetService().default_service_role_sid),
              IsError(404, ErrorCode::kNotFound));
}

TEST_F(ServicesRolesTest, CreateServiceRequiresFriendlyName) {
  auto service = store_->CreateService(CreateServiceRequest());
  EXPECT_THAT(service, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(service, HasMessage("Missing required parameter FriendlyName in the post body"));
}

TEST_F(ServicesRolesTest, ServiceNameLimits) {
  EXPECT_THAT(store_->CreateService(Named(std::string(256, 'n'))), IsOk());
  EXPECT_THAT(store_->CreateService(Named(std::string(257, 'n'))),
              IsError(400, ErrorCode::kFriendlyNameTooLong));
  EXPECT_THAT(store_->CreateService(Named("bad\xFF")), IsError(400, ErrorCode::kInvalidParameter));
  StoreOptions options;
  options.max_service_name_length = 3;
  Reset(StoreOptions());
  UserStore small(options);
  EXPECT_THAT(small.CreateService(Named("abcd")), IsError(400, ErrorCode::kFriendlyNameTooLong));
}

TEST_F(ServicesRolesTest, GetUnknownServiceIs404) {
  auto service = store_->GetService(missing_service_);
  EXPECT_THAT(service, IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(service, HasMessage("The requested resource /Services/" + missing_service_ +
                                  " was not found"));
  EXPECT_THAT(store_->GetService("ISnope"),
              HasMessage("The requested resource /Services/ISnope was not found"));
  std::string upper = service_;
  for (size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_THAT(store_->GetService(upper), IsError(404, ErrorCode::kNotFound));
}

TEST_F(ServicesRolesTest, UpdateServiceName) {
  clock_->Advance(absl::Seconds(4));
  UpdateServiceRequest request;
  request.friendly_name = "renamed";
  auto service = store_->UpdateService(service_, request);
  ASSERT_THAT(service, IsOk());
  EXPECT_EQ(service->friendly_name, "renamed");
  EXPECT_EQ(service->date_updated, StartTime() + absl::Seconds(4));
  EXPECT_EQ(service->date_created, StartTime());
  EXPECT_EQ(MustGetService().friendly_name, "renamed");
}

TEST_F(ServicesRolesTest, UpdateServiceWithNothingNewKeepsDateUpdated) {
  clock_->Advance(absl::Seconds(4));
  UpdateServiceRequest request;
  request.friendly_name = "test service";
  request.reachability_enabled = false;
  const uint64_t sequence = store_->last_sequence();
  auto service = store_->UpdateService(service_, request);
  ASSERT_THAT(service, IsOk());
  EXPECT_EQ(service->date_updated, StartTime());
  EXPECT_EQ(store_->last_sequence(), sequence);
}

TEST_F(ServicesRolesTest, UpdateServiceValidates) {
  UpdateServiceRequest request;
  request.friendly_name = std::string(257, 'x');
  EXPECT_THAT(store_->UpdateService(service_, request),
              IsError(400, ErrorCode::kFriendlyNameTooLong));
  request = UpdateServiceRequest();
  request.default_service_role_sid = "RL-bad";
  EXPECT_THAT(store_->UpdateService(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request.default_service_role_sid = "RL" + std::string(32, '5');
  EXPECT_THAT(store_->UpdateService(service_, request), IsError(400, ErrorCode::kRoleNotFound));
  request.default_service_role_sid = MustGetService().default_channel_role_sid;
  EXPECT_THAT(store_->UpdateService(service_, request), IsError(400, ErrorCode::kInvalidRoleType));
  request = UpdateServiceRequest();
  request.friendly_name = "x";
  EXPECT_THAT(store_->UpdateService(missing_service_, request), IsError(404, ErrorCode::kNotFound));
  EXPECT_EQ(MustGetService().friendly_name, "test service");
}

TEST_F(ServicesRolesTest, ReachabilityToggles) {
  UpdateServiceRequest request;
  request.reachability_enabled = true;
  EXPECT_TRUE(store_->UpdateService(service_, request)->reachability_enabled);
  EXPECT_TRUE(MustGetService().reachability_enabled);
  request.reachability_enabled = false;
  EXPECT_FALSE(store_->UpdateService(service_, request)->reachability_enabled);
}

TEST_F(ServicesRolesTest, NewUsersGetTheCurrentDefaultRole) {
  User before = MustCreate("before");
  Role custom = MustCreateRole("member", "deployment");
  UpdateServiceRequest request;
  request.default_service_role_sid = custom.sid;
  auto service = store_->UpdateService(service_, request);
  ASSERT_THAT(service, IsOk());
  EXPECT_EQ(service->default_service_role_sid, custom.sid);
  User after = MustCreate("after");
  EXPECT_EQ(after.role_sid, custom.sid);
  EXPECT_NE(before.role_sid, custom.sid);
  EXPECT_EQ(store_->GetUser(service_, "before")->role_sid, before.role_sid);
}

TEST_F(ServicesRolesTest, DeleteServiceTakesUsersAndRoles) {
  auto other = store_->CreateService(Named("doomed"));
  ASSERT_THAT(other, IsOk());
  User victim = MustCreate("alice", other->sid);
  User survivor = MustCreate("alice");
  Role role = MustCreateRole("extra", "deployment", other->sid);
  ASSERT_THAT(store_->DeleteService(other->sid), IsOk());
  EXPECT_THAT(store_->GetService(other->sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->GetUser(other->sid, victim.sid),
              HasMessage("The requested resource /Services/" + other->sid + " was not found"));
  EXPECT_THAT(store_->GetRole(other->sid, role.sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->CountUsers(other->sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->GetUser(service_, survivor.sid), IsOk());
  EXPECT_THAT(store_->DeleteService(other->sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(ServicesRolesTest, DeleteServiceWithManyUsers) {
  auto other = store_->CreateService(Named("big"));
  ASSERT_THAT(other, IsOk());
  for (int i = 0; i < 500; ++i) MustCreate(absl::StrCat("u", i), other->sid);
  ASSERT_THAT(store_->DeleteService(other->sid), IsOk());
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
  auto again = store_->CreateService(Named("big"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*store_->CountUsers(again->sid), 0);
}

TEST_F(ServicesRolesTest, DefaultServiceCannotBeDeleted) {
  const std::string sid = store_->default_conversation_service_sid();
  EXPECT_THAT(store_->DeleteService(sid), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->GetService(sid), IsOk());
}

TEST_F(ServicesRolesTest, ServiceEventsArePublished) {
  std::vector<ChangeEvent> events;
  store_->Subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  auto other = store_->CreateService(Named("s"));
  ASSERT_THAT(other, IsOk());
  UpdateServiceRequest update;
  update.friendly_name = "t";
  ASSERT_THAT(store_->UpdateService(other->sid, update), IsOk());
  ASSERT_THAT(store_->DeleteService(other->sid), IsOk());
  ASSERT_EQ(events.size(), 7u);  // service, 4 roles, update, delete
  EXPECT_EQ(events[0].entity, ChangeEvent::Entity::kService);
  EXPECT_EQ(events[0].op, ChangeEvent::Op::kCreate);
  EXPECT_FALSE(events[0].default_conversation_service);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(events[i].entity, ChangeEvent::Entity::kRole);
  EXPECT_EQ(events[5].service->friendly_name, "t");
  EXPECT_EQ(events[6].op, ChangeEvent::Op::kDelete);
  EXPECT_EQ(events[6].service->sid, other->sid);
}

TEST_F(ServicesRolesTest, ListServicesStartsWithTheDefault) {
  auto page = store_->ListServices(ListRequest());
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].sid, store_->default_conversation_service_sid());
  EXPECT_EQ(page->items[1].sid, service_);
  EXPECT_EQ(page->page_size, 50);
}

// --- roles -----------------------------------------------------------------------------

TEST_F(ServicesRolesTest, CreateRoleFillsEveryField) {
  clock_->Advance(absl::Seconds(1));
  auto role = store_->CreateRole(service_, RoleRequest("moderator", "channel"));
  ASSERT_THAT(role, IsOk());
  EXPECT_TRUE(Matches(role->sid, "RL[0-9a-f]{32}"));
  EXPECT_EQ(role->friendly_name, "moderator");
  EXPECT_EQ(role->type, RoleType::kChannel);
  EXPECT_THAT(role->permissions, ElementsAre("sendMessage", "leaveChannel"));
  EXPECT_EQ(role->service_sid, service_);
  EXPECT_EQ(role->date_created, StartTime() + absl::Seconds(1));
  auto fetched = store_->GetRole(service_, role->sid);
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->friendly_name, "moderator");
  EXPECT_EQ(fetched->permissions, role->permissions);
}

TEST_F(ServicesRolesTest, CreateRoleRequiresEveryField) {
  CreateRoleRequest request = RoleRequest("r", "deployment");
  request.friendly_name.reset();
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request = RoleRequest("r", "deployment");
  request.type.reset();
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request = RoleRequest("r", "deployment");
  request.permissions.clear();
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(AllRoles().size(), 4u);
}

TEST_F(ServicesRolesTest, CreateRoleRejectsUnknownType) {
  for (const char* type : {"Deployment", "service", "", "channel "}) {
    EXPECT_THAT(store_->CreateRole(service_, RoleRequest("r", type)),
                IsError(400, ErrorCode::kInvalidParameter))
        << type;
  }
}

TEST_F(ServicesRolesTest, CreateRoleLimits) {
  EXPECT_THAT(store_->CreateRole(service_, RoleRequest(std::string(256, 'r'), "channel")), IsOk());
  EXPECT_THAT(store_->CreateRole(service_, RoleRequest(std::string(257, 'r'), "channel")),
              IsError(400, ErrorCode::kFriendlyNameTooLong));
  CreateRoleRequest request = RoleRequest("r", "channel");
  request.permissions.assign(65, "p");
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request.permissions.assign(64, "p");
  EXPECT_THAT(store_->CreateRole(service_, request), IsOk());
  request.permissions = {std::string(257, 'p')};
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request.permissions = {""};
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
  request.permissions = {"p\xFF"};
  EXPECT_THAT(store_->CreateRole(service_, request), IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(ServicesRolesTest, CreateRoleInUnknownServiceIs404) {
  EXPECT_THAT(store_->CreateRole(missing_service_, RoleRequest("r", "channel")),
              IsError(404, ErrorCode::kNotFound));
}

TEST_F(ServicesRolesTest, GetUnknownRoleIs404WithRolePath) {
  const std::string role = "RL" + std::string(32, '7');
  auto got = store_->GetRole(service_, role);
  EXPECT_THAT(got, IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(got, HasMessage("The requested resource /Services/" + service_ + "/Roles/" + role +
                              " was not found"));
  EXPECT_THAT(store_->GetRole(service_, "RLx"), HasMessage("The requested resource /Services/" +
                                                           service_ + "/Roles/RLx was not found"));
  EXPECT_THAT(
      store_->GetRole(missing_service_, role),
      HasMessage("The requested resource /Services/" + missing_service_ + " was not found"));
}

TEST_F(ServicesRolesTest, DeleteUnusedRole) {
  Role role = MustCreateRole("temp", "deployment");
  ASSERT_THAT(store_->DeleteRole(service_, role.sid), IsOk());
  EXPECT_THAT(store_->GetRole(service_, role.sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(store_->DeleteRole(service_, role.sid), IsError(404, ErrorCode::kNotFound));
  EXPECT_EQ(AllRoles().size(), 4u);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(ServicesRolesTest, DeleteRoleHeldByAUserIs409) {
  Role role = MustCreateRole("vip", "deployment");
  CreateUserRequest request = WithIdentity("alice");
  request.role_sid = role.sid;
  ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
  auto deleted = store_->DeleteRole(service_, role.sid);
  EXPECT_THAT(deleted, IsError(409, ErrorCode::kRoleInUse));
  EXPECT_THAT(deleted, HasMessage("Role is in use"));
  ASSERT_THAT(store_->DeleteUser(service_, "alice"), IsOk());
  EXPECT_THAT(store_->DeleteRole(service_, role.sid), IsOk());
}

TEST_F(ServicesRolesTest, RoleIsFreedWhenItsUsersMoveAway) {
  Role role = MustCreateRole("vip", "deployment");
  CreateUserRequest request = WithIdentity("alice");
  request.role_sid = role.sid;
  ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
  request.identity = "bob";
  ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
  UpdateUserRequest move;
  move.role_sid = MustGetService().default_service_role_sid;
  ASSERT_THAT(store_->UpdateUser(service_, "alice", move), IsOk());
  EXPECT_THAT(store_->DeleteRole(service_, role.sid), IsError(409, ErrorCode::kRoleInUse));
  ASSERT_THAT(store_->UpdateUser(service_, "bob", move), IsOk());
  EXPECT_THAT(store_->DeleteRole(service_, role.sid), IsOk());
}

TEST_F(ServicesRolesTest, DefaultRolesAreInUse) {
  Service service = MustGetService();
  for (const std::string& sid : {service.default_service_role_sid, service.default_channel_role_sid,
                                 service.default_channel_creator_role_sid}) {
    EXPECT_THAT(store_->DeleteRole(service_, sid), IsError(409, ErrorCode::kRoleInUse));
  }
  // "service admin" is no default and unused.
  EXPECT_THAT(store_->DeleteRole(service_, AllRoles()[0].sid), IsOk());
}

TEST_F(ServicesRolesTest, FormerDefaultRoleCanBeDeleted) {
  Service service = MustGetService();
  Role custom = MustCreateRole("member", "deployment");
  UpdateServiceRequest request;
  request.default_service_role_sid = custom.sid;
  ASSERT_THAT(store_->UpdateService(service_, request), IsOk());
  EXPECT_THAT(store_->DeleteRole(service_, service.default_service_role_sid), IsOk());
  EXPECT_THAT(store_->DeleteRole(service_, custom.sid), IsError(409, ErrorCode::kRoleInUse));
}

TEST_F(ServicesRolesTest, RoleEventsArePublished) {
  std::vector<ChangeEvent> events;
  store_->Subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  Role role = MustCreateRole("r", "channel");
  ASSERT_THAT(store_->DeleteRole(service_, role.sid), IsOk());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].entity, ChangeEvent::Entity::kRole);
  EXPECT_EQ(events[0].op, ChangeEvent::Op::kCreate);
  EXPECT_EQ(events[0].role->sid, role.sid);
  EXPECT_EQ(events[1].op, ChangeEvent::Op::kDelete);
}

// --- snapshot and Apply -----------------------------------------------------------------

TEST_F(ServicesRolesTest, SnapshotListsServicesThenRolesThenUsers) {
  MustCreate("alice");
  MustCreate("bob");
  UserStore::SnapshotData snap = store_->Snapshot();
  EXPECT_EQ(snap.sequence, store_->last_sequence());
  ASSERT_EQ(snap.events.size(), 5u + 5u + 2u);
  EXPECT_EQ(snap.events[0].entity, ChangeEvent::Entity::kService);
  EXPECT_TRUE(snap.events[0].default_conversation_service);
  EXPECT_EQ(snap.events[0].service->sid, store_->default_conversation_service_sid());
  EXPECT_EQ(snap.events[5].service->sid, service_);
  EXPECT_FALSE(snap.events[5].default_conversation_service);
  EXPECT_EQ(snap.events[10].user->identity, "alice");
  EXPECT_EQ(snap.events[11].user->identity, "bob");
  for (const ChangeEvent& e : snap.events) EXPECT_EQ(e.sequence, 0u);
}

TEST_F(ServicesRolesTest, ApplyingASnapshotRebuildsTheStore) {
  Role custom = MustCreateRole("vip", "deployment");
  CreateUserRequest request = WithIdentity("alice");
  request.role_sid = custom.sid;
  request.friendly_name = "Alice";
  ASSERT_THAT(store_->CreateUser(service_, request), IsOk());
  ASSERT_THAT(store_->JoinChannel(service_, "alice"), IsOk());
  UpdateServiceRequest reach;
  reach.reachability_enabled = true;
  ASSERT_THAT(store_->UpdateService(service_, reach), IsOk());

  StoreOptions options;
  options.create_default_service = false;
  options.account_sid = store_->account_sid();
  UserStore replica(options);
  for (const ChangeEvent& e : store_->Snapshot().events) ASSERT_THAT(replica.Apply(e), IsOk());
  EXPECT_EQ(replica.default_conversation_service_sid(), store_->default_conversation_service_sid());
  auto service = replica.GetService(service_);
  ASSERT_THAT(service, IsOk());
  EXPECT_TRUE(service->reachability_enabled);
  EXPECT_EQ(service->default_service_role_sid, MustGetService().default_service_role_sid);
  auto alice = replica.GetUser(service_, "alice");
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(alice->role_sid, custom.sid);
  EXPECT_EQ(alice->joined_channels_count, 1);
  EXPECT_EQ(alice->friendly_name, std::optional<std::string>("Alice"));
  EXPECT_THAT(replica.DeleteRole(service_, custom.sid), IsError(409, ErrorCode::kRoleInUse));
  EXPECT_THAT(replica.DeleteService(replica.default_conversation_service_sid()),
              IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(replica.CheckInvariants(), IsOk());
  EXPECT_EQ(replica.Snapshot().events.size(), store_->Snapshot().events.size());
}

TEST_F(ServicesRolesTest, FailedApplyChangesNothing) {
  UserStore::SnapshotData snap = store_->Snapshot();
  const uint64_t sequence = store_->last_sequence();
  // Creating what exists.
  EXPECT_THAT(store_->Apply(snap.events[0]), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(store_->Apply(snap.events[1]), IsError(400, ErrorCode::kInvalidParameter));
  // Updating or deleting what does not.
  ChangeEvent ghost;
  ghost.entity = ChangeEvent::Entity::kUser;
  ghost.op = ChangeEvent::Op::kDelete;
  ghost.user = User();
  ghost.user->sid = "US" + std::string(32, '1');
  ghost.user->service_sid = service_;
  EXPECT_THAT(store_->Apply(ghost), IsError(404, ErrorCode::kNotFound));
  ghost.user->service_sid = missing_service_;
  ghost.op = ChangeEvent::Op::kCreate;
  EXPECT_THAT(store_->Apply(ghost), IsError(404, ErrorCode::kNotFound));
  ChangeEvent no_payload;
  no_payload.entity = ChangeEvent::Entity::kRole;
  EXPECT_THAT(store_->Apply(no_payload), IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(store_->last_sequence(), sequence);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(ServicesRolesTest, ApplyUserCreateNeedsItsRole) {
  User alice = MustCreate("alice");
  ChangeEvent create;
  create.entity = ChangeEvent::Entity::kUser;
  create.op = ChangeEvent::Op::kCreate;
  create.user = alice;
  create.user->sid = "US" + std::string(32, '2');
  create.user->identity = "alice2";
  create.user->role_sid = "RL" + std::string(32, '3');
  EXPECT_THAT(store_->Apply(create), IsError(404, ErrorCode::kNotFound));
  create.user->role_sid = alice.role_sid;
  create.user->identity = "alice";
  EXPECT_THAT(store_->Apply(create), IsError(409, ErrorCode::kUserAlreadyExists));
  create.user->identity = "alice2";
  EXPECT_THAT(store_->Apply(create), IsOk());
  EXPECT_EQ(store_->GetUser(service_, "alice2")->sid, create.user->sid);
  EXPECT_THAT(store_->CheckInvariants(), IsOk());
}

TEST_F(ServicesRolesTest, AppliedChangesArePublished) {
  std::vector<ChangeEvent> events;
  StoreOptions options;
  options.create_default_service = false;
  UserStore replica(options);
  replica.Subscribe([&](const ChangeEvent& e) { events.push_back(e); });
  UserStore::SnapshotData snap = store_->Snapshot();
  for (const ChangeEvent& e : snap.events) ASSERT_THAT(replica.Apply(e), IsOk());
  ASSERT_EQ(events.size(), snap.events.size());
  EXPECT_EQ(events[0].sequence, 1u);
  EXPECT_TRUE(events[0].default_conversation_service);
  EXPECT_EQ(events.back().sequence, snap.events.size());
}

}  // namespace
}  // namespace userstore
