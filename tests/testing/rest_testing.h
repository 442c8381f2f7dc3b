// Test support for the REST dispatcher: a store + dispatcher pair with a
// fixed seed and clock, request shorthands that also check every response
// (JSON that parses; 2xx bodies of Users paths valid against Twilio's OpenAPI
// schema; error bodies in Twilio's shape), and assertions on error bodies.

#ifndef USERSTORE_TESTS_TESTING_REST_TESTING_H_
#define USERSTORE_TESTS_TESTING_REST_TESTING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/openapi_validator.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore_test {

using FormPairs = std::vector<std::pair<std::string, std::string>>;

// 2016-03-24T21:05:19Z, the date of Twilio's Chat fixtures.
inline absl::Time FixtureTime() { return absl::FromUnixSeconds(1458853519); }

// A response with its parsed body (a JSON null document when empty).
struct Reply {
  int status = 0;
  std::string body;
  std::shared_ptr<rapidjson::Document> json = std::make_shared<rapidjson::Document>();

  const rapidjson::Value& operator[](const char* key) const { return (*json)[key]; }
  bool Has(const char* key) const { return json->IsObject() && json->HasMember(key); }
  std::string Str(const char* key) const {
    return Has(key) && (*json)[key].IsString() ? (*json)[key].GetString() : "";
  }
};

// The keys of a JSON object, in document order.
inline std::vector<std::string> Keys(const rapidjson::Value& object) {
  std::vector<std::string> keys;
  if (!object.IsObject()) return keys;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    keys.emplace_back(it->name.GetString(), it->name.GetStringLength());
  }
  return keys;
}

// Checks that `reply` is exactly Twilio's error body for (`status`, `code`),
// keys in the order code, message, more_info, status. An empty `message`
// checks only that the message is a non-empty string.
inline ::testing::AssertionResult IsError(const Reply& reply, int status, int code,
                                          const std::string& message = "") {
  if (reply.status != status) {
    return ::testing::AssertionFailure()
           << "HTTP status " << reply.status << ", want " << status << "; body " << reply.body;
  }
  const rapidjson::Value& j = *reply.json;
  if (!j.IsObject()) return ::testing::AssertionFailure() << "body not an object: " << reply.body;
  const std::vector<std::string> want_keys = {"code", "message", "more_info", "status"};
  if (Keys(j) != want_keys) {
    return ::testing::AssertionFailure() << "error keys/order wrong: " << reply.body;
  }
  if (!j["code"].IsInt() || j["code"].GetInt() != code) {
    return ::testing::AssertionFailure() << "code wrong, want " << code << ": " << reply.body;
  }
  if (!j["status"].IsInt() || j["status"].GetInt() != status) {
    return ::testing::AssertionFailure() << "status field wrong: " << reply.body;
  }
  if (!j["more_info"].IsString() ||
      std::string(j["more_info"].GetString()) !=
          "https://www.twilio.com/docs/errors/" + std::to_string(code)) {
    return ::testing::AssertionFailure() << "more_info wrong: " << reply.body;
  }
  if (!j["message"].IsString() || j["message"].GetStringLength() == 0) {
    return ::testing::AssertionFailure() << "message missing: " << reply.body;
  }
  if (!message.empty() && message != j["message"].GetString()) {
    return ::testing::AssertionFailure()
           << "message \"" << j["message"].GetString() << "\", want \"" << message << "\"";
  }
  return ::testing::AssertionSuccess();
}

// "The requested resource {path} was not found".
inline std::string NotFoundMessage(const std::string& path) {
  return "The requested resource " + path + " was not found";
}

// The message template of a table row, e.g. "User already exists".
inline std::string TableMessage(userstore::ErrorCode code) {
  const userstore::ErrorInfo* info = userstore::LookupError(code);
  return info == nullptr ? "" : info->message_template;
}

// A store with a fixed seed and a manual clock (at FixtureTime()), and a
// dispatcher over it. `tweak` may adjust the options before the store is made.
class RestHarness {
 public:
  explicit RestHarness(uint64_t seed = 7,
                       const std::function<void(userstore::StoreOptions*)>& tweak = nullptr)
      : clock_(std::make_shared<userstore::ManualClock>(FixtureTime())) {
    userstore::StoreOptions options;
    options.seed = seed;
    options.clock = clock_;
    if (tweak) tweak(&options);
    store_ = std::make_unique<userstore::UserStore>(options);
    dispatcher_ = std::make_unique<userstore::Dispatcher>(store_.get());
  }

  userstore::UserStore& store() { return *store_; }
  const userstore::Dispatcher& dispatcher() const { return *dispatcher_; }
  userstore::ManualClock& clock() { return *clock_; }

  // Sends a request with `form` form-encoded as the body, and checks the
  // response as the header comment says.
  Reply Call(const std::string& method, const std::string& url, const FormPairs& form = {},
             const FormPairs& headers = {}) {
    userstore::HttpRequest request;
    request.method = method;
    request.url = url;
    request.headers = headers;
    request.body = userstore::FormEncode(form);
    return Send(request);
  }

  Reply Send(const userstore::HttpRequest& request) {
    userstore::HttpResponse response = dispatcher_->Handle(request);
    Reply reply;
    reply.status = response.status;
    reply.body = response.body;
    if (response.status == 204) {
      EXPECT_TRUE(response.body.empty()) << request.method << " " << request.url;
    } else {
      reply.json->Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
          response.body.c_str(), response.body.size());
      EXPECT_FALSE(reply.json->HasParseError())
          << request.method << " " << request.url
          << " gave a body that is not JSON: " << response.body;
      if (reply.json->HasParseError()) reply.json->SetNull();
    }
    if (response.status >= 200 && response.status < 300) {
      for (const std::string& e :
           ValidateUserResponse(request.method, request.url, response.status, response.body)) {
        ADD_FAILURE() << request.method << " " << request.url << " -> " << response.status
                      << ": OpenAPI: " << e;
      }
    } else if (reply.json->IsObject()) {
      EXPECT_EQ(Keys(*reply.json),
                (std::vector<std::string>{"code", "message", "more_info", "status"}))
          << response.body;
      EXPECT_EQ((*reply.json)["status"].GetInt(), response.status) << response.body;
    } else {
      ADD_FAILURE() << "error response without an error body: " << response.body;
    }
    return reply;
  }

  Reply Get(const std::string& url, const FormPairs& headers = {}) {
    return Call("GET", url, {}, headers);
  }
  Reply Post(const std::string& url, const FormPairs& form = {}, const FormPairs& headers = {}) {
    return Call("POST", url, form, headers);
  }
  Reply Delete(const std::string& url, const FormPairs& headers = {}) {
    return Call("DELETE", url, {}, headers);
  }

  // Creates a service through POST /v2/Services and returns its SID.
  std::string CreateService(const std::string& friendly_name = "test service") {
    Reply r = Post("https://chat.twilio.com/v2/Services", {{"FriendlyName", friendly_name}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Str("sid");
  }

 private:
  std::shared_ptr<userstore::ManualClock> clock_;
  std::unique_ptr<userstore::UserStore> store_;
  std::unique_ptr<userstore::Dispatcher> dispatcher_;
};

}  // namespace userstore_test

#endif  // USERSTORE_TESTS_TESTING_REST_TESTING_H_
