// Shared helpers of the engine tests (user_store_test, pages_test,
// services_roles_test): the status matchers (the public kit's, under the names
// these tests use) and a fixture that builds a deterministic store (seeded
// SIDs, a manual clock) with one fresh service.

#ifndef USERSTORE_TESTS_TESTING_STORE_TESTING_H_
#define USERSTORE_TESTS_TESTING_STORE_TESTING_H_

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/testing/status_matchers.h"
#include "userstore/user_store.h"

namespace userstore_testing {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK `absl::Status` or `absl::StatusOr<T>`: the public kit's
// (userstore/testing/status_matchers.h).
using ::userstore::testing::IsOk;

// Matches a failed status with Twilio's HTTP status and numeric code: the
// public kit's IsTwilioError().
inline auto IsError(int http_status, userstore::ErrorCode code) {
  return ::userstore::testing::IsTwilioError(http_status, code);
}

// Matches a failed status whose message is exactly `message`.
MATCHER_P(HasMessage, message, absl::StrCat("has message \"", message, "\"")) {
  const absl::Status& status = StatusOf(arg);
  *result_listener << "status: " << status;
  return status.message() == message;
}

using userstore::ErrorCode;

// 2016-03-24T21:05:19Z, the date of Twilio's fixtures.
// Whether all of `text` matches the ECMAScript regular expression `pattern`.
inline bool Matches(const std::string& text, const char* pattern) {
  return std::regex_match(text, std::regex(pattern));
}

inline absl::Time StartTime() { return absl::FromUnixSeconds(1458854719); }

// Whether two users agree on every field; a failure names the first field
// that differs.
inline ::testing::AssertionResult SameUser(const userstore::User& a, const userstore::User& b) {
  const std::pair<const char*, bool> fields[] = {
      {"sid", a.sid == b.sid},
      {"account_sid", a.account_sid == b.account_sid},
      {"service_sid", a.service_sid == b.service_sid},
      {"role_sid", a.role_sid == b.role_sid},
      {"identity", a.identity == b.identity},
      {"attributes", a.attributes == b.attributes},
      {"friendly_name", a.friendly_name == b.friendly_name},
      {"is_online", a.is_online == b.is_online},
      {"is_notifiable", a.is_notifiable == b.is_notifiable},
      {"joined_channels_count", a.joined_channels_count == b.joined_channels_count},
      {"date_created", a.date_created == b.date_created},
      {"date_updated", a.date_updated == b.date_updated},
  };
  for (const auto& [name, equal] : fields) {
    if (!equal) return ::testing::AssertionFailure() << name << " differs for user " << a.sid;
  }
  return ::testing::AssertionSuccess();
}

// A store on a manual clock with seed 42 and one service, `service_`.
class StoreTest : public ::testing::Test {
 protected:
  StoreTest() : clock_(std::make_shared<userstore::ManualClock>(StartTime())) { Reset(); }

  // Rebuilds the store with `options` (clock and seed filled in when unset).
  void Reset(userstore::StoreOptions options = userstore::StoreOptions()) {
    if (options.clock == nullptr) options.clock = clock_;
    if (!options.seed.has_value()) options.seed = 42;
    store_ = std::make_unique<userstore::UserStore>(options);
    auto service = store_->CreateService(Named("test service"));
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = service->sid;
  }

  static userstore::CreateServiceRequest Named(const std::string& name) {
    userstore::CreateServiceRequest request;
    request.friendly_name = name;
    return request;
  }

  static userstore::CreateUserRequest WithIdentity(const std::string& identity) {
    userstore::CreateUserRequest request;
    request.identity = identity;
    return request;
  }

  // Creates `identity` in `service` (default: service_); fails the test if
  // that fails.
  userstore::User MustCreate(const std::string& identity, std::string service = "") {
    if (service.empty()) service = service_;
    auto user = store_->CreateUser(service, WithIdentity(identity));
    EXPECT_TRUE(user.ok()) << identity << ": " << user.status();
    return user.ok() ? *user : userstore::User();
  }

  userstore::Role MustCreateRole(const std::string& name, const std::string& type,
                                 std::string service = "") {
    if (service.empty()) service = service_;
    userstore::CreateRoleRequest request;
    request.friendly_name = name;
    request.type = type;
    request.permissions = {"sendMessage"};
    auto role = store_->CreateRole(service, request);
    EXPECT_TRUE(role.ok()) << name << ": " << role.status();
    return role.ok() ? *role : userstore::Role();
  }

  userstore::Service MustGetService(std::string service = "") {
    if (service.empty()) service = service_;
    auto got = store_->GetService(service);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : userstore::Service();
  }

  std::shared_ptr<userstore::ManualClock> clock_;
  std::unique_ptr<userstore::UserStore> store_;
  std::string service_;
};

}  // namespace userstore_testing

#endif  // USERSTORE_TESTS_TESTING_STORE_TESTING_H_
