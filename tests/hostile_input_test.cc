// Hostile input: every request in the table below is something a broken or
// malicious client could send. Each is answered with a Twilio-shaped 4xx
// ({"code", "message", "more_info", "status"}, the status matching the code)
// and leaves the store exactly as it was (Snapshot(), CountUsers() and
// last_sequence() compared before and after), or, for the few rows that sit
// just inside a limit, is accepted. The same inputs go through the C++ API
// where one exists, and through the `userstore replay` line protocol.
//
// The second half bounds memory: no single request makes the heap grow by more
// than a small multiple of its own size, neither while it is handled (peak,
// measured under ASan) nor after (retained).
//
// docs/reliability.md carries the table in prose.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/regress/heap_meter.h"
#include "tests/testing/store_testing.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/rest/replay.h"

namespace userstore {
namespace {

// --- the environment every row runs in -------------------------------------------
//
// A seeded store on a fixed clock with a Chat service ($IS) holding alice
// ($US) and bob, a second service ($IS2), and real page tokens of $IS for
// Chat v2 ($TOKEN) and Chat v1 ($TOKEN_V1) and of $IS2 ($TOKEN_IS2). Rows
// name them with macros; "$ISU"/"$USU" are the same SIDs in upper case.

class Env {
 public:
  explicit Env(const StoreOptions& base = StoreOptions()) {
    StoreOptions options = base;
    options.seed = 42;
    options.clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
    store_ = std::make_unique<UserStore>(options);
    dispatcher_ = std::make_unique<Dispatcher>(store_.get());
    CreateServiceRequest service;
    service.friendly_name = "hostile";
    is_ = store_->CreateService(service)->sid;
    is2_ = store_->CreateService(service)->sid;
    for (const char* identity : {"alice", "bob"}) {
      CreateUserRequest user;
      user.identity = identity;
      auto created = store_->CreateUser(is_, user);
      if (us_.empty()) us_ = created->sid;
      user.identity = std::string(identity) + "2";
      (void)store_->CreateUser(is2_, user);
    }
    ListRequest list;
    list.page_size = 1;
    list.surface = Surface::kChatV2;
    token_ = store_->ListUsers(is_, list)->next_page_token;
    token_is2_ = store_->ListUsers(is2_, list)->next_page_token;
    list.surface = Surface::kChatV1;
    token_v1_ = store_->ListUsers(is_, list)->next_page_token;
  }

  UserStore& store() { return *store_; }
  const Dispatcher& dispatcher() const { return *dispatcher_; }
  const std::string& is() const { return is_; }
  const std::string& token() const { return token_; }

  std::string Expand(absl::string_view text) const {
    if (text.find('$') == absl::string_view::npos) return std::string(text);
    return absl::StrReplaceAll(text, {{"$ISU", Upper(is_)},
                                      {"$USU", Upper(us_)},
                                      {"$IS2", is2_},
                                      {"$IS", is_},
                                      {"$US", us_},
                                      {"$TOKEN_V1", token_v1_},
                                      {"$TOKEN_IS2", token_is2_},
                                      {"$TOKEN", token_}});
  }

  static std::string Upper(std::string s) {
    for (size_t i = 2; i < s.size(); ++i) {
      if (s[i] >= 'a' && s[i] <= 'f') s[i] = static_cast<char>(s[i] - 'a' + 'A');
    }
    return s;
  }

 private:
  std::unique_ptr<UserStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::string is_, is2_, us_, token_, token_is2_, token_v1_;
};

// --- state comparison --------------------------------------------------------------

using userstore_testing::SameUser;

// Every service, role and user, field by field.
::testing::AssertionResult SameState(const UserStore::SnapshotData& a,
                                     const UserStore::SnapshotData& b) {
  if (a.sequence != b.sequence) {
    return ::testing::AssertionFailure()
           << "sequence moved from " << a.sequence << " to " << b.sequence;
  }
  if (a.events.size() != b.events.size()) {
    return ::testing::AssertionFailure()
           << a.events.size() << " snapshot events became " << b.events.size();
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    const ChangeEvent& x = a.events[i];
    const ChangeEvent& y = b.events[i];
    bool same = x.entity == y.entity && x.user.has_value() == y.user.has_value() &&
                x.service.has_value() == y.service.has_value() &&
                x.role.has_value() == y.role.has_value();
    if (same && x.user) same = SameUser(*x.user, *y.user);
    if (same && x.service) {
      same = x.service->sid == y.service->sid &&
             x.service->friendly_name == y.service->friendly_name &&
             x.service->reachability_enabled == y.service->reachability_enabled &&
             x.service->default_service_role_sid == y.service->default_service_role_sid &&
             x.service->date_updated == y.service->date_updated;
    }
    if (same && x.role) {
      same = x.role->sid == y.role->sid && x.role->permissions == y.role->permissions;
    }
    if (!same) return ::testing::AssertionFailure() << "snapshot event " << i << " changed";
  }
  return ::testing::AssertionSuccess();
}

// Checks a Twilio error body against the expected status and code.
::testing::AssertionResult IsTwilioError(absl::string_view body, int status, int code) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(body.data(),
                                                                                    body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return ::testing::AssertionFailure() << "error body is not a JSON object: " << body;
  }
  const auto c = doc.FindMember("code");
  const auto m = doc.FindMember("message");
  const auto i = doc.FindMember("more_info");
  const auto s = doc.FindMember("status");
  if (c == doc.MemberEnd() || !c->value.IsInt() || m == doc.MemberEnd() || !m->value.IsString() ||
      i == doc.MemberEnd() || !i->value.IsString() || s == doc.MemberEnd() || !s->value.IsInt()) {
    return ::testing::AssertionFailure() << "not a Twilio error body: " << body;
  }
  if (c->value.GetInt() != code || s->value.GetInt() != status) {
    return ::testing::AssertionFailure()
           << "expected " << status << "/" << code << ", body says " << s->value.GetInt() << "/"
           << c->value.GetInt() << ": " << m->value.GetString();
  }
  if (std::string(i->value.GetString()) != MoreInfoUrl(static_cast<ErrorCode>(code))) {
    return ::testing::AssertionFailure() << "more_info " << i->value.GetString();
  }
  if (m->value.GetStringLength() == 0) return ::testing::AssertionFailure() << "empty message";
  return ::testing::AssertionSuccess();
}

// --- the table -----------------------------------------------------------------------

std::string Repeat(absl::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s.data(), s.size());
  return out;
}

// Percent-encodes every byte: the form body carries the bytes exactly.
std::string Enc(absl::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

constexpr int kCreated = 201;  // rows that sit just inside a limit

struct Row {
  std::string name;    // a gtest-safe name
  std::string method;  // through the dispatcher
  std::string url;     // with macros
  std::string body;    // form body, with macros
  std::vector<std::pair<std::string, std::string>> headers;
  int status;  // expected HTTP status
  int code;    // expected Twilio code (0 for a success)

  friend void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }
};

Row Post(std::string name, std::string url, std::string body, int status, int code) {
  return Row{std::move(name), "POST", std::move(url), std::move(body), {}, status, code};
}
Row Get(std::string name, std::string url, int status, int code) {
  return Row{std::move(name), "GET", std::move(url), "", {}, status, code};
}
Row Method(std::string name, std::string method, std::string url, int status, int code) {
  return Row{std::move(name), std::move(method), std::move(url), "", {}, status, code};
}

const std::string& TenMegabytes() {
  static const auto* s = new std::string("\"" + std::string(10 * 1024 * 1024, 'x') + "\"");
  return *s;
}

const std::vector<Row>& Table() {
  static const auto* rows = new std::vector<Row>([] {
    const std::string users = "/v2/Services/$IS/Users";
    const std::string alice = "/v2/Services/$IS/Users/$US";
    const std::string four = "\xF0\x9F\x98\x80";  // U+1F600, four bytes
    std::vector<Row> t = {
        // --- attributes: size, depth, encoding, syntax ---
        Post("AttributesNestedAMillionDeep", users,
             "Identity=deep&Attributes=" + Repeat("%5B", 1000000), 400, 50303),
        Post("AttributesNestedAMillionDeepClosed", users,
             "Identity=deep&Attributes=" + Repeat("%5B", 1000000) + Repeat("%5D", 1000000), 400,
             50303),
        Post("AttributesOfTenMegabytes", users, "Identity=big&Attributes=" + TenMegabytes(), 400,
             50303),
        Post("AttributesNested65Deep", users,
             "Identity=d&Attributes=" + Repeat("%5B", 65) + Repeat("%5D", 65), 400, 50303),
        Post("AttributesOneByteTooLarge", users,
             "Identity=l&Attributes=" + Enc("\"" + std::string(16 * 1024 - 1, 'x') + "\""), 400,
             50303),
        Post("AttributesInvalidUtf8", users,
             "Identity=u&Attributes=" + Enc("{\"a\": \"\xC3\x28\"}"), 400, 50304),
        Post("AttributesOverlongUtf8", users, "Identity=u&Attributes=" + Enc("\"\xC0\xAF\""), 400,
             50304),
        Post("AttributesSurrogateUtf8", users, "Identity=u&Attributes=" + Enc("\"\xED\xA0\x80\""),
             400, 50304),
        Post("AttributesBeyondU10FFFF", users,
             "Identity=u&Attributes=" + Enc("\"\xF4\x90\x80\x80\""), 400, 50304),
        Post("AttributesNulByte", users,
             "Identity=u&Attributes=" + Enc(std::string("{\"a\":\"\0\"}", 9)), 400, 50304),
        Post("AttributesNotJson", users, "Identity=u&Attributes=" + Enc("{a: 1}"), 400, 50304),
        Post("AttributesTrailingGarbage", users, "Identity=u&Attributes=" + Enc("{} x"), 400,
             50304),
        Post("AttributesEmpty", users, "Identity=u&Attributes=", 400, 50304),
        Post("UpdateAttributesNestedAMillionDeep", alice, "Attributes=" + Repeat("%5B", 1000000),
             400, 50303),
        Post("UpdateAttributesInvalidUtf8", alice, "Attributes=" + Enc("\"\xFF\""), 400, 50304),
        // --- identity: encoding, NUL, length in code points, shape ---
        Post("IdentityInvalidUtf8", users, "Identity=" + Enc("a\xC3\x28"), 400, 20001),
        Post("IdentityOverlongUtf8", users, "Identity=" + Enc("\xC0\xAF"), 400, 20001),
        Post("IdentitySurrogateUtf8", users, "Identity=" + Enc("\xED\xA0\x80"), 400, 20001),
        Post("IdentityBeyondU10FFFF", users, "Identity=" + Enc("\xF4\x90\x80\x80"), 400, 20001),
        Post("IdentityTruncatedUtf8", users, "Identity=" + Enc("\xF0\x9F\x98"), 400, 20001),
        Post("IdentityNulByte", users, "Identity=a%00b", 400, 20001),
        Post("Identity257Characters", users, "Identity=" + std::string(257, 'i'), 400, 50207),
        Post("Identity257FourByteCharacters", users, "Identity=" + Enc(Repeat(four, 257)), 400,
             50207),
        Post("Identity256Characters", users, "Identity=" + std::string(256, 'i'), kCreated, 0),
        Post("Identity256FourByteCharacters", users, "Identity=" + Enc(Repeat(four, 256)), kCreated,
             0),
        Post("IdentityMatchesSidPattern", users, "Identity=US0123456789ABCDEF0123456789abcdef", 400,
             50206),
        Post("IdentityEmpty", users, "Identity=", 400, 50204),
        Post("IdentityMissing", users, "FriendlyName=x", 400, 20001),
        Post("IdentityTaken", users, "Identity=alice", 409, 50201),
        Post("UpdateIdentity", alice, "Identity=mallory", 400, 20001),
        Post("FriendlyName257Characters", users, "Identity=f&FriendlyName=" + std::string(257, 'f'),
             400, 50003),
        Post("FriendlyNameInvalidUtf8", users, "Identity=f&FriendlyName=%FF", 400, 20001),
        // --- broken percent escapes (body, path, query) ---
        Post("BodyLonePercent", users, "Identity=%", 400, 20001),
        Post("BodyTruncatedEscape", users, "Identity=%4", 400, 20001),
        Post("BodyNonHexEscape", users, "Identity=%zz", 400, 20001),
        Post("BodyBrokenEscapeInKey", users, "Ident%ity=x", 400, 20001),
        Get("PathBrokenEscape", users + "/%zz", 400, 20001),
        Get("PathEscapeOfInvalidUtf8", users + "/%C3%28", 400, 20001),
        Get("PathEscapeOfNul", users + "/a%00", 400, 20001),
        Get("QueryBrokenEscape", users + "?PageSize=%5", 400, 20001),
        Get("QueryTokenOfInvalidUtf8", users + "?PageToken=%FF", 400, 20001),
        // --- PageSize ---
        Get("PageSizeZero", users + "?PageSize=0", 400, 20001),
        Get("PageSizeNegative", users + "?PageSize=-1", 400, 20001),
        Get("PageSizeBeyondInt64", users + "?PageSize=9223372036854775808", 400, 20001),
        Get("PageSizeHuge", users + "?PageSize=99999999999999999999999999", 400, 20001),
        Get("PageSizeFractional", users + "?PageSize=1.5", 400, 20001),
        Get("PageSizeNotANumber", users + "?PageSize=abc", 400, 20001),
        Get("PageSizeEmpty", users + "?PageSize=", 400, 20001),
        Get("PageSizePlusSign", users + "?PageSize=%2B5", 400, 20001),
        Get("PageSizeHexadecimal", users + "?PageSize=0x10", 400, 20001),
        Get("PageSizeMaxInt64IsClamped", users + "?PageSize=9223372036854775807", 200, 0),
        // --- page tokens ---
        Get("PageTokenForged", users + "?PageToken=PA" + std::string(48, 'A'), 400, 20001),
        Get("PageTokenTruncated", users + "?PageToken=TRUNCATED", 400, 20001),
        Get("PageTokenOversized", users + "?PageToken=PA" + std::string(100000, 'A'), 400, 20001),
        Get("PageTokenDirectionSwapped", users + "?PageToken=SWAPPED", 400, 20001),
        Get("PageTokenOneCharacterChanged", users + "?PageToken=ALTERED", 400, 20001),
        Get("PageTokenOfAnotherService", users + "?PageToken=$TOKEN_IS2", 400, 20001),
        Get("PageTokenOfAnotherSurface", users + "?PageToken=$TOKEN_V1", 400, 20001),
        Get("PageTokenOfAnotherCollection", "/v2/Services/$IS/Roles?PageToken=$TOKEN", 400, 20001),
        Get("PageTokenGenuine", users + "?PageToken=$TOKEN", 200, 0),
        // --- SIDs: case and length ---
        Get("ServiceSidUpperCase", "/v2/Services/$ISU/Users", 404, 20404),
        Get("ServiceSidTooShort", "/v2/Services/IS0123/Users", 404, 20404),
        Get("ServiceSidTooLong", "/v2/Services/$IS0/Users", 404, 20404),
        Get("ServiceSidWrongPrefix", "/v2/Services/US0123456789abcdef0123456789abcdef/Users", 404,
            20404),
        Get("UserSidUpperCase", users + "/$USU", 404, 20404),
        Get("UserSidTooLong", users + "/$US0", 404, 20404),
        Get("UserSidTooShort", users + "/US0123", 404, 20404),
        Post("RoleSidUpperCase", users, "Identity=r&RoleSid=RL0123456789ABCDEF0123456789ABCDEF",
             400, 50100),
        Post("RoleSidTooShort", users, "Identity=r&RoleSid=RL0123", 400, 20001),
        // --- methods ---
        Method("MethodPut", "PUT", alice, 405, 20004),
        Method("MethodPatch", "PATCH", alice, 405, 20004),
        Method("MethodLowerCase", "get", alice, 405, 20004),
        Method("MethodEmpty", "", alice, 405, 20004),
        Method("MethodWithNul", std::string("GET\0", 4), alice, 405, 20004),
        Method("MethodDeleteOnList", "DELETE", users, 405, 20004),
        // --- paths ---
        Get("PathDotDot", "/v2/Services/$IS/Users/../Users", 404, 20404),
        Get("PathDot", "/v2/Services/$IS/./Users", 404, 20404),
        Get("PathDoubleSlash", "/v2/Services//$IS/Users", 404, 20404),
        Get("PathLeadingDoubleSlash", "//v2/Services/$IS/Users", 400, 20001),
        Get("PathTrailingSlash", users + "/", 404, 20404),
        Get("PathTooManySegments", alice + "/Channels/x/y/z", 404, 20404),
        Get("PathUnknownVersion", "/v3/Services/$IS/Users", 404, 20404),
        Get("PathRawInvalidUtf8", "/v2/Services/$IS/Users/\xFF", 400, 20001),
        Get("PathRawInvalidUtf8Unroutable", "/v9/\xFF\xFE", 404, 20404),
        Method("DeleteDotDot", "DELETE", "/v2/Services/$IS/Users/%2E%2E", 404, 20404),
        Get("UrlNotAbsoluteOrPath", "chat.twilio.com/v2/Services", 400, 20001),
        Get("UrlBadHost", "https://chat twilio.com/v2/Services", 400, 20001),
        Get("UrlBadPort", "https://chat.twilio.com:x/v2/Services", 400, 20001),
        // --- headers ---
        Row{"WebhookHeaderNotBoolean",
            "POST",
            users,
            "Identity=w",
            {{"X-Twilio-Webhook-Enabled", "yes"}},
            400,
            20001},
        Row{"WebhookHeaderWithNul",
            "POST",
            users,
            "Identity=w",
            {{"X-Twilio-Webhook-Enabled", std::string("true\0", 5)}},
            400,
            20001},
    };
    return t;
  }());
  return *rows;
}

class HostileInputTest : public ::testing::TestWithParam<Row> {};

TEST_P(HostileInputTest, AnsweredWithTwilioErrorAndStoreUnchanged) {
  const Row& row = GetParam();
  Env env;
  HttpRequest request;
  request.method = row.method;
  request.url = env.Expand(row.url);
  request.body = env.Expand(row.body);
  request.headers = row.headers;
  // Token mutations that need the real token.
  if (request.url.find("TRUNCATED") != std::string::npos) {
    absl::StrReplaceAll({{"TRUNCATED", env.token().substr(0, 25)}}, &request.url);
  }
  if (request.url.find("SWAPPED") != std::string::npos) {
    absl::StrReplaceAll({{"SWAPPED", "PB" + env.token().substr(2)}}, &request.url);
  }
  if (request.url.find("ALTERED") != std::string::npos) {
    std::string t = env.token();
    t[20] = t[20] == 'A' ? 'B' : 'A';
    absl::StrReplaceAll({{"ALTERED", t}}, &request.url);
  }

  const auto before = env.store().Snapshot();
  const auto count_before = env.store().CountUsers(env.is());
  const HttpResponse response = env.dispatcher().Handle(request);
  const auto after = env.store().Snapshot();
  const auto count_after = env.store().CountUsers(env.is());
  ASSERT_TRUE(count_before.ok() && count_after.ok());

  EXPECT_EQ(response.status, row.status) << response.body.substr(0, 300);
  if (row.status >= 400) {
    EXPECT_TRUE(IsTwilioError(response.body, row.status, row.code));
    EXPECT_TRUE(SameState(before, after));
    EXPECT_EQ(*count_before, *count_after);
  } else if (row.status == kCreated) {
    EXPECT_EQ(*count_after, *count_before + 1);
  } else {
    EXPECT_TRUE(SameState(before, after));
  }
  EXPECT_TRUE(env.store().CheckInvariants().ok());
}

INSTANTIATE_TEST_SUITE_P(Dispatcher, HostileInputTest, ::testing::ValuesIn(Table()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

// --- the same through the C++ API --------------------------------------------------

struct ApiRow {
  std::string name;
  std::function<absl::Status(UserStore&, const std::string& is, const std::string& token)> call;
  int code;
  friend void PrintTo(const ApiRow& row, std::ostream* os) { *os << row.name; }
};

absl::Status Create(UserStore& store, const std::string& is, std::optional<std::string> identity,
                    std::optional<std::string> attributes = std::nullopt) {
  CreateUserRequest req;
  req.identity = std::move(identity);
  req.attributes = std::move(attributes);
  return store.CreateUser(is, req).status();
}

absl::Status List(UserStore& store, const std::string& is, int64_t size, std::string token) {
  ListRequest req;
  req.page_size = size;
  req.page_token = std::move(token);
  req.surface = Surface::kChatV2;
  return store.ListUsers(is, req).status();
}

// An update that would change alice (so only a refusal leaves the store as
// it was), and a well-formed service SID no service has.
UpdateUserRequest Rename() {
  UpdateUserRequest req;
  req.friendly_name = "renamed";
  return req;
}
std::string UnknownService() { return "IS" + std::string(32, '0'); }

const std::vector<ApiRow>& ApiTable() {
  using S = const std::string&;
  static const auto* rows = new std::vector<ApiRow>{
      {"AttributesOfTenMegabytes",
       [](UserStore& s, S is, S) { return Create(s, is, "big", TenMegabytes()); }, 50303},
      {"AttributesNestedAMillionDeep",
       [](UserStore& s, S is, S) { return Create(s, is, "deep", std::string(1000000, '[')); },
       50303},
      {"AttributesInvalidUtf8",
       [](UserStore& s, S is, S) { return Create(s, is, "u", "\"\xC3\x28\""); }, 50304},
      {"AttributesNulByte",
       [](UserStore& s, S is, S) { return Create(s, is, "u", std::string("\"\0\"", 3)); }, 50304},
      {"IdentityInvalidUtf8", [](UserStore& s, S is, S) { return Create(s, is, "\xC0\xAF"); },
       20001},
      {"IdentitySurrogateUtf8", [](UserStore& s, S is, S) { return Create(s, is, "\xED\xA0\x80"); },
       20001},
      {"IdentityNulByte",
       [](UserStore& s, S is, S) { return Create(s, is, std::string("a\0b", 3)); }, 20001},
      {"Identity257FourByteCharacters",
       [](UserStore& s, S is, S) { return Create(s, is, Repeat("\xF0\x9F\x98\x80", 257)); }, 50207},
      {"IdentityMissing", [](UserStore& s, S is, S) { return Create(s, is, std::nullopt); }, 20001},
      {"PageSizeZero", [](UserStore& s, S is, S) { return List(s, is, 0, ""); }, 20001},
      {"PageSizeNegative", [](UserStore& s, S is, S) { return List(s, is, -1, ""); }, 20001},
      {"PageSizeMinInt64", [](UserStore& s, S is, S) { return List(s, is, INT64_MIN, ""); }, 20001},
      {"PageTokenForged",
       [](UserStore& s, S is, S) { return List(s, is, 5, "PA" + std::string(48, 'A')); }, 20001},
      {"PageTokenTruncated",
       [](UserStore& s, S is, S t) { return List(s, is, 5, t.substr(0, t.size() - 1)); }, 20001},
      {"PageTokenOversized",
       [](UserStore& s, S is, S t) { return List(s, is, 5, t + std::string(1 << 20, 'A')); },
       20001},
      {"ServiceSidUpperCase",
       [](UserStore& s, S is, S) { return s.GetUser(Env::Upper(is), "alice").status(); }, 20404},
      {"ServiceSidInvalidUtf8",
       [](UserStore& s, S, S) { return s.GetUser("IS\xFF", "alice").status(); }, 20001},
      {"UserInvalidUtf8", [](UserStore& s, S is, S) { return s.GetUser(is, "\xFF").status(); },
       20001},
      {"DeleteUserNulByte",
       [](UserStore& s, S is, S) { return s.DeleteUser(is, std::string("alice\0", 6)); }, 20001},
      // A path's texts are checked before its service is looked up: invalid
      // text is 400 even where the service does not exist (the store checks
      // the texts only once a lookup misses; these pin the order).
      {"CreateServiceSidInvalidUtf8",
       [](UserStore& s, S, S) { return Create(s, "IS\xFF", "carol"); }, 20001},
      {"UpdateServiceSidInvalidUtf8",
       [](UserStore& s, S, S) { return s.UpdateUser("IS\xFF", "alice", Rename()).status(); },
       20001},
      {"UpdateUserInvalidUtf8",
       [](UserStore& s, S is, S) { return s.UpdateUser(is, "\xFF", Rename()).status(); }, 20001},
      {"UpdateUserInvalidUtf8UnknownService",
       [](UserStore& s, S, S) { return s.UpdateUser(UnknownService(), "\xFF", Rename()).status(); },
       20001},
      {"UpdateUnknownService",
       [](UserStore& s, S, S) {
         return s.UpdateUser(UnknownService(), "alice", Rename()).status();
       },
       20404},
      {"UpdateUnknownUser",
       [](UserStore& s, S is, S) { return s.UpdateUser(is, "nobody", Rename()).status(); }, 20404},
      {"DeleteServiceSidInvalidUtf8",
       [](UserStore& s, S, S) { return s.DeleteUser("IS\xFF", "alice"); }, 20001},
      {"DeleteUserInvalidUtf8UnknownService",
       [](UserStore& s, S, S) { return s.DeleteUser(UnknownService(), "\xFF"); }, 20001},
      {"DeleteUnknownService",
       [](UserStore& s, S, S) { return s.DeleteUser(UnknownService(), "alice"); }, 20404},
      {"GetUserInvalidUtf8UnknownService",
       [](UserStore& s, S, S) { return s.GetUser(UnknownService(), "\xFF").status(); }, 20001},
  };
  return *rows;
}

class HostileApiTest : public ::testing::TestWithParam<ApiRow> {};

TEST_P(HostileApiTest, RefusedAndStoreUnchanged) {
  const ApiRow& row = GetParam();
  Env env;
  const auto before = env.store().Snapshot();
  const absl::Status status = row.call(env.store(), env.is(), env.token());
  EXPECT_EQ(static_cast<int>(ErrorCodeOf(status)), row.code) << status;
  EXPECT_EQ(HttpStatusOf(status), LookupError(static_cast<ErrorCode>(row.code))->http_status);
  EXPECT_TRUE(SameState(before, env.store().Snapshot()));
  EXPECT_TRUE(env.store().CheckInvariants().ok());
}

INSTANTIATE_TEST_SUITE_P(Api, HostileApiTest, ::testing::ValuesIn(ApiTable()),
                         [](const ::testing::TestParamInfo<ApiRow>& info) {
                           return info.param.name;
                         });

// A store whose byte limit lets a million-deep document reach the parser: the
// depth limit, not the size limit, refuses it, and nothing recurses.
TEST(HostileApiDepthTest, MillionDeepReachesTheParserAndIsRefused) {
  StoreOptions options;
  options.max_attributes_bytes = 4 * 1024 * 1024;
  Env env(options);
  for (const std::string& text :
       {std::string(1000000, '['), std::string(1000000, '[') + std::string(1000000, ']'),
        Repeat("{\"a\":", 1000000)}) {
    const auto before = env.store().Snapshot();
    const absl::Status status = Create(env.store(), env.is(), "deep", text);
    EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kAttributesTooLong) << status;
    EXPECT_TRUE(SameState(before, env.store().Snapshot()));
  }
}

// --- replay lines that are not JSON or not requests ------------------------------------

struct LineRow {
  std::string name;
  std::string line;
  int status;
  int code;
  friend void PrintTo(const LineRow& row, std::ostream* os) { *os << row.name; }
};

const std::vector<LineRow>& LineTable() {
  static const auto* rows = new std::vector<LineRow>{
      {"Empty", "", 400, 20001},
      {"NotJson", "GET /v1/Users HTTP/1.1", 400, 20001},
      {"TruncatedJson", "{\"method\": \"GET\", \"url\": \"/v1/Us", 400, 20001},
      {"JsonArray", "[\"GET\", \"/v1/Users\"]", 400, 20001},
      {"JsonString", "\"GET /v1/Users\"", 400, 20001},
      {"MissingMethod", "{\"url\": \"/v1/Users\"}", 400, 20001},
      {"MissingUrl", "{\"method\": \"GET\"}", 400, 20001},
      {"MethodNotString", "{\"method\": 1, \"url\": \"/v1/Users\"}", 400, 20001},
      {"UrlNotString", "{\"method\": \"GET\", \"url\": null}", 400, 20001},
      {"HeadersNotObject", "{\"method\": \"GET\", \"url\": \"/v1/Users\", \"headers\": []}", 400,
       20001},
      {"HeaderValueNotString",
       "{\"method\": \"GET\", \"url\": \"/v1/Users\", \"headers\": {\"X-Twilio-Webhook-Enabled\": "
       "true}}",
       400, 20001},
      {"FormNumber", "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": 5}", 400, 20001},
      {"FormArrayOfNumbers",
       "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": [1]}}", 400, 20001},
      {"FormNestedObject",
       "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": {\"a\": \"b\"}}}",
       400, 20001},
      {"InvalidUtf8",
       "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": \"\xC3\x28\"}}",
       400, 20001},
      // A NUL after a complete object: tests/regress/replay_trailing_nul_test.cc.
      {"NulByteInsideJson", std::string("{\"method\": \"GET\", \"url\": \"/v1/\0Users\"}", 38), 400,
       20001},
      {"NestedAMillionDeep", std::string(1000000, '['), 400, 20001},
      {"MemberNestedAMillionDeep",
       "{\"method\": \"GET\", \"url\": \"/v1/Users\", \"x\": " + std::string(1000000, '['), 400,
       20001},
      {"TwoObjects", "{\"method\": \"GET\", \"url\": \"/v1/Users\"} {}", 400, 20001},
      {"NulEscapeInIdentity",
       "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": \"a\\u0000b\"}}",
       400, 20001},
      {"LoneSurrogateEscape",
       "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": \"\\ud800\"}}", 400,
       20001},
      {"UnknownMethod", "{\"method\": \"PATCH\", \"url\": \"/v1/Users\"}", 405, 20004},
      {"UrlWithDotDot", "{\"method\": \"GET\", \"url\": \"/v1/Users/../Users\"}", 404, 20404},
  };
  return *rows;
}

class HostileReplayLineTest : public ::testing::TestWithParam<LineRow> {};

TEST_P(HostileReplayLineTest, AnsweredWithTwilioErrorAndStoreUnchanged) {
  const LineRow& row = GetParam();
  Env env;
  const auto before = env.store().Snapshot();
  const std::string out = internal::ReplayOneLine(env.dispatcher(), row.line);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(out.data(),
                                                                                    out.size());
  ASSERT_FALSE(doc.HasParseError()) << out.substr(0, 300);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("status") && doc["status"].IsInt() &&
              doc.HasMember("body"))
      << out.substr(0, 300);
  EXPECT_EQ(doc["status"].GetInt(), row.status) << out.substr(0, 300);
  ASSERT_TRUE(doc["body"].IsObject()) << out.substr(0, 300);
  const auto body_start = out.find("\"body\":");
  ASSERT_NE(body_start, std::string::npos);
  const std::string body = out.substr(body_start + 7, out.size() - body_start - 8);
  EXPECT_TRUE(IsTwilioError(body, row.status, row.code)) << out.substr(0, 300);
  EXPECT_TRUE(SameState(before, env.store().Snapshot()));
}

INSTANTIATE_TEST_SUITE_P(Replay, HostileReplayLineTest, ::testing::ValuesIn(LineTable()),
                         [](const ::testing::TestParamInfo<LineRow>& info) {
                           return info.param.name;
                         });

// --- memory bounds ------------------------------------------------------------------------
//
// Measured with tests/regress/heap_meter.h: the retained growth everywhere
// (mallinfo2(), or ASan's counters under ASan, whose heap mallinfo2() does not
// see) and the peak under ASan.

using testing_heap::BoundFor;
using testing_heap::HeapUsage;
using testing_heap::MeasureHeap;

void ExpectBounded(const HeapUsage& usage, size_t request_size, const std::string& what) {
  const int64_t bound = BoundFor(request_size);
  EXPECT_LE(usage.retained, bound) << what << ": retained " << usage.retained << " bytes for a "
                                   << request_size << "-byte request";
  if (testing_heap::can_measure_peak()) {
    EXPECT_LE(usage.peak, bound) << what << ": peak " << usage.peak << " bytes for a "
                                 << request_size << "-byte request";
  }
}

HttpRequest PostUsers(const Env& env, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.url = env.Expand("/v2/Services/$IS/Users");
  request.body = std::move(body);
  return request;
}

TEST(HostileInputBoundsTest, RejectedTenMegabyteAttributes) {
  Env env;
  const HttpRequest request = PostUsers(env, "Identity=big&Attributes=" + TenMegabytes());
  HttpResponse response;
  const HeapUsage usage = MeasureHeap([&] { response = env.dispatcher().Handle(request); });
  EXPECT_EQ(response.status, 400);
  ExpectBounded(usage, request.body.size(), "10 MB attributes (rejected)");
}

TEST(HostileInputBoundsTest, RejectedMillionDeepAttributes) {
  Env env;
  const HttpRequest request = PostUsers(env, "Identity=deep&Attributes=" + Repeat("%5B", 1000000));
  HttpResponse response;
  const HeapUsage usage = MeasureHeap([&] { response = env.dispatcher().Handle(request); });
  EXPECT_EQ(response.status, 400);
  ExpectBounded(usage, request.body.size(), "a million '[' (rejected)");
}

TEST(HostileInputBoundsTest, AcceptedMaxSizeUser) {
  Env env;
  // Every field at its limit: 256 four-byte characters of identity and of
  // friendly name, 16 KiB of attributes.
  const std::string four = "\xF0\x9F\x98\x80";
  const std::string attributes = "\"" + std::string(16 * 1024 - 2, 'x') + "\"";
  const HttpRequest request = PostUsers(env, "Identity=" + Enc(Repeat(four, 256)) +
                                                 "&FriendlyName=" + Enc(Repeat(four, 256)) +
                                                 "&Attributes=" + Enc(attributes));
  HttpResponse response;
  const HeapUsage usage = MeasureHeap([&] { response = env.dispatcher().Handle(request); });
  ASSERT_EQ(response.status, 201) << response.body.substr(0, 300);
  // What stays is the user (and its indexes), not a copy of the request.
  ExpectBounded(usage, request.body.size() + response.body.size(), "max-size user (accepted)");
}

// Replay lines nested a million deep and forms of 100,000 members overrun the
// bound today: tests/regress/replay_dom_memory_test.cc. Forms of many tiny
// pairs too: tests/regress/form_pairs_memory_test.cc.

TEST(HostileInputBoundsTest, OversizedPageTokenAndPageSize) {
  Env env;
  HttpRequest request;
  request.method = "GET";
  request.url = env.Expand("/v2/Services/$IS/Users?PageSize=9223372036854775807&PageToken=PA" +
                           std::string(1 << 20, 'A'));
  HttpResponse response;
  const HeapUsage usage = MeasureHeap([&] { response = env.dispatcher().Handle(request); });
  EXPECT_EQ(response.status, 400);
  ExpectBounded(usage, request.url.size(), "1 MB page token");
}

}  // namespace
}  // namespace userstore
