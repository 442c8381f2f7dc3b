// TestStore (userstore/testing/store_test.h).

#include "userstore/testing/store_test.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace userstore {
namespace testing {

TestStore::TestStore(StoreOptions options) { Reset(std::move(options)); }

TestStore::~TestStore() = default;

void TestStore::Reset(StoreOptions options) {
  dispatcher_.reset();
  store_.reset();
  if (!options.seed.has_value()) options.seed = kTestSeed;
  if (options.clock == nullptr) {
    clock_ = std::make_shared<ManualClock>(TestStartTime());
  } else {
    clock_ = std::dynamic_pointer_cast<ManualClock>(options.clock);
    if (clock_ == nullptr) {
      ADD_FAILURE() << "TestStore needs a ManualClock in StoreOptions::clock; using a new one";
      clock_ = std::make_shared<ManualClock>(TestStartTime());
    }
  }
  options.clock = clock_;
  injector_ = std::make_shared<FaultInjector>(clock_);
  store_ = std::make_unique<UserStore>(options);
  EXPECT_TRUE(store_->init_status().ok()) << "StoreOptions refused: " << store_->init_status();
  dispatcher_ = std::make_unique<Dispatcher>(store_.get(), injector_);
}

Service TestStore::MakeService(absl::string_view friendly_name) {
  CreateServiceRequest request;
  request.friendly_name = std::string(friendly_name);
  absl::StatusOr<Service> service = store_->CreateService(request);
  if (!service.ok()) {
    ADD_FAILURE() << "MakeService(\"" << friendly_name << "\") failed: " << service.status();
    return Service();
  }
  return *std::move(service);
}

User TestStore::MakeUser(const Service& service, absl::string_view identity, UserFields fields) {
  return MakeUser(absl::string_view(service.sid), identity, std::move(fields));
}

User TestStore::MakeUser(absl::string_view service_sid, absl::string_view identity,
                         UserFields fields) {
  CreateUserRequest request;
  request.identity = std::string(identity);
  request.friendly_name = std::move(fields.friendly_name);
  request.attributes = std::move(fields.attributes);
  request.role_sid = std::move(fields.role_sid);
  request.webhooks_enabled = fields.webhooks_enabled;
  absl::StatusOr<User> user = store_->CreateUser(service_sid, request);
  if (!user.ok()) {
    ADD_FAILURE() << "MakeUser(\"" << service_sid << "\", \"" << identity
                  << "\") failed: " << user.status() << " (Twilio code "
                  << static_cast<int>(ErrorCodeOf(user.status())) << ", HTTP "
                  << HttpStatusOf(user.status()) << ")";
    return User();
  }
  return *std::move(user);
}

HttpResponse TestStore::Get(absl::string_view url, const FormPairs& headers) const {
  return dispatcher_->Handle({"GET", std::string(url), headers, ""});
}

HttpResponse TestStore::Post(absl::string_view url, const FormPairs& form,
                             const FormPairs& headers) const {
  return dispatcher_->Handle({"POST", std::string(url), headers, FormEncode(form)});
}

HttpResponse TestStore::Delete(absl::string_view url, const FormPairs& headers) const {
  return dispatcher_->Handle({"DELETE", std::string(url), headers, ""});
}

std::string UsersUrl(const Service& service) {
  return absl::StrCat("https://chat.twilio.com/v2/Services/", service.sid, "/Users");
}

std::string UserUrl(const Service& service, absl::string_view user) {
  return absl::StrCat(UsersUrl(service), "/", PercentEncodePathSegment(user));
}

namespace internal {

bool HeaderMatcher::MatchAndExplain(const HttpResponse& response,
                                    ::testing::MatchResultListener* listener) const {
  for (const auto& [name, value] : response.headers) {
    if (!absl::EqualsIgnoreCase(name, name_)) continue;
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(value, &inner_listener);
    *listener << "whose " << name_ << " header is " << ::testing::PrintToString(value);
    if (!inner_listener.str().empty()) *listener << ", " << inner_listener.str();
    return matches;
  }
  *listener << "which has no " << name_ << " header (status " << response.status << ")";
  return false;
}

}  // namespace internal
}  // namespace testing
}  // namespace userstore
