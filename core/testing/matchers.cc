// The non-template parts of the kit's matchers
// (userstore/testing/status_matchers.h, user_matchers.h, recorders.h).

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

#include "userstore/status.h"
#include "userstore/testing/recorders.h"
#include "userstore/testing/status_matchers.h"
#include "userstore/testing/user_matchers.h"

namespace userstore {
namespace testing {
namespace internal {
namespace {

constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// "409/50201 UserAlreadyExists"; the name is left out for a number that is no
// row of the table.
std::string CodeWords(int http_status, int code) {
  std::string words = absl::StrCat(http_status, "/", code);
  const ErrorInfo* info = LookupError(static_cast<ErrorCode>(code));
  if (info != nullptr) absl::StrAppend(&words, " ", info->name);
  return words;
}

std::string Quoted(absl::string_view text) { return ::testing::PrintToString(std::string(text)); }

}  // namespace

std::string DescribeStatus(const absl::Status& status) {
  if (status.ok()) return "OK";
  return absl::StrCat(
      "the Twilio error ", HttpStatusOf(status), "/", static_cast<int>(ErrorCodeOf(status)), " ",
      [&]() -> std::string {
        const ErrorInfo* info = LookupError(ErrorCodeOf(status));
        return info == nullptr ? "(no such row)" : info->name;
      }(),
      ": ", status.message());
}

std::string DescribeTwilioError(int http_status, int code) {
  return absl::StrCat("the Twilio error ", CodeWords(http_status, code));
}

bool MatchTwilioError(const absl::Status& status, int http_status, int code,
                      ::testing::MatchResultListener* listener) {
  *listener << "which is " << DescribeStatus(status);
  return !status.ok() && HttpStatusOf(status) == http_status &&
         static_cast<int>(ErrorCodeOf(status)) == code;
}

bool MatchTwilioError(const HttpResponse& response, int http_status, int code,
                      ::testing::MatchResultListener* listener) {
  rapidjson::Document body;
  body.Parse<kParseFlags>(response.body.data(), response.body.size());
  const bool has_code =
      !body.HasParseError() && body.IsObject() && body.HasMember("code") && body["code"].IsInt();
  const bool has_status = !body.HasParseError() && body.IsObject() && body.HasMember("status") &&
                          body["status"].IsInt();
  if (!has_code || !has_status) {
    *listener << "which has HTTP status " << response.status
              << " and a body that is not a Twilio error: " << response.body;
    return false;
  }
  const int body_code = body["code"].GetInt();
  const int body_status = body["status"].GetInt();
  *listener << "which has HTTP status " << response.status << " and the error body of "
            << CodeWords(body_status, body_code);
  if (body.HasMember("message") && body["message"].IsString()) {
    *listener << ": " << body["message"].GetString();
  }
  return response.status == http_status && body_status == http_status && body_code == code;
}

const char* UserFieldName(UserField field) {
  switch (field) {
    case UserField::kSid:
      return "sid";
    case UserField::kIdentity:
      return "identity";
    case UserField::kFriendlyName:
      return "friendly_name";
    case UserField::kAttributes:
      return "attributes";
    case UserField::kRoleSid:
      return "role_sid";
    case UserField::kServiceSid:
      return "service_sid";
  }
  return "unknown field";
}

namespace {

template <typename U>
std::optional<std::string> FieldOfUser(const U& user, UserField field) {
  switch (field) {
    case UserField::kSid:
      return std::string(user.sid);
    case UserField::kIdentity:
      return std::string(user.identity);
    case UserField::kFriendlyName:
      if (!user.friendly_name.has_value()) return std::nullopt;
      return std::string(*user.friendly_name);
    case UserField::kAttributes:
      return std::string(user.attributes);
    case UserField::kRoleSid:
      return std::string(user.role_sid);
    case UserField::kServiceSid:
      return std::string(user.service_sid);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> FieldOf(const User& user, UserField field) {
  return FieldOfUser(user, field);
}

std::optional<std::string> FieldOf(const UserView& user, UserField field) {
  return FieldOfUser(user, field);
}

std::optional<std::string> FieldOf(const UserEvent& event, UserField field) {
  switch (field) {
    case UserField::kSid:
      return event.user_sid;
    case UserField::kIdentity:
      return event.identity;
    case UserField::kFriendlyName:
      return event.friendly_name;
    case UserField::kAttributes:
      return event.attributes;
    case UserField::kRoleSid:
      return event.role_sid;
    case UserField::kServiceSid:
      return event.service_sid;
  }
  return std::nullopt;
}

bool MatchJson(absl::string_view actual, absl::string_view expected,
               ::testing::MatchResultListener* listener) {
  rapidjson::Document want;
  want.Parse<kParseFlags>(expected.data(), expected.size());
  if (want.HasParseError()) {
    *listener << "which cannot match: the expected text " << Quoted(expected) << " is not JSON ("
              << rapidjson::GetParseError_En(want.GetParseError()) << " at offset "
              << want.GetErrorOffset() << ")";
    return false;
  }
  rapidjson::Document got;
  got.Parse<kParseFlags>(actual.data(), actual.size());
  if (got.HasParseError()) {
    *listener << "whose attributes " << Quoted(actual) << " are not JSON ("
              << rapidjson::GetParseError_En(got.GetParseError()) << ")";
    return false;
  }
  *listener << "whose attributes are " << actual;
  return got == want;
}

std::string DescribeChange(ChangeEvent::Entity entity, ChangeEvent::Op op) {
  const char* entity_name = entity == ChangeEvent::Entity::kService ? "service"
                            : entity == ChangeEvent::Entity::kRole  ? "role"
                                                                    : "user";
  const char* op_name = op == ChangeEvent::Op::kCreate   ? "create"
                        : op == ChangeEvent::Op::kUpdate ? "update"
                                                         : "delete";
  return absl::StrCat("a ", entity_name, " ", op_name);
}

}  // namespace internal
}  // namespace testing
}  // namespace userstore
