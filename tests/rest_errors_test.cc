// Every error row of SEMANTICS (sections 2, 3, 5, 6) through REST, on the
// surfaces where it applies: HTTP status, Twilio code, message, more_info and
// the key order of the body (IsError checks all of them).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/testing/rest_testing.h"

#include "userstore/events.h"
#include "userstore/rest.h"
#include "userstore/status.h"

namespace {

using userstore::ErrorCode;
using userstore_test::FormPairs;
using userstore_test::IsError;
using userstore_test::NotFoundMessage;
using userstore_test::Reply;
using userstore_test::RestHarness;
using userstore_test::TableMessage;

const FormPairs kWebhookTrue = {{"X-Twilio-Webhook-Enabled", "true"}};

// One way of reaching the users of a service.
struct Surface {
  std::string name;
  std::string prefix;  // URL up to the service SID ("" for /v1/Users)
  bool default_service;
  bool webhook_on_write;   // create and update read the header
  bool webhook_on_delete;  // delete reads the header
};

const std::vector<Surface>& Surfaces() {
  static const auto* s = new std::vector<Surface>{
      {"chat v2", "https://chat.twilio.com/v2/Services/", false, true, false},
      {"chat v2 alias", "https://ip-messaging.twilio.com/v2/Services/", false, true, false},
      {"chat v1", "https://chat.twilio.com/v1/Services/", false, false, false},
      {"chat v1 path-only", "/v1/Services/", false, false, false},
      {"conversations service", "https://conversations.twilio.com/v1/Services/", false, true, true},
      {"conversations default", "https://conversations.twilio.com/v1/Users", true, true, true},
  };
  return *s;
}

class RestErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reply s = rest_.Post("https://chat.twilio.com/v2/Services", {{"FriendlyName", "errors"}});
    ASSERT_EQ(s.status, 201) << s.body;
    service_ = s.Str("sid");
    service_role_ = s.Str("default_service_role_sid");
    channel_role_ = s.Str("default_channel_role_sid");
  }

  std::string ServiceOf(const Surface& s) {
    return s.default_service ? rest_.store().default_conversation_service_sid() : service_;
  }

  // The Users list URL of `s`.
  std::string Users(const Surface& s) {
    return s.default_service ? s.prefix : s.prefix + service_ + "/Users";
  }

  // The path a 404 quotes for `url` (path without host and /vN).
  static std::string QuotedPath(std::string url) {
    const size_t scheme = url.find("://");
    if (scheme != std::string::npos) url = url.substr(url.find('/', scheme + 3));
    return url.substr(3);
  }

  std::string CreateUser(const Surface& s, const std::string& identity) {
    Reply r = rest_.Post(Users(s), {{"Identity", identity}});
    EXPECT_EQ(r.status, 201) << s.name << ": " << r.body;
    return r.Str("sid");
  }

  RestHarness rest_;
  std::string service_, service_role_, channel_role_;
};

// --- SEMANTICS 2: user fields ------------------------------------------------------

TEST_F(RestErrorsTest, CreateWithoutIdentityIs20001) {
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"FriendlyName", "x"}}), 400, 20001,
                        "Missing required parameter Identity in the post body"))
        << s.name;
  }
}

TEST_F(RestErrorsTest, CreateWithEmptyIdentityIs50204) {
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", ""}}), 400, 50204, "Identity not provided"))
        << s.name;
  }
}

TEST_F(RestErrorsTest, IdentityLongerThan256CodePointsIs50207) {
  std::string ok, too_long;
  for (int i = 0; i < 256; ++i) ok += "\xC3\xA9";  // 256 code points, 512 bytes
  too_long = ok + "e";
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"Identity", too_long}}), 400, 50207,
                        TableMessage(ErrorCode::kIdentityTooLong)))
        << s.name;
  }
  EXPECT_EQ(rest_.Post(Users(Surfaces()[0]), {{"Identity", ok}}).status, 201);
}

TEST_F(RestErrorsTest, IdentityMatchingTheUserSidPatternIs50206) {
  for (const Surface& s : Surfaces()) {
    for (const char* id :
         {"US0123456789abcdef0123456789abcdef", "USABCDEF0123456789ABCDEF0123456789"}) {
      EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"Identity", id}}), 400, 50206,
                          TableMessage(ErrorCode::kIdentityMatchesSidPattern)))
          << s.name << " " << id;
    }
  }
  // Not the pattern: wrong length, other prefix.
  EXPECT_EQ(rest_.Post(Users(Surfaces()[0]), {{"Identity", "US0123"}}).status, 201);
}

TEST_F(RestErrorsTest, TextThatIsNotUtf8OrHoldsNulIs20001) {
  for (const Surface& s : Surfaces()) {
    userstore::HttpRequest bad;
    bad.method = "POST";
    bad.url = Users(s);
    for (const char* body : {"Identity=%FF", "Identity=a%00b", "Identity=ok&FriendlyName=%C3%28",
                             "Identity=ok&RoleSid=%ED%A0%80"}) {
      bad.body = body;
      EXPECT_TRUE(IsError(rest_.Send(bad), 400, 20001)) << s.name << " " << body;
    }
  }
}

TEST_F(RestErrorsTest, DuplicateIdentityIs409And50201OnEverySurfaceOfTheService) {
  const Surface& chat_v2 = Surfaces()[0];
  CreateUser(chat_v2, "alice");
  for (const Surface& s : Surfaces()) {
    if (s.default_service) continue;  // another service
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", "alice"}}), 409, 50201, "User already exists"))
        << s.name;
  }
  const Surface& conv_default = Surfaces()[5];
  CreateUser(conv_default, "alice");  // other service: allowed
  EXPECT_TRUE(IsError(rest_.Post(Users(conv_default), {{"Identity", "alice"}}), 409, 50201,
                      "User already exists"));
  EXPECT_EQ(rest_.Post(Users(chat_v2), {{"Identity", "Alice"}}).status, 201);  // case-sensitive
}

TEST_F(RestErrorsTest, FriendlyNameLongerThan256Is50003) {
  const std::string too_long(257, 'f');
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", "fn-" + s.name}, {"FriendlyName", too_long}}),
                400, 50003, TableMessage(ErrorCode::kFriendlyNameTooLong)))
        << s.name;
    const std::string sid = CreateUser(s, "fn2-" + s.name);
    EXPECT_TRUE(IsError(rest_.Post(Users(s) + "/" + sid, {{"FriendlyName", too_long}}), 400, 50003))
        << s.name;
  }
  EXPECT_EQ(rest_
                .Post(Users(Surfaces()[0]),
                      {{"Identity", "fine"}, {"FriendlyName", std::string(256, 'f')}})
                .status,
            201);
}

TEST_F(RestErrorsTest, AttributesThatAreNotJsonAre50304) {
  for (const Surface& s : Surfaces()) {
    for (const char* bad : {"{", "{\"a\":}", "not json", "", "{\"a\":1}x", "\xFF"}) {
      EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"Identity", "attr"}, {"Attributes", bad}}), 400,
                          50304, "Attributes not valid JSON"))
          << s.name << " [" << bad << "]";
    }
    // Invalid UTF-8 inside a JSON string is 50304 too, not 20001.
    userstore::HttpRequest raw;
    raw.method = "POST";
    raw.url = Users(s);
    raw.body = "Identity=attr&Attributes=%22%FF%22";
    EXPECT_TRUE(IsError(rest_.Send(raw), 400, 50304, "Attributes not valid JSON")) << s.name;
    const std::string sid = CreateUser(s, "attr-" + s.name);
    EXPECT_TRUE(IsError(rest_.Post(Users(s) + "/" + sid, {{"Attributes", "[1,"}}), 400, 50304,
                        "Attributes not valid JSON"))
        << s.name;
  }
}

TEST_F(RestErrorsTest, AttributesTooLargeOrTooDeepAre50303) {
  const std::string big = "\"" + std::string(16 * 1024 - 1, 'a') + "\"";  // 16 KiB + 1
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  const std::string deep_ok = std::string(64, '[') + std::string(64, ']');
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", "big"}, {"Attributes", big}}), 400, 50303))
        << s.name;
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", "deep"}, {"Attributes", deep}}), 400, 50303))
        << s.name;
  }
  Reply ok = rest_.Post(Users(Surfaces()[0]), {{"Identity", "deep"}, {"Attributes", deep_ok}});
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.Str("attributes"), deep_ok);
}

TEST_F(RestErrorsTest, RoleSidMalformedUnknownOrChannelRole) {
  for (const Surface& s : Surfaces()) {
    EXPECT_TRUE(
        IsError(rest_.Post(Users(s), {{"Identity", "r"}, {"RoleSid", "RL123"}}), 400, 20001))
        << s.name;
    EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"Identity", "r"},
                                              {"RoleSid", "RL0123456789abcdef0123456789abcdef"}}),
                        400, 50100, "Role not found"))
        << s.name;
  }
  // A channel role of the service, on the service's surfaces.
  for (const Surface& s : Surfaces()) {
    if (s.default_service) continue;
    EXPECT_TRUE(IsError(rest_.Post(Users(s), {{"Identity", "r"}, {"RoleSid", channel_role_}}), 400,
                        50105, TableMessage(ErrorCode::kInvalidRoleType)))
        << s.name;
    // ... and the deployment role of another service is unknown here.
  }
  EXPECT_TRUE(
      IsError(rest_.Post(Users(Surfaces()[5]), {{"Identity", "r"}, {"RoleSid", service_role_}}),
              400, 50100, "Role not found"));
}

// --- SEMANTICS 3: operations ---------------------------------------------------------

TEST_F(RestErrorsTest, UnknownUserIs404QuotingTheRequestPath) {
  for (const Surface& s : Surfaces()) {
    for (const std::string& user :
         {std::string("US0123456789abcdef0123456789abcdef"), std::string("ghost%20user"),
          std::string("USABCDEF0123456789ABCDEF0123456789"), std::string("mar%C3%ADa")}) {
      const std::string url = Users(s) + "/" + user;
      const std::string message = NotFoundMessage(QuotedPath(url));
      EXPECT_TRUE(IsError(rest_.Get(url), 404, 20404, message)) << s.name << " " << url;
      EXPECT_TRUE(IsError(rest_.Post(url, {{"FriendlyName", "x"}}), 404, 20404, message)) << s.name;
      EXPECT_TRUE(IsError(rest_.Delete(url), 404, 20404, message)) << s.name;
    }
  }
  // The message quotes the path as sent: e.g. /Services/IS.../Users/ghost%20user.
  EXPECT_TRUE(IsError(rest_.Get("/v2/Services/" + service_ + "/Users/ghost%20user"), 404, 20404,
                      NotFoundMessage("/Services/" + service_ + "/Users/ghost%20user")));
  EXPECT_TRUE(IsError(rest_.Get("https://conversations.twilio.com/v1/Users/ghost"), 404, 20404,
                      NotFoundMessage("/Users/ghost")));
}

TEST_F(RestErrorsTest, UnknownOrMalformedServiceIs404ForTheService) {
  for (const Surface& s : Surfaces()) {
    if (s.default_service) continue;
    for (const std::string& bad :
         {std::string("IS0123456789abcdef0123456789abcdef"), std::string("nope"),
          std::string("IS0123"), std::string("%49S0123")}) {
      const std::string message = NotFoundMessage("/Services/" + bad);
      const std::string users = s.prefix + bad + "/Users";
      EXPECT_TRUE(IsError(rest_.Get(users), 404, 20404, message)) << s.name << " " << bad;
      EXPECT_TRUE(IsError(rest_.Post(users, {{"Identity", "a"}}), 404, 20404, message));
      EXPECT_TRUE(IsError(rest_.Get(users + "/alice"), 404, 20404, message));
      EXPECT_TRUE(IsError(rest_.Post(users + "/alice", {}), 404, 20404, message));
      EXPECT_TRUE(IsError(rest_.Delete(users + "/alice"), 404, 20404, message));
      EXPECT_TRUE(IsError(rest_.Get(s.prefix + bad), 404, 20404, message));
      EXPECT_TRUE(IsError(rest_.Get(s.prefix + bad + "/Roles"), 404, 20404, message));
    }
  }
}

TEST_F(RestErrorsTest, WebhookHeaderMustBeTrueOrFalseWhereItExists) {
  for (const Surface& s : Surfaces()) {
    for (const char* value : {"TRUE", "1", "", "yes", "false "}) {
      const FormPairs header = {{"x-twilio-webhook-enabled", value}};
      Reply create = rest_.Post(Users(s), {{"Identity", "wh-" + s.name + value}}, header);
      const std::string sid = CreateUser(s, "wh2-" + s.name + value);
      Reply update = rest_.Post(Users(s) + "/" + sid, {{"FriendlyName", "n"}}, header);
      Reply del = rest_.Delete(Users(s) + "/" + sid, header);
      if (s.webhook_on_write) {
        EXPECT_TRUE(IsError(create, 400, 20001)) << s.name << " [" << value << "]";
        EXPECT_TRUE(IsError(update, 400, 20001)) << s.name;
      } else {
        EXPECT_EQ(create.status, 201) << s.name << ": header ignored";
        EXPECT_EQ(update.status, 200) << s.name;
      }
      if (s.webhook_on_delete) {
        EXPECT_TRUE(IsError(del, 400, 20001)) << s.name;
        EXPECT_EQ(rest_.Delete(Users(s) + "/" + sid).status, 204);
      } else {
        EXPECT_EQ(del.status, 204) << s.name << ": header ignored on delete";
      }
    }
    // Both valid values work where the header exists.
    EXPECT_EQ(rest_.Post(Users(s), {{"Identity", "wh-t" + s.name}}, kWebhookTrue).status, 201);
    EXPECT_EQ(rest_
                  .Post(Users(s), {{"Identity", "wh-f" + s.name}},
                        {{"X-Twilio-Webhook-Enabled", "false"}})
                  .status,
              201);
  }
}

TEST_F(RestErrorsTest, UpdateWithIdentityIs20001) {
  for (const Surface& s : Surfaces()) {
    const std::string sid = CreateUser(s, "immutable");
    EXPECT_TRUE(IsError(rest_.Post(Users(s) + "/" + sid, {{"Identity", "other"}}), 400, 20001))
        << s.name;
    EXPECT_EQ(rest_.Get(Users(s) + "/" + sid).Str("identity"), "immutable");
    EXPECT_EQ(rest_.Delete(Users(s) + "/" + sid).status, 204);
  }
}

TEST_F(RestErrorsTest, UnknownFormParametersAreIgnored) {
  for (const Surface& s : Surfaces()) {
    Reply r = rest_.Post(Users(s), {{"Identity", "extra"}, {"Color", "%FF"}, {"identity", "x"}});
    EXPECT_EQ(r.status, 201) << s.name << ": " << r.body;
    EXPECT_EQ(r.Str("identity"), "extra");
    // An unknown parameter with undecodable bytes is still ignored.
    userstore::HttpRequest raw;
    raw.method = "POST";
    raw.url = Users(s) + "/extra";
    raw.body = "Unknown=%FF%00&FriendlyName=ok";
    Reply u = rest_.Send(raw);
    EXPECT_EQ(u.status, 200) << u.body;
    EXPECT_EQ(rest_.Delete(Users(s) + "/extra").status, 204);
  }
}

TEST_F(RestErrorsTest, MethodsAPathDoesNotServeAre405) {
  const Surface& chat = Surfaces()[0];
  const std::string user = Users(chat) + "/" + CreateUser(chat, "m");
  const std::string role = "/v2/Services/" + service_ + "/Roles/" + service_role_;
  struct Row {
    std::string method, url;
  };
  const std::vector<Row> rows = {
      {"PUT", user},
      {"PATCH", user},
      {"HEAD", user},
      {"get", user},
      {"", user},
      {"DELETE", Users(chat)},
      {"PUT", Users(chat)},
      {"POST", role},
      {"DELETE", "/v2/Services"},
      {"DELETE", "/v1/Users"},
      {"PUT", "/v2/Services/" + service_},
      {"DELETE", "/v2/Services/" + service_ + "/Roles"},
  };
  for (const Row& r : rows) {
    EXPECT_TRUE(IsError(rest_.Call(r.method, r.url), 405, 20004, "Method not allowed"))
        << r.method << " " << r.url;
  }
}

TEST_F(RestErrorsTest, PathsThatDoNotExistAre404QuotingThePath) {
  struct Row {
    std::string url, quoted;
  };
  const std::string svc = service_;
  const std::vector<Row> rows = {
      {"/v2/Services/" + svc + "/Channels", "/Services/" + svc + "/Channels"},
      {"/v2/Services/" + svc + "/Users/a/Channels", "/Services/" + svc + "/Users/a/Channels"},
      {"/v3/Services", "/v3/Services"},
      {"/", "/"},
      {"/v2", "/"},
      {"/v2/Users", "/Users"},
      {"/v1/Users/a/b", "/Users/a/b"},
      {"/v2/Services/" + svc + "/Users/", "/Services/" + svc + "/Users/"},
      {"/v2/Services//Users", "/Services//Users"},
      {"/v2/Services/./Users", "/Services/./Users"},
      {"/v2/Services/" + svc + "/../Users", "/Services/" + svc + "/../Users"},
      {"https://chat.twilio.com/v1/Users", "/Users"},
      {"https://ip-messaging.twilio.com/v1/Users/x", "/Users/x"},
      {"https://conversations.twilio.com/v2/Services", "/Services"},
      {"https://conversations.twilio.com/v2/Services/" + svc + "/Users",
       "/Services/" + svc + "/Users"},
      {"/v2/services", "/services"},
  };
  for (const Row& r : rows) {
    for (const char* method : {"GET", "POST", "PUT"}) {
      EXPECT_TRUE(IsError(rest_.Call(method, r.url), 404, 20404, NotFoundMessage(r.quoted)))
          << method << " " << r.url;
    }
  }
}

TEST_F(RestErrorsTest, MalformedUrlsAndEscapesAre20001) {
  for (const char* url : {"", "chat.twilio.com/v2/Services", "https:///v2/Services",
                          "//chat.twilio.com/v2/Services"}) {
    EXPECT_TRUE(IsError(rest_.Get(url), 400, 20001)) << url;
  }
  const std::string users = "/v2/Services/" + service_ + "/Users";
  EXPECT_TRUE(IsError(rest_.Get(users + "/bad%zz"), 400, 20001));
  EXPECT_TRUE(IsError(rest_.Get(users + "/a%00b"), 400, 20001));
  EXPECT_TRUE(IsError(rest_.Get(users + "/%FF"), 400, 20001));
  userstore::HttpRequest raw;
  raw.method = "POST";
  raw.url = users;
  raw.body = "Identity=a%2";
  EXPECT_TRUE(IsError(rest_.Send(raw), 400, 20001));
  EXPECT_TRUE(IsError(rest_.Get(users + "?PageSize=%"), 400, 20001));
}

TEST_F(RestErrorsTest, ErrorBodiesStayValidJsonForAnyPathBytes) {
  // A raw (unencoded) invalid byte in an unknown path: the message quotes it
  // percent-encoded, so the body is still UTF-8 JSON (Send checks it parses
  // with UTF-8 validation).
  Reply r = rest_.Get("/v2/Nope\xFF\"x");
  EXPECT_TRUE(IsError(r, 404, 20404, NotFoundMessage("/Nope%FF\"x")));
}

TEST_F(RestErrorsTest, WebhookVetoIs403And50056OnlyWhenWebhooksAreEnabled) {
  // A veto without a message of its own gets Twilio's text.
  rest_.store().AddHook(userstore::HookType::kOnUserUpdate, [](const userstore::UserEvent&) {
    return absl::PermissionDeniedError("");
  });
  for (const Surface& s : Surfaces()) {
    const std::string sid = CreateUser(s, "veto");
    Reply vetoed = rest_.Post(Users(s) + "/" + sid, {{"FriendlyName", "x"}}, kWebhookTrue);
    if (s.webhook_on_write) {
      EXPECT_TRUE(IsError(vetoed, 403, 50056, "Webhook disabled processing of command")) << s.name;
    } else {
      EXPECT_EQ(vetoed.status, 200) << s.name << ": Chat v1 has no webhook header";
    }
    EXPECT_EQ(rest_.Post(Users(s) + "/" + sid, {{"FriendlyName", "y"}}).status, 200);
    EXPECT_EQ(rest_.Delete(Users(s) + "/" + sid).status, 204);
  }
}

// --- SEMANTICS 5: lists and pages --------------------------------------------------------

TEST_F(RestErrorsTest, PageSizeThatIsNotAPlainIntegerIs20001) {
  for (const Surface& s : Surfaces()) {
    for (const char* bad : {"abc", "1.5", "", "+5", " 5", "5 ", "0x10", "9223372036854775808",
                            "-9223372036854775809", "99999999999999999999", "-", "%2B5"}) {
      EXPECT_TRUE(IsError(rest_.Get(Users(s) + "?PageSize=" + bad), 400, 20001))
          << s.name << " PageSize=" << bad;
    }
    for (const char* below : {"0", "-5", "-0", "-9223372036854775808"}) {
      EXPECT_TRUE(IsError(rest_.Get(Users(s) + "?PageSize=" + below), 400, 20001))
          << s.name << " PageSize=" << below;
    }
    EXPECT_EQ(rest_.Get(Users(s) + "?PageSize=9223372036854775807").status, 200);
    EXPECT_EQ(rest_.Get(Users(s) + "?PageSize=007")["meta"]["page_size"].GetInt(), 7);
  }
}

TEST_F(RestErrorsTest, PageThatIsNotANonNegativeIntegerIs20001) {
  for (const Surface& s : Surfaces()) {
    for (const char* bad : {"-1", "x", "1.0", "", "+1", "99999999999999999999"}) {
      EXPECT_TRUE(IsError(rest_.Get(Users(s) + "?Page=" + bad), 400, 20001))
          << s.name << " Page=" << bad;
    }
  }
}

TEST_F(RestErrorsTest, PageTokensThatDoNotDecodeOrBelongElsewhereAre20001) {
  const Surface& chat_v2 = Surfaces()[0];
  const Surface& chat_v1 = Surfaces()[2];
  const Surface& conv = Surfaces()[4];
  for (int i = 0; i < 3; ++i) CreateUser(chat_v2, "p" + std::to_string(i));
  Reply first = rest_.Get(Users(chat_v2) + "?PageSize=1");
  ASSERT_EQ(first.status, 200);
  const std::string next = first["meta"]["next_page_url"].GetString();
  const std::string token = next.substr(next.find("PageToken=") + 10);
  ASSERT_EQ(token.substr(0, 2), "PA");
  EXPECT_EQ(rest_.Get(next).status, 200);

  for (const std::string& bad : {std::string("garbage"), std::string("PA"), token + "x",
                                 token.substr(0, token.size() - 1), std::string("%FF")}) {
    EXPECT_TRUE(IsError(rest_.Get(Users(chat_v2) + "?PageSize=1&PageToken=" + bad), 400, 20001))
        << bad;
  }
  // Another surface of the same service.
  EXPECT_TRUE(IsError(rest_.Get(Users(chat_v1) + "?PageSize=1&PageToken=" + token), 400, 20001));
  EXPECT_TRUE(IsError(rest_.Get(Users(conv) + "?PageSize=1&PageToken=" + token), 400, 20001));
  // Another service.
  Reply other = rest_.Post("/v2/Services", {{"FriendlyName", "other"}});
  EXPECT_TRUE(IsError(
      rest_.Get("/v2/Services/" + other.Str("sid") + "/Users?PageSize=1&PageToken=" + token), 400,
      20001));
  // Another collection (roles of the same service).
  EXPECT_TRUE(IsError(
      rest_.Get("/v2/Services/" + service_ + "/Roles?PageSize=1&PageToken=" + token), 400, 20001));
}

// --- SEMANTICS 6: services and roles -------------------------------------------------------

TEST_F(RestErrorsTest, ServiceWithoutFriendlyNameIs20001) {
  for (const char* list : {"/v2/Services", "https://chat.twilio.com/v1/Services",
                           "https://conversations.twilio.com/v1/Services"}) {
    EXPECT_TRUE(IsError(rest_.Post(list, {}), 400, 20001)) << list;
    EXPECT_TRUE(IsError(rest_.Post(list, {{"FriendlyName", std::string(257, 'n')}}), 400, 50003))
        << list;
  }
}

TEST_F(RestErrorsTest, ServiceUpdateParameters) {
  const std::string url = "/v2/Services/" + service_;
  for (const char* bad : {"yes", "True", "1", ""}) {
    EXPECT_TRUE(IsError(rest_.Post(url, {{"ReachabilityEnabled", bad}}), 400, 20001)) << bad;
  }
  EXPECT_TRUE(IsError(rest_.Post(url, {{"DefaultServiceRoleSid", "RLx"}}), 400, 20001));
  EXPECT_TRUE(
      IsError(rest_.Post(url, {{"DefaultServiceRoleSid", "RL0123456789abcdef0123456789abcdef"}}),
              400, 50100, "Role not found"));
  EXPECT_TRUE(IsError(rest_.Post(url, {{"DefaultServiceRoleSid", channel_role_}}), 400, 50105));
  Reply ok = rest_.Post(url, {{"ReachabilityEnabled", "true"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(ok["reachability_enabled"].GetBool());
}

TEST_F(RestErrorsTest, UnknownServiceAndTheDefaultServiceCannotBeDeleted) {
  const std::string ghost = "IS0123456789abcdef0123456789abcdef";
  for (const char* prefix : {"/v2/Services/", "https://chat.twilio.com/v1/Services/",
                             "https://conversations.twilio.com/v1/Services/"}) {
    const std::string url = prefix + ghost;
    const std::string message = NotFoundMessage("/Services/" + ghost);
    EXPECT_TRUE(IsError(rest_.Get(url), 404, 20404, message)) << url;
    EXPECT_TRUE(IsError(rest_.Post(url, {{"FriendlyName", "x"}}), 404, 20404, message));
    EXPECT_TRUE(IsError(rest_.Delete(url), 404, 20404, message));
  }
  EXPECT_TRUE(IsError(rest_.Delete("https://conversations.twilio.com/v1/Services/" +
                                   rest_.store().default_conversation_service_sid()),
                      400, 20001));
}

TEST_F(RestErrorsTest, RoleCreateNeedsNameTypeAndPermissions) {
  const std::string roles = "/v2/Services/" + service_ + "/Roles";
  EXPECT_TRUE(
      IsError(rest_.Post(roles, {{"Type", "deployment"}, {"Permission", "a"}}), 400, 20001));
  EXPECT_TRUE(IsError(rest_.Post(roles, {{"FriendlyName", "r"}, {"Permission", "a"}}), 400, 20001));
  EXPECT_TRUE(
      IsError(rest_.Post(roles, {{"FriendlyName", "r"}, {"Type", "deployment"}}), 400, 20001));
  EXPECT_TRUE(
      IsError(rest_.Post(roles, {{"FriendlyName", "r"}, {"Type", "admin"}, {"Permission", "a"}}),
              400, 20001));
  userstore::HttpRequest raw;
  raw.method = "POST";
  raw.url = roles;
  raw.body = "FriendlyName=r&Type=deployment&Permission=a&Permission=%FF";
  EXPECT_TRUE(IsError(rest_.Send(raw), 400, 20001));
  Reply ok = rest_.Post(roles, {{"FriendlyName", "r"},
                                {"Type", "channel"},
                                {"Permission", "sendMessage"},
                                {"Permission", "leaveChannel"}});
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok["permissions"].Size(), 2u);
}

TEST_F(RestErrorsTest, RoleInUseIs409And20409) {
  const std::string roles = "/v2/Services/" + service_ + "/Roles";
  Reply role = rest_.Post(
      roles, {{"FriendlyName", "vip"}, {"Type", "deployment"}, {"Permission", "sendMessage"}});
  ASSERT_EQ(role.status, 201) << role.body;
  const std::string rl = role.Str("sid");
  Reply user =
      rest_.Post("/v2/Services/" + service_ + "/Users", {{"Identity", "vip"}, {"RoleSid", rl}});
  ASSERT_EQ(user.status, 201) << user.body;
  EXPECT_TRUE(IsError(rest_.Delete(roles + "/" + rl), 409, 20409, "Role is in use"));
  for (const std::string& def : {service_role_, channel_role_}) {
    EXPECT_TRUE(IsError(rest_.Delete(roles + "/" + def), 409, 20409, "Role is in use"));
  }
  EXPECT_EQ(rest_.Delete("/v2/Services/" + service_ + "/Users/vip").status, 204);
  EXPECT_EQ(rest_.Delete(roles + "/" + rl).status, 204);
}

TEST_F(RestErrorsTest, UnknownRoleIs404QuotingThePath) {
  const std::string ghost = "RL0123456789abcdef0123456789abcdef";
  for (const char* prefix : {"/v2/Services/", "https://chat.twilio.com/v1/Services/",
                             "https://conversations.twilio.com/v1/Services/"}) {
    const std::string url = prefix + service_ + "/Roles/" + ghost;
    const std::string message = NotFoundMessage("/Services/" + service_ + "/Roles/" + ghost);
    EXPECT_TRUE(IsError(rest_.Get(url), 404, 20404, message)) << url;
    EXPECT_TRUE(IsError(rest_.Delete(url), 404, 20404, message)) << url;
    EXPECT_TRUE(IsError(rest_.Get(std::string(prefix) + service_ + "/Roles/nope"), 404, 20404,
                        NotFoundMessage("/Services/" + service_ + "/Roles/nope")));
  }
  EXPECT_TRUE(IsError(rest_.Get("/v2/Services/ISnope/Roles/" + ghost), 404, 20404,
                      NotFoundMessage("/Services/ISnope")));
}

}  // namespace
