// Page walks through REST (SEMANTICS 5): 1,000 users on every surface,
// followed forward by next_page_url and back by previous_page_url, with the
// meta URLs checked byte for byte.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/rest_testing.h"

#include "userstore/resources.h"
#include "userstore/user_store.h"

namespace {

using userstore_test::IsError;
using userstore_test::Keys;
using userstore_test::Reply;
using userstore_test::RestHarness;

constexpr int kUsers = 1000;

struct Surface {
  std::string name;
  std::string prefix;  // up to the service SID; the whole list URL when default
  bool default_service;
  int64_t max_page_size;
};

const std::vector<Surface>& Surfaces() {
  static const auto* s = new std::vector<Surface>{
      {"chat v2", "https://chat.twilio.com/v2/Services/", false, 100},
      {"chat v2 alias", "https://ip-messaging.twilio.com/v2/Services/", false, 100},
      {"chat v1", "https://chat.twilio.com/v1/Services/", false, 1000},
      {"chat v1 alias", "https://ip-messaging.twilio.com/v1/Services/", false, 1000},
      {"conversations service", "https://conversations.twilio.com/v1/Services/", false, 50},
      {"conversations default", "https://conversations.twilio.com/v1/Users", true, 50},
  };
  return *s;
}

// 1,000 users in one service and 1,000 in the default conversation service,
// made once through the C++ API (the walks are what is under test).
class RestPagesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rest_ = new RestHarness(11);
    Reply s = rest_->Post("/v2/Services", {{"FriendlyName", "pages"}});
    ASSERT_EQ(s.status, 201);
    service_ = new std::string(s.Str("sid"));
    for (const std::string& svc : {*service_, rest_->store().default_conversation_service_sid()}) {
      for (int i = 0; i < kUsers; ++i) {
        userstore::CreateUserRequest req;
        req.identity = Identity(i);
        ASSERT_TRUE(rest_->store().CreateUser(svc, req).ok());
      }
    }
  }
  static void TearDownTestSuite() {
    delete rest_;
    delete service_;
    rest_ = nullptr;
    service_ = nullptr;
  }

  static std::string Identity(int i) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "user%04d", i);
    return buf;
  }

  static std::string Base(const Surface& s) {
    return s.default_service ? s.prefix : s.prefix + *service_ + "/Users";
  }

  static std::string PageUrl(const Surface& s, int64_t size, int64_t page) {
    return Base(s) + "?PageSize=" + std::to_string(size) + "&Page=" + std::to_string(page);
  }

  // Walks forward from the first page of `size`, then back from the last page;
  // checks order, completeness and every meta URL.
  static void Walk(const Surface& s, int64_t size) {
    SCOPED_TRACE(s.name + " PageSize=" + std::to_string(size));
    const int64_t effective = std::min(size, s.max_page_size);
    std::vector<std::string> seen;
    std::vector<std::string> page_urls;  // url of each page, as followed
    std::string url = Base(s) + "?PageSize=" + std::to_string(size);
    int64_t page = 0;
    std::string previous_url_of_last;
    while (true) {
      Reply r = rest_->Get(url);
      ASSERT_EQ(r.status, 200) << url << " " << r.body.substr(0, 300);
      const auto& meta = r["meta"];
      ASSERT_EQ(meta["page"].GetInt64(), page);
      ASSERT_EQ(meta["page_size"].GetInt64(), effective);
      ASSERT_EQ(std::string(meta["key"].GetString()), "users");
      ASSERT_EQ(std::string(meta["first_page_url"].GetString()), PageUrl(s, effective, 0));
      if (page == 0) {
        ASSERT_EQ(std::string(meta["url"].GetString()), PageUrl(s, effective, 0));
        ASSERT_TRUE(meta["previous_page_url"].IsNull());
      } else {
        // The page reached through next_page_url names itself with that URL.
        ASSERT_EQ(std::string(meta["url"].GetString()), url);
        const std::string prev = meta["previous_page_url"].GetString();
        ASSERT_EQ(prev.rfind(PageUrl(s, effective, page - 1) + "&PageToken=PB", 0), 0u) << prev;
      }
      page_urls.push_back(meta["url"].GetString());
      const auto& users = r["users"];
      ASSERT_LE(users.Size(), static_cast<rapidjson::SizeType>(effective));
      for (const auto& u : users.GetArray()) {
        seen.emplace_back(u["identity"].GetString());
        ASSERT_TRUE(u["is_online"].IsNull());
        ASSERT_TRUE(u["is_notifiable"].IsNull());
        const std::string sid = u["sid"].GetString();
        ASSERT_EQ(std::string(u["url"].GetString()), Base(s) + "/" + sid);
      }
      if (meta["next_page_url"].IsNull()) {
        ASSERT_EQ(users.Size(), kUsers - effective * page) << "only the last page may be short";
        if (page > 0) previous_url_of_last = meta["previous_page_url"].GetString();
        break;
      }
      ASSERT_EQ(users.Size(), static_cast<rapidjson::SizeType>(effective));
      const std::string next = meta["next_page_url"].GetString();
      ASSERT_EQ(next.rfind(PageUrl(s, effective, page + 1) + "&PageToken=PA", 0), 0u) << next;
      url = next;
      ++page;
    }
    ASSERT_EQ(seen.size(), static_cast<size_t>(kUsers));
    for (int i = 0; i < kUsers; ++i) ASSERT_EQ(seen[i], Identity(i));
    const int64_t pages = (kUsers + effective - 1) / effective;
    ASSERT_EQ(page + 1, pages);

    // Back from the last page by previous_page_url, to the first.
    std::vector<std::string> back;
    url = previous_url_of_last;
    int64_t p = page - 1;
    while (!url.empty()) {
      Reply r = rest_->Get(url);
      ASSERT_EQ(r.status, 200) << url;
      const auto& meta = r["meta"];
      ASSERT_EQ(meta["page"].GetInt64(), p);
      ASSERT_EQ(std::string(meta["url"].GetString()), url);
      ASSERT_FALSE(meta["next_page_url"].IsNull());
      const auto& users = r["users"];
      ASSERT_EQ(users.Size(), static_cast<rapidjson::SizeType>(effective));
      for (rapidjson::SizeType i = users.Size(); i > 0; --i) {
        back.emplace_back(users[i - 1]["identity"].GetString());
      }
      url = meta["previous_page_url"].IsNull() ? "" : meta["previous_page_url"].GetString();
      --p;
    }
    ASSERT_EQ(p, -1) << "the walk back must end at page 0";
    // Every page but the last, newest first.
    ASSERT_EQ(back.size(), static_cast<size_t>(effective * (pages - 1)));
    for (size_t i = 0; i < back.size(); ++i) {
      ASSERT_EQ(back[i], Identity(static_cast<int>(back.size() - 1 - i)));
    }
  }

  static RestHarness* rest_;
  static std::string* service_;
};

RestHarness* RestPagesTest::rest_ = nullptr;
std::string* RestPagesTest::service_ = nullptr;

TEST_F(RestPagesTest, WalksEverySurfaceForwardAndBack) {
  for (const Surface& s : Surfaces()) {
    for (int64_t size : {int64_t{37}, int64_t{50}, int64_t{100}}) {
      Walk(s, size);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(RestPagesTest, PageSizeOneVisitsEveryUser) {
  Walk(Surfaces()[0], 1);
  Walk(Surfaces()[5], 1);
}

TEST_F(RestPagesTest, PageSizeIsClampedToTheSurfaceMaximum) {
  for (const Surface& s : Surfaces()) {
    for (const char* huge : {"1001", "5000", "9223372036854775807"}) {
      Reply r = rest_->Get(Base(s) + "?PageSize=" + huge);
      ASSERT_EQ(r.status, 200) << s.name;
      EXPECT_EQ(r["meta"]["page_size"].GetInt64(), s.max_page_size) << s.name;
      EXPECT_EQ(r["users"].Size(), static_cast<rapidjson::SizeType>(s.max_page_size)) << s.name;
      EXPECT_EQ(std::string(r["meta"]["url"].GetString()), PageUrl(s, s.max_page_size, 0));
    }
  }
  // Chat v1 serves all 1,000 in one page.
  Walk(Surfaces()[2], 1000);
}

TEST_F(RestPagesTest, DefaultPageSizeIs50AndAppearsInTheUrls) {
  for (const Surface& s : Surfaces()) {
    Reply r = rest_->Get(Base(s));
    ASSERT_EQ(r.status, 200);
    const auto& meta = r["meta"];
    EXPECT_EQ(meta["page"].GetInt64(), 0);
    EXPECT_EQ(meta["page_size"].GetInt64(), 50);
    EXPECT_EQ(std::string(meta["url"].GetString()), PageUrl(s, 50, 0));
    EXPECT_EQ(std::string(meta["first_page_url"].GetString()), PageUrl(s, 50, 0));
    EXPECT_TRUE(meta["previous_page_url"].IsNull());
    EXPECT_EQ(std::string(meta["next_page_url"].GetString())
                  .rfind(PageUrl(s, 50, 1) + "&PageToken=PA", 0),
              0u);
    EXPECT_EQ(Keys(meta),
              (std::vector<std::string>{"page", "page_size", "first_page_url", "previous_page_url",
                                        "url", "next_page_url", "key"}));
    EXPECT_EQ(Keys(*r.json), (std::vector<std::string>{"meta", "users"}));
  }
}

TEST_F(RestPagesTest, PageIsEchoedButTheTokenDecidesThePosition) {
  const Surface& s = Surfaces()[0];
  Reply r = rest_->Get(Base(s) + "?PageSize=10&Page=7");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r["meta"]["page"].GetInt64(), 7);
  EXPECT_EQ(std::string(r["meta"]["url"].GetString()), PageUrl(s, 10, 7));
  EXPECT_EQ(std::string(r["users"][0]["identity"].GetString()), Identity(0));
  EXPECT_TRUE(r["meta"]["previous_page_url"].IsNull()) << "no token: no previous page";
  const std::string next = r["meta"]["next_page_url"].GetString();
  EXPECT_EQ(next.rfind(PageUrl(s, 10, 8) + "&PageToken=PA", 0), 0u) << next;
  // The same token with another Page number gives the same users.
  const std::string token = next.substr(next.find("&PageToken=") + 11);
  Reply a = rest_->Get(Base(s) + "?PageSize=10&Page=8&PageToken=" + token);
  Reply b = rest_->Get(Base(s) + "?PageSize=10&Page=0&PageToken=" + token);
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(std::string(a["users"][0]["identity"].GetString()), Identity(10));
  EXPECT_EQ(std::string(b["users"][0]["identity"].GetString()), Identity(10));
  EXPECT_EQ(b["meta"]["page"].GetInt64(), 0);
  EXPECT_EQ(std::string(b["meta"]["url"].GetString()), PageUrl(s, 10, 0) + "&PageToken=" + token);
  // Previous from Page=0 stays at Page=0 (never negative).
  EXPECT_EQ(std::string(b["meta"]["previous_page_url"].GetString())
                .rfind(PageUrl(s, 10, 0) + "&PageToken=PB", 0),
            0u);
}

TEST_F(RestPagesTest, PresenceIsNullInListsEvenWithReachabilityOn) {
  RestHarness rest;
  Reply svc = rest.Post("/v2/Services", {{"FriendlyName", "reach"}});
  const std::string sid = svc.Str("sid");
  ASSERT_EQ(rest.Post("/v2/Services/" + sid, {{"ReachabilityEnabled", "true"}}).status, 200);
  ASSERT_EQ(rest.Post("/v2/Services/" + sid + "/Users", {{"Identity", "on"}}).status, 201);
  userstore::PresenceUpdate presence;
  presence.is_online = true;
  presence.is_notifiable = false;
  ASSERT_TRUE(rest.store().SetPresence(sid, "on", presence).ok());
  Reply one = rest.Get("/v2/Services/" + sid + "/Users/on");
  EXPECT_TRUE(one["is_online"].IsBool() && one["is_online"].GetBool());
  EXPECT_TRUE(one["is_notifiable"].IsBool() && !one["is_notifiable"].GetBool());
  Reply list = rest.Get("/v2/Services/" + sid + "/Users");
  EXPECT_TRUE(list["users"][0]["is_online"].IsNull());
  EXPECT_TRUE(list["users"][0]["is_notifiable"].IsNull());
}

TEST_F(RestPagesTest, TokensSurviveDeletesAndSeeLaterCreates) {
  RestHarness rest;
  const std::string users = "/v2/Services/" + rest.CreateService() + "/Users";
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(rest.Post(users, {{"Identity", Identity(i)}}).status, 201);
  }
  Reply first = rest.Get(users + "?PageSize=2");
  const std::string next = first["meta"]["next_page_url"].GetString();
  // Delete the last user of the first page and the first of the next one.
  ASSERT_EQ(rest.Delete(users + "/" + Identity(1)).status, 204);
  ASSERT_EQ(rest.Delete(users + "/" + Identity(2)).status, 204);
  ASSERT_EQ(rest.Post(users, {{"Identity", "late"}}).status, 201);
  Reply second = rest.Get(next);
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_EQ(second["users"].Size(), 2u);
  EXPECT_EQ(std::string(second["users"][0]["identity"].GetString()), Identity(3));
  EXPECT_EQ(std::string(second["users"][1]["identity"].GetString()), Identity(4));
  Reply third = rest.Get(second["meta"]["next_page_url"].GetString());
  ASSERT_EQ(third.status, 200);
  ASSERT_EQ(third["users"].Size(), 1u);
  EXPECT_EQ(std::string(third["users"][0]["identity"].GetString()), "late");
  EXPECT_TRUE(third["meta"]["next_page_url"].IsNull());
}

TEST_F(RestPagesTest, EmptyListHasNoNextOrPrevious) {
  RestHarness rest;
  const std::string users =
      "https://chat.twilio.com/v2/Services/" + rest.CreateService() + "/Users";
  Reply r = rest.Get(users + "?PageSize=3");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r["users"].Size(), 0u);
  EXPECT_TRUE(r["meta"]["next_page_url"].IsNull());
  EXPECT_TRUE(r["meta"]["previous_page_url"].IsNull());
  EXPECT_EQ(std::string(r["meta"]["url"].GetString()), users + "?PageSize=3&Page=0");
}

TEST_F(RestPagesTest, ServicesAndRolesArePagedLikeUsers) {
  RestHarness rest;
  for (int i = 0; i < 5; ++i) rest.CreateService("s" + std::to_string(i));
  // Six services: the default conversation service and five.
  std::vector<std::string> names;
  std::string url = "https://chat.twilio.com/v2/Services?PageSize=2";
  while (!url.empty()) {
    Reply r = rest.Get(url);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(std::string(r["meta"]["key"].GetString()), "services");
    for (const auto& s : r["services"].GetArray())
      names.emplace_back(s["friendly_name"].GetString());
    url = r["meta"]["next_page_url"].IsNull() ? "" : r["meta"]["next_page_url"].GetString();
  }
  ASSERT_EQ(names.size(), 6u);
  EXPECT_EQ(names.back(), "s4");
  const std::string svc = rest.CreateService("roles");
  Reply roles = rest.Get("/v2/Services/" + svc + "/Roles?PageSize=3");
  ASSERT_EQ(roles.status, 200);
  EXPECT_EQ(std::string(roles["meta"]["key"].GetString()), "roles");
  EXPECT_EQ(roles["roles"].Size(), 3u);
  Reply rest_of = rest.Get(roles["meta"]["next_page_url"].GetString());
  EXPECT_EQ(rest_of["roles"].Size(), 1u);
  EXPECT_TRUE(rest_of["meta"]["next_page_url"].IsNull());
  EXPECT_TRUE(IsError(rest.Get("/v2/Services?PageSize=0"), 400, 20001));
}

}  // namespace
