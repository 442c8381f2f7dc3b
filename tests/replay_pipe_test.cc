// `userstore replay` as a co-process: the built tool is spawned with pipes on
// its standard input and output, and each answer must arrive after its own
// line is written and before the next one is (with the input still open).
// Every wait is bounded (poll() with a 30 s cap), so a tool that answers only
// at end of input fails the test instead of hanging it.

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/co_process.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using userstore_testing::CoProcess;
using userstore_testing::kCapMillis;

#ifdef USERSTORE_CLI_PATH

class ReplayPipeTest : public ::testing::Test {
 protected:
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }
};

TEST_F(ReplayPipeTest, EachAnswerComesBeforeTheNextLineIsWritten) {
  CoProcess tool({USERSTORE_CLI_PATH, "replay", "--seed", "1", "--now", "2026-01-01T00:00:00Z"});
  ASSERT_EQ(tool.error(), "");

  EXPECT_THAT(tool.Ask(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"alice"}})"),
              StartsWith(R"({"status":201,"body":{"sid":"US)"));
  EXPECT_THAT(tool.Ask(R"({"method":"GET","url":"/v1/Users/alice"})"),
              StartsWith(R"({"status":200,"body":{"sid":"US)"));
  EXPECT_EQ(tool.Ask(R"({"control":"rate_limit","per_second":1,"burst":1,"method":"POST"})"),
            R"({"status":200,"body":{"control":"rate_limit","id":1}})");
  EXPECT_THAT(tool.Ask(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"bob"}})"),
              StartsWith(R"({"status":201,)"));
  EXPECT_EQ(
      tool.Ask(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"carol"}})"),
      R"({"status":429,"headers":{"Retry-After":"1"},"body":{"code":20429,)"
      R"("message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429",)"
      R"("status":429}})");
  EXPECT_EQ(tool.Ask(R"({"control":"clock","advance_seconds":1})"),
            R"({"status":200,"body":{"control":"clock","now":"2026-01-01T00:00:01Z"}})");
  EXPECT_THAT(tool.Ask(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"carol"}})"),
              StartsWith(R"({"status":201,)"));
  EXPECT_THAT(tool.Ask("not json"), StartsWith(R"({"status":400,"body":{"code":20001,)"));
  EXPECT_THAT(tool.Ask(R"({"control":"injected"})"),
              HasSubstr(R"("url":"/v1/Users","status":429,"code":20429,"retry_after":"1")"));

  std::string rest;
  EXPECT_EQ(tool.Finish(&rest), 0);
  EXPECT_EQ(rest, "") << "no output after the last answer";
}

TEST_F(ReplayPipeTest, BlankLinesGetNoAnswerAndDoNotHoldBackTheNext) {
  CoProcess tool({USERSTORE_CLI_PATH, "replay", "--seed", "2"});
  ASSERT_EQ(tool.error(), "");
  ASSERT_TRUE(tool.Write(""));
  ASSERT_TRUE(tool.Write("   "));
  EXPECT_THAT(tool.Ask(R"({"method":"GET","url":"/v1/Users/nobody"})"),
              StartsWith(R"({"status":404,)"));
  // Without --now, the clock cannot be moved; the answer says why.
  EXPECT_THAT(tool.Ask(R"({"control":"clock","advance_seconds":1})"), HasSubstr("--now"));
  std::string rest;
  EXPECT_EQ(tool.Finish(&rest), 0);
  EXPECT_EQ(rest, "");
}

TEST_F(ReplayPipeTest, LinesWrittenTogetherAreAllAnsweredWithTheInputStillOpen) {
  CoProcess tool({USERSTORE_CLI_PATH, "replay", "--seed", "3"});
  ASSERT_EQ(tool.error(), "");
  // Three lines in one write: the tool reads them ahead in one go, and must
  // still flush every answer before it waits for more input.
  ASSERT_TRUE(tool.Write(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"a"}})"
                         "\n"
                         R"({"method":"POST","url":"/v1/Users","form":{"Identity":"a"}})"
                         "\n"
                         R"({"method":"DELETE","url":"/v1/Users/a"})"));
  bool timed_out = false;
  EXPECT_THAT(tool.ReadLine(&timed_out), StartsWith(R"({"status":201,)"));
  EXPECT_THAT(tool.ReadLine(&timed_out), StartsWith(R"({"status":409,)"));
  EXPECT_EQ(tool.ReadLine(&timed_out), R"({"status":204,"body":null})");
  EXPECT_FALSE(timed_out);
  std::string rest;
  EXPECT_EQ(tool.Finish(&rest), 0);
  EXPECT_EQ(rest, "");
}

#else

TEST(ReplayPipeTest, NeedsTheTool) {
  GTEST_SKIP() << "built without the userstore tool (USERSTORE_BUILD_TOOLS=OFF)";
}

#endif  // USERSTORE_CLI_PATH

}  // namespace
