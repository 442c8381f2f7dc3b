#include "userstore/status.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace userstore {
namespace {

struct ExpectedRow {
  ErrorCode code;
  int number;
  int http;
  const char* message;
};

// What the contract (SEMANTICS.md, status.h) fixes for every enumerator, in
// ascending order. Listing each enumerator here is what catches a row that
// was dropped or renumbered.
const ExpectedRow kExpected[] = {
    {ErrorCode::kInvalidParameter, 20001, 400, "Invalid parameter"},
    {ErrorCode::kMethodNotAllowed, 20004, 405, "Method not allowed"},
    {ErrorCode::kForbidden, 20403, 403, "Forbidden"},
    {ErrorCode::kNotFound, 20404, 404, "The requested resource %s was not found"},
    {ErrorCode::kRoleInUse, 20409, 409, "Role is in use"},
    {ErrorCode::kTooManyRequests, 20429, 429, "Too Many Requests"},
    {ErrorCode::kInternal, 20500, 500, "Internal error"},
    {ErrorCode::kServiceUnavailable, 20503, 503, "Service Unavailable"},
    {ErrorCode::kFriendlyNameTooLong, 50003, 400, "Friendly name too long"},
    {ErrorCode::kWebhookRejected, 50056, 403, "Webhook disabled processing of command"},
    {ErrorCode::kActionsPerSecondLimitExceeded, 50063, 429, "Actions per second limit exceeded"},
    {ErrorCode::kRoleNotFound, 50100, 400, "Role not found"},
    {ErrorCode::kInvalidRoleType, 50105, 400, "Invalid role type"},
    {ErrorCode::kUserAlreadyExists, 50201, 409, "User already exists"},
    {ErrorCode::kIdentityNotProvided, 50204, 400, "Identity not provided"},
    {ErrorCode::kIdentityMatchesSidPattern, 50206, 400,
     "Identity should not match user SID pattern"},
    {ErrorCode::kIdentityTooLong, 50207, 400, "Identity too long"},
    {ErrorCode::kUserChannelLimitExceeded, 50208, 403, "User channel limit exceeded"},
    {ErrorCode::kAttributesTooLong, 50303, 400, "Attributes too long"},
    {ErrorCode::kAttributesNotValidJson, 50304, 400, "Attributes not valid JSON"},
};

std::vector<ErrorInfo> TableRows() {
  std::vector<ErrorInfo> rows;
  ForEachError([&rows](const ErrorInfo& row) { rows.push_back(row); });
  return rows;
}

// The message MakeError() uses when given none.
std::string DefaultMessageOf(const ErrorInfo& row) {
  std::string text = row.message_template;
  const size_t hole = text.find(" %s");
  if (hole != std::string::npos) text.erase(hole, 3);
  return text;
}

TEST(StatusTest, TableMatchesTheContract) {
  const std::vector<ErrorInfo> rows = TableRows();
  ASSERT_EQ(rows.size(), sizeof(kExpected) / sizeof(kExpected[0]));
  ASSERT_EQ(internal::kErrorTableSize, static_cast<int>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].name);
    EXPECT_EQ(rows[i].code, kExpected[i].code);
    EXPECT_EQ(static_cast<int>(rows[i].code), kExpected[i].number);
    EXPECT_EQ(rows[i].http_status, kExpected[i].http);
    EXPECT_STREQ(rows[i].message_template, kExpected[i].message);
  }
}

TEST(StatusTest, CodesAreUniqueAndAscending) {
  std::set<int> seen;
  int previous = 0;
  for (const ErrorInfo& row : TableRows()) {
    const int number = static_cast<int>(row.code);
    EXPECT_GT(number, previous) << row.name;
    EXPECT_TRUE(seen.insert(number).second) << row.name;
    previous = number;
  }
}

TEST(StatusTest, NamesAreUniqueAndNonEmpty) {
  std::set<std::string> names;
  for (const ErrorInfo& row : TableRows()) {
    ASSERT_NE(row.name, nullptr);
    ASSERT_NE(row.message_template, nullptr);
    EXPECT_FALSE(std::string(row.name).empty());
    EXPECT_FALSE(std::string(row.message_template).empty());
    EXPECT_TRUE(names.insert(row.name).second) << row.name;
  }
}

TEST(StatusTest, CanonicalCodesAreNeverOk) {
  for (const ErrorInfo& row : TableRows()) {
    EXPECT_NE(row.canonical, absl::StatusCode::kOk) << row.name;
  }
}

TEST(StatusTest, LookupFindsEveryRow) {
  for (int i = 0; i < internal::kErrorTableSize; ++i) {
    const ErrorInfo& row = internal::kErrorTable[i];
    EXPECT_EQ(LookupError(row.code), &row) << row.name;
  }
}

TEST(StatusTest, LookupOfOkOrUnknownIsNull) {
  EXPECT_EQ(LookupError(ErrorCode::kOk), nullptr);
  EXPECT_EQ(LookupError(static_cast<ErrorCode>(12345)), nullptr);
  EXPECT_EQ(LookupError(static_cast<ErrorCode>(-1)), nullptr);
  EXPECT_EQ(LookupError(static_cast<ErrorCode>(50202)), nullptr);
}

TEST(StatusTest, EveryRowRoundTrips) {
  for (const ErrorInfo& row : TableRows()) {
    SCOPED_TRACE(row.name);
    const absl::Status status = MakeError(row.code);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.code(), row.canonical);
    EXPECT_EQ(ErrorCodeOf(status), row.code);
    EXPECT_EQ(HttpStatusOf(status), row.http_status);
    EXPECT_EQ(status.message(), DefaultMessageOf(row));
  }
}

TEST(StatusTest, PayloadIsTheDecimalCode) {
  const absl::Status status = MakeError(ErrorCode::kUserAlreadyExists);
  const absl::optional<absl::Cord> payload = status.GetPayload("userstore/error_code");
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(std::string(*payload), "50201");
}

TEST(StatusTest, PayloadSurvivesCopyAndMove) {
  const absl::Status original = MakeError(ErrorCode::kRoleNotFound);
  absl::Status copy = original;
  EXPECT_EQ(ErrorCodeOf(copy), ErrorCode::kRoleNotFound);
  EXPECT_EQ(copy, original);
  absl::Status moved = std::move(copy);
  EXPECT_EQ(ErrorCodeOf(moved), ErrorCode::kRoleNotFound);
  EXPECT_EQ(HttpStatusOf(moved), 400);
  absl::Status assigned;
  assigned = moved;
  EXPECT_EQ(ErrorCodeOf(assigned), ErrorCode::kRoleNotFound);
}

TEST(StatusTest, PayloadDistinguishesStatusesWithTheSameCanonicalCode) {
  // Both are kInvalidArgument with the same text: only the payload differs.
  const absl::Status a = MakeError(ErrorCode::kIdentityTooLong, "x");
  const absl::Status b = MakeError(ErrorCode::kFriendlyNameTooLong, "x");
  EXPECT_EQ(a.code(), b.code());
  EXPECT_NE(a, b);
}

TEST(StatusTest, GivenMessageIsUsedVerbatim) {
  const absl::Status status = MakeError(ErrorCode::kInvalidParameter,
                                        "Missing required parameter Identity in the post body");
  EXPECT_EQ(status.message(), "Missing required parameter Identity in the post body");
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidParameter);
}

TEST(StatusTest, MessagesOfTheContract) {
  EXPECT_EQ(MakeError(ErrorCode::kUserAlreadyExists).message(), "User already exists");
  EXPECT_EQ(MakeError(ErrorCode::kIdentityNotProvided).message(), "Identity not provided");
  EXPECT_EQ(MakeError(ErrorCode::kAttributesNotValidJson).message(), "Attributes not valid JSON");
  EXPECT_EQ(MakeError(ErrorCode::kRoleNotFound).message(), "Role not found");
  EXPECT_EQ(MakeError(ErrorCode::kRoleInUse).message(), "Role is in use");
  EXPECT_EQ(MakeError(ErrorCode::kWebhookRejected).message(),
            "Webhook disabled processing of command");
  EXPECT_EQ(MakeError(ErrorCode::kNotFound).message(), "The requested resource was not found");
}

TEST(StatusTest, NotFoundErrorNamesThePath) {
  const absl::Status status = NotFoundError("/Services/ISxx/Users/alice");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "The requested resource /Services/ISxx/Users/alice was not found");
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kNotFound);
  EXPECT_EQ(HttpStatusOf(status), 404);
  EXPECT_EQ(NotFoundError("").message(), "The requested resource was not found");
}

TEST(StatusTest, InvalidParameterError) {
  const absl::Status status = InvalidParameterError("Invalid PageSize");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Invalid PageSize");
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidParameter);
  EXPECT_EQ(HttpStatusOf(status), 400);
  EXPECT_EQ(InvalidParameterError("").message(), "Invalid parameter");
}

TEST(StatusTest, OkStatus) {
  EXPECT_EQ(ErrorCodeOf(absl::OkStatus()), ErrorCode::kOk);
  EXPECT_EQ(HttpStatusOf(absl::OkStatus()), 200);
}

TEST(StatusTest, MakeErrorOfOkOrUnknownIsInternal) {
  for (ErrorCode code : {ErrorCode::kOk, static_cast<ErrorCode>(777)}) {
    const absl::Status status = MakeError(code);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInternal);
    EXPECT_EQ(HttpStatusOf(status), 500);
    EXPECT_EQ(status.message(), "Internal error");
  }
  EXPECT_EQ(MakeError(ErrorCode::kOk, "why").message(), "why");
}

TEST(StatusTest, FallbacksWithoutPayload) {
  EXPECT_EQ(ErrorCodeOf(absl::NotFoundError("x")), ErrorCode::kNotFound);
  EXPECT_EQ(HttpStatusOf(absl::NotFoundError("x")), 404);
  EXPECT_EQ(ErrorCodeOf(absl::InvalidArgumentError("x")), ErrorCode::kInvalidParameter);
  EXPECT_EQ(HttpStatusOf(absl::InvalidArgumentError("x")), 400);
  for (const absl::Status& other : {absl::UnknownError("x"), absl::AlreadyExistsError("x"),
                                    absl::InternalError("x"), absl::FailedPreconditionError("x"),
                                    absl::CancelledError("x"), absl::UnavailableError("x")}) {
    EXPECT_EQ(ErrorCodeOf(other), ErrorCode::kInternal) << other;
    EXPECT_EQ(HttpStatusOf(other), 500) << other;
  }
}

TEST(StatusTest, ForeignOrDamagedPayloadFallsBack) {
  for (const char* payload :
       {"", "abc", "99999", "0", "-1", "20001x", "123456789012345678901234"}) {
    absl::Status status = absl::NotFoundError("x");
    status.SetPayload("userstore/error_code", absl::Cord(payload));
    EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kNotFound) << payload;
    EXPECT_EQ(HttpStatusOf(status), 404) << payload;
  }
}

TEST(StatusTest, PayloadWinsOverCanonicalCode) {
  absl::Status status = absl::InternalError("x");
  status.SetPayload("userstore/error_code", absl::Cord("50304"));
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(HttpStatusOf(status), 400);
}

TEST(StatusTest, MoreInfoUrl) {
  EXPECT_EQ(MoreInfoUrl(ErrorCode::kUserAlreadyExists), "https://www.twilio.com/docs/errors/50201");
  EXPECT_EQ(MoreInfoUrl(ErrorCode::kInvalidParameter), "https://www.twilio.com/docs/errors/20001");
}

TEST(StatusTest, ForEachErrorVisitsTheTableInOrder) {
  int visited = 0;
  ForEachError([&visited](const ErrorInfo& row) {
    EXPECT_EQ(&row, &internal::kErrorTable[visited]);
    ++visited;
  });
  EXPECT_EQ(visited, internal::kErrorTableSize);
}

// docs/errors.md must list exactly the table's rows, in its order, with the
// same code, HTTP status, name and message.
TEST(StatusTest, DocsListTheTable) {
  const std::string path = std::string(USERSTORE_SOURCE_DIR) + "/docs/errors.md";
  std::ifstream file(path);
  ASSERT_TRUE(file.is_open()) << path;
  std::stringstream contents;
  contents << file.rdbuf();

  struct DocRow {
    int code;
    int http;
    std::string name;
    std::string message;
  };
  std::vector<DocRow> doc_rows;
  for (absl::string_view line : absl::StrSplit(contents.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumePrefix(&line, "|")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    int code = 0;
    int http = 0;
    // Data rows start with a number; the header and the |---| line do not.
    if (cells.size() < 4 || !absl::SimpleAtoi(cells[0], &code)) continue;
    ASSERT_TRUE(absl::SimpleAtoi(cells[1], &http)) << line;
    doc_rows.push_back({code, http, cells[2], cells[3]});
  }

  const std::vector<ErrorInfo> rows = TableRows();
  ASSERT_EQ(doc_rows.size(), rows.size()) << "docs/errors.md and kErrorTable differ in length";
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].name);
    EXPECT_EQ(doc_rows[i].code, static_cast<int>(rows[i].code));
    EXPECT_EQ(doc_rows[i].http, rows[i].http_status);
    EXPECT_EQ(doc_rows[i].name, rows[i].name);
    EXPECT_EQ(doc_rows[i].message, rows[i].message_template);
  }
}

}  // namespace
}  // namespace userstore
