// The replay protocol (core/rest/replay.h, SEMANTICS 8): line parsing, the
// 400/20001 answer to bad lines, and byte-identical output for the same input,
// seed and clock, including the golden session in docs/examples.

#include "core/rest/replay.h"

#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/time_format.h"

namespace userstore {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// The options of the golden session: --seed 42 --now 2026-01-01T00:00:00Z.
std::unique_ptr<UserStore> GoldenStore(uint64_t seed = 42) {
  StoreOptions options;
  options.seed = seed;
  options.clock = std::make_shared<ManualClock>(*ParseIsoTime("2026-01-01T00:00:00Z"));
  return std::make_unique<UserStore>(options);
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

bool IsBlank(const std::string& line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string::npos;
}

// Replays `lines` (blank ones skipped, as the tool does) on a fresh store.
std::vector<std::string> Replay(const std::vector<std::string>& lines, uint64_t seed = 42) {
  std::unique_ptr<UserStore> store = GoldenStore(seed);
  Dispatcher dispatcher(store.get());
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    if (IsBlank(line)) continue;
    out.push_back(ReplayOneLine(dispatcher, line));
  }
  return out;
}

// --- ParseReplayLine ---------------------------------------------------------------

TEST(ParseReplayLineTest, FullRequest) {
  absl::StatusOr<HttpRequest> r = ParseReplayLine(
      R"({"method": "POST", "url": "https://chat.twilio.com/v2/Services/IS1/Users",)"
      R"( "headers": {"X-Twilio-Webhook-Enabled": "true"},)"
      R"( "form": {"Identity": "alice", "Attributes": "{\"level\": 3}"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, "https://chat.twilio.com/v2/Services/IS1/Users");
  EXPECT_THAT(r->headers, ElementsAre(Pair("X-Twilio-Webhook-Enabled", "true")));
  EXPECT_EQ(r->body, "Identity=alice&Attributes=%7B%22level%22%3A+3%7D");
}

TEST(ParseReplayLineTest, FormArraysRepeatTheParameter) {
  absl::StatusOr<HttpRequest> r =
      ParseReplayLine(R"({"method":"POST","url":"/v2/Services/IS1/Roles",)"
                      R"("form":{"Permission":["a","b c"],"Type":"channel","Empty":[]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "Permission=a&Permission=b+c&Type=channel");
}

TEST(ParseReplayLineTest, FormStringIsUsedAsIs) {
  absl::StatusOr<HttpRequest> r =
      ParseReplayLine(R"({"method":"POST","url":"/v1/Users","form":"Identity=a%20b&X=1"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "Identity=a%20b&X=1");
}

TEST(ParseReplayLineTest, GetFormBecomesTheQuery) {
  absl::StatusOr<HttpRequest> a =
      ParseReplayLine(R"({"method":"GET","url":"/v1/Users","form":{"PageSize":"5"}})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->url, "/v1/Users?PageSize=5");
  EXPECT_EQ(a->body, "");
  absl::StatusOr<HttpRequest> b =
      ParseReplayLine(R"({"method":"GET","url":"/v1/Users?Page=1","form":"PageSize=5"})");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->url, "/v1/Users?Page=1&PageSize=5");
}

TEST(ParseReplayLineTest, OptionalMembersMayBeAbsentOrNull) {
  absl::StatusOr<HttpRequest> r =
      ParseReplayLine(R"({"method":"DELETE","url":"/v1/Users/a","headers":null,"form":null,)"
                      R"("comment":"unknown members are ignored"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->headers.empty());
  EXPECT_EQ(r->body, "");
}

TEST(ParseReplayLineTest, EscapedNulReachesTheRequest) {
  absl::StatusOr<HttpRequest> r =
      ParseReplayLine(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"a\u0000b"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "Identity=a%00b");
}

TEST(ParseReplayLineTest, RejectsWhatIsNotARequestObject) {
  const std::vector<std::string> bad = {
      "",
      "not json",
      "{",
      "[]",
      "\"GET\"",
      "42",
      "null",
      R"({"url":"/v1/Users"})",
      R"({"method":"GET"})",
      R"({"method":1,"url":"/v1/Users"})",
      R"({"method":"GET","url":["/v1/Users"]})",
      R"({"method":"GET","url":"/v1/Users","headers":[]})",
      R"({"method":"GET","url":"/v1/Users","headers":{"A":1}})",
      R"({"method":"POST","url":"/v1/Users","form":42})",
      R"({"method":"POST","url":"/v1/Users","form":["Identity=a"]})",
      R"({"method":"POST","url":"/v1/Users","form":{"Identity":1}})",
      R"({"method":"POST","url":"/v1/Users","form":{"Identity":["a",2]}})",
      R"({"method":"POST","url":"/v1/Users","form":{"Identity":{"a":"b"}}})",
      R"({"method":"POST","url":"/v1/Users","form":{"Identity":[["a"]]}})",
      R"({"method":"GET","url":"/v1/Users","note":[[["deeper than a request"]]]})",
      R"({"method":"GET","url":"/v1/Users"} trailing)",
      R"({"method":"GET","url":"/v1/Users\ud800"})",     // lone surrogate
      "{\"method\":\"GET\",\"url\":\"/v1/Users\xFF\"}",  // not UTF-8
  };
  for (const std::string& line : bad) {
    absl::StatusOr<HttpRequest> r = ParseReplayLine(line);
    EXPECT_FALSE(r.ok()) << line;
    if (!r.ok()) {
      EXPECT_EQ(ErrorCodeOf(r.status()), ErrorCode::kInvalidParameter) << line;
      EXPECT_EQ(HttpStatusOf(r.status()), 400);
      EXPECT_THAT(std::string(r.status().message()), HasSubstr("Invalid replay line")) << line;
    }
  }
}

TEST(ParseReplayLineTest, FirstOfARepeatedMemberWinsAndUnknownMembersAreSkipped) {
  absl::StatusOr<HttpRequest> r = ParseReplayLine(
      R"({"note":{"x":[1,true,null]},"method":"POST","url":"/v1/Users","method":"GET",)"
      R"("form":{"Identity":"a b","Role":["x","y"]},"form":"ignored"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, "/v1/Users");
  EXPECT_EQ(r->body, "Identity=a+b&Role=x&Role=y");
}

TEST(ParseReplayLineTest, DeepNestingIsAnErrorNotACrash) {
  const std::string deep(1000000, '[');
  EXPECT_FALSE(ParseReplayLine(deep).ok());
  const std::string deep_form = R"({"method":"POST","url":"/v1/Users","form":)" +
                                std::string(200000, '[') + std::string(200000, ']') + "}";
  EXPECT_FALSE(ParseReplayLine(deep_form).ok());
}

// --- RenderReplayLine / ReplayOneLine ----------------------------------------------

TEST(RenderReplayLineTest, EmptyBodyIsNull) {
  HttpResponse r;
  r.status = 204;
  EXPECT_EQ(RenderReplayLine(r), R"({"status":204,"body":null})");
  r.status = 200;
  r.body = R"({"a":1})";
  EXPECT_EQ(RenderReplayLine(r), R"({"status":200,"body":{"a":1}})");
}

TEST(ReplayOneLineTest, BadLinesGet400And20001AndReplayGoesOn) {
  std::unique_ptr<UserStore> store = GoldenStore();
  Dispatcher dispatcher(store.get());
  const std::string bad = ReplayOneLine(dispatcher, "{\"method\": \"GET\"");
  rapidjson::Document d;
  d.Parse(bad.c_str());
  ASSERT_FALSE(d.HasParseError()) << bad;
  EXPECT_EQ(d["status"].GetInt(), 400);
  EXPECT_EQ(d["body"]["code"].GetInt(), 20001);
  EXPECT_EQ(d["body"]["status"].GetInt(), 400);
  EXPECT_EQ(std::string(d["body"]["more_info"].GetString()),
            "https://www.twilio.com/docs/errors/20001");
  EXPECT_EQ(bad.find('\n'), std::string::npos);

  // The store is untouched and usable after a bad line.
  const std::string ok =
      ReplayOneLine(dispatcher, R"({"method":"POST","url":"/v1/Users","form":{"Identity":"z"}})");
  EXPECT_EQ(ok.rfind(R"({"status":201,"body":{"sid":"US)", 0), 0u) << ok;
  const std::string del = ReplayOneLine(dispatcher, R"({"method":"DELETE","url":"/v1/Users/z"})");
  EXPECT_EQ(del, R"({"status":204,"body":null})");
}

TEST(ReplayOneLineTest, DispatcherErrorsAreRenderedAsBodies) {
  std::unique_ptr<UserStore> store = GoldenStore();
  Dispatcher dispatcher(store.get());
  EXPECT_EQ(ReplayOneLine(dispatcher, R"({"method":"GET","url":"/v1/Users/nobody"})"),
            R"({"status":404,"body":{"code":20404,"message":"The requested resource )"
            R"(/Users/nobody was not found","more_info":"https://www.twilio.com/docs/errors/)"
            R"(20404","status":404}})");
}

TEST(ReplayOneLineTest, OutputIsOneLineEvenForAttributesWithNewlines) {
  std::unique_ptr<UserStore> store = GoldenStore();
  Dispatcher dispatcher(store.get());
  const std::string out = ReplayOneLine(
      dispatcher,
      R"({"method":"POST","url":"/v1/Users","form":{"Identity":"nl","Attributes":"{\n\"a\":\t1\n}"}})");
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;
  EXPECT_THAT(out, HasSubstr(R"("attributes":"{\n\"a\":\t1\n}")"));
}

// --- determinism and the golden session -------------------------------------------

TEST(ReplayGoldenTest, SessionMatchesTheExpectedOutput) {
  const std::vector<std::string> input =
      ReadLines(std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.jsonl");
  const std::vector<std::string> expected =
      ReadLines(std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.out.jsonl");
  ASSERT_FALSE(input.empty());
  const std::vector<std::string> got = Replay(input);
  ASSERT_EQ(got.size(), expected.size())
      << "one output line per non-blank input line. To regenerate after an intended change:\n"
         "  userstore replay --seed 42 --now 2026-01-01T00:00:00Z docs/examples/session.jsonl "
         "> docs/examples/session.out.jsonl";
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], expected[i]) << "output line " << i + 1;
  }
}

TEST(ReplayGoldenTest, SessionCoversEverySurfaceAndOutcome) {
  const std::vector<std::string> expected =
      ReadLines(std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.out.jsonl");
  std::set<int> statuses;
  std::string all;
  for (const std::string& line : expected) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    ASSERT_FALSE(d.HasParseError()) << line;
    statuses.insert(d["status"].GetInt());
    all += line;
  }
  EXPECT_EQ(statuses, (std::set<int>{200, 201, 204, 400, 404, 405, 409}));
  for (const char* needle :
       {"https://chat.twilio.com/v2/Services/", "https://ip-messaging.twilio.com/v2/Services/",
        "https://chat.twilio.com/v1/Services/", "https://conversations.twilio.com/v1/Services/",
        "https://conversations.twilio.com/v1/Users/", "\"code\":50201", "\"code\":50304",
        "\"code\":20404", "ana maría@example.com", "PageToken=PA", "PageToken=PB"}) {
    EXPECT_THAT(all, HasSubstr(needle));
  }
}

TEST(ReplayGoldenTest, SameInputSeedAndClockGiveIdenticalBytes) {
  const std::vector<std::string> input =
      ReadLines(std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.jsonl");
  const std::vector<std::string> a = Replay(input, 7);
  const std::vector<std::string> b = Replay(input, 7);
  EXPECT_EQ(a, b);
  // ... and the seed matters (the SIDs differ).
  const std::vector<std::string> c = Replay(input, 8);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a[0], c[0]);
}

}  // namespace
}  // namespace internal
}  // namespace userstore
