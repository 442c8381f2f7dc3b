// The REST layer's own behaviour (docs/rest.md): routing by host and path,
// URLs built from the host the request named, the rendering of each surface
// (field names and order), services and roles, and the parameter rules that
// belong to HTTP rather than to the store.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/testing/rest_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/rest.h"

#include "core/rest/render.h"
#include "core/time_format.h"

namespace {

using ::testing::ElementsAre;
using userstore_test::Keys;
using userstore_test::Reply;
using userstore_test::RestHarness;

const std::vector<std::string> kChatKeys = {"sid",           "account_sid",
                                            "service_sid",   "role_sid",
                                            "identity",      "attributes",
                                            "is_online",     "is_notifiable",
                                            "friendly_name", "joined_channels_count",
                                            "date_created",  "date_updated",
                                            "links",         "url"};
const std::vector<std::string> kChatListItemKeys = {
    "sid",           "account_sid",  "service_sid",  "role_sid",
    "identity",      "attributes",   "is_online",    "is_notifiable",
    "friendly_name", "date_created", "date_updated", "joined_channels_count",
    "links",         "url"};
const std::vector<std::string> kConversationsKeys = {
    "sid",           "account_sid",   "chat_service_sid", "role_sid",
    "identity",      "friendly_name", "attributes",       "is_online",
    "is_notifiable", "date_created",  "date_updated",     "url",
    "links"};

class RestDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { service_ = rest_.CreateService("dispatch"); }
  RestHarness rest_;
  std::string service_;
};

TEST_F(RestDispatcherTest, OneUserRenderedBySurface) {
  Reply created = rest_.Post("https://chat.twilio.com/v2/Services/" + service_ + "/Users",
                             {{"Identity", "alice"}, {"FriendlyName", "Alice"}});
  ASSERT_EQ(created.status, 201);
  const std::string sid = created.Str("sid");
  EXPECT_EQ(Keys(*created.json), kChatKeys);
  EXPECT_EQ(created.Str("attributes"), "{}");
  EXPECT_EQ(created["joined_channels_count"].GetInt(), 0);
  const std::string v2 = "https://chat.twilio.com/v2/Services/" + service_ + "/Users/" + sid;
  EXPECT_EQ(created.Str("url"), v2);
  EXPECT_EQ(Keys(created["links"]), (std::vector<std::string>{"user_channels", "user_bindings"}));
  EXPECT_EQ(std::string(created["links"]["user_channels"].GetString()), v2 + "/Channels");
  EXPECT_EQ(std::string(created["links"]["user_bindings"].GetString()), v2 + "/Bindings");

  Reply v1 = rest_.Get("https://chat.twilio.com/v1/Services/" + service_ + "/Users/alice");
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(Keys(*v1.json), kChatKeys);
  const std::string v1url = "https://chat.twilio.com/v1/Services/" + service_ + "/Users/" + sid;
  EXPECT_EQ(v1.Str("url"), v1url);
  EXPECT_EQ(Keys(v1["links"]), (std::vector<std::string>{"user_channels"}));
  EXPECT_EQ(std::string(v1["links"]["user_channels"].GetString()), v1url + "/Channels");

  Reply conv =
      rest_.Get("https://conversations.twilio.com/v1/Services/" + service_ + "/Users/" + sid);
  ASSERT_EQ(conv.status, 200);
  EXPECT_EQ(Keys(*conv.json), kConversationsKeys);
  EXPECT_EQ(conv.Str("chat_service_sid"), service_);
  const std::string cu =
      "https://conversations.twilio.com/v1/Services/" + service_ + "/Users/" + sid;
  EXPECT_EQ(conv.Str("url"), cu);
  EXPECT_EQ(Keys(conv["links"]), (std::vector<std::string>{"user_conversations"}));
  EXPECT_EQ(std::string(conv["links"]["user_conversations"].GetString()), cu + "/Conversations");
  EXPECT_EQ(conv.Str("friendly_name"), "Alice");
  EXPECT_EQ(conv.Str("identity"), "alice");
}

TEST_F(RestDispatcherTest, DefaultServiceUsersHaveUsersUrls) {
  Reply r = rest_.Post("https://conversations.twilio.com/v1/Users", {{"Identity", "d"}});
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(Keys(*r.json), kConversationsKeys);
  EXPECT_EQ(r.Str("chat_service_sid"), rest_.store().default_conversation_service_sid());
  EXPECT_EQ(r.Str("url"), "https://conversations.twilio.com/v1/Users/" + r.Str("sid"));
  // The same user through the service path gets the service URL.
  Reply s = rest_.Get("https://conversations.twilio.com/v1/Services/" +
                      rest_.store().default_conversation_service_sid() + "/Users/d");
  EXPECT_EQ(s.Str("url"), "https://conversations.twilio.com/v1/Services/" +
                              rest_.store().default_conversation_service_sid() + "/Users/" +
                              r.Str("sid"));
}

TEST_F(RestDispatcherTest, ListItemsKeepTheFixtureOrder) {
  ASSERT_EQ(rest_.Post("/v2/Services/" + service_ + "/Users", {{"Identity", "x"}}).status, 201);
  Reply chat = rest_.Get("/v2/Services/" + service_ + "/Users");
  EXPECT_EQ(Keys(chat["users"][0]), kChatListItemKeys);
  Reply conv = rest_.Get("https://conversations.twilio.com/v1/Services/" + service_ + "/Users");
  EXPECT_EQ(Keys(conv["users"][0]), kConversationsKeys);
}

// The dispatcher renders list pages inside the store's walk
// (UserPageRenderer); the body must be the one rendered from the copied page
// (ListUsers + RenderUserPage), on every surface, for pages whose users need
// escaping and whose array outgrows the renderer's first buffer.
TEST_F(RestDispatcherTest, StreamedUserPagesMatchCopiedPages) {
  for (int i = 0; i < 120; ++i) {
    std::string attributes =
        i % 3 == 0 ? R"({"n":)" + std::to_string(i) + R"(,"s":"q\"t\n\u00e9"})" : "{}";
    if (i == 7) attributes = "\"" + std::string(15000, 'x') + "\"";  // a 15 kB user
    userstore::CreateUserRequest request;
    request.identity = "user " + std::to_string(i) + (i % 5 == 0 ? " \xc3\xa9\t\"" : "");
    request.attributes = attributes;
    if (i % 2 == 0) request.friendly_name = "F<" + std::to_string(i) + ">";
    ASSERT_TRUE(rest_.store().CreateUser(service_, request).ok()) << i;
  }
  struct Case {
    std::string base;
    userstore::Surface surface;
    std::string host;
  };
  const std::vector<Case> cases = {
      {"https://chat.twilio.com/v2/Services/" + service_ + "/Users", userstore::Surface::kChatV2,
       "chat.twilio.com"},
      {"https://chat.twilio.com/v1/Services/" + service_ + "/Users", userstore::Surface::kChatV1,
       "chat.twilio.com"},
      {"https://conversations.twilio.com/v1/Services/" + service_ + "/Users",
       userstore::Surface::kConversations, "conversations.twilio.com"},
  };
  for (const Case& c : cases) {
    std::string token;
    int page_number = 0;
    int pages = 0;
    do {
      std::string url = c.base + "?PageSize=50&Page=" + std::to_string(page_number);
      if (!token.empty()) url += "&PageToken=" + token;
      Reply streamed = rest_.Get(url);
      ASSERT_EQ(streamed.status, 200) << url;

      userstore::ListRequest list;
      list.page_size = 50;
      list.page_token = token;
      list.surface = c.surface;
      absl::StatusOr<userstore::UserPage> page = rest_.store().ListUsers(service_, list);
      ASSERT_TRUE(page.ok()) << page.status();
      userstore::internal::RenderContext ctx;
      ctx.surface = c.surface;
      ctx.host = c.host;
      userstore::internal::PageQuery query;
      query.page = page_number;
      query.page_token = token;
      EXPECT_EQ(streamed.body, userstore::internal::RenderUserPage(ctx, service_, *page, query))
          << url;
      EXPECT_EQ(streamed["users"].Size(), page->items.size());
      token = page->next_page_token;  // URL-safe base64: no escaping needed
      ++page_number;
      ++pages;
    } while (!token.empty() && pages < 10);
    EXPECT_EQ(pages, 3) << c.base;
  }
}

// Pages rendered inside the walk while another thread creates and deletes
// users of the same service: every page is whole JSON holding distinct users
// in creation order (run under TSan by the tsan preset).
TEST_F(RestDispatcherTest, UserPagesRenderWhileTheServiceChanges) {
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(
        rest_.Post("/v2/Services/" + service_ + "/Users", {{"Identity", "u" + std::to_string(i)}})
            .status,
        201);
  }
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    userstore::HttpRequest create;
    create.method = "POST";
    create.url = "/v2/Services/" + service_ + "/Users";
    for (int i = 0; !stop.load(); ++i) {
      const std::string identity = "w" + std::to_string(i);
      create.body = userstore::FormEncode({{"Identity", identity}});
      rest_.dispatcher().Handle(create);
      userstore::HttpRequest del;
      del.method = "DELETE";
      del.url = "/v2/Services/" + service_ + "/Users/u" + std::to_string(i % 200);
      rest_.dispatcher().Handle(del);
    }
  });
  // Stops and joins the writer however the test leaves (a failed ASSERT
  // returns early; a joinable thread destroyed would end the process).
  struct StopAndJoin {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopAndJoin() {
      stop.store(true);
      thread.join();
    }
  } stop_and_join{stop, writer};
  for (int round = 0; round < 30; ++round) {
    userstore::HttpRequest list;
    list.method = "GET";
    list.url = "/v2/Services/" + service_ + "/Users?PageSize=50";
    userstore::HttpResponse r = rest_.dispatcher().Handle(list);
    ASSERT_EQ(r.status, 200);
    rapidjson::Document doc;
    doc.Parse(r.body.c_str(), r.body.size());
    ASSERT_FALSE(doc.HasParseError()) << r.body;
    // Creation order: the remaining "u<i>" by i, then the "w<i>" by i.
    std::set<std::string> sids;
    std::vector<std::pair<int, int>> order;  // (0 for u, 1 for w; i)
    for (const auto& user : doc["users"].GetArray()) {
      EXPECT_TRUE(sids.insert(user["sid"].GetString()).second);
      const std::string identity = user["identity"].GetString();
      order.emplace_back(identity[0] == 'w' ? 1 : 0, std::stoi(identity.substr(1)));
    }
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << r.body;
    EXPECT_EQ(order.size(), 50u);
  }
}

TEST_F(RestDispatcherTest, UrlsUseTheHostTheRequestNamed) {
  const std::string path = "/v2/Services/" + service_ + "/Users";
  Reply alias = rest_.Post("https://ip-messaging.twilio.com" + path, {{"Identity", "h1"}});
  EXPECT_EQ(alias.Str("url").rfind("https://ip-messaging.twilio.com/v2/", 0), 0u);
  Reply none = rest_.Get(path + "/h1");
  EXPECT_EQ(none.Str("url").rfind("https://chat.twilio.com/v2/", 0), 0u);
  Reply upper = rest_.Get("https://IP-Messaging.Twilio.com:443" + path + "/h1");
  EXPECT_EQ(upper.Str("url").rfind("https://ip-messaging.twilio.com/v2/", 0), 0u);
  Reply other = rest_.Get("http://localhost:8080" + path + "?PageSize=1");
  EXPECT_EQ(std::string(other["meta"]["url"].GetString()),
            "https://localhost" + path + "?PageSize=1&Page=0");
  Reply none_conv = rest_.Get("/v1/Users");
  EXPECT_EQ(std::string(none_conv["meta"]["url"].GetString()),
            "https://conversations.twilio.com/v1/Users?PageSize=50&Page=0");
  // A path-only /v1/Services request is Chat v1.
  Reply v1 = rest_.Get("/v1/Services/" + service_ + "/Users/h1");
  EXPECT_EQ(Keys(*v1.json), kChatKeys);
  EXPECT_EQ(v1.Str("url").rfind("https://chat.twilio.com/v1/", 0), 0u);
}

TEST_F(RestDispatcherTest, IdentitiesInPathsArePercentDecoded) {
  const std::string users = "/v2/Services/" + service_ + "/Users";
  for (const std::string& id : {std::string("ana maría@example.com"), std::string("a+b"),
                                std::string("x/y?z#w"), std::string("100%"), std::string("..")}) {
    Reply c = rest_.Post(users, {{"Identity", id}});
    ASSERT_EQ(c.status, 201) << id << " " << c.body;
    Reply f = rest_.Get(users + "/" + userstore::PercentEncodePathSegment(id));
    ASSERT_EQ(f.status, 200) << id;
    EXPECT_EQ(f.Str("identity"), id);
    EXPECT_EQ(f.Str("url"), "https://chat.twilio.com" + users + "/" + c.Str("sid"));
  }
  // '+' in a path is a plus, not a space.
  EXPECT_EQ(rest_.Get(users + "/a+b").Str("identity"), "a+b");
}

TEST_F(RestDispatcherTest, UpdateAndDelete) {
  const std::string users = "/v2/Services/" + service_ + "/Users";
  Reply c = rest_.Post(users, {{"Identity", "u"}});
  rest_.clock().Advance(absl::Seconds(5));
  Reply same = rest_.Post(users + "/u", {});
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.body, rest_.Get(users + "/u").body);
  EXPECT_EQ(same.Str("date_updated"), c.Str("date_updated"));
  Reply changed =
      rest_.Post(users + "/" + c.Str("sid"), {{"FriendlyName", "U"}, {"Attributes", " [ 1 ] "}});
  EXPECT_EQ(changed.Str("friendly_name"), "U");
  EXPECT_EQ(changed.Str("attributes"), " [ 1 ] ");
  EXPECT_NE(changed.Str("date_updated"), c.Str("date_updated"));
  userstore::HttpRequest del;
  del.method = "DELETE";
  del.url = users + "/u";
  userstore::HttpResponse r = rest_.dispatcher().Handle(del);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(rest_.Get(users + "/u").status, 404);
}

TEST_F(RestDispatcherTest, FormRulesOfTheRestLayer) {
  const std::string users = "/v2/Services/" + service_ + "/Users";
  // The first of repeated parameters wins; a POST's query string is not read.
  Reply r = rest_.Post(users + "?Identity=fromquery",
                       {{"Identity", "first"}, {"Identity", "second"}, {"FriendlyName", "F"}});
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.Str("identity"), "first");
  // Header names are case-insensitive.
  EXPECT_EQ(rest_.Post(users, {{"Identity", "h"}}, {{"x-TWILIO-webhook-ENABLED", "nope"}}).status,
            400);
  // An empty FriendlyName is supplied (and set), not absent.
  Reply e = rest_.Post(users + "/first", {{"FriendlyName", ""}});
  EXPECT_EQ(e.status, 200);
  EXPECT_TRUE(e["friendly_name"].IsString());
}

TEST_F(RestDispatcherTest, ServicesAndRolesRender) {
  Reply s = rest_.Get("https://chat.twilio.com/v2/Services/" + service_);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(Keys(*s.json),
            (std::vector<std::string>{
                "sid", "account_sid", "friendly_name", "date_created", "date_updated",
                "default_service_role_sid", "default_channel_role_sid",
                "default_channel_creator_role_sid", "reachability_enabled", "url", "links"}));
  const std::string url = "https://chat.twilio.com/v2/Services/" + service_;
  EXPECT_EQ(s.Str("url"), url);
  EXPECT_EQ(std::string(s["links"]["users"].GetString()), url + "/Users");
  EXPECT_EQ(std::string(s["links"]["roles"].GetString()), url + "/Roles");
  EXPECT_FALSE(s["reachability_enabled"].GetBool());
  Reply conv = rest_.Get("https://conversations.twilio.com/v1/Services/" + service_);
  EXPECT_EQ(conv.Str("url"), "https://conversations.twilio.com/v1/Services/" + service_);

  Reply roles = rest_.Get(url + "/Roles");
  ASSERT_EQ(roles.status, 200);
  ASSERT_EQ(roles["roles"].Size(), 4u);
  std::vector<std::string> names;
  for (const auto& r : roles["roles"].GetArray())
    names.emplace_back(r["friendly_name"].GetString());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("service admin", "service user",
                                                     "channel admin", "channel user"));
  const auto& role = roles["roles"][0];
  EXPECT_EQ(Keys(role),
            (std::vector<std::string>{"sid", "account_sid", "service_sid", "friendly_name", "type",
                                      "permissions", "date_created", "date_updated", "url"}));
  EXPECT_EQ(std::string(role["url"].GetString()), url + "/Roles/" + role["sid"].GetString());
  Reply conv_role = rest_.Get("https://conversations.twilio.com/v1/Services/" + service_ +
                              "/Roles/" + role["sid"].GetString());
  EXPECT_EQ(Keys(*conv_role.json)[2], "chat_service_sid");
  Reply created = rest_.Post(url + "/Roles", {{"FriendlyName", "mod"},
                                              {"Type", "deployment"},
                                              {"Permission", "sendMessage"},
                                              {"Permission", "editAnyMessage"}});
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(created.Str("type"), "deployment");
  EXPECT_THAT(std::vector<std::string>(
                  {created["permissions"][0].GetString(), created["permissions"][1].GetString()}),
              ElementsAre("sendMessage", "editAnyMessage"));
  EXPECT_EQ(rest_.Get(url + "/Roles/" + created.Str("sid")).body, created.body);
  EXPECT_EQ(rest_.Delete(url + "/Roles/" + created.Str("sid")).status, 204);
  EXPECT_EQ(rest_.Delete(url).status, 204);
  EXPECT_EQ(rest_.Get(url).status, 404);
}

TEST(RenderTest, AppendIsoTimeMatchesFormatIsoTime) {
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int64_t> secs(-62135596800LL, 253402300799LL);  // years 1..9999
  std::vector<int64_t> samples = {0,          -1,           1458853519,  951782400 /* 2000-02-29 */,
                                  4107542399, 253402300799, -62135596800};
  for (int i = 0; i < 20000; ++i) samples.push_back(secs(rng));
  for (int64_t s : samples) {
    const absl::Time t = absl::FromUnixSeconds(s) + absl::Milliseconds(s % 1000 < 0 ? 0 : 999);
    std::string fast;
    userstore::internal::AppendIsoTime(t, &fast);
    ASSERT_EQ(fast, userstore::internal::FormatIsoTime(t)) << s;
  }
  std::string known;
  userstore::internal::AppendIsoTime(absl::FromUnixSeconds(1458853519), &known);
  EXPECT_EQ(known, "2016-03-24T21:05:19Z");
}

// The renderer's own string escaping must equal rapidjson's.
// SIDs and dates are written without the escaping scan; URLs skip it only
// when their base (host and path) needs no escaping. A base that does (not
// reachable through the dispatcher, which accepts DNS hosts only) is escaped.
TEST(RenderTest, UrlsWithABaseThatNeedsEscapingAreEscaped) {
  userstore::User user;
  user.sid = "US0123456789abcdef0123456789abcdef";
  user.account_sid = "AC0123456789abcdef0123456789abcdef";
  user.service_sid = "IS0123456789abcdef0123456789abcdef";
  user.role_sid = "RL0123456789abcdef0123456789abcdef";
  user.identity = "id\"1";
  user.attributes = "{\"a\":1}";
  for (const char* host : {"chat.twilio.com", "we\"ird\\host"}) {
    userstore::internal::RenderContext ctx;
    ctx.surface = userstore::Surface::kChatV2;
    ctx.host = host;
    const std::string body = userstore::internal::RenderUser(ctx, user);
    rapidjson::Document doc;
    doc.Parse(body.c_str(), body.size());
    ASSERT_FALSE(doc.HasParseError()) << body;
    const std::string base =
        std::string("https://") + host + "/v2/Services/" + user.service_sid + "/Users/" + user.sid;
    EXPECT_EQ(doc["url"].GetString(), base) << body;
    EXPECT_EQ(doc["links"]["user_channels"].GetString(), base + "/Channels") << body;
    EXPECT_EQ(doc["links"]["user_bindings"].GetString(), base + "/Bindings") << body;
    EXPECT_EQ(doc["identity"].GetString(), user.identity);
    EXPECT_EQ(doc["sid"].GetString(), user.sid);
    EXPECT_EQ(doc["date_created"].GetString(), std::string("1970-01-01T00:00:00Z"));
  }
}

TEST(RenderTest, EscapingMatchesRapidJson) {
  // An empty message means "the default message" (see ErrorBodyShape).
  std::vector<std::string> samples = {"plain",
                                      "a\"b",
                                      "back\\slash",
                                      "\b\f\n\r\t",
                                      "\x01\x1f\x7f",
                                      "/slash",
                                      "caf\xC3\xA9 \xE2\x82\xAC",
                                      "12345678\"",
                                      "1234567\n89",
                                      std::string(40, '"')};
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  samples.push_back(all);
  // Multi-byte UTF-8 is copied as it is, before and after an escape.
  samples.push_back(
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n\xC3\xA9");
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s(1 + rng() % 40, ' ');
    for (char& c : s) c = static_cast<char>(1 + rng() % 0x7F);
    samples.push_back(s);
  }
  for (const std::string& s : samples) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("code");
    w.Int(20001);
    w.Key("message");
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    w.Key("more_info");
    w.String("https://www.twilio.com/docs/errors/20001");
    w.Key("status");
    w.Int(400);
    w.EndObject();
    ASSERT_EQ(userstore::internal::RenderError(userstore::InvalidParameterError(s)),
              buffer.GetString())
        << s;
  }
}

TEST(RenderTest, ErrorBodyShape) {
  EXPECT_EQ(userstore::internal::RenderError(
                userstore::MakeError(userstore::ErrorCode::kUserAlreadyExists)),
            R"({"code":50201,"message":"User already exists",)"
            R"("more_info":"https://www.twilio.com/docs/errors/50201","status":409})");
  EXPECT_EQ(userstore::internal::RenderError(userstore::NotFoundError("/Users/a\"b")),
            R"({"code":20404,"message":"The requested resource /Users/a\"b was not found",)"
            R"("more_info":"https://www.twilio.com/docs/errors/20404","status":404})");
}

}  // namespace
