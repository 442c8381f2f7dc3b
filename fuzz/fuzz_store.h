// A small, deterministic store for the request-level fuzz targets
// (replay_line, dispatcher): a seeded UserStore on a fixed clock with one
// Chat service, two users and a hook that vetoes some updates, and the
// macros seed files use to name its resources.
//
// Macros. A seed cannot know SIDs in advance, so before an input is used
// these words are replaced (every occurrence):
//   $IS  the Chat service          $US  user "alice" of that service
//   $RL  its "service admin" role  $RC  its "channel user" role (type channel)
//   $DS  the default conversation service
// The replacement only widens what the fuzzer reaches; raw inputs without a
// macro are used as they are.

#ifndef USERSTORE_FUZZ_FUZZ_STORE_H_
#define USERSTORE_FUZZ_FUZZ_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz_common.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

namespace userstore {
namespace fuzz {

class FuzzStore {
 public:
  FuzzStore() {
    clock_ = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
    StoreOptions options;
    options.seed = 20160324;
    options.clock = clock_;
    // Writes prefetch from the first user on (a store this small would not), so
    // that path sees every input the fuzzer makes.
    options.early_prefetch_users = 0;
    store_ = std::make_unique<UserStore>(options);
    dispatcher_ = std::make_unique<Dispatcher>(store_.get());

    CreateServiceRequest service;
    service.friendly_name = "fuzz";
    auto created = store_->CreateService(service);
    FUZZ_CHECK(created.ok(), "fixture service: %s", created.status().ToString().c_str());
    service_sid_ = created->sid;
    ListRequest all;
    all.page_size = 50;
    auto roles = store_->ListRoles(service_sid_, all);
    FUZZ_CHECK(roles.ok(), "fixture roles: %s", roles.status().ToString().c_str());
    for (const Role& role : roles->items) {
      if (role.friendly_name == "service admin") admin_role_sid_ = role.sid;
      if (role.friendly_name == "channel user") channel_role_sid_ = role.sid;
    }
    for (const char* identity : {"alice", "bob"}) {
      CreateUserRequest user;
      user.identity = identity;
      user.attributes = R"({"fixture": true})";
      auto u = store_->CreateUser(service_sid_, user);
      FUZZ_CHECK(u.ok(), "fixture user: %s", u.status().ToString().c_str());
      if (user_sid_.empty()) user_sid_ = u->sid;
    }
    // Updates whose attributes mention "veto" are refused by the pre-event
    // hook (403/50056) when webhooks are enabled; post-event hooks read the
    // store again (re-entrancy).
    store_->AddHook(HookType::kOnUserUpdate, [](const UserEvent& e) {
      if (e.attributes.find("veto") != std::string::npos) {
        return absl::PermissionDeniedError("vetoed by the fuzz hook");
      }
      return absl::OkStatus();
    });
    UserStore* store = store_.get();
    auto reread = [store](const UserEvent& e) {
      (void)store->GetUser(e.service_sid, e.user_sid);
      return absl::OkStatus();
    };
    store_->AddHook(HookType::kOnUserAdded, reread);
    store_->AddHook(HookType::kOnUserUpdated, reread);
  }

  UserStore& store() const { return *store_; }
  const Dispatcher& dispatcher() const { return *dispatcher_; }
  ManualClock& clock() { return *clock_; }
  const std::string& service_sid() const { return service_sid_; }
  const std::string& user_sid() const { return user_sid_; }
  const std::string& admin_role_sid() const { return admin_role_sid_; }
  const std::string& channel_role_sid() const { return channel_role_sid_; }

  std::string ExpandMacros(absl::string_view text) const {
    if (text.find('$') == absl::string_view::npos) return std::string(text);
    return absl::StrReplaceAll(text, {{"$IS", service_sid_},
                                      {"$US", user_sid_},
                                      {"$RL", admin_role_sid_},
                                      {"$RC", channel_role_sid_},
                                      {"$DS", store_->default_conversation_service_sid()}});
  }

 private:
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<UserStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::string service_sid_;
  std::string user_sid_;
  std::string admin_role_sid_;
  std::string channel_role_sid_;
};

}  // namespace fuzz
}  // namespace userstore

#endif  // USERSTORE_FUZZ_FUZZ_STORE_H_
