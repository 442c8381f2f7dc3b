// Control lines of `userstore replay` (core/rest/replay.h, docs/replay.md):
// the clock, rate limits, faults, clear, remove and the record, each answered
// with exactly one line; malformed control lines answered 400/20001 with the
// replay going on; response headers in answer lines.

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

#include "userstore/fault_injection.h"
#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/rest/replay.h"
#include "core/time_format.h"

namespace userstore {
namespace internal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A parsed answer line.
struct Answer {
  int status = 0;
  rapidjson::Document json;
  std::string line;

  const rapidjson::Value& body() const { return json["body"]; }
  int code() const {
    return body().IsObject() && body().HasMember("code") ? body()["code"].GetInt() : 0;
  }
  std::string message() const {
    return body().IsObject() && body().HasMember("message") ? body()["message"].GetString() : "";
  }
};

class ReplayControlTest : public ::testing::Test {
 protected:
  explicit ReplayControlTest(bool manual_clock = true) {
    StoreOptions options;
    options.seed = 3;
    if (manual_clock) {
      clock_ = std::make_shared<ManualClock>(*ParseIsoTime("2026-01-01T00:00:00Z"));
      options.clock = clock_;
    }
    store_ = std::make_unique<UserStore>(options);
    session_ = std::make_unique<ReplaySession>(store_.get(), clock_);
  }

  Answer Line(const std::string& line) {
    Answer a;
    a.line = session_->HandleLine(line);
    a.json.Parse(a.line.c_str(), a.line.size());
    EXPECT_FALSE(a.json.HasParseError()) << a.line;
    EXPECT_EQ(a.line.find('\n'), std::string::npos) << "one line: " << a.line;
    if (!a.json.HasParseError() && a.json.IsObject() && a.json.HasMember("status")) {
      a.status = a.json["status"].GetInt();
    }
    return a;
  }

  Answer Create(const std::string& identity) {
    return Line(R"({"method":"POST","url":"/v1/Users","form":{"Identity":")" + identity + R"("}})");
  }

  // The line must be refused as a bad line, with `why` in its message.
  void ExpectBad(const std::string& line, const std::string& why) {
    Answer a = Line(line);
    EXPECT_EQ(a.status, 400) << line << " -> " << a.line;
    EXPECT_EQ(a.code(), 20001) << line << " -> " << a.line;
    EXPECT_THAT(a.message(), HasSubstr(why)) << line;
  }

  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<UserStore> store_;
  std::unique_ptr<ReplaySession> session_;
};

TEST_F(ReplayControlTest, ClockAdvancesAndSets) {
  EXPECT_EQ(Line(R"({"control":"clock","advance_seconds":90})").line,
            R"({"status":200,"body":{"control":"clock","now":"2026-01-01T00:01:30Z"}})");
  EXPECT_EQ(Line(R"({"control":"clock","advance_seconds":0.5})").line,
            R"({"status":200,"body":{"control":"clock","now":"2026-01-01T00:01:30Z"}})");
  EXPECT_EQ(Line(R"({"control":"clock","set":"2027-06-01T12:00:00Z"})").line,
            R"({"status":200,"body":{"control":"clock","now":"2027-06-01T12:00:00Z"}})");
  // The store runs on the same clock.
  Answer created = Create("alice");
  ASSERT_EQ(created.status, 201);
  EXPECT_STREQ(created.body()["date_created"].GetString(), "2027-06-01T12:00:00Z");

  ExpectBad(R"({"control":"clock"})", "one of \"advance_seconds\" and \"set\"");
  ExpectBad(R"({"control":"clock","advance_seconds":1,"set":"2027-06-01T12:00:00Z"})", "one of");
  ExpectBad(R"({"control":"clock","advance_seconds":-1})", "advance_seconds");
  ExpectBad(R"({"control":"clock","advance_seconds":"5"})", "must be a number");
  ExpectBad(R"({"control":"clock","advance_seconds":1e300})", "advance_seconds");
  ExpectBad(R"({"control":"clock","set":"tomorrow"})", "2026-01-01T00:00:00Z");
  ExpectBad(R"({"control":"clock","set":[1]})", "must be a string");
}

class ReplayControlSystemClockTest : public ReplayControlTest {
 protected:
  ReplayControlSystemClockTest() : ReplayControlTest(/*manual_clock=*/false) {}
};

TEST_F(ReplayControlSystemClockTest, ClockNeedsNow) {
  ExpectBad(R"({"control":"clock","advance_seconds":1})", "--now");
  // The other controls work on the system clock.
  EXPECT_EQ(Line(R"({"control":"fault","code":20503})").status, 200);
  EXPECT_EQ(Create("a").status, 503);
}

TEST_F(ReplayControlTest, RateLimitAnswers429WithRetryAfterUntilTheClockMoves) {
  EXPECT_EQ(
      Line(
          R"({"control":"rate_limit","per_second":0.5,"burst":2,"method":"POST","path":"/v1/Users*"})")
          .line,
      R"({"status":200,"body":{"control":"rate_limit","id":1}})");
  EXPECT_EQ(Create("a").status, 201);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users/a"})").status, 200) << "GET not limited";
  EXPECT_EQ(Create("b").status, 201);
  Answer refused = Create("c");
  EXPECT_EQ(
      refused.line,
      R"({"status":429,"headers":{"Retry-After":"2"},"body":{"code":20429,)"
      R"("message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429",)"
      R"("status":429}})");
  EXPECT_EQ(Line(R"({"control":"clock","advance_seconds":1})").status, 200);
  EXPECT_THAT(Create("c").line, StartsWith(R"({"status":429,"headers":{"Retry-After":"1"},)"));
  EXPECT_EQ(Line(R"({"control":"clock","advance_seconds":1})").status, 200);
  EXPECT_EQ(Create("c").status, 201);
}

TEST_F(ReplayControlTest, RateLimitWith50063AndWithoutRetryAfter) {
  EXPECT_EQ(Line(R"({"control":"rate_limit","per_second":1,"burst":1,"code":50063,)"
                 R"("retry_after":false})")
                .status,
            200);
  EXPECT_EQ(Create("a").status, 201);
  EXPECT_EQ(Create("b").line,
            R"({"status":429,"body":{"code":50063,"message":"Actions per second limit exceeded",)"
            R"("more_info":"https://www.twilio.com/docs/errors/50063","status":429}})");
}

TEST_F(ReplayControlTest, MalformedRateLimits) {
  ExpectBad(R"({"control":"rate_limit","burst":1})", "\"per_second\" is required");
  ExpectBad(R"({"control":"rate_limit","per_second":1})", "\"burst\" is required");
  ExpectBad(R"({"control":"rate_limit","per_second":0,"burst":1})", "requests_per_second");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1.5})",
            "\"burst\" must be an integer");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":0})", "burst");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1,"code":20503})", "20429 or 50063");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1,"code":99999})", "\"code\"");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1,"path":"Users"})", "path");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1,"method":5})",
            "\"method\" must be a string");
  ExpectBad(R"({"control":"rate_limit","per_second":1,"burst":1,"retry_after":"no"})",
            "true or false");
  // None of them was added: requests pass.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Create("u" + std::to_string(i)).status, 201);
}

TEST_F(ReplayControlTest, FaultTimesEveryAndProbability) {
  EXPECT_EQ(Line(R"({"control":"fault","status":503,"code":20503,"method":"GET",)"
                 R"("path":"*/Users/*","times":2})")
                .line,
            R"({"status":200,"body":{"control":"fault","id":1}})");
  ASSERT_EQ(Create("a").status, 201);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users/a"})").status, 503);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users/a"})").status, 503);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users/a"})").status, 200);

  EXPECT_EQ(Line(R"({"control":"fault","code":20500,"every":2,"method":"GET"})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 500);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 500);
  EXPECT_EQ(Line(R"({"control":"clear"})").line, R"({"status":200,"body":{"control":"clear"}})");

  // A fault without a trigger is the next matching request.
  EXPECT_EQ(Line(R"({"control":"fault","code":20409})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").code(), 20409);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 200);

  // Probability under a seed: the same pattern from a fresh session.
  auto pattern = [](uint64_t seed) {
    StoreOptions options;
    options.seed = 1;
    UserStore store(options);
    ReplaySession session(&store, nullptr);
    session.HandleLine(R"({"control":"fault","code":20503,"probability":0.3,"seed":)" +
                       std::to_string(seed) + "}");
    std::string out;
    for (int i = 0; i < 40; ++i) {
      const std::string answer = session.HandleLine(R"({"method":"GET","url":"/v1/Users"})");
      out.push_back(answer.rfind(R"({"status":503)", 0) == 0 ? 'x' : '.');
    }
    return out;
  };
  EXPECT_EQ(pattern(77), pattern(77));
  EXPECT_NE(pattern(77), pattern(78));
  EXPECT_NE(pattern(77).find('x'), std::string::npos);
  EXPECT_NE(pattern(77).find('.'), std::string::npos);
  EXPECT_EQ(pattern(18446744073709551615ULL), pattern(18446744073709551615ULL));
}

TEST_F(ReplayControlTest, FaultWithStatusMessageAndRetryAfter) {
  EXPECT_EQ(Line(R"({"control":"fault","status":502,"code":20500,"message":"Bad Gateway",)"
                 R"("retry_after":3})")
                .status,
            200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").line,
            R"({"status":502,"headers":{"Retry-After":"3"},"body":{"code":20500,)"
            R"("message":"Bad Gateway","more_info":"https://www.twilio.com/docs/errors/20500",)"
            R"("status":502}})");
}

TEST_F(ReplayControlTest, LostAcknowledgementThenTheRetryMeets50201) {
  EXPECT_EQ(
      Line(
          R"({"control":"fault","status":503,"code":20503,"method":"POST","times":1,"apply":true})")
          .status,
      200);
  EXPECT_EQ(Create("alice").status, 503);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users/alice"})").status, 200);
  Answer retry = Create("alice");
  EXPECT_EQ(retry.status, 409);
  EXPECT_EQ(retry.code(), 50201);

  Answer record = Line(R"({"control":"injected"})");
  EXPECT_EQ(record.line,
            R"({"status":200,"body":{"control":"injected","injected":[{"id":1,"method":"POST",)"
            R"("url":"/v1/Users","status":503,"code":20503,"retry_after":null,"applied":true,)"
            R"("served_status":201,"time":"2026-01-01T00:00:00Z"}]}})");
}

TEST_F(ReplayControlTest, InjectedClearAndRemove) {
  EXPECT_EQ(Line(R"({"control":"fault","code":20503,"every":1})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 503);
  EXPECT_EQ(Line(R"({"control":"clock","advance_seconds":2})").status, 200);
  EXPECT_EQ(Line(R"({"method":"DELETE","url":"/v1/Users/x"})").status, 503);
  Answer record = Line(R"({"control":"injected","clear":true})");
  ASSERT_EQ(record.status, 200);
  const rapidjson::Value& list = record.body()["injected"];
  ASSERT_EQ(list.Size(), 2u);
  EXPECT_STREQ(list[0]["method"].GetString(), "GET");
  EXPECT_TRUE(list[0]["served_status"].IsNull());
  EXPECT_FALSE(list[0]["applied"].GetBool());
  EXPECT_STREQ(list[1]["method"].GetString(), "DELETE");
  EXPECT_STREQ(list[1]["time"].GetString(), "2026-01-01T00:00:02Z");
  EXPECT_EQ(Line(R"({"control":"injected"})").line,
            R"({"status":200,"body":{"control":"injected","injected":[]}})");

  EXPECT_EQ(Line(R"({"control":"remove","id":1})").line,
            R"({"status":200,"body":{"control":"remove","id":1,"removed":true}})");
  EXPECT_EQ(Line(R"({"control":"remove","id":1})").line,
            R"({"status":200,"body":{"control":"remove","id":1,"removed":false}})");
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").status, 200);
  ExpectBad(R"({"control":"remove"})", "\"id\" is required");
}

TEST_F(ReplayControlTest, MalformedControlLinesGet400AndReplayGoesOn) {
  ExpectBad(R"({"control":"frobnicate"})", "unknown control \"frobnicate\"");
  ExpectBad(R"({"control":7})", "\"control\" must be a string");
  ExpectBad(R"({"control":{"a":1}})", "\"control\" must be a string");
  ExpectBad(R"({"control":"clear","url":"/v1/Users"})", "either \"control\" or \"url\"");
  ExpectBad(R"({"control":"fault"})", "\"code\" is required");
  ExpectBad(R"({"control":"fault","code":"20503"})", "\"code\" must be an integer");
  ExpectBad(R"({"control":"fault","code":12345})", "12345");
  ExpectBad(R"({"control":"fault","code":20503,"status":200})", "400..599");
  ExpectBad(R"({"control":"fault","code":20503,"times":1,"every":2})", "one of");
  ExpectBad(R"({"control":"fault","code":20503,"times":0})", "times");
  ExpectBad(R"({"control":"fault","code":20503,"every":-2})", "every");
  ExpectBad(R"({"control":"fault","code":20503,"probability":2})", "probability");
  ExpectBad(R"({"control":"fault","code":20503,"probability":0.5,"seed":-1})", "seed");
  ExpectBad(R"({"control":"fault","code":20503,"seed":1})", "\"seed\" goes with");
  ExpectBad(R"({"control":"fault","code":20503,"apply":1})", "true or false");
  ExpectBad(R"({"control":"fault","code":20503,"retry_after":-1})", "retry_after");
  ExpectBad(R"({"control":"injected","clear":"yes"})", "true or false");
  ExpectBad(R"({"control":"clear")", "not JSON");
  ExpectBad(R"({"control":"fault","code":20503,"message":")" + std::string(5000, 'm') + R"("})",
            "\"message\" is longer than 4096 bytes");
  // A long member of that name in a request is an unknown member, ignored.
  EXPECT_EQ(
      Line(R"({"method":"GET","url":"/v1/Users","message":")" + std::string(5000, 'm') + R"("})")
          .status,
      200);
  // Nothing was added; requests pass and the record is empty.
  EXPECT_EQ(Create("a").status, 201);
  EXPECT_EQ(Line(R"({"control":"injected"})").body()["injected"].Size(), 0u);
}

TEST_F(ReplayControlTest, UnknownMembersOfControlLinesAreIgnored) {
  EXPECT_EQ(Line(R"({"comment":"x","control":"clear","nested":{"a":[1]}})").status, 200);
  // The first of a repeated member counts.
  EXPECT_EQ(Line(R"({"control":"fault","code":20500,"code":20503})").status, 200);
  EXPECT_EQ(Line(R"({"method":"GET","url":"/v1/Users"})").code(), 20500);
}

// docs/examples/faults.jsonl replayed in process gives faults.out.jsonl (the
// ctest cli.replay checks the same through the built tool).
TEST(ReplayFaultsGoldenTest, SessionMatchesTheExpectedOutput) {
  auto read_lines = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  };
  const std::string dir = std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/";
  const std::vector<std::string> input = read_lines(dir + "faults.jsonl");
  const std::vector<std::string> expected = read_lines(dir + "faults.out.jsonl");
  StoreOptions options;
  options.seed = 42;
  auto clock = std::make_shared<ManualClock>(*ParseIsoTime("2026-01-01T00:00:00Z"));
  options.clock = clock;
  UserStore store(options);
  ReplaySession session(&store, clock);
  std::vector<std::string> got;
  for (const std::string& line : input) got.push_back(session.HandleLine(line));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "line " << i + 1;
  // The session shows each kind of injected answer.
  EXPECT_THAT(expected[3], StartsWith(R"({"status":429,"headers":{"Retry-After":"1"})"));
  EXPECT_THAT(expected[8], StartsWith(R"({"status":503,)"));
  EXPECT_THAT(expected[12], StartsWith(R"({"status":409,"body":{"code":50201)"));
  EXPECT_THAT(expected[15], StartsWith(R"({"status":429,"body":{"code":50063)"));
}

TEST(ReplayOneLineControlTest, ControlLinesNeedASession) {
  UserStore store;
  Dispatcher dispatcher(&store);
  EXPECT_THAT(ReplayOneLine(dispatcher, R"({"control":"clear"})"),
              HasSubstr("control lines need a replay session"));
}

TEST(RenderReplayLineTest, HeadersAreWrittenBetweenStatusAndBodyAndEscaped) {
  HttpResponse r;
  r.status = 429;
  r.body = R"({"a":1})";
  r.headers = {{"Retry-After", "5"}, {"X-\"Odd\"", "a\\b"}, {"Retry-After", "9"}};
  EXPECT_EQ(RenderReplayLine(r),
            R"({"status":429,"headers":{"Retry-After":"5","X-\"Odd\"":"a\\b"},"body":{"a":1}})");
}

}  // namespace
}  // namespace internal
}  // namespace userstore
