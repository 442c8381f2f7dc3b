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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kCapMillis = 30000;

// The tool, spawned with its standard input and output on pipes.
class CoProcess {
 public:
  explicit CoProcess(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
      error_ = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    pid_ = fork();
    if (pid_ < 0) {
      error_ = std::string("fork: ") + std::strerror(errno);
      return;
    }
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }

  ~CoProcess() {
    CloseInput();
    if (from_child_ >= 0) close(from_child_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  const std::string& error() const { return error_; }

  bool Write(const std::string& line) {
    std::string data = line + "\n";
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(to_child_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // The next line of output, waiting at most kCapMillis in all; "" with
  // `*timed_out` set when it does not come (and at once after any earlier
  // timeout), "" at end of output.
  std::string ReadLine(bool* timed_out) {
    // After one timeout the tool is not answering: fail fast from then on.
    *timed_out = stalled_;
    if (stalled_) return "";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCapMillis);
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) {
        *timed_out = stalled_ = true;
        return "";
      }
      pollfd p{from_child_, POLLIN, 0};
      const int r = poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        *timed_out = stalled_ = true;
        return "";
      }
      char chunk[4096];
      const ssize_t n = read(from_child_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "";  // end of output
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Writes `line` and returns its answer (failing the test if none comes).
  std::string Ask(const std::string& line) {
    EXPECT_TRUE(Write(line)) << "could not write " << line;
    bool timed_out = false;
    std::string answer = ReadLine(&timed_out);
    EXPECT_FALSE(timed_out) << "no answer within " << kCapMillis / 1000 << " s to " << line
                            << " (is the output flushed after each line?)";
    return answer;
  }

  void CloseInput() {
    if (to_child_ >= 0) close(to_child_);
    to_child_ = -1;
  }

  // Closes the input and returns the exit status, or -1 when the output does
  // not end within the cap.
  int Finish(std::string* rest) {
    CloseInput();
    bool timed_out = false;
    for (;;) {
      std::string line = ReadLine(&timed_out);
      if (timed_out) return -1;
      if (line.empty() && buffer_.empty()) break;
      *rest += line + "\n";
    }
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool stalled_ = false;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
  std::string error_;
};

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

#else

TEST(ReplayPipeTest, NeedsTheTool) {
  GTEST_SKIP() << "built without the userstore tool (USERSTORE_BUILD_TOOLS=OFF)";
}

#endif  // USERSTORE_CLI_PATH

}  // namespace
