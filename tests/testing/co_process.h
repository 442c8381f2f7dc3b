// The built `userstore` tool as a co-process of a test: spawned with pipes on
// its standard input and output; every wait bounded (poll() with a cap of
// kCapMillis), so a tool that does not answer fails the test instead of
// hanging it.

#ifndef USERSTORE_TESTS_TESTING_CO_PROCESS_H_
#define USERSTORE_TESTS_TESTING_CO_PROCESS_H_

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace userstore_testing {

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

  pid_t pid() const { return pid_; }

  // kill -9, and reap it.
  void Kill() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
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

}  // namespace userstore_testing

#endif  // USERSTORE_TESTS_TESTING_CO_PROCESS_H_
